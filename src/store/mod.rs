//! The normalized store: contacts, conversations, messages, attachments, agents and the outbox.
//! All SQL of the daemon lives under this module: `repo/` holds the queries, compiled once per
//! backend by `sqlite.rs` (the embedded default) and `postgres.rs` (several daemons on one
//! database), which also hold the few statements whose dialects differ. `Store` is the handle
//! the rest of the daemon uses; it forwards each operation to its backend's repository. The
//! live event bus (`bus.rs`), the counters and the attachment files are not reached through it:
//! `Storage` opens them together and each part of the daemon is given the ones it uses.

mod bus;
mod copy;
pub mod desk;
mod files;
mod ingest;
mod lock;
pub mod model;
mod notes;
pub(crate) mod outbox;
mod postgres;
pub mod reports;
pub(crate) mod search;
pub mod sla;
mod sqlite;
mod verification;

pub(crate) use bus::Notice;
pub use bus::{EventBus, Published};
pub use copy::{CopyReport, copy_sqlite_to_postgres};
pub use desk::{
    AssignPolicy, DeskContext, DeskItem, DeskOutcome, DeskPlan, DeskReply, FollowUpPolicy,
    KnownIssue, NewKnownIssue, Reminder, SpikeCount, SurveyDue, SurveySettings, Triage,
    TriageChange,
};
pub use files::FileStore;
pub use ingest::{
    Guard, IngestItem, IngestReport, Ingestor, Outcome, PreparedAttachment, PreparedInbound,
};
pub use lock::{DaemonLock, LockError, lock_database};
pub use model::*;
pub use notes::{CannedAnswer, Note};
pub(crate) use outbox::after_ms;
pub use outbox::{OutboxFile, OutboxJob, RetryDecision};
pub use verification::{CodeOutcome, PendingCode, Verification, new_code};

pub use crate::metrics::Metrics;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::Delivered;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("file store: {0}")]
    Io(#[from] std::io::Error),
    /// The database cannot take the request now (disk full, I/O error, locked, shutting down);
    /// the caller may retry later.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// True when retrying later may succeed: the database or disk failed, not the request.
    pub fn is_unavailable(&self) -> bool {
        match self {
            Self::Unavailable(_) => true,
            Self::Io(_) => true,
            Self::Db(e) => db_unavailable(e),
            Self::Migrate(_) | Self::NotFound | Self::Conflict(_) | Self::Invalid(_) => false,
        }
    }
}

fn db_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => {
            let Some(code) = d.code() else { return false };
            if d.try_downcast_ref::<sqlx::postgres::PgDatabaseError>().is_some() {
                postgres::unavailable_code(&code)
            } else {
                sqlite::unavailable_code(&code)
            }
        }
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        // A connection left inside a failed transaction; the pool replaces it.
        | sqlx::Error::InvalidSavePointStatement
        | sqlx::Error::BeginFailed => true,
        _ => false,
    }
}

/// Whether the last writes succeeded: `/healthz` reports a store that cannot write, and a
/// successful write (or probe) clears it again.
#[derive(Default)]
pub struct WriteHealth {
    failing: std::sync::Mutex<Option<String>>,
}

impl WriteHealth {
    /// Records the outcome of a write; only failures of the store itself count.
    pub fn record<T>(&self, result: &Result<T>) {
        match result {
            Ok(_) => {
                let mut failing = self.failing.lock().unwrap();
                if failing.take().is_some() {
                    tracing::info!("database writes succeed again");
                }
            }
            Err(e) if e.is_unavailable() => {
                let mut failing = self.failing.lock().unwrap();
                if failing.is_none() {
                    tracing::error!(error = %e, "database writes fail");
                }
                *failing = Some(e.to_string());
            }
            Err(_) => {}
        }
    }

