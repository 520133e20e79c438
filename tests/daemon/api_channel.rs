//! The whole loop through the `api` channel: inbound → conversation → SSE → reply → webhook.

use crate::helpers::{SECRET, eventually, spawn_app, spawn_app_with};
use serde_json::{Value, json};
use std::time::Duration;

async fn next_sse_event(
    response: &mut reqwest::Response,
    buffer: &mut String,
    name: &str,
) -> Value {
    let wanted = format!("event: {name}\n");
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            while let Some(end) = buffer.find("\n\n") {
                let frame: String = buffer.drain(..end + 2).collect();
                if frame.starts_with(&wanted) || frame.contains(&format!("\n{wanted}")) {
                    let data = frame
                        .lines()
                        .find_map(|l| l.strip_prefix("data: "))
                        .expect("event has data");
                    return serde_json::from_str(data).unwrap();
                }
            }
            let chunk = response.chunk().await.unwrap().expect("stream stays open");
            buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    })
    .await
    .expect("SSE event within 10 s")
}

#[tokio::test]
async fn inbound_message_reaches_the_inbox_live_and_the_reply_reaches_a_signed_webhook() {
    let app = spawn_app().await;
    let mut events = app.get("/api/v1/events").await;
    assert_eq!(events.status(), 200);
    let mut buffer = String::new();

    let accepted = app
        .customer_says("chat-1", "m-1", "My deposit has not arrived")
        .await;
    let conversation_id = accepted["conversation_id"].as_i64().unwrap();
    assert_eq!(accepted["duplicate"], false);

    let created = next_sse_event(&mut events, &mut buffer, "message.created").await;
    assert_eq!(created["data"]["text"], "My deposit has not arrived");
    assert_eq!(created["data"]["conversation_id"], conversation_id);

    let list = app.get_json("/api/v1/conversations").await;
    let conversation = &list["conversations"][0];
    assert_eq!(conversation["id"], conversation_id);
    assert_eq!(conversation["channel"], "website");
    assert_eq!(conversation["status"], "open");
    assert_eq!(conversation["contact"]["display_name"], "Carol Customer");
    assert!(conversation["last_message_at"].is_string());

    let messages = app.messages(conversation_id).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["direction"], "inbound");
    assert_eq!(messages[0]["sender"]["display_name"], "Carol Customer");
    assert_eq!(messages[0]["delivery_status"], Value::Null);

    let reply = app
        .post_reply(conversation_id, "We are checking it now")
        .await;
    assert_eq!(reply["delivery_status"], "pending");
    assert_eq!(reply["direction"], "outbound");
    let reply_id = reply["id"].as_i64().unwrap();

    let delivered = app.wait_for_status(conversation_id, reply_id, "sent").await;
    assert_eq!(delivered["external_id"], "hook-1");
    let updated = next_sse_event(&mut events, &mut buffer, "message.updated").await;
    assert_eq!(updated["data"]["id"], reply_id);

    let received = app.hook.received();
    assert_eq!(received.len(), 1);
    let hook = &received[0];
    let expected = switchboard::channels::api::signature(SECRET.as_bytes(), &hook.body);
    assert_eq!(
        hook.headers["x-switchboard-signature"].to_str().unwrap(),
        expected
    );
    let body = hook.json();
    assert_eq!(body["text"], "We are checking it now");
    assert_eq!(body["thread_id"], "chat-1");
    assert_eq!(body["recipient"], "visitor-chat-1");
    assert_eq!(body["agent"], "Alice Agent");
    assert_eq!(body["message_id"], reply_id);
}

#[tokio::test]
async fn nul_characters_are_stored_as_replacement_characters_on_either_backend() {
    // PostgreSQL's text cannot hold NUL: without the replacement such a message would be
    // refused there, and an adapter would redeliver it forever.
    let app = spawn_app().await;
    let body = json!({"thread_id": "chat\u{0}1", "message_id": "m\u{0}1",
                      "sender": {"id": "visitor\u{0}", "name": "Carol\u{0}Customer"},
                      "subject": "help\u{0}", "text": "my seed\u{0}less wallet"});
    let stored = app.post_inbound("website", body.clone()).await;
    assert_eq!(stored.status(), 201);
    let stored: Value = stored.json().await.unwrap();
    let conversation = stored["conversation_id"].as_i64().unwrap();
    let messages = app.messages(conversation).await;
    assert_eq!(messages[0]["text"], "my seed\u{FFFD}less wallet");
    assert_eq!(messages[0]["external_id"], "m\u{FFFD}1");
    // The same post again is the same message: still stored once.
    let again = app.post_inbound("website", body).await;
    assert_eq!(again.status(), 200);
    assert_eq!(app.messages(conversation).await.len(), 1);
}

