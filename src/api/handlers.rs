//! Route handlers: parse and check the request, call the store, shape the answer. No SQL here.

use super::AppState;
use super::auth::{AdminAgent, AuthAgent, bearer};
use super::error::{ApiError, Json, Path, Query};
use crate::store::{
    AssigneeFilter, Contact, Conversation, ConversationFilter, ConversationPatch, Message,
    Priority, Status,
};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use std::convert::Infallible;
use switchboard_core::{Inbound, Sender};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use utoipa::{IntoParams, ToSchema};

/// Longest text accepted in a reply or an inbound message (characters).
const MAX_TEXT_CHARS: usize = 100_000;
/// Longest external id or thread id accepted from an `api` channel.
const MAX_ID_LEN: usize = 256;
/// Longest sender name and subject accepted from an `api` channel (characters).
const MAX_NAME_CHARS: usize = 256;
const MAX_SUBJECT_CHARS: usize = 998;

#[derive(Deserialize, IntoParams)]
pub struct ListQuery {
    /// open, pending, snoozed or resolved
    status: Option<String>,
    channel: Option<String>,
    /// An agent id, `me`, or `none` for unassigned.
    assignee: Option<String>,
    /// Text searched in subjects, contact names and message text.
    q: Option<String>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct ConversationList {
    conversations: Vec<Conversation>,
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/conversations", params(ListQuery),
    responses((status = 200, body = ConversationList), (status = 400), (status = 401)))]
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
    let filter = ConversationFilter {
        status,
        channel: query.channel.filter(|c| !c.is_empty()),
        assignee,
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

#[utoipa::path(get, path = "/api/v1/conversations/{id}",
    responses((status = 200, description = "`{\"conversation\": Conversation, \"participants\": [address]}`: participants are the people a reply is also sent to (email Cc)", body = Conversation), (status = 404)))]
pub async fn get_conversation(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let conversation = state.store.conversation(id).await?;
    let participants = state.store.participants(id).await?;
    Ok(axum::Json(
        json!({ "conversation": conversation, "participants": participants }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Participants {
    /// Email addresses; the list replaces the current one.
    participants: Vec<String>,
}

#[utoipa::path(get, path = "/api/v1/conversations/{id}/participants",
    responses((status = 200, description = "`{\"participants\": [address]}`: who a reply also goes to (email Cc)"), (status = 404)))]
pub async fn get_participants(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    state.store.conversation(id).await?;
    let participants = state.store.participants(id).await?;
    Ok(axum::Json(json!({ "participants": participants })))
}

/// Sets who else is copied on the conversation's replies (email Cc): an agent removes someone
/// copied by mistake, or adds a colleague of the customer.
#[utoipa::path(put, path = "/api/v1/conversations/{id}/participants", request_body = Participants,
    responses((status = 200, description = "`{\"participants\": [address]}`"), (status = 400), (status = 404)))]
pub async fn put_participants(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
    Json(body): Json<Participants>,
) -> Result<impl IntoResponse, ApiError> {
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
    Ok(axum::Json(json!({ "participants": participants })))
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchConversation {
    status: Option<Status>,
    priority: Option<Priority>,
    /// An agent id, or null to unassign.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<i64>)]
    assignee_id: Option<Option<i64>>,
}

#[utoipa::path(patch, path = "/api/v1/conversations/{id}", request_body = PatchConversation,
    responses((status = 200, body = Conversation), (status = 400), (status = 404)))]
pub async fn patch_conversation(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
    Json(body): Json<PatchConversation>,
) -> Result<impl IntoResponse, ApiError> {
    let patch = ConversationPatch {
        status: body.status,
        priority: body.priority,
        assignee_id: body.assignee_id,
    };
    let conversation = state.store.update_conversation(id, &patch).await?;
    Ok(axum::Json(json!({ "conversation": conversation })))
}

#[derive(Serialize, ToSchema)]
pub struct MessageList {
    /// Oldest first.
    messages: Vec<Message>,
    /// Pass as `before` for the page of older messages; null when these are the oldest.
    next_before: Option<i64>,
}

