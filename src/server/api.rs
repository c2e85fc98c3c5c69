//! The API: routing, auth and role checks, and the handler for each endpoint, on the
//! owned request and response types. The rules come from `resource`, `query`,
//! `auth` and `store`; this file only wires them to paths and statuses.

use bytes::{BufMut, BytesMut};
use serde_json::{Value, json};

use crate::auth::{Auth, AuthError, Role};
use crate::query::{
    IntegerText, ListQuery, PageInfo, decode_component, has_param, integer_text, query_params,
};
use crate::resource::{
    self, FieldError, MSG_CREATED, MSG_DELETED, MSG_UPDATED, Timestamp, action_envelope,
    error_body, msg, validation_envelope,
};
use crate::server::App;
use crate::server::types::{ApiRequest, ApiResponse, Method};
use crate::store::WriteError;

pub const TOKEN_PATH: &str = "/api/token";
/// The most ids one batch get may ask for.
pub const MAX_BATCH: usize = 1000;

const ALLOW_COLLECTION: &str = "GET, POST, PUT, OPTIONS";
const ALLOW_ITEM: &str = "GET, DELETE, OPTIONS";
const ALLOW_TOKEN: &str = "POST, OPTIONS";

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Collection,
    Item(i64),
    Token,
    NotFound,
}

impl Route {
    pub fn of(path: &str) -> Route {
        if path == TOKEN_PATH {
            return Route::Token;
        }
        let Some(rest) = path.strip_prefix(resource::BASE_PATH) else {
            return Route::NotFound;
        };
        match rest {
            "" | "/" => Route::Collection,
            _ => match rest
                .strip_prefix('/')
                .map(|s| s.strip_suffix('/').unwrap_or(s))
            {
                Some(seg) if is_plain_integer(seg) => match seg.parse::<i64>() {
                    Ok(id) if id > 0 => Route::Item(id),
                    _ => Route::NotFound,
                },
                _ => Route::NotFound,
            },
        }
    }

    /// The methods a route answers, for `Allow` and CORS preflight.
    pub fn allow(self) -> Option<&'static str> {
        match self {
            Route::Collection => Some(ALLOW_COLLECTION),
            Route::Item(_) => Some(ALLOW_ITEM),
            Route::Token => Some(ALLOW_TOKEN),
            Route::NotFound => None,
        }
    }
}

