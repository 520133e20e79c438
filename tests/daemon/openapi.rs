//! The OpenAPI document is true to the daemon, and stays so. Every documented operation is
//! called against the real daemon, for its successes and its main errors (400, 401, 403 with an
//! agent-role token, 404, 409, 413, 415, 429); each answer's status must be documented for that
//! operation, and its body must match the documented schema. Every route of the router must be
//! in the document, and the document must declare every path parameter, security scheme and
//! error answer it uses.
//!
//! Schemas are checked by `Schemas` below, a validator for the subset of JSON Schema 2020-12
//! (OpenAPI 3.1's dialect) that utoipa emits, rather than the `jsonschema` crate: that crate
//! would validate these schemas too, but brings some twenty crates into the lock for about
//! fifteen keywords. The validator refuses any keyword it does not know, so the document
//! cannot outgrow what is checked, and it is stricter than JSON Schema in one way that
//! matters for drift: an object schema with `properties` is closed, so a field a handler sends
//! but the document leaves out fails. (schemathesis, run by scripts/test.sh, checks the same
//! document with a full JSON Schema implementation.)

use crate::helpers::{SECRET, eventually, id_of, spawn_app_with};
use crate::telegram_fake::{FakeTelegram, TOKEN, private_text};
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderMap};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Display;
use std::sync::Mutex;
use std::time::Duration;
use switchboard::config::ChannelConfig;
use switchboard::store::Role;
use switchboard_telegram::TelegramConfig;

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

/// The document as the library builds it (the daemon serves exactly this).
fn document() -> Value {
    serde_json::to_value(<switchboard::api::ApiDoc as utoipa::OpenApi>::openapi()).unwrap()
}

/// Every (method, path template) the document lists.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            assert!(METHODS.contains(&method.as_str()), "{path}: {method}");
            operations.insert((method.clone(), path.clone()));
        }
    }
    operations
}

/// The routes `src/api/mod.rs` registers, read from its source: each `.route("path", ...)`
/// with the methods it is given, the nested ones under the `.nest(...)` prefix.
fn router_routes() -> BTreeSet<(String, String)> {
    let source = include_str!("../../src/api/mod.rs");
    let router = &source[source.find("pub fn router(").expect("fn router")..];
    let nest = router.find(".nest(\"").expect("a nested router");
    let prefix = string_at(&router[nest + ".nest(".len()..]);
    // The nested router is built first, the outer one (which nests it) second.
    let outer = router
        .match_indices("Router::new()")
        .nth(1)
        .expect("an outer router")
        .0;
    let mut routes = BTreeSet::new();
    for (at, _) in router.match_indices(".route(") {
        let call = balanced(&router[at + ".route".len()..]);
        let path = string_at(&call[1..]);
        let full = if at < outer {
            format!("{prefix}{path}")
        } else {
            path
        };
        let mut methods = 0;
        for method in METHODS {
            let called = call.match_indices(&format!("{method}(")).any(|(i, _)| {
                let before = call[..i].chars().next_back().unwrap_or(' ');
                !(before.is_alphanumeric() || before == '_')
            });
            if called {
                routes.insert((method.to_owned(), full.clone()));
                methods += 1;
            }
        }
        assert!(methods > 0, "no method found for route {full}: {call}");
    }
    routes
}

/// The string literal that `text` starts with (after whitespace).
fn string_at(text: &str) -> String {
    let text = text.trim_start();
    assert!(
        text.starts_with('"'),
        "expected a string literal: {text:.40}"
    );
    text[1..text[1..].find('"').unwrap() + 1].to_owned()
}

/// `text` up to the parenthesis closing its first one.
fn balanced(text: &str) -> &str {
    let mut depth = 0;
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[..=i];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced: {text:.60}")
}

/// The web inbox's routes (`src/web/mod.rs`), which the document names as not part of it.
fn web_routes() -> Vec<String> {
    let source = include_str!("../../src/web/mod.rs");
    source
        .match_indices(".route(")
        .map(|(at, _)| string_at(&source[at + ".route(".len()..]))
        .collect()
}

#[test]
fn every_route_of_the_router_is_in_the_document() {
    let doc = document();
    let routes = router_routes();
    assert!(
        routes.len() >= 25 && routes.contains(&("get".into(), "/api/v1/conversations".into())),
        "reading the router's source went wrong: {routes:?}"
    );
    let documented = documented_operations(&doc);
    let missing: Vec<_> = routes.difference(&documented).collect();
    assert!(
        missing.is_empty(),
        "routes not in the document: {missing:?}"
    );
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(extra.is_empty(), "documented but not routed: {extra:?}");
    let description = doc["info"]["description"].as_str().unwrap();
    let web = web_routes();
    assert!(web.contains(&"/inbox/".to_owned()), "{web:?}");
    for path in web {
        assert!(
            description.contains(&format!("`{path}`")),
            "the web route {path} is neither documented nor named as left out"
        );
    }
}

