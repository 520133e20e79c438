//! The scale-out backend: PostgreSQL, shared by several daemons. Connection setup and the
//! statements PostgreSQL's dialect says differently (`jsonb` bulk rows, sequences, trigram
//! search); the rest of the SQL is shared with SQLite in `repo/`, compiled here with
//! `Db = Postgres`.
//!
//! Writes keep SQLite's model, one writer at a time: every write transaction first takes one
//! transaction-scoped advisory lock. The daemons' code was written for that guarantee (read,
//! then write in the same transaction), group commit keeps it cheap, and reads never wait.

use super::Result;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Pool, Transaction};
use std::str::FromStr;
use std::time::Duration;

pub(super) type Db = sqlx::Postgres;
pub(super) type Conn = sqlx::PgConnection;

/// Several daemons may share this database (see `repo/outbox.rs` for what that changes).
pub(super) const SEVERAL_DAEMONS: bool = true;

// Compiled once per backend on purpose: the same queries over this backend's `Db`.
#[allow(clippy::duplicate_mod)]
#[path = "repo/mod.rs"]
pub(super) mod repo;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The advisory lock every write transaction holds ("SBWRITE0" as a number).
pub(super) const WRITE_LOCK: i64 = 0x5342_5752_4954_4530;

pub(super) async fn open(database_url: &str) -> Result<Pool<Db>> {
    let options = PgConnectOptions::from_str(database_url)?
        .application_name("switchboard")
        // A statement stuck behind a lock or a slow disk fails (503) instead of hanging the
        // request; the group commit of a large backlog stays well inside it.
        .options([("statement_timeout", "30s"), ("lock_timeout", "20s")]);
    let pool = PgPoolOptions::new()
        .max_connections(10)
        .acquire_timeout(Duration::from_secs(10))
        // A connection left inside a transaction (a COMMIT that failed) is closed, not reused.
        .after_release(|conn, _| {
            Box::pin(async move {
                use sqlx::Connection;
                Ok(!conn.is_in_transaction())
            })
        })
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// The first key of the channel leases' advisory locks ("SBCH"); the second is the name's hash.
const CHANNEL_LOCKS: i32 = 0x5342_4348;
/// How often a lease's connection is checked; a broken one ends the lease within this.
const LEASE_CHECK: Duration = Duration::from_secs(2);

/// A channel lease is a session advisory lock on a connection of its own (outside the pool):
/// PostgreSQL frees it the moment that connection ends, so a daemon killed with -9 (its socket
/// closed by the kernel) hands the channel over at once, and keepalives end the session of a
/// host that vanished within about 15 s.
pub(super) async fn lease_channel(
    repo: &repo::Repo,
    channel: &str,
) -> Result<Option<super::ChannelLease>> {
    use sqlx::Connection;
    let mut conn = Conn::connect_with(&repo.pool.connect_options()).await?;
    sqlx::query(
        "SELECT set_config('tcp_keepalives_idle', '5', false),
                set_config('tcp_keepalives_interval', '2', false),
                set_config('tcp_keepalives_count', '4', false)",
    )
    .execute(&mut conn)
    .await?;
    let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, hashtext($2))")
        .bind(CHANNEL_LOCKS)
        .bind(channel)
        .fetch_one(&mut conn)
        .await?;
    if !held {
        let _ = conn.close().await;
        return Ok(None);
    }
    let lost = tokio_util::sync::CancellationToken::new();
    let keeper = tokio::spawn({
        let (lost, channel) = (lost.clone(), channel.to_owned());
        async move {
            let mut tick = tokio::time::interval(LEASE_CHECK);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let check = sqlx::query("SELECT 1").execute(&mut conn);
                if !matches!(tokio::time::timeout(LEASE_CHECK, check).await, Ok(Ok(_))) {
                    tracing::warn!(%channel, "lost the database connection holding the channel's lease");
                    lost.cancel();
                    // The connection (and so the lock, if the server still holds it) is kept
                    // until the lease is dropped, i.e. until the inbound loop has stopped: a
                    // slow check must not hand the channel over while the loop still runs.
                    std::future::pending::<()>().await;
                }
            }
        }
    });
    Ok(Some(super::ChannelLease {
        lost,
        keeper: Some(keeper),
    }))
}

