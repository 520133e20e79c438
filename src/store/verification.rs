//! Identity verification by one-time code: an agent asks the customer of a conversation to prove
//! they control an email address; the code goes to that address, the customer types it back in
//! the conversation. Only a salted hash of the code is stored, and it is good for a few tries.

use super::{Event, Result, Store, StoreError, from_millis, inbox, now_ms};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::time::Duration;
use utoipa::ToSchema;

/// How long a code is good for.
pub const CODE_LIFETIME: Duration = Duration::from_secs(600);
/// Wrong codes after which the attempt is locked.
pub const MAX_WRONG_CODES: i64 = 5;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Verification {
    pub id: i64,
    pub conversation_id: i64,
    pub email: String,
    /// `pending` (waiting for the code), `verified`, `locked` (too many wrong codes),
    /// `expired`, or `superseded` (a newer attempt replaced it).
    pub status: String,
    pub failed_attempts: i64,
    #[serde(serialize_with = "super::model::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "super::model::timestamp::serialize")]
    pub expires_at: DateTime<Utc>,
    #[serde(serialize_with = "super::model::timestamp::option::serialize")]
    pub finished_at: Option<DateTime<Utc>>,
}

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

/// A pending attempt of a thread, as ingest needs it to recognise the code.
#[derive(Debug, Clone)]
pub struct PendingCode {
    pub id: i64,
    hash: String,
    pub expires_at: i64,
}

impl PendingCode {
    /// Whether `code` is this attempt's code (compared in constant time).
    pub fn matches(&self, code: &str) -> bool {
        let Some((salt, _)) = self.hash.split_once('$') else {
            return false;
        };
        switchboard_core::secrets_match(hash_code(salt, code).as_bytes(), self.hash.as_bytes())
    }
}

/// What a customer's message did to a pending attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeOutcome {
    /// The message held the code: the contact is verified for the attempt's email.
    Matched,
    /// The message held a 6-digit number that is not the code.
    Wrong,
}

fn hash_code(salt: &str, code: &str) -> String {
    let digest = Sha256::digest(format!("{salt}:{code}").as_bytes());
    format!("{salt}${}", hex::encode(digest))
}

/// A uniformly random 6-digit code (rejection sampling: no modulo bias).
pub fn new_code() -> String {
    loop {
        let mut bytes = [0u8; 4];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        let n = u32::from_le_bytes(bytes);
        // 4,294,000,000 is the largest multiple of 1,000,000 below 2^32.
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

impl Store {
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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
            self.emit(|| vec![Event::ConversationUpdated(c)]);
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
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
            self.emit(|| vec![Event::ConversationUpdated(c)]);
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
    conn: &mut sqlx::SqliteConnection,
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
    let mut list = inbox::string_list(&flags);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits_and_vary() {
        let codes: std::collections::HashSet<String> = (0..200).map(|_| new_code()).collect();
        assert!(
            codes
                .iter()
                .all(|c| c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()))
        );
        assert!(
            codes.len() > 190,
            "200 codes gave only {} distinct",
            codes.len()
        );
    }

    #[test]
    fn a_code_matches_only_its_own_salted_hash() {
        let hash = hash_code("00ff", "123456");
        let pending = PendingCode {
            id: 1,
            hash,
            expires_at: 0,
        };
        assert!(pending.matches("123456"));
        assert!(!pending.matches("123457"));
        assert_ne!(hash_code("00fe", "123456"), hash_code("00ff", "123456"));
    }
}
