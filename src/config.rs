//! The daemon's one TOML file: typed, validated all at once (every wrong key reported), with
//! secrets overridable from the environment and embedded defaults when there is no file.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub outbox: OutboxConfig,
    pub log: LogConfig,
    #[serde(rename = "channel")]
    pub channels: Vec<ChannelConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    pub database_url: String,
    /// Attachments are stored here, content-addressed.
    pub data_dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            database_url: "sqlite://data/switchboard.db".into(),
            data_dir: PathBuf::from("data"),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Wait before the n-th retry; the last entry repeats until `expiry`.
    #[serde(deserialize_with = "durations")]
    pub retry_schedule: Vec<Duration>,
    /// After this long a temporary failure becomes permanent.
    #[serde(with = "humantime_serde")]
    pub expiry: Duration,
    /// Deliveries in flight at once (across conversations; one conversation is always in order).
    pub concurrency: usize,
    /// How long a claimed delivery may take before it is claimed again (its daemon died, or
    /// recording the outcome failed). One send is cut off at two thirds of it.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        let s = Duration::from_secs;
        Self {
            retry_schedule: vec![s(5), s(30), s(120), s(600), s(1800)],
            expiry: s(24 * 3600),
            concurrency: 16,
            lease: s(180),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A tracing filter (`info`, `switchboard=debug,sqlx=warn`); RUST_LOG overrides it.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".into(),
        }
    }
}

/// One `[[channel]]` table; `kind` selects the adapter and its own typed options.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
// Parsed once at start-up; boxing variants would only complicate every match on them.
#[allow(clippy::large_enum_variant)]
pub enum ChannelConfig {
    Api(ApiChannelConfig),
    Telegram(switchboard_telegram::TelegramConfig),
    Email(switchboard_email::EmailConfig),
    Discord(switchboard_discord::DiscordConfig),
}

impl ChannelConfig {
    pub fn name(&self) -> &str {
        match self {
            Self::Api(c) => &c.name,
            Self::Telegram(c) => &c.name,
            Self::Email(c) => &c.name,
            Self::Discord(c) => &c.name,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Api(_) => "api",
            Self::Telegram(_) => "telegram",
            Self::Email(_) => "email",
            Self::Discord(_) => "discord",
        }
    }
}

/// A channel fed over Switchboard's own HTTP API (website widget, another system).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiChannelConfig {
    pub name: String,
    /// Authenticates inbound posts and signs outbound webhooks. Env override:
    /// `SWITCHBOARD_CHANNEL_<NAME>_SECRET`.
    pub secret: SecretString,
    /// Where agent replies are POSTed; without it replies stay stored and fail with a reason.
    pub webhook_url: Option<String>,
    /// Per-request timeout for the webhook.
    #[serde(default = "default_webhook_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn durations<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Duration>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|s| humantime::parse_duration(s).map_err(serde::de::Error::custom))
        .collect()
}

fn default_webhook_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Every problem found in a config, each naming its key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  {}", .0.join("\n  "))]
pub struct ConfigError(pub Vec<String>);

