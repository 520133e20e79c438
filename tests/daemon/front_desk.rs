//! The front desk through the real daemon: acknowledgements with the expected wait from the
//! live queue, intake questions and hand-off (English and Chinese, across a restart, ignored),
//! known-issue notices, the per-hour cap, business hours, and Telegram.

use crate::helpers::{SECRET, TestApp, eventually, id_of, spawn_app_with};
use serde_json::{Value, json};
use std::time::Duration;
use switchboard::automation::FrontDeskConfig;
use switchboard::config::{ApiChannelConfig, ChannelConfig, Config};
use switchboard::store::Role;

const TRON_TX: &str = "a1075db55d416d3ca199f55b6084e2115b9345e16c5cf302fc80e9d5fbf5d48d";
const EVM_TX: &str = "0x5c504ed432cb51138bcf09aa5e8a410dd4a1e204ef84bfed1be16dfba1b22060";

/// The wallet company's desk from `deploy/switchboard.example.toml`, always open.
fn wallet_desk() -> FrontDeskConfig {
    let example = include_str!("../../deploy/switchboard.example.toml");
    let config: Config = toml::from_str(example).expect("the example config parses");
    let mut desk = config.front_desk;
    desk.hours = None;
    desk
}

fn with_desk(c: &mut Config) {
    c.front_desk = wallet_desk();
}

async fn says(app: &TestApp, thread: &str, id: &str, text: &str) -> Value {
    says_as(app, "website", thread, id, text).await
}

