//! End-to-end latency through the Discord channel against the fake Discord on 127.0.0.1: from the
//! fake's gateway sending MESSAGE_CREATE (a DM) to the stored `message.created` event, and from
//! the agent's POST of a reply to the fake receiving the message POST.
//! `cargo bench --bench discord_latency` (BENCH_ROUNDS, default 300; 5 under `cargo test`).

#[path = "common/mod.rs"]
mod common;

#[path = "../tests/daemon/discord_fake.rs"]
#[allow(dead_code)]
mod discord_fake;

use discord_fake::{FakeDiscord, TOKEN};
use std::time::{Duration, Instant};
use switchboard::app::Application;
use switchboard::config::{ChannelConfig, Config};
use switchboard::store::{Event, Role};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if full { 300 } else { 5 });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::TempDir::new().unwrap();
        let fake = FakeDiscord::start().await;
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".parse().unwrap();
        config.storage.database_url = format!("sqlite://{}", dir.path().join("b.db").display());
        config.storage.data_dir = dir.path().join("data");
        let discord = format!(
            "name = \"discord\"\ntoken = \"{TOKEN}\"\napi_url = \"{}\"\n",
            fake.url
        );
        config
            .channels
            .push(ChannelConfig::Discord(toml::from_str(&discord).unwrap()));
        let app = Application::build(config).await.unwrap();
        let (_, token) = app
            .store()
            .create_agent("Bench", "bench@example.com", Role::Agent)
            .await
            .unwrap();
        let mut events = app.store().subscribe();
        let base = format!("http://{}", app.local_addr());
        let shutdown = app.shutdown_token();
        let server = tokio::spawn(app.run_until_stopped());
        fake.until("the bot identifies", |f| f.connected()).await;
        let client = reqwest::Client::new();

        let mut inbound = Vec::new();
        let mut targets = Vec::new();
        for i in 0..rounds {
            let user = 10_000 + i as u64;
            let dm = fake.dm_channel(user);
            let marker = format!("bench message {i}");
            let started = Instant::now();
            fake.push_message(dm, false, user, "Customer", &marker);
            let conversation = loop {
                match events.recv().await {
                    Ok(Event::MessageCreated(m)) if m.text == marker => break m.conversation_id,
                    Ok(_) => {}
                    Err(e) => panic!("event stream: {e}"),
                }
            };
            inbound.push(started.elapsed());
            targets.push((conversation, dm));
            tokio::time::sleep(Duration::from_millis(10)).await;
        }

        let mut outbound = Vec::new();
        for (i, (conversation, dm)) in targets.iter().enumerate() {
            let started = Instant::now();
            let response = client
                .post(format!(
                    "{base}/api/v1/conversations/{conversation}/messages"
                ))
                .bearer_auth(&token)
                .json(&serde_json::json!({ "text": format!("reply {i}") }))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 202);
            fake.until("the reply", |f| !f.sends_to(*dm).is_empty())
                .await;
            outbound.push(started.elapsed());
        }
        println!("discord: {rounds} rounds");
        println!(
            "discord: gateway MESSAGE_CREATE -> message.created: {}",
            common::percentiles(inbound)
        );
        println!(
            "discord: agent POST -> fake received the message POST: {}",
            common::percentiles(outbound)
        );
        shutdown.cancel();
        server.await.unwrap().unwrap();
    });
}
