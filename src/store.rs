//! The in-memory store, the single source of truth for the mock: records by Id, the
//! unique `(CoworkerId, Name)` index (which doubles as the "one customer ordered by
//! Name" index), the monotonic Id allocator and list execution. It knows nothing of
//! sockets or HTTP.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::Bytes;
use thiserror::Error;

use crate::query::{ListQuery, SortField};
use crate::resource::{Record, SettingInput, Timestamp};

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

/// One page of a list and the number of records that matched.
pub struct ListResult {
    pub records: Vec<Arc<Stored>>,
    pub total: u64,
}

#[derive(Default)]
struct Inner {
    /// Every record by Id; iteration order is the default list order.
    by_id: BTreeMap<i64, Arc<Stored>>,
    /// Enforces uniqueness, and serves "one customer, ordered by Name" without a sort.
    by_key: BTreeMap<(i64, String), i64>,
}

impl Inner {
    fn from_records(records: Vec<Record>) -> Result<Self, LoadError> {
        let mut inner = Inner::default();
        for (index, r) in records.into_iter().enumerate() {
            if inner.by_id.contains_key(&r.id) {
                return Err(LoadError::DuplicateId { index, id: r.id });
            }
            let key = (r.coworker_id, r.name.clone());
            if inner.by_key.contains_key(&key) {
                return Err(LoadError::DuplicateKey {
                    index,
                    coworker_id: r.coworker_id,
                    name: r.name,
                });
            }
            inner.by_key.insert(key, r.id);
            inner.by_id.insert(r.id, Stored::new(r));
        }
        Ok(inner)
    }

    fn max_id(&self) -> i64 {
        self.by_id.keys().next_back().copied().unwrap_or(0)
    }
}

/// The store. A std `RwLock` because no critical section awaits: every method
/// takes the lock, does in-memory work and returns.
pub struct Store {
    inner: RwLock<Inner>,
    /// The next Id to hand out; only grows, so Ids are never reused, even across resets.
    next_id: AtomicI64,
}

impl Store {
    pub fn new(records: Vec<Record>) -> Result<Self, LoadError> {
        let inner = Inner::from_records(records)?;
        let next_id = inner.max_id() + 1;
        Ok(Store {
            inner: RwLock::new(inner),
            next_id: AtomicI64::new(next_id),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock cannot leave Inner half-written (every
        // mutation is a few infallible map operations), so poisoning is ignored.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    fn allocate_id(&self) -> i64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
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
        let mut inner = self.write();
        let key = (input.coworker_id, input.name);
        if inner.by_key.contains_key(&key) {
            return Err(WriteError::Duplicate {
                coworker_id: key.0,
                name: key.1,
            });
        }
        let id = self.allocate_id();
        let input = SettingInput {
            coworker_id: key.0,
            name: key.1.clone(),
            ..input
        };
        let stored = Stored::new(Record::new(id, input, by, now));
        inner.by_key.insert(key, id);
        inner.by_id.insert(id, stored.clone());
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
        let new_key = (input.coworker_id, input.name.clone());
        if let Some(&other) = inner.by_key.get(&new_key) {
            if other != id {
                return Err(WriteError::Duplicate {
                    coworker_id: new_key.0,
                    name: new_key.1,
                });
            }
        }
        inner
            .by_key
            .remove(&(old.record.coworker_id, old.record.name.clone()));
        inner.by_key.insert(new_key, id);
        let stored = Stored::new(old.record.updated(input, by, now));
        inner.by_id.insert(id, stored.clone());
        Ok(stored)
    }

    pub fn delete(&self, id: i64) -> Result<Arc<Stored>, WriteError> {
        let mut inner = self.write();
        let old = inner.by_id.remove(&id).ok_or(WriteError::NotFound(id))?;
        inner
            .by_key
            .remove(&(old.record.coworker_id, old.record.name.clone()));
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

    /// Runs a list query. Two shapes are served from an index without a sort: the
    /// default order (by Id) with no filter, and one customer ordered by Name with no
    /// other filter; everything else filters then sorts the matches.
    pub fn list(&self, q: &ListQuery) -> ListResult {
        let inner = self.read();
        let (offset, size) = (q.offset(), q.size as usize);
        let page = |it: &mut dyn Iterator<Item = &Arc<Stored>>| {
            it.skip(offset).take(size).cloned().collect()
        };

        if let Some(c) = q.coworker {
            let customer = || {
                inner
                    .by_key
                    .range((c, String::new())..)
                    .take_while(move |((cc, _), _)| *cc == c)
                    .map(|(_, id)| &inner.by_id[id])
            };
            if q.order_by == SortField::Name && q.only_customer_filter() {
                let total = customer().count() as u64;
                let records = if q.ascending {
                    page(&mut customer())
                } else {
                    let all: Vec<_> = customer().collect();
                    page(&mut all.into_iter().rev())
                };
                return ListResult { records, total };
            }
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
        let fresh = Inner::from_records(records)?;
        let mut inner = self.write();
        self.next_id
            .fetch_max(fresh.max_id() + 1, Ordering::Relaxed);
        *inner = fresh;
        Ok(())
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
}
