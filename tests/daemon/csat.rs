//! Satisfaction surveys through the real daemon: asked after an agent resolves (with buttons
//! for channels that show them), answered in plain text as a rating and a comment without
//! reopening, announced live, and not asked without an agent reply, when the agent says so,
//! or twice in a day to one contact.

use crate::helpers::{TestApp, eventually, spawn_app_with};
use crate::live::Sse;
use serde_json::{Value, json};
use std::time::Duration;

const QUESTION: &str = "How would you rate the help you got?";
const THANKS: &str = "Thank you for your rating!";
const COMMENT_THANKS: &str = "Thank you, we have passed your comment on to the team.";

async fn says(app: &TestApp, thread: &str, id: &str, text: &str) -> i64 {
    app.customer_says(thread, id, text).await["conversation_id"]
        .as_i64()
        .unwrap()
}

async fn conversation(app: &TestApp, id: i64) -> Value {
    app.get_json(&format!("/api/v1/conversations/{id}")).await["conversation"].clone()
}

async fn resolve(app: &TestApp, id: i64, extra: Value) {
    let mut body = json!({"status": "resolved"});
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let response = app
        .send_json(
            reqwest::Method::PATCH,
            &format!("/api/v1/conversations/{id}"),
            body,
        )
        .await;
    assert_eq!(response.status(), 200);
}

/// The automatic texts of a conversation starting with `prefix`.
async fn automatic(app: &TestApp, id: i64, prefix: &str) -> usize {
    app.messages(id)
        .await
        .iter()
        .filter(|m| m["auto_generated"] == true && m["text"].as_str().unwrap().starts_with(prefix))
        .count()
}

async fn asked(app: &TestApp, id: i64) {
    eventually(|| async { (automatic(app, id, QUESTION).await == 1).then_some(()) }).await;
}

/// A conversation an agent answered, then resolved.
async fn answered_and_resolved(app: &TestApp, thread: &str, extra: Value) -> i64 {
    let id = says(app, thread, &format!("{thread}-1"), "my transfer failed").await;
    app.post_reply(id, "It went through now, please check.")
        .await;
    resolve(app, id, extra).await;
    id
}

