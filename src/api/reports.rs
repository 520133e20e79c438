//! Reports over a time range: the summary (every agent may read it) and the per-agent figures
//! (admins only), as JSON or as CSV for a spreadsheet.

use super::AppState;
use super::auth::{AdminAgent, AuthAgent};
use super::doc::{AdminErrors, AgentErrors, BadRequest};
use super::error::{ApiError, Query};
use crate::store::reports::{AgentFigures, Figures, ReportRange, Summary};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The longest range one report covers.
const MAX_RANGE_MS: i64 = 366 * 24 * 3_600_000;
/// Without `from`: the last week.
const DEFAULT_RANGE_MS: i64 = 7 * 24 * 3_600_000;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct SummaryQuery {
    /// Start of the range, RFC 3339 (default: a week before `to`).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<DateTime<Utc>>,
    /// End of the range, exclusive, RFC 3339 (default: now); at most 366 days after `from`.
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<DateTime<Utc>>,
    /// Only conversations of this team (its id).
    team: Option<i64>,
    /// Only conversations of this channel (its configured name).
    channel: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<Format>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AgentsQuery {
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<DateTime<Utc>>,
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<DateTime<Utc>>,
    format: Option<Format>,
}

#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Json,
    Csv,
}

#[derive(Serialize, ToSchema)]
pub struct SummaryReport {
    #[schema(value_type = String, format = DateTime)]
    from: String,
    #[schema(value_type = String, format = DateTime)]
    to: String,
    team_id: Option<i64>,
    channel: Option<String>,
    totals: Figures,
    by_channel: Vec<Figures>,
    by_team: Vec<Figures>,
    by_language: Vec<Figures>,
    by_category: Vec<Figures>,
}

#[derive(Serialize, ToSchema)]
pub struct AgentsReport {
    #[schema(value_type = String, format = DateTime)]
    from: String,
    #[schema(value_type = String, format = DateTime)]
    to: String,
    agents: Vec<AgentFigures>,
}

fn range(from: Option<DateTime<Utc>>, to: Option<DateTime<Utc>>) -> Result<(i64, i64), ApiError> {
    let to = to.map_or_else(crate::store::now_ms, |t| t.timestamp_millis());
    let from = from.map_or(to.saturating_sub(DEFAULT_RANGE_MS), |f| {
        f.timestamp_millis()
    });
    if from >= to {
        return Err(ApiError::BadRequest("from: must be before to".into()));
    }
    if to.saturating_sub(from) > MAX_RANGE_MS {
        return Err(ApiError::BadRequest(
            "from, to: at most 366 days apart".into(),
        ));
    }
    Ok((from, to))
}

fn iso(ms: i64) -> String {
    crate::store::model::timestamp::format(&crate::store::from_millis(ms))
}

/// Counts, first response and resolution times (p50, p90), SLA breach rate and satisfaction.
///
/// In all and by channel, team, language and intake category, of the conversations opened
/// (new, first response, SLA), resolved (resolution time), reopened, and surveyed in
/// `[from, to)`. Times are seconds; rates are 0 to 1; null where there is nothing to measure.
/// `format=csv` answers the same as CSV, one row per group.
#[utoipa::path(get, path = "/api/v1/reports/summary", params(SummaryQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The summary (JSON, or text/csv with format=csv)", body = SummaryReport),
        (status = 400, response = BadRequest),
        AgentErrors,
    ))]
pub async fn summary(
    State(state): State<AppState>,
    _agent: AuthAgent,
    Query(query): Query<SummaryQuery>,
) -> Result<Response, ApiError> {
    let (from, to) = range(query.from, query.to)?;
    if query.channel.as_ref().is_some_and(|c| c.len() > 64) {
        return Err(ApiError::BadRequest(
            "channel: at most 64 characters".into(),
        ));
    }
    let report = ReportRange {
        from,
        to,
        team_id: query.team,
        channel: query.channel.clone(),
    };
    let summary = state.store.report_summary(&report).await?;
    if query.format == Some(Format::Csv) {
        return Ok(csv_response("summary", &summary_csv(&summary)));
    }
    Ok(axum::Json(SummaryReport {
        from: iso(from),
        to: iso(to),
        team_id: query.team,
        channel: query.channel,
        totals: summary.totals,
        by_channel: summary.by_channel,
        by_team: summary.by_team,
        by_language: summary.by_language,
        by_category: summary.by_category,
    })
    .into_response())
}

