//! Contacts: a customer with their identities on every channel, and merging two contacts that
//! are one person.

use super::AppState;
use super::auth::{AdminAgent, AuthAgent};
use super::doc::{AdminErrors, AgentErrors, BadRequest, JsonBodyErrors};
use super::error::{ApiError, ErrorBody, Json, Path};
use crate::store::Contact;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct ContactEnvelope {
    contact: Contact,
}

/// A contact with their identities on every channel and their conversations.
#[utoipa::path(get, path = "/api/v1/contacts/{id}",
    params(("id" = i64, Path, description = "The contact's id (a merged contact's old id still resolves)")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The contact", body = ContactEnvelope),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such contact", body = ErrorBody),
        AgentErrors,
    ))]
pub async fn get_contact(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<axum::Json<ContactEnvelope>, ApiError> {
    let contact = state.store.contact(id).await?;
    Ok(axum::Json(ContactEnvelope { contact }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeRequest {
    /// The contact that remains; `{id}` is merged into it.
    into: i64,
}

/// Merges a contact into another (admin only).
///
/// Admin only: an agent without the admin role gets 403. One customer who wrote on two
/// channels becomes one contact: every identity and conversation of `{id}` moves to `into`.
#[utoipa::path(post, path = "/api/v1/contacts/{id}/merge",
    params(("id" = i64, Path, description = "The contact merged away")),
    request_body = MergeRequest,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The contact that remains, with everything merged into it", body = ContactEnvelope),
        (status = 404, description = "No such contact (either one)", body = ErrorBody),
        (status = 409, description = "One of the two was already merged", body = ErrorBody),
        JsonBodyErrors,
        AdminErrors,
    ))]
pub async fn merge_contact(
    State(state): State<AppState>,
    _admin: AdminAgent,
    Path(id): Path<i64>,
    Json(body): Json<MergeRequest>,
) -> Result<axum::Json<ContactEnvelope>, ApiError> {
    let contact = state.store.merge_contacts(id, body.into).await?;
    Ok(axum::Json(ContactEnvelope { contact }))
}
