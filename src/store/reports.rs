//! Reports: counts, response and resolution times, SLA breaches and satisfaction over a time
//! range, in all and by channel, team, language and intake category; and per agent. The
//! store reads the few columns each figure needs (`repo/reports.rs`); the figures are made here.

use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

/// What a summary covers: `[from, to)` in ms, optionally one team and one channel.
#[derive(Debug, Clone, Default)]
pub struct ReportRange {
    pub from: i64,
    pub to: i64,
    pub team_id: Option<i64>,
    pub channel: Option<String>,
}

/// The dimensions a conversation is counted under.
#[derive(Debug, Clone, Default)]
pub(crate) struct Keys {
    pub channel: String,
    pub team: Option<String>,
    pub language: Option<String>,
    pub category: Option<String>,
}

/// Percentiles of a duration, in seconds; null without samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Times {
    pub count: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct SlaFigures {
    /// Conversations opened in the range under an SLA policy.
    pub total: u64,
    pub breached: u64,
    /// `breached / total`; null when no conversation had a policy.
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct CsatFigures {
    /// Surveys asked in the range.
    pub sent: u64,
    pub responses: u64,
    /// `responses / sent`; null when none was sent.
    pub response_rate: Option<f64>,
    /// Mean rating, 1 to 5; null without responses.
    pub average: Option<f64>,
}

/// The figures of one group of conversations.
#[derive(Debug, Clone, Default, PartialEq, Serialize, ToSchema)]
pub struct Figures {
    /// The group's channel, team, language or category; null for none (no team, language or
    /// category), and in the totals.
    pub key: Option<String>,
    /// Conversations opened in the range.
    pub new: u64,
    /// Conversations resolved in the range (their latest resolution).
    pub resolved: u64,
    /// Conversations the customer opened again in the range (their latest reopening).
    pub reopened: u64,
    /// From opening to the first agent reply, of the conversations opened in the range.
    pub first_response_seconds: Times,
    /// From opening to resolution, of the conversations resolved in the range.
    pub resolution_seconds: Times,
    pub sla: SlaFigures,
    pub csat: CsatFigures,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Summary {
    pub totals: Figures,
    pub by_channel: Vec<Figures>,
    pub by_team: Vec<Figures>,
    pub by_language: Vec<Figures>,
    pub by_category: Vec<Figures>,
}

/// The counts and samples (ms) of one group of conversations, made into figures at the end.
#[derive(Debug, Default, Clone)]
pub(crate) struct Tally {
    pub new: u64,
    pub resolved: u64,
    pub reopened: u64,
    pub first_response: Vec<i64>,
    pub resolution: Vec<i64>,
    pub sla_total: u64,
    pub sla_breached: u64,
    pub surveys: u64,
    pub responses: u64,
    pub score_sum: i64,
}

impl Tally {
    fn merge(&mut self, other: &Tally) {
        self.new += other.new;
        self.resolved += other.resolved;
        self.reopened += other.reopened;
        self.first_response.extend_from_slice(&other.first_response);
        self.resolution.extend_from_slice(&other.resolution);
        self.sla_total += other.sla_total;
        self.sla_breached += other.sla_breached;
        self.surveys += other.surveys;
        self.responses += other.responses;
        self.score_sum = self.score_sum.saturating_add(other.score_sum);
    }

    fn figures(mut self, key: Option<String>) -> Figures {
        let ratio = |a: u64, b: u64| (b > 0).then(|| round(a as f64 / b as f64, 4));
        Figures {
            key,
            new: self.new,
            resolved: self.resolved,
            reopened: self.reopened,
            first_response_seconds: times(&mut self.first_response),
            resolution_seconds: times(&mut self.resolution),
            sla: SlaFigures {
                total: self.sla_total,
                breached: self.sla_breached,
                rate: ratio(self.sla_breached, self.sla_total),
            },
            csat: CsatFigures {
                sent: self.surveys,
                responses: self.responses,
                response_rate: ratio(self.responses, self.surveys),
                average: (self.responses > 0)
                    .then(|| round(self.score_sum as f64 / self.responses as f64, 2)),
            },
        }
    }
}

fn round(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

/// Nearest-rank percentiles of `samples` (ms), in seconds.
fn times(samples: &mut [i64]) -> Times {
    if samples.is_empty() {
        return Times::default();
    }
    samples.sort_unstable();
    let rank = |q: f64| {
        let i = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
        round(samples[i] as f64 / 1000.0, 1)
    };
    Times {
        count: samples.len() as u64,
        p50: Some(rank(0.5)),
        p90: Some(rank(0.9)),
    }
}

/// Adds up the tallies of each combination of keys in all and per dimension.
pub(crate) fn summarize(groups: &[(Keys, Tally)]) -> Summary {
    let mut totals = Tally::default();
    let mut by: [BTreeMap<Option<String>, Tally>; 4] = Default::default();
    for (keys, tally) in groups {
        totals.merge(tally);
        let values = [
            Some(keys.channel.clone()),
            keys.team.clone(),
            keys.language.clone(),
            keys.category.clone(),
        ];
        for (map, key) in by.iter_mut().zip(values) {
            map.entry(key).or_default().merge(tally);
        }
    }
    let [channel, team, language, category] = by.map(|map| {
        let mut groups: Vec<Figures> = map
            .into_iter()
            .map(|(key, tally)| tally.figures(key))
            .collect();
        // The busiest first; a tie by key, so the order is stable.
        groups.sort_by(|a, b| {
            (b.new + b.resolved)
                .cmp(&(a.new + a.resolved))
                .then_with(|| a.key.cmp(&b.key))
        });
        groups
    });
    Summary {
        totals: totals.figures(None),
        by_channel: channel,
        by_team: team,
        by_language: language,
        by_category: category,
    }
}

/// One agent's figures over the range.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AgentFigures {
    pub agent_id: i64,
    pub name: String,
    /// Replies sent in the range.
    pub replies: u64,
    /// Conversations they replied in.
    pub conversations_replied: u64,
    /// Conversations they resolved in the range.
    pub resolved: u64,
    /// Of the conversations opened in the range and assigned to them.
    pub first_response_seconds: Times,
    /// Of the surveys asked in the range on conversations assigned to them.
    pub csat: CsatFigures,
}

/// The raw counts of one agent.
#[derive(Debug, Default)]
pub(crate) struct AgentTally {
    pub name: String,
    pub replies: u64,
    pub conversations_replied: u64,
    pub resolved: u64,
    pub first_response: Vec<i64>,
    pub surveys: u64,
    pub responses: u64,
    pub score_sum: i64,
}

impl AgentTally {
    pub(crate) fn figures(mut self, agent_id: i64) -> AgentFigures {
        let csat = Tally {
            surveys: self.surveys,
            responses: self.responses,
            score_sum: self.score_sum,
            ..Tally::default()
        }
        .figures(None)
        .csat;
        AgentFigures {
            agent_id,
            first_response_seconds: times(&mut self.first_response),
            name: self.name,
            replies: self.replies,
            conversations_replied: self.conversations_replied,
            resolved: self.resolved,
            csat,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(channel: &str, team: Option<&str>) -> Keys {
        Keys {
            channel: channel.into(),
            team: team.map(Into::into),
            language: Some("en".into()),
            category: None,
        }
    }

    #[test]
    fn figures_add_up_per_dimension_with_nearest_rank_percentiles() {
        // Ten answered in 1..=10 minutes on the website, two under an SLA, one missed, with
        // three surveys (5, 2, unanswered); one unanswered on Telegram, resolved after an
        // hour and reopened.
        let website = Tally {
            new: 10,
            first_response: (1..=10).map(|m| m * 60_000).collect(),
            sla_total: 2,
            sla_breached: 1,
            surveys: 3,
            responses: 2,
            score_sum: 7,
            ..Tally::default()
        };
        let telegram = Tally {
            new: 1,
            resolved: 1,
            reopened: 1,
            resolution: vec![3_600_000],
            ..Tally::default()
        };
        let groups = [
            (keys("website", Some("china")), website),
            (keys("telegram", None), telegram),
        ];
        let summary = summarize(&groups);
        let t = &summary.totals;
        assert_eq!((t.new, t.resolved, t.reopened), (11, 1, 1));
        assert_eq!(t.first_response_seconds.count, 10);
        assert_eq!(t.first_response_seconds.p50, Some(300.0));
        assert_eq!(t.first_response_seconds.p90, Some(540.0));
        assert_eq!(t.resolution_seconds.p50, Some(3600.0));
        assert_eq!(t.sla.rate, Some(0.5));
        assert_eq!(t.csat.average, Some(3.5));
        assert_eq!(t.csat.response_rate, Some(0.6667));
        assert_eq!(summary.by_channel[0].key.as_deref(), Some("website"));
        assert_eq!(summary.by_channel[0].new, 10);
        let no_team = summary.by_team.iter().find(|g| g.key.is_none()).unwrap();
        assert_eq!((no_team.new, no_team.resolved), (1, 1));
        assert_eq!(no_team.first_response_seconds, Times::default());
        assert_eq!(no_team.sla.rate, None);
        assert_eq!(summary.by_category.len(), 1);
        let empty = summarize(&[]);
        assert_eq!(empty.totals, Figures::default());
        assert!(empty.by_channel.is_empty());
    }
}
