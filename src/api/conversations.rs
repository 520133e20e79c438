//! Conversations: the inbox list, one conversation, its workflow fields (status, priority,
//! assignee) and who else a reply is copied to (participants).

use super::AppState;
use super::auth::AuthAgent;
use super::doc::{AgentErrors, BadRequest, JsonBodyErrors};
use super::error::{ApiError, ErrorBody, Json, Path, Query};
use crate::store::{
    AssigneeFilter, Conversation, ConversationFilter, ConversationPatch, Priority, Status,
    TeamFilter,
};
use axum::extract::State;
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only conversations in this status.
    #[param(value_type = Option<Status>)]
    status: Option<String>,
    /// Only conversations of this channel (its configured name).
    channel: Option<String>,
    /// An agent id, `me`, or `none` for unassigned.
    assignee: Option<String>,
    /// A team id, or `none` for conversations without a team.
    team: Option<String>,
    /// Only conversations carrying this label.
    label: Option<String>,
    /// Only conversations of this priority.
    #[param(value_type = Option<Priority>)]
    priority: Option<String>,
    /// Only conversations in this language (ISO 639-1).
    language: Option<String>,
    /// Text searched in subjects, contact names and message text.
    q: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50); other values are brought into that range.
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    /// Most recently active first.
    conversations: Vec<Conversation>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// The inbox: conversations, most recently active first, filtered and paged.
#[utoipa::path(get, path = "/api/v1/conversations", params(ListQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of conversations", body = ConversationList),
        (status = 400, response = BadRequest),
        AgentErrors,
    ))]
pub async fn list_conversations(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Query(query): Query<ListQuery>,
) -> Result<axum::Json<ConversationList>, ApiError> {
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "status: unknown value {s:?} (open, pending, snoozed, resolved)"
            ))
        })?),
    };
    let assignee = match query.assignee.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some("none") => Some(AssigneeFilter::Unassigned),
        Some("me") => Some(AssigneeFilter::Agent(agent.id)),
        Some(id) => Some(AssigneeFilter::Agent(id.parse().map_err(|_| {
            ApiError::BadRequest(format!(
                "assignee: expected an agent id, `me` or `none`, got {id:?}"
            ))
        })?)),
    };
    let team = match query.team.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some("none") => Some(TeamFilter::None),
        Some(id) => Some(TeamFilter::Team(id.parse().map_err(|_| {
            ApiError::BadRequest(format!("team: expected a team id or `none`, got {id:?}"))
        })?)),
    };
    let priority = match query.priority.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(p) => Some(Priority::parse(p).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "priority: unknown value {p:?} (low, normal, high, urgent)"
            ))
        })?),
    };
    let bounded = |name: &str, value: Option<String>| -> Result<Option<String>, ApiError> {
        let value = value.filter(|v| !v.trim().is_empty());
        super::checks::check_no_nul(name, value.as_deref())?;
        if value.as_ref().is_some_and(|v| v.chars().count() > 100) {
            return Err(ApiError::BadRequest(format!(
                "{name}: at most 100 characters"
            )));
        }
        Ok(value.map(|v| v.trim().to_owned()))
    };
    let label = bounded("label", query.label)?;
    let language = bounded("language", query.language)?.map(|l| l.to_ascii_lowercase());
    let cursor = match query.cursor.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(c) => Some(
            c.split_once('.')
                .and_then(|(at, id)| Some((at.parse().ok()?, id.parse().ok()?)))
                .ok_or_else(|| {
                    ApiError::BadRequest("cursor: not a cursor this API returned".into())
                })?,
        ),
    };
    // Nothing stored holds a NUL (PostgreSQL cannot even compare one): say so, on both backends.
    super::checks::check_no_nul("q", query.q.as_deref())?;
    super::checks::check_no_nul("channel", query.channel.as_deref())?;
    let filter = ConversationFilter {
        status,
        channel: query.channel.filter(|c| !c.is_empty()),
        assignee,
        team,
        label,
        priority,
        language,
        query: query.q.filter(|q| !q.trim().is_empty()),
        cursor,
        limit: query.limit.unwrap_or(50),
    };
    let (conversations, next) = state.store.list_conversations(&filter).await?;
    Ok(axum::Json(ConversationList {
        conversations,
        next_cursor: next.map(|(at, id)| format!("{at}.{id}")),
    }))
}

#[derive(Serialize, ToSchema)]
pub struct ConversationDetail {
    conversation: Conversation,
    /// Email addresses a reply is also sent to (Cc).
    participants: Vec<String>,
}

/// One conversation, with the people its replies are copied to.
#[utoipa::path(get, path = "/api/v1/conversations/{id}",
    params(("id" = i64, Path, description = "The conversation's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The conversation", body = ConversationDetail),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such conversation", body = ErrorBody),
        AgentErrors,
    ))]