#[derive(Deserialize, IntoParams)]
pub struct MessagesQuery {
    /// Page size, 1 to 500 (default 100): the newest messages before `before`.
    limit: Option<i64>,
    /// A message id: only messages older than it (`next_before` of the previous page).
    before: Option<i64>,
}

const MAX_MESSAGE_PAGE: i64 = 500;

#[utoipa::path(get, path = "/api/v1/conversations/{id}/messages", params(MessagesQuery),
    responses((status = 200, body = MessageList), (status = 400), (status = 404)))]
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
    /// May be empty when files are attached.
    #[serde(default)]
    text: String,
    /// Answer this specific message (the channel quotes or threads it where it can).
    reply_to_message_id: Option<i64>,
    /// Files to send with the reply (at most 10; the request body limit applies).
    #[serde(default)]
    attachments: Vec<NewAttachment>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAttachment {
    filename: String,
    content_type: Option<String>,
    /// The file's bytes, base64 (standard alphabet, padded).
    data_base64: String,
}

const MAX_ATTACHMENTS: usize = 10;

/// Checks and decodes posted files: base64 data, a plain file name, a safe content type.
fn decode_attachments(
    attachments: Vec<NewAttachment>,
) -> Result<Vec<switchboard_core::InboundAttachment>, ApiError> {
    use base64::Engine;
    if attachments.len() > MAX_ATTACHMENTS {
        return Err(ApiError::BadRequest(format!(
            "attachments: at most {MAX_ATTACHMENTS}"
        )));
    }
    let mut decoded = Vec::with_capacity(attachments.len());
    for (i, a) in attachments.into_iter().enumerate() {
        let data = base64::engine::general_purpose::STANDARD
            .decode(a.data_base64.as_bytes())
            .map_err(|e| ApiError::BadRequest(format!("attachments[{i}].data_base64: {e}")))?;
        // Only the last path component, so a name can never point elsewhere.
        let filename: String = a
            .filename
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or("")
            .trim()
            .chars()
            .filter(|c| !c.is_control())
            .take(255)
            .collect();
        if filename.is_empty() {
            return Err(ApiError::BadRequest(format!(
                "attachments[{i}].filename: must not be empty"
            )));
        }
        let content_type = a
            .content_type
            .as_deref()
            .and_then(|c| c.parse::<mime_type::Checked>().ok())
            .map_or_else(|| "application/octet-stream".to_owned(), |c| c.0);
        decoded.push(switchboard_core::InboundAttachment {
            filename,
            content_type,
            data: switchboard_core::AttachmentData::Bytes(data.into()),
        });
    }
    Ok(decoded)
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
            .store
            .files()
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

#[derive(Serialize, ToSchema)]
pub struct MessageEnvelope {
    message: Message,
}

fn check_text(text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::BadRequest("text: must not be empty".into()));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::BadRequest(format!(
            "text: longer than {MAX_TEXT_CHARS} characters"
        )));
    }
    Ok(())
}

/// The reply is committed before this answers; delivery follows (watch `message.updated`).
/// With an `Idempotency-Key` header, a retry of the same request returns the reply it created
/// instead of sending a second one.
#[utoipa::path(post, path = "/api/v1/conversations/{id}/messages", request_body = NewReply,
    responses((status = 202, body = MessageEnvelope), (status = 400), (status = 404), (status = 413)))]
pub async fn post_message(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(id): Path<i64>,
    headers: axum::http::HeaderMap,
    Json(body): Json<NewReply>,
) -> Result<impl IntoResponse, ApiError> {
    let key = idempotency_key(&headers)?;
    if body.attachments.is_empty() || !body.text.is_empty() {
        check_text(&body.text)?;
    }
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

#[utoipa::path(post, path = "/api/v1/messages/{id}/retry",
    responses((status = 202, body = MessageEnvelope), (status = 404), (status = 409, description = "not a failed outbound message")))]
pub async fn retry_message(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let message = state.store.retry_message(id, state.expiry).await?;
    state.dispatcher.wake();
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(MessageEnvelope { message }),
    ))
}

