//! Everything specific to the CoworkerSetting resource: the record, its JSON, the
//! create/update bodies and their validation, the user-facing messages and the
//! API's envelopes. The store, the server, the runner and the fuzzer all take
//! their knowledge of the resource from here.

use std::fmt::Write as _;

use bytes::Bytes;
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// The resource's name as the vendor's messages spell it.
pub const RESOURCE: &str = "CoworkerSetting";
/// The collection path every endpoint hangs from.
pub const BASE_PATH: &str = "/api/spaces/coworkersettings";

pub const MSG_CREATED: &str = "CoworkerSetting was successfully created.";
pub const MSG_UPDATED: &str = "CoworkerSetting was successfully updated.";
pub const MSG_DELETED: &str = "CoworkerSetting was successfully deleted.";

/// Validation messages, in one place so the mock and its tests agree.
pub mod msg {
    pub const REQUIRED: &str = "is a required field";
    pub const POSITIVE_INTEGER: &str = "must be an integer greater than 0";
    pub const INTEGER: &str = "must be an integer";
    // Integers are signed 64-bit. One beyond that range is named as such, so a huge
    // positive number is never told it "must be greater than 0".
    pub const POSITIVE_OUT_OF_RANGE: &str =
        "is out of range: must be an integer between 1 and 9223372036854775807";
    pub const INTEGER_OUT_OF_RANGE: &str =
        "is out of range: must be an integer between -9223372036854775808 and 9223372036854775807";
    pub const PAGE: &str = "must be an integer of at least 1";
    pub const SIZE: &str = "must be an integer from 1 to 1000";
    pub const SIZE_OUT_OF_RANGE: &str = "is out of range: must be an integer from 1 to 1000";
    pub const ORDER_BY: &str = "must be one of Id, CoworkerId, Name, Value, EncryptedValue, CreatedOn, UpdatedOn, UpdatedBy, SystemId";
    pub const DIR: &str = "must be 1 (ascending) or -1 (descending)";
    pub const MINUTE: &str = "must be a date and time as YYYY-MM-DDTHH:mm (UTC)";
    pub const BATCH_IDS: &str = "must be a list of integer ids such as [1,2,3]";
    pub const BATCH_TOO_MANY: &str = "must list at most 1000 ids";
    pub const STRING: &str = "must be a string";
    pub const STRING_OR_NULL: &str = "must be a string or null";
    pub const DUPLICATE: &str = "a setting with this Name already exists for this customer";
    pub const BODY_NOT_JSON: &str = "the request body is not valid JSON";
    pub const BODY_NOT_OBJECT: &str = "the request body must be a JSON object";
    pub const BODY_NOT_UTF8: &str = "the request body is not valid UTF-8";
}

/// A point in time with second precision, written as `2025-01-15T10:30:00Z`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        Timestamp(Utc::now().timestamp())
    }

    /// Parses the API's timestamp (RFC 3339, UTC); fractions of a second are dropped.
    pub fn parse(s: &str) -> Option<Self> {
        if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
            return Some(Timestamp(dt.timestamp()));
        }
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S")
            .ok()
            .map(|n| Timestamp(n.and_utc().timestamp()))
    }

    /// The civil date and time: (year, month, day, hour, minute, second), in UTC.
    /// Days to civil date after Howard Hinnant.
    fn civil(&self) -> (i64, i64, i64, i64, i64, i64) {
        let secs = self.0.rem_euclid(86_400);
        let days = self.0.div_euclid(86_400);
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        (year, month, day, secs / 3600, secs % 3600 / 60, secs % 60)
    }

    /// The moment of a civil date and time in UTC (the inverse of `civil`; days from
    /// civil after Howard Hinnant). The parts are taken as valid.
    pub(crate) fn from_civil(year: i64, month: i64, day: i64, h: i64, m: i64, s: i64) -> Self {
        let y = if month <= 2 { year - 1 } else { year };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (month + 9) % 12;
        let doy = (153 * mp + 2) / 5 + day - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        let days = era * 146_097 + doe - 719_468;
        Timestamp(days * 86_400 + h * 3600 + m * 60 + s)
    }

    /// `YYYY-MM-DDTHH:MM:SSZ` for years 0 to 9999, digit by digit: it runs for every
    /// record written and every write's envelope, and the formatting machinery costs
    /// several times more. Other years (never from the API) go through `write!`.
    fn ascii(&self) -> Option<[u8; 20]> {
        let (year, month, day, h, m, sec) = self.civil();
        if !(0..=9999).contains(&year) {
            return None;
        }
        let mut b = *b"0000-00-00T00:00:00Z";
        let mut put = |at: usize, width: usize, mut n: i64| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, 4, year);
        put(5, 2, month);
        put(8, 2, day);
        put(11, 2, h);
        put(14, 2, m);
        put(17, 2, sec);
        Some(b)
    }

    /// Writes `YYYY-MM-DDTHH:MM:SSZ`.
    pub fn write(&self, out: &mut String) {
        match self.ascii() {
            Some(b) => out.push_str(std::str::from_utf8(&b).expect("ASCII digits")),
            None => {
                let (year, month, day, h, m, sec) = self.civil();
                let _ = write!(out, "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}Z");
            }
        }
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut s = String::new();
        self.write(&mut s);
        f.write_str(&s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.ascii() {
            Some(b) => s.serialize_str(std::str::from_utf8(&b).expect("ASCII digits")),
            None => s.collect_str(self),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Timestamp::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("{s:?} is not an ISO 8601 UTC timestamp"))
        })
    }
}

