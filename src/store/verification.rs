//! Identity verification by one-time code: an agent asks the customer of a conversation to prove
//! they control an email address; the code goes to that address, the customer types it back in
//! the conversation. Only a salted hash of the code is stored, and it is good for a few tries.

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

/// A pending attempt of a thread, as ingest needs it to recognise the code.
#[derive(Debug, Clone)]
pub struct PendingCode {
    pub id: i64,
    pub(in crate::store) hash: String,
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

pub(in crate::store) fn hash_code(salt: &str, code: &str) -> String {
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
