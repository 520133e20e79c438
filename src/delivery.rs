//! The dispatcher: delivers committed replies through their conversation's channel, one in
//! flight per conversation, retrying temporary failures on the configured schedule until expiry.

use crate::config::OutboxConfig;
use crate::metrics::Metrics;
use crate::store::{EventBus, FileStore, OutboxJob, RetryDecision, Storage, Store, now_ms};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::{
    Channel, Delivered, Outbound, OutboundAttachment, Progress, SendError, SendReceipt,
};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Upper bound on sleeping with nothing due, so a clock jump cannot stall delivery for long.
const IDLE_POLL: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    /// Where attachments of replies are read from.
    files: FileStore,
    /// Tells when another daemon's delivery may have unblocked one of ours.
    bus: EventBus,
    metrics: Metrics,
    channels: Arc<HashMap<String, Arc<dyn Channel>>>,
    config: OutboxConfig,
    wake: Arc<Notify>,
}

impl Dispatcher {
    pub fn new(
        storage: &Storage,
        channels: Arc<HashMap<String, Arc<dyn Channel>>>,
        config: OutboxConfig,
    ) -> Self {
        Self {
            store: storage.store.clone(),
            files: storage.files.clone(),
            bus: storage.bus.clone(),
            metrics: storage.metrics.clone(),
            channels,
            config,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Tells the dispatcher new work was committed, so it need not wait for its next poll.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Asks `channel` to delete a customer's message on the platform, in the background: best
    /// effort (the stored copy is already clean), bounded in time, the outcome logged.
    pub fn retract(&self, channel: &str, thread_id: &str, external_id: &str) {
        let Some(adapter) = self.channels.get(channel).cloned() else {
            return;
        };
        let (channel, thread_id, external_id) = (
            channel.to_owned(),
            thread_id.to_owned(),
            external_id.to_owned(),
        );
        let timeout = self.config.lease.mul_f32(2.0 / 3.0);
        tokio::spawn(async move {
            match tokio::time::timeout(timeout, adapter.retract(&thread_id, &external_id)).await {
                Ok(Ok(())) => {
                    tracing::info!(%channel, %external_id, "message with a wallet secret deleted on the platform")
                }
                Ok(Err(e)) => {
                    tracing::warn!(%channel, %external_id, error = %e, "message with a wallet secret not deleted on the platform")
                }
                Err(_) => {
                    tracing::warn!(%channel, %external_id, "deleting a message with a wallet secret timed out")
                }
            }
        });
    }

    /// Claims and delivers everything due now, waiting for each attempt; returns how many were
    /// attempted. The run loop and tests both drive delivery through this.
    pub async fn dispatch_due(&self) -> crate::store::Result<usize> {
        let jobs = self
            .store
            .claim_due(self.config.concurrency, self.config.lease)
            .await?;
        let count = jobs.len();
        let mut set = JoinSet::new();
        for job in jobs {
            let this = self.clone();
            set.spawn(async move { this.attempt(job).await });
        }
        while set.join_next().await.is_some() {}
        Ok(count)
    }

    /// Runs until `shutdown`, then lets in-flight sends finish.
    pub async fn run(self, shutdown: CancellationToken) {
        match self.store.recover_in_flight().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(rows = n, "resuming deliveries interrupted by a stop"),
            Err(e) => tracing::error!(error = %e, "cannot recover in-flight deliveries"),
        }
        let mut in_flight = JoinSet::new();
        loop {
            let free = self.config.concurrency.saturating_sub(in_flight.len());
            if free > 0 {
                match self.store.claim_due(free, self.config.lease).await {
                    Ok(jobs) => {
                        for job in jobs {
                            let this = self.clone();
                            in_flight.spawn(async move { this.attempt(job).await });
                        }
                    }
                    Err(e) => tracing::error!(error = %e, "outbox claim failed"),
                }
            }
            let wait = match self.store.next_due_at().await {
                Ok(Some(due)) => Duration::from_millis(due.saturating_sub(now_ms()).max(0) as u64),
                Ok(None) => IDLE_POLL,
                Err(e) => {
                    tracing::error!(error = %e, "outbox query failed");
                    Duration::from_secs(1)
                }
            }
            .min(IDLE_POLL);
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = self.bus.outbox_elsewhere().notified() => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
                _ = tokio::time::sleep(wait), if wait > Duration::ZERO || in_flight.len() < self.config.concurrency => {}
            }
        }
        if !in_flight.is_empty() {
            tracing::info!(sends = in_flight.len(), "waiting for in-flight deliveries");
        }
        while in_flight.join_next().await.is_some() {}
    }

