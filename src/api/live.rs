//! The inbox view of the live events: the bus read once for all inbox streams.
//!
//! Sending every event to every stream costs events × streams; 2,000 open inboxes made ingest
//! twenty times slower. An inbox shows a list and one conversation, so it needs every event of
//! that conversation but only the newest state of the others. One task (the digest) reads the
//! bus and, at most every [`FOCUS_INTERVAL`] under load, sends each followed conversation's
//! frames on that conversation's own channel; at most every [`LIST_INTERVAL`] it sends all inbox
//! streams the list changes (the latest `conversation.updated` of each changed conversation,
//! newest first, at most [`LIST_CAP`]). A stream wakes for its conversation and the list rounds
//! only: its cost no longer grows with the desk's traffic.

use crate::store::{Event, EventBus, Published};
use bytes::{Bytes, BytesMut};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, broadcast};
use tokio::time::Instant;

/// How often, at most, frames of focused conversations go out under load (a quiet desk sends
/// each at once).
const FOCUS_INTERVAL: Duration = Duration::from_millis(100);
/// How often, at most, list changes go out under load.
const LIST_INTERVAL: Duration = Duration::from_secs(1);
/// Most conversations one list round carries; past this the inbox reloads its list page.
pub const LIST_CAP: usize = 25;
/// List rounds a stream may fall behind before it is told to resync (a minute of load).
const LIST_ROUNDS: usize = 64;
/// Rounds of one conversation (or of admin events) a stream may fall behind (3 s of load).
const FOCUS_ROUNDS: usize = 32;
/// Focus (or admin) frames gathered for one conversation in one round before the rest is
/// dropped for a resync of its streams (a flood into one thread). With [`FOCUS_ROUNDS`] this
/// bounds what one stalled reader can hold in memory per conversation (8 MiB).
const MAX_FOCUS_BYTES: usize = 256 << 10;
/// Conversations whose list state the digest remembers, to tell a real change (status,
/// assignee, ...) from new activity only; past this it starts over.
const MAX_REMEMBERED: usize = 200_000;
/// Most events taken off the bus at once before the round deadline is looked at again.
const BUS_DRAIN: usize = 4096;
/// Most real changes one list round carries (new activity alone is cut at [`LIST_CAP`]).
const MAX_CHANGES: usize = 200;
/// Stream ids stay below 2^53: a browser reads them as JavaScript numbers.
const MAX_ID: u64 = 1 << 53;
/// Most inbox streams focusable at once (the stream limits are lower; this bounds the map).
const MAX_REGISTERED: usize = 100_000;

/// A list round: the list changes, and events the digest lost (everyone resyncs).
pub struct ListRound {
    pub list: Bytes,
    pub missed: u64,
}

/// The digest, and the streams' focus: each followed conversation has its own channel, so a
/// stream wakes for its conversation, the list rounds and (admins) admin events, never for the
/// rest of the desk.
pub struct Live {
    bus: EventBus,
    list: broadcast::Sender<Arc<ListRound>>,
    admin: broadcast::Sender<Bytes>,
    state: Mutex<DigestState>,
    wake: Notify,
    registry: Mutex<Registry>,
}

#[derive(Default)]
struct DigestState {
    /// The digest has no bus receiver and waits to be woken by a new stream.
    idle: bool,
    /// A bus receiver made by the stream that woke it (made there, so no event committed after
    /// the stream opened is missed).
    handed: Option<broadcast::Receiver<Arc<Published>>>,
}

#[derive(Default)]
struct Registry {
    streams: HashMap<u64, Entry>,
    followed: HashMap<i64, Followed>,
}

struct Entry {
    agent: i64,
    focus: Option<i64>,
    slot: Arc<Slot>,
}

/// A followed conversation: how many streams follow it, and its channel.
struct Followed {
    count: usize,
    tx: broadcast::Sender<Bytes>,
}

/// Where a focus change waits for its stream: the new conversation's receiver, subscribed when
/// the change was made, so nothing committed after `PUT .../focus` answered is missed.
#[derive(Default)]
pub struct Slot {
    next: Mutex<Option<Option<broadcast::Receiver<Bytes>>>>,
    pub(super) changed: Notify,
}

impl Registry {
    fn follow(&mut self, conversation: Option<i64>) -> Option<broadcast::Receiver<Bytes>> {
        let c = conversation?;
        let followed = self.followed.entry(c).or_insert_with(|| Followed {
            count: 0,
            tx: broadcast::channel(FOCUS_ROUNDS).0,
        });
        followed.count += 1;
        Some(followed.tx.subscribe())
    }

