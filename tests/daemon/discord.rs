//! The Discord channel end to end: the fake Discord (REST + gateway) ↔ the daemon ↔ the agent API.

use crate::discord_fake::{BOT_ID, FakeDiscord, SUPPORT_CHANNEL, TOKEN, user_json};
use crate::helpers::{TestApp, eventually, id_of, spawn_app_with};
use serde_json::{Value, json};
use std::time::Duration;
use switchboard::config::ChannelConfig;
use switchboard_discord::{DiscordConfig, ThreadMode};

const CHANNEL: &str = "discord";
const CAROL: u64 = 424_242_424_242_424_242;

pub(crate) fn config(fake: &FakeDiscord, mode: ThreadMode) -> DiscordConfig {
    let text = format!(
        "name = \"{CHANNEL}\"\ntoken = \"{TOKEN}\"\nsupport_channels = [\"{SUPPORT_CHANNEL}\"]\napi_url = \"{}\"\n",
        fake.url
    );
    let mut config: DiscordConfig = toml::from_str(&text).unwrap();
    config.thread_mode = mode;
    config
}

pub(crate) async fn spawn_with(mode: ThreadMode) -> (TestApp, FakeDiscord) {
    let fake = FakeDiscord::start().await;
    let config = config(&fake, mode);
    let app = spawn_app_with(move |c| c.channels.push(ChannelConfig::Discord(config))).await;
    fake.until("the bot identifies", |f| f.connected()).await;
    (app, fake)
}

/// Every send must forbid every ping.
fn assert_no_pings(call: &crate::discord_fake::Call) {
    let mentions = &call.json["allowed_mentions"];
    assert_eq!(mentions["parse"], json!([]), "{:?}", call.json);
    assert!(
        mentions["users"].as_array().is_none_or(|u| u.is_empty()),
        "{:?}",
        call.json
    );
    assert!(
        mentions["roles"].as_array().is_none_or(|r| r.is_empty()),
        "{:?}",
        call.json
    );
}

#[tokio::test]
async fn a_dm_becomes_a_conversation_and_the_reply_pings_nobody() {
    let (app, fake) = spawn_with(ThreadMode::Private).await;
    let intents = fake.intents().unwrap();
    assert_ne!(
        intents & (1 << 15),
        0,
        "MESSAGE_CONTENT intent requested: {intents}"
    );
    let dm = fake.dm_channel(CAROL);
    let first = fake.push_message(
        dm,
        false,
        CAROL,
        "Carol",
        "Hi, my deposit is missing @everyone",
    );
    let conversation = app.wait_conversations(CHANNEL, 1).await[0].clone();
    assert_eq!(conversation["contact"]["display_name"], "Carol");
    let messages = app.wait_messages(id_of(&conversation), 1).await;
    assert_eq!(messages[0]["text"], "Hi, my deposit is missing @everyone");

    // The bot's own messages and other bots' are not customer messages.
    let mut own = fake.message(dm, false, BOT_ID, "supportbot", "echo");
    own["author"]["bot"] = json!(true);
    fake.push("MESSAGE_CREATE", own);
    let mut other_bot = fake.message(dm, false, 5, "OtherBot", "spam");
    other_bot["author"] = json!({"id": "5", "username": "otherbot", "discriminator": "0", "avatar": null, "bot": true});
    fake.push("MESSAGE_CREATE", other_bot);
    // Payloads serenity cannot read, and event kinds it does not know, are skipped; the channel
    // goes on.
    fake.push(
        "MESSAGE_CREATE",
        json!({"id": "not a snowflake", "content": 42}),
    );
    fake.push("SOMETHING_NEW", json!({"whatever": true}));
    let later = fake.push_message(dm, false, CAROL, "Carol", "still there?");
    eventually(|| async {
        let messages = app.messages(id_of(&conversation)).await;
        messages
            .iter()
            .any(|m| m["external_id"] == later["id"])
            .then_some(())
    })
    .await;

    let reply = app.send_json(
        reqwest::Method::POST,
        &format!("/api/v1/conversations/{}/messages", id_of(&conversation)),
        json!({"text": "We are checking @everyone and @here", "reply_to_message_id": messages[0]["id"]}),
    ).await;
    assert_eq!(reply.status(), 202);
    let reply: Value = reply.json().await.unwrap();
    app.wait_for_status(
        id_of(&conversation),
        reply["message"]["id"].as_i64().unwrap(),
        "sent",
    )
    .await;
    let sends = fake.sends_to(dm);
    assert_eq!(sends.len(), 1);
    assert_eq!(
        sends[0].json["content"],
        "We are checking @everyone and @here"
    );
    assert_eq!(
        sends[0].json["message_reference"]["message_id"],
        first["id"]
    );
    assert_no_pings(&sends[0]);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Carol's two messages and the reply: no bot's message, nothing from the broken payload.
    assert_eq!(app.messages(id_of(&conversation)).await.len(), 3);
    app.stop().await;
}

