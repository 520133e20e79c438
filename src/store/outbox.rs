//! The outbox's types: a claimed delivery, its files, and what the dispatcher decided.

use super::{Agent, PreparedAttachment};
use std::time::Duration;

/// One claimed delivery: everything the adapter needs, read in the claiming transaction.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxJob {
    pub outbox_id: i64,
    pub message_id: i64,
    pub conversation_id: i64,
    pub channel: String,
    pub thread_id: String,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub text: String,
    pub reply_to: Option<String>,
    pub agent_name: String,
    pub auto_generated: bool,
    /// JSON list of answers to offer as buttons, if any.
    pub choices: Option<String>,
    /// JSON list of answers to offer as inline buttons (their press comes back as a message).
    pub buttons: Option<String>,
    /// Attempts made before this one.
    pub attempts: i64,
    pub expires_at: i64,
    /// Platform messages (text parts, files) earlier attempts delivered, and the first one's id.
    pub parts_sent: i64,
    pub first_external_id: Option<String>,
    /// Random and stable across the retries of this delivery (the webhook's delivery id).
    pub delivery_id: Option<String>,
    /// The claim took over a row whose earlier attempt never recorded its outcome.
    pub reclaimed: bool,
}

/// A file attached to an outbound message.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OutboxFile {
    pub filename: String,
    pub content_type: String,
    pub sha256: String,
}

/// What the dispatcher decided after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryDecision {
    Delivered { external_id: Option<String> },
    Retry { due_at: i64, error: String },
    Failed { error: String },
}

/// A random id for a delivery: stable across its retries, unique across restores and installs.
pub(crate) fn delivery_id() -> String {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the OS random source is available");
    hex::encode(bytes)
}

/// `now + d` in Unix ms, saturating instead of overflowing.
pub(crate) fn after_ms(now: i64, d: Duration) -> i64 {
    now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl<'a> Outbound<'a> {
    /// An automatic text (no agent, files, quote or buttons).
    pub(crate) fn automatic(conversation_id: i64, channel: &'a str, text: &'a str) -> Self {
        Self {
            conversation_id,
            channel,
            agent: None,
            text,
            reply_to: None,
            files: &[],
            choices: &[],
            buttons: &[],
        }
    }
}

/// A reply to write: by an agent, or automatic (`agent: None`).
pub(crate) struct Outbound<'a> {
    pub conversation_id: i64,
    pub channel: &'a str,
    pub agent: Option<&'a Agent>,
    pub text: &'a str,
    pub reply_to: Option<String>,
    pub files: &'a [PreparedAttachment],
    /// Answers offered as buttons (automatic questions only).
    pub choices: &'a [String],
    /// Answers offered as inline buttons whose press comes back as the customer's message.
    pub buttons: &'a [String],
}
