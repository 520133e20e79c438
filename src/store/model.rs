//! What the store returns: the shapes the agent API serializes and the events carry.

use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

/// Every API timestamp in one fixed form, RFC 3339 UTC with exactly three fraction digits
/// (`2026-12-01T10:00:42.000Z`), so clients may even compare them as text.
pub mod timestamp {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::Serializer;

    pub fn format(at: &DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(at))
    }

    pub mod option {
        use chrono::{DateTime, Utc};
        use serde::Serializer;

        pub fn serialize<S: Serializer>(
            at: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match at {
                Some(at) => s.serialize_str(&super::format(at)),
                None => s.serialize_none(),
            }
        }
    }
}

macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
        #[serde(rename_all = "lowercase")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some(Self::$variant),)+ _ => None }
            }
        }
    };
}

text_enum!(
    /// Where a conversation stands in the agents' workflow.
    Status { Open = "open", Pending = "pending", Snoozed = "snoozed", Resolved = "resolved" }
);
text_enum!(Priority { Low = "low", Normal = "normal", High = "high", Urgent = "urgent" });

impl Priority {
    /// Low 0 ... urgent 3: automation only ever raises a priority.
    pub fn rank(self) -> u8 {
        match self {
            Self::Low => 0,
            Self::Normal => 1,
            Self::High => 2,
            Self::Urgent => 3,
        }
    }
}
text_enum!(Direction { Inbound = "inbound", Outbound = "outbound" });
text_enum!(
    /// Delivery of an outbound message; inbound messages have none.
    DeliveryStatus { Pending = "pending", Sent = "sent", Failed = "failed", Cancelled = "cancelled" }
);
text_enum!(Role { Admin = "admin", Agent = "agent" });

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ContactRef {
    pub id: i64,
    pub display_name: String,
    /// Emails this contact proved to control by a one-time code (on any of its channels).
    pub verified_emails: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Conversation {
    pub id: i64,
    pub channel: String,
    pub status: Status,
    pub priority: Priority,
    /// Marks agents must see: `secret_removed` (a wallet secret was cut from a customer
    /// message), `verification_locked` (too many wrong one-time codes).
    pub flags: Vec<String>,
    pub subject: Option<String>,
    pub contact: ContactRef,
    pub assignee_id: Option<i64>,
    /// The team the conversation belongs to (its id and name).
    pub team_id: Option<i64>,
    pub team: Option<String>,
    /// Free-text labels, in the order they were added.
    pub labels: Vec<String>,
    /// Why automation raised the priority (`urgency: stolen`, `rule: vip`), when it did.
    pub priority_reason: Option<String>,
    /// The service-level clock, when a policy applies to the conversation's priority.
    pub sla: Option<Sla>,
    /// When a snoozed conversation opens again by itself (null: when the customer writes).
    #[serde(serialize_with = "timestamp::option::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub snoozed_until: Option<DateTime<Utc>>,
    /// The customer's latest satisfaction rating of this conversation (null: none yet).
    pub csat: Option<Csat>,
    /// The customer's language (ISO 639-1, `zh`, `en`, ...): the channel's hint, else
    /// detected from their messages; automatic texts are sent in it.
    pub language: Option<String>,
    /// What the front desk asked and the customer answered, validated:
    /// `{"category": "deposit", "chain": "tron", "tx_hash": "...", "tx_url": "..."}`.
    #[schema(value_type = Option<Object>)]
    pub intake: Option<serde_json::Value>,
    #[serde(serialize_with = "timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    #[serde(serialize_with = "timestamp::serialize")]
    pub last_message_at: DateTime<Utc>,
}

/// Due times of the SLA policy of the conversation's priority (counted in business hours
/// when configured so) and whether any was missed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Sla {
    /// When the first agent reply is due; stays after it was given.
    #[serde(serialize_with = "timestamp::option::serialize")]
    pub first_response_due_at: Option<DateTime<Utc>>,
    /// When the answer to the customer's latest unanswered message is due (after an agent
    /// has replied once); null while nothing waits.
    #[serde(serialize_with = "timestamp::option::serialize")]
    pub next_response_due_at: Option<DateTime<Utc>>,
    /// When the conversation should be resolved.
    #[serde(serialize_with = "timestamp::option::serialize")]
    pub resolution_due_at: Option<DateTime<Utc>>,
    /// When an agent first replied.
    #[serde(serialize_with = "timestamp::option::serialize")]
    pub first_response_at: Option<DateTime<Utc>>,
    /// Any target missed.
    pub breached: bool,
    /// Which: `first_response`, `next_response`, `resolution`.
    pub breaches: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MessageSender {
    pub display_name: String,
    /// Set on outbound messages: the agent who wrote it.
    pub agent_id: Option<i64>,
    /// Set on inbound messages: the contact who wrote it.
    pub contact_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Attachment {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: Option<i64>,
    /// Why the file's bytes are not available, when they are not.
    pub note: Option<String>,
    /// Download path (authenticated), present when the bytes are stored.
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Message {
    pub id: i64,
    pub conversation_id: i64,
    pub direction: Direction,
    pub text: String,
    /// Sanitized by the channel adapter before it was stored.
    pub html: Option<String>,
    pub sender: MessageSender,
    #[serde(serialize_with = "timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    /// When the platform says it was sent (inbound) or when it was delivered (outbound).
    #[serde(serialize_with = "timestamp::option::serialize")]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "timestamp::option::serialize")]
    pub edited_at: Option<DateTime<Utc>>,
    #[serde(serialize_with = "timestamp::option::serialize")]
    pub deleted_at: Option<DateTime<Utc>>,
    pub delivery_status: Option<DeliveryStatus>,
    /// Why delivery failed or is being retried.
    pub error: Option<String>,
    pub external_id: Option<String>,
    pub reply_to: Option<String>,
    /// Auto-replies and bulk mail: stored, never answered by automation.
    pub auto_generated: bool,
    /// Inbound: the language the channel told or that was detected (ISO 639-1), when known.
    pub language: Option<String>,
    pub attachments: Vec<Attachment>,
    /// Earlier versions of an edited or deleted message, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub revisions: Vec<Revision>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Revision {
    pub kind: String,
    pub text: String,
    #[serde(serialize_with = "timestamp::serialize")]
    pub replaced_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema, sqlx::FromRow)]
pub struct Identity {
    pub channel: String,
    pub external_id: String,
    pub display_name: String,
    pub username: Option<String>,
    pub language: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Contact {
    pub id: i64,
    pub display_name: String,
    #[serde(serialize_with = "timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    pub identities: Vec<Identity>,
    /// Emails proved by a one-time code, with when.
    pub verified_emails: Vec<VerifiedEmail>,
    pub conversations: Vec<Conversation>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct VerifiedEmail {
    pub email: String,
    #[serde(serialize_with = "timestamp::serialize")]
    pub verified_at: DateTime<Utc>,
    /// The conversation in which the customer entered the code.
    pub conversation_id: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Agent {
    pub id: i64,
    pub name: String,
    pub email: String,
    pub role: Role,
    #[serde(serialize_with = "timestamp::serialize")]
    pub created_at: DateTime<Utc>,
    pub disabled: bool,
}

/// Live updates for inboxes (`GET /api/v1/events`), sent only after the change committed.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "data")]
pub enum Event {
    #[serde(rename = "message.created")]
    MessageCreated(Message),
    #[serde(rename = "message.updated")]
    MessageUpdated(Message),
    #[serde(rename = "conversation.updated")]
    ConversationUpdated(Conversation),
    #[serde(rename = "note.created")]
    NoteCreated(super::Note),
    /// An agent's reply was refused for asking the customer for a secret (admins only).
    #[serde(rename = "reply.refused")]
    ReplyRefused(RefusedReply),
    /// A service-level target was missed (once per target and conversation).
    #[serde(rename = "sla.breached")]
    SlaBreached(SlaBreach),
    /// A customer rated a conversation, or commented on their rating.
    #[serde(rename = "csat.rated")]
    CsatRated(CsatRated),
    /// A spike episode started (once per episode).
    #[serde(rename = "spike.detected")]
    SpikeDetected(Spike),
}

/// A spike: more new conversations of one intake category, or mentioning one keyword, than
/// the threshold within the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Spike {
    pub id: i64,
    /// `category` or `keyword`.
    pub kind: String,
    /// The category id or the keyword.
    pub key: String,
    /// New conversations in the window: when it started (event), or at most (list).
    pub count: i64,
    #[serde(serialize_with = "timestamp::serialize")]
    #[schema(value_type = String, format = DateTime)]
    pub started_at: DateTime<Utc>,
    /// When the count fell back to the threshold; null while it lasts.
    #[serde(serialize_with = "timestamp::option::serialize")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub ended_at: Option<DateTime<Utc>>,
    /// The webhook's outcome (`delivered`, or why not); null while sending or without one.
    pub webhook: Option<String>,
}

/// A satisfaction rating: 1 (poor) to 5 (excellent), and what the customer added.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Csat {
    #[schema(minimum = 1, maximum = 5)]
    pub score: u8,
    pub comment: Option<String>,
}

/// A customer answered a satisfaction survey (a rating, or the comment after it).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct CsatRated {
    pub conversation_id: i64,
    pub survey_id: i64,
    #[schema(minimum = 1, maximum = 5)]
    pub score: u8,
    pub comment: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SlaBreach {
    pub conversation_id: i64,
    /// `first_response`, `next_response` or `resolution`.
    pub target: String,
    pub priority: Priority,
    #[serde(serialize_with = "timestamp::serialize")]
    pub due_at: DateTime<Utc>,
}

/// A refused unsafe reply, as admins see it: who, where and what kind, never the text.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RefusedReply {
    pub agent_id: i64,
    pub agent_name: String,
    pub conversation_id: i64,
    pub category: String,
    #[serde(serialize_with = "timestamp::serialize")]
    pub at: DateTime<Utc>,
}

impl Event {
    pub fn name(&self) -> &'static str {
        match self {
            Self::MessageCreated(_) => "message.created",
            Self::MessageUpdated(_) => "message.updated",
            Self::ConversationUpdated(_) => "conversation.updated",
            Self::NoteCreated(_) => "note.created",
            Self::ReplyRefused(_) => "reply.refused",
            Self::SlaBreached(_) => "sla.breached",
            Self::CsatRated(_) => "csat.rated",
            Self::SpikeDetected(_) => "spike.detected",
        }
    }

    /// Events only admins' streams carry.
    pub fn admin_only(&self) -> bool {
        // A spike is an operational alert: admins (and the webhook) act on it.
        matches!(self, Self::ReplyRefused(_) | Self::SpikeDetected(_))
    }
}

/// Filters for the inbox list.
#[derive(Debug, Clone)]
pub struct ConversationFilter {
    pub status: Option<Status>,
    pub channel: Option<String>,
    pub assignee: Option<AssigneeFilter>,
    pub team: Option<TeamFilter>,
    pub label: Option<String>,
    pub priority: Option<Priority>,
    pub language: Option<String>,
    pub query: Option<String>,
    pub cursor: Option<(i64, i64)>,
    pub limit: i64,
}

impl Default for ConversationFilter {
    fn default() -> Self {
        Self {
            status: None,
            channel: None,
            assignee: None,
            team: None,
            label: None,
            priority: None,
            language: None,
            query: None,
            cursor: None,
            limit: 50,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssigneeFilter {
    Unassigned,
    Agent(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamFilter {
    None,
    Team(i64),
}

/// A partial update of a conversation; `assignee_id: Some(None)` unassigns, likewise
/// `team_id`; `labels` replaces the list.
#[derive(Debug, Clone, Default)]
pub struct ConversationPatch {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    pub assignee_id: Option<Option<i64>>,
    pub team_id: Option<Option<i64>>,
    pub labels: Option<Vec<String>>,
    /// With status `snoozed` (ms since the epoch): when it opens again; `Some(None)` or a
    /// snooze without it: until the customer writes.
    pub snoozed_until: Option<Option<i64>>,
    /// `Some(false)`: a resolution without the satisfaction survey.
    pub survey: Option<bool>,
}

/// One change of a conversation's workflow fields, for its timeline.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Activity {
    pub id: i64,
    pub conversation_id: i64,
    /// The agent who made the change; null when automation did.
    pub agent_id: Option<i64>,
    /// `agent`, `rule:<name>`, `urgency`, `assignment`, `front_desk`, `follow_up`.
    pub actor: String,
    /// `status`, `priority`, `assignee`, `team`, `labels`, `canned_answer`.
    pub field: String,
    pub old_value: Option<String>,
    pub new_value: Option<String>,
    #[serde(serialize_with = "timestamp::serialize")]
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Team {
    pub id: i64,
    pub name: String,
    /// Languages (ISO 639-1) the team answers in.
    pub languages: Vec<String>,
    /// New conversations go round-robin to online members below capacity.
    pub auto_assign: bool,
    /// Agent ids.
    pub members: Vec<i64>,
    /// `config` (written from the configuration at start; not changeable by the API) or `api`.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Label {
    pub name: String,
    /// `#rrggbb`.
    pub color: String,
}

/// Where an attachment's bytes are, for download.
#[derive(Debug, Clone)]
pub struct AttachmentFile {
    pub filename: String,
    pub content_type: String,
    pub sha256: Option<String>,
    pub note: Option<String>,
}

/// A JSON array of strings kept in a text column; anything else reads as empty.
pub(crate) fn string_list(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// A team as the configuration file defines it (members by email).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamSpec {
    pub name: String,
    pub languages: Vec<String>,
    pub members: Vec<String>,
    pub auto_assign: bool,
}

/// A team as the API writes it (members by agent id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TeamSpecById {
    pub name: String,
    pub languages: Vec<String>,
    pub members: Vec<i64>,
    pub auto_assign: bool,
}
