//! Agents and their API tokens. A token is `sb_<prefix>_<secret>` with 192 random bits in the
//! secret: its SHA-256 is stored and looked up by index, so a database leak reveals no usable
//! token and checking one costs a hash, not an argon2 run (argon2 is for human passwords, whose
//! guessable entropy needs it). Tokens made before that carry an argon2 hash, verified once
//! (a few at a time) and then given their SHA-256.

use super::*;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordVerifier};

#[derive(sqlx::FromRow)]
struct AgentRow {
    id: i64,
    name: String,
    email: String,
    role: String,
    created_at: i64,
    disabled_at: Option<i64>,
}

impl From<AgentRow> for Agent {
    fn from(row: AgentRow) -> Self {
        Agent {
            id: row.id,
            name: row.name,
            email: row.email,
            role: Role::parse(&row.role).unwrap_or(Role::Agent),
            created_at: from_millis(row.created_at),
            disabled: row.disabled_at.is_some(),
        }
    }
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source is available");
    hex::encode(buf)
}

impl Repo {
    /// Creates an agent and its first API token; the token is returned once and never stored.
    pub async fn create_agent(
        &self,
        name: &str,
        email: &str,
        role: Role,
    ) -> Result<(Agent, String)> {
        if name.trim().is_empty() || !email.contains('@') {
            return Err(StoreError::Invalid(
                "an agent needs a name and an email address".into(),
            ));
        }
        let mut tx = begin_write(&self.pool).await?;
        let row: AgentRow = sqlx::query_as(
            "INSERT INTO agents (name, email, role, created_at) VALUES ($1, $2, $3, $4)
             RETURNING id, name, email, role, created_at, disabled_at",
        )
        .bind(name.trim())
        .bind(email.trim())
        .bind(role.as_str())
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict(format!(
                "an agent with email {email} exists (a revoked one comes back with \
                 `switchboard agent restore {email}`, a lost token is replaced with \
                 `switchboard agent token {email}`)"
            )),
            e => e.into(),
        })?;
        let token = self.add_token(&mut tx, row.id).await?;
        tx.commit().await?;
        Ok((row.into(), token))
    }

    async fn add_token(&self, tx: &mut Conn, agent_id: i64) -> Result<String> {
        let prefix = random_hex(6);
        let secret = random_hex(24);
        let token = format!("sb_{prefix}_{secret}");
        sqlx::query(
            "INSERT INTO api_tokens (agent_id, prefix, token_hash, token_sha256, created_at)
             VALUES ($1, $2, 'sha256', $3, $4)",
        )
        .bind(agent_id)
        .bind(&prefix)
        .bind(token_digest(&token))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        Ok(token)
    }

    pub async fn list_agents(&self) -> Result<Vec<Agent>> {
        let rows: Vec<AgentRow> = sqlx::query_as(
            "SELECT id, name, email, role, created_at, disabled_at FROM agents ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Agent::from).collect())
    }

    pub async fn agent(&self, id: i64) -> Result<Agent> {
        let row: Option<AgentRow> = sqlx::query_as(
            "SELECT id, name, email, role, created_at, disabled_at FROM agents WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Agent::from).ok_or(StoreError::NotFound)
    }

    /// A new token for an active agent (by id or email), optionally revoking its others;
    /// returns how many were revoked.
    pub async fn issue_token(
        &self,
        id_or_email: &str,
        revoke_others: bool,
    ) -> Result<(Agent, String, u64)> {
        let mut tx = begin_write(&self.pool).await?;
        let (id, disabled) = find_agent(&mut tx, id_or_email).await?;
        if disabled {
            return Err(StoreError::Conflict(format!(
                "agent {id_or_email} is revoked: `switchboard agent restore {id_or_email}` enables it with a new token"
            )));
        }
        let revoked = if revoke_others {
            sqlx::query(
                "UPDATE api_tokens SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
            .rows_affected()
        } else {
            0
        };
        let token = self.add_token(&mut tx, id).await?;
        tx.commit().await?;
        Ok((self.agent(id).await?, token, revoked))
    }

    /// Enables a revoked agent again with a new token; its old tokens stay revoked.
    pub async fn restore_agent(&self, id_or_email: &str) -> Result<(Agent, String)> {
        let mut tx = begin_write(&self.pool).await?;
        let (id, disabled) = find_agent(&mut tx, id_or_email).await?;
        if !disabled {
            return Err(StoreError::Conflict(format!(
                "agent {id_or_email} is active: `switchboard agent token {id_or_email}` gives it another token"
            )));
        }
        sqlx::query("UPDATE agents SET disabled_at = NULL WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        let token = self.add_token(&mut tx, id).await?;
        tx.commit().await?;
        Ok((self.agent(id).await?, token))
    }

    /// Disables the agent (found by id or email) and revokes all of its tokens.
    pub async fn revoke_agent(&self, id_or_email: &str) -> Result<Agent> {
        let mut tx = begin_write(&self.pool).await?;
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM agents WHERE email = $1 OR CAST(id AS TEXT) = $1")
                .bind(id_or_email)
                .fetch_optional(&mut *tx)
                .await?;
        let id = id.ok_or(StoreError::NotFound)?;
        let now = now_ms();
        sqlx::query("UPDATE agents SET disabled_at = COALESCE(disabled_at, $2) WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $2 WHERE agent_id = $1 AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.agent(id).await
    }

    /// The active agent owning `token`, if the token is valid and not revoked.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Agent>> {
        let Some((prefix, secret)) = token
            .strip_prefix("sb_")
            .and_then(|rest| rest.split_once('_'))
        else {
            return Ok(None);
        };
        // Bounded before any work: a token is 59 characters.
        if prefix.len() != 12 || secret.len() > 128 {
            return Ok(None);
        }
        let digest = token_digest(token);
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT t.token_sha256, t.agent_id FROM api_tokens t JOIN agents a ON a.id = t.agent_id
             WHERE t.token_sha256 = $1 AND t.revoked_at IS NULL AND a.disabled_at IS NULL",
        )
        .bind(&digest)
        .fetch_optional(&self.pool)
        .await?;
        if let Some((stored, agent_id)) = row {
            // The index found it by equality already; compare again in constant time anyway,
            // so no timing of the lookup path tells how close a guess was.
            if switchboard_core::secrets_match(stored.as_bytes(), digest.as_bytes()) {
                return self.agent(agent_id).await.map(Some);
            }
            return Ok(None);
        }
        self.authenticate_legacy(prefix, secret, &digest).await
    }

    /// A token from before SHA-256 hashing: argon2, a few at a time (each run takes 19 MiB),
    /// then the token gets its SHA-256 so this happens once per token.
    async fn authenticate_legacy(
        &self,
        prefix: &str,
        secret: &str,
        digest: &str,
    ) -> Result<Option<Agent>> {
        static ARGON2_RUNS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
        let row: Option<(i64, String, i64)> = sqlx::query_as(
            "SELECT t.id, t.token_hash, t.agent_id FROM api_tokens t
             JOIN agents a ON a.id = t.agent_id
             WHERE t.prefix = $1 AND t.token_sha256 IS NULL AND t.revoked_at IS NULL
                 AND a.disabled_at IS NULL",
        )
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await?;
        let Some((token_id, hash, agent_id)) = row else {
            return Ok(None);
        };
        let _permit = ARGON2_RUNS
            .acquire()
            .await
            .map_err(|_| StoreError::Unavailable("shutting down".into()))?;
        let secret = secret.to_owned();
        let valid = tokio::task::spawn_blocking(move || {
            PasswordHash::new(&hash)
                .map(|parsed| {
                    Argon2::default()
                        .verify_password(secret.as_bytes(), &parsed)
                        .is_ok()
                })
                .unwrap_or(false)
        })
        .await
        .unwrap_or(false);
        if !valid {
            return Ok(None);
        }
        sqlx::query("UPDATE api_tokens SET token_sha256 = $2 WHERE id = $1")
            .bind(token_id)
            .bind(digest)
            .execute(&self.pool)
            .await?;
        self.agent(agent_id).await.map(Some)
    }

    /// Changes whenever a token is revoked or an agent disabled: live streams re-check their
    /// token when it moves.
    pub async fn revocation_mark(&self) -> Result<(i64, i64, i64)> {
        Ok(sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM api_tokens WHERE revoked_at IS NOT NULL),
                    (SELECT COALESCE(MAX(revoked_at), 0) FROM api_tokens),
                    (SELECT CAST(COALESCE(SUM(disabled_at), 0) AS BIGINT) FROM agents
                     WHERE disabled_at IS NOT NULL)",
        )
        .fetch_one(&self.pool)
        .await?)
    }
}

/// Hex SHA-256 of a whole token: what the database keeps of it.
fn token_digest(token: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The agent's id and whether it is disabled, by id or email.
async fn find_agent(conn: &mut Conn, id_or_email: &str) -> Result<(i64, bool)> {
    let found: Option<(i64, Option<i64>)> = sqlx::query_as(
        "SELECT id, disabled_at FROM agents WHERE email = $1 OR CAST(id AS TEXT) = $1",
    )
    .bind(id_or_email.trim())
    .fetch_optional(&mut *conn)
    .await?;
    found
        .map(|(id, disabled)| (id, disabled.is_some()))
        .ok_or(StoreError::NotFound)
}