async fn lock_writes(conn: &mut Conn) -> sqlx::Result<()> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(WRITE_LOCK)
        .execute(conn)
        .await?;
    Ok(())
}

/// A transaction holding the write lock (see the module's comment) until it ends.
pub(super) async fn begin_write(pool: &Pool<Db>) -> sqlx::Result<Transaction<'static, Db>> {
    let mut tx = pool.begin().await?;
    lock_writes(&mut tx).await?;
    Ok(tx)
}

/// The search indexer's own advisory lock ("SBINDEX0"): one indexer at a time over all the
/// daemons, beside ingest instead of behind it (indexing used to hold the write lock, and
/// ingest waited for it). None while another daemon's indexer runs.
const INDEX_LOCK: i64 = 0x5342_494E_4445_5830;

pub(super) async fn begin_index(pool: &Pool<Db>) -> sqlx::Result<Option<Transaction<'static, Db>>> {
    let mut tx = pool.begin().await?;
    let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock($1)")
        .bind(INDEX_LOCK)
        .fetch_one(&mut *tx)
        .await?;
    Ok(held.then_some(tx))
}

pub(super) async fn begin_write_on(conn: &mut Conn) -> sqlx::Result<Transaction<'_, Db>> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    lock_writes(&mut tx).await?;
    Ok(tx)
}

/// Ids for `n` new rows of `table` from its identity sequence, in one round trip.
pub(super) async fn next_ids(conn: &mut Conn, table: &str, n: usize) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT nextval(pg_get_serial_sequence($1, 'id')) FROM generate_series(1, $2)",
    )
    .bind(table)
    .bind(n as i64)
    .fetch_all(conn)
    .await
}

/// Nothing to fold: PostgreSQL's WAL is its own business.
pub(super) async fn checkpoint(_pool: &Pool<Db>) -> sqlx::Result<()> {
    Ok(())
}

pub(super) async fn prepare_writer(_conn: &mut Conn) {}

/// SQLSTATEs that describe the server or its disk rather than the statement: connection
/// exceptions (08), insufficient resources such as a full disk (53), operator intervention such
/// as a shutdown (57P), system errors (58), a standby that cannot write (25006), and lock or
/// serialization failures a retry may get past.
pub(super) fn unavailable_code(code: &str) -> bool {
    ["08", "53", "57P", "58"]
        .iter()
        .any(|class| code.starts_with(class))
        || ["25006", "40001", "40P01", "55P03", "57014"].contains(&code)
}

/// The statements whose text differs between the backends. Rows travel as one JSON array
/// parameter (`jsonb_array_elements`), so each statement is prepared once whatever the
/// number of rows; `->>` gives text, cast to the column's type.
pub(super) mod sql {
    /// The ids in `$1`, a JSON array, as a subquery: `WHERE x IN (ID_LIST)`.
    pub const ID_LIST: &str = "SELECT jsonb_array_elements_text($1::jsonb)::bigint";

    /// Edited messages to index again. Without the write lock an edit may run meanwhile: the
    /// rows read are share-locked so it waits for this index write and then queues itself
    /// again (the trigger); a message being edited right now is skipped, not waited for (the
    /// ingest writer may hold it while it waits for this lock: a deadlock), and comes next time.
    pub const EDITED_TO_INDEX: &str =
        "SELECT m.id, m.text FROM search_reindex r JOIN messages m ON m.id = r.message_id
         ORDER BY r.message_id LIMIT $1 FOR SHARE OF m SKIP LOCKED";

    /// Takes exactly the indexed edits (`$1`: their ids, a JSON array) off the queue: one
    /// queued since the read is left for the next round.
    pub const FORGET_REINDEXED: &str = "DELETE FROM search_reindex WHERE message_id IN
         (SELECT jsonb_array_elements_text($1::jsonb)::bigint)";

    pub const FIND_IDENTITIES: &str =
        "SELECT i.id, i.channel, i.external_id, i.contact_id, c.display_name AS contact_name,
             i.display_name, i.username, i.language
         FROM contact_identities i JOIN contacts c ON c.id = i.contact_id
         WHERE (i.channel, i.external_id) IN
             (SELECT j.value ->> 0, j.value ->> 1 FROM jsonb_array_elements($1::jsonb) AS j)";

