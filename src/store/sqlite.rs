//! The embedded backend: SQLite in WAL mode, one file. Connection setup and the statements that
//! only SQLite's dialect can say (`json_each` bulk rows, FTS5); the rest of the SQL is shared
//! with PostgreSQL in `repo/`, compiled here with `Db = Sqlite`.

use super::{Result, private_dir, private_file};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Pool, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub(super) type Db = sqlx::Sqlite;
pub(super) type Conn = sqlx::SqliteConnection;

// Compiled once per backend on purpose: the same queries over this backend's `Db`.
#[allow(clippy::duplicate_mod)]
#[path = "repo/mod.rs"]
pub(super) mod repo;

/// One daemon per database file (`lock.rs`).
pub(super) const SEVERAL_DAEMONS: bool = false;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub(super) async fn open(database_url: &str) -> Result<Pool<Db>> {
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
    Ok(pool)
}

/// A transaction that holds the database's write lock from its first statement: SQLite has
/// one writer at a time, and taking the lock up front avoids a deadlock between two readers
/// that both want to write.
pub(super) async fn begin_write(pool: &Pool<Db>) -> sqlx::Result<Transaction<'static, Db>> {
    pool.begin_with("BEGIN IMMEDIATE").await
}

/// The search indexer's transaction: on SQLite simply a write one (there is one writer).
pub(super) async fn begin_index(pool: &Pool<Db>) -> sqlx::Result<Option<Transaction<'static, Db>>> {
    begin_write(pool).await.map(Some)
}

pub(super) async fn begin_write_on(conn: &mut Conn) -> sqlx::Result<Transaction<'_, Db>> {
    sqlx::Connection::begin_with(conn, "BEGIN IMMEDIATE").await
}

/// Ids for `n` new rows of `table` (contacts, identities, conversations: written only under
/// the write lock), so rows that refer to each other are linked in one round trip.
pub(super) async fn next_ids(conn: &mut Conn, table: &str, n: usize) -> sqlx::Result<Vec<i64>> {
    let sql = format!("SELECT COALESCE(MAX(id), 0) + 1 FROM {table}");
    let next: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(&mut *conn)
        .await?;
    Ok((0..n as i64).map(|k| next + k).collect())
}

/// Folds the WAL into the main file, so a stopped daemon leaves one self-contained database.
pub(super) async fn checkpoint(pool: &Pool<Db>) -> sqlx::Result<()> {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(pool)
        .await?;
    Ok(())
}

/// The ingest writer's page cache, in KiB: it writes every index page, and readers' caches
/// are kept small.
const WRITER_CACHE_KIB: u32 = 65_536;

/// Prepares the ingest writer's own connection (see `repo/ingest/writer.rs`).
pub(super) async fn prepare_writer(conn: &mut Conn) {
    let pragma = format!("PRAGMA cache_size = -{WRITER_CACHE_KIB}");
    if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(pragma))
        .execute(&mut *conn)
        .await
    {
        // Only speed depends on it.
        tracing::warn!(error = %e, "ingest writer keeps the default page cache");
    }
}

/// SQLite result codes (primary, the low byte of extended codes) that describe the database or
/// its disk rather than the statement: BUSY, LOCKED, NOMEM, READONLY, IOERR, CORRUPT, FULL,
/// CANTOPEN, PROTOCOL.
const UNAVAILABLE_CODES: [i64; 9] = [5, 6, 7, 8, 10, 11, 13, 14, 15];

pub(super) fn unavailable_code(code: &str) -> bool {
    code.parse::<i64>()
        .is_ok_and(|c| UNAVAILABLE_CODES.contains(&(c & 0xff)))
}

/// The statements whose text differs between the backends. Rows travel as one JSON array
/// parameter (`json_each`), so each statement is prepared once whatever the number of rows.
pub(super) mod sql {
    /// The ids in `$1`, a JSON array, as a subquery: `WHERE x IN (ID_LIST)`.
    pub const ID_LIST: &str = "SELECT value FROM json_each($1)";

    /// Edited messages to index again (under the write lock nothing edits them meanwhile).
    pub const EDITED_TO_INDEX: &str =
        "SELECT m.id, m.text FROM search_reindex r JOIN messages m ON m.id = r.message_id
         ORDER BY r.message_id LIMIT $1";

    /// Takes the indexed edits (`$1`: their ids, a JSON array) off the queue.
    pub const FORGET_REINDEXED: &str =
        "DELETE FROM search_reindex WHERE message_id IN (SELECT value FROM json_each($1))";

    /// `$1`: JSON `[[channel, external_id], ...]`.
    pub const FIND_IDENTITIES: &str =
        "SELECT i.id, i.channel, i.external_id, i.contact_id, c.display_name AS contact_name,
             i.display_name, i.username, i.language
         FROM contact_identities i JOIN contacts c ON c.id = i.contact_id
         WHERE (i.channel, i.external_id) IN
             (SELECT j.value ->> 0, j.value ->> 1 FROM json_each($1) AS j)";