#[test]
fn the_document_declares_every_parameter_scheme_and_error_it_uses() {
    let doc = document();
    let schemas = Schemas { doc: &doc };
    let schemes = doc["components"]["securitySchemes"].as_object().unwrap();
    for (method, path) in documented_operations(&doc) {
        let name = format!("{} {path}", method.to_uppercase());
        let operation = &doc["paths"][&path][&method];
        // Path parameters: exactly those of the template, each required.
        let in_template: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(str::to_owned)
            .collect();
        let parameters = operation["parameters"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let declared: BTreeSet<String> = parameters
            .iter()
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(p["required"], true, "{name}: path parameter {p}");
                p["name"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(declared, in_template, "{name}: path parameters");
        for p in &parameters {
            assert!(
                ["path", "query", "header"].contains(&p["in"].as_str().unwrap()),
                "{name}: {p}"
            );
        }
        // Security: declared on the operation itself, with schemes that exist.
        let security = operation["security"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: no security declared"));
        let needs: Vec<&String> = security
            .iter()
            .flat_map(|requirement| requirement.as_object().unwrap().keys())
            .collect();
        for scheme in &needs {
            assert!(
                schemes.contains_key(*scheme),
                "{name}: undefined scheme {scheme}"
            );
        }
        let responses = operation["responses"].as_object().unwrap();
        let has = |status: &str| responses.contains_key(status);
        if !needs.is_empty() {
            assert!(has("401"), "{name}: authenticated, but no 401");
        }
        if needs.contains(&&"bearer".to_owned()) {
            assert!(has("429") && has("503"), "{name}: no 429 or 503");
        }
        let description = operation["description"].as_str().unwrap_or_default();
        assert_eq!(
            description.contains("Admin only"),
            has("403"),
            "{name}: admin only routes say so and document 403, and only they"
        );
        if !declared.is_empty() || parameters.iter().any(|p| p["in"] == "query") {
            assert!(has("400"), "{name}: takes parameters, but no 400");
        }
        if operation.get("requestBody").is_some() {
            assert!(
                has("400") && has("413"),
                "{name}: takes a body, but no 400 or 413"
            );
        }
        // Every answer described; every error answer an ErrorBody (or, for /healthz, the report).
        for (status, response) in responses {
            let response = schemas.response(response);
            assert!(
                !response["description"]
                    .as_str()
                    .unwrap_or_default()
                    .is_empty(),
                "{name} {status}: no description"
            );
            if status.starts_with('4') || status.starts_with('5') {
                let schema = &response["content"]["application/json"]["schema"];
                let names_error_body = schema["$ref"] == "#/components/schemas/ErrorBody"
                    || schema["oneOf"].as_array().is_some_and(|s| {
                        s.iter()
                            .any(|s| s["$ref"] == "#/components/schemas/ErrorBody")
                    });
                assert!(
                    names_error_body,
                    "{name} {status}: not an ErrorBody: {response}"
                );
            }
        }
    }
}

/// A validator for the JSON Schema subset utoipa emits (see the module's comment).
struct Schemas<'d> {
    doc: &'d Value,
}

impl Schemas<'_> {
    fn resolve(&self, reference: &Value) -> &Value {
        let reference = reference.as_str().unwrap();
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("a $ref outside the document: {reference}"));
        self.doc
            .pointer(pointer)
            .unwrap_or_else(|| panic!("a $ref to nothing: {reference}"))
    }

    /// A response object, its `$ref` into `components/responses` followed.
    fn response<'a>(&'a self, response: &'a Value) -> &'a Value {
        match response.get("$ref") {
            Some(reference) => self.resolve(reference),
            None => response,
        }
    }

    fn errors(&self, schema: &Value, value: &Value) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(schema, value, "$", &mut errors);
        errors
    }

    fn matches(&self, schema: &Value, value: &Value, at: &str) -> bool {
        let mut errors = Vec::new();
        self.check(schema, value, at, &mut errors);
        errors.is_empty()
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let object = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => return errors.push(format!("{at}: nothing is allowed here")),
            Value::Object(object) => object,
            other => panic!("{at}: not a schema: {other}"),
        };
        for (keyword, arg) in object {
            let mut fail = |message: String| errors.push(format!("{at}: {message}"));
            match keyword.as_str() {
                "$ref" => self.check(self.resolve(arg), value, at, errors),
                "type" => {
                    let types: Vec<&str> = match arg {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(ts) => ts.iter().map(|t| t.as_str().unwrap()).collect(),
                        other => panic!("{at}: type {other}"),
                    };
                    if !types.iter().any(|t| is_type(t, value)) {
                        fail(format!("{value} is not of type {types:?}"));
                    }
                }
                "properties" => {
                    let Some(fields) = value.as_object() else {
                        continue;
                    };
                    let known = arg.as_object().unwrap();
                    let closed = !object.contains_key("additionalProperties");
                    for (name, field) in fields {
                        match known.get(name) {
                            Some(schema) => {
                                self.check(schema, field, &format!("{at}.{name}"), errors)
                            }
                            // Closed unless the schema says otherwise: every field sent is
                            // documented.
                            None if closed => errors
                                .push(format!("{at}: the field {name:?} is not in the document")),
                            None => {}
                        }
                    }
                }
                "additionalProperties" => {
                    let Some(fields) = value.as_object() else {
                        continue;
                    };
                    let known = object.get("properties").and_then(Value::as_object);
                    for (name, field) in fields {
                        if !known.is_some_and(|k| k.contains_key(name)) {
                            self.check(arg, field, &format!("{at}.{name}"), errors);
                        }
                    }
                }
                "propertyNames" => {
                    let Some(fields) = value.as_object() else {
                        continue;
                    };
                    for name in fields.keys() {
                        self.check(arg, &json!(name), &format!("{at} key {name:?}"), errors);
                    }
                }
                "required" => {
                    let Some(fields) = value.as_object() else {
                        continue;
                    };
                    for name in arg.as_array().unwrap() {
                        if !fields.contains_key(name.as_str().unwrap()) {
                            fail(format!("the required field {name} is missing"));
                        }
                    }
                }
                "items" => {
                    let Some(items) = value.as_array() else {
                        continue;
                    };
                    for (i, item) in items.iter().enumerate() {
                        self.check(arg, item, &format!("{at}[{i}]"), errors);
                    }
                }
                "oneOf" | "anyOf" => {
                    let options = arg.as_array().unwrap();
                    let matching = options
                        .iter()
                        .filter(|s| self.matches(s, value, at))
                        .count();
                    let ok = if keyword == "oneOf" {
                        matching == 1
                    } else {
                        matching > 0
                    };
                    if !ok {
                        fail(format!(
                            "{value} matches {matching} of the {keyword} schemas {arg}"
                        ));
                    }
                }
                "allOf" => {
                    for schema in arg.as_array().unwrap() {
                        self.check(schema, value, at, errors);
                    }
                }
                "enum" => {
                    if !arg.as_array().unwrap().contains(value) {
                        fail(format!("{value} is not one of {arg}"));
                    }
                }
                "format" => {
                    if let Some(message) = format_error(arg.as_str().unwrap(), value) {
                        fail(message);
                    }
                }
                "minimum" | "maximum" => {
                    let (Some(n), Some(bound)) = (value.as_f64(), arg.as_f64()) else {
                        continue;
                    };
                    if (keyword == "minimum" && n < bound) || (keyword == "maximum" && n > bound) {
                        fail(format!("{n} is out of range ({keyword} {bound})"));
                    }
                }
                "minLength" | "maxLength" => {
                    let (Some(s), Some(bound)) = (value.as_str(), arg.as_u64()) else {
                        continue;
                    };
                    let n = s.chars().count() as u64;
                    if (keyword == "minLength" && n < bound)
                        || (keyword == "maxLength" && n > bound)
                    {
                        fail(format!("a string of {n} characters ({keyword} {bound})"));
                    }
                }
                // Annotations: they describe, they do not constrain.
                "description" | "title" | "default" | "example" | "examples" | "deprecated"
                | "readOnly" | "writeOnly" | "contentMediaType" | "contentEncoding" => {}
                other => panic!(
                    "{at}: the test's validator does not know the keyword {other:?}: teach it \
                     before the document uses it"
                ),
            }
        }
    }
}

