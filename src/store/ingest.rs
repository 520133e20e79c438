//! Idempotent ingest with group commit. Adapters' batches queue to one writer task, which commits
//! everything queued in a single transaction (one fsync) with a constant number of statements for
//! the new messages (multi-row insert, one conversation update). If the group fails, each batch is
//! retried alone, so one bad batch fails alone. A batch's messages and its channel cursor commit
//! together: after a crash either both are there or neither, so the adapter re-fetches and nothing
//! is lost or doubled.

use super::{
    Attachment, CodeOutcome, ContactRef, Conversation, Direction, Event, Message, MessageSender,
    Priority, Result, Status, Store, StoreError, from_millis, inbox, now_ms,
};
use sqlx::Sqlite;
use sqlx::pool::PoolConnection;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use switchboard_core::{AttachmentData, Change, Inbound};
use tokio::sync::{mpsc, oneshot};

/// Most batches folded into one transaction: bounds the latency a single commit adds.
const MAX_GROUP: usize = 512;
/// How often the writer yields to let more batches arrive before it commits a group.
const GATHER_YIELDS: usize = 16;

/// An attachment whose bytes are already in the file store.
#[derive(Debug, Clone)]
pub struct PreparedAttachment {
    pub filename: String,
    pub content_type: String,
    pub size: Option<i64>,
    pub sha256: Option<String>,
    pub note: Option<String>,
}

/// An inbound message whose attachments were written out; `inbound.attachments` is emptied.
#[derive(Debug, Clone)]
pub struct PreparedInbound {
    pub inbound: Inbound,
    pub attachments: Vec<PreparedAttachment>,
    /// A wallet secret was cut from it before it got here: its conversation turns urgent.
    pub secret_removed: bool,
    /// The warning to queue to the customer, in the same transaction as the message, when it is
    /// stored now (a crash between the two would leave the customer unwarned for good: a
    /// redelivery is a duplicate). Set with `secret_removed`.
    pub warning: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Updated,
    /// Already stored (same external id, or an edit that changes nothing): nothing written.
    Duplicate,
    /// An edit or delete of a message we never saw: logged and skipped.
    Skipped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestItem {
    pub message_id: Option<i64>,
    pub conversation_id: i64,
    pub outcome: Outcome,
    /// The guard cut a wallet secret from this message before it was stored.
    pub secret_removed: bool,
}

#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    pub items: Vec<IngestItem>,
}

struct Job {
    channel: Arc<str>,
    /// When an automatic warning queued with this batch expires undelivered.
    warning_expires_at: i64,
    batch: Vec<PreparedInbound>,
    cursor: Option<String>,
    reply: oneshot::Sender<Result<IngestReport>>,
}

/// The handle adapters (through their sink) and the API channel ingest through.
#[derive(Clone)]
pub struct Ingestor {
    store: Store,
    jobs: mpsc::Sender<Job>,
    guard: Arc<Guard>,
}

/// What the ingest needs to warn a customer whose message held a secret.
pub struct Guard {
    pub texts: Arc<crate::safety::Texts>,
    /// How long the warning may wait for delivery (the outbox expiry).
    pub expiry: std::time::Duration,
}

impl Default for Guard {
    fn default() -> Self {
        Self {
            texts: Arc::default(),
            expiry: std::time::Duration::from_secs(24 * 3600),
        }
    }
}

impl Ingestor {
    /// Starts the writer task; it ends when the last handle is dropped.
    pub fn start(store: Store) -> Self {
        Self::with_guard(store, Guard::default())
    }

