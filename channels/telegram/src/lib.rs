//! Switchboard's Telegram channel (teloxide): each private chat with the bot, and each customer
//! addressing the bot in a group, is one conversation; agent replies go back as plain text.

pub mod config;
pub mod convert;
mod error;
mod inbound;
pub mod outbound;
mod pace;

pub use config::TelegramConfig;

use async_trait::async_trait;
use secrecy::ExposeSecret;
use std::sync::Arc;
use switchboard_core::{Channel, ChannelError, InboundSink, Outbound, SendError, SendReceipt};
use teloxide::prelude::*;
use teloxide::types::{InputFile, MessageId, ReplyParameters};
use tokio_util::sync::CancellationToken;

pub struct TelegramChannel {
    config: TelegramConfig,
    bot: Bot,
    pacer: pace::Pacer,
    /// Set once getMe answered; webhook posts wait for it (group addressing needs it).
    me: std::sync::OnceLock<convert::BotIdentity>,
}

impl TelegramChannel {
    pub fn new(config: TelegramConfig) -> Result<Self, ChannelError> {
        let mut api_url = config.api_url.clone();
        // teloxide joins method paths onto the URL: it must end without a slash.
        let trimmed = api_url.path().trim_end_matches('/').to_owned();
        api_url.set_path(&trimmed);
        let bot = Bot::new(config.token.expose_secret()).set_api_url(api_url);
        let pacer = pace::Pacer::new(config.pacing());
        Ok(Self {
            config,
            bot,
            pacer,
            me: std::sync::OnceLock::new(),
        })
    }
}

/// Why a webhook post was refused.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("wrong or missing secret token")]
    Unauthorized,
    #[error("not an update: {0}")]
    BadRequest(String),
    #[error("the channel is not ready yet")]
    NotReady,
    #[error(transparent)]
    Sink(#[from] switchboard_core::SinkError),
}

impl TelegramChannel {
    pub fn is_webhook(&self) -> bool {
        self.config.mode == config::Mode::Webhook
    }

    /// Handles one webhook post: checks the secret, converts, fetches files and commits; the
    /// answer is sent only after the commit, so Telegram re-posts anything not stored.
    pub async fn handle_webhook(
        &self,
        secret: Option<&str>,
        body: &[u8],
        sink: &dyn InboundSink,
    ) -> Result<(), WebhookError> {
        let expected = self
            .config
            .webhook_secret
            .as_ref()
            .filter(|_| self.is_webhook())
            .ok_or(WebhookError::Unauthorized)?;
        if !secret.is_some_and(|s| {
            switchboard_core::secrets_match(s.as_bytes(), expected.expose_secret().as_bytes())
        }) {
            return Err(WebhookError::Unauthorized);
        }
        let me = self.me.get().ok_or(WebhookError::NotReady)?;
        let update: teloxide::types::Update =
            serde_json::from_slice(body).map_err(|e| WebhookError::BadRequest(e.to_string()))?;
        let (batch, presses) = inbound::to_batch(
            &self.bot,
            &self.config.name,
            me,
            std::slice::from_ref(&update),
        )
        .await;
        sink.commit(batch, None).await?;
        inbound::answer_presses(&self.bot, presses).await;
        Ok(())
    }
}

/// `chat` or `chat:user` (a customer inside a group) → the chat to send to.
fn chat_of(thread_id: &str) -> Option<ChatId> {
    thread_id.split(':').next()?.parse().ok().map(ChatId)
}

/// `chat:message` → the message id inside that chat.
fn message_of(external_id: &str) -> Option<MessageId> {
    external_id.rsplit_once(':')?.1.parse().ok().map(MessageId)
}

