//! `switchboard copy-data`: moves an installation from its SQLite file to PostgreSQL, every
//! row with its id, in one transaction on the target (a failure leaves it empty), with the row
//! counts of both sides compared before the commit. Attachment files are not in the database:
//! they stay in the data directory, which the daemons on PostgreSQL must share.

use super::{Result, StoreError, postgres, sqlite};
use serde_json::{Map, Value};
use sqlx::Row;

/// The tables copied, parents before children (foreign keys are checked per statement).
const COPIED: &[&str] = &[
    "agents",
    "teams",
    "team_members",
    "labels",
    "api_tokens",
    "contacts",
    "contact_identities",
    "conversations",
    "messages",
    "message_revisions",
    "attachments",
    "channel_cursors",
    "outbox",
    "notes",
    "canned_answers",
    "conversation_participants",
    "idempotency_keys",
    "channel_routes",
    "verifications",
    "contact_verified_emails",
    "store_counters",
    "automation_queue",
    "notices",
    "conversation_activity",
    "surveys",
    "spike_episodes",
];

/// Tables that are not copied: migration bookkeeping, the health probe's scratch row, and the
/// search index, which the target's indexer builds again from the copied messages.
const NOT_COPIED: &[&str] = &[
    "_sqlx_migrations",
    "store_probe",
    "message_search",
    "search_index_state",
    "search_reindex",
];

/// Columns pointing into their own table: filled in after all its rows are in, since a contact
/// may be merged into one with a higher id.
const SELF_REFERENCES: &[(&str, &str)] = &[("contacts", "merged_into")];

/// Rows per INSERT: one JSON parameter each, well under PostgreSQL's limits.
const CHUNK: i64 = 1_000;

