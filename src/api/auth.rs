//! Bearer-token authentication and roles for `/api/v1`. Tokens are checked against the store
//! on every request (an indexed SHA-256 lookup), so a revoked token stops working at once.
//! Failed attempts are counted per client address; past a limit that address is refused for a
//! while without any check.

use super::{ApiError, AppState};
use crate::store::{Agent, Role};
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failed authentications one address may make per window before it is refused.
const MAX_FAILURES: u32 = 20;
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered at most; past it the oldest windows are dropped.
const MAX_TRACKED: usize = 10_000;

/// Failed authentications per client address in the current window.
#[derive(Default)]
pub struct AuthLimiter {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
    /// When each agent's activity was last written (see `Store::touch_agent`).
    seen: Mutex<HashMap<i64, Instant>>,
}

/// An agent's activity is written at most this often.
const SEEN_EVERY: Duration = Duration::from_secs(60);

impl AuthLimiter {
    /// Counts an attempt of `ip` as failed before checking it (so concurrent guesses cannot
    /// all pass the limit), or refuses it when the window's failures are used up.
    fn begin(&self, ip: IpAddr) -> bool {
        let mut failures = self.failures.lock().unwrap();
        if failures.len() >= MAX_TRACKED {
            failures.retain(|_, (_, since)| since.elapsed() < WINDOW);
        }
        let entry = failures.entry(ip).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= WINDOW {
            *entry = (0, Instant::now());
        }
        if entry.0 >= MAX_FAILURES {
            return false;
        }
        entry.0 += 1;
        true
    }

    /// Whether `agent`'s activity is due to be written again (and notes that it is).
    fn seen(&self, agent: i64) -> bool {
        let mut seen = self.seen.lock().unwrap();
        if seen.len() >= MAX_TRACKED {
            seen.retain(|_, at| at.elapsed() < SEEN_EVERY);
        }
        match seen.get(&agent) {
            Some(at) if at.elapsed() < SEEN_EVERY => false,
            _ => {
                seen.insert(agent, Instant::now());
                true
            }
        }
    }

    /// The attempt `begin` counted succeeded after all.
    fn succeeded(&self, ip: IpAddr) {
        if let Some(entry) = self.failures.lock().unwrap().get_mut(&ip) {
            entry.0 = entry.0.saturating_sub(1);
        }
    }
}

/// The `Bearer` value of the Authorization header, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The client's address, when the server recorded it (it always does outside unit tests).
pub fn client_ip(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The authenticated agent making the request (any role).
pub struct AuthAgent(pub Agent);

impl FromRequestParts<AppState> for AuthAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let ip = client_ip(parts);
        // No token at all is a client that has not logged in, not a guess: not counted.
        let Some(token) = bearer(parts) else {
            return Err(ApiError::Unauthorized);
        };
        if let Some(ip) = ip
            && !state.auth.begin(ip)
        {
            return Err(ApiError::TooManyRequests(
                "too many failed authentications from this address; wait a minute".into(),
            ));
        }
        match state.store.authenticate(token).await {
            Ok(Some(agent)) => {
                if let Some(ip) = ip {
                    state.auth.succeeded(ip);
                }
                if state.auth.seen(agent.id) {
                    // Off the request's path: presence only feeds the customers' expected wait.
                    let store = state.store.clone();
                    let id = agent.id;
                    tokio::spawn(async move {
                        if let Err(e) = store.touch_agent(id).await {
                            tracing::debug!(agent = id, error = %e, "agent activity not recorded");
                        }
                    });
                }
                Ok(Self(agent))
            }
            Ok(None) => {
                let ip = ip.map(|ip| ip.to_string()).unwrap_or_default();
                tracing::info!(%ip, path = %parts.uri.path(), "authentication failed");
                Err(ApiError::Unauthorized)
            }
            Err(e) => {
                // The store failed, not the client: do not hold it against the address.
                if let Some(ip) = ip {
                    state.auth.succeeded(ip);
                }
                Err(e.into())
            }
        }
    }
}

/// An authenticated agent with the admin role; any other agent gets 403.
pub struct AdminAgent(pub Agent);

impl FromRequestParts<AppState> for AdminAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let AuthAgent(agent) = AuthAgent::from_request_parts(parts, state).await?;
        if agent.role != Role::Admin {
            tracing::info!(agent = agent.id, path = %parts.uri.path(), "admin route refused to an agent");
            return Err(ApiError::Forbidden);
        }
        Ok(Self(agent))
    }
}
