//! Automation: the front desk owns every automatic message a customer gets (acknowledgement
//! with the expected wait, intake questions, article answers, known-issue notices).
//!
//! Ingest queues each stored customer message (`automation_queue`) in the transaction that
//! stores it; this worker takes the queue in order, decides (`desk::decide`, pure), and
//! writes the replies (through the outbox, marked automatic), the desk's state and the intake
//! answers in one transaction with the removal of the queue row. So each message is answered
//! exactly once across crashes, restarts and several daemons; automatic and history messages
//! are never queued at all, and no conversation gets more than `max_per_hour` of them.

pub mod config;
pub mod csat;
pub mod desk;
pub mod hours;
pub mod intake;
pub mod knowledge;
pub mod language;
pub mod routing;
pub mod spike;
pub mod texts;
pub mod urgency;
pub mod wait;

pub use config::FrontDeskConfig;

use crate::delivery::Dispatcher;
use crate::store::{
    AssignPolicy, DeskContext, DeskItem, DeskOutcome, DeskPlan, KnownIssue, Priority, Store,
    Triage, TriageChange,
};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// Queue rows taken per pass.
const BATCH: i64 = 100;
/// How often the queue is looked at without a wake-up (messages another daemon stored).
const POLL: Duration = Duration::from_secs(1);
/// The median first response is measured over this window, from at most `SAMPLES` answers,
/// and measured again at most this often.
const WINDOW_MS: i64 = 7 * 24 * 3_600_000;
const SAMPLES: i64 = 200;
const REMEASURE: Duration = Duration::from_secs(60);
/// How often missed service-level targets and waiting unassigned conversations are looked for.
const SWEEP: Duration = Duration::from_secs(5);

/// The queue's part of automation: routing rules and round-robin assignment.
#[derive(Debug, Clone, Default)]
pub struct Queue {
    pub rules: Vec<routing::RuleConfig>,
    pub assignment: routing::AssignmentConfig,
    /// The configured teams, written again now and then: members added with
    /// `switchboard agent add` after the start join their teams without a restart.
    pub teams: Vec<crate::store::TeamSpec>,
    /// Reminders to and closing of conversations waiting on the customer.
    pub follow_up: crate::store::FollowUpPolicy,
    pub spike: spike::SpikeConfig,
}

/// How often the configured teams are written again.
const TEAM_SYNC: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub struct FrontDesk {
    inner: Arc<Inner>,
}

struct Inner {
    desk: desk::Desk,
    store: Store,
    dispatcher: Dispatcher,
    wake: Arc<Notify>,
    expiry: Duration,
    median: Mutex<Option<(Instant, i64)>>,
    knowledge: Option<knowledge::Knowledge>,
    queue: Queue,
    swept: Mutex<Option<Instant>>,
    teams_synced: Mutex<Option<Instant>>,
    /// For spike webhooks: no redirects (the body would go where nobody configured).
    http: reqwest::Client,
}

