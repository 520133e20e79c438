//! Queue management: teams (members and languages), label colours, and the timeline of who
//! changed what of a conversation.

use super::AppState;
use super::auth::{AdminAgent, AuthAgent};
use super::checks::check_no_nul;
use super::doc::{AdminErrors, AgentErrors, BadRequest, JsonBodyErrors};
use super::error::{ApiError, ErrorBody, Json, Path};
use crate::store::{Activity, Label, Team, TeamSpecById};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const MAX_MEMBERS: usize = 500;
const MAX_LANGUAGES: usize = 32;

#[derive(Serialize, ToSchema)]
pub struct TeamList {
    teams: Vec<Team>,
}

#[derive(Serialize, ToSchema)]
pub struct TeamEnvelope {
    team: Team,
}

/// A team as the API writes it; replaces every field on PUT.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamBody {
    /// 1 to 60 characters, unique.
    name: String,
    /// ISO 639-1 codes (`zh`, `en`): conversations in these languages that no rule gave a
    /// team come to this one.
    #[serde(default)]
    languages: Vec<String>,
    /// Agent ids (at most 500).
    #[serde(default)]
    members: Vec<i64>,
    /// Round-robin assignment to online members (default true).
    #[serde(default = "yes")]
    auto_assign: bool,
}

fn yes() -> bool {
    true
}

impl TeamBody {
    fn into_spec(self) -> Result<TeamSpecById, ApiError> {
        let name = self.name.trim().to_owned();
        check_no_nul("name", Some(&name))?;
        if name.is_empty() || name.chars().count() > 60 {
            return Err(ApiError::BadRequest("name: 1 to 60 characters".into()));
        }
        if self.members.len() > MAX_MEMBERS || self.languages.len() > MAX_LANGUAGES {
            return Err(ApiError::BadRequest(format!(
                "members: at most {MAX_MEMBERS}; languages: at most {MAX_LANGUAGES}"
            )));
        }
        let mut languages = Vec::new();
        for language in &self.languages {
            let code = language.trim().to_ascii_lowercase();
            if code.len() != 2 || !code.chars().all(|c| c.is_ascii_lowercase()) {
                return Err(ApiError::BadRequest(format!(
                    "languages: {language:?} is not an ISO 639-1 code like \"zh\""
                )));
            }
            if !languages.contains(&code) {
                languages.push(code);
            }
        }
        let mut members = self.members;
        members.sort_unstable();
        members.dedup();
        Ok(TeamSpecById {
            name,
            languages,
            members,
            auto_assign: self.auto_assign,
        })
    }
}

/// The teams, by name.
#[utoipa::path(get, path = "/api/v1/teams",
    security(("bearer" = [])),
    responses((status = 200, description = "Every team", body = TeamList), AgentErrors))]
pub async fn list_teams(
    State(state): State<AppState>,
    _agent: AuthAgent,
) -> Result<axum::Json<TeamList>, ApiError> {
    Ok(axum::Json(TeamList {
        teams: state.store.teams().await?,
    }))
}

/// Creates a team (admin only).
///
/// Admin only: an agent without the admin role gets 403. Teams in the configuration file are
/// written from it at start.
#[utoipa::path(post, path = "/api/v1/teams", request_body = TeamBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "Created", body = TeamEnvelope),
        (status = 409, description = "A team of that name exists", body = ErrorBody),
        JsonBodyErrors,
        AdminErrors,
    ))]
pub async fn post_team(
    State(state): State<AppState>,
    _admin: AdminAgent,
    Json(body): Json<TeamBody>,
) -> Result<(StatusCode, axum::Json<TeamEnvelope>), ApiError> {
    let team = state.store.save_team(None, &body.into_spec()?).await?;
    Ok((StatusCode::CREATED, axum::Json(TeamEnvelope { team })))
}

/// Replaces a team's name, languages, members and auto-assignment (admin only).
///
/// Admin only: an agent without the admin role gets 403. A team from the configuration file
/// answers 409.
#[utoipa::path(put, path = "/api/v1/teams/{id}", request_body = TeamBody,
    params(("id" = i64, Path, description = "The team's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The team now", body = TeamEnvelope),
        (status = 404, description = "No such team", body = ErrorBody),
        (status = 409, description = "Configured team, or the name is taken", body = ErrorBody),
        JsonBodyErrors,
        AdminErrors,
    ))]
