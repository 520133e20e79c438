//! The live event bus: what the store announces after each commit, for this daemon's live
//! streams and, where several daemons share the database, for the others (`postgres::relay`).
//! It is made before the store and handed to it and, separately, to whatever listens.

use super::{Event, RefusedReply};
use std::sync::{Arc, OnceLock};
use tokio::sync::{Notify, broadcast, mpsc};

/// An event as live streams send it: the value, and its JSON made once for all of them.
/// Without an event it says events were lost before they reached the bus (the connection
/// that hears other daemons' broke): its frame is a `resync`, and clients reload.
#[derive(Debug)]
pub struct Published {
    pub event: Option<Event>,
    pub json: String,
    /// The Server-Sent Events frame (`event: ...\ndata: ...\n\n`), ready to write as it is.
    pub frame: bytes::Bytes,
}

/// A handle on the bus; clones share it.
#[derive(Clone)]
pub struct EventBus {
    inner: Arc<Inner>,
}

struct Inner {
    events: broadcast::Sender<Arc<Published>>,
    /// Where several daemons share the database: this daemon's events, told to the others.
    relay: OnceLock<mpsc::Sender<Notice>>,
    /// Fired when another daemon stored or delivered a message: a reply of this daemon's may
    /// now be first in its conversation, so the dispatcher looks again.
    outbox_elsewhere: Notify,
}

impl Default for EventBus {
    fn default() -> Self {
        let (events, _) = broadcast::channel(4096);
        Self {
            inner: Arc::new(Inner {
                events,
                relay: OnceLock::new(),
                outbox_elsewhere: Notify::new(),
            }),
        }
    }
}

/// An event as other daemons hear of it: what to read back from the database to rebuild it
/// (a notification's payload is limited to 8,000 bytes; a message is not).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) enum Notice {
    #[serde(rename = "m")]
    MessageCreated(i64),
    #[serde(rename = "u")]
    MessageUpdated(i64),
    #[serde(rename = "c")]
    ConversationUpdated(i64),
    /// Note id, conversation id.
    #[serde(rename = "n")]
    NoteCreated(i64, i64),
    /// Agent id and name, conversation id, category, unix milliseconds.
    #[serde(rename = "r")]
    ReplyRefused(i64, String, i64, String, i64),
    /// Conversation id, target, priority, due (ms).
    #[serde(rename = "s")]
    SlaBreached(i64, String, String, i64),
    /// Conversation id, survey id, score, comment.
    #[serde(rename = "q")]
    CsatRated(i64, i64, u8, Option<String>),
    /// Episode id, kind, key, count, started (ms).
    #[serde(rename = "k")]
    SpikeDetected(i64, String, String, i64, i64),
}

impl Notice {
    fn of(event: &Event) -> Self {
        match event {
            Event::MessageCreated(m) => Self::MessageCreated(m.id),
            Event::MessageUpdated(m) => Self::MessageUpdated(m.id),
            Event::ConversationUpdated(c) => Self::ConversationUpdated(c.id),
            Event::NoteCreated(n) => Self::NoteCreated(n.id, n.conversation_id),
            Event::ReplyRefused(r) => Self::ReplyRefused(
                r.agent_id,
                r.agent_name.clone(),
                r.conversation_id,
                r.category.clone(),
                r.at.timestamp_millis(),
            ),
            Event::SlaBreached(b) => Self::SlaBreached(
                b.conversation_id,
                b.target.clone(),
                b.priority.as_str().to_owned(),
                b.due_at.timestamp_millis(),
            ),
            Event::SpikeDetected(s) => Self::SpikeDetected(
                s.id,
                s.kind.clone(),
                s.key.clone(),
                s.count,
                s.started_at.timestamp_millis(),
            ),
            Event::CsatRated(r) => {
                Self::CsatRated(r.conversation_id, r.survey_id, r.score, r.comment.clone())
            }
        }
    }
}

impl EventBus {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.inner.events.subscribe()
    }

    /// Tells admins' live streams that an agent's reply was refused as unsafe.
    pub fn announce_refusal(&self, refused: RefusedReply) {
        self.emit(|| vec![Event::ReplyRefused(refused)]);
    }

    /// Fires when another daemon on the database stored or delivered a message.
    pub fn outbox_elsewhere(&self) -> &Notify {
        &self.inner.outbox_elsewhere
    }

    /// Whether a live stream of this daemon listens.
    pub(crate) fn has_streams(&self) -> bool {
        self.inner.events.receiver_count() > 0
    }

    /// Whether events are wanted: by a live stream here, or by the other daemons.
    pub(crate) fn listening(&self) -> bool {
        self.has_streams() || self.inner.relay.get().is_some()
    }

    /// Sends this daemon's events on to the other daemons too, from now on; false when a relay
    /// was already set.
    pub(crate) fn set_relay(&self, relay: mpsc::Sender<Notice>) -> bool {
        self.inner.relay.set(relay).is_ok()
    }

    /// Publishes events built only when somebody listens: ingest stays cheap with no inbox open.
    /// Each is serialized here, once, however many live streams then send it.
    pub(crate) fn emit(&self, build: impl FnOnce() -> Vec<Event>) {
        if !self.listening() {
            return;
        }
        let events = build();
        if let Some(relay) = self.inner.relay.get() {
            for event in &events {
                if relay.try_send(Notice::of(event)).is_err() {
                    // Live events are a courtesy (clients reload on reconnect); the write stands.
                    tracing::debug!(
                        event = event.name(),
                        "relay queue full: event not told to other daemons"
                    );
                }
            }
        }
        for event in events {
            self.publish(event);
        }
    }

    /// Sends one event to this daemon's live streams only.
    pub(crate) fn publish(&self, event: Event) {
        if !self.has_streams() {
            return;
        }
        let json = match serde_json::to_string(&event) {
            Ok(json) => json,
            Err(e) => {
                tracing::error!(error = %e, event = event.name(), "event not serializable");
                return;
            }
        };
        let frame = format!("event: {}\ndata: {json}\n\n", event.name()).into();
        let event = Some(event);
        let _ = self
            .inner
            .events
            .send(Arc::new(Published { event, json, frame }));
    }

    /// Tells this daemon's live streams that events were lost (see `Published`).
    pub(crate) fn missed(&self) {
        if !self.has_streams() {
            return;
        }
        let json = r#"{"missed":1}"#.to_owned();
        let frame = format!("event: resync\ndata: {json}\n\n").into();
        let _ = self.inner.events.send(Arc::new(Published {
            event: None,
            json,
            frame,
        }));
    }
}