fn is_type(name: &str, value: &Value) -> bool {
    match name {
        "null" => value.is_null(),
        "boolean" => value.is_boolean(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "array" => value.is_array(),
        "object" => value.is_object(),
        other => panic!("unknown type {other:?}"),
    }
}

fn format_error(format: &str, value: &Value) -> Option<String> {
    match format {
        "int64" => {
            (value.is_number() && !value.is_i64()).then(|| format!("{value} is not an int64"))
        }
        "int32" => value
            .as_f64()
            .is_some_and(|n| n.fract() != 0.0 || n < i32::MIN as f64 || n > u32::MAX as f64)
            .then(|| format!("{value} is not an int32")),
        // JSON numbers are doubles: any number the type check let through is one.
        "double" | "float" => None,
        "date-time" => value
            .as_str()
            .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_err())
            .then(|| format!("{value} is not an RFC 3339 date-time")),
        other => panic!("the test's validator does not know the format {other:?}"),
    }
}

/// What the daemon answered.
struct Answer {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The `id` of the object under `key` (`{"message": {"id": ..}}`).
    fn id(&self, key: &str) -> i64 {
        id_of(&self.json()[key])
    }

    /// The scenario got the status it meant to produce.
    fn expect(self, status: u16) -> Self {
        let body = String::from_utf8_lossy(&self.body);
        assert_eq!(self.status, status, "{body}");
        self
    }
}

/// Sends requests and checks every answer against the document: the operation is found by
/// matching the request's path against the documented path templates, as a router would.
struct Contract {
    doc: Value,
    base: String,
    client: reqwest::Client,
    /// (method, path template) → the statuses seen.
    seen: Mutex<BTreeMap<(String, String), BTreeSet<u16>>>,
    drift: Mutex<Vec<String>>,
}

impl Contract {
    /// The documented path template `path` belongs to (literal segments win over parameters).
    fn template(&self, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap();
        let segments: Vec<&str> = path.split('/').collect();
        let mut best: Option<(usize, &String)> = None;
        for template in self.doc["paths"].as_object().unwrap().keys() {
            let parts: Vec<&str> = template.split('/').collect();
            if parts.len() != segments.len() {
                continue;
            }
            let fits = parts
                .iter()
                .zip(&segments)
                .all(|(part, segment)| part == segment || part.starts_with('{'));
            let literal = parts.iter().filter(|p| !p.starts_with('{')).count();
            if fits && best.is_none_or(|(n, _)| literal > n) {
                best = Some((literal, template));
            }
        }
        best.map(|(_, template)| template.clone())
    }

    /// Sends a request (`token` as the bearer, `body` as JSON) and asserts its status.
    async fn expect(
        &self,
        status: u16,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        self.send(method, path, |r| {
            let r = match token {
                Some(token) => r.bearer_auth(token),
                None => r,
            };
            match body {
                Some(body) => r.json(&body),
                None => r,
            }
        })
        .await
        .expect(status)
    }

    /// Sends a request `build` shapes (headers, a raw body) and checks its answer.
    async fn send(
        &self,
        method: Method,
        path: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Answer {
        let request = build(
            self.client
                .request(method.clone(), format!("{}{path}", self.base)),
        );
        let response = request.send().await.unwrap();
        let answer = Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.bytes().await.unwrap().to_vec(),
        };
        self.verify(&method, path, &answer, false);
        answer
    }

