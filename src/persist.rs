//! The state file behind `--state-file PATH`: a snapshot of every record plus an
//! append-only journal of the writes since, so that an acknowledged write costs one
//! appended line and a share of one fsync, not a rewrite of the store.
//!
//! - `PATH` is the snapshot, `{"NextId": …, "Seq": …, "Records": [...]}` (which also
//!   loads as a fixtures file; a file without `Seq`, as earlier versions wrote it,
//!   loads as a snapshot with nothing after it). It is only ever replaced whole:
//!   written to `PATH.tmp`, fsynced and renamed over, so it is never half-written.
//! - `PATH.journal.N` are the journal segments, JSON lines numbered by `Seq` (N is
//!   the first `Seq` a segment may hold): `{"Seq":7,"Put":{record}}`,
//!   `{"Seq":8,"Delete":123}`, or `{"Seq":9,"Replace":[records]}` for a reset,
//!   upload or reload. A record is the API's own JSON, so `jq` reads all of it.
//!
//! Every change is handed to the journal while the store's write lock is held, so
//! lines are numbered in the order the changes were made. A background thread
//! writes whatever lines have gathered and fsyncs them in one go (group commit); a
//! write's 200 waits, without holding a thread, until its line is durable. Loading
//! applies the lines after the snapshot's `Seq` in order; a last line cut short by a
//! crash is ignored with a warning. Once the journal outgrows the snapshot (and at
//! start-up) a compaction writes a new snapshot in another thread and deletes the
//! segments it covers; the journal moves to a new segment at that moment, so the
//! writes go on meanwhile. A journal that failed to write is not appended to again:
//! the next write compacts first.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::fixtures;
use crate::resource::Record;
use crate::store::{Change, ChangeLog, Store, StoreReader, Stored};

#[derive(Debug, Error)]
pub enum PersistError {
    #[error("state file {path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "state file {path} is not a state this mock can load ({problem}); fix it or move it away"
    )]
    Invalid { path: String, problem: String },
    #[error("state file {path}: cannot write: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "state file {path}: the journal could not be written; the change may be lost on restart"
    )]
    Journal { path: String },
    #[error("state file {path} is in use by another running mock (it holds {path}.lock)")]
    InUse { path: String },
}

/// A journal needs no compaction until it is at least this large, however small
/// the snapshot: compacting a tiny store after every few writes would cost more
/// than it saves.
const MIN_JOURNAL_BEFORE_COMPACTION: u64 = 256 * 1024;

/// Records and the next Id read from a state file.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub records: Vec<Record>,
    pub next_id: i64,
    /// The last journal line applied (or the snapshot's `Seq`).
    pub seq: u64,
}

/// What the writers' 200s wait on: which lines are on disk, and which failed.
#[derive(Debug, Clone, Default)]
struct Durable {
    seq: u64,
    /// Ranges of lines that could not be written; their writes get a 500.
    failed: Vec<(u64, u64)>,
}

impl Durable {
    fn outcome(&self, seq: u64) -> Option<bool> {
        if self.failed.iter().any(|(a, b)| (*a..=*b).contains(&seq)) {
            Some(false)
        } else if self.seq >= seq {
            Some(true)
        } else {
            None
        }
    }
}

/// Lines handed over but not yet written.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// The `Seq` of the last line appended.
    seq: u64,
    stop: bool,
}

/// The open journal segment.
struct Io {
    file: Option<File>,
    /// The first `Seq` the next segment opened will hold.
    segment_start: u64,
    /// Journal bytes written since the last snapshot.
    journal_bytes: u64,
    snapshot_bytes: u64,
    /// A write failed: the segment may end in a partial line, so it is not appended
    /// to again; the next flush compacts instead.
    broken: bool,
}

