//! `[[channel]] kind = "email"`: one support mailbox, read over IMAP and answered over SMTP.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsMode {
    /// TLS from the first byte (IMAPS 993, SMTPS 465).
    Implicit,
    /// Plain connection upgraded with STARTTLS; refused if the server does not offer it.
    Starttls,
    /// No encryption at all: accepted for loopback hosts only.
    None,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImapConfig {
    pub host: String,
    /// Defaults to 993 with implicit TLS, else 143.
    pub port: Option<u16>,
    #[serde(default = "implicit")]
    pub tls: TlsMode,
    pub username: String,
    /// Env override: `SWITCHBOARD_CHANNEL_<NAME>_IMAP_PASSWORD` (the daemon puts it here before
    /// deserializing, so the key may be left out of the file).
    #[serde(default = "no_secret")]
    pub password: SecretString,
    #[serde(default = "default_mailbox")]
    pub mailbox: String,
    /// PEM file with extra CA certificates to trust (a private CA, a self-signed server).
    pub ca_file: Option<PathBuf>,
    /// Set `\Seen` on a mail once it is stored, so people reading the mailbox see what is done.
    #[serde(default = "yes")]
    pub mark_seen: bool,
    /// IDLE is ended and restarted this often: servers drop idle sessions at about 29 minutes.
    #[serde(default = "default_idle_refresh", with = "humantime_serde")]
    pub idle_refresh: Duration,
    /// How often to look for mail on servers without IDLE.
    #[serde(default = "default_poll_interval", with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Mails above this size are stored with their headers and a note instead of the body.
    #[serde(default = "default_max_message_bytes")]
    pub max_message_bytes: u64,
    /// Network timeout of one IMAP command (IDLE excepted).
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// Defaults to 465 with implicit TLS, 587 with STARTTLS, else 25.
    pub port: Option<u16>,
    #[serde(default = "starttls")]
    pub tls: TlsMode,
    pub username: Option<String>,
    /// Env override: `SWITCHBOARD_CHANNEL_<NAME>_SMTP_PASSWORD`.
    pub password: Option<SecretString>,
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Connections kept open to the server.
    #[serde(default = "default_pool")]
    pub pool_size: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    pub name: String,
    /// `Display Name <address>` or a bare address: the From of every reply.
    pub address: String,
    /// Other addresses that deliver into this mailbox (`help@`, an old address): mail from them
    /// is our own, and they are never copied on a reply.
    #[serde(default)]
    pub aliases: Vec<String>,
    pub imap: ImapConfig,
    pub smtp: SmtpConfig,
    /// Key that signs our Message-IDs. The daemon supplies its instance secret when unset;
    /// changing it only stops old ids from matching by signature (References still match).
    /// Env override: `SWITCHBOARD_CHANNEL_<NAME>_THREAD_SECRET`.
    pub thread_secret: Option<SecretString>,
}

fn no_secret() -> SecretString {
    SecretString::from("")
}
fn implicit() -> TlsMode {
    TlsMode::Implicit
}
fn starttls() -> TlsMode {
    TlsMode::Starttls
}
fn yes() -> bool {
    true
}
fn default_mailbox() -> String {
    "INBOX".into()
}
fn default_idle_refresh() -> Duration {
    Duration::from_secs(25 * 60)
}
fn default_poll_interval() -> Duration {
    Duration::from_secs(60)
}
fn default_max_message_bytes() -> u64 {
    50 * 1024 * 1024
}
fn default_timeout() -> Duration {
    Duration::from_secs(60)
}
fn default_pool() -> u32 {
    4
}

impl ImapConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::Implicit => 993,
            _ => 143,
        })
    }
}

impl SmtpConfig {
    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            TlsMode::Implicit => 465,
            TlsMode::Starttls => 587,
            TlsMode::None => 25,
        })
    }
}

/// The parts of `address`: display name (may be empty) and the lower-cased address.
pub fn split_address(address: &str) -> Option<(String, String)> {
    let address = address.trim();
    let (name, addr) = match address.rsplit_once('<') {
        Some((name, rest)) => (
            name.trim().trim_matches('"').trim(),
            rest.strip_suffix('>')?,
        ),
        None => ("", address),
    };
    let addr = addr.trim();
    let (local, domain) = addr.split_once('@')?;
    let valid = !local.is_empty()
        && !domain.is_empty()
        && !domain.contains('@')
        && !addr.chars().any(|c| c.is_whitespace() || c.is_control());
    valid.then(|| (name.to_owned(), addr.to_ascii_lowercase()))
}

