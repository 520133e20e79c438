//! Switchboard's Discord channel (serenity): a DM with the bot is one conversation per user; a
//! customer posting in a configured support channel gets a thread of their own, and the
//! conversation lives in it. Replies never ping anyone (`allowed_mentions` empty).

pub mod config;
// Public for the property tests in tests/; not part of the crate's API.
#[doc(hidden)]
pub mod convert;
mod error;
mod inbound;
mod outbound;

pub use config::{DiscordConfig, ThreadMode};

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serenity::http::{Http, HttpBuilder};
use std::sync::Arc;
use switchboard_core::{Channel, ChannelError, InboundSink, Outbound, SendError, SendReceipt};
use tokio_util::sync::CancellationToken;

pub struct DiscordChannel {
    config: DiscordConfig,
    http: Arc<Http>,
    files: reqwest::Client,
    routes: inbound::Routes,
    /// Recently received customer messages → the channel they were posted in (a support
    /// channel message belongs to the customer's thread's conversation but lives in the
    /// channel), so one can be deleted right after it was stored.
    posted_in: std::sync::Mutex<std::collections::HashMap<u64, u64>>,
}

/// Messages remembered in `posted_in`; past it the map starts over (deletion follows ingest
/// within seconds, so only the newest matter).
const POSTED_IN_LIMIT: usize = 4096;

/// A REST client for `config`: the fake in tests, discord.com otherwise.
pub(crate) fn http(config: &DiscordConfig) -> Http {
    let mut builder = HttpBuilder::new(config.token.expose_secret());
    let base = config.api_url.as_str().trim_end_matches('/');
    if base != "https://discord.com" {
        // serenity's proxy replaces the https://discord.com prefix of every API URL, but only on
        // requests that bypass its ratelimiter: a proxy (twilight-http-proxy, the tests' fake)
        // owns rate limiting then, and a 429 it passes on is retried by the outbox.
        builder = builder.proxy(base).ratelimiter_disabled(true);
    }
    builder.build()
}

impl DiscordChannel {
    pub fn new(config: DiscordConfig) -> Result<Self, ChannelError> {
        let errors = config.validate("channel");
        if !errors.is_empty() {
            return Err(ChannelError::Config(errors.join("; ")));
        }
        let files = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(120))
            .build()
            .map_err(|e| ChannelError::Config(format!("HTTP client: {e}")))?;
        Ok(Self {
            http: Arc::new(http(&config)),
            routes: inbound::Routes::new(&config),
            posted_in: Default::default(),
            files,
            config,
        })
    }

    pub fn config(&self) -> &DiscordConfig {
        &self.config
    }
}

#[async_trait]
impl Channel for DiscordChannel {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> &'static str {
        "discord"
    }

    async fn run(
        &self,
        sink: Arc<dyn InboundSink>,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError> {
        inbound::run(self, sink, shutdown).await
    }

    async fn send(&self, message: &Outbound) -> Result<SendReceipt, SendError> {
        self.deliver(message).await
    }

    /// Deletes a customer's message in a guild channel or thread; it needs the Manage Messages
    /// permission there (Discord's refusal is a permanent error). Bots cannot delete a user's
    /// DM messages at all.
    async fn retract(&self, thread_id: &str, external_id: &str) -> Result<(), SendError> {
        let message: u64 = external_id
            .parse()
            .map_err(|_| SendError::permanent(format!("{external_id:?} is not a Discord id")))?;
        let remembered = self.posted_in.lock().unwrap().get(&message).copied();
        let channel = remembered
            .or_else(|| convert::channel_of(thread_id))
            .ok_or_else(|| SendError::permanent(format!("{thread_id:?} names no channel")))?;
        self.http
            .delete_message(
                serenity::model::id::ChannelId::new(channel),
                serenity::model::id::MessageId::new(message),
                Some("it held the customer's wallet recovery phrase or private key"),
            )
            .await
            .map_err(error::classify)
    }
}
