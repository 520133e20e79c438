//! The queue's configuration and its pure decisions: teams (`[[team]]`), round-robin
//! assignment (`[assignment]`), routing rules (`[[rule]]`, evaluated in order at the opening
//! of a conversation and on each customer message), and service-level policies (`[sla]`).

use crate::automation::hours::BusinessHours;
use crate::store::sla::{SlaAnchors, SlaClock, SlaDue};
use crate::store::{Priority, Triage, TriageChange};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeamConfig {
    pub name: String,
    /// Languages (ISO 639-1) the team answers in: a conversation no rule gave a team goes to
    /// the first team answering in its language.
    #[serde(default)]
    pub languages: Vec<String>,
    /// Agents by email.
    #[serde(default)]
    pub members: Vec<String>,
    /// New conversations go round-robin to online members below capacity.
    #[serde(default = "yes")]
    pub auto_assign: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssignmentConfig {
    /// Open conversations one agent is given automatically at most.
    pub capacity: i64,
    /// An agent counts as online when the API or inbox saw them within this.
    #[serde(with = "humantime_serde")]
    pub online_window: Duration,
}

impl Default for AssignmentConfig {
    fn default() -> Self {
        Self {
            capacity: 8,
            online_window: Duration::from_secs(5 * 60),
        }
    }
}

/// `[[rule]]`: when every condition given holds, the actions apply. Rules run in order; all
/// that match apply (a later team or assignee wins, the highest priority wins, labels and
/// canned answers add up) until one with `stop = true` matched.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub name: String,
    /// `opened`, `reopened`, `message` (a later customer message); empty: all of them.
    #[serde(default)]
    pub on: Vec<String>,
    #[serde(default)]
    pub when: Conditions,
    pub then: Actions,
    #[serde(default)]
    pub stop: bool,
}

/// Each list given must contain the conversation's value; `words` match case-insensitively
/// anywhere in the customer's message.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conditions {
    #[serde(default)]
    pub channel: Vec<String>,
    #[serde(default)]
    pub language: Vec<String>,
    /// Intake categories (`[[front_desk.category]]` ids).
    #[serde(default)]
    pub category: Vec<String>,
    #[serde(default)]
    pub words: Vec<String>,
    /// The contact proved an email by a one-time code.
    pub verified: Option<bool>,
    #[serde(default)]
    pub priority: Vec<String>,
    /// Inside (`true`) or outside (`false`) `[front_desk.hours]`.
    pub business_hours: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Actions {
    /// A team by name.
    pub team: Option<String>,
    /// Raises the priority to this (automation never lowers one).
    pub priority: Option<String>,
    #[serde(default)]
    pub labels: Vec<String>,
    /// An agent by email, when nobody is assigned yet.
    pub assignee: Option<String>,
    /// A canned answer by shortcut, sent to the customer once per conversation.
    pub canned: Option<String>,
}

/// `[sla]`: targets per priority, counted in `[front_desk.hours]` when `business_hours`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaConfig {
    pub business_hours: bool,
    pub low: Option<SlaPolicy>,
    pub normal: Option<SlaPolicy>,
    pub high: Option<SlaPolicy>,
    pub urgent: Option<SlaPolicy>,
}

#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlaPolicy {
    /// From the opening to the first agent reply.
    #[serde(with = "humantime_serde")]
    pub first_response: Option<Duration>,
    /// From a customer's message (after an agent replied once) to the next agent reply.
    #[serde(with = "humantime_serde")]
    pub next_response: Option<Duration>,
    /// From the opening (or reopening) to resolved.
    #[serde(with = "humantime_serde")]
    pub resolution: Option<Duration>,
}

/// `[follow_up]`: what happens to a conversation waiting on the customer (`pending`).
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FollowUpConfig {
    /// After this long pending, the customer gets one reminder (text `follow_up_reminder`).
    #[serde(with = "humantime_serde")]
    pub remind_after: Option<Duration>,
    /// After this long pending, the conversation is resolved.
    #[serde(with = "humantime_serde")]
    pub resolve_after: Option<Duration>,
}