struct Shared {
    path: PathBuf,
    /// std mutexes and condvars: held only for in-memory work or synchronous file
    /// work on the journal's own threads, never across an await. Lock order: the
    /// store's lock, then `io`, then `pending`.
    pending: Mutex<Pending>,
    wake: Condvar,
    io: Mutex<Io>,
    durable: Mutex<Durable>,
    durable_changed: Condvar,
    /// The same, for async waiters (a write's response).
    durable_watch: tokio::sync::watch::Sender<Durable>,
    compacting: AtomicBool,
    /// One compaction at a time.
    compaction: Mutex<()>,
    reader: StoreReader,
}

pub struct StateFile {
    shared: Arc<Shared>,
    flusher: Mutex<Option<JoinHandle<()>>>,
    /// `PATH.lock`, held (flock) while this mock journals to the file: two mocks
    /// appending to one journal would corrupt each other's state.
    _lock: File,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

fn segment_path(path: &Path, start: u64) -> PathBuf {
    with_suffix(path, &format!(".journal.{start}"))
}

/// The journal segments beside `path`, by first `Seq`.
fn segments(path: &Path) -> Result<Vec<(u64, PathBuf)>, std::io::Error> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
        return Ok(vec![]);
    };
    let prefix = format!("{name}.journal.");
    let mut out = vec![];
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(vec![]),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let file_name = entry.file_name();
        let Some(start) = file_name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .and_then(|n| n.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((start, entry.path()));
    }
    out.sort();
    Ok(out)
}

impl StateFile {
    /// Reads the state at `path` (snapshot and journal), if there is one, without
    /// changing anything on disk. A leftover temporary file from a crash mid-save is
    /// removed: the rename never happened, so the snapshot itself is intact.
    pub fn open(path: &Path) -> Result<Option<Loaded>, PersistError> {
        let _ = std::fs::remove_file(with_suffix(path, ".tmp"));
        load(path)
    }

    /// Starts journaling `store`'s changes to the state file at `path`: writes a
    /// snapshot of the store as it is now (numbered `seq`, the last line already
    /// applied), deletes the segments it covers, and starts the writer thread.
    pub fn attach(path: &Path, store: &Store, seq: u64) -> Result<StateFile, PersistError> {
        let lock = exclusive_lock(path)?;
        let (tx, _) = tokio::sync::watch::channel(Durable {
            seq,
            failed: vec![],
        });
        let shared = Arc::new(Shared {
            path: path.to_path_buf(),
            pending: Mutex::new(Pending {
                seq,
                ..Pending::default()
            }),
            wake: Condvar::new(),
            io: Mutex::new(Io {
                file: None,
                segment_start: seq + 1,
                journal_bytes: 0,
                snapshot_bytes: 0,
                broken: false,
            }),
            durable: Mutex::new(Durable {
                seq,
                failed: vec![],
            }),
            durable_changed: Condvar::new(),
            durable_watch: tx,
            compacting: AtomicBool::new(false),
            compaction: Mutex::new(()),
            reader: store.reader(),
        });
        shared.compact()?;
        store.attach_log(Arc::new(Log(shared.clone())));
        let flusher = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("state-journal".into())
                .spawn(move || shared.flush_loop())
                .map_err(|source| PersistError::Write {
                    path: path.display().to_string(),
                    source,
                })?
        };
        Ok(StateFile {
            shared,
            flusher: Mutex::new(Some(flusher)),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.shared.path
    }

    /// The number of the last change handed to the journal: a write that has
    /// returned from the store is covered by it.
    pub fn appended(&self) -> u64 {
        lock(&self.shared.pending).seq
    }

    /// Waits, without holding a thread, until line `seq` is on disk.
    pub async fn durable(&self, seq: u64) -> Result<(), PersistError> {
        let mut rx = self.shared.durable_watch.subscribe();
        let outcome = rx
            .wait_for(|d| d.outcome(seq).is_some())
            .await
            .map(|d| d.outcome(seq) == Some(true))
            .unwrap_or(false);
        self.result(outcome)
    }

    /// Blocks until every change made so far is on disk (bulk changes from the
    /// admin API and hot reload, which are rare and already O(records)).
    pub fn wait_all(&self) -> Result<(), PersistError> {
        let seq = self.appended();
        let mut d = lock(&self.shared.durable);
        loop {
            if let Some(ok) = d.outcome(seq) {
                return self.result(ok);
            }
            d = self
                .shared
                .durable_changed
                .wait(d)
                .unwrap_or_else(|e| e.into_inner());
        }
    }

    fn result(&self, ok: bool) -> Result<(), PersistError> {
        if ok {
            Ok(())
        } else {
            Err(PersistError::Journal {
                path: self.shared.path.display().to_string(),
            })
        }
    }
}

impl Drop for StateFile {
    fn drop(&mut self) {
        lock(&self.shared.pending).stop = true;
        self.shared.wake.notify_all();
        if let Some(t) = lock(&self.flusher).take() {
            let _ = t.join();
        }
    }
}

/// The store's change log: turns each change into one journal line.
struct Log(Arc<Shared>);

impl ChangeLog for Log {
    fn append(&self, change: Change<'_>) {
        let mut p = lock(&self.0.pending);
        p.seq += 1;
        let seq = p.seq;
        let out = &mut p.bytes;
        let _ = write!(out, "{{\"Seq\":{seq},");
        match change {
            Change::Put(s) => {
                out.extend_from_slice(b"\"Put\":");
                out.extend_from_slice(s.json());
            }
            Change::Delete(id) => {
                let _ = write!(out, "\"Delete\":{id}");
            }
            Change::Replace(records) => {
                out.extend_from_slice(b"\"Replace\":[");
                for (i, s) in records.enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(s.json());
                }
                out.push(b']');
            }
        }
        out.extend_from_slice(b"}\n");
        drop(p);
        self.0.wake.notify_one();
    }
}

