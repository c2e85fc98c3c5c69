//! The substring index behind the `CoworkerSetting_Name`, `_Value` and
//! `_EncryptedValue` filters: for each field, the byte trigrams of its case-folded
//! text, each with the sorted list of records ("slots") that contain it. A filter
//! whose folded needle has three or more bytes takes its candidates from the
//! intersection of its trigrams' lists; the store then checks every candidate with
//! the one filter definition in `query`, so the index only ever narrows the scan and
//! never decides a match. It is a superset because folding is done on whole strings
//! (`query::fold_case`): if the folded needle is a substring of the folded text,
//! every trigram of the one is a trigram of the other.
//!
//! Writes keep it current in O(trigrams of the record): a new or updated record gets
//! the next slot (so lists stay sorted by appending), and a replaced or deleted one
//! only empties its slot. Dead slots are dropped by rebuilding the index once they
//! outnumber the live ones, so the rebuild's cost is spread over as many writes as
//! there are records.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::query::{ListQuery, fold_case};
use crate::store::Stored;

/// Which text field a trigram came from; the top byte of a posting key.
#[derive(Clone, Copy)]
enum Field {
    Name = 0,
    Value = 1,
    EncryptedValue = 2,
}

/// Dead slots tolerated before a rebuild, whatever the store's size (small in unit
/// tests, so that the property test reaches rebuilds).
const MIN_DEAD_BEFORE_REBUILD: usize = if cfg!(test) { 4 } else { 1024 };

/// Once fewer candidates than this remain, checking them beats intersecting further.
const ENOUGH_NARROWED: usize = 32;

#[derive(Default)]
pub struct TextIndex {
    /// Records by slot; `None` once the record was deleted or replaced.
    slots: Vec<Option<Arc<Stored>>>,
    /// The live slot of each record, by Id.
    slot_of: FxHashMap<i64, u32>,
    /// Posting lists: `field << 24 | trigram` to the slots whose text holds it, ascending.
    postings: FxHashMap<u32, Vec<u32>>,
    /// Slots emptied since the last build.
    dead: usize,
}

/// Appends the posting keys of one field's text to `out`.
fn keys_of(field: Field, text: &str, out: &mut Vec<u32>) {
    let folded = fold_case(text);
    let tag = (field as u32) << 24;
    out.extend(
        folded
            .as_bytes()
            .windows(3)
            .map(|w| tag | u32::from(w[0]) << 16 | u32::from(w[1]) << 8 | u32::from(w[2])),
    );
}

/// Every distinct posting key of a record, ascending.
pub fn posting_keys(s: &Stored) -> Vec<u32> {
    let mut keys = Vec::with_capacity(64);
    record_keys(s, &mut keys);
    keys
}

/// Every distinct posting key of a record, ascending, into `out`.
fn record_keys(s: &Stored, out: &mut Vec<u32>) {
    out.clear();
    let r = &s.record;
    keys_of(Field::Name, &r.name, out);
    if let Some(v) = &r.value {
        keys_of(Field::Value, v, out);
    }
    if let Some(v) = &r.encrypted_value {
        keys_of(Field::EncryptedValue, v, out);
    }
    out.sort_unstable();
    out.dedup();
}

impl TextIndex {
    /// Builds the index over `records` (slot = position), on every core.
    pub fn build(records: &[Arc<Stored>]) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = records.len().div_ceil(threads).max(8192);
        // Each thread indexes a contiguous range of slots; appending the partial lists
        // in range order keeps every list sorted.
        let partials: Vec<FxHashMap<u32, Vec<u32>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = records
                .chunks(chunk.max(1))
                .enumerate()
                .map(|(i, part)| {
                    scope.spawn(move || {
                        let first = (i * chunk) as u32;
                        let mut map: FxHashMap<u32, Vec<u32>> = FxHashMap::default();
                        let mut keys = Vec::with_capacity(64);
                        for (j, s) in part.iter().enumerate() {
                            record_keys(s, &mut keys);
                            for k in &keys {
                                map.entry(*k).or_default().push(first + j as u32);
                            }
                        }
                        map
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().expect("an index builder thread panicked"))
                .collect()
        });
        let mut partials = partials.into_iter();
        let mut postings = partials.next().unwrap_or_default();
        for part in partials {
            for (k, list) in part {
                postings.entry(k).or_default().extend(list);
            }
        }
        for list in postings.values_mut() {
            list.shrink_to_fit();
        }
        let slot_of = records
            .iter()
            .enumerate()
            .map(|(i, s)| (s.record.id, i as u32))
            .collect();
        TextIndex {
            slots: records.iter().cloned().map(Some).collect(),
            slot_of,
            postings,
            dead: 0,
        }
    }

