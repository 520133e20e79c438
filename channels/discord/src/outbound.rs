//! Outbound: an agent's reply as Discord messages. Text is split at 2000 characters, files go
//! with the last part as a multipart upload, the first part answers the customer's message, and
//! nobody is ever pinged (`allowed_mentions` empty).

use crate::DiscordChannel;
use crate::error::classify;
use serenity::builder::{CreateAllowedMentions, CreateAttachment, CreateMessage};
use serenity::model::channel::{MessageReference, Nonce};
use serenity::model::id::{ChannelId, MessageId};
use switchboard_core::{Outbound, SendError, SendReceipt};

/// Discord's limit for one message's content.
const MAX_CHARS: usize = 2000;

/// Discord takes nonces of at most 25 characters: the delivery's random id (cut) and the part.
fn nonce(delivery_id: &str, part: usize) -> String {
    let id: String = delivery_id.chars().take(20).collect();
    format!("{id}.{part}")
}

impl DiscordChannel {
    pub(crate) async fn deliver(&self, message: &Outbound) -> Result<SendReceipt, SendError> {
        let channel = crate::convert::channel_of(&message.thread_id)
            .ok_or_else(|| SendError::permanent("the conversation has no Discord channel"))?;
        let channel = ChannelId::new(channel);
        let mut parts = switchboard_core::split_text(&message.text, MAX_CHARS);
        if parts.is_empty() {
            parts.push(String::new());
        }
        let last = parts.len() - 1;
        message.progress.plan(parts.len());
        // Parts an earlier attempt delivered are not sent again.
        let done = message.progress.parts_sent();
        for (i, part) in parts.into_iter().enumerate().skip(done) {
            // No @everyone, roles, users or reply ping, whatever the agent typed.
            let mut builder = CreateMessage::new()
                .content(part)
                .allowed_mentions(CreateAllowedMentions::new().replied_user(false))
                // The same part sent again within minutes (the answer to the first try was
                // lost, the daemon was killed) comes back as the message already posted.
                .nonce(Nonce::String(nonce(&message.delivery_id, i)))
                .enforce_nonce(true);
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

#[cfg(test)]
mod tests {
    #[test]
    fn nonces_fit_discords_limit_and_differ_per_part() {
        let id = "0123456789abcdef0123456789abcdef";
        assert_eq!(super::nonce(id, 0), "0123456789abcdef0123.0");
        assert!(super::nonce(id, 999).len() <= 25);
        assert_ne!(super::nonce(id, 1), super::nonce(id, 2));
    }
}