    pub fn with_guard(store: Store, guard: Guard) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(writer(store.clone(), rx));
        Self {
            store,
            jobs,
            guard: Arc::new(guard),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Stores `batch` for `channel` and sets its cursor, returning once durably committed.
    pub async fn ingest(
        &self,
        channel: &str,
        batch: Vec<Inbound>,
        cursor: Option<String>,
    ) -> Result<IngestReport> {
        let mut prepared = Vec::with_capacity(batch.len());
        let mut codes = Vec::new();
        let mut secrets = Vec::new();
        let latest = chrono::Utc::now() + chrono::Duration::minutes(5);
        for (n, mut inbound) in batch.into_iter().enumerate() {
            bound_client_fields(&mut inbound, latest);
            // Before anything of it is written anywhere (files, rows, events, logs).
            let kinds = crate::safety::scrub_inbound(&mut inbound);
            let secret_removed = !kinds.is_empty();
            if secret_removed {
                // What was found, never what it was: the log shows the kind and the message id.
                tracing::warn!(channel, external_id = %inbound.message_id, kinds = ?kinds, "wallet secret removed from an inbound message");
                secrets.push((n, kinds));
            }
            if let Some(code) = self.take_code(channel, &mut inbound).await? {
                codes.push((n, code));
            }
            let attachments = std::mem::take(&mut inbound.attachments);
            let mut stored = Vec::with_capacity(attachments.len());
            for a in attachments {
                let (size, sha256, note) = match a.data {
                    AttachmentData::Bytes(bytes) => {
                        let sha = self.store.files.put(&bytes).await?;
                        (Some(bytes.len() as i64), Some(sha), None)
                    }
                    AttachmentData::Missing { note, size } => {
                        (size.map(|s| s as i64), None, Some(note))
                    }
                };
                stored.push(PreparedAttachment {
                    filename: a.filename,
                    content_type: a.content_type,
                    size,
                    sha256,
                    note,
                });
            }
            let warning = secret_removed.then(|| {
                let language =
                    crate::safety::language(inbound.sender.language.as_deref(), &inbound.text);
                self.guard.texts.warning(&language).to_owned()
            });
            prepared.push(PreparedInbound {
                inbound,
                attachments: stored,
                secret_removed,
                warning,
            });
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            channel: channel.into(),
            warning_expires_at: super::outbox::after_ms(super::now_ms(), self.guard.expiry),
            batch: prepared,
            cursor,
            reply,
        };
        let closed = || StoreError::Unavailable("the store is shutting down".into());
        self.jobs.send(job).await.map_err(|_| closed())?;
        let report = answer.await.map_err(|_| closed())??;
        for (n, kinds) in secrets {
            if report
                .items
                .get(n)
                .is_some_and(|i| i.outcome == Outcome::Created)
            {
                for kind in kinds {
                    let m = self.store.metrics();
                    m.add(crate::metrics::SECRETS_REMOVED, channel, kind.as_str(), 1);
                }
            }
        }
        for (n, (id, outcome)) in codes {
            // A repeated delivery of the message that held the code still verifies (the first
            // may have crashed before this); a repeated wrong code counts once.
            let counts = match report.items.get(n).map(|i| i.outcome) {
                Some(Outcome::Created) => true,
                Some(Outcome::Duplicate) => outcome == CodeOutcome::Matched,
                _ => false,
            };
            if !counts {
                continue;
            }
            match self.store.record_code(id, outcome).await {
                Ok(v) => {
                    let label = match v.status.as_str() {
                        "verified" => "verified",
                        "locked" => "locked",
                        "expired" => "expired",
                        _ => "wrong_code",
                    };
                    tracing::info!(verification = id, status = %v.status, "one-time code received");
                    let m = self.store.metrics();
                    m.add(crate::metrics::VERIFICATIONS, channel, label, 1);
                }
                Err(e) => {
                    tracing::warn!(verification = id, error = %e, "verification outcome not recorded")
                }
            }
        }
        Ok(report)
    }

    /// While a verification is pending in this message's conversation, finds the one-time code
    /// in it, cuts it out like a secret, and tells whether it was the right one.
    async fn take_code(
        &self,
        channel: &str,
        inbound: &mut Inbound,
    ) -> Result<Option<(i64, CodeOutcome)>> {
        if inbound.change != Change::New || !crate::safety::has_code_candidate(&inbound.text) {
            return Ok(None);
        }
        let Some(pending) = self.store.pending_code(channel, &inbound.thread_id).await? else {
            return Ok(None);
        };
        let matched = crate::safety::remove_code(inbound, |code| pending.matches(code));
        Ok(Some((
            pending.id,
            if matched {
                CodeOutcome::Matched
            } else {
                CodeOutcome::Wrong
            },
        )))
    }
}

/// Most characters kept of a sender's name and a subject, whatever the channel delivered.
const MAX_NAME_CHARS: usize = 256;
const MAX_SUBJECT_CHARS: usize = 998;

/// What senders claim is bounded before it is stored: a time from the future (a customer
/// pinning their conversation to the top of the inbox with year 9999) becomes the arrival time,
/// and over-long names and subjects are cut.
fn bound_client_fields(inbound: &mut Inbound, latest: chrono::DateTime<chrono::Utc>) {
    if inbound.sent_at.is_some_and(|t| t > latest) {
        inbound.sent_at = None;
    }
    let cut = |text: &mut String, max: usize| {
        if let Some((at, _)) = text.char_indices().nth(max) {
            text.truncate(at);
        }
    };
    cut(&mut inbound.sender.display_name, MAX_NAME_CHARS);
    if let Some(subject) = &mut inbound.subject {
        cut(subject, MAX_SUBJECT_CHARS);
    }
}

/// A sender's identity as the writer remembers it.
#[derive(Debug, Clone, sqlx::FromRow)]
struct IdentityInfo {
    id: i64,
    contact_id: i64,
    contact_name: String,
    display_name: String,
    username: Option<String>,
    language: Option<String>,
}

type Key = (Arc<str>, String);

/// Id lookups the writer need not repeat. Entries made inside a transaction are staged and only
/// become visible for later groups once it committed; a rollback forgets them.
#[derive(Default)]
struct Caches {
    identities: HashMap<Key, IdentityInfo>,
    conversations: HashMap<Key, i64>,
    staged_identities: HashMap<Key, IdentityInfo>,
    staged_conversations: HashMap<Key, i64>,
    /// The store's merge generation these identities were read at.
    generation: u64,
}

/// Bounds the caches' memory; past it they are simply emptied and refilled from the database.
const CACHE_LIMIT: usize = 200_000;

impl Caches {
    fn identity(&self, key: &Key) -> Option<&IdentityInfo> {
        self.staged_identities
            .get(key)
            .or_else(|| self.identities.get(key))
    }

