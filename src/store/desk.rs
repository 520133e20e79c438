//! What the front desk (`crate::automation`) reads of a conversation before it answers a
//! customer's message, and what it writes back: the store keeps the desk's state and its
//! automatic replies, and knows nothing of how they are decided.

/// A customer message the desk has yet to consider (a row of `automation_queue`).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DeskItem {
    pub message_id: i64,
    pub conversation_id: i64,
    /// `opened`, `reopened` or `message`.
    pub trigger: String,
}

/// Everything the desk decides on, read in one go.
#[derive(Debug, Clone)]
pub struct DeskContext {
    pub item: DeskItem,
    pub channel: String,
    pub status: String,
    pub text: String,
    /// Images attached to the message (a screenshot answers a screenshot question).
    pub images: i64,
    pub message_language: Option<String>,
    pub conversation_language: Option<String>,
    /// The desk's state (JSON) as last written, `None` before its first answer.
    pub state: Option<String>,
    pub intake: Option<String>,
    /// When an agent last wrote to the customer here (ms), if ever.
    pub last_agent_reply_at: Option<i64>,
    /// Automatic messages queued into this conversation in the last hour.
    pub auto_last_hour: i64,
    /// Other open conversations whose customer waits for an agent's answer (read for an
    /// acknowledgement only, else 0).
    pub waiting_ahead: i64,
    /// Agents who used the API or the inbox in the last 15 minutes (likewise).
    pub active_agents: i64,
    /// When this was read (ms).
    pub now: i64,
    /// The conversation as agents see it (priority, team, labels, assignee, verified emails).
    pub conversation: super::Conversation,
    /// Customer messages since the latest agent reply (or since the start), this one
    /// included, and when the first of them came (ms).
    pub unanswered: i64,
    pub unanswered_since: Option<i64>,
}

/// What the desk does about one message, applied in one transaction with the removal of its
/// queue row (so it happens exactly once).
#[derive(Debug, Clone, Default)]
pub struct DeskPlan {
    /// Automatic replies to queue, in order (through the outbox, marked automatic).
    pub replies: Vec<DeskReply>,
    /// The desk's new state (JSON).
    pub state: Option<String>,
    /// The intake answers (JSON), when they changed.
    pub intake: Option<String>,
    /// The conversation's language, when it is now known or changed.
    pub language: Option<String>,
    /// The customer said an article solved it: the conversation is resolved.
    pub resolve: bool,
    /// Priority, team, labels, assignee and canned answers automation sets.
    pub triage: Triage,
}

/// What automation (urgency, routing rules, assignment) changes of a conversation; the store
/// applies it with the limits in `repo/queue.rs::apply_triage`.
#[derive(Debug, Clone, Default)]
pub struct Triage {
    /// Raised to this, never lowered.
    pub priority: Option<TriageChange<super::Priority>>,
    /// A team by name, unless an agent chose one.
    pub team: Option<TriageChange<String>>,
    /// Without a team: the first team answering in this language.
    pub language: Option<String>,
    pub labels: Vec<TriageChange<String>>,
    /// An agent by email, when nobody is assigned.
    pub assignee: Option<TriageChange<String>>,
    /// Canned answers by shortcut, each sent at most once per conversation.
    pub canned: Vec<TriageChange<String>>,
    /// How many automatic messages may still be sent this hour.
    pub reply_budget: i64,
    /// Round-robin inside the conversation's team when nobody is assigned.
    pub auto_assign: Option<AssignPolicy>,
}

/// One change and who makes it (`rule:<name>`, `urgency`, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriageChange<T> {
    pub value: T,
    pub actor: String,
    /// Why, shown on the conversation (priority only).
    pub reason: Option<String>,
}

/// When pending conversations are followed up (ms after they became pending); `None`: never.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FollowUpPolicy {
    pub remind_after: Option<i64>,
    pub resolve_after: Option<i64>,
}

/// What the satisfaction survey needs inside the store, given once at start when `[csat]`
/// is on (without it no resolution asks for a survey). Times in ms.
#[derive(Debug, Clone, Default)]
pub struct SurveySettings {
    pub rating_window: i64,
    pub comment_window: i64,
    /// A contact is asked at most once in this time.
    pub min_interval: i64,
    /// Sent after a rating without a comment (inviting one), and after the comment, by
    /// language; English when the customer's language has none.
    pub thanks: std::collections::BTreeMap<String, String>,
    pub comment_thanks: std::collections::BTreeMap<String, String>,
    /// How long those stay worth delivering.
    pub expiry: std::time::Duration,
}

/// A category's or keyword's count of new conversations in the spike window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpikeCount {
    /// `category` or `keyword`.
    pub kind: &'static str,
    pub key: String,
    pub count: i64,
}

/// A conversation an agent resolved, due its survey.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyDue {
    pub conversation_id: i64,
    pub channel: String,
    pub language: Option<String>,
    /// When it was resolved: the survey belongs to this resolution.
    pub resolved_at: i64,
}

/// A pending conversation due its one reminder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reminder {
    pub conversation_id: i64,
    pub channel: String,
    /// The customer's language, for the reminder's text.
    pub language: Option<String>,
    /// Since when it is pending: the reminder belongs to this stretch.
    pub pending_since: i64,
}

/// Who may get a conversation automatically.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AssignPolicy {
    /// Open conversations an agent holds at most.
    pub capacity: i64,
    /// Seen by the API since then (ms).
    pub online_since: i64,
}

/// One automatic reply: its text, and the answers a channel with buttons offers as such.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeskReply {
    pub text: String,
    pub choices: Vec<String>,
}

impl From<String> for DeskReply {
    fn from(text: String) -> Self {
        Self {
            text,
            choices: Vec::new(),
        }
    }
}

/// What applying a plan did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskOutcome {
    Applied {
        replies: usize,
    },
    /// The queue row was gone (another daemon's desk took it) or the state changed since it
    /// was read: nothing written, read again.
    Stale,
}

/// A known-issue notice (`POST /api/v1/notices`).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct KnownIssue {
    pub id: i64,
    /// Per language (`en`, `zh`, ...).
    pub texts: std::collections::BTreeMap<String, String>,
    /// Shown to conversations whose customer used one of these words (case-insensitive)...
    pub keywords: Vec<String>,
    /// ... or whose intake category is one of these. Both empty: every conversation.
    pub categories: Vec<String>,
    #[serde(serialize_with = "super::model::timestamp::serialize")]
    pub starts_at: chrono::DateTime<chrono::Utc>,
    #[serde(serialize_with = "super::model::timestamp::serialize")]
    pub ends_at: chrono::DateTime<chrono::Utc>,
    pub created_by: Option<i64>,
    #[serde(serialize_with = "super::model::timestamp::serialize")]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A new notice as an admin posts it (times in ms).
#[derive(Debug, Clone)]
pub struct NewKnownIssue {
    pub texts: std::collections::BTreeMap<String, String>,
    pub keywords: Vec<String>,
    pub categories: Vec<String>,
    pub starts_at: i64,
    pub ends_at: i64,
}
