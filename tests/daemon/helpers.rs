//! `spawn_app()`: the daemon on an ephemeral port with a temp database, an agent token, and a
//! local webhook receiver standing in for the `api` channel's remote end.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard::app::Application;
use switchboard::config::{ApiChannelConfig, ChannelConfig, Config};
use switchboard::store::Role;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub const SECRET: &str = "website-secret-0123456789";

/// Logs only when asked (`TEST_LOG=1`), so a passing run stays quiet.
pub fn init_logs() {
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("switchboard=debug,info")
            .with_test_writer()
            .try_init();
    }
}

/// What the webhook receiver got: headers and the raw body.
#[derive(Clone, Debug)]
pub struct HookRequest {
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl HookRequest {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

#[derive(Default)]
struct HookState {
    /// Status codes to answer, in order; 200 once exhausted (or `always` when set).
    script: VecDeque<u16>,
    always: Option<u16>,
    /// Sent as Retry-After with every non-2xx answer.
    retry_after: Option<String>,
    received: Vec<HookRequest>,
}

/// A local HTTP server receiving the `api` channel's webhooks, scriptable per test.
#[derive(Clone)]
pub struct Webhook {
    pub url: String,
    state: Arc<Mutex<HookState>>,
}

impl Webhook {
    pub async fn start() -> Self {
        let state: Arc<Mutex<HookState>> = Arc::default();
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url: format!("http://{addr}/hook"),
            state,
        }
    }

    pub fn answer(&self, statuses: &[u16]) {
        self.state.lock().unwrap().script.extend(statuses);
    }

    pub fn always(&self, status: u16) {
        self.state.lock().unwrap().always = Some(status);
    }

    pub fn retry_after(&self, value: &str) {
        self.state.lock().unwrap().retry_after = Some(value.to_owned());
    }

    pub fn received(&self) -> Vec<HookRequest> {
        self.state.lock().unwrap().received.clone()
    }
}

async fn receive(
    State(state): State<Arc<Mutex<HookState>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> impl IntoResponse {
    let mut state = state.lock().unwrap();
    state.received.push(HookRequest {
        headers,
        body: body.to_vec(),
    });
    let n = state.received.len();
    let status = state.script.pop_front().or(state.always).unwrap_or(200);
    let status = StatusCode::from_u16(status).unwrap();
    if status.is_success() {
        (status, axum::Json(json!({ "id": format!("hook-{n}") }))).into_response()
    } else {
        let mut response = (status, format!("scripted {status}")).into_response();
        if let Some(value) = &state.retry_after {
            response
                .headers_mut()
                .insert("retry-after", value.parse().unwrap());
        }
        response
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub token: String,
    pub hook: Webhook,
    pub config: Config,
    pub dir: Arc<TempDir>,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

/// A stopped `TestApp` (see `TestApp::park`).
pub struct Parked {
    pub config: Config,
    dir: Arc<TempDir>,
    hook: Webhook,
    token: String,
}

impl Parked {
    /// Starts the daemon again with `adjust` applied to its configuration.
    pub async fn start_with(self, adjust: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = self.config;
        adjust(&mut config);
        start(config, self.dir, self.hook, Some(self.token)).await
    }
}

pub fn test_config(dir: &TempDir, hook: &Webhook) -> Config {
    let mut config = Config::default();
    config.server.listen = "127.0.0.1:0".parse().unwrap();
    config.server.max_body_bytes = 64 * 1024;
    config.storage.database_url = crate::postgres::database_url(dir.path());
    config.storage.data_dir = dir.path().join("data");
    config.outbox.retry_schedule = vec![Duration::from_millis(200), Duration::from_millis(400)];
    // Tests of the front desk turn it on; the others count only their own messages.
    config.front_desk.enabled = false;
    config.channels = vec![ChannelConfig::Api(ApiChannelConfig {
        name: "website".into(),
        secret: SECRET.into(),
        webhook_url: Some(hook.url.clone()),
        timeout: Duration::from_secs(5),
    })];
    config
}

/// The daemon's store opened a second time, beside it (as the CLI would).
pub async fn open_store(app: &TestApp) -> switchboard::store::Store {
    switchboard::store::Storage::open(
        &app.config.storage.database_url,
        &app.config.storage.data_dir,
    )
    .await
    .unwrap()
    .store
}

/// Turns the front desk on, with its English acknowledgement replaced by `acknowledgement`
/// (`{wait}` in it is the expected wait).
pub fn front_desk_says(config: &mut Config, acknowledgement: &str) {
    config.front_desk.enabled = true;
    config.front_desk.texts.insert(
        "en".into(),
        [("acknowledgement".to_owned(), acknowledgement.to_owned())].into(),
    );
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    init_logs();
    let dir = Arc::new(TempDir::new().unwrap());
    let hook = Webhook::start().await;
    let mut config = test_config(&dir, &hook);
    adjust(&mut config);
    config.validate().unwrap();
    start(config, dir, hook, None).await
}

async fn start(config: Config, dir: Arc<TempDir>, hook: Webhook, token: Option<String>) -> TestApp {
    let app = Application::build(config.clone()).await.unwrap();
    let token = match token {
        Some(token) => token,
        None => {
            app.store()
                .create_agent("Alice Agent", "alice@example.com", Role::Admin)
                .await
                .unwrap()
                .1
        }
    };
    let addr = app.local_addr();
    let shutdown = app.shutdown_token();
    let handle = tokio::spawn(app.run_until_stopped());
    TestApp {
        addr,
        client: reqwest::Client::new(),
        token,
        hook,
        config,
        dir,
        shutdown,
        handle,
    }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the daemon gracefully and starts it again on the same database and data dir.
    pub async fn restart(self) -> TestApp {
        let (config, dir, hook, token) = (
            self.config.clone(),
            self.dir.clone(),
            self.hook.clone(),
            self.token.clone(),
        );
        self.stop().await;
        start(config, dir, hook, Some(token)).await
    }

    /// Stops the daemon gracefully, keeping what it takes to start it again later (after
    /// something was done to its database, say) with the same agent token.
    pub async fn park(self) -> Parked {
        let parked = Parked {
            config: self.config.clone(),
            dir: self.dir.clone(),
            hook: self.hook.clone(),
            token: self.token.clone(),
        };
        self.stop().await;
        parked
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.handle)
            .await
            .expect("daemon stops within 10 s")
            .unwrap()
            .unwrap();
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap()
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.get(path).await;
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    pub async fn send_json(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Value,
    ) -> reqwest::Response {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// A customer message through the `api` channel's inbound endpoint.
    pub async fn post_inbound(&self, channel: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/api/v1/channels/{channel}/inbound")))
            .bearer_auth(SECRET)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    pub async fn customer_says(&self, thread: &str, message_id: &str, text: &str) -> Value {
        let response = self
            .post_inbound(
                "website",
                json!({"thread_id": thread, "message_id": message_id,
                       "sender": {"id": format!("visitor-{thread}"), "name": "Carol Customer"},
                       "text": text}),
            )
            .await;
        assert!(response.status().is_success(), "{}", response.status());
        response.json().await.unwrap()
    }

    pub async fn post_reply(&self, conversation_id: i64, text: &str) -> Value {
        let response = self
            .send_json(
                reqwest::Method::POST,
                &format!("/api/v1/conversations/{conversation_id}/messages"),
                json!({ "text": text }),
            )
            .await;
        assert_eq!(response.status(), 202);
        response.json::<Value>().await.unwrap()["message"].clone()
    }

    /// Posts an agent reply and waits until the channel delivered it; returns the message.
    pub async fn reply_sent(&self, conversation_id: i64, text: &str) -> Value {
        let reply = self.post_reply(conversation_id, text).await;
        self.wait_for_status(conversation_id, id_of(&reply), "sent")
            .await
    }

    pub async fn messages(&self, conversation_id: i64) -> Vec<Value> {
        let body = self
            .get_json(&format!("/api/v1/conversations/{conversation_id}/messages"))
            .await;
        body["messages"].as_array().unwrap().clone()
    }

    pub async fn message(&self, conversation_id: i64, message_id: i64) -> Value {
        self.messages(conversation_id)
            .await
            .into_iter()
            .find(|m| m["id"] == message_id)
            .expect("message is listed")
    }

    /// The channel's conversations once there are at least `n`.
    pub async fn wait_conversations(&self, channel: &str, n: usize) -> Vec<Value> {
        eventually(|| async {
            let list = self
                .get_json(&format!("/api/v1/conversations?channel={channel}"))
                .await;
            let list = list["conversations"].as_array().unwrap().clone();
            (list.len() >= n).then_some(list)
        })
        .await
    }

    /// The conversation's messages once there are at least `n`.
    pub async fn wait_messages(&self, conversation_id: i64, n: usize) -> Vec<Value> {
        eventually(|| async {
            let messages = self.messages(conversation_id).await;
            (messages.len() >= n).then_some(messages)
        })
        .await
    }

    /// `/healthz` (no token needed).
    pub async fn health(&self) -> Value {
        let response = self.client.get(self.url("/healthz")).send().await.unwrap();
        response.json().await.unwrap()
    }

    /// The whole health document once `channel` is in `state`.
    pub async fn wait_channel_state(&self, channel: &str, state: &str) -> Value {
        eventually(|| async {
            let health = self.health().await;
            (health["channels"][channel]["state"] == state).then_some(health)
        })
        .await
    }

    /// Polls until the message's delivery status is `status` (the dispatcher runs on its own).
    pub async fn wait_for_status(
        &self,
        conversation_id: i64,
        message_id: i64,
        status: &str,
    ) -> Value {
        self.wait_for_status_within(conversation_id, message_id, status, Duration::from_secs(10))
            .await
    }

    pub async fn wait_for_status_within(
        &self,
        conversation_id: i64,
        message_id: i64,
        status: &str,
        limit: Duration,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let message = self.message(conversation_id, message_id).await;
            if message["delivery_status"] == status {
                return message;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "message never became {status}: {message}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// A loopback port nobody listens on right now, for a server a test starts itself.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The `id` of an API object.
pub fn id_of(value: &Value) -> i64 {
    value["id"].as_i64().unwrap()
}

/// Polls `check` until it returns Some, for up to 10 s.
pub async fn eventually<T, F, Fut>(mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
