//! The real binary killed with SIGKILL mid-stream: after a restart nothing is lost or doubled.

use crate::helpers::eventually;
use crate::telegram_fake::{FakeTelegram, TOKEN, private_text};
use serde_json::Value;
use std::process::{Child, Command, Stdio};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start(config: &std::path::Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

#[tokio::test]
async fn telegram_updates_survive_a_kill_9_without_loss_or_duplicates() {
    let dir = tempfile::TempDir::new().unwrap();
    let fake = FakeTelegram::start().await;
    let port = free_port();
    let config = dir.path().join("switchboard.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\ndatabase_url = \"sqlite://{}\"\ndata_dir = \"{}\"\n\
             [[channel]]\nname = \"bot\"\nkind = \"telegram\"\ntoken = \"{TOKEN}\"\napi_url = \"{}\"\npoll_timeout = \"1s\"\n",
            dir.path().join("sb.db").display(),
            dir.path().join("data").display(),
            fake.url
        ),
    )
    .unwrap();
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
        .arg(&config)
        .output()
        .unwrap();
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let stored = || {
        let (client, base, token) = (client.clone(), base.clone(), token.clone());
        async move {
            let list: Value = client
                .get(format!("{base}/api/v1/conversations?limit=200"))
                .bearer_auth(&token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let mut texts = Vec::new();
            for c in list["conversations"].as_array()? {
                let m: Value = client
                    .get(format!("{base}/api/v1/conversations/{}/messages", c["id"]))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .ok()?
                    .json()
                    .await
                    .ok()?;
                for message in m["messages"].as_array()? {
                    texts.push(message["text"].as_str()?.to_owned());
                }
            }
            Some(texts)
        }
    };

    let mut daemon = start(&config);
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
    let mut daemon = start(&config);
    let texts = eventually(|| async { stored().await.filter(|t| t.len() >= 100) }).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let texts_now = stored().await.unwrap();
    daemon.kill().unwrap();
    daemon.wait().unwrap();
    assert_eq!(texts_now.len(), 100, "{texts:?}");
    let unique: std::collections::HashSet<&String> = texts_now.iter().collect();
    assert_eq!(unique.len(), 100, "no message is stored twice");
}
