//! Full-text search: the trigram index over message text, filled behind ingest by the indexer.

use super::{Result, Store, StoreError};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Most messages indexed in one transaction: long enough to amortize the index's segment
/// writes, short enough not to hold the write lock away from ingest for long.
const INDEX_BATCH: i64 = 2_000;

/// How long the indexer sleeps once it has caught up; what arrives meanwhile is found by a scan.
const INDEX_IDLE: Duration = Duration::from_millis(250);

/// The pause between full batches (a backlog, e.g. the history of an upgraded database): ingest
/// gets the write lock in between instead of waiting in SQLite's busy retries.
const INDEX_BREATHER: Duration = Duration::from_millis(5);

/// Characters of a message whose two-character runs are indexed (a long mail's tail is still
/// found by three-character queries).
const MAX_PAIRS_CHARS: usize = 100_000;

/// Scripts written without spaces between words, or with two-syllable words inside longer
/// runs: Chinese, Japanese kana, Korean Hangul.
fn east_asian(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF
        | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// Every run of two East Asian characters in `text`, each followed by a space: the trigram
/// index then holds "XY " for each, so a two-character query has three characters to find.
pub(super) fn pairs(text: &str) -> String {
    let mut out = String::new();
    let mut prev: Option<char> = None;
    for c in text.chars().take(MAX_PAIRS_CHARS) {
        let here = east_asian(c).then_some(c);
        if let (Some(a), Some(b)) = (prev, here) {
            out.push(a);
            out.push(b);
            out.push(' ');
        }
        prev = here;
    }
    out
}

/// How a query is looked up in the index: an FTS5 expression on one column, every character
/// literal (operators and quotes are text). `None`: a scan of the messages finds it (one
/// character, or two that are not East Asian).
pub(super) fn fts_query(query: &str) -> Option<String> {
    let quoted = |column: &str, text: &str| format!("{column} : \"{}\"", text.replace('"', "\"\""));
    let chars: Vec<char> = query.chars().take(3).collect();
    match chars.as_slice() {
        [_, _, _] => Some(quoted("text", query)),
        [a, b] if east_asian(*a) && east_asian(*b) => Some(quoted("pairs", &format!("{a}{b} "))),
        _ => None,
    }
}

impl Store {
    /// Indexes up to `limit` messages not in the search index (edited ones first, then new
    /// ones); returns how many it did.
    pub async fn index_for_search(&self, limit: i64) -> Result<u64> {
        let limit = limit.clamp(1, 100_000);
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let through: i64 =
            sqlx::query_scalar("SELECT indexed_through FROM search_index_state WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
        let edited: Vec<(i64, String)> = sqlx::query_as(
            "SELECT m.id, m.text FROM search_reindex r JOIN messages m ON m.id = r.message_id
             ORDER BY r.message_id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&mut *tx)
        .await?;
        let new: Vec<(i64, String)> =
            sqlx::query_as("SELECT id, text FROM messages WHERE id > $1 ORDER BY id LIMIT $2")
                .bind(through)
                .bind(limit - edited.len() as i64)
                .fetch_all(&mut *tx)
                .await?;
        if edited.is_empty() && new.is_empty() {
            return Ok(0);
        }
        // Only the pairs travel: the text is read where it is, in the same statement.
        let rows: Vec<(i64, String)> = edited
            .iter()
            .chain(&new)
            .map(|(id, text)| (*id, pairs(text)))
            .collect();
        let rows = serde_json::to_string(&rows)
            .map_err(|e| StoreError::Invalid(format!("encoding index rows: {e}")))?;
        let indexed = sqlx::query(
            "INSERT INTO messages_fts (rowid, text, pairs)
             SELECT m.id, m.text, j.value ->> 1 FROM json_each($1) j
             JOIN messages m ON m.id = j.value ->> 0",
        )
        .bind(&rows)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if let Some((last_edited, _)) = edited.last() {
            sqlx::query("DELETE FROM search_reindex WHERE message_id <= $1")
                .bind(last_edited)
                .execute(&mut *tx)
                .await?;
        }
        if let Some((last, _)) = new.last() {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_character_runs_of_east_asian_text_become_pairs() {
        assert_eq!(pairs("我的充值"), "我的 的充 充值 ");
        assert_eq!(pairs("ok 充值 ok"), "充值 ");
        assert_eq!(
            pairs("지갑을 잃어버렸어요"),
            "지갑 갑을 잃어 어버 버렸 렸어 어요 "
        );
        assert_eq!(pairs("パスワード"), "パス スワ ワー ード ");
        assert_eq!(pairs("password"), "");
    }

    #[test]
    fn queries_are_literal_and_short_ones_use_the_pairs() {
        assert_eq!(
            fts_query("seed phrase").as_deref(),
            Some("text : \"seed phrase\"")
        );
        assert_eq!(
            fts_query("say \"hi\"").as_deref(),
            Some("text : \"say \"\"hi\"\"\"")
        );
        assert_eq!(fts_query("充值").as_deref(), Some("pairs : \"充值 \""));
        assert_eq!(fts_query("ok"), None);
        assert_eq!(fts_query("币"), None);
        assert_eq!(fts_query(""), None);
    }
}
