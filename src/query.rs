//! List parameters: parsing and checking `page`, `size`, `orderBy`, `dir`, the filters
//! and the range filters, and the one definition of what a filter matches and how a
//! sort orders. The store and the fuzzer's reference model both use these; the
//! contract runner only states properties of responses and does not.

use std::borrow::Cow;
use std::cmp::Ordering;
use std::num::IntErrorKind;

use chrono::NaiveDateTime;
use serde_json::Value;

use crate::resource::{FieldError, Record, Timestamp, msg};

pub const DEFAULT_PAGE: u64 = 1;
pub const DEFAULT_SIZE: u64 = 25;
pub const MAX_SIZE: u64 = 1000;

/// The vendor's filter names.
pub const P_COWORKER: &str = "CoworkerSetting_Coworker";
pub const P_COWORKER_ALIAS: &str = "CoworkerSetting_CoworkerId";
pub const P_NAME: &str = "CoworkerSetting_Name";
pub const P_VALUE: &str = "CoworkerSetting_Value";
pub const P_ENCRYPTED: &str = "CoworkerSetting_EncryptedValue";
pub const P_FROM_CREATED: &str = "from_CoworkerSetting_CreatedOn";
pub const P_TO_CREATED: &str = "to_CoworkerSetting_CreatedOn";
pub const P_FROM_UPDATED: &str = "from_CoworkerSetting_UpdatedOn";
pub const P_TO_UPDATED: &str = "to_CoworkerSetting_UpdatedOn";

/// Every parameter the list reads; others are ignored without being decoded.
const LIST_PARAMS: [&str; 13] = [
    "page",
    "size",
    "orderBy",
    "dir",
    P_COWORKER,
    P_COWORKER_ALIAS,
    P_NAME,
    P_VALUE,
    P_ENCRYPTED,
    P_FROM_CREATED,
    P_TO_CREATED,
    P_FROM_UPDATED,
    P_TO_UPDATED,
];

/// A field a list can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortField {
    Id,
    CoworkerId,
    Name,
    Value,
    EncryptedValue,
    CreatedOn,
    UpdatedOn,
    UpdatedBy,
    SystemId,
}

impl SortField {
    pub const ALL: [SortField; 9] = [
        SortField::Id,
        SortField::CoworkerId,
        SortField::Name,
        SortField::Value,
        SortField::EncryptedValue,
        SortField::CreatedOn,
        SortField::UpdatedOn,
        SortField::UpdatedBy,
        SortField::SystemId,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SortField::Id => "Id",
            SortField::CoworkerId => "CoworkerId",
            SortField::Name => "Name",
            SortField::Value => "Value",
            SortField::EncryptedValue => "EncryptedValue",
            SortField::CreatedOn => "CreatedOn",
            SortField::UpdatedOn => "UpdatedOn",
            SortField::UpdatedBy => "UpdatedBy",
            SortField::SystemId => "SystemId",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        SortField::ALL.into_iter().find(|f| f.name() == s)
    }

    /// Orders two records by this field alone, ascending: numbers and timestamps by
    /// value, text by [`compare_text`], null before any value. Records equal here
    /// (text equal after case folding included) are left for the Id tiebreak.
    pub fn compare(self, a: &Record, b: &Record) -> Ordering {
        match self {
            SortField::Id => a.id.cmp(&b.id),
            SortField::CoworkerId => a.coworker_id.cmp(&b.coworker_id),
            SortField::Name => compare_text(&a.name, &b.name),
            SortField::Value => compare_optional_text(&a.value, &b.value),
            SortField::EncryptedValue => {
                compare_optional_text(&a.encrypted_value, &b.encrypted_value)
            }
            SortField::CreatedOn => a.created_on.cmp(&b.created_on),
            SortField::UpdatedOn => a.updated_on.cmp(&b.updated_on),
            SortField::UpdatedBy => compare_optional_text(&a.updated_by, &b.updated_by),
            SortField::SystemId => compare_optional_text(&a.system_id, &b.system_id),
        }
    }
}