    #[tracing::instrument(skip_all, fields(message_id = job.message_id, channel = %job.channel, attempt = job.attempts + 1))]
    async fn attempt(&self, job: OutboxJob) {
        // Shared with the adapter: what it delivers is recorded even when a later part fails,
        // and saved as it goes so a crash mid-message does not resend the parts already out.
        let store = self.store.clone();
        let outbox_id = job.outbox_id;
        let runtime = tokio::runtime::Handle::current();
        let progress = Progress::observed(
            Delivered {
                parts: job.parts_sent.max(0) as usize,
                first_external_id: job.first_external_id.clone(),
            },
            Box::new(move |delivered: &Delivered| {
                let (store, delivered) = (store.clone(), delivered.clone());
                runtime.spawn(async move {
                    if let Err(e) = store.save_progress(outbox_id, &delivered).await {
                        tracing::warn!(error = %e, outbox_id, "cannot save delivery progress");
                    }
                });
            }),
        );
        let result = match self.channels.get(&job.channel) {
            None => Err(SendError::permanent(format!(
                "channel {:?} is not configured on this server",
                job.channel
            ))),
            Some(channel) => match self.outbound(&job, &progress).await {
                Err(e) => Err(e),
                Ok(outbound) => {
                    let channel = channel.clone();
                    // Well inside the lease, so a slow send ends before its row may be claimed
                    // again by another attempt.
                    let send_timeout = self.config.lease.mul_f64(2.0 / 3.0);
                    // A panicking adapter must not leave the row stuck in `sending`.
                    let send = tokio::spawn(async move {
                        tokio::time::timeout(send_timeout, channel.send(&outbound)).await
                    });
                    match send.await {
                        Ok(Ok(result)) => result,
                        Ok(Err(_)) => Err(SendError::retry("the channel did not answer in time")),
                        Err(e) => Err(SendError::retry(format!(
                            "the channel adapter crashed: {e}"
                        ))),
                    }
                }
            },
        };
        let delivered = progress.delivered();
        // An adapter that reports no id of its own has it in the progress (a resumed send).
        let result = result.map(|receipt| SendReceipt {
            external_id: receipt
                .external_id
                .or_else(|| delivered.first_external_id.clone()),
        });
        let decision = decide(&job, result, &self.config, now_ms());
        let outcome = match &decision {
            RetryDecision::Delivered { .. } => "delivered",
            RetryDecision::Retry { .. } => "retry",
            RetryDecision::Failed { .. } => "failed",
        };
        self.metrics
            .add(crate::metrics::DELIVERIES, &job.channel, outcome, 1);
        match &decision {
            RetryDecision::Delivered { .. } => tracing::info!("delivered"),
            RetryDecision::Retry { error, due_at } => {
                tracing::warn!(
                    error,
                    retry_in_ms = due_at - now_ms(),
                    "delivery failed, will retry"
                )
            }
            RetryDecision::Failed { error } => tracing::warn!(error, "delivery failed for good"),
        }
        if let Err(e) = self.store.finish_attempt(&job, &decision, &delivered).await {
            // The row stays `sending`; it is retried after the next restart (at-least-once).
            tracing::error!(error = %e, "cannot record delivery outcome");
        }
    }
}

impl Dispatcher {
    /// The message as the adapter gets it, with the bytes of its attached files.
    async fn outbound(&self, job: &OutboxJob, progress: &Progress) -> Result<Outbound, SendError> {
        let files = self
            .store
            .outbox_files(job.message_id)
            .await
            .map_err(|e| SendError::retry(format!("reading attachments: {e}")))?;
        let mut attachments = Vec::with_capacity(files.len());
        for file in files {
            let data = match self.files.path_of(&file.sha256) {
                Some(path) => tokio::fs::read(&path).await.ok(),
                None => None,
            };
            let Some(data) = data else {
                return Err(SendError::permanent(format!(
                    "attachment {:?} is missing from the data directory",
                    file.filename
                )));
            };
            attachments.push(OutboundAttachment {
                filename: file.filename,
                content_type: file.content_type,
                data: data.into(),
            });
        }
        let references = self
            .store
            .references(job.conversation_id, job.message_id)
            .await
            .map_err(|e| SendError::retry(format!("reading the thread: {e}")))?;
        let mut cc = self
            .store
            .participants(job.conversation_id)
            .await
            .map_err(|e| SendError::retry(format!("reading the participants: {e}")))?;
        cc.retain(|p| {
            job.recipient
                .as_deref()
                .is_none_or(|r| !r.eq_ignore_ascii_case(p))
        });
        Ok(Outbound {
            message_id: job.message_id,
            delivery_id: job
                .delivery_id
                .clone()
                .unwrap_or_else(|| format!("message-{}", job.message_id)),
            conversation_id: job.conversation_id,
            thread_id: job.thread_id.clone(),
            recipient: job.recipient.clone(),
            subject: job.subject.clone(),
            text: job.text.clone(),
            attachments,
            reply_to: job.reply_to.clone(),
            references,
            cc,
            agent_name: Some(job.agent_name.clone()),
            auto_generated: job.auto_generated,
            choices: crate::store::string_list(job.choices.as_deref().unwrap_or("[]")),
            buttons: crate::store::string_list(job.buttons.as_deref().unwrap_or("[]")),
            progress: progress.clone(),
        })
    }
}

