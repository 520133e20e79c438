//! Agents' private notes on conversations and the team's canned answers.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Note {
    pub id: i64,
    pub conversation_id: i64,
    pub agent_id: i64,
    pub agent_name: String,
    pub text: String,
    #[serde(serialize_with = "super::model::timestamp::serialize")]
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CannedAnswer {
    pub id: i64,
    pub shortcut: String,
    pub title: String,
    pub text: String,
    #[serde(serialize_with = "super::model::timestamp::serialize")]
    pub updated_at: DateTime<Utc>,
}