impl Shared {
    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    fn publish(&self, f: impl Fn(&mut Durable)) {
        {
            let mut d = lock(&self.durable);
            f(&mut d);
        }
        self.durable_changed.notify_all();
        self.durable_watch.send_modify(f);
    }

    /// The writer thread: writes and fsyncs whatever lines have gathered, then
    /// tells their writers; compacts when the journal has outgrown the snapshot.
    fn flush_loop(self: Arc<Self>) {
        loop {
            {
                let mut p = lock(&self.pending);
                while p.bytes.is_empty() && !p.stop {
                    p = self.wake.wait(p).unwrap_or_else(|e| e.into_inner());
                }
                if p.bytes.is_empty() {
                    return;
                }
            }
            // Lines are taken with `io` held, so a compaction's cut cannot fall
            // between taking them and writing them.
            let mut io = lock(&self.io);
            let (bytes, upto) = {
                let mut p = lock(&self.pending);
                (std::mem::take(&mut p.bytes), p.seq)
            };
            if bytes.is_empty() {
                continue;
            }
            if io.broken {
                // The lines just taken are in the store, so the snapshot covers them.
                drop(io);
                let from = lock(&self.durable).seq + 1;
                if let Err(e) = self.compact_covering(true) {
                    tracing::error!(error = %e, "could not save the state file");
                    self.publish(|d| d.failed.push((from, upto)));
                }
                continue;
            }
            let from = lock(&self.durable).seq + 1;
            match self.write_segment(&mut io, &bytes) {
                Ok(()) => {
                    let wants_compaction =
                        io.journal_bytes > io.snapshot_bytes.max(MIN_JOURNAL_BEFORE_COMPACTION);
                    drop(io);
                    self.publish(|d| d.seq = d.seq.max(upto));
                    if wants_compaction && !self.compacting.swap(true, Ordering::AcqRel) {
                        let me = self.clone();
                        let spawned = std::thread::Builder::new()
                            .name("state-compact".into())
                            .spawn(move || {
                                if let Err(e) = me.compact() {
                                    tracing::error!(error = %e, "state file compaction failed; the journal keeps growing");
                                }
                                me.compacting.store(false, Ordering::Release);
                            });
                        if spawned.is_err() {
                            self.compacting.store(false, Ordering::Release);
                        }
                    }
                }
                Err(e) => {
                    io.broken = true;
                    drop(io);
                    tracing::error!(error = %e, "could not append to the state file's journal");
                    self.publish(|d| d.failed.push((from, upto)));
                }
            }
        }
    }

