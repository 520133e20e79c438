//! The live event stream (Server-Sent Events) the inbox keeps open.

use super::AppState;
use super::auth::AuthAgent;
use super::doc::AgentErrors;
use super::error::ApiError;
use crate::store::Published;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// Live events (Server-Sent Events), sent after each change committed.
///
/// Events: `message.created`, `message.updated`, `conversation.updated`, `note.created`, and
/// for admins `reply.refused` (an agent's reply was refused as unsafe); each
/// event's data is `{"type": ..., "data": ...}` with the message, conversation or note as the
/// API returns it. A `resync` event (`{"missed": n}`) means events were missed: reload. The
/// stream ends when its token is revoked; streams are limited per agent and in all (429 past
/// the limit).
#[utoipa::path(get, path = "/api/v1/events",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The event stream, open until the client leaves, the token is revoked or the daemon stops",
            content_type = "text/event-stream"),
        AgentErrors,
    ))]
pub async fn events(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    headers: axum::http::HeaderMap,
) -> Result<Response, ApiError> {
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
    let stream = Stream {
        events: state.store.subscribe(),
        last_write: None,
        admin: agent.role == crate::store::Role::Admin,
        _slot: slot,
    };
    let body = futures_util::stream::unfold(stream, |mut stream| async move {
        let chunk = stream.next_chunk().await?;
        Some((Ok::<_, std::convert::Infallible>(chunk), stream))
    })
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
        Ok(published) if published.event.admin_only() && !admin => {}
        Ok(published) => chunk.extend_from_slice(&published.frame),
        Err(broadcast::error::RecvError::Lagged(missed)) => chunk.extend_from_slice(
            format!("event: resync\ndata: {}\n\n", json!({ "missed": missed })).as_bytes(),
        ),
        Err(broadcast::error::RecvError::Closed) => {}
    }
}
