//! Ingest over HTTP (the `api` channel's inbound endpoint) while agents' live event streams are
//! open: the same load with no stream and with BENCH_STREAMS of them.
//!
//! BENCH_VIEW=inbox (the default) opens the streams the web inbox opens (`view=inbox`): stream
//! i has conversation `w-{i % BENCH_WATCHED}` open (every 100th message lands in one of those)
//! and reads the list changes of all. BENCH_WATCHED=1 is the worst case: every agent reading
//! the same busy conversation. BENCH_VIEW=all opens full streams, each reading every event.
//! The last message opens a conversation with a marker subject, which every stream sees in its
//! list (or, for full streams, as the message itself).
//!
//! `cargo bench --bench event_streams` (env: BENCH_STREAMS, BENCH_MESSAGES, BENCH_POSTERS,
//! BENCH_CONVERSATIONS, BENCH_WATCHED, BENCH_VIEW) prints messages/second for both runs and
//! the slowdown.

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

use common::{BenchApp, env};
use futures_util::StreamExt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use switchboard::config::{ApiChannelConfig, ChannelConfig};

const SECRET: &str = "bench-secret-0123456789";

fn main() {
    let full = common::full_run();
    let streams = env("BENCH_STREAMS", if full { 2_000 } else { 20 });
    let messages = env("BENCH_MESSAGES", if full { 4_000 } else { 100 });
    let load = Load {
        messages,
        posters: env("BENCH_POSTERS", 16),
        conversations: env("BENCH_CONVERSATIONS", 500).max(1),
        watched: env("BENCH_WATCHED", 50).max(1),
        inbox: std::env::var("BENCH_VIEW").map_or(true, |v| v != "all"),
    };
    let view = if load.inbox { "inbox" } else { "all" };
    common::runtime().block_on(async {
        let without = run(0, &load).await;
        let with = run(streams, &load).await;
        println!(
            "ingest over HTTP, {messages} messages from {} posters into {} conversations: \
             {without:.0} msg/s with no event stream, {with:.0} msg/s with {streams} streams \
             (view={view}, {} conversations open) ({:.1} % slower)",
            load.posters,
            load.conversations,
            load.watched,
            (1.0 - with / without) * 100.0
        );
    });
}

struct Load {
    messages: usize,
    posters: usize,
    conversations: usize,
    watched: usize,
    inbox: bool,
}

/// Posts a message into `thread` and returns its conversation's id.
async fn post(app: &BenchApp, thread: &str, id: &str, text: &str, subject: Option<&str>) -> i64 {
    let response = app
        .client
        .post(format!("{}/api/v1/channels/website/inbound", app.base))
        .bearer_auth(SECRET)
        .json(&serde_json::json!({
            "thread_id": thread,
            "message_id": id,
            "sender": {"id": format!("c-{thread}"), "name": "Customer"},
            "text": text,
            "subject": subject,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    body["conversation_id"].as_i64().unwrap()
}

/// Messages per second stored while `streams` event streams read along.
async fn run(streams: usize, load: &Load) -> f64 {
    let (messages, inbox) = (load.messages, load.inbox);
    let dir = tempfile::TempDir::new().unwrap();
    let channel = ChannelConfig::Api(ApiChannelConfig {
        name: "website".into(),
        secret: SECRET.into(),
        webhook_url: None,
        timeout: Duration::from_secs(5),
    });
    let app = BenchApp::start_with(dir.path(), channel, |c| {
        c.server.max_connections = 3 * streams + 64;
        c.server.max_event_streams = streams.max(1);
        c.server.max_event_streams_per_agent = streams.max(1);
    })
    .await;
    let app = Arc::new(app);
    // The conversations the inboxes have open.
    let mut watched = Vec::new();
    for w in 0..load.watched {
        watched.push(post(&app, &format!("w-{w}"), &format!("w-{w}"), "hello", None).await);
    }
    // Every stream counts the messages it saw; the run ends when each saw the last one.
    let seen_last = Arc::new(AtomicUsize::new(0));
    // '~' appears in no other event, so a reader looks at a chunk only when it has one.
    let marker = format!("~last message {messages}");
    let mut readers = Vec::new();
    for i in 0..streams {
        let path = if inbox {
            format!(
                "/api/v1/events?view=inbox&conversation={}",
                watched[i % watched.len()]
            )
        } else {
            "/api/v1/events".into()
        };
        // One connection per stream, as separate browsers have.
        let client = reqwest::Client::new();
        let response = client
            .get(format!("{}{path}", app.base))
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let (seen_last, marker) = (seen_last.clone(), marker.clone());
        readers.push(tokio::spawn(async move {
            // A reader as light as can be (the bytes, no text): it shares the two cores with
            // the daemon it measures.
            let marker = marker.into_bytes();
            let mut body = response.bytes_stream();
            let mut tail: Vec<u8> = Vec::new();
            while let Some(Ok(chunk)) = body.next().await {
                // The end of the previous chunk, for a marker cut across chunks.
                tail.extend_from_slice(&chunk[..chunk.len().min(marker.len())]);
                let has =
                    |b: &[u8]| b.contains(&b'~') && b.windows(marker.len()).any(|w| w == marker);
                let found = has(&tail) || has(&chunk);
                if found {
                    seen_last.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                tail.clear();
                tail.extend_from_slice(&chunk[chunk.len().saturating_sub(marker.len())..]);
            }
        }));
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    let (conversations, watched) = (load.conversations, load.watched);
    for _ in 0..load.posters {
        let (app, next) = (app.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed) + 1;
                if n > messages {
                    return;
                }
                let id = format!("m-{n}");
                if n == messages {
                    let marker = format!("~last message {messages}");
                    post(&app, "end", &id, &marker, Some(&marker)).await;
                    continue;
                }
                let thread = if n % 100 == 0 {
                    format!("w-{}", (n / 100) % watched)
                } else {
                    format!("t-{}", n % conversations)
                };
                let text = format!("message {n}: my deposit has not arrived yet, tx 0x{n:064x}");
                post(&app, &thread, &id, &text, None).await;
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stored = started.elapsed();
    // Every stream gets every event (none dropped as lagging); wait until they all have.
    let deadline = Instant::now() + Duration::from_secs(120);
    while seen_last.load(Ordering::Relaxed) < streams && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let delivered = started.elapsed();
    let reached = seen_last.load(Ordering::Relaxed);
    if streams > 0 {
        println!(
            "{streams} streams: stored in {stored:.2?}, every stream had the last event after {delivered:.2?} ({reached} of {streams} reached it)"
        );
    }
    for reader in readers {
        reader.abort();
    }
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("bench app still shared"),
    }
    messages as f64 / stored.as_secs_f64()
}