    pub const INSERT_CONTACTS: &str =
        "INSERT INTO contacts (id, display_name, created_at, updated_at)
         SELECT (j.value ->> 0)::bigint, j.value ->> 1, $2, $2
         FROM jsonb_array_elements($1::jsonb) AS j";

    pub const INSERT_IDENTITIES: &str =
        "INSERT INTO contact_identities (id, contact_id, channel, external_id, display_name,
             username, language, created_at)
         SELECT (j.value ->> 0)::bigint, (j.value ->> 1)::bigint, j.value ->> 2, j.value ->> 3,
             j.value ->> 4, j.value ->> 5, j.value ->> 6, $2
         FROM jsonb_array_elements($1::jsonb) AS j";

    pub const FIND_CONVERSATIONS: &str = "SELECT id, channel, external_thread_id FROM conversations
         WHERE (channel, external_thread_id) IN
             (SELECT j.value ->> 0, j.value ->> 1 FROM jsonb_array_elements($1::jsonb) AS j)";

    pub const INSERT_CONVERSATIONS: &str =
        "INSERT INTO conversations (id, channel, external_thread_id, contact_id, subject, created_at,
             updated_at, last_message_at)
         SELECT (j.value ->> 0)::bigint, j.value ->> 1, j.value ->> 2, (j.value ->> 3)::bigint,
             j.value ->> 4, $2, $2, (j.value ->> 5)::bigint
         FROM jsonb_array_elements($1::jsonb) AS j";

    pub const INSERT_MESSAGES: &str =
        "INSERT INTO messages (conversation_id, channel, direction, sender_identity_id, sender_name,
             text, html, external_id, reply_to_external_id, auto_generated, sent_at, language,
             created_at)
         SELECT (j.value ->> 0)::bigint, j.value ->> 1, 'inbound', (j.value ->> 2)::bigint,
             j.value ->> 3, j.value ->> 4, j.value ->> 5, j.value ->> 6, j.value ->> 7,
             (j.value ->> 8)::boolean, (j.value ->> 9)::bigint, j.value ->> 10, $2
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS j (value, n) ORDER BY j.n
         ON CONFLICT (channel, direction, external_id) DO NOTHING RETURNING id, channel, external_id";

    pub const FLAG_SECRET_REMOVED: &str = "UPDATE conversations SET priority = 'urgent',
             flags = CASE WHEN flags::jsonb @> '[\"secret_removed\"]' THEN flags
                 ELSE (flags::jsonb || '[\"secret_removed\"]'::jsonb)::text END
         WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)";

    pub const QUEUE_AUTOMATION: &str =
        "INSERT INTO automation_queue (message_id, conversation_id, trigger, created_at)
         SELECT (j.value ->> 0)::bigint, (j.value ->> 1)::bigint, j.value ->> 2, $2
         FROM jsonb_array_elements($1::jsonb) AS j";

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
             last_message_at = GREATEST(last_message_at, t.at)
         FROM (SELECT (j.value ->> 0)::bigint AS id, (j.value ->> 1)::bigint AS at
               FROM jsonb_array_elements($1::jsonb) AS j) AS t
         WHERE conversations.id = t.id
         RETURNING conversations.id, channel, status, priority, flags, subject, assignee_id,
             created_at, last_message_at, contact_id, language, intake, reopened_at,
             team_id, labels, priority_reason, sla_first_response_due, sla_next_response_due,
             sla_resolution_due, first_replied_at, sla_breaches, csat_score, csat_comment";

    /// `$1`: JSON `[id, ...]`; the surveys among them that wait for an answer at `$2`.
    pub const SURVEYS_WAITING: &str = "SELECT id, survey_id, survey_state, survey_until, language,
             csat_score FROM conversations
         WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint) AND survey_state IN ('rating', 'comment') AND survey_until >= $2";

    /// New conversations since `$1` per intake category.
    pub const SPIKE_CATEGORIES: &str =
        "SELECT intake::jsonb ->> 'category' AS category, COUNT(*) FROM conversations
         WHERE created_at >= $1 AND intake IS NOT NULL AND intake::jsonb ->> 'category' IS NOT NULL
         GROUP BY intake::jsonb ->> 'category'";

    /// Around an integer expression: its values in the group as one comma-separated text.
    pub const LIST_START: &str = "string_agg((";
    pub const LIST_END: &str = ")::text, ',')";

    /// A conversation's intake category (`c`), for reports.
    pub const CATEGORY_OF: &str = "c.intake::jsonb ->> 'category'";

    pub const VERIFIED_EMAILS_OF: &str = "SELECT contact_id, email FROM contact_verified_emails
         WHERE contact_id IN (SELECT jsonb_array_elements_text($1::jsonb)::bigint)
         ORDER BY verified_at";

    pub const ADD_PARTICIPANTS: &str =
        "INSERT INTO conversation_participants (conversation_id, address, created_at)
         SELECT (j.value ->> 0)::bigint, j.value ->> 1, $2
         FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS j (value, n) ORDER BY j.n
         ON CONFLICT DO NOTHING";

    pub const SET_PARTICIPANTS: &str =
        "INSERT INTO conversation_participants (conversation_id, address, created_at)
         SELECT $1, j.value, $3 FROM jsonb_array_elements_text($2::jsonb) WITH ORDINALITY AS j (value, n)
         ORDER BY j.n ON CONFLICT DO NOTHING";

    /// In the order they joined (`seq`: the order of insertion).
    pub const PARTICIPANTS: &str = "SELECT address FROM conversation_participants
         WHERE conversation_id = $1 ORDER BY created_at, seq LIMIT $2";

    pub const FIND_THREAD: &str = "SELECT c.external_thread_id FROM conversations c
         WHERE c.channel = $1
           AND (c.contact_id IN (SELECT i.contact_id FROM contact_identities i
                                 WHERE i.channel = $1 AND i.external_id = $2)
                OR c.id IN (SELECT p.conversation_id FROM conversation_participants p
                            WHERE p.address = $2))
           AND (c.id IN (SELECT jsonb_array_elements_text($4::jsonb)::bigint)
                OR c.id IN (SELECT m.conversation_id FROM messages m
                            WHERE m.channel = $1
                              AND m.external_id IN (SELECT jsonb_array_elements_text($3::jsonb))))
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
         (SELECT COALESCE(json_agg(v.email ORDER BY v.verified_at), '[]')::text
             FROM contact_verified_emails v WHERE v.contact_id = c.contact_id) AS verified_emails";

    /// A search for one or two characters the index cannot find: a scan of the messages.
    pub const SCAN_MESSAGES: &str =
        "EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id
         AND m.text ILIKE $5 ESCAPE '\\')";

    /// `$1`: JSON `[[message_id, folded text, pairs], ...]`.
    pub const INDEX_MESSAGES: &str = "INSERT INTO message_search (message_id, text, pairs)
         SELECT (j.value ->> 0)::bigint, j.value ->> 1, j.value ->> 2
         FROM jsonb_array_elements($1::jsonb) AS j
         ON CONFLICT (message_id) DO UPDATE SET text = excluded.text, pairs = excluded.pairs";

    /// Case-insensitive `LIKE` in the database's locale.
    pub const ILIKE: &str = "ILIKE";

    /// Conversations with a message matching the search (`$9`: the pattern in the index's
    /// folded form, `$5`: the `LIKE` pattern). The trigram index answers both columns' `LIKE`;
    /// messages not indexed yet are scanned, as on SQLite.
    pub const IN_INDEXED_MESSAGES: &str = "c.id IN (SELECT m.conversation_id FROM message_search f
                  JOIN messages m ON m.id = f.message_id
                  WHERE f.text LIKE $9 ESCAPE '\\' OR f.pairs LIKE $9 ESCAPE '\\')
         OR c.id IN (SELECT m.conversation_id FROM messages m
                     WHERE m.id > (SELECT indexed_through FROM search_index_state WHERE id = 1)
                       AND m.text ILIKE $5 ESCAPE '\\')
         OR c.id IN (SELECT m.conversation_id FROM messages m
                     WHERE m.id IN (SELECT message_id FROM search_reindex)
                       AND m.text ILIKE $5 ESCAPE '\\')";
}

