//! Errors an adapter reports, already classified so the daemon never has to guess.

use std::time::Duration;

/// The outcome of a failed `Channel::send`: either a retry can help, or it cannot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Temporary (network, 5xx, rate limit): try again, not before `after` when the platform said so.
    #[error("temporary failure: {reason}")]
    Retry {
        reason: String,
        after: Option<Duration>,
    },
    /// Will never succeed (blocked by the user, 4xx, SMTP 5xx): shown to the agent as the reason.
    #[error("permanent failure: {reason}")]
    Permanent { reason: String },
}

impl SendError {
    pub fn retry(reason: impl Into<String>) -> Self {
        Self::Retry {
            reason: reason.into(),
            after: None,
        }
    }

    pub fn retry_after(reason: impl Into<String>, after: Duration) -> Self {
        Self::Retry {
            reason: reason.into(),
            after: Some(after),
        }
    }

    pub fn permanent(reason: impl Into<String>) -> Self {
        Self::Permanent {
            reason: reason.into(),
        }
    }

    pub fn reason(&self) -> &str {
        match self {
            Self::Retry { reason, .. } | Self::Permanent { reason } => reason,
        }
    }
}

/// The store could not commit a batch; the adapter must not acknowledge upstream and should retry.
#[derive(Debug, thiserror::Error)]
#[error("inbound sink: {0}")]
pub struct SinkError(pub String);

/// Why an inbound loop stopped.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// Wrong token or credentials: restarting will not help until the operator fixes the config.
    #[error("configuration: {0}")]
    Config(String),
    /// Network or platform trouble: the supervisor restarts the loop with backoff.
    #[error("transient: {0}")]
    Transient(String),
    #[error(transparent)]
    Sink(#[from] SinkError),
}
