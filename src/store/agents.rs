//! Agents and their API tokens. A token is `sb_<prefix>_<secret>`: the prefix finds the row, the
//! secret is verified against its argon2 hash, so a database leak reveals no usable token.

use super::{Agent, Result, Role, Store, StoreError, from_millis, now_ms};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

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

impl Store {
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
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row: AgentRow = sqlx::query_as(
            "INSERT INTO agents (name, email, role, created_at) VALUES (?1, ?2, ?3, ?4)
             RETURNING id, name, email, role, created_at, disabled_at",
        )
        .bind(name.trim())
        .bind(email.trim())
        .bind(role.as_str())
        .bind(now_ms())
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match e {
            sqlx::Error::Database(d) if d.is_unique_violation() => {
                StoreError::Conflict(format!("an agent with email {email} exists"))
            }
            e => e.into(),
        })?;
        let token = self.add_token(&mut tx, row.id).await?;
        tx.commit().await?;
        Ok((row.into(), token))
    }

    async fn add_token(&self, tx: &mut sqlx::SqliteConnection, agent_id: i64) -> Result<String> {
        let prefix = random_hex(6);
        let secret = random_hex(24);
        let salt = SaltString::encode_b64(random_hex(16).as_bytes())
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        let hash = Argon2::default()
            .hash_password(secret.as_bytes(), &salt)
            .map_err(|e| StoreError::Invalid(e.to_string()))?
            .to_string();
        sqlx::query(
            "INSERT INTO api_tokens (agent_id, prefix, token_hash, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .bind(agent_id)
        .bind(&prefix)
        .bind(hash)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        Ok(format!("sb_{prefix}_{secret}"))
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
            "SELECT id, name, email, role, created_at, disabled_at FROM agents WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(Agent::from).ok_or(StoreError::NotFound)
    }

    /// Disables the agent (found by id or email) and revokes all of its tokens.
    pub async fn revoke_agent(&self, id_or_email: &str) -> Result<Agent> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let id: Option<i64> =
            sqlx::query_scalar("SELECT id FROM agents WHERE email = ?1 OR CAST(id AS TEXT) = ?1")
                .bind(id_or_email)
                .fetch_optional(&mut *tx)
                .await?;
        let id = id.ok_or(StoreError::NotFound)?;
        let now = now_ms();
        sqlx::query("UPDATE agents SET disabled_at = COALESCE(disabled_at, ?2) WHERE id = ?1")
            .bind(id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = ?2 WHERE agent_id = ?1 AND revoked_at IS NULL",
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
        let row: Option<(String, i64)> = sqlx::query_as(
            "SELECT t.token_hash, t.agent_id FROM api_tokens t JOIN agents a ON a.id = t.agent_id
             WHERE t.prefix = ?1 AND t.revoked_at IS NULL AND a.disabled_at IS NULL",
        )
        .bind(prefix)
        .fetch_optional(&self.pool)
        .await?;
        let Some((hash, agent_id)) = row else {
            return Ok(None);
        };
        let secret = secret.to_owned();
        // argon2 is deliberately slow: keep it off the async workers.
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
        self.agent(agent_id).await.map(Some)
    }
}