impl Config {
    /// Reads `path` (or the embedded defaults when `None`), applies environment overrides and
    /// validates the result.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut config = match path {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(vec![format!("cannot read {}: {e}", path.display())])
                })?;
                Self::from_toml(&text)?
            }
        };
        config.apply_env(|key| std::env::var(key).ok());
        config.validate()?;
        Ok(config)
    }

    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(vec![e.to_string().trim().to_owned()]))
    }

    /// Secrets and deployment-specific values may come from the environment instead of the file.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) {
        if let Some(url) = var("SWITCHBOARD_DATABASE_URL") {
            self.storage.database_url = url;
        }
        if let Some(dir) = var("SWITCHBOARD_DATA_DIR") {
            self.storage.data_dir = dir.into();
        }
        if let Some(listen) = var("SWITCHBOARD_LISTEN").and_then(|l| l.parse().ok()) {
            self.server.listen = listen;
        }
        for channel in &mut self.channels {
            let prefix = env_prefix(channel.name());
            match channel {
                ChannelConfig::Api(c) => {
                    if let Some(secret) = var(&format!("{prefix}_SECRET")) {
                        c.secret = secret.into();
                    }
                }
                ChannelConfig::Telegram(c) => {
                    if let Some(token) = var(&format!("{prefix}_TOKEN")) {
                        c.token = token.into();
                    }
                    if let Some(secret) = var(&format!("{prefix}_WEBHOOK_SECRET")) {
                        c.webhook_secret = Some(secret.into());
                    }
                }
                ChannelConfig::Discord(c) => {
                    if let Some(token) = var(&format!("{prefix}_TOKEN")) {
                        c.token = token.into();
                    }
                }
                ChannelConfig::Email(c) => {
                    if let Some(password) = var(&format!("{prefix}_IMAP_PASSWORD")) {
                        c.imap.password = password.into();
                    }
                    if let Some(password) = var(&format!("{prefix}_SMTP_PASSWORD")) {
                        c.smtp.password = Some(password.into());
                    }
                    if let Some(secret) = var(&format!("{prefix}_THREAD_SECRET")) {
                        c.thread_secret = Some(secret.into());
                    }
                }
            }
        }
    }

    /// Pure checks, no I/O; collects every error rather than stopping at the first.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let mut errors = Vec::new();
        if self.server.max_body_bytes < 1024 {
            errors.push("server.max_body_bytes: must be at least 1024".to_owned());
        }
        if self.storage.database_url.is_empty() {
            errors.push("storage.database_url: must not be empty".to_owned());
        } else if !self.storage.database_url.starts_with("sqlite:") {
            errors.push(format!(
                "storage.database_url: unsupported scheme in {:?} (this build supports sqlite:)",
                self.storage.database_url
            ));
        }
        if self.outbox.retry_schedule.is_empty() {
            errors.push("outbox.retry_schedule: needs at least one delay".to_owned());
        }
        if self.outbox.concurrency == 0 {
            errors.push("outbox.concurrency: must be at least 1".to_owned());
        }
        if self.outbox.lease < std::time::Duration::from_secs(1) {
            errors.push("outbox.lease: must be at least 1s".to_owned());
        }
        if self.outbox.expiry.is_zero() {
            errors.push("outbox.expiry: must be longer than zero".to_owned());
        }
        let mut seen = std::collections::HashSet::new();
        for (i, channel) in self.channels.iter().enumerate() {
            let key = format!("channel[{i}]");
            let name = channel.name();
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                errors.push(format!(
                    "{key}.name: {name:?} must be non-empty ASCII letters, digits, '-' or '_'"
                ));
            }
            if !seen.insert(name) {
                errors.push(format!("{key}.name: duplicate channel name {name:?}"));
            }
            match channel {
                ChannelConfig::Api(c) => {
                    if c.secret.expose_secret().len() < 16 {
                        errors.push(format!(
                            "{key}.secret: must be at least 16 characters (or set {}_SECRET)",
                            env_prefix(name)
                        ));
                    }
                    if let Some(url) = &c.webhook_url {
                        match reqwest::Url::parse(url) {
                            Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                            Ok(_) => errors
                                .push(format!("{key}.webhook_url: must be an http or https URL")),
                            Err(e) => errors.push(format!("{key}.webhook_url: {e}")),
                        }
                    }
                }
                ChannelConfig::Telegram(c) => errors.extend(c.validate(&key)),
                ChannelConfig::Email(c) => errors.extend(c.validate(&key)),
                ChannelConfig::Discord(c) => errors.extend(c.validate(&key)),
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(errors))
        }
    }
}

