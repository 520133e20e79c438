//! The live event stream (Server-Sent Events) the inbox keeps open.

use super::AppState;
use super::auth::AuthAgent;
use super::doc::{AgentErrors, BadRequest, JsonBodyErrors};
use super::error::{ApiError, ErrorBody, Json, Path, Query};
use super::live::{Registration, resync_frame};
use crate::store::Published;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// `all` (the default): every event as it happens. `inbox`: what an inbox shows, at a cost
    /// that does not grow with the desk's traffic: every event of the focused conversation
    /// (within 100 ms), and for the list the latest `conversation.updated` of each changed
    /// conversation plus `conversation.activity` (`{"id", "last_message_at"}`) for new messages
    /// elsewhere, at most once a second under load: every real change (status, assignee, flags,
    /// a new conversation; up to 200) and the 25 newest rows that only moved (`list.more` with
    /// `{"more": n}` when some were left out: reload the list page). The
    /// stream starts with `ready` (`{"stream": id}`), the id to change its focus with.
    view: Option<View>,
    /// With `view=inbox`: the conversation to focus on first.
    #[param(minimum = 1)]
    conversation: Option<i64>,
}

#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum View {
    All,
    Inbox,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Focus {
    /// The conversation whose every event the stream then carries; null for none.
    conversation_id: Option<i64>,
}

/// Live events (Server-Sent Events), sent after each change committed.
///
/// Events: `message.created`, `message.updated`, `conversation.updated`, `note.created`,
/// `sla.breached` (`{"conversation_id", "target", "priority", "due_at"}`), `csat.rated`
/// (`{"conversation_id", "survey_id", "score", "comment"}`: a customer rated, or commented on
/// their rating), and for admins `reply.refused` (an agent's reply was refused as unsafe); each
/// event's data is `{"type": ..., "data": ...}` with the message, conversation or note as the
/// API returns it. A `resync` event (`{"missed": n}`) means events were missed: reload. The
/// stream ends when its token is revoked; streams are limited per agent and in all (429 past
/// the limit). `view=inbox` is the stream an inbox should open: see its parameter.
#[utoipa::path(get, path = "/api/v1/events",
    params(EventsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event stream, open until the client leaves, the token is revoked or the daemon stops",
            content_type = "text/event-stream"),
        (status = 400, response = BadRequest),
        AgentErrors,
    ))]
pub async fn events(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Query(query): Query<EventsQuery>,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
    if query.conversation.is_some() && query.view != Some(View::Inbox) {
        return Err(ApiError::BadRequest(
            "conversation: only with view=inbox".into(),
        ));
    }
    let slot = state.streams.open(agent.id)?;
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
    let admin = agent.role == crate::store::Role::Admin;
    let body = if query.view == Some(View::Inbox) {
        let registration = state
            .live
            .register(agent.id, admin, query.conversation)
            .ok_or_else(|| ApiError::TooManyRequests("too many open event streams".into()))?;
        let ready = json!({"type": "ready", "data": {"stream": registration.id}});
        let stream = InboxStream {
            ready: Some(format!("event: ready\ndata: {ready}\n\n").into()),
            registration,
            _slot: slot,
        };
        futures_util::stream::unfold(stream, |mut stream| async move {
            let chunk = stream.next_chunk().await?;
            Some((Ok::<_, std::convert::Infallible>(chunk), stream))
        })
        .boxed()
    } else {
        let stream = Stream {
            events: state.bus.subscribe(),
            last_write: None,
            admin,
            _slot: slot,
        };
        futures_util::stream::unfold(stream, |mut stream| async move {
            let chunk = stream.next_chunk().await?;
            Some((Ok::<_, std::convert::Infallible>(chunk), stream))
        })
        .boxed()
    };
    let body = body
        .take_until(state.shutdown.clone().cancelled_owned())
        .take_until(Box::pin(revoked));
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        axum::body::Body::from_stream(body),
    )
        .into_response())
}

/// Points an inbox stream (`view=inbox`) at another conversation: from now on it carries every
/// event of that conversation. Only the agent who opened the stream may.
#[utoipa::path(put, path = "/api/v1/events/{stream}/focus",
    params(("stream" = u64, Path, description = "The stream's id, from its `ready` event")),
    request_body = Focus,
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The stream follows that conversation now"),
        (status = 404, description = "No such open stream of this agent", body = ErrorBody),
        JsonBodyErrors,
        AgentErrors,
    ))]
pub async fn put_focus(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(stream): Path<u64>,
    Json(body): Json<Focus>,
) -> Result<StatusCode, ApiError> {
    if state.live.set_focus(stream, agent.id, body.conversation_id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound)
    }
}

