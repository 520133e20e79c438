//! The Telegram channel end to end: the fake Bot API ↔ the daemon ↔ the agent API.

use crate::helpers::{TestApp, eventually, spawn_app_with};
use crate::telegram_fake::{
    BOT_ID, BOT_USERNAME, FakeTelegram, LONE_SURROGATE, TOKEN, private_text,
};
use serde_json::{Value, json};
use std::time::Duration;
use switchboard::config::ChannelConfig;
use switchboard_telegram::TelegramConfig;

/// The bot as the tests configure it: polling the fake.
pub(crate) fn bot_config(fake: &FakeTelegram) -> TelegramConfig {
    TelegramConfig {
        name: "wallet-bot".into(),
        token: TOKEN.into(),
        api_url: fake.url.parse().unwrap(),
        mode: Default::default(),
        poll_timeout: Duration::from_secs(1),
        chat_interval: Duration::from_secs(1),
        webhook_url: None,
        webhook_secret: None,
    }
}

async fn spawn_bot(config: TelegramConfig) -> TestApp {
    spawn_app_with(move |c| c.channels.push(ChannelConfig::Telegram(config))).await
}

pub(crate) async fn spawn_with_bot() -> (TestApp, FakeTelegram) {
    let fake = FakeTelegram::start().await;
    (spawn_bot(bot_config(&fake)).await, fake)
}

#[tokio::test]
async fn private_message_becomes_a_conversation_with_the_telegram_contact() {
    let (app, fake) = spawn_with_bot().await;
    fake.push("message", private_text(4242, 1, "Мій депозит не прийшов"));
    let conversation = app.wait_conversations("wallet-bot", 1).await[0].clone();
    assert_eq!(conversation["contact"]["display_name"], "Carol Crypto");
    let id = conversation["id"].as_i64().unwrap();
    let messages = app.wait_messages(id, 1).await;
    assert_eq!(messages[0]["text"], "Мій депозит не прийшов");
    assert_eq!(messages[0]["external_id"], "4242:1");
    let contact = app
        .get_json(&format!(
            "/api/v1/contacts/{}",
            conversation["contact"]["id"]
        ))
        .await;
    let identity = &contact["contact"]["identities"][0];
    assert_eq!(identity["channel"], "wallet-bot");
    assert_eq!(identity["external_id"], "4242");
    assert_eq!(identity["username"], "carol_c");
    assert_eq!(identity["language"], "uk");
    assert!(!fake.calls("getMe").is_empty());
}

#[tokio::test]
async fn agent_reply_is_sent_to_the_chat_as_plain_text_and_long_text_is_split() {
    let (app, fake) = spawn_with_bot().await;
    fake.push("message", private_text(4242, 1, "help"));
    let id = app.wait_conversations("wallet-bot", 1).await[0]["id"]
        .as_i64()
        .unwrap();
    let reply = app
        .post_reply(id, "We never ask for your *seed phrase*.")
        .await;
    let sent = app
        .wait_for_status(id, reply["id"].as_i64().unwrap(), "sent")
        .await;
    let calls = fake.calls("sendMessage");
    assert_eq!(calls[0]["chat_id"], 4242);
    assert_eq!(calls[0]["text"], "We never ask for your *seed phrase*.");
    assert!(
        calls[0].get("parse_mode").is_none(),
        "no parse mode: agent text is never markup"
    );
    assert_eq!(sent["external_id"], "4242:5001");

    let long = format!(
        "{}\n\n{}",
        "a ".repeat(1500).trim(),
        "b ".repeat(1500).trim()
    );
    let reply = app.post_reply(id, &long).await;
    app.wait_for_status(id, reply["id"].as_i64().unwrap(), "sent")
        .await;
    let calls = fake.calls("sendMessage");
    assert_eq!(calls.len(), 3);
    assert!(calls[1]["text"].as_str().unwrap().starts_with("a a"));
    assert!(calls[2]["text"].as_str().unwrap().starts_with("b b"));

    // Part 2 is refused for now: the retry sends part 2 alone, part 1 never twice, and the
    // message keeps part 1's id.
    fake.fail_sends(&[
        (200, "", None),
        (429, "Too Many Requests: retry after 1", Some(1)),
    ]);
    let reply = app.post_reply(id, &long).await;
    let sent = app
        .wait_for_status(id, reply["id"].as_i64().unwrap(), "sent")
        .await;
    let texts: Vec<String> = fake.calls("sendMessage")[3..]
        .iter()
        .map(|c| c["text"].as_str().unwrap()[..3].to_owned())
        .collect();
    assert_eq!(texts, ["a a", "b b", "b b"]);
    assert_eq!(sent["external_id"], "4242:5004");
}

