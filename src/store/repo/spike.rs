//! Spike episodes: counted from the new conversations of the window, opened at most once per
//! category or keyword at a time (a unique index decides between daemons), ended when the
//! count falls back.

use super::*;
use crate::store::{Spike, SpikeCount};

type SpikeRow = (i64, String, String, i64, i64, Option<i64>, Option<String>);

fn spike(row: SpikeRow) -> Spike {
    let (id, kind, key, count, started_at, ended_at, webhook) = row;
    Spike {
        id,
        kind,
        key,
        count,
        started_at: from_millis(started_at),
        ended_at: ended_at.map(from_millis),
        webhook,
    }
}

impl super::Repo {
    /// New conversations since `since` per intake category (with `categories`) and per
    /// keyword (lower-case; found in a customer message of the conversation).
    pub async fn spike_counts(
        &self,
        since: i64,
        categories: bool,
        keywords: &[String],
    ) -> Result<Vec<SpikeCount>> {
        let mut counts = Vec::new();
        if categories {
            let rows: Vec<(String, i64)> = sqlx::query_as(sql::SPIKE_CATEGORIES)
                .bind(since)
                .fetch_all(&self.pool)
                .await?;
            counts.extend(rows.into_iter().map(|(key, count)| SpikeCount {
                kind: "category",
                key,
                count,
            }));
        }
        for keyword in keywords {
            let pattern = format!("%{}%", like_escape(keyword));
            let count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM conversations c WHERE c.created_at >= $1
                   AND EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id
                       AND m.direction = 'inbound' AND lower(m.text) LIKE $2 ESCAPE '\\')",
            )
            .bind(since)
            .bind(pattern)
            .fetch_one(&self.pool)
            .await?;
            counts.push(SpikeCount {
                kind: "keyword",
                key: keyword.clone(),
                count,
            });
        }
        Ok(counts)
    }

    /// Opens the episode of `over` unless one is open already (here or by another daemon);
    /// returns it when this call opened it, after announcing it.
    pub async fn open_spike(&self, over: &SpikeCount) -> Result<Option<Spike>> {
        let now = now_ms();
        let result: Result<Option<i64>> = sqlx::query_scalar(
            "INSERT INTO spike_episodes (kind, key, started_at, peak) VALUES ($1, $2, $3, $4)
             ON CONFLICT DO NOTHING RETURNING id",
        )
        .bind(over.kind)
        .bind(&over.key)
        .bind(now)
        .bind(over.count)
        .fetch_optional(&self.pool)
        .await
        .map_err(Into::into);
        self.writes.record(&result);
        let Some(id) = result? else {
            return Ok(None);
        };
        let opened = Spike {
            id,
            kind: over.kind.to_owned(),
            key: over.key.clone(),
            count: over.count,
            started_at: from_millis(now),
            ended_at: None,
            webhook: None,
        };
        let event = opened.clone();
        self.bus.emit(|| vec![Event::SpikeDetected(event)]);
        Ok(Some(opened))
    }

    /// Keeps the peaks of the open episodes still over the threshold and ends the others.
    pub async fn settle_spikes(&self, over: &[SpikeCount]) -> Result<()> {
        let now = now_ms();
        let open: Vec<(i64, String, String, i64)> =
            sqlx::query_as("SELECT id, kind, key, peak FROM spike_episodes WHERE ended_at IS NULL")
                .fetch_all(&self.pool)
                .await?;
        for (id, kind, key, peak) in open {
            let still = over.iter().find(|c| c.kind == kind && c.key == key);
            let result: Result<()> = async {
                match still {
                    Some(c) if c.count > peak => {
                        sqlx::query("UPDATE spike_episodes SET peak = $2 WHERE id = $1")
                            .bind(id)
                            .bind(c.count)
                            .execute(&self.pool)
                            .await?;
                    }
                    Some(_) => {}
                    None => {
                        sqlx::query(
                            "UPDATE spike_episodes SET ended_at = $2 WHERE id = $1 AND ended_at IS NULL",
                        )
                        .bind(id)
                        .bind(now)
                        .execute(&self.pool)
                        .await?;
                    }
                }
                Ok(())
            }
            .await;
            self.writes.record(&result);
            result?;
        }
        Ok(())
    }

    /// Records how the episode's webhook went.
    pub async fn spike_webhook(&self, id: i64, outcome: &str) -> Result<()> {
        let result: Result<()> =
            sqlx::query("UPDATE spike_episodes SET webhook = $2 WHERE id = $1")
                .bind(id)
                .bind(outcome)
                .execute(&self.pool)
                .await
                .map(|_| ())
                .map_err(Into::into);
        self.writes.record(&result);
        result
    }

    /// The latest episodes, newest first (`active`: only those still going on).
    pub async fn spikes(&self, active: bool, limit: i64) -> Result<Vec<Spike>> {
        let rows: Vec<SpikeRow> = sqlx::query_as(
            "SELECT id, kind, key, peak, started_at, ended_at, webhook FROM spike_episodes
             WHERE (NOT $1 OR ended_at IS NULL) ORDER BY started_at DESC, id DESC LIMIT $2",
        )
        .bind(active)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(spike).collect())
    }
}

fn like_escape(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
