//! Recording (`proxy --record DIR`): every record the upstream returns (get one,
//! batch get, list pages) is kept by Id, replaced by later answers, dropped when the
//! upstream deletes it or says it is gone, and written to `DIR/coworkersettings.json`
//! in the fixture format, so `serve --fixtures DIR` replays the same data.
//!
//! Records are kept exactly as returned (`EncryptedValue` included: it is ciphertext
//! the client made), with their fields in the documented order. Only records that
//! match the record schema are kept, since `serve` refuses a fixture file with any
//! other; and a newer record takes the place of an older one with the same
//! `(CoworkerId, Name)`, which the fixture loader also requires to be unique.
//!
//! Each change is saved before the response goes out: a temporary file is written
//! and fsynced, renamed over the file, and the directory fsynced, so the file is
//! always whole. Concurrent changes share a save.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use thiserror::Error;

use super::validate::Endpoint;
use crate::fixtures::{self, RECORDS_FILE};
use crate::schemas::Schema;

/// The record's fields in the order every read returns them.
const FIELDS: [&str; 14] = [
    "CoworkerId",
    "Name",
    "Value",
    "EncryptedValue",
    "Id",
    "UpdatedOn",
    "CreatedOn",
    "UniqueId",
    "UpdatedBy",
    "IsNew",
    "SystemId",
    "ToStringText",
    "LocalizationDetails",
    "CustomFields",
];

#[derive(Debug, Error)]
pub enum RecordError {
    #[error("{path}: cannot create the directory: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} holds records the proxy cannot add to ({problem}); move it away or fix it")]
    Existing { path: String, problem: String },
    #[error("{path}: cannot write: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// The recorded records and the file they go to. Cheap to clone.
#[derive(Clone)]
pub struct Recorder(Arc<Inner>);

struct Inner {
    path: PathBuf,
    tmp: PathBuf,
    /// std Mutex: held only to change the map or copy it out, never across I/O.
    records: Mutex<BTreeMap<i64, Value>>,
    /// Changes made so far; a save covers every change counted before it copied the map.
    changes: AtomicU64,
    /// The count of changes the file on disk covers; also orders the renames.
    saved: Mutex<u64>,
}

impl Recorder {
    /// Opens `dir` (creating it), starting from the records already recorded there so
    /// that runs add up.
    pub fn open(dir: &Path) -> Result<Self, RecordError> {
        let shown = |p: &Path| p.display().to_string();
        std::fs::create_dir_all(dir).map_err(|source| RecordError::Dir {
            path: shown(dir),
            source,
        })?;
        let path = dir.join(RECORDS_FILE);
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let mut records = BTreeMap::new();
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let existing = |problem: String| RecordError::Existing {
                    path: shown(&path),
                    problem,
                };
                // Checked exactly as `serve --fixtures` checks it, then kept as written.
                fixtures::parse_records(&text, &shown(&path))
                    .map_err(|e| existing(e.to_string()))?;
                let values: Vec<Value> = match serde_json::from_str::<Value>(&text) {
                    Ok(Value::Array(a)) => a,
                    Ok(mut envelope) => match envelope["Records"].take() {
                        Value::Array(a) => a,
                        _ => vec![],
                    },
                    Err(e) => return Err(existing(e.to_string())),
                };
                for v in values {
                    if let Some(id) = v["Id"].as_i64() {
                        records.insert(id, v);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(RecordError::Write {
                    path: shown(&path),
                    source,
                });
            }
        }
        let recorder = Recorder(Arc::new(Inner {
            path,
            tmp: PathBuf::from(tmp),
            records: Mutex::new(records),
            changes: AtomicU64::new(0),
            saved: Mutex::new(0),
        }));
        // Written at once, so a run that sees no record replays as no records rather
        // than as the built-in fixtures.
        recorder.save()?;
        Ok(recorder)
    }