/// An inbox stream: the list rounds, its conversation's frames and, for admins, theirs.
struct InboxStream {
    ready: Option<Bytes>,
    registration: Registration,
    _slot: super::StreamSlot,
}

/// The next item of an optional channel; never, without one.
async fn recv_opt(
    rx: &mut Option<broadcast::Receiver<Bytes>>,
) -> Result<Bytes, broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

impl InboxStream {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if let Some(ready) = self.ready.take() {
            return Some(ready);
        }
        use broadcast::error::RecvError;
        loop {
            let r = &mut self.registration;
            let slot = r.slot.clone();
            // Biased: a focus change first, then the conversation's own frames before a list
            // round (which may hold an older state of the same conversation).
            tokio::select! {
                biased;
                _ = slot.changed.notified() => {
                    r.take_focus_change();
                }
                frames = recv_opt(&mut r.focus) => match frames {
                    Ok(frames) => return Some(frames),
                    Err(RecvError::Lagged(n)) => return Some(resync_frame(n)),
                    // Nobody follows that conversation any more (focus moved meanwhile).
                    Err(RecvError::Closed) => r.focus = None,
                },
                frames = recv_opt(&mut r.admin) => match frames {
                    Ok(frames) => return Some(frames),
                    Err(RecvError::Lagged(n)) => return Some(resync_frame(n)),
                    Err(RecvError::Closed) => r.admin = None,
                },
                round = r.list.recv() => match round {
                    Ok(round) if round.missed > 0 => return Some(resync_frame(round.missed)),
                    Ok(round) if round.list.is_empty() => {}
                    Ok(round) => return Some(round.list.clone()),
                    Err(RecvError::Lagged(n)) => return Some(resync_frame(n)),
                    Err(RecvError::Closed) => return None,
                },
                _ = tokio::time::sleep(KEEP_ALIVE) => {
                    return Some(Bytes::from_static(b": keep-alive\n\n"));
                }
            }
        }
    }
}

/// Under load one stream writes at most this often: what arrived meanwhile goes out as one
/// chunk (one wake-up and one write per stream, not one per event). A quiet stream writes an
/// event the moment it comes.
const MIN_WRITE_INTERVAL: Duration = Duration::from_millis(50);
/// Sent when nothing happened for this long, so proxies keep the connection open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Most bytes gathered into one chunk.
const MAX_CHUNK: usize = 1024 * 1024;

struct Stream {
    events: broadcast::Receiver<Arc<Published>>,
    last_write: Option<Instant>,
    /// Admin streams also carry admin-only events (refused unsafe replies).
    admin: bool,
    /// Holds the stream's place under the limits until the stream is dropped.
    _slot: super::StreamSlot,
}

impl Stream {
    /// The next bytes to send: every event that arrived by now (pre-framed once for all
    /// streams), a `resync` when this stream fell behind, or a keep-alive comment.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        let mut chunk = BytesMut::new();
        match tokio::time::timeout(KEEP_ALIVE, self.events.recv()).await {
            Err(_) => return Some(Bytes::from_static(b": keep-alive\n\n")),
            Ok(Err(broadcast::error::RecvError::Closed)) => return None,
            Ok(first) => push(&mut chunk, first, self.admin),
        }
        if let Some(at) = self.last_write {
            tokio::time::sleep_until((at + MIN_WRITE_INTERVAL).into()).await;
        }
        while chunk.len() < MAX_CHUNK {
            match self.events.try_recv() {
                Err(
                    broadcast::error::TryRecvError::Empty | broadcast::error::TryRecvError::Closed,
                ) => break,
                Ok(event) => push(&mut chunk, Ok(event), self.admin),
                Err(broadcast::error::TryRecvError::Lagged(n)) => push(
                    &mut chunk,
                    Err(broadcast::error::RecvError::Lagged(n)),
                    self.admin,
                ),
            }
        }
        self.last_write = Some(Instant::now());
        Some(chunk.freeze())
    }
}

fn push(
    chunk: &mut BytesMut,
    item: Result<Arc<Published>, broadcast::error::RecvError>,
    admin: bool,
) {
    match item {
        Ok(published) if published.event.as_ref().is_some_and(|e| e.admin_only()) && !admin => {}
        Ok(published) => chunk.extend_from_slice(&published.frame),
        Err(broadcast::error::RecvError::Lagged(missed)) => chunk.extend_from_slice(
            format!("event: resync\ndata: {}\n\n", json!({ "missed": missed })).as_bytes(),
        ),
        Err(broadcast::error::RecvError::Closed) => {}
    }
}