#[tokio::test]
async fn rate_limit_is_retried_after_its_delay_and_a_blocked_bot_fails_with_the_reason() {
    let (app, fake) = spawn_with_bot().await;
    fake.push("message", private_text(4242, 1, "help"));
    let id = app.wait_conversations("wallet-bot", 1).await[0]["id"]
        .as_i64()
        .unwrap();
    fake.fail_sends(&[(429, "Too Many Requests: retry after 1", Some(1))]);
    let reply = app.post_reply(id, "first").await;
    let sent = app
        .wait_for_status(id, reply["id"].as_i64().unwrap(), "sent")
        .await;
    assert_eq!(sent["error"], Value::Null);
    assert_eq!(fake.calls("sendMessage").len(), 2);

    fake.fail_sends(&[(500, "Internal Server Error", None)]);
    let reply = app.post_reply(id, "after a server error").await;
    // teloxide itself waits 10 s after any 5xx answer before it reports the error.
    app.wait_for_status_within(
        id,
        reply["id"].as_i64().unwrap(),
        "sent",
        Duration::from_secs(25),
    )
    .await;
    assert_eq!(fake.calls("sendMessage").len(), 4, "a 5xx is retried");

    fake.fail_sends(&[(403, "Forbidden: bot was blocked by the user", None)]);
    let reply = app.post_reply(id, "second").await;
    let failed = app
        .wait_for_status(id, reply["id"].as_i64().unwrap(), "failed")
        .await;
    assert_eq!(failed["error"], "Forbidden: bot was blocked by the user");
    assert_eq!(
        fake.calls("sendMessage").len(),
        5,
        "a permanent error is not retried"
    );
}

#[tokio::test]
async fn edited_message_updates_the_text_and_keeps_the_original() {
    let (app, fake) = spawn_with_bot().await;
    fake.push("message", private_text(4242, 1, "send to 0xAAA"));
    let id = app.wait_conversations("wallet-bot", 1).await[0]["id"]
        .as_i64()
        .unwrap();
    app.wait_messages(id, 1).await;
    let mut edited = private_text(4242, 1, "send to 0xBBB");
    edited["edit_date"] = json!(1_790_000_100);
    fake.push("edited_message", edited);
    let message = eventually(|| async {
        let m = app.messages(id).await.remove(0);
        (m["text"] == "send to 0xBBB").then_some(m)
    })
    .await;
    assert_eq!(message["revisions"][0]["text"], "send to 0xAAA");
    assert_eq!(message["edited_at"], "2026-09-21T14:15:00.000Z");
}

