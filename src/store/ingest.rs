//! Idempotent ingest with group commit. Adapters' batches queue to one writer task, which commits
//! everything queued in a single transaction (one fsync), each batch inside its own savepoint so
//! one bad batch fails alone. A batch's messages and its channel cursor commit together: after a
//! crash either both are there or neither, so the adapter re-fetches and nothing is lost or doubled.

use super::{
    Attachment, ContactRef, Conversation, Direction, Event, Message, MessageSender, Priority,
    Result, Status, Store, StoreError, from_millis, inbox, now_ms,
};
use std::sync::Arc;
use switchboard_core::{AttachmentData, Change, Inbound};
use tokio::sync::{mpsc, oneshot};

/// Most batches folded into one transaction: bounds the latency a single commit adds.
const MAX_GROUP: usize = 512;

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
}

#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    pub items: Vec<IngestItem>,
}

struct Job {
    channel: Arc<str>,
    batch: Vec<PreparedInbound>,
    cursor: Option<String>,
    reply: oneshot::Sender<Result<(IngestReport, Vec<Event>)>>,
}

/// The handle adapters (through their sink) and the API channel ingest through.
#[derive(Clone)]
pub struct Ingestor {
    store: Store,
    jobs: mpsc::Sender<Job>,
}

impl Ingestor {
    /// Starts the writer task; it ends when the last handle is dropped.
    pub fn start(store: Store) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_GROUP);
        tokio::spawn(writer(store.clone(), rx));
        Self { store, jobs }
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
        for mut inbound in batch {
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
            prepared.push(PreparedInbound {
                inbound,
                attachments: stored,
            });
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            channel: channel.into(),
            batch: prepared,
            cursor,
            reply,
        };
        let closed = || StoreError::Invalid("the store is shutting down".into());
        self.jobs.send(job).await.map_err(|_| closed())?;
        let (report, events) = answer.await.map_err(|_| closed())??;
        self.store.emit(|| events);
        Ok(report)
    }
}

async fn writer(store: Store, mut rx: mpsc::Receiver<Job>) {
    let mut jobs = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut jobs, MAX_GROUP).await > 0 {
        let results = commit_group(&store, &jobs).await;
        for (job, result) in jobs.drain(..).zip(results) {
            let _ = job.reply.send(result);
        }
    }
}

/// One transaction for the whole group; a savepoint per job so a failing job fails alone.
async fn commit_group(store: &Store, jobs: &[Job]) -> Vec<Result<(IngestReport, Vec<Event>)>> {
    let attempt = async {
        let mut tx = store.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut results = Vec::with_capacity(jobs.len());
        let listening = store.events.receiver_count() > 0;
        for job in jobs {
            let mut savepoint = sqlx::Acquire::begin(&mut *tx).await?;
            match ingest_job(&mut savepoint, job, listening).await {
                Ok(report) => {
                    savepoint.commit().await?;
                    results.push(Ok(report));
                }
                Err(e) => {
                    tracing::warn!(channel = %job.channel, error = %e, "inbound batch rejected");
                    savepoint.rollback().await?;
                    results.push(Err(e));
                }
            }
        }
        tx.commit().await?;
        Ok::<_, StoreError>(results)
    };
    match attempt.await {
        Ok(results) => results,
        Err(e) => {
            tracing::error!(error = %e, jobs = jobs.len(), "ingest commit failed");
            let text = e.to_string();
            jobs.iter()
                .map(|_| Err(StoreError::Invalid(format!("commit failed: {text}"))))
                .collect()
        }
    }
}

#[derive(sqlx::FromRow)]
struct ConversationRow {
    id: i64,
    status: String,
    priority: String,
    subject: Option<String>,
    assignee_id: Option<i64>,
    created_at: i64,
    last_message_at: i64,
}