/// Private threads the bot opened under the support channel.
fn threads_opened(fake: &FakeDiscord) -> usize {
    fake.calls()
        .iter()
        .filter(|c| c.path == format!("/api/v10/channels/{SUPPORT_CHANNEL}/threads"))
        .count()
}

#[tokio::test]
async fn a_support_channel_post_opens_a_private_thread_where_the_conversation_lives() {
    let (app, fake) = spawn_with(ThreadMode::Private).await;
    fake.push_message(SUPPORT_CHANNEL, true, CAROL, "Carol", "Withdrawal stuck");
    let conversation = app.wait_conversations(CHANNEL, 1).await[0].clone();
    let thread_call = fake
        .calls()
        .into_iter()
        .find(|c| {
            c.method == "POST" && c.path == format!("/api/v10/channels/{SUPPORT_CHANNEL}/threads")
        })
        .expect("thread created");
    assert_eq!(thread_call.json["type"], 12);
    assert_eq!(thread_call.json["name"], "Support: Carol");
    let members: Vec<_> = fake
        .calls()
        .into_iter()
        .filter(|c| c.path.contains("/thread-members/"))
        .collect();
    assert!(
        members[0]
            .path
            .ends_with(&format!("/thread-members/{CAROL}"))
    );
    let thread: u64 = members[0].path.split('/').nth(4).unwrap().parse().unwrap();

    // Later messages in the thread join the conversation.
    fake.push_message(thread, true, CAROL, "Carol", "Tx hash: 0xabc");
    let messages = app.wait_messages(id_of(&conversation), 2).await;
    assert_eq!(messages[1]["text"], "Tx hash: 0xabc");

    app.reply_sent(id_of(&conversation), "Found it, re-sending now.")
        .await;
    let sends = fake.sends_to(thread);
    assert_eq!(sends.len(), 1, "the reply is posted in the thread");
    assert_no_pings(&sends[0]);
    assert!(fake.sends_to(SUPPORT_CHANNEL).is_empty());
    assert_eq!(app.wait_conversations(CHANNEL, 1).await.len(), 1);

    // After a restart the customer's next post in the support channel still goes to their thread.
    let app = app.restart().await;
    fake.until("the bot identifies again", |f| f.connections().0 >= 2)
        .await;
    fake.push_message(SUPPORT_CHANNEL, true, CAROL, "Carol", "Any update?");
    let messages = app.wait_messages(id_of(&conversation), 4).await;
    assert_eq!(messages[3]["text"], "Any update?");
    assert_eq!(threads_opened(&fake), 1);
    assert_eq!(app.wait_conversations(CHANNEL, 1).await.len(), 1);
    // The thread is a route in its own table, not state in the (rewritten-per-message) cursor,
    // so no number of customers evicts it.
    let store = crate::helpers::open_store(&app).await;
    let cursor = store.cursor(CHANNEL).await.unwrap().unwrap();
    assert!(!cursor.contains("threads"), "{cursor}");
    assert_eq!(
        store
            .route(CHANNEL, &format!("thread:{SUPPORT_CHANNEL}:{CAROL}"))
            .await
            .unwrap(),
        Some(thread.to_string())
    );

    // A moderator deletes the thread: the customer's next post opens a new one, where the agent
    // can answer, instead of vanishing into the deleted thread.
    fake.delete_thread(thread);
    tokio::time::sleep(Duration::from_millis(100)).await;
    fake.push_message(
        SUPPORT_CHANNEL,
        true,
        CAROL,
        "Carol",
        "Hello? My thread is gone",
    );
    let conversations = app.wait_conversations(CHANNEL, 2).await;
    assert_eq!(threads_opened(&fake), 2);
    let newest = conversations
        .iter()
        .find(|c| id_of(c) != id_of(&conversation))
        .unwrap();
    app.reply_sent(id_of(newest), "Here we are again").await;
    app.stop().await;
}