#[tokio::test]
async fn nul_characters_written_by_an_agent_are_refused_on_either_backend() {
    // An agent is told (400) rather than the text silently changed; on PostgreSQL the write
    // would otherwise fail as a server error.
    let app = spawn_app().await;
    let first = app.customer_says("chat-1", "m-1", "hello").await;
    let conversation = first["conversation_id"].as_i64().unwrap();
    let post = reqwest::Method::POST;
    for (path, body) in [
        (
            format!("/api/v1/conversations/{conversation}/messages"),
            json!({"text": "we\u{0}re on it"}),
        ),
        (
            format!("/api/v1/conversations/{conversation}/notes"),
            json!({"text": "check\u{0}this"}),
        ),
        (
            "/api/v1/canned_answers".to_owned(),
            json!({"shortcut": "hi", "title": "Gre\u{0}eting", "text": "Hello"}),
        ),
    ] {
        let response = app.send_json(post.clone(), &path, body).await;
        assert_eq!(response.status(), 400, "POST {path}");
        let error: Value = response.json().await.unwrap();
        assert!(
            error["error"].as_str().unwrap().contains("NUL"),
            "POST {path}: {error}"
        );
    }
    let search = app.get("/api/v1/conversations?q=hel%00lo").await;
    assert_eq!(search.status(), 400);
    // Nothing was written: the customer's message is all there is.
    assert_eq!(app.messages(conversation).await.len(), 1);
    assert_eq!(
        app.get_json(&format!("/api/v1/conversations/{conversation}/notes"))
            .await["notes"],
        json!([])
    );
}

#[tokio::test]
async fn redelivered_inbound_message_is_stored_once() {
    let app = spawn_app().await;
    let first = app.customer_says("chat-1", "m-1", "hello").await;
    let again = app
        .post_inbound(
            "website",
            json!({"thread_id": "chat-1", "message_id": "m-1",
                   "sender": {"id": "visitor-chat-1", "name": "Carol Customer"}, "text": "hello"}),
        )
        .await;
    assert_eq!(again.status(), 200);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["duplicate"], true);
    assert_eq!(again["conversation_id"], first["conversation_id"]);
    let messages = app
        .messages(first["conversation_id"].as_i64().unwrap())
        .await;
    assert_eq!(messages.len(), 1);
}

#[tokio::test]
async fn webhook_500_then_200_is_delivered_once_after_a_retry() {
    let app = spawn_app().await;
    app.hook.answer(&[500]);
    let c = app.customer_says("chat-1", "m-1", "help").await["conversation_id"]
        .as_i64()
        .unwrap();
    let reply = app.post_reply(c, "on it").await;
    let id = reply["id"].as_i64().unwrap();
    let sent = app.wait_for_status(c, id, "sent").await;
    assert_eq!(sent["error"], Value::Null);
    let received = app.hook.received();
    assert_eq!(received.len(), 2, "one failed attempt, one success");
    assert_eq!(
        received[0].body, received[1].body,
        "the retry sends the same body"
    );
    let delivery = |i: usize| {
        received[i].headers["x-switchboard-delivery"]
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        delivery(0),
        delivery(1),
        "the delivery id is stable across retries"
    );
    assert!(
        delivery(1).len() == 32 && delivery(1).bytes().all(|b| b.is_ascii_hexdigit()),
        "a random id, not the message id {id} that repeats after a restore: {}",
        delivery(1)
    );
    // Nothing more is sent once delivered.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(app.hook.received().len(), 2);
}

#[tokio::test]
async fn webhook_rejecting_the_reply_marks_it_failed_with_the_reason_and_manual_retry_delivers() {
    let app = spawn_app().await;
    app.hook.answer(&[400]);
    let c = app.customer_says("chat-1", "m-1", "help").await["conversation_id"]
        .as_i64()
        .unwrap();
    let id = app.post_reply(c, "on it").await["id"].as_i64().unwrap();
    let failed = app.wait_for_status(c, id, "failed").await;
    let error = failed["error"].as_str().unwrap();
    assert!(error.contains("400"), "{error}");
    assert_eq!(
        app.hook.received().len(),
        1,
        "a permanent error is not retried"
    );

    let retried = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/messages/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(retried.status(), 202);
    app.wait_for_status(c, id, "sent").await;
    assert_eq!(app.hook.received().len(), 2);

    let again = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/messages/{id}/retry"),
            json!({}),
        )
        .await;
    assert_eq!(again.status(), 409, "a delivered message cannot be retried");
}

#[tokio::test]
async fn webhook_failing_until_expiry_marks_the_reply_failed() {
    let app = spawn_app_with(|c| c.outbox.expiry = Duration::from_millis(900)).await;
    app.hook.always(503);
    let c = app.customer_says("chat-1", "m-1", "help").await["conversation_id"]
        .as_i64()
        .unwrap();
    let id = app.post_reply(c, "on it").await["id"].as_i64().unwrap();
    let failed = app.wait_for_status(c, id, "failed").await;
    let error = failed["error"].as_str().unwrap();
    assert!(error.starts_with("gave up after"), "{error}");
    assert!(error.contains("503"), "{error}");
    assert!(app.hook.received().len() >= 2);
}

