//! `[[channel]] kind = "discord"`: one bot token is one channel.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ThreadMode {
    /// A private thread only the customer, the bot and moderators see (the customer's first
    /// message stays in the support channel; it is stored as the conversation's first message).
    #[default]
    Private,
    /// A public thread started from the customer's message.
    Public,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    pub name: String,
    /// The bot token from the developer portal. Env override: `SWITCHBOARD_CHANNEL_<NAME>_TOKEN`
    /// (the daemon puts it here before deserializing, so the key may be left out of the file).
    #[serde(default = "no_secret")]
    pub token: SecretString,
    /// Guild text channels where customers post; each customer gets a thread there.
    #[serde(default)]
    pub support_channels: Vec<String>,
    #[serde(default)]
    pub thread_mode: ThreadMode,
    /// Discord's base URL; tests point REST at a local fake (the gateway URL comes from it).
    #[serde(default = "default_api_url")]
    pub api_url: url::Url,
    /// Attachments above this size are recorded with a note instead of downloaded.
    #[serde(default = "default_max_attachment")]
    pub max_attachment_bytes: u64,
}

fn no_secret() -> SecretString {
    SecretString::from("")
}

fn default_api_url() -> url::Url {
    url::Url::parse("https://discord.com").expect("static URL")
}

fn default_max_attachment() -> u64 {
    25 * 1024 * 1024
}

impl DiscordConfig {
    /// The configured support channels as ids (invalid entries are reported by `validate`).
    pub fn support_channel_ids(&self) -> Vec<u64> {
        self.support_channels
            .iter()
            .filter_map(|c| c.trim().parse().ok())
            .collect()
    }

    /// Pure checks; each error names its key below `key` (e.g. `channel "support"`).
    pub fn validate(&self, key: &str) -> Vec<String> {
        let mut errors = Vec::new();
        let token = self.token.expose_secret();
        // Three base64url parts separated by dots, as the developer portal issues them.
        let parts: Vec<&str> = token.split('.').collect();
        let well_formed = parts.len() == 3
            && parts.iter().all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !well_formed {
            errors.push(format!(
                "{key}.token: not a bot token (three dot-separated parts from the developer portal; or set SWITCHBOARD_CHANNEL_<NAME>_TOKEN)"
            ));
        }
        for (i, channel) in self.support_channels.iter().enumerate() {
            if channel.trim().parse::<u64>().map_or(true, |id| id == 0) {
                errors.push(format!(
                    "{key}.support_channels[{i}]: {channel:?} is not a channel id (enable Developer Mode, right-click the channel, Copy Channel ID)"
                ));
            }
        }
        if !matches!(self.api_url.scheme(), "http" | "https") {
            errors.push(format!("{key}.api_url: must be an http or https URL"));
        }
        errors
    }
}