    fn unfollow(&mut self, conversation: Option<i64>) {
        let Some(c) = conversation else { return };
        if let Some(f) = self.followed.get_mut(&c) {
            f.count = f.count.saturating_sub(1);
            if f.count == 0 {
                self.followed.remove(&c);
            }
        }
    }
}

/// An inbox stream's registration: its id for focus changes and its receivers.
pub struct Registration {
    pub id: u64,
    pub list: broadcast::Receiver<Arc<ListRound>>,
    pub admin: Option<broadcast::Receiver<Bytes>>,
    pub focus: Option<broadcast::Receiver<Bytes>>,
    pub slot: Arc<Slot>,
    live: Arc<Live>,
}

impl Registration {
    /// Takes the receiver of a focus change made since the last call, if any.
    pub fn take_focus_change(&mut self) {
        if let Some(rx) = self.slot.next.lock().unwrap().take() {
            self.focus = rx;
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut registry = self.live.registry.lock().unwrap();
        if let Some(entry) = registry.streams.remove(&self.id) {
            registry.unfollow(entry.focus);
        }
    }
}

impl Live {
    /// Starts the digest task; it sleeps while no inbox stream is open, so the store builds no
    /// events for nobody.
    pub fn start(bus: EventBus) -> Arc<Self> {
        let live = Arc::new(Self {
            bus,
            list: broadcast::channel(LIST_ROUNDS).0,
            admin: broadcast::channel(FOCUS_ROUNDS).0,
            state: Mutex::new(DigestState {
                idle: true,
                handed: None,
            }),
            wake: Notify::new(),
            registry: Mutex::default(),
        });
        tokio::spawn(digest(Arc::downgrade(&live)));
        live
    }

    /// Registers a new inbox stream, focused on `conversation` (or on none).
    pub fn register(
        self: &Arc<Self>,
        agent: i64,
        admin: bool,
        conversation: Option<i64>,
    ) -> Option<Registration> {
        let slot = Arc::new(Slot::default());
        let (id, focus) = {
            let mut registry = self.registry.lock().unwrap();
            if registry.streams.len() >= MAX_REGISTERED {
                return None;
            }
            let mut id = fastrand::u64(1..MAX_ID);
            while registry.streams.contains_key(&id) {
                id = fastrand::u64(1..MAX_ID);
            }
            let focus = registry.follow(conversation);
            let entry = Entry {
                agent,
                focus: conversation,
                slot: slot.clone(),
            };
            registry.streams.insert(id, entry);
            (id, focus)
        };
        let list = {
            let mut state = self.state.lock().unwrap();
            let list = self.list.subscribe();
            if state.idle {
                state.idle = false;
                state.handed = Some(self.bus.subscribe());
                self.wake.notify_one();
            }
            list
        };
        Some(Registration {
            id,
            list,
            admin: admin.then(|| self.admin.subscribe()),
            focus,
            slot,
            live: self.clone(),
        })
    }

    /// Points an agent's own stream at another conversation; false when there is no such stream.
    pub fn set_focus(&self, stream: u64, agent: i64, conversation: Option<i64>) -> bool {
        let mut registry = self.registry.lock().unwrap();
        let (before, slot) = match registry.streams.get(&stream) {
            Some(entry) if entry.agent == agent => (entry.focus, entry.slot.clone()),
            _ => return false,
        };
        registry.unfollow(before);
        let rx = registry.follow(conversation);
        if let Some(entry) = registry.streams.get_mut(&stream) {
            entry.focus = conversation;
        }
        *slot.next.lock().unwrap() = Some(rx);
        slot.changed.notify_one();
        true
    }

    /// Sends each followed conversation's frames to its streams; the rest nobody reads.
    fn publish(&self, pending: &mut Pending) {
        let registry = self.registry.lock().unwrap();
        for (c, frames) in pending.focus.drain() {
            if let Some(f) = registry.followed.get(&c) {
                let _ = f.tx.send(frames.freeze());
            }
        }
        for c in pending.overflowed.drain(..) {
            if let Some(f) = registry.followed.get(&c) {
                let _ = f.tx.send(resync_frame(1));
            }
        }
        drop(registry);
        if !pending.admin.is_empty() {
            let _ = self.admin.send(std::mem::take(&mut pending.admin).freeze());
        }
    }
}

/// `resync` (`{"missed": n}`): the client reloads what it shows.
pub fn resync_frame(missed: u64) -> Bytes {
    format!("event: resync\ndata: {}\n\n", json!({ "missed": missed })).into()
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
    /// The last list state seen of each conversation ([`signature`]).
    seen: HashMap<i64, u64>,
}

#[derive(Default)]
struct ListEntry {
    updated: Option<Arc<Published>>,
    activity: Option<String>,
    newest: i64,
    /// Something besides the time changed (or the conversation is new to the digest): such a
    /// change is sent before any that only moves a row, since a reload of the first list page
    /// cannot repair it (a row that left the filter, a page further down).
    changed: bool,
}

/// What a list row shows of a conversation, but its times.
fn signature(c: &crate::store::Conversation) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (c.status.as_str(), c.priority.as_str(), c.assignee_id).hash(&mut h);
    (&c.flags, &c.subject, &c.channel).hash(&mut h);
    (c.team_id, &c.labels, &c.priority_reason, &c.language).hash(&mut h);
    c.sla
        .as_ref()
        .map(|s| (s.breached, &s.breaches))
        .hash(&mut h);
    (
        c.contact.id,
        &c.contact.display_name,
        &c.contact.verified_emails,
    )
        .hash(&mut h);
    h.finish()
}