    fn conversation(&self, key: &Key) -> Option<i64> {
        self.staged_conversations
            .get(key)
            .or_else(|| self.conversations.get(key))
            .copied()
    }

    fn commit(&mut self) {
        if self.identities.len() + self.conversations.len() > CACHE_LIMIT {
            self.identities.clear();
            self.conversations.clear();
        }
        self.identities.extend(self.staged_identities.drain());
        self.conversations.extend(self.staged_conversations.drain());
    }

    fn rollback(&mut self) {
        self.staged_identities.clear();
        self.staged_conversations.clear();
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Job>) {
    let mut caches = Caches::default();
    // One connection for all ingest: its page cache stays warm because no other connection
    // writes in between (a pool would hand out connections whose caches another one staled).
    let mut conn: Option<PoolConnection<Sqlite>> = None;
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut jobs, MAX_GROUP).await > 0 {
        // Producers answered by the previous commit are still queueing their next batch: give
        // them a moment so this group is a full one rather than a handful (a few µs, no timer).
        for _ in 0..GATHER_YIELDS {
            if jobs.len() >= MAX_GROUP {
                break;
            }
            let before = jobs.len();
            tokio::task::yield_now().await;
            while jobs.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(job) => jobs.push(job),
                    Err(_) => break,
                }
            }
            if jobs.len() == before {
                break;
            }
        }
        if conn.is_none() {
            match store.pool.acquire().await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::error!(error = %e, "ingest cannot get a database connection");
                    for job in jobs.drain(..) {
                        let _ = job.reply.send(Err(StoreError::Unavailable(format!(
                            "no database connection: {e}"
                        ))));
                    }
                    continue;
                }
            }
        }
        let c = conn.as_mut().expect("connection acquired above");
        let result = commit_group(&store, c, &mut caches, &jobs).await;
        store.writes.record(&result);
        match result {
            Ok((reports, events)) => {
                store.emit(|| events);
                for (job, report) in jobs.drain(..).zip(reports) {
                    count(&store, &job.channel, &report);
                    let _ = job.reply.send(Ok(report));
                }
            }
            Err(e) => {
                caches.rollback();
                if jobs.len() > 1 {
                    tracing::warn!(error = %e, jobs = jobs.len(), "group commit failed, committing batches one by one");
                }
                // The connection itself may be what failed (a COMMIT that failed can leave it
                // inside the transaction): retry on a fresh one, and the pool closes the old.
                conn = None;
                for job in jobs.drain(..) {
                    if conn.is_none() {
                        conn = store.pool.acquire().await.ok();
                    }
                    let Some(c) = conn.as_mut() else {
                        let _ = job.reply.send(Err(StoreError::Unavailable(
                            "no database connection".into(),
                        )));
                        continue;
                    };
                    let result =
                        commit_group(&store, c, &mut caches, std::slice::from_ref(&job)).await;
                    store.writes.record(&result);
                    if result.is_err() {
                        conn = None;
                    }
                    let reply = match result {
                        Ok((mut reports, events)) => {
                            store.emit(|| events);
                            reports.iter().for_each(|r| count(&store, &job.channel, r));
                            Ok(reports.pop().unwrap_or_default())
                        }
                        Err(e) => {
                            caches.rollback();
                            tracing::warn!(channel = %job.channel, error = %e, "inbound batch rejected");
                            Err(e)
                        }
                    };
                    let _ = job.reply.send(reply);
                }
            }
        }
    }
}

fn count(store: &Store, channel: &str, report: &IngestReport) {
    use crate::metrics::INBOUND;
    let n = |o: Outcome| report.items.iter().filter(|i| i.outcome == o).count() as u64;
    let m = store.metrics();
    m.add(INBOUND, channel, "created", n(Outcome::Created));
    m.add(INBOUND, channel, "updated", n(Outcome::Updated));
    m.add(INBOUND, channel, "duplicate", n(Outcome::Duplicate));
    m.add(INBOUND, channel, "skipped", n(Outcome::Skipped));
}

/// A new message waiting for the group's multi-row insert.
struct PendingNew<'a> {
    job: usize,
    warning_expires_at: i64,
    slot: usize,
    channel: &'a Arc<str>,
    item: &'a PreparedInbound,
    identity: IdentityInfo,
    conversation_id: i64,
}

struct Group<'a> {
    now: i64,
    listening: bool,
    reports: Vec<IngestReport>,
    events: Vec<Event>,
    pending: Vec<PendingNew<'a>>,
    /// Conversations that received new messages, with the newest message time.
    touched: HashMap<i64, i64>,
    /// Conversations where the guard cut a secret from a message stored now, with the message.
    flagged: Vec<(i64, &'a Arc<str>, &'a PreparedInbound, i64)>,
    contact_names: HashMap<i64, String>,
}

