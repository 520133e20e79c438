//! The front desk's reads and writes (see `store/desk.rs`).

use super::*;
use crate::store::desk::{DeskContext, DeskItem, DeskOutcome, DeskPlan, KnownIssue, NewKnownIssue};
use std::time::Duration;

/// Agents count as active for the expected wait when seen within this.
const ACTIVE_WINDOW_MS: i64 = 15 * 60 * 1000;
/// `last_active_at` is written at most this often per agent (not on every request).
const ACTIVE_WRITE_EVERY_MS: i64 = 60 * 1000;

#[derive(sqlx::FromRow)]
struct KnownIssueRow {
    id: i64,
    texts: String,
    keywords: String,
    categories: String,
    starts_at: i64,
    ends_at: i64,
    created_by: Option<i64>,
    created_at: i64,
}

impl From<KnownIssueRow> for KnownIssue {
    fn from(r: KnownIssueRow) -> Self {
        KnownIssue {
            id: r.id,
            texts: serde_json::from_str(&r.texts).unwrap_or_default(),
            keywords: string_list(&r.keywords),
            categories: string_list(&r.categories),
            starts_at: from_millis(r.starts_at),
            ends_at: from_millis(r.ends_at),
            created_by: r.created_by,
            created_at: from_millis(r.created_at),
        }
    }
}

