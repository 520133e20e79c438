//! Idempotent ingest with group commit. Adapters' batches queue to one writer task, which commits
//! everything queued in a single transaction (one fsync) with a constant number of statements for
//! the new messages (multi-row insert, one conversation update). If the group fails, each batch is
//! retried alone, so one bad batch fails alone. A batch's messages and its channel cursor commit
//! together: after a crash either both are there or neither, so the adapter re-fetches and nothing
//! is lost or doubled.
//!
//! Here: the adapters' side (`Ingestor`: bounds, secret guard, one-time codes). The SQL is in
//! `repo/ingest/`: `writer`, the group commit loop; `resolve`: identities, contacts and
//! conversations; `insert`: new rows; `change`: edits and deletes; `events`: what a stored
//! message announces.

use super::{CodeOutcome, Result, Store, StoreError};
use std::sync::Arc;
use switchboard_core::{AttachmentData, Change, Inbound};
use tokio::sync::{mpsc, oneshot};

/// Most batches folded into one transaction: bounds the latency a single commit adds.
pub(crate) const MAX_GROUP: usize = 512;
/// How often the writer yields to let more batches arrive before it commits a group.
pub(crate) const GATHER_YIELDS: usize = 16;

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
    /// The channel's hint or the detected language (ISO 639-1).
    pub language: Option<String>,
    /// The text read as a satisfaction rating: it counts as one only while the
    /// conversation's survey waits for it.
    pub rating: Option<crate::automation::csat::Rating>,
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
    /// This message opened its conversation, or reopened a resolved or snoozed one: the front
    /// desk acknowledges it.
    pub opened: bool,
    /// It answered a satisfaction survey (and a thank-you was queued with it).
    pub answered_survey: bool,
}

#[derive(Debug, Clone, Default)]
pub struct IngestReport {
    pub items: Vec<IngestItem>,
}

/// One adapter batch queued to the writer.
pub(crate) struct Job {
    pub(crate) channel: Arc<str>,
    /// When an automatic warning queued with this batch expires undelivered.
    pub(crate) warning_expires_at: i64,
    pub(crate) batch: Vec<PreparedInbound>,
    pub(crate) cursor: Option<String>,
    pub(crate) reply: oneshot::Sender<Result<IngestReport>>,
}

/// The handle adapters (through their sink) and the API channel ingest through.
#[derive(Clone)]
pub struct Ingestor {
    store: Store,
    files: super::FileStore,
    metrics: crate::metrics::Metrics,
    jobs: mpsc::Sender<Job>,
    guard: Arc<Guard>,
    /// Notified when a batch stored something: the front desk has work.
    stored: Arc<tokio::sync::Notify>,
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
    /// Starts the writer task on `storage`'s store; it ends when the last handle is dropped.
    /// Attachments go to its file store, counts to its metrics.
    pub fn new(storage: &super::Storage, guard: Guard) -> Self {
        let (jobs, rx) = mpsc::channel(4 * MAX_GROUP);
        storage.store.spawn_ingest_writer(rx);
        Self {
            store: storage.store.clone(),
            files: storage.files.clone(),
            metrics: storage.metrics.clone(),
            jobs,
            guard: Arc::new(guard),
            stored: Arc::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Notified each time a batch stored a new message.
    pub fn stored(&self) -> Arc<tokio::sync::Notify> {
        self.stored.clone()
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
            // A 0x-prefixed hash the front desk just asked for is a transaction, not a key
            // (wallets export keys without 0x; explorers show transactions with it).
            let shielded = if crate::automation::intake::has_evm_hash(&inbound.text)
                && self
                    .store
                    .desk_expects(channel, &inbound.thread_id)
                    .await?
                    .as_deref()
                    == Some("tx_hash")
            {
                crate::automation::intake::shield_evm_hashes(&mut inbound.text)
            } else {
                Vec::new()
            };
            let kinds = crate::safety::scrub_inbound(&mut inbound);
            crate::automation::intake::restore_evm_hashes(&mut inbound.text, &shielded);
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
                        let sha = self.files.put(&bytes).await?;
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
            let language = crate::automation::language::detect(
                inbound.sender.language.as_deref(),
                &inbound.text,
            );
            let warning = secret_removed.then(|| {
                let language = language.as_deref().unwrap_or("en");
                self.guard.texts.warning(language).to_owned()
            });
            let rating = crate::automation::csat::parse(&inbound.text);
            prepared.push(PreparedInbound {
                inbound,
                attachments: stored,
                secret_removed,
                warning,
                language,
                rating,
            });
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            channel: channel.into(),
            warning_expires_at: crate::store::outbox::after_ms(super::now_ms(), self.guard.expiry),
            batch: prepared,
            cursor,
            reply,
        };
        let closed = || StoreError::Unavailable("the store is shutting down".into());
        self.jobs.send(job).await.map_err(|_| closed())?;
        let report = answer.await.map_err(|_| closed())??;
        if report.items.iter().any(|i| i.outcome == Outcome::Created) {
            self.stored.notify_one();
        }
        for (n, kinds) in secrets {
            if report
                .items
                .get(n)
                .is_some_and(|i| i.outcome == Outcome::Created)
            {
                for kind in kinds {
                    let m = &self.metrics;
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
                    let m = &self.metrics;
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
    // NUL is valid UTF-8 that PostgreSQL's text cannot hold: a message carrying one would be
    // refused there and redelivered forever. Both backends store U+FFFD instead, alike.
    let nul = |text: &mut String| {
        if text.contains('\0') {
            *text = text.replace('\0', "\u{FFFD}");
        }
    };
    let Inbound {
        thread_id,
        message_id,
        sender,
        text,
        html,
        subject,
        attachments,
        reply_to,
        participants,
        ..
    } = inbound;
    for field in [
        thread_id,
        message_id,
        &mut sender.id,
        &mut sender.display_name,
        text,
    ]
    .into_iter()
    .chain(html.as_mut())
    .chain(subject.as_mut())
    .chain(reply_to.as_mut())
    .chain(sender.username.as_mut())
    .chain(sender.language.as_mut())
    .chain(participants.iter_mut())
    {
        nul(field);
    }
    for a in attachments {
        nul(&mut a.filename);
        nul(&mut a.content_type);
    }
}
