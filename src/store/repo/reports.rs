//! The rows reports are made of: one indexed, grouped read per figure over the range
//! (conversations opened, resolved, reopened; surveys asked; agents' replies and resolutions),
//! added up in `store/reports.rs`.

use super::*;
use crate::store::reports::{
    AgentFigures, AgentTally, Keys, ReportRange, Summary, Tally, summarize,
};
use std::collections::HashMap;

/// Key columns of a conversation `c`, then the figure's own columns.
fn keys_sql() -> String {
    format!("c.channel, c.team_id, c.language, {}", sql::CATEGORY_OF)
}

type KeyColumns = (String, Option<i64>, Option<String>, Option<String>);

/// `SQL` the values of `expr` in the group as one text (see `sql::LIST_START`).
fn list(expr: &str) -> String {
    format!("{}{expr}{}", sql::LIST_START, sql::LIST_END)
}

/// The durations (ms) of a `list`, negative ones (clock skew) as 0.
fn samples(list: Option<&str>) -> Vec<i64> {
    list.unwrap_or("")
        .split(',')
        .filter_map(|v| v.trim().parse::<i64>().ok())
        .map(|v| v.max(0))
        .collect()
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

impl super::Repo {
    /// Every figure is one grouped statement per kind of event: the rows that come back are
    /// combinations of keys, not conversations (their durations travel as one text each).
    pub async fn report_summary(&self, range: &ReportRange) -> Result<Summary> {
        let teams: HashMap<i64, String> = sqlx::query_as("SELECT id, name FROM teams")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect();
        let keys = |(channel, team, language, category): KeyColumns| Keys {
            channel,
            team: team.map(|t| teams.get(&t).cloned().unwrap_or_else(|| format!("#{t}"))),
            language,
            category,
        };
        // The optional filters, numbered after the range's two parameters.
        let mut filter = String::new();
        if range.team_id.is_some() {
            filter.push_str(" AND c.team_id = $3");
        }
        if range.channel.is_some() {
            filter.push_str(if range.team_id.is_some() {
                " AND c.channel = $4"
            } else {
                " AND c.channel = $3"
            });
        }
        let k = keys_sql();
        let group = format!(
            "GROUP BY c.channel, c.team_id, c.language, {}",
            sql::CATEGORY_OF
        );
        let mut groups: Vec<(Keys, Tally)> = Vec::new();

        let opened = format!(
            "SELECT {k}, COUNT(*),
                 SUM(CASE WHEN c.sla_first_response_due IS NOT NULL THEN 1 ELSE 0 END),
                 SUM(CASE WHEN c.sla_breaches <> '[]' THEN 1 ELSE 0 END), {}
             FROM conversations c WHERE c.created_at >= $1 AND c.created_at < $2{filter} {group}",
            list("c.first_replied_at - c.created_at")
        );
        let resolved = format!(
            "SELECT {k}, COUNT(*), {} FROM conversations c
             WHERE c.status = 'resolved' AND c.status_since >= $1 AND c.status_since < $2{filter}
             {group}",
            list("c.status_since - c.created_at")
        );
        let reopened = format!(
            "SELECT {k}, COUNT(*) FROM conversations c
             WHERE c.reopened_at >= $1 AND c.reopened_at < $2{filter} {group}"
        );
        let surveys = format!(
            "SELECT {k}, COUNT(*), COUNT(s.score), COALESCE(SUM(CAST(s.score AS INTEGER)), 0)
             FROM surveys s JOIN conversations c ON c.id = s.conversation_id
             WHERE s.asked_at >= $1 AND s.asked_at < $2{filter} {group}"
        );
        type Opened = (
            String,
            Option<i64>,
            Option<String>,
            Option<String>,
            i64,
            i64,
            i64,
            Option<String>,
        );
        type Resolved = (
            String,
            Option<i64>,
            Option<String>,
            Option<String>,
            i64,
            Option<String>,
        );
        type Reopened = (String, Option<i64>, Option<String>, Option<String>, i64);
        type Surveyed = (
            String,
            Option<i64>,
            Option<String>,
            Option<String>,
            i64,
            i64,
            i64,
        );
        // Four reads on as many connections at once: the report takes as long as the longest.
        let (opened, resolved, reopened, surveyed) = tokio::try_join!(
            self.report_rows::<Opened>(&opened, range),
            self.report_rows::<Resolved>(&resolved, range),
            self.report_rows::<Reopened>(&reopened, range),
            self.report_rows::<Surveyed>(&surveys, range),
        )?;
        for (a, b, c, d, n, sla, breached, first) in opened {
            let tally = Tally {
                new: count(n),
                sla_total: count(sla),
                sla_breached: count(breached),
                first_response: samples(first.as_deref()),
                ..Tally::default()
            };
            groups.push((keys((a, b, c, d)), tally));
        }
        for (a, b, c, d, n, took) in resolved {
            let tally = Tally {
                resolved: count(n),
                resolution: samples(took.as_deref()),
                ..Tally::default()
            };
            groups.push((keys((a, b, c, d)), tally));
        }
        for (a, b, c, d, n) in reopened {
            let tally = Tally {
                reopened: count(n),
                ..Tally::default()
            };
            groups.push((keys((a, b, c, d)), tally));
        }
        for (a, b, c, d, sent, responses, sum) in surveyed {
            let tally = Tally {
                surveys: count(sent),
                responses: count(responses),
                score_sum: sum,
                ..Tally::default()
            };
            groups.push((keys((a, b, c, d)), tally));
        }
        Ok(summarize(&groups))
    }

    async fn report_rows<T>(&self, sql: &str, range: &ReportRange) -> Result<Vec<T>>
    where
        T: for<'r> sqlx::FromRow<'r, <Db as sqlx::Database>::Row> + Send + Unpin,
    {
        let mut query = sqlx::query_as::<_, T>(sqlx::AssertSqlSafe(sql.to_owned()))
            .bind(range.from)
            .bind(range.to);
        if let Some(team) = range.team_id {
            query = query.bind(team);
        }
        if let Some(channel) = &range.channel {
            query = query.bind(channel.clone());
        }
        Ok(query.fetch_all(&self.pool).await?)
    }

    /// Every agent with something in `[from, to)`, busiest first.
    pub async fn report_agents(&self, from: i64, to: i64) -> Result<Vec<AgentFigures>> {
        let mut tallies: HashMap<i64, AgentTally> = HashMap::new();
        let replies: Vec<(i64, i64, i64)> = sqlx::query_as(
            "SELECT sender_agent_id, COUNT(*), COUNT(DISTINCT conversation_id) FROM messages
             WHERE sender_agent_id IS NOT NULL AND created_at >= $1 AND created_at < $2
             GROUP BY sender_agent_id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for (agent, n, conversations) in replies {
            let t = tallies.entry(agent).or_default();
            t.replies = n.max(0) as u64;
            t.conversations_replied = conversations.max(0) as u64;
        }
        let resolved: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT agent_id, COUNT(*) FROM conversation_activity
             WHERE created_at >= $1 AND created_at < $2 AND agent_id IS NOT NULL
               AND field = 'status' AND new_value = 'resolved'
             GROUP BY agent_id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for (agent, n) in resolved {
            tallies.entry(agent).or_default().resolved = n.max(0) as u64;
        }
        let answered = format!(
            "SELECT assignee_id, {} FROM conversations
             WHERE created_at >= $1 AND created_at < $2 AND assignee_id IS NOT NULL
               AND first_replied_at IS NOT NULL
             GROUP BY assignee_id",
            list("first_replied_at - created_at")
        );
        let answered: Vec<(i64, Option<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(answered))
            .bind(from)
            .bind(to)
            .fetch_all(&self.pool)
            .await?;
        for (agent, list) in answered {
            tallies.entry(agent).or_default().first_response = samples(list.as_deref());
        }
        let surveys: Vec<(i64, i64, i64, i64)> = sqlx::query_as(
            "SELECT c.assignee_id, COUNT(*), COUNT(s.score),
                 COALESCE(SUM(CAST(s.score AS INTEGER)), 0)
             FROM surveys s JOIN conversations c ON c.id = s.conversation_id
             WHERE s.asked_at >= $1 AND s.asked_at < $2 AND c.assignee_id IS NOT NULL
             GROUP BY c.assignee_id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for (agent, sent, responses, sum) in surveys {
            let t = tallies.entry(agent).or_default();
            t.surveys = count(sent);
            t.responses = count(responses);
            t.score_sum = sum;
        }
        let names: HashMap<i64, String> = sqlx::query_as("SELECT id, name FROM agents")
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect();
        let mut agents: Vec<AgentFigures> = tallies
            .into_iter()
            .map(|(id, mut t)| {
                t.name = names.get(&id).cloned().unwrap_or_default();
                t.figures(id)
            })
            .collect();
        agents.sort_by(|a, b| {
            (b.replies + b.resolved)
                .cmp(&(a.replies + a.resolved))
                .then(a.agent_id.cmp(&b.agent_id))
        });
        Ok(agents)
    }
}