async fn commit_group(
    store: &Store,
    conn: &mut PoolConnection<Sqlite>,
    caches: &mut Caches,
    jobs: &[Job],
) -> Result<(Vec<IngestReport>, Vec<Event>)> {
    let mut tx = sqlx::Connection::begin_with(&mut **conn, "BEGIN IMMEDIATE").await?;
    // Read under the write lock: a merge that committed before it is visible here.
    let generation = store.merge_generation.load(Ordering::Acquire);
    if generation != caches.generation {
        caches.identities.clear();
        caches.generation = generation;
    }
    let mut group = Group {
        now: now_ms(),
        listening: store.events.receiver_count() > 0,
        reports: jobs.iter().map(|_| IngestReport::default()).collect(),
        events: Vec::new(),
        pending: Vec::new(),
        touched: HashMap::new(),
        flagged: Vec::new(),
        contact_names: HashMap::new(),
    };
    prefetch(&mut tx, caches, jobs, group.now).await?;
    // The people on new messages: (job, slot, conversation, addresses).
    let mut people: Vec<(usize, usize, i64, &[String])> = Vec::new();
    for (j, job) in jobs.iter().enumerate() {
        for item in &job.batch {
            let inbound = &item.inbound;
            let identity = resolve_identity(&mut tx, caches, &job.channel, inbound).await?;
            group
                .contact_names
                .insert(identity.contact_id, identity.contact_name.clone());
            let conversation_id = caches
                .conversation(&(job.channel.clone(), inbound.thread_id.clone()))
                .ok_or_else(|| StoreError::Invalid("conversation was not resolved".into()))?;
            let slot = group.reports[j].items.len();
            group.reports[j].items.push(IngestItem {
                message_id: None,
                conversation_id,
                outcome: Outcome::Duplicate,
                secret_removed: item.secret_removed,
            });
            if inbound.change == Change::New && !inbound.participants.is_empty() {
                people.push((j, slot, conversation_id, &inbound.participants));
            }
            match inbound.change {
                Change::New => group.pending.push(PendingNew {
                    job: j,
                    warning_expires_at: job.warning_expires_at,
                    slot,
                    channel: &job.channel,
                    item,
                    identity,
                    conversation_id,
                }),
                Change::Edited { at } | Change::Deleted { at } => {
                    // Earlier new messages of the group must exist before they can be edited.
                    flush_new(&mut tx, &mut group).await?;
                    let deleted = matches!(inbound.change, Change::Deleted { .. });
                    let item_report = apply_change(
                        &mut tx,
                        &mut group,
                        &job.channel,
                        item,
                        &identity,
                        conversation_id,
                        at.timestamp_millis(),
                        deleted,
                    )
                    .await?;
                    if item.secret_removed && item_report.outcome != Outcome::Duplicate {
                        let expires = job.warning_expires_at;
                        group
                            .flagged
                            .push((conversation_id, &job.channel, item, expires));
                        group.touched.entry(conversation_id).or_insert(0);
                    }
                    group.reports[j].items[slot] = item_report;
                }
            }
        }
    }
    flush_new(&mut tx, &mut group).await?;
    flag_conversations(&mut tx, &mut group).await?;
    touch_conversations(&mut tx, &mut group).await?;
    // Only messages stored now add people: a re-read old mail must not bring back someone an
    // agent took off the thread.
    let participants: Vec<(i64, &str)> = people
        .into_iter()
        .filter(|(j, slot, ..)| group.reports[*j].items[*slot].outcome == Outcome::Created)
        .flat_map(|(_, _, conversation, addresses)| {
            addresses.iter().map(move |a| (conversation, a.as_str()))
        })
        .collect();
    if !participants.is_empty() {
        sqlx::query(
            "INSERT OR IGNORE INTO conversation_participants (conversation_id, address, created_at)
             SELECT j.value ->> 0, j.value ->> 1, ?2 FROM json_each(?1) AS j",
        )
        .bind(to_json(&participants)?)
        .bind(group.now)
        .execute(&mut *tx)
        .await?;
    }
    let mut cursors: Vec<(&str, &str)> = Vec::new();
    for job in jobs {
        if let Some(cursor) = &job.cursor {
            cursors.retain(|(c, _)| *c != &*job.channel);
            cursors.push((&job.channel, cursor));
        }
    }
    for (channel, cursor) in cursors {
        sqlx::query(
            "INSERT INTO channel_cursors (channel, cursor, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (channel) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
        )
        .bind(channel)
        .bind(cursor)
        .bind(group.now)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    caches.commit();
    Ok((group.reports, group.events))
}

/// Resolves the group's unknown identities and conversations with a handful of statements:
/// one lookup each, then the missing ones created in bulk. Ids are assigned here, under the
/// write lock (`BEGIN IMMEDIATE`), so new contacts and identities link without a round trip each.
async fn prefetch(
    conn: &mut sqlx::SqliteConnection,
    caches: &mut Caches,
    jobs: &[Job],
    now: i64,
) -> Result<()> {
    let mut senders: HashMap<Key, &Inbound> = HashMap::new();
    for job in jobs {
        for item in &job.batch {
            let key: Key = (job.channel.clone(), item.inbound.sender.id.clone());
            if caches.identity(&key).is_none() {
                senders.entry(key).or_insert(&item.inbound);
            }
        }
    }
    if !senders.is_empty() {
        let keys: Vec<(&str, &str)> = senders.keys().map(|(c, e)| (&**c, e.as_str())).collect();
        #[derive(sqlx::FromRow)]
        struct Found {
            channel: String,
            external_id: String,
            #[sqlx(flatten)]
            info: IdentityInfo,
        }
        let found: Vec<Found> = sqlx::query_as(
            "SELECT i.id, i.channel, i.external_id, i.contact_id, c.display_name AS contact_name,
                 i.display_name, i.username, i.language
             FROM contact_identities i JOIN contacts c ON c.id = i.contact_id
             WHERE (i.channel, i.external_id) IN
                 (SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?1) AS j)",
        )
        .bind(to_json(&keys)?)
        .fetch_all(&mut *conn)
        .await?;
        for row in found {
            let key = (Arc::from(row.channel.as_str()), row.external_id);
            if let Some((key, _)) = senders.remove_entry(&key) {
                caches.staged_identities.insert(key, row.info);
            }
        }
    }
    if !senders.is_empty() {
        let next_contact: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM contacts")
            .fetch_one(&mut *conn)
            .await?;
        let next_identity: i64 =
            sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM contact_identities")
                .fetch_one(&mut *conn)
                .await?;
        let mut contacts = Vec::with_capacity(senders.len());
        let mut identities = Vec::with_capacity(senders.len());
        for (n, (key, inbound)) in senders.into_iter().enumerate() {
            let sender = &inbound.sender;
            let info = IdentityInfo {
                id: next_identity + n as i64,
                contact_id: next_contact + n as i64,
                contact_name: sender_name(inbound).to_owned(),
                display_name: sender.display_name.clone(),
                username: sender.username.clone(),
                language: sender.language.clone(),
            };
            contacts.push(serde_json::json!([info.contact_id, info.contact_name]));
            identities.push(serde_json::json!([
                info.id,
                info.contact_id,
                &*key.0,
                key.1,
                info.display_name,
                info.username,
                info.language
            ]));
            caches.staged_identities.insert(key, info);
        }
        sqlx::query(
            "INSERT INTO contacts (id, display_name, created_at, updated_at)
             SELECT j.value ->> 0, j.value ->> 1, ?2, ?2 FROM json_each(?1) AS j",
        )
        .bind(to_json(&contacts)?)
        .bind(now)
        .execute(&mut *conn)
        .await?;
        sqlx::query(
            "INSERT INTO contact_identities (id, contact_id, channel, external_id, display_name,
                 username, language, created_at)
             SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4,
                 j.value ->> 5, j.value ->> 6, ?2
             FROM json_each(?1) AS j",
        )
        .bind(to_json(&identities)?)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }

    let mut threads: HashMap<Key, &Inbound> = HashMap::new();
    for job in jobs {
        for item in &job.batch {
            let key: Key = (job.channel.clone(), item.inbound.thread_id.clone());
            if caches.conversation(&key).is_none() {
                threads.entry(key).or_insert(&item.inbound);
            }
        }
    }
    if threads.is_empty() {
        return Ok(());
    }
    let keys: Vec<(&str, &str)> = threads.keys().map(|(c, t)| (&**c, t.as_str())).collect();
    let found: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT id, channel, external_thread_id FROM conversations
         WHERE (channel, external_thread_id) IN
             (SELECT j.value ->> 0, j.value ->> 1 FROM json_each(?1) AS j)",
    )
    .bind(to_json(&keys)?)
    .fetch_all(&mut *conn)
    .await?;
    for (id, channel, thread) in found {
        if let Some((key, _)) = threads.remove_entry(&(Arc::from(channel.as_str()), thread)) {
            caches.staged_conversations.insert(key, id);
        }
    }
    if threads.is_empty() {
        return Ok(());
    }
    let next: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) + 1 FROM conversations")
        .fetch_one(&mut *conn)
        .await?;
    let mut rows = Vec::with_capacity(threads.len());
    for (n, (key, inbound)) in threads.into_iter().enumerate() {
        let id = next + n as i64;
        let identity_key: Key = (key.0.clone(), inbound.sender.id.clone());
        let contact_id = caches
            .identity(&identity_key)
            .map(|i| i.contact_id)
            .ok_or_else(|| StoreError::Invalid("sender identity was not resolved".into()))?;
        let at = inbound.sent_at.map_or(now, |t| t.timestamp_millis());
        rows.push(serde_json::json!([
            id,
            &*key.0,
            key.1,
            contact_id,
            inbound.subject,
            at
        ]));
        caches.staged_conversations.insert(key, id);
    }
    sqlx::query(
        "INSERT INTO conversations (id, channel, external_thread_id, contact_id, subject, created_at,
             updated_at, last_message_at)
         SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, ?2, ?2,
             j.value ->> 5
         FROM json_each(?1) AS j",
    )
    .bind(to_json(&rows)?)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(format!("encoding rows: {e}")))
}