impl FollowUpConfig {
    pub fn policy(&self) -> crate::store::FollowUpPolicy {
        let ms = |d: Option<Duration>| d.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        crate::store::FollowUpPolicy {
            remind_after: ms(self.remind_after),
            resolve_after: ms(self.resolve_after),
        }
    }

    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        for (key, value) in [
            ("remind_after", self.remind_after),
            ("resolve_after", self.resolve_after),
        ] {
            if value.is_some_and(|d| d < Duration::from_secs(1)) {
                errors.push(format!("follow_up.{key}: must be at least 1s"));
            }
        }
        if let (Some(remind), Some(resolve)) = (self.remind_after, self.resolve_after)
            && resolve <= remind
        {
            errors.push(
                "follow_up.resolve_after: must be longer than follow_up.remind_after (the reminder comes first)"
                    .to_owned(),
            );
        }
        errors
    }
}

pub const TRIGGERS: [&str; 3] = ["opened", "reopened", "message"];
const PRIORITIES: [&str; 4] = ["low", "normal", "high", "urgent"];

/// Every error of the queue's sections, each naming its key. `categories`: the front desk's.
pub fn validate(
    teams: &[TeamConfig],
    assignment: &AssignmentConfig,
    rules: &[RuleConfig],
    sla: &SlaConfig,
    channels: &[&str],
    categories: &[&str],
    has_hours: bool,
) -> Vec<String> {
    let mut errors = Vec::new();
    let mut names: Vec<&str> = Vec::new();
    for (n, team) in teams.iter().enumerate() {
        let key = format!("team[{n}]");
        if team.name.trim().is_empty() || team.name.chars().count() > 60 {
            errors.push(format!("{key}.name: 1 to 60 characters"));
        }
        if names.contains(&team.name.as_str()) {
            errors.push(format!("{key}.name: {:?} is used twice", team.name));
        }
        names.push(&team.name);
        for email in &team.members {
            if !email.contains('@') {
                errors.push(format!("{key}.members: {email:?} is not an agent's email"));
            }
        }
        for language in &team.languages {
            if !is_language(language) {
                errors.push(format!(
                    "{key}.languages: {language:?} is not an ISO 639-1 code like \"zh\""
                ));
            }
        }
    }
    if assignment.capacity < 1 {
        errors.push("assignment.capacity: must be at least 1".into());
    }
    if assignment.online_window < Duration::from_secs(60) {
        errors.push(
            "assignment.online_window: at least 1m (presence is written once a minute)".into(),
        );
    }
    let mut rule_names: Vec<&str> = Vec::new();
    for (n, rule) in rules.iter().enumerate() {
        let key = format!("rule[{n}] ({:?})", rule.name);
        if rule.name.trim().is_empty() {
            errors.push(format!("rule[{n}].name: empty"));
        }
        if rule_names.contains(&rule.name.as_str()) {
            errors.push(format!("{key}.name: used twice"));
        }
        rule_names.push(&rule.name);
        for on in &rule.on {
            if !TRIGGERS.contains(&on.as_str()) {
                errors.push(format!(
                    "{key}.on: {on:?} is not one of {}",
                    TRIGGERS.join(", ")
                ));
            }
        }
        let when = &rule.when;
        for channel in &when.channel {
            if !channels.contains(&channel.as_str()) {
                errors.push(format!(
                    "{key}.when.channel: {channel:?} is not a configured channel"
                ));
            }
        }
        for category in &when.category {
            if !categories.contains(&category.as_str()) {
                errors.push(format!(
                    "{key}.when.category: {category:?} is not a [[front_desk.category]] id"
                ));
            }
        }
        for language in &when.language {
            if !is_language(language) {
                errors.push(format!(
                    "{key}.when.language: {language:?} is not an ISO 639-1 code"
                ));
            }
        }
        for priority in &when.priority {
            if !PRIORITIES.contains(&priority.as_str()) {
                errors.push(format!(
                    "{key}.when.priority: {priority:?} is not one of {}",
                    PRIORITIES.join(", ")
                ));
            }
        }
        if when.words.iter().any(|w| w.trim().is_empty()) {
            errors.push(format!(
                "{key}.when.words: an empty word matches everything"
            ));
        }
        if when.business_hours.is_some() && !has_hours {
            errors.push(format!(
                "{key}.when.business_hours: needs [front_desk.hours] to know them"
            ));
        }
        let then = &rule.then;
        if let Some(team) = &then.team
            && !names.contains(&team.as_str())
        {
            errors.push(format!("{key}.then.team: {team:?} is not a [[team]] name"));
        }
        if let Some(priority) = &then.priority
            && !PRIORITIES.contains(&priority.as_str())
        {
            errors.push(format!(
                "{key}.then.priority: {priority:?} is not one of {}",
                PRIORITIES.join(", ")
            ));
        }
        for label in &then.labels {
            let bad = label.trim().is_empty()
                || label.chars().count() > 40
                || label
                    .chars()
                    .any(|c| c.is_control() || c == '"' || c == '\\' || c == ',');
            if bad {
                errors.push(format!(
                    "{key}.then.labels: {label:?} must be 1 to 40 characters without quotes, backslashes or commas"
                ));
            }
        }
        if let Some(assignee) = &then.assignee
            && !assignee.contains('@')
        {
            errors.push(format!(
                "{key}.then.assignee: {assignee:?} is not an agent's email"
            ));
        }
        if let Some(canned) = &then.canned
            && canned.trim().is_empty()
        {
            errors.push(format!("{key}.then.canned: empty shortcut"));
        }
        let acts = then.team.is_some()
            || then.priority.is_some()
            || !then.labels.is_empty()
            || then.assignee.is_some()
            || then.canned.is_some();
        if !acts {
            errors.push(format!(
                "{key}.then: no action (team, priority, labels, assignee, canned)"
            ));
        }
    }
    if sla.business_hours && !has_hours {
        errors.push("sla.business_hours: needs [front_desk.hours] to count them".into());
    }
    for (name, policy) in [
        ("low", &sla.low),
        ("normal", &sla.normal),
        ("high", &sla.high),
        ("urgent", &sla.urgent),
    ] {
        if let Some(p) = policy {
            for (target, d) in [
                ("first_response", p.first_response),
                ("next_response", p.next_response),
                ("resolution", p.resolution),
            ] {
                if d.is_some_and(|d| d.is_zero()) {
                    errors.push(format!("sla.{name}.{target}: must be longer than zero"));
                }
            }
        }
    }
    errors
}

