//! The agent HTTP API (axum): inbox, conversations, messages, contacts, live events, and the
//! `api` channel's inbound endpoint. The contract is public and described at `/api/openapi.json`.

mod agents;
mod attachments;
mod auth;
mod canned_answers;
mod checks;
mod contacts;
mod conversations;
mod doc;
mod error;
mod events;
mod inbound;
mod knowledge;
mod live;
mod messages;
mod notes;
mod notices;
mod ops;
mod queue;
mod reports;
mod verification;

pub use auth::AuthLimiter;
pub use doc::ApiDoc;
pub use error::{ApiError, ErrorBody};
pub use live::Live;

use crate::channels::{Channels, HealthMap};
use crate::delivery::Dispatcher;
use crate::store::{EventBus, FileStore, Ingestor, Store};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::response::IntoResponse;
use axum::routing::{delete, get, patch, post, put};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Live events, for the event streams (the store announces on it).
    pub bus: EventBus,
    pub metrics: crate::metrics::Metrics,
    /// Attachment bytes, by hash.
    pub files: FileStore,
    pub ingestor: Ingestor,
    /// Help-center articles (`[knowledge] dir`), when configured.
    pub knowledge: Option<crate::automation::knowledge::Knowledge>,
    pub channels: Channels,
    pub dispatcher: Dispatcher,
    /// Outbox expiry given to new and manually retried replies.
    pub expiry: Duration,
    /// What customers are told by the safety guard and the verification flow.
    pub texts: Arc<crate::safety::Texts>,
    /// The email channel that sends one-time codes (`[verification] email_channel`).
    pub verification_channel: Option<String>,
    pub auth: Arc<AuthLimiter>,
    /// Moves when a token is revoked or an agent disabled: open streams re-check their token.
    pub revocations: tokio::sync::watch::Receiver<(i64, i64, i64)>,
    pub health: HealthMap,
    /// Ends live streams (SSE) so a graceful shutdown is not held open by them.
    pub shutdown: CancellationToken,
    pub streams: Arc<StreamSlots>,
    /// The inbox view of the live events (`/api/v1/events?view=inbox`).
    pub live: Arc<Live>,
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
        .route("/conversations", get(conversations::list_conversations))
        .route(
            "/conversations/{id}",
            get(conversations::get_conversation).patch(conversations::patch_conversation),
        )
        .route(
            "/conversations/{id}/messages",
            get(messages::list_messages).post(messages::post_message),
        )
        .route(
            "/conversations/{id}/participants",
            get(conversations::get_participants).put(conversations::put_participants),
        )
        .route(
            "/conversations/{id}/notes",
            get(notes::list_notes).post(notes::post_note),
        )
        .route("/conversations/{id}/activity", get(queue::list_activity))
        .route("/teams", get(queue::list_teams).post(queue::post_team))
        .route(
            "/teams/{id}",
            put(queue::put_team).delete(queue::delete_team),
        )
        .route("/labels", get(queue::list_labels))
        .route("/spikes", get(queue::list_spikes))
        .route("/reports/summary", get(reports::summary))
        .route("/reports/agents", get(reports::agents))
        .route("/labels/{name}", put(queue::put_label))
        .route(
            "/notices",
            get(notices::list_notices).post(notices::post_notice),
        )
        .route("/notices/{id}", delete(notices::delete_notice))
        .route("/knowledge", get(knowledge::search_knowledge))
        .route(
            "/canned_answers",
            get(canned_answers::list_canned).post(canned_answers::post_canned),
        )
        .route(
            "/canned_answers/{id}",
            patch(canned_answers::patch_canned).delete(canned_answers::delete_canned),
        )
        .route(
            "/conversations/{id}/verify",
            post(verification::post_verify),
        )
        .route(
            "/conversations/{id}/verification",
            get(verification::get_verification),
        )
        .route("/messages/{id}/retry", post(messages::retry_message))
        .route("/messages/{id}/cancel", post(messages::cancel_message))
        .route("/attachments/{id}", get(attachments::download_attachment))
        .route("/contacts/{id}", get(contacts::get_contact))
        .route("/contacts/{id}/merge", post(contacts::merge_contact))
        .route("/events", get(events::events))
        .route("/events/{stream}/focus", put(events::put_focus))
        .route("/me", get(agents::me))
        .route("/agents", get(agents::list_agents))
        .route("/channels/{name}/inbound", post(inbound::channel_inbound));
    Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/api/openapi.json", get(ops::openapi))
        .route(
            "/channels/telegram/{name}/webhook",
            post(inbound::telegram_webhook),
        )
        .nest("/api/v1", v1)
        .merge(crate::web::router())
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        // Bounds the whole handler, body reading included; an event stream's response is
        // ready at once, so its long body is not cut.
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| async move {
                match tokio::time::timeout(request_timeout, next.run(request)).await {
                    Ok(response) => response,
                    Err(_) => ApiError::Unavailable(
                        "the request took longer than the server's request timeout".into(),
                    )
                    .into_response(),
                }
            },
        ))
        .layer(tower_http::trace::TraceLayer::new_for_http())
        .with_state(state)
}
