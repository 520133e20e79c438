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
pub mod desk;
pub mod hours;
pub mod intake;
pub mod knowledge;
pub mod language;
pub mod texts;
pub mod wait;

pub use config::FrontDeskConfig;

use crate::delivery::Dispatcher;
use crate::store::{DeskItem, DeskOutcome, KnownIssue, Store};
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
}

impl FrontDesk {
    /// `wake` is notified by ingest when it stored something.
    pub fn new(
        config: FrontDeskConfig,
        safety: Arc<crate::safety::Texts>,
        store: Store,
        dispatcher: Dispatcher,
        wake: Arc<Notify>,
        expiry: Duration,
        knowledge: Option<knowledge::Knowledge>,
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
            let plan = desk::decide(&inner.desk, &input);
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