fn is_language(code: &str) -> bool {
    code.len() == 2 && code.chars().all(|c| c.is_ascii_lowercase())
}

/// What a rule's conditions are checked against.
#[derive(Debug, Clone)]
pub struct RuleInput<'a> {
    pub trigger: &'a str,
    pub channel: &'a str,
    pub language: Option<&'a str>,
    pub category: Option<&'a str>,
    pub text: &'a str,
    pub verified: bool,
    pub priority: Priority,
    pub open_now: bool,
}

impl RuleConfig {
    pub fn matches(&self, input: &RuleInput<'_>) -> bool {
        let when = &self.when;
        let among = |list: &[String], value: Option<&str>| {
            list.is_empty() || value.is_some_and(|v| list.iter().any(|l| l.eq_ignore_ascii_case(v)))
        };
        let lower = input.text.to_lowercase();
        (self.on.is_empty() || self.on.iter().any(|o| o == input.trigger))
            && among(&when.channel, Some(input.channel))
            && among(&when.language, input.language)
            && among(&when.category, input.category)
            && among(&when.priority, Some(input.priority.as_str()))
            && (when.words.is_empty()
                || when.words.iter().any(|w| lower.contains(&w.to_lowercase())))
            && when.verified.is_none_or(|v| v == input.verified)
            && when.business_hours.is_none_or(|b| b == input.open_now)
    }
}

