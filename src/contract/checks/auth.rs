//! Auth: no credentials, a malformed header and an unknown token get 401 with a
//! JSON body on every endpoint the target offers; a read-only user reads but every
//! write is refused with 401 (the docs' status for a missing role too); and, when
//! the target offers `POST /api/token`, the token endpoint: a wrong password, a JSON
//! body, the password and refresh grants, and what a token issued to each user may do.

use std::time::Instant;

use serde_json::json;

use super::{UNKNOWN_ID, item};
use crate::client::HttpRequest;
use crate::contract::surface::Op;
use crate::contract::{Credential, Runner};
use crate::report::{Evidence, Outcome};
use crate::resource::BASE_PATH;
use crate::schemas::Schema;

const FORM: &str = "application/x-www-form-urlencoded";

/// No credentials, a malformed header and an unknown token each get 401 with a JSON
/// body on every endpoint the target offers. `id` is a record to aim at.
pub async fn unauthenticated(r: &mut Runner, id: Option<i64>) {
    let ns = r.ns.clone();
    let mut endpoints = vec![HttpRequest::new("GET", BASE_PATH)];
    if r.surface.offers(Op::Batch) {
        endpoints.push(HttpRequest::new(
            "GET",
            format!("{BASE_PATH}/?id=[{}]", id.unwrap_or(UNKNOWN_ID)),
        ));
    }
    if let Some(id) = id {
        endpoints.push(HttpRequest::new("GET", item(id)));
    }
    if !r.cfg.read_only {
        endpoints.push(HttpRequest::new("POST", BASE_PATH).json(
            &json!({"CoworkerId": ns.customer, "Name": format!("{}-unauthorised", ns.prefix)}),
        ));
        if let Some(id) = id {
            if r.surface.offers(Op::Update) {
                endpoints.push(HttpRequest::new("PUT", BASE_PATH).json(&json!({"Id": id, "CoworkerId": ns.customer, "Name": format!("{}-unauthorised", ns.prefix)})));
            }
            if r.surface.offers(Op::Delete) {
                endpoints.push(HttpRequest::new("DELETE", item(id)));
            }
        }
    }
    let left_out: Vec<String> = [Op::Update, Op::Delete, Op::Batch]
        .into_iter()
        .filter_map(|op| r.surface.why_not(op))
        .collect();
    for (name, header) in [
        ("auth.no-credentials", None),
        ("auth.malformed-header", Some("Bearer".to_string())),
        (
            "auth.basic-not-base64",
            Some("Basic %%%not-base64".to_string()),
        ),
        (
            "auth.unknown-token",
            Some(format!("Bearer {}", uuid::Uuid::new_v4().simple())),
        ),
    ] {
        let started = Instant::now();
        let mut problems = Vec::new();
        for req in &endpoints {
            let mut req = req.clone();
            if let Some(h) = &header {
                req = req.header("Authorization", h.clone());
            }
            let ex = r.s.send_raw(req).await;
            r.s.track_created(&ex);
            if let Err(e) = r.s.expect(&ex, 401, Schema::Error) {
                problems.push(e);
            }
        }
        r.record(name, started, problems, Outcome::Fail);
    }
    if !left_out.is_empty() {
        r.skip("auth.optional-endpoints", &left_out.join("; "));
    }
}

/// With a read-only user: reads work, every write the target offers is refused with 401.
pub async fn read_only_user(r: &mut Runner) {
    let Some(cred) = r.cfg.read_only_credential.clone() else {
        return r.skip(
            "auth.read-only-user",
            "no --read-only-token/--read-only-user given",
        );
    };
    let started = Instant::now();
    let problems = read_only_rights(r, cred.header()).await;
    r.record("auth.read-only-user", started, problems, Outcome::Fail);
}

