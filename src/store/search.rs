//! Full-text search: the trigram index over message text, kept up to date behind ingest.

use super::{Result, Store};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Most messages indexed in one transaction: long enough to amortize the index's segment
/// writes, short enough not to hold the write lock away from ingest for long.
const INDEX_BATCH: i64 = 2_000;

/// How long the indexer sleeps once it has caught up; what arrives meanwhile is found by a scan.
const INDEX_IDLE: Duration = Duration::from_millis(250);

/// The query as one FTS5 phrase (any substring, quotes taken literally); `None` below the
/// trigram index's three characters.
pub(super) fn fts_phrase(query: &str) -> Option<String> {
    (query.chars().count() >= 3).then(|| format!("\"{}\"", query.replace('"', "\"\"")))
}

impl Store {
    /// Indexes up to `limit` messages not in the search index yet; returns how many it did.
    pub async fn index_for_search(&self, limit: i64) -> Result<u64> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let through: i64 =
            sqlx::query_scalar("SELECT indexed_through FROM search_index_state WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
        let last: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(id) FROM (SELECT id FROM messages WHERE id > $1 ORDER BY id LIMIT $2)",
        )
        .bind(through)
        .bind(limit.max(1))
        .fetch_one(&mut *tx)
        .await?;
        let Some(last) = last else {
            return Ok(0);
        };
        let indexed = sqlx::query(
            "INSERT INTO messages_fts (rowid, text)
             SELECT id, text FROM messages WHERE id > $1 AND id <= $2",
        )
        .bind(through)
        .bind(last)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        sqlx::query("UPDATE search_index_state SET indexed_through = $1 WHERE id = 1")
            .bind(last)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(indexed)
    }

    /// Keeps the search index up to date until `shutdown`: a full batch goes on at once, a
    /// short one means it caught up. A failing store is retried after the idle pause.
    pub async fn run_search_indexer(self, shutdown: CancellationToken) {
        loop {
            let pause = match self.index_for_search(INDEX_BATCH).await {
                Ok(n) if n as i64 >= INDEX_BATCH => Duration::ZERO,
                Ok(_) => INDEX_IDLE,
                Err(e) => {
                    tracing::warn!(error = %e, "search indexing failed; retrying");
                    INDEX_IDLE * 4
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }
}
