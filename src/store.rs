//! The in-memory store, the single source of truth for the mock: records by Id, the
//! unique `(CoworkerId, Name)` index (which also finds one customer's records), the
//! monotonic Id allocator and list execution. It knows nothing of
//! sockets or HTTP.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard, Weak};

use bytes::Bytes;
use thiserror::Error;

use crate::query::{ListQuery, SortField, compare_text, text_order_key};
use crate::resource::{Record, SettingInput, Timestamp};
use crate::text_index::TextIndex;

/// A stored record and its JSON, serialised at most once and shared by every read.
///
/// Records loaded in bulk (a million from a fixtures file) are serialised on their
/// first read rather than at start-up, which would double the start-up time and hold
/// a second copy of every record that is never read; a record written through the
/// API is serialised at once, as its response needs the JSON anyway.
#[derive(Debug)]
pub struct Stored {
    pub record: Record,
    json: OnceLock<Bytes>,
}

impl Stored {
    /// A record serialised when first read.
    pub fn from_record(record: Record) -> Arc<Self> {
        Arc::new(Stored {
            record,
            json: OnceLock::new(),
        })
    }

    /// The record's JSON, as every response and the state file write it.
    pub fn json(&self) -> &Bytes {
        self.json.get_or_init(|| self.record.to_json_bytes())
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

struct Inner {
    /// Every record by Id; iteration order is the default list order.
    by_id: BTreeMap<i64, Arc<Stored>>,
    /// Enforces uniqueness, and finds one customer's records without a scan.
    /// Keyed by the records themselves, so a name is never copied into the index.
    by_key: BTreeSet<ByKey>,
    /// Serves the substring filters without reading every record, once built.
    text: TextState,
}

/// Stores of at least this many records build their substring index in the
/// background: at a million records the build takes longer than everything else
/// start-up does, and until it is ready substring filters scan (exact, only slower).
/// Smaller stores build it at once.
const BACKGROUND_INDEX_FROM: usize = if cfg!(test) { 64 } else { 50_000 };
/// Up to this many ids, a batch finds repeats by scanning rather than with a set.
const SMALL_BATCH: usize = 32;
/// The room a customer list starts with: more than most customers hold settings.
const CUSTOMER_MATCHES: usize = 128;

/// Where the substring index stands.
enum TextState {
    Ready(TextIndex),
    /// Being built in the background for this generation of the maps (a later
    /// `install` starts a new generation, and a build for an older one is dropped).
    /// The Ids written since the build began are replayed onto it when it is done.
    Building {
        generation: u64,
        written: Vec<i64>,
    },
}

/// Numbers each set of maps built, so that a background index build can tell
/// whether the maps it was built for are still the live ones.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// A `(CoworkerId, Name)` pair, however it is held: lets the index be searched with
/// a borrowed probe while its entries hold the stored records themselves.
trait CustomerKey {
    /// CoworkerId and the Name's [`text_order_key`]: the order, unless both tie.
    fn head(&self) -> (i64, [u64; 3]);
    /// The Name, read only when the heads tie.
    fn name(&self) -> &str;
}

/// A lookup probe.
struct Probe<'a>(i64, [u64; 3], &'a str);

impl<'a> Probe<'a> {
    fn new(coworker_id: i64, name: &'a str) -> Self {
        Probe(coworker_id, text_order_key(name), name)
    }

    /// Less than every key of this customer.
    fn first_of(coworker_id: i64) -> Self {
        Probe(coworker_id, [0; 3], "")
    }
}

impl CustomerKey for Probe<'_> {
    fn head(&self) -> (i64, [u64; 3]) {
        (self.0, self.1)
    }
    fn name(&self) -> &str {
        self.2
    }
}

/// An index entry: a stored record, with what the index orders by first kept beside
/// it, so that a search compares integers in the tree's own nodes and reads a record
/// only when they all tie (the same customer, and names that fold alike in their
/// first 24 bytes). Reading the record for every comparison cost two cache misses
/// each (the record, then its name): about forty per search at a few hundred
/// thousand records.
struct ByKey {
    coworker_id: i64,
    name_key: [u64; 3],
    stored: Arc<Stored>,
}