async fn says_as(app: &TestApp, channel: &str, thread: &str, id: &str, text: &str) -> Value {
    let body = json!({"thread_id": thread, "message_id": id,
        "sender": {"id": format!("visitor-{thread}"), "name": "Carol Customer"}, "text": text});
    let response = app.post_inbound(channel, body).await;
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

/// The automatic messages of a conversation once there are `n` of them (and no more after a
/// moment), oldest first.
async fn automatic(app: &TestApp, conversation: i64, n: usize) -> Vec<String> {
    eventually(|| async {
        let texts: Vec<String> = app
            .messages(conversation)
            .await
            .iter()
            .filter(|m| m["auto_generated"] == true)
            .map(|m| m["text"].as_str().unwrap().to_owned())
            .collect();
        (texts.len() >= n).then_some(texts)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again: Vec<String> = app
        .messages(conversation)
        .await
        .iter()
        .filter(|m| m["auto_generated"] == true)
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(again.len(), n, "exactly {n} automatic messages: {again:#?}");
    again
}

async fn agent_token(app: &TestApp, name: &str) -> String {
    let store = crate::helpers::open_store(app).await;
    let email = format!("{}@example.com", name.to_lowercase());
    store
        .create_agent(name, &email, Role::Agent)
        .await
        .unwrap()
        .1
}

/// Moves the opening of `channel`'s conversations `ms` into the past, as if they had waited.
async fn backdate(app: &TestApp, channel: &str, ms: i64) {
    let url = &app.config.storage.database_url;
    let sql = "UPDATE conversations SET created_at = created_at - $1 WHERE channel = $2";
    if url.starts_with("postgres") {
        let pool = sqlx::PgPool::connect(url).await.unwrap();
        sqlx::query(sql)
            .bind(ms)
            .bind(channel)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::SqlitePool::connect(url).await.unwrap();
        sqlx::query(sql)
            .bind(ms)
            .bind(channel)
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
}

#[tokio::test]
async fn the_acknowledgement_states_the_wait_from_the_queue_agents_and_recent_replies() {
    let app = spawn_app_with(|c| {
        with_desk(c);
        // The queue is set up on a channel the desk does not answer.
        c.front_desk.disabled_channels = vec!["backoffice".into()];
        c.channels.push(ChannelConfig::Api(ApiChannelConfig {
            name: "backoffice".into(),
            secret: SECRET.into(),
            webhook_url: None,
            timeout: Duration::from_secs(5),
        }));
    })
    .await;
    // Six conversations answered 19.5 minutes after they were opened: the median.
    let mut answered = Vec::new();
    for n in 0..6 {
        let accepted = says_as(
            &app,
            "backoffice",
            &format!("done-{n}"),
            &format!("d{n}"),
            "help",
        )
        .await;
        assert_eq!(accepted["opened"], true);
        answered.push(accepted["conversation_id"].as_i64().unwrap());
    }
    backdate(&app, "backoffice", 19 * 60_000 + 30_000).await;
    for id in answered {
        app.post_reply(id, "answered").await;
    }
    // Four customers waiting, and three agents at work (Alice, and two more).
    for n in 0..4 {
        says_as(
            &app,
            "backoffice",
            &format!("wait-{n}"),
            &format!("w{n}"),
            "still waiting",
        )
        .await;
    }
    for name in ["Bob", "Chen"] {
        let token = agent_token(&app, name).await;
        let r = app
            .client
            .get(app.url("/api/v1/conversations"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;

    // 4 ahead, 3 agents: served in round ⌈5/3⌉ = 2, so 2 × 19.5 = 39 → "about 40 minutes".
    let first = says(
        &app,
        "new-1",
        "n1",
        "Hello, I need some help with my wallet please",
    )
    .await;
    assert_eq!(first["opened"], true);
    let ack = &automatic(&app, first["conversation_id"].as_i64().unwrap(), 1).await[0];
    assert!(ack.starts_with("Thanks for contacting support"), "{ack}");
    assert!(ack.contains("in about 40 minutes"), "{ack}");
    assert!(ack.contains("4 customers are ahead of you"), "{ack}");

    // Six more waiting (eleven ahead now, the first new customer among them): round ⌈12/3⌉ = 4,
    // 4 × 19.5 = 78 → "about 90 minutes".
    for n in 4..10 {
        says_as(
            &app,
            "backoffice",
            &format!("wait-{n}"),
            &format!("w{n}"),
            "me too",
        )
        .await;
    }
    let second = says(
        &app,
        "new-2",
        "n2",
        "Hello, I need some help with my wallet please",
    )
    .await;
    let ack = &automatic(&app, second["conversation_id"].as_i64().unwrap(), 1).await[0];
    assert!(ack.contains("in about 90 minutes"), "{ack}");
    assert!(ack.contains("11 customers are ahead of you"), "{ack}");
    // A follow-up is not acknowledged again.
    let more = says(&app, "new-2", "n3", "anyone?").await;
    assert_eq!(more["opened"], false);
    automatic(&app, second["conversation_id"].as_i64().unwrap(), 1).await;
    app.stop().await;
}

#[tokio::test]
async fn the_intake_asks_validates_re_asks_once_survives_a_restart_and_links_the_hash() {
    let app = spawn_app_with(with_desk).await;
    let accepted = says(&app, "dep-1", "d1", "My deposit has not arrived yet").await;
    let id = accepted["conversation_id"].as_i64().unwrap();
    // The category came from the words: acknowledgement and its first question together.
    let texts = automatic(&app, id, 1).await;
    assert!(
        texts[0].contains("Which network did you send it on"),
        "{}",
        texts[0]
    );
    says(&app, "dep-1", "d2", "it was TRC20").await;
    let texts = automatic(&app, id, 2).await;
    assert_eq!(texts[1], "Please send the transaction hash (TxID).");

    // Stopped in the middle of the intake: it goes on where it was.
    let app = app.restart().await;
    // An Ethereum-style hash is not a TRON one: asked again, once, with an example.
    says(&app, "dep-1", "d3", EVM_TX).await;
    let texts = automatic(&app, id, 3).await;
    assert!(
        texts[2].starts_with("Sorry, that does not look right."),
        "{}",
        texts[2]
    );
    assert!(
        texts[2].contains("For example: a1075db55d41"),
        "{}",
        texts[2]
    );
    // A bare 64-hex value could be a private key: the customer names it a TxID.
    says(&app, "dep-1", "d4", &format!("sorry, TxID: {TRON_TX}")).await;
    let texts = automatic(&app, id, 4).await;
    assert_eq!(texts[3], "How much did you send, and which token?");
    says(&app, "dep-1", "d5", "250 usdt").await;
    let texts = automatic(&app, id, 5).await;
    assert!(
        texts[4].contains("that is everything we need"),
        "{}",
        texts[4]
    );

    let conversation =
        app.get_json(&format!("/api/v1/conversations/{id}")).await["conversation"].clone();
    let intake = &conversation["intake"];
    assert_eq!(intake["category"], "deposit");
    assert_eq!(intake["chain"], "tron");
    assert_eq!(intake["tx_hash"], TRON_TX);
    assert_eq!(intake["amount"], "250 USDT");
    assert_eq!(
        intake["tx_url"],
        format!("https://tronscan.org/#/transaction/{TRON_TX}")
    );
    assert_eq!(conversation["language"], "en");
    // Every automatic reply reached the widget's webhook, marked automatic.
    eventually(|| async { (app.hook.received().len() == 5).then_some(()) }).await;
    // Writing on after the intake gets no more automatic messages.
    says(&app, "dep-1", "d6", "please hurry").await;
    automatic(&app, id, 5).await;
    app.stop().await;
}

#[tokio::test]
async fn chinese_customers_get_chinese_texts_and_hand_off_with_zhuan_ren_gong() {
    let app = spawn_app_with(with_desk).await;
    let accepted = says(&app, "zh-1", "z1", "你好，我的钱包有问题").await;
    let id = accepted["conversation_id"].as_i64().unwrap();
    let texts = automatic(&app, id, 1).await;
    assert!(texts[0].starts_with("感谢联系客服"), "{}", texts[0]);
    assert!(texts[0].contains("1. 充值未到账"), "{}", texts[0]);
    assert!(texts[0].contains("5. 其他问题"), "{}", texts[0]);
    says(&app, "zh-1", "z2", "２").await;
    let texts = automatic(&app, id, 2).await;
    assert_eq!(texts[1], "请问转账使用的是哪个网络？");
    says(&app, "zh-1", "z3", "转人工").await;
    let texts = automatic(&app, id, 3).await;
    assert_eq!(texts[2], "谢谢，客服人员会接手处理您的问题。");
    // Waiting for a person now: no more questions, but a pasted hash is still noted.
    says(&app, "zh-1", "z4", &format!("波场 交易哈希 {TRON_TX}")).await;
    automatic(&app, id, 3).await;
    let conversation =
        app.get_json(&format!("/api/v1/conversations/{id}")).await["conversation"].clone();
    assert_eq!(conversation["language"], "zh");
    assert_eq!(conversation["intake"]["category"], "transfer_failed");
    assert_eq!(conversation["intake"]["tx_hash"], TRON_TX);
    assert_eq!(conversation["intake"]["chain"], "tron");

    // "human" in English hands off straight from the menu too.
    let other = says(&app, "en-1", "e1", "Hello there, good morning to you").await;
    let other_id = other["conversation_id"].as_i64().unwrap();
    automatic(&app, other_id, 1).await;
    says(&app, "en-1", "e2", "I want a human").await;
    let texts = automatic(&app, other_id, 2).await;
    assert_eq!(
        texts[1],
        "Thank you. A person from our team will take it from here."
    );
    app.stop().await;
}

#[tokio::test]
async fn a_customer_who_ignores_the_questions_is_not_held_up() {
    let app = spawn_app_with(with_desk).await;
    // Ignores the menu: the desk stops asking.
    let a = says(&app, "ig-1", "i1", "Hello, good evening").await;
    let a = a["conversation_id"].as_i64().unwrap();
    automatic(&app, a, 1).await;
    says(
        &app,
        "ig-1",
        "i2",
        "why is your app so slow, this is unacceptable",
    )
    .await;
    says(&app, "ig-1", "i3", "hello??").await;
    automatic(&app, a, 1).await;

    // Ignores a question twice: asked again once, then left alone.
    let b = says(&app, "ig-2", "j1", "my transfer failed").await;
    let b = b["conversation_id"].as_i64().unwrap();
    automatic(&app, b, 1).await;
    says(&app, "ig-2", "j2", "i just want my money").await;
    let texts = automatic(&app, b, 2).await;
    assert!(
        texts[1].starts_with("Sorry, that does not look right."),
        "{}",
        texts[1]
    );
    says(&app, "ig-2", "j3", "answer me").await;
    says(&app, "ig-2", "j4", "now").await;
    automatic(&app, b, 2).await;

    // An agent who answers ends the intake.
    let c = says(&app, "ig-3", "k1", "deposit missing").await;
    let c = c["conversation_id"].as_i64().unwrap();
    automatic(&app, c, 1).await;
    app.post_reply(c, "Hi, I am looking at it").await;
    says(&app, "ig-3", "k2", "ok thanks").await;
    automatic(&app, c, 1).await;
    app.stop().await;
}

#[tokio::test]
async fn notices_reach_matching_acknowledgements_until_they_end_and_only_admins_post_them() {
    let app = spawn_app_with(with_desk).await;
    let now = chrono::Utc::now();
    let post = |body: Value| app.send_json(reqwest::Method::POST, "/api/v1/notices", body);
    let notice = json!({
        "texts": {"en": "TRON withdrawals are delayed by network congestion.", "zh": "波场网络拥堵，提币延迟。"},
        "keywords": ["tron", "trc20", "波场"],
        "starts_at": (now - chrono::Duration::minutes(1)).to_rfc3339(),
        "ends_at": (now + chrono::Duration::hours(2)).to_rfc3339(),
    });
    let created = post(notice.clone()).await;
    assert_eq!(created.status(), 201);
    let created: Value = created.json::<Value>().await.unwrap()["notice"].clone();
    // An ended one is refused; one that is over already cannot be posted either.
    let mut ended = notice.clone();
    ended["ends_at"] = json!((now - chrono::Duration::minutes(5)).to_rfc3339());
    assert_eq!(post(ended).await.status(), 400);
    let mut no_text = notice.clone();
    no_text["texts"] = json!({});
    assert_eq!(post(no_text).await.status(), 400);
    let agent = agent_token(&app, "Dan").await;
    let refused = app
        .client
        .post(app.url("/api/v1/notices"))
        .bearer_auth(&agent)
        .json(&notice)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let listed = app
        .client
        .get(app.url("/api/v1/notices"))
        .bearer_auth(&agent)
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let listed: Value = listed.json().await.unwrap();
    assert_eq!(listed["notices"][0]["id"], created["id"]);

    let tron = says(&app, "n-1", "a", "my TRC20 withdrawal is late").await;
    let ack = &automatic(&app, tron["conversation_id"].as_i64().unwrap(), 1).await[0];
    assert!(
        ack.contains("Known issue: TRON withdrawals are delayed"),
        "{ack}"
    );
    let other = says(&app, "n-2", "b", "I forgot my password").await;
    let ack = &automatic(&app, other["conversation_id"].as_i64().unwrap(), 1).await[0];
    assert!(!ack.contains("Known issue"), "{ack}");

    // Taken down: the next acknowledgement no longer has it.
    let path = format!("/api/v1/notices/{}", created["id"]);
    assert_eq!(
        app.send_json(reqwest::Method::DELETE, &path, json!({}))
            .await
            .status(),
        204
    );
    let later = says(&app, "n-3", "c", "TRON transfer pending").await;
    let ack = &automatic(&app, later["conversation_id"].as_i64().unwrap(), 1).await[0];
    assert!(!ack.contains("Known issue"), "{ack}");
    app.stop().await;
}

#[tokio::test]
async fn closed_hours_say_when_the_team_is_back_and_the_hourly_cap_holds() {
    let today = chrono::Utc::now().date_naive();
    let app = spawn_app_with(move |c| {
        with_desk(c);
        c.front_desk.max_per_hour = 2;
        c.front_desk.hours = Some(switchboard::automation::config::HoursConfig {
            timezone: "UTC".into(),
            weekly: switchboard::automation::config::WEEKDAYS
                .iter()
                .map(|d| (d.to_string(), "00:00-24:00".to_string()))
                .collect(),
            holidays: vec![today.to_string(), today.succ_opt().unwrap().to_string()],
        });
    })
    .await;
    let accepted = says(&app, "late-1", "l1", "deposit not received").await;
    let id = accepted["conversation_id"].as_i64().unwrap();
    let texts = automatic(&app, id, 1).await;
    let back = today.succ_opt().unwrap().succ_opt().unwrap();
    assert!(
        texts[0].contains(&format!("back at {back} 00:00 (UTC)")),
        "{}",
        texts[0]
    );
    // Two automatic messages an hour at most: the second question goes, the third does not.
    says(&app, "late-1", "l2", "Ethereum").await;
    automatic(&app, id, 2).await;
    says(&app, "late-1", "l3", EVM_TX).await;
    automatic(&app, id, 2).await;
    // The answers are still taken.
    let conversation =
        app.get_json(&format!("/api/v1/conversations/{id}")).await["conversation"].clone();
    assert_eq!(conversation["intake"]["tx_hash"], EVM_TX);
    assert_eq!(
        conversation["intake"]["tx_url"],
        format!("https://etherscan.io/tx/{EVM_TX}")
    );
    app.stop().await;
}

#[tokio::test]
async fn on_telegram_the_desk_talks_in_the_chat_and_hands_off_in_chinese() {
    use crate::telegram_fake::{FakeTelegram, private_text};
    let fake = FakeTelegram::start().await;
    let bot = crate::telegram::bot_config(&fake);
    let app = spawn_app_with(move |c| {
        with_desk(c);
        c.channels.push(ChannelConfig::Telegram(bot));
    })
    .await;
    let chinese = |id: i64, text: &str| {
        let mut update = private_text(5150, id, text);
        update["from"]["language_code"] = json!("zh-hans");
        update
    };
    fake.push("message", chinese(1, "/start"));
    let sent = |n: usize| {
        let fake = &fake;
        eventually(move || async move {
            let sent = fake.calls("sendMessage");
            (sent.len() >= n).then_some(sent)
        })
    };
    let first = sent(1).await;
    let text = first[0]["text"].as_str().unwrap();
    assert!(text.starts_with("感谢联系客服"), "{text}");
    assert!(text.contains("1. 充值未到账"), "{text}");
    // The menu also comes as a one-time keyboard; tapping a button sends its text.
    let keyboard = &first[0]["reply_markup"];
    assert_eq!(
        keyboard["keyboard"][0][0]["text"], "1. 充值未到账",
        "{keyboard}"
    );
    assert_eq!(keyboard["keyboard"][5][0]["text"], "转人工");
    assert_eq!(keyboard["one_time_keyboard"], true);
    fake.push("message", chinese(2, "1. 充值未到账"));
    let second = sent(2).await;
    assert_eq!(
        second[1]["text"],
        "请问您是通过哪个网络转账的（例如 TRON、以太坊、BSC）？"
    );
    assert!(
        second[1]["reply_markup"].is_null(),
        "a question without choices has no keyboard"
    );
    fake.push("message", chinese(3, "人工"));
    let third = sent(3).await;
    assert_eq!(third[2]["text"], "谢谢，客服人员会接手处理您的问题。");
    let id = id_of(&app.wait_conversations("wallet-bot", 1).await[0]);
    let conversation =
        app.get_json(&format!("/api/v1/conversations/{id}")).await["conversation"].clone();
    assert_eq!(conversation["language"], "zh");
    assert_eq!(conversation["intake"]["category"], "deposit");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(fake.calls("sendMessage").len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn a_confident_article_answers_the_first_question_and_yes_resolves_it() {
    let kb = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/kb");
    let app = spawn_app_with(move |c| {
        with_desk(c);
        c.knowledge.dir = Some(kb);
    })
    .await;
    let question = "What are network fees (gas) and why do I need them to send USDT?";
    let accepted = says(&app, "kb-1", "k1", question).await;
    let id = accepted["conversation_id"].as_i64().unwrap();
    let texts = automatic(&app, id, 2).await;
    assert!(
        texts[1].contains("What are network fees (gas)"),
        "{}",
        texts[1]
    );
    assert!(
        texts[1].contains("https://help.example.com/articles/gas-fees"),
        "{}",
        texts[1]
    );
    assert!(
        texts[1].ends_with("Did this solve it? Reply yes or no."),
        "{}",
        texts[1]
    );
    says(&app, "kb-1", "k2", "Yes, thanks!").await;
    let texts = automatic(&app, id, 3).await;
    assert_eq!(texts[2], "Glad it helped! Write to us again any time.");
    let conversation =
        app.get_json(&format!("/api/v1/conversations/{id}")).await["conversation"].clone();
    assert_eq!(conversation["status"], "resolved");
    // Writing again reopens it: acknowledged again, no article this time.
    let again = says(&app, "kb-1", "k3", "Actually the fee is still too high").await;
    assert_eq!(again["opened"], true);
    let texts = automatic(&app, id, 4).await;
    assert!(
        texts[3].starts_with("Thanks for contacting support"),
        "{}",
        texts[3]
    );

    // "No" hands off to a person.
    let other = says(&app, "kb-2", "n1", question).await;
    let other = other["conversation_id"].as_i64().unwrap();
    automatic(&app, other, 2).await;
    says(&app, "kb-2", "n2", "no").await;
    let texts = automatic(&app, other, 3).await;
    assert_eq!(
        texts[2],
        "Sorry it did not help. A person from our team will answer you."
    );

    // Agents search the same articles, in Chinese too.
    let found = app
        .get_json("/api/v1/knowledge?q=%E6%89%8B%E7%BB%AD%E8%B4%B9%E5%A4%AA%E8%B4%B5&lang=zh")
        .await;
    assert_eq!(found["configured"], true);
    assert_eq!(found["articles"][0]["id"], "gas-fees");
    assert_eq!(found["articles"][0]["lang"], "zh");
    app.stop().await;
}
