//! The contract between Switchboard's daemon and its channel adapters: the `Channel` trait and the
//! normalized message types. Nothing here knows about a database or an HTTP server, so an adapter
//! crate depends on this and on its platform's client library only.

mod error;
#[cfg(feature = "test-util")]
pub mod fake;
mod text;
mod types;

pub use error::{ChannelError, SendError, SinkError};
pub use text::split_text;
pub use types::{
    AttachmentData, Change, Delivered, Inbound, InboundAttachment, Outbound, OutboundAttachment,
    Progress, SendReceipt, Sender,
};

use async_trait::async_trait;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Compares a presented secret with the configured one in constant time, so response timing
/// reveals nothing about how much of a guess was right.
pub fn secrets_match(presented: &[u8], expected: &[u8]) -> bool {
    presented.len() == expected.len()
        && presented
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Where an adapter hands what it received. `commit` returns only after the store durably committed
/// every message *and* the cursor in one transaction: only then may the adapter acknowledge upstream
/// (advance a Telegram offset, an IMAP UID watermark, ...), so a crash neither loses nor duplicates.
#[async_trait]
pub trait InboundSink: Send + Sync {
    /// Stores `batch` and, in the same transaction, sets this channel's cursor to `cursor` (when given).
    async fn commit(&self, batch: Vec<Inbound>, cursor: Option<String>) -> Result<(), SinkError>;

    /// The cursor last committed for this channel, so an adapter resumes where it stopped.
    async fn cursor(&self) -> Result<Option<String>, SinkError>;

    /// The thread of this channel that holds one of `message_ids` (external ids of stored inbound
    /// or outbound messages) or is one of `conversation_ids` (taken from ids we signed), provided
    /// `sender_id` is that conversation's contact or one of its participants. Email threads
    /// replies with this; someone citing another person's ticket gets `None` and so a
    /// conversation of their own.
    async fn find_thread(
        &self,
        sender_id: &str,
        message_ids: &[String],
        conversation_ids: &[i64],
    ) -> Result<Option<String>, SinkError> {
        let _ = (sender_id, message_ids, conversation_ids);
        Ok(None)
    }

    /// Where a stored inbound message of this channel lives: its thread and its sender.
    /// Platforms that announce deletes without the author (Discord) fill in the rest from here.
    async fn message_origin(
        &self,
        external_id: &str,
    ) -> Result<Option<(String, Sender)>, SinkError> {
        let _ = external_id;
        Ok(None)
    }

    /// A route this channel remembered under `key` (Discord: the customer's thread under a
    /// support channel), kept by the store so it survives restarts without any size limit.
    async fn route(&self, key: &str) -> Result<Option<String>, SinkError> {
        let _ = key;
        Ok(None)
    }

    /// Remembers (`Some`) or forgets (`None`) the route for `key`, durably, at once.
    async fn set_route(&self, key: &str, target: Option<&str>) -> Result<(), SinkError> {
        let _ = (key, target);
        Ok(())
    }

    /// Marks the outbound message with this external id failed after it was handed over (an
    /// email bounce). Returns whether such a message exists.
    async fn mark_failed(&self, external_id: &str, reason: &str) -> Result<bool, SinkError> {
        let _ = (external_id, reason);
        Ok(false)
    }
}

/// One configured channel (a bot, a mailbox, a webhook endpoint).
#[async_trait]
pub trait Channel: Send + Sync {
    /// The operator's unique name for this channel (`[[channel]] name`).
    fn name(&self) -> &str;

    /// The adapter kind (`telegram`, `email`, `api`, ...).
    fn kind(&self) -> &'static str;

    /// Runs the inbound loop until `shutdown` fires. Returning an error lets the supervisor restart
    /// the loop with backoff; other channels keep running. Adapters whose inbound arrives through the
    /// daemon's own HTTP server simply wait for `shutdown`.
    async fn run(
        &self,
        sink: Arc<dyn InboundSink>,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError>;

    /// Whether the inbound loop must run on one daemon at a time, where several share a database:
    /// true for a poll, a gateway or a mailbox connection (two would fetch everything twice and
    /// fight over the cursor); false where inbound arrives by HTTP at whichever daemon gets it.
    fn exclusive_inbound(&self) -> bool {
        true
    }

    /// Makes exactly one delivery attempt. Adapters never retry internally: the outbox owns retries,
    /// so the error must say whether a retry can help.
    async fn send(&self, message: &Outbound) -> Result<SendReceipt, SendError>;

    /// Deletes a customer's message on the platform (the guard found a wallet secret in it, so
    /// it must not stay in the chat history either). `thread_id` and `external_id` are those of
    /// the `Inbound` it arrived as. Platforms or chats where the bot may not delete say so with
    /// a permanent error; the customer is then told to delete it themselves.
    async fn retract(&self, thread_id: &str, external_id: &str) -> Result<(), SendError> {
        let _ = (thread_id, external_id);
        Err(SendError::permanent(format!(
            "{} channels cannot delete a customer's message",
            self.kind()
        )))
    }
}
