//! Micro-benchmarks of the hot paths (divan): record serialisation, list query
//! parsing and execution (indexed and scanning shapes), create-body validation, and
//! schema validation as the contract runner does it.
//!
//! cargo bench --bench hot_paths

use divan::{Bencher, black_box};
use nexudus_mock::query::ListQuery;
use nexudus_mock::resource::{self, Record, SettingInput, Timestamp};
use nexudus_mock::schemas::Schema;
use nexudus_mock::store::Store;

fn main() {
    divan::main();
}

fn record(i: i64) -> Record {
    Record::new(
        i,
        SettingInput {
            coworker_id: 100_000 + i / 100,
            name: format!("Portal.Theme.{:02}", i % 100),
            value: Some(format!("value {i} für Kunde")),
            encrypted_value: (i % 5 == 0).then(|| "enc:v1:0123456789abcdef==".to_string()),
        },
        "admin@example.com",
        Timestamp(1_736_937_000 + i),
    )
}

fn store(n: i64) -> Store {
    Store::new((1..=n).map(record).collect()).unwrap()
}

#[divan::bench]
fn serialise_a_record(b: Bencher) {
    let r = record(42);
    b.bench(|| black_box(&r).to_json_bytes());
}

#[divan::bench]
fn validate_a_create_body(b: Bencher) {
    let body = br#"{"CoworkerId":1001,"Name":"Portal.Theme","Value":"dark","EncryptedValue":null}"#;
    b.bench(|| resource::parse_create(black_box(body)));
}

#[divan::bench]
fn parse_a_list_query(b: Bencher) {
    let q = "page=2&size=25&orderBy=Name&dir=-1&CoworkerSetting_Coworker=100005&from_CoworkerSetting_CreatedOn=2025-01-01T00:00";
    b.bench(|| ListQuery::parse(black_box(q)));
}

const SIZES: &[i64] = &[1_000, 100_000];

#[divan::bench(args = SIZES)]
fn list_one_customer_by_name(b: Bencher, n: i64) {
    let s = store(n);
    let q = ListQuery::parse("size=25&CoworkerSetting_Coworker=100005&orderBy=Name").unwrap();
    b.bench(|| s.list(black_box(&q)).total);
}

#[divan::bench(args = SIZES)]
fn list_default_order_page_3(b: Bencher, n: i64) {
    let s = store(n);
    let q = ListQuery::parse("size=25&page=3").unwrap();
    b.bench(|| s.list(black_box(&q)).total);
}

#[divan::bench(args = SIZES)]
fn list_substring_filter_sorted_by_value(b: Bencher, n: i64) {
    let s = store(n);
    let q = ListQuery::parse("size=25&CoworkerSetting_Name=theme.4&orderBy=Value&dir=-1").unwrap();
    b.bench(|| s.list(black_box(&q)).total);
}

#[divan::bench]
fn schema_validate_a_list_page_of_25(b: Bencher) {
    let s = store(1_000);
    let q = ListQuery::parse("size=25").unwrap();
    let records: Vec<serde_json::Value> = s
        .list(&q)
        .records
        .iter()
        .map(|r| serde_json::from_slice(r.json()).unwrap())
        .collect();
    let page = serde_json::json!({"Records": records, "CurrentPageSize": 25, "CurrentPage": 1, "CurrentOrderField": "Id",
        "CurrentSortDirection": 1, "FirstItem": 1, "HasNextPage": true, "HasPreviousPage": false, "LastItem": 25,
        "PageNumber": 1, "PageSize": 25, "TotalItems": 1000, "TotalPages": 40});
    Schema::List.validate(&page).unwrap();
    b.bench(|| Schema::List.validate(black_box(&page)));
}