/// What is indexed for a message: its text case-folded here (the same folding whatever the
/// database's locale), and its two-character East Asian runs, each after a U+0001 so that a
/// pattern of one pair matches only a whole pair, and no longer pattern matches in them.
pub(super) fn search_row(id: i64, text: &str) -> serde_json::Value {
    let pairs: String = super::search::pairs(text)
        .split_terminator(' ')
        .flat_map(|pair| std::iter::once('\u{1}').chain(pair.chars()))
        .collect();
    serde_json::json!([id, text.to_lowercase(), pairs])
}

/// `$9` of a search: a `LIKE` pattern of the folded query (two East Asian characters: of the
/// pair); `None` when only a scan finds the query.
pub(super) fn search_param(query: &str) -> Option<String> {
    super::search::fts_query(query)?;
    let folded = query.to_lowercase();
    let pattern = super::contains_pattern(&folded);
    Some(if folded.chars().count() == 2 {
        pattern.replacen('%', "%\u{1}", 1)
    } else {
        pattern
    })
}

/// The notification channel the daemons on one database tell each other their events on.
const EVENTS: &str = "switchboard_events";
/// A notification's payload must stay under PostgreSQL's 8,000 bytes.
const MAX_PAYLOAD: usize = 7_000;

/// One notification: the daemon that sent it and its events.
#[derive(serde::Serialize, serde::Deserialize)]
struct Told {
    from: u64,
    events: Vec<super::Notice>,
}