fn loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl EmailConfig {
    /// The address part of `address`, lower-cased.
    pub fn own_address(&self) -> String {
        split_address(&self.address)
            .map(|(_, a)| a)
            .unwrap_or_default()
    }

    /// The channel address and its aliases, lower-cased.
    pub fn own_addresses(&self) -> Vec<String> {
        std::iter::once(&self.address)
            .chain(&self.aliases)
            .filter_map(|a| split_address(a).map(|(_, a)| a))
            .collect()
    }

    /// Pure checks; each error names its key below `key` (e.g. `channel "support"`).
    pub fn validate(&self, key: &str) -> Vec<String> {
        let mut errors = Vec::new();
        if split_address(&self.address).is_none() {
            errors.push(format!(
                "{key}.address: expected \"Name <user@domain>\" or \"user@domain\""
            ));
        }
        for (i, alias) in self.aliases.iter().enumerate() {
            if split_address(alias).is_none() {
                errors.push(format!(
                    "{key}.aliases[{i}]: {alias:?} is not an email address"
                ));
            }
        }
        for (section, host, tls) in [
            ("imap", &self.imap.host, self.imap.tls),
            ("smtp", &self.smtp.host, self.smtp.tls),
        ] {
            if host.trim().is_empty() {
                errors.push(format!("{key}.{section}.host: must not be empty"));
            }
            // Passwords in clear text over a network are never acceptable.
            if tls == TlsMode::None && !loopback(host) {
                errors.push(format!(
                    "{key}.{section}.tls: \"none\" is only allowed for a loopback host"
                ));
            }
        }
        if self.imap.username.is_empty() {
            errors.push(format!("{key}.imap.username: must not be empty"));
        }
        if self.imap.password.expose_secret().is_empty() {
            errors.push(format!(
                "{key}.imap.password: required (or set SWITCHBOARD_CHANNEL_<NAME>_IMAP_PASSWORD)"
            ));
        }
        if self.smtp.username.is_some() != self.smtp.password.is_some() {
            errors.push(format!(
                "{key}.smtp: username and password go together (or neither, for no AUTH)"
            ));
        }
        if self.imap.idle_refresh < Duration::from_secs(10)
            || self.imap.idle_refresh > Duration::from_secs(29 * 60)
        {
            errors.push(format!(
                "{key}.imap.idle_refresh: between 10s and 29m (servers end IDLE at 30 minutes)"
            ));
        }
        if self.imap.poll_interval < Duration::from_secs(1) {
            errors.push(format!("{key}.imap.poll_interval: at least 1s"));
        }
        if self.smtp.pool_size == 0 {
            errors.push(format!("{key}.smtp.pool_size: at least 1"));
        }
        for (section, ca) in [("imap", &self.imap.ca_file), ("smtp", &self.smtp.ca_file)] {
            if let Some(path) = ca
                && !path.is_file()
            {
                errors.push(format!(
                    "{key}.{section}.ca_file: {} is not a readable file",
                    path.display()
                ));
            }
        }
        errors
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_name_and_lowercased_address() {
        assert_eq!(
            split_address("Wallet Support <Support@Example.com>"),
            Some(("Wallet Support".into(), "support@example.com".into()))
        );
        assert_eq!(
            split_address("\"Support, Team\" <s@x.io>"),
            Some(("Support, Team".into(), "s@x.io".into()))
        );
        assert_eq!(
            split_address("s@x.io"),
            Some((String::new(), "s@x.io".into()))
        );
        assert_eq!(split_address("no address"), None);
        assert_eq!(split_address("a b@x.io"), None);
        assert_eq!(split_address("<@x.io>"), None);
    }

    #[test]
    fn aliases_are_ours_and_must_be_addresses() {
        let text = r#"
            name = "mail"
            address = "Support <Support@Example.com>"
            aliases = ["help@example.com", "Old <old@example.org>", "nonsense"]
            imap = { host = "127.0.0.1", tls = "none", username = "u", password = "p" }
            smtp = { host = "127.0.0.1", tls = "none" }
        "#;
        let config: EmailConfig = toml::from_str(text).unwrap();
        assert_eq!(
            config.own_addresses(),
            ["support@example.com", "help@example.com", "old@example.org"]
        );
        let errors = config.validate("channel[0]");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("channel[0].aliases[2]"), "{errors:?}");
    }

    #[test]
    fn plain_text_is_refused_off_loopback() {
        assert!(loopback("127.0.0.1") && loopback("::1") && loopback("[::1]"));
        assert!(loopback("localhost") && !loopback("mail.example.com"));
        assert!(!loopback("10.0.0.1"));
    }
}