    pub fn failing(&self) -> Option<String> {
        self.failing.lock().unwrap().clone()
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A `LIKE ... ESCAPE '\\'` pattern matching `text` anywhere, its wildcards taken literally.
pub(crate) fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// Creates `dir` (and its parents) readable by the owner only: it holds customers' messages.
/// An existing directory keeps the mode its operator gave it.
pub fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// Creates the database file owner-only before SQLite opens it; SQLite gives its WAL and shared-
/// memory files the database file's mode.
pub(super) fn private_file(path: &Path) -> std::io::Result<()> {
    if path.as_os_str().is_empty() || path == Path::new(":memory:") || path.exists() {
        return Ok(());
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Unix milliseconds: the store's one time representation.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The right to run one channel's inbound loop (`Store::lease_channel`): held until dropped, or
/// until `lost` fires because the database connection holding it broke (another daemon may
/// take the channel then, so the loop must stop).
pub struct ChannelLease {
    lost: CancellationToken,
    /// Owns the holding connection; aborting it closes that connection, which frees the lease.
    keeper: Option<tokio::task::JoinHandle<()>>,
}

impl ChannelLease {
    pub fn lost(&self) -> &CancellationToken {
        &self.lost
    }
}

impl Drop for ChannelLease {
    fn drop(&mut self) {
        if let Some(keeper) = &self.keeper {
            keeper.abort();
        }
    }
}

/// Which database the store runs on.
#[derive(Clone)]
enum Backend {
    Sqlite(sqlite::repo::Repo),
    Postgres(postgres::repo::Repo),
}

/// The repository: every query of the daemon, on the backend `database_url` chose. The event
/// bus, counters and file store live beside it and are handed to each part that uses them.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
}

/// Whether `database_url` names a PostgreSQL server (else it is a SQLite file).
pub fn is_postgres(database_url: &str) -> bool {
    database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")
}

/// What the daemon's parts are built from: the store, and beside it the event bus it announces
/// on, the counters and the attachment files.
#[derive(Clone)]
pub struct Storage {
    pub store: Store,
    pub bus: EventBus,
    pub metrics: Metrics,
    pub files: FileStore,
}

impl Storage {
    /// Opens the database (see `Store::open`) and the attachment directory under `data_dir`,
    /// with a new bus and counters.
    pub async fn open(database_url: &str, data_dir: &Path) -> Result<Self> {
        let files = FileStore::new(data_dir)?;
        let bus = EventBus::default();
        let metrics = Metrics::default();
        let store = Store::open(database_url, &bus, &metrics).await?;
        Ok(Self {
            store,
            bus,
            metrics,
            files,
        })
    }

    /// An ingestor over this storage without the secret guard's warning texts (tests, benches).
    pub fn ingestor(&self) -> Ingestor {
        Ingestor::new(self, Guard::default())
    }
}

impl Store {
    /// Opens (creating if needed) the database and migrates; what is committed is announced
    /// on `bus`, and ingest counts on `metrics`. `postgres://` and `postgresql://` URLs open
    /// PostgreSQL; anything else is SQLite's.
    pub async fn open(database_url: &str, bus: &EventBus, metrics: &Metrics) -> Result<Self> {
        let writes = Arc::new(WriteHealth::default());
        let backend = if is_postgres(database_url) {
            let pool = postgres::open(database_url).await?;
            let repo = postgres::repo::Repo::new(pool, bus.clone(), metrics.clone(), writes);
            postgres::relay(&repo);
            Backend::Postgres(repo)
        } else {
            let pool = sqlite::open(database_url).await?;
            Backend::Sqlite(sqlite::repo::Repo::new(
                pool,
                bus.clone(),
                metrics.clone(),
                writes,
            ))
        };
        Ok(Self { backend })
    }

    /// "sqlite" or "postgres".
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    /// Starts the ingest writer task on this store's backend (see `ingest`).
    fn spawn_ingest_writer(&self, jobs: mpsc::Receiver<ingest::Job>) {
        match &self.backend {
            Backend::Sqlite(r) => tokio::spawn(sqlite::repo::ingest::writer(r.clone(), jobs)),
            Backend::Postgres(r) => tokio::spawn(postgres::repo::ingest::writer(r.clone(), jobs)),
        };
    }

    /// Takes the lease on `channel`'s inbound side, or None while another daemon holds it.
    pub async fn lease_channel(&self, channel: &str) -> Result<Option<ChannelLease>> {
        match &self.backend {
            // The lock file next to the database already keeps every other daemon off it.
            Backend::Sqlite(_) => Ok(Some(ChannelLease {
                lost: CancellationToken::new(),
                keeper: None,
            })),
            Backend::Postgres(r) => postgres::lease_channel(r, channel).await,
        }
    }

    /// Hands the store the SLA policies it computes due times with (once, at start).
    pub fn set_sla_clock(&self, clock: Arc<dyn sla::SlaClock>) {
        match &self.backend {
            Backend::Sqlite(r) => r.set_sla_clock(clock),
            Backend::Postgres(r) => r.set_sla_clock(clock),
        }
    }

    /// Turns the satisfaction survey on (once, at start).
    pub fn set_surveys(&self, settings: SurveySettings) {
        let settings = Arc::new(settings);
        match &self.backend {
            Backend::Sqlite(r) => r.set_surveys(settings),
            Backend::Postgres(r) => r.set_surveys(settings),
        }
    }

    /// Keeps the search index up to date until `shutdown` (see `repo/search.rs`).
    pub async fn run_search_indexer(self, shutdown: CancellationToken) {
        match self.backend {
            Backend::Sqlite(r) => r.run_search_indexer(shutdown).await,
            Backend::Postgres(r) => r.run_search_indexer(shutdown).await,
        }
    }
}

/// `Store`'s operations, each forwarded to the backend's `Repo` method of the same name
/// (documented there, in `repo/`).
macro_rules! forward {
    ($( pub async fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        impl Store {
            $(
                #[allow(clippy::too_many_arguments)]
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match &self.backend {
                        Backend::Sqlite(r) => r.$name($($arg),*).await,
                        Backend::Postgres(r) => r.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}

forward! {
    // repo/misc.rs
    pub async fn outbox_depth(&self) -> Result<Vec<(String, i64)>>;
    pub async fn checkpoint(&self) -> Result<()>;
    pub async fn close(&self) -> ();
    pub async fn health(&self) -> Result<()>;
    pub async fn route(&self, channel: &str, key: &str) -> Result<Option<String>>;
    pub async fn set_route(&self, channel: &str, key: &str, target: Option<&str>) -> Result<()>;
    pub async fn cursor(&self, channel: &str) -> Result<Option<String>>;
    // repo/agents.rs
    pub async fn create_agent(&self, name: &str, email: &str, role: Role) -> Result<(Agent, String)>;
    pub async fn list_agents(&self) -> Result<Vec<Agent>>;
    pub async fn agent(&self, id: i64) -> Result<Agent>;
    pub async fn issue_token(&self, id_or_email: &str, revoke_others: bool) -> Result<(Agent, String, u64)>;
    pub async fn restore_agent(&self, id_or_email: &str) -> Result<(Agent, String)>;
    pub async fn revoke_agent(&self, id_or_email: &str) -> Result<Agent>;
    pub async fn authenticate(&self, token: &str) -> Result<Option<Agent>>;
    pub async fn revocation_mark(&self) -> Result<(i64, i64, i64)>;
    // repo/desk.rs
    pub async fn desk_queue(&self, limit: i64) -> Result<Vec<DeskItem>>;
    pub async fn desk_context(&self, item: &DeskItem) -> Result<Option<DeskContext>>;
    pub async fn desk_expects(&self, channel: &str, thread_id: &str) -> Result<Option<String>>;
    pub async fn first_response_times(&self, since: i64, limit: i64) -> Result<Vec<i64>>;
    pub async fn apply_desk(&self, context: &DeskContext, plan: &DeskPlan, expiry: Duration) -> Result<DeskOutcome>;
    pub async fn touch_agent(&self, agent_id: i64) -> Result<()>;
    pub async fn add_notice(&self, notice: &NewKnownIssue, by: Option<i64>) -> Result<KnownIssue>;
    pub async fn notices(&self, at: i64, include_future: bool) -> Result<Vec<KnownIssue>>;
    pub async fn delete_notice(&self, id: i64) -> Result<()>;
    // repo/inbox.rs
    pub async fn list_conversations(&self, filter: &ConversationFilter) -> Result<(Vec<Conversation>, Option<(i64, i64)>)>;
    pub async fn conversation(&self, id: i64) -> Result<Conversation>;
    pub async fn update_conversation(&self, id: i64, patch: &ConversationPatch, by: Option<&Agent>) -> Result<Conversation>;
    pub async fn messages(&self, conversation_id: i64) -> Result<Vec<Message>>;
    pub async fn messages_page(&self, conversation_id: i64, before: Option<i64>, limit: i64) -> Result<(Vec<Message>, Option<i64>)>;
    pub async fn message(&self, id: i64) -> Result<Message>;
    pub async fn messages_by_id(&self, ids: &[i64]) -> Result<Vec<Message>>;
    pub async fn attachment(&self, id: i64) -> Result<AttachmentFile>;
    pub async fn contact(&self, id: i64) -> Result<Contact>;
    pub async fn merge_contacts(&self, from: i64, into: i64) -> Result<Contact>;
    // repo/queue.rs
    pub async fn sync_teams(&self, teams: &[TeamSpec]) -> Result<Vec<String>>;
    pub async fn teams(&self) -> Result<Vec<Team>>;
    pub async fn team(&self, id: i64) -> Result<Team>;
    pub async fn save_team(&self, id: Option<i64>, team: &TeamSpecById) -> Result<Team>;
    pub async fn delete_team(&self, id: i64) -> Result<()>;
    pub async fn labels(&self) -> Result<Vec<Label>>;
    pub async fn save_label(&self, name: &str, color: &str) -> Result<Label>;
    pub async fn activity(&self, conversation_id: i64) -> Result<Vec<Activity>>;
    pub async fn sla_sweep(&self, limit: i64) -> Result<Vec<SlaBreach>>;
    // repo/follow_up.rs
    pub async fn reminders_due(&self, policy: &FollowUpPolicy, limit: i64) -> Result<Vec<Reminder>>;
    pub async fn send_reminder(&self, reminder: &Reminder, text: &str, expiry: std::time::Duration) -> Result<bool>;
    pub async fn follow_up_sweep(&self, policy: &FollowUpPolicy, limit: i64) -> Result<Vec<Conversation>>;
    pub async fn assign_waiting(&self, policy: &AssignPolicy, limit: i64) -> Result<usize>;
    // repo/reports.rs
    pub async fn report_summary(&self, range: &reports::ReportRange) -> Result<reports::Summary>;
    pub async fn report_agents(&self, from: i64, to: i64) -> Result<Vec<reports::AgentFigures>>;
    // repo/spike.rs
    pub async fn spike_counts(&self, since: i64, categories: bool, keywords: &[String]) -> Result<Vec<SpikeCount>>;
    pub async fn open_spike(&self, over: &SpikeCount) -> Result<Option<Spike>>;
    pub async fn settle_spikes(&self, over: &[SpikeCount]) -> Result<()>;
    pub async fn spike_webhook(&self, id: i64, outcome: &str) -> Result<()>;
    pub async fn spikes(&self, active: bool, limit: i64) -> Result<Vec<Spike>>;
    // repo/csat.rs
    pub async fn surveys_due(&self, limit: i64) -> Result<Vec<SurveyDue>>;
    pub async fn send_survey(&self, due: &SurveyDue, text: &str, buttons: &[String], expiry: std::time::Duration) -> Result<bool>;
    // repo/notes.rs
    pub async fn add_note(&self, conversation_id: i64, agent: &Agent, text: &str) -> Result<Note>;
    pub async fn notes(&self, conversation_id: i64) -> Result<Vec<Note>>;
    pub async fn canned_answers(&self, query: Option<&str>) -> Result<Vec<CannedAnswer>>;
    pub async fn add_canned_answer(&self, agent: &Agent, shortcut: &str, title: &str, text: &str) -> Result<CannedAnswer>;
    pub async fn update_canned_answer(&self, id: i64, shortcut: Option<&str>, title: Option<&str>, text: Option<&str>) -> Result<CannedAnswer>;
    pub async fn delete_canned_answer(&self, id: i64) -> Result<()>;
    // repo/search.rs
    pub async fn index_for_search(&self, limit: i64) -> Result<u64>;
    // repo/threading.rs
    pub async fn find_thread(&self, channel: &str, sender_id: &str, message_ids: &[String], conversation_ids: &[i64]) -> Result<Option<String>>;
    pub async fn participants(&self, conversation_id: i64) -> Result<Vec<String>>;
    pub async fn set_participants(&self, conversation_id: i64, addresses: &[String]) -> Result<Vec<String>>;
    pub async fn message_origin(&self, channel: &str, external_id: &str) -> Result<Option<(String, switchboard_core::Sender)>>;
    pub async fn references(&self, conversation_id: i64, message_id: i64) -> Result<Vec<String>>;
    pub async fn mark_failed(&self, channel: &str, external_id: &str, reason: &str) -> Result<bool>;
    // repo/verification.rs
    pub async fn create_verification(&self, conversation_id: i64, email: &str, code: &str, agent_id: i64) -> Result<Verification>;
    pub async fn abandon_verification(&self, id: i64) -> Result<()>;
    pub async fn latest_verification(&self, conversation_id: i64) -> Result<Option<Verification>>;
    pub async fn pending_code(&self, channel: &str, thread_id: &str) -> Result<Option<PendingCode>>;
    pub async fn record_code(&self, id: i64, outcome: CodeOutcome) -> Result<Verification>;
    // repo/outbox.rs
    pub async fn create_reply(&self, conversation_id: i64, agent: &Agent, text: &str, reply_to_message_id: Option<i64>, expiry: Duration) -> Result<Message>;
    pub async fn create_reply_with_files(&self, conversation_id: i64, agent: Option<&Agent>, text: &str, reply_to_message_id: Option<i64>, files: &[PreparedAttachment], expiry: Duration) -> Result<Message>;
    pub async fn create_agent_reply(&self, conversation_id: i64, agent: &Agent, text: &str, reply_to_message_id: Option<i64>, files: &[PreparedAttachment], expiry: Duration, idempotency_key: Option<&str>) -> Result<Message>;
    pub async fn claim_due(&self, limit: usize, lease: Duration) -> Result<Vec<OutboxJob>>;
    pub async fn outbox_files(&self, message_id: i64) -> Result<Vec<OutboxFile>>;
    pub async fn next_due_at(&self) -> Result<Option<i64>>;
    pub async fn finish_attempt(&self, job: &OutboxJob, decision: &RetryDecision, delivered: &Delivered) -> Result<Message>;
    pub async fn save_progress(&self, outbox_id: i64, delivered: &Delivered) -> Result<()>;
    pub async fn recover_in_flight(&self) -> Result<u64>;
    pub async fn retry_message(&self, message_id: i64, expiry: Duration) -> Result<Message>;
    pub async fn cancel_message(&self, message_id: i64, by: &Agent) -> Result<Message>;
}
