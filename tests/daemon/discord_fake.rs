//! A fake Discord on 127.0.0.1: the REST API under `/api/v10` (serenity's `HttpBuilder::proxy`
//! sends it here) and the gateway over plain `ws://` (HELLO, IDENTIFY → READY, heartbeat ACK,
//! RESUME → RESUMED, dispatches with increasing `s`). Scriptable per test: push gateway events,
//! put messages into a channel's history without dispatching them (posted while the bot was
//! away), record REST calls, inject error answers, drop the socket, refuse the intents.

use axum::body::Bytes;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::{Notify, mpsc};

pub const TOKEN: &str = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.fake-token-for-tests_0123456789";
pub const BOT_ID: u64 = 900_000_000_000_000_001;
pub const GUILD: u64 = 800_000_000_000_000_001;
pub const SUPPORT_CHANNEL: u64 = 700_000_000_000_000_001;
const DROP: &[u8] = b"drop the connection";

/// One REST call as the fake received it.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// The JSON body, or a multipart request's `payload_json`.
    pub json: Value,
    /// File names of a multipart upload.
    pub files: Vec<String>,
    /// The status the fake answered with.
    pub status: u16,
    /// The id of the message a successful message POST created.
    pub created: Option<String>,
}

#[derive(Default)]
struct Inner {
    next_id: u64,
    seq: u64,
    calls: Vec<Call>,
    /// Channel id → its JSON (threads, DMs) for GET /channels/{id}.
    channels: HashMap<u64, Value>,
    /// Channel id → messages, oldest first.
    history: HashMap<u64, Vec<Value>>,
    files: HashMap<String, Vec<u8>>,
    /// Answers for the next message POSTs: (status, Discord error code).
    send_script: VecDeque<(u16, i64)>,
    socket: Option<mpsc::UnboundedSender<WsMessage>>,
    identifies: u32,
    resumes: u32,
    intents: Option<u64>,
    refuse_intents: bool,
    refuse_threads: bool,
    /// Posted messages by (channel, nonce), for `enforce_nonce` (Discord keeps them minutes).
    nonces: HashMap<(String, String), Value>,
    /// Message POSTs are stored, then answered only after this long (a lost answer).
    stall_answers: Option<std::time::Duration>,
}

#[derive(Clone)]
pub struct FakeDiscord {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
    changed: Arc<Notify>,
}

type Shared = (Arc<Mutex<Inner>>, Arc<Notify>, String);