    pub const INSERT_CONTACTS: &str =
        "INSERT INTO contacts (id, display_name, created_at, updated_at)
         SELECT j.value ->> 0, j.value ->> 1, $2, $2 FROM json_each($1) AS j";

    pub const INSERT_IDENTITIES: &str =
        "INSERT INTO contact_identities (id, contact_id, channel, external_id, display_name,
             username, language, created_at)
         SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4,
             j.value ->> 5, j.value ->> 6, $2
         FROM json_each($1) AS j";

    pub const FIND_CONVERSATIONS: &str = "SELECT id, channel, external_thread_id FROM conversations
         WHERE (channel, external_thread_id) IN
             (SELECT j.value ->> 0, j.value ->> 1 FROM json_each($1) AS j)";

    pub const INSERT_CONVERSATIONS: &str =
        "INSERT INTO conversations (id, channel, external_thread_id, contact_id, subject, created_at,
             updated_at, last_message_at)
         SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, j.value ->> 3, j.value ->> 4, $2, $2,
             j.value ->> 5
         FROM json_each($1) AS j";

    // `WHERE true` keeps SQLite from reading ON CONFLICT as a join constraint.
    pub const INSERT_MESSAGES: &str =
        "INSERT INTO messages (conversation_id, channel, direction, sender_identity_id, sender_name,
             text, html, external_id, reply_to_external_id, auto_generated, sent_at, language,
             created_at)
         SELECT j.value ->> 0, j.value ->> 1, 'inbound', j.value ->> 2, j.value ->> 3, j.value ->> 4,
             j.value ->> 5, j.value ->> 6, j.value ->> 7, j.value ->> 8, j.value ->> 9,
             j.value ->> 10, $2
         FROM json_each($1) AS j WHERE true
         ON CONFLICT (channel, direction, external_id) DO NOTHING RETURNING id, channel, external_id";

    /// `$1`: JSON `[id, ...]`.
    pub const FLAG_SECRET_REMOVED: &str = "UPDATE conversations SET priority = 'urgent',
             flags = CASE WHEN EXISTS (SELECT 1 FROM json_each(flags) f WHERE f.value = 'secret_removed')
                 THEN flags ELSE json_insert(flags, '$[#]', 'secret_removed') END
         WHERE id IN (SELECT j.value FROM json_each($1) AS j)";

    /// `$1`: JSON `[[message_id, conversation_id, trigger], ...]`.
    pub const QUEUE_AUTOMATION: &str =
        "INSERT INTO automation_queue (message_id, conversation_id, trigger, created_at)
         SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2, $2 FROM json_each($1) AS j";

    /// `$1`: JSON `[[id, at], ...]`.
    pub const TOUCH_CONVERSATIONS: &str = "UPDATE conversations SET
             status = CASE WHEN status IN ('resolved', 'snoozed', 'pending') THEN 'open' ELSE status END,
             reopened_at = CASE WHEN status IN ('resolved', 'snoozed') THEN $2 ELSE reopened_at END,
             status_since = CASE WHEN status IN ('resolved', 'snoozed', 'pending') THEN $2
                 ELSE status_since END,
             reminded_at = NULL,
             snoozed_until = NULL,
             survey_state = NULL,
             survey_until = NULL,
             updated_at = $2,
             last_message_at = MAX(last_message_at, t.at)
         FROM (SELECT j.value ->> 0 AS id, j.value ->> 1 AS at FROM json_each($1) AS j) AS t
         WHERE conversations.id = t.id
         RETURNING id, channel, status, priority, flags, subject, assignee_id, created_at,
             last_message_at, contact_id, language, intake, reopened_at,
             team_id, labels, priority_reason, sla_first_response_due, sla_next_response_due,
             sla_resolution_due, first_replied_at, sla_breaches, csat_score, csat_comment";

    /// `$1`: JSON `[id, ...]`; the surveys among them that wait for an answer at `$2`.
    pub const SURVEYS_WAITING: &str = "SELECT id, survey_id, survey_state, survey_until, language,
             csat_score FROM conversations
         WHERE id IN (SELECT j.value FROM json_each($1) AS j) AND survey_state IN ('rating', 'comment') AND survey_until >= $2";

    /// New conversations since `$1` per intake category.
    pub const SPIKE_CATEGORIES: &str =
        "SELECT intake ->> 'category' AS category, COUNT(*) FROM conversations
         WHERE created_at >= $1 AND intake IS NOT NULL AND intake ->> 'category' IS NOT NULL
         GROUP BY intake ->> 'category'";

    /// Around an integer expression: its values in the group as one comma-separated text.
    pub const LIST_START: &str = "group_concat(";
    pub const LIST_END: &str = ")";

    /// A conversation's intake category (`c`), for reports.
    pub const CATEGORY_OF: &str = "c.intake ->> 'category'";

    pub const VERIFIED_EMAILS_OF: &str = "SELECT contact_id, email FROM contact_verified_emails
         WHERE contact_id IN (SELECT j.value FROM json_each($1) AS j) ORDER BY verified_at";

    /// `$1`: JSON `[[conversation_id, address], ...]`.
    pub const ADD_PARTICIPANTS: &str =
        "INSERT OR IGNORE INTO conversation_participants (conversation_id, address, created_at)
         SELECT j.value ->> 0, j.value ->> 1, $2 FROM json_each($1) AS j";

    /// `$2`: JSON `[address, ...]`, kept in its order.
    pub const SET_PARTICIPANTS: &str =
        "INSERT OR IGNORE INTO conversation_participants (conversation_id, address, created_at)
         SELECT $1, j.value, $3 FROM json_each($2) AS j ORDER BY j.key";

    /// In the order they joined (`rowid`: the order of insertion).
    pub const PARTICIPANTS: &str = "SELECT address FROM conversation_participants
         WHERE conversation_id = $1 ORDER BY created_at, rowid LIMIT $2";

    /// `$3`: JSON `[external_id, ...]`, `$4`: JSON `[conversation_id, ...]`.
    pub const FIND_THREAD: &str = "SELECT c.external_thread_id FROM conversations c
         WHERE c.channel = $1
           AND (c.contact_id IN (SELECT i.contact_id FROM contact_identities i
                                 WHERE i.channel = $1 AND i.external_id = $2)
                OR c.id IN (SELECT p.conversation_id FROM conversation_participants p
                            WHERE p.address = $2))
           AND (c.id IN (SELECT value FROM json_each($4))
                OR c.id IN (SELECT m.conversation_id FROM messages m
                            WHERE m.channel = $1
                              AND m.external_id IN (SELECT value FROM json_each($3))))
         ORDER BY c.last_message_at DESC, c.id DESC LIMIT 1";

    /// A conversation row's columns (`conversations c JOIN contacts k`), with the contact's
    /// verified emails as a JSON array.
    pub const CONVERSATION_COLUMNS: &str = "c.id, c.channel, c.status, c.priority, c.subject,
         c.assignee_id, c.created_at, c.last_message_at, c.contact_id,
         k.display_name AS contact_name, c.flags, c.language, c.intake, c.team_id,
         (SELECT t.name FROM teams t WHERE t.id = c.team_id) AS team_name, c.labels,
         c.priority_reason, c.sla_first_response_due, c.sla_next_response_due,
         c.sla_resolution_due, c.first_replied_at, c.sla_breaches, c.snoozed_until,
         c.csat_score, c.csat_comment,
         (SELECT json_group_array(v.email)
             FROM contact_verified_emails v WHERE v.contact_id = c.contact_id) AS verified_emails";

    /// A search for one or two characters the index cannot find: a scan of the messages.
    pub const SCAN_MESSAGES: &str =
        "EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id
         AND m.text LIKE $5 ESCAPE '\\')";

    /// The search index's rows: `$1` JSON `[[message_id, pairs], ...]`; the text is read where
    /// it is, in the same statement.
    pub const INDEX_MESSAGES: &str = "INSERT INTO messages_fts (rowid, text, pairs)
         SELECT m.id, m.text, j.value ->> 1 FROM json_each($1) j
         JOIN messages m ON m.id = j.value ->> 0";

    /// Case-insensitive `LIKE` (SQLite's folds ASCII).
    pub const ILIKE: &str = "LIKE";

    /// Conversations with a message matching the search (`$9`: `fts_query`, `$5`: the
    /// `LIKE` pattern). Messages the indexer has not reached, or must index again after an
    /// edit, are scanned: a search never misses one.
    pub const IN_INDEXED_MESSAGES: &str = "c.id IN (SELECT m.conversation_id FROM messages_fts f
                  JOIN messages m ON m.id = f.rowid WHERE messages_fts MATCH $9)
         OR c.id IN (SELECT m.conversation_id FROM messages m
                     WHERE m.id > (SELECT indexed_through FROM search_index_state WHERE id = 1)
                       AND m.text LIKE $5 ESCAPE '\\')
         OR c.id IN (SELECT m.conversation_id FROM messages m
                     WHERE m.id IN (SELECT message_id FROM search_reindex)
                       AND m.text LIKE $5 ESCAPE '\\')";
}

/// The search index's row of a message: its two-character East Asian runs (the text itself is
/// read by `sql::INDEX_MESSAGES`).
pub(super) fn search_row(id: i64, text: &str) -> serde_json::Value {
    serde_json::json!([id, super::search::pairs(text)])
}

/// `$9` of a search: the FTS5 expression, or `None` when only a scan finds the query.
pub(super) fn search_param(query: &str) -> Option<String> {
    super::search::fts_query(query)
}
