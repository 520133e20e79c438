//! The inbox view of the live events: the bus folded into rounds once for all inbox streams.
//!
//! Sending every event to every stream costs events × streams; 2,000 open inboxes made ingest
//! twenty times slower. An inbox shows a list and one conversation, so it needs every event of
//! that conversation but only the newest state of the others. One task (the digest) reads the
//! bus and, at most every [`FOCUS_INTERVAL`], publishes a round: the full frames grouped by
//! conversation, and at most every [`LIST_INTERVAL`] the list changes (the latest
//! `conversation.updated` of each changed conversation, newest first, at most [`LIST_CAP`]).
//! A stream then writes, per round, the shared list bytes and the frames of the conversation
//! it is focused on: its cost no longer grows with the ingest rate.

use crate::store::{Event, Published, Store};
use bytes::{Bytes, BytesMut};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, broadcast, watch};
use tokio::time::Instant;

/// How often, at most, frames of focused conversations go out under load (a quiet desk sends
/// each at once).
const FOCUS_INTERVAL: Duration = Duration::from_millis(100);
/// How often, at most, list changes go out under load.
const LIST_INTERVAL: Duration = Duration::from_secs(1);
/// Most conversations one list round carries; past this the inbox reloads its list page.
pub const LIST_CAP: usize = 50;
/// Rounds a stream may fall behind before it is told to resync (6 s and more of load).
const ROUNDS: usize = 64;
/// Focus frames gathered for one conversation in one round before the rest is dropped for a
/// resync of that conversation's streams (a flood into one thread).
const MAX_FOCUS_BYTES: usize = 1 << 20;
/// Stream ids stay below 2^53: a browser reads them as JavaScript numbers.
const MAX_ID: u64 = 1 << 53;
/// Most inbox streams focusable at once (the stream limits are lower; this bounds the map).
const MAX_REGISTERED: usize = 100_000;

/// One round: everything inbox streams are sent for it.
#[derive(Default)]
pub struct Round {
    /// The list changes, when this round carries them (else empty).
    pub list: Bytes,
    /// Every frame of each conversation that had events, in order.
    pub focus: HashMap<i64, Bytes>,
    /// Conversations whose frames overflowed this round: their streams resync.
    pub overflowed: Vec<i64>,
    /// Frames for admins only.
    pub admin: Bytes,
    /// The digest fell behind the bus and lost this many events: everyone resyncs.
    pub missed: u64,
}

/// The digest and the focus of each inbox stream.
pub struct Live {
    store: Store,
    rounds: broadcast::Sender<Arc<Round>>,
    state: Mutex<DigestState>,
    wake: Notify,
    focus: Mutex<HashMap<u64, Focused>>,
}

/// An inbox stream's owner (agent id) and the handle that moves its focus.
type Focused = (i64, watch::Sender<Option<i64>>);

#[derive(Default)]
struct DigestState {
    /// The digest has no bus receiver and waits to be woken by a new stream.
    idle: bool,
    /// A bus receiver made by the stream that woke it (made there, so no event committed after
    /// the stream opened is missed).
    handed: Option<broadcast::Receiver<Arc<Published>>>,
}

/// An inbox stream's registration: its id for focus changes, its round receiver, its focus.
pub struct Registration {
    pub id: u64,
    pub rounds: broadcast::Receiver<Arc<Round>>,
    pub focus: watch::Receiver<Option<i64>>,
    live: Arc<Live>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.live.focus.lock().unwrap().remove(&self.id);
    }
}

impl Live {
    /// Starts the digest task; it sleeps while no inbox stream is open, so the store builds no
    /// events for nobody.
    pub fn start(store: Store) -> Arc<Self> {
        let (rounds, _) = broadcast::channel(ROUNDS);
        let live = Arc::new(Self {
            store,
            rounds,
            state: Mutex::new(DigestState {
                idle: true,
                handed: None,
            }),
            wake: Notify::new(),
            focus: Mutex::default(),
        });
        tokio::spawn(digest(Arc::downgrade(&live)));
        live
    }

