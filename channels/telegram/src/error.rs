//! Bot API errors classified for the outbox: retry (maybe after N s) or give up with a reason.

use switchboard_core::SendError;
use teloxide::{ApiError, RequestError};

pub fn classify(error: &RequestError) -> SendError {
    match error {
        RequestError::RetryAfter(seconds) => {
            SendError::retry_after("Telegram rate limit (429)", seconds.duration())
        }
        RequestError::Network(e) => SendError::retry(format!("network error: {e}")),
        RequestError::Io(e) => SendError::retry(format!("I/O error: {e}")),
        // A proxy's HTML error page or a truncated answer: the next try may be fine.
        RequestError::InvalidJson { .. } => SendError::retry("unreadable answer from the Bot API"),
        RequestError::MigrateToChatId(chat) => SendError::permanent(format!(
            "the group was upgraded to a supergroup (new chat id {chat})"
        )),
        RequestError::Api(api) => classify_api(api),
    }
}

fn classify_api(api: &ApiError) -> SendError {
    match api {
        ApiError::BotBlocked => SendError::permanent("Forbidden: bot was blocked by the user"),
        ApiError::UserDeactivated => SendError::permanent("Forbidden: user is deactivated"),
        ApiError::InvalidToken => SendError::permanent("the bot token was rejected"),
        ApiError::Unknown(text) if is_server_side(text) => {
            SendError::retry(format!("Bot API: {text}"))
        }
        other => SendError::permanent(format!("Bot API: {other}")),
    }
}

/// teloxide keeps only the description of an error answer; 5xx ones read like these.
fn is_server_side(description: &str) -> bool {
    let d = description.to_ascii_lowercase();
    [
        "internal server error",
        "bad gateway",
        "service unavailable",
        "gateway timeout",
        "too many requests",
    ]
    .iter()
    .any(|s| d.contains(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocked_is_permanent_and_server_errors_retry() {
        assert!(matches!(
            classify(&RequestError::Api(ApiError::BotBlocked)),
            SendError::Permanent { .. }
        ));
        assert!(matches!(
            classify(&RequestError::Api(ApiError::Unknown(
                "Internal Server Error".into()
            ))),
            SendError::Retry { .. }
        ));
        assert!(matches!(
            classify(&RequestError::Api(ApiError::Unknown(
                "Bad Request: message text is empty".into()
            ))),
            SendError::Permanent { .. }
        ));
        let limited = classify(&RequestError::RetryAfter(
            teloxide::types::Seconds::from_seconds(7),
        ));
        assert_eq!(
            limited,
            SendError::retry_after(
                "Telegram rate limit (429)",
                std::time::Duration::from_secs(7)
            )
        );
    }
}
