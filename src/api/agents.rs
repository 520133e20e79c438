//! The agent behind the token.

use super::AppState;
use super::auth::AuthAgent;
use super::doc::AgentErrors;
use super::error::ApiError;
use crate::store::Agent;
use axum::extract::State;
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

#[derive(Serialize, ToSchema)]
pub struct AgentList {
    agents: Vec<Agent>,
}

/// Every agent, disabled ones included (their names still show on old conversations), so the
/// inbox can name assignees and offer colleagues to assign to.
#[utoipa::path(get, path = "/api/v1/agents",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The agents, by id", body = AgentList),
        AgentErrors,
    ))]
pub async fn list_agents(
    State(state): State<AppState>,
    _agent: AuthAgent,
) -> Result<axum::Json<AgentList>, ApiError> {
    Ok(axum::Json(AgentList {
        agents: state.store.list_agents().await?,
    }))
}