#[tokio::test]
async fn pending_replies_are_delivered_after_a_restart() {
    let app = spawn_app_with(|c| c.outbox.retry_schedule = vec![Duration::from_secs(1)]).await;
    app.hook.answer(&[503]);
    let c = app.customer_says("chat-1", "m-1", "help").await["conversation_id"]
        .as_i64()
        .unwrap();
    let id = app.post_reply(c, "on it").await["id"].as_i64().unwrap();
    // Wait for the failed first attempt, then stop while the retry is still pending.
    eventually(|| async {
        let m = app.message(c, id).await;
        (m["error"].is_string()).then_some(())
    })
    .await;
    assert_eq!(app.message(c, id).await["delivery_status"], "pending");
    let app = app.restart().await;
    let sent = app.wait_for_status(c, id, "sent").await;
    assert_eq!(sent["text"], "on it");
    assert_eq!(app.hook.received().len(), 2);
}

#[tokio::test]
async fn replies_in_one_conversation_are_delivered_in_order() {
    let app = spawn_app().await;
    app.hook.answer(&[503]);
    let c = app.customer_says("chat-1", "m-1", "help").await["conversation_id"]
        .as_i64()
        .unwrap();
    let mut ids = Vec::new();
    for text in ["first", "second", "third"] {
        ids.push(app.post_reply(c, text).await["id"].as_i64().unwrap());
    }
    for id in &ids {
        app.wait_for_status(c, *id, "sent").await;
    }
    let texts: Vec<String> = app
        .hook
        .received()
        .iter()
        .map(|r| r.json()["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(texts, ["first", "first", "second", "third"]);
}

#[tokio::test]
async fn inbound_with_a_wrong_secret_or_unknown_channel_is_refused() {
    let app = spawn_app().await;
    let body = json!({"thread_id": "t", "message_id": "m", "sender": {"id": "u"}, "text": "x"});
    let wrong = app
        .client
        .post(app.url("/api/v1/channels/website/inbound"))
        .bearer_auth("website-secret-wrong-0000")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let missing = app
        .client
        .post(app.url("/api/v1/channels/website/inbound"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 401);
    assert_eq!(app.post_inbound("nope", body.clone()).await.status(), 404);
    let empty = app
        .post_inbound(
            "website",
            json!({"thread_id": "", "message_id": "m", "sender": {"id": "u"}, "text": "x"}),
        )
        .await;
    assert_eq!(empty.status(), 400);
    let list = app.get_json("/api/v1/conversations").await;
    assert_eq!(list["conversations"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn reply_files_are_stored_downloadable_and_sent_with_the_webhook() {
    let app = spawn_app().await;
    let c = app.customer_says("chat-1", "m-1", "help").await["conversation_id"]
        .as_i64()
        .unwrap();
    let path = format!("/api/v1/conversations/{c}/messages");
    let response = app
        .send_json(
            reqwest::Method::POST,
            &path,
            json!({ "text": "see attached", "attachments": [
                { "filename": "fees.txt", "content_type": "text/plain", "data_base64": "ZmVlOiAwLjE=" } ] }),
        )
        .await;
    assert_eq!(response.status(), 202);
    let message: Value = response.json::<Value>().await.unwrap()["message"].clone();
    let url = message["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let download = app.get(&url).await;
    assert_eq!(
        download.headers()["content-disposition"],
        "attachment; filename=\"fees.txt\""
    );
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"fee: 0.1");
    app.wait_for_status(c, message["id"].as_i64().unwrap(), "sent")
        .await;
    let body = app.hook.received()[0].json();
    assert_eq!(body["attachments"][0]["filename"], "fees.txt");
    assert_eq!(body["attachments"][0]["data_base64"], "ZmVlOiAwLjE=");

    let bad = app
        .send_json(
            reqwest::Method::POST,
            &path,
            json!({ "text": "x", "attachments": [
            { "filename": "a", "data_base64": "not base64!" } ] }),
        )
        .await;
    assert_eq!(bad.status(), 400);
    let empty = app
        .send_json(
            reqwest::Method::POST,
            &path,
            json!({ "text": "", "attachments": [] }),
        )
        .await;
    assert_eq!(empty.status(), 400);
}

#[tokio::test]
async fn customer_files_posted_inbound_are_stored_and_downloadable() {
    let app = spawn_app().await;
    let accepted = app
        .post_inbound(
            "website",
            json!({"thread_id": "chat-9", "message_id": "m-1", "sender": {"id": "v9", "name": "Dan"},
                   "text": "", "attachments": [
                       {"filename": "C:\\Users\\dan\\tx.png", "content_type": "image/png", "data_base64": "iVBORw0KGgo="}]}),
        )
        .await;
    assert_eq!(accepted.status(), 201);
    let c = accepted.json::<Value>().await.unwrap()["conversation_id"]
        .as_i64()
        .unwrap();
    let message = app.messages(c).await.remove(0);
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["filename"], "tx.png");
    assert_eq!(attachment["size"], 8);
    let bytes = app
        .get(attachment["url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), b"\x89PNG\r\n\x1a\n");
}
