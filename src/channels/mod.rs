//! Builds the configured channel adapters (one explicit `match` on the config kind) and
//! supervises their inbound loops: a failing adapter is restarted with capped backoff and
//! reported unhealthy, while the others keep running.

pub mod api;

use crate::config::ChannelConfig;
use crate::delivery::Dispatcher;
use crate::safety::Origin;
use crate::store::Ingestor;
use async_trait::async_trait;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use switchboard_core::{Channel, ChannelError, Inbound, InboundSink, SinkError};
use tokio_util::sync::CancellationToken;

/// Every configured channel, by name.
#[derive(Clone, Default)]
pub struct Channels {
    pub all: Arc<HashMap<String, Arc<dyn Channel>>>,
    /// The `api` channels again, typed: the HTTP server verifies their inbound secret.
    pub api: Arc<HashMap<String, Arc<api::ApiChannel>>>,
    /// The Telegram channels, typed: the HTTP server hands them webhook posts.
    pub telegram: Arc<HashMap<String, Arc<switchboard_telegram::TelegramChannel>>>,
}

impl Channels {
    /// `instance_secret` signs what channels hand out and must recognise later (email
    /// Message-IDs) when their config names no key of its own.
    pub fn build(configs: &[ChannelConfig], instance_secret: &[u8]) -> anyhow::Result<Self> {
        let mut all: HashMap<String, Arc<dyn Channel>> = HashMap::new();
        let mut apis = HashMap::new();
        let mut telegrams = HashMap::new();
        for config in configs {
            match config {
                ChannelConfig::Api(c) => {
                    let channel = Arc::new(api::ApiChannel::new(c)?);
                    apis.insert(c.name.clone(), channel.clone());
                    all.insert(c.name.clone(), channel);
                }
                ChannelConfig::Telegram(c) => {
                    let channel = Arc::new(switchboard_telegram::TelegramChannel::new(c.clone())?);
                    telegrams.insert(c.name.clone(), channel.clone());
                    all.insert(c.name.clone(), channel);
                }
                ChannelConfig::Discord(c) => {
                    let channel = switchboard_discord::DiscordChannel::new(c.clone())?;
                    all.insert(c.name.clone(), Arc::new(channel));
                }
                ChannelConfig::Email(c) => {
                    let channel = switchboard_email::EmailChannel::new(c.clone(), instance_secret)?;
                    all.insert(c.name.clone(), Arc::new(channel));
                }
            }
        }
        Ok(Self {
            all: Arc::new(all),
            api: Arc::new(apis),
            telegram: Arc::new(telegrams),
        })
    }
}

/// An adapter's commits go through here into the store, tagged with its channel name.
pub struct ChannelSink {
    channel: String,
    ingestor: Ingestor,
    dispatcher: Dispatcher,
}

impl ChannelSink {
    pub fn new(channel: impl Into<String>, ingestor: Ingestor, dispatcher: Dispatcher) -> Self {
        Self {
            channel: channel.into(),
            ingestor,
            dispatcher,
        }
    }
}

#[async_trait]
impl InboundSink for ChannelSink {
    async fn commit(&self, batch: Vec<Inbound>, cursor: Option<String>) -> Result<(), SinkError> {
        let origins = Origin::of(&batch);
        let report = self
            .ingestor
            .ingest(&self.channel, batch, cursor)
            .await
            .map_err(|e| SinkError(e.to_string()))?;
        crate::safety::after_ingest(&self.dispatcher, &self.channel, &origins, &report);
        Ok(())
    }

    async fn cursor(&self) -> Result<Option<String>, SinkError> {
        self.ingestor
            .store()
            .cursor(&self.channel)
            .await
            .map_err(|e| SinkError(e.to_string()))
    }

    async fn find_thread(
        &self,
        sender_id: &str,
        message_ids: &[String],
        conversation_ids: &[i64],
    ) -> Result<Option<String>, SinkError> {
        self.ingestor
            .store()
            .find_thread(&self.channel, sender_id, message_ids, conversation_ids)
            .await
            .map_err(|e| SinkError(e.to_string()))
    }

    async fn message_origin(
        &self,
        external_id: &str,
    ) -> Result<Option<(String, switchboard_core::Sender)>, SinkError> {
        self.ingestor
            .store()
            .message_origin(&self.channel, external_id)
            .await
            .map_err(|e| SinkError(e.to_string()))
    }

    async fn route(&self, key: &str) -> Result<Option<String>, SinkError> {
        self.ingestor
            .store()
            .route(&self.channel, key)
            .await
            .map_err(|e| SinkError(e.to_string()))
    }

    async fn set_route(&self, key: &str, target: Option<&str>) -> Result<(), SinkError> {
        self.ingestor
            .store()
            .set_route(&self.channel, key, target)
            .await
            .map_err(|e| SinkError(e.to_string()))
    }