#[async_trait]
impl Channel for TelegramChannel {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> &'static str {
        "telegram"
    }

    /// Webhook posts reach every daemon behind the load balancer; long polling is one daemon's.
    fn exclusive_inbound(&self) -> bool {
        !self.is_webhook()
    }

    async fn run(
        &self,
        sink: Arc<dyn InboundSink>,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError> {
        inbound::run(self, sink, shutdown).await
    }

    /// Bots may delete messages in private chats for 48 hours (in groups only as an admin
    /// with the right to); Telegram's refusal comes back as a permanent error.
    async fn retract(&self, _thread_id: &str, external_id: &str) -> Result<(), SendError> {
        let chat = external_id
            .rsplit_once(':')
            .and_then(|(chat, _)| chat.parse().ok())
            .map(ChatId);
        let (Some(chat), Some(id)) = (chat, message_of(external_id)) else {
            return Err(SendError::permanent(format!(
                "{external_id:?} is not a Telegram message id"
            )));
        };
        self.pacer.wait(chat.0).await;
        self.bot
            .delete_message(chat, id)
            .send()
            .await
            .map_err(|e| error::classify(&e))?;
        Ok(())
    }

    async fn send(&self, message: &Outbound) -> Result<SendReceipt, SendError> {
        let chat = chat_of(&message.thread_id).ok_or_else(|| {
            SendError::permanent(format!("{:?} is not a Telegram chat id", message.thread_id))
        })?;
        let reply_to = message.reply_to.as_deref().and_then(message_of);
        // Answer the customer's message with the first part only; the customer may have deleted
        // it meanwhile, so still deliver without the quote then.
        let reply = |part: usize| {
            reply_to.filter(|_| part == 0).map(|id| {
                let mut parameters = ReplyParameters::new(id);
                parameters.allow_sending_without_reply = Some(true);
                parameters
            })
        };
        // The text's parts, then one message per file; those an earlier attempt delivered are
        // not sent again.
        let texts = outbound::split(&message.text, outbound::MAX_CHARS);
        message
            .progress
            .plan(texts.len() + message.attachments.len());
        let done = message.progress.parts_sent();
        for (part, text) in texts.iter().enumerate().skip(done) {
            self.pacer.wait(chat.0).await;
            let mut request = self.bot.send_message(chat, text);
            if let Some(parameters) = reply(part) {
                request = request.reply_parameters(parameters);
            }
            // The offered answers as a one-time keyboard under the last part (private chats:
            // in a group every member would see it).
            if part + 1 == texts.len() && !message.choices.is_empty() && chat.0 > 0 {
                request = request.reply_markup(outbound::keyboard(&message.choices));
            } else if part + 1 == texts.len() && !message.buttons.is_empty() {
                // Inline buttons answer for whoever presses them, so groups get them too.
                request = request.reply_markup(outbound::inline_buttons(&message.buttons));
            }
            let sent = request.send().await.map_err(|e| error::classify(&e))?;
            message
                .progress
                .part_sent(Some(convert::external_id(chat.0, sent.id.0)));
        }
        // Files go up as multipart uploads, never as URLs Telegram would fetch.
        let files = message.attachments.iter().enumerate();
        for (part, file) in files
            .map(|(i, f)| (texts.len() + i, f))
            .skip(done.saturating_sub(texts.len()))
        {
            self.pacer.wait(chat.0).await;
            let input = InputFile::memory(file.data.clone()).file_name(file.filename.clone());
            let photo = matches!(
                file.content_type.as_str(),
                "image/jpeg" | "image/png" | "image/webp"
            ) && file.data.len() <= outbound::MAX_PHOTO_BYTES;
            let sent = if photo {
                let mut request = self.bot.send_photo(chat, input);
                if let Some(parameters) = reply(part) {
                    request = request.reply_parameters(parameters);
                }
                request.send().await
            } else {
                let mut request = self.bot.send_document(chat, input);
                if let Some(parameters) = reply(part) {
                    request = request.reply_parameters(parameters);
                }
                request.send().await
            }
            .map_err(|e| error::classify(&e))?;
            message
                .progress
                .part_sent(Some(convert::external_id(chat.0, sent.id.0)));
        }
        Ok(SendReceipt {
            external_id: message.progress.delivered().first_external_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_and_message_ids_round_trip() {
        assert_eq!(chat_of("123"), Some(ChatId(123)));
        assert_eq!(chat_of("-100777:42"), Some(ChatId(-100777)));
        assert_eq!(chat_of("x"), None);
        assert_eq!(message_of("-100777:42"), Some(MessageId(42)));
    }
}
