//! One IMAP session: connect (implicit TLS, STARTTLS or loopback plain), log in, select. Every
//! command runs under the configured timeout so a dead peer ends the session instead of hanging it.

use crate::config::{ImapConfig, TlsMode};
use secrecy::ExposeSecret;
use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;
use switchboard_core::ChannelError;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + Debug {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Debug> Io for T {}

pub type Stream = Box<dyn Io>;
pub type Session = async_imap::Session<Stream>;

pub fn transient(what: &str, e: impl std::fmt::Display) -> ChannelError {
    ChannelError::Transient(format!("IMAP {what}: {e}"))
}

/// Runs one IMAP step under `limit`; a timeout is a transient failure of the session.
pub async fn timed<T, E: std::fmt::Display>(
    limit: Duration,
    what: &str,
    step: impl Future<Output = Result<T, E>>,
) -> Result<T, ChannelError> {
    match tokio::time::timeout(limit, step).await {
        Ok(result) => result.map_err(|e| transient(what, e)),
        Err(_) => Err(transient(what, format!("no answer within {limit:?}"))),
    }
}

async fn tls_wrap(
    stream: Stream,
    host: &str,
    tls: &tokio_rustls::TlsConnector,
) -> Result<Stream, ChannelError> {
    let name = rustls_pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| ChannelError::Config(format!("imap.host {host:?}: {e}")))?;
    let stream = tls
        .connect(name, stream)
        .await
        .map_err(|e| transient("TLS handshake", e))?;
    Ok(Box::new(stream))
}

/// A logged-in session with `config.mailbox` selected, and whether the server offers IDLE.
pub async fn open(
    config: &ImapConfig,
    tls: &tokio_rustls::TlsConnector,
) -> Result<(Session, async_imap::types::Mailbox, bool), ChannelError> {
    let limit = config.timeout;
    let address = (config.host.as_str(), config.port());
    let tcp = timed(limit, "connect", TcpStream::connect(address)).await?;
    let _ = tcp.set_nodelay(true);
    let mut stream: Stream = Box::new(tcp);
    if config.tls == TlsMode::Implicit {
        stream = tls_wrap(stream, &config.host, tls).await?;
    }
    let mut client = async_imap::Client::new(stream);
    timed(limit, "greeting", async {
        client
            .read_response()
            .await?
            .ok_or(std::io::Error::from(std::io::ErrorKind::UnexpectedEof))
    })
    .await?;
    if config.tls == TlsMode::Starttls {
        timed(
            limit,
            "STARTTLS",
            client.run_command_and_check_ok("STARTTLS", None),
        )
        .await?;
        let stream = tls_wrap(client.into_inner(), &config.host, tls).await?;
        client = async_imap::Client::new(stream);
    }
    let login = client.login(&config.username, config.password.expose_secret());
    let mut session = match tokio::time::timeout(limit, login).await {
        Err(_) => return Err(transient("login", "no answer")),
        // The password is not in the error: async-imap reports only the server's text.
        Ok(Err((e, _))) => {
            return Err(ChannelError::Transient(format!(
                "IMAP login as {:?} refused: {e} (check username and password)",
                config.username
            )));
        }
        Ok(Ok(session)) => session,
    };
    let capabilities = timed(limit, "CAPABILITY", session.capabilities()).await?;
    let idle = capabilities.has_str("IDLE");
    let mailbox = timed(limit, "SELECT", session.select(&config.mailbox)).await?;
    Ok((session, mailbox, idle))
}
