//! The real binary killed with SIGKILL mid-stream: after a restart nothing is lost or doubled.

use crate::helpers::{eventually, free_port};
use crate::telegram_fake::{FakeTelegram, TOKEN, private_text};
use serde_json::Value;
use std::process::{Child, Command, Stdio};

/// The real binary running `config`, its logs discarded.
pub(crate) fn start(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// An agent's API token for the database of `config`, made by `agent add`.
pub(crate) fn agent_token(config: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "agent",
            "add",
            "--name",
            "Ops",
            "--email",
            "ops@example.com",
            "--config",
        ])
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A daemon configuration with one Telegram bot on `fake`, and an agent token for it.
struct Setup {
    _dir: tempfile::TempDir,
    config: std::path::PathBuf,
    token: String,
    base: String,
    client: reqwest::Client,
}

fn setup(fake: &FakeTelegram) -> Setup {
    setup_with(&format!(
        "[[channel]]\nname = \"bot\"\nkind = \"telegram\"\ntoken = \"{TOKEN}\"\napi_url = \"{}\"\npoll_timeout = \"1s\"\n",
        fake.url
    ))
}

/// A daemon configuration with the given `[[channel]]` tables, and an agent token for it.
fn setup_with(channels: &str) -> Setup {
    let dir = tempfile::TempDir::new().unwrap();
    let port = free_port();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndatabase_url = \"sqlite://{}\"\ndata_dir = \"{}\"\n\
             [outbox]\nretry_schedule = [\"200ms\"]\n[front_desk]\nenabled = false\n{channels}",
            dir.path().join("sb.db").display(),
            dir.path().join("data").display(),
        ),
    )
    .unwrap();
    Setup {
        token: agent_token(&config),
        _dir: dir,
        config,
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
    }
}

impl Setup {
    /// GET an API path as the agent; `None` while the daemon is not answering.
    async fn get(&self, path: &str) -> Option<Value> {
        self.client
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()
    }
}

#[tokio::test]
async fn telegram_updates_survive_a_kill_9_without_loss_or_duplicates() {
    let fake = FakeTelegram::start().await;
    let setup = setup(&fake);
    let stored = || async {
        let list = setup.get("/api/v1/conversations?limit=200").await?;
        let mut texts = Vec::new();
        for c in list["conversations"].as_array()? {
            let m = setup
                .get(&format!("/api/v1/conversations/{}/messages", c["id"]))
                .await?;
            for message in m["messages"].as_array()? {
                texts.push(message["text"].as_str()?.to_owned());
            }
        }
        Some(texts)
    };

    let mut daemon = start(&setup.config);
    for i in 0..60 {
        fake.push(
            "message",
            private_text(100 + i % 7, i + 1, &format!("message {i}")),
        );
    }
    // Kill it as soon as part of the stream is stored.
    eventually(|| async { stored().await.filter(|t| !t.is_empty()).map(|_| ()) }).await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    for i in 60..100 {
        fake.push(
            "message",
            private_text(100 + i % 7, i + 1, &format!("message {i}")),
        );
    }
    let mut daemon = start(&setup.config);
    let texts = eventually(|| async { stored().await.filter(|t| t.len() >= 100) }).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let texts_now = stored().await.unwrap();
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert_eq!(texts_now.len(), 100, "{texts:?}");
    let unique: std::collections::HashSet<&String> = texts_now.iter().collect();
    assert_eq!(unique.len(), 100, "no message is stored twice");
}

#[tokio::test]
async fn a_long_reply_cut_by_a_kill_9_goes_on_after_the_parts_already_sent() {
    let fake = FakeTelegram::start().await;
    let setup = setup(&fake);
    let mut daemon = start(&setup.config);
    fake.push("message", private_text(4242, 1, "help"));
    let conversation = eventually(|| async {
        setup.get("/api/v1/conversations").await?["conversations"][0]["id"].as_i64()
    })
    .await;
    // Part 1 goes out, part 2 hangs: the daemon dies with it in flight.
    fake.stall_sends_after(1);
    let long = ["a ", "b ", "c "]
        .map(|w| w.repeat(1500).trim().to_owned())
        .join("\n\n");
    let posted = setup
        .client
        .post(format!(
            "{}/api/v1/conversations/{conversation}/messages",
            setup.base
        ))
        .bearer_auth(&setup.token)
        .json(&serde_json::json!({ "text": long }))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), 202);
    eventually(|| async { (fake.calls("sendMessage").len() >= 2).then_some(()) }).await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    fake.unstall();
    let mut daemon = start(&setup.config);
    let path = format!("/api/v1/conversations/{conversation}/messages");
    eventually(|| async {
        let messages = setup.get(&path).await?;
        let reply = messages["messages"].as_array()?.last()?.clone();
        (reply["delivery_status"] == "sent").then_some(())
    })
    .await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let parts: Vec<String> = fake
        .calls("sendMessage")
        .iter()
        .map(|c| c["text"].as_str().unwrap()[..3].to_owned())
        .collect();
    // Part 2 twice: the call that hung and the one after the restart; part 1 only once.
    assert_eq!(parts, ["a a", "b b", "b b", "c c"]);
}