impl ByKey {
    fn new(stored: &Arc<Stored>) -> Self {
        ByKey {
            coworker_id: stored.record.coworker_id,
            name_key: text_order_key(&stored.record.name),
            stored: stored.clone(),
        }
    }
}

impl CustomerKey for ByKey {
    fn head(&self) -> (i64, [u64; 3]) {
        (self.coworker_id, self.name_key)
    }
    fn name(&self) -> &str {
        &self.stored.record.name
    }
}

impl<'a> Borrow<dyn CustomerKey + 'a> for ByKey {
    fn borrow(&self) -> &(dyn CustomerKey + 'a) {
        self
    }
}

impl PartialEq for dyn CustomerKey + '_ {
    fn eq(&self, other: &Self) -> bool {
        key_order(self, other).is_eq()
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
        key_order(self, other)
    }
}

/// The index's order: by CoworkerId, then by Name in the list's text order
/// ([`compare_text`], which the Name's [`text_order_key`] decides when the keys
/// differ), then byte by byte, so that two names equal only after case folding are
/// still two keys. One customer's records therefore come out in the list's Name
/// order, apart from ties, and a list by Name needs no sort.
fn key_order<A, B>(a: &A, b: &B) -> std::cmp::Ordering
where
    A: CustomerKey + ?Sized,
    B: CustomerKey + ?Sized,
{
    a.head().cmp(&b.head()).then_with(|| {
        let (a, b) = (a.name(), b.name());
        compare_text(a, b).then_with(|| a.cmp(b))
    })
}
impl PartialEq for ByKey {
    fn eq(&self, other: &Self) -> bool {
        key_order(self, other).is_eq()
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
        key_order(self, other)
    }
}

impl Inner {
    fn holds_key(&self, coworker_id: i64, name: &str) -> Option<&Arc<Stored>> {
        self.by_key
            .get(&Probe::new(coworker_id, name) as &dyn CustomerKey)
            .map(|k| &k.stored)
    }

    fn unindex(&mut self, s: &Stored) {
        self.by_key
            .remove(&Probe::new(s.record.coworker_id, &s.record.name) as &dyn CustomerKey);
    }

    /// Tells the substring index of a new or updated record, given its posting keys
    /// (`text_index::posting_keys`, worked out before the write lock where possible).
    fn text_put(&mut self, s: &Arc<Stored>, keys: &[u32]) {
        match &mut self.text {
            TextState::Ready(index) => index.insert_keyed(s, keys),
            TextState::Building { written, .. } => written.push(s.record.id),
        }
    }

    /// Tells the substring index of a deleted record.
    fn text_remove(&mut self, id: i64) {
        match &mut self.text {
            TextState::Ready(index) => index.remove(id),
            TextState::Building { written, .. } => written.push(id),
        }
    }

    /// The background build's generation, while one is awaited.
    fn building(&self) -> Option<u64> {
        match self.text {
            TextState::Building { generation, .. } => Some(generation),
            TextState::Ready(_) => None,
        }
    }
}

/// Builds the substring index for the maps of `generation` and installs it, unless
/// they have been replaced meanwhile. The records are read under a brief shared
/// lock; the build itself holds no lock; the writes made since are then replayed
/// under the exclusive lock (each Id to its current state, so a record written
/// before the read and again after is simply indexed again).
fn build_text_index(inner: &RwLock<Inner>, generation: u64) {
    let Some(records) = text_index_source(inner, generation) else {
        return;
    };
    let started = std::time::Instant::now();
    let count = records.len();
    let index = TextIndex::build(&records);
    drop(records);
    if install_text_index(inner, generation, index) {
        tracing::info!(
            records = count,
            ms = started.elapsed().as_millis() as u64,
            "substring index ready (until now substring filters scanned)"
        );
    }
}

