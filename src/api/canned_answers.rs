//! The team's canned answers: anyone reads them, admins write them.

use super::AppState;
use super::auth::{AdminAgent, AuthAgent};
use super::checks::{check_no_nul, check_text};
use super::doc::{AdminErrors, AgentErrors, BadRequest, JsonBodyErrors};
use super::error::{ApiError, ErrorBody, Json, Path, Query};
use crate::store::CannedAnswer;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CannedQuery {
    /// Text searched in shortcut, title and text.
    q: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CannedList {
    canned_answers: Vec<CannedAnswer>,
}

#[derive(Serialize, ToSchema)]
pub struct CannedEnvelope {
    canned_answer: CannedAnswer,
}

/// The canned answers, optionally searched.
#[utoipa::path(get, path = "/api/v1/canned_answers", params(CannedQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The canned answers", body = CannedList),
        (status = 400, response = BadRequest),
        AgentErrors,
    ))]
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

/// A new canned answer.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCannedAnswer {
    /// 1 to 64 letters, digits, `-` or `_`; unique. Letters and digits of other scripts than
    /// ASCII are accepted too.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_-]+$")]
    shortcut: String,
    /// Trimmed.
    title: String,
    /// Not blank; at most 100,000 characters.
    #[schema(min_length = 1, max_length = 100_000, pattern = r"\S")]
    text: String,
}

/// A canned answer's fields to change; those left out stay as they are.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CannedPatch {
    /// As in `NewCannedAnswer`.
    #[schema(min_length = 1, max_length = 64, pattern = r"^[A-Za-z0-9_-]+$")]
    shortcut: Option<String>,
    title: Option<String>,
    #[schema(min_length = 1, max_length = 100_000, pattern = r"\S")]
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

/// Creates a canned answer (admin only).
///
/// Admin only: an agent without the admin role gets 403.
#[utoipa::path(post, path = "/api/v1/canned_answers", request_body = NewCannedAnswer,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The canned answer", body = CannedEnvelope),
        (status = 409, description = "Another canned answer has this shortcut", body = ErrorBody),
        (status = 422, description = "Refused (`code`: `unsafe_request`): the text asks the customer for a secret, or holds one", body = ErrorBody),
        JsonBodyErrors,
        AdminErrors,
    ))]
pub async fn post_canned(
    State(state): State<AppState>,
    AdminAgent(agent): AdminAgent,
    Json(body): Json<NewCannedAnswer>,
) -> Result<(StatusCode, axum::Json<CannedEnvelope>), ApiError> {
    check_shortcut(&body.shortcut)?;
    check_text(&body.text)?;
    check_no_nul("title", Some(&body.title))?;
    // A canned answer is a reply waiting to be sent: the same guard applies.
    switchboard_safety::check_reply(&body.text).map_err(ApiError::Unsafe)?;
    let canned_answer = state
        .store
        .add_canned_answer(&agent, &body.shortcut, body.title.trim(), &body.text)
        .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CannedEnvelope { canned_answer }),
    ))
}

/// Changes a canned answer (admin only).
///
/// Admin only: an agent without the admin role gets 403. Fields left out stay as they are.
#[utoipa::path(patch, path = "/api/v1/canned_answers/{id}",
    params(("id" = i64, Path, description = "The canned answer's id")),
    request_body = CannedPatch,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The canned answer after the change", body = CannedEnvelope),
        (status = 404, description = "No such canned answer", body = ErrorBody),
        (status = 409, description = "Another canned answer has this shortcut", body = ErrorBody),
        (status = 422, description = "Refused (`code`: `unsafe_request`): the text asks the customer for a secret, or holds one", body = ErrorBody),
        JsonBodyErrors,
        AdminErrors,
    ))]
pub async fn patch_canned(
    State(state): State<AppState>,
    _admin: AdminAgent,
    Path(id): Path<i64>,
    Json(body): Json<CannedPatch>,
) -> Result<axum::Json<CannedEnvelope>, ApiError> {
    if let Some(shortcut) = &body.shortcut {
        check_shortcut(shortcut)?;
    }
    check_no_nul("title", body.title.as_deref())?;
    if let Some(text) = &body.text {
        check_text(text)?;
        switchboard_safety::check_reply(text).map_err(ApiError::Unsafe)?;
    }
    let canned_answer = state
        .store
        .update_canned_answer(
            id,
            body.shortcut.as_deref(),
            body.title.as_deref().map(str::trim),
            body.text.as_deref(),
        )
        .await?;
    Ok(axum::Json(CannedEnvelope { canned_answer }))
}

/// Deletes a canned answer (admin only).
///
/// Admin only: an agent without the admin role gets 403.
#[utoipa::path(delete, path = "/api/v1/canned_answers/{id}",
    params(("id" = i64, Path, description = "The canned answer's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such canned answer", body = ErrorBody),
        AdminErrors,
    ))]
pub async fn delete_canned(
    State(state): State<AppState>,
    _admin: AdminAgent,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_canned_answer(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
