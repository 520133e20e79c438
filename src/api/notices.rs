//! Known-issue notices: admins post them ("TRON withdrawals delayed by network congestion"),
//! the front desk adds them to the acknowledgements of matching conversations until they
//! end, and the inbox shows the active ones.

use super::AppState;
use super::auth::{AdminAgent, AuthAgent};
use super::checks::check_no_nul;
use super::doc::{AdminErrors, AgentErrors, BadRequest, JsonBodyErrors};
use super::error::{ApiError, ErrorBody, Json, Path};
use crate::store::{KnownIssue, NewKnownIssue};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;

const MAX_TEXT_CHARS: usize = 2_000;
const MAX_LANGUAGES: usize = 32;
const MAX_WORDS: usize = 50;
const MAX_WORD_CHARS: usize = 100;
/// A notice lasts a year at most: a forgotten one must not speak for ever.
const MAX_DAYS: i64 = 366;

#[derive(Serialize, ToSchema)]
pub struct NoticeList {
    notices: Vec<KnownIssue>,
}

#[derive(Serialize, ToSchema)]
pub struct NoticeEnvelope {
    notice: KnownIssue,
}

/// A new notice.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewNoticeBody {
    /// The text per language (`en`, `zh`, ...; at least one, each 1 to 2,000 characters); a
    /// customer whose language is missing gets `en`, else any.
    texts: BTreeMap<String, String>,
    /// Words (up to 50) that make a conversation match, case-insensitive.
    #[serde(default)]
    keywords: Vec<String>,
    /// Intake categories (`[[front_desk.category]] id`) that make a conversation match.
    /// Both lists empty: every new conversation gets the notice.
    #[serde(default)]
    categories: Vec<String>,
    /// Default: now.
    starts_at: Option<chrono::DateTime<chrono::Utc>>,
    /// In the future, after `starts_at`, at most a year after it.
    ends_at: chrono::DateTime<chrono::Utc>,
}

/// The notices that have not ended, including those still to start.
#[utoipa::path(get, path = "/api/v1/notices",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Notices not yet ended, latest start first", body = NoticeList),
        AgentErrors,
    ))]
pub async fn list_notices(
    State(state): State<AppState>,
    _agent: AuthAgent,
) -> Result<axum::Json<NoticeList>, ApiError> {
    Ok(axum::Json(NoticeList {
        notices: state.store.notices(crate::store::now_ms(), true).await?,
    }))
}

fn words(name: &str, list: &[String]) -> Result<Vec<String>, ApiError> {
    if list.len() > MAX_WORDS {
        return Err(ApiError::BadRequest(format!("{name}: at most {MAX_WORDS}")));
    }
    let mut out = Vec::with_capacity(list.len());
    for word in list {
        let word = word.trim();
        if word.is_empty() || word.chars().count() > MAX_WORD_CHARS {
            return Err(ApiError::BadRequest(format!(
                "{name}: each 1 to {MAX_WORD_CHARS} characters"
            )));
        }
        check_no_nul(name, Some(word))?;
        out.push(word.to_owned());
    }
    Ok(out)
}

/// Posts a notice (admin only).
///
/// Admin only: an agent without the admin role gets 403.
#[utoipa::path(post, path = "/api/v1/notices", request_body = NewNoticeBody,
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The notice", body = NoticeEnvelope),
        (status = 422, description = "Refused (`code`: `unsafe_request`): the text asks the customer for a secret, or holds one", body = ErrorBody),
        JsonBodyErrors,
        AdminErrors,
    ))]
pub async fn post_notice(
    State(state): State<AppState>,
    AdminAgent(agent): AdminAgent,
    Json(body): Json<NewNoticeBody>,
) -> Result<(StatusCode, axum::Json<NoticeEnvelope>), ApiError> {
    if body.texts.is_empty() || body.texts.len() > MAX_LANGUAGES {
        return Err(ApiError::BadRequest(format!(
            "texts: 1 to {MAX_LANGUAGES} languages"
        )));
    }
    let mut texts = BTreeMap::new();
    for (language, text) in &body.texts {
        let ok_language = (2..=8).contains(&language.len())
            && language
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        let text = text.trim();
        if !ok_language || text.is_empty() || text.chars().count() > MAX_TEXT_CHARS {
            return Err(ApiError::BadRequest(format!(
                "texts.{language}: a language code with a text of 1 to {MAX_TEXT_CHARS} characters"
            )));
        }
        check_no_nul("texts", Some(text))?;
        switchboard_safety::check_reply(text).map_err(ApiError::Unsafe)?;
        texts.insert(language.to_ascii_lowercase(), text.to_owned());
    }
    let now = chrono::Utc::now();
    let starts_at = body.starts_at.unwrap_or(now);
    if body.ends_at <= now || body.ends_at <= starts_at {
        return Err(ApiError::BadRequest(
            "ends_at: must be in the future and after starts_at".into(),
        ));
    }
    if body.ends_at - starts_at > chrono::Duration::days(MAX_DAYS) {
        return Err(ApiError::BadRequest(
            "ends_at: at most a year after starts_at".into(),
        ));
    }
    let notice = NewKnownIssue {
        texts,
        keywords: words("keywords", &body.keywords)?,
        categories: words("categories", &body.categories)?,
        starts_at: starts_at.timestamp_millis(),
        ends_at: body.ends_at.timestamp_millis(),
    };
    let notice = state.store.add_notice(&notice, Some(agent.id)).await?;
    tracing::info!(notice = notice.id, agent = agent.id, "notice posted");
    Ok((StatusCode::CREATED, axum::Json(NoticeEnvelope { notice })))
}

/// Takes a notice down (admin only).
///
/// Admin only: an agent without the admin role gets 403.
#[utoipa::path(delete, path = "/api/v1/notices/{id}",
    params(("id" = i64, Path, description = "The notice's id")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted"),
        (status = 400, response = BadRequest),
        (status = 404, description = "No such notice", body = ErrorBody),
        AdminErrors,
    ))]
pub async fn delete_notice(
    State(state): State<AppState>,
    _admin: AdminAgent,
    Path(id): Path<i64>,
) -> Result<StatusCode, ApiError> {
    state.store.delete_notice(id).await?;
    Ok(StatusCode::NO_CONTENT)
}