    fn write_segment(&self, io: &mut Io, bytes: &[u8]) -> std::io::Result<()> {
        if io.file.is_none() {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(segment_path(&self.path, io.segment_start))?;
            sync_dir(&self.path);
            io.file = Some(f);
        }
        let f = io.file.as_mut().expect("opened above");
        f.write_all(bytes)?;
        f.sync_data()?;
        io.journal_bytes += bytes.len() as u64;
        Ok(())
    }

    /// Writes a snapshot of the store and drops the journal segments it covers.
    fn compact(&self) -> Result<(), PersistError> {
        self.compact_covering(false)
    }

    /// `dropped`: the writer thread took lines it did not write (the segment is
    /// broken); they are durable only once the snapshot, which covers them, is.
    fn compact_covering(&self, dropped: bool) -> Result<(), PersistError> {
        let _one = lock(&self.compaction);
        // The cut: with the store's read lock held no change is being made, so the
        // records and the last line appended agree. Lines up to it go to the old
        // segment; later ones to a new one.
        let cut = self.reader.with_records(|records, next_id| {
            let records: Vec<Arc<Stored>> = records.cloned().collect();
            let mut io = lock(&self.io);
            let (bytes, seq) = {
                let mut p = lock(&self.pending);
                (std::mem::take(&mut p.bytes), p.seq)
            };
            let written = if io.broken || dropped {
                false
            } else {
                bytes.is_empty() || self.write_segment(&mut io, &bytes).is_ok()
            };
            io.file = None;
            io.segment_start = seq + 1;
            io.journal_bytes = 0;
            (records, next_id, seq, written)
        });
        let (records, next_id, seq, written) = cut;
        if written {
            // Lines up to the cut are durable in the old segment already.
            self.publish(|d| d.seq = d.seq.max(seq));
        }
        let from = lock(&self.durable).seq + 1;
        let size = match self.write_snapshot(&records, next_id, seq) {
            Ok(size) => size,
            Err(e) => {
                if !written {
                    // The lines since the last durable one are on disk nowhere.
                    lock(&self.io).broken = true;
                    self.publish(|d| d.failed.push((from, seq)));
                }
                return Err(e);
            }
        };
        {
            let mut io = lock(&self.io);
            io.snapshot_bytes = size;
            io.broken = false;
        }
        self.publish(|d| d.seq = d.seq.max(seq));
        // Every segment before the current one holds only lines the snapshot covers.
        if let Ok(all) = segments(&self.path) {
            for (start, p) in all {
                if start <= seq {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        Ok(())
    }

    fn write_snapshot(
        &self,
        records: &[Arc<Stored>],
        next_id: i64,
        seq: u64,
    ) -> Result<u64, PersistError> {
        let err = |source| PersistError::Write {
            path: self.shown(),
            source,
        };
        let tmp = with_suffix(&self.path, ".tmp");
        let next_id = records
            .iter()
            .map(|s| s.record.id + 1)
            .max()
            .unwrap_or(1)
            .max(next_id);
        let f = File::create(&tmp).map_err(err)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
        let mut size = 0u64;
        let mut put = |out: &mut std::io::BufWriter<File>, b: &[u8]| {
            size += b.len() as u64;
            out.write_all(b)
        };
        put(
            &mut out,
            format!("{{\"NextId\":{next_id},\"Seq\":{seq},\"Records\":[").as_bytes(),
        )
        .map_err(err)?;
        for (i, s) in records.iter().enumerate() {
            put(&mut out, if i == 0 { b"\n" } else { b",\n" }).map_err(err)?;
            put(&mut out, s.json()).map_err(err)?;
        }
        put(&mut out, b"\n]}\n").map_err(err)?;
        let f = out.into_inner().map_err(|e| err(e.into_error()))?;
        f.sync_all().map_err(err)?;
        drop(f);
        std::fs::rename(&tmp, &self.path).map_err(err)?;
        sync_dir(&self.path);
        Ok(size)
    }
}

/// Takes `PATH.lock` for this process (released when the file is closed, also by a
/// crash, so a `kill -9` never leaves a stale lock behind).
fn exclusive_lock(path: &Path) -> Result<File, PersistError> {
    let lock_path = with_suffix(path, ".lock");
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|source| PersistError::Write {
            path: lock_path.display().to_string(),
            source,
        })?;
    #[cfg(unix)]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: flock on a descriptor this function owns; no memory is involved.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(PersistError::InUse {
                path: path.display().to_string(),
            });
        }
    }
    Ok(f)
}