pub async fn put_team(
    State(state): State<AppState>,
    _admin: AdminAgent,
    Path(id): Path<i64>,
    Json(body): Json<TeamBody>,
) -> Result<axum::Json<TeamEnvelope>, ApiError> {
    let team = state.store.save_team(Some(id), &body.into_spec()?).await?;
    Ok(axum::Json(TeamEnvelope { team }))
}

/// Deletes a team (admin only).
///
/// Admin only: an agent without the admin role gets 403. Its conversations stay, without a team.
#[utoipa::path(delete, path = "/api/v1/teams/{id}",
    params(("id" = i64, Path, description = "The team's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such team", body = ErrorBody),
        (status = 409, description = "Configured team", body = ErrorBody),
        AdminErrors,
    ))]
pub async fn delete_team(
    State(state): State<AppState>,
    _admin: AdminAgent,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_team(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Serialize, ToSchema)]
pub struct LabelList {
    /// Every label used or given a colour, by name.
    labels: Vec<Label>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LabelBody {
    /// `#rrggbb`.
    color: String,
}

#[derive(Serialize, ToSchema)]
pub struct LabelEnvelope {
    label: Label,
}

/// The labels and their colours.
#[utoipa::path(get, path = "/api/v1/labels",
    security(("bearer" = [])),
    responses((status = 200, description = "Every label", body = LabelList), AgentErrors))]
pub async fn list_labels(
    State(state): State<AppState>,
    _agent: AuthAgent,
) -> Result<axum::Json<LabelList>, ApiError> {
    Ok(axum::Json(LabelList {
        labels: state.store.labels().await?,
    }))
}

/// Creates a label or changes its colour (labels are also created by using them on a
/// conversation, with a colour of their own).
#[utoipa::path(put, path = "/api/v1/labels/{name}", request_body = LabelBody,
    params(("name" = String, Path, description = "The label, 1 to 40 characters")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The label", body = LabelEnvelope),
        JsonBodyErrors,
        AgentErrors,
    ))]
pub async fn put_label(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(name): Path<String>,
    Json(body): Json<LabelBody>,
) -> Result<axum::Json<LabelEnvelope>, ApiError> {
    check_no_nul("name", Some(&name))?;
    let label = state.store.save_label(&name, &body.color).await?;
    Ok(axum::Json(LabelEnvelope { label }))
}

#[derive(Serialize, ToSchema)]
pub struct ActivityList {
    /// Oldest first (the latest 1,000).
    activity: Vec<Activity>,
}

/// Who changed what of a conversation (status, priority, assignee, team, labels, canned
/// answers sent by rules) and when.
#[utoipa::path(get, path = "/api/v1/conversations/{id}/activity",
    params(("id" = i64, Path, description = "The conversation's id")),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The timeline", body = ActivityList),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such conversation", body = ErrorBody),
        AgentErrors,
    ))]
pub async fn list_activity(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Path(id): Path<i64>,
) -> Result<axum::Json<ActivityList>, ApiError> {
    Ok(axum::Json(ActivityList {
        activity: state.store.activity(id).await?,
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SpikeQuery {
    /// Only the episodes still going on.
    active: Option<bool>,
    /// At most this many, 1 to 200 (default 50); other values are brought into that range.
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct SpikeList {
    spikes: Vec<crate::store::Spike>,
}

/// Spike episodes, newest first (admin only).
///
/// Admin only: an agent without the admin role gets 403. With `[spike]` configured, more new
/// conversations of one intake category (or mentioning one keyword) than the threshold within
/// the window start an episode: a `spike.detected` event to admins' streams and one webhook,
/// whose outcome is kept here. It ends when the count falls back.
#[utoipa::path(get, path = "/api/v1/spikes", params(SpikeQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The latest episodes", body = SpikeList),
        (status = 400, response = BadRequest),
        AdminErrors,
    ))]
pub async fn list_spikes(
    State(state): State<AppState>,
    _admin: AdminAgent,
    super::error::Query(query): super::error::Query<SpikeQuery>,
) -> Result<axum::Json<SpikeList>, ApiError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    Ok(axum::Json(SpikeList {
        spikes: state
            .store
            .spikes(query.active.unwrap_or(false), limit)
            .await?,
    }))
}
