//! Spike alerts through the real daemon: a wave of new conversations of one category or
//! with one keyword opens one episode (an admin event, one signed webhook), and later
//! conversations of the same wave do not fire again.

use crate::helpers::{TestApp, eventually, spawn_app_with};
use crate::live::Sse;
use serde_json::Value;
use std::time::Duration;
use switchboard::config::{ChannelConfig, Config};

async fn says(app: &TestApp, thread: &str, text: &str) {
    app.customer_says(thread, &format!("{thread}-1"), text)
        .await;
}

fn alerts(app: &TestApp) -> Vec<(Value, String)> {
    app.hook
        .received()
        .into_iter()
        .filter_map(|r| {
            let body = r.json();
            (body["event"] == "spike.detected").then(|| {
                let signature = r.headers["x-switchboard-signature"]
                    .to_str()
                    .unwrap()
                    .to_owned();
                let expected = switchboard::channels::api::signature(
                    b"spike-webhook-secret-0123456789",
                    &r.body,
                );
                assert_eq!(signature, expected, "signed with the configured secret");
                (body, signature)
            })
        })
        .collect()
}

fn watched(c: &mut Config) {
    let example: Config =
        toml::from_str(include_str!("../../deploy/switchboard.example.toml")).unwrap();
    c.front_desk = example.front_desk;
    c.front_desk.hours = None;
    let ChannelConfig::Api(api) = &c.channels[0] else {
        unreachable!("the test channel is the api one")
    };
    c.spike.threshold = 2;
    c.spike.window = Duration::from_secs(600);
    c.spike.keywords = vec!["Free Airdrop".into()];
    c.spike.webhook_url = api.webhook_url.clone();
    c.spike.webhook_secret = Some("spike-webhook-secret-0123456789".into());
}

#[tokio::test]
async fn a_wave_of_one_keyword_or_category_alerts_once_per_episode() {
    let app = spawn_app_with(watched).await;
    let mut events = Sse::connect(&app.url("/api/v1/events"), &app.token).await;
    // Two are not a wave; the third mention of the keyword is.
    for n in 1..=2 {
        says(
            &app,
            &format!("drop{n}"),
            "Is the FREE AIRDROP from your support real?",
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(alerts(&app).is_empty());
    says(&app, "drop3", "someone sent me a free airdrop link").await;
    let fired = eventually(|| async { Some(alerts(&app)).filter(|a| !a.is_empty()) }).await;
    let (alert, _) = &fired[0];
    assert_eq!(alert["spike"]["kind"], "keyword");
    assert_eq!(alert["spike"]["key"], "free airdrop");
    assert_eq!(alert["spike"]["count"], 3);
    assert_eq!(alert["threshold"], 2);
    assert_eq!(alert["window_seconds"], 600);
    let seen = loop {
        let (name, data) = events
            .next(Duration::from_secs(10))
            .await
            .expect("spike.detected");
        if name == "spike.detected" {
            break data["data"].clone();
        }
    };
    assert_eq!(seen["key"], "free airdrop");

    // A category wave: the front desk files these under "scam".
    for n in 1..=3 {
        says(
            &app,
            &format!("scam{n}"),
            "I was scammed by a phishing site",
        )
        .await;
    }
    let categories = eventually(|| async {
        let a = alerts(&app);
        a.iter()
            .find(|(b, _)| b["spike"]["kind"] == "category")
            .map(|(b, _)| b.clone())
    })
    .await;
    assert_eq!(categories["spike"]["key"], "scam");

    // More of the same wave: no second alert, the peak grows.
    says(&app, "drop4", "free airdrop again??").await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let all = alerts(&app);
    assert_eq!(
        all.iter()
            .filter(|(b, _)| b["spike"]["kind"] == "keyword")
            .count(),
        1,
        "{all:?}"
    );
    let listed = app.get_json("/api/v1/spikes?active=true").await;
    let keyword = listed["spikes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["kind"] == "keyword")
        .cloned()
        .unwrap();
    assert_eq!(keyword["count"], 4);
    assert_eq!(keyword["webhook"], "delivered");
    assert_eq!(keyword["ended_at"], Value::Null);
    app.stop().await;
}
