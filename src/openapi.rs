//! The OpenAPI 3.1 document for every endpoint the mock serves, printed by
//! `nexudus-mock openapi` and served at `GET /__admin/openapi.json`. The schemas are
//! the very files in `schemas/` (OpenAPI 3.1 schemas are JSON Schema 2020-12), with
//! their cross-file references pointed at `#/components/schemas`, so the document
//! cannot drift from what the mock and its tests validate against.

use serde_json::{Map, Value, json};

use crate::query::{
    MAX_SIZE, P_COWORKER, P_COWORKER_ALIAS, P_ENCRYPTED, P_FROM_CREATED, P_FROM_UPDATED, P_NAME,
    P_TO_CREATED, P_TO_UPDATED, P_VALUE, SortField,
};
use crate::resource::BASE_PATH;
use crate::schemas::Schema;
use crate::server::api::TOKEN_PATH;

/// A range bound: `YYYY-MM-DDTHH:mm`, optionally `:ss` and a trailing `Z`, naming a
/// real calendar date (leap years included), or blank for no bound. Exactly what
/// `query::parse_range_bound` accepts, so the document and the mock agree.
pub const MINUTE_PATTERN: &str = concat!(
    "^(?:(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])",
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))",
    "|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)",
    "T(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?Z?)?$"
);

/// The batch form: ids (signed, up to 18 digits so always in range) separated by
/// commas, in brackets or not, spaces allowed around them; blank asks for nothing.
pub const BATCH_PATTERN: &str = concat!(
    "^ *(?:\\[ *(?:[+-]?[0-9]{1,18}(?: *, *[+-]?[0-9]{1,18})*)? *\\]",
    "|(?:[+-]?[0-9]{1,18}(?: *, *[+-]?[0-9]{1,18})*)?) *$"
);

/// The component name each schema file gets.
pub fn component_name(s: Schema) -> &'static str {
    match s {
        Schema::Record => "CoworkerSetting",
        Schema::Create => "CoworkerSettingCreate",
        Schema::Update => "CoworkerSettingUpdate",
        Schema::Action => "ActionResult",
        Schema::ValidationError => "ValidationError",
        Schema::List => "CoworkerSettingList",
        Schema::Batch => "CoworkerSettingBatch",
        Schema::Token => "Token",
        Schema::OAuthError => "OAuthError",
        Schema::Error => "Error",
    }
}

fn schema_ref(s: Schema) -> Value {
    json!({"$ref": format!("#/components/schemas/{}", component_name(s))})
}

/// A schema file as a component: `$schema`/`$id` dropped (the document's dialect
/// applies) and references to sibling files turned into component references.
fn component(s: Schema) -> Value {
    let mut v: Value = serde_json::from_str(s.source()).expect("schemas/ holds valid JSON");
    if let Value::Object(m) = &mut v {
        m.remove("$schema");
        m.remove("$id");
    }
    point_refs_at_components(&mut v);
    v
}

fn point_refs_at_components(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(target)) = m.get_mut("$ref")
                && let Some(s) = Schema::ALL
                    .iter()
                    .find(|s| s.file_name() == target.as_str())
            {
                *target = format!("#/components/schemas/{}", component_name(*s));
            }
            m.values_mut().for_each(point_refs_at_components);
        }
        Value::Array(items) => items.iter_mut().for_each(point_refs_at_components),
        _ => {}
    }
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn response(description: &str, schema: Value) -> Value {
    json!({"description": description, "content": json_content(schema)})
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({"name": name, "in": "query", "required": false, "description": description, "schema": schema})
}

/// Responses every API operation can give besides its own.
fn common_responses(mut own: Map<String, Value>) -> Value {
    own.entry("401")
        .or_insert_with(|| json!({"$ref": "#/components/responses/Unauthorized"}));
    own.insert(
        "default".into(),
        json!({"$ref": "#/components/responses/Error"}),
    );
    Value::Object(own)
}

