//! OAuth clients (POLICY.md 22): Service Providers registered for the asynchronous flow.
//! Client secrets are random 256-bit values; only their SHA-256 hash is stored.

use std::time::SystemTime;

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use subtle::ConstantTimeEq;

use super::{Store, StoreError, millis};

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Client {
    /// Usually the template providerId (SPEC.md §4.1).
    pub client_id: String,
    /// Redirect URIs, matched exactly (POLICY.md 19).
    pub redirect_uris: Vec<String>,
    pub require_pkce: bool,
    /// Seconds.
    pub access_ttl: i64,
    /// Seconds.
    pub refresh_ttl: i64,
    pub created_at: i64,
}

/// A fresh random secret (URL-safe base64 of 32 random bytes).
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::fill(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// The stored form of a secret or token.
pub fn hash_secret(secret: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(secret.as_bytes()))
}

impl Store {
    /// Registers a client with the hash of its secret. Fails if the id is taken.
    pub async fn add_client(&self, client: &Client, secret: &str, now: SystemTime) -> Result<(), StoreError> {
        let uris =
            serde_json::to_string(&client.redirect_uris).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query(
            "INSERT INTO oauth_clients (client_id, secret_hash, redirect_uris, require_pkce, access_ttl, refresh_ttl, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&client.client_id)
        .bind(hash_secret(secret))
        .bind(uris)
        .bind(i64::from(client.require_pkce))
        .bind(client.access_ttl)
        .bind(client.refresh_ttl)
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    fn client_from(r: &sqlx::any::AnyRow) -> Result<Client, StoreError> {
        let uris: String = r.try_get("redirect_uris")?;
        Ok(Client {
            client_id: r.try_get("client_id")?,
            redirect_uris: serde_json::from_str(&uris).map_err(|e| StoreError::Corrupt(e.to_string()))?,
            require_pkce: r.try_get::<i64, _>("require_pkce")? != 0,
            access_ttl: r.try_get("access_ttl")?,
            refresh_ttl: r.try_get("refresh_ttl")?,
            created_at: r.try_get("created_at")?,
        })
    }

    pub async fn clients(&self) -> Result<Vec<Client>, StoreError> {
        let rows = sqlx::query(
            "SELECT client_id, redirect_uris, require_pkce, access_ttl, refresh_ttl, created_at FROM oauth_clients ORDER BY client_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(Self::client_from).collect()
    }

    pub async fn client(&self, client_id: &str) -> Result<Option<Client>, StoreError> {
        let row = sqlx::query(
            "SELECT client_id, redirect_uris, require_pkce, access_ttl, refresh_ttl, created_at FROM oauth_clients WHERE client_id = $1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(Self::client_from).transpose()
    }

    /// The client, when `secret` is its secret (compared in constant time).
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        secret: &str,
    ) -> Result<Option<Client>, StoreError> {
        let row = sqlx::query("SELECT secret_hash FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else { return Ok(None) };
        let stored: String = row.try_get("secret_hash")?;
        let given = hash_secret(secret);
        if bool::from(stored.as_bytes().ct_eq(given.as_bytes())) {
            self.client(client_id).await
        } else {
            Ok(None)
        }
    }

    /// Removes a client and revokes every grant it holds. `false` when there was none.
    pub async fn remove_client(&self, client_id: &str, now: SystemTime) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let gone = sqlx::query("DELETE FROM oauth_clients WHERE client_id = $1")
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE oauth_grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL")
            .bind(millis(now))
            .bind(client_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone.rows_affected() > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn clients_are_stored_with_a_hashed_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Store::open(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("t.db").display()
        ))
        .await
        .expect("open");
        let now = SystemTime::now();
        let c = Client {
            client_id: "sp.example".into(),
            redirect_uris: vec!["https://sp.example/cb".into()],
            require_pkce: true,
            access_ttl: 3600,
            refresh_ttl: 86400,
            created_at: millis(now),
        };
        let secret = new_secret();
        store.add_client(&c, &secret, now).await.expect("add");
        assert!(
            store.add_client(&c, &secret, now).await.is_err(),
            "ids are unique"
        );
        assert_eq!(
            store
                .authenticate_client("sp.example", &secret)
                .await
                .expect("auth"),
            Some(c.clone())
        );
        assert_eq!(
            store
                .authenticate_client("sp.example", "wrong")
                .await
                .expect("auth"),
            None
        );
        assert_eq!(
            store.authenticate_client("nobody", &secret).await.expect("auth"),
            None
        );
        assert_eq!(store.clients().await.expect("list"), vec![c]);
        assert!(store.remove_client("sp.example", now).await.expect("remove"));
        assert!(!store.remove_client("sp.example", now).await.expect("remove"));
        assert!(store.clients().await.expect("list").is_empty());
    }
}