/// Each agent's replies, resolutions, first response times and satisfaction (admin only).
///
/// Admin only: an agent without the admin role gets 403. Replies and resolutions are the
/// agent's own in `[from, to)`; first response times and ratings are of the conversations
/// opened (surveyed) in the range and assigned to them. `format=csv` answers CSV.
#[utoipa::path(get, path = "/api/v1/reports/agents", params(AgentsQuery),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Per agent, busiest first (JSON, or text/csv with format=csv)", body = AgentsReport),
        (status = 400, response = BadRequest),
        AdminErrors,
    ))]
pub async fn agents(
    State(state): State<AppState>,
    _admin: AdminAgent,
    Query(query): Query<AgentsQuery>,
) -> Result<Response, ApiError> {
    let (from, to) = range(query.from, query.to)?;
    let agents = state.store.report_agents(from, to).await?;
    if query.format == Some(Format::Csv) {
        return Ok(csv_response("agents", &agents_csv(&agents)));
    }
    Ok(axum::Json(AgentsReport {
        from: iso(from),
        to: iso(to),
        agents,
    })
    .into_response())
}

fn csv_response(name: &str, body: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"switchboard-{name}.csv\""),
            ),
        ],
        body.to_owned(),
    )
        .into_response()
}

/// One CSV cell: quoted when it must be, and never read as a formula by a spreadsheet
/// (channel, team and agent names are free text).
fn cell(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn number(value: Option<f64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

const SUMMARY_COLUMNS: &str = "dimension,key,new,resolved,reopened,first_response_p50_s,first_response_p90_s,resolution_p50_s,resolution_p90_s,sla_total,sla_breached,sla_breach_rate,csat_sent,csat_responses,csat_response_rate,csat_average";

fn figures_row(dimension: &str, key: Option<&str>, f: &Figures) -> String {
    [
        cell(dimension),
        cell(key.unwrap_or("")),
        f.new.to_string(),
        f.resolved.to_string(),
        f.reopened.to_string(),
        number(f.first_response_seconds.p50),
        number(f.first_response_seconds.p90),
        number(f.resolution_seconds.p50),
        number(f.resolution_seconds.p90),
        f.sla.total.to_string(),
        f.sla.breached.to_string(),
        number(f.sla.rate),
        f.csat.sent.to_string(),
        f.csat.responses.to_string(),
        number(f.csat.response_rate),
        number(f.csat.average),
    ]
    .join(",")
}

fn summary_csv(summary: &Summary) -> String {
    let mut out = String::from(SUMMARY_COLUMNS);
    out.push('\n');
    out.push_str(&figures_row("total", None, &summary.totals));
    out.push('\n');
    let dimensions: [(&str, &[Figures]); 4] = [
        ("channel", &summary.by_channel),
        ("team", &summary.by_team),
        ("language", &summary.by_language),
        ("category", &summary.by_category),
    ];
    for (dimension, groups) in dimensions {
        for g in groups {
            out.push_str(&figures_row(dimension, g.key.as_deref(), g));
            out.push('\n');
        }
    }
    out
}

fn agents_csv(agents: &[AgentFigures]) -> String {
    let mut out = String::from(
        "agent_id,name,replies,conversations_replied,resolved,first_response_p50_s,first_response_p90_s,csat_sent,csat_responses,csat_response_rate,csat_average\n",
    );
    for a in agents {
        let row = [
            a.agent_id.to_string(),
            cell(&a.name),
            a.replies.to_string(),
            a.conversations_replied.to_string(),
            a.resolved.to_string(),
            number(a.first_response_seconds.p50),
            number(a.first_response_seconds.p90),
            a.csat.sent.to_string(),
            a.csat.responses.to_string(),
            number(a.csat.response_rate),
            number(a.csat.average),
        ];
        out.push_str(&row.join(","));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::cell;

    #[test]
    fn csv_cells_are_quoted_and_never_formulas() {
        assert_eq!(cell("website"), "website");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "'+1");
        assert_eq!(cell("@SUM"), "'@SUM");
        assert_eq!(cell("王伟"), "王伟");
    }
}