fn api_operation(id: &str, summary: &str, mut op: Value, responses: Value) -> Value {
    let m = op.as_object_mut().expect("an operation is an object");
    m.insert("operationId".into(), json!(id));
    m.insert("summary".into(), json!(summary));
    m.insert("tags".into(), json!(["CoworkerSettings"]));
    let params = m
        .entry("parameters")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .expect("parameters are an array");
    params.push(json!({"$ref": "#/components/parameters/Prefer"}));
    params.push(json!({"$ref": "#/components/parameters/RequestId"}));
    m.insert(
        "responses".into(),
        common_responses(responses.as_object().cloned().unwrap_or_default()),
    );
    op
}

fn admin_operation(id: &str, summary: &str, responses: Value) -> Value {
    let mut r = responses.as_object().cloned().unwrap_or_default();
    r.insert(
        "401".into(),
        response(
            "The admin token is missing or wrong (only when --admin-token is set).",
            schema_ref(Schema::Error),
        ),
    );
    json!({
        "operationId": id,
        "summary": summary,
        "tags": ["Admin"],
        "security": [{}, {"adminToken": []}],
        "responses": r,
    })
}

fn list_parameters() -> Value {
    let sort_names: Vec<&str> = SortField::ALL.iter().map(|f| f.name()).collect();
    let minute = json!({"type": "string", "pattern": MINUTE_PATTERN});
    // A blank filter value means no filter, so the customer filter takes "" too.
    let customer = json!({"anyOf": [
        {"type": "integer", "format": "int64"},
        {"type": "string", "maxLength": 0},
    ]});
    json!([
        query_param(
            "page",
            "Page number, from 1.",
            json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": i64::MAX, "default": 1})
        ),
        query_param(
            "size",
            "Records per page.",
            json!({"type": "integer", "minimum": 1, "maximum": MAX_SIZE, "default": 25})
        ),
        query_param(
            "orderBy",
            "Field to sort by.",
            json!({"type": "string", "enum": sort_names, "default": "Id"})
        ),
        query_param(
            "dir",
            "1 ascending, -1 descending.",
            json!({"type": "integer", "enum": [1, -1], "default": 1})
        ),
        query_param(
            P_COWORKER,
            "Only this customer's settings; blank means no filter.",
            customer.clone()
        ),
        query_param(
            P_COWORKER_ALIAS,
            "Same as CoworkerSetting_Coworker.",
            customer
        ),
        query_param(
            P_NAME,
            "Name contains this text (case-insensitive).",
            json!({"type": "string"})
        ),
        query_param(
            P_VALUE,
            "Value contains this text (case-insensitive).",
            json!({"type": "string"})
        ),
        query_param(
            P_ENCRYPTED,
            "EncryptedValue contains this text.",
            json!({"type": "string"})
        ),
        query_param(
            P_FROM_CREATED,
            "Created at or after (YYYY-MM-DDTHH:mm, UTC).",
            minute.clone()
        ),
        query_param(
            P_TO_CREATED,
            "Created up to the end of this minute.",
            minute.clone()
        ),
        query_param(
            P_FROM_UPDATED,
            "Updated at or after (YYYY-MM-DDTHH:mm, UTC).",
            minute.clone()
        ),
        query_param(
            P_TO_UPDATED,
            "Updated up to the end of this minute.",
            minute
        ),
        query_param(
            "id",
            "Batch get: a list of Ids such as [1,2,3]; the answer is then an array of the records that exist.",
            json!({"type": "string", "pattern": BATCH_PATTERN})
        ),
    ])
}

