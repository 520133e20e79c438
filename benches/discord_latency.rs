//! End-to-end latency through the Discord channel against the fake Discord on 127.0.0.1: from the
//! fake's gateway sending MESSAGE_CREATE (a DM) to the stored `message.created` event, and from
//! the agent's POST of a reply to the fake receiving the message POST.
//! `cargo bench --bench discord_latency` (BENCH_ROUNDS, default 300; 5 under `cargo test`).

#[path = "common/mod.rs"]
#[allow(dead_code)]
mod common;

#[path = "../tests/daemon/discord_fake.rs"]
#[allow(dead_code)]
mod discord_fake;

use common::BenchApp;
use discord_fake::{FakeDiscord, TOKEN};
use std::time::{Duration, Instant};
use switchboard::config::ChannelConfig;
use switchboard::store::Event;

fn main() {
    let rounds = common::env("BENCH_ROUNDS", if common::full_run() { 300 } else { 5 });
    common::runtime().block_on(async {
        let dir = tempfile::TempDir::new().unwrap();
        let fake = FakeDiscord::start().await;
        let discord = format!(
            "name = \"discord\"\ntoken = \"{TOKEN}\"\napi_url = \"{}\"\n",
            fake.url
        );
        let channel = ChannelConfig::Discord(toml::from_str(&discord).unwrap());
        let app = BenchApp::start(dir.path(), channel).await;
        let mut events = app.bus.subscribe();
        fake.until("the bot identifies", |f| f.connected()).await;

        let mut inbound = Vec::new();
        let mut targets = Vec::new();
        for i in 0..rounds {
            let user = 10_000 + i as u64;
            let dm = fake.dm_channel(user);
            let marker = format!("bench message {i}");
            let started = Instant::now();
            fake.push_message(dm, false, user, "Customer", &marker);
            let conversation = loop {
                match events.recv().await.map(|p| p.event.clone()) {
                    Ok(Some(Event::MessageCreated(m))) if m.text == marker => {
                        break m.conversation_id;
                    }
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
            app.post_reply(*conversation, &format!("reply {i}")).await;
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
        app.stop().await;
    });
}
