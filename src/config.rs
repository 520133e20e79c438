//! The daemon's one TOML file: typed, validated all at once (every wrong key reported), with
//! secrets overridable from the environment (or given only there) and embedded defaults when
//! there is no file.

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
    pub safety: SafetyConfig,
    pub verification: VerificationConfig,
    /// Acknowledgements, intake questions, article answers (see `crate::automation`).
    pub front_desk: crate::automation::FrontDeskConfig,
    pub knowledge: KnowledgeConfig,
    /// Teams, assignment, routing rules and service-level policies (`crate::automation::routing`).
    #[serde(rename = "team")]
    pub teams: Vec<crate::automation::routing::TeamConfig>,
    pub assignment: crate::automation::routing::AssignmentConfig,
    #[serde(rename = "rule")]
    pub rules: Vec<crate::automation::routing::RuleConfig>,
    pub sla: crate::automation::routing::SlaConfig,
    pub follow_up: crate::automation::routing::FollowUpConfig,
    pub csat: crate::automation::csat::CsatConfig,
    pub spike: crate::automation::spike::SpikeConfig,
    #[serde(rename = "channel")]
    pub channels: Vec<ChannelConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Open connections at most; more are closed at once (so half-open ones cannot use up
    /// the file descriptors).
    pub max_connections: usize,
    /// A client must send a request's headers within this.
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    /// A request (other than a live event stream) must be answered within this, or gets 503.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Live event streams (`/api/v1/events`) open at once, in all and per agent.
    pub max_event_streams: usize,
    pub max_event_streams_per_agent: usize,
    /// Reverse proxies (addresses or networks) whose `X-Forwarded-For` names the client, for
    /// the failed-authentication limit and logs; a request from anywhere else is its peer.
    #[serde(deserialize_with = "networks")]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

/// Networks (`10.0.0.0/8`) or single addresses (`127.0.0.1`, `::1`): a list, or one string
/// of them separated by commas (as the environment gives it).
fn networks<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Networks {
        List(Vec<String>),
        Text(String),
    }
    let texts = match Networks::deserialize(d)? {
        Networks::List(list) => list,
        Networks::Text(text) => text
            .split(',')
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
            .collect(),
    };
    texts
        .iter()
        .map(|text| {
            text.parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    serde::de::Error::custom(format!(
                        "{text:?} is neither an address nor a network such as 10.0.0.0/8"
                    ))
                })
        })
        .collect()
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 1024 * 1024,
            max_connections: 1024,
            header_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_event_streams: 1024,
            max_event_streams_per_agent: 16,
            trusted_proxies: Vec::new(),
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

impl StorageConfig {
    /// The database for messages: the URL without its password and, for a relative SQLite
    /// path, the file it is from here (the CLI and the daemon may not share a directory).
    pub fn database_display(&self) -> String {
        let url = redact_url(&self.database_url);
        let path = self
            .database_url
            .strip_prefix("sqlite:")
            .map(|p| p.strip_prefix("//").unwrap_or(p))
            .map(|p| p.split('?').next().unwrap_or(p))
            .filter(|p| !p.is_empty() && !p.starts_with(['/', ':']));
        match (path, std::env::current_dir()) {
            (Some(path), Ok(dir)) => format!("{url} ({})", dir.join(path).display()),
            _ => url,
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

/// Texts of the customer-safety guard. Each text table is keyed by language (`en`, `zh`, `es`,
/// `ru`, ...; a customer whose language is not there gets `en`); a key given here replaces the
/// built-in text of that language, the others stay.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SafetyConfig {
    /// One line added to every front-desk acknowledgement on every channel, e.g. "We will
    /// only answer you here. We never DM you first and never ask for your seed phrase."
    /// Empty: none.
    pub notice: String,
    /// Sent to a customer whose message held a seed phrase or private key.
    pub warning: std::collections::BTreeMap<String, String>,
}

/// The help-center articles the front desk answers with and agents insert into replies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KnowledgeConfig {
    /// A directory of Markdown articles with front matter (`title`, `tags`, `lang`, `url`);
    /// unset: no knowledge base. Reloaded when its files change and on SIGHUP.
    pub dir: Option<PathBuf>,
}

/// Identity verification by a one-time code sent to the customer's email.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerificationConfig {
    /// The `[[channel]]` (kind `email`) that sends the codes; unset: verification is off.
    pub email_channel: Option<String>,
    /// Told to the customer in the conversation once the code is sent (`{email}` is replaced).
    pub prompt: std::collections::BTreeMap<String, String>,
    /// The mail with the code (`{code}` is replaced).
    pub email_subject: Option<String>,
    pub email_text: std::collections::BTreeMap<String, String>,
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
    /// Authenticates inbound posts and signs outbound webhooks. `SWITCHBOARD_CHANNEL_<NAME>_SECRET`
    /// overrides it, and then the key may be left out of the file.
    pub secret: SecretString,
    /// Where agent replies are POSTed; without it replies stay stored and fail with a reason.
    pub webhook_url: Option<String>,
    /// Per-request timeout for the webhook.
    #[serde(default = "default_webhook_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

impl ApiChannelConfig {
    /// Pure checks; each error names its key below `key` (e.g. `channel "website"`).
    pub fn validate(&self, key: &str) -> Vec<String> {
        let mut errors = Vec::new();
        if self.secret.expose_secret().len() < 16 {
            errors.push(format!(
                "{key}.secret: must be at least 16 characters (or set {}_SECRET)",
                env_prefix(&self.name)
            ));
        }
        if let Some(url) = &self.webhook_url {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                Ok(_) => errors.push(format!("{key}.webhook_url: must be an http or https URL")),
                Err(e) => errors.push(format!("{key}.webhook_url: {e}")),
            }
        }
        errors
    }
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

/// The file's text; none for the embedded defaults.
fn config_text(path: Option<&Path>) -> Result<String, ConfigError> {
    match path {
        None => Ok(String::new()),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| ConfigError(vec![format!("cannot read {}: {e}", path.display())])),
    }
}