pub async fn get_conversation(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<axum::Json<ConversationDetail>, ApiError> {
    let conversation = state.store.conversation(id).await?;
    let participants = state.store.participants(id).await?;
    Ok(axum::Json(ConversationDetail {
        conversation,
        participants,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Participants {
    /// Email addresses; the list replaces the current one.
    participants: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ParticipantList {
    /// Email addresses a reply is also sent to (Cc).
    participants: Vec<String>,
}

/// Who else a reply to this conversation goes to (email Cc).
#[utoipa::path(get, path = "/api/v1/conversations/{id}/participants",
    params(("id" = i64, Path, description = "The conversation's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The participants", body = ParticipantList),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such conversation", body = ErrorBody),
        AgentErrors,
    ))]
pub async fn get_participants(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<axum::Json<ParticipantList>, ApiError> {
    state.store.conversation(id).await?;
    let participants = state.store.participants(id).await?;
    Ok(axum::Json(ParticipantList { participants }))
}

/// Sets who else is copied on the conversation's replies (email Cc).
///
/// An agent removes someone copied by mistake, or adds a colleague of the customer. The list
/// replaces the current one; addresses are trimmed, lower-cased and de-duplicated.
#[utoipa::path(put, path = "/api/v1/conversations/{id}/participants",
    params(("id" = i64, Path, description = "The conversation's id")),
    request_body = Participants,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The participants now", body = ParticipantList),
        (status = 404, description = "No such conversation", body = ErrorBody),
        JsonBodyErrors,
        AgentErrors,
    ))]
pub async fn put_participants(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
    Json(body): Json<Participants>,
) -> Result<axum::Json<ParticipantList>, ApiError> {
    let mut addresses: Vec<String> = Vec::with_capacity(body.participants.len());
    for (i, raw) in body.participants.iter().enumerate() {
        let address = raw.trim().to_ascii_lowercase();
        let valid = address.len() <= 254
            && address
                .split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
            && !address
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c));
        if !valid {
            return Err(ApiError::BadRequest(format!(
                "participants[{i}]: {raw:?} is not an email address"
            )));
        }
        if !addresses.contains(&address) {
            addresses.push(address);
        }
    }
    let participants = state.store.set_participants(id, &addresses).await?;
    Ok(axum::Json(ParticipantList { participants }))
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The fields to change; those left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchConversation {
    status: Option<Status>,
    priority: Option<Priority>,
    /// An active agent's id, or null to unassign.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    assignee_id: Option<Option<i64>>,
    /// A team's id, or null for none. Rules no longer change a team an agent chose.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    team_id: Option<Option<i64>>,
    /// The labels (replacing the list): each 1 to 40 characters without quotes, backslashes
    /// or commas; at most 50. New ones get a colour (`PUT /api/v1/labels/{name}` changes it).
    labels: Option<Vec<String>>,
    /// With status `snoozed` (or on a snoozed conversation): when it opens again, RFC 3339,
    /// in the future and within a year; null, or a snooze without it, lasts until the
    /// customer writes.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, format = DateTime)]
    snoozed_until: Option<Option<chrono::DateTime<chrono::Utc>>>,
    /// With status `resolved`: `false` resolves without the satisfaction survey (`[csat]`),
    /// which otherwise asks the customer to rate the help.
    survey: Option<bool>,
}

/// The longest snooze: a date further out is a typo, not a plan.
const MAX_SNOOZE_MS: i64 = 366 * 24 * 3_600_000;

#[derive(Serialize, ToSchema)]
pub struct ConversationEnvelope {
    conversation: Conversation,
}

/// Changes a conversation's status, priority, assignee, team or labels; each change is kept in
/// its timeline (`GET /api/v1/conversations/{id}/activity`).
#[utoipa::path(patch, path = "/api/v1/conversations/{id}",
    params(("id" = i64, Path, description = "The conversation's id")),
    request_body = PatchConversation,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The conversation after the change", body = ConversationEnvelope),
        (status = 404, description = "No such conversation", body = ErrorBody),
        JsonBodyErrors,
        AgentErrors,
    ))]
pub async fn patch_conversation(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(id): Path<i64>,
    Json(body): Json<PatchConversation>,
) -> Result<axum::Json<ConversationEnvelope>, ApiError> {
    let patch = ConversationPatch {
        status: body.status,
        priority: body.priority,
        assignee_id: body.assignee_id,
        team_id: body.team_id,
        labels: body.labels,
        survey: body.survey,
        snoozed_until: match body.snoozed_until {
            Some(Some(at)) => {
                let at = at.timestamp_millis();
                let now = crate::store::now_ms();
                if at <= now || at > now.saturating_add(MAX_SNOOZE_MS) {
                    return Err(ApiError::BadRequest(
                        "snoozed_until: in the future and within a year".into(),
                    ));
                }
                Some(Some(at))
            }
            Some(None) => Some(None),
            None => None,
        },
    };
    if patch.labels.as_ref().is_some_and(|l| l.len() > 50) {
        return Err(ApiError::BadRequest("labels: at most 50".into()));
    }
    let conversation = state
        .store
        .update_conversation(id, &patch, Some(&agent))
        .await?;
    Ok(axum::Json(ConversationEnvelope { conversation }))
}