fn is_plain_integer(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Answers one request. Never panics on any input it can be sent (the server
/// layer still catches a panic, as a last line of defence).
pub fn handle(app: &App, req: &ApiRequest) -> ApiResponse {
    let route = Route::of(&req.path);
    if route == Route::NotFound {
        return not_found(&format!("No resource is found at {}.", req.path));
    }
    let method = if req.method == Method::Head {
        Method::Get
    } else {
        req.method
    };
    if method == Method::Options {
        return ApiResponse::empty(204).with_header("allow", route.allow().unwrap_or_default());
    }
    match (route, method) {
        (Route::Token, Method::Post) => token(app, req),
        // Batch get is a read: it needs Read, not List.
        (Route::Collection, Method::Get) if has_param(&req.query, "id") => {
            guarded(app, req, Role::Read, |_| batch(app, req))
        }
        (Route::Collection, Method::Get) => guarded(app, req, Role::List, |_| list(app, req)),
        (Route::Collection, Method::Post) => {
            guarded(app, req, Role::Create, |by| create(app, req, by))
        }
        (Route::Collection, Method::Put) => {
            guarded(app, req, Role::Edit, |by| update(app, req, by))
        }
        (Route::Item(id), Method::Get) => guarded(app, req, Role::Read, |_| get_one(app, id)),
        (Route::Item(id), Method::Delete) => {
            guarded(app, req, Role::Delete, |by| delete(app, id, by))
        }
        (route, _) => {
            let allow = route.allow().unwrap_or_default();
            ApiResponse::json(
                405,
                &error_body(405, &format!("The requested resource does not support http method '{}'. Allowed: {allow}.", req.method_name)),
            )
            .with_header("allow", allow)
        }
    }
}

/// Authenticates, checks the role, then runs the handler with the user's e-mail.
fn guarded(
    app: &App,
    req: &ApiRequest,
    role: Role,
    f: impl FnOnce(&str) -> ApiResponse,
) -> ApiResponse {
    match app
        .auth
        .authenticate(req.authorization.as_deref())
        .and_then(|u| Auth::authorize(u, role).map(|_| u))
    {
        Ok(user) => f(&user.email),
        Err(e) => unauthorized(&e),
    }
}

pub fn unauthorized(e: &AuthError) -> ApiResponse {
    ApiResponse::json(401, &error_body(401, &e.to_string()))
        .with_header("www-authenticate", "Bearer, Basic realm=\"nexudus-mock\"")
}

pub fn not_found(message: &str) -> ApiResponse {
    ApiResponse::json(404, &error_body(404, message))
}

pub fn validation_failed(errors: &[FieldError]) -> ApiResponse {
    ApiResponse::json(400, &validation_envelope(errors))
}

fn create(app: &App, req: &ApiRequest, by: &str) -> ApiResponse {
    let input = match resource::parse_create(&req.body) {
        Ok(i) => i,
        Err(errors) => return validation_failed(&errors),
    };
    let now = Timestamp::now();
    match app.store.create(input, by, now) {
        Ok(stored) => app.after_write(ApiResponse::json(
            200,
            &action_envelope(MSG_CREATED, stored.record.id, now, by),
        )),
        Err(e) => write_error(e),
    }
}

fn update(app: &App, req: &ApiRequest, by: &str) -> ApiResponse {
    let (id, input) = match resource::parse_update(&req.body) {
        Ok(x) => x,
        Err(errors) => return validation_failed(&errors),
    };
    let now = Timestamp::now();
    match app.store.update(id, input, by, now) {
        Ok(_) => app.after_write(ApiResponse::json(
            200,
            &action_envelope(MSG_UPDATED, id, now, by),
        )),
        Err(e) => write_error(e),
    }
}

fn delete(app: &App, id: i64, by: &str) -> ApiResponse {
    match app.store.delete(id) {
        Ok(_) => app.after_write(ApiResponse::json(
            200,
            &action_envelope(MSG_DELETED, id, Timestamp::now(), by),
        )),
        Err(e) => write_error(e),
    }
}

fn write_error(e: WriteError) -> ApiResponse {
    match e {
        WriteError::Duplicate { name, .. } => {
            validation_failed(&[resource::duplicate_name_error(&name)])
        }
        WriteError::NotFound(id) => not_found(&format!("No CoworkerSetting has Id {id}.")),
        // The store is full, not the request wrong: 507 Insufficient Storage.
        WriteError::IdsExhausted => ApiResponse::json(
            507,
            &error_body(
                507,
                "No Id is left to give a new CoworkerSetting: the records hold Ids up to the 64-bit limit.",
            ),
        ),
    }
}

fn get_one(app: &App, id: i64) -> ApiResponse {
    match app.store.get(id) {
        Some(stored) => ApiResponse::raw_json(200, stored.json().clone()),
        None => not_found(&format!("No CoworkerSetting has Id {id}.")),
    }
}

fn list(app: &App, req: &ApiRequest) -> ApiResponse {
    let q = match ListQuery::parse(&req.query) {
        Ok(q) => q,
        Err(errors) => return validation_failed(&errors),
    };
    let result = app.store.list(&q);
    let info = PageInfo::new(q.page, q.size, result.total, result.records.len() as u64);
    let records_len: usize = result.records.iter().map(|r| r.json().len() + 1).sum();
    let mut out = BytesMut::with_capacity(records_len + 320);
    out.put_slice(b"{\"Records\":[");
    for (i, r) in result.records.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(r.json());
    }
    let tail = ListTail {
        current_page_size: q.size,
        current_page: q.page,
        current_order_field: q.order_by.name(),
        current_sort_direction: if q.ascending { 1 } else { -1 },
        first_item: info.first_item,
        has_next_page: info.has_next,
        has_previous_page: info.has_previous,
        last_item: info.last_item,
        page_number: q.page,
        page_size: q.size,
        total_items: info.total_items,
        total_pages: info.total_pages,
    };
    out.put_slice(b"],");
    tail.write(&mut out);
    ApiResponse::raw_json(200, out.freeze())
}

/// The list envelope after `Records`, in the vendor's field order.
#[cfg_attr(test, derive(serde::Serialize, Debug))]
#[cfg_attr(test, serde(rename_all = "PascalCase"))]
struct ListTail {
    current_page_size: u64,
    current_page: u64,
    current_order_field: &'static str,
    current_sort_direction: i8,
    first_item: u64,
    has_next_page: bool,
    has_previous_page: bool,
    last_item: u64,
    page_number: u64,
    page_size: u64,
    total_items: u64,
    total_pages: u64,
}

impl ListTail {
    /// Writes the fields and the closing brace, as serde would (a test compares
    /// them): all numbers, booleans and a field name, so nothing needs escaping.
    /// serde's per-key escaping scan was about a twentieth of a list's CPU.
    fn write(&self, out: &mut BytesMut) {
        let mut n = itoa::Buffer::new();
        let mut num = |out: &mut BytesMut, key: &[u8], v: u64| {
            out.put_slice(key);
            out.put_slice(n.format(v).as_bytes());
        };
        let flag = |out: &mut BytesMut, key: &[u8], v: bool| {
            out.put_slice(key);
            out.put_slice(if v { b"true" } else { b"false" });
        };
        num(out, b"\"CurrentPageSize\":", self.current_page_size);
        num(out, b",\"CurrentPage\":", self.current_page);
        out.put_slice(b",\"CurrentOrderField\":\"");
        out.put_slice(self.current_order_field.as_bytes());
        out.put_slice(if self.current_sort_direction > 0 {
            b"\",\"CurrentSortDirection\":1"
        } else {
            b"\",\"CurrentSortDirection\":-1"
        });
        num(out, b",\"FirstItem\":", self.first_item);
        flag(out, b",\"HasNextPage\":", self.has_next_page);
        flag(out, b",\"HasPreviousPage\":", self.has_previous_page);
        num(out, b",\"LastItem\":", self.last_item);
        num(out, b",\"PageNumber\":", self.page_number);
        num(out, b",\"PageSize\":", self.page_size);
        num(out, b",\"TotalItems\":", self.total_items);
        num(out, b",\"TotalPages\":", self.total_pages);
        out.put_u8(b'}');
    }
}

/// Parses the vendor's batch form `id=[1,2,3]` (brackets optional).
pub fn parse_batch_ids(query: &str) -> Result<Vec<i64>, FieldError> {
    // The last `id` wins, as with every repeated parameter; only it is decoded.
    let raw = query_params(query)
        .filter(|(k, _)| k == "id")
        .last()
        .map(|(_, v)| decode_component(v).into_owned())
        .unwrap_or_default();
    let bad = |msg: &str| FieldError::new("id", Value::String(raw.clone()), msg);
    let inner = raw.trim();
    let inner = inner
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(inner)
        .trim();
    if inner.is_empty() {
        return Ok(vec![]);
    }
    let mut ids = Vec::with_capacity(16);
    for part in inner.split(',') {
        match integer_text(part.trim()) {
            IntegerText::Int(id) => ids.push(id),
            IntegerText::OutOfRange => return Err(bad(msg::INTEGER_OUT_OF_RANGE)),
            IntegerText::NotInteger => return Err(bad(msg::BATCH_IDS)),
        }
        if ids.len() > MAX_BATCH {
            return Err(bad(msg::BATCH_TOO_MANY));
        }
    }
    Ok(ids)
}

fn batch(app: &App, req: &ApiRequest) -> ApiResponse {
    // The list parameters do not shape a batch, but a bad one is still named, so the
    // same query string is valid or not whichever form it takes.
    let mut errors = ListQuery::parse(&req.query).err().unwrap_or_default();
    let ids = match parse_batch_ids(&req.query) {
        Ok(ids) if errors.is_empty() => ids,
        Ok(_) => return validation_failed(&errors),
        Err(e) => {
            errors.push(e);
            return validation_failed(&errors);
        }
    };
    let records = app.store.batch(&ids);
    let mut out =
        BytesMut::with_capacity(records.iter().map(|r| r.json().len() + 1).sum::<usize>() + 2);
    out.put_u8(b'[');
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(r.json());
    }
    out.put_u8(b']');
    ApiResponse::raw_json(200, out.freeze())
}

