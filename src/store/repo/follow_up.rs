//! Follow-ups: a pending conversation (one that waits on the customer) gets one reminder after
//! a while and is resolved after longer without an answer; a snoozed one opens again at its
//! time. Every change is conditional on the state it was decided from, so of several daemons
//! one makes it, once.

use super::*;
use crate::store::outbox::{Outbound, after_ms};
use crate::store::{FollowUpPolicy, Reminder};
use std::time::Duration;

const ACTOR: &str = "follow_up";

impl super::Repo {
    /// Pending conversations due their reminder, longest waiting first. Those already due to
    /// be resolved are left to the resolution: a reminder just before closing helps nobody.
    pub async fn reminders_due(
        &self,
        policy: &FollowUpPolicy,
        limit: i64,
    ) -> Result<Vec<Reminder>> {
        let Some(after) = policy.remind_after else {
            return Ok(Vec::new());
        };
        let now = now_ms();
        let resolving_before = policy
            .resolve_after
            .map_or(i64::MIN, |r| now.saturating_sub(r));
        let rows: Vec<(i64, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT id, channel, language, status_since FROM conversations
             WHERE status = 'pending' AND reminded_at IS NULL
               AND status_since <= $1 AND status_since > $2
             ORDER BY status_since LIMIT $3",
        )
        .bind(now.saturating_sub(after))
        .bind(resolving_before)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(
                |(conversation_id, channel, language, pending_since)| Reminder {
                    conversation_id,
                    channel,
                    language,
                    pending_since,
                },
            )
            .collect())
    }

    /// Sends `reminder` with `text` (automatic, through the outbox) unless the conversation
    /// left that pending stretch meanwhile or another daemon reminded it; returns whether it did.
    pub async fn send_reminder(
        &self,
        reminder: &Reminder,
        text: &str,
        expiry: Duration,
    ) -> Result<bool> {
        let result = self.send_reminder_tx(reminder, text, expiry).await;
        self.writes.record(&result);
        let Some((message, conversation)) = result? else {
            return Ok(false);
        };
        self.bus.emit(|| {
            // The conversation event tells an open inbox to read the new timeline entry.
            vec![
                Event::MessageCreated(message),
                Event::ConversationUpdated(conversation),
            ]
        });
        Ok(true)
    }

    async fn send_reminder_tx(
        &self,
        reminder: &Reminder,
        text: &str,
        expiry: Duration,
    ) -> Result<Option<(Message, Conversation)>> {
        let now = now_ms();
        let mut tx = begin_write(&self.pool).await?;
        let taken = sqlx::query(
            "UPDATE conversations SET reminded_at = $3 WHERE id = $1 AND status = 'pending'
               AND status_since = $2 AND reminded_at IS NULL",
        )
        .bind(reminder.conversation_id)
        .bind(reminder.pending_since)
        .bind(now)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if taken == 0 {
            return Ok(None);
        }
        let reply = Outbound::automatic(reminder.conversation_id, &reminder.channel, text);
        let id = outbox::queue_outbound(&mut tx, reply, now, after_ms(now, expiry)).await?;
        let actor = queue::Actor::automation(ACTOR);
        queue::record(
            &mut tx,
            reminder.conversation_id,
            actor,
            "reminder",
            None,
            Some("sent"),
            now,
        )
        .await?;
        let message = inbox::message(&mut tx, id).await?;
        let conversation = inbox::conversation(&mut tx, reminder.conversation_id).await?;
        tx.commit().await?;
        Ok(Some((message, conversation)))
    }

    /// Resolves pending conversations unanswered for the policy's time and opens snoozed ones
    /// whose time came, oldest first; returns the conversations changed.
    pub async fn follow_up_sweep(
        &self,
        policy: &FollowUpPolicy,
        limit: i64,
    ) -> Result<Vec<Conversation>> {
        let now = now_ms();
        let mut due: Vec<(i64, i64, Status)> = Vec::new();
        if let Some(after) = policy.resolve_after {
            let rows: Vec<(i64, i64)> = sqlx::query_as(
                "SELECT id, status_since FROM conversations
                 WHERE status = 'pending' AND status_since <= $1 ORDER BY status_since LIMIT $2",
            )
            .bind(now.saturating_sub(after))
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            due.extend(rows.into_iter().map(|(id, at)| (id, at, Status::Pending)));
        }
        let rows: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT id, snoozed_until FROM conversations
             WHERE snoozed_until <= $1 AND status = 'snoozed' ORDER BY snoozed_until LIMIT $2",
        )
        .bind(now)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        due.extend(rows.into_iter().map(|(id, at)| (id, at, Status::Snoozed)));
        let mut changed = Vec::new();
        for (id, seen, from) in due {
            let result = self.follow_up_tx(id, seen, from).await;
            self.writes.record(&result);
            let Some((conversation, breaches)) = result? else {
                continue;
            };
            let event = conversation.clone();
            self.bus.emit(|| {
                let mut events: Vec<Event> = breaches.into_iter().map(Event::SlaBreached).collect();
                events.push(Event::ConversationUpdated(event));
                events
            });
            changed.push(conversation);
        }
        Ok(changed)
    }

    /// One conversation's step: pending → resolved, or snoozed → open, if it is still in the
    /// state read (`seen`: its pending start or its wake-up time).
    async fn follow_up_tx(
        &self,
        id: i64,
        seen: i64,
        from: Status,
    ) -> Result<Option<(Conversation, Vec<crate::store::SlaBreach>)>> {
        let now = now_ms();
        let mut tx = begin_write(&self.pool).await?;
        let (sql, to) = match from {
            Status::Pending => (
                "UPDATE conversations SET status = 'resolved', status_since = $3,
                     reminded_at = NULL, updated_at = $3
                 WHERE id = $1 AND status = 'pending' AND status_since = $2",
                Status::Resolved,
            ),
            _ => (
                "UPDATE conversations SET status = 'open', status_since = $3,
                     snoozed_until = NULL, updated_at = $3
                 WHERE id = $1 AND status = 'snoozed' AND snoozed_until = $2",
                Status::Open,
            ),
        };
        let taken = sqlx::query(sql)
            .bind(id)
            .bind(seen)
            .bind(now)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if taken == 0 {
            return Ok(None);
        }
        let actor = queue::Actor::automation(ACTOR);
        queue::record(
            &mut tx,
            id,
            actor,
            "status",
            Some(from.as_str()),
            Some(to.as_str()),
            now,
        )
        .await?;
        let resolving = to == Status::Resolved;
        let breaches = queue::refresh_sla(&mut tx, self.clock(), id, resolving, now).await?;
        let conversation = inbox::conversation(&mut tx, id).await?;
        tx.commit().await?;
        Ok(Some((conversation, breaches)))
    }
}
