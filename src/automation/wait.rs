//! The expected wait told in an acknowledgement, from the live queue (see README, "The
//! expected wait"):
//!
//! `wait = median first response × ⌈(waiting ahead + 1) / max(active agents, 1)⌉`
//!
//! Each active agent takes one waiting customer per median first-response time, so a customer
//! is served in round ⌈(ahead + 1) / agents⌉. Outside business hours, or when that wait ends
//! after closing time, the customer is told when the team is back instead.

use super::hours::BusinessHours;
use chrono::{DateTime, Utc};

/// Fewer answered conversations than this in the sample window: the configured default
/// first-response time stands in for the median.
pub const MIN_SAMPLES: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Queue {
    pub waiting_ahead: i64,
    pub active_agents: i64,
    /// ms
    pub median_first_response: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    /// Minutes, rounded up to what a person would say (5, 10, ... 60, 75, ...).
    Within(i64),
    /// Closed (or closing before the wait is over): back at this time.
    Back(DateTime<Utc>),
}

/// The median of `samples` (ms), or `default` with too few of them.
pub fn median(samples: &[i64], default: i64) -> i64 {
    if samples.len() < MIN_SAMPLES {
        return default;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        sorted[mid - 1] / 2 + sorted[mid] / 2
    }
}

pub fn wait_ms(queue: &Queue) -> i64 {
    let agents = queue.active_agents.max(1);
    let rounds = (queue.waiting_ahead.max(0).saturating_add(1) + agents - 1) / agents;
    queue.median_first_response.max(0).saturating_mul(rounds)
}

pub fn expected(queue: &Queue, hours: Option<&BusinessHours>, now: DateTime<Utc>) -> Expected {
    let wait = wait_ms(queue);
    if let Some(hours) = hours {
        match hours.open_until(now) {
            None => {
                if let Some(back) = hours.next_open(now) {
                    return Expected::Back(back);
                }
            }
            Some(closes) => {
                let answered = now + chrono::Duration::milliseconds(wait);
                if answered > closes
                    && let Some(back) = hours.next_open(closes)
                {
                    return Expected::Back(back);
                }
            }
        }
    }
    Expected::Within(round_minutes(wait))
}

/// Up to an hour in steps of 5 minutes, up to 3 hours in quarters, then whole hours.
pub fn round_minutes(ms: i64) -> i64 {
    let minutes = ms.max(0).saturating_add(59_999) / 60_000;
    let up = |step: i64| ((minutes + step - 1) / step).max(1) * step;
    match minutes {
        ..=60 => up(5),
        61..=180 => up(15),
        _ => up(60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn the_wait_grows_with_the_queue_and_shrinks_with_agents() {
        // (ahead, agents, median minutes) → stated minutes
        let table = [
            (0, 1, 4, 5),
            (0, 3, 12, 15),
            (2, 1, 10, 30),
            (2, 3, 10, 10),
            (5, 2, 10, 30),
            (9, 0, 10, 100 / 15 * 15 + 15),
            (30, 2, 20, 180 + 2 * 60 + 60),
        ];
        for (ahead, agents, median, stated) in table {
            let q = Queue {
                waiting_ahead: ahead,
                active_agents: agents,
                median_first_response: median * MIN,
            };
            let now = Utc::now();
            assert_eq!(
                expected(&q, None, now),
                Expected::Within(stated),
                "{ahead} ahead, {agents} agents, {median} min median"
            );
        }
    }

    #[test]
    fn median_needs_enough_samples() {
        assert_eq!(median(&[1, 2, 3], 900), 900);
        assert_eq!(median(&[5, 1, 4, 2, 3], 900), 3);
        assert_eq!(median(&[6, 1, 4, 2, 3, 5], 900), 3);
    }

    #[test]
    fn outside_hours_or_past_closing_it_says_when_the_team_is_back() {
        use crate::automation::config::HoursConfig;
        let hours = BusinessHours::parse(&HoursConfig {
            timezone: "UTC".into(),
            weekly: [("mon", "09:00-17:00"), ("tue", "09:00-17:00")]
                .into_iter()
                .map(|(d, r)| (d.to_owned(), r.to_owned()))
                .collect(),
            holidays: vec![],
        })
        .unwrap();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let q = Queue {
            waiting_ahead: 0,
            active_agents: 1,
            median_first_response: 30 * MIN,
        };
        // Monday 2026-11-30 10:00: open, 30 minutes.
        assert_eq!(
            expected(&q, Some(&hours), at("2026-11-30T10:00:00Z")),
            Expected::Within(30)
        );
        // Monday 16:50: the wait would end after 17:00, so: back Tuesday 09:00.
        assert_eq!(
            expected(&q, Some(&hours), at("2026-11-30T16:50:00Z")),
            Expected::Back(at("2026-12-01T09:00:00Z"))
        );
        // Tuesday evening: back next Monday.
        assert_eq!(
            expected(&q, Some(&hours), at("2026-12-01T20:00:00Z")),
            Expected::Back(at("2026-12-07T09:00:00Z"))
        );
    }
}