fn token(app: &App, req: &ApiRequest) -> ApiResponse {
    let oauth_error = |error: &str, description: &str| {
        ApiResponse::json(
            400,
            &json!({"error": error, "error_description": description}),
        )
    };
    let is_form = req.content_type.as_deref().is_some_and(|c| {
        c.to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    if !is_form {
        return oauth_error(
            "unsupported_grant_type",
            "send a form-encoded body (Content-Type: application/x-www-form-urlencoded) with grant_type=password or grant_type=refresh_token",
        );
    }
    let mut grant_type = None;
    let (mut username, mut password, mut refresh) = (None, None, None);
    for (k, v) in form_urlencoded::parse(&req.body) {
        match k.as_ref() {
            "grant_type" => grant_type = Some(v.into_owned()),
            "username" => username = Some(v.into_owned()),
            "password" => password = Some(v.into_owned()),
            "refresh_token" => refresh = Some(v.into_owned()),
            _ => {}
        }
    }
    let grant = match grant_type.as_deref() {
        Some("password") => match (username, password) {
            (Some(u), Some(p)) => app
                .auth
                .password_grant(&u, &p)
                .ok_or("the user name or password is incorrect"),
            _ => {
                return oauth_error(
                    "invalid_request",
                    "grant_type=password needs username and password",
                );
            }
        },
        Some("refresh_token") => match refresh {
            Some(r) => app
                .auth
                .refresh_grant(&r)
                .ok_or("the refresh token is not valid"),
            None => {
                return oauth_error(
                    "invalid_request",
                    "grant_type=refresh_token needs refresh_token",
                );
            }
        },
        _ => {
            return oauth_error(
                "unsupported_grant_type",
                "grant_type must be password or refresh_token",
            );
        }
    };
    match grant {
        Ok(g) => ApiResponse::json(200, &serde_json::to_value(g).expect("grant serialises"))
            .with_header("cache-control", "no-store"),
        Err(why) => oauth_error("invalid_grant", why),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::SortField;

    proptest::proptest! {
        /// 256 cases: the hand-written list tail is byte for byte what serde writes
        /// for the same fields (less serde's opening brace), whatever the numbers,
        /// flags, direction and order field.
        #[test]
        fn the_list_tail_is_written_as_serde_writes_it(
            nums in proptest::array::uniform8(proptest::num::u64::ANY),
            next: bool,
            previous: bool,
            ascending: bool,
            field in proptest::sample::select(vec![
                SortField::Id, SortField::CoworkerId, SortField::Name, SortField::Value,
                SortField::EncryptedValue, SortField::CreatedOn, SortField::UpdatedOn,
                SortField::UpdatedBy, SortField::SystemId,
            ]),
        ) {
            let tail = ListTail {
                current_page_size: nums[0],
                current_page: nums[1],
                current_order_field: field.name(),
                current_sort_direction: if ascending { 1 } else { -1 },
                first_item: nums[2],
                has_next_page: next,
                has_previous_page: previous,
                last_item: nums[3],
                page_number: nums[4],
                page_size: nums[5],
                total_items: nums[6],
                total_pages: nums[7],
            };
            let mut out = BytesMut::new();
            tail.write(&mut out);
            let want = serde_json::to_vec(&tail).unwrap();
            proptest::prop_assert_eq!(&out[..], &want[1..], "{:?}", tail);
        }
    }

    #[test]
    fn routes_are_recognised_and_non_integer_ids_are_not_found() {
        assert_eq!(Route::of("/api/spaces/coworkersettings"), Route::Collection);
        assert_eq!(
            Route::of("/api/spaces/coworkersettings/"),
            Route::Collection
        );
        assert_eq!(
            Route::of("/api/spaces/coworkersettings/12"),
            Route::Item(12)
        );
        assert_eq!(
            Route::of("/api/spaces/coworkersettings/12/"),
            Route::Item(12)
        );
        assert_eq!(
            Route::of("/api/spaces/coworkersettings/abc"),
            Route::NotFound
        );
        assert_eq!(
            Route::of("/api/spaces/coworkersettings/-1"),
            Route::NotFound
        );
        assert_eq!(Route::of("/api/spaces/coworkersettings/0"), Route::NotFound);
        assert_eq!(
            Route::of("/api/spaces/coworkersettings/99999999999999999999"),
            Route::NotFound
        );
        assert_eq!(Route::of("/api/spaces/coworkersettingsx"), Route::NotFound);
        assert_eq!(Route::of("/api/token"), Route::Token);
    }

    #[test]
    fn batch_ids_accept_the_vendor_form_and_name_bad_input() {
        assert_eq!(parse_batch_ids("id=[1,2,3]").unwrap(), vec![1, 2, 3]);
        assert_eq!(parse_batch_ids("id=%5B4%2C%205%5D").unwrap(), vec![4, 5]);
        assert_eq!(parse_batch_ids("id=7").unwrap(), vec![7]);
        assert_eq!(parse_batch_ids("id=[]").unwrap(), Vec::<i64>::new());
        assert_eq!(parse_batch_ids("id=[1,x]").unwrap_err().property_name, "id");
    }
}
