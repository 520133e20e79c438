//! Normalized messages: what every adapter turns its platform's updates into, and what the
//! daemon hands an adapter to deliver.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, Mutex};

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
    /// Stored, but automation never answers it: read from history (an email mailbox's first
    /// sync, whose customers were answered or gave up long ago), or from no one who can be
    /// answered.
    pub quiet: bool,
    /// Other people the message was addressed to (email To/Cc besides the support address),
    /// lower-cased: they join the conversation, may write into it, and get the replies.
    pub participants: Vec<String>,
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
            quiet: false,
            participants: Vec::new(),
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
    /// A random id of this delivery, stable across its retries and unique across installations
    /// and database restores: the key a receiver deduplicates on.
    pub delivery_id: String,
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
    /// The conversation's other participants besides `recipient` (email Cc).
    pub cc: Vec<String>,
    /// Name of the agent who wrote it, for channels that show one.
    pub agent_name: Option<String>,
    /// Sent by automation (a greeting, an acknowledgement), not by an agent: email marks it
    /// `Auto-Submitted` so other robots do not answer it.
    pub auto_generated: bool,
    /// Answers offered as buttons where the channel has them (Telegram's reply keyboard). The
    /// text lists them too, so a channel without buttons loses nothing.
    pub choices: Vec<String>,
    /// Answers offered as inline buttons (Telegram's inline keyboard, Discord's buttons) whose
    /// press comes back as an `Inbound` with the button's text; the text offers them too.
    pub buttons: Vec<String>,
    /// What earlier attempts already delivered of a message that goes out as several platform
    /// messages; the adapter skips those parts and records each one it sends.
    pub progress: Progress,
}

/// How far the delivery of one outbound message got, counted in platform messages (the parts
/// of a long text, then the files), shared by the dispatcher and the adapter. A retry after part
/// 2 of 3 failed starts at part 2: the customer never gets part 1 twice.
#[derive(Clone, Default)]
pub struct Progress(Arc<Shared>);

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Told of every part delivered while more are to come, so the dispatcher can save the
    /// position before the attempt ends (a crash mid-message then resends only the rest).
    observer: Option<Observer>,
}

/// What `Progress::observed` calls with each intermediate position.
pub type Observer = Box<dyn Fn(&Delivered) + Send + Sync>;

#[derive(Default)]
struct State {
    delivered: Delivered,
    /// How many parts the adapter will send in all, once it said so.
    planned: Option<usize>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Platform messages delivered, in the order the adapter sends them.
    pub parts: usize,
    /// The platform's id of the first one: the message's external id.
    pub first_external_id: Option<String>,
}

impl Progress {
    /// Continues from what earlier attempts recorded; `observer` is told of each part delivered
    /// before the last. (`Progress::default()` is a fresh, unobserved one.)
    pub fn observed(delivered: Delivered, observer: Observer) -> Self {
        Self(Arc::new(Shared {
            state: Mutex::new(State {
                delivered,
                planned: None,
            }),
            observer: Some(observer),
        }))
    }

    /// The adapter says how many parts the whole message takes: a one-part message then costs
    /// no intermediate save.
    pub fn plan(&self, parts: usize) {
        self.lock().planned = Some(parts);
    }

    /// How many parts went out already: the adapter starts with the part after them.
    pub fn parts_sent(&self) -> usize {
        self.lock().delivered.parts
    }

    /// Records that the next part was delivered with the platform's id `external_id`.
    pub fn part_sent(&self, external_id: Option<String>) {
        let (delivered, more) = {
            let mut state = self.lock();
            state.delivered.parts += 1;
            if state.delivered.first_external_id.is_none() {
                state.delivered.first_external_id = external_id;
            }
            let more = state
                .planned
                .is_none_or(|planned| state.delivered.parts < planned);
            (state.delivered.clone(), more)
        };
        if more && let Some(observer) = &self.0.observer {
            observer(&delivered);
        }
    }

    pub fn delivered(&self) -> Delivered {
        self.lock().delivered.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panicking adapter cannot leave the counter half-written: the data is plain fields,
        // so a poisoned lock still holds a consistent value.
        self.0.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Progress").field(&self.delivered()).finish()
    }
}

impl PartialEq for Progress {
    fn eq(&self, other: &Self) -> bool {
        self.delivered() == other.delivered()
    }
}

impl Eq for Progress {}

/// What the platform answered to a successful send.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SendReceipt {
    /// The platform's id of the delivered message, when it gives one.
    pub external_id: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_parts_and_keeps_the_first_id_across_attempts() {
        let first = Progress::default();
        first.part_sent(Some("a".into()));
        // The adapter works on a clone of the outbound message: both see the same count.
        let shared = first.clone();
        assert_eq!(shared.parts_sent(), 1);

        let saved = Arc::new(Mutex::new(Vec::new()));
        let seen = saved.clone();
        let retry = Progress::observed(
            first.delivered(),
            Box::new(move |d: &Delivered| seen.lock().unwrap().push(d.parts)),
        );
        retry.plan(3);
        retry.part_sent(Some("b".into()));
        retry.part_sent(None);
        // Saved while parts were still to come; the last one is the attempt's own outcome.
        assert_eq!(*saved.lock().unwrap(), [2]);
        assert_eq!(
            retry.delivered(),
            Delivered {
                parts: 3,
                first_external_id: Some("a".into())
            }
        );
    }
}
