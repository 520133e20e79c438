//! The dispatcher against a scripted FakeChannel, driven step by step (no sleeps).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use switchboard::config::OutboxConfig;
use switchboard::delivery::Dispatcher;
use switchboard::store::{DeliveryStatus, Role, Storage, Store};
use switchboard_core::fake::{FakeChannel, Script};
use switchboard_core::{Channel, Inbound, SendError, Sender};
use tempfile::TempDir;

struct Rig {
    store: Store,
    storage: Storage,
    fake: FakeChannel,
    dispatcher: Dispatcher,
    conversation: i64,
    agent: switchboard::store::Agent,
    _dir: TempDir,
}

impl Rig {
    async fn reply_to(
        &self,
        text: &str,
        reply_to: Option<i64>,
    ) -> switchboard::store::Result<switchboard::store::Message> {
        let expiry = Duration::from_secs(60);
        self.store
            .create_reply(self.conversation, &self.agent, text, reply_to, expiry)
            .await
    }
}

async fn rig(schedule: Vec<Duration>) -> Rig {
    let dir = TempDir::new().unwrap();
    let url = crate::postgres::database_url(dir.path());
    let storage = Storage::open(&url, &dir.path().join("data")).await.unwrap();
    let store = storage.store.clone();
    let fake = FakeChannel::new("fake");
    let channels: HashMap<String, Arc<dyn Channel>> = [(
        "fake".to_owned(),
        Arc::new(fake.clone()) as Arc<dyn Channel>,
    )]
    .into();
    let config = OutboxConfig {
        retry_schedule: schedule,
        expiry: Duration::from_secs(3600),
        concurrency: 4,
        lease: Duration::from_secs(180),
    };
    let dispatcher = Dispatcher::new(&storage, Arc::new(channels), config);
    let ingestor = storage.ingestor();
    let r = ingestor
        .ingest(
            "fake",
            vec![Inbound::text("chat-7", "1", Sender::new("7", "Eve"), "hi")],
            None,
        )
        .await
        .unwrap();
    let (agent, _) = store
        .create_agent("Bob", "bob@example.com", Role::Agent)
        .await
        .unwrap();
    Rig {
        store,
        storage,
        fake,
        dispatcher,
        conversation: r.items[0].conversation_id,
        agent,
        _dir: dir,
    }
}

#[tokio::test]
async fn reply_is_sent_once_with_thread_and_recipient() {
    let rig = rig(vec![Duration::ZERO]).await;
    let reply = rig.reply_to("hello", None).await.unwrap();
    assert_eq!(rig.dispatcher.dispatch_due().await.unwrap(), 1);
    assert_eq!(rig.dispatcher.dispatch_due().await.unwrap(), 0);
    let sent = rig.fake.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].thread_id, "chat-7");
    assert_eq!(sent[0].recipient.as_deref(), Some("7"));
    assert_eq!(sent[0].agent_name.as_deref(), Some("Bob"));
    let m = rig.store.message(reply.id).await.unwrap();
    assert_eq!(m.delivery_status, Some(DeliveryStatus::Sent));
    assert_eq!(m.external_id, Some(format!("fake-{}", reply.id)));
}

