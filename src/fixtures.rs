//! Fixtures: the records and users the mock starts with. The defaults are built into
//! the binary; `--fixtures DIR` replaces them with `DIR/coworkersettings.json` and
//! `DIR/users.json` (either may be absent, in which case the default is used). Every
//! record is checked against the record schema, and a bad one is reported with the
//! file, the record's index and what is wrong.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::resource::Record;
use crate::schemas::Schema;

pub const RECORDS_FILE: &str = "coworkersettings.json";
pub const USERS_FILE: &str = "users.json";

const DEFAULT_RECORDS: &str = include_str!("../fixtures/coworkersettings.json");
const DEFAULT_USERS: &str = include_str!("../fixtures/users.json");

#[derive(Debug, Error)]
pub enum FixtureError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}: not valid JSON: {source}")]
    Json {
        file: String,
        source: serde_json::Error,
    },
    #[error("{file}: expected a JSON array of records (or a list envelope with Records)")]
    NotArray { file: String },
    #[error("{file}: record {index}: {problem}")]
    Record {
        file: String,
        index: usize,
        problem: String,
    },
    #[error("{file}: {problem}")]
    Users { file: String, problem: String },
}

/// A user from `users.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct User {
    pub email: String,
    pub password: String,
    /// A fixed bearer token for this user, so tests and docs can use it directly.
    pub token: String,
    #[serde(default)]
    pub full_admin: bool,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// Where the fixtures came from and what they hold.
#[derive(Debug, Clone)]
pub struct Fixtures {
    pub records: Vec<Record>,
    pub users: Vec<User>,
}

impl Fixtures {
    /// The fixtures built into the binary.
    pub fn builtin() -> Self {
        Fixtures {
            records: parse_records(DEFAULT_RECORDS, "built-in coworkersettings.json")
                .expect("built-in fixtures are valid"),
            users: parse_users(DEFAULT_USERS, "built-in users.json")
                .expect("built-in users are valid"),
        }
    }

    /// Loads a fixtures directory; a missing file falls back to the built-in one.
    pub fn load_dir(dir: &Path) -> Result<Self, FixtureError> {
        let records = match read_if_exists(&dir.join(RECORDS_FILE))? {
            Some((text, file)) => parse_records(&text, &file)?,
            None => Fixtures::builtin().records,
        };
        let users = match read_if_exists(&dir.join(USERS_FILE))? {
            Some((text, file)) => parse_users(&text, &file)?,
            None => Fixtures::builtin().users,
        };
        Ok(Fixtures { records, users })
    }
}

fn read_if_exists(path: &PathBuf) -> Result<Option<(String, String)>, FixtureError> {
    let file = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some((text, file))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(FixtureError::Read { file, source }),
    }
}

/// Parses and checks a records file: an array of records, or a pasted list
/// envelope whose `Records` are taken. Each record is checked against the record
/// schema (on every core: a million records load in a couple of seconds), then Ids
/// and `(CoworkerId, Name)` pairs are checked for uniqueness.
pub fn parse_records(text: &str, file: &str) -> Result<Vec<Record>, FixtureError> {
    #[derive(Deserialize)]
    struct Envelope<'a> {
        #[serde(rename = "Records", borrow)]
        records: Vec<&'a RawValue>,
    }
    let raws = match serde_json::from_str::<Vec<&RawValue>>(text) {
        Ok(raws) => raws,
        Err(not_array) => match serde_json::from_str::<Envelope>(text) {
            Ok(envelope) => envelope.records,
            // Say "not JSON" only when it is not; otherwise it is the wrong shape.
            Err(e) if e.is_syntax() || e.is_eof() => {
                return Err(FixtureError::Json {
                    file: file.to_string(),
                    source: e,
                });
            }
            Err(_) if not_array.is_syntax() || not_array.is_eof() => {
                return Err(FixtureError::Json {
                    file: file.to_string(),
                    source: not_array,
                });
            }
            Err(_) => {
                return Err(FixtureError::NotArray {
                    file: file.to_string(),
                });
            }
        },
    };
    let indexed: Vec<(usize, &RawValue)> = raws.into_iter().enumerate().collect();
    let checked = crate::store::par_map(indexed, |(index, raw)| {
        check_record(raw.get()).map_err(|problem| (index, problem))
    });
    let mut records = Vec::with_capacity(checked.len());
    for result in checked {
        match result {
            Ok(r) => records.push(r),
            Err((index, problem)) => {
                return Err(FixtureError::Record {
                    file: file.to_string(),
                    index,
                    problem,
                });
            }
        }
    }
    let mut ids = HashSet::with_capacity(records.len());
    let mut keys = HashSet::with_capacity(records.len());
    for (index, r) in records.iter().enumerate() {
        let bad = |problem: String| FixtureError::Record {
            file: file.to_string(),
            index,
            problem,
        };
        if !ids.insert(r.id) {
            return Err(bad(format!("Id {} appears twice", r.id)));
        }
        if !keys.insert((r.coworker_id, r.name.as_str())) {
            return Err(bad(format!(
                "CoworkerId {} already has a setting named {:?}",
                r.coworker_id, r.name
            )));
        }
    }
    Ok(records)
}