impl FakeDiscord {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            next_id: 1_000_000_000_000_000_000,
            ..Default::default()
        }));
        let changed = Arc::new(Notify::new());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let app = axum::Router::new()
            .route("/gateway", axum::routing::get(gateway))
            .route("/files/{name}", axum::routing::get(file))
            .fallback(rest)
            .with_state((inner.clone(), changed.clone(), url.clone()));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let fake = Self {
            url,
            inner,
            changed,
        };
        fake.inner.lock().unwrap().channels.insert(
            SUPPORT_CHANNEL,
            json!({"id": SUPPORT_CHANNEL.to_string(), "type": 0, "guild_id": GUILD.to_string(),
                   "name": "support", "position": 0, "permission_overwrites": [], "nsfw": false}),
        );
        fake
    }

    pub fn next_id(&self) -> u64 {
        let mut inner = self.inner.lock().unwrap();
        inner.next_id += 1;
        inner.next_id
    }

    /// A DM channel with `user`.
    pub fn dm_channel(&self, user: u64) -> u64 {
        let id = self.next_id();
        self.inner.lock().unwrap().channels.insert(
            id,
            json!({"id": id.to_string(), "type": 1, "recipients": [user_json(user, "Carol")]}),
        );
        id
    }

    /// A customer message (in `channel`; guild messages carry the guild id), kept in the
    /// channel's history like Discord does. Not dispatched: see `push_message`.
    pub fn message(&self, channel: u64, guild: bool, user: u64, name: &str, text: &str) -> Value {
        let id = self.next_id();
        let mut message = json!({
            "id": id.to_string(), "channel_id": channel.to_string(),
            "author": user_json(user, name), "content": text,
            "timestamp": "2026-11-24T10:00:00.000000+00:00", "edited_timestamp": null,
            "tts": false, "mention_everyone": false, "mentions": [], "mention_roles": [],
            "attachments": [], "embeds": [], "pinned": false, "type": 0, "flags": 0
        });
        if guild {
            message["guild_id"] = json!(GUILD.to_string());
        }
        self.inner
            .lock()
            .unwrap()
            .history
            .entry(channel)
            .or_default()
            .push(message.clone());
        message
    }

    /// Dispatches INTERACTION_CREATE for `user` pressing the button `custom_id` under the
    /// bot's message `message` in DM `channel`; returns the interaction id.
    pub fn press(&self, channel: u64, user: u64, message: &Value, custom_id: &str) -> String {
        let id = self.next_id().to_string();
        self.push(
            "INTERACTION_CREATE",
            json!({
                "id": id, "application_id": BOT_ID.to_string(), "type": 3,
                "data": {"custom_id": custom_id, "component_type": 2},
                "channel_id": channel.to_string(), "user": user_json(user, "Carol"),
                "token": format!("token-{id}"), "version": 1, "message": message,
                "locale": "en-US", "app_permissions": "0", "entitlements": [],
                "authorizing_integration_owners": {}, "context": 1,
                "attachment_size_limit": 10_485_760
            }),
        );
        id
    }

    /// Posts a customer message and dispatches MESSAGE_CREATE for it.
    pub fn push_message(
        &self,
        channel: u64,
        guild: bool,
        user: u64,
        name: &str,
        text: &str,
    ) -> Value {
        let message = self.message(channel, guild, user, name, text);
        self.push("MESSAGE_CREATE", message.clone());
        message
    }

    /// A file served at `/files/<name>`, described as a Discord attachment.
    pub fn attachment(&self, name: &str, content_type: &str, bytes: &[u8]) -> Value {
        self.inner
            .lock()
            .unwrap()
            .files
            .insert(name.into(), bytes.to_vec());
        json!({"id": self.next_id().to_string(), "filename": name, "size": bytes.len(),
               "url": format!("{}/files/{name}", self.url), "proxy_url": format!("{}/files/{name}", self.url),
               "content_type": content_type})
    }

    /// Sends a dispatch on the live socket (lost if none is connected, as on Discord).
    pub fn push(&self, event: &str, data: Value) {
        let mut inner = self.inner.lock().unwrap();
        inner.seq += 1;
        let frame = json!({"op": 0, "t": event, "s": inner.seq, "d": data});
        if let Some(socket) = &inner.socket {
            let _ = socket.send(WsMessage::Text(frame.to_string().into()));
        }
    }

    /// A moderator deletes a thread: it is gone from REST and THREAD_DELETE is dispatched.
    pub fn delete_thread(&self, thread: u64) {
        let removed = self.inner.lock().unwrap().channels.remove(&thread);
        let removed = removed.expect("a thread the fake knows");
        self.push(
            "THREAD_DELETE",
            json!({"id": thread.to_string(), "guild_id": GUILD.to_string(),
                   "parent_id": removed["parent_id"], "type": removed["type"]}),
        );
    }

    /// Cuts the connection without a close frame, like a network failure.
    pub fn drop_socket(&self) {
        if let Some(socket) = self.inner.lock().unwrap().socket.take() {
            let _ = socket.send(WsMessage::Binary(DROP.into()));
        }
    }

    /// Thread creation answers 403 Missing Permissions, as for a bot without that permission.
    pub fn refuse_threads(&self) {
        self.inner.lock().unwrap().refuse_threads = true;
    }

    pub fn refuse_intents(&self) {
        self.inner.lock().unwrap().refuse_intents = true;
    }

    /// Lets the next `times` message sends through before any scripted failure after them.
    pub fn pass_sends(&self, times: usize) {
        self.fail_sends(200, 0, times);
    }

    /// The next message POSTs answer `status` with Discord error `code`.
    pub fn fail_sends(&self, status: u16, code: i64, times: usize) {
        let mut inner = self.inner.lock().unwrap();
        for _ in 0..times {
            inner.send_script.push_back((status, code));
        }
    }

    /// Stores posted messages but holds each answer back this long, like a connection that
    /// drops after Discord accepted the message.
    pub fn stall_answers(&self, delay: Option<std::time::Duration>) {
        self.inner.lock().unwrap().stall_answers = delay;
    }

    /// Messages visible in a channel (what the customer sees), oldest first.
    pub fn visible(&self, channel: u64) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap()
            .history
            .get(&channel)
            .cloned()
            .unwrap_or_default()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Message POSTs to `channel`.
    pub fn sends_to(&self, channel: u64) -> Vec<Call> {
        let path = format!("/api/v10/channels/{channel}/messages");
        self.calls()
            .into_iter()
            .filter(|c| c.method == "POST" && c.path == path)
            .collect()
    }

    pub fn connections(&self) -> (u32, u32) {
        let inner = self.inner.lock().unwrap();
        (inner.identifies, inner.resumes)
    }

    pub fn intents(&self) -> Option<u64> {
        self.inner.lock().unwrap().intents
    }

    pub fn connected(&self) -> bool {
        self.inner.lock().unwrap().socket.is_some()
    }

    /// Waits until `check` holds on the fake's state, for up to 10 s.
    pub async fn until(&self, what: &str, check: impl Fn(&FakeDiscord) -> bool) {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        while !check(self) {
            let wait = self.changed.notified();
            assert!(
                tokio::time::Instant::now() < deadline,
                "fake discord: {what} never happened"
            );
            let _ = tokio::time::timeout(std::time::Duration::from_millis(50), wait).await;
        }
    }
}

