//! The built-in `api` channel: customers' messages arrive over Switchboard's own HTTP API
//! (a website chat widget, another system), and agent replies are POSTed to the channel's
//! webhook, signed with HMAC-SHA256 of the raw body keyed with the channel's secret.

use crate::config::ApiChannelConfig;
use async_trait::async_trait;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sha2::Sha256;
use std::sync::Arc;
use std::time::Duration;
use switchboard_core::{Channel, ChannelError, InboundSink, Outbound, SendError, SendReceipt};
use tokio_util::sync::CancellationToken;

pub const SIGNATURE_HEADER: &str = "X-Switchboard-Signature";
/// Unix seconds when the webhook was signed; the receiver rejects old ones (replay protection).
pub const TIMESTAMP_HEADER: &str = "X-Switchboard-Timestamp";
/// `sha256=<hex HMAC-SHA256("<timestamp>.<body>")>`: binds the signature to its timestamp.
pub const TIMESTAMP_SIGNATURE_HEADER: &str = "X-Switchboard-Timestamp-Signature";
pub const DELIVERY_HEADER: &str = "X-Switchboard-Delivery";
/// Most of a webhook's answer that is read: only its id (or an error excerpt) is used.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;

pub struct ApiChannel {
    name: String,
    secret: SecretString,
    webhook_url: Option<reqwest::Url>,
    client: reqwest::Client,
}

/// The webhook body; its fields are part of the public contract.
#[derive(Serialize)]
struct WebhookBody<'a> {
    event: &'static str,
    channel: &'a str,
    message_id: i64,
    conversation_id: i64,
    thread_id: &'a str,
    recipient: Option<&'a str>,
    text: &'a str,
    reply_to: Option<&'a str>,
    agent: Option<&'a str>,
    attachments: Vec<WebhookAttachment<'a>>,
    /// Answers the website may show as buttons (a survey's 1 to 5); a press is posted back
    /// as the customer's message with the button's text. The text offers them too.
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    buttons: &'a [String],
}

#[derive(Serialize)]
struct WebhookAttachment<'a> {
    filename: &'a str,
    content_type: &'a str,
    data_base64: String,
}

impl ApiChannel {
    pub fn new(config: &ApiChannelConfig) -> Result<Self, ChannelError> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            // A redirect would re-send the signed body to an address nobody configured.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ChannelError::Config(e.to_string()))?;
        let webhook_url = config
            .webhook_url
            .as_deref()
            .map(reqwest::Url::parse)
            .transpose()
            .map_err(|e| ChannelError::Config(format!("webhook_url: {e}")))?;
        Ok(Self {
            name: config.name.clone(),
            secret: config.secret.clone(),
            webhook_url,
            client,
        })
    }

    /// Checks a presented secret (an inbound post's bearer token).
    pub fn verify_secret(&self, presented: &str) -> bool {
        switchboard_core::secrets_match(
            presented.as_bytes(),
            self.secret.expose_secret().as_bytes(),
        )
    }

    pub fn sign(&self, body: &[u8]) -> String {
        signature(self.secret.expose_secret().as_bytes(), body)
    }
}