/// Withdraws a reply that waits for delivery (for example behind a retrying one) or failed: it
/// is never sent, and the conversation's later replies go on.
#[utoipa::path(post, path = "/api/v1/messages/{id}/cancel",
    responses((status = 200, body = MessageEnvelope), (status = 404), (status = 409, description = "delivered, or being delivered right now")))]
pub async fn cancel_message(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let message = state.store.cancel_message(id, &agent).await?;
    state.dispatcher.wake();
    Ok(axum::Json(MessageEnvelope { message }))
}

/// Downloads an attachment. Always served as a download (never rendered inline) so a hostile
/// file cannot run script in the inbox's origin.
#[utoipa::path(get, path = "/api/v1/attachments/{id}",
    responses((status = 200, content_type = "application/octet-stream"), (status = 404)))]
pub async fn download_attachment(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let file = state.store.attachment(id).await?;
    let Some(path) = file
        .sha256
        .as_deref()
        .and_then(|sha| state.store.files().path_of(sha))
    else {
        let note = file
            .note
            .unwrap_or_else(|| "the file was not stored".into());
        return Err(ApiError::Rejected(StatusCode::NOT_FOUND, note));
    };
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| ApiError::Unexpected(anyhow::anyhow!("reading {}: {e}", path.display())))?;
    let safe_name: String = file
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let content_type = file
        .content_type
        .parse::<mime_type::Checked>()
        .map(|c| c.0)
        .unwrap_or_else(|_| "application/octet-stream".into());
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe_name}\""),
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
        ],
        bytes,
    )
        .into_response())
}

mod mime_type {
    /// A content type safe to echo in a header: `type/subtype` from a conservative alphabet.
    pub struct Checked(pub String);

    impl std::str::FromStr for Checked {
        type Err = ();
        fn from_str(s: &str) -> Result<Self, ()> {
            let essence = s
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            let ok = essence.split_once('/').is_some_and(|(a, b)| {
                let valid = |p: &str| {
                    !p.is_empty()
                        && p.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                };
                valid(a) && valid(b)
            });
            if ok { Ok(Self(essence)) } else { Err(()) }
        }
    }
}

#[utoipa::path(get, path = "/api/v1/contacts/{id}",
    responses((status = 200, description = "`{\"contact\": Contact}` with identities and conversations", body = Contact), (status = 404)))]
pub async fn get_contact(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<impl IntoResponse, ApiError> {
    let contact = state.store.contact(id).await?;
    Ok(axum::Json(json!({ "contact": contact })))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The contact that remains; `{id}` is merged into it.
    into: i64,
}

#[utoipa::path(post, path = "/api/v1/contacts/{id}/merge", request_body = MergeRequest,
    responses((status = 200, body = Contact), (status = 400), (status = 404), (status = 409)))]
pub async fn merge_contact(
    State(state): State<AppState>,
    _admin: AdminAgent,
    Path(id): Path<i64>,
    Json(body): Json<MergeRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let contact: Contact = state.store.merge_contacts(id, body.into).await?;
    Ok(axum::Json(json!({ "contact": contact })))
}

/// Server-Sent Events: `message.created`, `message.updated`, `conversation.updated`,
/// `note.created`; each event's data is `{"type": ..., "data": ...}`. A `resync` event means
/// events were missed. The stream ends when its token is revoked; streams are limited per agent
/// and in all (429 past the limit).
#[utoipa::path(get, path = "/api/v1/events",
    responses((status = 200, content_type = "text/event-stream"), (status = 401), (status = 429)))]
