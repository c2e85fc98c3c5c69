//! A proptest model test: random sequences of create/update/delete/get/list against
//! the running mock and a plain in-test model (written here, independently of the
//! crate's query code). Every read and every list page must equal the model's.
//! 96 cases of up to 40 steps each.

use std::cmp::Ordering;
use std::time::Duration;

use nexudus_mock::client::{HttpClient, HttpRequest};
use nexudus_mock::fixtures::Fixtures;
use nexudus_mock::resource::BASE_PATH;
use nexudus_mock::schemas::Schema;
use nexudus_mock::server::{App, RunningServer, ServerConfig};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::{Value, json};

const CASES: u32 = 96;

#[derive(Debug, Clone)]
struct Row {
    id: i64,
    coworker: i64,
    name: String,
    value: Option<String>,
}

#[derive(Debug, Clone)]
enum Op {
    Create {
        coworker: i64,
        name: String,
        value: Option<String>,
    },
    Update {
        pick: usize,
        coworker: i64,
        name: String,
        value: Option<String>,
    },
    Delete {
        pick: usize,
    },
    Get {
        pick: usize,
    },
    List {
        coworker: Option<i64>,
        name: Option<String>,
        order: &'static str,
        asc: bool,
        page: u64,
        size: u64,
    },
}

fn arb_name() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["a", "A", "B", "b", "ab", "Ba", "c", "é", "É", "A b"])
        .prop_map(String::from)
}

fn arb_value() -> impl Strategy<Value = Option<String>> {
    prop::option::of(
        prop::sample::select(vec!["x", "X", "X y", "", "zz", "ü"]).prop_map(String::from),
    )
}

fn arb_op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (1i64..=3, arb_name(), arb_value()).prop_map(|(coworker, name, value)| Op::Create { coworker, name, value }),
        2 => (any::<usize>(), 1i64..=3, arb_name(), arb_value()).prop_map(|(pick, coworker, name, value)| Op::Update { pick, coworker, name, value }),
        1 => any::<usize>().prop_map(|pick| Op::Delete { pick }),
        1 => any::<usize>().prop_map(|pick| Op::Get { pick }),
        3 => (prop::option::of(1i64..=3), prop::option::of(prop::sample::select(vec!["a", "B", "é", "zz"]).prop_map(String::from)),
              prop::sample::select(vec!["Id", "Name", "Value", "CoworkerId"]), any::<bool>(), 1u64..4, 1u64..5)
            .prop_map(|(coworker, name, order, asc, page, size)| Op::List { coworker, name, order, asc, page, size }),
    ]
}

/// Text sorts case-insensitively: `str::to_lowercase` here, a different routine from
/// the crate's per-character fold, agreeing with it on these names (no final sigma).
fn model_cmp(a: &Row, b: &Row, order: &str, asc: bool) -> Ordering {
    let fold = |s: &Option<String>| s.as_ref().map(|s| s.to_lowercase());
    let o = match order {
        "Name" => a.name.to_lowercase().cmp(&b.name.to_lowercase()),
        "Value" => fold(&a.value).cmp(&fold(&b.value)), // None < Some: nulls first
        "CoworkerId" => a.coworker.cmp(&b.coworker),
        _ => a.id.cmp(&b.id),
    };
    (if asc { o } else { o.reverse() }).then(a.id.cmp(&b.id))
}

async fn send(client: &HttpClient, req: HttpRequest) -> (u16, Value) {
    let r = client
        .send(&req.header("Authorization", "Bearer admin-token"))
        .await
        .expect("request");
    (r.status, r.json().expect("json body"))
}

