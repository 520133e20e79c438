//! Messages arriving over HTTP: the `api` channel's inbound route (a website widget or any
//! other system, authenticated by the channel's secret) and Telegram's webhook posts.

use super::AppState;
use super::auth::bearer;
use super::checks::{
    MAX_ID_LEN, NewAttachment, check_id, check_inbound_text, check_len, decode_attachments,
};
use super::doc::{BadRequest, TooLarge, Unauthorized, Unavailable};
use super::error::{ApiError, Body, ErrorBody, Path};
use axum::extract::{FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use switchboard_core::{Inbound, Sender};
use utoipa::ToSchema;

/// Longest sender name and subject accepted from an `api` channel (characters).
const MAX_NAME_CHARS: usize = 256;
const MAX_SUBJECT_CHARS: usize = 998;

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
    /// Your id for the customer (1 to 256 bytes, not blank): the contact's identity on this
    /// channel.
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    id: String,
    /// Shown to agents; the id when left out.
    #[schema(max_length = 256)]
    name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct InboundPost {
    /// Your id for the conversation (a chat session, a ticket), 1 to 256 bytes, not blank: one
    /// conversation per thread.
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    thread_id: String,
    /// Your id for this message, 1 to 256 bytes, not blank: posting it again is harmless
    /// (stored once).
    #[schema(min_length = 1, max_length = 256, pattern = r"\S")]
    message_id: String,
    sender: InboundSender,
    /// Not blank, unless files are attached (then it may be empty).
    #[schema(max_length = 100_000)]
    text: String,
    #[schema(max_length = 998)]
    subject: Option<String>,
    /// Your id of the message this one answers.
    #[schema(max_length = 256)]
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
    /// The stored message's id; null for a duplicate.
    message_id: Option<i64>,
    conversation_id: i64,
    /// True when this message_id was already stored: nothing new was written.
    duplicate: bool,
    /// True when a wallet secret (seed phrase, private key) was cut from the message before it
    /// was stored; the customer is sent a warning. A widget can tell them at once.
    secret_removed: bool,
    /// True when this message opened the conversation or reopened a resolved one: the front
    /// desk acknowledges it (through the webhook, like any reply).
    opened: bool,
}

/// A customer's message for an `api` channel.
///
/// Authenticated with that channel's secret as the bearer token, checked before the body is
/// read as JSON (no `Content-Type` needed).
#[utoipa::path(post, path = "/api/v1/channels/{name}/inbound",
    params(("name" = String, Path, description = "The `api` channel's configured name")),
    request_body = InboundPost,
    security(("channel_secret" = [])),
    responses(
        (status = 201, description = "Stored: a new message (and conversation, the first time)", body = InboundAccepted),
        (status = 200, description = "A duplicate of a stored message_id: nothing new was written", body = InboundAccepted),
        (status = 400, response = BadRequest),
        (status = 401, response = Unauthorized),
        (status = 404, description = "No `api` channel of that name", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 503, response = Unavailable),
    ))]
pub async fn channel_inbound(
    State(state): State<AppState>,
    Path(name): Path<String>,
    ChannelSecret(secret): ChannelSecret,
    Body(body): Body,
) -> Result<(StatusCode, axum::Json<InboundAccepted>), ApiError> {
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
        check_inbound_text(&body.text)?;
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
    let batch = vec![inbound];
    let origins = crate::safety::Origin::of(&batch);
    let report = state.ingestor.ingest(&name, batch, None).await?;
    crate::safety::after_ingest(&state.dispatcher, &name, &origins, &report);
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
            secret_removed: item.secret_removed,
            opened: item.opened,
        }),
    ))
}

/// Telegram's webhook posts, for a `telegram` channel in webhook mode.
///
/// Authenticated by the `X-Telegram-Bot-Api-Secret-Token` header (the channel's
/// `webhook_secret`). Answered only after the update is stored, so Telegram re-sends what
/// was not; a re-sent update is stored once.
#[utoipa::path(post, path = "/channels/telegram/{name}/webhook",
    params(("name" = String, Path, description = "The `telegram` channel's configured name")),
    request_body(content = serde_json::Value, description = "A Telegram `Update` object, as the Bot API sends it"),
    security(("telegram_secret" = [])),
    responses(
        (status = 200, description = "Stored (or skipped, for an update kind that is not a message)"),
        (status = 400, response = BadRequest),
        (status = 401, description = "No `X-Telegram-Bot-Api-Secret-Token`, or not the channel's `webhook_secret`", body = ErrorBody),
        (status = 404, description = "No `telegram` channel of that name", body = ErrorBody),
        (status = 413, response = TooLarge),
        (status = 503, response = Unavailable),
    ))]
pub async fn telegram_webhook(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: axum::http::HeaderMap,
    Body(body): Body,
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
