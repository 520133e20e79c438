//! Normalized messages: what every adapter turns its platform's updates into, and what the
//! daemon hands an adapter to deliver.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Who wrote an inbound message, as the platform identifies them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    /// Stable platform user id (Telegram user id, email address, ...): the contact identity key.
    pub id: String,
    pub display_name: String,
    pub username: Option<String>,
    /// IETF language tag when the platform tells (Telegram's `language_code`).
    pub language: Option<String>,
}

impl Sender {
    pub fn new(id: impl Into<String>, display_name: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            display_name: display_name.into(),
            username: None,
            language: None,
        }
    }
}

/// What an inbound update does to the message it names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Change {
    /// A new message.
    #[default]
    New,
    /// The sender edited the message at this time; the earlier text is kept as a revision.
    Edited { at: DateTime<Utc> },
    /// The sender deleted the message; its content stays visible to agents, marked deleted.
    Deleted { at: DateTime<Utc> },
}

/// The bytes of a received file, or why they are not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttachmentData {
    Bytes(Bytes),
    /// Not downloaded (over a size cap, platform refused, ...): recorded with this note, never dropped.
    Missing {
        note: String,
        size: Option<u64>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundAttachment {
    pub filename: String,
    pub content_type: String,
    pub data: AttachmentData,
}

/// One message as received from any channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// The external thread (chat id, email thread root, ...): one conversation per channel + thread.
    pub thread_id: String,
    /// The platform's id for this message: unique per channel, which makes ingest idempotent.
    pub message_id: String,
    pub sender: Sender,
    pub text: String,
    /// Already sanitized by the adapter (script, handlers and remote content removed).
    pub html: Option<String>,
    pub subject: Option<String>,
    pub attachments: Vec<InboundAttachment>,
    pub sent_at: Option<DateTime<Utc>>,
    /// The external id of the message this one answers.
    pub reply_to: Option<String>,
    pub change: Change,
    /// Written by a machine (auto-reply, bulk): stored, but automation never answers it.
    pub auto_generated: bool,
}

impl Inbound {
    /// A plain new text message; adapters fill in the rest with struct update syntax.
    pub fn text(
        thread_id: impl Into<String>,
        message_id: impl Into<String>,
        sender: Sender,
        text: impl Into<String>,
    ) -> Self {
        Self {
            thread_id: thread_id.into(),
            message_id: message_id.into(),
            sender,
            text: text.into(),
            html: None,
            subject: None,
            attachments: Vec::new(),
            sent_at: None,
            reply_to: None,
            change: Change::New,
            auto_generated: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundAttachment {
    pub filename: String,
    pub content_type: String,
    pub data: Bytes,
}

/// An agent's reply, ready for one delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outbound {
    /// Switchboard's own message id: stable across retries, usable as an idempotency key.
    pub message_id: i64,
    pub conversation_id: i64,
    /// The external thread the conversation came from.
    pub thread_id: String,
    /// The contact's identity on this channel (chat user id, email address).
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub text: String,
    pub attachments: Vec<OutboundAttachment>,
    /// External id of the message being answered, when the agent answered a specific one.
    pub reply_to: Option<String>,
    /// External ids of the conversation's earlier messages on this channel, oldest first (the
    /// thread's first one and the latest few): email's References and In-Reply-To come from it.
    pub references: Vec<String>,
    /// Name of the agent who wrote it, for channels that show one.
    pub agent_name: Option<String>,
    /// Sent by automation (a greeting, an acknowledgement), not by an agent: email marks it
    /// `Auto-Submitted` so other robots do not answer it.
    pub auto_generated: bool,
}

/// What the platform answered to a successful send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReceipt {
    /// The platform's id of the delivered message, when it gives one.
    pub external_id: Option<String>,
}