/// A new or renamed directory entry is durable only once the directory is.
fn sync_dir(path: &Path) {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// Reads the state at `path`: the snapshot, then the journal lines after it. `None`
/// when there is no snapshot. Changes nothing on disk.
pub fn load(path: &Path) -> Result<Option<Loaded>, PersistError> {
    let shown = path.display().to_string();
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(PersistError::Read {
                path: shown,
                source,
            });
        }
    };
    let mut loaded = parse(&text, &shown)?;
    let segments = segments(path).map_err(|source| PersistError::Read {
        path: shown.clone(),
        source,
    })?;
    if segments.is_empty() {
        return Ok(Some(loaded));
    }
    let mut by_id: BTreeMap<i64, Record> = std::mem::take(&mut loaded.records)
        .into_iter()
        .map(|r| (r.id, r))
        .collect();
    for (_, segment) in segments {
        let seg_shown = segment.display().to_string();
        let text = std::fs::read(&segment).map_err(|source| PersistError::Read {
            path: seg_shown.clone(),
            source,
        })?;
        replay(&text, &seg_shown, &mut by_id, &mut loaded)?;
    }
    loaded.records = by_id.into_values().collect();
    let max_id = loaded.records.iter().map(|r| r.id).max().unwrap_or(0);
    loaded.next_id = loaded.next_id.max(max_id + 1);
    Ok(Some(loaded))
}

/// One journal line.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Line<'a> {
    seq: u64,
    #[serde(borrow, default)]
    put: Option<&'a RawValue>,
    #[serde(default)]
    delete: Option<i64>,
    #[serde(borrow, default)]
    replace: Option<Vec<&'a RawValue>>,
}