/// Runs the rules over one message: the triage they ask for (the store applies it with its
/// limits), starting from `triage` (urgency's findings).
pub fn route(rules: &[RuleConfig], input: &RuleInput<'_>, mut triage: Triage) -> Triage {
    // Conditions on priority see what urgency already raised it to.
    let mut input = input.clone();
    if let Some(p) = &triage.priority
        && p.value.rank() > input.priority.rank()
    {
        input.priority = p.value;
    }
    for rule in rules {
        if !rule.matches(&input) {
            continue;
        }
        let actor = format!("rule:{}", rule.name);
        let change = |value: String| TriageChange {
            value,
            actor: actor.clone(),
            reason: Some(actor.clone()),
        };
        let then = &rule.then;
        if let Some(priority) = then.priority.as_deref().and_then(Priority::parse)
            && triage
                .priority
                .as_ref()
                .is_none_or(|p| priority.rank() > p.value.rank())
        {
            triage.priority = Some(TriageChange {
                value: priority,
                actor: actor.clone(),
                reason: Some(actor.clone()),
            });
            input.priority = priority;
        }
        if let Some(team) = &then.team {
            triage.team = Some(change(team.clone()));
        }
        for label in &then.labels {
            triage.labels.push(change(label.clone()));
        }
        if let Some(assignee) = &then.assignee {
            triage.assignee = Some(change(assignee.clone()));
        }
        if let Some(canned) = &then.canned {
            triage.canned.push(change(canned.clone()));
        }
        if rule.stop {
            break;
        }
    }
    triage
}

/// The SLA policies as the store's clock: due times from the anchors, in business hours
/// when configured so.
pub struct Policies {
    config: SlaConfig,
    hours: Option<BusinessHours>,
}

impl Policies {
    pub fn new(config: SlaConfig, hours: Option<BusinessHours>) -> Self {
        let hours = if config.business_hours { hours } else { None };
        Self { config, hours }
    }

    fn policy(&self, priority: Priority) -> Option<&SlaPolicy> {
        match priority {
            Priority::Low => self.config.low.as_ref(),
            Priority::Normal => self.config.normal.as_ref(),
            Priority::High => self.config.high.as_ref(),
            Priority::Urgent => self.config.urgent.as_ref(),
        }
    }

    fn after(&self, from: i64, span: Duration) -> i64 {
        let span_ms = i64::try_from(span.as_millis()).unwrap_or(i64::MAX);
        let wall = from.saturating_add(span_ms);
        let Some(hours) = &self.hours else {
            return wall;
        };
        let (Some(at), Ok(span)) = (
            DateTime::<Utc>::from_timestamp_millis(from),
            chrono::Duration::from_std(span),
        ) else {
            return wall;
        };
        // Hours that never open again: the wall clock, rather than no target at all.
        hours
            .add_open_time(at, span)
            .map_or(wall, |t| t.timestamp_millis())
    }

    pub fn is_empty(&self) -> bool {
        [
            &self.config.low,
            &self.config.normal,
            &self.config.high,
            &self.config.urgent,
        ]
        .iter()
        .all(|p| p.is_none())
    }
}