    pub fn path(&self) -> &Path {
        &self.0.path
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, Value>> {
        self.0.records.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes in what one answer says about records; true when that changed anything.
    pub fn observe(&self, endpoint: Endpoint, status: u16, body: Option<&Value>) -> bool {
        let changed = match (endpoint, status, body) {
            (Endpoint::GetOne(_), 200, Some(v)) => self.keep(std::slice::from_ref(v)),
            (Endpoint::Batch, 200, Some(Value::Array(records))) => self.keep(records),
            (Endpoint::List, 200, Some(v)) => match v["Records"].as_array() {
                Some(records) => self.keep(records),
                None => false,
            },
            (Endpoint::Delete(id), 200, _) | (Endpoint::GetOne(id), 404, _) => {
                self.lock().remove(&id).is_some()
            }
            _ => false,
        };
        if changed {
            self.0.changes.fetch_add(1, Ordering::SeqCst);
        }
        changed
    }

    fn keep(&self, records: &[Value]) -> bool {
        let valid: Vec<(i64, &Value)> = records
            .iter()
            .filter(|v| Schema::Record.validate(v).is_ok())
            .filter_map(|v| Some((v["Id"].as_i64()?, v)))
            .collect();
        let mut map = self.lock();
        let mut changed = false;
        for (id, v) in valid {
            if map.get(&id) == Some(v) {
                continue;
            }
            map.retain(|other, o| {
                *other == id || o["CoworkerId"] != v["CoworkerId"] || o["Name"] != v["Name"]
            });
            map.insert(id, v.clone());
            changed = true;
        }
        changed
    }

    /// Writes the file if a change is not on disk yet. Blocking: call it off the
    /// async workers.
    pub fn save(&self) -> Result<(), RecordError> {
        let inner = &self.0;
        let mut saved = inner.saved.lock().unwrap_or_else(|e| e.into_inner());
        let covers = inner.changes.load(Ordering::SeqCst);
        if *saved >= covers && inner.path.exists() {
            return Ok(());
        }
        let text = {
            let map = self.lock();
            render(map.values())
        };
        self.write(text.as_bytes())?;
        *saved = covers;
        Ok(())
    }

    fn write(&self, bytes: &[u8]) -> Result<(), RecordError> {
        let inner = &self.0;
        let err = |source| RecordError::Write {
            path: inner.path.display().to_string(),
            source,
        };
        let mut f = File::create(&inner.tmp).map_err(err)?;
        f.write_all(bytes).map_err(err)?;
        f.sync_all().map_err(err)?;
        drop(f);
        std::fs::rename(&inner.tmp, &inner.path).map_err(err)?;
        // The rename is durable only once the directory entry is.
        let dir = match inner.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

/// A JSON array with one record per line, fields in the documented order.
fn render<'a>(records: impl Iterator<Item = &'a Value>) -> String {
    let mut out = String::from("[");
    let mut any = false;
    for (i, v) in records.enumerate() {
        out.push_str(if i > 0 { ",\n" } else { "\n" });
        any = true;
        out.push('{');
        for (j, field) in FIELDS.iter().enumerate() {
            if j > 0 {
                out.push(',');
            }
            out.push_str(&format!("\"{field}\":{}", v[*field]));
        }
        out.push('}');
    }
    out.push_str(if any { "\n]\n" } else { "]\n" });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(id: i64, name: &str, value: &str) -> Value {
        json!({"CoworkerId":1,"Name":name,"Value":value,"EncryptedValue":"enc:Zm9v","Id":id,
            "UpdatedOn":"2025-01-15T10:30:00.123Z","CreatedOn":"2025-01-15T10:30:00Z",
            "UniqueId":"a1b2c3d4-e5f6-4890-abcd-ef1234567890","UpdatedBy":null,"IsNew":false,
            "SystemId":null,"ToStringText":name,"LocalizationDetails":null,"CustomFields":null})
    }

    #[test]
    fn records_are_kept_by_id_updated_renamed_deleted_and_saved_loadably() {
        let dir = tempfile::tempdir().unwrap();
        let rec = Recorder::open(dir.path()).unwrap();
        let list = json!({"Records": [record(1, "a", "x"), record(2, "b", "y")]});
        assert!(rec.observe(Endpoint::List, 200, Some(&list)));
        assert!(
            !rec.observe(Endpoint::List, 200, Some(&list)),
            "nothing new"
        );
        assert!(rec.observe(Endpoint::GetOne(1), 200, Some(&record(1, "a", "x2"))));
        // Id 2 was deleted and Id 3 took its Name: only the newer one stays.
        assert!(rec.observe(Endpoint::Batch, 200, Some(&json!([record(3, "b", "z")]))));
        assert!(
            !rec.observe(Endpoint::GetOne(4), 200, Some(&json!({"Id": 4}))),
            "not a record"
        );
        assert!(!rec.observe(Endpoint::List, 400, Some(&list)));
        rec.save().unwrap();
        let records =
            fixtures::parse_records(&std::fs::read_to_string(rec.path()).unwrap(), "recorded")
                .unwrap();
        let kept: Vec<(i64, Option<String>)> =
            records.iter().map(|r| (r.id, r.value.clone())).collect();
        assert_eq!(kept, [(1, Some("x2".into())), (3, Some("z".into()))]);
        assert_eq!(records[0].encrypted_value.as_deref(), Some("enc:Zm9v"));
        let text = std::fs::read_to_string(rec.path()).unwrap();
        assert!(
            text.contains("\"UpdatedOn\":\"2025-01-15T10:30:00.123Z\""),
            "kept as returned"
        );
        assert!(
            text.starts_with("[\n{\"CoworkerId\":1,\"Name\":\"a\""),
            "{text}"
        );
        assert!(rec.observe(Endpoint::Delete(1), 200, None));
        assert!(rec.observe(Endpoint::GetOne(3), 404, None));
        rec.save().unwrap();
        assert!(!dir.path().join("coworkersettings.json.tmp").exists());
        // A new run starts from what the last one recorded.
        rec.observe(Endpoint::GetOne(5), 200, Some(&record(5, "e", "v")));
        rec.save().unwrap();
        assert_eq!(Recorder::open(dir.path()).unwrap().len(), 1);
    }
}