/// A variable of the process; an empty one counts as unset (`NAME=` in an env file).
fn process_var(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

impl Config {
    /// Reads `path` (the embedded defaults when `None`) with the process environment over it,
    /// and validates the result: every problem at once.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        Self::parse(&config_text(path)?, process_var)
    }

    /// Only `server.listen`, from `path` with the environment over it: for `switchboard health`,
    /// which monitoring runs without the channels' secrets, so the rest is not validated.
    pub fn load_listen(path: Option<&Path>) -> Result<SocketAddr, ConfigError> {
        let read = read(&config_text(path)?, &process_var)?;
        let listen: Vec<String> = read
            .errors
            .into_iter()
            .filter(|e| e.starts_with("server.listen"))
            .collect();
        if listen.is_empty() {
            Ok(read.config.server.listen)
        } else {
            Err(ConfigError(listen))
        }
    }

    /// `text` with the variables `var` finds applied over it, then validated. Every problem is
    /// reported, not only the first: a wrong or unknown key is reported and left out, and the
    /// rest is still read and validated. A TOML syntax error is reported alone.
    pub fn parse(text: &str, var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let read = read(text, &var)?;
        let mut errors = read.errors;
        errors.extend(read.config.problems(&read.reported));
        if errors.is_empty() {
            Ok(read.config)
        } else {
            Err(ConfigError(errors))
        }
    }

    /// `text` typed, without the environment and without validation: for code that adjusts a
    /// config before it calls `validate`. Fails on what reading finds: bad syntax, a wrong,
    /// unknown or missing key (a required secret too).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let read = read(text, &|_| None)?;
        if read.errors.is_empty() {
            Ok(read.config)
        } else {
            Err(ConfigError(read.errors))
        }
    }

    /// Pure checks, no I/O; collects every error rather than stopping at the first.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let errors = self.problems(&[]);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ConfigError(errors))
        }
    }

    /// What `validate` finds, except what `reported` (channel index, key) says was reported
    /// already while reading: a missing secret is not reported again as too short.
    fn problems(&self, reported: &[(usize, &str)]) -> Vec<String> {
        let mut errors = Vec::new();
        if self.server.max_connections == 0 {
            errors.push("server.max_connections: must be at least 1".to_owned());
        }
        if self.server.header_timeout.is_zero() || self.server.request_timeout.is_zero() {
            errors.push(
                "server.header_timeout, server.request_timeout: must be longer than zero"
                    .to_owned(),
            );
        }
        if self.server.max_event_streams_per_agent == 0
            || self.server.max_event_streams < self.server.max_event_streams_per_agent
        {
            errors.push(
                "server.max_event_streams_per_agent: at least 1 and at most server.max_event_streams"
                    .to_owned(),
            );
        }
        if self.server.max_body_bytes < 1024 {
            errors.push("server.max_body_bytes: must be at least 1024".to_owned());
        }
        if self.storage.database_url.is_empty() {
            errors.push("storage.database_url: must not be empty".to_owned());
        } else if !self.storage.database_url.starts_with("sqlite:")
            && !crate::store::is_postgres(&self.storage.database_url)
        {
            errors.push(format!(
                "storage.database_url: unsupported scheme in {} (sqlite:, postgres: or postgresql:)",
                redact_url(&self.storage.database_url)
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
        let names: Vec<&str> = self.channels.iter().map(ChannelConfig::name).collect();
        errors.extend(self.front_desk.validate(&names));
        let categories: Vec<&str> = self
            .front_desk
            .categories
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        errors.extend(crate::automation::routing::validate(
            &self.teams,
            &self.assignment,
            &self.rules,
            &self.sla,
            &names,
            &categories,
            self.front_desk.hours.is_some(),
        ));
        errors.extend(self.follow_up.validate());
        errors.extend(self.csat.validate());
        errors.extend(self.spike.validate());
        if let Some(name) = &self.verification.email_channel {
            match self.channels.iter().find(|c| c.name() == name) {
                Some(ChannelConfig::Email(_)) => {}
                Some(_) => errors.push(format!(
                    "verification.email_channel: channel {name:?} is not an email channel"
                )),
                None => errors.push(format!(
                    "verification.email_channel: no [[channel]] is named {name:?}"
                )),
            }
        }
        for (key, _) in self
            .verification
            .email_text
            .iter()
            .filter(|(_, t)| !t.contains("{code}"))
        {
            errors.push(format!(
                "verification.email_text.{key}: must contain {{code}}, where the code goes"
            ));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, channel) in self.channels.iter().enumerate() {
            let name = channel.name();
            let key = channel_key(name);
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                errors.push(format!(
                    "{key}.name: must be non-empty ASCII letters, digits, '-' or '_'"
                ));
            }
            if !seen.insert(name) {
                errors.push(format!("{key}.name: duplicate channel name"));
            }
            let mut found = match channel {
                ChannelConfig::Api(c) => c.validate(&key),
                ChannelConfig::Telegram(c) => c.validate(&key),
                ChannelConfig::Email(c) => c.validate(&key),
                ChannelConfig::Discord(c) => c.validate(&key),
            };
            // A key reported missing, or still holding the example's placeholder, is reported
            // once, not again for being malformed.
            let placeholders = placeholders(channel);
            let once: Vec<String> = reported
                .iter()
                .filter(|(j, _)| *j == i)
                .map(|(_, k)| *k)
                .chain(placeholders.iter().map(|(k, _)| *k))
                .map(|k| format!("{key}.{k}:"))
                .collect();
            found.retain(|e| !once.iter().any(|k| e.starts_with(k.as_str())));
            errors.extend(found);
            errors.extend(
                placeholders
                    .into_iter()
                    .map(|(k, message)| format!("{key}.{k}: {message}")),
            );
        }
        errors
    }
}

/// How errors name a channel: by its name, the way the operator knows it.
fn channel_key(name: &str) -> String {
    format!("channel {name:?}")
}

/// Environment variables that replace a key of the file: (section, key, variable).
const ENV_KEYS: [(&str, &str, &str); 4] = [
    ("server", "listen", "SWITCHBOARD_LISTEN"),
    ("server", "trusted_proxies", "SWITCHBOARD_TRUSTED_PROXIES"),
    ("storage", "database_url", "SWITCHBOARD_DATABASE_URL"),
    ("storage", "data_dir", "SWITCHBOARD_DATA_DIR"),
];

/// A channel secret, which may come from `SWITCHBOARD_CHANNEL_<NAME>_<env>` instead of the file.
struct Secret {
    kind: &'static str,
    /// Below the channel's table, `.`-separated.
    key: &'static str,
    env: &'static str,
    /// The channel cannot run without it. The others are optional or needed only in some
    /// modes, which the channel's own validation checks.
    required: bool,
}

impl Secret {
    const fn required(kind: &'static str, key: &'static str, env: &'static str) -> Self {
        Self {
            kind,
            key,
            env,
            required: true,
        }
    }

    const fn optional(kind: &'static str, key: &'static str, env: &'static str) -> Self {
        Self {
            required: false,
            ..Self::required(kind, key, env)
        }
    }
}

/// Every channel secret the README says may come from the environment.
const SECRETS: [Secret; 7] = [
    Secret::required("api", "secret", "SECRET"),
    Secret::required("telegram", "token", "TOKEN"),
    Secret::optional("telegram", "webhook_secret", "WEBHOOK_SECRET"),
    Secret::required("discord", "token", "TOKEN"),
    Secret::required("email", "imap.password", "IMAP_PASSWORD"),
    Secret::optional("email", "smtp.password", "SMTP_PASSWORD"),
    Secret::optional("email", "thread_secret", "THREAD_SECRET"),
];

/// The variable that may hold a channel's secret `key`.
fn secret_env(kind: &str, key: &str, channel_name: &str) -> Option<String> {
    SECRETS
        .iter()
        .find(|s| s.kind == kind && s.key == key)
        .map(|s| format!("{}_{}", env_prefix(channel_name), s.env))
}

/// A file read into a typed config, with what went wrong on the way.
struct Read {
    /// Keys that could not be read are left at their defaults and channels that could not be
    /// read are left out, so that the rest can still be validated.
    config: Config,
    errors: Vec<String>,
    /// Channel index and key of each required secret already reported missing.
    reported: Vec<(usize, &'static str)>,
}

/// The environment is applied to the TOML table, before anything is typed: a secret set only in
/// the environment needs no key in the file, and every error can name the key it is about.
fn read(text: &str, var: &dyn Fn(&str) -> Option<String>) -> Result<Read, ConfigError> {
    let mut root: toml::Table = text
        .parse()
        .map_err(|e| ConfigError(vec![syntax_error(text, &e)]))?;
    let mut problems = Problems::default();
    for (section, key, env) in ENV_KEYS {
        if let Some(value) = var(env)
            && let toml::Value::Table(table) = root
                .entry(section)
                .or_insert_with(|| toml::Table::new().into())
        {
            table.insert(key.to_owned(), value.into());
            problems
                .from_env
                .insert(format!("{section}.{key}"), env.to_owned());
        }
    }
    let channels = root.remove("channel");
    let mut config: Config = problems
        .collect(toml::Value::Table(root), "")
        .unwrap_or_default();
    let mut reported = Vec::new();
    match channels {
        None => {}
        Some(toml::Value::Array(items)) => {
            for (i, item) in items.into_iter().enumerate() {
                if let Some((channel, missing)) = read_channel(i, item, var, &mut problems) {
                    let index = config.channels.len();
                    reported.extend(missing.into_iter().map(|key| (index, key)));
                    config.channels.push(channel);
                }
            }
        }
        Some(_) => problems
            .errors
            .push("channel: must be [[channel]] tables".to_owned()),
    }
    Ok(Read {
        config,
        errors: problems.errors,
        reported,
    })
}

/// One `[[channel]]` table, with its secrets filled in from the environment. Its `kind` picks the
/// typed struct, deserialized directly rather than through the `kind`-tagged enum, whose
/// buffering would lose the key an error is about. Also returns the required secrets reported
/// missing.
fn read_channel(
    i: usize,
    item: toml::Value,
    var: &dyn Fn(&str) -> Option<String>,
    problems: &mut Problems,
) -> Option<(ChannelConfig, Vec<&'static str>)> {
    type Typed = fn(&mut Problems, toml::Value, &str) -> Option<ChannelConfig>;
    let toml::Value::Table(mut table) = item else {
        problems
            .errors
            .push(format!("channel[{i}]: must be a table ([[channel]])"));
        return None;
    };
    let name = table
        .get("name")
        .and_then(|n| n.as_str())
        .map(str::to_owned);
    let key = name
        .as_deref()
        .map_or_else(|| format!("channel[{i}]"), channel_key);
    let kind = match table.remove("kind") {
        Some(toml::Value::String(kind)) => kind,
        _ => {
            problems.errors.push(format!(
                "{key}.kind: missing or not a string (one of \"api\", \"telegram\", \"email\", \"discord\")"
            ));
            return None;
        }
    };
    let typed: Typed = match kind.as_str() {
        "api" => |p, v, k| p.collect(v, k).map(ChannelConfig::Api),
        "telegram" => |p, v, k| p.collect(v, k).map(ChannelConfig::Telegram),
        "email" => |p, v, k| p.collect(v, k).map(ChannelConfig::Email),
        "discord" => |p, v, k| p.collect(v, k).map(ChannelConfig::Discord),
        other => {
            problems.errors.push(format!(
                "{key}.kind: unknown kind {other:?}, expected \"api\", \"telegram\", \"email\" or \"discord\""
            ));
            return None;
        }
    };
    let mut missing = Vec::new();
    for secret in SECRETS.iter().filter(|s| s.kind == kind) {
        let (section, leaf) = match secret.key.rsplit_once('.') {
            Some((section, leaf)) => (table.get_mut(section).and_then(|s| s.as_table_mut()), leaf),
            None => (Some(&mut table), secret.key),
        };
        // Without its section (`[channel.imap]`) the typed pass reports the section missing.
        let Some(section) = section else { continue };
        let env = name
            .as_deref()
            .map(|n| format!("{}_{}", env_prefix(n), secret.env));
        if let Some(env) = &env
            && let Some(value) = var(env)
        {
            section.insert(leaf.to_owned(), value.into());
            problems
                .from_env
                .insert(format!("{key}.{}", secret.key), env.clone());
        }
        let given = section.get(leaf).is_some_and(|v| v.as_str() != Some(""));
        if secret.required && !given {
            let env = env.unwrap_or_else(|| format!("SWITCHBOARD_CHANNEL_<NAME>_{}", secret.env));
            problems.errors.push(format!(
                "{key}.{}: missing (set it in the file or in {env})",
                secret.key
            ));
            // An empty stand-in, so that the rest of the channel is still read and checked.
            section.insert(leaf.to_owned(), "".into());
            missing.push(secret.key);
        }
    }
    let channel = typed(problems, toml::Value::Table(table), &key)?;
    Some((channel, missing))
}

/// Problems found while reading, each as `key: message`.
#[derive(Default)]
struct Problems {
    errors: Vec<String>,
    /// Keys whose value came from the environment, with the variable.
    from_env: std::collections::HashMap<String, String>,
}

impl Problems {
    fn push(&mut self, key: String, message: &str) {
        let leaf = key.rsplit('.').next().unwrap_or(&key);
        let secret = ["secret", "password", "token"]
            .iter()
            .any(|s| leaf.contains(s));
        // serde quotes the value it could not take; a secret's is never shown.
        let message = if secret && message.starts_with("invalid") {
            "must be a string (the value is not shown)"
        } else {
            message
        };
        let mut line = format!("{key}: {message}");
        if let Some(env) = self.from_env.get(&key) {
            line.push_str(&format!(" (the value comes from {env})"));
        }
        self.errors.push(line);
    }

    /// `value` as a `T`, reporting every key serde objects to below `key`. A wrong or unknown
    /// key is reported and taken out, and the rest is tried again, so one mistake does not hide
    /// the next. A missing key ends the checks of its table (serde names the first one, after
    /// the keys present passed). Returns what could be read, if anything could.
    fn collect<T: serde::de::DeserializeOwned>(
        &mut self,
        mut value: toml::Value,
        key: &str,
    ) -> Option<T> {
        let mut taken: Vec<String> = Vec::new();
        loop {
            let error = match value.clone().try_into::<T>() {
                Ok(typed) => return Some(typed),
                Err(error) => error,
            };
            let path = error_path(&error);
            let message = error.message();
            let (wrong, message, take) =
                if let Some((field, _)) = quoted(message, "missing field `") {
                    (join(&path, field), "missing".to_owned(), path.clone())
                } else if let Some((field, rest)) = quoted(message, "unknown field `") {
                    let wrong = join(&path, field);
                    (wrong.clone(), format!("unknown key{rest}"), wrong)
                } else {
                    (path.clone(), message.to_owned(), path.clone())
                };
            // A key taken out for being wrong is missing next: that is no news.
            if !taken.contains(&wrong) {
                self.push(join(key, &wrong), &message);
            }
            if take.is_empty() || !remove(&mut value, &take) {
                return None;
            }
            taken.push(take);
        }
    }
}

/// `message` after `prefix`, split at the closing backquote: (the quoted name, the rest).
fn quoted<'m>(message: &'m str, prefix: &str) -> Option<(&'m str, &'m str)> {
    message.strip_prefix(prefix)?.split_once('`')
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_owned(),
        (_, true) => a.to_owned(),
        _ => format!("{a}.{b}"),
    }
}

