//! Fixtures: the records and users the mock starts with. The defaults are built into
//! the binary; `--fixtures DIR` replaces them with `DIR/coworkersettings.json` and
//! `DIR/users.json` (either may be absent, in which case the default is used). Every
//! record is checked against the record schema, and a bad one is reported with the
//! file, the record's index and what is wrong.

use rustc_hash::FxHashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use thiserror::Error;

use crate::resource::{Record, Timestamp};
use crate::schemas::Schema;
use crate::store::{Stored, to_stored};

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

/// Where the fixtures came from and what they hold. The records are already in the
/// form the store keeps (each serialised on its first read), so that a million of
/// them are not moved once more on the way in.
#[derive(Debug, Clone)]
pub struct Fixtures {
    pub records: Vec<Arc<Stored>>,
    pub users: Vec<User>,
}

impl Fixtures {
    /// The fixtures built into the binary.
    pub fn builtin() -> Self {
        Fixtures {
            records: to_stored(builtin_records()),
            users: builtin_users(),
        }
    }

    /// Fixtures holding these records and the built-in users.
    pub fn with_records(records: Vec<Record>) -> Self {
        Fixtures {
            records: to_stored(records),
            users: builtin_users(),
        }
    }

    /// Loads a fixtures directory; a missing file falls back to the built-in one.
    ///
    /// Each record is checked against the record schema here; whether Ids and
    /// `(CoworkerId, Name)` pairs are unique is checked once, by the store they are
    /// loaded into (which sorts them by both anyway), rather than twice.
    pub fn load_dir(dir: &Path) -> Result<Self, FixtureError> {
        let path = dir.join(RECORDS_FILE);
        let file = path.display().to_string();
        let records = match std::fs::File::open(&path) {
            Ok(f) => {
                let map = map_file(&f).map_err(|source| FixtureError::Read {
                    file: file.clone(),
                    source,
                })?;
                let text = std::str::from_utf8(&map).map_err(|e| FixtureError::Read {
                    file: file.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })?;
                read_records(text, &file, Stored::from_record)?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => to_stored(builtin_records()),
            Err(source) => return Err(FixtureError::Read { file, source }),
        };
        let users = match read_if_exists(&dir.join(USERS_FILE))? {
            Some((text, file)) => parse_users(&text, &file)?,
            None => builtin_users(),
        };
        Ok(Fixtures { records, users })
    }
}

/// The records built into the binary.
pub fn builtin_records() -> Vec<Record> {
    parse_records(DEFAULT_RECORDS, "built-in coworkersettings.json")
        .expect("built-in fixtures are valid")
}

fn builtin_users() -> Vec<User> {
    parse_users(DEFAULT_USERS, "built-in users.json").expect("built-in users are valid")
}

/// The file's bytes, mapped rather than read: a large fixtures file is then parsed
/// straight from the page cache, without first copying it into fresh memory (at a
/// million records that copy took longer than the parse itself). The map lives only
/// while the file is parsed at start-up; a file edited at that very moment may be
/// read half old, half new, and is then refused as bad JSON or bad records.
fn map_file(f: &std::fs::File) -> std::io::Result<memmap2::Mmap> {
    // SAFETY: the map is read only, dropped before start-up ends, and every byte is
    // validated (UTF-8, then JSON) before it is used; the remaining hazard, the file
    // being truncated by another process during those few moments, is the one every
    // mmap-based reader (ripgrep among them) accepts.
    unsafe { memmap2::MmapOptions::new().populate().map(f) }
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
    let records = read_records(text, file, |r| r)?;
    check_unique(&records, file)?;
    Ok(records)
}

/// Parses a records file and checks each record against the schema, turning each
/// into `T` on the thread that read it. A plain array of good records, the common
/// case, is read in one pass on every core ([`read_array`]); anything else (an
/// envelope, or a file with a fault to report) is read carefully.
fn read_records<T: Send>(
    text: &str,
    file: &str,
    wrap: fn(Record) -> T,
) -> Result<Vec<T>, FixtureError> {
    let parts = if text.len() < PARALLEL_READ_BYTES {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    match read_array(text, wrap, parts) {
        Some(records) => Ok(records),
        None => read_records_carefully(text, file, wrap),
    }
}

/// Reads a records file in two passes, the array (or envelope) first and then each
/// record, so that whatever is wrong is reported precisely: not JSON, not an array,
/// or which record fails which check.
fn read_records_carefully<T: Send>(
    text: &str,
    file: &str,
    wrap: fn(Record) -> T,
) -> Result<Vec<T>, FixtureError> {
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
    check_records(&raws, wrap).map_err(|(index, problem)| FixtureError::Record {
        file: file.to_string(),
        index,
        problem,
    })
}

/// Files at least this long are read on every core ([`read_array`]); a shorter one
/// is read on the calling thread.
const PARALLEL_READ_BYTES: usize = 1 << 20;

/// The records of a file that is a JSON array of records, read on `parts` threads
/// at once in a single pass over the text, or `None` when the file is anything else
/// or anything in it is wrong; the caller then reads it the careful way, which says
/// what. When it answers, the records are exactly, and in the same order, those that
/// parsing the array and checking each record ([`check_record`]) gives.
///
/// Each thread reads records straight from the text, from a start it guessed: the
/// first `{` at or after its share's first byte whose last non-blank byte before it
/// is a comma. Such a guess can fall inside a string, so none is trusted until the
/// thread before it, reading from a trusted start, stops exactly there: each thread
/// reads past its share's end up to the first record boundary at or after the next
/// guess. When it stops anywhere else, its reading goes on to the end of the array
/// and the later threads' work is dropped. The first thread starts at the array's
/// first record, so every start that is used is a real record boundary.
fn read_array<T: Send>(text: &str, wrap: fn(Record) -> T, parts: usize) -> Option<Vec<T>> {
    let b = text.as_bytes();
    let open = skip_blank(b, 0);
    if b.get(open) != Some(&b'[') {
        return None;
    }
    let first = skip_blank(b, open + 1);
    if b.get(first) == Some(&b']') {
        return (skip_blank(b, first + 1) == b.len()).then(Vec::new);
    }
    let mut starts = vec![first];
    for k in 1..parts {
        let share = first + (b.len() - first) / parts * k;
        let from = share.max(starts[starts.len() - 1] + 1);
        match guess_record_start(b, from) {
            Some(start) => starts.push(start),
            None => break,
        }
    }
    let until = |k: usize| starts.get(k + 1).copied().unwrap_or(usize::MAX);
    let runs: Vec<Option<Run<T>>> = std::thread::scope(|scope| {
        let later: Vec<_> = (1..starts.len())
            .map(|k| {
                let (from, end) = (starts[k], until(k));
                scope.spawn(move || read_run(text, from, end, wrap))
            })
            .collect();
        let mut runs = vec![read_run(text, first, until(0), wrap)];
        runs.extend(later.into_iter().map(|h| h.join().ok().flatten()));
        runs
    });
    let mut records = Vec::with_capacity(runs.iter().flatten().map(|r| r.records.len()).sum());
    let mut runs = runs.into_iter();
    let mut run = runs.next().flatten()?;
    for next_start in starts
        .into_iter()
        .skip(1)
        .chain(std::iter::once(usize::MAX))
    {
        records.append(&mut run.records);
        if run.closed {
            return Some(records);
        }
        let next = runs.next().flatten();
        run = if run.end == next_start {
            next?
        } else {
            // The guess was not a record boundary: read on from the real one.
            read_run(text, run.end, usize::MAX, wrap)?
        };
    }
    None
}

/// What one thread of [`read_array`] read: its records, and where it stopped, at the
/// start of the record after its last (`closed` false) or at the array's `]`.
struct Run<T> {
    records: Vec<T>,
    end: usize,
    closed: bool,
}

/// Reads records from `from`, a record's first byte, until the first record boundary
/// at or after `until` or the end of the array, which must then end the text.
fn read_run<T>(text: &str, from: usize, until: usize, wrap: fn(Record) -> T) -> Option<Run<T>> {
    let b = text.as_bytes();
    let mut records = Vec::new();
    let mut pos = from;
    loop {
        let (record, len) = read_one(&text[pos..])?;
        records.push(wrap(record));
        pos = skip_blank(b, pos + len);
        match b.get(pos) {
            Some(b',') => {
                pos = skip_blank(b, pos + 1);
                if pos >= until {
                    return Some(Run {
                        records,
                        end: pos,
                        closed: false,
                    });
                }
            }
            Some(b']') if skip_blank(b, pos + 1) == b.len() => {
                return Some(Run {
                    records,
                    end: pos,
                    closed: true,
                });
            }
            _ => return None,
        }
    }
}

/// The record at the start of `s` and its length in bytes, if [`check_record`]
/// accepts it: the typed reading first, the schema when that refuses.
fn read_one(s: &str) -> Option<(Record, usize)> {
    let mut typed = serde_json::Deserializer::from_str(s).into_iter::<Strict>();
    if let Some(record) = typed.next()?.ok().and_then(Strict::into_record) {
        return Some((record, typed.byte_offset()));
    }
    let mut raw = serde_json::Deserializer::from_str(s).into_iter::<&RawValue>();
    let record = schema_record(raw.next()?.ok()?.get()).ok()?;
    Some((record, raw.byte_offset()))
}

/// The first byte at or after `at` that is not JSON whitespace (or the text's end).
fn skip_blank(b: &[u8], at: usize) -> usize {
    at + b
        .get(at..)
        .unwrap_or_default()
        .iter()
        .take_while(|c| is_blank(c))
        .count()
}

/// JSON's whitespace: space, line feed, carriage return, tab.
fn is_blank(c: &u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t')
}

/// The first `{` at or after `from` whose last non-blank byte before it is a comma:
/// where a record would start, were `from` outside every string.
fn guess_record_start(b: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    loop {
        at += b.get(at..)?.iter().position(|c| *c == b'{')?;
        let before = b[..at].iter().rev().find(|c| !is_blank(c));
        if before == Some(&b',') {
            return Some(at);
        }
        at += 1;
    }
}

/// Ids and `(CoworkerId, Name)` pairs must each be unique.
fn check_unique(records: &[Record], file: &str) -> Result<(), FixtureError> {
    // Fx hashing: these sets see every record of a file, and SipHash's defence
    // against chosen keys buys nothing for a file the user supplied.
    let mut ids = FxHashSet::default();
    ids.reserve(records.len());
    let mut keys = FxHashSet::default();
    keys.reserve(records.len());
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
    Ok(())
}

/// Checks every record ([`check_record`]) on every core; the error is the first
/// bad record's index and problem. Each thread fills a vector of its own, sized up
/// front, so the records are moved once more only when the parts are joined.
fn check_records<T: Send>(
    raws: &[&RawValue],
    wrap: fn(Record) -> T,
) -> Result<Vec<T>, (usize, String)> {
    let check_part = |first: usize, part: &[&RawValue]| {
        let mut out = Vec::with_capacity(part.len());
        for (i, raw) in part.iter().enumerate() {
            out.push(wrap(
                check_record(raw.get()).map_err(|problem| (first + i, problem))?,
            ));
        }
        Ok(out)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads < 2 || raws.len() < 4096 {
        return check_part(0, raws);
    }
    let chunk = raws.len().div_ceil(threads);
    let parts: Vec<Result<Vec<T>, (usize, String)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = raws
            .chunks(chunk)
            .enumerate()
            .map(|(i, part)| scope.spawn(move || check_part(i * chunk, part)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a record checker thread panicked"))
            .collect()
    });
    let mut records = Vec::with_capacity(raws.len());
    for part in parts {
        records.extend(part?);
    }
    Ok(records)
}

/// Checks one record's JSON against the record schema and reads it; the error says
/// what is wrong. Fixture files, uploads and the state file's journal all use it.
///
/// A typed reading that rejects exactly what the schema rejects ([`typed_record`])
/// decides first, because building a JSON tree and walking the schema for each of a
/// million records is most of a large file's start-up time. A record it refuses goes
/// through the schema itself, which then gives the precise message (and has the last
/// word, should the two ever disagree; a property test says they do not).
pub fn check_record(raw: &str) -> Result<Record, String> {
    if let Some(record) = typed_record(raw) {
        return Ok(record);
    }
    schema_record(raw)
}

/// The record schema's own verdict (and the record, read from the checked tree).
pub fn schema_record(raw: &str) -> Result<Record, String> {
    let value: Value = serde_json::from_str(raw).map_err(|e| e.to_string())?;
    Schema::Record.validate(&value)?;
    serde_json::from_value::<Record>(value).map_err(|e| e.to_string())
}

/// The record, if it passes a typed check equivalent to `schemas/record.schema.json`
/// followed by reading it into a [`Record`]: exactly the fourteen properties (no
/// other, none missing), each of its JSON type, `Id` at least 1, the timestamps in
/// the schema's pattern and valid RFC 3339 date-times, `UniqueId` a hyphenated UUID.
pub fn typed_record(raw: &str) -> Option<Record> {
    serde_json::from_str::<Strict>(raw).ok()?.into_record()
}

/// Distinguishes a property that is absent (`None`) from one that is null.
fn present<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A record as [`typed_record`] reads it, before the checks that serde's types do
/// not make (every property present, `Id` at least 1, timestamps, `UniqueId`).
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
struct Strict<'a> {
    #[serde(default, deserialize_with = "present")]
    coworker_id: Option<i64>,
    #[serde(default, deserialize_with = "present")]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    value: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    encrypted_value: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    id: Option<i64>,
    #[serde(default, deserialize_with = "present", borrow)]
    updated_on: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, deserialize_with = "present", borrow)]
    created_on: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, deserialize_with = "present", borrow)]
    unique_id: Option<std::borrow::Cow<'a, str>>,
    #[serde(default, deserialize_with = "present")]
    updated_by: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    is_new: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    system_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    to_string_text: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    localization_details: Option<()>,
    #[serde(default, deserialize_with = "present")]
    custom_fields: Option<()>,
}