/// The list's text order: case-insensitive, as the vendor's database collation is
/// (`alpha` < `Beta` < `gamma`). The fold is Unicode simple lower-casing
/// (`char::to_lowercase`, no locale, no normalisation); the folded strings then
/// compare character by character by code point. Two strings that fold alike are
/// equal here, whatever their case, so the list's Id tiebreak decides between them.
pub fn compare_text(a: &str, b: &str) -> Ordering {
    // Sorting calls this n·log n times, so the common case is done byte by byte:
    // while both sides are ASCII, each byte folds to one ASCII byte, so the first
    // folded difference decides, and a side that ends first is less (every
    // character folds to at least one). At the first non-ASCII byte, both sides are
    // at a character boundary after equal folded prefixes, and the rest is compared
    // the general way (some non-ASCII characters fold to ASCII: KELVIN SIGN to k).
    let (x, y) = (a.as_bytes(), b.as_bytes());
    // Bytes both sides share fold alike: skip them (eight at a time), then step back to
    // a character boundary (the same one on both sides, as the bytes before it match).
    let mut i = 0;
    while i + 8 <= x.len() && i + 8 <= y.len() && x[i..i + 8] == y[i..i + 8] {
        i += 8;
    }
    while i < x.len() && i < y.len() && x[i] == y[i] {
        i += 1;
    }
    while !a.is_char_boundary(i) {
        i -= 1;
    }
    loop {
        match (x.get(i), y.get(i)) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) if p.is_ascii() && q.is_ascii() => {
                let (p, q) = (p.to_ascii_lowercase(), q.to_ascii_lowercase());
                if p != q {
                    return p.cmp(&q);
                }
                i += 1;
            }
            _ => break,
        }
    }
    a[i..]
        .chars()
        .flat_map(char::to_lowercase)
        .cmp(b[i..].chars().flat_map(char::to_lowercase))
}

/// A text's order key: the first 24 bytes of the text as [`compare_text`] folds it
/// (UTF-8, zero-padded), as three big-endian words. It never contradicts the text
/// order: if one text's key is less than another's, the text is less too, and equal
/// keys decide nothing. (Folded texts compare by code point, which is the order of
/// their UTF-8 bytes, so the key is the folded bytes cut short.) Most names are
/// shorter than 24 bytes, so sorting or searching by the key first leaves almost no
/// comparisons to the texts themselves.
pub fn text_order_key(s: &str) -> [u64; 3] {
    let bytes = s.as_bytes();
    let mut key = [0u8; 24];
    let head = &bytes[..bytes.len().min(24)];
    if head.is_ascii() {
        // ASCII folds byte for byte, whatever follows.
        for (k, b) in key.iter_mut().zip(head) {
            *k = b.to_ascii_lowercase();
        }
    } else {
        let mut folded = s.chars().flat_map(char::to_lowercase).flat_map(|c| {
            let mut buf = [0u8; 4];
            let len = c.encode_utf8(&mut buf).len();
            buf.into_iter().take(len)
        });
        for k in key.iter_mut() {
            match folded.next() {
                Some(b) => *k = b,
                None => break,
            }
        }
    }
    let word = |i: usize| u64::from_be_bytes(key[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    [word(0), word(1), word(2)]
}

/// [`compare_text`] with null before any text.
fn compare_optional_text(a: &Option<String>, b: &Option<String>) -> Ordering {
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, Some(_)) => Ordering::Less,
        (Some(_), None) => Ordering::Greater,
        (Some(x), Some(y)) => compare_text(x, y),
    }
}

/// An inclusive range of seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Range {
    pub from: Option<i64>,
    pub to: Option<i64>,
}

impl Range {
    fn contains(&self, t: Timestamp) -> bool {
        self.from.is_none_or(|f| t.0 >= f) && self.to.is_none_or(|to| t.0 <= to)
    }
}

/// A checked list query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub page: u64,
    pub size: u64,
    pub order_by: SortField,
    /// true for ascending (`dir=1`).
    pub ascending: bool,
    pub coworker: Option<i64>,
    pub name: Option<String>,
    pub value: Option<String>,
    pub encrypted_value: Option<String>,
    pub created: Range,
    pub updated: Range,
}

impl Default for ListQuery {
    fn default() -> Self {
        ListQuery {
            page: DEFAULT_PAGE,
            size: DEFAULT_SIZE,
            order_by: SortField::Id,
            ascending: true,
            coworker: None,
            name: None,
            value: None,
            encrypted_value: None,
            created: Range::default(),
            updated: Range::default(),
        }
    }
}

