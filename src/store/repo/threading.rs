//! What threaded channels (email) need from the store: which conversation a reply belongs to,
//! the ids an outbound message must reference, and bounces arriving after a delivery.

use super::*;

/// How many of a conversation's latest external ids an outbound message references (plus the
/// first): enough for any client to thread, short enough for a header.
const REFERENCES_TAIL: i64 = 9;
/// The most people a reply is copied to.
const MAX_CC: i64 = 20;

impl Repo {
    /// The thread of `channel` holding one of `message_ids` or being one of `conversation_ids`,
    /// but only a conversation `sender_id` belongs to (its contact owns that identity on this
    /// channel, or it is one of its participants): a stranger citing someone else's Message-ID
    /// does not get into their conversation. The most recently active match wins.
    pub async fn find_thread(
        &self,
        channel: &str,
        sender_id: &str,
        message_ids: &[String],
        conversation_ids: &[i64],
    ) -> Result<Option<String>> {
        if message_ids.is_empty() && conversation_ids.is_empty() {
            return Ok(None);
        }
        let ids = serde_json::to_string(message_ids).expect("strings serialize");
        let conversations = serde_json::to_string(conversation_ids).expect("ints serialize");
        Ok(sqlx::query_scalar(sql::FIND_THREAD)
            .bind(channel)
            .bind(sender_id)
            .bind(ids)
            .bind(conversations)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// The people on a conversation besides its contact (email Cc), in the order they joined;
    /// at most `MAX_CC`, so a reply never turns into a mass mailing.
    pub async fn participants(&self, conversation_id: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(sql::PARTICIPANTS)
            .bind(conversation_id)
            .bind(MAX_CC)
            .fetch_all(&self.pool)
            .await?)
    }

    /// An agent's edit of who is copied on a conversation: `addresses` (already validated and
    /// lower-cased) replace the list, in this order. A later mail naming someone removed adds
    /// them again, as their mail client would.
    pub async fn set_participants(
        &self,
        conversation_id: i64,
        addresses: &[String],
    ) -> Result<Vec<String>> {
        if addresses.len() > MAX_CC as usize {
            return Err(StoreError::Invalid(format!(
                "participants: at most {MAX_CC}"
            )));
        }
        let mut tx = begin_write(&self.pool).await?;
        inbox::conversation(&mut tx, conversation_id).await?;
        sqlx::query("DELETE FROM conversation_participants WHERE conversation_id = $1")
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql::SET_PARTICIPANTS)
            .bind(conversation_id)
            .bind(serde_json::to_string(addresses).expect("strings serialize"))
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.participants(conversation_id).await
    }

    /// The thread and sender identity of the inbound message `external_id` of `channel`.
    pub async fn message_origin(
        &self,
        channel: &str,
        external_id: &str,
    ) -> Result<Option<(String, switchboard_core::Sender)>> {
        #[derive(sqlx::FromRow)]
        struct Origin {
            external_thread_id: String,
            external_id: String,
            display_name: String,
            username: Option<String>,
            language: Option<String>,
        }
        let row: Option<Origin> = sqlx::query_as(
            "SELECT c.external_thread_id, i.external_id, i.display_name, i.username, i.language
             FROM messages m
             JOIN conversations c ON c.id = m.conversation_id
             JOIN contact_identities i ON i.id = m.sender_identity_id
             WHERE m.channel = $1 AND m.external_id = $2",
        )
        .bind(channel)
        .bind(external_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|o| {
            let sender = switchboard_core::Sender {
                id: o.external_id,
                display_name: o.display_name,
                username: o.username,
                language: o.language,
            };
            (o.external_thread_id, sender)
        }))
    }

    /// External ids of a conversation's messages on its channel, oldest first: the first one and
    /// the latest few, excluding `message_id` itself (the one being sent).
    pub async fn references(&self, conversation_id: i64, message_id: i64) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar(
            "SELECT external_id FROM (
                 SELECT id, external_id FROM messages
                 WHERE conversation_id = $1 AND external_id IS NOT NULL AND id <> $2
                   AND id = (SELECT MIN(id) FROM messages
                             WHERE conversation_id = $1 AND external_id IS NOT NULL)
                 UNION
                 SELECT id, external_id FROM (
                     SELECT id, external_id FROM messages
                     WHERE conversation_id = $1 AND external_id IS NOT NULL AND id <> $2
                     ORDER BY id DESC LIMIT $3) AS latest) AS refs
             ORDER BY id",
        )
        .bind(conversation_id)
        .bind(message_id)
        .bind(REFERENCES_TAIL)
        .fetch_all(&self.pool)
        .await?)
    }

    /// A bounce for an outbound message already handed over: it becomes `failed` with `reason`,
    /// which the agent sees and can retry. Returns whether `channel` holds such a message.
    pub async fn mark_failed(
        &self,
        channel: &str,
        external_id: &str,
        reason: &str,
    ) -> Result<bool> {
        let mut tx = begin_write(&self.pool).await?;
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM messages
             WHERE channel = $1 AND external_id = $2 AND direction = 'outbound'",
        )
        .bind(channel)
        .bind(external_id)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(id) = id else {
            return Ok(false);
        };
        let now = now_ms();
        sqlx::query("UPDATE messages SET delivery_status = 'failed', error = $2 WHERE id = $1")
            .bind(id)
            .bind(reason)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE outbox SET status = 'failed', last_error = $2, updated_at = $3
             WHERE message_id = $1",
        )
        .bind(id)
        .bind(reason)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let message = inbox::message(&mut tx, id).await?;
        tx.commit().await?;
        self.bus.emit(|| vec![Event::MessageUpdated(message)]);
        Ok(true)
    }
}