impl SlaClock for Policies {
    fn due(&self, priority: Priority, anchors: &SlaAnchors) -> SlaDue {
        let Some(policy) = self.policy(priority) else {
            return SlaDue::default();
        };
        SlaDue {
            first_response: policy
                .first_response
                .map(|d| self.after(anchors.opened_at, d)),
            next_response: match (policy.next_response, anchors.waiting_since) {
                (Some(d), Some(since)) => Some(self.after(since, d)),
                _ => None,
            },
            resolution: policy.resolution.map(|d| self.after(anchors.opened_at, d)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Vec<RuleConfig> {
        let text = r#"
[[rule]]
name = "chinese"
when = { language = ["zh"] }
then = { team = "china" }

[[rule]]
name = "security"
when = { category = ["security"] }
then = { team = "security", priority = "high", labels = ["security"] }

[[rule]]
name = "vip"
when = { verified = true, words = ["vip", "贵宾"] }
then = { priority = "urgent", labels = ["vip"], assignee = "lead@example.com" }
stop = true

[[rule]]
name = "night"
on = ["opened"]
when = { business_hours = false }
then = { canned = "night" }

[[rule]]
name = "email-urgent"
when = { channel = ["mail"], priority = ["urgent"] }
then = { labels = ["email-urgent"] }
"#;
        #[derive(Deserialize)]
        struct File {
            rule: Vec<RuleConfig>,
        }
        toml::from_str::<File>(text).unwrap().rule
    }

    fn input<'a>() -> RuleInput<'a> {
        RuleInput {
            trigger: "opened",
            channel: "tg",
            language: Some("en"),
            category: None,
            text: "hello",
            verified: false,
            priority: Priority::Normal,
            open_now: true,
        }
    }

    struct Row {
        name: &'static str,
        input: RuleInput<'static>,
        urgent_before: bool,
        team: Option<&'static str>,
        priority: Option<Priority>,
        labels: &'static [&'static str],
        assignee: Option<&'static str>,
        canned: &'static [&'static str],
    }

    #[test]
    fn a_table_of_conversations_through_the_rules() {
        let base = input();
        let rows = [
            Row {
                name: "nothing matches",
                input: base.clone(),
                urgent_before: false,
                team: None,
                priority: None,
                labels: &[],
                assignee: None,
                canned: &[],
            },
            Row {
                name: "chinese to china",
                input: RuleInput {
                    language: Some("zh"),
                    ..base.clone()
                },
                urgent_before: false,
                team: Some("china"),
                priority: None,
                labels: &[],
                assignee: None,
                canned: &[],
            },
            Row {
                name: "chinese security: the later team wins, priority and label added",
                input: RuleInput {
                    language: Some("zh"),
                    category: Some("security"),
                    trigger: "message",
                    ..base.clone()
                },
                urgent_before: false,
                team: Some("security"),
                priority: Some(Priority::High),
                labels: &["security"],
                assignee: None,
                canned: &[],
            },
            Row {
                name: "vip needs the verification too",
                input: RuleInput {
                    text: "I am VIP",
                    ..base.clone()
                },
                urgent_before: false,
                team: None,
                priority: None,
                labels: &[],
                assignee: None,
                canned: &[],
            },
            Row {
                name: "verified vip stops the later rules (no night answer)",
                input: RuleInput {
                    text: "我是贵宾客户",
                    verified: true,
                    open_now: false,
                    ..base.clone()
                },
                urgent_before: false,
                team: None,
                priority: Some(Priority::Urgent),
                labels: &["vip"],
                assignee: Some("lead@example.com"),
                canned: &[],
            },
            Row {
                name: "night answer at opening",
                input: RuleInput {
                    open_now: false,
                    ..base.clone()
                },
                urgent_before: false,
                team: None,
                priority: None,
                labels: &[],
                assignee: None,
                canned: &["night"],
            },
            Row {
                name: "no night answer on a later message",
                input: RuleInput {
                    open_now: false,
                    trigger: "message",
                    ..base.clone()
                },
                urgent_before: false,
                team: None,
                priority: None,
                labels: &[],
                assignee: None,
                canned: &[],
            },
            Row {
                name: "priority conditions see urgency's raise",
                input: RuleInput {
                    channel: "mail",
                    ..base.clone()
                },
                urgent_before: true,
                team: None,
                priority: Some(Priority::Urgent),
                labels: &["email-urgent"],
                assignee: None,
                canned: &[],
            },
        ];
        let rules = rules();
        for row in rows {
            let start = Triage {
                priority: row.urgent_before.then(|| TriageChange {
                    value: Priority::Urgent,
                    actor: "urgency".into(),
                    reason: None,
                }),
                ..Triage::default()
            };
            let t = route(&rules, &row.input, start);
            assert_eq!(
                t.team.as_ref().map(|c| c.value.as_str()),
                row.team,
                "{}",
                row.name
            );
            assert_eq!(
                t.priority.as_ref().map(|c| c.value),
                row.priority,
                "{}",
                row.name
            );
            let labels: Vec<&str> = t.labels.iter().map(|c| c.value.as_str()).collect();
            assert_eq!(labels, row.labels, "{}", row.name);
            assert_eq!(
                t.assignee.as_ref().map(|c| c.value.as_str()),
                row.assignee,
                "{}",
                row.name
            );
            let canned: Vec<&str> = t.canned.iter().map(|c| c.value.as_str()).collect();
            assert_eq!(canned, row.canned, "{}", row.name);
        }
    }

    #[test]
    fn every_error_of_the_rules_is_listed() {
        let text = r#"
[[rule]]
name = "bad"
on = ["sometimes"]
when = { channel = ["nope"], category = ["nothing"], priority = ["asap"], words = [""], business_hours = true }
then = { team = "ghosts", priority = "asap", labels = ["a,b"], assignee = "bob" }

[[rule]]
name = "bad"
then = {}
"#;
        #[derive(Deserialize)]
        struct File {
            rule: Vec<RuleConfig>,
        }
        let rules = toml::from_str::<File>(text).unwrap().rule;
        let errors = validate(
            &[],
            &AssignmentConfig::default(),
            &rules,
            &SlaConfig::default(),
            &["tg"],
            &["deposit"],
            false,
        );
        for needle in [
            ".on:",
            "when.channel",
            "when.category",
            "when.priority",
            "when.words",
            "when.business_hours",
            "then.team",
            "then.priority",
            "then.labels",
            "then.assignee",
            "name: used twice",
            "then: no action",
        ] {
            assert!(
                errors.iter().any(|e| e.contains(needle)),
                "{needle} in {errors:#?}"
            );
        }
    }

    #[test]
    fn follow_ups_remind_before_they_resolve() {
        let config = |remind: &str, resolve: &str| -> FollowUpConfig {
            toml::from_str(&format!(
                "remind_after = {remind:?}\nresolve_after = {resolve:?}"
            ))
            .unwrap()
        };
        assert!(config("24h", "3d").validate().is_empty());
        assert_eq!(
            config("24h", "3d").policy(),
            crate::store::FollowUpPolicy {
                remind_after: Some(86_400_000),
                resolve_after: Some(259_200_000),
            }
        );
        let errors = config("2d", "1d").validate();
        assert!(
            errors[0].starts_with("follow_up.resolve_after: must be longer"),
            "{errors:?}"
        );
        let errors = config("500ms", "0s").validate();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(FollowUpConfig::default().validate().is_empty());
    }

    #[test]
    fn due_times_follow_the_policy_of_the_priority() {
        let config = SlaConfig {
            business_hours: false,
            urgent: Some(SlaPolicy {
                first_response: Some(Duration::from_secs(900)),
                next_response: Some(Duration::from_secs(1800)),
                resolution: Some(Duration::from_secs(4 * 3600)),
            }),
            ..SlaConfig::default()
        };
        let clock = Policies::new(config, None);
        let anchors = SlaAnchors {
            opened_at: 1_000,
            first_replied_at: None,
            waiting_since: None,
        };
        let due = clock.due(Priority::Urgent, &anchors);
        assert_eq!(due.first_response, Some(1_000 + 900_000));
        assert_eq!(due.next_response, None);
        assert_eq!(due.resolution, Some(1_000 + 4 * 3_600_000));
        assert!(
            clock.due(Priority::Normal, &anchors).is_empty(),
            "no policy, no clock"
        );
        let waiting = SlaAnchors {
            first_replied_at: Some(5_000),
            waiting_since: Some(10_000),
            ..anchors
        };
        assert_eq!(
            clock.due(Priority::Urgent, &waiting).next_response,
            Some(10_000 + 1_800_000)
        );
    }
}
