//! End-to-end latency through the Telegram channel against the fake Bot API on 127.0.0.1:
//! from the fake handing out an update to the agent's SSE event, and from the agent's POST of a
//! reply to the fake receiving sendMessage. `cargo bench --bench telegram_latency`
//! (BENCH_ROUNDS, default 300). Operations are spaced 40 ms apart so the per-bot send pacing
//! (30 msg/s) is not what is measured.

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

#[path = "../tests/daemon/telegram_fake.rs"]
#[allow(dead_code)]
mod telegram_fake;

use common::BenchApp;
use std::time::{Duration, Instant};
use switchboard::config::ChannelConfig;
use switchboard_telegram::TelegramConfig;
use telegram_fake::{FakeTelegram, TOKEN, private_text};

fn main() {
    let rounds = common::env("BENCH_ROUNDS", if common::full_run() { 300 } else { 5 });
    common::runtime().block_on(async {
        let dir = tempfile::TempDir::new().unwrap();
        let fake = FakeTelegram::start().await;
        let channel = ChannelConfig::Telegram(TelegramConfig {
            name: "bot".into(),
            token: TOKEN.into(),
            api_url: fake.url.parse().unwrap(),
            mode: Default::default(),
            poll_timeout: Duration::from_secs(10),
            chat_interval: Duration::from_secs(1),
            webhook_url: None,
            webhook_secret: None,
        });
        let app = BenchApp::start(dir.path(), channel).await;
        let (base, token, client) = (&app.base, &app.token, &app.client);
        let mut events = client
            .get(format!("{base}/api/v1/events"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let mut buffer = String::new();

        let mut inbound = Vec::new();
        let mut conversations = Vec::new();
        for i in 0..rounds {
            let marker = format!("bench message {i}");
            let started = Instant::now();
            fake.push("message", private_text(10_000 + i as i64, 1, &marker));
            // Wait for this message's message.created event.
            loop {
                if let Some(at) = buffer.find(&marker) {
                    let frame_end = buffer[at..]
                        .find("\n\n")
                        .map_or(buffer.len(), |e| at + e + 2);
                    let frame: String = buffer.drain(..frame_end).collect();
                    let data = frame
                        .lines()
                        .rev()
                        .find_map(|l| l.strip_prefix("data: "))
                        .unwrap();
                    let event: serde_json::Value = serde_json::from_str(data).unwrap();
                    conversations.push(event["data"]["conversation_id"].as_i64().unwrap());
                    break;
                }
                let chunk = events.chunk().await.unwrap().unwrap();
                buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
            inbound.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(40)).await;
        }

        let mut outbound = Vec::new();
        for (i, conversation) in conversations.iter().enumerate() {
            let started = Instant::now();
            app.post_reply(*conversation, &format!("reply {i}")).await;
            fake.wait_for_sends(i + 1).await;
            outbound.push(started.elapsed());
            tokio::time::sleep(Duration::from_millis(40)).await;
        }
        println!("telegram: {rounds} rounds");
        println!(
            "telegram: update handed out -> SSE message.created: {}",
            common::percentiles(inbound)
        );
        println!(
            "telegram: agent POST -> fake received sendMessage: {}",
            common::percentiles(outbound)
        );
        drop(events);
        app.stop().await;
    });
}