fn paths() -> Value {
    let item_path = format!("{BASE_PATH}/{{id}}");
    let id_param = json!({"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "format": "int64", "minimum": 1, "maximum": i64::MAX}});
    let validation = response(
        "The request is not valid; each error names its property.",
        schema_ref(Schema::ValidationError),
    );
    let not_found = json!({"$ref": "#/components/responses/NotFound"});
    let mut paths = Map::new();
    paths.insert(BASE_PATH.into(), json!({
        "get": api_operation("listCoworkerSettings", "List settings (or get a batch with ?id=[…])",
            json!({"parameters": list_parameters()}),
            json!({
                "200": response("A page of settings, or for ?id= the records that exist.",
                    json!({"oneOf": [schema_ref(Schema::List), schema_ref(Schema::Batch)]})),
                "400": validation.clone(),
            })),
        "post": api_operation("createCoworkerSetting", "Create a setting",
            json!({"requestBody": {"required": true, "content": json_content(schema_ref(Schema::Create))}}),
            json!({"200": response("Created.", schema_ref(Schema::Action)), "400": validation.clone(),
                "507": response("No Id is left: the records hold Ids up to the 64-bit limit (possible only after fixtures that use Ids there).", schema_ref(Schema::Error))})),
        "put": api_operation("updateCoworkerSetting", "Update a setting (a full record write)",
            json!({"requestBody": {"required": true, "content": json_content(schema_ref(Schema::Update))}}),
            json!({"200": response("Updated.", schema_ref(Schema::Action)), "400": validation, "404": not_found})),
    }));
    paths.insert(item_path, json!({
        "parameters": [id_param],
        "get": api_operation("getCoworkerSetting", "Get one setting", json!({}),
            json!({"200": response("The setting.", schema_ref(Schema::Record)), "404": not_found})),
        "delete": api_operation("deleteCoworkerSetting", "Delete a setting", json!({}),
            json!({"200": response("Deleted.", schema_ref(Schema::Action)), "404": not_found})),
    }));
    paths.insert(TOKEN_PATH.into(), json!({
        "post": {
            "operationId": "issueToken",
            "summary": "Exchange a password or refresh token for a bearer token",
            "tags": ["Authentication"],
            "security": [{}],
            "requestBody": {"required": true, "content": {"application/x-www-form-urlencoded": {"schema": {
                "type": "object",
                "properties": {
                    "grant_type": {"type": "string", "enum": ["password", "refresh_token"]},
                    "username": {"type": "string"},
                    "password": {"type": "string"},
                    "refresh_token": {"type": "string"},
                },
                "required": ["grant_type"],
            }}}},
            "responses": {
                "200": response("A token.", schema_ref(Schema::Token)),
                "400": response("The grant was refused.", schema_ref(Schema::OAuthError)),
            },
        },
    }));
    let ok = |d: &str| response(d, json!({"$ref": "#/components/schemas/AdminResult"}));
    let bad_body = response(
        "Nothing was changed; the message says why.",
        schema_ref(Schema::ValidationError),
    );
    paths.insert("/__admin/reset".into(), json!({
        "post": admin_operation("adminReset", "Put the records back to the fixtures and clear the journal",
            json!({"200": ok("Reset.")})),
    }));
    paths.insert(
        "/__admin/snapshot".into(),
        json!({
            "get": admin_operation("adminSnapshot", "Every record, in fixture format",
                json!({"200": response("The records.", schema_ref(Schema::Batch))})),
        }),
    );
    let mut put = admin_operation(
        "adminReplaceFixtures",
        "Replace every record (validated like a fixtures file; a bad one changes nothing)",
        json!({"200": ok("Loaded; a reset now returns to these records."), "400": bad_body}),
    );
    put["requestBody"] = json!({"required": true, "content": json_content(json!({"oneOf": [
        schema_ref(Schema::Batch),
        {"type": "object", "properties": {"Records": schema_ref(Schema::Batch)}, "required": ["Records"]},
    ]}))});
    paths.insert("/__admin/fixtures".into(), json!({"put": put}));
    let mut journal = admin_operation(
        "adminRequests",
        "Recent requests, newest first",
        json!({"200": response("The journal.", json!({"$ref": "#/components/schemas/Journal"})), "400": response("A filter is not valid.", schema_ref(Schema::ValidationError))}),
    );
    // A blank method or path is no filter, as on the API's list, so those patterns
    // admit ""; a blank limit is refused like a blank page.
    journal["parameters"] = json!([
        query_param(
            "method",
            "Only this method (any letter case).",
            json!({"type": "string", "pattern": "^[A-Za-z]*$"})
        ),
        query_param(
            "path",
            "Only this path; end it with * to match a prefix.",
            json!({"type": "string", "pattern": "^(/.*)?$"})
        ),
        query_param(
            "limit",
            "At most this many entries.",
            json!({"type": "integer", "format": "int64", "minimum": 1, "maximum": i64::MAX})
        ),
    ]);
    paths.insert("/__admin/requests".into(), json!({
        "get": journal,
        "delete": admin_operation("adminClearRequests", "Clear the journal", json!({"200": ok("Cleared.")})),
    }));
    paths.insert("/__admin/health".into(), json!({
        "get": admin_operation("adminHealth", "Liveness, record count and the front-end settings",
            json!({"200": response("Up.", json!({"type": "object", "properties": {"Status": {"const": "ok"}}, "required": ["Status"]}))})),
    }));
    paths.insert(
        "/__admin/openapi.json".into(),
        json!({
            "get": admin_operation("adminOpenApi", "This document",
                json!({"200": response("The OpenAPI document.", json!({"type": "object"}))})),
        }),
    );
    Value::Object(paths)
}

fn components() -> Value {
    let mut schemas = Map::new();
    for s in Schema::ALL {
        schemas.insert(component_name(s).into(), component(s));
    }
    schemas.insert(
        "AdminResult".into(),
        json!({
            "type": "object",
            "properties": {
                "Status": {"const": 200},
                "Message": {"type": "string"},
                "WasSuccessful": {"const": true},
            },
            "required": ["Status", "Message", "WasSuccessful"],
        }),
    );
    schemas.insert("JournalEntry".into(), json!({
        "type": "object",
        "properties": {
            "Id": {"type": "string", "description": "The X-Request-Id of the response."},
            "Time": {"type": "string", "format": "date-time"},
            "Method": {"type": "string"},
            "Path": {"type": "string"},
            "Query": {"type": "string", "description": "Secrets masked."},
            "Status": {"type": ["integer", "null"], "description": "Null when a fault sent no status."},
            "DurationMs": {"type": "number"},
            "Origin": {"type": ["string", "null"]},
            "Authorization": {"type": ["string", "null"], "description": "The scheme only, as 'Bearer ***'."},
            "Body": {"description": "The body with EncryptedValue, passwords and tokens masked."},
            "Fault": {"type": ["string", "null"]},
        },
        "required": ["Id", "Time", "Method", "Path", "Query", "Status", "DurationMs"],
    }));
    schemas.insert("Journal".into(), json!({
        "type": "object",
        "properties": {
            "Requests": {"type": "array", "items": {"$ref": "#/components/schemas/JournalEntry"}},
            "Count": {"type": "integer", "minimum": 0},
            "Capacity": {"type": "integer", "minimum": 0},
        },
        "required": ["Requests", "Count", "Capacity"],
    }));
    json!({
        "schemas": schemas,
        "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "description": "A user's fixed token from users.json, or one issued by POST /api/token."},
            "basic": {"type": "http", "scheme": "basic", "description": "A user's e-mail and password."},
            "adminToken": {"type": "http", "scheme": "bearer", "description": "The value of --admin-token; the admin API is open on loopback when none is set."},
        },
        "parameters": {
            "Prefer": {
                "name": "Prefer", "in": "header", "required": false,
                "description": "Mock only: delay=<ms> (0..60000) waits before answering; code=<400..599> answers that status with a JSON body without processing the request; fault=reset|empty|truncated misbehaves on the wire. Unknown preferences are ignored; a bad value is a 400.",
                "schema": {"type": "string"},
                "examples": {"slow": {"value": "delay=300"}, "down": {"value": "code=503"}, "reset": {"value": "fault=reset"}},
            },
            "RequestId": {
                "name": "X-Request-Id", "in": "header", "required": false,
                "description": "Echoed on the response when it is 1 to 128 visible ASCII characters; any other value, or none, is replaced by a generated UUID. Never a reason to refuse a request.",
                "schema": {"type": "string"},
            },
        },
        "responses": {
            "Unauthorized": response("No valid credentials, or the user lacks the role.", schema_ref(Schema::Error)),
            "NotFound": response("No such record or path.", schema_ref(Schema::Error)),
            "Error": response("Any other error (405, 413, 5xx, or a status forced with Prefer: code).", schema_ref(Schema::Error)),
        },
    })
}

/// The whole document.
pub fn document() -> Value {
    json!({
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Nexudus Spaces CoworkerSettings API (nexudus-mock)",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The CoworkerSettings endpoints of the Nexudus Spaces REST API as nexudus-mock serves them, plus the mock's admin API under /__admin.",
        },
        "servers": [{"url": "http://127.0.0.1:4010", "description": "nexudus-mock serve (default port)"}],
        "security": [{"bearer": []}, {"basic": []}],
        "tags": [
            {"name": "CoworkerSettings", "description": "Name/value settings per customer."},
            {"name": "Authentication", "description": "Tokens."},
            {"name": "Admin", "description": "The mock's own controls (not part of Nexudus)."},
        ],
        "paths": paths(),
        "components": components(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_in_the_document_resolves() {
        let doc = document();
        let mut refs = vec![];
        fn walk(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| walk(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
                _ => {}
            }
        }
        walk(&doc, &mut refs);
        assert!(refs.len() > 20);
        for r in refs {
            let pointer = r
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{r} is not local"));
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    /// The patterns the document gives for range bounds and batch ids admit exactly
    /// what the mock's parsers accept, over a table of near misses.
    #[test]
    fn parameter_patterns_agree_with_the_parsers() {
        let matches = |pattern: &str, s: &str| {
            jsonschema::draft202012::options()
                .build(&json!({"type": "string", "pattern": pattern}))
                .unwrap()
                .is_valid(&json!(s))
        };
        for s in [
            "",
            "2025-01-15T10:30",
            "2025-01-15T10:30:59",
            "2025-01-15T10:30Z",
            "2025-01-15T10:30:00Z",
            "2024-02-29T00:00",
            "2000-02-29T00:00",
            "1900-02-29T00:00",
            "2025-02-29T00:00",
            "2025-04-31T00:00",
            "2025-13-01T00:00",
            "2025-01-15T24:00",
            "2025-01-15T10:60",
            "2025-01-15T10:30:60",
            "2025-1-15T10:30",
            "2025-01-15T10:30:00.5Z",
            "2025-01-15T10:30garbage",
            "2025-01-15",
        ] {
            let parsed = s.is_empty() || crate::query::parse_range_bound(s, false).is_some();
            assert_eq!(matches(MINUTE_PATTERN, s), parsed, "{s:?}");
        }
        for s in [
            "",
            "[]",
            "[1,2,3]",
            " [ 1 , -2 , +3 ] ",
            "7",
            "1,2",
            "[1,2",
            "1]",
            "[,]",
            "1 2",
            "[1,x]",
            "[1,,2]",
        ] {
            let parsed =
                crate::server::api::parse_batch_ids(&format!("id={}", s.replace(' ', "%20")))
                    .is_ok();
            assert_eq!(matches(BATCH_PATTERN, s), parsed, "{s:?}");
        }
    }

    #[test]
    fn the_components_are_the_schema_files() {
        let doc = document();
        for s in Schema::ALL {
            let c = &doc["components"]["schemas"][component_name(s)];
            assert_eq!(c["title"], s.document()["title"], "{}", s.file_name());
        }
    }
}