impl ListQuery {
    /// Parses a raw query string (without `?`). Unknown parameters are ignored; a
    /// repeated parameter takes its last value; an empty filter value means no filter.
    /// Every bad parameter is reported, each naming itself.
    pub fn parse(raw: &str) -> Result<Self, Vec<FieldError>> {
        let mut q = ListQuery::default();
        let mut errors = Vec::new();
        for (key, raw_val) in query_params(raw) {
            let key = key.as_ref();
            if !LIST_PARAMS.contains(&key) {
                continue;
            }
            let val = decode_component(raw_val);
            let val = val.as_ref();
            let bad = |msg: &str| FieldError::new(key, Value::String(val.to_string()), msg);
            match key {
                "page" => match integer_text(val) {
                    IntegerText::Int(n) if n >= 1 => q.page = n.unsigned_abs(),
                    IntegerText::OutOfRange => errors.push(bad(msg::POSITIVE_OUT_OF_RANGE)),
                    _ => errors.push(bad(msg::PAGE)),
                },
                "size" => match integer_text(val) {
                    IntegerText::Int(n) if (1..=MAX_SIZE as i64).contains(&n) => {
                        q.size = n.unsigned_abs()
                    }
                    IntegerText::OutOfRange => errors.push(bad(msg::SIZE_OUT_OF_RANGE)),
                    _ => errors.push(bad(msg::SIZE)),
                },
                "orderBy" => match SortField::parse(val) {
                    Some(f) => q.order_by = f,
                    None => errors.push(bad(msg::ORDER_BY)),
                },
                "dir" => match val {
                    "1" => q.ascending = true,
                    "-1" => q.ascending = false,
                    _ => errors.push(bad(msg::DIR)),
                },
                P_COWORKER | P_COWORKER_ALIAS if !val.is_empty() => match integer_text(val) {
                    IntegerText::Int(n) => q.coworker = Some(n),
                    IntegerText::OutOfRange => errors.push(bad(msg::INTEGER_OUT_OF_RANGE)),
                    IntegerText::NotInteger => errors.push(bad(msg::INTEGER)),
                },
                P_NAME if !val.is_empty() => q.name = Some(val.to_string()),
                P_VALUE if !val.is_empty() => q.value = Some(val.to_string()),
                P_ENCRYPTED if !val.is_empty() => q.encrypted_value = Some(val.to_string()),
                P_FROM_CREATED | P_TO_CREATED | P_FROM_UPDATED | P_TO_UPDATED
                    if !val.is_empty() =>
                {
                    let is_to = key.starts_with("to_");
                    match parse_range_bound(val, is_to) {
                        Some(t) => {
                            let r = if key.ends_with("CreatedOn") {
                                &mut q.created
                            } else {
                                &mut q.updated
                            };
                            if is_to {
                                r.to = Some(t)
                            } else {
                                r.from = Some(t)
                            }
                        }
                        None => errors.push(bad(msg::MINUTE)),
                    }
                }
                _ => {}
            }
        }
        if errors.is_empty() {
            Ok(q)
        } else {
            Err(errors)
        }
    }

    /// True when the record passes every filter of this query.
    pub fn matches(&self, r: &Record) -> bool {
        self.coworker.is_none_or(|c| r.coworker_id == c)
            && substring_filter(self.name.as_deref(), Some(&r.name))
            && substring_filter(self.value.as_deref(), r.value.as_deref())
            && substring_filter(
                self.encrypted_value.as_deref(),
                r.encrypted_value.as_deref(),
            )
            && self.created.contains(r.created_on)
            && self.updated.contains(r.updated_on)
    }

    /// The list order: the field in the asked direction, then Id ascending whatever
    /// the direction (`dir=-1` reverses the field's order, not the tiebreak).
    pub fn compare(&self, a: &Record, b: &Record) -> Ordering {
        let by_field = self.order_by.compare(a, b);
        let by_field = if self.ascending {
            by_field
        } else {
            by_field.reverse()
        };
        by_field.then(a.id.cmp(&b.id))
    }

    /// True when no filter other than the customer is set.
    pub fn only_customer_filter(&self) -> bool {
        self.name.is_none()
            && self.value.is_none()
            && self.encrypted_value.is_none()
            && self.created == Range::default()
            && self.updated == Range::default()
    }

    /// The 0-based index of the first record of the page, saturating.
    pub fn offset(&self) -> usize {
        usize::try_from((self.page - 1).saturating_mul(self.size)).unwrap_or(usize::MAX)
    }

