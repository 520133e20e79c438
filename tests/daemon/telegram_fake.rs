//! A fake Telegram Bot API on 127.0.0.1 answering the methods Switchboard uses with the real JSON
//! shapes (`/bot<TOKEN>/<method>`, files at `/file/bot<TOKEN>/<path>`), scriptable per test:
//! queue updates, record requests, inject error answers.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

pub const TOKEN: &str = "123456:TEST-TOKEN-abcdef";
pub const BOT_ID: u64 = 999_000;
pub const BOT_USERNAME: &str = "wallet_support_bot";

#[derive(Default)]
struct State_ {
    updates: Vec<Value>,
    next_update_id: i64,
    /// Every method call: (method, parameters).
    calls: Vec<(String, Value)>,
    /// Answers for the next sendMessage calls: (HTTP status, body).
    send_script: VecDeque<(u16, Value)>,
    files: HashMap<String, (String, Vec<u8>)>,
    next_message_id: i64,
    /// sendMessage to these chats answers only after this long.
    slow_chats: HashMap<i64, Duration>,
    /// Once this many messages went out, further sendMessage calls never answer.
    stall_after: Option<i64>,
}

#[derive(Clone)]
pub struct FakeTelegram {
    pub url: String,
    state: Arc<Mutex<State_>>,
    pushed: Arc<Notify>,
    sent: Arc<Notify>,
}

type Shared = (Arc<Mutex<State_>>, Arc<Notify>, Arc<Notify>);

impl FakeTelegram {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State_ {
            next_update_id: 1000,
            next_message_id: 5000,
            ..Default::default()
        }));
        let pushed = Arc::new(Notify::new());
        let sent = Arc::new(Notify::new());
        let app = axum::Router::new()
            .route("/{bot}/{method}", axum::routing::post(method).get(method))
            .route("/file/{bot}/{path}", axum::routing::get(file))
            .with_state((state.clone(), pushed.clone(), sent.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{addr}"),
            state,
            pushed,
            sent,
        }
    }

    /// Queues an update (the `update_id` is assigned) and wakes a waiting getUpdates.
    pub fn push(&self, kind: &str, message: Value) -> i64 {
        let mut state = self.state.lock().unwrap();
        let id = state.next_update_id;
        state.next_update_id += 1;
        state
            .updates
            .push(json!({ "update_id": id, kind: message }));
        drop(state);
        self.pushed.notify_waiters();
        id
    }

    pub fn add_file(&self, file_id: &str, path: &str, bytes: &[u8]) {
        self.state
            .lock()
            .unwrap()
            .files
            .insert(file_id.into(), (path.into(), bytes.to_vec()));
    }

    /// The next sendMessage calls answer these (status, description) errors, in order; a 200
    /// lets its call through.
    pub fn fail_sends(&self, errors: &[(u16, &str, Option<u32>)]) {
        let mut state = self.state.lock().unwrap();
        for (status, description, retry_after) in errors {
            let mut body = json!({ "ok": false, "error_code": status, "description": description });
            if let Some(after) = retry_after {
                body["parameters"] = json!({ "retry_after": after });
            }
            state.send_script.push_back((*status, body));
        }
    }

    /// Returns once `n` messages were sent successfully in all.
    pub async fn wait_for_sends(&self, n: usize) {
        loop {
            let notified = self.sent.notified();
            if self.state.lock().unwrap().next_message_id - 5000 >= n as i64 {
                return;
            }
            notified.await;
        }
    }

    /// sendMessage to `chat` answers after `delay`, as a struggling Bot API would.
    pub fn slow_chat(&self, chat: i64, delay: Duration) {
        self.state.lock().unwrap().slow_chats.insert(chat, delay);
    }

    /// After `sent` successful sends in all, sendMessage hangs (until `unstall`, for calls made
    /// after it): a request in flight when the daemon dies.
    pub fn stall_sends_after(&self, sent: usize) {
        self.state.lock().unwrap().stall_after = Some(sent as i64);
    }

    pub fn unstall(&self) {
        self.state.lock().unwrap().stall_after = None;
    }

    pub fn calls(&self, method: &str) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|(m, _)| m.eq_ignore_ascii_case(method))
            .map(|(_, p)| p.clone())
            .collect()
    }
}

/// A private-chat text message from customer `user`.
pub fn private_text(user: i64, message_id: i64, text: &str) -> Value {
    json!({
        "message_id": message_id,
        "date": 1_790_000_000 + message_id,
        "chat": { "id": user, "type": "private", "first_name": "Carol", "last_name": "Crypto", "username": "carol_c" },
        "from": { "id": user, "is_bot": false, "first_name": "Carol", "last_name": "Crypto",
                  "username": "carol_c", "language_code": "uk" },
        "text": text
    })
}