impl FrontDesk {
    /// `wake` is notified by ingest when it stored something.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: FrontDeskConfig,
        safety: Arc<crate::safety::Texts>,
        store: Store,
        dispatcher: Dispatcher,
        wake: Arc<Notify>,
        expiry: Duration,
        knowledge: Option<knowledge::Knowledge>,
        queue: Queue,
    ) -> anyhow::Result<Self> {
        let desk =
            desk::Desk::new(config, safety).map_err(|e| anyhow::anyhow!("front_desk: {e}"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                desk,
                store,
                dispatcher,
                wake,
                expiry,
                median: Mutex::new(None),
                knowledge,
                queue,
                swept: Mutex::new(None),
                teams_synced: Mutex::new(Some(Instant::now())),
                http: reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
                    .build()
                    .map_err(|e| anyhow::anyhow!("spike webhook client: {e}"))?,
            }),
        })
    }

    pub async fn run(self, shutdown: CancellationToken) {
        let mut failures = 0u32;
        loop {
            let pause = match self.pass().await {
                Ok(n) if n as i64 >= BATCH => {
                    failures = 0;
                    continue;
                }
                Ok(_) => {
                    failures = 0;
                    POLL
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    tracing::warn!(error = %e, "front desk pass failed; retrying");
                    POLL.saturating_mul(failures.min(30))
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Answers what is queued; returns how many queue rows it looked at.
    pub async fn pass(&self) -> crate::store::Result<usize> {
        let store = &self.inner.store;
        self.sweep().await?;
        let items = store.desk_queue(BATCH).await?;
        if items.is_empty() {
            return Ok(0);
        }
        let notices = store.notices(crate::store::now_ms(), false).await?;
        let mut sent = 0;
        for item in &items {
            sent += self.answer(item, &notices).await?;
        }
        if sent > 0 {
            self.inner.dispatcher.wake();
        }
        Ok(items.len())
    }

    async fn answer(&self, item: &DeskItem, notices: &[KnownIssue]) -> crate::store::Result<usize> {
        let inner = &self.inner;
        // Stale: another daemon's desk changed the conversation between read and write.
        for _ in 0..3 {
            let Some(context) = inner.store.desk_context(item).await? else {
                return Ok(0);
            };
            // Measured only for an acknowledgement (and so only once there is one to make).
            let acknowledges = item.trigger != "message" && inner.desk.enabled_on(&context.channel);
            let median = if acknowledges {
                self.median().await?
            } else {
                0
            };
            // Only a conversation's first message is answered with an article.
            let article = match &inner.knowledge {
                Some(kb) if acknowledges && item.trigger == "opened" => {
                    let language = inner.desk.reply_language(&context);
                    kb.answer(&context.text, Some(&language))
                        .await
                        .map(|a| desk::ArticleHit {
                            id: a.id,
                            title: a.title,
                            summary: a.summary,
                            url: a.url,
                        })
                }
                _ => None,
            };
            let input = desk::Input {
                context: &context,
                median_first_response: median,
                notices,
                article,
            };
            let mut plan = desk::decide(&inner.desk, &input);
            plan.triage = self.triage(&context, &plan);
            match inner
                .store
                .apply_desk(&context, &plan, inner.expiry)
                .await?
            {
                DeskOutcome::Applied { replies } => {
                    if replies > 0 {
                        tracing::info!(conversation = item.conversation_id, message = item.message_id,
                            trigger = %item.trigger, replies, "front desk answered");
                    }
                    return Ok(replies);
                }
                DeskOutcome::Stale => continue,
            }
        }
        Ok(0)
    }

    /// Urgency and the routing rules over one customer message.
    fn triage(&self, context: &DeskContext, plan: &DeskPlan) -> Triage {
        let inner = &self.inner;
        let mut triage = Triage::default();
        let found = urgency::assess(&context.text).or_else(|| {
            urgency::follow_ups(context.unanswered, context.unanswered_since, context.now)
        });
        if let Some(found) = found {
            triage.priority = Some(TriageChange {
                value: Priority::Urgent,
                actor: "urgency".into(),
                reason: Some(format!(
                    "urgency: {} ({})",
                    found.reason.as_str(),
                    found.evidence
                )),
            });
        }
        let intake = plan.intake.as_ref().or(context.intake.as_ref());
        let category: Option<String> = intake
            .and_then(|j| serde_json::from_str::<serde_json::Value>(j).ok())
            .and_then(|v| v.get("category")?.as_str().map(str::to_owned));
        let language = plan
            .language
            .clone()
            .or_else(|| context.conversation_language.clone())
            .or_else(|| context.message_language.clone());
        let now = chrono::DateTime::from_timestamp_millis(context.now).unwrap_or_default();
        let input = routing::RuleInput {
            trigger: &context.item.trigger,
            channel: &context.channel,
            language: language.as_deref(),
            category: category.as_deref(),
            text: &context.text,
            verified: !context.conversation.contact.verified_emails.is_empty(),
            priority: context.conversation.priority,
            open_now: inner
                .desk
                .hours
                .as_ref()
                .is_none_or(|h| h.open_until(now).is_some()),
        };
        let mut triage = routing::route(&inner.queue.rules, &input, triage);
        triage.language = language;
        let sent = context
            .auto_last_hour
            .saturating_add(plan.replies.len() as i64);
        triage.reply_budget = inner.desk.config.max_per_hour.saturating_sub(sent).max(0);
        triage.auto_assign = Some(self.assign_policy(context.now));
        triage
    }

    fn assign_policy(&self, now: i64) -> AssignPolicy {
        let window = i64::try_from(self.inner.queue.assignment.online_window.as_millis())
            .unwrap_or(i64::MAX);
        AssignPolicy {
            capacity: self.inner.queue.assignment.capacity,
            online_since: now.saturating_sub(window),
        }
    }

    /// Records missed SLA targets and assigns waiting conversations, every few seconds.
    async fn sweep(&self) -> crate::store::Result<()> {
        {
            let mut swept = self.inner.swept.lock().unwrap();
            if swept.is_some_and(|at| at.elapsed() < SWEEP) {
                return Ok(());
            }
            *swept = Some(Instant::now());
        }
        let store = &self.inner.store;
        let resync = {
            let mut synced = self.inner.teams_synced.lock().unwrap();
            let due = synced.is_none_or(|at| at.elapsed() >= TEAM_SYNC);
            if due {
                *synced = Some(Instant::now());
            }
            due && !self.inner.queue.teams.is_empty()
        };
        if resync {
            store.sync_teams(&self.inner.queue.teams).await?;
        }
        for breach in store.sla_sweep(BATCH).await? {
            tracing::warn!(conversation = breach.conversation_id, target = %breach.target,
                priority = breach.priority.as_str(), "SLA target missed");
        }
        let policy = self.assign_policy(crate::store::now_ms());
        let assigned = store.assign_waiting(&policy, BATCH).await?;
        if assigned > 0 {
            tracing::info!(assigned, "waiting conversations assigned");
        }
        self.follow_up().await?;
        self.surveys().await?;
        self.spikes().await
    }

    /// What the store needs to read survey answers and thank for them, from `[csat]` and
    /// the desk's texts.
    pub fn survey_settings(&self, csat: &csat::CsatConfig) -> crate::store::SurveySettings {
        let ms = |d: Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        let texts = &self.inner.desk.texts;
        crate::store::SurveySettings {
            rating_window: ms(csat.rating_window),
            comment_window: ms(csat.comment_window),
            min_interval: ms(csat.min_interval),
            thanks: texts.all("csat_thanks"),
            comment_thanks: texts.all("csat_comment_thanks"),
            expiry: self.inner.expiry,
        }
    }

    /// Opens spike episodes (an event and one webhook each) and ends those that are over.
    async fn spikes(&self) -> crate::store::Result<()> {
        let inner = &self.inner;
        let config = &inner.queue.spike;
        if !config.enabled() {
            return Ok(());
        }
        let since = crate::store::now_ms().saturating_sub(config.window_ms());
        let keywords = config.watched_keywords();
        let counts = inner
            .store
            .spike_counts(since, config.categories, &keywords)
            .await?;
        let over: Vec<_> = counts
            .into_iter()
            .filter(|c| c.count > i64::from(config.threshold))
            .collect();
        inner.store.settle_spikes(&over).await?;
        for count in &over {
            let Some(spike) = inner.store.open_spike(count).await? else {
                continue;
            };
            tracing::warn!(kind = %spike.kind, key = %spike.key, count = spike.count,
                window_secs = config.window.as_secs(), "spike of new conversations");
            if config.webhook_url.is_some() {
                // Off the sweep: a slow receiver must not hold up reminders and surveys.
                let (client, config, store) =
                    (inner.http.clone(), config.clone(), inner.store.clone());
                tokio::spawn(async move {
                    let Some(outcome) = spike::notify(&client, &config, &spike).await else {
                        return;
                    };
                    if outcome != "delivered" {
                        tracing::warn!(spike = spike.id, %outcome, "spike webhook not delivered");
                    }
                    if let Err(e) = store.spike_webhook(spike.id, &outcome).await {
                        tracing::warn!(error = %e, "recording the spike webhook failed");
                    }
                });
            }
        }
        Ok(())
    }

    /// Asks the customers of conversations agents resolved to rate the help.
    async fn surveys(&self) -> crate::store::Result<()> {
        let inner = &self.inner;
        let buttons: Vec<String> = csat::BUTTONS.iter().map(|b| (*b).to_owned()).collect();
        let mut sent = 0;
        for due in inner.store.surveys_due(BATCH).await? {
            let language = due.language.as_deref().unwrap_or("en");
            let text = inner.desk.texts.get(language, "csat_question");
            if inner
                .store
                .send_survey(&due, text, &buttons, inner.expiry)
                .await?
            {
                sent += 1;
            }
        }
        if sent > 0 {
            tracing::info!(sent, "satisfaction surveys sent");
            inner.dispatcher.wake();
        }
        Ok(())
    }

    /// Reminds customers who keep a pending conversation waiting, resolves those who never
    /// answer and wakes snoozed conversations whose time came.
    async fn follow_up(&self) -> crate::store::Result<()> {
        let inner = &self.inner;
        let policy = &inner.queue.follow_up;
        let mut reminded = 0;
        for reminder in inner.store.reminders_due(policy, BATCH).await? {
            let language = reminder.language.as_deref().unwrap_or("en");
            let text = inner.desk.texts.get(language, "follow_up_reminder");
            if inner
                .store
                .send_reminder(&reminder, text, inner.expiry)
                .await?
            {
                reminded += 1;
            }
        }
        if reminded > 0 {
            tracing::info!(reminded, "pending conversations reminded");
            inner.dispatcher.wake();
        }
        for conversation in inner.store.follow_up_sweep(policy, BATCH).await? {
            tracing::info!(
                conversation = conversation.id,
                status = conversation.status.as_str(),
                "follow-up changed the status"
            );
        }
        Ok(())
    }

    /// The median first response of the recent answered conversations (ms), measured at
    /// most once a minute.
    async fn median(&self) -> crate::store::Result<i64> {
        if let Some((at, value)) = *self.inner.median.lock().unwrap()
            && at.elapsed() < REMEASURE
        {
            return Ok(value);
        }
        let since = crate::store::now_ms().saturating_sub(WINDOW_MS);
        let samples = self
            .inner
            .store
            .first_response_times(since, SAMPLES)
            .await?;
        let default = i64::try_from(self.inner.desk.config.default_first_response.as_millis())
            .unwrap_or(i64::MAX);
        let value = wait::median(&samples, default);
        *self.inner.median.lock().unwrap() = Some((Instant::now(), value));
        Ok(value)
    }
}