impl Pending {
    fn has_round(&self) -> bool {
        !self.focus.is_empty()
            || !self.overflowed.is_empty()
            || !self.admin.is_empty()
            || self.missed > 0
    }

    fn add(&mut self, published: Arc<Published>) {
        let Some(event) = &published.event else {
            // Events were lost before the bus (another daemon's): everyone reloads.
            self.missed = self.missed.saturating_add(1);
            return;
        };
        if event.admin_only() {
            // Refused replies are rare; a flood of them is cut rather than held.
            if self.admin.len() + published.frame.len() <= MAX_FOCUS_BYTES {
                self.admin.extend_from_slice(&published.frame);
            }
            return;
        }
        let conversation = match event {
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
                let sig = signature(c);
                if self.seen.len() >= MAX_REMEMBERED && !self.seen.contains_key(&c.id) {
                    self.seen.clear();
                }
                let changed = self.seen.insert(c.id, sig) != Some(sig);
                let entry = self.list.entry(c.id).or_default();
                entry.changed |= changed;
                entry.newest = entry.newest.max(at);
                // The conversation's own time covers the activity up to it.
                if entry.activity.is_some() && at >= entry.newest {
                    entry.activity = None;
                }
                entry.updated = Some(published.clone());
                c.id
            }
            Event::SlaBreached(b) => b.conversation_id,
            Event::CsatRated(r) => r.conversation_id,
            Event::ReplyRefused(_) | Event::SpikeDetected(_) => return,
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

    /// The list frames: real changes first (at most [`MAX_CHANGES`]), then the newest activity,
    /// at least [`LIST_CAP`] in all, and a `list.more` frame when some were left out.
    fn take_list(&mut self) -> Bytes {
        let mut entries: Vec<(i64, ListEntry)> = self.list.drain().collect();
        entries.sort_unstable_by_key(|(_, e)| {
            (std::cmp::Reverse(e.changed), std::cmp::Reverse(e.newest))
        });
        let changes = entries.iter().filter(|(_, e)| e.changed).count();
        let cap = LIST_CAP.max(changes.min(MAX_CHANGES));
        let more = entries.len().saturating_sub(cap);
        let mut out = BytesMut::new();
        for (id, entry) in entries.into_iter().take(cap) {
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
}

async fn digest(live: std::sync::Weak<Live>) {
    let mut bus: Option<broadcast::Receiver<Arc<Published>>> = None;
    let mut pending = Pending::default();
    let now = Instant::now();
    let long_ago = now.checked_sub(LIST_INTERVAL).unwrap_or(now);
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
        } else if this.list.receiver_count() == 0 {
            // Nobody listens: give the bus back (ingest then builds no events) and sleep.
            let mut state = this.state.lock().unwrap();
            if this.list.receiver_count() == 0 {
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
                // What one commit published arrives together (a message and its conversation):
                // take all of it into this round before the deadline (on a quiet desk already
                // past) sends it.
                for _ in 0..BUS_DRAIN {
                    match receiver.try_recv() {
                        Ok(published) => pending.add(published),
                        Err(broadcast::error::TryRecvError::Lagged(n)) => {
                            pending.missed = pending.missed.saturating_add(n);
                        }
                        Err(_) => break,
                    }
                }
                continue;
            }
        }
        let now = Instant::now();
        let Some(this) = live.upgrade() else { return };
        last_round = now;
        this.publish(&mut pending);
        let missed = std::mem::take(&mut pending.missed);
        let with_list = now >= last_list + LIST_INTERVAL && !pending.list.is_empty();
        if with_list || missed > 0 {
            let list = if with_list {
                last_list = now;
                pending.take_list()
            } else {
                Bytes::new()
            };
            let _ = this.list.send(Arc::new(ListRound { list, missed }));
        }
    }
}

async fn sleep_until_opt(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
