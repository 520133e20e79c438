//! Full-text search: the index over message text, filled behind ingest by the indexer.

use super::*;
use crate::store::search::{INDEX_BATCH, INDEX_BREATHER, INDEX_IDLE};
use tokio_util::sync::CancellationToken;

impl Repo {
    /// Indexes up to `limit` messages not in the search index (edited ones first, then new
    /// ones); returns how many it did (none while another daemon's indexer is at work).
    pub async fn index_for_search(&self, limit: i64) -> Result<u64> {
        let limit = limit.clamp(1, 100_000);
        let Some(mut tx) = begin_index(&self.pool).await? else {
            // Another daemon's indexer is at it.
            return Ok(0);
        };
        let through: i64 =
            sqlx::query_scalar("SELECT indexed_through FROM search_index_state WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
        let edited: Vec<(i64, String)> = sqlx::query_as(sql::EDITED_TO_INDEX)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
        let mut new: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, text FROM messages WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(through)
                .bind(limit - edited.len() as i64)
                .fetch_all(&mut *tx)
                .await?;
        // A message edited before the indexer first reached it is queued as well (the edit
        // cannot tell on PostgreSQL, see its trigger): index it once.
        let queued: std::collections::HashSet<i64> = edited.iter().map(|(id, _)| *id).collect();
        let last_new = new.last().map(|(id, _)| *id);
        new.retain(|(id, _)| !queued.contains(id));
        if edited.is_empty() && new.is_empty() {
            return Ok(0);
        }
        let rows: Vec<serde_json::Value> = edited
            .iter()
            .chain(&new)
            .map(|(id, text)| search_row(*id, text))
            .collect();
        let rows = serde_json::to_string(&rows)
            .map_err(|e| StoreError::Invalid(format!("encoding index rows: {e}")))?;
        let indexed = sqlx::query(sql::INDEX_MESSAGES)
            .bind(&rows)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if !edited.is_empty() {
            let ids: Vec<i64> = edited.iter().map(|(id, _)| *id).collect();
            let ids = serde_json::to_string(&ids)
                .map_err(|e| StoreError::Invalid(format!("encoding index rows: {e}")))?;
            sqlx::query(sql::FORGET_REINDEXED)
                .bind(ids)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(last) = last_new {
            sqlx::query("UPDATE search_index_state SET indexed_through = $1 WHERE id = 1")
                .bind(last)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(indexed)
    }

    /// Keeps the search index up to date until `shutdown`: a full batch goes on at once, a
    /// short one means it caught up. A failing store is retried after a longer pause.
    pub async fn run_search_indexer(self, shutdown: CancellationToken) {
        loop {
            let pause = match self.index_for_search(INDEX_BATCH).await {
                Ok(n) if n as i64 >= INDEX_BATCH => INDEX_BREATHER,
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
