//! The persistent outbox: an agent reply is a message row plus an outbox row committed together;
//! the dispatcher claims due rows (one in flight per conversation, oldest first) and records
//! each attempt's outcome here.

use super::*;
use crate::store::outbox::{Outbound, after_ms, delivery_id};
use std::time::Duration;
use switchboard_core::Delivered;

/// Rows that may go now (`$1` is now): scheduled, or `sending` under a lease that ran out (its
/// attempt died or could not record its outcome), and first in their conversation with nothing
/// else in flight.
const HEADS: &str = "(o.status = 'scheduled' OR (o.status = 'sending' AND o.lease_until < $1))
    AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.conversation_id = o.conversation_id
                    AND p.id < o.id AND p.status IN ('scheduled', 'sending'))
    AND NOT EXISTS (SELECT 1 FROM outbox s WHERE s.conversation_id = o.conversation_id
                    AND s.id <> o.id AND s.status = 'sending' AND s.lease_until >= $1)";

/// When a row becomes claimable: its due time, or the end of the lease of a stale claim.
const READY_AT: &str = "CASE WHEN o.status = 'sending' THEN o.lease_until ELSE o.due_at END";

impl Repo {
    /// Commits an agent's reply and its outbox row in one transaction; delivery happens later.
    pub async fn create_reply(
        &self,
        conversation_id: i64,
        agent: &Agent,
        text: &str,
        reply_to_message_id: Option<i64>,
        expiry: Duration,
    ) -> Result<Message> {
        self.create_reply_with_files(
            conversation_id,
            Some(agent),
            text,
            reply_to_message_id,
            &[],
            expiry,
        )
        .await
    }

    /// `create_reply` with files the agent attached (already in the file store); without an
    /// agent it is an automatic reply.
    pub async fn create_reply_with_files(
        &self,
        conversation_id: i64,
        agent: Option<&Agent>,
        text: &str,
        reply_to_message_id: Option<i64>,
        files: &[PreparedAttachment],
        expiry: Duration,
    ) -> Result<Message> {
        self.commit_reply(
            conversation_id,
            agent,
            text,
            reply_to_message_id,
            files,
            expiry,
            None,
        )
        .await
    }

    /// An agent's reply; with an idempotency key, a repeated request (same agent and key)
    /// returns the reply the first one created instead of queueing another.
    #[allow(clippy::too_many_arguments)]
    pub async fn create_agent_reply(
        &self,
        conversation_id: i64,
        agent: &Agent,
        text: &str,
        reply_to_message_id: Option<i64>,
        files: &[PreparedAttachment],
        expiry: Duration,
        idempotency_key: Option<&str>,
    ) -> Result<Message> {
        self.commit_reply(
            conversation_id,
            Some(agent),
            text,
            reply_to_message_id,
            files,
            expiry,
            idempotency_key,
        )
        .await
    }

    /// Commits a reply, records the write's health, and announces it when it is new.
    #[allow(clippy::too_many_arguments)]
    async fn commit_reply(
        &self,
        conversation_id: i64,
        agent: Option<&Agent>,
        text: &str,
        reply_to_message_id: Option<i64>,
        files: &[PreparedAttachment],
        expiry: Duration,
        idempotency_key: Option<&str>,
    ) -> Result<Message> {
        let result = self
            .insert_reply(
                conversation_id,
                agent,
                text,
                reply_to_message_id,
                files,
                expiry,
                idempotency_key,
            )
            .await;
        self.writes.record(&result);
        let (message, created, answered) = result?;
        if created {
            let event = message.clone();
            self.bus.emit(|| {
                let mut events = vec![Event::MessageCreated(event)];
                events.extend(answered.map(Event::ConversationUpdated));
                events
            });
        }
        Ok(message)
    }

