//! Bearer-token authentication for `/api/v1`. Verified tokens are cached briefly (by their
//! SHA-256, never in clear) because argon2 verification is deliberately slow.

use super::{ApiError, AppState};
use crate::store::Agent;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a verified token is trusted without asking the database again: a revoked token
/// stops working within this time.
const CACHE_TTL: Duration = Duration::from_secs(30);

#[derive(Default)]
pub struct AuthCache {
    entries: Mutex<HashMap<[u8; 32], (Agent, Instant)>>,
}

impl AuthCache {
    fn get(&self, key: &[u8; 32]) -> Option<Agent> {
        let mut entries = self.entries.lock().unwrap();
        match entries.get(key) {
            Some((agent, at)) if at.elapsed() < CACHE_TTL => Some(agent.clone()),
            Some(_) => {
                entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn put(&self, key: [u8; 32], agent: Agent) {
        let mut entries = self.entries.lock().unwrap();
        if entries.len() > 10_000 {
            entries.retain(|_, (_, at)| at.elapsed() < CACHE_TTL);
        }
        entries.insert(key, (agent, Instant::now()));
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

/// The authenticated agent making the request.
pub struct AuthAgent(pub Agent);

impl FromRequestParts<AppState> for AuthAgent {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized)?;
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(agent) = state.auth.get(&key) {
            return Ok(Self(agent));
        }
        let agent = state
            .store
            .authenticate(token)
            .await?
            .ok_or(ApiError::Unauthorized)?;
        state.auth.put(key, agent.clone());
        Ok(Self(agent))
    }
}