#[tokio::test]
async fn in_groups_only_messages_addressed_to_the_bot_open_conversations() {
    let (app, fake) = spawn_with_bot().await;
    let group = |message_id: i64, user: i64, text: &str| {
        json!({
            "message_id": message_id, "date": 1_790_000_000,
            "chat": { "id": -100_555, "type": "supergroup", "title": "Wallet users" },
            "from": { "id": user, "is_bot": false, "first_name": format!("User{user}") },
            "text": text
        })
    };
    fake.push("message", group(1, 7, "anyone else lost funds?"));
    fake.push(
        "message",
        group(2, 8, &format!("@{BOT_USERNAME} my withdrawal is stuck")),
    );
    let mut reply_to_bot = group(3, 9, "thanks");
    reply_to_bot["reply_to_message"] = json!({
        "message_id": 100, "date": 1_790_000_000,
        "chat": { "id": -100_555, "type": "supergroup", "title": "Wallet users" },
        "from": { "id": BOT_ID, "is_bot": true, "first_name": "Wallet Support" }, "text": "hi"
    });
    fake.push("message", reply_to_bot);
    fake.push("message", group(4, 10, "/start"));
    let conversations = app.wait_conversations("wallet-bot", 3).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let conversations_now = app
        .get_json("/api/v1/conversations?channel=wallet-bot")
        .await;
    assert_eq!(
        conversations_now["conversations"].as_array().unwrap().len(),
        3
    );
    let names: Vec<&str> = conversations
        .iter()
        .map(|c| c["contact"]["display_name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"User7"), "{names:?}");
    let reply = app
        .post_reply(
            conversations
                .iter()
                .find(|c| c["contact"]["display_name"] == "User8")
                .unwrap()["id"]
                .as_i64()
                .unwrap(),
            "checking",
        )
        .await;
    assert_eq!(reply["delivery_status"], "pending");
    tokio::time::timeout(Duration::from_secs(10), fake.wait_for_sends(1))
        .await
        .expect("the reply reaches Telegram");
    assert_eq!(
        fake.calls("sendMessage")[0]["chat_id"],
        -100_555,
        "answered in the group"
    );
}

#[tokio::test]
async fn photo_is_downloaded_and_served_as_an_attachment() {
    let (app, fake) = spawn_with_bot().await;
    fake.add_file("photo-big", "photos/file_7.jpg", b"\xff\xd8\xff fake jpeg");
    let mut photo = private_text(4242, 1, "");
    photo.as_object_mut().unwrap().remove("text");
    photo["caption"] = json!("my receipt");
    photo["photo"] = json!([
        { "file_id": "photo-small", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 10 },
        { "file_id": "photo-big", "file_unique_id": "b", "width": 1280, "height": 960, "file_size": 17 }
    ]);
    let mut huge = private_text(4242, 2, "");
    huge.as_object_mut().unwrap().remove("text");
    huge["document"] = json!({ "file_id": "doc-1", "file_unique_id": "d", "file_name": "statement.pdf",
                               "mime_type": "application/pdf", "file_size": 50_000_000 });
    fake.push("message", photo);
    fake.push("message", huge);
    let id = app.wait_conversations("wallet-bot", 1).await[0]["id"]
        .as_i64()
        .unwrap();
    let messages = app.wait_messages(id, 2).await;
    assert_eq!(messages[0]["text"], "my receipt");
    let attachment = &messages[0]["attachments"][0];
    assert_eq!(attachment["content_type"], "image/jpeg");
    let body = app.get(attachment["url"].as_str().unwrap()).await;
    assert_eq!(body.status(), 200);
    assert_eq!(
        body.bytes().await.unwrap().as_ref(),
        b"\xff\xd8\xff fake jpeg"
    );
    let too_big = &messages[1]["attachments"][0];
    assert_eq!(too_big["filename"], "statement.pdf");
    assert_eq!(too_big["url"], Value::Null);
    assert!(too_big["note"].as_str().unwrap().contains("20 MB"));
}

#[tokio::test]
async fn after_a_restart_no_update_is_lost_or_stored_twice() {
    let (app, fake) = spawn_with_bot().await;
    for i in 1..=3 {
        fake.push("message", private_text(4242, i, &format!("message {i}")));
    }
    let id = app.wait_conversations("wallet-bot", 1).await[0]["id"]
        .as_i64()
        .unwrap();
    app.wait_messages(id, 3).await;
    let app = app.restart().await;
    for i in 4..=5 {
        fake.push("message", private_text(4242, i, &format!("message {i}")));
    }
    let messages = app.wait_messages(id, 5).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let messages_now = app.messages(id).await;
    assert_eq!(messages_now.len(), 5, "{messages:?}");
    // The restarted daemon resumed from the committed offset, not from zero.
    let offsets: Vec<i64> = fake
        .calls("getUpdates")
        .iter()
        .map(|p| p["offset"].as_i64().unwrap_or(0))
        .collect();
    assert!(offsets.iter().skip(1).all(|&o| o >= 1003), "{offsets:?}");
}

#[tokio::test]
async fn a_wrong_token_marks_the_channel_failing_while_the_daemon_keeps_running() {
    let fake = FakeTelegram::start().await;
    let app = spawn_bot(TelegramConfig {
        token: "654321:WRONG-TOKEN-xyz".into(),
        ..bot_config(&fake)
    })
    .await;
    let health = app.wait_channel_state("wallet-bot", "failing").await;
    assert_eq!(health["status"], "degraded");
    assert!(
        health["channels"]["wallet-bot"]["last_error"]
            .as_str()
            .unwrap()
            .contains("token")
    );
    assert!(
        !health.to_string().contains("WRONG-TOKEN"),
        "the token never appears"
    );
    // The api channel still works.
    app.customer_says("chat-1", "m-1", "hello").await;
}

#[tokio::test]
async fn webhook_mode_registers_the_hook_and_accepts_only_the_right_secret() {
    let fake = FakeTelegram::start().await;
    let app = spawn_bot(TelegramConfig {
        mode: switchboard_telegram::config::Mode::Webhook,
        webhook_url: Some(
            "https://support.example.com/channels/telegram/wallet-bot/webhook"
                .parse()
                .unwrap(),
        ),
        webhook_secret: Some("hook-secret-0123456789".into()),
        ..bot_config(&fake)
    })
    .await;
    let registered = eventually(|| async { fake.calls("setWebhook").pop() }).await;
    // teloxide posts setWebhook as multipart form data.
    let form = registered.to_string();
    assert!(
        form.contains("https://support.example.com/channels/telegram/wallet-bot/webhook"),
        "{form}"
    );
    assert!(form.contains("hook-secret-0123456789"), "{form}");
    assert!(
        fake.calls("getUpdates").is_empty(),
        "no polling in webhook mode"
    );

    let hook = app.url("/channels/telegram/wallet-bot/webhook");
    let update = json!({ "update_id": 77, "message": private_text(4242, 1, "via webhook") });
    let post = |secret: Option<&'static str>| {
        let mut request = app.client.post(&hook).json(&update);
        if let Some(secret) = secret {
            request = request.header("X-Telegram-Bot-Api-Secret-Token", secret);
        }
        request.send()
    };
    assert_eq!(
        post(Some("wrong-secret-000000000")).await.unwrap().status(),
        401
    );
    assert_eq!(post(None).await.unwrap().status(), 401);
    assert!(
        app.get_json("/api/v1/conversations").await["conversations"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        post(Some("hook-secret-0123456789")).await.unwrap().status(),
        200
    );
    // Telegram re-posts an update it got no answer for: stored once.
    assert_eq!(
        post(Some("hook-secret-0123456789")).await.unwrap().status(),
        200
    );
    let id = app.wait_conversations("wallet-bot", 1).await[0]["id"]
        .as_i64()
        .unwrap();
    let messages = app.messages(id).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["text"], "via webhook");
    let garbage = app
        .client
        .post(&hook)
        .header("X-Telegram-Bot-Api-Secret-Token", "hook-secret-0123456789")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 400);
}