/// Applies one segment's lines after `loaded.seq`. A last line without its newline,
/// or one that does not parse, was cut short by a crash (its write was never
/// acknowledged): it is ignored with a warning. A bad line anywhere else means the file is not ours to guess about.
fn replay(
    text: &[u8],
    shown: &str,
    by_id: &mut BTreeMap<i64, Record>,
    loaded: &mut Loaded,
) -> Result<(), PersistError> {
    let invalid = |problem: String| PersistError::Invalid {
        path: shown.to_string(),
        problem,
    };
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let complete = text.ends_with(b"\n");
    for (n, raw) in lines.iter().enumerate() {
        let last = n + 1 == lines.len();
        // A line is whole only with its newline: a write is acknowledged after its
        // whole line is on disk, so a last line without one was never acknowledged,
        // even when what survived happens to parse.
        if last && !complete {
            tracing::warn!(file = %shown, line = n + 1, "ignoring a journal line cut short by a crash (no newline)");
            return Ok(());
        }
        let line = match std::str::from_utf8(raw)
            .map_err(|e| e.to_string())
            .and_then(|s| serde_json::from_str::<Line>(s).map_err(|e| e.to_string()))
        {
            Ok(line) => line,
            Err(e) if last && (!complete || e.contains("EOF")) => {
                tracing::warn!(file = %shown, line = n + 1, "ignoring a journal line cut short by a crash: {e}");
                return Ok(());
            }
            Err(e) => return Err(invalid(format!("line {}: {e}", n + 1))),
        };
        if line.seq <= loaded.seq {
            continue;
        }
        let at = |problem: String| invalid(format!("line {} (Seq {}): {problem}", n + 1, line.seq));
        match (line.put, line.delete, line.replace) {
            (Some(raw), None, None) => {
                let r = fixtures::check_record(raw.get()).map_err(at)?;
                loaded.next_id = loaded.next_id.max(r.id + 1);
                by_id.insert(r.id, r);
            }
            (None, Some(id), None) => {
                by_id.remove(&id);
            }
            (None, None, Some(raws)) => {
                by_id.clear();
                for raw in raws {
                    let r = fixtures::check_record(raw.get()).map_err(at)?;
                    loaded.next_id = loaded.next_id.max(r.id + 1);
                    by_id.insert(r.id, r);
                }
            }
            _ => return Err(at("expected exactly one of Put, Delete, Replace".into())),
        }
        loaded.seq = line.seq;
    }
    Ok(())
}