    /// Registers a new inbox stream, focused on `conversation` (or on none).
    pub fn register(
        self: &Arc<Self>,
        agent: i64,
        conversation: Option<i64>,
    ) -> Option<Registration> {
        let (tx, focus) = watch::channel(conversation);
        let id = {
            let mut map = self.focus.lock().unwrap();
            if map.len() >= MAX_REGISTERED {
                return None;
            }
            let mut id = fastrand::u64(1..MAX_ID);
            while map.contains_key(&id) {
                id = fastrand::u64(1..MAX_ID);
            }
            map.insert(id, (agent, tx));
            id
        };
        let rounds = {
            let mut state = self.state.lock().unwrap();
            let rounds = self.rounds.subscribe();
            if state.idle {
                state.idle = false;
                state.handed = Some(self.store.subscribe());
                self.wake.notify_one();
            }
            rounds
        };
        Some(Registration {
            id,
            rounds,
            focus,
            live: self.clone(),
        })
    }

    /// Points an agent's own stream at another conversation; false when there is no such stream.
    pub fn set_focus(&self, stream: u64, agent: i64, conversation: Option<i64>) -> bool {
        match self.focus.lock().unwrap().get(&stream) {
            Some((owner, tx)) if *owner == agent => {
                tx.send_replace(conversation);
                true
            }
            _ => false,
        }
    }
}

/// What the digest gathered since its last round.
#[derive(Default)]
struct Pending {
    focus: HashMap<i64, BytesMut>,
    overflowed: Vec<i64>,
    admin: BytesMut,
    missed: u64,
    /// Per changed conversation: its latest `conversation.updated`, the newest message time
    /// without one (an agent's reply), and the time it sorts by.
    list: HashMap<i64, ListEntry>,
}

#[derive(Default)]
struct ListEntry {
    updated: Option<Arc<Published>>,
    activity: Option<String>,
    newest: i64,
}

impl Pending {
    fn has_round(&self) -> bool {
        !self.focus.is_empty() || !self.admin.is_empty() || self.missed > 0
    }

    fn add(&mut self, published: Arc<Published>) {
        if published.event.admin_only() {
            self.admin.extend_from_slice(&published.frame);
            return;
        }
        let conversation = match &published.event {
            Event::MessageCreated(m) => {
                let at = m.created_at.timestamp_millis();
                let entry = self.list.entry(m.conversation_id).or_default();
                if entry.newest <= at {
                    entry.newest = at;
                    entry.activity = Some(crate::store::model::timestamp::format(&m.created_at));
                }
                m.conversation_id
            }
            Event::MessageUpdated(m) => m.conversation_id,
            Event::NoteCreated(n) => n.conversation_id,
            Event::ConversationUpdated(c) => {
                let at = c.last_message_at.timestamp_millis();
                let entry = self.list.entry(c.id).or_default();
                entry.newest = entry.newest.max(at);
                // The conversation's own time covers the activity up to it.
                if entry.activity.is_some() && at >= entry.newest {
                    entry.activity = None;
                }
                entry.updated = Some(published.clone());
                c.id
            }
            Event::ReplyRefused(_) => return,
        };
        if self.overflowed.contains(&conversation) {
            return;
        }
        let frames = self.focus.entry(conversation).or_default();
        if frames.len() + published.frame.len() > MAX_FOCUS_BYTES {
            self.focus.remove(&conversation);
            self.overflowed.push(conversation);
            return;
        }
        frames.extend_from_slice(&published.frame);
    }

    /// The list frames: the newest changes first, at most [`LIST_CAP`], and a `list.more`
    /// frame when some were left out.
    fn take_list(&mut self) -> Bytes {
        let mut entries: Vec<(i64, ListEntry)> = self.list.drain().collect();
        entries.sort_unstable_by_key(|(_, e)| std::cmp::Reverse(e.newest));
        let more = entries.len().saturating_sub(LIST_CAP);
        let mut out = BytesMut::new();
        for (id, entry) in entries.into_iter().take(LIST_CAP) {
            if let Some(updated) = &entry.updated {
                out.extend_from_slice(&updated.frame);
            }
            if let Some(at) = entry.activity {
                let data = json!({"type": "conversation.activity", "data": {"id": id, "last_message_at": at}});
                out.extend_from_slice(
                    format!("event: conversation.activity\ndata: {data}\n\n").as_bytes(),
                );
            }
        }
        if more > 0 {
            let data = json!({"type": "list.more", "data": {"more": more}});
            out.extend_from_slice(format!("event: list.more\ndata: {data}\n\n").as_bytes());
        }
        out.freeze()
    }