/// Next due = now + max(retry-after, schedule[attempt]) + up to 10 % jitter; past the expiry a
/// temporary failure becomes permanent. All arithmetic saturates: a peer's Retry-After can be
/// any number.
pub fn decide(
    job: &OutboxJob,
    result: Result<SendReceipt, SendError>,
    config: &OutboxConfig,
    now: i64,
) -> RetryDecision {
    match result {
        Ok(receipt) => RetryDecision::Delivered {
            external_id: receipt.external_id,
        },
        Err(SendError::Permanent { reason }) => RetryDecision::Failed { error: reason },
        Err(SendError::Retry { reason, after }) => {
            let attempts = job.attempts.saturating_add(1);
            let schedule = &config.retry_schedule;
            let index = usize::try_from(attempts - 1).unwrap_or(usize::MAX);
            let step = schedule[index.min(schedule.len() - 1)];
            let wait = step.max(after.unwrap_or_default());
            let left = Duration::from_millis(
                u64::try_from(job.expires_at.saturating_sub(now)).unwrap_or(0),
            );
            if wait > left {
                return RetryDecision::Failed {
                    error: format!("gave up after {attempts} attempts: {reason}"),
                };
            }
            // `wait` is at most the time left, so the jitter cannot overflow; it never pushes the
            // retry past the expiry either.
            let jitter = wait.mul_f64(fastrand::f64() * 0.1);
            let due_at = crate::store::after_ms(now, wait + jitter).min(job.expires_at);
            RetryDecision::Retry {
                due_at,
                error: reason,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(attempts: i64, expires_at: i64) -> OutboxJob {
        OutboxJob {
            outbox_id: 1,
            message_id: 1,
            conversation_id: 1,
            channel: "c".into(),
            thread_id: "t".into(),
            recipient: None,
            subject: None,
            text: "hi".into(),
            reply_to: None,
            agent_name: "a".into(),
            auto_generated: false,
            choices: None,
            buttons: None,
            attempts,
            expires_at,
            parts_sent: 0,
            first_external_id: None,
            delivery_id: None,
            reclaimed: false,
        }
    }

    fn config() -> OutboxConfig {
        OutboxConfig {
            retry_schedule: vec![Duration::from_secs(5), Duration::from_secs(30)],
            expiry: Duration::from_secs(3600),
            concurrency: 1,
            lease: Duration::from_secs(180),
        }
    }

    #[test]
    fn schedule_steps_then_repeats_its_last_entry_with_jitter() {
        let retry = || Err(SendError::retry("503"));
        for (attempts, base) in [(0, 5_000), (1, 30_000), (7, 30_000)] {
            let RetryDecision::Retry { due_at, .. } =
                decide(&job(attempts, i64::MAX), retry(), &config(), 0)
            else {
                panic!("expected a retry")
            };
            assert!(
                (base..=base + base / 10).contains(&due_at),
                "{attempts}: {due_at}"
            );
        }
    }

    #[test]
    fn retry_after_longer_than_the_schedule_wins() {
        let result = Err(SendError::retry_after("429", Duration::from_secs(60)));
        let RetryDecision::Retry { due_at, .. } =
            decide(&job(0, i64::MAX), result, &config(), 1_000)
        else {
            panic!("expected a retry")
        };
        assert!(due_at >= 61_000);
    }

    #[test]
    fn temporary_failure_past_expiry_becomes_permanent() {
        let decision = decide(
            &job(3, 10_000),
            Err(SendError::retry("timeout")),
            &config(),
            9_000,
        );
        assert_eq!(
            decision,
            RetryDecision::Failed {
                error: "gave up after 4 attempts: timeout".into()
            }
        );
    }

    #[test]
    fn huge_retry_after_fails_at_once_instead_of_overflowing() {
        for seconds in [u64::MAX, 10_000_000_000_000_000, 86_400 * 365] {
            let result = Err(SendError::retry_after("429", Duration::from_secs(seconds)));
            let decision = decide(&job(0, 3_600_000), result, &config(), 1_000);
            assert!(
                matches!(decision, RetryDecision::Failed { .. }),
                "{seconds}: {decision:?}"
            );
        }
    }

    #[test]
    fn retry_never_lands_past_the_expiry() {
        // 30 s step plus up to 3 s jitter, 31 s left: the jitter is cut at the expiry.
        for _ in 0..200 {
            let decision = decide(&job(1, 31_000), Err(SendError::retry("503")), &config(), 0);
            let RetryDecision::Retry { due_at, .. } = decision else {
                panic!("expected a retry: {decision:?}")
            };
            assert!((30_000..=31_000).contains(&due_at), "{due_at}");
        }
    }

    #[test]
    fn permanent_failure_keeps_the_reason() {
        let decision = decide(
            &job(0, i64::MAX),
            Err(SendError::permanent("bot was blocked by the user")),
            &config(),
            0,
        );
        assert_eq!(
            decision,
            RetryDecision::Failed {
                error: "bot was blocked by the user".into()
            }
        );
    }
}