/// Relays live events between the daemons on this database: this daemon's go out with NOTIFY
/// (after their commit, batched), the others' come in by LISTEN and are read back from the
/// database for this daemon's live streams, so an agent on any daemon sees every change.
pub(super) fn relay(repo: &repo::Repo) {
    let (tx, rx) = tokio::sync::mpsc::channel(16_384);
    if !repo.bus.set_relay(tx) {
        return;
    }
    let me = fastrand::u64(..);
    tokio::spawn(tell(repo.pool.clone(), me, rx));
    tokio::spawn(hear(repo.clone(), me));
}

async fn tell(pool: Pool<Db>, me: u64, mut rx: tokio::sync::mpsc::Receiver<super::Notice>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 512).await > 0 {
        let mut payloads = Vec::new();
        let mut told = Told {
            from: me,
            events: Vec::new(),
        };
        let mut size = 64;
        for notice in batch.drain(..) {
            // Each notice is small (ids; a refusal's names are bounded by the API).
            let len = serde_json::to_string(&notice).map_or(64, |s| s.len() + 1);
            if size + len > MAX_PAYLOAD && !told.events.is_empty() {
                payloads.push(std::mem::take(&mut told.events));
                size = 64;
            }
            size += len;
            told.events.push(notice);
        }
        payloads.push(told.events);
        for events in payloads {
            let Ok(payload) = serde_json::to_string(&Told { from: me, events }) else {
                continue;
            };
            let sent = sqlx::query("SELECT pg_notify($1, $2)")
                .bind(EVENTS)
                .bind(payload)
                .execute(&pool)
                .await;
            if let Err(e) = sent {
                if pool.is_closed() {
                    return;
                }
                tracing::warn!(error = %e, "cannot tell the other daemons of live events");
            }
        }
    }
}