/// Inserts every pending new message with one statement: the rows travel as one JSON array
/// parameter (SQLite's `json_each`), so the statement is prepared once and reused, whatever the
/// group size. Already stored ones (same channel + external id) are reported as duplicates.
async fn flush_new(conn: &mut sqlx::SqliteConnection, group: &mut Group<'_>) -> Result<()> {
    if group.pending.is_empty() {
        return Ok(());
    }
    let pending = std::mem::take(&mut group.pending);
    let rows: Vec<serde_json::Value> = pending
        .iter()
        .map(|p| {
            let inbound = &p.item.inbound;
            serde_json::json!([
                p.conversation_id,
                &**p.channel,
                p.identity.id,
                sender_name(inbound),
                inbound.text,
                inbound.html,
                inbound.message_id,
                inbound.reply_to,
                inbound.auto_generated,
                inbound.sent_at.map(|t| t.timestamp_millis()),
            ])
        })
        .collect();
    let rows = serde_json::to_string(&rows).map_err(|e| StoreError::Invalid(e.to_string()))?;
    // `WHERE true` keeps SQLite from reading ON CONFLICT as a join constraint.
    let inserted: Vec<(i64, String, String)> = sqlx::query_as(
        "INSERT INTO messages (conversation_id, channel, direction, sender_identity_id, sender_name,
             text, html, external_id, reply_to_external_id, auto_generated, sent_at, created_at)
         SELECT j.value ->> 0, j.value ->> 1, 'inbound', j.value ->> 2, j.value ->> 3, j.value ->> 4,
             j.value ->> 5, j.value ->> 6, j.value ->> 7, j.value ->> 8, j.value ->> 9, ?2
         FROM json_each(?1) AS j WHERE true
         ON CONFLICT (channel, direction, external_id) DO NOTHING RETURNING id, channel, external_id",
    )
    .bind(rows)
    .bind(group.now)
    .fetch_all(&mut *conn)
    .await?;
    let mut created: HashMap<(String, String), i64> = inserted
        .into_iter()
        .map(|(id, channel, external)| ((channel, external), id))
        .collect();
    for p in &pending {
        let key = (p.channel.to_string(), p.item.inbound.message_id.clone());
        // `remove`: a message repeated inside the group is created once, then a duplicate.
        let Some(id) = created.remove(&key) else {
            continue;
        };
        insert_attachments(conn, id, &p.item.attachments, group.now).await?;
        group.reports[p.job].items[p.slot] = IngestItem {
            message_id: Some(id),
            conversation_id: p.conversation_id,
            outcome: Outcome::Created,
            secret_removed: p.item.secret_removed,
        };
        if p.item.secret_removed {
            let expires = p.warning_expires_at;
            group
                .flagged
                .push((p.conversation_id, p.channel, p.item, expires));
        }
        let at = p
            .item
            .inbound
            .sent_at
            .map_or(group.now, |t| t.timestamp_millis());
        let newest = group.touched.entry(p.conversation_id).or_insert(at);
        *newest = (*newest).max(at);
        if group.listening {
            let event =
                created_event(conn, id, p.conversation_id, &p.identity, p.item, group.now).await?;
            group.events.push(event);
        }
    }
    Ok(())
}