/// One CoworkerSetting, with its fields in the order the API writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Record {
    pub coworker_id: i64,
    pub name: String,
    pub value: Option<String>,
    pub encrypted_value: Option<String>,
    pub id: i64,
    pub updated_on: Timestamp,
    pub created_on: Timestamp,
    pub unique_id: Uuid,
    pub updated_by: Option<String>,
    pub is_new: bool,
    pub system_id: Option<String>,
    pub to_string_text: Option<String>,
    /// Always null in this API; kept so a pasted record round-trips.
    pub localization_details: (),
    pub custom_fields: (),
}

impl Record {
    /// A new record as a create writes it.
    pub fn new(id: i64, input: SettingInput, by: &str, now: Timestamp) -> Self {
        Record {
            coworker_id: input.coworker_id,
            to_string_text: Some(input.name.clone()),
            name: input.name,
            value: input.value,
            encrypted_value: input.encrypted_value,
            id,
            updated_on: now,
            created_on: now,
            // From the thread-local generator: `Uuid::new_v4` makes a getrandom
            // system call for every record created.
            unique_id: uuid::Builder::from_random_bytes(rand::random()).into_uuid(),
            updated_by: Some(by.to_string()),
            is_new: false,
            system_id: None,
            localization_details: (),
            custom_fields: (),
        }
    }

    /// The record after a full-record update (absent optional fields become null).
    pub fn updated(&self, input: SettingInput, by: &str, now: Timestamp) -> Self {
        Record {
            coworker_id: input.coworker_id,
            to_string_text: Some(input.name.clone()),
            name: input.name,
            value: input.value,
            encrypted_value: input.encrypted_value,
            updated_on: now,
            updated_by: Some(by.to_string()),
            ..self.clone()
        }
    }

    /// The record's JSON, written once when the record is stored.
    pub fn to_json_bytes(&self) -> Bytes {
        Bytes::from(serde_json::to_vec(self).expect("a record always serialises"))
    }
}

/// The fields a client writes, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingInput {
    pub coworker_id: i64,
    pub name: String,
    pub value: Option<String>,
    pub encrypted_value: Option<String>,
}

/// One entry of the 400 envelope's `Errors`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    #[serde(rename = "AttemptedValue")]
    pub attempted_value: Value,
    #[serde(rename = "Message")]
    pub message: String,
    #[serde(rename = "PropertyName")]
    pub property_name: String,
}

impl FieldError {
    pub fn new(property: &str, attempted: Value, message: impl Into<String>) -> Self {
        FieldError {
            attempted_value: attempted,
            message: message.into(),
            property_name: property.to_string(),
        }
    }

    /// An error about the body as a whole (not JSON, not an object, not UTF-8).
    pub fn body(message: impl Into<String>) -> Self {
        FieldError::new("", Value::Null, message)
    }
}