async fn hear(repo: repo::Repo, me: u64) {
    loop {
        if repo.pool.is_closed() {
            return;
        }
        let mut listener = match sqlx::postgres::PgListener::connect_with(&repo.pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for other daemons' events; retrying");
                tokio::time::sleep(Duration::from_secs(2)).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(EVENTS).await {
            tracing::warn!(error = %e, "cannot listen for other daemons' events; retrying");
            tokio::time::sleep(Duration::from_secs(2)).await;
            continue;
        }
        loop {
            let notification = match listener.try_recv().await {
                Ok(Some(n)) => n,
                // The connection was lost; the next call reconnects (what came meanwhile is
                // missed, as with any live stream that drops: clients reload on reconnect).
                Ok(None) => {
                    tracing::warn!("lost the connection listening for other daemons' events");
                    repo.bus.missed();
                    continue;
                }
                Err(e) => {
                    if !repo.pool.is_closed() {
                        tracing::warn!(error = %e, "listening for other daemons' events failed");
                        repo.bus.missed();
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    break;
                }
            };
            let told: Told = match serde_json::from_str(notification.payload()) {
                Ok(told) => told,
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable event notification skipped");
                    continue;
                }
            };
            if told.from == me {
                continue;
            }
            if told.events.iter().any(|n| {
                matches!(
                    n,
                    super::Notice::MessageCreated(_) | super::Notice::MessageUpdated(_)
                )
            }) {
                repo.bus.outbox_elsewhere().notify_one();
            }
            if !repo.bus.has_streams() {
                continue;
            }
            match rebuild(&repo, told.events).await {
                Ok(events) => events.into_iter().for_each(|e| repo.bus.publish(e)),
                Err(e) => tracing::debug!(error = %e, "events of another daemon not read back"),
            }
        }
    }
}

/// The events notices stand for, in their order, as the database has them now. The messages
/// of a notification are read in one go (a group commit of another daemon tells thousands);
/// a conversation told of several times is read once and sent at its last place, since each
/// read would show its present state anyway.
async fn rebuild(repo: &repo::Repo, notices: Vec<super::Notice>) -> Result<Vec<super::Event>> {
    use super::{Event, Notice, RefusedReply};
    use std::collections::HashMap;
    let ids: Vec<i64> = notices
        .iter()
        .filter_map(|n| match n {
            Notice::MessageCreated(id) | Notice::MessageUpdated(id) => Some(*id),
            _ => None,
        })
        .collect();
    let mut messages: HashMap<i64, super::Message> = repo
        .messages_by_id(&ids)
        .await?
        .into_iter()
        .map(|m| (m.id, m))
        .collect();
    let mut last_place: HashMap<i64, usize> = HashMap::new();
    for (n, notice) in notices.iter().enumerate() {
        if let Notice::ConversationUpdated(id) = notice {
            last_place.insert(*id, n);
        }
    }
    let mut events = Vec::with_capacity(notices.len());
    for (n, notice) in notices.into_iter().enumerate() {
        let event = match notice {
            // A message told twice (created, then updated) is sent twice, as here.
            Notice::MessageCreated(id) => messages.get(&id).cloned().map(Event::MessageCreated),
            Notice::MessageUpdated(id) => messages.remove(&id).map(Event::MessageUpdated),
            Notice::ConversationUpdated(id) if last_place.get(&id) == Some(&n) => {
                match repo.conversation(id).await {
                    Ok(c) => Some(Event::ConversationUpdated(c)),
                    Err(super::StoreError::NotFound) => None,
                    Err(e) => return Err(e),
                }
            }
            Notice::ConversationUpdated(_) => None,
            Notice::NoteCreated(id, conversation) => repo
                .notes(conversation)
                .await?
                .into_iter()
                .find(|n| n.id == id)
                .map(Event::NoteCreated),
            Notice::ReplyRefused(agent_id, agent_name, conversation_id, category, at) => {
                Some(Event::ReplyRefused(RefusedReply {
                    agent_id,
                    agent_name,
                    conversation_id,
                    category,
                    at: super::from_millis(at),
                }))
            }
            Notice::SlaBreached(conversation_id, target, priority, due) => {
                Some(Event::SlaBreached(super::SlaBreach {
                    conversation_id,
                    target,
                    priority: super::Priority::parse(&priority).unwrap_or(super::Priority::Normal),
                    due_at: super::from_millis(due),
                }))
            }
            Notice::SpikeDetected(id, kind, key, count, started) => {
                Some(Event::SpikeDetected(super::Spike {
                    id,
                    kind,
                    key,
                    count,
                    started_at: super::from_millis(started),
                    ended_at: None,
                    webhook: None,
                }))
            }
            Notice::CsatRated(conversation_id, survey_id, score, comment) => {
                Some(Event::CsatRated(super::CsatRated {
                    conversation_id,
                    survey_id,
                    score,
                    comment,
                }))
            }
        };
        events.extend(event);
    }
    Ok(events)
}
