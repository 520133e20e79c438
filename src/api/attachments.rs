//! Attachment downloads: always as a download, never rendered inline, so a hostile file cannot
//! run script in the inbox's origin.

use super::AppState;
use super::auth::AuthAgent;
use super::checks::MimeType;
use super::doc::{AgentErrors, BadRequest};
use super::error::{ApiError, ErrorBody, Path};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Downloads an attachment.
///
/// The bytes come with the content type they were stored with, `Content-Disposition:
/// attachment` and `X-Content-Type-Options: nosniff`.
#[utoipa::path(get, path = "/api/v1/attachments/{id}",
    params(("id" = i64, Path, description = "The attachment's id (`attachments[].id` of a message)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The file's bytes, in the content type it was stored with",
            content_type = "*/*",
            headers(("Content-Disposition" = String, description = "`attachment; filename=\"...\"`"))),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such attachment, or its bytes were not stored (the message says why)", body = ErrorBody),
        AgentErrors,
    ))]
pub async fn download_attachment(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<Response, ApiError> {
    let file = state.store.attachment(id).await?;
    let Some(path) = file
        .sha256
        .as_deref()
        .and_then(|sha| state.files.path_of(sha))
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
        .parse::<MimeType>()
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
