//! The fuzzer's proptest strategies (`arb_*`): texts that stress storage and
//! escaping, valid and invalid create/update bodies, list queries over every
//! parameter, and whole step sequences. Steps name records symbolically (by
//! position among the case's live records), so a sequence replays on any target.

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::query::SortField;

/// An optional field as a client may send it: absent, null, or a string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Opt {
    Absent,
    Null,
    Text(String),
}

impl Opt {
    /// What a reader should see afterwards.
    pub fn stored(&self) -> Option<String> {
        match self {
            Opt::Text(s) => Some(s.clone()),
            _ => None,
        }
    }
}

/// A valid create (or update) body, before the run's Name prefix is added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Body {
    /// Which of the case's customers (0..3).
    pub customer: u8,
    pub name: String,
    pub value: Opt,
    pub encrypted_value: Opt,
}

/// An invalid create body and the PropertyNames a correct 400 may name
/// (empty when the error is about the body as a whole).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invalid {
    pub raw: String,
    pub properties: Vec<String>,
    /// Refusing it is the mock's choice, not the docs' (a CoworkerId sent as a JSON
    /// string of digits): accepting it is a warning.
    #[serde(default)]
    pub settled: bool,
}

/// A range bound relative to the case's records: minutes from "now".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeSpec {
    pub created: bool,
    pub from_minutes: Option<i64>,
    pub to_minutes: Option<i64>,
    /// Bounds taken from a live record's own timestamps instead of "now": which
    /// record, which of its two timestamps, and the minute offset (-1, 0, 1), so a
    /// record sits just inside or just outside the bound.
    #[serde(default)]
    pub anchor: Option<Anchor>,
}

/// A range bound set at a live record's CreatedOn or UpdatedOn minute, plus an offset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anchor {
    pub target: usize,
    /// Take the minute from the record's CreatedOn (else its UpdatedOn).
    pub from_created: bool,
    pub offset: i64,
    /// Bound `to_` (else `from_`).
    pub to: bool,
}

/// A list query, always scoped to one of the case's customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListSpec {
    pub customer: u8,
    pub page: u64,
    pub size: u64,
    pub order_by: String,
    pub ascending: bool,
    pub name: Option<String>,
    pub value: Option<String>,
    pub encrypted_value: Option<String>,
    pub range: Option<RangeSpec>,
    /// A parameter sent with a bad value instead; the answer must be 400 naming it.
    pub malformed: Option<(String, String)>,
}

/// One request of a sequence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Step {
    Create(Body),
    Update { target: usize, body: Body },
    Delete { target: usize },
    Get { target: usize },
    Batch { targets: Vec<usize> },
    List(ListSpec),
    Invalid(Invalid),
}

/// Texts that have broken real implementations: escapes, every kind of Unicode,
/// mixed case, white space at the edges, SQL-ish punctuation, and the lengths where
/// stores truncate.
pub fn arb_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,8}",
        2 => "[A-Za-z0-9 ._-]{1,16}",
        2 => prop::sample::select(vec![
            "ünïcødé", "日本語テキスト", "e\u{301}\u{302}", "🚀👩‍💻🇪🇸", "مرحبا بالعالم", "עברית", "Ελληνικά", "\u{212A}elvin",
            "MiXeD CaSe", "ÀÉÎÕÜ àéîõü", "İstanbul ß",
        ]).prop_map(String::from),
        2 => prop::sample::select(vec![
            "quote \" and \\ backslash", "100% & more", "a%20b&c=d", "tab\tnew\nline\r", "\u{1}\u{7f}ctrl", "{\"json\":true}",
            "<script>alert(1)</script>", "'; DROP TABLE x;--", "it's", "a+b;c", "--", "O'Brien \"Bob\" \\ %_",
        ]).prop_map(String::from),
        1 => "[a-zA-Z]{1,6}".prop_map(|s| format!("  {s}  ")),
        1 => "[a-z]{1,6}".prop_map(|s| format!("\t{s} \n")),
        1 => (prop::sample::select(vec![255usize, 256, 1000, 4000, 10_000]), "[a-zA-Z]")
            .prop_map(|(n, c)| c.repeat(n)),
        1 => (prop::sample::select(vec![255usize, 256, 1000]), prop::sample::select(vec!["ü", "日", "🚀"]))
            .prop_map(|(n, c)| c.repeat(n)),
        1 => any::<String>().prop_map(|s| s.chars().take(24).collect()),
    ]
}

fn arb_opt() -> impl Strategy<Value = Opt> {
    prop_oneof![
        1 => Just(Opt::Absent),
        1 => Just(Opt::Null),
        1 => Just(Opt::Text(String::new())),
        5 => arb_text().prop_map(Opt::Text),
    ]
}