    /// Writes this query as a query string the API accepts (used by the runner and fuzzer).
    pub fn to_query_string(&self) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        s.append_pair("page", &self.page.to_string());
        s.append_pair("size", &self.size.to_string());
        s.append_pair("orderBy", self.order_by.name());
        s.append_pair("dir", if self.ascending { "1" } else { "-1" });
        if let Some(c) = self.coworker {
            s.append_pair(P_COWORKER, &c.to_string());
        }
        for (k, v) in [
            (P_NAME, &self.name),
            (P_VALUE, &self.value),
            (P_ENCRYPTED, &self.encrypted_value),
        ] {
            if let Some(v) = v {
                s.append_pair(k, v);
            }
        }
        for (k, t) in [
            (P_FROM_CREATED, self.created.from),
            (P_TO_CREATED, self.created.to),
            (P_FROM_UPDATED, self.updated.from),
            (P_TO_UPDATED, self.updated.to),
        ] {
            if let Some(t) = t {
                s.append_pair(k, &format_minute(t));
            }
        }
        s.finish()
    }
}

/// What a query parameter's text is, as a signed 64-bit integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntegerText {
    Int(i64),
    /// Digits (with an optional sign) beyond the signed 64-bit range.
    OutOfRange,
    /// Anything else: empty, non-numeric, fractional.
    NotInteger,
}

/// Reads a query parameter (or one batch id) as a signed 64-bit integer, telling a
/// number too large apart from text that is no integer at all.
/// Decodes one name or value of a query string exactly as `form_urlencoded::parse`
/// does (`+` is a space, `%XX` a byte, bytes that are not UTF-8 become U+FFFD), and
/// borrows it when there is nothing to decode (every name the API knows).
pub fn decode_component(s: &str) -> Cow<'_, str> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(s);
    }
    let mut bytes = Vec::with_capacity(s.len());
    if s.contains('+') {
        let spaced: Vec<u8> = s
            .bytes()
            .map(|b| if b == b'+' { b' ' } else { b })
            .collect();
        bytes.extend(percent_encoding::percent_decode(&spaced));
    } else {
        bytes.extend(percent_encoding::percent_decode(s.as_bytes()));
    }
    match String::from_utf8(bytes) {
        Ok(text) => Cow::Owned(text),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// A query string's parameters in order, each name decoded and each value left as
/// sent, for [`decode_component`]: a value nobody reads (a batch's long `id` list,
/// to the list parameters' parser) is never decoded.
pub fn query_params(raw: &str) -> impl Iterator<Item = (Cow<'_, str>, &str)> {
    raw.split('&').filter(|part| !part.is_empty()).map(|part| {
        let (key, value) = part.split_once('=').unwrap_or((part, ""));
        (decode_component(key), value)
    })
}

/// The decoded names of a query string's parameters, in order.
pub fn query_keys(raw: &str) -> impl Iterator<Item = Cow<'_, str>> {
    query_params(raw).map(|(k, _)| k)
}

/// Whether the query string names parameter `name` (with any value, even empty).
pub fn has_param(raw: &str, name: &str) -> bool {
    query_keys(raw).any(|k| k == name)
}

pub fn integer_text(s: &str) -> IntegerText {
    match s.parse::<i64>() {
        Ok(n) => IntegerText::Int(n),
        Err(e)
            if matches!(
                e.kind(),
                IntErrorKind::PosOverflow | IntErrorKind::NegOverflow
            ) =>
        {
            IntegerText::OutOfRange
        }
        Err(_) => IntegerText::NotInteger,
    }
}

/// Writes seconds as `YYYY-MM-DDTHH:mm:ss` (a form range parameters accept).
pub fn format_minute(t: i64) -> String {
    chrono::DateTime::from_timestamp(t, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Parses a range bound: `YYYY-MM-DDTHH:mm`, optionally `:ss`, optionally a trailing
/// `Z`, every field zero-padded (chrono alone would take one-digit fields and a leap
/// second). `to_` bounds cover the whole named minute (or second). The OpenAPI
/// document's pattern for these parameters admits exactly the same strings.
pub fn parse_range_bound(s: &str, is_to: bool) -> Option<i64> {
    const SHAPE: &[u8] = b"dddd-dd-ddTdd:dd:dd";
    let s = s.strip_suffix('Z').unwrap_or(s);
    let b = s.as_bytes();
    let shaped = (b.len() == 16 || b.len() == 19)
        && b.iter().zip(SHAPE).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            _ => c == p,
        });
    if !shaped {
        return None;
    }
    if b.len() == 19 {
        if &s[17..] > "59" {
            return None;
        }
        let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").ok()?;
        return Some(t.and_utc().timestamp());
    }
    let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M")
        .ok()?
        .and_utc()
        .timestamp();
    Some(if is_to { t + 59 } else { t })
}

