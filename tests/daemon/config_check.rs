//! `switchboard check-config` run as an operator would: secrets from the environment alone, every
//! problem listed at once and naming its channel, no secret echoed, the example file's
//! placeholders refused.

use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with `config` as its file and only `env` as its environment (nothing leaks
/// in from the machine running the tests).
fn check_config(dir: &Path, config: &str, env: &[(&str, &str)]) -> Output {
    let path = dir.join("switchboard.toml");
    std::fs::write(&path, config).unwrap();
    run(&path, env, &["check-config"])
}

fn run(config: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn example_config() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/switchboard.example.toml")
}

const API: &str = "[[channel]]\nname = \"website\"\nkind = \"api\"\n";

#[test]
fn api_secret_may_come_from_the_environment_alone() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = check_config(
        dir.path(),
        API,
        &[(
            "SWITCHBOARD_CHANNEL_WEBSITE_SECRET",
            "from-the-env-0123456789",
        )],
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let out = check_config(dir.path(), API, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("channel \"website\".secret: missing")
            && err.contains("SWITCHBOARD_CHANNEL_WEBSITE_SECRET"),
        "the missing secret names its channel and its variable: {err}"
    );
}

/// Every secret the README says can come from the environment, with none of them in the file.
const EVERY_KIND: &str = r#"
[[channel]]
name = "wallet-bot"
kind = "telegram"
mode = "webhook"
webhook_url = "https://support.example.com/channels/telegram/wallet-bot/webhook"

[[channel]]
name = "discord"
kind = "discord"

[[channel]]
name = "support-mail"
kind = "email"
address = "support@example.com"
[channel.imap]
host = "imap.example.com"
username = "support@example.com"
[channel.smtp]
host = "smtp.example.com"
username = "support@example.com"
"#;

#[test]
fn every_channel_secret_may_come_from_the_environment_alone() {
    let dir = tempfile::TempDir::new().unwrap();
    let env = [
        (
            "SWITCHBOARD_CHANNEL_WALLET_BOT_TOKEN",
            "123456:ABCDEFGHIJKL",
        ),
        (
            "SWITCHBOARD_CHANNEL_WALLET_BOT_WEBHOOK_SECRET",
            "hook-secret-0123456789",
        ),
        ("SWITCHBOARD_CHANNEL_DISCORD_TOKEN", "MTIz.abc_DEF.ghi-jkl"),
        ("SWITCHBOARD_CHANNEL_SUPPORT_MAIL_IMAP_PASSWORD", "imap-pw"),
        ("SWITCHBOARD_CHANNEL_SUPPORT_MAIL_SMTP_PASSWORD", "smtp-pw"),
        (
            "SWITCHBOARD_CHANNEL_SUPPORT_MAIL_THREAD_SECRET",
            "thread-secret-0123456789",
        ),
    ];
    let out = check_config(dir.path(), EVERY_KIND, &env);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = check_config(dir.path(), EVERY_KIND, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for (key, var) in [
        (
            "channel \"wallet-bot\".token: missing",
            "SWITCHBOARD_CHANNEL_WALLET_BOT_TOKEN",
        ),
        (
            "channel \"discord\".token: missing",
            "SWITCHBOARD_CHANNEL_DISCORD_TOKEN",
        ),
        (
            "channel \"support-mail\".imap.password: missing",
            "SWITCHBOARD_CHANNEL_SUPPORT_MAIL_IMAP_PASSWORD",
        ),
    ] {
        assert!(err.contains(key), "{key} not reported: {err}");
        assert!(err.contains(var), "{var} not named: {err}");
    }
    for key in [
        "channel \"wallet-bot\".webhook_secret",
        "channel \"support-mail\".smtp",
    ] {
        assert!(err.contains(key), "{key} not reported: {err}");
    }
}

#[test]
fn check_config_lists_every_error_of_every_channel_at_once() {
    let dir = tempfile::TempDir::new().unwrap();
    let config = r#"
[server]
listen = "127.0.0.1:8080"
max_body = 3

[outbox]
concurrency = "many"

[[channel]]
name = "website"
kind = "api"
timeout = 10
webhok_url = "https://example.com/hook"

[[channel]]
name = "partner"
kind = "api"
secret = "partner-secret-0123456789"
webhook_url = "ftp://partner.example.com"

[[channel]]
name = "wallet-bot"
kind = "telegram"
token = "123456:ABCDEFGHIJKL"
poll_timeout = "soon"
greting = "hi"

[[channel]]
name = "support-mail"
kind = "email"
address = "support@example.com"
[channel.imap]
host = "imap.example.com"
port = "imaps"
username = "support@example.com"
password = "imap-password"
[channel.smtp]
host = "smtp.example.com"
pool_size = 0
"#;
    let out = check_config(dir.path(), config, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    for key in [
        "server.max_body: unknown key",
        "outbox.concurrency: invalid type",
        "channel \"website\".secret: missing",
        "channel \"website\".timeout: invalid type",
        "channel \"website\".webhok_url: unknown key",
        "channel \"partner\".webhook_url: must be an http or https URL",
        "channel \"wallet-bot\".poll_timeout: invalid value",
        "channel \"wallet-bot\".greting: unknown key",
        "channel \"support-mail\".imap.port: invalid type",
        "channel \"support-mail\".smtp.pool_size: at least 1",
    ] {
        assert!(err.contains(key), "{key:?} not listed in:\n{err}");
    }
    assert!(!err.contains("partner-secret"), "{err}");
}

#[test]
fn a_syntax_error_on_a_secret_line_does_not_echo_the_secret() {
    let dir = tempfile::TempDir::new().unwrap();
    for broken in [
        "secret = \"s3cr3t-value-0123456789\n",
        "secret = s3cr3t-value-0123456789\n",
        "secret = \"s3cr3t-value-0123456789\" trailing\n",
    ] {
        let config = format!("{API}{broken}timeout = \"10s\"\n");
        let out = check_config(dir.path(), &config, &[]);
        assert_eq!(out.status.code(), Some(2), "{broken}");
        let err = stderr(&out);
        assert!(err.contains("line 4"), "the position is given: {err}");
        assert!(!err.contains("s3cr3t"), "the secret line is echoed: {err}");
    }
}

#[test]
fn a_wrongly_typed_secret_is_not_echoed_either() {
    let dir = tempfile::TempDir::new().unwrap();
    let config = format!("{API}secret = 987654321987654321\n");
    let out = check_config(dir.path(), &config, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("channel \"website\".secret"), "{err}");
    assert!(!err.contains("987654321"), "{err}");
}

#[test]
fn a_database_password_is_never_printed() {
    let dir = tempfile::TempDir::new().unwrap();
    let out = check_config(
        dir.path(),
        "",
        &[(
            "SWITCHBOARD_DATABASE_URL",
            "mysql://switchboard:hunter2-db-password@127.0.0.1/switchboard",
        )],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("storage.database_url"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn the_example_config_is_refused_until_its_placeholder_secret_is_replaced() {
    let example = example_config();
    let out = run(&example, &[], &["check-config"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("channel \"website\".secret: still the example placeholder")
            && err.contains("SWITCHBOARD_CHANNEL_WEBSITE_SECRET"),
        "{err}"
    );
    // As deploy/compose.yaml runs it: the secret from the environment.
    let out = run(
        &example,
        &[(
            "SWITCHBOARD_CHANNEL_WEBSITE_SECRET",
            "a-real-secret-0123456789",
        )],
        &["check-config"],
    );
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn the_example_webhook_address_is_refused_when_uncommented() {
    let dir = tempfile::TempDir::new().unwrap();
    let example = std::fs::read_to_string(example_config()).unwrap();
    let line = example
        .lines()
        .find(|l| l.starts_with("# webhook_url = "))
        .expect("the example shows webhook_url, commented out");
    let uncommented = example.replace(line, line.trim_start_matches("# "));
    let out = check_config(
        dir.path(),
        &uncommented,
        &[(
            "SWITCHBOARD_CHANNEL_WEBSITE_SECRET",
            "a-real-secret-0123456789",
        )],
    );
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("channel \"website\".webhook_url") && err.contains("placeholder"),
        "{err}"
    );
}