/// A name that is valid: not blank after trimming.
fn arb_name() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec!["alpha", "Alpha", "beta", "Gamma", "delta", "50% off", "a&b", "it's", "x;--"]).prop_map(String::from),
        2 => arb_text(),
    ]
    .prop_map(|s| if s.trim().is_empty() { format!("{s}n") } else { s })
}

/// Which of the case's three customers: mostly the first, so lists see several
/// records together (order and paging need them), sometimes the others (the
/// customer filter needs them).
fn arb_customer() -> impl Strategy<Value = u8> {
    prop_oneof![6 => Just(0u8), 2 => Just(1u8), 1 => Just(2u8)]
}

pub fn arb_body() -> impl Strategy<Value = Body> {
    (arb_customer(), arb_name(), arb_opt(), arb_opt()).prop_map(
        |(customer, name, value, encrypted_value)| Body {
            customer,
            name,
            value,
            encrypted_value,
        },
    )
}

/// Invalid create bodies, each with the PropertyNames a 400 may name.
pub fn arb_invalid() -> impl Strategy<Value = Invalid> {
    let wrong: Vec<(&str, Value, &str)> = vec![
        (r#""CoworkerId":1.5"#, Value::Null, "CoworkerId"),
        (r#""CoworkerId":3.7"#, Value::Null, "CoworkerId"),
        (r#""CoworkerId":null"#, Value::Null, "CoworkerId"),
        (r#""CoworkerId":-1"#, Value::Null, "CoworkerId"),
        (
            r#""CoworkerId":9223372036854775808"#,
            Value::Null,
            "CoworkerId",
        ),
        (r#""CoworkerId":{}"#, Value::Null, "CoworkerId"),
        (r#""CoworkerId":true"#, Value::Null, "CoworkerId"),
        (r#""CoworkerId":[1]"#, Value::Null, "CoworkerId"),
        (r#""CoworkerId":0"#, Value::Null, "CoworkerId"),
        (r#""CoworkerId":-7"#, Value::Null, "CoworkerId"),
        (
            r#""CoworkerId":-9223372036854775808"#,
            Value::Null,
            "CoworkerId",
        ),
        (
            r#""CoworkerId":99999999999999999999999"#,
            Value::Null,
            "CoworkerId",
        ),
        (
            r#""CoworkerId":"x","CoworkerId":"y""#,
            Value::Null,
            "CoworkerId",
        ),
        (r#""Name":5"#, Value::Null, "Name"),
        (r#""Name":"""#, Value::Null, "Name"),
        (r#""Name":"   ""#, Value::Null, "Name"),
        (r#""Name":null"#, Value::Null, "Name"),
        (r#""Name":{"a":1}"#, Value::Null, "Name"),
        (r#""Value":5"#, Value::Null, "Value"),
        (r#""Value":[]"#, Value::Null, "Value"),
        (r#""EncryptedValue":false"#, Value::Null, "EncryptedValue"),
    ];
    let field_cases = prop::sample::select(wrong).prop_map(|(bad, _, prop)| {
        // The other required fields are valid, so only `prop` is wrong.
        let mut parts = vec![bad.to_string()];
        if prop != "CoworkerId" {
            parts.push(r#""CoworkerId":1"#.to_string());
        }
        if prop != "Name" {
            parts.push(r#""Name":"n""#.to_string());
        }
        Invalid {
            raw: format!("{{{}}}", parts.join(",")),
            properties: vec![prop.to_string()],
            settled: false,
        }
    });
    let quoted = Just(Invalid {
        raw: r#"{"CoworkerId":"12","Name":"n"}"#.to_string(),
        properties: vec!["CoworkerId".to_string()],
        settled: true,
    });
    let body_cases = prop::sample::select(vec![
        (r#"{"CoworkerId":1,"Name":"#.to_string(), vec![]),
        ("[1,2,3]".to_string(), vec![]),
        (r#""just a string""#.to_string(), vec![]),
        ("42".to_string(), vec![]),
        ("null".to_string(), vec![]),
        (String::new(), vec![]),
        (
            "{}".to_string(),
            vec!["CoworkerId".to_string(), "Name".to_string()],
        ),
        (r#"{"CoworkerId":1}"#.to_string(), vec!["Name".to_string()]),
        (
            r#"{"Name":"n"}"#.to_string(),
            vec!["CoworkerId".to_string()],
        ),
        (
            format!(
                r#"{{"CoworkerId":1,"Name":"n","Value":{}1{}}}"#,
                "[".repeat(300),
                "]".repeat(300)
            ),
            vec!["Value".to_string(), String::new()],
        ),
    ])
    .prop_map(|(raw, properties)| Invalid {
        raw,
        properties,
        settled: false,
    });
    prop_oneof![6 => field_cases, 2 => body_cases, 1 => quoted]
}

fn arb_filter_text() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        4 => Just(None),
        2 => prop::sample::select(vec![
            "a", "A", "ph", "ü", "Ü", "%", "&", " ", "\"", "ta", "'", "\\", "+", ";", "--", "it's", "ALPHA", "日", "🚀", "_", "%25",
        ]).prop_map(|s| Some(s.to_string())),
        1 => arb_text().prop_map(|s| Some(s.chars().take(4).collect())),
    ]
}

fn arb_range() -> impl Strategy<Value = Option<RangeSpec>> {
    prop_oneof![
        3 => Just(None),
        1 => (any::<bool>(), prop::option::of(-5i64..5), prop::option::of(-5i64..5))
            .prop_map(|(created, from_minutes, to_minutes)| Some(RangeSpec { created, from_minutes, to_minutes, anchor: None })),
        2 => (any::<bool>(), any::<usize>(), any::<bool>(), -1i64..=1, any::<bool>())
            .prop_map(|(created, target, from_created, offset, to)| Some(RangeSpec {
                created, from_minutes: None, to_minutes: None,
                anchor: Some(Anchor { target, from_created, offset, to }),
            })),
    ]
}

fn arb_malformed() -> impl Strategy<Value = Option<(String, String)>> {
    prop_oneof![
        12 => Just(None),
        1 => prop::sample::select(vec![
            ("page", "0"), ("page", "-1"), ("page", "x"), ("page", "1.5"), ("page", ""), ("page", "18446744073709551616"),
            ("size", "0"), ("size", "-3"), ("size", "1001"), ("size", "1e3"), ("size", "2.5"), ("size", ""),
            ("size", "99999999999999999999"), ("dir", "0"), ("dir", "up"), ("dir", ""), ("dir", "2"),
            ("orderBy", "Password"), ("orderBy", "name"), ("orderBy", ""), ("orderBy", "Name;--"), ("orderBy", "Name DESC"),
            ("CoworkerSetting_Coworker", "abc"), ("CoworkerSetting_Coworker", "9223372036854775808"),
            ("CoworkerSetting_Coworker", "1.5"),
            ("from_CoworkerSetting_CreatedOn", "2025-13-01T00:00"), ("to_CoworkerSetting_UpdatedOn", "yesterday"),
            ("from_CoworkerSetting_UpdatedOn", "'; --"), ("to_CoworkerSetting_CreatedOn", "2025-01-01T25:00"),
        ])
        .prop_map(|(k, v)| Some((k.to_string(), v.to_string()))),
    ]
}

pub fn arb_list() -> impl Strategy<Value = ListSpec> {
    let orders: Vec<String> = SortField::ALL
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    (
        (
            arb_customer(),
            prop_oneof![8 => Just(1u64), 4 => 2u64..5, 1 => Just(3_000_000_000u64)],
            1u64..7,
            prop::sample::select(orders),
            any::<bool>(),
        ),
        (
            arb_filter_text(),
            arb_filter_text(),
            arb_filter_text(),
            arb_range(),
            arb_malformed(),
        ),
    )
        .prop_map(
            |(
                (customer, page, size, order_by, ascending),
                (name, value, encrypted_value, range, malformed),
            )| ListSpec {
                customer,
                page,
                size,
                order_by,
                ascending,
                name,
                value,
                encrypted_value,
                range,
                malformed,
            },
        )
}

pub fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        5 => arb_body().prop_map(Step::Create),
        2 => (any::<usize>(), arb_body()).prop_map(|(target, body)| Step::Update { target, body }),
        1 => any::<usize>().prop_map(|target| Step::Delete { target }),
        2 => any::<usize>().prop_map(|target| Step::Get { target }),
        1 => prop::collection::vec(any::<usize>(), 0..4).prop_map(|targets| Step::Batch { targets }),
        4 => arb_list().prop_map(Step::List),
        1 => arb_invalid().prop_map(Step::Invalid),
    ]
}

/// A stateful sequence: up to `max` steps.
pub fn arb_steps(max: usize) -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(arb_step(), 1..=max)
}

/// The JSON of a body for `customer_id` with the run's Name prefix.
pub fn body_json(body: &Body, customer_id: i64, prefix: &str, id: Option<i64>) -> Value {
    let mut v = json!({"CoworkerId": customer_id, "Name": format!("{prefix}{}", body.name)});
    for (k, o) in [
        ("Value", &body.value),
        ("EncryptedValue", &body.encrypted_value),
    ] {
        match o {
            Opt::Absent => {}
            Opt::Null => v[k] = Value::Null,
            Opt::Text(s) => v[k] = json!(s),
        }
    }
    if let Some(id) = id {
        v["Id"] = json!(id);
    }
    v
}
