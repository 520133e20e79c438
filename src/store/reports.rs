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

/// One conversation's contribution to one figure.
#[derive(Debug, Clone)]
pub(crate) enum Fact {
    /// Opened in the range: its first response time (ms), if answered; whether an SLA
    /// applied and whether it was missed.
    New {
        first_response: Option<i64>,
        sla: bool,
        breached: bool,
    },
    /// Resolved in the range, after this long (ms since it was opened).
    Resolved(i64),
    Reopened,
    /// A survey asked in the range, and the rating if given.
    Survey(Option<i64>),
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

/// The raw samples of one group, made into figures at the end.
#[derive(Default)]
struct Tally {
    new: u64,
    resolved: u64,
    reopened: u64,
    first_response: Vec<i64>,
    resolution: Vec<i64>,
    sla_total: u64,
    sla_breached: u64,
    surveys: u64,
    responses: u64,
    score_sum: i64,
}

impl Tally {
    fn add(&mut self, fact: &Fact) {
        match *fact {
            Fact::New {
                first_response,
                sla,
                breached,
            } => {
                self.new += 1;
                if let Some(ms) = first_response {
                    self.first_response.push(ms.max(0));
                }
                if sla {
                    self.sla_total += 1;
                    self.sla_breached += u64::from(breached);
                }
            }
            Fact::Resolved(ms) => {
                self.resolved += 1;
                self.resolution.push(ms.max(0));
            }
            Fact::Reopened => self.reopened += 1,
            Fact::Survey(score) => {
                self.surveys += 1;
                if let Some(s) = score {
                    self.responses += 1;
                    self.score_sum = self.score_sum.saturating_add(s);
                }
            }
        }
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

/// Adds up `facts` in all and per dimension.
pub(crate) fn summarize(facts: &[(Keys, Fact)]) -> Summary {
    let mut totals = Tally::default();
    let mut by: [BTreeMap<Option<String>, Tally>; 4] = Default::default();
    for (keys, fact) in facts {
        totals.add(fact);
        let values = [
            Some(keys.channel.clone()),
            keys.team.clone(),
            keys.language.clone(),
            keys.category.clone(),
        ];
        for (map, key) in by.iter_mut().zip(values) {
            map.entry(key).or_default().add(fact);
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
        let mut facts = Vec::new();
        // Ten answered in 1..=10 minutes on the website, two under an SLA, one missed.
        for minute in 1..=10 {
            let fact = Fact::New {
                first_response: Some(minute * 60_000),
                sla: minute <= 2,
                breached: minute == 2,
            };
            facts.push((keys("website", Some("china")), fact));
        }
        facts.push((
            keys("telegram", None),
            Fact::New {
                first_response: None,
                sla: false,
                breached: false,
            },
        ));
        facts.push((keys("telegram", None), Fact::Resolved(3_600_000)));
        facts.push((keys("telegram", None), Fact::Reopened));
        facts.push((keys("website", Some("china")), Fact::Survey(Some(5))));
        facts.push((keys("website", Some("china")), Fact::Survey(Some(2))));
        facts.push((keys("website", Some("china")), Fact::Survey(None)));
        let summary = summarize(&facts);
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