pub async fn events(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    headers: axum::http::HeaderMap,
) -> Result<Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    let guard = state.streams.open(agent.id)?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim().to_owned())
        .unwrap_or_default();
    let (store, mut marks) = (state.store.clone(), state.revocations.clone());
    // Ends the stream once the token no longer authenticates (revoked, agent disabled).
    let revoked = async move {
        loop {
            if marks.changed().await.is_err() {
                return std::future::pending().await;
            }
            if let Ok(None) = store.authenticate(&token).await {
                tracing::info!(agent = agent.id, "token revoked: closing its event stream");
                return;
            }
        }
    };
    let stream = BroadcastStream::new(state.store.subscribe())
        .map(move |item| {
            // The guard lives as long as the stream: dropping it frees the slot.
            let _slot = &guard;
            Ok(match item {
                Ok(published) => SseEvent::default()
                    .event(published.event.name())
                    .data(&published.json),
                Err(BroadcastStreamRecvError::Lagged(missed)) => SseEvent::default()
                    .event("resync")
                    .data(json!({ "missed": missed }).to_string()),
            })
        })
        .take_until(state.shutdown.clone().cancelled_owned())
        .take_until(Box::pin(revoked));
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[utoipa::path(get, path = "/api/v1/me", responses((status = 200, body = crate::store::Agent)))]
pub async fn me(AuthAgent(agent): AuthAgent) -> impl IntoResponse {
    axum::Json(json!({ "agent": agent }))
}

/// The secret of the `api` channel named in the path, as a bearer token.
pub struct ChannelSecret(String);

impl FromRequestParts<AppState> for ChannelSecret {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, ApiError> {
        bearer(parts)
            .map(|t| Self(t.to_owned()))
            .ok_or(ApiError::Unauthorized)
    }
}

#[derive(Deserialize, ToSchema)]
pub struct InboundSender {
    id: String,
    name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct InboundPost {
    /// Your id for the conversation (a chat session, a ticket): one conversation per thread.
    thread_id: String,
    /// Your id for this message: posting it again is harmless (stored once).
    message_id: String,
    sender: InboundSender,
    text: String,
    subject: Option<String>,
    /// Your id of the message this one answers.
    reply_to: Option<String>,
    /// When the customer sent it; a time more than 5 minutes ahead of the server's clock is
    /// stored as the time it arrived.
    sent_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Files the customer sent (at most 10; the request body limit applies).
    #[serde(default)]
    attachments: Vec<NewAttachment>,
}

#[derive(Serialize, ToSchema)]
pub struct InboundAccepted {
    message_id: Option<i64>,
    conversation_id: i64,
    /// True when this message_id was already stored: nothing new was written.
    duplicate: bool,
}

fn check_id(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() || value.len() > MAX_ID_LEN {
        return Err(ApiError::BadRequest(format!(
            "{field}: must be 1 to {MAX_ID_LEN} bytes"
        )));
    }
    Ok(())
}

/// Inbound message for an `api` channel, authenticated with that channel's secret.
#[utoipa::path(post, path = "/api/v1/channels/{name}/inbound", request_body = InboundPost,
    security(("channel_secret" = [])),
    responses((status = 201, body = InboundAccepted), (status = 200, description = "duplicate", body = InboundAccepted),
        (status = 400), (status = 401), (status = 404), (status = 413)))]
pub async fn channel_inbound(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ChannelSecret(secret): ChannelSecret,
    body: axum::body::Bytes,
) -> Result<impl IntoResponse, ApiError> {
    // Who is asking is settled before the body is even parsed.
    let channel = state.channels.api.get(&name).ok_or(ApiError::NotFound)?;
    if !channel.verify_secret(&secret) {
        return Err(ApiError::Unauthorized);
    }
    let body: InboundPost = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("invalid inbound message: {e}")))?;
    check_id("thread_id", &body.thread_id)?;
    check_id("message_id", &body.message_id)?;
    check_id("sender.id", &body.sender.id)?;
    check_len("sender.name", body.sender.name.as_deref(), MAX_NAME_CHARS)?;
    check_len("subject", body.subject.as_deref(), MAX_SUBJECT_CHARS)?;
    check_len("reply_to", body.reply_to.as_deref(), MAX_ID_LEN)?;
    if body.attachments.is_empty() || !body.text.is_empty() {
        check_text(&body.text)?;
    }
    let sender = Sender::new(
        body.sender.id.clone(),
        body.sender.name.unwrap_or(body.sender.id),
    );
    let inbound = Inbound {
        attachments: decode_attachments(body.attachments)?,
        subject: body.subject,
        reply_to: body.reply_to,
        sent_at: body.sent_at,
        ..Inbound::text(body.thread_id, body.message_id, sender, body.text)
    };
    let report = state.ingestor.ingest(&name, vec![inbound], None).await?;
    let item = report
        .items
        .first()
        .ok_or_else(|| ApiError::Unexpected(anyhow::anyhow!("ingest reported nothing")))?;
    let duplicate = item.message_id.is_none();
    let status = if duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        axum::Json(InboundAccepted {
            message_id: item.message_id,
            conversation_id: item.conversation_id,
            duplicate,
        }),
    ))
}