/// `sha256=<hex HMAC-SHA256(body)>`, the value of the signature header.
pub fn signature(key: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

#[async_trait]
impl Channel for ApiChannel {
    fn name(&self) -> &str {
        &self.name
    }

    fn kind(&self) -> &'static str {
        "api"
    }

    fn exclusive_inbound(&self) -> bool {
        false
    }

    async fn run(
        &self,
        _sink: Arc<dyn InboundSink>,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError> {
        // Inbound arrives through the daemon's HTTP server; nothing to poll.
        shutdown.cancelled().await;
        Ok(())
    }

    async fn send(&self, message: &Outbound) -> Result<SendReceipt, SendError> {
        let Some(url) = &self.webhook_url else {
            return Err(SendError::permanent(format!(
                "channel {} has no webhook_url to deliver replies to",
                self.name
            )));
        };
        let body = serde_json::to_vec(&WebhookBody {
            event: "message.outbound",
            channel: &self.name,
            message_id: message.message_id,
            conversation_id: message.conversation_id,
            thread_id: &message.thread_id,
            recipient: message.recipient.as_deref(),
            text: &message.text,
            reply_to: message.reply_to.as_deref(),
            agent: message.agent_name.as_deref(),
            buttons: &message.buttons,
            attachments: message
                .attachments
                .iter()
                .map(|a| WebhookAttachment {
                    filename: &a.filename,
                    content_type: &a.content_type,
                    data_base64: base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        &a.data,
                    ),
                })
                .collect(),
        })
        .map_err(|e| SendError::permanent(format!("cannot encode webhook body: {e}")))?;
        let timestamp = chrono::Utc::now().timestamp().to_string();
        let timestamped = [timestamp.as_bytes(), b".", &body].concat();
        let mut response = self
            .client
            .post(url.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, self.sign(&body))
            .header(TIMESTAMP_HEADER, &timestamp)
            .header(TIMESTAMP_SIGNATURE_HEADER, self.sign(&timestamped))
            // Stable across retries, so the receiver can drop a repeated delivery.
            .header(DELIVERY_HEADER, &message.delivery_id)
            .body(body)
            .send()
            .await
            .map_err(|e| classify_transport(&e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, std::time::SystemTime::now()));
        // Read at most MAX_RESPONSE_BYTES: a receiver answering gigabytes costs us nothing.
        let mut text = Vec::new();
        let mut truncated = false;
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    let room = MAX_RESPONSE_BYTES - text.len();
                    if chunk.len() > room {
                        text.extend_from_slice(&chunk[..room]);
                        truncated = true;
                        break;
                    }
                    text.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                // The answer was cut off: judge by the status alone.
                Err(_) => break,
            }
        }
        let text = String::from_utf8_lossy(&text);
        if status.is_success() {
            if truncated {
                tracing::warn!(channel = %self.name, "webhook answer over {MAX_RESPONSE_BYTES} bytes: its id is not read");
            }
            return Ok(SendReceipt {
                external_id: if truncated { None } else { external_id(&text) },
            });
        }
        if status.is_redirection() {
            return Err(SendError::permanent(format!(
                "webhook answered {status}: redirects are not followed (configure the final address)"
            )));
        }
        let reason = format!("webhook answered {status}: {}", excerpt(&text));
        Err(classify_status(status, reason, retry_after))
    }
}

/// Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3); a date in the past means now.
fn parse_retry_after(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// 408, 429 and 5xx may pass; any other non-2xx answer will not change by retrying.
fn classify_status(status: StatusCode, reason: String, retry_after: Option<Duration>) -> SendError {
    match status {
        StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => SendError::Retry {
            reason,
            after: retry_after,
        },
        s if s.is_server_error() => SendError::Retry {
            reason,
            after: retry_after,
        },
        _ => SendError::permanent(reason),
    }
}

fn classify_transport(e: &reqwest::Error) -> SendError {
    if e.is_builder() {
        SendError::permanent(format!("webhook request invalid: {e}"))
    } else {
        // Connect, timeout, reset: the receiver may come back.
        SendError::retry(format!("webhook unreachable: {}", error_chain(e)))
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The receiver may answer `{"id": ...}` or `{"message_id": ...}` to name its copy.
fn external_id(body: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    ["id", "message_id"]
        .iter()
        .find_map(|key| match value.get(key)? {
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
}

fn excerpt(body: &str) -> String {
    let trimmed = body.trim();
    let mut end = trimmed.len().min(200);
    while !trimmed.is_char_boundary(end) {
        end -= 1;
    }
    if trimmed.is_empty() {
        "(empty body)".into()
    } else {
        trimmed[..end].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_a_known_hmac_sha256_vector() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn statuses_are_classified() {
        let r = |s: u16| classify_status(StatusCode::from_u16(s).unwrap(), "x".into(), None);
        assert!(matches!(r(500), SendError::Retry { .. }));
        assert!(matches!(r(503), SendError::Retry { .. }));
        assert!(matches!(r(429), SendError::Retry { .. }));
        assert!(matches!(r(408), SendError::Retry { .. }));
        assert!(matches!(r(400), SendError::Permanent { .. }));
        assert!(matches!(r(404), SendError::Permanent { .. }));
        assert!(matches!(r(410), SendError::Permanent { .. }));
    }

    #[test]
    fn external_id_is_read_from_string_or_number() {
        assert_eq!(external_id(r#"{"id":"abc"}"#).as_deref(), Some("abc"));
        assert_eq!(external_id(r#"{"message_id":42}"#).as_deref(), Some("42"));
        assert_eq!(external_id("ok"), None);
    }

    #[test]
    fn retry_after_takes_seconds_or_an_http_date() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(1_445_412_480);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("18446744073709551615", now),
            Some(Duration::from_secs(u64::MAX))
        );
        // 2015-10-21 07:28:00 GMT is `now`; 07:30:00 is 120 s later.
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:30:00 GMT", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[test]
    fn excerpt_cuts_on_a_char_boundary() {
        let long = "é".repeat(300);
        assert!(excerpt(&long).len() <= 200);
        assert_eq!(excerpt("  "), "(empty body)");
    }
}
