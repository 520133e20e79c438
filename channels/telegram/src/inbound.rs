//! The polling loop: getUpdates from the committed offset, convert, fetch files, commit batch and
//! next offset together, and only then ask for more (which acknowledges them to Telegram).

use crate::TelegramChannel;
use crate::convert::{self, BotIdentity, Converted, FileRef};
use std::sync::Arc;
use switchboard_core::{AttachmentData, ChannelError, InboundAttachment, InboundSink};
use teloxide::net::Download;
use teloxide::prelude::*;
use teloxide::types::{AllowedUpdate, FileId};
use teloxide::{ApiError, RequestError};
use tokio_util::sync::CancellationToken;

/// The Bot API refuses getFile for larger files.
pub const MAX_DOWNLOAD: u64 = 20 * 1024 * 1024;

pub async fn run(
    channel: &TelegramChannel,
    sink: Arc<dyn InboundSink>,
    shutdown: CancellationToken,
) -> Result<(), ChannelError> {
    let bot = &channel.bot;
    let me = bot.get_me().await.map_err(|e| match e {
        RequestError::Api(ApiError::InvalidToken) => {
            ChannelError::Config("getMe: Telegram rejected the bot token".into())
        }
        e => ChannelError::Transient(format!("getMe: {e}")),
    })?;
    let me = BotIdentity {
        id: me.id.0,
        username: me.username.clone().unwrap_or_default(),
    };
    tracing::info!(channel = %channel.config.name, bot = %me.username, "telegram bot connected");
    let _ = channel.me.set(me.clone());
    if channel.is_webhook() {
        return run_webhook(channel, shutdown).await;
    }
    // A webhook left from another deployment makes getUpdates fail: polling owns updates now.
    bot.delete_webhook()
        .await
        .map_err(|e| ChannelError::Transient(format!("deleteWebhook: {e}")))?;

    let mut offset: i32 = sink
        .cursor()
        .await?
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let poll = channel.config.poll_timeout.as_secs() as u32;
    loop {
        let request = bot
            .get_updates()
            .offset(offset)
            .timeout(poll)
            .allowed_updates([
                AllowedUpdate::Message,
                AllowedUpdate::EditedMessage,
                AllowedUpdate::CallbackQuery,
            ]);
        let updates = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            result = request.send() => result,
        };
        let updates = match updates {
            Ok(updates) => updates,
            // One malformed update would make every later poll fail on the same batch: keep
            // what parses and move past the rest.
            Err(RequestError::InvalidJson { raw, .. }) => match convert::salvage_updates(&raw) {
                Some((updates, next)) => {
                    let (batch, presses) = to_batch(bot, &channel.config.name, &me, &updates).await;
                    sink.commit(batch, Some(next.to_string())).await?;
                    answer_presses(bot, presses).await;
                    offset = next;
                    continue;
                }
                None => {
                    return Err(ChannelError::Transient(
                        "getUpdates: an answer that is not JSON".into(),
                    ));
                }
            },
            Err(RequestError::RetryAfter(wait)) => {
                tokio::select! {
                    _ = shutdown.cancelled() => return Ok(()),
                    _ = tokio::time::sleep(wait.duration()) => continue,
                }
            }
            Err(RequestError::Api(ApiError::InvalidToken)) => {
                return Err(ChannelError::Config(
                    "getUpdates: Telegram rejected the bot token".into(),
                ));
            }
            Err(e) => return Err(ChannelError::Transient(format!("getUpdates: {e}"))),
        };
        let Some(last) = updates.last() else { continue };
        // getUpdates takes an i32 offset; an id past it (never seen from Telegram) saturates
        // instead of wrapping to a negative offset that would re-fetch from the start.
        let next = i32::try_from(last.id.0).map_or(i32::MAX, |id| id.saturating_add(1));
        let (batch, presses) = to_batch(bot, &channel.config.name, &me, &updates).await;
        // Messages and the next offset commit together; a crash before this re-fetches them.
        sink.commit(batch, Some(next.to_string())).await?;
        answer_presses(bot, presses).await;
        offset = next;
    }
}

/// Registers the webhook (URL, secret, update kinds) and waits; updates arrive through
/// `TelegramChannel::handle_webhook`.
async fn run_webhook(
    channel: &TelegramChannel,
    shutdown: CancellationToken,
) -> Result<(), ChannelError> {
    let (Some(url), Some(secret)) = (&channel.config.webhook_url, &channel.config.webhook_secret)
    else {
        return Err(ChannelError::Config(
            "webhook mode needs webhook_url and webhook_secret".into(),
        ));
    };
    channel
        .bot
        .set_webhook(url.clone())
        .secret_token(secrecy::ExposeSecret::expose_secret(secret).to_owned())
        .allowed_updates([
            AllowedUpdate::Message,
            AllowedUpdate::EditedMessage,
            AllowedUpdate::CallbackQuery,
        ])
        .await
        .map_err(|e| ChannelError::Transient(format!("setWebhook: {e}")))?;
    tracing::info!(channel = %channel.config.name, "telegram webhook registered");
    shutdown.cancelled().await;
    Ok(())
}

/// Stops the spinner on pressed buttons, once the presses are stored (a failure only leaves
/// the spinner until Telegram gives up on it).
pub async fn answer_presses(bot: &Bot, presses: Vec<String>) {
    for id in presses {
        let answered = bot
            .answer_callback_query(teloxide::types::CallbackQueryId(id))
            .await;
        if let Err(e) = answered {
            tracing::debug!(error = %e, "answerCallbackQuery failed");
        }
    }
}

/// Converts updates and fetches their files; skipped kinds are logged. Also returns the
/// button presses to answer once the batch is stored.
pub async fn to_batch(
    bot: &Bot,
    channel: &str,
    me: &BotIdentity,
    updates: &[teloxide::types::Update],
) -> (Vec<switchboard_core::Inbound>, Vec<String>) {
    let mut batch = Vec::with_capacity(updates.len());
    let mut presses = Vec::new();
    for update in updates {
        match convert::convert(update, me) {
            Converted::Message { mut inbound, files } => {
                for file in files {
                    inbound.attachments.push(fetch(bot, file).await);
                }
                batch.push(*inbound);
            }
            Converted::Pressed { inbound, query_id } => {
                batch.push(*inbound);
                presses.push(query_id);
            }
            Converted::Skip(why) => {
                tracing::debug!(channel, update_id = update.id.0, why, "update skipped")
            }
        }
    }
    (batch, presses)
}

/// Downloads a file into memory; what cannot be fetched is recorded with a note, never dropped.
async fn fetch(bot: &Bot, file: FileRef) -> InboundAttachment {
    let missing = |note: String, size| InboundAttachment {
        filename: file.filename.clone(),
        content_type: file.content_type.clone(),
        data: AttachmentData::Missing { note, size },
    };
    if let Some(size) = file.size.filter(|&s| s > MAX_DOWNLOAD) {
        return missing(
            format!(
                "{} MB is over the Bot API's 20 MB download limit",
                size / (1024 * 1024)
            ),
            Some(size),
        );
    }
    let meta = match bot.get_file(FileId(file.file_id.clone())).await {
        Ok(meta) => meta,
        Err(e) => return missing(format!("getFile failed: {e}"), file.size),
    };
    let mut data = Vec::with_capacity(meta.size as usize);
    match bot.download_file(&meta.path, &mut data).await {
        Ok(()) => InboundAttachment {
            filename: file.filename,
            content_type: file.content_type,
            data: AttachmentData::Bytes(data.into()),
        },
        Err(e) => missing(format!("download failed: {e}"), file.size),
    }
}