fn check_len(field: &str, value: Option<&str>, max_chars: usize) -> Result<(), ApiError> {
    if value.is_some_and(|v| v.chars().count() > max_chars) {
        return Err(ApiError::BadRequest(format!(
            "{field}: longer than {max_chars} characters"
        )));
    }
    Ok(())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    text: String,
}

#[derive(Serialize, ToSchema)]
pub struct NoteList {
    notes: Vec<crate::store::Note>,
}

/// Private notes agents leave on a conversation; never sent to the customer.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/notes",
    responses((status = 200, body = NoteList), (status = 404)))]
pub async fn list_notes(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<axum::Json<NoteList>, ApiError> {
    Ok(axum::Json(NoteList {
        notes: state.store.notes(id).await?,
    }))
}

#[utoipa::path(post, path = "/api/v1/conversations/{id}/notes", request_body = NewNote,
    responses((status = 201, description = "`{\"note\": Note}`", body = crate::store::Note), (status = 400), (status = 404)))]
pub async fn post_note(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(id): Path<i64>,
    Json(body): Json<NewNote>,
) -> Result<impl IntoResponse, ApiError> {
    check_text(&body.text)?;
    let note = state.store.add_note(id, &agent, &body.text).await?;
    Ok((StatusCode::CREATED, axum::Json(json!({ "note": note }))))
}

#[derive(Deserialize, IntoParams)]
pub struct CannedQuery {
    /// Text searched in shortcut, title and text.
    q: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CannedList {
    canned_answers: Vec<crate::store::CannedAnswer>,
}

#[utoipa::path(get, path = "/api/v1/canned_answers", params(CannedQuery),
    responses((status = 200, body = CannedList)))]
pub async fn list_canned(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Query(query): Query<CannedQuery>,
) -> Result<axum::Json<CannedList>, ApiError> {
    let q = query.q.filter(|q| !q.trim().is_empty());
    Ok(axum::Json(CannedList {
        canned_answers: state.store.canned_answers(q.as_deref()).await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedBody {
    shortcut: Option<String>,
    title: Option<String>,
    text: Option<String>,
}

fn check_shortcut(shortcut: &str) -> Result<(), ApiError> {
    let ok = !shortcut.is_empty()
        && shortcut.len() <= 64
        && shortcut
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(
            "shortcut: 1 to 64 letters, digits, '-' or '_'".into(),
        ))
    }
}

#[utoipa::path(post, path = "/api/v1/canned_answers", request_body = CannedBody,
    responses((status = 201, body = crate::store::CannedAnswer), (status = 400), (status = 409)))]
pub async fn post_canned(
    State(state): State<AppState>,
    AdminAgent(agent): AdminAgent,
    Json(body): Json<CannedBody>,
) -> Result<impl IntoResponse, ApiError> {
    let (Some(shortcut), Some(title), Some(text)) = (body.shortcut, body.title, body.text) else {
        return Err(ApiError::BadRequest(
            "shortcut, title and text are required".into(),
        ));
    };
    check_shortcut(&shortcut)?;
    check_text(&text)?;
    let answer = state
        .store
        .add_canned_answer(&agent, &shortcut, title.trim(), &text)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(json!({ "canned_answer": answer })),
    ))
}

#[utoipa::path(patch, path = "/api/v1/canned_answers/{id}", request_body = CannedBody,
    responses((status = 200, body = crate::store::CannedAnswer), (status = 400), (status = 404), (status = 409)))]