/// Case-insensitive substring match; a null field never matches a filter.
pub fn substring_filter(needle: Option<&str>, hay: Option<&str>) -> bool {
    match (needle, hay) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(n), Some(h)) => contains_ignore_case(h, n),
    }
}

fn contains_ignore_case(hay: &str, needle: &str) -> bool {
    if needle.is_empty() {
        return true;
    }
    // The ASCII fast path is exact only when both sides are ASCII: some non-ASCII
    // characters lower-case to ASCII ones (KELVIN SIGN to 'k').
    if needle.is_ascii() && hay.is_ascii() {
        let (h, n) = (hay.as_bytes(), needle.as_bytes());
        if n.len() > h.len() {
            return false;
        }
        let first = n[0].to_ascii_lowercase();
        return (0..=h.len() - n.len()).any(|i| {
            h[i].to_ascii_lowercase() == first
                && h[i + 1..i + n.len()].eq_ignore_ascii_case(&n[1..])
        });
    }
    fold_case(hay).contains(&*fold_case(needle))
}

/// The case folding of the substring filters: `str::to_lowercase` of the whole
/// string (so a final capital sigma becomes `ς` and `İ` becomes `i̇`, as Unicode
/// says). The substring index folds with this too, which is what keeps it exact.
pub fn fold_case(s: &str) -> Cow<'_, str> {
    if s.bytes().all(|b| b.is_ascii() && !b.is_ascii_uppercase()) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.to_lowercase())
    }
}

/// The paging arithmetic of the list envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageInfo {
    pub total_items: u64,
    pub total_pages: u64,
    pub first_item: u64,
    pub last_item: u64,
    pub has_next: bool,
    pub has_previous: bool,
}

