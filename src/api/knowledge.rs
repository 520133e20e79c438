//! Help-center search for agents: the inbox inserts an article into a reply from here.

use super::AppState;
use super::auth::AuthAgent;
use super::checks::check_no_nul;
use super::doc::{AgentErrors, BadRequest};
use super::error::{ApiError, Query};
use crate::automation::knowledge::Hit;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Longest search text accepted.
const MAX_QUERY_CHARS: usize = 500;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct KnowledgeQuery {
    /// What to look for: a customer's question or a few words (1 to 500 characters).
    q: String,
    /// The customer's language (`en`, `zh`, ...); articles in it come first, else English.
    lang: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct KnowledgeList {
    /// Whether `[knowledge] dir` is set; without it the list is always empty.
    configured: bool,
    /// Best first, at most 10.
    articles: Vec<Hit>,
}

/// Searches the knowledge base.
#[utoipa::path(get, path = "/api/v1/knowledge", params(KnowledgeQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The best matching articles", body = KnowledgeList),
        (status = 400, response = BadRequest),
        AgentErrors,
    ))]
pub async fn search_knowledge(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Query(query): Query<KnowledgeQuery>,
) -> Result<axum::Json<KnowledgeList>, ApiError> {
    let q = query.q.trim();
    if q.is_empty() || q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::BadRequest(format!(
            "q: 1 to {MAX_QUERY_CHARS} characters"
        )));
    }
    check_no_nul("q", Some(q))?;
    let lang = query.lang.filter(|l| {
        (2..=8).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let Some(kb) = &state.knowledge else {
        return Ok(axum::Json(KnowledgeList {
            configured: false,
            articles: Vec::new(),
        }));
    };
    let articles = kb
        .search(q, lang.as_deref(), 10)
        .await
        .map_err(|e| ApiError::Unavailable(format!("knowledge search failed: {e}")))?;
    Ok(axum::Json(KnowledgeList {
        configured: true,
        articles,
    }))
}
