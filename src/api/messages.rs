//! Messages: a conversation's history, agents' replies (committed with their outbox row before
//! 202; delivery follows), and retrying or cancelling a reply.

use super::AppState;
use super::auth::AuthAgent;
use super::checks::{NewAttachment, check_text, decode_attachments};
use super::doc::{AgentErrors, BadRequest, JsonBodyErrors};
use super::error::{ApiError, ErrorBody, Json, Path, Query};
use crate::store::Message;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

const MAX_MESSAGE_PAGE: i64 = 500;

#[derive(Serialize, ToSchema)]
pub struct MessageList {
    /// Oldest first.
    messages: Vec<Message>,
    /// Pass as `before` for the page of older messages; null when these are the oldest.
    next_before: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessagesQuery {
    /// Page size (default 100): the newest messages before `before`.
    #[param(minimum = 1, maximum = 500)]
    limit: Option<i64>,
    /// A message id: only messages older than it (`next_before` of the previous page).
    before: Option<i64>,
}

/// A page of the conversation's messages, oldest first, edits and deletions included.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages",
    params(("id" = i64, Path, description = "The conversation's id"), MessagesQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "A page of messages", body = MessageList),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such conversation", body = ErrorBody),
        AgentErrors,
    ))]
pub async fn list_messages(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
    Query(query): Query<MessagesQuery>,
) -> Result<axum::Json<MessageList>, ApiError> {
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_MESSAGE_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit: must be 1 to {MAX_MESSAGE_PAGE}"
        )));
    }
    let (messages, next_before) = state.store.messages_page(id, query.before, limit).await?;
    Ok(axum::Json(MessageList {
        messages,
        next_before,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewReply {
    /// At most 100,000 characters; not blank, unless files are attached (then it may be empty).
    #[serde(default)]
    #[schema(max_length = 100_000)]
    text: String,
    /// Answer this specific message of the conversation (the channel quotes or threads it
    /// where it can).
    reply_to_message_id: Option<i64>,
    /// Files to send with the reply (at most 10; the request body limit applies).
    #[serde(default)]
    attachments: Vec<NewAttachment>,
}

#[derive(Serialize, ToSchema)]
pub struct MessageEnvelope {
    message: Message,
}

/// Decodes and stores the agent's files before the reply is committed.
async fn store_files(
    state: &AppState,
    attachments: Vec<NewAttachment>,
) -> Result<Vec<crate::store::PreparedAttachment>, ApiError> {
    let mut stored = Vec::with_capacity(attachments.len());
    for a in decode_attachments(attachments)? {
        let switchboard_core::AttachmentData::Bytes(data) = a.data else {
            continue;
        };
        let sha256 = state
            .files
            .put(&data)
            .await
            .map_err(|e| ApiError::from(crate::store::StoreError::Io(e)))?;
        stored.push(crate::store::PreparedAttachment {
            filename: a.filename,
            content_type: a.content_type,
            size: Some(data.len() as i64),
            sha256: Some(sha256),
            note: None,
        });
    }
    Ok(stored)
}

/// An agent's reply, sent through the conversation's channel.
///
/// The reply is committed before this answers; delivery follows (watch `message.updated`). With an `Idempotency-Key` header,
/// a retry of the same request returns the reply it created instead of sending a second one.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages",
    params(
        ("id" = i64, Path, description = "The conversation's id"),
        ("Idempotency-Key" = Option<String>, Header,
            description = "1 to 255 visible ASCII characters naming this request; a repeat returns the reply the first one created"),
    ),
    request_body = NewReply,
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The reply, committed and waiting for delivery", body = MessageEnvelope),
        (status = 404, description = "No such conversation", body = ErrorBody),
        (status = 409, description = "The Idempotency-Key was already used in another conversation", body = ErrorBody),
        (status = 422, description = "Refused, nothing queued (`code`: `unsafe_request`): the reply asks the customer for a seed phrase, private key, password, one-time code, remote access or funds, or holds a secret itself", body = ErrorBody),
        JsonBodyErrors,
        AgentErrors,
    ))]
