//! Identity verification by one-time code: the rows of attempts and verified emails.

use super::*;
use crate::store::verification::{CODE_LIFETIME, MAX_WRONG_CODES, hash_code};

#[derive(sqlx::FromRow)]
struct Row {
    id: i64,
    conversation_id: i64,
    email: String,
    status: String,
    failed_attempts: i64,
    created_at: i64,
    expires_at: i64,
    finished_at: Option<i64>,
}

impl From<Row> for Verification {
    fn from(r: Row) -> Self {
        Verification {
            id: r.id,
            conversation_id: r.conversation_id,
            email: r.email,
            status: r.status,
            failed_attempts: r.failed_attempts,
            created_at: from_millis(r.created_at),
            expires_at: from_millis(r.expires_at),
            finished_at: r.finished_at.map(from_millis),
        }
    }
}

impl Repo {
    /// Starts an attempt for `conversation_id` (any earlier pending one is superseded) and
    /// returns it; `code` is the code sent to the customer, stored only as a salted hash.
    pub async fn create_verification(
        &self,
        conversation_id: i64,
        email: &str,
        code: &str,
        agent_id: i64,
    ) -> Result<Verification> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| StoreError::Invalid(e.to_string()))?;
        let hash = hash_code(&hex::encode(salt), code);
        let now = now_ms();
        let expires = now.saturating_add(CODE_LIFETIME.as_millis() as i64);
        let mut tx = begin_write(&self.pool).await?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM conversations WHERE id = $1")
            .bind(conversation_id)
            .fetch_optional(&mut *tx)
            .await?;
        exists.ok_or(StoreError::NotFound)?;
        sqlx::query(
            "UPDATE verifications SET status = 'superseded', finished_at = $2
             WHERE conversation_id = $1 AND status = 'pending'",
        )
        .bind(conversation_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let row: Row = sqlx::query_as(
            "INSERT INTO verifications (conversation_id, email, code_sha256, requested_by,
                 created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             RETURNING id, conversation_id, email, status, failed_attempts, created_at,
                 expires_at, finished_at",
        )
        .bind(conversation_id)
        .bind(email)
        .bind(hash)
        .bind(agent_id)
        .bind(now)
        .bind(expires)
        .fetch_one(&mut *tx)
        .await?;
        // A new attempt lifts an earlier lock: the agent decided to try again.
        let changed = set_flag(&mut tx, conversation_id, "verification_locked", false).await?;
        let result = tx.commit().await.map_err(StoreError::from);
        self.writes.record(&result);
        result?;
        if let Some(c) = changed {
            self.bus.emit(|| vec![Event::ConversationUpdated(c)]);
        }
        Ok(row.into())
    }

    /// Marks an attempt whose code could not be sent as finished, so no code is waited for.
    pub async fn abandon_verification(&self, id: i64) -> Result<()> {
        sqlx::query(
            "UPDATE verifications SET status = 'expired', finished_at = $2
             WHERE id = $1 AND status = 'pending'",
        )
        .bind(id)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The latest attempt of a conversation.
    pub async fn latest_verification(&self, conversation_id: i64) -> Result<Option<Verification>> {
        let row: Option<Row> = sqlx::query_as(
            "SELECT id, conversation_id, email,
                 CASE WHEN status = 'pending' AND expires_at <= $2 THEN 'expired' ELSE status END
                     AS status,
                 failed_attempts, created_at, expires_at, finished_at
             FROM verifications WHERE conversation_id = $1 ORDER BY id DESC LIMIT 1",
        )
        .bind(conversation_id)
        .bind(now_ms())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Into::into))
    }

    /// The pending attempt of a channel thread, if any (expired ones included: their code is
    /// still removed from the message, it just verifies nothing).
    pub async fn pending_code(
        &self,
        channel: &str,
        thread_id: &str,
    ) -> Result<Option<PendingCode>> {
        let row: Option<(i64, String, i64)> = sqlx::query_as(
            "SELECT v.id, v.code_sha256, v.expires_at
             FROM verifications v JOIN conversations c ON c.id = v.conversation_id
             WHERE c.channel = $1 AND c.external_thread_id = $2 AND v.status = 'pending'
             ORDER BY v.id DESC LIMIT 1",
        )
        .bind(channel)
        .bind(thread_id)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(|(id, hash, expires_at)| PendingCode {
            id,
            hash,
            expires_at,
        }))
    }

    /// Records what a stored customer message did to attempt `id`: a match verifies the
    /// conversation's contact for the attempt's email; the fifth wrong code locks the attempt.
    pub async fn record_code(&self, id: i64, outcome: CodeOutcome) -> Result<Verification> {
        let now = now_ms();
        let mut tx = begin_write(&self.pool).await?;
        let row: Row = sqlx::query_as(
            "SELECT id, conversation_id, email, status, failed_attempts, created_at, expires_at,
                 finished_at FROM verifications WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound)?;
        if row.status != "pending" {
            return Ok(row.into());
        }
        let (status, failed) = if row.expires_at <= now {
            ("expired", row.failed_attempts)
        } else {
            match outcome {
                CodeOutcome::Matched => ("verified", row.failed_attempts),
                CodeOutcome::Wrong => {
                    let failed = row.failed_attempts.saturating_add(1);
                    let status = if failed >= MAX_WRONG_CODES {
                        "locked"
                    } else {
                        "pending"
                    };
                    (status, failed)
                }
            }
        };
        let finished = (status != "pending").then_some(now);
        sqlx::query(
            "UPDATE verifications SET status = $2, failed_attempts = $3, finished_at = $4
             WHERE id = $1",
        )
        .bind(id)
        .bind(status)
        .bind(failed)
        .bind(finished)
        .execute(&mut *tx)
        .await?;
        if status == "verified" {
            sqlx::query(
                "INSERT INTO contact_verified_emails (contact_id, email, verified_at, verification_id)
                 SELECT contact_id, $2, $3, $4 FROM conversations WHERE id = $1
                 ON CONFLICT (contact_id, email) DO UPDATE SET
                     verified_at = excluded.verified_at, verification_id = excluded.verification_id",
            )
            .bind(row.conversation_id)
            .bind(&row.email)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        let changed = match status {
            "locked" => set_flag(&mut tx, row.conversation_id, "verification_locked", true).await?,
            "verified" => Some(inbox::conversation(&mut tx, row.conversation_id).await?),
            _ => None,
        };
        let result = tx.commit().await.map_err(StoreError::from);
        self.writes.record(&result);
        result?;
        if let Some(c) = changed {
            self.bus.emit(|| vec![Event::ConversationUpdated(c)]);
        }
        let mut row = row;
        row.status = status.to_owned();
        row.failed_attempts = failed;
        row.finished_at = finished;
        Ok(row.into())
    }
}

/// Adds or removes one flag of a conversation; returns the conversation when it changed.
pub(crate) async fn set_flag(
    conn: &mut Conn,
    conversation_id: i64,
    flag: &str,
    on: bool,
) -> Result<Option<super::Conversation>> {
    let flags: Option<String> = sqlx::query_scalar("SELECT flags FROM conversations WHERE id = $1")
        .bind(conversation_id)
        .fetch_optional(&mut *conn)
        .await?;
    let Some(flags) = flags else {
        return Ok(None);
    };
    let mut list = string_list(&flags);
    let had = list.iter().any(|f| f == flag);
    if had == on {
        return Ok(None);
    }
    if on {
        list.push(flag.to_owned());
    } else {
        list.retain(|f| f != flag);
    }
    let json = serde_json::to_string(&list).map_err(|e| StoreError::Invalid(e.to_string()))?;
    sqlx::query("UPDATE conversations SET flags = $2, updated_at = $3 WHERE id = $1")
        .bind(conversation_id)
        .bind(json)
        .bind(now_ms())
        .execute(&mut *conn)
        .await?;
    Ok(Some(inbox::conversation(conn, conversation_id).await?))
}