/// The records to index for `generation`, if its maps are still the live ones.
fn text_index_source(inner: &RwLock<Inner>, generation: u64) -> Option<Vec<Arc<Stored>>> {
    let live = inner.read().unwrap_or_else(|e| e.into_inner());
    (live.building() == Some(generation)).then(|| live.by_id.values().cloned().collect())
}

/// Replays the writes made during the build onto `index` and makes it the live one;
/// false (and nothing changes) if the maps it was built for have been replaced.
fn install_text_index(inner: &RwLock<Inner>, generation: u64, mut index: TextIndex) -> bool {
    let mut live = inner.write().unwrap_or_else(|e| e.into_inner());
    let TextState::Building {
        generation: awaited,
        written,
    } = &mut live.text
    else {
        return false;
    };
    if *awaited != generation {
        return false;
    }
    let written = std::mem::take(written);
    for id in written {
        match live.by_id.get(&id) {
            Some(s) => index.insert(s),
            None => index.remove(id),
        }
    }
    live.text = TextState::Ready(index);
    true
}

impl Inner {
    /// Builds both maps in bulk (sort, then build) rather than by a million inserts,
    /// and the substring index too for a small store; a large one's index is left
    /// to [`Store::index_in_background`].
    fn from_stored(records: &[Arc<Stored>]) -> Result<Self, LoadError> {
        let generation = GENERATION.fetch_add(1, Ordering::Relaxed) + 1;
        let background = records.len() >= BACKGROUND_INDEX_FROM;
        // The sorts and a synchronous index build are independent: side by side.
        let ((ids, keys), text) = std::thread::scope(|scope| {
            let text = (!background).then(|| scope.spawn(|| TextIndex::build(records)));
            let sorted = Self::sorted(records);
            let text = text.map(|t| t.join().expect("the text index build panicked"));
            (sorted, text)
        });
        let duplicate_id = ids.windows(2).any(|w| w[0].0 == w[1].0);
        let duplicate_key = keys.windows(2).any(|w| w[0] == w[1]);
        if duplicate_id || duplicate_key {
            return Err(Self::first_duplicate(records));
        }
        Ok(Inner {
            by_id: ids.into_iter().collect(),
            by_key: keys.into_iter().collect(),
            text: match text {
                Some(index) => TextState::Ready(index),
                None => TextState::Building {
                    generation,
                    written: Vec::new(),
                },
            },
        })
    }