async fn ingest_job(
    conn: &mut sqlx::SqliteConnection,
    job: &Job,
    listening: bool,
) -> Result<(IngestReport, Vec<Event>)> {
    let channel = &*job.channel;
    let mut report = IngestReport::default();
    let mut events = Vec::new();
    for item in &job.batch {
        let inbound = &item.inbound;
        let now = now_ms();
        let at = inbound.sent_at.map_or(now, |t| t.timestamp_millis());

        let (identity_id, contact_id, contact_name) = identity(conn, channel, inbound, now).await?;

        let existing: Option<ConversationRow> = sqlx::query_as(
            "SELECT id, status, priority, subject, assignee_id, created_at, last_message_at
             FROM conversations WHERE channel = ?1 AND external_thread_id = ?2",
        )
        .bind(channel)
        .bind(&inbound.thread_id)
        .fetch_optional(&mut *conn)
        .await?;
        let (mut conv, is_new_conversation) = match existing {
            Some(row) => (row, false),
            None => {
                let row: ConversationRow = sqlx::query_as(
                    "INSERT INTO conversations (channel, external_thread_id, contact_id, subject,
                         created_at, updated_at, last_message_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
                     RETURNING id, status, priority, subject, assignee_id, created_at, last_message_at",
                )
                .bind(channel)
                .bind(&inbound.thread_id)
                .bind(contact_id)
                .bind(&inbound.subject)
                .bind(now)
                .bind(at)
                .fetch_one(&mut *conn)
                .await?;
                (row, true)
            }
        };

        let outcome = match inbound.change {
            Change::New => {
                match insert_message(conn, channel, conv.id, identity_id, item, None, now).await? {
                    Some(id) => {
                        report_created(
                            conn,
                            &mut events,
                            listening,
                            id,
                            conv.id,
                            contact_id,
                            item,
                            now,
                        )
                        .await?;
                        report.items.push(IngestItem {
                            message_id: Some(id),
                            conversation_id: conv.id,
                            outcome: Outcome::Created,
                        });
                        Outcome::Created
                    }
                    None => Outcome::Duplicate,
                }
            }
            Change::Edited { at: edited } | Change::Deleted { at: edited } => {
                let deleted = matches!(inbound.change, Change::Deleted { .. });
                let edited = edited.timestamp_millis();
                let found: Option<(i64, String, Option<String>, Option<i64>)> = sqlx::query_as(
                    "SELECT id, text, html, deleted_at FROM messages WHERE channel = ?1 AND external_id = ?2",
                )
                .bind(channel)
                .bind(&inbound.message_id)
                .fetch_optional(&mut *conn)
                .await?;
                match found {
                    None if deleted => {
                        tracing::info!(channel, external_id = %inbound.message_id, "delete of an unknown message skipped");
                        Outcome::Skipped
                    }
                    // An edit of a message we never saw: store its current text, marked edited.
                    None => match insert_message(
                        conn,
                        channel,
                        conv.id,
                        identity_id,
                        item,
                        Some(edited),
                        now,
                    )
                    .await?
                    {
                        Some(id) => {
                            report_created(
                                conn,
                                &mut events,
                                listening,
                                id,
                                conv.id,
                                contact_id,
                                item,
                                now,
                            )
                            .await?;
                            report.items.push(IngestItem {
                                message_id: Some(id),
                                conversation_id: conv.id,
                                outcome: Outcome::Created,
                            });
                            Outcome::Created
                        }
                        None => Outcome::Duplicate,
                    },
                    Some((_, _, _, Some(_))) if deleted => Outcome::Duplicate,
                    Some((id, text, html, _)) if deleted => {
                        revise(conn, id, "delete", &text, html.as_deref(), edited).await?;
                        sqlx::query("UPDATE messages SET deleted_at = ?2 WHERE id = ?1")
                            .bind(id)
                            .bind(edited)
                            .execute(&mut *conn)
                            .await?;
                        updated(conn, &mut report, &mut events, listening, id, conv.id).await?
                    }
                    Some((_, text, html, _)) if text == inbound.text && html == inbound.html => {
                        Outcome::Duplicate
                    }
                    Some((id, text, html, _)) => {
                        revise(conn, id, "edit", &text, html.as_deref(), edited).await?;
                        sqlx::query("UPDATE messages SET text = ?2, html = ?3, edited_at = ?4 WHERE id = ?1")
                            .bind(id)
                            .bind(&inbound.text)
                            .bind(&inbound.html)
                            .bind(edited)
                            .execute(&mut *conn)
                            .await?;
                        updated(conn, &mut report, &mut events, listening, id, conv.id).await?
                    }
                }
            }
        };
        if matches!(outcome, Outcome::Duplicate | Outcome::Skipped) {
            report.items.push(IngestItem {
                message_id: None,
                conversation_id: conv.id,
                outcome,
            });
            continue;
        }
        if outcome == Outcome::Created {
            // New customer activity reopens a resolved or snoozed conversation.
            let old_status = conv.status.clone();
            let (status, last): (String, i64) = sqlx::query_as(
                "UPDATE conversations SET
                     status = CASE WHEN status IN ('resolved', 'snoozed') THEN 'open' ELSE status END,
                     last_message_at = MAX(last_message_at, ?2), updated_at = ?3
                 WHERE id = ?1 RETURNING status, last_message_at",
            )
            .bind(conv.id)
            .bind(at)
            .bind(now)
            .fetch_one(&mut *conn)
            .await?;
            conv.status = status;
            conv.last_message_at = last;
            if listening && (is_new_conversation || old_status != conv.status) {
                events.push(Event::ConversationUpdated(Conversation {
                    id: conv.id,
                    channel: channel.to_owned(),
                    status: Status::parse(&conv.status).unwrap_or(Status::Open),
                    priority: Priority::parse(&conv.priority).unwrap_or(Priority::Normal),
                    subject: conv.subject.clone(),
                    contact: ContactRef {
                        id: contact_id,
                        display_name: contact_name.clone(),
                    },
                    assignee_id: conv.assignee_id,
                    created_at: from_millis(conv.created_at),
                    last_message_at: from_millis(conv.last_message_at),
                }));
            }
        }
    }
    if let Some(cursor) = &job.cursor {
        sqlx::query(
            "INSERT INTO channel_cursors (channel, cursor, updated_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (channel) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at",
        )
        .bind(channel)
        .bind(cursor)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
    }
    Ok((report, events))
}