#[tokio::test]
async fn without_thread_permissions_each_customer_still_gets_a_conversation_of_their_own() {
    let (app, fake) = spawn_with(ThreadMode::Private).await;
    fake.refuse_threads();
    fake.push_message(SUPPORT_CHANNEL, true, CAROL, "Carol", "Withdrawal stuck");
    fake.push_message(SUPPORT_CHANNEL, true, CAROL + 1, "Dave", "Deposit missing");
    fake.push_message(SUPPORT_CHANNEL, true, CAROL, "Carol", "Tx 0xabc");
    let conversations = app.wait_conversations(CHANNEL, 2).await;
    // Carol's second message may still be on its way.
    let carol = conversations
        .iter()
        .find(|c| c["contact"]["display_name"] == "Carol")
        .unwrap();
    app.wait_messages(id_of(carol), 2).await;
    let mut sizes = Vec::new();
    for conversation in &conversations {
        sizes.push(app.messages(id_of(conversation)).await.len());
    }
    sizes.sort();
    assert_eq!(
        sizes,
        [1, 2],
        "one conversation per customer, not one per channel"
    );
    // The answer goes to the support channel itself.
    assert_eq!(app.messages(id_of(carol)).await.len(), 2);
    app.reply_sent(id_of(carol), "Looking into it").await;
    assert_eq!(fake.sends_to(SUPPORT_CHANNEL).len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_new_conversation_is_acknowledged_once_in_the_dm_or_the_new_thread() {
    const ACK: &str = "Thanks! An agent will answer here. We never ask for your seed phrase.";
    let fake = FakeDiscord::start().await;
    let config = config(&fake, ThreadMode::Private);
    let app = spawn_app_with(move |c| {
        crate::helpers::front_desk_says(c, ACK);
        c.channels.push(ChannelConfig::Discord(config))
    })
    .await;
    fake.until("the bot identifies", |f| f.connected()).await;

    let dm = fake.dm_channel(CAROL);
    fake.push_message(dm, false, CAROL, "Carol", "Hello");
    let conversation = id_of(&app.wait_conversations(CHANNEL, 1).await[0]);
    app.wait_messages(conversation, 2).await;
    fake.push_message(dm, false, CAROL, "Carol", "Anyone there?");
    let messages = app.wait_messages(conversation, 3).await;
    let automatic: Vec<&Value> = messages
        .iter()
        .filter(|m| m["auto_generated"] == true)
        .collect();
    assert_eq!(automatic.len(), 1, "{messages:?}");
    assert_eq!(automatic[0]["text"], ACK);
    fake.until("the acknowledgement", |f| f.sends_to(dm).len() == 1)
        .await;
    assert_eq!(fake.sends_to(dm)[0].json["content"], ACK);
    assert_no_pings(&fake.sends_to(dm)[0]);

    // A support-channel post opens a thread: the acknowledgement is posted in it.
    fake.push_message(SUPPORT_CHANNEL, true, CAROL + 1, "Dave", "Deposit missing");
    app.wait_conversations(CHANNEL, 2).await;
    let thread: u64 = eventually(|| async {
        let call = fake
            .calls()
            .into_iter()
            .find(|c| c.path.contains("/thread-members/"))?;
        call.path.split('/').nth(4)?.parse().ok()
    })
    .await;
    fake.until("the thread's acknowledgement", |f| {
        f.sends_to(thread).len() == 1
    })
    .await;
    assert_eq!(fake.sends_to(thread)[0].json["content"], ACK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.sends_to(dm).len(), 1, "acknowledged once");
    assert!(fake.sends_to(SUPPORT_CHANNEL).is_empty());
    app.stop().await;
}

#[tokio::test]
async fn public_threads_start_from_the_customers_message() {
    let (app, fake) = spawn_with(ThreadMode::Public).await;
    let first = fake.push_message(SUPPORT_CHANNEL, true, CAROL, "Carol", "Help please");
    let conversation = app.wait_conversations(CHANNEL, 1).await[0].clone();
    let id = first["id"].as_str().unwrap();
    fake.until("public thread", |f| {
        f.calls()
            .iter()
            .any(|c| c.path == format!("/api/v10/channels/{SUPPORT_CHANNEL}/messages/{id}/threads"))
    })
    .await;
    app.reply_sent(id_of(&conversation), "On it").await;
    // A thread started from a message has the message's id.
    assert_eq!(fake.sends_to(id.parse().unwrap()).len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn attachments_edits_and_deletes_are_kept() {
    let (app, fake) = spawn_with(ThreadMode::Private).await;
    let dm = fake.dm_channel(CAROL);
    let mut message = fake.message(dm, false, CAROL, "Carol", "Screenshot attached");
    message["attachments"] =
        json!([fake.attachment("error.png", "image/png", b"\x89PNG fake image")]);
    fake.push("MESSAGE_CREATE", message.clone());
    let conversation = id_of(&app.wait_conversations(CHANNEL, 1).await[0]);
    let stored = app.wait_messages(conversation, 1).await.remove(0);
    let file = &stored["attachments"][0];
    assert_eq!(file["filename"], "error.png");
    let bytes = app
        .get(file["url"].as_str().unwrap())
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"\x89PNG fake image");

    fake.push("MESSAGE_UPDATE", json!({"id": message["id"], "channel_id": dm.to_string(),
        "content": "Screenshot attached (the error says 'nonce too low')",
        "edited_timestamp": "2026-11-24T10:05:00.000000+00:00", "author": user_json(CAROL, "Carol")}));
    let edited = eventually(|| async {
        let m = app.messages(conversation).await.remove(0);
        (m["edited_at"] != Value::Null).then_some(m)
    })
    .await;
    assert_eq!(
        edited["text"],
        "Screenshot attached (the error says 'nonce too low')"
    );
    assert_eq!(edited["revisions"][0]["text"], "Screenshot attached");

    fake.push(
        "MESSAGE_DELETE",
        json!({"id": message["id"], "channel_id": dm.to_string()}),
    );
    let deleted = eventually(|| async {
        let m = app.messages(conversation).await.remove(0);
        (m["deleted_at"] != Value::Null).then_some(m)
    })
    .await;
    assert_eq!(
        deleted["text"],
        "Screenshot attached (the error says 'nonce too low')"
    );

    // A moderator's bulk delete marks each stored message; unknown ids are passed over.
    let second = fake.push_message(dm, false, CAROL, "Carol", "Also, my seed phrase is");
    let third = fake.push_message(dm, false, CAROL, "Carol", "never mind");
    app.wait_messages(conversation, 3).await;
    fake.push(
        "MESSAGE_DELETE_BULK",
        json!({"ids": [second["id"], third["id"], "1234"], "channel_id": dm.to_string()}),
    );
    let messages = eventually(|| async {
        let messages = app.messages(conversation).await;
        messages
            .iter()
            .all(|m| m["deleted_at"] != Value::Null)
            .then_some(messages)
    })
    .await;
    assert_eq!(messages.len(), 3);
    assert_eq!(messages[1]["text"], "Also, my seed phrase is");
    app.stop().await;
}

#[tokio::test]
async fn long_replies_split_at_2000_and_50007_fails_with_a_reason() {
    let (app, fake) = spawn_with(ThreadMode::Private).await;
    let dm = fake.dm_channel(CAROL);
    fake.push_message(dm, false, CAROL, "Carol", "Tell me everything");
    let conversation = id_of(&app.wait_conversations(CHANNEL, 1).await[0]);
    let long = "Never share your seed phrase. ".repeat(150);
    app.reply_sent(conversation, &long).await;
    let sends = fake.sends_to(dm);
    assert_eq!(sends.len(), 3);
    for send in &sends {
        assert!(send.json["content"].as_str().unwrap().chars().count() <= 2000);
        assert_no_pings(send);
    }
    let joined: Vec<&str> = sends
        .iter()
        .map(|s| s.json["content"].as_str().unwrap())
        .collect();
    assert_eq!(
        joined.join(" ").split_whitespace().count(),
        long.split_whitespace().count()
    );

    // Agent files go as a multipart upload, still without pings.
    let reply = app
        .send_json(
            reqwest::Method::POST,
            &format!("/api/v1/conversations/{conversation}/messages"),
            json!({ "text": "The fee table", "attachments": [
                { "filename": "fees.txt", "content_type": "text/plain", "data_base64": "ZmVlOiAwLjE=" } ] }),
        )
        .await;
    assert_eq!(reply.status(), 202);
    let reply: Value = reply.json().await.unwrap();
    app.wait_for_status(
        conversation,
        reply["message"]["id"].as_i64().unwrap(),
        "sent",
    )
    .await;
    let upload = fake.sends_to(dm).pop().unwrap();
    assert_eq!(upload.files, ["fees.txt"]);
    assert_eq!(upload.json["content"], "The fee table");
    assert_no_pings(&upload);

    fake.fail_sends(403, 50007, 1);
    let reply = app.post_reply(conversation, "Are you there?").await;
    let failed = app
        .wait_for_status(conversation, id_of(&reply), "failed")
        .await;
    assert!(
        failed["error"].as_str().unwrap().contains("50007"),
        "{failed}"
    );

    // Part 2 of a long reply fails: the retry sends parts 2 and 3, never part 1 again.
    fake.pass_sends(1);
    fake.fail_sends(502, 0, 1);
    let before = fake.sends_to(dm).len();
    let sent = app.reply_sent(conversation, &long).await;
    let sends = fake.sends_to(dm);
    let delivered: Vec<&str> = sends[before..]
        .iter()
        .filter(|s| s.status == 200)
        .map(|s| s.json["content"].as_str().unwrap())
        .collect();
    assert_eq!(delivered.len(), 3, "{delivered:?}");
    assert_eq!(
        delivered.join(" ").split_whitespace().count(),
        long.split_whitespace().count()
    );
    // The message's id is its first part's, delivered by the first attempt.
    assert_eq!(
        sent["external_id"].as_str(),
        sends[before].created.as_deref()
    );

    // A 5xx and a 429 passed on by the proxy are temporary: the outbox sends again.
    fake.fail_sends(502, 0, 1);
    fake.fail_sends(429, 0, 1);
    app.reply_sent(conversation, "Retry me").await;
    app.stop().await;
}

#[tokio::test]
async fn a_dropped_socket_reconnects_and_backfills_without_loss_or_duplicates() {
    let (app, fake) = spawn_with(ThreadMode::Private).await;
    let dm = fake.dm_channel(CAROL);
    fake.push_message(dm, false, CAROL, "Carol", "one");
    let conversation = id_of(&app.wait_conversations(CHANNEL, 1).await[0]);
    app.wait_messages(conversation, 1).await;

    fake.drop_socket();
    // Posted while the bot is away: in the history, never dispatched.
    fake.message(dm, false, CAROL, "Carol", "two");
    fake.message(dm, false, CAROL, "Carol", "three");
    let messages = app.wait_messages(conversation, 3).await;
    let texts: Vec<&str> = messages
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["one", "two", "three"]);
    let (identifies, resumes) = fake.connections();
    // serenity resumed the session (RESUME → RESUMED), and the backfill filled the gap.
    assert_eq!((identifies, resumes), (1, 1));

    // The daemon restarts: what came meanwhile is fetched, nothing twice.
    let app = app.restart().await;
    fake.message(dm, false, CAROL, "Carol", "four");
    let messages = app.wait_messages(conversation, 4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.messages(conversation).await.len(), 4, "{messages:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_refused_message_content_intent_is_reported_clearly() {
    let fake = FakeDiscord::start().await;
    fake.refuse_intents();
    let config = config(&fake, ThreadMode::Private);
    let app = spawn_app_with(move |c| c.channels.push(ChannelConfig::Discord(config))).await;
    let health = app.wait_channel_state(CHANNEL, "failing").await;
    let error = health["channels"][CHANNEL]["last_error"].as_str().unwrap();
    assert!(error.contains("Message Content Intent"), "{error}");
    assert!(!error.contains(TOKEN));
    app.stop().await;
}