/// The key an error is about, relative to the value deserialized (empty for the value itself):
/// toml shows it after the message as "in `a.b`" and keeps it private otherwise.
fn error_path(error: &toml::de::Error) -> String {
    let shown = error.to_string();
    shown
        .strip_prefix(error.message())
        .map(str::trim)
        .and_then(|s| s.strip_prefix("in `"))
        .and_then(|s| s.strip_suffix('`'))
        .unwrap_or_default()
        .to_owned()
}

/// Takes the `.`-separated `path` out of `value`; false when it is not there.
fn remove(value: &mut toml::Value, path: &str) -> bool {
    let (parents, leaf) = match path.rsplit_once('.') {
        Some((parents, leaf)) => (Some(parents), leaf),
        None => (None, path),
    };
    let mut table = value.as_table_mut();
    for part in parents.into_iter().flat_map(|p| p.split('.')) {
        table = table
            .and_then(|t| t.get_mut(part))
            .and_then(|v| v.as_table_mut());
    }
    table.is_some_and(|t| t.remove(leaf).is_some())
}

/// A TOML syntax error by line and column, without the line itself: it may be
/// `secret = "...` (toml's own message quotes it).
fn syntax_error(text: &str, error: &toml::de::Error) -> String {
    let Some(span) = error.span() else {
        return format!("TOML syntax error: {}", error.message());
    };
    let before = text.get(..span.start).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    format!(
        "TOML syntax error at line {line}, column {column}: {}",
        error.message()
    )
}

