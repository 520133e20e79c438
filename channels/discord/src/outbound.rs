//! Outbound: an agent's reply as Discord messages. Text is split at 2000 characters, files go
//! with the last part as a multipart upload, the first part answers the customer's message, and
//! nobody is ever pinged (`allowed_mentions` empty).

use crate::DiscordChannel;
use crate::error::classify;
use serenity::builder::{
    CreateActionRow, CreateAllowedMentions, CreateAttachment, CreateButton, CreateMessage,
};
use serenity::model::channel::{MessageReference, Nonce};
use serenity::model::id::{ChannelId, MessageId};
use switchboard_core::{Outbound, SendError, SendReceipt};

/// Discord's limit for one message's content.
const MAX_CHARS: usize = 2000;

/// Discord's limits: buttons per row, rows per message, characters of a label and of a
/// custom id.
const BUTTONS_PER_ROW: usize = 5;
const MAX_ROWS: usize = 5;
const MAX_LABEL_CHARS: usize = 80;
const MAX_CUSTOM_ID_CHARS: usize = 100;

/// Answers as rows of buttons; a press comes back as an interaction carrying the answer.
fn buttons(answers: &[String]) -> Vec<CreateActionRow> {
    let room = MAX_CUSTOM_ID_CHARS - crate::convert::BUTTON_PREFIX.len();
    let buttons: Vec<CreateButton> = answers
        .iter()
        .take(BUTTONS_PER_ROW * MAX_ROWS)
        .map(|a| {
            let answer: String = a.chars().take(room).collect();
            CreateButton::new(format!("{}{answer}", crate::convert::BUTTON_PREFIX))
                .label(a.chars().take(MAX_LABEL_CHARS).collect::<String>())
                .style(serenity::all::ButtonStyle::Secondary)
        })
        .collect();
    buttons
        .chunks(BUTTONS_PER_ROW)
        .map(|row| CreateActionRow::Buttons(row.to_vec()))
        .collect()
}

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
            if i == last && !message.buttons.is_empty() {
                builder = builder.components(buttons(&message.buttons));
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

    #[test]
    fn answers_become_rows_of_five_buttons_within_discords_limits() {
        let answers: Vec<String> = (1..=7).map(|n| n.to_string()).collect();
        let rows = serde_json::to_value(super::buttons(&answers)).unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 2);
        assert_eq!(rows[0]["components"].as_array().unwrap().len(), 5);
        assert_eq!(rows[1]["components"][1]["custom_id"], "answer:7");
        assert_eq!(rows[1]["components"][1]["label"], "7");
        let long = vec!["x".repeat(300)];
        let row = serde_json::to_value(super::buttons(&long)).unwrap();
        let button = &row[0]["components"][0];
        assert_eq!(button["custom_id"].as_str().unwrap().chars().count(), 100);
        assert_eq!(button["label"].as_str().unwrap().chars().count(), 80);
        assert_eq!(
            crate::convert::pressed_answer(button["custom_id"].as_str().unwrap()),
            Some("x".repeat(93).as_str())
        );
        assert_eq!(crate::convert::pressed_answer("answer: "), None);
        assert_eq!(crate::convert::pressed_answer("other:5"), None);
    }
}