/// A customer who sent a wallet secret needs an agent now: the conversation turns urgent and
/// carries the `secret_removed` mark (rare: one statement per group that has any).
async fn flag_conversations(
    conn: &mut sqlx::SqliteConnection,
    group: &mut Group<'_>,
) -> Result<()> {
    if group.flagged.is_empty() {
        return Ok(());
    }
    let mut ids: Vec<i64> = group.flagged.iter().map(|f| f.0).collect();
    ids.sort_unstable();
    ids.dedup();
    sqlx::query(
        "UPDATE conversations SET priority = 'urgent',
             flags = CASE WHEN EXISTS (SELECT 1 FROM json_each(flags) f WHERE f.value = 'secret_removed')
                 THEN flags ELSE json_insert(flags, '$[#]', 'secret_removed') END
         WHERE id IN (SELECT j.value FROM json_each(?1) AS j)",
    )
    .bind(to_json(&ids)?)
    .execute(&mut *conn)
    .await?;
    // One warning per conversation and group, however many of its messages held a secret.
    let mut warned: Vec<i64> = Vec::new();
    for &(conversation_id, channel, item, expires_at) in &group.flagged {
        let Some(text) = item.warning.as_deref() else {
            continue;
        };
        if warned.contains(&conversation_id) {
            continue;
        }
        warned.push(conversation_id);
        let reply = super::outbox::Outbound {
            conversation_id,
            channel,
            agent: None,
            text,
            reply_to: None,
            files: &[],
        };
        let id = super::outbox::queue_outbound(conn, reply, group.now, expires_at).await?;
        if group.listening {
            let message = super::inbox::message(conn, id).await?;
            group.events.push(Event::MessageCreated(message));
        }
    }
    Ok(())
}