/// Put in an update's text, it reaches the daemon as the lone surrogate escape `\ud800`.
pub const LONE_SURROGATE: &str = "\u{E000}lone-surrogate\u{E000}";

fn ok(result: Value) -> Response {
    axum::Json(json!({ "ok": true, "result": result })).into_response()
}

async fn method(
    State((state, pushed, sent)): State<Shared>,
    Path((bot, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    if bot != format!("bot{TOKEN}") {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"ok": false, "error_code": 401, "description": "Unauthorized"})),
        )
            .into_response();
    }
    // JSON for most methods; multipart (setWebhook, uploads) is recorded as raw text.
    let params: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| json!({ "_raw": String::from_utf8_lossy(&body) }));
    state
        .lock()
        .unwrap()
        .calls
        .push((method.clone(), params.clone()));
    match method.to_ascii_lowercase().as_str() {
        "getme" => ok(json!({
            "id": BOT_ID, "is_bot": true, "first_name": "Wallet Support", "username": BOT_USERNAME,
            "can_join_groups": true, "can_read_all_group_messages": false,
            "supports_inline_queries": false, "has_main_web_app": false
        })),
        "deletewebhook" | "setwebhook" | "deletemessage" | "answercallbackquery" => {
            ok(json!(true))
        }
        "getupdates" => {
            let offset = params["offset"].as_i64().unwrap_or(0);
            let timeout = params["timeout"].as_u64().unwrap_or(0);
            let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout);
            loop {
                let waiter = pushed.notified();
                {
                    let mut s = state.lock().unwrap();
                    // Like Telegram: an offset confirms (forgets) every earlier update.
                    s.updates.retain(|u| u["update_id"].as_i64().unwrap() >= offset);
                    if !s.updates.is_empty() {
                        // JSON may carry a lone UTF-16 surrogate, which no `Value` can hold:
                        // the marker is swapped for one in the text sent.
                        let body = json!({ "ok": true, "result": s.updates.clone() })
                            .to_string()
                            .replace(LONE_SURROGATE, "\\ud800");
                        return ([("content-type", "application/json")], body).into_response();
                    }
                }
                if tokio::time::timeout_at(deadline, waiter).await.is_err() {
                    return ok(json!([]));
                }
            }
        }
        "sendphoto" | "senddocument" => {
            let mut s = state.lock().unwrap();
            s.next_message_id += 1;
            sent.notify_waiters();
            ok(json!({
                "message_id": s.next_message_id, "date": 1_790_000_000,
                "chat": { "id": 1, "type": "private", "first_name": "Carol" },
                "from": { "id": BOT_ID, "is_bot": true, "first_name": "Wallet Support" },
                "document": { "file_id": "sent", "file_unique_id": "sent" }
            }))
        }
        "sendmessage" => {
            let delay = params["chat_id"]
                .as_i64()
                .and_then(|chat| state.lock().unwrap().slow_chats.get(&chat).copied());
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            let stalled = {
                let s = state.lock().unwrap();
                s.stall_after.is_some_and(|n| s.next_message_id - 5000 >= n)
            };
            if stalled {
                // Never answered: the caller's process dies with the request open.
                std::future::pending::<()>().await;
            }
            let mut s = state.lock().unwrap();
            // A scripted 200 lets that call through.
            if let Some((status, body)) = s.send_script.pop_front().filter(|(s, _)| *s != 200) {
                return (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response();
            }
            s.next_message_id += 1;
            sent.notify_waiters();
            let chat = params["chat_id"].clone();
            ok(json!({
                "message_id": s.next_message_id,
                "date": 1_790_000_000,
                "chat": { "id": chat, "type": "private", "first_name": "Carol" },
                "from": { "id": BOT_ID, "is_bot": true, "first_name": "Wallet Support", "username": BOT_USERNAME },
                "text": params["text"]
            }))
        }
        "getfile" => {
            let s = state.lock().unwrap();
            let id = params["file_id"].as_str().unwrap_or("");
            match s.files.get(id) {
                Some((path, bytes)) => ok(json!({
                    "file_id": id, "file_unique_id": format!("u-{id}"), "file_size": bytes.len(), "file_path": path
                })),
                None => (StatusCode::BAD_REQUEST, axum::Json(json!({"ok": false, "error_code": 400, "description": "Bad Request: invalid file_id"}))).into_response(),
            }
        }
        _ => (StatusCode::NOT_FOUND, axum::Json(json!({"ok": false, "error_code": 404, "description": "Not Found: method not found"}))).into_response(),
    }
}

async fn file(
    State((state, _, _)): State<Shared>,
    Path((bot, path)): Path<(String, String)>,
) -> Response {
    if bot != format!("bot{TOKEN}") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let s = state.lock().unwrap();
    match s.files.values().find(|(p, _)| *p == path) {
        Some((_, bytes)) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
