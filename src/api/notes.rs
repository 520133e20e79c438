//! Agents' private notes on a conversation; never sent to the customer.

use super::AppState;
use super::auth::AuthAgent;
use super::checks::check_text;
use super::doc::{AgentErrors, BadRequest, JsonBodyErrors};
use super::error::{ApiError, ErrorBody, Json, Path};
use crate::store::Note;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNote {
    /// Not blank; at most 100,000 characters.
    #[schema(min_length = 1, max_length = 100_000, pattern = r"\S")]
    text: String,
}

#[derive(Serialize, ToSchema)]
pub struct NoteList {
    /// Oldest first.
    notes: Vec<Note>,
}

#[derive(Serialize, ToSchema)]
pub struct NoteEnvelope {
    note: Note,
}

/// The conversation's private notes.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/notes",
    params(("id" = i64, Path, description = "The conversation's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The notes", body = NoteList),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such conversation", body = ErrorBody),
        AgentErrors,
    ))]
pub async fn list_notes(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<axum::Json<NoteList>, ApiError> {
    Ok(axum::Json(NoteList {
        notes: state.store.notes(id).await?,
    }))
}

/// Leaves a private note on the conversation (other agents see it live as `note.created`).
#[utoipa::path(post, path = "/api/v1/conversations/{id}/notes",
    params(("id" = i64, Path, description = "The conversation's id")),
    request_body = NewNote,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The note", body = NoteEnvelope),
        (status = 404, description = "No such conversation", body = ErrorBody),
        JsonBodyErrors,
        AgentErrors,
    ))]
pub async fn post_note(
    State(state): State<AppState>,
    AuthAgent(agent): AuthAgent,
    Path(id): Path<i64>,
    Json(body): Json<NewNote>,
) -> Result<(StatusCode, axum::Json<NoteEnvelope>), ApiError> {
    check_text(&body.text)?;
    let note = state.store.add_note(id, &agent, &body.text).await?;
    Ok((StatusCode::CREATED, axum::Json(NoteEnvelope { note })))
}