#[tokio::test]
async fn a_resolved_conversation_asks_for_a_rating_and_keeps_the_answer() {
    let app = spawn_app_with(|c| c.csat.enabled = true).await;
    let mut events = Sse::connect(&app.url("/api/v1/events"), &app.token).await;

    let rated = answered_and_resolved(&app, "cs1", json!({})).await;
    asked(&app, rated).await;
    // The channel gets the buttons with the question.
    let question = eventually(|| async {
        app.hook
            .received()
            .into_iter()
            .map(|r| r.json())
            .find(|b| b["text"].as_str().is_some_and(|t| t.starts_with(QUESTION)))
    })
    .await;
    assert_eq!(question["buttons"], json!(["1", "2", "3", "4", "5"]));

    // A rating: kept, thanked, announced; the conversation stays resolved.
    says(&app, "cs1", "cs1-2", "4").await;
    let c = conversation(&app, rated).await;
    assert_eq!(c["status"], "resolved");
    assert_eq!(c["csat"], json!({"score": 4, "comment": null}));
    assert_eq!(automatic(&app, rated, THANKS).await, 1);
    let seen = loop {
        let (name, data) = events
            .next(Duration::from_secs(5))
            .await
            .expect("csat.rated");
        if name == "csat.rated" {
            break data["data"].clone();
        }
    };
    assert_eq!(seen["conversation_id"], rated, "{seen}");
    assert_eq!(seen["score"], 4);
    // The next message is the comment: still resolved.
    says(&app, "cs1", "cs1-3", "fast, but the fee was high").await;
    let c = conversation(&app, rated).await;
    assert_eq!(c["status"], "resolved");
    assert_eq!(
        c["csat"],
        json!({"score": 4, "comment": "fast, but the fee was high"})
    );
    assert_eq!(automatic(&app, rated, COMMENT_THANKS).await, 1);
    // After that, a message is a message: it reopens the conversation.
    says(&app, "cs1", "cs1-4", "one more thing about my deposit").await;
    assert_eq!(conversation(&app, rated).await["status"], "open");
    let activity = app
        .get_json(&format!("/api/v1/conversations/{rated}/activity"))
        .await;
    let entries: Vec<(String, Value)> = activity["activity"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"] == "csat")
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["new_value"].clone(),
            )
        })
        .collect();
    assert_eq!(
        entries,
        [
            ("survey".to_owned(), json!("sent")),
            ("csat".to_owned(), json!("4")),
            ("csat_comment".to_owned(), json!("added")),
        ]
    );
    // Resolved again the same day: the contact is not asked twice.
    resolve(&app, rated, json!({})).await;

    // A rating with its comment in one message; stars count as well.
    let starred = answered_and_resolved(&app, "cs2", json!({})).await;
    asked(&app, starred).await;
    says(&app, "cs2", "cs2-2", "⭐⭐ - slow, took three days").await;
    let c = conversation(&app, starred).await;
    assert_eq!(c["status"], "resolved");
    assert_eq!(
        c["csat"],
        json!({"score": 2, "comment": "slow, took three days"})
    );
    assert_eq!(automatic(&app, starred, COMMENT_THANKS).await, 1);
    assert_eq!(automatic(&app, starred, THANKS).await, 0);

    // Not a rating: the conversation reopens and the survey is over.
    let unhappy = answered_and_resolved(&app, "cs3", json!({})).await;
    asked(&app, unhappy).await;
    says(&app, "cs3", "cs3-2", "5 USDT are still missing").await;
    let c = conversation(&app, unhappy).await;
    assert_eq!(c["status"], "open");
    assert_eq!(c["csat"], Value::Null);
    says(&app, "cs3", "cs3-3", "5").await;
    assert_eq!(conversation(&app, unhappy).await["csat"], Value::Null);

    // No survey: when the agent says so, when no agent replied.
    let quiet = answered_and_resolved(&app, "cs4", json!({"survey": false})).await;
    let unanswered = says(&app, "cs5", "cs5-1", "never mind, found it").await;
    resolve(&app, unanswered, json!({})).await;
    // The sweep runs every 5 s: two passes later, still nothing was asked.
    tokio::time::sleep(Duration::from_secs(11)).await;
    for id in [quiet, unanswered] {
        assert_eq!(automatic(&app, id, QUESTION).await, 0, "conversation {id}");
    }
    assert_eq!(automatic(&app, rated, QUESTION).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn without_csat_nothing_is_asked() {
    let app = spawn_app_with(|_| {}).await;
    let id = answered_and_resolved(&app, "cs9", json!({})).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!(automatic(&app, id, QUESTION).await, 0);
    says(&app, "cs9", "cs9-2", "5").await;
    let c = conversation(&app, id).await;
    assert_eq!(c["status"], "open");
    assert_eq!(c["csat"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn on_telegram_the_survey_has_inline_buttons_and_a_press_is_the_rating() {
    use crate::telegram_fake::{BOT_ID, FakeTelegram, private_text};
    use switchboard::config::ChannelConfig;
    let fake = FakeTelegram::start().await;
    let bot = crate::telegram::bot_config(&fake);
    let app = spawn_app_with(move |c| {
        c.csat.enabled = true;
        c.channels.push(ChannelConfig::Telegram(bot));
    })
    .await;
    fake.push("message", private_text(7001, 1, "my withdrawal is stuck"));
    let id = app.wait_conversations("wallet-bot", 1).await[0]["id"]
        .as_i64()
        .unwrap();
    app.reply_sent(id, "Fixed, it is on its way.").await;
    resolve(&app, id, json!({})).await;
    let question = eventually(|| async {
        fake.calls("sendMessage")
            .into_iter()
            .find(|m| m["text"].as_str().is_some_and(|t| t.starts_with(QUESTION)))
    })
    .await;
    let buttons = &question["reply_markup"]["inline_keyboard"][0];
    let data: Vec<&str> = buttons
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["callback_data"].as_str().unwrap())
        .collect();
    assert_eq!(data, ["1", "2", "3", "4", "5"], "{question}");
    // The customer taps 5 under the question (Telegram delivers the press twice: once stored).
    let press = json!({
        "id": "press-1",
        "from": { "id": 7001, "is_bot": false, "first_name": "Carol", "last_name": "Crypto" },
        "message": {
            "message_id": 9001, "date": 1_790_000_100,
            "chat": { "id": 7001, "type": "private", "first_name": "Carol" },
            "from": { "id": BOT_ID, "is_bot": true, "first_name": "Wallet Support" },
            "text": question["text"]
        },
        "chat_instance": "ci-1",
        "data": "5"
    });
    fake.push("callback_query", press.clone());
    fake.push("callback_query", press);
    let c = eventually(|| async {
        let c = conversation(&app, id).await;
        (!c["csat"].is_null()).then_some(c)
    })
    .await;
    assert_eq!(c["csat"], json!({"score": 5, "comment": null}));
    assert_eq!(c["status"], "resolved");
    let answered = eventually(|| async {
        let calls = fake.calls("answerCallbackQuery");
        (!calls.is_empty()).then_some(calls)
    })
    .await;
    assert_eq!(answered[0]["callback_query_id"], "press-1");
    eventually(|| async {
        fake.calls("sendMessage")
            .iter()
            .any(|m| m["text"].as_str().is_some_and(|t| t.starts_with(THANKS)))
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let presses = app
        .messages(id)
        .await
        .iter()
        .filter(|m| m["external_id"] == "callback:press-1")
        .count();
    assert_eq!(presses, 1);
    app.stop().await;
}

#[tokio::test]
async fn on_discord_the_survey_has_buttons_and_a_press_is_the_rating() {
    use crate::discord_fake::FakeDiscord;
    use switchboard::config::ChannelConfig;
    use switchboard_discord::ThreadMode;
    const CAROL: u64 = 424_242_424_242_424_243;
    let fake = FakeDiscord::start().await;
    let config = crate::discord::config(&fake, ThreadMode::Private);
    let app = spawn_app_with(move |c| {
        c.csat.enabled = true;
        c.channels.push(ChannelConfig::Discord(config));
    })
    .await;
    fake.until("the bot identifies", |f| f.connected()).await;
    let dm = fake.dm_channel(CAROL);
    fake.push_message(dm, false, CAROL, "Carol", "my deposit is missing");
    let id = app.wait_conversations("discord", 1).await[0]["id"]
        .as_i64()
        .unwrap();
    app.reply_sent(id, "Found it, credited now.").await;
    resolve(&app, id, json!({})).await;
    let question = eventually(|| async {
        fake.sends_to(dm).into_iter().find(|c| {
            c.json["content"]
                .as_str()
                .is_some_and(|t| t.starts_with(QUESTION))
        })
    })
    .await;
    let row = &question.json["components"][0];
    assert_eq!(row["type"], 1, "{:?}", question.json);
    let ids: Vec<&str> = row["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["custom_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["answer:1", "answer:2", "answer:3", "answer:4", "answer:5"]
    );
    let posted = fake
        .visible(dm)
        .into_iter()
        .find(|m| {
            m["content"]
                .as_str()
                .is_some_and(|t| t.starts_with(QUESTION))
        })
        .unwrap();
    let press = fake.press(dm, CAROL, &posted, "answer:2");
    let c = eventually(|| async {
        let c = conversation(&app, id).await;
        (!c["csat"].is_null()).then_some(c)
    })
    .await;
    assert_eq!(c["csat"], json!({"score": 2, "comment": null}));
    assert_eq!(c["status"], "resolved");
    // Discord is told the press arrived, through the interaction's callback.
    fake.until("the press is acknowledged", |f| {
        f.calls()
            .iter()
            .any(|c| c.path.contains(&format!("/interactions/{press}/")) && c.json["type"] == 6)
    })
    .await;
    // The comment follows in a message of its own.
    fake.push_message(dm, false, CAROL, "Carol", "it took two days");
    let c = eventually(|| async {
        let c = conversation(&app, id).await;
        (!c["csat"]["comment"].is_null()).then_some(c)
    })
    .await;
    assert_eq!(
        c["csat"],
        json!({"score": 2, "comment": "it took two days"})
    );
    assert_eq!(c["status"], "resolved");
    app.stop().await;
}