impl PageInfo {
    pub fn new(page: u64, size: u64, total_items: u64, count: u64) -> Self {
        let total_pages = total_items.div_ceil(size);
        let (first_item, last_item) = if count == 0 {
            (0, 0)
        } else {
            let first = (page - 1).saturating_mul(size).saturating_add(1);
            (first, first + count - 1)
        };
        PageInfo {
            total_items,
            total_pages,
            first_item,
            last_item,
            has_next: page < total_pages,
            has_previous: page > 1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_bounds_cover_the_whole_minute() {
        let from = parse_range_bound("2025-01-01T10:00", false).unwrap();
        let to = parse_range_bound("2025-01-01T10:00", true).unwrap();
        assert_eq!(to - from, 59);
        assert_eq!(
            parse_range_bound("2025-01-01T10:00:30Z", true),
            Some(from + 30)
        );
        assert_eq!(parse_range_bound("2025-1-1T1:0", false), None);
        assert_eq!(parse_range_bound("yesterday", false), None);
        for bad in [
            "2025-1-1T1:0:0",
            "2025-01-01T10:00:60",
            "2025-02-29T10:00",
            "2025-01-01T10:00:00.5",
            "+2025-01-01T10:00",
            "2025-01-01T10:00ZZ",
            "2025-01-01 10:00",
        ] {
            assert_eq!(parse_range_bound(bad, false), None, "{bad}");
        }
        for good in [
            "2024-02-29T23:59",
            "0000-02-29T00:00:59Z",
            "2025-12-31T23:59Z",
        ] {
            assert!(parse_range_bound(good, true).is_some(), "{good}");
        }
    }

    #[test]
    fn every_bad_parameter_is_named() {
        let errs = ListQuery::parse("page=0&size=1001&orderBy=Nope&dir=2&CoworkerSetting_Coworker=x&from_CoworkerSetting_CreatedOn=bad").unwrap_err();
        let names: Vec<_> = errs.iter().map(|e| e.property_name.as_str()).collect();
        assert_eq!(
            names,
            [
                "page",
                "size",
                "orderBy",
                "dir",
                "CoworkerSetting_Coworker",
                "from_CoworkerSetting_CreatedOn"
            ]
        );
    }

    #[test]
    fn a_query_round_trips_through_its_query_string() {
        let q = ListQuery {
            page: 3,
            size: 7,
            order_by: SortField::UpdatedBy,
            ascending: false,
            coworker: Some(5),
            name: Some("a&b %".into()),
            value: Some("é".into()),
            encrypted_value: None,
            created: Range {
                from: Some(1_700_000_000),
                to: None,
            },
            updated: Range {
                from: None,
                to: Some(1_700_000_059),
            },
        };
        assert_eq!(ListQuery::parse(&q.to_query_string()).unwrap(), q);
    }

    #[test]
    fn paging_arithmetic_on_empty_partial_and_past_the_end_pages() {
        assert_eq!(
            PageInfo::new(1, 25, 0, 0),
            PageInfo {
                total_items: 0,
                total_pages: 0,
                first_item: 0,
                last_item: 0,
                has_next: false,
                has_previous: false
            }
        );
        assert_eq!(
            PageInfo::new(2, 10, 15, 5),
            PageInfo {
                total_items: 15,
                total_pages: 2,
                first_item: 11,
                last_item: 15,
                has_next: false,
                has_previous: true
            }
        );
        assert_eq!(
            PageInfo::new(9, 10, 15, 0),
            PageInfo {
                total_items: 15,
                total_pages: 2,
                first_item: 0,
                last_item: 0,
                has_next: false,
                has_previous: true
            }
        );
    }

    #[test]
    fn text_compares_case_insensitively_by_folded_code_points() {
        use Ordering::{Equal, Greater, Less};
        for (a, b, expected) in [
            ("alpha", "Beta", Less),
            ("Beta", "gamma", Less),
            ("ABC", "abc", Equal),
            ("a", "AB", Less),
            ("", "a", Less),
            ("Zulu", "\u{c4}hm", Less),
            ("\u{e9}", "E", Greater),
            ("\u{c9}", "\u{e9}", Equal),
            ("\u{212A}elvin", "kelvin", Equal),
            ("_", "a", Less),
            ("_", "A", Less),
        ] {
            assert_eq!(compare_text(a, b), expected, "{a:?} vs {b:?}");
            assert_eq!(compare_text(b, a), expected.reverse(), "{b:?} vs {a:?}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(1000))]
        /// 1,000 cases: the byte-wise fast path orders exactly as folding both whole
        /// strings and comparing the folded characters, on ASCII mixed with the
        /// characters whose folding surprises (KELVIN SIGN, İ, ß, final sigma).
        #[test]
        fn text_order_equals_comparing_the_folded_strings(
            a in "[aAbBkK_. \u{212A}\u{130}\u{df}\u{3a3}\u{3c2}\u{e9}\u{c9}]{0,8}",
            b in "[aAbBkK_. \u{212A}\u{130}\u{df}\u{3a3}\u{3c2}\u{e9}\u{c9}]{0,8}",
        ) {
            let folded = |s: &str| s.chars().flat_map(char::to_lowercase).collect::<Vec<char>>();
            proptest::prop_assert_eq!(compare_text(&a, &b), folded(&a).cmp(&folded(&b)));
        }

        /// 1,000 cases: the order key never contradicts the text order, and decides it
        /// whenever both texts fold to at most its 24 bytes. The texts share a prefix
        /// of up to 30 characters, so that they differ near and across the key's end,
        /// with characters whose folding changes their length in bytes.
        #[test]
        fn the_order_key_agrees_with_the_text_order(
            prefix in "[aAkK.\u{212A}\u{130}\u{df}\u{3a3}\u{e9}]{0,30}",
            a in "[aAkK.\u{212A}\u{130}\u{df}\u{3a3}\u{e9}]{0,6}",
            b in "[aAkK.\u{212A}\u{130}\u{df}\u{3a3}\u{e9}]{0,6}",
        ) {
            let (a, b) = (format!("{prefix}{a}"), format!("{prefix}{b}"));
            let (ka, kb) = (text_order_key(&a), text_order_key(&b));
            let by_text = compare_text(&a, &b);
            if ka != kb {
                proptest::prop_assert_eq!(ka.cmp(&kb), by_text);
            }
            let folded_len = |s: &str| s.chars().flat_map(char::to_lowercase).map(char::len_utf8).sum::<usize>();
            if folded_len(&a) <= 24 && folded_len(&b) <= 24 {
                proptest::prop_assert_eq!(ka.cmp(&kb), by_text);
            }
        }

        /// 1,000 cases: the borrowed key scan names exactly the keys a full parse
        /// does, on query strings full of separators, escapes and bad escapes.
        #[test]
        fn query_params_equal_a_full_parse(raw in "[ai=&%+2C0dF\u{e9}]{0,16}") {
            let scanned: Vec<(String, String)> = query_params(&raw)
                .map(|(k, v)| (k.into_owned(), decode_component(v).into_owned()))
                .collect();
            let parsed: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            proptest::prop_assert_eq!(&scanned, &parsed);
            let keys: Vec<String> = query_keys(&raw).map(|k| k.into_owned()).collect();
            let parsed_keys: Vec<String> = parsed.iter().map(|(k, _)| k.clone()).collect();
            proptest::prop_assert_eq!(keys, parsed_keys);
            proptest::prop_assert_eq!(has_param(&raw, "id"), parsed.iter().any(|(k, _)| k == "id"));
        }

        /// 1,000 cases: percent-encoded bytes, valid UTF-8 or not, decode as a full
        /// parse decodes them.
        #[test]
        fn encoded_bytes_decode_as_a_full_parse_decodes_them(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..12)) {
            let encoded: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
            let raw = format!("k={encoded}");
            let (_, full) = form_urlencoded::parse(raw.as_bytes()).next().unwrap();
            proptest::prop_assert_eq!(decode_component(&encoded), full);
        }
    }

    #[test]
    fn ties_after_folding_go_to_id_ascending_in_both_directions() {
        let record = |id: i64, name: &str, value: Option<&str>| {
            let input = crate::resource::SettingInput {
                coworker_id: 1,
                name: name.into(),
                value: value.map(String::from),
                encrypted_value: None,
            };
            Record::new(id, input, "a@b.c", Timestamp(0))
        };
        let records = [
            record(1, "beta", Some("x")),
            record(2, "Alpha", None),
            record(3, "BETA", Some("X")),
            record(4, "alpha", Some("y")),
        ];
        for (order_by, ascending, expected) in [
            (SortField::Name, true, [2, 4, 1, 3]),
            (SortField::Name, false, [1, 3, 2, 4]),
            (SortField::Value, true, [2, 1, 3, 4]),
            (SortField::Value, false, [4, 1, 3, 2]),
        ] {
            let q = ListQuery {
                order_by,
                ascending,
                ..ListQuery::default()
            };
            let mut sorted = records.clone();
            sorted.sort_by(|a, b| q.compare(a, b));
            let ids: Vec<i64> = sorted.iter().map(|r| r.id).collect();
            assert_eq!(ids, expected, "{order_by:?} ascending={ascending}");
        }
    }

    #[test]
    fn integers_beyond_64_bits_are_told_apart_from_non_integers() {
        for (text, expected) in [
            ("9223372036854775807", IntegerText::Int(i64::MAX)),
            ("-9223372036854775808", IntegerText::Int(i64::MIN)),
            ("+5", IntegerText::Int(5)),
            ("9223372036854775808", IntegerText::OutOfRange),
            ("-9223372036854775809", IntegerText::OutOfRange),
            ("18446744073709551616", IntegerText::OutOfRange),
            ("1.5", IntegerText::NotInteger),
            ("1e3", IntegerText::NotInteger),
            ("", IntegerText::NotInteger),
            ("x", IntegerText::NotInteger),
        ] {
            assert_eq!(integer_text(text), expected, "{text:?}");
        }
        let errs =
            ListQuery::parse("page=18446744073709551616&size=99999999999999999999").unwrap_err();
        let messages: Vec<&str> = errs.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(
            messages,
            [msg::POSITIVE_OUT_OF_RANGE, msg::SIZE_OUT_OF_RANGE]
        );
    }

    #[test]
    fn substring_filters_ignore_case_and_never_match_null() {
        assert!(substring_filter(Some("THEME"), Some("Portal.Theme")));
        assert!(substring_filter(
            Some("zürich"),
            Some("Besprechungsraum ZÜRICH")
        ));
        assert!(!substring_filter(Some("x"), None));
        assert!(substring_filter(Some(""), Some("")));
        assert!(substring_filter(Some("k"), Some("5 \u{212A}elvin")));
        assert!(!substring_filter(
            Some("portal.themes"),
            Some("Portal.Theme")
        ));
        assert!(substring_filter(Some("e.4"), Some("Portal.Theme.42")));
    }
}