async fn run_case(client: &HttpClient, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut rows: Vec<Row> = Vec::new();
    let pick = |rows: &Vec<Row>, p: usize| {
        if rows.is_empty() {
            1
        } else {
            rows[p % rows.len()].id
        }
    };
    for (step, op) in ops.iter().enumerate() {
        let ctx = format!("step {step}: {op:?}");
        match op {
            Op::Create {
                coworker,
                name,
                value,
            } => {
                let body = json!({"CoworkerId": coworker, "Name": name, "Value": value});
                let (status, v) =
                    send(client, HttpRequest::new("POST", BASE_PATH).json(&body)).await;
                let dup = rows
                    .iter()
                    .any(|r| r.coworker == *coworker && r.name == *name);
                if dup {
                    prop_assert_eq!(status, 400, "{}", ctx);
                    prop_assert_eq!(&v["Errors"][0]["PropertyName"], "Name", "{}", ctx);
                } else {
                    prop_assert_eq!(status, 200, "{} {}", ctx, v);
                    prop_assert!(Schema::Action.validate(&v).is_ok(), "{}", ctx);
                    let id = v["Value"]["Id"].as_i64().unwrap();
                    prop_assert!(rows.iter().all(|r| r.id < id), "{}: ids must grow", ctx);
                    rows.push(Row {
                        id,
                        coworker: *coworker,
                        name: name.clone(),
                        value: value.clone(),
                    });
                }
            }
            Op::Update {
                pick: p,
                coworker,
                name,
                value,
            } => {
                let id = pick(&rows, *p);
                let body = json!({"Id": id, "CoworkerId": coworker, "Name": name, "Value": value});
                let (status, v) =
                    send(client, HttpRequest::new("PUT", BASE_PATH).json(&body)).await;
                let exists = rows.iter().any(|r| r.id == id);
                let dup = rows
                    .iter()
                    .any(|r| r.id != id && r.coworker == *coworker && r.name == *name);
                if !exists {
                    prop_assert_eq!(status, 404, "{}", ctx);
                } else if dup {
                    prop_assert_eq!(status, 400, "{}", ctx);
                    prop_assert_eq!(&v["Errors"][0]["PropertyName"], "Name", "{}", ctx);
                } else {
                    prop_assert_eq!(status, 200, "{} {}", ctx, v);
                    let row = rows.iter_mut().find(|r| r.id == id).unwrap();
                    row.coworker = *coworker;
                    row.name = name.clone();
                    row.value = value.clone();
                }
            }
            Op::Delete { pick: p } => {
                let id = pick(&rows, *p);
                let (status, _) = send(
                    client,
                    HttpRequest::new("DELETE", format!("{BASE_PATH}/{id}")),
                )
                .await;
                let before = rows.len();
                rows.retain(|r| r.id != id);
                prop_assert_eq!(
                    status,
                    if rows.len() < before { 200 } else { 404 },
                    "{}",
                    ctx
                );
            }
            Op::Get { pick: p } => {
                let id = pick(&rows, *p);
                let (status, v) =
                    send(client, HttpRequest::new("GET", format!("{BASE_PATH}/{id}"))).await;
                match rows.iter().find(|r| r.id == id) {
                    Some(row) => {
                        prop_assert_eq!(status, 200, "{}", ctx);
                        prop_assert!(Schema::Record.validate(&v).is_ok(), "{}", ctx);
                        prop_assert_eq!(
                            (
                                v["CoworkerId"].as_i64(),
                                v["Name"].as_str(),
                                v["Value"].as_str()
                            ),
                            (
                                Some(row.coworker),
                                Some(row.name.as_str()),
                                row.value.as_deref()
                            ),
                            "{}",
                            ctx
                        );
                    }
                    None => prop_assert_eq!(status, 404, "{}", ctx),
                }
            }
            Op::List {
                coworker,
                name,
                order,
                asc,
                page,
                size,
            } => {
                let mut q = format!(
                    "page={page}&size={size}&orderBy={order}&dir={}",
                    if *asc { 1 } else { -1 }
                );
                if let Some(c) = coworker {
                    q.push_str(&format!("&CoworkerSetting_Coworker={c}"));
                }
                if let Some(n) = name {
                    q.push_str(&format!("&CoworkerSetting_Name={}", url_escape(n)));
                }
                let (status, v) =
                    send(client, HttpRequest::new("GET", format!("{BASE_PATH}?{q}"))).await;
                prop_assert_eq!(status, 200, "{}", ctx);
                prop_assert!(Schema::List.validate(&v).is_ok(), "{}", ctx);
                let mut expected: Vec<&Row> = rows
                    .iter()
                    .filter(|r| coworker.is_none_or(|c| r.coworker == c))
                    .filter(|r| {
                        name.as_ref()
                            .is_none_or(|n| r.name.to_lowercase().contains(&n.to_lowercase()))
                    })
                    .collect();
                expected.sort_by(|a, b| model_cmp(a, b, order, *asc));
                let total = expected.len() as u64;
                let page_ids: Vec<i64> = expected
                    .iter()
                    .skip(((page - 1) * size) as usize)
                    .take(*size as usize)
                    .map(|r| r.id)
                    .collect();
                let got: Vec<i64> = v["Records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["Id"].as_i64().unwrap())
                    .collect();
                prop_assert_eq!(&got, &page_ids, "{} {}", ctx, q);
                prop_assert_eq!(v["TotalItems"].as_u64(), Some(total), "{}", ctx);
                prop_assert_eq!(
                    v["TotalPages"].as_u64(),
                    Some(total.div_ceil(*size)),
                    "{}",
                    ctx
                );
                let first = if got.is_empty() {
                    0
                } else {
                    (page - 1) * size + 1
                };
                let last = if got.is_empty() {
                    0
                } else {
                    first + got.len() as u64 - 1
                };
                prop_assert_eq!(
                    (v["FirstItem"].as_u64(), v["LastItem"].as_u64()),
                    (Some(first), Some(last)),
                    "{}",
                    ctx
                );
                prop_assert_eq!(
                    v["HasNextPage"].as_bool(),
                    Some(*page < total.div_ceil(*size)),
                    "{}",
                    ctx
                );
                prop_assert_eq!(v["HasPreviousPage"].as_bool(), Some(*page > 1), "{}", ctx);
            }
        }
    }
    Ok(())
}

fn url_escape(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[test]
fn random_operation_sequences_agree_with_a_plain_model() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let fixtures = Fixtures {
        records: vec![],
        ..Fixtures::builtin()
    };
    let server = rt
        .block_on(RunningServer::start(
            "127.0.0.1:0".parse().unwrap(),
            App::new(fixtures, ServerConfig::default()).unwrap(),
        ))
        .unwrap();
    let client = HttpClient::new(&server.base_url(), Duration::from_secs(10));
    let config = Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    };
    let mut runner =
        TestRunner::new_with_rng(config, TestRng::from_seed(RngAlgorithm::ChaCha, &[7; 32]));
    let result = runner.run(&prop::collection::vec(arb_op(), 1..40), |ops| {
        // Each case starts from an empty store; Ids keep growing across cases.
        server.app.store.replace_all(vec![]).unwrap();
        rt.block_on(run_case(&client, &ops))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