impl Repo {
    /// The oldest customer messages the desk has yet to consider.
    pub async fn desk_queue(&self, limit: i64) -> Result<Vec<DeskItem>> {
        Ok(sqlx::query_as(
            "SELECT message_id, conversation_id, trigger FROM automation_queue
             ORDER BY message_id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?)
    }

    /// What the desk needs to answer `item`; `None` when it is no longer queued (another
    /// daemon's desk answered it).
    pub async fn desk_context(&self, item: &DeskItem) -> Result<Option<DeskContext>> {
        let now = now_ms();
        let mut conn = self.pool.acquire().await?;
        #[allow(clippy::type_complexity)]
        let row: Option<(
            String,
            String,
            Option<String>,
            Option<String>,
            Option<String>,
            Option<String>,
            String,
        )> = sqlx::query_as(
            "SELECT c.channel, c.status, c.language, c.front_desk, c.intake, m.language, m.text
                 FROM automation_queue q JOIN messages m ON m.id = q.message_id
                 JOIN conversations c ON c.id = m.conversation_id
                 WHERE q.message_id = $1 AND c.id = $2",
        )
        .bind(item.message_id)
        .bind(item.conversation_id)
        .fetch_optional(&mut *conn)
        .await?;
        let Some((channel, status, conversation_language, state, intake, message_language, text)) =
            row
        else {
            return Ok(None);
        };
        let images: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM attachments WHERE message_id = $1 AND content_type LIKE 'image/%'",
        )
        .bind(item.message_id)
        .fetch_one(&mut *conn)
        .await?;
        let last_agent_reply_at: Option<i64> = sqlx::query_scalar(
            "SELECT MAX(created_at) FROM messages
             WHERE conversation_id = $1 AND direction = 'outbound' AND sender_agent_id IS NOT NULL",
        )
        .bind(item.conversation_id)
        .fetch_one(&mut *conn)
        .await?;
        let auto_last_hour: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = $1 AND direction = 'outbound'
             AND sender_agent_id IS NULL AND created_at >= $2",
        )
        .bind(item.conversation_id)
        .bind(now.saturating_sub(3_600_000))
        .fetch_one(&mut *conn)
        .await?;
        // The queue is read for acknowledgements only (the rest need none of it).
        let (mut waiting_ahead, mut active_agents) = (0, 0);
        if item.trigger != "message" {
            // Waiting: open, and no agent wrote after the customer's latest message.
            waiting_ahead = sqlx::query_scalar(
                "SELECT COUNT(*) FROM conversations c WHERE c.status = 'open' AND c.id <> $1
                 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id
                     AND m.direction = 'outbound' AND m.sender_agent_id IS NOT NULL
                     AND m.id > COALESCE((SELECT MAX(i.id) FROM messages i
                         WHERE i.conversation_id = c.id AND i.direction = 'inbound'), 0))",
            )
            .bind(item.conversation_id)
            .fetch_one(&mut *conn)
            .await?;
            active_agents = sqlx::query_scalar(
                "SELECT COUNT(*) FROM agents WHERE disabled_at IS NULL AND last_active_at >= $1",
            )
            .bind(now.saturating_sub(ACTIVE_WINDOW_MS))
            .fetch_one(&mut *conn)
            .await?;
        }
        let conversation = inbox::conversation(&mut conn, item.conversation_id).await?;
        let (unanswered, unanswered_since): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(created_at) FROM messages
             WHERE conversation_id = $1 AND direction = 'inbound' AND id <= $2 AND created_at > $3",
        )
        .bind(item.conversation_id)
        .bind(item.message_id)
        .bind(last_agent_reply_at.unwrap_or(i64::MIN))
        .fetch_one(&mut *conn)
        .await?;
        Ok(Some(DeskContext {
            conversation,
            unanswered,
            unanswered_since,
            item: item.clone(),
            channel,
            status,
            text,
            images,
            message_language,
            conversation_language,
            state,
            intake,
            last_agent_reply_at,
            auto_last_hour,
            waiting_ahead,
            active_agents,
            now,
        }))
    }

    /// What the desk last asked the customer of this thread for (`tx_hash`, ...), if it waits
    /// for an answer: ingest lets such an answer through the secret guard's guesswork.
    pub async fn desk_expects(&self, channel: &str, thread_id: &str) -> Result<Option<String>> {
        let state: Option<Option<String>> = sqlx::query_scalar(
            "SELECT front_desk FROM conversations WHERE channel = $1 AND external_thread_id = $2",
        )
        .bind(channel)
        .bind(thread_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(state
            .flatten()
            .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
            .and_then(|v| v.get("expects")?.as_str().map(str::to_owned)))
    }

    /// How long the latest conversations opened since `since` (ms) waited for their first
    /// agent reply, in ms, newest first, at most `limit`.
    pub async fn first_response_times(&self, since: i64, limit: i64) -> Result<Vec<i64>> {
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT c.created_at, MIN(m.created_at) FROM conversations c
             JOIN messages m ON m.conversation_id = c.id
             WHERE c.created_at >= $1 AND m.direction = 'outbound' AND m.sender_agent_id IS NOT NULL
             GROUP BY c.id, c.created_at ORDER BY c.id DESC LIMIT $2",
        )
        .bind(since)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(opened, answered)| answered.saturating_sub(opened).max(0))
            .collect())
    }

    /// Applies the desk's `plan` for the message `context` was read for, in one transaction
    /// with the removal of its queue row: exactly once, and only if nothing changed since the
    /// read (another daemon's desk may have answered the message or one before it).
    pub async fn apply_desk(
        &self,
        context: &DeskContext,
        plan: &DeskPlan,
        expiry: Duration,
    ) -> Result<DeskOutcome> {
        let result = self.apply_desk_tx(context, plan, expiry).await;
        self.writes.record(&result);
        let (outcome, events) = result?;
        if !events.is_empty() {
            self.bus.emit(|| events);
        }
        Ok(outcome)
    }

    async fn apply_desk_tx(
        &self,
        context: &DeskContext,
        plan: &DeskPlan,
        expiry: Duration,
    ) -> Result<(DeskOutcome, Vec<Event>)> {
        let item = &context.item;
        let mut tx = begin_write(&self.pool).await?;
        let earlier: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM automation_queue WHERE conversation_id = $1 AND message_id < $2",
        )
        .bind(item.conversation_id)
        .bind(item.message_id)
        .fetch_one(&mut *tx)
        .await?;
        let state: Option<Option<String>> =
            sqlx::query_scalar("SELECT front_desk FROM conversations WHERE id = $1")
                .bind(item.conversation_id)
                .fetch_optional(&mut *tx)
                .await?;
        if earlier > 0 || state.as_ref() != Some(&context.state) {
            return Ok((DeskOutcome::Stale, Vec::new()));
        }
        let taken = sqlx::query("DELETE FROM automation_queue WHERE message_id = $1")
            .bind(item.message_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if taken == 0 {
            return Ok((DeskOutcome::Stale, Vec::new()));
        }
        let now = now_ms();
        let before = inbox::conversation(&mut tx, item.conversation_id).await?;
        sqlx::query(
            "UPDATE conversations SET front_desk = COALESCE($2, front_desk),
                 intake = COALESCE($3, intake), language = COALESCE($4, language),
                 status = CASE WHEN $5 THEN 'resolved' ELSE status END,
                 status_since = CASE WHEN $5 AND status <> 'resolved' THEN $6 ELSE status_since END,
                 updated_at = CASE WHEN $5 OR $3 IS NOT NULL THEN $6 ELSE updated_at END
             WHERE id = $1",
        )
        .bind(item.conversation_id)
        .bind(&plan.state)
        .bind(&plan.intake)
        .bind(&plan.language)
        .bind(plan.resolve)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let expires_at = crate::store::outbox::after_ms(now, expiry);
        let mut ids = Vec::with_capacity(plan.replies.len());
        for reply in &plan.replies {
            let reply = crate::store::outbox::Outbound {
                conversation_id: item.conversation_id,
                channel: &context.channel,
                agent: None,
                text: &reply.text,
                reply_to: None,
                files: &[],
                choices: &reply.choices,
                buttons: &[],
            };
            ids.push(outbox::queue_outbound(&mut tx, reply, now, expires_at).await?);
        }
        if plan.resolve && before.status != Status::Resolved {
            let actor = queue::Actor::automation("front_desk");
            let old = before.status.as_str();
            queue::record(
                &mut tx,
                item.conversation_id,
                actor,
                "status",
                Some(old),
                Some("resolved"),
                now,
            )
            .await?;
        }
        let canned = queue::apply_triage(
            &mut tx,
            item.conversation_id,
            &context.channel,
            &plan.triage,
            now,
            expires_at,
        )
        .await?;
        ids.extend(canned);
        let breaches = queue::refresh_sla(
            &mut tx,
            self.clock(),
            item.conversation_id,
            plan.resolve,
            now,
        )
        .await?;
        let mut events: Vec<Event> = breaches.into_iter().map(Event::SlaBreached).collect();
        if self.bus.listening() {
            for id in &ids {
                events.push(Event::MessageCreated(inbox::message(&mut tx, *id).await?));
            }
            let after = inbox::conversation(&mut tx, item.conversation_id).await?;
            if after != before {
                events.push(Event::ConversationUpdated(after));
            }
        }
        tx.commit().await?;
        Ok((DeskOutcome::Applied { replies: ids.len() }, events))
    }

    /// Notes that `agent_id` is at work (for the expected wait), at most once a minute.
    pub async fn touch_agent(&self, agent_id: i64) -> Result<()> {
        let now = now_ms();
        sqlx::query(
            "UPDATE agents SET last_active_at = $2
             WHERE id = $1 AND (last_active_at IS NULL OR last_active_at < $3)",
        )
        .bind(agent_id)
        .bind(now)
        .bind(now.saturating_sub(ACTIVE_WRITE_EVERY_MS))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    pub async fn add_notice(&self, notice: &NewKnownIssue, by: Option<i64>) -> Result<KnownIssue> {
        let mut tx = begin_write(&self.pool).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO notices (texts, keywords, categories, starts_at, ends_at, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        )
        .bind(json(&notice.texts)?)
        .bind(json(&notice.keywords)?)
        .bind(json(&notice.categories)?)
        .bind(notice.starts_at)
        .bind(notice.ends_at)
        .bind(by)
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await?;
        let row: KnownIssueRow = sqlx::query_as("SELECT * FROM notices WHERE id = $1")
            .bind(id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(row.into())
    }

    /// Notices not yet ended at `at` (ms), those already started first, newest first.
    pub async fn notices(&self, at: i64, include_future: bool) -> Result<Vec<KnownIssue>> {
        let rows: Vec<KnownIssueRow> = sqlx::query_as(
            "SELECT * FROM notices WHERE ends_at > $1 AND ($2 OR starts_at <= $1)
             ORDER BY starts_at DESC, id DESC LIMIT 200",
        )
        .bind(at)
        .bind(include_future)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(KnownIssue::from).collect())
    }

    pub async fn delete_notice(&self, id: i64) -> Result<()> {
        let mut tx = begin_write(&self.pool).await?;
        let n = sqlx::query("DELETE FROM notices WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}

fn json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Invalid(format!("encoding: {e}")))
}