#[tokio::test]
async fn agent_files_are_uploaded_as_photo_or_document() {
    let (app, fake) = spawn_with_bot().await;
    fake.push("message", private_text(4242, 1, "how do I verify?"));
    let id = app.wait_conversations("wallet-bot", 1).await[0]["id"]
        .as_i64()
        .unwrap();
    let response = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{id}/messages"),
            json!({ "text": "", "attachments": [
                { "filename": "steps.png", "content_type": "image/png", "data_base64": "iVBORw0KGgo=" },
                { "filename": "../../guide.pdf", "content_type": "application/pdf", "data_base64": "JVBERi0xLjQ=" }
            ] }),
        )
        .await;
    assert_eq!(response.status(), 202);
    let reply: Value = response.json().await.unwrap();
    let names: Vec<&str> = reply["message"]["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["filename"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["steps.png", "guide.pdf"],
        "a path in a filename is cut to its last part"
    );
    app.wait_for_status(id, reply["message"]["id"].as_i64().unwrap(), "sent")
        .await;
    let photo = fake.calls("sendPhoto");
    let document = fake.calls("sendDocument");
    assert_eq!((photo.len(), document.len()), (1, 1));
    assert!(photo[0]["_raw"].as_str().unwrap().contains("steps.png"));
    assert!(document[0]["_raw"].as_str().unwrap().contains("%PDF-1.4"));
    assert!(
        fake.calls("sendMessage").is_empty(),
        "no empty text message is sent"
    );
}

