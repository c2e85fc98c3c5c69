//! The state file behind `--state-file PATH`: the records are loaded from it at
//! start (when it exists) and the whole store is written back after every
//! acknowledged write, before the response goes out, so a crash loses nothing that
//! got a 200. Each save writes a temporary file beside it, fsyncs it, renames it over
//! the old one and fsyncs the directory, so the file on disk is always either the
//! old state or the new one, never half of each.
//!
//! Writing the whole store is O(records) per write; for a mock's few thousand
//! records that is well under a millisecond of serialising plus one fsync, and it
//! keeps recovery trivial (there is no log to replay). Concurrent writers share a
//! save: a writer that finds its change already saved by another returns at once.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde_json::Value;
use thiserror::Error;

use crate::fixtures;
use crate::resource::Record;
use crate::store::Store;

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
}

/// What a state file holds: the fixture format's list envelope plus the next Id.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Saved<'a> {
    next_id: i64,
    records: &'a [Record],
}

/// Records and the next Id read from a state file.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub records: Vec<Record>,
    pub next_id: i64,
}

pub struct StateFile {
    path: PathBuf,
    tmp: PathBuf,
    /// Writes asked to be saved so far; a save covers every request counted before it read this.
    requested: AtomicU64,
    /// The count of requests the file on disk covers. A std mutex: held only by
    /// synchronous file work, never across an await; it also orders the renames.
    saved: Mutex<u64>,
}

impl StateFile {
    /// Opens the state file at `path`, returning what it holds if it exists. A
    /// leftover temporary file from a crash mid-save is removed: the rename never
    /// happened, so the state file itself is intact.
    pub fn open(path: &Path) -> Result<(StateFile, Option<Loaded>), PersistError> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let file = StateFile {
            path: path.to_path_buf(),
            tmp: PathBuf::from(tmp),
            requested: AtomicU64::new(0),
            saved: Mutex::new(0),
        };
        let _ = std::fs::remove_file(&file.tmp);
        let shown = path.display().to_string();
        let loaded = match std::fs::read_to_string(path) {
            Ok(text) => Some(parse(&text, &shown)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(PersistError::Read {
                    path: shown,
                    source,
                });
            }
        };
        Ok((file, loaded))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Saves the store so that every write made before this call is on disk when it
    /// returns.
    pub fn save(&self, store: &Store) -> Result<(), PersistError> {
        let mine = self.requested.fetch_add(1, Ordering::SeqCst) + 1;
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        if *saved >= mine {
            return Ok(());
        }
        // Every write counted up to `covers` changed the store before it was counted,
        // so the snapshot taken after this load includes it.
        let covers = self.requested.load(Ordering::SeqCst);
        let records = store.snapshot();
        let next_id = store.next_id();
        self.write(&records, next_id)?;
        *saved = covers;
        Ok(())
    }

    fn write(&self, records: &[Record], next_id: i64) -> Result<(), PersistError> {
        let err = |source| PersistError::Write {
            path: self.path.display().to_string(),
            source,
        };
        let bytes =
            serde_json::to_vec(&Saved { next_id, records }).expect("records always serialise");
        let mut f = File::create(&self.tmp).map_err(err)?;
        f.write_all(&bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
        drop(f);
        std::fs::rename(&self.tmp, &self.path).map_err(err)?;
        // The rename is durable only once the directory entry is.
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// Parses a state file's text: records checked exactly like fixtures, and NextId.
pub fn parse(text: &str, shown: &str) -> Result<Loaded, PersistError> {
    let invalid = |problem: String| PersistError::Invalid {
        path: shown.to_string(),
        problem,
    };
    let records = fixtures::parse_records(text, shown).map_err(|e| invalid(e.to_string()))?;
    let max_id = records.iter().map(|r| r.id).max().unwrap_or(0);
    let next_id = match serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("NextId").cloned())
    {
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
    Ok(Loaded { records, next_id })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::Fixtures;
    use crate::resource::{SettingInput, Timestamp};

    #[test]
    fn a_saved_store_loads_back_with_its_next_id() {
        let dir = std::env::temp_dir().join(format!("nm-persist-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.json");
        let (file, loaded) = StateFile::open(&path).unwrap();
        assert!(loaded.is_none());
        let store = Store::new(Fixtures::builtin().records).unwrap();
        let input = SettingInput {
            coworker_id: 5,
            name: "n".into(),
            value: Some("v".into()),
            encrypted_value: None,
        };
        let id = store.create(input, "me", Timestamp(0)).unwrap().record.id;
        store.delete(id).unwrap();
        file.save(&store).unwrap();
        let (_, loaded) = StateFile::open(&path).unwrap();
        let loaded = loaded.unwrap();
        assert_eq!(loaded.records, store.snapshot());
        assert_eq!(
            loaded.next_id,
            id + 1,
            "a deleted Id is not handed out again"
        );
        assert!(!dir.join("state.json.tmp").exists());
        std::fs::write(&path, "{\"Records\": [").unwrap();
        let e = StateFile::open(&path).err().unwrap().to_string();
        assert!(
            e.contains("state.json") && e.contains("not valid JSON"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
