//! The normalized store: contacts, conversations, messages, attachments, agents and the outbox.
//! All SQL of the daemon lives under this module. It is SQLite's dialect: connection options,
//! WAL and checkpoint in `open` and `checkpoint`, and in the queries `BEGIN IMMEDIATE`,
//! `json_each` bulk inserts, `INSERT OR IGNORE` and two-argument `MAX` (ingest and outbox).

mod agents;
mod files;
mod inbox;
mod ingest;
mod lock;
pub mod model;
mod notes;
mod outbox;
mod search;
mod threading;
mod verification;

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

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio::sync::broadcast;

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

/// SQLite result codes (primary, the low byte of extended codes) that describe the database or
/// its disk rather than the statement: BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL,
/// CANTOPEN, PROTOCOL.
const UNAVAILABLE_CODES: [i64; 9] = [5, 6, 7, 8, 10, 11, 13, 14, 15];

fn db_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Database(d) => d
            .code()
            .and_then(|c| c.parse::<i64>().ok())
            .is_some_and(|c| UNAVAILABLE_CODES.contains(&(c & 0xff))),
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

/// An event as live streams send it: the value, and its JSON made once for all of them.
#[derive(Debug)]
pub struct Published {
    pub event: Event,
    pub json: String,
    /// The Server-Sent Events frame (`event: ...\ndata: ...\n\n`), ready to write as it is.
    pub frame: bytes::Bytes,
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
fn private_file(path: &Path) -> std::io::Result<()> {
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

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    files: FileStore,
    events: broadcast::Sender<Arc<Published>>,
    /// Bumped by every contact merge, so the ingest writer drops its cached identities.
    merge_generation: Arc<AtomicU64>,
    metrics: Arc<crate::metrics::Metrics>,
    writes: Arc<WriteHealth>,
}

impl Store {
    /// Opens (creating if needed) the database and the attachment directory, and migrates.
    pub async fn open(database_url: &str, data_dir: &Path) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(database_url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk when it returns. Group commit (see `ingest`) keeps that fast.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // 8 MiB of page cache for each reading connection (the ingest writer's own is
            // larger, see `WRITER_CACHE_KIB`): eight connections of 64 MiB each made the daemon
            // 1.3 GB large on a million messages.
            .pragma("cache_size", "-8192")
            // Reads through the page map instead of a syscall per page; mapped pages count in
            // the daemon's resident memory, so the map is kept to the hot part of the file.
            .pragma("mmap_size", "67108864")
            // Group commits return hundreds of rows; a small buffer makes the SQLite thread
            // stop and wait for the async side every few rows.
            .row_buffer_size(1024)
            .busy_timeout(Duration::from_secs(10));
        if let Some(parent) = options.get_filename().parent()
            && !parent.as_os_str().is_empty()
        {
            private_dir(parent)?;
        }
        private_file(options.get_filename())?;
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            // A connection whose COMMIT failed (disk full) may still count itself inside the
            // transaction, and every later `begin` on it would fail: flush the queued rollback
            // and close the connection if it is still in one, so the pool heals by itself.
            .after_release(|conn, _| {
                Box::pin(async move {
                    use sqlx::Connection;
                    conn.ping().await?;
                    Ok(!conn.is_in_transaction())
                })
            })
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        let (events, _) = broadcast::channel(4096);
        Ok(Self {
            pool,
            files: FileStore::new(data_dir)?,
            events,
            merge_generation: Arc::default(),
            metrics: Arc::default(),
            writes: Arc::default(),
        })
    }

    pub fn files(&self) -> &FileStore {
        &self.files
    }

    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// Replies waiting for delivery, per channel (scheduled or in flight).
    pub async fn outbox_depth(&self) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT channel, COUNT(*) FROM outbox WHERE status IN ('scheduled', 'sending')
             GROUP BY channel ORDER BY channel",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.events.subscribe()
    }

    /// Publishes events built only when somebody listens: ingest stays cheap with no inbox open.
    /// Each is serialized here, once, however many live streams then send it.
    /// Tells admins' live streams that an agent's reply was refused as unsafe.
    pub fn announce_refusal(&self, refused: RefusedReply) {
        self.emit(|| vec![Event::ReplyRefused(refused)]);
    }

    pub(crate) fn emit(&self, build: impl FnOnce() -> Vec<Event>) {
        if self.events.receiver_count() > 0 {
            for event in build() {
                let json = match serde_json::to_string(&event) {
                    Ok(json) => json,
                    Err(e) => {
                        tracing::error!(error = %e, event = event.name(), "event not serializable");
                        continue;
                    }
                };
                let frame = format!("event: {}\ndata: {json}\n\n", event.name()).into();
                let _ = self.events.send(Arc::new(Published { event, json, frame }));
            }
        }
    }

    /// Folds the WAL into the main file, so a stopped daemon leaves one self-contained database.
    pub async fn checkpoint(&self) -> Result<()> {
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub fn writes(&self) -> &WriteHealth {
        &self.writes
    }

    /// Ok while the database answers and takes writes. After a failed write it probes with a
    /// small write of its own, so a store that healed (space freed) is seen as healthy again
    /// even before the next real write.
    pub async fn health(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        if let Some(error) = self.writes.failing() {
            let probe = self.probe_write().await;
            self.writes.record(&probe);
            if probe.is_err() {
                return Err(StoreError::Unavailable(error));
            }
        }
        Ok(())
    }

    async fn probe_write(&self) -> Result<()> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        sqlx::query(
            "INSERT INTO store_probe (id, at) VALUES (1, $1)
             ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        )
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A channel adapter's remembered route for `key` (opaque to the store).
    pub async fn route(&self, channel: &str, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar(
            "SELECT target FROM channel_routes WHERE channel = $1 AND route_key = $2",
        )
        .bind(channel)
        .bind(key)
        .fetch_optional(&self.pool)
        .await?)
    }

    pub async fn set_route(&self, channel: &str, key: &str, target: Option<&str>) -> Result<()> {
        match target {
            Some(target) => {
                sqlx::query(
                    "INSERT INTO channel_routes (channel, route_key, target, updated_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (channel, route_key)
                     DO UPDATE SET target = excluded.target, updated_at = excluded.updated_at",
                )
                .bind(channel)
                .bind(key)
                .bind(target)
                .bind(now_ms())
                .execute(&self.pool)
                .await?;
            }
            None => {
                sqlx::query("DELETE FROM channel_routes WHERE channel = $1 AND route_key = $2")
                    .bind(channel)
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(())
    }

    pub async fn cursor(&self, channel: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT cursor FROM channel_cursors WHERE channel = $1")
                .bind(channel)
                .fetch_optional(&self.pool)
                .await?,
        )
    }
}