/// What a read-only `authorization` may do: list, and nothing that writes.
async fn read_only_rights(r: &mut Runner, authorization: Option<String>) -> Vec<Evidence> {
    let c = r.ns.customer;
    let with = |req: HttpRequest| match &authorization {
        Some(h) => req.header("Authorization", h.clone()),
        None => req,
    };
    let mut problems = Vec::new();
    let ex =
        r.s.send_raw(with(HttpRequest::new(
            "GET",
            format!("{BASE_PATH}?CoworkerSetting_Coworker={c}"),
        )))
        .await;
    if let Err(e) = r.s.expect(&ex, 200, Schema::List) {
        problems.push(e);
    }
    if r.cfg.read_only {
        return problems;
    }
    let victim = crate::contract::props::ids(&ex.json().unwrap_or_default())
        .first()
        .copied()
        .unwrap_or(UNKNOWN_ID);
    let mut writes = vec![
        HttpRequest::new("POST", BASE_PATH)
            .json(&json!({"CoworkerId": c, "Name": format!("{}-readonly", r.ns.prefix)})),
    ];
    if r.surface.offers(Op::Update) {
        writes.push(HttpRequest::new("PUT", BASE_PATH).json(
            &json!({"Id": victim, "CoworkerId": c, "Name": format!("{}-readonly", r.ns.prefix)}),
        ));
    }
    if r.surface.offers(Op::Delete) {
        writes.push(HttpRequest::new("DELETE", item(victim)));
    }
    for req in writes {
        let ex = r.s.send_raw(with(req)).await;
        r.s.track_created(&ex);
        match ex.status() {
            Some(401) => {}
            Some(403) => problems.push(r.s.evidence(
                &ex,
                "a read-only user's write got 403",
                "401: the docs answer a missing role with 401",
            )),
            _ => {
                problems.push(r.s.evidence(&ex, "a read-only user's write was not refused", "401"))
            }
        }
    }
    problems
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The token endpoint, when the target offers it.
pub async fn token(r: &mut Runner) {
    if let Some(why) = r.surface.why_not(Op::Token) {
        return r.skip("token", &why);
    }
    let started = Instant::now();
    let mut problems = Vec::new();
    let (email, password) = match &r.cfg.credential {
        Credential::Basic { email, password } => (email.clone(), password.clone()),
        _ => (format!("{}@example.invalid", r.ns.prefix), "x".to_string()),
    };
    let wrong = form(&[
        ("grant_type", "password"),
        ("username", &email),
        ("password", &format!("{password}-wrong")),
    ]);
    let ex =
        r.s.send_raw(HttpRequest::new("POST", "/api/token").raw_body(FORM, wrong))
            .await;
    match r.s.expect(&ex, 400, Schema::OAuthError) {
        Ok(v) if v["error"] != "invalid_grant" => {
            problems.push(r.s.evidence(&ex, format!("error is {}", v["error"]), "invalid_grant"))
        }
        Ok(_) => {}
        Err(e) => problems.push(e),
    }
    r.record("token.wrong-password", started, problems, Outcome::Fail);

    let started = Instant::now();
    let ex =
        r.s.send_raw(
            HttpRequest::new("POST", "/api/token")
                .json(&json!({"grant_type": "password", "username": email, "password": password})),
        )
        .await;
    let (mut hard, mut soft) = (Vec::new(), Vec::new());
    match r.s.expect(&ex, 400, Schema::OAuthError) {
        Ok(v) if v["error"] != "unsupported_grant_type" => soft.push(r.s.evidence(
            &ex,
            format!("error is {}", v["error"]),
            "unsupported_grant_type",
        )),
        Ok(_) => {}
        Err(e) => hard.push(e),
    }
    r.record("token.json-body-refused", started, hard, Outcome::Fail);
    let outcome = r.settled();
    r.record_if_any("token.json-body-refused.error-code", started, soft, outcome);

    for (name, cred, writer) in [
        ("token.grants", Some(r.cfg.credential.clone()), true),
        (
            "token.read-only-user",
            r.cfg.read_only_credential.clone(),
            false,
        ),
    ] {
        let Some(Credential::Basic { email, password }) = cred else {
            r.skip(
                name,
                "needs a user's e-mail and password (--user / --read-only-user)",
            );
            continue;
        };
        let started = Instant::now();
        let problems = grants(r, &email, &password, writer).await;
        r.record(name, started, problems, Outcome::Fail);
    }
}

/// The password grant, the token it gives, the refresh grant and its token; a
/// `writer` token may create, any other must be refused writes.
async fn grants(r: &mut Runner, email: &str, password: &str, writer: bool) -> Vec<Evidence> {
    let mut problems = Vec::new();
    let body = form(&[
        ("grant_type", "password"),
        ("username", email),
        ("password", password),
    ]);
    let ex =
        r.s.send_raw(HttpRequest::new("POST", "/api/token").raw_body(FORM, body))
            .await;
    let v = match r.s.expect(&ex, 200, Schema::Token) {
        Ok(v) => v,
        Err(e) => return vec![e],
    };
    let access = v["access_token"].as_str().unwrap_or_default().to_string();
    let refresh = v["refresh_token"].as_str().unwrap_or_default().to_string();
    let bearer = format!("Bearer {access}");
    if writer {
        let ex =
            r.s.send_raw(
                HttpRequest::new("GET", format!("{BASE_PATH}?size=1"))
                    .header("Authorization", bearer.clone()),
            )
            .await;
        if let Err(e) = r.s.expect(&ex, 200, Schema::List) {
            problems.push(e);
        }
    } else {
        problems.extend(read_only_rights(r, Some(bearer)).await);
    }
    let body = form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)]);
    let ex =
        r.s.send_raw(HttpRequest::new("POST", "/api/token").raw_body(FORM, body))
            .await;
    match r.s.expect(&ex, 200, Schema::Token) {
        Ok(v) => {
            let fresh = format!("Bearer {}", v["access_token"].as_str().unwrap_or_default());
            let ex =
                r.s.send_raw(
                    HttpRequest::new("GET", format!("{BASE_PATH}?size=1"))
                        .header("Authorization", fresh),
                )
                .await;
            if let Err(e) = r.s.expect(&ex, 200, Schema::List) {
                problems.push(e);
            }
        }
        Err(e) => problems.push(e),
    }
    let ex =
        r.s.send_raw(HttpRequest::new("POST", "/api/token").raw_body(
            FORM,
            form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", "not-a-token"),
            ]),
        ))
        .await;
    if let Err(e) = r.s.expect(&ex, 400, Schema::OAuthError) {
        problems.push(e);
    }
    problems
}