    /// Returns the message and whether it was created now (false: an idempotent repeat).
    #[allow(clippy::too_many_arguments)]
    async fn insert_reply(
        &self,
        conversation_id: i64,
        agent: Option<&Agent>,
        text: &str,
        reply_to_message_id: Option<i64>,
        files: &[PreparedAttachment],
        expiry: Duration,
        idempotency_key: Option<&str>,
    ) -> Result<(Message, bool, Option<Conversation>)> {
        let mut tx = begin_write(&self.pool).await?;
        if let (Some(key), Some(agent)) = (idempotency_key, agent) {
            let earlier: Option<(i64, i64)> = sqlx::query_as(
                "SELECT conversation_id, message_id FROM idempotency_keys
                 WHERE agent_id = $1 AND key = $2",
            )
            .bind(agent.id)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((earlier_conversation, message_id)) = earlier {
                if earlier_conversation != conversation_id {
                    return Err(StoreError::Conflict(
                        "Idempotency-Key was already used for a reply in another conversation"
                            .into(),
                    ));
                }
                let message = inbox::message(&mut tx, message_id).await?;
                tx.commit().await?;
                return Ok((message, false, None));
            }
        }
        let conversation = inbox::conversation(&mut tx, conversation_id).await?;
        let reply_to: Option<String> = match reply_to_message_id {
            None => None,
            Some(id) => {
                let found: Option<Option<String>> = sqlx::query_scalar(
                    "SELECT external_id FROM messages WHERE id = $1 AND conversation_id = $2",
                )
                .bind(id)
                .bind(conversation_id)
                .fetch_optional(&mut *tx)
                .await?;
                match found {
                    None => {
                        return Err(StoreError::Invalid(format!(
                            "reply_to_message_id {id}: not a message of this conversation"
                        )));
                    }
                    Some(external) => external,
                }
            }
        };
        let now = now_ms();
        let message_id = queue_outbound(
            &mut tx,
            Outbound {
                conversation_id,
                channel: &conversation.channel,
                agent,
                text,
                reply_to,
                files,
                choices: &[],
                buttons: &[],
            },
            now,
            after_ms(now, expiry),
        )
        .await?;
        let mut answered = None;
        if agent.is_some() {
            // An agent answered: the first response is given, nothing waits for the next.
            sqlx::query(
                "UPDATE conversations SET first_replied_at = COALESCE(first_replied_at, $2)
                 WHERE id = $1",
            )
            .bind(conversation_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            super::queue::refresh_sla(&mut tx, self.clock(), conversation_id, false, now).await?;
            // Inboxes show the stopped SLA clock without reloading (without SLA policies
            // nothing on the conversation changed that the message event does not say).
            if self.clock().is_some() {
                answered = Some(inbox::conversation(&mut tx, conversation_id).await?);
            }
        }
        if let (Some(key), Some(agent)) = (idempotency_key, agent) {
            sqlx::query(
                "INSERT INTO idempotency_keys (agent_id, key, conversation_id, message_id, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(agent.id)
            .bind(key)
            .bind(conversation_id)
            .bind(message_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        let message = inbox::message(&mut tx, message_id).await?;
        tx.commit().await?;
        Ok((message, true, answered))
    }

    /// Claims up to `limit` deliveries that are due, marking them `sending` for `lease`: a
    /// claim not finished by then is taken again.
    pub async fn claim_due(&self, limit: usize, lease: Duration) -> Result<Vec<OutboxJob>> {
        let mut tx = begin_write(&self.pool).await?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT o.id AS outbox_id, o.message_id, o.conversation_id, o.channel,
                 c.external_thread_id AS thread_id,
                 COALESCE(
                     (SELECT i.external_id FROM messages im
                      JOIN contact_identities i ON i.id = im.sender_identity_id
                      WHERE im.conversation_id = c.id AND im.direction = 'inbound'
                      ORDER BY im.id DESC LIMIT 1),
                     (SELECT i.external_id FROM contact_identities i
                      WHERE i.contact_id = c.contact_id AND i.channel = c.channel
                      ORDER BY i.id LIMIT 1)) AS recipient,
                 c.subject, m.text, m.reply_to_external_id AS reply_to, m.sender_name AS agent_name,
                 m.auto_generated, m.choices, m.buttons, o.attempts, o.expires_at, o.parts_sent, o.first_external_id,
                 o.delivery_id, o.status = 'sending' AS reclaimed
             FROM outbox o
             JOIN messages m ON m.id = o.message_id
             JOIN conversations c ON c.id = o.conversation_id
             WHERE {HEADS} AND {READY_AT} <= $1
             ORDER BY o.due_at, o.id LIMIT $2"
        ));
        let now = now_ms();
        let jobs: Vec<OutboxJob> = sqlx::query_as(sql)
            .bind(now)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(&mut *tx)
            .await?;
        for job in &jobs {
            sqlx::query(
                "UPDATE outbox SET status = 'sending', lease_until = $2, updated_at = $3 WHERE id = $1",
            )
            .bind(job.outbox_id)
            .bind(after_ms(now, lease))
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(jobs)
    }

    /// The files of an outbound message, in the order they were attached.
    pub async fn outbox_files(&self, message_id: i64) -> Result<Vec<OutboxFile>> {
        Ok(sqlx::query_as(
            "SELECT filename, content_type, sha256 FROM attachments
             WHERE message_id = $1 AND sha256 IS NOT NULL ORDER BY id",
        )
        .bind(message_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// When the next delivery becomes due (Unix ms), if any is waiting.
    pub async fn next_due_at(&self) -> Result<Option<i64>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT MIN({READY_AT}) FROM outbox o WHERE {HEADS}"
        ));
        // Rows whose lease has not run out yet are not heads now, but become ones at its end.
        let stale_at: Option<i64> =
            sqlx::query_scalar("SELECT MIN(lease_until) FROM outbox WHERE status = 'sending'")
                .fetch_one(&self.pool)
                .await?;
        let head: Option<i64> = sqlx::query_scalar(sql)
            .bind(now_ms())
            .fetch_one(&self.pool)
            .await?;
        Ok(match (head, stale_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Records an attempt's outcome, and how many parts have been delivered so far, on the
    /// outbox row and the message the agent sees.
    pub async fn finish_attempt(
        &self,
        job: &OutboxJob,
        decision: &RetryDecision,
        delivered: &Delivered,
    ) -> Result<Message> {
        let result = self.record_attempt(job, decision, delivered).await;
        self.writes.record(&result);
        let message = result?;
        let event = message.clone();
        self.bus.emit(|| vec![Event::MessageUpdated(event)]);
        Ok(message)
    }

    async fn record_attempt(
        &self,
        job: &OutboxJob,
        decision: &RetryDecision,
        delivered: &Delivered,
    ) -> Result<Message> {
        let mut tx = begin_write(&self.pool).await?;
        let now = now_ms();
        let (status, due, error, delivery, external) = match decision {
            RetryDecision::Delivered { external_id } => {
                ("delivered", now, None, "sent", external_id.as_deref())
            }
            RetryDecision::Retry { due_at, error } => {
                ("scheduled", *due_at, Some(error.as_str()), "pending", None)
            }
            RetryDecision::Failed { error } => {
                ("failed", now, Some(error.as_str()), "failed", None)
            }
        };
        let claimed = sqlx::query(
            "UPDATE outbox SET status = $2, attempts = attempts + 1, due_at = $3, last_error = $4,
                 updated_at = $5, parts_sent = $6, first_external_id = $7, lease_until = NULL
             WHERE id = $1 AND status = 'sending'",
        )
        .bind(job.outbox_id)
        .bind(status)
        .bind(due)
        .bind(error)
        .bind(now)
        .bind(delivered.parts as i64)
        .bind(delivered.first_external_id.as_deref())
        .execute(&mut *tx)
        .await?;
        if claimed.rows_affected() == 0 {
            // Another attempt took the row over after this one's lease ran out: its outcome
            // stands, this one's is only logged.
            tracing::warn!(
                message_id = job.message_id,
                "attempt outlived its lease; outcome not recorded"
            );
            let message = inbox::message(&mut tx, job.message_id).await?;
            tx.commit().await?;
            return Ok(message);
        }
        let sent_at = (delivery == "sent").then_some(now);
        // In a savepoint: on PostgreSQL a failed statement aborts the whole transaction.
        let mut attempt = sqlx::Connection::begin(&mut *tx).await?;
        let result = sqlx::query(
            "UPDATE messages SET delivery_status = $2, error = $3,
                 external_id = COALESCE($4, external_id), sent_at = COALESCE($5, sent_at)
             WHERE id = $1",
        )
        .bind(job.message_id)
        .bind(delivery)
        .bind(error)
        .bind(external)
        .bind(sent_at)
        .execute(&mut *attempt)
        .await;
        match result {
            Ok(_) => attempt.commit().await?,
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                attempt.rollback().await?;
                // The platform reused an id we already hold: keep the delivery, drop the id.
                tracing::warn!(
                    message_id = job.message_id,
                    "duplicate external id from channel ignored"
                );
                sqlx::query(
                    "UPDATE messages SET delivery_status = $2, error = $3, sent_at = COALESCE($4, sent_at)
                     WHERE id = $1",
                )
                .bind(job.message_id)
                .bind(delivery)
                .bind(error)
                .bind(sent_at)
                .execute(&mut *tx)
                .await?;
            }
            Err(e) => return Err(e.into()),
        }
        let message = inbox::message(&mut tx, job.message_id).await?;
        tx.commit().await?;
        Ok(message)
    }

    /// Saves how far an attempt in flight got. Saves may land out of order or after the attempt
    /// ended: only a larger count on a row still `sending` is written.
    pub async fn save_progress(&self, outbox_id: i64, delivered: &Delivered) -> Result<()> {
        sqlx::query(
            "UPDATE outbox SET parts_sent = $2,
                 first_external_id = COALESCE(first_external_id, $3), updated_at = $4
             WHERE id = $1 AND status = 'sending' AND parts_sent < $2",
        )
        .bind(outbox_id)
        .bind(delivered.parts as i64)
        .bind(delivered.first_external_id.as_deref())
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// After a crash a row may be left `sending`: deliver it again (at-least-once), from the
    /// part after the last one saved. Where several daemons share the database the rows in
    /// `sending` may be another daemon's live claims: they are left to their leases.
    pub async fn recover_in_flight(&self) -> Result<u64> {
        if SEVERAL_DAEMONS {
            return Ok(0);
        }
        let done = sqlx::query(
            "UPDATE outbox SET status = 'scheduled', lease_until = NULL WHERE status = 'sending'",
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected())
    }

    /// An agent's manual retry: a failed message is scheduled now with a fresh expiry; one
    /// waiting for its next automatic retry goes now instead.
    pub async fn retry_message(&self, message_id: i64, expiry: Duration) -> Result<Message> {
        let mut tx = begin_write(&self.pool).await?;
        let now = now_ms();
        match outbox_status(&mut tx, message_id).await?.as_str() {
            "failed" => {
                sqlx::query(
                    "UPDATE outbox SET status = 'scheduled', attempts = 0, due_at = $2,
                         expires_at = $3, updated_at = $2 WHERE message_id = $1",
                )
                .bind(message_id)
                .bind(now)
                .bind(after_ms(now, expiry))
                .execute(&mut *tx)
                .await?;
            }
            "scheduled" => {
                sqlx::query("UPDATE outbox SET due_at = $2, updated_at = $2 WHERE message_id = $1")
                    .bind(message_id)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            "sending" => {
                return Err(StoreError::Conflict(
                    "the message is being delivered right now".into(),
                ));
            }
            _ => {
                return Err(StoreError::Conflict(
                    "only a failed or waiting outbound message can be retried".into(),
                ));
            }
        }
        sqlx::query("UPDATE messages SET delivery_status = 'pending', error = NULL WHERE id = $1")
            .bind(message_id)
            .execute(&mut *tx)
            .await?;
        let message = inbox::message(&mut tx, message_id).await?;
        tx.commit().await?;
        let event = message.clone();
        self.bus.emit(|| vec![Event::MessageUpdated(event)]);
        Ok(message)
    }

    /// An agent withdraws a reply that is waiting or failed: it is never sent, and the replies
    /// queued behind it in the conversation go on. One being delivered right now cannot be.
    pub async fn cancel_message(&self, message_id: i64, by: &Agent) -> Result<Message> {
        let mut tx = begin_write(&self.pool).await?;
        match outbox_status(&mut tx, message_id).await?.as_str() {
            "scheduled" | "failed" => {}
            "sending" => {
                return Err(StoreError::Conflict(
                    "the message is being delivered right now and cannot be cancelled".into(),
                ));
            }
            other => {
                return Err(StoreError::Conflict(format!(
                    "a {other} message cannot be cancelled"
                )));
            }
        }
        let now = now_ms();
        sqlx::query(
            "UPDATE outbox SET status = 'cancelled', lease_until = NULL, updated_at = $2
             WHERE message_id = $1",
        )
        .bind(message_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        sqlx::query("UPDATE messages SET delivery_status = 'cancelled', error = $2 WHERE id = $1")
            .bind(message_id)
            .bind(format!("cancelled by {}", by.name))
            .execute(&mut *tx)
            .await?;
        let message = inbox::message(&mut tx, message_id).await?;
        tx.commit().await?;
        let event = message.clone();
        self.bus.emit(|| vec![Event::MessageUpdated(event)]);
        Ok(message)
    }
}

/// The outbox state of an outbound message; NotFound for an unknown or inbound message.
async fn outbox_status(conn: &mut Conn, message_id: i64) -> Result<String> {
    sqlx::query_scalar("SELECT status FROM outbox WHERE message_id = $1")
        .bind(message_id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)
}

/// Writes an outbound message and its outbox row in the caller's transaction, so the reply
/// exists exactly when whatever caused it does (the ingest of a message that held a secret
/// queues its warning this way). Returns the message id.
pub(super) async fn queue_outbound(
    conn: &mut Conn,
    reply: Outbound<'_>,
    now: i64,
    expires_at: i64,
) -> Result<i64> {
    let message_id: i64 = sqlx::query_scalar(
        "INSERT INTO messages (conversation_id, channel, direction, sender_agent_id, sender_name,
             text, reply_to_external_id, delivery_status, created_at, auto_generated, choices,
             buttons)
         VALUES ($1, $2, 'outbound', $3, $4, $5, $6, 'pending', $7, $8, $9, $10) RETURNING id",
    )
    .bind(reply.conversation_id)
    .bind(reply.channel)
    .bind(reply.agent.map(|a| a.id))
    .bind(reply.agent.map_or("Switchboard", |a| a.name.as_str()))
    .bind(reply.text)
    .bind(reply.reply_to)
    .bind(now)
    .bind(reply.agent.is_none())
    .bind(
        (!reply.choices.is_empty())
            .then(|| serde_json::to_string(reply.choices).unwrap_or_else(|_| "[]".into())),
    )
    .bind(
        (!reply.buttons.is_empty())
            .then(|| serde_json::to_string(reply.buttons).unwrap_or_else(|_| "[]".into())),
    )
    .fetch_one(&mut *conn)
    .await?;
    ingest::insert_attachments(conn, message_id, reply.files, now).await?;
    sqlx::query(
        "INSERT INTO outbox (message_id, conversation_id, channel, status, due_at, expires_at,
             created_at, updated_at, delivery_id)
         VALUES ($1, $2, $3, 'scheduled', $4, $5, $4, $4, $6)",
    )
    .bind(message_id)
    .bind(reply.conversation_id)
    .bind(reply.channel)
    .bind(now)
    .bind(expires_at)
    .bind(delivery_id())
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE conversations SET updated_at = $2,
             last_message_at = CASE WHEN last_message_at > $2 THEN last_message_at ELSE $2 END
         WHERE id = $1",
    )
    .bind(reply.conversation_id)
    .bind(now)
    .execute(&mut *conn)
    .await?;
    Ok(message_id)
}
