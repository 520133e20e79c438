//! Switchboard's Discord channel (serenity): a DM with the bot is one conversation per user; a
//! customer posting in a configured support channel gets a thread of their own, and the
//! conversation lives in it. Replies never ping anyone (`allowed_mentions` empty).

pub mod config;
mod inbound;

pub use config::{DiscordConfig, ThreadMode};

use async_trait::async_trait;
use secrecy::ExposeSecret;
use serenity::builder::{CreateAllowedMentions, CreateAttachment, CreateMessage};
use serenity::http::{Http, HttpBuilder, HttpError};
use serenity::model::channel::MessageReference;
use serenity::model::id::{ChannelId, MessageId};
use std::sync::Arc;
use switchboard_core::{Channel, ChannelError, InboundSink, Outbound, SendError, SendReceipt};
use tokio_util::sync::CancellationToken;

/// Discord's limit for one message's content.
pub const MAX_CHARS: usize = 2000;

pub struct DiscordChannel {
    config: DiscordConfig,
    http: Arc<Http>,
    files: reqwest::Client,
    routes: inbound::Routes,
}

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
            files,
            config,
        })
    }

    pub fn config(&self) -> &DiscordConfig {
        &self.config
    }
}

/// Whether retrying can help, and the reason the agent sees.
pub(crate) fn classify(error: serenity::Error) -> SendError {
    match &error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(response)) => {
            let status = response.status_code.as_u16();
            let code = response.error.code;
            let message = &response.error.message;
            match (status, code) {
                (_, 50007) => SendError::permanent(
                    "Discord: cannot send messages to this user (50007): they closed their DMs \
                     or share no server with the bot",
                ),
                (403, _) => SendError::permanent(format!(
                    "Discord refused (403, code {code}): {message}; check the bot's permissions \
                     in this channel"
                )),
                (404, _) => SendError::permanent(format!(
                    "Discord: the channel or thread no longer exists (404, code {code})"
                )),
                (429, _) | (500..=599, _) => {
                    SendError::retry(format!("Discord {status}: {message}"))
                }
                _ => SendError::permanent(format!("Discord {status} (code {code}): {message}")),
            }
        }
        // Network trouble, timeouts, a ratelimiter hiccup: a later attempt may succeed.
        _ => SendError::retry(format!("Discord: {}", chain(&error))),
    }
}

/// An error with its causes ("sending HTTP request: connection refused"): serenity's own
/// message alone rarely says what went wrong.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
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
        let channel: u64 = message
            .thread_id
            .parse()
            .ok()
            .filter(|id| *id != 0)
            .ok_or_else(|| SendError::permanent("the conversation has no Discord channel"))?;
        let channel = ChannelId::new(channel);
        let mut parts = switchboard_core::split_text(&message.text, MAX_CHARS);
        if parts.is_empty() {
            parts.push(String::new());
        }
        let last = parts.len() - 1;
        // Parts an earlier attempt delivered are not sent again.
        let done = message.progress.parts_sent();
        for (i, part) in parts.into_iter().enumerate().skip(done) {
            // Nobody is ever pinged by an agent's text: no @everyone, roles, users or reply ping.
            let mut builder = CreateMessage::new()
                .content(part)
                .allowed_mentions(CreateAllowedMentions::new().replied_user(false));
            if i == 0
                && let Some(reply_to) = message.reply_to.as_deref().and_then(|r| r.parse().ok())
            {
                let mut reference = MessageReference::from((channel, MessageId::new(reply_to)));
                // Answering a message the customer deleted still delivers the answer.
                reference.fail_if_not_exists = Some(false);
                builder = builder.reference_message(reference);
            }
            if i == last {
                for file in &message.attachments {
                    builder = builder
                        .add_file(CreateAttachment::bytes(file.data.to_vec(), &file.filename));
                }
            }
            let sent = channel
                .send_message(&self.http, builder)
                .await
                .map_err(classify)?;
            message.progress.part_sent(Some(sent.id.get().to_string()));
        }
        Ok(SendReceipt {
            external_id: message.progress.delivered().first_external_id,
        })
    }
}