pub async fn post_message(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(id): Path<i64>,
    headers: axum::http::HeaderMap,
    Json(body): Json<NewReply>,
) -> Result<(StatusCode, axum::Json<MessageEnvelope>), ApiError> {
    let key = idempotency_key(&headers)?;
    if body.attachments.is_empty() || !body.text.is_empty() {
        check_text(&body.text)?;
    }
    guard_reply(&state, &agent, id, &body.text).await?;
    let files = store_files(&state, body.attachments).await?;
    let message = state
        .store
        .create_agent_reply(
            id,
            &agent,
            &body.text,
            body.reply_to_message_id,
            &files,
            state.expiry,
            key.as_deref(),
        )
        .await?;
    state.dispatcher.wake();
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(MessageEnvelope { message }),
    ))
}

/// Refuses a reply that asks the customer for a secret (or holds one) before anything is
/// queued; the attempt is logged, counted and announced to admins, never its text.
pub(super) async fn guard_reply(
    state: &AppState,
    agent: &crate::store::Agent,
    conversation_id: i64,
    text: &str,
) -> Result<(), ApiError> {
    let Err(refusal) = switchboard_safety::check_reply(text) else {
        return Ok(());
    };
    let channel = match state.store.conversation(conversation_id).await {
        Ok(c) => c.channel,
        Err(crate::store::StoreError::NotFound) => return Err(ApiError::NotFound),
        Err(_) => String::new(),
    };
    tracing::warn!(
        agent = agent.id,
        conversation = conversation_id,
        category = refusal.category,
        "unsafe reply refused"
    );
    state.metrics.add(
        crate::metrics::UNSAFE_REPLIES,
        &channel,
        refusal.category,
        1,
    );
    state.bus.announce_refusal(crate::store::RefusedReply {
        agent_id: agent.id,
        agent_name: agent.name.clone(),
        conversation_id,
        category: refusal.category.to_owned(),
        at: chrono::Utc::now(),
    });
    Err(ApiError::Unsafe(refusal))
}

/// The optional `Idempotency-Key` header: 1 to 255 visible ASCII characters.
fn idempotency_key(headers: &axum::http::HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().unwrap_or_default().trim();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::BadRequest(
            "Idempotency-Key: 1 to 255 visible ASCII characters".into(),
        ));
    }
    Ok(Some(key.to_owned()))
}

/// Sends a failed reply again, or one waiting for its next attempt now.
#[utoipa::path(post, path = "/api/v1/messages/{id}/retry",
    params(("id" = i64, Path, description = "The outbound message's id")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "The reply, waiting for delivery again", body = MessageEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such outbound message (inbound messages are never sent)", body = ErrorBody),
        (status = 409, description = "Not a failed or waiting reply: delivered, cancelled, or being delivered right now", body = ErrorBody),
        AgentErrors,
    ))]
pub async fn retry_message(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<(StatusCode, axum::Json<MessageEnvelope>), ApiError> {
    let message = state.store.retry_message(id, state.expiry).await?;
    state.dispatcher.wake();
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(MessageEnvelope { message }),
    ))
}

/// Withdraws a reply that waits for delivery or failed.
///
/// For example one queued behind a retrying reply: it is never sent, and the conversation's
/// later replies go on.
#[utoipa::path(post, path = "/api/v1/messages/{id}/cancel",
    params(("id" = i64, Path, description = "The outbound message's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The reply, now cancelled", body = MessageEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such outbound message", body = ErrorBody),
        (status = 409, description = "Delivered, already cancelled, or being delivered right now", body = ErrorBody),
        AgentErrors,
    ))]
pub async fn cancel_message(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(id): Path<i64>,
) -> Result<axum::Json<MessageEnvelope>, ApiError> {
    let message = state.store.cancel_message(id, &agent).await?;
    state.dispatcher.wake();
    Ok(axum::Json(MessageEnvelope { message }))
}