impl Strict<'_> {
    fn into_record(self) -> Option<Record> {
        let id = self.id.filter(|id| *id >= 1)?;
        let time = |t: Option<std::borrow::Cow<str>>| {
            let t = t?;
            schema_timestamp(&t)
        };
        let unique_id = self
            .unique_id
            .as_deref()
            .filter(|u| is_hyphenated_uuid(u))?;
        self.localization_details?;
        self.custom_fields?;
        Some(Record {
            coworker_id: self.coworker_id?,
            name: self.name?,
            value: self.value?,
            encrypted_value: self.encrypted_value?,
            id,
            updated_on: time(self.updated_on)?,
            created_on: time(self.created_on)?,
            unique_id: uuid::Uuid::parse_str(unique_id).ok()?,
            updated_by: self.updated_by?,
            is_new: self.is_new?,
            system_id: self.system_id?,
            to_string_text: self.to_string_text?,
            localization_details: (),
            custom_fields: (),
        })
    }
}

/// The schema's timestamp pattern, `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$`,
/// plus its `date-time` format (RFC 3339: a real calendar date, hours to 23, minutes
/// to 59, seconds to 60 for a leap second), read as the store keeps it: whole seconds
/// since the epoch, a fraction dropped and a leap second counted as the second before
/// it (as chrono reads one). Checked by hand rather than by parsing with chrono, as it
/// runs twice for every record of a million-record file; the property test comparing
/// the typed check with the schema covers it.
fn schema_timestamp(t: &str) -> Option<Timestamp> {
    let b = t.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19)
        && b[b.len() - 1] == b'Z'
        && match &b[19..b.len() - 1] {
            [] => true,
            [b'.', frac @ ..] => !frac.is_empty() && frac.iter().all(u8::is_ascii_digit),
            _ => false,
        };
    if !shape {
        return None;
    }
    let number =
        |r: std::ops::Range<usize>| b[r].iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second) = (number(11..13), number(14..16), number(17..19));
    let leap_year = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap_year => 29,
        2 => 28,
        _ => return None,
    };
    // RFC 3339 allows a leap second only at the end of a UTC day (the pattern makes
    // every timestamp UTC), as the schema's `date-time` format checks.
    let leap_second = second == 60 && hour == 23 && minute == 59;
    if !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || (second > 59 && !leap_second)
    {
        return None;
    }
    Some(Timestamp::from_civil(
        year,
        month,
        day,
        hour,
        minute,
        second.min(59),
    ))
}