    fn take_round(&mut self, with_list: bool) -> Round {
        Round {
            list: if with_list {
                self.take_list()
            } else {
                Bytes::new()
            },
            focus: self
                .focus
                .drain()
                .map(|(id, frames)| (id, frames.freeze()))
                .collect(),
            overflowed: std::mem::take(&mut self.overflowed),
            admin: std::mem::take(&mut self.admin).freeze(),
            missed: std::mem::take(&mut self.missed),
        }
    }
}

async fn digest(live: std::sync::Weak<Live>) {
    let mut bus: Option<broadcast::Receiver<Arc<Published>>> = None;
    let mut pending = Pending::default();
    let long_ago = Instant::now() - LIST_INTERVAL;
    let (mut last_round, mut last_list) = (long_ago, long_ago);
    loop {
        let Some(this) = live.upgrade() else { return };
        if bus.is_none() {
            let handed = this.state.lock().unwrap().handed.take();
            if handed.is_none() {
                // Woken by a new stream; the timeout only notices a dropped `Live`.
                let _ = tokio::time::timeout(Duration::from_secs(60), this.wake.notified()).await;
                continue;
            }
            bus = handed;
        } else if this.rounds.receiver_count() == 0 {
            // Nobody listens: give the bus back (ingest then builds no events) and sleep.
            let mut state = this.state.lock().unwrap();
            if this.rounds.receiver_count() == 0 {
                state.idle = true;
                state.handed = None;
                bus = None;
                pending = Pending::default();
                continue;
            }
        }
        drop(this);
        let receiver = bus.as_mut().expect("subscribed above");
        let deadline = if pending.has_round() {
            Some(last_round + FOCUS_INTERVAL)
        } else if !pending.list.is_empty() {
            Some(last_list + LIST_INTERVAL)
        } else {
            None
        };
        tokio::select! {
            biased;
            _ = sleep_until_opt(deadline) => {}
            item = tokio::time::timeout(Duration::from_secs(15), receiver.recv()) => {
                match item {
                    Ok(Ok(published)) => pending.add(published),
                    Ok(Err(broadcast::error::RecvError::Lagged(n))) => {
                        pending.missed = pending.missed.saturating_add(n);
                    }
                    Ok(Err(broadcast::error::RecvError::Closed)) => return,
                    // Quiet: look again whether anybody still listens.
                    Err(_) => {}
                }
                // A quiet desk sends at once: the deadline is then already past.
                continue;
            }
        }
        let now = Instant::now();
        let with_list = now >= last_list + LIST_INTERVAL && !pending.list.is_empty();
        if !pending.has_round() && !with_list {
            continue;
        }
        let round = pending.take_round(with_list);
        last_round = now;
        if with_list {
            last_list = now;
        }
        let Some(this) = live.upgrade() else { return };
        let _ = this.rounds.send(Arc::new(round));
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The bytes an inbox stream sends for one round: resyncs first, then the list changes, the
/// frames of its conversation and, for admins, theirs. Empty when the round had nothing for it.
pub fn chunk_for(round: &Round, focus: Option<i64>, admin: bool) -> Bytes {
    let mut parts: Vec<Bytes> = Vec::new();
    if round.missed > 0 || focus.is_some_and(|f| round.overflowed.contains(&f)) {
        let missed = round.missed.max(1);
        parts.push(format!("event: resync\ndata: {}\n\n", json!({ "missed": missed })).into());
    }
    if !round.list.is_empty() {
        parts.push(round.list.clone());
    }
    if let Some(frames) = focus.and_then(|f| round.focus.get(&f)) {
        parts.push(frames.clone());
    }
    if admin && !round.admin.is_empty() {
        parts.push(round.admin.clone());
    }
    match parts.len() {
        0 => Bytes::new(),
        // The common case: the shared bytes as they are, no copy.
        1 => parts.pop().unwrap_or_default(),
        _ => {
            let mut out = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
            for p in parts {
                out.extend_from_slice(&p);
            }
            out.freeze()
        }
    }
}
