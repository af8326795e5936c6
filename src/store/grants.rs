//! OAuth grants, codes and tokens (SPEC.md §4, POLICY.md 22): codes single-use for 10
//! minutes, bound to the grant (client, user, domain, hosts, scope), the redirect URI and the
//! PKCE challenge; refresh tokens rotate and a reused one revokes the grant. Codes and
//! tokens are stored as SHA-256 hashes.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use sqlx::Row;

use super::oauth::{hash_secret, new_secret};
use super::{Store, StoreError, millis};

/// How long an authorization code lives.
pub const CODE_LIFETIME: Duration = Duration::from_secs(600);

/// What a user allowed a client to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub id: String,
    pub client_id: String,
    pub username: String,
    /// The zone, lower-case, no trailing dot.
    pub domain: String,
    /// Hosts the grant covers; "" is the apex.
    pub hosts: Vec<String>,
    /// serviceIds.
    pub scope: Vec<String>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// The tokens of one issue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds.
    pub expires_in: i64,
}

/// Why a code or token was refused (each maps to `invalid_grant` or `invalid_token`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    #[error("unknown, expired or already used code")]
    BadCode,
    #[error("the code was issued for another client or redirect URI")]
    CodeMismatch,
    #[error("the PKCE code_verifier is missing or wrong")]
    Pkce,
    #[error("unknown or expired refresh token")]
    BadRefresh,
    #[error("the refresh token was used before; the grant is revoked")]
    RefreshReused,
    #[error("the grant was revoked")]
    Revoked,
}

fn id() -> String {
    let mut b = [0u8; 16];
    rand::fill(&mut b);
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The S256 PKCE transform of a verifier (RFC 7636).
pub fn pkce_s256(verifier: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()))
}

impl Store {
    fn grant_from(r: &sqlx::any::AnyRow) -> Result<Grant, StoreError> {
        let hosts: String = r.try_get("hosts")?;
        let scope: String = r.try_get("scope")?;
        Ok(Grant {
            id: r.try_get("id")?,
            client_id: r.try_get("client_id")?,
            username: r.try_get("username")?,
            domain: r.try_get("domain")?,
            hosts: serde_json::from_str(&hosts).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            scope: serde_json::from_str(&scope).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            created_at: r.try_get("created_at")?,
            revoked_at: r.try_get("revoked_at")?,
        })
    }