#[cfg(test)]
#[test]
fn timestamps_read_by_hand_agree_with_chrono() {
    for t in [
        "1970-01-01T00:00:00Z",
        "2024-02-29T12:34:56Z",
        "2023-11-14T22:13:20.123456Z",
        "2016-12-31T23:59:60Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2000-02-29T00:00:00Z",
        "1900-03-01T00:00:00Z",
        "1969-12-31T23:59:59Z",
    ] {
        assert_eq!(schema_timestamp(t), Timestamp::parse(t), "{t}");
        assert!(schema_timestamp(t).is_some(), "{t}");
    }
    for t in [
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2024-04-31T00:00:00Z",
        "2024-13-01T00:00:00Z",
        "2024-00-10T00:00:00Z",
        "2024-01-00T00:00:00Z",
        "2024-01-01T24:00:00Z",
        "2024-01-01T23:60:00Z",
        "2024-01-01T12:00:60Z",
        "2024-01-01T12:00:00",
        "2024-01-01T12:00:00.Z",
        "2024-01-01 12:00:00Z",
    ] {
        assert_eq!(schema_timestamp(t), None, "{t}");
    }
}

/// The `uuid` format: 8-4-4-4-12 hexadecimal digits.
fn is_hyphenated_uuid(u: &str) -> bool {
    let b = u.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
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
        let records = builtin_records();
        assert!(records.len() >= 60);
        let customers: std::collections::HashSet<_> =
            records.iter().map(|r| r.coworker_id).collect();
        assert!(customers.len() >= 5);
        assert!(records.iter().any(|r| r.encrypted_value.is_some()));
        assert!(records.iter().any(|r| r.value.is_none()));
        assert!(
            records
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

    mod typed_check {
        use super::*;
        use proptest::prelude::*;
        use serde_json::json;

        fn valid() -> serde_json::Map<String, Value> {
            let v = json!({"CoworkerId":1,"Name":"a","Value":null,"EncryptedValue":"e","Id":1,
                "UpdatedOn":"2025-01-15T10:30:00Z","CreatedOn":"2025-01-15T10:30:00.25Z",
                "UniqueId":"a1b2c3d4-e5f6-4890-abcd-ef1234567890","UpdatedBy":null,"IsNew":false,
                "SystemId":null,"ToStringText":"a","LocalizationDetails":null,"CustomFields":null});
            v.as_object().unwrap().clone()
        }

        /// Values that are right for some property and wrong for others, and the
        /// edges of each check: integers that are not i64, timestamp and UUID forms.
        fn arb_value() -> impl Strategy<Value = String> {
            proptest::sample::select(vec![
                "null",
                "true",
                "false",
                "0",
                "1",
                "-1",
                "1.0",
                "1.5",
                "1e3",
                "9223372036854775807",
                "9223372036854775808",
                "-9223372036854775809",
                "100000000000000000000000",
                "\"\"",
                "\"x\"",
                "\"\\u00e9\\n\"",
                "[]",
                "[1]",
                "{}",
                "{\"a\":1}",
                "\"2025-01-15T10:30:00Z\"",
                "\"2025-01-15T10:30:00.5Z\"",
                "\"2025-01-15T10:30:00+00:00\"",
                "\"2025-01-15T10:30:00z\"",
                "\"2025-01-15t10:30:00Z\"",
                "\"2025-13-15T10:30:00Z\"",
                "\"2025-02-30T10:30:00Z\"",
                "\"2024-02-29T10:30:00Z\"",
                "\"2025-01-15T24:00:00Z\"",
                "\"2025-01-15T23:59:60Z\"",
                "\"2025-01-15T10:30:60Z\"",
                "\"2025-01-15 10:30:00Z\"",
                "\"2025-01-15T10:30:00.Z\"",
                "\"2025-01-15T10:30Z\"",
                "\"0000-01-01T00:00:00Z\"",
                "\"2025-1-15T10:30:00Z\"",
                "\"a1b2c3d4-e5f6-4890-abcd-ef1234567890\"",
                "\"A1B2C3D4-E5F6-4890-ABCD-EF1234567890\"",
                "\"a1b2c3d4e5f64890abcdef1234567890\"",
                "\"{a1b2c3d4-e5f6-4890-abcd-ef1234567890}\"",
                "\"urn:uuid:a1b2c3d4-e5f6-4890-abcd-ef1234567890\"",
                "\"g1b2c3d4-e5f6-4890-abcd-ef1234567890\"",
                "\"a1b2c3d4-e5f6-4890-abcd-ef123456789\"",
                "\"00000000-0000-0000-0000-000000000000\"",
            ])
            .prop_map(str::to_string)
        }

        const KEYS: [&str; 15] = [
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
            "Extra",
        ];

        #[derive(Debug, Clone)]
        enum Mutation {
            Remove(usize),
            Set(usize, String),
        }

        fn arb_mutation() -> impl Strategy<Value = Mutation> {
            prop_oneof![
                1 => (0..KEYS.len()).prop_map(Mutation::Remove),
                4 => (0..KEYS.len(), arb_value()).prop_map(|(k, v)| Mutation::Set(k, v)),
            ]
        }

        /// Writes the record by hand, so values such as 1e3 or 2^63 reach the checks
        /// exactly as a file would spell them.
        fn render(mutations: &[Mutation]) -> String {
            let mut fields: Vec<(String, String)> = valid()
                .into_iter()
                .map(|(k, v)| (k, v.to_string()))
                .collect();
            for m in mutations {
                match m {
                    Mutation::Remove(k) => fields.retain(|(name, _)| name != KEYS[*k]),
                    Mutation::Set(k, v) => {
                        match fields.iter_mut().find(|(name, _)| name == KEYS[*k]) {
                            Some(slot) => slot.1 = v.clone(),
                            None => fields.push((KEYS[*k].to_string(), v.clone())),
                        }
                    }
                }
            }
            let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
            format!("{{{}}}", body.join(","))
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(3000))]
            /// 3000 cases: a valid record with one to three properties removed, added
            /// or set to an edge value; the typed check accepts exactly what the schema
            /// (and reading into a Record) accepts, and reads the same record.
            #[test]
            fn the_typed_check_accepts_exactly_what_the_schema_accepts(
                mutations in proptest::collection::vec(arb_mutation(), 1..4),
            ) {
                crate::schemas::init();
                let raw = render(&mutations);
                let typed = typed_record(&raw);
                let schema = schema_record(&raw);
                prop_assert_eq!(typed.is_some(), schema.is_ok(), "{} -> schema says {:?}", raw, schema);
                if let (Some(t), Ok(s)) = (typed, schema) {
                    prop_assert_eq!(t, s);
                }
            }
        }

        /// A record for a whole file: good ones whose names hold the bytes a guessed
        /// record start looks for, records the mutations may spoil, and values
        /// that are not records at all.
        fn arb_file_record() -> impl Strategy<Value = String> {
            let name = proptest::sample::select(vec![
                "plain",
                ",{",
                ", {\"CoworkerId\":1}",
                "},{",
                ",{,{,{,{,{,{,{,{,{,{,{,{",
                "]",
                "\\",
                "é,{ü",
            ]);
            prop_oneof![
                4 => (name, 1..1000i64, any::<bool>()).prop_map(|(name, id, pretty)| {
                    let mut r = valid();
                    r.insert("Name".into(), Value::from(name));
                    r.insert("Id".into(), Value::from(id));
                    let r = Value::Object(r);
                    if pretty { serde_json::to_string_pretty(&r) } else { serde_json::to_string(&r) }
                        .unwrap()
                }),
                1 => proptest::collection::vec(arb_mutation(), 1..3).prop_map(|m| render(&m)),
                1 => proptest::sample::select(vec!["1", "null", "[]", "\"x\"", "{}", "{,}"])
                    .prop_map(str::to_string),
            ]
        }

        /// Whitespace and punctuation between records, mostly right.
        fn arb_separator() -> impl Strategy<Value = String> {
            prop_oneof![
                8 => proptest::sample::select(vec![",", ",\n", " , ", "\r\n,\t"]),
                1 => proptest::sample::select(vec!["", ",,", ";", ", ]  [", "}"]),
            ]
            .prop_map(str::to_string)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            /// 2000 files of up to 24 records read on one to six threads: the
            /// one-pass reading answers with exactly the records the careful reading
            /// gives, and declines wherever that one finds a fault (or an envelope).
            #[test]
            fn reading_in_one_pass_on_many_threads_gives_what_the_careful_reading_gives(
                records in proptest::collection::vec(
                    (arb_file_record(), arb_separator(), any::<bool>()),
                    0..24,
                ),
                open in proptest::sample::select(vec!["[", " [\n", "{\"Records\":[", "", "[["]),
                close in proptest::sample::select(vec!["]", "]\n ", "]}", "", "],", "] x"]),
                parts in 1..7usize,
            ) {
                crate::schemas::init();
                let mut text = open.to_string();
                for (i, (record, separator, blank)) in records.iter().enumerate() {
                    if i > 0 {
                        text.push_str(separator);
                    }
                    if *blank {
                        text.push_str(" \n");
                    }
                    text.push_str(record);
                }
                text.push_str(close);
                let careful = read_records_carefully(&text, "f", |r| r).ok();
                let fast = read_array(&text, |r| r, parts);
                let array = text.trim_start().starts_with('[');
                prop_assert_eq!(fast, careful.filter(|_| array), "{}", text);
            }
        }

        /// A guessed start inside a string is found out, and the reading goes on from
        /// the real boundary: names packed with `,{` put most guesses in strings.
        #[test]
        fn a_guess_inside_a_string_is_found_out() {
            crate::schemas::init();
            let mut r = valid();
            r.insert("Name".into(), Value::from(",{".repeat(200)));
            let one = Value::Object(r).to_string();
            let text = format!("[{}]", vec![one; 5].join(","));
            let careful = read_records_carefully(&text, "f", |r| r).unwrap();
            assert_eq!(careful.len(), 5);
            for parts in 1..12 {
                assert_eq!(
                    read_array(&text, |r| r, parts).as_ref(),
                    Some(&careful),
                    "{parts}"
                );
            }
        }

        #[test]
        fn the_valid_record_passes_both() {
            crate::schemas::init();
            let raw = Value::Object(valid()).to_string();
            assert!(typed_record(&raw).is_some());
            assert_eq!(typed_record(&raw).unwrap(), schema_record(&raw).unwrap());
        }
    }
}
