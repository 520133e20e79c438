//! The HTTP server loop (hyper, as `axum::serve` does it, plus what that lacks): a header-read
//! timeout, a cap on open connections, the client's address on every request (for the failed-
//! authentication limit and logs), and a graceful stop that waits a bounded time.

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::server::conn::http1::Builder;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

pub struct Limits {
    pub max_connections: usize,
    pub header_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client (`server.trusted_proxies`).
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
}

/// The client of a request from `peer`: the peer itself, or, when the peer is a trusted proxy,
/// the nearest address in `X-Forwarded-For` that is not one (the ones before it could be
/// written by the client itself).
pub fn client_of(
    peer: std::net::SocketAddr,
    headers: &axum::http::HeaderMap,
    trusted: &[ipnet::IpNet],
) -> std::net::SocketAddr {
    // An IPv4 proxy seen by a daemon listening on [::] arrives as ::ffff:a.b.c.d.
    let is_trusted =
        |ip: &std::net::IpAddr| trusted.iter().any(|net| net.contains(&ip.to_canonical()));
    if !is_trusted(&peer.ip()) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    for hop in forwarded.iter().rev() {
        // A hop that is not an address ends the chain that can be trusted.
        let Ok(ip) = hop.parse::<std::net::IpAddr>() else {
            break;
        };
        if !is_trusted(&ip) {
            return std::net::SocketAddr::new(ip, 0);
        }
    }
    peer
}

/// How long a stop waits for open requests before it drops them.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `router` until `shutdown`, then lets open requests finish (at most `DRAIN`).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let mut refused_logged = tokio::time::Instant::now() - Duration::from_secs(60);
    loop {
        let (stream, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            if refused_logged.elapsed() > Duration::from_secs(10) {
                tracing::warn!(max = limits.max_connections, %peer, "connection limit reached: closing new connections");
                refused_logged = tokio::time::Instant::now();
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let trusted = limits.trusted_proxies.clone();
        let (builder, watcher) = (builder.clone(), graceful.watcher());
        tokio::spawn(async move {
            let _permit = permit;
            let service = tower::service_fn(move |mut request: axum::extract::Request<_>| {
                let client = client_of(peer, request.headers(), &trusted);
                request.extensions_mut().insert(ConnectInfo(client));
                router.clone().oneshot(request)
            });
            let connection =
                builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("open connections did not finish within {DRAIN:?}; dropping them");
    }
}

#[cfg(test)]
mod tests {
    use super::client_of;
    use axum::http::HeaderMap;

    fn client(peer: &str, forwarded: &[&str], trusted: &[&str]) -> String {
        let mut headers = HeaderMap::new();
        for value in forwarded {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        let trusted: Vec<ipnet::IpNet> = trusted.iter().map(|t| t.parse().unwrap()).collect();
        client_of(peer.parse().unwrap(), &headers, &trusted)
            .ip()
            .to_string()
    }

    #[test]
    fn only_a_trusted_proxy_names_the_client_and_only_the_hops_it_vouches_for() {
        let proxies = ["10.0.0.0/8", "127.0.0.1/32"];
        // The usual case: the proxy appended the client's address.
        assert_eq!(
            client("10.1.2.3:5000", &["203.0.113.7"], &proxies),
            "203.0.113.7"
        );
        // A client writing its own header gets its own address appended after it: the
        // nearest untrusted hop is the real one.
        assert_eq!(
            client("10.1.2.3:5000", &["198.51.100.1, 203.0.113.7"], &proxies),
            "203.0.113.7"
        );
        // Two proxies in a row, in one header or in two.
        assert_eq!(
            client("127.0.0.1:5000", &["203.0.113.7, 10.9.9.9"], &proxies),
            "203.0.113.7"
        );
        assert_eq!(
            client("127.0.0.1:5000", &["203.0.113.7", "10.9.9.9"], &proxies),
            "203.0.113.7"
        );
        // Anyone else's header is ignored.
        assert_eq!(
            client("192.0.2.5:5000", &["203.0.113.7"], &proxies),
            "192.0.2.5"
        );
        assert_eq!(client("10.1.2.3:5000", &["203.0.113.7"], &[]), "10.1.2.3");
        // Garbage or a header of proxies only: the proxy itself.
        assert_eq!(
            client("10.1.2.3:5000", &["not-an-ip"], &proxies),
            "10.1.2.3"
        );
        assert_eq!(client("10.1.2.3:5000", &["10.0.0.9"], &proxies), "10.1.2.3");
        assert_eq!(client("10.1.2.3:5000", &[], &proxies), "10.1.2.3");
        // IPv6, and an IPv4 proxy seen by a daemon listening on [::].
        assert_eq!(
            client("[::1]:5000", &["2001:db8::1"], &["::1/128"]),
            "2001:db8::1"
        );
        assert_eq!(
            client("[::ffff:10.1.2.3]:5000", &["203.0.113.7"], &proxies),
            "203.0.113.7"
        );
    }
}