/// The sender's identity on this channel (created with a new contact on first contact).
async fn identity(
    conn: &mut sqlx::SqliteConnection,
    channel: &str,
    inbound: &Inbound,
    now: i64,
) -> Result<(i64, i64, String)> {
    let sender = &inbound.sender;
    #[derive(sqlx::FromRow)]
    struct Found {
        id: i64,
        contact_id: i64,
        contact_name: String,
        name: String,
        username: Option<String>,
        language: Option<String>,
    }
    let found: Option<Found> = sqlx::query_as(
        "SELECT i.id, i.contact_id, c.display_name AS contact_name, i.display_name AS name, i.username, i.language
         FROM contact_identities i JOIN contacts c ON c.id = i.contact_id
         WHERE i.channel = ?1 AND i.external_id = ?2",
    )
    .bind(channel)
    .bind(&sender.id)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(Found {
        id,
        contact_id,
        contact_name,
        name,
        username,
        language,
    }) = found
    {
        if name != sender.display_name || username != sender.username || language != sender.language
        {
            sqlx::query(
                "UPDATE contact_identities SET display_name = ?2, username = ?3, language = ?4 WHERE id = ?1",
            )
            .bind(id)
            .bind(&sender.display_name)
            .bind(&sender.username)
            .bind(&sender.language)
            .execute(&mut *conn)
            .await?;
        }
        return Ok((id, contact_id, contact_name));
    }
    let name = if sender.display_name.trim().is_empty() {
        sender.id.clone()
    } else {
        sender.display_name.clone()
    };
    let contact_id: i64 = sqlx::query_scalar(
        "INSERT INTO contacts (display_name, created_at, updated_at) VALUES (?1, ?2, ?2) RETURNING id",
    )
    .bind(&name)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO contact_identities (contact_id, channel, external_id, display_name, username, language, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
    )
    .bind(contact_id)
    .bind(channel)
    .bind(&sender.id)
    .bind(&sender.display_name)
    .bind(&sender.username)
    .bind(&sender.language)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?;
    Ok((id, contact_id, name))
}