    /// Opens a stream: checks the status and headers, and hands back the open response.
    async fn open(&self, path: &str, token: Option<&str>) -> (u16, reqwest::Response) {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let answer = Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: Vec::new(),
        };
        self.verify(&Method::GET, path, &answer, true);
        (answer.status, response)
    }

    /// Checks an answer against the operation's documented responses; a mismatch is recorded.
    fn verify(&self, method: &Method, path: &str, answer: &Answer, streamed: bool) {
        let method = method.as_str().to_ascii_lowercase();
        let name = format!("{} {path} → {}", method.to_uppercase(), answer.status);
        let drift = |message: String| {
            self.drift
                .lock()
                .unwrap()
                .push(format!("{name}: {message}"))
        };
        let Some(template) = self.template(path) else {
            return drift("no documented path matches".into());
        };
        self.seen
            .lock()
            .unwrap()
            .entry((method.clone(), template.clone()))
            .or_default()
            .insert(answer.status);
        let operation = &self.doc["paths"][&template][&method];
        if !operation.is_object() {
            return drift(format!("{template} documents no such method"));
        }
        let responses = &operation["responses"];
        let Some(response) = responses
            .get(answer.status.to_string())
            .or_else(|| responses.get("default"))
        else {
            let documented: Vec<&String> = responses.as_object().unwrap().keys().collect();
            return drift(format!("the status is not documented ({documented:?} are)"));
        };
        let schemas = Schemas { doc: &self.doc };
        let response = schemas.response(response);
        // The headers the document names for this answer are sent.
        if let Some(headers) = response["headers"].as_object() {
            for header in headers.keys() {
                if !answer.headers.contains_key(header.as_str()) {
                    drift(format!("the documented header {header} is missing"));
                }
            }
        }
        let content_type = answer
            .headers
            .get(CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_owned());
        let Some(content) = response["content"].as_object() else {
            if !answer.body.is_empty() {
                let body = String::from_utf8_lossy(&answer.body);
                drift(format!(
                    "a body ({content_type:?}) where the document has none: {body}"
                ));
            }
            return;
        };
        let Some(content_type) = content_type else {
            return drift("no Content-Type, but the document describes a body".into());
        };
        let essence = content_type.split(';').next().unwrap().trim();
        let range = format!("{}/*", essence.split('/').next().unwrap());
        let media = content.iter().find_map(|(documented, media)| {
            let documented = documented.split(';').next().unwrap().trim();
            [essence, range.as_str(), "*/*"]
                .contains(&documented)
                .then_some(media)
        });
        let Some(media) = media else {
            let documented: Vec<&String> = content.keys().collect();
            return drift(format!(
                "{content_type} is not documented ({documented:?} are)"
            ));
        };
        if streamed || essence != "application/json" {
            return;
        }
        let value: Value = match serde_json::from_slice(&answer.body) {
            Ok(value) => value,
            Err(e) => return drift(format!("not JSON: {e}")),
        };
        if let Some(schema) = media.get("schema") {
            for error in schemas.errors(schema, &value) {
                drift(format!("{error}\n    in {value}"));
            }
        }
    }
}

const HOOK_SECRET: &str = "hook-secret-0123456789";

