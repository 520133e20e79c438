//! Discord's answers classified: a retry can help (429, 5xx, network) or it cannot (403, 404,
//! 50007, other 4xx), with the reason the agent sees.

use serenity::http::HttpError;
use switchboard_core::SendError;

/// Cannot send messages to this user: they closed their DMs or share no server with the bot.
const CANNOT_MESSAGE_USER: isize = 50007;
/// Unknown Channel: the channel or thread was deleted.
pub(crate) const UNKNOWN_CHANNEL: isize = 10003;
/// A thread already exists for this message.
pub(crate) const THREAD_EXISTS: isize = 160004;

/// Discord's JSON error code of an unsuccessful request, if that is what `error` is.
pub(crate) fn code_of(error: &serenity::Error) -> Option<isize> {
    match error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(response)) => {
            Some(response.error.code)
        }
        _ => None,
    }
}

/// Whether retrying can help, and the reason the agent sees.
pub(crate) fn classify(error: serenity::Error) -> SendError {
    match &error {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(response)) => {
            let status = response.status_code.as_u16();
            let code = response.error.code;
            let message = &response.error.message;
            match (status, code) {
                (_, CANNOT_MESSAGE_USER) => SendError::permanent(
                    "Discord: cannot send messages to this user (50007): they closed their DMs \
                     or share no server with the bot",
                ),
                (403, _) => SendError::permanent(format!(
                    "Discord refused (403, code {code}): {message}; check the bot's permissions \
                     in this channel"
                )),
                (404, _) => SendError::permanent(format!(
                    "Discord: the channel or thread no longer exists (404, code {code})"
                )),
                (429, _) | (500..=599, _) => {
                    SendError::retry(format!("Discord {status}: {message}"))
                }
                _ => SendError::permanent(format!("Discord {status} (code {code}): {message}")),
            }
        }
        // Network trouble, timeouts, a ratelimiter hiccup: a later attempt may succeed.
        _ => SendError::retry(format!("Discord: {}", chain(&error))),
    }
}

/// An error with its causes ("sending HTTP request: connection refused"): serenity's own
/// message alone rarely says what went wrong.
pub(crate) fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