/// `SWITCHBOARD_CHANNEL_<NAME>`, the name upper-cased with `-` as `_`.
pub fn env_prefix(channel_name: &str) -> String {
    let name: String = channel_name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_uppercase()
            } else {
                '_'
            }
        })
        .collect();
    format!("SWITCHBOARD_CHANNEL_{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_the_embedded_defaults() {
        let config = Config::from_toml("").unwrap();
        config.validate().unwrap();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.storage.database_url, "sqlite://data/switchboard.db");
        assert!(config.channels.is_empty());
    }

    #[test]
    fn api_channel_parses_with_durations() {
        let config = Config::from_toml(
            r#"
            [outbox]
            retry_schedule = ["1s", "2m"]
            expiry = "1h"
            [[channel]]
            name = "website"
            kind = "api"
            secret = "0123456789abcdef"
            webhook_url = "http://127.0.0.1:9000/hook"
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        assert_eq!(
            config.outbox.retry_schedule,
            [Duration::from_secs(1), Duration::from_secs(120)]
        );
        assert_eq!(config.channels[0].kind(), "api");
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_toml("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n").unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        let err = Config::from_toml(
            "[[channel]]\nname = \"w\"\nkind = \"api\"\nsecret = \"0123456789abcdef\"\nwebhok_url = \"x\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("webhok_url"), "{err}");
        let err = Config::from_toml("[[channel]]\nname = \"w\"\nkind = \"fax\"\n").unwrap_err();
        assert!(err.to_string().contains("fax"), "{err}");
    }

    #[test]
    fn telegram_channel_is_validated_and_its_token_may_come_from_the_environment() {
        let mut config = Config::from_toml(
            "[[channel]]\nname = \"wallet-bot\"\nkind = \"telegram\"\ntoken = \"nonsense\"\nmode = \"webhook\"\n",
        )
        .unwrap();
        let err = config.validate().unwrap_err();
        assert!(
            err.0.iter().any(|e| e.starts_with("channel[0].token")),
            "{err}"
        );
        for key in ["channel[0].webhook_url", "channel[0].webhook_secret"] {
            assert!(err.0.iter().any(|e| e.starts_with(key)), "{key}: {err}");
        }
        assert!(
            !err.to_string().contains("nonsense"),
            "the token is never echoed"
        );
        config.apply_env(|key| {
            (key == "SWITCHBOARD_CHANNEL_WALLET_BOT_TOKEN").then(|| "123456:ABCDEFGHIJKL".into())
        });
        let ChannelConfig::Telegram(c) = &mut config.channels[0] else {
            panic!("a telegram channel")
        };
        c.mode = switchboard_telegram::config::Mode::Polling;
        config.validate().unwrap();
    }

    #[test]
    fn every_error_is_reported_at_once() {
        let config = Config::from_toml(
            r#"
            [outbox]
            retry_schedule = []
            [[channel]]
            name = "a b"
            kind = "api"
            secret = "short"
            webhook_url = "ftp://x"
            [[channel]]
            name = "a b"
            kind = "api"
            secret = "0123456789abcdef"
            "#,
        )
        .unwrap();
        let err = config.validate().unwrap_err();
        let keys = [
            "outbox.retry_schedule",
            "channel[0].name",
            "channel[0].secret",
            "channel[0].webhook_url",
            "channel[1].name: duplicate",
        ];
        for key in keys {
            assert!(
                err.0.iter().any(|e| e.starts_with(key)),
                "{key} missing in {err}"
            );
        }
    }

    #[test]
    fn secret_comes_from_the_environment_and_is_never_printed() {
        let mut config = Config::from_toml(
            "[[channel]]\nname = \"web-site\"\nkind = \"api\"\nsecret = \"placeholder-placeholder\"\n",
        )
        .unwrap();
        config.apply_env(|key| {
            (key == "SWITCHBOARD_CHANNEL_WEB_SITE_SECRET").then(|| "from-env-0123456789".into())
        });
        let ChannelConfig::Api(c) = &config.channels[0] else {
            panic!("an api channel")
        };
        assert_eq!(c.secret.expose_secret(), "from-env-0123456789");
        assert!(!format!("{config:?}").contains("from-env"));
    }

    /// The README's email example, as an operator would paste it.
    fn readme_email_example() -> String {
        let readme = include_str!("../README.md");
        let section = readme.split("### `kind = \"email\"`").nth(1).unwrap();
        let block = section.split("```toml\n").nth(1).unwrap();
        block.split("```").next().unwrap().to_owned()
    }

    #[test]
    fn readme_email_example_parses_and_passwords_come_from_the_environment() {
        let mut config = Config::from_toml(&readme_email_example()).unwrap();
        config.apply_env(|key| match key {
            "SWITCHBOARD_CHANNEL_SUPPORT_MAIL_IMAP_PASSWORD" => Some("imap-from-env".into()),
            "SWITCHBOARD_CHANNEL_SUPPORT_MAIL_SMTP_PASSWORD" => Some("smtp-from-env".into()),
            _ => None,
        });
        config.validate().unwrap();
        let ChannelConfig::Email(c) = &config.channels[0] else {
            panic!("an email channel")
        };
        assert_eq!(c.imap.password.expose_secret(), "imap-from-env");
        assert_eq!(c.imap.port(), 993);
        assert_eq!(c.smtp.port(), 587);
        assert_eq!(c.own_address(), "support@example.com");
        let printed = format!("{config:?}");
        assert!(!printed.contains("imap-from-env") && !printed.contains("smtp-from-env"));
    }

    #[test]
    fn email_without_tls_is_refused_off_loopback_and_a_password_is_required() {
        let text = readme_email_example()
            .replace("tls = \"implicit\"", "tls = \"none\"")
            .replace("password = \"...\"            # or SWITCHBOARD_CHANNEL_SUPPORT_MAIL_IMAP_PASSWORD\n", "");
        let err = Config::from_toml(&text).unwrap().validate().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("channel[0].imap.tls"), "{text}");
        assert!(text.contains("channel[0].imap.password"), "{text}");
        assert!(!text.contains("smtp.tls"), "{text}");
    }

    #[test]
    fn readme_discord_example_parses_and_its_token_may_come_from_the_environment() {
        let readme = include_str!("../README.md");
        let section = readme.split("### `kind = \"discord\"`").nth(1).unwrap();
        let block = section
            .split("```toml\n")
            .nth(1)
            .unwrap()
            .split("```")
            .next()
            .unwrap();
        let mut config = Config::from_toml(block).unwrap();
        let err = config.validate().unwrap_err().to_string();
        assert!(err.contains("channel[0].token"), "{err}");
        config.apply_env(|key| {
            (key == "SWITCHBOARD_CHANNEL_DISCORD_TOKEN").then(|| "MTIz.abc_DEF.ghi-jkl".into())
        });
        config.validate().unwrap();
        let ChannelConfig::Discord(c) = &config.channels[0] else {
            panic!("a discord channel")
        };
        assert_eq!(c.support_channel_ids(), [123456789012345678]);
        assert!(!format!("{config:?}").contains("MTIz.abc_DEF"));
        let bad = block.replace("123456789012345678", "#support");
        let err = Config::from_toml(&bad)
            .unwrap()
            .validate()
            .unwrap_err()
            .to_string();
        assert!(err.contains("channel[0].support_channels[0]"), "{err}");
    }
}