#[tokio::test]
async fn every_documented_operation_answers_as_documented() {
    let fake = FakeTelegram::start().await;
    let bot = TelegramConfig {
        name: "wallet-bot".into(),
        token: TOKEN.into(),
        api_url: fake.url.parse().unwrap(),
        mode: switchboard_telegram::config::Mode::Webhook,
        poll_timeout: Duration::from_secs(1),
        chat_interval: Duration::from_secs(1),
        webhook_url: Some(
            "https://support.example.com/channels/telegram/wallet-bot/webhook"
                .parse()
                .unwrap(),
        ),
        webhook_secret: Some(HOOK_SECRET.into()),
    };
    let app = spawn_app_with(move |c| {
        c.channels.push(ChannelConfig::Telegram(bot));
        c.server.max_event_streams_per_agent = 1;
    })
    .await;
    let served: Value = app.get_json("/api/openapi.json").await;
    assert_eq!(
        served,
        document(),
        "the daemon serves the library's document"
    );
    let c = Contract {
        doc: served,
        base: app.url(""),
        client: app.client.clone(),
        seen: Default::default(),
        drift: Default::default(),
    };
    let store = crate::helpers::open_store(&app).await;
    let (_, agent) = store
        .create_agent("Ann Agent", "ann@example.com", Role::Agent)
        .await
        .unwrap();
    let (admin, agent, secret) = (Some(app.token.as_str()), Some(agent.as_str()), Some(SECRET));
    let too_big = "x".repeat(app.config.server.max_body_bytes + 1);
    use Method as M;

    // Operations: health, the document, metrics (admin only).
    c.expect(200, M::GET, "/healthz", None, None).await;
    c.expect(200, M::GET, "/api/openapi.json", None, None).await;
    c.expect(200, M::GET, "/metrics", admin, None).await;
    c.expect(403, M::GET, "/metrics", agent, None).await;
    c.expect(401, M::GET, "/metrics", None, None).await;

    // The api channel's inbound route: created, duplicate, refused.
    let inbound = "/api/v1/channels/website/inbound";
    let carol = json!({"thread_id": "chat-1", "message_id": "m-1",
        "sender": {"id": "visitor-1", "name": "Carol"}, "text": "My withdrawal is pending.",
        "attachments": [{"filename": "note.txt", "content_type": "text/plain",
                         "data_base64": "aGVsbG8="}]});
    let created = c
        .expect(201, M::POST, inbound, secret, Some(carol.clone()))
        .await;
    let conv = created.json()["conversation_id"].as_i64().unwrap();
    c.expect(200, M::POST, inbound, secret, Some(carol)).await;
    let dave = json!({"thread_id": "chat-2", "message_id": "m-2", "sender": {"id": "visitor-2"},
        "text": "Hello", "sent_at": "2026-01-01T10:00:00Z"});
    let created = c.expect(201, M::POST, inbound, secret, Some(dave)).await;
    let conv2 = created.json()["conversation_id"].as_i64().unwrap();
    let wrong = Some("not-the-secret-0123");
    c.expect(401, M::POST, inbound, wrong, Some(json!({})))
        .await;
    c.expect(401, M::POST, inbound, None, Some(json!({}))).await;
    let nowhere = "/api/v1/channels/nope/inbound";
    c.expect(404, M::POST, nowhere, secret, Some(json!({})))
        .await;
    let long_id = json!({"thread_id": "t".repeat(300), "message_id": "m", "sender": {"id": "v"},
        "text": "x"});
    c.expect(400, M::POST, inbound, secret, Some(long_id)).await;
    let raw = |body: String| move |r: reqwest::RequestBuilder| r.bearer_auth(SECRET).body(body);
    let broken = c.send(M::POST, inbound, raw("{\"thread_id\"".into())).await;
    broken.expect(400);
    c.send(M::POST, inbound, raw(too_big.clone()))
        .await
        .expect(413);

    // Telegram's webhook: stored, refused, unknown channel, not JSON, too large.
    let webhook = "/channels/telegram/wallet-bot/webhook";
    eventually(|| async { fake.calls("setWebhook").pop() }).await;
    let update = json!({"update_id": 77, "message": private_text(4242, 1, "via webhook")});
    let hook = |secret: &'static str, body: String| {
        move |r: reqwest::RequestBuilder| {
            let r = r.header("content-type", "application/json").body(body);
            match secret {
                "" => r,
                secret => r.header("X-Telegram-Bot-Api-Secret-Token", secret),
            }
        }
    };
    let (update, garbage) = (update.to_string(), "{not json".to_owned());
    let post = c
        .send(M::POST, webhook, hook(HOOK_SECRET, update.clone()))
        .await;
    post.expect(200);
    let wrong = c.send(
        M::POST,
        webhook,
        hook("wrong-secret-000000000", update.clone()),
    );
    wrong.await.expect(401);
    c.send(M::POST, webhook, hook("", update.clone()))
        .await
        .expect(401);
    let nope = "/channels/telegram/nope/webhook";
    c.send(M::POST, nope, hook(HOOK_SECRET, update))
        .await
        .expect(404);
    let broken = c.send(M::POST, webhook, hook(HOOK_SECRET, garbage)).await;
    broken.expect(400);
    let huge = c
        .send(M::POST, webhook, hook(HOOK_SECRET, too_big.clone()))
        .await;
    huge.expect(413);

    // Conversations: the list (filters, pages), one, changes, participants.
    let list = "/api/v1/conversations";
    c.expect(200, M::GET, list, admin, None).await;
    let filtered = format!("{list}?status=open&assignee=none&limit=1");
    let page = c.expect(200, M::GET, &filtered, agent, None).await.json();
    let cursor = page["next_cursor"].as_str().unwrap();
    c.expect(200, M::GET, &format!("{list}?cursor={cursor}"), agent, None)
        .await;
    c.expect(400, M::GET, &format!("{list}?status=bogus"), admin, None)
        .await;
    c.expect(400, M::GET, &format!("{list}?limit=many"), admin, None)
        .await;
    c.expect(401, M::GET, list, None, None).await;
    c.expect(401, M::GET, list, Some("sb_000000000000_nope"), None)
        .await;

    let one = format!("/api/v1/conversations/{conv}");
    let detail = c.expect(200, M::GET, &one, agent, None).await.json();
    let carol = detail["conversation"]["contact"]["id"].as_i64().unwrap();
    c.expect(404, M::GET, "/api/v1/conversations/999999", admin, None)
        .await;
    c.expect(400, M::GET, "/api/v1/conversations/abc", admin, None)
        .await;
    c.expect(401, M::GET, &one, None, None).await;
    let change = json!({"status": "pending", "priority": "high", "assignee_id": null});
    c.expect(200, M::PATCH, &one, agent, Some(change.clone()))
        .await;
    c.expect(200, M::PATCH, &one, admin, Some(json!({"assignee_id": 1})))
        .await;
    c.expect(400, M::PATCH, &one, admin, Some(json!({"status": "bogus"})))
        .await;
    let until = (chrono::Utc::now() + chrono::Duration::hours(2)).to_rfc3339();
    let snooze = json!({"status": "snoozed", "snoozed_until": until});
    let snoozed = c
        .expect(200, M::PATCH, &one, agent, Some(snooze))
        .await
        .json();
    assert!(snoozed["conversation"]["snoozed_until"].is_string());
    let late = json!({"status": "open", "snoozed_until": until});
    c.expect(400, M::PATCH, &one, agent, Some(late)).await;
    c.expect(
        200,
        M::PATCH,
        &one,
        agent,
        Some(json!({"status": "pending"})),
    )
    .await;
    let nobody = json!({"assignee_id": 424242});
    c.expect(400, M::PATCH, &one, admin, Some(nobody)).await;
    let missing = "/api/v1/conversations/999999";
    c.expect(404, M::PATCH, missing, admin, Some(change)).await;
    let token = app.token.clone();
    let untyped = move |r: reqwest::RequestBuilder| r.bearer_auth(token).body("{}");
    c.send(M::PATCH, &one, untyped).await.expect(415);
    let token = app.token.clone();
    let json_body = |body: String| {
        move |r: reqwest::RequestBuilder| {
            r.bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
        }
    };
    c.send(M::PATCH, &one, json_body(too_big.clone()))
        .await
        .expect(413);

    let participants = format!("{one}/participants");
    c.expect(200, M::GET, &participants, agent, None).await;
    let missing = "/api/v1/conversations/999999/participants";
    c.expect(404, M::GET, missing, admin, None).await;
    let cc = json!({"participants": ["Bob@Example.com", "bob@example.com"]});
    c.expect(200, M::PUT, &participants, agent, Some(cc)).await;
    let not_mail = json!({"participants": ["bob"]});
    c.expect(400, M::PUT, &participants, admin, Some(not_mail))
        .await;
    let empty = json!({"participants": []});
    c.expect(404, M::PUT, missing, admin, Some(empty)).await;

    // Messages: the history, a delivered reply, idempotency, failed replies, retry, cancel.
    let messages = format!("{one}/messages");
    let history = c.expect(200, M::GET, &messages, agent, None).await.json();
    let first = history["messages"][0].clone();
    let attachment = first["attachments"][0]["id"].as_i64().unwrap();
    c.expect(
        200,
        M::GET,
        &format!("{messages}?limit=1&before=1000"),
        admin,
        None,
    )
    .await;
    c.expect(400, M::GET, &format!("{messages}?limit=0"), admin, None)
        .await;
    let missing = "/api/v1/conversations/999999/messages";
    c.expect(404, M::GET, missing, admin, None).await;
    let reply = json!({"text": "We are on it.", "reply_to_message_id": id_of(&first)});
    let sent = c
        .expect(202, M::POST, &messages, agent, Some(reply))
        .await
        .id("message");
    app.wait_for_status(conv, sent, "sent").await;
    let keyed = |key: &'static str| {
        let token = app.token.clone();
        move |r: reqwest::RequestBuilder| {
            r.bearer_auth(token)
                .header("Idempotency-Key", key)
                .json(&json!({"text": "Once."}))
        }
    };
    c.send(M::POST, &messages, keyed("reply-1"))
        .await
        .expect(202);
    c.send(M::POST, &messages, keyed("reply-1"))
        .await
        .expect(202);
    let elsewhere = format!("/api/v1/conversations/{conv2}/messages");
    c.send(M::POST, &elsewhere, keyed("reply-1"))
        .await
        .expect(409);
    c.send(M::POST, &messages, keyed("has spaces"))
        .await
        .expect(400);
    c.expect(400, M::POST, &messages, admin, Some(json!({"text": "  "})))
        .await;
    c.expect(400, M::POST, &messages, admin, Some(json!({"txt": "x"})))
        .await;
    c.expect(404, M::POST, missing, admin, Some(json!({"text": "x"})))
        .await;
    c.expect(
        413,
        M::POST,
        &messages,
        admin,
        Some(json!({ "text": too_big })),
    )
    .await;
    // The webhook refuses replies for good from now on: they fail.
    app.hook.always(400);
    let mut failed = Vec::new();
    for text in ["fails", "fails too"] {
        let reply = Some(json!({ "text": text }));
        let id = c
            .expect(202, M::POST, &messages, admin, reply)
            .await
            .id("message");
        app.wait_for_status(conv, id, "failed").await;
        failed.push(id);
    }
    let (failed, cancelled) = (failed[0], failed[1]);
    let retry = |id: &dyn Display| format!("/api/v1/messages/{id}/retry");
    c.expect(202, M::POST, &retry(&failed), agent, None).await;
    c.expect(409, M::POST, &retry(&sent), admin, None).await;
    c.expect(404, M::POST, &retry(&id_of(&first)), admin, None)
        .await;
    c.expect(400, M::POST, &retry(&"abc"), admin, None).await;
    let cancel = |id: i64| format!("/api/v1/messages/{id}/cancel");
    c.expect(200, M::POST, &cancel(cancelled), agent, None)
        .await;
    c.expect(409, M::POST, &cancel(cancelled), admin, None)
        .await;
    c.expect(409, M::POST, &cancel(sent), admin, None).await;
    c.expect(404, M::POST, &cancel(999_999), admin, None).await;

    // Attachments.
    let download = format!("/api/v1/attachments/{attachment}");
    let file = c.expect(200, M::GET, &download, agent, None).await;
    assert_eq!(file.body, b"hello");
    c.expect(404, M::GET, "/api/v1/attachments/999999", admin, None)
        .await;
    c.expect(400, M::GET, "/api/v1/attachments/abc", admin, None)
        .await;

    // Identity verification (not configured here) and the unsafe-reply guard.
    let verify = format!("{one}/verify");
    let email = Some(json!({"email": "carol@customer.example"}));
    c.expect(409, M::POST, &verify, agent, email.clone()).await;
    c.expect(400, M::POST, &verify, agent, Some(json!({"email": "no"})))
        .await;
    c.expect(
        404,
        M::POST,
        "/api/v1/conversations/999999/verify",
        agent,
        email,
    )
    .await;
    c.expect(200, M::GET, &format!("{one}/verification"), agent, None)
        .await;
    c.expect(
        404,
        M::GET,
        "/api/v1/conversations/999999/verification",
        agent,
        None,
    )
    .await;
    let unsafe_reply = Some(json!({"text": "Please send us your seed phrase"}));
    c.expect(
        422,
        M::POST,
        &format!("{one}/messages"),
        agent,
        unsafe_reply,
    )
    .await;

    // Notes.
    let notes = format!("{one}/notes");
    let note = Some(json!({"text": "VIP customer"}));
    c.expect(201, M::POST, &notes, agent, note.clone()).await;
    c.expect(200, M::GET, &notes, agent, None).await;
    let missing = "/api/v1/conversations/999999/notes";
    c.expect(404, M::GET, missing, admin, None).await;
    c.expect(404, M::POST, missing, admin, note).await;
    c.expect(400, M::POST, &notes, admin, Some(json!({"text": " "})))
        .await;

    // Known-issue notices: anyone reads them, admins post and take them down.
    let notices = "/api/v1/notices";
    let soon = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let notice =
        json!({"texts": {"en": "TRON is slow today"}, "keywords": ["tron"], "ends_at": soon});
    let notice_id = c
        .expect(201, M::POST, notices, admin, Some(notice.clone()))
        .await
        .id("notice");
    c.expect(403, M::POST, notices, agent, Some(notice.clone()))
        .await;
    c.expect(401, M::POST, notices, None, Some(notice)).await;
    let past = json!({"texts": {"en": "over"}, "ends_at": "2020-01-01T00:00:00Z"});
    c.expect(400, M::POST, notices, admin, Some(past)).await;
    let unsafe_text =
        json!({"texts": {"en": "Send us your seed phrase to speed it up"}, "ends_at": soon});
    c.expect(422, M::POST, notices, admin, Some(unsafe_text))
        .await;
    c.expect(200, M::GET, notices, agent, None).await;
    let notice_path = format!("{notices}/{notice_id}");
    c.expect(403, M::DELETE, &notice_path, agent, None).await;
    c.expect(204, M::DELETE, &notice_path, admin, None).await;
    c.expect(404, M::DELETE, &notice_path, admin, None).await;
    c.expect(400, M::DELETE, &format!("{notices}/x"), admin, None)
        .await;

    // Teams: anyone reads them, admins write them.
    let teams = "/api/v1/teams";
    let team = json!({"name": "Support", "languages": ["en"], "members": []});
    let team_id = c
        .expect(201, M::POST, teams, admin, Some(team.clone()))
        .await
        .id("team");
    c.expect(409, M::POST, teams, admin, Some(team.clone()))
        .await;
    c.expect(403, M::POST, teams, agent, Some(team)).await;
    let bad_team = json!({"name": "X", "languages": ["english"]});
    c.expect(400, M::POST, teams, admin, Some(bad_team)).await;
    c.expect(200, M::GET, teams, agent, None).await;
    let team_path = format!("{teams}/{team_id}");
    let renamed = Some(json!({"name": "Front line", "auto_assign": false}));
    c.expect(200, M::PUT, &team_path, admin, renamed.clone())
        .await;
    c.expect(404, M::PUT, &format!("{teams}/999999"), admin, renamed)
        .await;
    c.expect(403, M::DELETE, &team_path, agent, None).await;
    c.expect(204, M::DELETE, &team_path, admin, None).await;
    c.expect(404, M::DELETE, &team_path, admin, None).await;
    c.expect(400, M::DELETE, &format!("{teams}/x"), admin, None)
        .await;

    // Labels and the activity timeline.
    let color = Some(json!({"color": "#00aa00"}));
    c.expect(200, M::PUT, "/api/v1/labels/vip", agent, color)
        .await;
    let bad_color = Some(json!({"color": "green"}));
    c.expect(400, M::PUT, "/api/v1/labels/vip", agent, bad_color)
        .await;
    c.expect(200, M::GET, "/api/v1/labels", agent, None).await;
    c.expect(
        200,
        M::GET,
        "/api/v1/spikes?active=true&limit=5",
        admin,
        None,
    )
    .await;
    c.expect(403, M::GET, "/api/v1/spikes", agent, None).await;
    c.expect(400, M::GET, "/api/v1/spikes?active=maybe", admin, None)
        .await;
    let summary = "/api/v1/reports/summary?team=1&channel=website";
    c.expect(200, M::GET, summary, agent, None).await;
    c.expect(
        400,
        M::GET,
        "/api/v1/reports/summary?from=nope",
        agent,
        None,
    )
    .await;
    c.expect(200, M::GET, "/api/v1/reports/agents", admin, None)
        .await;
    c.expect(403, M::GET, "/api/v1/reports/agents", agent, None)
        .await;
    c.expect(200, M::GET, &format!("{one}/activity"), agent, None)
        .await;
    let missing = "/api/v1/conversations/999999/activity";
    c.expect(404, M::GET, missing, agent, None).await;
    c.expect(400, M::GET, "/api/v1/conversations/x/activity", agent, None)
        .await;

    // Help articles (none configured here: an empty list that says so).
    c.expect(
        200,
        M::GET,
        "/api/v1/knowledge?q=gas%20fee&lang=en",
        agent,
        None,
    )
    .await;
    c.expect(400, M::GET, "/api/v1/knowledge?q=%20", agent, None)
        .await;
    c.expect(400, M::GET, "/api/v1/knowledge", agent, None)
        .await;
    c.expect(401, M::GET, "/api/v1/knowledge?q=fee", None, None)
        .await;

    // Canned answers: anyone reads them, admins write them.
    let canned = "/api/v1/canned_answers";
    let hello = json!({"shortcut": "hello", "title": " Hello ", "text": "How can we help?"});
    let hello_id = c
        .expect(201, M::POST, canned, admin, Some(hello.clone()))
        .await;
    let hello_id = hello_id.id("canned_answer");
    c.expect(409, M::POST, canned, admin, Some(hello.clone()))
        .await;
    c.expect(403, M::POST, canned, agent, Some(hello)).await;
    c.expect(
        400,
        M::POST,
        canned,
        admin,
        Some(json!({"shortcut": "bye"})),
    )
    .await;
    let bye = json!({"shortcut": "bye", "title": "Bye", "text": "Goodbye!"});
    let bye = c
        .expect(201, M::POST, canned, admin, Some(bye))
        .await
        .id("canned_answer");
    c.expect(200, M::GET, canned, agent, None).await;
    c.expect(200, M::GET, &format!("{canned}?q=hel"), agent, None)
        .await;
    let (hello, bye) = (format!("{canned}/{hello_id}"), format!("{canned}/{bye}"));
    let change = Some(json!({"text": "Hi there!"}));
    c.expect(200, M::PATCH, &hello, admin, change.clone()).await;
    c.expect(403, M::PATCH, &hello, agent, change.clone()).await;
    c.expect(404, M::PATCH, &format!("{canned}/999999"), admin, change)
        .await;
    c.expect(
        409,
        M::PATCH,
        &hello,
        admin,
        Some(json!({"shortcut": "bye"})),
    )
    .await;
    let spaced = Some(json!({"shortcut": "no spaces"}));
    c.expect(400, M::PATCH, &hello, admin, spaced).await;
    c.expect(403, M::DELETE, &bye, agent, None).await;
    c.expect(204, M::DELETE, &bye, admin, None).await;
    c.expect(404, M::DELETE, &bye, admin, None).await;

    // Contacts: one, and merging (admin only).
    c.expect(
        200,
        M::GET,
        &format!("/api/v1/contacts/{carol}"),
        agent,
        None,
    )
    .await;
    c.expect(404, M::GET, "/api/v1/contacts/999999", admin, None)
        .await;
    let other = format!("/api/v1/conversations/{conv2}");
    let other = c.expect(200, M::GET, &other, admin, None).await.json();
    let dave = other["conversation"]["contact"]["id"].as_i64().unwrap();
    let merge = |id: i64| format!("/api/v1/contacts/{id}/merge");
    let into = Some(json!({ "into": carol }));
    c.expect(403, M::POST, &merge(dave), agent, into.clone())
        .await;
    c.expect(200, M::POST, &merge(dave), admin, into.clone())
        .await;
    c.expect(409, M::POST, &merge(dave), admin, into.clone())
        .await;
    c.expect(400, M::POST, &merge(carol), admin, into).await;
    let lost = Some(json!({"into": 999_999}));
    c.expect(404, M::POST, &merge(carol), admin, lost).await;

    // The agent behind the token, and the event stream (one per agent in this config).
    c.expect(200, M::GET, "/api/v1/me", agent, None).await;
    c.expect(401, M::GET, "/api/v1/me", None, None).await;
    c.expect(200, M::GET, "/api/v1/agents", agent, None).await;
    c.expect(401, M::GET, "/api/v1/agents", None, None).await;
    let (status, stream) = c.open("/api/v1/events", agent).await;
    assert_eq!(status, 200);
    let (status, _) = c.open("/api/v1/events", agent).await;
    assert_eq!(status, 429);
    drop(stream);
    c.open("/api/v1/events", None).await;
    let (status, _) = c.open("/api/v1/events?conversation=1", agent).await;
    assert_eq!(status, 400);
    // An inbox stream, and moving its focus (the id comes in its first event, `ready`).
    let (status, mut inbox) = c.open("/api/v1/events?view=inbox", agent).await;
    assert_eq!(status, 200);
    let first = tokio::time::timeout(Duration::from_secs(5), inbox.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let first = String::from_utf8_lossy(&first).to_string();
    let data = first
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap();
    let stream_id = serde_json::from_str::<Value>(data).unwrap()["data"]["stream"].clone();
    let focus = format!("/api/v1/events/{stream_id}/focus");
    let on = Some(json!({ "conversation_id": conv2 }));
    c.expect(204, M::PUT, &focus, agent, on.clone()).await;
    c.expect(404, M::PUT, &focus, admin, on.clone()).await;
    c.expect(404, M::PUT, "/api/v1/events/1/focus", agent, on.clone())
        .await;
    c.expect(400, M::PUT, &focus, agent, Some(json!({"conversation": 1})))
        .await;
    c.expect(401, M::PUT, &focus, None, on).await;
    drop(inbox);

    // Last, as it locks this address out for a minute: the failed-authentication limit.
    let guess = "sb_000000000000_guess";
    let mut limited = false;
    for _ in 0..30 {
        let answer = c.send(M::GET, "/api/v1/me", |r| r.bearer_auth(guess)).await;
        if answer.status == 429 {
            limited = true;
            break;
        }
        answer.expect(401);
    }
    assert!(
        limited,
        "the failed-authentication limit never answered 429"
    );
    c.expect(429, M::GET, list, admin, None).await;

    let drift = c.drift.lock().unwrap().clone();
    assert!(
        drift.is_empty(),
        "answers the document does not describe:\n{}",
        drift.join("\n")
    );
    let seen = c.seen.lock().unwrap().clone();
    let missed: Vec<_> = documented_operations(&c.doc)
        .into_iter()
        .filter(|op| !seen.contains_key(op))
        .collect();
    assert!(
        missed.is_empty(),
        "documented operations never called: {missed:?}"
    );
}