/// Inserts the message and its attachments; `None` when the external id is already stored.
#[allow(clippy::too_many_arguments)]
async fn insert_message(
    conn: &mut sqlx::SqliteConnection,
    channel: &str,
    conversation_id: i64,
    identity_id: i64,
    item: &PreparedInbound,
    edited_at: Option<i64>,
    now: i64,
) -> Result<Option<i64>> {
    let inbound = &item.inbound;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO messages (conversation_id, channel, direction, sender_identity_id, sender_name,
             text, html, external_id, reply_to_external_id, auto_generated, sent_at, edited_at, created_at)
         VALUES (?1, ?2, 'inbound', ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (channel, external_id) DO NOTHING RETURNING id",
    )
    .bind(conversation_id)
    .bind(channel)
    .bind(identity_id)
    .bind(sender_name(inbound))
    .bind(&inbound.text)
    .bind(&inbound.html)
    .bind(&inbound.message_id)
    .bind(&inbound.reply_to)
    .bind(inbound.auto_generated)
    .bind(inbound.sent_at.map(|t| t.timestamp_millis()))
    .bind(edited_at)
    .bind(now)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(id) = id else { return Ok(None) };
    for a in &item.attachments {
        sqlx::query(
            "INSERT INTO attachments (message_id, filename, content_type, size, sha256, note, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )
        .bind(id)
        .bind(&a.filename)
        .bind(&a.content_type)
        .bind(a.size)
        .bind(&a.sha256)
        .bind(&a.note)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(Some(id))
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

async fn updated(
    conn: &mut sqlx::SqliteConnection,
    report: &mut IngestReport,
    events: &mut Vec<Event>,
    listening: bool,
    id: i64,
    conversation_id: i64,
) -> Result<Outcome> {
    if listening {
        events.push(Event::MessageUpdated(inbox::message(conn, id).await?));
    }
    report.items.push(IngestItem {
        message_id: Some(id),
        conversation_id,
        outcome: Outcome::Updated,
    });
    Ok(Outcome::Updated)
}

/// Builds the `message.created` event from what is at hand; only attachment ids need a read.
#[allow(clippy::too_many_arguments)]
async fn report_created(
    conn: &mut sqlx::SqliteConnection,
    events: &mut Vec<Event>,
    listening: bool,
    id: i64,
    conversation_id: i64,
    contact_id: i64,
    item: &PreparedInbound,
    now: i64,
) -> Result<()> {
    if !listening {
        return Ok(());
    }
    if !item.attachments.is_empty() {
        events.push(Event::MessageCreated(inbox::message(conn, id).await?));
        return Ok(());
    }
    let inbound = &item.inbound;
    let attachments: Vec<Attachment> = Vec::new();
    events.push(Event::MessageCreated(Message {
        id,
        conversation_id,
        direction: Direction::Inbound,
        text: inbound.text.clone(),
        html: inbound.html.clone(),
        sender: MessageSender {
            display_name: sender_name(inbound).to_owned(),
            agent_id: None,
            contact_id: Some(contact_id),
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
        attachments,
        revisions: Vec::new(),
    }));
    Ok(())
}

/// How the sender appeared when writing this message (the contact's name may change later).
fn sender_name(inbound: &Inbound) -> &str {
    if inbound.sender.display_name.trim().is_empty() {
        &inbound.sender.id
    } else {
        &inbound.sender.display_name
    }
}
