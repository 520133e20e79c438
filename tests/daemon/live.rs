//! The inbox view of the live events (`/api/v1/events?view=inbox`): every event of the focused
//! conversation, the list as its newest changes, focus moved by its owner only.

use crate::helpers::{TestApp, spawn_app};
use futures_util::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;
use switchboard::store::Role;

/// A parsed Server-Sent Events stream.
pub(crate) struct Sse {
    body: std::pin::Pin<Box<dyn futures_util::Stream<Item = reqwest::Result<bytes::Bytes>> + Send>>,
    buffer: String,
}

impl Sse {
    async fn open(app: &TestApp, token: &str, query: &str) -> Sse {
        Self::connect(&app.url(&format!("/api/v1/events{query}")), token).await
    }

    /// Opens the stream at `url` (any daemon's `/api/v1/events...`) as the holder of `token`.
    pub(crate) async fn connect(url: &str, token: &str) -> Sse {
        let response = reqwest::Client::new()
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        Sse {
            body: Box::pin(response.bytes_stream()),
            buffer: String::new(),
        }
    }

    /// The next event (name and data), or None after `wait` without one.
    pub(crate) async fn next(&mut self, wait: Duration) -> Option<(String, Value)> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let frame: String = self.buffer.drain(..end + 2).collect();
                let name = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("event: "))
                    .unwrap_or("");
                let data = frame.lines().find_map(|l| l.strip_prefix("data: "));
                match data {
                    Some(data) => {
                        return Some((name.to_owned(), serde_json::from_str(data).unwrap()));
                    }
                    None => continue, // a keep-alive comment
                }
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .ok()??;
            self.buffer
                .push_str(&String::from_utf8_lossy(&chunk.unwrap()));
        }
    }

    /// Events until one matches, failing after 5 s.
    async fn until(&mut self, mut found: impl FnMut(&str, &Value) -> bool) -> Vec<(String, Value)> {
        let mut seen = Vec::new();
        loop {
            let Some((name, data)) = self.next(Duration::from_secs(5)).await else {
                panic!("no matching event; saw {seen:?}");
            };
            let done = found(&name, &data);
            seen.push((name, data));
            if done {
                return seen;
            }
        }
    }
}

async fn focus(app: &TestApp, token: &str, stream: i64, conversation: Value) -> u16 {
    app.client
        .request(
            Method::PUT,
            app.url(&format!("/api/v1/events/{stream}/focus")),
        )
        .bearer_auth(token)
        .json(&json!({ "conversation_id": conversation }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn second_agent(app: &TestApp) -> String {
    let store = crate::helpers::open_store(app).await;
    store
        .create_agent("Bo Agent", "bo@example.com", Role::Agent)
        .await
        .unwrap()
        .1
}

fn text_of(data: &Value) -> &str {
    data["data"]["text"].as_str().unwrap_or("")
}

#[tokio::test]
async fn an_inbox_stream_carries_its_conversation_in_full_and_the_rest_as_list_changes() {
    let app = spawn_app().await;
    let a = app.customer_says("t-a", "a1", "first in a").await["conversation_id"].clone();
    let b = app.customer_says("t-b", "b1", "first in b").await["conversation_id"].clone();
    let mut sse = Sse::open(&app, &app.token, &format!("?view=inbox&conversation={a}")).await;
    let (name, ready) = sse.next(Duration::from_secs(5)).await.unwrap();
    assert_eq!(name, "ready");
    let stream = ready["data"]["stream"].as_i64().unwrap();

    // The focused conversation: the message itself.
    app.customer_says("t-a", "a2", "second in a").await;
    let seen = sse
        .until(|name, data| name == "message.created" && text_of(data) == "second in a")
        .await;
    assert!(seen.iter().all(|(n, _)| n != "resync"), "{seen:?}");
    // Elsewhere: the list row, not the message.
    app.customer_says("t-b", "b2", "second in b").await;
    let seen = sse
        .until(|name, data| name == "conversation.updated" && data["data"]["id"] == b)
        .await;
    assert!(
        !seen.iter().any(|(_, d)| text_of(d) == "second in b"),
        "{seen:?}"
    );
    // An agent's reply elsewhere moves the row through `conversation.activity`.
    app.post_reply(b.as_i64().unwrap(), "we are on it").await;
    let seen = sse
        .until(|name, data| name == "conversation.activity" && data["data"]["id"] == b)
        .await;
    assert!(!seen.iter().any(|(_, d)| text_of(d) == "we are on it"));

    // Focus moves: now b is in full.
    assert_eq!(focus(&app, &app.token, stream, b.clone()).await, 204);
    app.customer_says("t-b", "b3", "third in b").await;
    sse.until(|name, data| name == "message.created" && text_of(data) == "third in b")
        .await;

    // Admins' inbox streams carry refused unsafe replies too.
    let refused = app
        .send_json(
            Method::POST,
            &format!("/api/v1/conversations/{b}/messages"),
            json!({"text": "Please send us your seed phrase to restore the wallet"}),
        )
        .await;
    assert_eq!(refused.status(), 422);
    sse.until(|name, data| name == "reply.refused" && data["data"]["conversation_id"] == b)
        .await;

    // Only the stream's own agent may move it; an unknown stream is not found.
    let bo = second_agent(&app).await;
    assert_eq!(focus(&app, &bo, stream, a.clone()).await, 404);
    assert_eq!(focus(&app, &app.token, stream + 1, a).await, 404);
    assert_eq!(focus(&app, &app.token, stream, json!("x")).await, 400);
    app.stop().await;
}

/// Reads until nothing came for 2.5 s: the conversations listed, and the sum of `list.more`.
async fn drain_list(sse: &mut Sse) -> (Vec<i64>, usize) {
    let (mut listed, mut more) = (Vec::new(), 0);
    while let Some((name, data)) = sse.next(Duration::from_millis(2500)).await {
        match name.as_str() {
            "conversation.updated" => listed.push(data["data"]["id"].as_i64().unwrap()),
            "list.more" => more += data["data"]["more"].as_u64().unwrap() as usize,
            _ => {}
        }
    }
    listed.sort_unstable();
    listed.dedup();
    (listed, more)
}

async fn burst(app: &TestApp, round: usize) {
    let posts = (1..=70).map(|n| async move {
        app.customer_says(&format!("t-{n}"), &format!("m-{n}-{round}"), "burst")
            .await
    });
    futures_util::future::join_all(posts).await;
}

#[tokio::test]
async fn a_burst_lists_every_real_change_and_the_newest_activity_and_says_more() {
    let app = spawn_app().await;
    let mut sse = Sse::open(&app, &app.token, "?view=inbox").await;
    assert_eq!(sse.next(Duration::from_secs(5)).await.unwrap().0, "ready");
    // 70 new conversations: each is a real change (a row to add), so all are listed.
    burst(&app, 1).await;
    let (listed, more) = drain_list(&mut sse).await;
    assert_eq!((listed.len(), more), (70, 0), "{listed:?}");
    // New messages only move rows: at most 25 a round, the rest counted.
    burst(&app, 2).await;
    let (listed, more) = drain_list(&mut sse).await;
    assert!(more > 0, "{listed:?}");
    assert!(listed.len() + more >= 70, "{listed:?}, {more} more");
    app.stop().await;
}

#[tokio::test]
async fn a_conversation_parameter_needs_the_inbox_view() {
    let app = spawn_app().await;
    let answer = app.get("/api/v1/events?conversation=1").await;
    assert_eq!(answer.status(), 400);
    let answer = app.get("/api/v1/events?view=sideways").await;
    assert_eq!(answer.status(), 400);
    app.stop().await;
}