pub async fn patch_canned(
    State(state): State<AppState>,
    _admin: AdminAgent,
    Path(id): Path<i64>,
    Json(body): Json<CannedBody>,
) -> Result<impl IntoResponse, ApiError> {
    if let Some(shortcut) = &body.shortcut {
        check_shortcut(shortcut)?;
    }
    if let Some(text) = &body.text {
        check_text(text)?;
    }
    let answer = state
        .store
        .update_canned_answer(
            id,
            body.shortcut.as_deref(),
            body.title.as_deref().map(str::trim),
            body.text.as_deref(),
        )
        .await?;
    Ok(axum::Json(json!({ "canned_answer": answer })))
}

#[utoipa::path(delete, path = "/api/v1/canned_answers/{id}",
    responses((status = 204), (status = 404)))]
pub async fn delete_canned(
    State(state): State<AppState>,
    _admin: AdminAgent,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_canned_answer(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Telegram's webhook posts for a `telegram` channel in webhook mode, authenticated by the
/// `X-Telegram-Bot-Api-Secret-Token` header. Answered only after the update is stored.
pub async fn telegram_webhook(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<StatusCode, ApiError> {
    use switchboard_telegram::WebhookError;
    let channel = state
        .channels
        .telegram
        .get(&name)
        .ok_or(ApiError::NotFound)?;
    let secret = headers
        .get("x-telegram-bot-api-secret-token")
        .and_then(|v| v.to_str().ok());
    let sink = crate::channels::ChannelSink::new(
        name.clone(),
        state.ingestor.clone(),
        state.dispatcher.clone(),
        state.expiry,
    );
    match channel.handle_webhook(secret, &body, &sink).await {
        Ok(()) => Ok(StatusCode::OK),
        Err(WebhookError::Unauthorized) => Err(ApiError::Unauthorized),
        Err(WebhookError::BadRequest(e)) => Err(ApiError::BadRequest(e)),
        Err(WebhookError::NotReady) => {
            Err(ApiError::Unavailable("the bot is still starting".into()))
        }
        Err(WebhookError::Sink(e)) => Err(ApiError::Unavailable(e.to_string())),
    }
}

/// Liveness and readiness: 200 while the database answers; channel states for monitoring.
#[utoipa::path(get, path = "/healthz", security(()),
    responses((status = 200), (status = 503)))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    let database = state.store.health().await;
    let channels = state.health.lock().unwrap().clone();
    let degraded = channels
        .values()
        .any(|c| c.state == crate::channels::ChannelState::Failing);
    let status = match (&database, degraded) {
        (Err(_), _) => "down",
        (Ok(()), true) => "degraded",
        (Ok(()), false) => "ok",
    };
    let code = if database.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": status,
        "database": if database.is_ok() { "ok" } else { "unavailable" },
        "channels": channels,
    });
    (code, axum::Json(body)).into_response()
}

/// Prometheus metrics (text format); needs an agent token like the API (`bearer_token` in the
/// scrape config).
pub async fn metrics(
    State(state): State<AppState>,
    _admin: AdminAgent,
) -> Result<Response, ApiError> {
    use crate::metrics::escape;
    let mut gauges = Vec::new();
    for (channel, depth) in state.store.outbox_depth().await? {
        gauges.push((
            "switchboard_outbox_pending",
            "Replies waiting for delivery (scheduled or in flight).",
            format!("{{channel=\"{}\"}}", escape(&channel)),
            depth as f64,
        ));
    }
    let health = state.health.lock().unwrap().clone();
    for (channel, h) in &health {
        let up = if h.state == crate::channels::ChannelState::Running {
            1.0
        } else {
            0.0
        };
        gauges.push((
            "switchboard_channel_up",
            "1 while the channel's inbound loop runs, 0 while it fails or stopped.",
            format!("{{channel=\"{}\"}}", escape(channel)),
            up,
        ));
    }
    let text = state.store.metrics().render(&gauges);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

pub async fn openapi() -> impl IntoResponse {
    axum::Json(<super::ApiDoc as utoipa::OpenApi>::openapi())
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::Rejected(StatusCode::METHOD_NOT_ALLOWED, "method not allowed".into())
}