/// Parses a snapshot's text: records checked exactly like fixtures, `NextId` and `Seq`.
pub fn parse(text: &str, shown: &str) -> Result<Loaded, PersistError> {
    let invalid = |problem: String| PersistError::Invalid {
        path: shown.to_string(),
        problem,
    };
    let records = fixtures::parse_records(text, shown).map_err(|e| invalid(e.to_string()))?;
    let max_id = records.iter().map(|r| r.id).max().unwrap_or(0);
    #[derive(Deserialize)]
    struct Head {
        #[serde(rename = "NextId")]
        next_id: Option<Value>,
        #[serde(rename = "Seq")]
        seq: Option<Value>,
    }
    let head = serde_json::from_str::<Head>(text).ok();
    let (next_id, seq) = head.map_or((None, None), |h| (h.next_id, h.seq));
    let next_id = match next_id {
        None => max_id + 1,
        Some(v) => match v.as_i64() {
            Some(n) if n > max_id => n,
            _ => {
                return Err(invalid(format!(
                    "NextId {v} must be an integer above every Id"
                )));
            }
        },
    };
    let seq = match seq {
        None => 0,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| invalid(format!("Seq {v} must be a whole number")))?,
    };
    Ok(Loaded {
        records,
        next_id,
        seq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{SettingInput, Timestamp};
    use proptest::prelude::*;

    fn input(c: i64, name: &str) -> SettingInput {
        SettingInput {
            coworker_id: c,
            name: name.into(),
            value: Some("v".into()),
            encrypted_value: None,
        }
    }

    /// A store journaling to a fresh state file in a temporary directory.
    fn journaled(dir: &Path) -> (Store, StateFile, PathBuf) {
        let path = dir.join("state.json");
        let store = Store::new(crate::fixtures::builtin_records()).unwrap();
        let file = StateFile::attach(&path, &store, 0).unwrap();
        (store, file, path)
    }

    fn journal_text(path: &Path) -> Vec<u8> {
        segments(path)
            .unwrap()
            .into_iter()
            .flat_map(|(_, p)| std::fs::read(p).unwrap())
            .collect()
    }

    #[test]
    fn writes_load_back_from_snapshot_and_journal_with_their_next_id() {
        let dir = tempfile::tempdir().unwrap();
        let (store, file, path) = journaled(dir.path());
        let id = store
            .create(input(5, "n"), "me", Timestamp(0))
            .unwrap()
            .record
            .id;
        store.update(id, input(5, "m"), "me", Timestamp(1)).unwrap();
        store.delete(87654303).unwrap();
        let last = store
            .create(input(6, "gone"), "me", Timestamp(0))
            .unwrap()
            .record
            .id;
        store.delete(last).unwrap();
        file.wait_all().unwrap();
        let loaded = load(&path).unwrap().unwrap();
        assert_eq!(loaded.records, store.snapshot());
        assert_eq!(
            loaded.next_id,
            last + 1,
            "a deleted Id is not handed out again"
        );
        let text = String::from_utf8(journal_text(&path)).unwrap();
        assert_eq!(text.lines().count(), 5, "one line per write: {text}");
        // A reset is one line too, and a restart compacts everything into the snapshot.
        store.reset();
        file.wait_all().unwrap();
        assert_eq!(load(&path).unwrap().unwrap().records, store.snapshot());
        drop(file);
        let loaded = StateFile::open(&path).unwrap().unwrap();
        let again = Store::new(loaded.records.clone()).unwrap();
        let file = StateFile::attach(&path, &again, loaded.seq).unwrap();
        assert!(journal_text(&path).is_empty(), "compacted at start");
        assert_eq!(load(&path).unwrap().unwrap().records, store.snapshot());
        drop(file);
    }

    #[test]
    fn a_state_file_in_the_previous_format_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        // What the previous version wrote: the whole store and NextId, no Seq, no journal.
        let records = crate::fixtures::builtin_records();
        let old = serde_json::json!({"NextId": 90000000, "Records": records});
        std::fs::write(&path, serde_json::to_vec(&old).unwrap()).unwrap();
        let loaded = StateFile::open(&path).unwrap().unwrap();
        assert_eq!(
            (loaded.records.clone(), loaded.next_id, loaded.seq),
            (records, 90000000, 0)
        );
        let store = Store::new(loaded.records).unwrap();
        store.reserve_ids(loaded.next_id);
        let file = StateFile::attach(&path, &store, loaded.seq).unwrap();
        let id = store
            .create(input(1, "new"), "me", Timestamp(0))
            .unwrap()
            .record
            .id;
        assert_eq!(id, 90000000);
        file.wait_all().unwrap();
        assert_eq!(load(&path).unwrap().unwrap().records, store.snapshot());
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_a_bad_line_before_it_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (store, file, path) = journaled(dir.path());
        store.create(input(5, "a"), "me", Timestamp(0)).unwrap();
        store.create(input(5, "b"), "me", Timestamp(0)).unwrap();
        file.wait_all().unwrap();
        drop(file);
        let (_, segment) = segments(&path).unwrap().pop().unwrap();
        let text = std::fs::read(&segment).unwrap();
        std::fs::write(&segment, &text[..text.len() - 10]).unwrap();
        let names: Vec<String> = load(&path)
            .unwrap()
            .unwrap()
            .records
            .into_iter()
            .map(|r| r.name)
            .collect();
        assert!(names.contains(&"a".to_string()) && !names.contains(&"b".to_string()));
        let mut broken = b"{\"Seq\":1,\"Put\":{\"Id\":1}}\n".to_vec();
        broken.extend_from_slice(&text);
        std::fs::write(&segment, broken).unwrap();
        let e = load(&path).unwrap_err().to_string();
        assert!(e.contains("line 1") && e.contains("journal"), "{e}");
    }

    #[test]
    fn the_journal_is_compacted_once_it_outgrows_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = Store::new(vec![]).unwrap();
        let file = StateFile::attach(&path, &store, 0).unwrap();
        let big = "x".repeat(2000);
        let mut compacted = false;
        for i in 0..400 {
            let mut s = input(1, &format!("n{i}"));
            s.value = Some(big.clone());
            let id = store.create(s, "me", Timestamp(0)).unwrap().record.id;
            if i % 2 == 0 {
                store.delete(id).unwrap();
            }
            file.wait_all().unwrap();
            compacted |= parse(&std::fs::read_to_string(&path).unwrap(), "s")
                .unwrap()
                .seq
                > 0;
        }
        // The compaction runs beside the writes; give the last one a moment.
        let started = std::time::Instant::now();
        while !compacted && started.elapsed() < std::time::Duration::from_secs(10) {
            std::thread::sleep(std::time::Duration::from_millis(20));
            compacted = parse(&std::fs::read_to_string(&path).unwrap(), "s")
                .unwrap()
                .seq
                > 0;
        }
        assert!(compacted, "no snapshot was written after 600 writes");
        let journal = journal_text(&path).len() as u64;
        assert!(
            journal
                <= 2 * MIN_JOURNAL_BEFORE_COMPACTION.max(std::fs::metadata(&path).unwrap().len()),
            "the journal ({journal} bytes) was left to grow"
        );
        assert_eq!(load(&path).unwrap().unwrap().records, store.snapshot());
    }

    #[test]
    fn a_compaction_cut_short_before_its_snapshot_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (store, file, path) = journaled(dir.path());
        store.create(input(5, "a"), "me", Timestamp(0)).unwrap();
        let b = store.create(input(5, "b"), "me", Timestamp(0)).unwrap();
        file.wait_all().unwrap();
        // What a crash between moving to a new segment and renaming the new
        // snapshot into place leaves: the old snapshot and both segments.
        let blocker = with_suffix(&path, ".tmp");
        std::fs::create_dir(&blocker).unwrap();
        assert!(file.shared.compact().is_err());
        store.create(input(5, "c"), "me", Timestamp(0)).unwrap();
        store.delete(b.record.id).unwrap();
        file.wait_all().unwrap();
        assert_eq!(segments(&path).unwrap().len(), 2);
        assert_eq!(load(&path).unwrap().unwrap().records, store.snapshot());
        std::fs::remove_dir(&blocker).unwrap();
        file.shared.compact().unwrap();
        assert!(segments(&path).unwrap().is_empty());
        assert_eq!(load(&path).unwrap().unwrap().records, store.snapshot());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// 64 cases: random writes, then the journal cut at a random byte as a crash
        /// would leave it. The state loads, and it is exactly the state after the
        /// writes whose lines are whole, so every acknowledged write survives.
        #[test]
        fn a_crash_at_any_byte_loads_the_writes_whose_lines_are_whole(
            writes in proptest::collection::vec((0u8..3, 0usize..6), 1..30),
            cut in 0.0f64..=1.0,
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("state.json");
            let store = Store::new(vec![]).unwrap();
            let file = StateFile::attach(&path, &store, 0).unwrap();
            let mut states = vec![store.snapshot()];
            for (op, n) in writes {
                let ids: Vec<i64> = store.snapshot().iter().map(|r| r.id).collect();
                let pick = ids.get(n % ids.len().max(1)).copied().unwrap_or(1);
                let changed = match op {
                    0 => store.create(input(1, &format!("n{n}")), "me", Timestamp(0)).is_ok(),
                    1 => store.update(pick, input(2, &format!("u{n}")), "me", Timestamp(1)).is_ok(),
                    _ => store.delete(pick).is_ok(),
                };
                if changed {
                    states.push(store.snapshot());
                }
            }
            file.wait_all().unwrap();
            drop(file);
            // Lines in earlier segments are whole; only the last one is cut.
            let mut segs = segments(&path).unwrap();
            let last = segs.pop();
            let lines = |text: &[u8]| text.iter().filter(|b| **b == b'\n').count();
            let before: usize = segs
                .iter()
                .map(|(_, s)| lines(&std::fs::read(s).unwrap()))
                .sum();
            let whole = before + match last {
                Some((_, segment)) => {
                    let text = std::fs::read(&segment).unwrap();
                    let keep = (text.len() as f64 * cut) as usize;
                    std::fs::write(&segment, &text[..keep]).unwrap();
                    lines(&text[..keep])
                }
                None => 0,
            };
            let loaded = load(&path).unwrap().unwrap();
            prop_assert_eq!(&loaded.records, &states[whole]);
        }
    }
}