    /// Both maps' entries, each sorted. The `(CoworkerId, Name)` sort is most of
    /// the work: its two halves are sorted side by side, then merged. No two entries
    /// are equal unless the records repeat a key (refused afterwards), so unstable
    /// sorts give the one order there is.
    #[allow(clippy::type_complexity)]
    fn sorted(records: &[Arc<Stored>]) -> (Vec<(i64, Arc<Stored>)>, Vec<ByKey>) {
        let sort_keys = |part: &[Arc<Stored>]| {
            let mut keys: Vec<ByKey> = part.iter().map(ByKey::new).collect();
            keys.sort_unstable();
            keys
        };
        let (first, second) = records.split_at(records.len() / 2);
        std::thread::scope(|scope| {
            let first = scope.spawn(|| sort_keys(first));
            let second = sort_keys(second);
            let mut ids: Vec<(i64, Arc<Stored>)> =
                records.iter().map(|s| (s.record.id, s.clone())).collect();
            ids.sort_unstable_by_key(|(id, _)| *id);
            let first = first.join().expect("the index sort panicked");
            (ids, merge(first, second))
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
    /// The latest background index build, if any (for [`Store::wait_for_text_index`]).
    indexer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Turns records into stored records, each serialised when first read.
pub(crate) fn to_stored(records: Vec<Record>) -> Vec<Arc<Stored>> {
    records.into_iter().map(Stored::from_record).collect()
}

impl Store {
    pub fn new(records: Vec<Record>) -> Result<Self, LoadError> {
        Self::from_stored(to_stored(records))
    }

    /// A store of records already in stored form (as fixtures are loaded).
    pub fn from_stored(stored: Vec<Arc<Stored>>) -> Result<Self, LoadError> {
        let store = Self::without_indexer(stored)?;
        store.index_in_background();
        Ok(store)
    }

    /// The store, with its substring index (if a large one) still to be built.
    fn without_indexer(stored: Vec<Arc<Stored>>) -> Result<Self, LoadError> {
        let inner = Inner::from_stored(&stored)?;
        let next_id = inner.max_id().saturating_add(1);
        let store = Store {
            inner: Arc::new(RwLock::new(inner)),
            next_id: Arc::new(AtomicI64::new(next_id)),
            log: OnceLock::new(),
            baseline: RwLock::new(stored),
            indexer: Mutex::new(None),
        };
        Ok(store)
    }

    /// Starts the substring index build on a thread of its own if the live maps
    /// await one (a large store just loaded); queries scan until it is ready.
    fn index_in_background(&self) {
        let Some(generation) = self.read().building() else {
            return;
        };
        let inner: Weak<RwLock<Inner>> = Arc::downgrade(&self.inner);
        let build = move || {
            if let Some(inner) = inner.upgrade() {
                build_text_index(&inner, generation);
            }
        };
        let mut slot = self.indexer.lock().unwrap_or_else(|e| e.into_inner());
        match std::thread::Builder::new()
            .name("substring-index".into())
            .spawn(build.clone())
        {
            Ok(handle) => *slot = Some(handle),
            // No thread to be had: build it here instead.
            Err(_) => build(),
        }
    }

    /// Whether substring filters are served by the index (false while it builds).
    pub fn text_index_ready(&self) -> bool {
        self.read().building().is_none()
    }

    /// Blocks until the latest background index build has finished.
    pub fn wait_for_text_index(&self) {
        let handle = self
            .indexer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(handle) = handle {
            let _ = handle.join();
        }
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
                (n < i64::MAX).then(|| n + 1)
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
        // A create's answer does not show the record, so its JSON waits for the first
        // read, unless the state file is about to write it (under the write lock).
        let stored = Stored::from_record(Record::new(id, input, by, now));
        if self.log.get().is_some() {
            stored.json();
        }
        let keys = crate::text_index::posting_keys(&stored);
        let entry = ByKey::new(&stored);
        let mut inner = self.write();
        // One walk of the key index re-checks and inserts: the set refuses an equal key.
        if !inner.by_key.insert(entry) {
            let r = &stored.record;
            return Err(duplicate(r.coworker_id, &r.name));
        }
        inner.by_id.insert(id, stored.clone());
        inner.text_put(&stored, &keys);
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
        let stored = Stored::from_record(old.record.updated(input, by, now));
        inner.by_key.insert(ByKey::new(&stored));
        inner.by_id.insert(id, stored.clone());
        inner.text_put(&stored, &crate::text_index::posting_keys(&stored));
        self.logged(Change::Put(&stored));
        Ok(stored)
    }

    pub fn delete(&self, id: i64) -> Result<Arc<Stored>, WriteError> {
        let mut inner = self.write();
        let old = inner.by_id.remove(&id).ok_or(WriteError::NotFound(id))?;
        inner.unindex(&old);
        inner.text_remove(id);
        self.logged(Change::Delete(id));
        Ok(old)
    }

    pub fn get(&self, id: i64) -> Option<Arc<Stored>> {
        self.read().by_id.get(&id).cloned()
    }

    /// The records that exist among `ids`, in the order asked, each once.
    pub fn batch(&self, ids: &[i64]) -> Vec<Arc<Stored>> {
        let inner = self.read();
        let mut found = Vec::with_capacity(ids.len());
        if ids.len() <= SMALL_BATCH {
            // A scan of the ids before it finds a repeat sooner than a set is built.
            for (i, id) in ids.iter().enumerate() {
                if !ids[..i].contains(id)
                    && let Some(s) = inner.by_id.get(id)
                {
                    found.push(s.clone());
                }
            }
            return found;
        }
        let mut seen = rustc_hash::FxHashSet::default();
        seen.reserve(ids.len());
        found.extend(
            ids.iter()
                .filter(|id| seen.insert(**id))
                .filter_map(|id| inner.by_id.get(id).cloned()),
        );
        found
    }

    /// Runs a list query. The default order (by Id) with no filter is served from the
    /// Id index without a sort. One customer is read from its `(CoworkerId, Name)`
    /// index range, which is already in the list's Name order (by Name, only ties
    /// are put in Id order; by another field, the range is sorted); substring filters
    /// take their candidates from the text index; everything else is checked with
    /// the query's own filter and sorted.
    pub fn list(&self, q: &ListQuery) -> ListResult {
        let inner = self.read();
        let (offset, size) = (q.offset(), q.size as usize);
        let page = |it: &mut dyn Iterator<Item = &Arc<Stored>>| {
            it.skip(offset).take(size).cloned().collect()
        };

        if let Some(c) = q.coworker {
            let from = Probe::first_of(c);
            let customer = inner
                .by_key
                .range::<dyn CustomerKey, _>((
                    Bound::Included(&from as &dyn CustomerKey),
                    Bound::Unbounded,
                ))
                .take_while(move |k| k.coworker_id == c);
            // One allocation for most customers rather than a run of growing ones
            // (a range has no length to size the vector by).
            let mut matches: Vec<&ByKey> = Vec::with_capacity(CUSTOMER_MATCHES);
            // Every record of the range is the customer's: other filters, if any, decide.
            if q.only_customer_filter() {
                matches.extend(customer);
            } else {
                matches.extend(customer.filter(|k| q.matches(&k.stored.record)));
            }
            if q.order_by == SortField::Name {
                return name_ordered_page(matches, q);
            }
            return sorted_page(matches.into_iter().map(|k| &k.stored).collect(), q);
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
        let candidates = match &inner.text {
            TextState::Ready(index) => index.candidates(q),
            TextState::Building { .. } => None,
        };
        if let Some(candidates) = candidates {
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
        drop(inner);
        self.index_in_background();
    }
}

/// The two ascending vectors as one.
fn merge<T: Ord>(a: Vec<T>, b: Vec<T>) -> Vec<T> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    while let (Some(x), Some(y)) = (a.peek(), b.peek()) {
        let next = if x <= y { a.next() } else { b.next() };
        out.extend(next);
    }
    out.extend(a);
    out.extend(b);
    out
}

/// A page of one customer's matches listed by Name, from the records in the index's
/// order (which is the list's Name order ascending): reversed for `dir=-1`, then
/// each run of names equal after case folding put in Id order, as the list breaks
/// ties by Id ascending in both directions. Only the runs that reach into the page
/// are looked at: a run is contiguous, so putting it in order moves no record into or
/// out of the page from elsewhere.
fn name_ordered_page(mut matches: Vec<&ByKey>, q: &ListQuery) -> ListResult {
    if !q.ascending {
        matches.reverse();
    }
    let total = matches.len() as u64;
    let offset = q.offset().min(matches.len());
    let end = offset.saturating_add(q.size as usize).min(matches.len());
    // Equal texts have equal keys, so the names are compared only when keys tie.
    let tied = |a: &ByKey, b: &ByKey| {
        a.name_key == b.name_key
            && compare_text(&a.stored.record.name, &b.stored.record.name).is_eq()
    };
    let (mut from, mut to) = (offset, end);
    while from > 0 && from < matches.len() && tied(matches[from - 1], matches[from]) {
        from -= 1;
    }
    while to > from && to < matches.len() && tied(matches[to - 1], matches[to]) {
        to += 1;
    }
    let mut start = from;
    while start < to {
        let run = 1 + matches[start + 1..to]
            .iter()
            .take_while(|k| tied(k, matches[start]))
            .count();
        if run > 1 {
            matches[start..start + run].sort_unstable_by_key(|k| k.stored.record.id);
        }
        start += run;
    }
    let records = matches[offset..end]
        .iter()
        .map(|k| k.stored.clone())
        .collect();
    ListResult { records, total }
}

fn sorted_page(matches: Vec<&Arc<Stored>>, q: &ListQuery) -> ListResult {
    if q.order_by == SortField::Name {
        // Each record's name is read once for its order key, and most comparisons
        // are of keys; the names themselves are compared only where keys tie.
        let keyed: Vec<([u64; 3], &Arc<Stored>)> = matches
            .into_iter()
            .map(|s| (text_order_key(&s.record.name), s))
            .collect();
        return page_by(
            keyed,
            q,
            |(ka, a), (kb, b)| {
                let by_key = if q.ascending { ka.cmp(kb) } else { kb.cmp(ka) };
                by_key.then_with(|| q.compare(&a.record, &b.record))
            },
            |(_, s)| s,
        );
    }
    page_by(matches, q, |a, b| q.compare(&a.record, &b.record), |s| s)
}

/// The page `q` asks for of `matches` in the order `compare` gives; `stored` finds
/// the record in a match.
fn page_by<'a, T>(
    mut matches: Vec<T>,
    q: &ListQuery,
    compare: impl Fn(&T, &T) -> std::cmp::Ordering,
    stored: impl Fn(&T) -> &&'a Arc<Stored>,
) -> ListResult {
    let total = matches.len() as u64;
    let offset = q.offset().min(matches.len());
    let end = offset.saturating_add(q.size as usize).min(matches.len());
    // Only the records up to the page's end need to be in order.
    if end < matches.len() && end > 0 {
        matches.select_nth_unstable_by(end - 1, &compare);
        matches.truncate(end);
    }
    matches.sort_unstable_by(&compare);
    let records = matches
        .get(offset..end)
        .unwrap_or(&[])
        .iter()
        .map(|s| Arc::clone(stored(s)))
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

    #[test]
    fn names_that_differ_only_after_the_order_key_keep_their_name_order() {
        // Same 24-byte key, different names: only names equal but for case are tied
        // (and ordered by Id); the Ids here run against the names' order.
        let p = "x".repeat(24);
        let s = Store::new(vec![]).unwrap();
        for name in [
            format!("{p}b"),
            format!("{p}a"),
            format!("{p}A"),
            format!("{p}c"),
        ] {
            s.create(input(7, &name), "x", Timestamp(0)).unwrap();
        }
        for (ascending, want) in [(true, [2, 3, 1, 4]), (false, [4, 1, 2, 3])] {
            let q = ListQuery {
                coworker: Some(7),
                order_by: SortField::Name,
                ascending,
                size: 10,
                ..Default::default()
            };
            let got: Vec<i64> = s.list(&q).records.iter().map(|r| r.record.id).collect();
            assert_eq!(got, want, "ascending: {ascending}");
        }
    }

    proptest::proptest! {
        /// 256 cases: a batch answers each existing id once, at its first mention,
        /// in the order asked, for short batches (scanned for repeats) and long ones
        /// (a set), with ids repeated, missing and negative.
        #[test]
        fn a_batch_answers_each_existing_id_once_in_the_order_asked(
            ids in proptest::collection::vec(-3i64..60, 0..(2 * SMALL_BATCH + 8)),
        ) {
            let s = Store::new(vec![]).unwrap();
            for i in 0..40 {
                s.create(input(1, &format!("n{i}")), "x", Timestamp(0)).unwrap();
            }
            let got: Vec<i64> = s.batch(&ids).iter().map(|r| r.record.id).collect();
            let mut want: Vec<i64> = Vec::new();
            for id in &ids {
                if (1..=40).contains(id) && !want.contains(id) {
                    want.push(*id);
                }
            }
            proptest::prop_assert_eq!(got, want);
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(300))]
        /// 300 cases: one customer's names drawn from case variants and the
        /// characters whose folding surprises, some after a prefix that takes them
        /// across the 24 bytes of the index's order key, listed by Name in both
        /// directions with and without a Value filter, page by page: the index-ordered
        /// path (and, for both customers at once, the key-sorted path) equals
        /// filtering everything and sorting it with the list's own comparison.
        #[test]
        fn a_customer_listed_by_name_equals_a_full_sort(
            names in proptest::collection::vec(
                "(xxxxxxxxxxxxxxxxxxxx[xX]{0,5})?[aAbB\u{212A}k\u{130}i\u{df}s]{0,4}",
                1..40,
            ),
            values in proptest::collection::vec(proptest::option::of("[vV]{0,2}"), 40),
            size in 1u64..7,
        ) {
            let s = Store::new(vec![]).unwrap();
            for (i, name) in names.iter().enumerate() {
                let mut one = input(1 + (i % 2) as i64, name);
                one.value = values[i].clone();
                let _ = s.create(one, "x", Timestamp(i as i64));
            }
            for (ascending, coworker) in [(true, Some(1)), (false, Some(1)), (true, None), (false, None)] {
                for value in [None, Some("v".to_string())] {
                    for page in 1..=(40 / size + 1) {
                        let q = ListQuery {
                            coworker,
                            order_by: SortField::Name,
                            ascending,
                            value: value.clone(),
                            page,
                            size,
                            ..Default::default()
                        };
                        let listed = s.list(&q);
                        let got: Vec<i64> = listed.records.iter().map(|r| r.record.id).collect();
                        let mut all: Vec<Record> =
                            s.snapshot().into_iter().filter(|r| q.matches(r)).collect();
                        all.sort_by(|a, b| q.compare(a, b));
                        let want: Vec<i64> =
                            all.iter().skip(q.offset()).take(size as usize).map(|r| r.id).collect();
                        proptest::prop_assert_eq!(&got, &want, "{:?}", q);
                        proptest::prop_assert_eq!(listed.total, all.len() as u64);
                    }
                }
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

        /// The records made from `inputs` (Ids from 1), keeping the first of each
        /// `(CoworkerId, Name)` pair, as a store holds no two.
        fn records_of(inputs: Vec<SettingInput>) -> Vec<Record> {
            let mut seen = std::collections::HashSet::new();
            inputs
                .into_iter()
                .enumerate()
                .map(|(i, input)| Record::new(i as i64 + 1, input, "x", Timestamp(i as i64)))
                .filter(|r| seen.insert((r.coworker_id, r.name.clone())))
                .collect()
        }

        /// Applies one random write (its index picks among the live records).
        fn apply(s: &Store, w: Write) {
            let ids: Vec<i64> = s.snapshot().iter().map(|r| r.id).collect();
            let pick = |i: usize| ids.get(i % ids.len().max(1)).copied().unwrap_or(1);
            let _ = match w {
                Write::Create(input) => s.create(input, "x", Timestamp(1)).map(|_| ()),
                Write::Update(i, input) => s.update(pick(i), input, "x", Timestamp(2)).map(|_| ()),
                Write::Delete(i) => s.delete(pick(i)).map(|_| ()),
            };
        }

        /// The listed page and `TotalItems` equal filtering a snapshot with `q`.
        fn agrees_with_a_scan(
            s: &Store,
            q: &ListQuery,
            snapshot: &[Record],
        ) -> Result<(), TestCaseError> {
            let listed = s.list(q);
            let got: Vec<i64> = listed.records.iter().map(|r| r.record.id).collect();
            let want: Vec<i64> = snapshot
                .iter()
                .filter(|r| q.matches(r))
                .map(|r| r.id)
                .collect();
            prop_assert_eq!(&got, &want, "query {:?}", q);
            prop_assert_eq!(listed.total, want.len() as u64);
            Ok(())
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
                let s = Store::new(records_of(initial)).unwrap();
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
                        agrees_with_a_scan(s, &q, &snapshot)?;
                    }
                    Ok(())
                };
                check(&s)?;
                for w in writes {
                    apply(&s, w);
                    check(&s)?;
                }
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(100))]
            /// 100 cases: a store large enough to build its index in the background;
            /// the index is built from the records as they were, random writes land
            /// while it builds (substring lists meanwhile scan, and must already be
            /// exact), then it is installed with the writes replayed: the indexed lists
            /// equal a plain scan.
            #[test]
            fn writes_made_while_the_index_builds_are_replayed_onto_it(
                initial in vec(arb_input(), BACKGROUND_INDEX_FROM..BACKGROUND_INDEX_FROM + 40),
                writes in vec(arb_write(), 0..40),
                needles in vec(arb_needle(), 1..6),
            ) {
                let records = records_of(initial);
                prop_assume!(records.len() >= BACKGROUND_INDEX_FROM);
                let s = Store::without_indexer(to_stored(records)).unwrap();
                let generation = s.read().building().expect("a large store builds in the background");
                let source = text_index_source(&s.inner, generation).unwrap();
                let check = |s: &Store| -> Result<(), TestCaseError> {
                    let snapshot = s.snapshot();
                    for (field, n) in &needles {
                        let text = Some(needle_text(n, *field, &snapshot));
                        let mut q = ListQuery { size: 1000, ..Default::default() };
                        match field {
                            0 => q.name = text,
                            1 => q.value = text,
                            _ => q.encrypted_value = text,
                        }
                        agrees_with_a_scan(s, &q, &snapshot)?;
                    }
                    Ok(())
                };
                for w in writes {
                    apply(&s, w);
                }
                prop_assert!(!s.text_index_ready());
                check(&s)?;
                prop_assert!(install_text_index(&s.inner, generation, TextIndex::build(&source)));
                prop_assert!(s.text_index_ready());
                check(&s)?;
            }
        }

        #[test]
        fn an_index_built_for_replaced_records_is_dropped() {
            let records = |prefix: &str| -> Vec<Record> {
                (0..BACKGROUND_INDEX_FROM as i64 * 2)
                    .map(|i| {
                        Record::new(i + 1, input(i, &format!("{prefix}-{i}")), "x", Timestamp(i))
                    })
                    .collect()
            };
            let s = Store::without_indexer(to_stored(records("alpha"))).unwrap();
            let old = s.read().building().unwrap();
            let stale = TextIndex::build(&text_index_source(&s.inner, old).unwrap());
            s.replace_all(records("omega")).unwrap();
            // The old build finishes after the replace: it must not be installed.
            assert!(!install_text_index(&s.inner, old, stale));
            s.wait_for_text_index();
            assert!(s.text_index_ready());
            let q = |needle: &str| ListQuery {
                name: Some(needle.to_string()),
                size: 1000,
                ..Default::default()
            };
            assert_eq!(s.list(&q("alpha")).total, 0);
            assert_eq!(s.list(&q("omega")).total, BACKGROUND_INDEX_FROM as u64 * 2);
            // omega-12 and omega-120 to omega-127.
            assert_eq!(s.list(&q("omega-12")).total, 9);
        }

        #[test]
        fn a_large_store_answers_substring_filters_before_and_after_its_index_is_ready() {
            let n = BACKGROUND_INDEX_FROM as i64 * 50;
            let records: Vec<Record> = (0..n)
                .map(|i| {
                    Record::new(
                        i + 1,
                        input(i % 7, &format!("Setting.{i}")),
                        "x",
                        Timestamp(i),
                    )
                })
                .collect();
            let s = Store::new(records).unwrap();
            let q = ListQuery {
                name: Some("ting.12".to_string()),
                size: 1000,
                ..Default::default()
            };
            let before = s.list(&q);
            s.wait_for_text_index();
            assert!(s.text_index_ready());
            let after = s.list(&q);
            let want = (0..n)
                .filter(|i| format!("Setting.{i}").contains("ting.12"))
                .count();
            assert_eq!(before.total, want as u64);
            assert_eq!(after.total, want as u64);
            let ids = |r: &ListResult| r.records.iter().map(|s| s.record.id).collect::<Vec<_>>();
            assert_eq!(ids(&before), ids(&after));
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
