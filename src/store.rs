//! The in-memory store, the single source of truth for the mock: records by Id, the
//! unique `(CoworkerId, Name)` index (which also finds one customer's records), the
//! monotonic Id allocator and list execution. It knows nothing of
//! sockets or HTTP.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use thiserror::Error;

use crate::query::{ListQuery, SortField};
use crate::resource::{Record, SettingInput, Timestamp};
use crate::text_index::TextIndex;

/// A stored record and its JSON, serialised once when written and shared by every read.
#[derive(Debug)]
pub struct Stored {
    pub record: Record,
    pub json: Bytes,
}

impl Stored {
    fn new(record: Record) -> Arc<Self> {
        let json = record.to_json_bytes();
        Arc::new(Stored { record, json })
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum WriteError {
    #[error("a setting named {name:?} already exists for customer {coworker_id}")]
    Duplicate { coworker_id: i64, name: String },
    #[error("no setting has Id {0}")]
    NotFound(i64),
    /// Every Id up to the 64-bit limit has been handed out (fixtures can start Ids
    /// near it); wrapping round would reuse or go negative.
    #[error("no Id is left below 9223372036854775807")]
    IdsExhausted,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum LoadError {
    #[error("record {index}: Id {id} appears twice")]
    DuplicateId { index: usize, id: i64 },
    #[error("record {index}: CoworkerId {coworker_id} already has a setting named {name:?}")]
    DuplicateKey {
        index: usize,
        coworker_id: i64,
        name: String,
    },
}

/// A change to the store, as a change log sees it.
pub enum Change<'a> {
    /// A record created or updated (the new version).
    Put(&'a Arc<Stored>),
    Delete(i64),
    /// Every record replaced at once (reset, upload, reload).
    Replace(&'a mut dyn Iterator<Item = &'a Arc<Stored>>),
}

/// Told of every change while the store's write lock is held, so the order it sees
/// is the order the changes were made in (the state file's journal relies on it).
pub trait ChangeLog: Send + Sync {
    fn append(&self, change: Change<'_>);
}

/// A handle on the store's records for a change log that must read them all at a
/// moment when no change is being made (the state file's compaction).
#[derive(Clone)]
pub struct StoreReader {
    inner: Arc<RwLock<Inner>>,
    next_id: Arc<AtomicI64>,
}

impl StoreReader {
    /// Runs `f` on every record (in Id order) and the next Id, with changes held off.
    pub fn with_records<R>(
        &self,
        f: impl FnOnce(&mut dyn Iterator<Item = &Arc<Stored>>, i64) -> R,
    ) -> R {
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        f(
            &mut inner.by_id.values(),
            self.next_id.load(Ordering::Relaxed),
        )
    }
}

/// One page of a list and the number of records that matched.
pub struct ListResult {
    pub records: Vec<Arc<Stored>>,
    pub total: u64,
}

#[derive(Default)]
struct Inner {
    /// Every record by Id; iteration order is the default list order.
    by_id: BTreeMap<i64, Arc<Stored>>,
    /// Enforces uniqueness, and finds one customer's records without a scan.
    /// Keyed by the records themselves, so a name is never copied into the index.
    by_key: BTreeSet<ByKey>,
    /// Serves the substring filters without reading every record.
    text: TextIndex,
}

/// A `(CoworkerId, Name)` pair, however it is held: lets the index be searched with
/// a borrowed probe while its entries are the stored records themselves.
trait CustomerKey {
    fn key(&self) -> (i64, &str);
}

/// A lookup probe.
struct Probe<'a>(i64, &'a str);

impl CustomerKey for Probe<'_> {
    fn key(&self) -> (i64, &str) {
        (self.0, self.1)
    }
}

/// An index entry: a stored record, ordered by its `(CoworkerId, Name)`.
struct ByKey(Arc<Stored>);

impl CustomerKey for ByKey {
    fn key(&self) -> (i64, &str) {
        (self.0.record.coworker_id, &self.0.record.name)
    }
}

impl<'a> Borrow<dyn CustomerKey + 'a> for ByKey {
    fn borrow(&self) -> &(dyn CustomerKey + 'a) {
        self
    }
}

impl PartialEq for dyn CustomerKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for dyn CustomerKey + '_ {}
impl PartialOrd for dyn CustomerKey + '_ {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for dyn CustomerKey + '_ {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}
impl PartialEq for ByKey {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for ByKey {}
impl PartialOrd for ByKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for ByKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl Inner {
    fn holds_key(&self, coworker_id: i64, name: &str) -> Option<&Arc<Stored>> {
        self.by_key
            .get(&Probe(coworker_id, name) as &dyn CustomerKey)
            .map(|k| &k.0)
    }

    fn unindex(&mut self, s: &Stored) {
        self.by_key
            .remove(&Probe(s.record.coworker_id, &s.record.name) as &dyn CustomerKey);
    }
}

impl Inner {
    /// Builds both maps in bulk (sort, then build) rather than by a million inserts.
    fn from_stored(records: &[Arc<Stored>]) -> Result<Self, LoadError> {
        // The two sorts are independent: run them side by side.
        let text = std::thread::scope(|scope| {
            let text = scope.spawn(|| TextIndex::build(records));
            let sorted = Self::sorted(records);
            (sorted, text.join().expect("the text index build panicked"))
        });
        let ((ids, keys), text) = text;
        let duplicate_id = ids.windows(2).any(|w| w[0].0 == w[1].0);
        let duplicate_key = keys.windows(2).any(|w| w[0] == w[1]);
        if duplicate_id || duplicate_key {
            return Err(Self::first_duplicate(records));
        }
        Ok(Inner {
            by_id: ids.into_iter().collect(),
            by_key: keys.into_iter().collect(),
            text,
        })
    }

    /// Both maps' entries, each sorted.
    #[allow(clippy::type_complexity)]
    fn sorted(records: &[Arc<Stored>]) -> (Vec<(i64, Arc<Stored>)>, Vec<ByKey>) {
        std::thread::scope(|scope| {
            let keys = scope.spawn(|| {
                let mut keys: Vec<ByKey> = records.iter().map(|s| ByKey(s.clone())).collect();
                keys.sort();
                keys
            });
            let mut ids: Vec<(i64, Arc<Stored>)> =
                records.iter().map(|s| (s.record.id, s.clone())).collect();
            ids.sort_by_key(|(id, _)| *id);
            (ids, keys.join().expect("the index sort panicked"))
        })
    }

    /// Finds which record repeats an earlier one (the slow way: only on error).
    fn first_duplicate(records: &[Arc<Stored>]) -> LoadError {
        let mut ids = std::collections::HashSet::new();
        let mut keys = std::collections::HashSet::new();
        for (index, s) in records.iter().enumerate() {
            let r = &s.record;
            if !ids.insert(r.id) {
                return LoadError::DuplicateId { index, id: r.id };
            }
            if !keys.insert((r.coworker_id, r.name.as_str())) {
                return LoadError::DuplicateKey {
                    index,
                    coworker_id: r.coworker_id,
                    name: r.name.clone(),
                };
            }
        }
        unreachable!("first_duplicate is called only when a duplicate exists")
    }

    fn max_id(&self) -> i64 {
        self.by_id.keys().next_back().copied().unwrap_or(0)
    }
}

/// The store. A std `RwLock` because no critical section awaits: every method
/// takes the lock, does in-memory work and returns.
pub struct Store {
    /// Shared with a [`StoreReader`], if one is handed out.
    inner: Arc<RwLock<Inner>>,
    /// The next Id to hand out; only grows, so Ids are never reused, even across resets.
    next_id: Arc<AtomicI64>,
    /// Told of every change (the state file's journal), once one is attached.
    log: OnceLock<Arc<dyn ChangeLog>>,
    /// What `reset` goes back to. Shares its records with the live maps, so an
    /// unmodified store costs one pointer per record for this.
    baseline: RwLock<Vec<Arc<Stored>>>,
}

/// Turns records into stored records (serialising each once) on every core.
fn to_stored(records: Vec<Record>) -> Vec<Arc<Stored>> {
    par_map(records, Stored::new)
}

/// Maps `f` over `items` on all available cores, keeping order.
pub(crate) fn par_map<T: Send, R: Send>(mut items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || items.len() < 4096 {
        return items.into_iter().map(f).collect();
    }
    let chunk = items.len().div_ceil(threads);
    let mut parts = Vec::with_capacity(threads);
    while items.len() > chunk {
        let tail = items.split_off(items.len() - chunk);
        parts.push(tail);
    }
    parts.push(items);
    parts.reverse();
    let f = &f;
    std::thread::scope(|scope| {
        let handles: Vec<_> = parts
            .into_iter()
            .map(|part| scope.spawn(move || part.into_iter().map(f).collect::<Vec<R>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a loader thread panicked"))
            .collect()
    })
}

impl Store {
    pub fn new(records: Vec<Record>) -> Result<Self, LoadError> {
        let stored = to_stored(records);
        let inner = Inner::from_stored(&stored)?;
        let next_id = inner.max_id().saturating_add(1);
        Ok(Store {
            inner: Arc::new(RwLock::new(inner)),
            next_id: Arc::new(AtomicI64::new(next_id)),
            log: OnceLock::new(),
            baseline: RwLock::new(stored),
        })
    }

    /// Attaches the change log; returns false if one already is.
    pub fn attach_log(&self, log: Arc<dyn ChangeLog>) -> bool {
        self.log.set(log).is_ok()
    }

    pub fn reader(&self) -> StoreReader {
        StoreReader {
            inner: self.inner.clone(),
            next_id: self.next_id.clone(),
        }
    }

    /// Called with the write lock held.
    fn logged(&self, change: Change<'_>) {
        if let Some(log) = self.log.get() {
            log.append(change);
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock cannot leave Inner half-written (every
        // mutation is a few infallible map operations), so poisoning is ignored.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The next Id, or None once the counter has reached `i64::MAX` (kept there as
    /// the "exhausted" mark, so that Id itself is never handed out).
    fn allocate_id(&self) -> Option<i64> {
        self.next_id
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < i64::MAX).then_some(n + 1)
            })
            .ok()
    }

    pub fn len(&self) -> usize {
        self.read().by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Creates a record; exactly one of two racing duplicates wins.
    pub fn create(
        &self,
        input: SettingInput,
        by: &str,
        now: Timestamp,
    ) -> Result<Arc<Stored>, WriteError> {
        let duplicate = |coworker_id: i64, name: &str| WriteError::Duplicate {
            coworker_id,
            name: name.to_string(),
        };
        // A cheap shared-lock check first, then the record is built and serialised
        // outside any lock; the exclusive section only re-checks and inserts. An Id
        // allocated for a create that loses a race is skipped, never reused.
        if self
            .read()
            .holds_key(input.coworker_id, &input.name)
            .is_some()
        {
            return Err(duplicate(input.coworker_id, &input.name));
        }
        let id = self.allocate_id().ok_or(WriteError::IdsExhausted)?;
        let stored = Stored::new(Record::new(id, input, by, now));
        let mut inner = self.write();
        let r = &stored.record;
        if inner.holds_key(r.coworker_id, &r.name).is_some() {
            return Err(duplicate(r.coworker_id, &r.name));
        }
        inner.by_key.insert(ByKey(stored.clone()));
        inner.by_id.insert(id, stored.clone());
        inner.text.insert(&stored);
        self.logged(Change::Put(&stored));
        Ok(stored)
    }

    /// Replaces the writable fields of an existing record.
    pub fn update(
        &self,
        id: i64,
        input: SettingInput,
        by: &str,
        now: Timestamp,
    ) -> Result<Arc<Stored>, WriteError> {
        let mut inner = self.write();
        let old = inner
            .by_id
            .get(&id)
            .cloned()
            .ok_or(WriteError::NotFound(id))?;
        if inner
            .holds_key(input.coworker_id, &input.name)
            .is_some_and(|other| other.record.id != id)
        {
            return Err(WriteError::Duplicate {
                coworker_id: input.coworker_id,
                name: input.name,
            });
        }
        inner.unindex(&old);
        let stored = Stored::new(old.record.updated(input, by, now));
        inner.by_key.insert(ByKey(stored.clone()));
        inner.by_id.insert(id, stored.clone());
        inner.text.insert(&stored);
        self.logged(Change::Put(&stored));
        Ok(stored)
    }

    pub fn delete(&self, id: i64) -> Result<Arc<Stored>, WriteError> {
        let mut inner = self.write();
        let old = inner.by_id.remove(&id).ok_or(WriteError::NotFound(id))?;
        inner.unindex(&old);
        inner.text.remove(id);
        self.logged(Change::Delete(id));
        Ok(old)
    }

    pub fn get(&self, id: i64) -> Option<Arc<Stored>> {
        self.read().by_id.get(&id).cloned()
    }

    /// The records that exist among `ids`, in the order asked, each once.
    pub fn batch(&self, ids: &[i64]) -> Vec<Arc<Stored>> {
        let inner = self.read();
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        ids.iter()
            .filter(|id| seen.insert(**id))
            .filter_map(|id| inner.by_id.get(id).cloned())
            .collect()
    }

    /// Runs a list query. The default order (by Id) with no filter is served from the
    /// Id index without a sort. One customer is read from its `(CoworkerId, Name)`
    /// index range (not used for order: it holds names in byte order, while the list
    /// sorts text case-insensitively); substring filters take their candidates from
    /// the text index; everything is then checked with the query's own filter and sorted.
    pub fn list(&self, q: &ListQuery) -> ListResult {
        let inner = self.read();
        let (offset, size) = (q.offset(), q.size as usize);
        let page = |it: &mut dyn Iterator<Item = &Arc<Stored>>| {
            it.skip(offset).take(size).cloned().collect()
        };

        if let Some(c) = q.coworker {
            let customer = || {
                let from = Probe(c, "");
                inner
                    .by_key
                    .range::<dyn CustomerKey, _>((
                        Bound::Included(&from as &dyn CustomerKey),
                        Bound::Unbounded,
                    ))
                    .take_while(move |k| k.0.record.coworker_id == c)
                    .map(|k| &k.0)
            };
            return sorted_page(customer().filter(|s| q.matches(&s.record)).collect(), q);
        }
        if q.order_by == SortField::Id && q.only_customer_filter() {
            let total = inner.by_id.len() as u64;
            let records = if q.ascending {
                page(&mut inner.by_id.values())
            } else {
                page(&mut inner.by_id.values().rev())
            };
            return ListResult { records, total };
        }
        if let Some(candidates) = inner.text.candidates(q) {
            return sorted_page(
                candidates
                    .into_iter()
                    .filter(|s| q.matches(&s.record))
                    .collect(),
                q,
            );
        }
        sorted_page(
            inner
                .by_id
                .values()
                .filter(|s| q.matches(&s.record))
                .collect(),
            q,
        )
    }

    /// Every record, in Id order (fixture format when serialised).
    pub fn snapshot(&self) -> Vec<Record> {
        self.read()
            .by_id
            .values()
            .map(|s| s.record.clone())
            .collect()
    }

    /// The Id the next create will get; the state file saves it so that Ids stay
    /// unique across restarts.
    pub fn next_id(&self) -> i64 {
        self.next_id.load(Ordering::Relaxed)
    }

    /// Makes every later Id at least `next`.
    pub fn reserve_ids(&self, next: i64) {
        self.next_id.fetch_max(next, Ordering::Relaxed);
    }

    /// Replaces every record at once; on error nothing changes. Ids keep growing.
    pub fn replace_all(&self, records: Vec<Record>) -> Result<(), LoadError> {
        let stored = to_stored(records);
        let fresh = Inner::from_stored(&stored)?;
        self.install(fresh);
        Ok(())
    }

    /// Like `replace_all`, and the new records also become what `reset` returns to
    /// (used when the fixture files themselves change).
    pub fn reload(&self, records: Vec<Record>) -> Result<(), LoadError> {
        let stored = to_stored(records);
        let fresh = Inner::from_stored(&stored)?;
        *self.baseline.write().unwrap_or_else(|e| e.into_inner()) = stored;
        self.install(fresh);
        Ok(())
    }

    /// Goes back to the records the store started with (or last reloaded).
    pub fn reset(&self) {
        let baseline = self
            .baseline
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let fresh =
            Inner::from_stored(&baseline).expect("the baseline was checked when it was loaded");
        self.install(fresh);
    }

    fn install(&self, fresh: Inner) {
        let mut inner = self.write();
        self.next_id
            .fetch_max(fresh.max_id().saturating_add(1), Ordering::Relaxed);
        *inner = fresh;
        self.logged(Change::Replace(&mut inner.by_id.values()));
    }
}

fn sorted_page(mut matches: Vec<&Arc<Stored>>, q: &ListQuery) -> ListResult {
    let total = matches.len() as u64;
    let offset = q.offset().min(matches.len());
    let end = offset.saturating_add(q.size as usize).min(matches.len());
    // Only the records up to the page's end need to be in order.
    if end < matches.len() && end > 0 {
        matches.select_nth_unstable_by(end - 1, |a, b| q.compare(&a.record, &b.record));
        matches.truncate(end);
    }
    matches.sort_unstable_by(|a, b| q.compare(&a.record, &b.record));
    let records = matches
        .get(offset..end)
        .unwrap_or(&[])
        .iter()
        .map(|s| (*s).clone())
        .collect();
    ListResult { records, total }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(c: i64, n: &str) -> SettingInput {
        SettingInput {
            coworker_id: c,
            name: n.into(),
            value: None,
            encrypted_value: None,
        }
    }

    #[test]
    fn ids_are_never_reused_after_delete_or_replace() {
        let s = Store::new(vec![]).unwrap();
        let a = s
            .create(input(1, "a"), "x", Timestamp(0))
            .unwrap()
            .record
            .id;
        s.delete(a).unwrap();
        let b = s
            .create(input(1, "a"), "x", Timestamp(0))
            .unwrap()
            .record
            .id;
        assert!(b > a);
        s.replace_all(vec![]).unwrap();
        let c = s
            .create(input(1, "a"), "x", Timestamp(0))
            .unwrap()
            .record
            .id;
        assert!(c > b);
        s.reset();
        assert!(s.is_empty());
        let d = s
            .create(input(1, "a"), "x", Timestamp(0))
            .unwrap()
            .record
            .id;
        assert!(d > c);
    }

    #[test]
    fn renaming_onto_another_name_is_a_duplicate_but_keeping_ones_own_is_not() {
        let s = Store::new(vec![]).unwrap();
        let a = s
            .create(input(1, "a"), "x", Timestamp(0))
            .unwrap()
            .record
            .id;
        s.create(input(1, "b"), "x", Timestamp(0)).unwrap();
        assert!(matches!(
            s.update(a, input(1, "b"), "x", Timestamp(1)),
            Err(WriteError::Duplicate { .. })
        ));
        assert!(s.update(a, input(1, "a"), "x", Timestamp(1)).is_ok());
        assert!(s.update(a, input(2, "b"), "x", Timestamp(1)).is_ok());
        assert_eq!(
            s.create(input(1, "a"), "x", Timestamp(0)).map(|_| ()),
            Ok(())
        );
    }

    #[test]
    fn reset_returns_to_the_baseline_and_reload_moves_it() {
        let s = Store::new(vec![]).unwrap();
        let a = s.create(input(1, "a"), "x", Timestamp(0)).unwrap();
        s.reload(vec![a.record.clone()]).unwrap();
        s.create(input(1, "b"), "x", Timestamp(0)).unwrap();
        s.delete(a.record.id).unwrap();
        s.reset();
        assert_eq!(s.snapshot(), vec![a.record.clone()]);
    }

    #[test]
    fn ids_stop_at_the_64_bit_limit_instead_of_wrapping() {
        // The counter's last value is the "exhausted" mark, so i64::MAX itself is
        // never handed out.
        for top in [i64::MAX - 1, i64::MAX] {
            let s = Store::new(vec![Record::new(top, input(1, "top"), "x", Timestamp(0))]).unwrap();
            for _ in 0..2 {
                let r = s.create(input(1, "a"), "x", Timestamp(0));
                assert!(matches!(r, Err(WriteError::IdsExhausted)), "{top}");
            }
            assert_eq!(s.len(), 1);
        }
    }

    #[test]
    fn par_map_keeps_order() {
        let v: Vec<u32> = (0..10_000).collect();
        assert_eq!(
            par_map(v.clone(), |x| x * 2),
            v.iter().map(|x| x * 2).collect::<Vec<_>>()
        );
    }

    #[test]
    fn indexed_and_sorted_list_paths_agree() {
        let s = Store::new(vec![]).unwrap();
        for i in 0..50 {
            s.create(
                input(i % 3, &format!("n{}", (i * 7) % 50)),
                "x",
                Timestamp(i),
            )
            .unwrap();
        }
        for ascending in [true, false] {
            for page in 1..5 {
                let q = ListQuery {
                    coworker: Some(1),
                    order_by: SortField::Name,
                    ascending,
                    page,
                    size: 4,
                    ..Default::default()
                };
                let fast: Vec<i64> = s.list(&q).records.iter().map(|r| r.record.id).collect();
                // A Value filter that everything passes forces the general path.
                let mut all: Vec<Record> =
                    s.snapshot().into_iter().filter(|r| q.matches(r)).collect();
                all.sort_by(|a, b| q.compare(a, b));
                let slow: Vec<i64> = all.iter().skip(q.offset()).take(4).map(|r| r.id).collect();
                assert_eq!(fast, slow);
            }
        }
    }

    mod substring_index {
        use super::*;
        use proptest::collection::vec;
        use proptest::prelude::*;

        /// Characters whose case folding is not one-to-one or not ASCII-only: dotted
        /// and dotless i, sharp s, the three sigmas, KELVIN and OHM SIGN, accents.
        const ALPHABET: &[char] = &[
            'a', 'A', 'k', 'K', 'i', 'I', 's', 'S', '.', ' ', '4', 'İ', 'ı', 'ß', 'ẞ', 'Σ', 'σ',
            'ς', '\u{212A}', '\u{2126}', 'ω', 'é', 'É', 'ǅ',
        ];

        fn arb_text() -> impl Strategy<Value = String> {
            vec(proptest::sample::select(ALPHABET), 1..10).prop_map(|c| c.into_iter().collect())
        }

        fn arb_input() -> impl Strategy<Value = SettingInput> {
            (
                0i64..3,
                arb_text(),
                proptest::option::of(arb_text()),
                proptest::option::of(arb_text()),
            )
                .prop_map(|(c, name, value, encrypted_value)| SettingInput {
                    coworker_id: c,
                    name,
                    value,
                    encrypted_value,
                })
        }

        #[derive(Debug, Clone)]
        enum Write {
            Create(SettingInput),
            Update(usize, SettingInput),
            Delete(usize),
        }

        fn arb_write() -> impl Strategy<Value = Write> {
            prop_oneof![
                3 => arb_input().prop_map(Write::Create),
                2 => (any::<usize>(), arb_input()).prop_map(|(i, s)| Write::Update(i, s)),
                2 => any::<usize>().prop_map(Write::Delete),
            ]
        }

        /// A needle: a random text, or a piece of a stored text with its case changed.
        #[derive(Debug, Clone)]
        enum Needle {
            Random(String),
            Piece {
                record: usize,
                start: usize,
                len: usize,
                upper: bool,
            },
        }

        fn arb_needle() -> impl Strategy<Value = (u8, Needle)> {
            (
                0u8..3,
                prop_oneof![
                    arb_text().prop_map(Needle::Random),
                    (any::<usize>(), 0usize..8, 1usize..8, any::<bool>()).prop_map(
                        |(record, start, len, upper)| Needle::Piece {
                            record,
                            start,
                            len,
                            upper
                        }
                    ),
                ],
            )
        }

        fn needle_text(n: &Needle, field: u8, records: &[Record]) -> String {
            match n {
                Needle::Random(s) => s.clone(),
                Needle::Piece {
                    record,
                    start,
                    len,
                    upper,
                } => {
                    let Some(r) = records.get(record % records.len().max(1)) else {
                        return "a".into();
                    };
                    let text = match field {
                        0 => Some(r.name.as_str()),
                        1 => r.value.as_deref(),
                        _ => r.encrypted_value.as_deref(),
                    }
                    .unwrap_or("xyz");
                    let piece: String = text.chars().skip(*start).take(*len).collect();
                    let piece = if piece.is_empty() {
                        text.to_string()
                    } else {
                        piece
                    };
                    if *upper {
                        piece.to_uppercase()
                    } else {
                        piece.to_lowercase()
                    }
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(300))]
            /// 300 cases: random stores, then random creates, updates and deletes (enough
            /// to force index rebuilds), each followed by substring queries on one or two
            /// fields; the indexed list equals a plain scan with the same filter.
            #[test]
            fn indexed_substring_results_equal_a_plain_scan(
                initial in vec(arb_input(), 0..30),
                writes in vec(arb_write(), 0..40),
                needles in vec((arb_needle(), proptest::option::of(arb_needle())), 1..6),
            ) {
                let records: Vec<Record> = initial
                    .into_iter()
                    .enumerate()
                    .map(|(i, input)| Record::new(i as i64 + 1, input, "x", Timestamp(i as i64)))
                    .collect();
                // Duplicate (CoworkerId, Name) pairs are not a store; keep the first of each.
                let mut seen = std::collections::HashSet::new();
                let records: Vec<Record> = records
                    .into_iter()
                    .filter(|r| seen.insert((r.coworker_id, r.name.clone())))
                    .collect();
                let s = Store::new(records).unwrap();
                let check = |s: &Store| -> Result<(), TestCaseError> {
                    let snapshot = s.snapshot();
                    for ((f1, n1), second) in &needles {
                        let mut q = ListQuery { size: 1000, ..Default::default() };
                        let set = |field: u8, n: &Needle, q: &mut ListQuery| {
                            let text = Some(needle_text(n, field, &snapshot));
                            match field {
                                0 => q.name = text,
                                1 => q.value = text,
                                _ => q.encrypted_value = text,
                            }
                        };
                        set(*f1, n1, &mut q);
                        if let Some((f2, n2)) = second {
                            set(*f2, n2, &mut q);
                        }
                        let listed = s.list(&q);
                        let got: Vec<i64> = listed.records.iter().map(|r| r.record.id).collect();
                        let want: Vec<i64> = snapshot.iter().filter(|r| q.matches(r)).map(|r| r.id).collect();
                        prop_assert_eq!(&got, &want, "query {:?}", q);
                        prop_assert_eq!(listed.total, want.len() as u64);
                    }
                    Ok(())
                };
                check(&s)?;
                for w in writes {
                    let ids: Vec<i64> = s.snapshot().iter().map(|r| r.id).collect();
                    let pick = |i: usize| ids.get(i % ids.len().max(1)).copied().unwrap_or(1);
                    let _ = match w {
                        Write::Create(input) => s.create(input, "x", Timestamp(1)).map(|_| ()),
                        Write::Update(i, input) => s.update(pick(i), input, "x", Timestamp(2)).map(|_| ()),
                        Write::Delete(i) => s.delete(pick(i)).map(|_| ()),
                    };
                    check(&s)?;
                }
            }
        }

        #[test]
        fn the_index_agrees_with_the_filter_on_case_folding_traps() {
            let cases = [
                ("İSTANBUL", "i̇stanbul", true),
                ("istanbul", "İst", false),
                ("STRASSE", "straße", false),
                ("Straße", "STRASSE", false),
                ("Straße", "STRAẞE", true),
                ("ΟΔΟΣ ΑΘΗΝΑ", "οδος", true),
                ("ΟΔΟΣ", "ΟΔΟΣ ", false),
                ("5 \u{212A}elvin", "kel", true),
                ("\u{2126}mega", "ωme", true),
            ];
            for (hay, needle, want) in cases {
                let s = Store::new(vec![]).unwrap();
                s.create(input(1, hay), "x", Timestamp(0)).unwrap();
                let q = ListQuery {
                    name: Some(needle.into()),
                    ..Default::default()
                };
                assert_eq!(
                    q.matches(&s.snapshot()[0]),
                    want,
                    "{hay} / {needle}: the filter"
                );
                assert_eq!(
                    s.list(&q).total,
                    u64::from(want),
                    "{hay} / {needle}: the index"
                );
            }
        }
    }
}
