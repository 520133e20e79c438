//! The store's SQL, written once and compiled once per backend: `sqlite.rs` and `postgres.rs`
//! each include this module with their own `Db` (and `Conn`), so every query here runs on both.
//! What the two dialects say differently is in those two files (`sql::*`, `begin_write`,
//! `next_ids`, search rows); nothing here names a backend.

pub(super) use super::{
    Conn, Db, SEVERAL_DAEMONS, begin_index, begin_write, begin_write_on, checkpoint, next_ids,
    prepare_writer, search_param, search_row, sql,
};
pub(super) use crate::store::{
    Agent, AssigneeFilter, Attachment, AttachmentFile, CannedAnswer, CodeOutcome, Contact,
    ContactRef, Conversation, ConversationFilter, ConversationPatch, DeliveryStatus, Direction,
    Event, Identity, Message, MessageSender, Note, OutboxFile, OutboxJob, PendingCode,
    PreparedAttachment, Priority, Result, RetryDecision, Revision, Role, Status, StoreError,
    Verification, VerifiedEmail, from_millis, now_ms, string_list,
};
use std::sync::Arc;

mod agents;
mod csat;
mod desk;
mod follow_up;
pub(in crate::store) mod inbox;
pub(in crate::store) mod ingest;
mod misc;
mod notes;
pub(in crate::store) mod outbox;
pub(in crate::store) mod queue;
mod reports;
mod search;
mod spike;
mod threading;
mod verification;

/// The queries of one backend over its pool, announcing what they commit on the bus.
#[derive(Clone)]
pub struct Repo {
    pub(super) pool: sqlx::Pool<Db>,
    pub(super) bus: crate::store::EventBus,
    /// Ingest counts what it stored, where it stored it.
    pub(super) metrics: crate::metrics::Metrics,
    pub(super) writes: Arc<crate::store::WriteHealth>,
    /// The SLA policies, set once at start (none: no conversation keeps a clock).
    pub(super) clock: Arc<std::sync::OnceLock<Arc<dyn crate::store::sla::SlaClock>>>,
    /// The satisfaction survey, set once at start (none: resolutions ask for no survey).
    pub(super) surveys: Arc<std::sync::OnceLock<Arc<crate::store::SurveySettings>>>,
}

impl Repo {
    pub(in crate::store) fn new(
        pool: sqlx::Pool<Db>,
        bus: crate::store::EventBus,
        metrics: crate::metrics::Metrics,
        writes: Arc<crate::store::WriteHealth>,
    ) -> Self {
        Self {
            pool,
            bus,
            metrics,
            writes,
            clock: Arc::default(),
            surveys: Arc::default(),
        }
    }
}