/// What `deploy/switchboard.example.toml` marks for replacing, still in place: a secret starting
/// with `CHANGE-ME` (or the README's `...`), a host under `.invalid` (the top-level domain that
/// never resolves, RFC 6761). Refused rather than run with a published secret or replies sent
/// nowhere. Key below the channel, and the message.
fn placeholders(channel: &ChannelConfig) -> Vec<(&'static str, String)> {
    let mut found = Vec::new();
    for (key, secret) in secrets(channel) {
        let secret = secret.map(|s| s.expose_secret()).unwrap_or_default();
        let change_me = secret
            .get(..9)
            .is_some_and(|p| p.eq_ignore_ascii_case("change-me"));
        if change_me || secret == "..." {
            let env = secret_env(channel.kind(), key, channel.name()).unwrap_or_default();
            found.push((
                key,
                format!("still the example placeholder; put the real value here or in {env}"),
            ));
        }
    }
    for (key, host) in hosts(channel) {
        let Some(host) = host else { continue };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        if host == "invalid" || host.ends_with(".invalid") {
            found.push((
                key,
                format!(
                    "{host} is the example placeholder (.invalid never resolves); put the real address here"
                ),
            ));
        }
    }
    found
}

/// A channel's secrets, by key below the channel.
fn secrets(channel: &ChannelConfig) -> Vec<(&'static str, Option<&SecretString>)> {
    match channel {
        ChannelConfig::Api(c) => vec![("secret", Some(&c.secret))],
        ChannelConfig::Telegram(c) => vec![
            ("token", Some(&c.token)),
            ("webhook_secret", c.webhook_secret.as_ref()),
        ],
        ChannelConfig::Discord(c) => vec![("token", Some(&c.token))],
        ChannelConfig::Email(c) => vec![
            ("imap.password", Some(&c.imap.password)),
            ("smtp.password", c.smtp.password.as_ref()),
            ("thread_secret", c.thread_secret.as_ref()),
        ],
    }
}

