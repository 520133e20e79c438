//! What the benchmarks share (each bench includes this with `#[path]`; a folder, so cargo does not take it for a bench).

use std::path::Path;
use std::time::Duration;
use switchboard::app::Application;
use switchboard::config::{ChannelConfig, Config};
use switchboard::store::{EventBus, Role, Store};
use tokio_util::sync::CancellationToken;

/// `cargo test --all-targets` runs a bench without `--bench`: then it is a quick smoke run.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// A whole number from the environment, else `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// "p50 …, p99 …, max …" of a set of timings.
pub fn percentiles(mut v: Vec<Duration>) -> String {
    v.sort();
    let p = |q: f64| v[((v.len() as f64 - 1.0) * q) as usize];
    format!(
        "p50 {:.2?}, p99 {:.2?}, max {:.2?}",
        p(0.5),
        p(0.99),
        v[v.len() - 1]
    )
}

/// The daemon running in this process on a port of its own, with one channel and one agent.
pub struct BenchApp {
    pub base: String,
    /// The agent's API token.
    pub token: String,
    pub store: Store,
    pub bus: EventBus,
    pub client: reqwest::Client,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl BenchApp {
    /// Builds the daemon (database and files under `dir`) with `channel`, and starts it.
    pub async fn start(dir: &Path, channel: ChannelConfig) -> Self {
        Self::start_with(dir, channel, |_| {}).await
    }

    /// `start`, with the configuration adjusted first.
    pub async fn start_with(
        dir: &Path,
        channel: ChannelConfig,
        adjust: impl FnOnce(&mut Config),
    ) -> Self {
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.storage.database_url = format!("sqlite://{}", dir.join("b.db").display());
        config.storage.data_dir = dir.join("data");
        config.channels.push(channel);
        // The benchmarks measure the channels, not the front desk's extra messages.
        config.front_desk.enabled = false;
        adjust(&mut config);
        let app = Application::build(config).await.unwrap();
        let store = app.store().clone();
        let bus = app.bus().clone();
        let (_, token) = store
            .create_agent("Bench", "bench@example.com", Role::Agent)
            .await
            .unwrap();
        Self {
            base: format!("http://{}", app.local_addr()),
            token,
            store,
            bus,
            client: reqwest::Client::new(),
            shutdown: app.shutdown_token(),
            server: tokio::spawn(app.run_until_stopped()),
        }
    }

    /// Posts an agent reply into `conversation` and checks it was accepted.
    pub async fn post_reply(&self, conversation: i64, text: &str) {
        let response = self
            .client
            .post(format!(
                "{}/api/v1/conversations/{conversation}/messages",
                self.base
            ))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "text": text }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.server.await.unwrap().unwrap();
    }
}