/// Parses and validates a create body.
pub fn parse_create(body: &[u8]) -> Result<SettingInput, Vec<FieldError>> {
    let obj = parse_object(body)?;
    let mut errors = Vec::new();
    let input = validate_fields(&obj, &mut errors);
    match input {
        Some(input) if errors.is_empty() => Ok(input),
        _ => Err(errors),
    }
}

/// Parses and validates an update body: `Id` plus the create fields. Any integer
/// `Id` passes here: one that is 0 or negative names no record, so the update is a
/// 404 like any other Id that does not exist.
pub fn parse_update(body: &[u8]) -> Result<(i64, SettingInput), Vec<FieldError>> {
    let obj = parse_object(body)?;
    let mut errors = Vec::new();
    let id = match obj.get("Id") {
        None | Some(Value::Null) => {
            errors.push(FieldError::new("Id", Value::Null, msg::REQUIRED));
            None
        }
        Some(v) => match json_integer(v) {
            JsonInteger::Int(n) => Some(n),
            JsonInteger::OutOfRange => {
                errors.push(FieldError::new("Id", v.clone(), msg::POSITIVE_OUT_OF_RANGE));
                None
            }
            JsonInteger::NotInteger => {
                errors.push(FieldError::new("Id", v.clone(), msg::INTEGER));
                None
            }
        },
    };
    let input = validate_fields(&obj, &mut errors);
    match (id, input) {
        (Some(id), Some(input)) if errors.is_empty() => Ok((id, input)),
        _ => Err(errors),
    }
}