/// Statements naming tables and columns: the names come from `COPIED` and from the target's own
/// schema, never from input.
fn audited(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

/// What was copied: each table's name and row count, in copy order.
#[derive(Debug, Default)]
pub struct CopyReport {
    pub tables: Vec<(String, i64)>,
    /// Text values that held NUL characters (PostgreSQL text cannot), stored with U+FFFD.
    pub nul_replaced: u64,
}

/// A target column: its name and PostgreSQL type (`bigint`, `boolean` or `text`).
struct Column {
    name: String,
    kind: String,
}

/// Copies the SQLite database at `from` into the empty PostgreSQL database at `to`. Both are
/// migrated to this version first (the source as the daemon would at its next start).
pub async fn copy_sqlite_to_postgres(from: &str, to: &str) -> Result<CopyReport> {
    if super::is_postgres(from) || !super::is_postgres(to) {
        return Err(StoreError::Invalid(
            "copy-data copies a SQLite database (--from sqlite://...) into PostgreSQL \
             (--to postgres://...)"
                .into(),
        ));
    }
    let file = {
        use std::str::FromStr;
        sqlx::sqlite::SqliteConnectOptions::from_str(from)?
            .get_filename()
            .to_owned()
    };
    if !file.exists() {
        return Err(StoreError::Invalid(format!(
            "{} does not exist",
            file.display()
        )));
    }
    // A daemon still running on the file would write what the copy misses.
    let _lock = super::lock_database(from).map_err(|e| StoreError::Conflict(e.to_string()))?;
    let source = sqlite::open(from).await?;
    let target = postgres::open(to).await?;
    let result = copy(&source, &target).await;
    source.close().await;
    target.close().await;
    result
}

async fn copy(source: &sqlx::SqlitePool, target: &sqlx::PgPool) -> Result<CopyReport> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY 1",
    )
    .fetch_all(target)
    .await?;
    // A table added by a later migration must be named in one of the lists, or it would be
    // silently left behind.
    let unknown: Vec<&String> = tables
        .iter()
        .filter(|t| !COPIED.contains(&t.as_str()) && !NOT_COPIED.contains(&t.as_str()))
        .collect();
    if !unknown.is_empty() {
        return Err(StoreError::Invalid(format!(
            "copy-data does not know the table(s) {unknown:?}: this build cannot copy them"
        )));
    }
    let mut tx = target.begin().await?;
    // No daemon may write the target meanwhile (they take the same lock for every write).
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(postgres::WRITE_LOCK)
        .execute(&mut *tx)
        .await?;
    for table in COPIED {
        let rows: i64 = sqlx::query_scalar(audited(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut *tx)
            .await?;
        if rows > 0 {
            return Err(StoreError::Conflict(format!(
                "the target database is not empty ({table} has {rows} rows): copy-data only \
                 fills a new database"
            )));
        }
    }
    let mut report = CopyReport::default();
    for table in COPIED {
        let (copied, has_id) = copy_table(source, &mut tx, table, &mut report).await?;
        let expected: i64 = sqlx::query_scalar(audited(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(source)
            .await?;
        let landed: i64 = sqlx::query_scalar(audited(format!("SELECT COUNT(*) FROM {table}")))
            .fetch_one(&mut *tx)
            .await?;
        if copied != expected || landed != expected {
            return Err(StoreError::Invalid(format!(
                "{table}: {expected} rows in the source, {copied} read, {landed} in the target; \
                 nothing was committed"
            )));
        }
        if has_id {
            // New rows take ids after the copied ones.
            sqlx::query(audited(format!(
                "SELECT setval(s, GREATEST(m, 1), m IS NOT NULL)
                 FROM (SELECT pg_get_serial_sequence('{table}', 'id') AS s,
                              (SELECT MAX(id) FROM {table}) AS m) AS x
                 WHERE s IS NOT NULL"
            )))
            .execute(&mut *tx)
            .await?;
        }
        report.tables.push((table.to_string(), landed));
    }
    tx.commit().await?;
    Ok(report)
}

/// Copies one table in chunks of `CHUNK` rows, in the source's row order; returns the rows read
/// and whether the table has an `id` column.
async fn copy_table(
    source: &sqlx::SqlitePool,
    tx: &mut sqlx::PgConnection,
    table: &str,
    report: &mut CopyReport,
) -> Result<(i64, bool)> {
    let columns = columns(source, &mut *tx, table).await?;
    let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
    let list = names.join(", ");
    let deferred: Vec<&str> = SELF_REFERENCES
        .iter()
        .filter(|(t, _)| *t == table)
        .map(|(_, c)| *c)
        .collect();
    let insert = format!(
        "INSERT INTO {table} ({list}) SELECT {list} FROM jsonb_populate_recordset(NULL::{table}, $1::jsonb)"
    );
    let select =
        format!("SELECT rowid, {list} FROM {table} WHERE rowid > $1 ORDER BY rowid LIMIT $2");
    let mut after = i64::MIN;
    let mut read = 0i64;
    let mut later: Vec<Value> = Vec::new();
    loop {
        let rows = sqlx::query(audited(select.clone()))
            .bind(after)
            .bind(CHUNK)
            .fetch_all(source)
            .await?;
        let Some(last) = rows.last() else { break };
        after = last.try_get(0)?;
        read += rows.len() as i64;
        let mut batch = Vec::with_capacity(rows.len());
        for row in &rows {
            let mut object = Map::new();
            for (i, column) in columns.iter().enumerate() {
                let mut value = value(row, i + 1, column, report)?;
                if deferred.contains(&column.name.as_str()) && !value.is_null() {
                    later.push(Value::Array(vec![
                        object.get("id").cloned().unwrap_or(Value::Null),
                        std::mem::take(&mut value),
                    ]));
                }
                object.insert(column.name.clone(), value);
            }
            batch.push(Value::Object(object));
        }
        sqlx::query(audited(insert.clone()))
            .bind(Value::Array(batch))
            .execute(&mut *tx)
            .await?;
    }
    for column in deferred {
        for chunk in later.chunks(CHUNK as usize) {
            sqlx::query(audited(format!(
                "UPDATE {table} AS t SET {column} = (j.value ->> 1)::bigint
                 FROM jsonb_array_elements($1::jsonb) AS j WHERE t.id = (j.value ->> 0)::bigint"
            )))
            .bind(Value::Array(chunk.to_vec()))
            .execute(&mut *tx)
            .await?;
        }
    }
    Ok((read, names.contains(&"id")))
}

/// The columns both sides have, with the target's types. A source column the target lacks
/// would be data left behind: refused. A target column the source lacks keeps its default
/// (`conversation_participants.seq` numbers the rows in the source's order).
async fn columns(
    source: &sqlx::SqlitePool,
    target: &mut sqlx::PgConnection,
    table: &str,
) -> Result<Vec<Column>> {
    let in_source: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info($1)")
        .bind(table)
        .fetch_all(source)
        .await?;
    let in_target: Vec<(String, String)> = sqlx::query_as(
        "SELECT column_name::text, data_type::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *target)
    .await?;
    let missing: Vec<&String> = in_source
        .iter()
        .filter(|c| !in_target.iter().any(|(t, _)| t == *c))
        .collect();
    if !missing.is_empty() {
        return Err(StoreError::Invalid(format!(
            "{table}: the PostgreSQL schema has no column(s) {missing:?}"
        )));
    }
    Ok(in_target
        .into_iter()
        .filter(|(name, _)| in_source.contains(name))
        .map(|(name, kind)| Column { name, kind })
        .collect())
}

/// One SQLite value as the JSON `jsonb_populate_recordset` turns into the target's type.
fn value(
    row: &sqlx::sqlite::SqliteRow,
    i: usize,
    column: &Column,
    report: &mut CopyReport,
) -> Result<Value> {
    Ok(match column.kind.as_str() {
        "bigint" | "integer" => row
            .try_get::<Option<i64>, _>(i)?
            .map_or(Value::Null, Value::from),
        "boolean" => row
            .try_get::<Option<i64>, _>(i)?
            .map_or(Value::Null, |v| Value::Bool(v != 0)),
        _ => {
            // SQLite keeps whatever bytes it was given; PostgreSQL's text must be UTF-8 and
            // free of NUL.
            let text = match row.try_get::<Option<String>, _>(i) {
                Ok(text) => text,
                Err(_) => row
                    .try_get::<Option<Vec<u8>>, _>(i)?
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned()),
            };
            match text {
                None => Value::Null,
                Some(text) if text.contains('\0') => {
                    report.nul_replaced += 1;
                    Value::String(text.replace('\0', "\u{FFFD}"))
                }
                Some(text) => Value::String(text),
            }
        }
    })
}
