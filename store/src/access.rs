//! Users, sessions and tokens as stored. Secrets never reach this module in the clear: the
//! server hashes passwords (argon2) and session/token values (SHA-256) before they come here.

use flowlens_core::{Credential, EmbedScope, Millis, Principal, Role, TokenInfo};
use crate::row::{word, Columns};

use crate::{Store, StoreError};

/// A user as sign-in needs it.
pub struct StoredUser {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub password_hash: String,
}

fn role(table: &'static str, text: &str) -> Result<Role, StoreError> {
    word(table, "role", text, |t| Role::parse(t).ok())
}

impl Store {
    pub async fn user_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(&self.pool).await?)
    }

    /// Adds a user, or says the name is taken (`Ok(false)`).
    pub async fn create_user(&self, name: &str, role: Role, password_hash: &str, now: Millis) -> Result<bool, StoreError> {
        let done = sqlx::query(
            "INSERT INTO users (name, role, password_hash, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(password_hash)
        .bind(now.0)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn user(&self, name: &str) -> Result<Option<StoredUser>, StoreError> {
        let row = sqlx::query("SELECT id, name, role, password_hash FROM users WHERE name = $1").bind(name).fetch_optional(&self.pool).await?;
        row.map(|r| {
            Ok(StoredUser { id: r.col("users", "id")?, name: r.col("users", "name")?, role: role("users", &r.col::<String>("users", "role")?)?, password_hash: r.col("users", "password_hash")? })
        })
        .transpose()
    }

    pub async fn create_session(&self, token_hash: &str, user_id: i64, csrf: &str, now: Millis, expires: Millis) -> Result<(), StoreError> {
        // Expired sessions are swept whenever someone signs in; nothing else needs them gone sooner.
        sqlx::query("DELETE FROM sessions WHERE expires_at < $1").bind(now.0).execute(&self.pool).await?;
        sqlx::query("INSERT INTO sessions (token_hash, user_id, csrf, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(token_hash)
            .bind(user_id)
            .bind(csrf)
            .bind(now.0)
            .bind(expires.0)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The person behind a live session, and the session's CSRF token.
    pub async fn session(&self, token_hash: &str, now: Millis) -> Result<Option<(Principal, String)>, StoreError> {
        let row = sqlx::query(
            "SELECT u.name, u.role, s.csrf FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token_hash = $1 AND s.expires_at > $2",
        )
        .bind(token_hash)
        .bind(now.0)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| {
            let who = Principal { name: r.col("sessions", "name")?, role: role("sessions", &r.col::<String>("sessions", "role")?)?, credential: Credential::Session };
            Ok((who, r.col("sessions", "csrf")?))
        })
        .transpose()
    }

    pub async fn end_session(&self, token_hash: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE token_hash = $1").bind(token_hash).execute(&self.pool).await?;
        Ok(())
    }

    pub async fn create_token(
        &self,
        name: &str,
        role: Role,
        scope: Option<&EmbedScope>,
        token_hash: &str,
        created_by: &str,
        now: Millis,
    ) -> Result<i64, StoreError> {
        Ok(sqlx::query_scalar(
            "INSERT INTO tokens (name, role, scope, token_hash, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(scope.map(EmbedScope::to_text))
        .bind(token_hash)
        .bind(created_by)
        .bind(now.0)
        .fetch_one(&self.pool)
        .await?)
    }

    /// The machine or embed behind an unrevoked token.
    pub async fn token(&self, token_hash: &str) -> Result<Option<Principal>, StoreError> {
        let row = sqlx::query("SELECT name, role, scope FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL")
            .bind(token_hash)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| {
            let credential = match r.col::<Option<String>>("tokens", "scope")? {
                Some(scope) => Credential::Embed(EmbedScope::parse(&scope).map_err(|reason| StoreError::Decode { table: "tokens", column: "scope", reason })?),
                None => Credential::Bearer,
            };
            Ok(Principal { name: r.col("tokens", "name")?, role: role("tokens", &r.col::<String>("tokens", "role")?)?, credential })
        })
        .transpose()
    }

    pub async fn tokens(&self) -> Result<Vec<TokenInfo>, StoreError> {
        let rows = sqlx::query("SELECT id, name, role, scope, created_by, created_at, revoked_at FROM tokens ORDER BY id DESC")
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter()
            .map(|r| {
                Ok(TokenInfo {
                    id: r.col("tokens", "id")?,
                    name: r.col("tokens", "name")?,
                    role: role("tokens", &r.col::<String>("tokens", "role")?)?,
                    scope: r.col("tokens", "scope")?,
                    created_by: r.col("tokens", "created_by")?,
                    created_at: Millis(r.col("tokens", "created_at")?),
                    revoked_at: r.col::<Option<i64>>("tokens", "revoked_at")?.map(Millis),
                })
            })
            .collect()
    }

    /// Revokes a token; `false` if there is no such token or it was revoked already.
    pub async fn revoke_token(&self, id: i64, now: Millis) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL").bind(now.0).bind(id).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }
}
