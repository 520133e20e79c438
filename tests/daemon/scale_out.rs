//! Two daemons (the real binary) on one PostgreSQL database: each channel's inbound loop runs on
//! one of them and moves to the other within seconds of a `kill -9`; HTTP inbound works on both
//! without a message lost or stored twice; live events reach the other daemon's streams.
//! PostgreSQL only (the SQLite pass checks instead that a second daemon refuses the file).

use crate::helpers::{SECRET, eventually, free_port};
use crate::live::Sse;
use crate::postgres::{fresh_postgres_url, on_postgres};
use crate::telegram_fake::{FakeTelegram, TOKEN, private_text};
use serde_json::{Value, json};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// The outbox lease: a reply claimed by a daemon that died is taken again after it.
const LEASE_SECS: u64 = 4;

struct Daemon {
    child: Child,
    base: String,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The same configuration for both daemons but the port: one database, one shared data dir.
fn config(
    dir: &std::path::Path,
    database_url: &str,
    telegram: &str,
    port: u16,
) -> std::path::PathBuf {
    let path = dir.join(format!("switchboard-{port}.toml"));
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [storage]\ndatabase_url = \"{database_url}\"\ndata_dir = \"{}\"\n\
             [outbox]\nlease = \"{LEASE_SECS}s\"\nretry_schedule = [\"200ms\"]\n\
             [front_desk]\nenabled = false\n\
             [[channel]]\nname = \"website\"\nkind = \"api\"\nsecret = \"{SECRET}\"\n\
             [[channel]]\nname = \"bot\"\nkind = \"telegram\"\ntoken = \"{TOKEN}\"\n\
             api_url = \"{telegram}\"\npoll_timeout = \"1s\"\nchat_interval = \"50ms\"\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

fn start(config: &std::path::Path, port: u16) -> Daemon {
    Daemon {
        child: crate::crash::start(config),
        base: format!("http://127.0.0.1:{port}"),
    }
}

/// GET `path` of `daemon` (as the holder of `token`, if any); None while it does not answer.
async fn get(
    client: &reqwest::Client,
    daemon: &Daemon,
    path: &str,
    token: Option<&str>,
) -> Option<Value> {
    let mut request = client.get(format!("{}{path}", daemon.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.ok()?.json().await.ok()
}

async fn channel_state(client: &reqwest::Client, daemon: &Daemon, channel: &str) -> Option<String> {
    let health = get(client, daemon, "/healthz", None).await?;
    Some(health["channels"][channel]["state"].as_str()?.to_owned())
}

async fn wait_state(client: &reqwest::Client, daemon: &Daemon, channel: &str, state: &str) {
    eventually(|| async {
        (channel_state(client, daemon, channel).await.as_deref() == Some(state)).then_some(())
    })
    .await;
}

/// Every inbound message's text, over all conversations, as `daemon`'s API lists them.
async fn inbound_texts(client: &reqwest::Client, daemon: &Daemon, token: &str) -> Vec<String> {
    let mut texts = Vec::new();
    let token = Some(token);
    let list = get(client, daemon, "/api/v1/conversations?limit=200", token)
        .await
        .unwrap();
    for c in list["conversations"].as_array().unwrap() {
        let path = format!("/api/v1/conversations/{}/messages", c["id"]);
        let messages = get(client, daemon, &path, token).await.unwrap();
        for m in messages["messages"].as_array().unwrap() {
            if m["direction"] == "inbound" {
                texts.push(m["text"].as_str().unwrap_or_default().to_owned());
            }
        }
    }
    texts.sort();
    texts
}

async fn post_inbound(client: &reqwest::Client, daemon: &Daemon, i: usize) -> u16 {
    client
        .post(format!("{}/api/v1/channels/website/inbound", daemon.base))
        .bearer_auth(SECRET)
        .json(
            &json!({"thread_id": format!("visitor-{}", i % 20), "message_id": format!("m{i}"),
                      "sender": {"id": format!("visitor-{}", i % 20), "name": "Carol"},
                      "text": format!("web {i:03}")}),
        )
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test]
async fn two_daemons_share_inbound_and_events_and_a_killed_holder_hands_its_channel_over() {
    if !on_postgres() {
        eprintln!("scale-out runs in the PostgreSQL pass (SWITCHBOARD_TEST_BACKEND=postgres)");
        return;
    }
    let fake = FakeTelegram::start().await;
    let dir = tempfile::TempDir::new().unwrap();
    let url = fresh_postgres_url();
    let (port_a, port_b) = (free_port(), free_port());
    let (config_a, config_b) = (
        config(dir.path(), &url, &fake.url, port_a),
        config(dir.path(), &url, &fake.url, port_b),
    );
    let token = crate::crash::agent_token(&config_a);
    let client = reqwest::Client::new();

    let a = start(&config_a, port_a);
    wait_state(&client, &a, "bot", "running").await;
    let b = start(&config_b, port_b);
    // The bot polls on A only; B waits, while the HTTP channel takes posts on both.
    wait_state(&client, &b, "bot", "standby").await;
    assert_eq!(
        channel_state(&client, &b, "website").await.as_deref(),
        Some("running")
    );
    fake.push("message", private_text(7001, 1, "telegram before"));

    // An agent on B sees what A ingests.
    let mut events = Sse::connect(&format!("{}/api/v1/events", b.base), &token).await;
    let sent = Instant::now();
    assert_eq!(post_inbound(&client, &a, 1000).await, 201);
    let seen = loop {
        let (name, data) = events
            .next(Duration::from_secs(5))
            .await
            .expect("B's stream hears of A's message");
        if name == "message.created" && data["data"]["text"] == "web 1000" {
            break sent.elapsed();
        }
    };
    eprintln!("event from daemon A on daemon B's stream after {seen:?}");
    assert!(seen < Duration::from_secs(1), "{seen:?}");

    // The connections the daemons hear each other on break: B's streams are told to reload
    // (what was told meanwhile is lost to them), and B hears A again once it is back.
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    let listening = "SELECT pid FROM pg_stat_activity
         WHERE datname = current_database() AND query LIKE 'LISTEN%'";
    let listeners: Vec<i32> = sqlx::query_scalar(listening)
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(listeners.len(), 2, "one listening connection per daemon");
    for pid in &listeners {
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(&pool)
            .await
            .unwrap();
    }
    loop {
        let (name, data) = events
            .next(Duration::from_secs(5))
            .await
            .expect("B's stream is told that events were missed");
        if name == "resync" {
            assert_eq!(data["missed"], 1);
            break;
        }
    }
    eventually(|| async {
        let now: Vec<i32> = sqlx::query_scalar(listening).fetch_all(&pool).await.ok()?;
        (now.len() == 2 && now.iter().all(|pid| !listeners.contains(pid))).then_some(())
    })
    .await;
    assert_eq!(post_inbound(&client, &a, 1001).await, 201);
    loop {
        let (name, data) = events
            .next(Duration::from_secs(5))
            .await
            .expect("B hears A again after reconnecting");
        if name == "message.created" && data["data"]["text"] == "web 1001" {
            break;
        }
    }

    // 200 posts spread over both daemons, 50 of them posted again to the other one (a client's
    // retry through the load balancer): each stored once.
    let mut posts = Vec::new();
    for i in 0..200 {
        let (first, again) = if i % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let client = &client;
        posts.push(async move {
            let mut statuses = vec![post_inbound(client, first, i).await];
            if i % 4 == 0 {
                statuses.push(post_inbound(client, again, i).await);
            }
            statuses
        });
    }
    let statuses: Vec<u16> = futures_util::future::join_all(posts).await.concat();
    // 201 stored, 200 already stored.
    assert!(
        statuses.iter().all(|s| [200, 201].contains(s)),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        200,
        "{statuses:?}"
    );

    // Replies posted on either daemon are delivered once each, in order.
    let bot = eventually(|| async {
        let list = get(
            &client,
            &b,
            "/api/v1/conversations?channel=bot",
            Some(&token),
        )
        .await?;
        list["conversations"]
            .as_array()?
            .iter()
            .find(|c| c["channel"] == "bot")?["id"]
            .as_i64()
    })
    .await;
    let reply = |daemon: &Daemon, text: String| {
        let request = client
            .post(format!(
                "{}/api/v1/conversations/{bot}/messages",
                daemon.base
            ))
            .bearer_auth(&token)
            .json(&json!({ "text": text }));
        async move { request.send().await.unwrap().status().as_u16() }
    };
    for i in 0..20 {
        let daemon = if i % 2 == 0 { &a } else { &b };
        assert_eq!(reply(daemon, format!("reply {i:02}")).await, 202);
    }
    let replies_sent = || {
        fake.calls("sendMessage")
            .iter()
            .filter_map(|c| {
                c["text"]
                    .as_str()
                    .filter(|t| t.starts_with("reply "))
                    .map(String::from)
            })
            .collect::<Vec<_>>()
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while replies_sent().len() < 20 {
        assert!(
            Instant::now() < deadline,
            "replies sent: {:?}",
            replies_sent()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let expected: Vec<String> = (0..20).map(|i| format!("reply {i:02}")).collect();
    assert_eq!(replies_sent(), expected, "each reply once, in order");

    // A dies with a reply in flight (Telegram does not answer it) and mid-stream of updates:
    // B takes the bot over, goes on from the committed cursor, and sends the reply once the
    // dead daemon's lease on it has run out. (A's dispatcher is woken by the reply it stored,
    // so A is all but certainly the one that claimed it.)
    eventually(|| async {
        let texts = inbound_texts(&client, &b, &token).await;
        texts.contains(&"telegram before".to_owned()).then_some(())
    })
    .await;
    let answered = fake.calls("sendMessage").len();
    fake.stall_sends_after(answered);
    assert_eq!(reply(&a, "in flight".into()).await, 202);
    eventually(|| async { (fake.calls("sendMessage").len() > answered).then_some(()) }).await;
    let mut a = a;
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed = Instant::now();
    fake.unstall();
    fake.push("message", private_text(7001, 2, "telegram after"));
    wait_state(&client, &b, "bot", "running").await;
    let failover = killed.elapsed();
    eprintln!("bot taken over by daemon B {failover:?} after kill -9 of A");
    assert!(failover < Duration::from_secs(10), "{failover:?}");
    let texts = eventually(|| async {
        let texts = inbound_texts(&client, &b, &token).await;
        texts
            .contains(&"telegram after".to_owned())
            .then_some(texts)
    })
    .await;
    let mut expected: Vec<String> = (0..200).map(|i| format!("web {i:03}")).collect();
    expected
        .extend(["web 1000", "web 1001", "telegram before", "telegram after"].map(String::from));
    expected.sort();
    assert_eq!(texts, expected, "every message once");

    let in_flight = format!("/api/v1/conversations/{bot}/messages");
    let status = |daemon: &Daemon| {
        let request = client
            .get(format!("{}{in_flight}", daemon.base))
            .bearer_auth(&token);
        async move {
            let messages: Value = request.send().await.ok()?.json().await.ok()?;
            let last = messages["messages"]
                .as_array()?
                .iter()
                .rfind(|m| m["text"] == "in flight")?
                .clone();
            Some(last["delivery_status"].as_str()?.to_owned())
        }
    };
    let deadline = Instant::now() + Duration::from_secs(LEASE_SECS + 10);
    while status(&b).await.as_deref() != Some("sent") {
        assert!(
            Instant::now() < deadline,
            "the dead daemon's reply was not taken over"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    eprintln!(
        "in-flight reply of the killed daemon sent by B {:?} after the kill",
        killed.elapsed()
    );
    let sends = fake
        .calls("sendMessage")
        .iter()
        .filter(|c| c["text"] == "in flight")
        .count();
    assert_eq!(sends, 2, "the attempt that died unanswered, and B's");
}

/// Everything an agent sees of the installation, through the API: the conversations, and each
/// one's messages, notes and contact.
async fn everything(app: &crate::helpers::TestApp) -> Value {
    let mut conversations = app.get_json("/api/v1/conversations?limit=200").await["conversations"]
        .as_array()
        .unwrap()
        .clone();
    conversations.sort_by_key(|c| c["id"].as_i64());
    let mut out = Vec::new();
    for c in conversations {
        let id = c["id"].as_i64().unwrap();
        let contact = c["contact"]["id"].as_i64().unwrap();
        out.push(json!({
            "conversation": app.get_json(&format!("/api/v1/conversations/{id}")).await,
            "messages": app.get_json(&format!("/api/v1/conversations/{id}/messages")).await,
            "notes": app.get_json(&format!("/api/v1/conversations/{id}/notes")).await,
            "contact": app.get_json(&format!("/api/v1/contacts/{contact}")).await,
        }));
    }
    json!({ "conversations": out, "canned": app.get_json("/api/v1/canned_answers").await,
            "me": app.get_json("/api/v1/me").await })
}

#[tokio::test]
async fn copy_data_moves_a_sqlite_installation_to_postgresql_with_every_id_kept() {
    use crate::helpers::spawn_app_with;
    use reqwest::Method;
    if !on_postgres() {
        eprintln!("copy-data runs in the PostgreSQL pass (SWITCHBOARD_TEST_BACKEND=postgres)");
        return;
    }
    let sqlite_url = |c: &switchboard::config::Config| {
        format!(
            "sqlite://{}/before.db",
            c.storage.data_dir.parent().unwrap().display()
        )
    };
    let app = spawn_app_with(|c| c.storage.database_url = sqlite_url(c)).await;
    let from = sqlite_url(&app.config);
    // A bit of everything: customers on two threads, a merge, a reply, a note, a canned answer.
    let first = app
        .customer_says("web-1", "w1", "my deposit of 0.5 ETH is missing")
        .await;
    let c1 = first["conversation_id"].as_i64().unwrap();
    app.customer_says("web-1", "w2", "tx 0xabc, sent an hour ago")
        .await;
    let second = app.customer_says("web-2", "w3", "我的转账失败了").await;
    let c2 = second["conversation_id"].as_i64().unwrap();
    app.reply_sent(c1, "We are looking into it.").await;
    let app_ref = &app;
    let contact = |c: i64| async move {
        app_ref
            .get_json(&format!("/api/v1/conversations/{c}"))
            .await["conversation"]["contact"]["id"]
            .as_i64()
            .unwrap()
    };
    let (k1, k2) = (contact(c1).await, contact(c2).await);
    let merged = app
        .send_json(
            Method::POST,
            &format!("/api/v1/contacts/{k2}/merge"),
            json!({"into": k1}),
        )
        .await;
    assert_eq!(merged.status(), 200);
    let note = app
        .send_json(
            Method::POST,
            &format!("/api/v1/conversations/{c2}/notes"),
            json!({"text": "same person as web-1"}),
        )
        .await;
    assert_eq!(note.status(), 201);
    let canned = app
        .send_json(
            Method::POST,
            "/api/v1/canned_answers",
            json!({"shortcut": "seed", "title": "Seed phrase", "text": "Never share it."}),
        )
        .await;
    assert_eq!(canned.status(), 201);
    let before = everything(&app).await;
    let parked = app.park().await;

    let to = fresh_postgres_url();
    let copy = |from: &str, to: &str| {
        Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["copy-data", "--from", from, "--to", to])
            .env("SWITCHBOARD_DATA_DIR", &parked.config.storage.data_dir)
            .output()
            .unwrap()
    };
    let out = copy(&from, &to);
    let report = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains("messages") && report.contains("shared storage"),
        "{report}"
    );

    // A second copy into the now full database is refused and changes nothing.
    let again = copy(&from, &to);
    assert!(!again.status.success());
    let refusal = String::from_utf8_lossy(&again.stderr);
    assert!(refusal.contains("not empty"), "{refusal}");

    let app = parked
        .start_with(|c| c.storage.database_url = to.clone())
        .await;
    let after = everything(&app).await;
    assert_eq!(after, before, "the API shows the same installation");
    // New rows continue after the copied ids, and the search index is rebuilt.
    let third = app.customer_says("web-3", "w9", "hello again").await;
    assert!(third["conversation_id"].as_i64().unwrap() > c2);
    let found = eventually(|| async {
        let found = app
            .get_json("/api/v1/conversations?q=%E8%BD%AC%E8%B4%A6")
            .await;
        let ids: Vec<i64> = found["conversations"]
            .as_array()?
            .iter()
            .filter_map(|c| c["id"].as_i64())
            .collect();
        (!ids.is_empty()).then_some(ids)
    })
    .await;
    assert_eq!(found, [c2]);
    app.stop().await;
}