    async fn mark_failed(&self, external_id: &str, reason: &str) -> Result<bool, SinkError> {
        self.ingestor
            .store()
            .mark_failed(&self.channel, external_id, reason)
            .await
            .map_err(|e| SinkError(e.to_string()))
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ChannelState {
    Running,
    /// The inbound loop failed and is waiting to restart.
    Failing,
    /// Another daemon on the same database runs this channel's inbound loop; this one takes
    /// over when that one stops (outbound works here all along).
    Standby,
    Stopped,
}

#[derive(Debug, Clone, Serialize)]
pub struct ChannelHealth {
    pub kind: &'static str,
    pub state: ChannelState,
    pub last_error: Option<String>,
    pub restarts: u32,
}

pub type HealthMap = Arc<Mutex<HashMap<String, ChannelHealth>>>;

const BACKOFF_START: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);

/// Starts one supervised inbound loop per channel.
pub fn supervise(
    channels: &Channels,
    ingestor: &Ingestor,
    dispatcher: &Dispatcher,
    shutdown: &CancellationToken,
    tasks: &tokio_util::task::TaskTracker,
) -> HealthMap {
    let health: HealthMap = Arc::default();
    for (name, channel) in channels.all.iter() {
        health.lock().unwrap().insert(
            name.clone(),
            ChannelHealth {
                kind: channel.kind(),
                state: ChannelState::Running,
                last_error: None,
                restarts: 0,
            },
        );
        let sink: Arc<dyn InboundSink> = Arc::new(ChannelSink::new(
            name.clone(),
            ingestor.clone(),
            dispatcher.clone(),
        ));
        let (channel, shutdown, health, name, store) = (
            channel.clone(),
            shutdown.clone(),
            health.clone(),
            name.clone(),
            ingestor.store().clone(),
        );
        tasks.spawn(async move {
            let mut backoff = BACKOFF_START;
            loop {
                let lease = if channel.exclusive_inbound() {
                    match take_lease(&store, &name, &health, &shutdown).await {
                        Some(lease) => Some(lease),
                        None => break,
                    }
                } else {
                    None
                };
                // Stops the loop when the daemon stops or the lease is lost to another daemon.
                let stop = shutdown.child_token();
                let started = tokio::time::Instant::now();
                // Its own task, so a panic in the adapter's loop is caught here like an error
                // instead of silently ending the channel.
                let run = tokio::spawn({
                    let (channel, sink, stop) = (channel.clone(), sink.clone(), stop.clone());
                    async move { channel.run(sink, stop).await }
                });
                let lost = async {
                    match &lease {
                        Some(lease) => lease.lost().cancelled().await,
                        None => std::future::pending().await,
                    }
                };
                tokio::pin!(run);
                let run = tokio::select! {
                    run = &mut run => run,
                    _ = lost => {
                        stop.cancel();
                        tracing::warn!(channel = %name, "lease lost: stopping the inbound loop so another daemon can run it");
                        if tokio::time::timeout(LOOP_STOP, &mut run).await.is_err() {
                            tracing::error!(channel = %name, "inbound loop did not stop within {LOOP_STOP:?}; aborted");
                            run.abort();
                        }
                        drop(lease);
                        continue;
                    }
                };
                drop(lease);
                let result = match run {
                    Ok(result) => result,
                    Err(e) => Err(ChannelError::Transient(format!(
                        "inbound loop panicked: {}",
                        panic_message(e)
                    ))),
                };
                // A loop that ran a while before failing was healthy: start backing off afresh.
                if started.elapsed() > BACKOFF_MAX {
                    backoff = BACKOFF_START;
                }
                if shutdown.is_cancelled() {
                    break;
                }
                let error = match result {
                    Ok(()) => "inbound loop ended unexpectedly".to_owned(),
                    Err(e @ ChannelError::Config(_)) => {
                        tracing::error!(channel = %name, error = %e, "channel stopped: fix its configuration");
                        set_state(&health, &name, ChannelState::Failing, Some(e.to_string()));
                        break;
                    }
                    Err(e) => e.to_string(),
                };
                tracing::warn!(channel = %name, error, retry_in = ?backoff, "inbound loop failed, restarting");
                set_state(&health, &name, ChannelState::Failing, Some(error));
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(BACKOFF_MAX);
                if let Some(h) = health.lock().unwrap().get_mut(&name) {
                    h.restarts += 1;
                    h.state = ChannelState::Running;
                }
            }
            if shutdown.is_cancelled() {
                set_state(&health, &name, ChannelState::Stopped, None);
            }
        });
    }
    health
}

/// How often a daemon on standby asks for a channel's lease: the most a takeover waits.
const LEASE_RETRY: Duration = Duration::from_secs(2);
/// How long an inbound loop that lost its lease may take to stop before it is aborted.
const LOOP_STOP: Duration = Duration::from_secs(10);

/// Waits for the channel's lease (another daemon on the database may hold it), reporting the
/// channel on standby meanwhile; None when the daemon stops first.
async fn take_lease(
    store: &crate::store::Store,
    name: &str,
    health: &HealthMap,
    shutdown: &CancellationToken,
) -> Option<crate::store::ChannelLease> {
    let mut waiting = false;
    loop {
        match store.lease_channel(name).await {
            Ok(Some(lease)) => {
                if waiting {
                    tracing::info!(channel = %name, "took over the channel's inbound loop");
                    set_state(health, name, ChannelState::Running, None);
                }
                return Some(lease);
            }
            Ok(None) => {
                if !waiting {
                    tracing::info!(channel = %name, "another daemon runs this channel's inbound loop: on standby");
                    set_state(health, name, ChannelState::Standby, None);
                    waiting = true;
                }
            }
            Err(e) => {
                tracing::warn!(channel = %name, error = %e, "cannot take the channel's lease");
                set_state(
                    health,
                    name,
                    ChannelState::Failing,
                    Some(format!("lease: {e}")),
                );
                waiting = true;
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return None,
            _ = tokio::time::sleep(LEASE_RETRY) => {}
        }
    }
}

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into()),
        Err(e) => e.to_string(),
    }
}

fn set_state(health: &HealthMap, name: &str, state: ChannelState, error: Option<String>) {
    if let Some(h) = health.lock().unwrap().get_mut(name) {
        h.state = state;
        if error.is_some() {
            h.last_error = error;
        }
    }
}
