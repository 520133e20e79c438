//! The binary's commands, run as a user would.

use std::process::Command;

fn switchboard(dir: &std::path::Path, config: &str, args: &[&str]) -> std::process::Output {
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, config).unwrap();
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(&path)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

fn config(dir: &std::path::Path) -> String {
    format!(
        "[storage]\ndatabase_url = \"sqlite://{}\"\ndata_dir = \"{}\"\n",
        dir.join("cli.db").display(),
        dir.join("data").display()
    )
}

#[test]
fn agent_add_prints_only_the_token_and_revoke_disables_it() {
    let dir = tempfile::TempDir::new().unwrap();
    let config = config(dir.path());
    let out = switchboard(
        dir.path(),
        &config,
        &[
            "agent",
            "add",
            "--name",
            "Ann",
            "--email",
            "ann@example.com",
            "--role",
            "admin",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let token = stdout.trim();
    assert_eq!(stdout.lines().count(), 1);
    assert!(token.starts_with("sb_"), "{token}");
    let list = switchboard(dir.path(), &config, &["agent", "list"]);
    let listing = String::from_utf8(list.stdout).unwrap();
    assert!(
        listing.contains("ann@example.com\tadmin\tactive"),
        "{listing}"
    );
    assert!(!listing.contains(token), "tokens are never listed");
    let revoke = switchboard(dir.path(), &config, &["agent", "revoke", "ann@example.com"]);
    assert!(revoke.status.success());
    let listing =
        String::from_utf8(switchboard(dir.path(), &config, &["agent", "list"]).stdout).unwrap();
    assert!(listing.contains("disabled"), "{listing}");
    let dup = switchboard(
        dir.path(),
        &config,
        &[
            "agent",
            "add",
            "--name",
            "Ann",
            "--email",
            "ann@example.com",
        ],
    );
    assert!(!dup.status.success());
}

#[test]
fn invalid_config_fails_naming_every_wrong_key_without_echoing_secrets() {
    let dir = tempfile::TempDir::new().unwrap();
    let bad = "[[channel]]\nname = \"web\"\nkind = \"api\"\nsecret = \"tiny-secret\"\nwebhook_url = \"not a url\"\n[outbox]\nconcurrency = 0\n";
    let out = switchboard(dir.path(), bad, &["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    for key in [
        "channel \"web\".secret",
        "channel \"web\".webhook_url",
        "outbox.concurrency",
    ] {
        assert!(stderr.contains(key), "{key} not named in: {stderr}");
    }
    assert!(!stderr.contains("tiny-secret"));
    let typo = switchboard(
        dir.path(),
        "[server]\nlisten = \"127.0.0.1:0\"\nmax_body = 3\n",
        &["check-config"],
    );
    assert!(String::from_utf8(typo.stderr).unwrap().contains("max_body"));
    let ok = switchboard(dir.path(), &config(dir.path()), &["check-config"]);
    assert!(ok.status.success());
    let migrate = switchboard(dir.path(), &config(dir.path()), &["migrate"]);
    assert!(migrate.status.success());
}

#[test]
fn agent_add_names_the_database_it_wrote_to() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = switchboard(
        dir.path(),
        &config(dir.path()),
        &["agent", "add", "--name", "Bo", "--email", "bo@example.com"],
    );
    assert!(out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    let url = format!("sqlite://{}", dir.path().join("cli.db").display());
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("database: ") && l.contains(&url)),
        "{stderr}"
    );
}

#[test]
fn a_lost_token_is_replaced_and_a_revoked_agent_restored() {
    let dir = tempfile::TempDir::new().unwrap();
    let config = config(dir.path());
    let run = |args: &[&str]| {
        let out = switchboard(dir.path(), &config, args);
        (
            out.status.success(),
            String::from_utf8(out.stdout).unwrap().trim().to_owned(),
            String::from_utf8(out.stderr).unwrap(),
        )
    };
    let (ok, first, _) = run(&[
        "agent",
        "add",
        "--name",
        "Ann",
        "--email",
        "ann@example.com",
    ]);
    assert!(ok);
    let (ok, second, err) = run(&["agent", "token", "ann@example.com"]);
    assert!(ok, "{err}");
    assert!(second.starts_with("sb_") && second != first);
    assert!(err.contains("still work"), "{err}");
    let (ok, third, err) = run(&["agent", "token", "ann@example.com", "--revoke-others"]);
    assert!(ok && third.starts_with("sb_"), "{err}");
    assert!(err.contains("2 other token(s) revoked"), "{err}");
    assert!(run(&["agent", "revoke", "ann@example.com"]).0);
    let (ok, _, err) = run(&["agent", "token", "ann@example.com"]);
    assert!(!ok && err.contains("agent restore"), "{err}");
    let (ok, _, err) = run(&[
        "agent",
        "add",
        "--name",
        "Ann",
        "--email",
        "ann@example.com",
    ]);
    assert!(
        !ok && err.contains("agent restore"),
        "re-adding points to restore: {err}"
    );
    let (ok, restored, err) = run(&["agent", "restore", "ann@example.com"]);
    assert!(ok && restored.starts_with("sb_"), "{err}");
    let (_, listing, _) = run(&["agent", "list"]);
    assert!(
        listing.contains("ann@example.com\tagent\tactive"),
        "{listing}"
    );
    let (ok, _, err) = run(&["agent", "restore", "ann@example.com"]);
    assert!(!ok && err.contains("is active"), "{err}");
}
