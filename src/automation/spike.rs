//! Spike alerts (`[spike]`): more than `threshold` new conversations of one intake category, or
//! mentioning one keyword, within `window` (an outage, a phishing wave) start an episode, which
//! fires a `spike.detected` event and one webhook; it ends when the count falls back.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpikeConfig {
    /// More new conversations than this in `window` are a spike; 0 turns alerts off.
    pub threshold: u32,
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    /// Watch every intake category of the front desk.
    pub categories: bool,
    /// Words or phrases, each watched on its own (case-insensitive, in the customers' messages).
    pub keywords: Vec<String>,
    /// Where the alert is POSTed (JSON), once per episode.
    pub webhook_url: Option<String>,
    /// Signs the webhook body (`X-Switchboard-Signature: sha256=<hex HMAC>`).
    pub webhook_secret: Option<SecretString>,
    #[serde(with = "humantime_serde")]
    pub webhook_timeout: Duration,
}

impl Default for SpikeConfig {
    fn default() -> Self {
        Self {
            threshold: 0,
            window: Duration::from_secs(15 * 60),
            categories: true,
            keywords: Vec::new(),
            webhook_url: None,
            webhook_secret: None,
            webhook_timeout: Duration::from_secs(10),
        }
    }
}

/// Keywords at most; each at most this long.
const MAX_KEYWORDS: usize = 100;
const MAX_KEYWORD_CHARS: usize = 100;

impl SpikeConfig {
    pub fn enabled(&self) -> bool {
        self.threshold > 0
    }

    pub fn window_ms(&self) -> i64 {
        i64::try_from(self.window.as_millis()).unwrap_or(i64::MAX)
    }

    pub fn validate(&self) -> Vec<String> {
        let mut errors = Vec::new();
        if self.window < Duration::from_secs(1) || self.window > Duration::from_secs(7 * 86_400) {
            errors.push("spike.window: from 1s to 7d".to_owned());
        }
        if self.keywords.len() > MAX_KEYWORDS {
            errors.push(format!("spike.keywords: at most {MAX_KEYWORDS}"));
        }
        for k in &self.keywords {
            let length = k.trim().chars().count();
            if length == 0 || length > MAX_KEYWORD_CHARS {
                errors.push(format!(
                    "spike.keywords: {k:?} must be 1 to {MAX_KEYWORD_CHARS} characters"
                ));
            }
        }
        if let Some(url) = &self.webhook_url {
            match reqwest::Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => {}
                Ok(_) => errors.push("spike.webhook_url: must be an http or https URL".to_owned()),
                Err(e) => errors.push(format!("spike.webhook_url: {e}")),
            }
        }
        if self
            .webhook_secret
            .as_ref()
            .is_some_and(|s| s.expose_secret().len() < 16)
        {
            errors.push("spike.webhook_secret: at least 16 characters".to_owned());
        }
        if self.webhook_timeout.is_zero() || self.webhook_timeout > Duration::from_secs(60) {
            errors.push("spike.webhook_timeout: from 1ms to 60s".to_owned());
        }
        if self.enabled() && !self.categories && self.keywords.is_empty() {
            errors.push("spike: nothing to watch (categories = false and no keywords)".to_owned());
        }
        errors
    }

    /// The keywords as the store matches them: trimmed, lower-case, each once.
    pub fn watched_keywords(&self) -> Vec<String> {
        let mut words: Vec<String> = self
            .keywords
            .iter()
            .map(|k| k.trim().to_lowercase())
            .filter(|k| !k.is_empty())
            .collect();
        words.sort();
        words.dedup();
        words
    }
}

/// Sends one spike alert to the configured webhook: a few attempts, each bounded by the
/// timeout; the answer's body is never read. Returns what to record (`delivered` or why not).
pub async fn notify(
    client: &reqwest::Client,
    config: &SpikeConfig,
    spike: &crate::store::Spike,
) -> Option<String> {
    let url = config.webhook_url.as_deref()?;
    let body = serde_json::json!({
        "event": "spike.detected",
        "spike": spike,
        "threshold": config.threshold,
        "window_seconds": config.window.as_secs(),
    });
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut outcome = String::new();
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(2u64.pow(attempt))).await;
        }
        let mut request = client
            .post(url)
            .timeout(config.webhook_timeout)
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(secret) = &config.webhook_secret {
            request = request.header(
                "X-Switchboard-Signature",
                crate::channels::api::signature(secret.expose_secret().as_bytes(), &body),
            );
        }
        outcome = match request.send().await {
            Ok(r) if r.status().is_success() => return Some("delivered".to_owned()),
            Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                return Some(format!("refused: HTTP {}", r.status().as_u16()));
            }
            Ok(r) => format!("HTTP {}", r.status().as_u16()),
            Err(e) if e.is_timeout() => "timed out".to_owned(),
            // Without the URL: its query may hold a token of the receiving service.
            Err(e) => e.without_url().to_string(),
        };
    }
    Some(format!("failed: {outcome}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mistake_of_the_section_is_listed() {
        let config: SpikeConfig = toml::from_str(
            r#"threshold = 5
window = "0s"
categories = false
keywords = ["", "  "]
webhook_url = "ftp://example.com"
webhook_secret = "short"
webhook_timeout = "2m""#,
        )
        .unwrap();
        let errors = config.validate();
        for needle in [
            "spike.window",
            "spike.keywords",
            "spike.webhook_url",
            "spike.webhook_secret",
            "spike.webhook_timeout",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(needle)),
                "{needle}: {errors:?}"
            );
        }
        assert!(SpikeConfig::default().validate().is_empty());
        assert!(!SpikeConfig::default().enabled());
        let words = SpikeConfig {
            keywords: vec![" Airdrop ".into(), "airdrop".into(), "钓鱼".into()],
            ..SpikeConfig::default()
        };
        assert_eq!(words.watched_keywords(), ["airdrop", "钓鱼"]);
    }
}
