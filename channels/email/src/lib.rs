//! Switchboard's email channel: one support mailbox read over IMAP (IDLE, polling where the server
//! lacks it) and answered over SMTP. MIME is parsed by mail-parser, the new text is separated from
//! quoted history, and replies thread back to their conversation by signed Message-IDs and stored
//! references, scoped to the conversation's contact.

pub mod config;
pub mod convert;
mod imap;
mod inbound;
pub mod quote;
pub mod smtp;
pub mod thread;
mod tls;

pub use config::{EmailConfig, ImapConfig, SmtpConfig, TlsMode};
pub use inbound::Cursor;

use async_trait::async_trait;
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use switchboard_core::{Channel, ChannelError, InboundSink, Outbound, SendError, SendReceipt};
use tokio_util::sync::CancellationToken;

pub struct EmailChannel {
    config: EmailConfig,
    /// The channel address and its aliases: never a customer, never copied.
    own_addresses: Vec<String>,
    domain: String,
    thread_secret: SecretString,
    imap_tls: tokio_rustls::TlsConnector,
    smtp: smtp::Transport,
}

impl EmailChannel {
    /// `default_secret` signs Message-IDs when the config sets no `thread_secret`: the daemon
    /// passes its instance secret so ids stay valid across restarts.
    pub fn new(config: EmailConfig, default_secret: &[u8]) -> Result<Self, ChannelError> {
        let errors = config.validate("channel");
        if !errors.is_empty() {
            return Err(ChannelError::Config(errors.join("; ")));
        }
        let own_address = config.own_address();
        let domain = own_address
            .split_once('@')
            .map(|(_, d)| d.to_owned())
            .unwrap_or_default();
        let thread_secret = config.thread_secret.clone().unwrap_or_else(|| {
            SecretString::from(String::from_utf8_lossy(default_secret).into_owned())
        });
        if thread_secret.expose_secret().len() < 16 {
            return Err(ChannelError::Config(
                "thread_secret: at least 16 characters".into(),
            ));
        }
        Ok(Self {
            imap_tls: tls::connector(config.imap.ca_file.as_deref())?,
            smtp: smtp::transport(&config.smtp)?,
            own_addresses: config.own_addresses(),
            domain,
            thread_secret,
            config,
        })
    }

    pub fn config(&self) -> &EmailConfig {
        &self.config
    }

    fn is_ours(&self, address: &str) -> bool {
        self.own_addresses.iter().any(|a| a == address)
    }

    fn thread_secret(&self) -> &[u8] {
        self.thread_secret.expose_secret().as_bytes()
    }
}

#[async_trait]
impl Channel for EmailChannel {
    fn name(&self) -> &str {
        &self.config.name
    }

    fn kind(&self) -> &'static str {
        "email"
    }

    async fn run(
        &self,
        sink: Arc<dyn InboundSink>,
        shutdown: CancellationToken,
    ) -> Result<(), ChannelError> {
        inbound::run(self, sink, shutdown).await
    }

    async fn send(&self, message: &Outbound) -> Result<SendReceipt, SendError> {
        let composer = smtp::Composer {
            from: &self.config.address,
            domain: &self.domain,
            secret: self.thread_secret(),
        };
        let (mail, id) = composer.compose(message)?;
        match smtp::send(&self.smtp, &mail).await {
            // A copied address the server refuses (RCPT 550) must not keep the answer from the
            // customer: the same mail goes to the recipient alone.
            Err(SendError::Permanent { reason }) if !message.cc.is_empty() => {
                tracing::warn!(channel = %self.config.name, reason,
                    "refused with its Cc: sending to the recipient alone");
                let alone = Outbound {
                    cc: Vec::new(),
                    ..message.clone()
                };
                smtp::send(&self.smtp, &composer.compose(&alone)?.0).await?;
            }
            sent => sent?,
        }
        Ok(SendReceipt {
            external_id: Some(id),
        })
    }
}
