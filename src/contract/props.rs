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

/// Orders two field values: null first, numbers by value, strings by code point.
pub fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Null, Value::Null) => Ordering::Equal,
        (Value::Null, _) => Ordering::Less,
        (_, Value::Null) => Ordering::Greater,
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .unwrap_or(0.0)
            .partial_cmp(&y.as_f64().unwrap_or(0.0))
            .unwrap_or(Ordering::Equal),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// The first pair of neighbours out of order for `field` (ties by Id ascending).
pub fn order_problem(records: &[Value], field: &str, ascending: bool) -> Option<String> {
    records.windows(2).find_map(|w| {
        let by_field = compare_values(&w[0][field], &w[1][field]);
        let by_field = if ascending {
            by_field
        } else {
            by_field.reverse()
        };
        let o = by_field.then(compare_values(&w[0]["Id"], &w[1]["Id"]));
        (o != Ordering::Less).then(|| {
            format!(
                "Id {} ({field} {}) comes before Id {} ({field} {})",
                w[0]["Id"], w[0][field], w[1]["Id"], w[1][field]
            )
        })
    })
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
        assert!(order_problem(&recs, "Value", true).is_some());
        let recs = vec![
            json!({"Id":2,"Value":"b"}),
            json!({"Id":3,"Value":"b"}),
            json!({"Id":1,"Value":null}),
        ];
        assert!(order_problem(&recs, "Value", false).is_none());
    }
}