    pub async fn grant(&self, id: &str) -> Result<Option<Grant>, StoreError> {
        let row = sqlx::query("SELECT id, client_id, username, domain, hosts, scope, created_at, revoked_at FROM oauth_grants WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(Self::grant_from).transpose()
    }

    /// The grants a user gave that are not revoked.
    pub async fn grants_of(&self, username: &str) -> Result<Vec<Grant>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, client_id, username, domain, hosts, scope, created_at, revoked_at FROM oauth_grants \
             WHERE username = $1 AND revoked_at IS NULL ORDER BY created_at",
        )
        .bind(username)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::grant_from).collect()
    }

    /// Records a grant and returns a fresh authorization code for it.
    pub async fn create_grant(
        &self,
        grant: &Grant,
        redirect_uri: &str,
        pkce_challenge: Option<&str>,
        now: SystemTime,
    ) -> Result<(String, String), StoreError> {
        let gid = id();
        let code = new_secret();
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO oauth_grants (id, client_id, username, domain, hosts, scope, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&gid)
        .bind(&grant.client_id)
        .bind(&grant.username)
        .bind(&grant.domain)
        .bind(serde_json::to_string(&grant.hosts).unwrap_or_default())
        .bind(serde_json::to_string(&grant.scope).unwrap_or_default())
        .bind(millis(now))
        .execute(&mut *tx)
        .await?;
        sqlx::query("INSERT INTO oauth_codes (code_hash, grant_id, redirect_uri, pkce_challenge, expires_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(hash_secret(&code))
            .bind(&gid)
            .bind(redirect_uri)
            .bind(pkce_challenge)
            .bind(millis(now + CODE_LIFETIME))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok((gid, code))
    }

    async fn issue(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        grant_id: &str,
        access_ttl: i64,
        refresh_ttl: i64,
        now: SystemTime,
    ) -> Result<Tokens, StoreError> {
        let access = new_secret();
        let refresh = new_secret();
        let at = millis(now);
        for (tok, kind, ttl) in [
            (&access, "access", access_ttl),
            (&refresh, "refresh", refresh_ttl),
        ] {
            sqlx::query(
                "INSERT INTO oauth_tokens (token_hash, grant_id, kind, expires_at) VALUES ($1, $2, $3, $4)",
            )
            .bind(hash_secret(tok))
            .bind(grant_id)
            .bind(kind)
            .bind(at + ttl * 1000)
            .execute(&mut **tx)
            .await?;
        }
        Ok(Tokens {
            access_token: access,
            refresh_token: refresh,
            expires_in: access_ttl,
        })
    }

    /// Redeems a code (once): checks client, redirect URI and PKCE, then issues tokens. A
    /// second use of a code revokes its grant.
    #[allow(clippy::too_many_arguments)]
    #[tracing::instrument(name = "store.redeem_code", skip_all)]
    pub async fn redeem_code(
        &self,
        code: &str,
        client_id: &str,
        redirect_uri: Option<&str>,
        verifier: Option<&str>,
        access_ttl: i64,
        refresh_ttl: i64,
        now: SystemTime,
    ) -> Result<Result<(Grant, Tokens), GrantError>, StoreError> {
        let at = millis(now);
        let hash = hash_secret(code);
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT grant_id, redirect_uri, pkce_challenge, expires_at, used_at FROM oauth_codes WHERE code_hash = $1")
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(Err(GrantError::BadCode));
        };
        let grant_id: String = row.try_get("grant_id")?;
        let used: Option<i64> = row.try_get("used_at")?;
        if used.is_some() {
            sqlx::query("UPDATE oauth_grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at)
                .bind(&grant_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Err(GrantError::BadCode));
        }
        // Mark used first, so that two concurrent redemptions cannot both pass.
        let marked =
            sqlx::query("UPDATE oauth_codes SET used_at = $1 WHERE code_hash = $2 AND used_at IS NULL")
                .bind(at)
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
        if marked.rows_affected() != 1 {
            return Ok(Err(GrantError::BadCode));
        }
        let expires: i64 = row.try_get("expires_at")?;
        if expires <= at {
            tx.commit().await?;
            return Ok(Err(GrantError::BadCode));
        }
        let Some(grant) = self.grant_in(&mut tx, &grant_id).await? else {
            return Ok(Err(GrantError::BadCode));
        };
        let stored_uri: String = row.try_get("redirect_uri")?;
        if grant.client_id != client_id || redirect_uri.is_some_and(|u| u != stored_uri) {
            tx.commit().await?;
            return Ok(Err(GrantError::CodeMismatch));
        }
        let challenge: Option<String> = row.try_get("pkce_challenge")?;
        if let Some(ch) = challenge
            && verifier.map(pkce_s256).as_deref() != Some(ch.as_str())
        {
            tx.commit().await?;
            return Ok(Err(GrantError::Pkce));
        }
        if grant.revoked_at.is_some() {
            tx.commit().await?;
            return Ok(Err(GrantError::Revoked));
        }
        let tokens = self
            .issue(&mut tx, &grant_id, access_ttl, refresh_ttl, now)
            .await?;
        tx.commit().await?;
        Ok(Ok((grant, tokens)))
    }

    async fn grant_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &str,
    ) -> Result<Option<Grant>, StoreError> {
        let row = sqlx::query("SELECT id, client_id, username, domain, hosts, scope, created_at, revoked_at FROM oauth_grants WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        row.as_ref().map(Self::grant_from).transpose()
    }

    /// Rotates a refresh token: the old one is spent, a new pair issued. A spent token used
    /// again revokes the grant.
    #[tracing::instrument(name = "store.refresh", skip_all)]
    pub async fn refresh(
        &self,
        refresh_token: &str,
        client_id: &str,
        access_ttl: i64,
        refresh_ttl: i64,
        now: SystemTime,
    ) -> Result<Result<(Grant, Tokens), GrantError>, StoreError> {
        let at = millis(now);
        let hash = hash_secret(refresh_token);
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query("SELECT grant_id, expires_at, used_at FROM oauth_tokens WHERE token_hash = $1 AND kind = 'refresh'")
            .bind(&hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(Err(GrantError::BadRefresh));
        };
        let grant_id: String = row.try_get("grant_id")?;
        let Some(grant) = self.grant_in(&mut tx, &grant_id).await? else {
            return Ok(Err(GrantError::BadRefresh));
        };
        if grant.client_id != client_id {
            return Ok(Err(GrantError::BadRefresh));
        }
        let used: Option<i64> = row.try_get("used_at")?;
        let marked =
            sqlx::query("UPDATE oauth_tokens SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL")
                .bind(at)
                .bind(&hash)
                .execute(&mut *tx)
                .await?;
        if used.is_some() || marked.rows_affected() != 1 {
            sqlx::query("UPDATE oauth_grants SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
                .bind(at)
                .bind(&grant_id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            return Ok(Err(GrantError::RefreshReused));
        }
        let expires: i64 = row.try_get("expires_at")?;
        if expires <= at {
            tx.commit().await?;
            return Ok(Err(GrantError::BadRefresh));
        }
        if grant.revoked_at.is_some() {
            tx.commit().await?;
            return Ok(Err(GrantError::Revoked));
        }
        let tokens = self
            .issue(&mut tx, &grant_id, access_ttl, refresh_ttl, now)
            .await?;
        tx.commit().await?;
        Ok(Ok((grant, tokens)))
    }

    /// The live grant an access token stands for.
    #[tracing::instrument(name = "store.grant_for_access_token", skip_all)]
    pub async fn grant_for_access_token(
        &self,
        token: &str,
        now: SystemTime,
    ) -> Result<Option<Grant>, StoreError> {
        let row = sqlx::query(
            "SELECT grant_id, expires_at FROM oauth_tokens WHERE token_hash = $1 AND kind = 'access'",
        )
        .bind(hash_secret(token))
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let expires: i64 = row.try_get("expires_at")?;
        if expires <= millis(now) {
            return Ok(None);
        }
        let gid: String = row.try_get("grant_id")?;
        Ok(self.grant(&gid).await?.filter(|g| g.revoked_at.is_none()))
    }

    /// Revokes a grant of `username` (the user's Revoke button). `false` when not theirs.
    pub async fn revoke_grant(&self, id: &str, username: &str, now: SystemTime) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "UPDATE oauth_grants SET revoked_at = $1 WHERE id = $2 AND username = $3 AND revoked_at IS NULL",
        )
        .bind(millis(now))
        .bind(id)
        .bind(username)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().expect("tempdir");
        let s = Store::open(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("t.db").display()
        ))
        .await
        .expect("open");
        (dir, s)
    }

    fn grant() -> Grant {
        Grant {
            id: String::new(),
            client_id: "sp.example".into(),
            username: "alice".into(),
            domain: "example.com".into(),
            hosts: vec![String::new(), "www".into()],
            scope: vec!["web".into()],
            created_at: 0,
            revoked_at: None,
        }
    }

    #[tokio::test]
    async fn codes_are_single_use_and_bound_and_pkce_is_checked() {
        let (_d, s) = store().await;
        let now = SystemTime::now();
        let verifier = "a-very-long-verifier-string-with-enough-entropy-0123456789";
        let (_, code) = s
            .create_grant(&grant(), "https://sp.example/cb", Some(&pkce_s256(verifier)), now)
            .await
            .expect("grant");
        let r = |c: &'static str| c;
        assert_eq!(
            s.redeem_code(&code, r("other"), None, Some(verifier), 60, 600, now)
                .await
                .expect("db"),
            Err(GrantError::CodeMismatch)
        );
        // The failed attempt spent the code (it was marked used): a fresh code is needed.
        let (_, code) = s
            .create_grant(&grant(), "https://sp.example/cb", Some(&pkce_s256(verifier)), now)
            .await
            .expect("grant");
        assert_eq!(
            s.redeem_code(&code, "sp.example", None, None, 60, 600, now)
                .await
                .expect("db"),
            Err(GrantError::Pkce)
        );
        let (gid, code) = s
            .create_grant(&grant(), "https://sp.example/cb", Some(&pkce_s256(verifier)), now)
            .await
            .expect("grant");
        let (g, tokens) = s
            .redeem_code(
                &code,
                "sp.example",
                Some("https://sp.example/cb"),
                Some(verifier),
                60,
                600,
                now,
            )
            .await
            .expect("db")
            .expect("redeemed");
        assert_eq!(g.hosts, vec![String::new(), "www".to_string()]);
        assert_eq!(
            s.grant_for_access_token(&tokens.access_token, now)
                .await
                .expect("db")
                .map(|g| g.id),
            Some(gid.clone())
        );
        // A second use fails and revokes the grant, and with it the tokens.
        assert_eq!(
            s.redeem_code(&code, "sp.example", None, Some(verifier), 60, 600, now)
                .await
                .expect("db"),
            Err(GrantError::BadCode)
        );
        assert_eq!(
            s.grant_for_access_token(&tokens.access_token, now)
                .await
                .expect("db"),
            None
        );
    }

    #[tokio::test]
    async fn codes_expire_and_access_tokens_expire() {
        let (_d, s) = store().await;
        let now = SystemTime::now();
        let (_, code) = s
            .create_grant(&grant(), "https://sp.example/cb", None, now)
            .await
            .expect("grant");
        let later = now + CODE_LIFETIME + Duration::from_secs(1);
        assert_eq!(
            s.redeem_code(&code, "sp.example", None, None, 60, 600, later)
                .await
                .expect("db"),
            Err(GrantError::BadCode)
        );
        let (_, code) = s
            .create_grant(&grant(), "https://sp.example/cb", None, now)
            .await
            .expect("grant");
        let (_, t) = s
            .redeem_code(&code, "sp.example", None, None, 60, 600, now)
            .await
            .expect("db")
            .expect("ok");
        assert!(
            s.grant_for_access_token(&t.access_token, now + Duration::from_secs(59))
                .await
                .expect("db")
                .is_some()
        );
        assert!(
            s.grant_for_access_token(&t.access_token, now + Duration::from_secs(61))
                .await
                .expect("db")
                .is_none()
        );
    }

    #[tokio::test]
    async fn refresh_tokens_rotate_and_reuse_revokes_the_grant() {
        let (_d, s) = store().await;
        let now = SystemTime::now();
        let (gid, code) = s
            .create_grant(&grant(), "https://sp.example/cb", None, now)
            .await
            .expect("grant");
        let (_, t1) = s
            .redeem_code(&code, "sp.example", None, None, 60, 600, now)
            .await
            .expect("db")
            .expect("ok");
        assert_eq!(
            s.refresh(&t1.refresh_token, "other", 60, 600, now)
                .await
                .expect("db"),
            Err(GrantError::BadRefresh)
        );
        let (_, t2) = s
            .refresh(&t1.refresh_token, "sp.example", 60, 600, now)
            .await
            .expect("db")
            .expect("rotated");
        assert_ne!(t1.refresh_token, t2.refresh_token);
        assert!(
            s.grant_for_access_token(&t2.access_token, now)
                .await
                .expect("db")
                .is_some()
        );
        // The spent token again: the grant is revoked, every token dies.
        assert_eq!(
            s.refresh(&t1.refresh_token, "sp.example", 60, 600, now)
                .await
                .expect("db"),
            Err(GrantError::RefreshReused)
        );
        assert!(
            s.grant_for_access_token(&t2.access_token, now)
                .await
                .expect("db")
                .is_none()
        );
        assert_eq!(
            s.refresh(&t2.refresh_token, "sp.example", 60, 600, now)
                .await
                .expect("db"),
            Err(GrantError::Revoked)
        );
        assert!(
            s.grant(&gid)
                .await
                .expect("db")
                .is_some_and(|g| g.revoked_at.is_some())
        );
    }

    #[tokio::test]
    async fn users_revoke_only_their_own_grants() {
        let (_d, s) = store().await;
        let now = SystemTime::now();
        let (gid, _) = s
            .create_grant(&grant(), "https://sp.example/cb", None, now)
            .await
            .expect("grant");
        assert_eq!(s.grants_of("alice").await.expect("db").len(), 1);
        assert!(!s.revoke_grant(&gid, "mallory", now).await.expect("db"));
        assert!(s.revoke_grant(&gid, "alice", now).await.expect("db"));
        assert!(s.grants_of("alice").await.expect("db").is_empty());
    }
}