#[tokio::test]
async fn start_opens_the_conversation_and_the_front_desk_acknowledges_it_through_the_outbox() {
    let fake = FakeTelegram::start().await;
    let bot = bot_config(&fake);
    let app = spawn_app_with(move |c| {
        crate::helpers::front_desk_says(c, "Hi! {wait} We never ask for your seed phrase.");
        c.channels.push(ChannelConfig::Telegram(bot));
    })
    .await;
    fake.push("message", private_text(4242, 1, "/start"));
    let id = app.wait_conversations("wallet-bot", 1).await[0]["id"]
        .as_i64()
        .unwrap();
    let messages = app.wait_messages(id, 2).await;
    assert_eq!(messages[0]["text"], "/start");
    let greeting = &messages[1];
    assert_eq!(greeting["direction"], "outbound");
    assert_eq!(greeting["sender"]["display_name"], "Switchboard");
    assert_eq!(greeting["auto_generated"], true);
    app.wait_for_status(id, greeting["id"].as_i64().unwrap(), "sent")
        .await;
    let sent = fake.calls("sendMessage");
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0]["text"]
            .as_str()
            .unwrap()
            .contains("never ask for your seed phrase")
    );
    // A further message gets no second acknowledgement.
    fake.push("message", private_text(4242, 2, "my deposit is missing"));
    app.wait_messages(id, 3).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(app.messages(id).await.len(), 3);
}

#[tokio::test]
async fn a_slow_chat_does_not_hold_up_replies_to_other_chats() {
    let (app, fake) = spawn_with_bot().await;
    fake.push("message", private_text(1111, 1, "slow one"));
    fake.push("message", private_text(2222, 1, "fast one"));
    let conversations = app.wait_conversations("wallet-bot", 2).await;
    let mut ids = Vec::new();
    for c in &conversations {
        let messages = app.wait_messages(c["id"].as_i64().unwrap(), 1).await;
        ids.push((
            messages[0]["external_id"].as_str().unwrap().to_owned(),
            c["id"].as_i64().unwrap(),
        ));
    }
    let slow = ids.iter().find(|(e, _)| e.starts_with("1111:")).unwrap().1;
    let fast = ids.iter().find(|(e, _)| e.starts_with("2222:")).unwrap().1;
    fake.slow_chat(1111, Duration::from_secs(3));
    let slow_reply = app.post_reply(slow, "to the slow chat").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = std::time::Instant::now();
    let fast_reply = app.post_reply(fast, "to the fast chat").await;
    app.wait_for_status(fast, fast_reply["id"].as_i64().unwrap(), "sent")
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(
        app.message(slow, slow_reply["id"].as_i64().unwrap()).await["delivery_status"],
        "pending"
    );
    app.wait_for_status(slow, slow_reply["id"].as_i64().unwrap(), "sent")
        .await;
}

#[tokio::test]
async fn an_update_with_a_lone_surrogate_does_not_block_the_bot() {
    let (app, fake) = spawn_with_bot().await;
    // The JSON escape \ud800 alone is valid JSON but no valid string: teloxide refuses the
    // whole getUpdates answer, which used to be fetched again forever.
    fake.push(
        "message",
        private_text(4242, 1, &format!("broken {LONE_SURROGATE} text")),
    );
    fake.push("message", private_text(4242, 2, "and the next message"));
    let id = app.wait_conversations("wallet-bot", 1).await[0]["id"]
        .as_i64()
        .unwrap();
    let messages = app.wait_messages(id, 2).await;
    assert_eq!(messages[0]["text"], "broken \u{fffd} text");
    assert_eq!(messages[1]["text"], "and the next message");
    // Later updates keep flowing: the offset moved past the bad batch.
    fake.push("message", private_text(4242, 3, "still here"));
    let messages = app.wait_messages(id, 3).await;
    assert_eq!(messages[2]["text"], "still here");
    assert_eq!(
        app.health().await["channels"]["wallet-bot"]["state"],
        "running"
    );
}