    /// Indexes a new record, or the new version of a record (its old one is dropped).
    pub fn insert(&mut self, s: &Arc<Stored>) {
        self.insert_keyed(s, &posting_keys(s));
    }

    /// [`insert`](Self::insert) with the record's [`posting_keys`] worked out
    /// beforehand (by a create, before it takes the store's write lock).
    pub fn insert_keyed(&mut self, s: &Arc<Stored>, keys: &[u32]) {
        let Ok(slot) = u32::try_from(self.slots.len()) else {
            // Four billion writes since the last rebuild: rebuild instead.
            self.remove(s.record.id);
            self.rebuild_with(Some(s));
            return;
        };
        self.slots.push(Some(s.clone()));
        // One lookup both places a new record and finds an updated one's old slot.
        if let Some(old) = self.slot_of.insert(s.record.id, slot) {
            self.slots[old as usize] = None;
            self.dead += 1;
        }
        for &k in keys {
            self.postings.entry(k).or_default().push(slot);
        }
        self.rebuild_if_mostly_dead();
    }

    /// Drops the record with this Id, if indexed; rebuilds when dead slots dominate.
    pub fn remove(&mut self, id: i64) {
        let Some(slot) = self.slot_of.remove(&id) else {
            return;
        };
        self.slots[slot as usize] = None;
        self.dead += 1;
        self.rebuild_if_mostly_dead();
    }

    fn rebuild_if_mostly_dead(&mut self) {
        if self.dead > self.slot_of.len().max(MIN_DEAD_BEFORE_REBUILD) {
            self.rebuild_with(None);
        }
    }

    fn rebuild_with(&mut self, extra: Option<&Arc<Stored>>) {
        let mut live: Vec<Arc<Stored>> = self.slots.iter().flatten().cloned().collect();
        live.extend(extra.cloned());
        *self = TextIndex::build(&live);
    }

    /// The records that may pass the query's substring filters, or `None` when no
    /// filter is long enough for the index to help (the caller scans instead). Every
    /// record that passes is among them; the caller still checks each one.
    pub fn candidates(&self, q: &ListQuery) -> Option<Vec<&Arc<Stored>>> {
        let mut keys = Vec::new();
        for (field, needle) in [
            (Field::Name, &q.name),
            (Field::Value, &q.value),
            (Field::EncryptedValue, &q.encrypted_value),
        ] {
            if let Some(n) = needle {
                keys_of(field, n, &mut keys);
            }
        }
        if keys.is_empty() {
            return None;
        }
        keys.sort_unstable();
        keys.dedup();
        let mut lists = Vec::with_capacity(keys.len());
        for k in &keys {
            match self.postings.get(k) {
                Some(list) => lists.push(list.as_slice()),
                None => return Some(Vec::new()),
            }
        }
        lists.sort_by_key(|l| l.len());
        let mut slots: Vec<u32> = lists[0].to_vec();
        for list in &lists[1..] {
            if slots.len() <= ENOUGH_NARROWED {
                break;
            }
            slots = intersect(&slots, list);
        }
        Some(
            slots
                .into_iter()
                .filter_map(|s| self.slots[s as usize].as_ref())
                .collect(),
        )
    }
}

/// The slots in both ascending lists: a merge when they are of similar length, a
/// binary search of the longer one for each of a few otherwise.
fn intersect(few: &[u32], list: &[u32]) -> Vec<u32> {
    if list.len() / 16 > few.len() {
        return few
            .iter()
            .copied()
            .filter(|s| list.binary_search(s).is_ok())
            .collect();
    }
    let mut out = Vec::with_capacity(few.len());
    let (mut i, mut j) = (0, 0);
    while i < few.len() && j < list.len() {
        match few[i].cmp(&list[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(few[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}
