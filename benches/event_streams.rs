//! Ingest over HTTP (the `api` channel's inbound endpoint) while agents' live event streams are
//! open: the same load with no stream and with BENCH_STREAMS of them.
//!
//! BENCH_VIEW=inbox (the default) opens the streams the web inbox opens (`view=inbox`), each
//! focused on one busy conversation (every 500th message lands there) and reading the list
//! changes of all 500; BENCH_VIEW=all opens full streams, each reading every event.
//!
//! `cargo bench --bench event_streams` (env: BENCH_STREAMS, BENCH_MESSAGES, BENCH_POSTERS,
//! BENCH_VIEW) prints messages/second for both runs and the slowdown.

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
    let posters = env("BENCH_POSTERS", 16);
    let inbox = std::env::var("BENCH_VIEW").map_or(true, |v| v != "all");
    let view = if inbox { "inbox" } else { "all" };
    common::runtime().block_on(async {
        let without = run(0, messages, posters, inbox).await;
        let with = run(streams, messages, posters, inbox).await;
        println!(
            "ingest over HTTP, {messages} messages from {posters} posters: {without:.0} msg/s with no \
             event stream, {with:.0} msg/s with {streams} streams (view={view}) open ({:.1} % slower)",
            (1.0 - with / without) * 100.0
        );
    });
}

/// Posts message `n` (thread `t-{n % 500}`) and returns its conversation's id.
async fn post(app: &BenchApp, n: usize, text: String) -> i64 {
    let response = app
        .client
        .post(format!("{}/api/v1/channels/website/inbound", app.base))
        .bearer_auth(SECRET)
        .json(&serde_json::json!({
            "thread_id": format!("t-{}", n % 500),
            "message_id": format!("m-{n}"),
            "sender": {"id": format!("c-{}", n % 500), "name": "Customer"},
            "text": text,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: serde_json::Value = response.json().await.unwrap();
    body["conversation_id"].as_i64().unwrap()
}

/// Messages per second stored while `streams` event streams read along.
async fn run(streams: usize, messages: usize, posters: usize, inbox: bool) -> f64 {
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
    // The conversation every inbox has open; the last message (n = messages, a multiple of 500
    // away from 0) lands there too.
    let watched = post(&app, 0, "first message".into()).await;
    let messages = (messages / 500).max(1) * 500;
    let path = if inbox {
        format!("/api/v1/events?view=inbox&conversation={watched}")
    } else {
        "/api/v1/events".into()
    };
    // Every stream counts the messages it saw; the run ends when each saw the last one.
    let seen_last = Arc::new(AtomicUsize::new(0));
    let marker = format!("last message {messages}");
    let mut readers = Vec::new();
    for _ in 0..streams {
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
            let mut body = response.bytes_stream();
            let mut tail = String::new();
            while let Some(Ok(chunk)) = body.next().await {
                tail.push_str(&String::from_utf8_lossy(&chunk));
                if tail.contains(&marker) {
                    seen_last.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                // Keep only what may hold a marker cut across chunks.
                if tail.len() > 4096 {
                    tail.drain(..tail.len() - 256);
                }
            }
        }));
    }
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..posters {
        let (app, next) = (app.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed) + 1;
                if n > messages {
                    return;
                }
                let text = if n == messages {
                    format!("last message {messages}")
                } else {
                    format!("message {n}: my deposit has not arrived yet, tx 0x{n:064x}")
                };
                post(&app, n, text).await;
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
