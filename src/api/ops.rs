//! What operators and tools use: health, Prometheus metrics, this API's OpenAPI document, and
//! the answers for unknown paths and methods.

use super::AppState;
use super::auth::AdminAgent;
use super::doc::{AdminErrors, ApiDoc, Unavailable};
use super::error::{ApiError, ErrorBody};
use crate::channels::{ChannelHealth, ChannelState};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{IntoResponses, ToSchema};

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Overall {
    /// The database answers and every channel runs.
    Ok,
    /// The database answers; a channel fails (see its `last_error`).
    Degraded,
    /// The database does not answer.
    Down,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseState {
    Ok,
    Unavailable,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelRunState {
    Running,
    /// The inbound loop failed and is waiting to restart.
    Failing,
    /// Another daemon on the database runs the inbound loop; this one takes over if it stops.
    Standby,
    Stopped,
}

#[derive(Serialize, ToSchema)]
pub struct ChannelReport {
    /// The channel's kind: `api`, `telegram`, `discord` or `email`.
    kind: String,
    state: ChannelRunState,
    /// Why the inbound loop last failed.
    last_error: Option<String>,
    /// How often the inbound loop was restarted.
    restarts: u32,
}

impl From<ChannelHealth> for ChannelReport {
    fn from(health: ChannelHealth) -> Self {
        Self {
            kind: health.kind.to_owned(),
            state: match health.state {
                ChannelState::Running => ChannelRunState::Running,
                ChannelState::Failing => ChannelRunState::Failing,
                ChannelState::Standby => ChannelRunState::Standby,
                ChannelState::Stopped => ChannelRunState::Stopped,
            },
            last_error: health.last_error,
            restarts: health.restarts,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HealthReport {
    status: Overall,
    database: DatabaseState,
    /// Each configured channel by name.
    channels: BTreeMap<String, ChannelReport>,
}

/// `/healthz`'s answers: the report with 200 or 503, or, past the request timeout, an error.
pub struct HealthResponses;

impl IntoResponses for HealthResponses {
    fn responses() -> BTreeMap<String, RefOr<utoipa::openapi::Response>> {
        let report = || Ref::from_schema_name(HealthReport::name());
        let ok = ResponseBuilder::new()
            .description("The database answers (channels may still be failing: `degraded`)")
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(report())).build(),
            );
        let down = ResponseBuilder::new()
            .description(
                "The database does not answer (a `down` report), or the check took longer than \
                 `server.request_timeout` (an error)",
            )
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(
                        utoipa::openapi::OneOfBuilder::new()
                            .item(report())
                            .item(Ref::from_schema_name(ErrorBody::name())),
                    ))
                    .build(),
            );
        BTreeMap::from([
            ("200".into(), ok.build().into()),
            ("503".into(), down.build().into()),
        ])
    }
}

/// Liveness and readiness, for monitoring: no token needed.
///
/// 200 while the database answers (a write is probed), with each channel's state.
#[utoipa::path(get, path = "/healthz", security(()),
    responses(HealthResponses))]
pub async fn healthz(State(state): State<AppState>) -> (StatusCode, axum::Json<HealthReport>) {
    let database = state.store.health().await;
    let channels: BTreeMap<String, ChannelReport> = state
        .health
        .lock()
        .unwrap()
        .clone()
        .into_iter()
        .map(|(name, health)| (name, health.into()))
        .collect();
    let degraded = channels
        .values()
        .any(|c| matches!(c.state, ChannelRunState::Failing));
    let status = match (&database, degraded) {
        (Err(_), _) => Overall::Down,
        (Ok(()), true) => Overall::Degraded,
        (Ok(()), false) => Overall::Ok,
    };
    let (code, database) = if database.is_ok() {
        (StatusCode::OK, DatabaseState::Ok)
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, DatabaseState::Unavailable)
    };
    (
        code,
        axum::Json(HealthReport {
            status,
            database,
            channels,
        }),
    )
}

/// Prometheus metrics, in the text format (admin only).
///
/// Admin only: an agent without the admin role gets 403 (`bearer_token` in the scrape config).
/// Counts ingested messages and delivery attempts per channel and outcome, the outbox depth and
/// whether each channel's inbound loop runs.
#[utoipa::path(get, path = "/metrics",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The metrics", content_type = "text/plain; version=0.0.4", body = String),
        AdminErrors,
    ))]
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
        let up = if matches!(h.state, ChannelState::Running | ChannelState::Standby) {
            1.0
        } else {
            0.0
        };
        gauges.push((
            "switchboard_channel_up",
            "1 while the channel's inbound loop runs (here or, on standby, on another daemon), 0 while it fails or stopped.",
            format!("{{channel=\"{}\"}}", escape(channel)),
            up,
        ));
    }
    let text = state.metrics.render(&gauges);
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// This document (OpenAPI 3.1); no token needed.
#[utoipa::path(get, path = "/api/openapi.json", security(()),
    responses(
        (status = 200, description = "The OpenAPI document", body = serde_json::Value),
        (status = 503, response = Unavailable),
    ))]
pub async fn openapi() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(<ApiDoc as utoipa::OpenApi>::openapi())
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

pub async fn method_not_allowed() -> ApiError {
    ApiError::Rejected(StatusCode::METHOD_NOT_ALLOWED, "method not allowed".into())
}
