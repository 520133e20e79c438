//! `[[channel]] kind = "telegram"`: one bot token is one channel.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Long-polls getUpdates; the update offset is the channel cursor.
    #[default]
    Polling,
    Webhook,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    pub name: String,
    /// The BotFather token. Env override: `SWITCHBOARD_CHANNEL_<NAME>_TOKEN` (the daemon puts it
    /// here before deserializing, so the key may be left out of the file).
    pub token: SecretString,
    /// The Bot API base URL; tests point it at a local fake.
    #[serde(default = "default_api_url")]
    pub api_url: url::Url,
    #[serde(default)]
    pub mode: Mode,
    /// How long one getUpdates call waits for updates.
    #[serde(default = "default_poll_timeout", with = "humantime_serde")]
    pub poll_timeout: Duration,
    /// Webhook mode: the public HTTPS URL Telegram posts updates to; it must reach this
    /// daemon's `/channels/telegram/<name>/webhook`.
    pub webhook_url: Option<url::Url>,
    /// Webhook mode: checked against `X-Telegram-Bot-Api-Secret-Token` on every post.
    /// Env override: `SWITCHBOARD_CHANNEL_<NAME>_WEBHOOK_SECRET`.
    pub webhook_secret: Option<SecretString>,
    /// Least time between two sends to one private chat (Telegram asks for about 1 s).
    #[serde(default = "default_chat_interval", with = "humantime_serde")]
    pub chat_interval: Duration,
}

fn default_chat_interval() -> Duration {
    Duration::from_secs(1)
}

fn default_api_url() -> url::Url {
    url::Url::parse("https://api.telegram.org").expect("static URL")
}

fn default_poll_timeout() -> Duration {
    Duration::from_secs(25)
}

impl TelegramConfig {
    pub fn pacing(&self) -> crate::pace::Limits {
        crate::pace::Limits {
            per_private_chat: self.chat_interval,
            ..Default::default()
        }
    }

    /// Pure checks; each error names its key below `key` (e.g. `channel "support"`).
    pub fn validate(&self, key: &str) -> Vec<String> {
        let mut errors = Vec::new();
        let token = self.token.expose_secret();
        // "<bot id>:<secret>" as BotFather issues it.
        let well_formed = token.split_once(':').is_some_and(|(id, rest)| {
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) && rest.len() >= 8
        });
        if !well_formed {
            errors.push(format!(
                "{key}.token: not a bot token (expected <digits>:<secret> from BotFather)"
            ));
        }
        if !matches!(self.api_url.scheme(), "http" | "https") {
            errors.push(format!("{key}.api_url: must be an http or https URL"));
        }
        if self.mode == Mode::Webhook {
            match &self.webhook_url {
                None => errors.push(format!(
                    "{key}.webhook_url: required when mode = \"webhook\""
                )),
                Some(url) if !matches!(url.scheme(), "http" | "https") => {
                    errors.push(format!("{key}.webhook_url: must be an https URL"))
                }
                Some(_) => {}
            }
            // Telegram allows 1-256 characters of A-Z, a-z, 0-9, _ and -.
            let valid = self.webhook_secret.as_ref().is_some_and(|s| {
                let s = s.expose_secret();
                (16..=256).contains(&s.len())
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            });
            if !valid {
                errors.push(format!(
                    "{key}.webhook_secret: required in webhook mode: 16 to 256 of A-Z a-z 0-9 _ -"
                ));
            }
        }
        if self.poll_timeout > Duration::from_secs(50) {
            errors.push(format!("{key}.poll_timeout: at most 50s"));
        }
        errors
    }
}
