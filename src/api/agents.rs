//! The agent behind the token.

use super::auth::AuthAgent;
use super::doc::AgentErrors;
use crate::store::Agent;
use serde::Serialize;
use utoipa::ToSchema;

#[derive(Serialize, ToSchema)]
pub struct AgentEnvelope {
    agent: Agent,
}

/// The agent whose token this is (name, role).
#[utoipa::path(get, path = "/api/v1/me",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The token's agent", body = AgentEnvelope),
        AgentErrors,
    ))]
pub async fn me(AuthAgent(agent): AuthAgent) -> axum::Json<AgentEnvelope> {
    axum::Json(AgentEnvelope { agent })
}