#[tokio::test]
async fn retry_waits_for_its_schedule_and_keeps_later_replies_behind_it() {
    let rig = rig(vec![Duration::from_millis(300)]).await;
    rig.fake
        .script([Script::Fail(SendError::retry("connection reset"))]);
    let first = rig.reply_to("one", None).await.unwrap();
    let second = rig.reply_to("two", None).await.unwrap();
    assert_eq!(
        rig.dispatcher.dispatch_due().await.unwrap(),
        1,
        "only the head of the conversation goes"
    );
    let m = rig.store.message(first.id).await.unwrap();
    assert_eq!(m.delivery_status, Some(DeliveryStatus::Pending));
    assert_eq!(m.error.as_deref(), Some("connection reset"));
    assert_eq!(
        rig.dispatcher.dispatch_due().await.unwrap(),
        0,
        "not due yet, and `two` waits behind `one`"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    rig.dispatcher.dispatch_due().await.unwrap();
    rig.dispatcher.dispatch_due().await.unwrap();
    let texts: Vec<String> = rig.fake.sent().into_iter().map(|o| o.text).collect();
    assert_eq!(texts, ["one", "two"]);
    assert_eq!(
        rig.store.message(second.id).await.unwrap().delivery_status,
        Some(DeliveryStatus::Sent)
    );
    assert_eq!(rig.fake.attempts(), 3);
}

#[tokio::test]
async fn permanent_error_fails_at_once_and_the_next_reply_still_goes() {
    let rig = rig(vec![Duration::ZERO]).await;
    rig.fake.script([Script::Fail(SendError::permanent(
        "Forbidden: bot was blocked by the user",
    ))]);
    let first = rig.reply_to("one", None).await.unwrap();
    rig.reply_to("two", None).await.unwrap();
    rig.dispatcher.dispatch_due().await.unwrap();
    rig.dispatcher.dispatch_due().await.unwrap();
    let m = rig.store.message(first.id).await.unwrap();
    assert_eq!(m.delivery_status, Some(DeliveryStatus::Failed));
    assert_eq!(
        m.error.as_deref(),
        Some("Forbidden: bot was blocked by the user")
    );
    assert_eq!(rig.fake.sent().len(), 1);
}

#[tokio::test]
async fn a_panicking_adapter_is_a_temporary_failure_not_a_stuck_row() {
    let rig = rig(vec![Duration::ZERO]).await;
    rig.fake.script([Script::Panic]);
    let reply = rig.reply_to("one", None).await.unwrap();
    rig.dispatcher.dispatch_due().await.unwrap();
    let m = rig.store.message(reply.id).await.unwrap();
    assert_eq!(m.delivery_status, Some(DeliveryStatus::Pending));
    assert!(m.error.unwrap().contains("crashed"));
    rig.dispatcher.dispatch_due().await.unwrap();
    assert_eq!(
        rig.store.message(reply.id).await.unwrap().delivery_status,
        Some(DeliveryStatus::Sent)
    );
}

#[tokio::test]
async fn reply_to_names_the_external_id_of_the_answered_message() {
    let rig = rig(vec![Duration::ZERO]).await;
    let inbound = rig.store.messages(rig.conversation).await.unwrap()[0].id;
    rig.reply_to("re", Some(inbound)).await.unwrap();
    rig.dispatcher.dispatch_due().await.unwrap();
    assert_eq!(rig.fake.sent()[0].reply_to.as_deref(), Some("1"));
    let wrong = rig.reply_to("re", Some(9999)).await;
    assert!(wrong.is_err());
}

#[tokio::test]
async fn a_claim_whose_attempt_died_is_taken_again_after_its_lease() {
    let rig = rig(vec![Duration::ZERO]).await;
    let first = rig.reply_to("one", None).await.unwrap();
    rig.reply_to("two", None).await.unwrap();
    // An attempt claims `one` and never records an outcome (its status write failed, or its
    // task died): the row stays `sending`.
    let claimed = rig
        .store
        .claim_due(1, Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 1);
    drop(claimed);
    assert_eq!(
        rig.dispatcher.dispatch_due().await.unwrap(),
        0,
        "while the lease runs, neither `one` nor `two` behind it goes"
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(rig.dispatcher.dispatch_due().await.unwrap(), 1);
    assert_eq!(rig.dispatcher.dispatch_due().await.unwrap(), 1);
    let texts: Vec<String> = rig.fake.sent().into_iter().map(|o| o.text).collect();
    assert_eq!(texts, ["one", "two"], "without a restart, in order");
    assert_eq!(
        rig.store.message(first.id).await.unwrap().delivery_status,
        Some(DeliveryStatus::Sent)
    );
}

#[tokio::test]
async fn next_due_counts_the_end_of_a_stale_lease() {
    let rig = rig(vec![Duration::ZERO]).await;
    rig.reply_to("one", None).await.unwrap();
    let before = switchboard::store::now_ms();
    rig.store
        .claim_due(1, Duration::from_secs(60))
        .await
        .unwrap();
    let due = rig
        .store
        .next_due_at()
        .await
        .unwrap()
        .expect("the lease ends");
    assert!(
        (before + 59_000..=before + 61_000).contains(&due),
        "the dispatcher wakes when the lease runs out: {due} vs {before}"
    );
}

#[tokio::test]
async fn a_panicking_inbound_loop_is_reported_and_restarted() {
    use switchboard::channels::{ChannelState, Channels, supervise};
    let rig = rig(vec![Duration::ZERO]).await;
    rig.fake.panic_on_run(2);
    let channels = Channels {
        all: Arc::new(
            [(
                "fake".to_owned(),
                Arc::new(rig.fake.clone()) as Arc<dyn Channel>,
            )]
            .into(),
        ),
        ..Channels::default()
    };
    let (shutdown, tasks) = (
        tokio_util::sync::CancellationToken::new(),
        tokio_util::task::TaskTracker::new(),
    );
    let ingestor = rig.storage.ingestor();
    let health = supervise(&channels, &ingestor, &rig.dispatcher, &shutdown, &tasks);
    let state = || health.lock().unwrap().get("fake").cloned().unwrap();
    // Seen failing with the panic's message, not silently `running` with a dead loop.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let h = state();
        if h.state == ChannelState::Failing {
            assert!(
                h.last_error
                    .as_deref()
                    .unwrap()
                    .contains("scripted inbound panic"),
                "{:?}",
                h.last_error
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never reported failing"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Restarted with back-off (1 s, 2 s) until the loop runs.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while rig.fake.runs() < 3 {
        assert!(tokio::time::Instant::now() < deadline, "not restarted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let h = state();
    assert_eq!((h.state, h.restarts), (ChannelState::Running, 2));
    shutdown.cancel();
    tasks.close();
    tasks.wait().await;
}
