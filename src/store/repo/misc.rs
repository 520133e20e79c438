//! The small rest: health probe, queue depth, channel routes and cursors.

use super::*;

impl Repo {
    /// Replies waiting for delivery, per channel (scheduled or in flight).
    pub async fn outbox_depth(&self) -> Result<Vec<(String, i64)>> {
        Ok(sqlx::query_as(
            "SELECT channel, COUNT(*) FROM outbox WHERE status IN ('scheduled', 'sending')
             GROUP BY channel ORDER BY channel",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    pub async fn checkpoint(&self) -> Result<()> {
        checkpoint(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
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
        let mut tx = begin_write(&self.pool).await?;
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