#[tokio::test]
async fn discord_replies_cut_by_a_kill_9_reach_the_customer_once() {
    use crate::discord_fake::{BOT_ID, FakeDiscord, TOKEN as DISCORD_TOKEN};
    let fake = FakeDiscord::start().await;
    let setup = setup_with(&format!(
        "[[channel]]\nname = \"discord\"\nkind = \"discord\"\ntoken = \"{DISCORD_TOKEN}\"\napi_url = \"{}\"\n",
        fake.url
    ));
    let mut daemon = start(&setup.config);
    fake.until("the bot identifies", |f| f.connected()).await;
    // Fewer than the outbox concurrency (16): all are in flight when the daemon dies.
    const CUSTOMERS: u64 = 12;
    let dms: Vec<u64> = (0..CUSTOMERS)
        .map(|i| {
            let dm = fake.dm_channel(900_000 + i);
            fake.push_message(dm, false, 900_000 + i, "Customer", "where is my deposit?");
            dm
        })
        .collect();
    let conversations: Vec<i64> = eventually(|| async {
        let list = setup.get("/api/v1/conversations?limit=100").await?;
        let ids: Vec<i64> = list["conversations"]
            .as_array()?
            .iter()
            .filter_map(|c| c["id"].as_i64())
            .collect();
        (ids.len() == CUSTOMERS as usize).then_some(ids)
    })
    .await;
    // Discord takes every reply, but its answers never arrive: the daemon dies with all of
    // them in flight.
    fake.stall_answers(Some(std::time::Duration::from_secs(600)));
    for c in &conversations {
        let posted = setup
            .client
            .post(format!("{}/api/v1/conversations/{c}/messages", setup.base))
            .bearer_auth(&setup.token)
            .json(&serde_json::json!({ "text": format!("answer for {c}") }))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 202);
    }
    let posts = |f: &FakeDiscord| {
        f.calls()
            .iter()
            .filter(|c| c.method == "POST" && c.path.ends_with("/messages"))
            .count()
    };
    fake.until("every reply reached Discord", |f| {
        posts(f) >= CUSTOMERS as usize
    })
    .await;
    daemon.kill().unwrap();
    daemon.wait().unwrap();

    fake.stall_answers(None);
    let mut daemon = start(&setup.config);
    for c in &conversations {
        let path = format!("/api/v1/conversations/{c}/messages");
        eventually(|| async {
            let messages = setup.get(&path).await?;
            let reply = messages["messages"].as_array()?.last()?.clone();
            (reply["delivery_status"] == "sent").then_some(())
        })
        .await;
    }
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let resent = posts(&fake) - CUSTOMERS as usize;
    assert!(
        resent >= CUSTOMERS as usize,
        "each reply was sent again after the restart: {resent}"
    );
    // The nonce made Discord answer each resend with the message it already had.
    for dm in dms {
        let from_bot = fake
            .visible(dm)
            .iter()
            .filter(|m| m["author"]["id"].as_str().and_then(|s| s.parse().ok()) == Some(BOT_ID))
            .count();
        assert_eq!(from_bot, 1, "DM {dm}: the customer sees the reply once");
    }
}

/// `switchboard health` against the config's listen address: what the Docker HEALTHCHECK runs.
fn health(config: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["health", "--timeout", "2s", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap()
}

#[tokio::test]
async fn the_health_command_passes_only_while_the_daemon_answers_and_a_second_daemon_is_refused() {
    let setup = setup_with("");
    let down = health(&setup.config);
    assert_eq!(
        down.status.code(),
        Some(1),
        "no daemon yet (2 is Docker's reserved code)"
    );
    assert!(
        String::from_utf8_lossy(&down.stderr).contains("no answer from http://127.0.0.1:"),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );

    let mut daemon = start(&setup.config);
    eventually(|| async { setup.get("/api/v1/conversations").await.map(|_| ()) }).await;
    let up = health(&setup.config);
    assert!(up.status.success(), "{up:?}");
    let report: Value = serde_json::from_slice(&up.stdout).unwrap();
    assert_eq!(report["status"], "ok", "{report}");
    assert_eq!(report["database"], "ok", "{report}");
    // Monitoring runs it without the channels' secrets: only server.listen is read.
    let without_secrets = setup.config.with_file_name("monitor.toml");
    let text = std::fs::read_to_string(&setup.config).unwrap();
    std::fs::write(
        &without_secrets,
        format!("{text}[[channel]]\nname = \"website\"\nkind = \"api\"\n"),
    )
    .unwrap();
    let monitor = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["health", "--config"])
        .arg(&without_secrets)
        .env_remove("SWITCHBOARD_CHANNEL_WEBSITE_SECRET")
        .output()
        .unwrap();
    assert!(monitor.status.success(), "{monitor:?}");

    // A second daemon on the same SQLite file (another port) stops before touching it.
    let second_config = setup.config.with_file_name("second.toml");
    let text = std::fs::read_to_string(&setup.config).unwrap();
    let port = free_port();
    let text = text.replacen(
        &setup.base.trim_start_matches("http://").to_string(),
        &format!("127.0.0.1:{port}"),
        1,
    );
    std::fs::write(&second_config, text).unwrap();
    let second = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["run", "--config"])
        .arg(&second_config)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(!second.status.success(), "{stderr}");
    assert!(
        stderr.contains("another switchboard daemon")
            && stderr.contains(&format!("pid {}", daemon.id()))
            && stderr.contains("sb.db.lock"),
        "{stderr}"
    );
    // Agents can still be managed while the daemon runs: only `run` takes the lock.
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["agent", "list", "--config"])
        .arg(&setup.config)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");

    // kill -9 leaves the lock file behind, but not the lock: a new daemon starts.
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    let mut daemon = start(&setup.config);
    eventually(|| async { setup.get("/api/v1/conversations").await.map(|_| ()) }).await;
    assert!(health(&setup.config).status.success());
    daemon.kill().unwrap();
    daemon.wait().unwrap();
}