/// New customer activity moves conversations up the inbox and reopens resolved or snoozed ones:
/// one statement for the whole group.
async fn touch_conversations(
    conn: &mut sqlx::SqliteConnection,
    group: &mut Group<'_>,
) -> Result<()> {
    if group.touched.is_empty() {
        return Ok(());
    }
    let touched: Vec<(i64, i64)> = group.touched.drain().collect();
    let touched =
        serde_json::to_string(&touched).map_err(|e| StoreError::Invalid(e.to_string()))?;
    let rows: Vec<TouchedRow> = sqlx::query_as(
        "UPDATE conversations SET
             status = CASE WHEN status IN ('resolved', 'snoozed') THEN 'open' ELSE status END,
             updated_at = ?2,
             last_message_at = MAX(last_message_at, t.at)
         FROM (SELECT j.value ->> 0 AS id, j.value ->> 1 AS at FROM json_each(?1) AS j) AS t
         WHERE conversations.id = t.id
         RETURNING id, channel, status, priority, flags, subject, assignee_id, created_at,
             last_message_at, contact_id",
    )
    .bind(touched)
    .bind(group.now)
    .fetch_all(&mut *conn)
    .await?;
    if !group.listening {
        return Ok(());
    }
    let contacts: Vec<i64> = rows.iter().map(|r| r.contact_id).collect();
    let verified: Vec<(i64, String)> = sqlx::query_as(
        "SELECT contact_id, email FROM contact_verified_emails
         WHERE contact_id IN (SELECT j.value FROM json_each(?1) AS j) ORDER BY verified_at",
    )
    .bind(to_json(&contacts)?)
    .fetch_all(&mut *conn)
    .await?;
    for row in rows {
        let contact_name = match group.contact_names.get(&row.contact_id) {
            Some(name) => name.clone(),
            None => {
                sqlx::query_scalar("SELECT display_name FROM contacts WHERE id = ?1")
                    .bind(row.contact_id)
                    .fetch_one(&mut *conn)
                    .await?
            }
        };
        group.events.push(Event::ConversationUpdated(Conversation {
            id: row.id,
            channel: row.channel,
            status: Status::parse(&row.status).unwrap_or(Status::Open),
            priority: Priority::parse(&row.priority).unwrap_or(Priority::Normal),
            flags: inbox::string_list(&row.flags),
            subject: row.subject,
            contact: ContactRef {
                id: row.contact_id,
                display_name: contact_name,
                verified_emails: verified
                    .iter()
                    .filter(|(c, _)| *c == row.contact_id)
                    .map(|(_, e)| e.clone())
                    .collect(),
            },
            assignee_id: row.assignee_id,
            created_at: from_millis(row.created_at),
            last_message_at: from_millis(row.last_message_at),
        }));
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct TouchedRow {
    id: i64,
    channel: String,
    status: String,
    priority: String,
    flags: String,
    subject: Option<String>,
    assignee_id: Option<i64>,
    created_at: i64,
    last_message_at: i64,
    contact_id: i64,
}

/// An edit or delete: the earlier text becomes a revision, never overwritten.
#[allow(clippy::too_many_arguments)]
async fn apply_change(
    conn: &mut sqlx::SqliteConnection,
    group: &mut Group<'_>,
    channel: &str,
    item: &PreparedInbound,
    identity: &IdentityInfo,
    conversation_id: i64,
    at: i64,
    deleted: bool,
) -> Result<IngestItem> {
    let inbound = &item.inbound;
    let report = |message_id, outcome| IngestItem {
        message_id,
        conversation_id,
        outcome,
        secret_removed: item.secret_removed,
    };
    let found: Option<(i64, String, Option<String>, Option<i64>)> = sqlx::query_as(
        // A customer edits or deletes their own messages: look among the inbound ones first
        // (an outbound message may carry the same platform id); a moderator's delete of one of
        // our replies still finds it.
        "SELECT id, text, html, deleted_at FROM messages WHERE channel = ?1 AND external_id = ?2
         AND (direction = 'inbound' OR ?3) ORDER BY direction = 'inbound' DESC LIMIT 1",
    )
    .bind(channel)
    .bind(&inbound.message_id)
    .bind(deleted)
    .fetch_optional(&mut *conn)
    .await?;
    let id = match found {
        None if deleted => {
            tracing::info!(channel, external_id = %inbound.message_id, "delete of an unknown message skipped");
            return Ok(report(None, Outcome::Skipped));
        }
        // An edit of a message never seen (sent while we were away): store its current text.
        None => {
            let id = insert_edited(
                conn,
                channel,
                conversation_id,
                identity,
                item,
                at,
                group.now,
            )
            .await?;
            let newest = group.touched.entry(conversation_id).or_insert(at);
            *newest = (*newest).max(at);
            if group.listening {
                group
                    .events
                    .push(Event::MessageCreated(inbox::message(conn, id).await?));
            }
            return Ok(report(Some(id), Outcome::Created));
        }
        Some((_, _, _, Some(_))) if deleted => return Ok(report(None, Outcome::Duplicate)),
        Some((id, text, html, _)) if deleted => {
            revise(conn, id, "delete", &text, html.as_deref(), at).await?;
            sqlx::query("UPDATE messages SET deleted_at = ?2 WHERE id = ?1")
                .bind(id)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            id
        }
        Some((_, text, html, _)) if text == inbound.text && html == inbound.html => {
            return Ok(report(None, Outcome::Duplicate));
        }
        Some((id, text, html, _)) => {
            revise(conn, id, "edit", &text, html.as_deref(), at).await?;
            sqlx::query("UPDATE messages SET text = ?2, html = ?3, edited_at = ?4 WHERE id = ?1")
                .bind(id)
                .bind(&inbound.text)
                .bind(&inbound.html)
                .bind(at)
                .execute(&mut *conn)
                .await?;
            id
        }
    };
    if group.listening {
        group
            .events
            .push(Event::MessageUpdated(inbox::message(conn, id).await?));
    }
    Ok(report(Some(id), Outcome::Updated))
}

/// The sender's identity (resolved by `prefetch`), refreshed when the platform shows a new
/// name, username or language.
async fn resolve_identity(
    conn: &mut sqlx::SqliteConnection,
    caches: &mut Caches,
    channel: &Arc<str>,
    inbound: &Inbound,
) -> Result<IdentityInfo> {
    let sender = &inbound.sender;
    let key: Key = (channel.clone(), sender.id.clone());
    let mut info = caches
        .identity(&key)
        .cloned()
        .ok_or_else(|| StoreError::Invalid("sender identity was not resolved".into()))?;
    let changed = info.display_name != sender.display_name
        || info.username != sender.username
        || info.language != sender.language;
    if changed {
        sqlx::query(
            "UPDATE contact_identities SET display_name = ?2, username = ?3, language = ?4 WHERE id = ?1",
        )
        .bind(info.id)
        .bind(&sender.display_name)
        .bind(&sender.username)
        .bind(&sender.language)
        .execute(&mut *conn)
        .await?;
        info.display_name = sender.display_name.clone();
        info.username = sender.username.clone();
        info.language = sender.language.clone();
        caches.staged_identities.insert(key, info.clone());
    }
    Ok(info)
}

async fn insert_edited(
    conn: &mut sqlx::SqliteConnection,
    channel: &str,
    conversation_id: i64,
    identity: &IdentityInfo,
    item: &PreparedInbound,
    edited_at: i64,
    now: i64,
) -> Result<i64> {
    let inbound = &item.inbound;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (conversation_id, channel, direction, sender_identity_id, sender_name,
             text, html, external_id, reply_to_external_id, auto_generated, sent_at, edited_at, created_at)
         VALUES (?1, ?2, 'inbound', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) RETURNING id",
    )
    .bind(conversation_id)
    .bind(channel)
    .bind(identity.id)
    .bind(sender_name(inbound))
    .bind(&inbound.text)
    .bind(&inbound.html)
    .bind(&inbound.message_id)
    .bind(&inbound.reply_to)
    .bind(inbound.auto_generated)
    .bind(inbound.sent_at.map(|t| t.timestamp_millis()))
    .bind(edited_at)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    insert_attachments(conn, id, &item.attachments, now).await?;
    Ok(id)
}

pub(super) async fn insert_attachments(
    conn: &mut sqlx::SqliteConnection,
    message_id: i64,
    attachments: &[PreparedAttachment],
    now: i64,
) -> Result<()> {
    for a in attachments {
        sqlx::query(
            "INSERT INTO attachments (message_id, filename, content_type, size, sha256, note, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(message_id)
        .bind(&a.filename)
        .bind(&a.content_type)
        .bind(a.size)
        .bind(&a.sha256)
        .bind(&a.note)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}

async fn revise(
    conn: &mut sqlx::SqliteConnection,
    message_id: i64,
    kind: &str,
    text: &str,
    html: Option<&str>,
    at: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO message_revisions (message_id, kind, text, html, replaced_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(message_id)
    .bind(kind)
    .bind(text)
    .bind(html)
    .bind(at)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The `message.created` event, built from what is at hand; only attachments need a read.
async fn created_event(
    conn: &mut sqlx::SqliteConnection,
    id: i64,
    conversation_id: i64,
    identity: &IdentityInfo,
    item: &PreparedInbound,
    now: i64,
) -> Result<Event> {
    if !item.attachments.is_empty() {
        return Ok(Event::MessageCreated(inbox::message(conn, id).await?));
    }
    let inbound = &item.inbound;
    Ok(Event::MessageCreated(Message {
        id,
        conversation_id,
        direction: Direction::Inbound,
        text: inbound.text.clone(),
        html: inbound.html.clone(),
        sender: MessageSender {
            display_name: sender_name(inbound).to_owned(),
            agent_id: None,
            contact_id: Some(identity.contact_id),
        },
        created_at: from_millis(now),
        sent_at: inbound.sent_at,
        edited_at: None,
        deleted_at: None,
        delivery_status: None,
        error: None,
        external_id: Some(inbound.message_id.clone()),
        reply_to: inbound.reply_to.clone(),
        auto_generated: inbound.auto_generated,
        attachments: Vec::<Attachment>::new(),
        revisions: Vec::new(),
    }))
}

/// How the sender appeared when writing this message (the contact's name may change later).
fn sender_name(inbound: &Inbound) -> &str {
    if inbound.sender.display_name.trim().is_empty() {
        &inbound.sender.id
    } else {
        &inbound.sender.display_name
    }
}