pub fn user_json(id: u64, name: &str) -> Value {
    json!({"id": id.to_string(), "username": name.to_lowercase(), "discriminator": "0",
           "global_name": name, "avatar": null})
}

async fn file(State((inner, ..)): State<Shared>, Path(name): Path<String>) -> Response {
    match inner.lock().unwrap().files.get(&name) {
        Some(bytes) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn error(status: u16, code: i64, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap();
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

/// The JSON of a request: the body itself, or a multipart upload's `payload_json` and file names.
fn body_json(headers: &HeaderMap, body: &[u8]) -> (Value, Vec<String>) {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if let Some(boundary) = content_type.split("boundary=").nth(1) {
        let text = String::from_utf8_lossy(body);
        let mut json = Value::Null;
        let mut files = Vec::new();
        for part in text.split(&format!("--{}", boundary.trim_matches('"'))) {
            let Some((head, content)) = part.split_once("\r\n\r\n") else {
                continue;
            };
            if head.contains("name=\"payload_json\"") {
                json = serde_json::from_str(content.trim_end_matches("\r\n")).unwrap();
            } else if let Some(name) = head.split("filename=\"").nth(1) {
                files.push(name.split('"').next().unwrap().to_owned());
            }
        }
        return (json, files);
    }
    (
        serde_json::from_slice(body).unwrap_or(Value::Null),
        Vec::new(),
    )
}

async fn rest(
    State((inner, changed, url)): State<Shared>,
    method: Method,
    uri: axum::http::Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Interaction callbacks are authorized by the interaction's token in the path.
    if !uri.path().contains("/interactions/")
        && headers.get("authorization").and_then(|v| v.to_str().ok())
            != Some(&format!("Bot {TOKEN}"))
    {
        return error(401, 0, "401: Unauthorized");
    }
    let path = uri.path().to_owned();
    let (json_body, files) = body_json(&headers, &body);
    let response = {
        let mut inner = inner.lock().unwrap();
        inner.calls.push(Call {
            method: method.to_string(),
            path: path.clone(),
            json: json_body.clone(),
            files,
            status: 0,
            created: None,
        });
        let segments: Vec<&str> = path.trim_start_matches("/api/v10/").split('/').collect();
        let gateway_url = format!("{}/gateway", url.replace("http://", "ws://"));
        let response = match (method.as_str(), segments.as_slice()) {
            ("GET", ["gateway"]) => axum::Json(json!({"url": gateway_url})).into_response(),
            ("GET", ["gateway", "bot"]) => axum::Json(json!({"url": gateway_url, "shards": 1,
                "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}}))
                .into_response(),
            ("GET", ["channels", id]) => match inner.channels.get(&id.parse::<u64>().unwrap_or(0)) {
                Some(channel) => axum::Json(channel.clone()).into_response(),
                None => error(404, 10003, "Unknown Channel"),
            },
            ("GET", ["channels", id, "messages"]) => {
                let after: u64 = query.get("after").and_then(|a| a.parse().ok()).unwrap_or(0);
                let limit: usize = query.get("limit").and_then(|l| l.parse().ok()).unwrap_or(50);
                let history = inner.history.get(&id.parse().unwrap_or(0)).cloned().unwrap_or_default();
                // Discord answers `after` with the oldest ones after it, newest first.
                let mut page: Vec<Value> = history
                    .into_iter()
                    .filter(|m| m["id"].as_str().unwrap().parse::<u64>().unwrap() > after)
                    .take(limit)
                    .collect();
                page.reverse();
                axum::Json(Value::Array(page)).into_response()
            }
            ("POST", ["channels", id, "messages"]) => {
                if let Some((status, code)) = inner.send_script.pop_front().filter(|(s, _)| *s != 200) {
                    let message = match code {
                        50007 => "Cannot send messages to this user",
                        _ => "scripted failure",
                    };
                    error(status, code, message)
                } else if let Some(first) = json_body["nonce"]
                    .as_str()
                    .filter(|_| json_body["enforce_nonce"] == true)
                    .and_then(|n| inner.nonces.get(&(id.to_string(), n.to_owned())))
                {
                    // Discord answers a repeated nonce with the message it already created.
                    axum::Json(first.clone()).into_response()
                } else {
                    inner.next_id += 1;
                    let message_id = inner.next_id;
                    let message = json!({
                        "id": message_id.to_string(), "channel_id": id, "author": {"id": BOT_ID.to_string(),
                        "username": "supportbot", "discriminator": "0", "global_name": null, "avatar": null, "bot": true},
                        "content": json_body["content"].clone(), "timestamp": "2026-11-24T10:00:00.000000+00:00",
                        "edited_timestamp": null, "tts": false, "mention_everyone": false, "mentions": [],
                        "mention_roles": [], "attachments": [], "embeds": [], "pinned": false, "type": 0, "flags": 0
                    });
                    inner.history.entry(id.parse().unwrap()).or_default().push(message.clone());
                    if let Some(nonce) = json_body["nonce"].as_str() {
                        inner.nonces.insert((id.to_string(), nonce.to_owned()), message.clone());
                    }
                    inner.calls.last_mut().unwrap().created = Some(message_id.to_string());
                    axum::Json(message).into_response()
                }
            }
            ("DELETE", ["channels", channel, "messages", message]) => {
                // Like Discord: bots may delete others' messages in guild channels (with Manage
                // Messages), never a user's message in a DM.
                let dm = inner
                    .channels
                    .get(&channel.parse::<u64>().unwrap_or(0))
                    .is_some_and(|c| c["type"] == 1);
                if dm {
                    error(403, 50003, "Cannot execute action on a DM channel")
                } else {
                    if let Some(history) = inner.history.get_mut(&channel.parse().unwrap_or(0)) {
                        history.retain(|m| m["id"] != *message);
                    }
                    StatusCode::NO_CONTENT.into_response()
                }
            }
            ("POST", ["channels", _, "threads"] | ["channels", _, "messages", _, "threads"])
                if inner.refuse_threads =>
            {
                error(403, 50013, "Missing Permissions")
            }
            ("POST", ["channels", parent, "messages", message, "threads"]) => {
                let id: u64 = message.parse().unwrap();
                match inner.channels.entry(id) {
                    std::collections::hash_map::Entry::Occupied(_) => {
                        error(400, 160004, "A thread has already been created for this message")
                    }
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        let thread = thread_json(id, parent, 11, &json_body);
                        slot.insert(thread.clone());
                        axum::Json(thread).into_response()
                    }
                }
            }
            ("POST", ["channels", parent, "threads"]) => {
                inner.next_id += 1;
                let id = inner.next_id;
                let kind = json_body["type"].as_u64().unwrap_or(12);
                let thread = thread_json(id, parent, kind, &json_body);
                inner.channels.insert(id, thread.clone());
                axum::Json(thread).into_response()
            }
            ("PUT", ["channels", _, "thread-members", _]) => StatusCode::NO_CONTENT.into_response(),
            ("POST", ["interactions", _, _, "callback"]) => StatusCode::NO_CONTENT.into_response(),
            _ => error(404, 0, "404: Not Found"),
        };
        let call = inner.calls.last_mut().unwrap();
        call.status = response.status().as_u16();
        let stall = (method == Method::POST && path.ends_with("/messages"))
            .then_some(inner.stall_answers)
            .flatten();
        (response, stall)
    };
    changed.notify_waiters();
    let (response, stall) = response;
    if let Some(delay) = stall {
        tokio::time::sleep(delay).await;
    }
    response
}

fn thread_json(id: u64, parent: &str, kind: u64, body: &Value) -> Value {
    json!({"id": id.to_string(), "type": kind, "guild_id": GUILD.to_string(), "parent_id": parent,
           "name": body["name"].clone(), "owner_id": BOT_ID.to_string(), "position": 0,
           "permission_overwrites": [], "nsfw": false, "member_count": 1, "message_count": 0,
           "thread_metadata": {"archived": false, "auto_archive_duration": 10080,
               "archive_timestamp": "2026-11-24T10:00:00.000000+00:00", "locked": false}})
}

async fn gateway(State(shared): State<Shared>, upgrade: WebSocketUpgrade) -> Response {
    upgrade.on_upgrade(move |socket| session(shared, socket))
}

async fn session((inner, changed, url): Shared, mut socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel::<WsMessage>();
    let hello = json!({"op": 10, "d": {"heartbeat_interval": 41250}, "s": null, "t": null});
    if socket
        .send(WsMessage::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            outgoing = rx.recv() => match outgoing {
                // drop_socket(): end the TCP connection without a close frame.
                Some(WsMessage::Binary(b)) if &b[..] == DROP => return,
                Some(frame) => {
                    let close = matches!(frame, WsMessage::Close(_));
                    if socket.send(frame).await.is_err() || close {
                        return;
                    }
                }
                None => return,
            },
            incoming = socket.recv() => {
                let Some(Ok(WsMessage::Text(text))) = incoming else {
                    if matches!(incoming, Some(Ok(_))) { continue; }
                    return;
                };
                let frame: Value = serde_json::from_str(&text).unwrap();
                let reply = {
                    let mut inner = inner.lock().unwrap();
                    match frame["op"].as_u64() {
                        Some(1) => Some(json!({"op": 11, "d": null, "s": null, "t": null})),
                        Some(2) => {
                            inner.identifies += 1;
                            inner.intents = frame["d"]["intents"].as_u64();
                            if inner.refuse_intents {
                                None
                            } else {
                                inner.socket = Some(tx.clone());
                                inner.seq += 1;
                                let ready = json!({
                                    "v": 10, "user": {"id": BOT_ID.to_string(), "username": "supportbot",
                                        "discriminator": "0", "global_name": null, "avatar": null, "bot": true,
                                        "verified": true, "mfa_enabled": false},
                                    "guilds": [{"id": GUILD.to_string(), "unavailable": true}],
                                    "session_id": format!("session-{}", inner.identifies),
                                    "resume_gateway_url": format!("{}/gateway", url.replace("http://", "ws://")),
                                    "shard": [0, 1],
                                    "application": {"id": BOT_ID.to_string(), "flags": 0}
                                });
                                Some(json!({"op": 0, "t": "READY", "s": inner.seq, "d": ready}))
                            }
                        }
                        Some(6) => {
                            inner.resumes += 1;
                            inner.socket = Some(tx.clone());
                            inner.seq += 1;
                            Some(json!({"op": 0, "t": "RESUMED", "s": inner.seq, "d": {}}))
                        }
                        _ => None,
                    }
                };
                let refused = inner.lock().unwrap().refuse_intents && frame["op"] == 2;
                if refused {
                    let close = CloseFrame { code: 4014, reason: "Disallowed intent(s).".into() };
                    let _ = socket.send(WsMessage::Close(Some(close))).await;
                    return;
                }
                if let Some(reply) = reply
                    && socket.send(WsMessage::Text(reply.to_string().into())).await.is_err()
                {
                    return;
                }
                changed.notify_waiters();
            }
        }
    }
}