/// Checks one record's JSON against the record schema and reads it; the error says
/// what is wrong. Fixture files, uploads and the state file's journal all use it.
pub fn check_record(raw: &str) -> Result<Record, String> {
    let value: Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    Schema::Record.validate(&value)?;
    serde_json::from_value::<Record>(value).map_err(|e| e.to_string())
}

pub fn parse_users(text: &str, file: &str) -> Result<Vec<User>, FixtureError> {
    let users: Vec<User> = serde_json::from_str(text).map_err(|e| FixtureError::Users {
        file: file.to_string(),
        problem: e.to_string(),
    })?;
    for (i, u) in users.iter().enumerate() {
        if u.email.is_empty() || u.password.is_empty() || u.token.is_empty() {
            return Err(FixtureError::Users {
                file: file.to_string(),
                problem: format!("user {i}: Email, Password and Token must not be empty"),
            });
        }
        if users[..i]
            .iter()
            .any(|o| o.email.eq_ignore_ascii_case(&u.email) || o.token == u.token)
        {
            return Err(FixtureError::Users {
                file: file.to_string(),
                problem: format!("user {i}: Email or Token repeats an earlier user's"),
            });
        }
    }
    Ok(users)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_fixtures_are_rich_enough() {
        let f = Fixtures::builtin();
        assert!(f.records.len() >= 60);
        let customers: std::collections::HashSet<_> =
            f.records.iter().map(|r| r.coworker_id).collect();
        assert!(customers.len() >= 5);
        assert!(f.records.iter().any(|r| r.encrypted_value.is_some()));
        assert!(f.records.iter().any(|r| r.value.is_none()));
        assert!(
            f.records
                .iter()
                .any(|r| !r.name.is_ascii() || r.value.as_deref().is_some_and(|v| !v.is_ascii()))
        );
        assert!(f.users.iter().any(|u| u.full_admin));
    }

    #[test]
    fn a_bad_record_is_reported_with_file_and_index() {
        let text = r#"[{"CoworkerId":1,"Name":"a","Value":null,"EncryptedValue":null,"Id":1,"UpdatedOn":"2025-01-15T10:30:00Z",
          "CreatedOn":"2025-01-15T10:30:00Z","UniqueId":"a1b2c3d4-e5f6-4890-abcd-ef1234567890","UpdatedBy":null,"IsNew":false,
          "SystemId":null,"ToStringText":"a","LocalizationDetails":null,"CustomFields":null},
          {"CoworkerId":"two","Name":"b","Value":null,"EncryptedValue":null,"Id":2,"UpdatedOn":"2025-01-15T10:30:00Z",
          "CreatedOn":"2025-01-15T10:30:00Z","UniqueId":"a1b2c3d4-e5f6-4890-abcd-ef1234567891","UpdatedBy":null,"IsNew":false,
          "SystemId":null,"ToStringText":"b","LocalizationDetails":null,"CustomFields":null}]"#;
        let err = parse_records(text, "x.json").unwrap_err().to_string();
        assert!(err.starts_with("x.json: record 1: "), "{err}");
        assert!(err.contains("CoworkerId"), "{err}");
    }
}
