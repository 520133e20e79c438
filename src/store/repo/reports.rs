//! The rows reports are made of: one indexed read per figure over the range (conversations
//! opened, resolved, reopened; surveys asked; agents' replies and resolutions), each of a few
//! columns, added up in `store/reports.rs`.

use super::*;
use crate::store::reports::{
    AgentFigures, AgentTally, Fact, Keys, ReportRange, Summary, summarize,
};
use std::collections::HashMap;

/// Key columns of a conversation `c`, then the figure's own columns.
fn keys_sql() -> String {
    format!("c.channel, c.team_id, c.language, {}", sql::CATEGORY_OF)
}

type KeyColumns = (String, Option<i64>, Option<String>, Option<String>);

impl super::Repo {
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
        let mut facts: Vec<(Keys, Fact)> = Vec::new();

        let opened = format!(
            "SELECT {k}, c.first_replied_at - c.created_at, c.sla_first_response_due IS NOT NULL,
                 c.sla_breaches <> '[]'
             FROM conversations c WHERE c.created_at >= $1 AND c.created_at < $2{filter}"
        );
        type Opened = (
            String,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<i64>,
            bool,
            bool,
        );
        let rows: Vec<Opened> = self.report_rows(&opened, range).await?;
        for (a, b, c, d, first_response, sla, breached) in rows {
            let fact = Fact::New {
                first_response,
                sla,
                breached,
            };
            facts.push((keys((a, b, c, d)), fact));
        }

        let resolved = format!(
            "SELECT {k}, c.status_since - c.created_at FROM conversations c
             WHERE c.status = 'resolved' AND c.status_since >= $1 AND c.status_since < $2{filter}"
        );
        type Resolved = (String, Option<i64>, Option<String>, Option<String>, i64);
        let rows: Vec<Resolved> = self.report_rows(&resolved, range).await?;
        for (a, b, c, d, took) in rows {
            facts.push((keys((a, b, c, d)), Fact::Resolved(took)));
        }

        let reopened = format!(
            "SELECT {k} FROM conversations c
             WHERE c.reopened_at >= $1 AND c.reopened_at < $2{filter}"
        );
        let rows: Vec<KeyColumns> = self.report_rows(&reopened, range).await?;
        facts.extend(rows.into_iter().map(|r| (keys(r), Fact::Reopened)));

        let surveys = format!(
            "SELECT {k}, s.score FROM surveys s JOIN conversations c ON c.id = s.conversation_id
             WHERE s.asked_at >= $1 AND s.asked_at < $2{filter}"
        );
        type Surveyed = (
            String,
            Option<i64>,
            Option<String>,
            Option<String>,
            Option<i64>,
        );
        let rows: Vec<Surveyed> = self.report_rows(&surveys, range).await?;
        for (a, b, c, d, score) in rows {
            facts.push((keys((a, b, c, d)), Fact::Survey(score)));
        }
        Ok(summarize(&facts))
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
        let answered: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT assignee_id, first_replied_at - created_at FROM conversations
             WHERE created_at >= $1 AND created_at < $2 AND assignee_id IS NOT NULL
               AND first_replied_at IS NOT NULL",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for (agent, ms) in answered {
            tallies
                .entry(agent)
                .or_default()
                .first_response
                .push(ms.max(0));
        }
        let surveys: Vec<(i64, Option<i64>)> = sqlx::query_as(
            "SELECT c.assignee_id, s.score FROM surveys s JOIN conversations c ON c.id = s.conversation_id
             WHERE s.asked_at >= $1 AND s.asked_at < $2 AND c.assignee_id IS NOT NULL",
        )
        .bind(from)
        .bind(to)
        .fetch_all(&self.pool)
        .await?;
        for (agent, score) in surveys {
            let t = tallies.entry(agent).or_default();
            t.surveys += 1;
            if let Some(s) = score {
                t.responses += 1;
                t.score_sum = t.score_sum.saturating_add(s);
            }
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
