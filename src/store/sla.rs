//! The service-level clock as the store keeps it: due times (absolute, ms) and which were
//! missed. How long a policy allows and how business hours count are the automation's
//! (`crate::automation::sla`), handed in as a `SlaClock`.

use super::{Priority, Status};

/// Due times of one conversation (ms); `None` where no target applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SlaDue {
    pub first_response: Option<i64>,
    pub next_response: Option<i64>,
    pub resolution: Option<i64>,
}

/// When the clock's targets started, read from the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaAnchors {
    /// Created, or reopened last.
    pub opened_at: i64,
    /// When an agent first replied, if one has.
    pub first_replied_at: Option<i64>,
    /// The customer's first message after the latest agent reply (once an agent has replied):
    /// the next response is due from then.
    pub waiting_since: Option<i64>,
}

/// Computes due times for a priority from the anchors; `SlaDue::default()` when no policy.
pub trait SlaClock: Send + Sync {
    fn due(&self, priority: Priority, anchors: &SlaAnchors) -> SlaDue;
}

pub const FIRST_RESPONSE: &str = "first_response";
pub const NEXT_RESPONSE: &str = "next_response";
pub const RESOLUTION: &str = "resolution";

impl SlaDue {
    pub fn is_empty(&self) -> bool {
        self.first_response.is_none() && self.next_response.is_none() && self.resolution.is_none()
    }

    /// The targets missed as of `now` that can still be seen missing: a first response given
    /// late, or not given by its time; a waiting message unanswered past its time; an
    /// unresolved conversation past its time. (A resolution given late is recorded when it is
    /// given, see `missed_on_resolve`.)
    pub fn missed(
        &self,
        first_replied_at: Option<i64>,
        status: Status,
        now: i64,
    ) -> Vec<&'static str> {
        let mut out = Vec::new();
        if let Some(due) = self.first_response
            && first_replied_at.unwrap_or(now) > due
        {
            out.push(FIRST_RESPONSE);
        }
        if let Some(due) = self.next_response
            && now > due
        {
            out.push(NEXT_RESPONSE);
        }
        if let Some(due) = self.resolution
            && status != Status::Resolved
            && now > due
        {
            out.push(RESOLUTION);
        }
        out
    }

    /// The next instant after `now` at which a target not yet met falls due: when the sweeper
    /// must look again (`None`: nothing pending).
    pub fn watch(&self, first_replied_at: Option<i64>, status: Status, now: i64) -> Option<i64> {
        let first = self.first_response.filter(|_| first_replied_at.is_none());
        let resolution = self.resolution.filter(|_| status != Status::Resolved);
        [first, self.next_response, resolution]
            .into_iter()
            .flatten()
            .filter(|due| *due >= now)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_missed_only_past_their_time_and_unmet() {
        let due = SlaDue {
            first_response: Some(100),
            next_response: None,
            resolution: Some(1_000),
        };
        assert!(due.missed(None, Status::Open, 100).is_empty());
        assert_eq!(due.missed(None, Status::Open, 101), [FIRST_RESPONSE]);
        assert!(due.missed(Some(90), Status::Open, 500).is_empty());
        assert_eq!(due.missed(Some(120), Status::Open, 500), [FIRST_RESPONSE]);
        assert_eq!(
            due.missed(Some(90), Status::Open, 1_001),
            [RESOLUTION],
            "unresolved past its time"
        );
        assert!(due.missed(Some(90), Status::Resolved, 5_000).is_empty());
        assert_eq!(due.watch(None, Status::Open, 50), Some(100));
        assert_eq!(due.watch(Some(60), Status::Open, 50), Some(1_000));
        assert_eq!(due.watch(Some(60), Status::Resolved, 50), None);
    }
}