/// The hosts a channel connects to or names, by key below the channel.
fn hosts(channel: &ChannelConfig) -> Vec<(&'static str, Option<String>)> {
    fn host(url: &str) -> Option<String> {
        reqwest::Url::parse(url).ok()?.host_str().map(str::to_owned)
    }
    match channel {
        ChannelConfig::Api(c) => vec![("webhook_url", c.webhook_url.as_deref().and_then(host))],
        ChannelConfig::Telegram(c) => vec![
            (
                "webhook_url",
                c.webhook_url.as_ref().and_then(|u| host(u.as_str())),
            ),
            ("api_url", host(c.api_url.as_str())),
        ],
        ChannelConfig::Discord(c) => vec![("api_url", host(c.api_url.as_str()))],
        ChannelConfig::Email(c) => vec![
            (
                "address",
                c.own_address().rsplit_once('@').map(|(_, d)| d.to_owned()),
            ),
            ("imap.host", Some(c.imap.host.clone())),
            ("smtp.host", Some(c.smtp.host.clone())),
        ],
    }
}

/// `url` without its password, for messages: `postgres://sb:****@db/sb`, and so for a
/// `password=` parameter. Anything that could be a password is masked, even if it was not one.
pub fn redact_url(url: &str) -> String {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), url),
    };
    // The last `@` ends the user info: a password may contain one unencoded.
    let (user, rest) = match rest.rsplit_once('@') {
        Some((info, rest)) if !scheme.is_empty() => match info.split_once(':') {
            Some((user, _)) => (format!("{user}:****@"), rest),
            None => (format!("{info}@"), rest),
        },
        _ => (String::new(), rest),
    };
    let rest = match rest.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, _)) if name.to_ascii_lowercase().contains("pass") => {
                        format!("{name}=****")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => rest.to_owned(),
    };
    format!("{scheme}{user}{rest}")
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

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn empty_file_gives_the_embedded_defaults() {
        let config = Config::from_toml("").unwrap();
        config.validate().unwrap();
        assert_eq!(config.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(config.storage.database_url, "sqlite://data/switchboard.db");
        assert!(config.channels.is_empty());
    }

    #[test]
    fn trusted_proxies_are_addresses_or_networks_from_the_file_or_the_environment() {
        let config = Config::from_toml(
            "[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\", \"::1\"]",
        )
        .unwrap();
        let shown: Vec<String> = config
            .server
            .trusted_proxies
            .iter()
            .map(|n| n.to_string())
            .collect();
        assert_eq!(shown, ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]);
        let env = |key: &str| {
            (key == "SWITCHBOARD_TRUSTED_PROXIES").then(|| "172.16.0.0/12, 192.168.1.1".into())
        };
        let config = Config::parse("", env).unwrap();
        assert_eq!(config.server.trusted_proxies.len(), 2);
        let err = Config::from_toml("[server]\ntrusted_proxies = [\"10.0.0.0/33\"]").unwrap_err();
        assert!(
            err.to_string().contains("neither an address nor a network"),
            "{err}"
        );
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
        let text = "[[channel]]\nname = \"wallet-bot\"\nkind = \"telegram\"\ntoken = \"nonsense\"\nmode = \"webhook\"\n";
        let err = Config::parse(text, no_env).unwrap_err();
        assert!(
            err.0
                .iter()
                .any(|e| e.starts_with("channel \"wallet-bot\".token")),
            "{err}"
        );
        for key in [
            "channel \"wallet-bot\".webhook_url",
            "channel \"wallet-bot\".webhook_secret",
        ] {
            assert!(err.0.iter().any(|e| e.starts_with(key)), "{key}: {err}");
        }
        assert!(
            !err.to_string().contains("nonsense"),
            "the token is never echoed"
        );
        let polling = text.replace("mode = \"webhook\"", "mode = \"polling\"");
        let config = Config::parse(&polling, |key| {
            (key == "SWITCHBOARD_CHANNEL_WALLET_BOT_TOKEN").then(|| "123456:ABCDEFGHIJKL".into())
        })
        .unwrap();
        let ChannelConfig::Telegram(c) = &config.channels[0] else {
            panic!("a telegram channel")
        };
        assert_eq!(c.token.expose_secret(), "123456:ABCDEFGHIJKL");
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
            "channel \"a b\".name: must be",
            "channel \"a b\".secret",
            "channel \"a b\".webhook_url",
            "channel \"a b\".name: duplicate",
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
        let env = |key: &str| {
            (key == "SWITCHBOARD_CHANNEL_WEB_SITE_SECRET").then(|| "from-env-0123456789".into())
        };
        for text in [
            "[[channel]]\nname = \"web-site\"\nkind = \"api\"\nsecret = \"placeholder-placeholder\"\n",
            "[[channel]]\nname = \"web-site\"\nkind = \"api\"\n",
        ] {
            let config = Config::parse(text, env).unwrap();
            let ChannelConfig::Api(c) = &config.channels[0] else {
                panic!("an api channel")
            };
            assert_eq!(c.secret.expose_secret(), "from-env-0123456789");
            assert!(!format!("{config:?}").contains("from-env"));
        }
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
        let config = Config::parse(&readme_email_example(), |key| match key {
            "SWITCHBOARD_CHANNEL_SUPPORT_MAIL_IMAP_PASSWORD" => Some("imap-from-env".into()),
            "SWITCHBOARD_CHANNEL_SUPPORT_MAIL_SMTP_PASSWORD" => Some("smtp-from-env".into()),
            _ => None,
        })
        .unwrap();
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
        let err = Config::parse(&text, no_env).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("channel \"support-mail\".imap.tls"), "{text}");
        assert!(
            text.contains("channel \"support-mail\".imap.password: missing (set it in the file or in SWITCHBOARD_CHANNEL_SUPPORT_MAIL_IMAP_PASSWORD)"),
            "{text}"
        );
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
        let err = Config::parse(block, no_env).unwrap_err().to_string();
        assert!(err.contains("channel \"discord\".token"), "{err}");
        let config = Config::parse(block, |key| {
            (key == "SWITCHBOARD_CHANNEL_DISCORD_TOKEN").then(|| "MTIz.abc_DEF.ghi-jkl".into())
        })
        .unwrap();
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
        assert!(
            err.contains("channel \"discord\".support_channels[0]"),
            "{err}"
        );
    }

    #[test]
    fn a_syntax_error_gives_its_position_but_not_the_line() {
        let text = "[[channel]]\nname = \"w\"\nkind = \"api\"\nsecret = \"s3cr3t-0123456789\n";
        let err = Config::parse(text, no_env).unwrap_err();
        assert_eq!(err.0.len(), 1, "{err}");
        assert!(
            err.0[0].starts_with("TOML syntax error at line 4, column "),
            "{err}"
        );
        assert!(!err.to_string().contains("s3cr3t"), "{err}");
    }

    #[test]
    fn toml_errors_name_their_key() {
        // `error_path` reads the key from toml's rendering; this pins that rendering.
        let value: toml::Value = "listen = 5\n".parse::<toml::Table>().unwrap().into();
        let err = value.try_into::<ServerConfig>().unwrap_err();
        assert_eq!(error_path(&err), "listen");
        let value: toml::Value = "[imap]\nport = \"x\"\n"
            .parse::<toml::Table>()
            .unwrap()
            .into();
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Outer {
            imap: switchboard_email::config::ImapConfig,
        }
        let err = value.try_into::<Outer>().unwrap_err();
        assert_eq!(error_path(&err), "imap.port");
    }

    #[test]
    fn wrong_and_unknown_keys_are_all_reported_and_the_rest_still_validated() {
        let text = r#"
            [server]
            listen = "nowhere"
            lisen = 1
            [outbox]
            concurrency = 0
            [[channel]]
            name = "first"
            kind = "telegram"
            mode = "hook"
            poll_timeout = "2m"
            [[channel]]
            kind = "api"
            secret = "0123456789abcdef"
            [[channel]]
            name = "third"
            kind = "fax"
            [[channel]]
            name = "fourth"
            kind = "email"
            address = "support@example.com"
            imap = { username = "u", password = "p", tls = "starttls" }
            smtp = { host = "smtp.example.com", pool_size = "four" }
        "#;
        let err = Config::parse(text, no_env).unwrap_err();
        for key in [
            "server.listen: invalid",
            "server.lisen: unknown key",
            "outbox.concurrency: must be at least 1",
            "channel \"first\".token: missing (set it in the file or in SWITCHBOARD_CHANNEL_FIRST_TOKEN)",
            "channel \"first\".mode: unknown variant",
            "channel \"first\".poll_timeout: at most 50s",
            "channel[1].name: missing",
            "channel \"third\".kind: unknown kind \"fax\"",
            "channel \"fourth\".imap.host: missing",
            "channel \"fourth\".smtp.pool_size: invalid type",
        ] {
            assert!(
                err.0.iter().any(|e| e.starts_with(key)),
                "{key:?} not in {err}"
            );
        }
        assert!(
            !err.0
                .iter()
                .any(|e| e.starts_with("channel \"first\".token: not a bot token")),
            "a missing token is reported once: {err}"
        );
    }

    #[test]
    fn environment_values_are_checked_and_named() {
        let err = Config::parse("", |key| {
            (key == "SWITCHBOARD_LISTEN").then(|| "localhost".into())
        })
        .unwrap_err();
        assert!(
            err.0[0].starts_with("server.listen: ")
                && err.0[0].ends_with("(the value comes from SWITCHBOARD_LISTEN)"),
            "{err}"
        );
        let config = Config::parse("[storage]\ndata_dir = \"here\"\n", |key| match key {
            "SWITCHBOARD_DATA_DIR" => Some("/srv/data".into()),
            "SWITCHBOARD_LISTEN" => Some("0.0.0.0:9000".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.storage.data_dir, Path::new("/srv/data"));
        assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000");
    }

    #[test]
    fn passwords_in_database_urls_are_masked() {
        for (url, shown) in [
            (
                "postgres://sb:hunter2@db.internal:5432/sb",
                "postgres://sb:****@db.internal:5432/sb",
            ),
            (
                "postgres://sb:p@ss:w/rd@db/sb?sslmode=require",
                "postgres://sb:****@db/sb?sslmode=require",
            ),
            (
                "postgres://db/sb?user=sb&password=hunter2",
                "postgres://db/sb?user=sb&password=****",
            ),
            ("postgres://sb@db/sb", "postgres://sb@db/sb"),
            (
                "sqlite://data/switchboard.db",
                "sqlite://data/switchboard.db",
            ),
            ("sqlite:///var/lib/s@b/sb.db", "sqlite:///var/lib/s@b/sb.db"),
        ] {
            assert_eq!(redact_url(url), shown);
        }
        let storage = StorageConfig::default();
        let shown = storage.database_display();
        let here = std::env::current_dir().unwrap().join("data/switchboard.db");
        assert_eq!(
            shown,
            format!("sqlite://data/switchboard.db ({})", here.display())
        );
        let storage = StorageConfig {
            database_url: "sqlite:///var/lib/switchboard/switchboard.db".into(),
            ..StorageConfig::default()
        };
        assert_eq!(
            storage.database_display(),
            "sqlite:///var/lib/switchboard/switchboard.db"
        );
    }

    const EXAMPLE: &str = include_str!("../deploy/switchboard.example.toml");

    #[test]
    fn example_config_shows_the_defaults_except_where_it_says_not() {
        let mut section = String::new();
        let mut checked = 0;
        for line in EXAMPLE.lines() {
            if line.starts_with("[[channel]]") || line.starts_with("# [[channel]]") {
                break;
            }
            if let Some(name) = line.strip_prefix('[') {
                section = name.trim_end_matches(']').to_owned();
                continue;
            }
            if line.starts_with('#') || !line.contains(" = ") {
                continue;
            }
            let alone = Config::from_toml(&format!("[{section}]\n{line}\n")).unwrap();
            let is_default = format!("{alone:?}") == format!("{:?}", Config::default());
            assert_eq!(
                is_default,
                !line.contains("not the default"),
                "[{section}] {line}"
            );
            checked += 1;
        }
        assert!(checked >= 9, "{checked} lines checked");
        let ChannelConfig::Api(website) = &Config::parse(EXAMPLE, |key| {
            (key == "SWITCHBOARD_CHANNEL_WEBSITE_SECRET").then(|| "a-real-secret-0123456789".into())
        })
        .unwrap()
        .channels[0] else {
            panic!("the example's first channel is the api one")
        };
        assert_eq!(website.timeout, default_webhook_timeout());
    }

    #[test]
    fn every_placeholder_of_the_example_is_refused() {
        // Every commented-out line that is TOML, uncommented: all channels of the example.
        let uncommented: String = EXAMPLE
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(rest)
                    if rest.starts_with('[')
                        || rest
                            .split_once(" = ")
                            .is_some_and(|(k, _)| !k.contains(' ')) =>
                {
                    rest
                }
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n");
        let err = Config::parse(&uncommented, no_env).unwrap_err();
        for key in [
            "channel \"website\".secret: still the example placeholder; put the real value here or in SWITCHBOARD_CHANNEL_WEBSITE_SECRET",
            "channel \"website\".webhook_url: example.invalid is the example placeholder",
            "channel \"wallet-bot\".token: still the example placeholder",
            "channel \"discord\".token: still the example placeholder",
            "channel \"support-mail\".address: example.invalid is the example placeholder",
            "channel \"support-mail\".imap.host: imap.example.invalid",
            "channel \"support-mail\".imap.password: still the example placeholder",
            "channel \"support-mail\".smtp.host: smtp.example.invalid",
            "channel \"support-mail\".smtp.password: still the example placeholder",
        ] {
            assert!(
                err.0.iter().any(|e| e.starts_with(key)),
                "{key:?} not in {err}"
            );
        }
        assert!(
            !err.0.iter().any(|e| e.contains("not a bot token")),
            "a placeholder token is reported once: {err}"
        );
    }
}
