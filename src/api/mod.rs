//! The agent HTTP API (axum): inbox, conversations, messages, contacts, live events, and the
//! `api` channel's inbound endpoint. The contract is public and described at `/api/openapi.json`.

mod auth;
mod error;
mod handlers;

pub use auth::AuthLimiter;
pub use error::ApiError;

use crate::channels::{Channels, HealthMap};
use crate::outbox::Dispatcher;
use crate::store::{Ingestor, Store};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use utoipa::OpenApi;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub ingestor: Ingestor,
    pub channels: Channels,
    pub dispatcher: Dispatcher,
    /// Outbox expiry given to new and manually retried replies.
    pub expiry: Duration,
    pub auth: Arc<AuthLimiter>,
    /// Moves when a token is revoked or an agent disabled: open streams re-check their token.
    pub revocations: tokio::sync::watch::Receiver<(i64, i64, i64)>,
    pub health: HealthMap,
    /// Ends live streams (SSE) so a graceful shutdown is not held open by them.
    pub shutdown: CancellationToken,
    pub streams: Arc<StreamSlots>,
}

/// Counts open event streams, in all and per agent.
pub struct StreamSlots {
    total: usize,
    per_agent: usize,
    open: std::sync::Mutex<(usize, std::collections::HashMap<i64, usize>)>,
}

impl StreamSlots {
    pub fn new(total: usize, per_agent: usize) -> Self {
        Self {
            total,
            per_agent,
            open: Default::default(),
        }
    }

    /// A slot for one more stream of `agent`, or 429.
    pub fn open(self: &Arc<Self>, agent: i64) -> Result<StreamSlot, ApiError> {
        let mut open = self.open.lock().unwrap();
        let (all, by_agent) = &mut *open;
        let mine = by_agent.entry(agent).or_insert(0);
        if *all >= self.total || *mine >= self.per_agent {
            return Err(ApiError::TooManyRequests(format!(
                "too many open event streams (at most {} per agent, {} in all)",
                self.per_agent, self.total
            )));
        }
        *all += 1;
        *mine += 1;
        Ok(StreamSlot {
            slots: self.clone(),
            agent,
        })
    }
}

pub struct StreamSlot {
    slots: Arc<StreamSlots>,
    agent: i64,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.slots.open.lock().unwrap();
        let (all, by_agent) = &mut *open;
        *all = all.saturating_sub(1);
        if let Some(mine) = by_agent.get_mut(&self.agent) {
            *mine = mine.saturating_sub(1);
            if *mine == 0 {
                by_agent.remove(&self.agent);
            }
        }
    }
}

pub fn router(state: AppState, max_body_bytes: usize, request_timeout: Duration) -> Router {
    let v1 = Router::new()
        .route("/conversations", get(handlers::list_conversations))
        .route(
            "/conversations/{id}",
            get(handlers::get_conversation).patch(handlers::patch_conversation),
        )
        .route(
            "/conversations/{id}/messages",
            get(handlers::list_messages).post(handlers::post_message),
        )
        .route(
            "/conversations/{id}/participants",
            get(handlers::get_participants).put(handlers::put_participants),
        )
        .route(
            "/conversations/{id}/notes",
            get(handlers::list_notes).post(handlers::post_note),
        )
        .route(
            "/canned_answers",
            get(handlers::list_canned).post(handlers::post_canned),
        )
        .route(
            "/canned_answers/{id}",
            axum::routing::patch(handlers::patch_canned).delete(handlers::delete_canned),
        )
        .route("/messages/{id}/retry", post(handlers::retry_message))
        .route("/messages/{id}/cancel", post(handlers::cancel_message))
        .route("/attachments/{id}", get(handlers::download_attachment))
        .route("/contacts/{id}", get(handlers::get_contact))
        .route("/contacts/{id}/merge", post(handlers::merge_contact))
        .route("/events", get(handlers::events))
        .route("/me", get(handlers::me))
        .route("/channels/{name}/inbound", post(handlers::channel_inbound));
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .route("/api/openapi.json", get(handlers::openapi))
        .route(
            "/channels/telegram/{name}/webhook",
            post(handlers::telegram_webhook),
        )
        .nest("/api/v1", v1)
        .merge(crate::web::router())
        .fallback(handlers::not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        // Bounds the whole handler, body reading included; an event stream's response is
        // ready at once, so its long body is not cut.
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Switchboard agent API", description = "Inbox, conversations, replies and live events. Every /api/v1 route needs `Authorization: Bearer <token>` (from `switchboard agent add`), except a channel's inbound route, which takes that channel's secret."),
    paths(
        handlers::list_conversations,
        handlers::get_conversation,
        handlers::patch_conversation,
        handlers::get_participants,
        handlers::put_participants,
        handlers::list_messages,
        handlers::post_message,
        handlers::retry_message,
        handlers::cancel_message,
        handlers::list_notes,
        handlers::post_note,
        handlers::list_canned,
        handlers::post_canned,
        handlers::patch_canned,
        handlers::delete_canned,
        handlers::download_attachment,
        handlers::get_contact,
        handlers::merge_contact,
        handlers::events,
        handlers::me,
        handlers::channel_inbound,
        handlers::healthz,
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        openapi
            .components
            .get_or_insert_default()
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}
