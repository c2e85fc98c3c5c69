//! Properties a correct list response has, stated on the response alone: the paging
//! fields agree with each other and with the records returned, and the records are
//! in the asked order with ties by Id. The runner checks these instead of re-running
//! a store, so a target that is right by other means is not failed.

use std::cmp::Ordering;

use serde_json::Value;

/// Every disagreement among the paging fields of a list page asked with `page` and `size`.
pub fn paging_problems(v: &Value, page: u64, size: u64) -> Vec<String> {
    let mut problems = Vec::new();
    let n = |k: &str| v[k].as_u64();
    let count = v["Records"].as_array().map_or(0, |r| r.len() as u64);
    let total = n("TotalItems").unwrap_or(0);
    let mut want = |k: &str, expected: u64| {
        if n(k) != Some(expected) {
            problems.push(format!("{k} is {} but should be {expected}", v[k]));
        }
    };
    want("PageNumber", page);
    want("CurrentPage", page);
    want("PageSize", size);
    want("CurrentPageSize", size);
    want("TotalPages", total.div_ceil(size));
    let expected_count = total.saturating_sub((page - 1) * size).min(size);
    if count != expected_count {
        problems.push(format!(
            "the page holds {count} records but TotalItems {total}, page {page} and size {size} mean {expected_count}"
        ));
    }
    let (first, last) = if count == 0 {
        (0, 0)
    } else {
        ((page - 1) * size + 1, (page - 1) * size + count)
    };
    let mut want = |k: &str, expected: u64| {
        if n(k) != Some(expected) {
            problems.push(format!("{k} is {} but should be {expected}", v[k]));
        }
    };
    want("FirstItem", first);
    want("LastItem", last);
    let pages = total.div_ceil(size);
    let mut want_bool = |k: &str, expected: bool| {
        if v[k].as_bool() != Some(expected) {
            problems.push(format!("{k} is {} but should be {expected}", v[k]));
        }
    };
    want_bool("HasNextPage", page < pages);
    want_bool("HasPreviousPage", page > 1);
    problems
}

/// Orders two field values: null first, numbers by value, strings by `text`.
fn compare_with(a: &Value, b: &Value, text: fn(&str, &str) -> Ordering) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => text(x, y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// Text compared case-insensitively, the order the mock settles on (the crate's
/// one definition of it).
pub fn fold_cmp(a: &str, b: &str) -> Ordering {
    crate::query::compare_text(a, b)
}

fn code_point_cmp(a: &str, b: &str) -> Ordering {
    a.cmp(b)
}

/// Orders two field values as the mock settles it: null first, numbers by value,
/// text case-insensitively.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    compare_with(a, b, fold_cmp)
}

/// Text whose relative order every common collation agrees on once case is set
/// aside: ASCII letters, digits and a little punctuation. Accents, symbols and
/// scripts sort differently from one database collation to the next, which the docs
/// leave open.
fn collation_neutral(v: &Value) -> bool {
    match v {
        Value::String(s) => s
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b'.' | b'@' | b' ')),
        _ => true,
    }
}

/// The first neighbours out of order under `cmp` (ties by Id ascending when `ties`).
fn first_disorder(
    records: &[&Value],
    field: &str,
    ascending: bool,
    ties: bool,
    text: fn(&str, &str) -> Ordering,
) -> Option<String> {
    records.windows(2).find_map(|w| {
        let by_field = compare_with(&w[0][field], &w[1][field], text);
        let by_field = if ascending {
            by_field
        } else {
            by_field.reverse()
        };
        let bad = if ties {
            by_field.then(compare_with(&w[0]["Id"], &w[1]["Id"], text)) != Ordering::Less
        } else {
            by_field == Ordering::Greater
        };
        bad.then(|| {
            format!(
                "Id {} ({field} {}) comes before Id {} ({field} {})",
                w[0]["Id"],
                crate::client::truncate(&w[0][field].to_string(), 80),
                w[1]["Id"],
                crate::client::truncate(&w[1][field].to_string(), 80)
            )
        })
    })
}

/// What the docs make of order: the page is sorted by `field` in the asked direction
/// under some consistent text order (case-insensitive or by code point), nulls first
/// ascending. Ties may fall either way and text outside [`collation_neutral`] is
/// not compared.
pub fn order_problem(records: &[Value], field: &str, ascending: bool) -> Option<String> {
    let comparable: Vec<&Value> = records
        .iter()
        .filter(|r| collation_neutral(&r[field]))
        .collect();
    let folded = first_disorder(&comparable, field, ascending, false, fold_cmp);
    let by_code_point = first_disorder(&comparable, field, ascending, false, code_point_cmp);
    match (folded, by_code_point) {
        (Some(p), Some(_)) => Some(p),
        _ => None,
    }
}

/// The order the mock settles on, over every record: text case-insensitive, ties
/// (after case folding too) by Id ascending in both directions.
pub fn settled_order_problem(records: &[Value], field: &str, ascending: bool) -> Option<String> {
    let all: Vec<&Value> = records.iter().collect();
    first_disorder(&all, field, ascending, true, fold_cmp)
}

/// The Ids of a list page's records.
pub fn ids(v: &Value) -> Vec<i64> {
    v["Records"]
        .as_array()
        .map(|r| r.iter().filter_map(|x| x["Id"].as_i64()).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_correct_partial_page_has_no_paging_problems_and_an_off_by_one_does() {
        let good = json!({"Records":[{"Id":7}],"PageNumber":3,"CurrentPage":3,"PageSize":3,"CurrentPageSize":3,
            "TotalItems":7,"TotalPages":3,"FirstItem":7,"LastItem":7,"HasNextPage":false,"HasPreviousPage":true});
        assert!(paging_problems(&good, 3, 3).is_empty());
        let mut bad = good.clone();
        bad["FirstItem"] = json!(6);
        assert_eq!(paging_problems(&bad, 3, 3).len(), 1);
    }

    #[test]
    fn ties_break_by_id_ascending_in_both_directions() {
        let recs = vec![
            json!({"Id":1,"Value":null}),
            json!({"Id":3,"Value":"b"}),
            json!({"Id":2,"Value":"b"}),
        ];
        assert!(settled_order_problem(&recs, "Value", true).is_some());
        assert!(order_problem(&recs, "Value", true).is_none());
        let recs = vec![
            json!({"Id":2,"Value":"b"}),
            json!({"Id":3,"Value":"b"}),
            json!({"Id":1,"Value":null}),
        ];
        assert!(settled_order_problem(&recs, "Value", false).is_none());
    }

    #[test]
    fn either_text_order_passes_the_docs_but_a_shuffle_does_not() {
        let page = |names: &[&str]| -> Vec<Value> {
            names
                .iter()
                .enumerate()
                .map(|(i, n)| json!({"Id": i, "Name": n}))
                .collect()
        };
        let code_point = page(&["Beta", "alpha", "gamma"]);
        let folded = page(&["alpha", "Beta", "gamma"]);
        assert!(order_problem(&code_point, "Name", true).is_none());
        assert!(order_problem(&folded, "Name", true).is_none());
        assert!(settled_order_problem(&code_point, "Name", true).is_some());
        assert!(settled_order_problem(&folded, "Name", true).is_none());
        assert!(order_problem(&page(&["gamma", "alpha", "Beta"]), "Name", true).is_some());
        // Accents are not compared at the documented level.
        assert!(order_problem(&page(&["zeta", "\u{e9}ta"]), "Name", true).is_none());
    }
}