/// The error for a `(CoworkerId, Name)` pair that already exists.
pub fn duplicate_name_error(name: &str) -> FieldError {
    FieldError::new("Name", Value::String(name.to_string()), msg::DUPLICATE)
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, Vec<FieldError>> {
    let text = std::str::from_utf8(body).map_err(|_| vec![FieldError::body(msg::BODY_NOT_UTF8)])?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| vec![FieldError::body(format!("{}: {e}", msg::BODY_NOT_JSON))])?;
    match value {
        Value::Object(obj) => Ok(obj),
        other => Err(vec![FieldError::body(format!(
            "{}, got {}",
            msg::BODY_NOT_OBJECT,
            json_kind(&other)
        ))]),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn validate_fields(obj: &Map<String, Value>, errors: &mut Vec<FieldError>) -> Option<SettingInput> {
    let coworker_id = positive_integer(obj, "CoworkerId", errors);
    let name = match obj.get("Name") {
        None | Some(Value::Null) => {
            errors.push(FieldError::new("Name", Value::Null, msg::REQUIRED));
            None
        }
        Some(Value::String(s)) if s.trim().is_empty() => {
            errors.push(FieldError::new(
                "Name",
                Value::String(s.clone()),
                msg::REQUIRED,
            ));
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            errors.push(FieldError::new("Name", other.clone(), msg::STRING));
            None
        }
    };
    let value = optional_string(obj, "Value", errors);
    let encrypted_value = optional_string(obj, "EncryptedValue", errors);
    Some(SettingInput {
        coworker_id: coworker_id?,
        name: name?,
        value: value?,
        encrypted_value: encrypted_value?,
    })
}

fn positive_integer(
    obj: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<i64> {
    match obj.get(field) {
        None | Some(Value::Null) => {
            errors.push(FieldError::new(field, Value::Null, msg::REQUIRED));
            None
        }
        Some(v) => match json_integer(v) {
            JsonInteger::Int(n) if n > 0 => Some(n),
            JsonInteger::OutOfRange => {
                errors.push(FieldError::new(
                    field,
                    v.clone(),
                    msg::POSITIVE_OUT_OF_RANGE,
                ));
                None
            }
            _ => {
                errors.push(FieldError::new(field, v.clone(), msg::POSITIVE_INTEGER));
                None
            }
        },
    }
}

/// What a JSON value is, as a signed 64-bit integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonInteger {
    Int(i64),
    /// A whole number beyond the signed 64-bit range.
    OutOfRange,
    /// Not a number, or a number with a fraction or an exponent (`3.7`, `1e3`).
    NotInteger,
}

/// Classifies a JSON value. serde_json reads an integer literal up to 2^64 - 1 as a
/// u64 and a larger one as an f64, so a u64 above `i64::MAX` and a whole f64 of
/// magnitude 2^63 or more are out of range. A smaller f64 came from a literal with a
/// fraction or an exponent, which is not an integer whatever its value.
pub fn json_integer(v: &Value) -> JsonInteger {
    const TWO_POW_63: f64 = 9_223_372_036_854_775_808.0;
    let Value::Number(n) = v else {
        return JsonInteger::NotInteger;
    };
    if let Some(i) = n.as_i64() {
        JsonInteger::Int(i)
    } else if n.is_u64() {
        JsonInteger::OutOfRange
    } else {
        match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() >= TWO_POW_63 => JsonInteger::OutOfRange,
            _ => JsonInteger::NotInteger,
        }
    }
}

fn optional_string(
    obj: &Map<String, Value>,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<Option<String>> {
    match obj.get(field) {
        None | Some(Value::Null) => Some(None),
        Some(Value::String(s)) => Some(Some(s.clone())),
        Some(other) => {
            errors.push(FieldError::new(field, other.clone(), msg::STRING_OR_NULL));
            None
        }
    }
}

/// The 400 validation envelope. A struct rather than a `json!` value so the fields
/// keep the vendor's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ValidationEnvelope {
    /// One `PropertyName: message` part per error, joined with a newline.
    pub message: String,
    pub value: (),
    pub errors: Vec<FieldError>,
    pub was_successful: bool,
}

pub fn validation_envelope(errors: &[FieldError]) -> ValidationEnvelope {
    let message = errors
        .iter()
        .map(|e| format!("{}: {}", e.property_name, e.message))
        .collect::<Vec<_>>()
        .join("\n");
    ValidationEnvelope {
        message,
        value: (),
        errors: errors.to_vec(),
        was_successful: false,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdValue {
    #[serde(rename = "Id")]
    pub id: i64,
}

/// The success envelope of create, update and delete.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActionEnvelope {
    pub status: u16,
    pub message: &'static str,
    pub value: IdValue,
    pub open_in_dialog: bool,
    pub open_in_window: bool,
    #[serde(rename = "RedirectURL")]
    pub redirect_url: Option<String>,
    pub java_script: Option<String>,
    pub updated_on: Timestamp,
    pub updated_by: String,
    pub errors: (),
    pub was_successful: bool,
}

pub fn action_envelope(
    message: &'static str,
    id: i64,
    updated_on: Timestamp,
    updated_by: &str,
) -> ActionEnvelope {
    ActionEnvelope {
        status: 200,
        message,
        value: IdValue { id },
        open_in_dialog: false,
        open_in_window: false,
        redirect_url: None,
        java_script: None,
        updated_on,
        updated_by: updated_by.to_string(),
        errors: (),
        was_successful: true,
    }
}

/// Any other error: a JSON object whose `Message` says what went wrong.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ErrorBody {
    pub status: u16,
    pub message: String,
    pub was_successful: bool,
}

pub fn error_body(status: u16, message: &str) -> ErrorBody {
    ErrorBody {
        status,
        message: message.to_string(),
        was_successful: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_serialises_with_fields_in_the_documented_order() {
        let r = Record::new(
            7,
            SettingInput {
                coworker_id: 1,
                name: "n".into(),
                value: None,
                encrypted_value: Some("e".into()),
            },
            "a@b.c",
            Timestamp(1_736_937_000),
        );
        let s = String::from_utf8(r.to_json_bytes().to_vec()).unwrap();
        assert!(s.starts_with(r#"{"CoworkerId":1,"Name":"n","Value":null,"EncryptedValue":"e","Id":7,"UpdatedOn":"2025-01-15T10:30:00Z","CreatedOn":"2025-01-15T10:30:00Z","UniqueId":""#));
        assert!(s.ends_with(r#","UpdatedBy":"a@b.c","IsNew":false,"SystemId":null,"ToStringText":"n","LocalizationDetails":null,"CustomFields":null}"#));
    }

    #[test]
    fn two_bad_fields_give_two_errors_in_field_order() {
        let errs = parse_create(br#"{"CoworkerId":"x","Name":"  "}"#).unwrap_err();
        let names: Vec<_> = errs.iter().map(|e| e.property_name.as_str()).collect();
        assert_eq!(names, ["CoworkerId", "Name"]);
        assert_eq!(errs[0].attempted_value, Value::String("x".into()));
        let env = serde_json::to_value(validation_envelope(&errs)).unwrap();
        assert_eq!(
            env["Message"],
            format!(
                "CoworkerId: {}\nName: {}",
                msg::POSITIVE_INTEGER,
                msg::REQUIRED
            )
        );
    }

    #[test]
    fn json_numbers_beyond_64_bits_are_out_of_range_and_fractions_are_not_integers() {
        for (text, expected) in [
            ("9223372036854775807", JsonInteger::Int(i64::MAX)),
            ("-9223372036854775808", JsonInteger::Int(i64::MIN)),
            ("0", JsonInteger::Int(0)),
            ("9223372036854775808", JsonInteger::OutOfRange),
            ("18446744073709551616", JsonInteger::OutOfRange),
            ("-9223372036854775809", JsonInteger::OutOfRange),
            ("1e30", JsonInteger::OutOfRange),
            ("3.7", JsonInteger::NotInteger),
            ("1e3", JsonInteger::NotInteger),
            ("1.0", JsonInteger::NotInteger),
            ("\"12\"", JsonInteger::NotInteger),
            ("true", JsonInteger::NotInteger),
        ] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(json_integer(&v), expected, "{text}");
        }
    }

    #[test]
    fn an_update_id_of_zero_or_below_passes_validation_for_the_404() {
        for id in ["0", "-7"] {
            let body = format!(r#"{{"Id":{id},"CoworkerId":1,"Name":"n"}}"#);
            assert_eq!(
                parse_update(body.as_bytes()).unwrap().0,
                id.parse::<i64>().unwrap()
            );
        }
    }

    #[test]
    fn timestamps_format_like_chrono_across_the_calendar() {
        for t in [
            0,
            951_782_400,
            1_736_937_000,
            4_102_444_799,
            1_709_164_800,
            253_402_300_799,
            -1,
        ] {
            let chrono = DateTime::<Utc>::from_timestamp(t, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            assert_eq!(Timestamp(t).to_string(), chrono);
        }
    }

    proptest::proptest! {
        /// Digit by digit equals chrono's formatting across years 0 to 9999, and
        /// serialising writes the same text as displaying, in and out of that range.
        #[test]
        fn timestamps_written_by_hand_equal_chrono(t in -62_167_219_200i64..253_402_300_800) {
            let chrono = DateTime::<Utc>::from_timestamp(t, 0)
                .unwrap()
                .format("%Y-%m-%dT%H:%M:%SZ")
                .to_string();
            proptest::prop_assert_eq!(Timestamp(t).to_string(), chrono);
            proptest::prop_assert_eq!(serde_json::to_string(&Timestamp(t)).unwrap(), format!("{:?}", Timestamp(t).to_string()));
        }

        #[test]
        fn civil_parts_give_back_the_moment(t in -100_000_000_000i64..100_000_000_000) {
            let (year, month, day, h, m, s) = Timestamp(t).civil();
            proptest::prop_assert_eq!(Timestamp::from_civil(year, month, day, h, m, s), Timestamp(t));
        }

        #[test]
        fn timestamps_beyond_four_digit_years_serialise_as_displayed(t in proptest::prop_oneof![-1_000_000_000_000i64..-62_167_219_200, 253_402_300_800i64..1_000_000_000_000]) {
            proptest::prop_assert!(Timestamp(t).ascii().is_none());
            proptest::prop_assert_eq!(serde_json::to_string(&Timestamp(t)).unwrap(), format!("{:?}", Timestamp(t).to_string()));
        }
    }

    #[test]
    fn values_are_stored_exactly_as_sent() {
        let input = parse_create(
            r#"{"CoworkerId":3,"Name":" a ","Value":"  x\u0000\"\\ ","Id":99}"#.as_bytes(),
        )
        .unwrap();
        assert_eq!(input.name, " a ");
        assert_eq!(input.value.as_deref(), Some("  x\u{0}\"\\ "));
    }
}
