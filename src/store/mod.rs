//! Template state and the audit log, in SQLite (the embedded default: one file in the data
//! directory) or PostgreSQL (many replicas), through sqlx. Migrations run at start.
//!
//! One zone has one writer at a time ([`Store::lock_zone`]): a PostgreSQL advisory lock
//! across replicas, and a process-wide lock in every case.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};

use crate::engine::Instance;

pub mod grants;
pub mod oauth;

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database URL {0:?} is neither sqlite: nor postgres:")]
    Url(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Who did something: a user (sync flow, UI) or an OAuth client (async flow).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor(pub String);

impl Actor {
    pub fn user(name: &str) -> Actor {
        Actor(format!("user:{name}"))
    }
    pub fn client(id: &str, user: &str) -> Actor {
        Actor(format!("client:{id} for user:{user}"))
    }
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    /// Milliseconds since the epoch.
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub zone: Option<String>,
    pub provider_id: Option<String>,
    pub service_id: Option<String>,
    /// JSON details (records written and removed, ...).
    pub detail: serde_json::Value,
}

/// What changed in template state with one apply.
#[derive(Debug, Clone)]
pub struct StateChange<'a> {
    pub zone: &'a str,
    /// The instance written or updated.
    pub upsert: Vec<&'a Instance>,
    /// Instances removed entirely.
    pub remove: Vec<&'a str>,
    /// The template, for the audit entry (default: the first upserted instance's).
    pub template: Option<(&'a str, &'a str)>,
}

pub(crate) fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The database.
#[derive(Clone)]
pub struct Store {
    pub(crate) pool: AnyPool,
    backend: Backend,
    locks: Arc<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .finish_non_exhaustive()
    }
}

/// Held while a zone is written; released by [`ZoneLock::release`] (or, for the process
/// lock, when dropped).
pub struct ZoneLock {
    _local: tokio::sync::OwnedMutexGuard<()>,
    pg: Option<(sqlx::pool::PoolConnection<sqlx::Any>, i64)>,
}

impl ZoneLock {
    /// Releases the lock (the PostgreSQL advisory lock explicitly).
    pub async fn release(mut self) {
        if let Some((mut conn, key)) = self.pg.take()
            && let Err(e) = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(key)
                .execute(&mut *conn)
                .await
        {
            // Dropping the connection would keep the session (and its lock) in the pool.
            tracing::error!(error = %e, "releasing a zone lock failed; closing the connection");
            let _ = conn.close().await;
        }
    }
}

impl Store {
    /// Opens the database at `url` (`sqlite://PATH?mode=rwc` or `postgres://...`) and runs
    /// the migrations.
    pub async fn open(url: &str) -> Result<Store, StoreError> {
        Store::open_with(url, true).await
    }

    /// As [`Store::open`]; for SQLite, `relaxed` sets `synchronous = NORMAL` (WAL mode: a
    /// commit survives a crash of the process, a power loss may undo the last ones) instead of
    /// `FULL` (every commit waits for the disk).
    pub async fn open_with(url: &str, relaxed: bool) -> Result<Store, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::Url(
                url.split('@').next_back().unwrap_or("").to_string(),
            ));
        };
        let max = if backend == Backend::Sqlite { 1 } else { 10 };
        let pool = AnyPoolOptions::new().max_connections(max).connect(url).await?;
        if backend == Backend::Sqlite {
            sqlx::query("PRAGMA journal_mode = WAL").execute(&pool).await?;
            sqlx::query("PRAGMA busy_timeout = 5000").execute(&pool).await?;
            let sync = if relaxed {
                "PRAGMA synchronous = NORMAL"
            } else {
                "PRAGMA synchronous = FULL"
            };
            sqlx::query(sync).execute(&pool).await?;
            sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        } else {
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
        }
        Ok(Store {
            pool,
            backend,
            locks: Arc::default(),
        })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Takes the zone's write lock (waits for it).
    #[tracing::instrument(name = "store.lock_zone", skip_all)]
    pub async fn lock_zone(&self, zone: &str) -> Result<ZoneLock, StoreError> {
        let m = {
            let mut map = match self.locks.lock() {
                Ok(m) => m,
                Err(p) => p.into_inner(),
            };
            map.entry(zone.to_string()).or_default().clone()
        };
        let local = m.lock_owned().await;
        let pg = if self.backend == Backend::Postgres {
            let digest = Sha256::digest(zone.as_bytes());
            let mut b = [0u8; 8];
            b.copy_from_slice(&digest[..8]);
            let key = i64::from_be_bytes(b);
            let mut conn = self.pool.acquire().await?;
            sqlx::query("SELECT pg_advisory_lock($1)")
                .bind(key)
                .execute(&mut *conn)
                .await?;
            Some((conn, key))
        } else {
            None
        };
        Ok(ZoneLock { _local: local, pg })
    }

    /// Every instance recorded for `zone` (absolute, trailing dot).
    #[tracing::instrument(name = "store.instances", skip_all)]
    pub async fn instances(&self, zone: &str) -> Result<Vec<Instance>, StoreError> {
        let rows = sqlx::query("SELECT body FROM instances WHERE zone = $1 ORDER BY applied_at, id")
            .bind(zone)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get("body")?;
                serde_json::from_str(&body)
                    .map_err(|e| StoreError::Corrupt(format!("instance of {zone}: {e}")))
            })
            .collect()
    }

    /// The zones that have recorded instances.
    pub async fn zones(&self) -> Result<Vec<String>, StoreError> {
        let rows = sqlx::query("SELECT DISTINCT zone FROM instances ORDER BY zone")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| r.try_get("zone").map_err(StoreError::from))
            .collect()
    }

    /// Records what an apply or revert did to template state, with its audit entry, in one
    /// transaction.
    #[tracing::instrument(name = "store.record", skip_all)]
    pub async fn record(
        &self,
        change: &StateChange<'_>,
        actor: &Actor,
        action: &str,
        detail: &serde_json::Value,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        let at = millis(now);
        let mut tx = self.pool.begin().await?;
        for id in &change.remove {
            sqlx::query("DELETE FROM instances WHERE id = $1 AND zone = $2")
                .bind(*id)
                .bind(change.zone)
                .execute(&mut *tx)
                .await?;
        }
        for inst in &change.upsert {
            let body = serde_json::to_string(inst).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let updated = sqlx::query(
                "UPDATE instances SET body = $1, host = $2, updated_at = $3 WHERE id = $4 AND zone = $5",
            )
            .bind(&body)
            .bind(&inst.host)
            .bind(at)
            .bind(&inst.id)
            .bind(change.zone)
            .execute(&mut *tx)
            .await?;
            if updated.rows_affected() == 0 {
                sqlx::query(
                    "INSERT INTO instances (id, zone, host, provider_id, service_id, body, applied_by, applied_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(&inst.id)
                .bind(change.zone)
                .bind(&inst.host)
                .bind(&inst.provider_id)
                .bind(&inst.service_id)
                .bind(&body)
                .bind(&actor.0)
                .bind(at)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
        }
        let template = change.template.or_else(|| {
            change
                .upsert
                .first()
                .map(|i| (i.provider_id.as_str(), i.service_id.as_str()))
        });
        let (pid, sid) = template.map_or((None, None), |(p, s)| (Some(p), Some(s)));
        sqlx::query("INSERT INTO audit (at, actor, action, zone, provider_id, service_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(at)
            .bind(&actor.0)
            .bind(action)
            .bind(change.zone)
            .bind(pid)
            .bind(sid)
            .bind(detail.to_string())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Appends an audit entry on its own (consent given, login, refused requests, ...).
    #[tracing::instrument(name = "store.audit", skip_all)]
    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        zone: Option<&str>,
        template: Option<(&str, &str)>,
        detail: &serde_json::Value,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO audit (at, actor, action, zone, provider_id, service_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7)")
            .bind(millis(now))
            .bind(&actor.0)
            .bind(action)
            .bind(zone)
            .bind(template.map(|t| t.0))
            .bind(template.map(|t| t.1))
            .bind(detail.to_string())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The newest audit entries first, optionally for one zone.
    pub async fn audit_log(&self, zone: Option<&str>, limit: i64) -> Result<Vec<AuditEntry>, StoreError> {
        let rows = match zone {
            Some(z) => {
                sqlx::query("SELECT id, at, actor, action, zone, provider_id, service_id, detail FROM audit WHERE zone = $1 ORDER BY id DESC LIMIT $2")
                    .bind(z)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query("SELECT id, at, actor, action, zone, provider_id, service_id, detail FROM audit ORDER BY id DESC LIMIT $1")
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter()
            .map(|r| {
                let detail: String = r.try_get("detail")?;
                Ok(AuditEntry {
                    id: r.try_get("id")?,
                    at: r.try_get("at")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    zone: r.try_get("zone")?,
                    provider_id: r.try_get("provider_id")?,
                    service_id: r.try_get("service_id")?,
                    detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::String(detail)),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Essential, InstanceRecord};
    use dcgw_adapter::Record;

    fn inst(id: &str) -> Instance {
        Instance {
            id: id.into(),
            provider_id: "p".into(),
            service_id: "s".into(),
            host: String::new(),
            groups: vec![],
            records: vec![InstanceRecord {
                record: Record {
                    name: "example.com.".into(),
                    rtype: "TXT".into(),
                    ttl: 300,
                    data: "\"x\"".into(),
                },
                essential: Essential::Always,
                group_id: None,
            }],
            spf_terms: vec![],
        }
    }

    /// PostgreSQL from the test setup (scripts/services/postgres.sh), if running.
    fn postgres_url() -> Option<String> {
        let url = std::env::var("DCGW_TEST_POSTGRES_URL")
            .ok()
            .filter(|u| !u.is_empty());
        if url.is_none() && std::env::var_os("DCGW_REQUIRE_POSTGRES").is_some() {
            panic!("DCGW_REQUIRE_POSTGRES is set but DCGW_TEST_POSTGRES_URL is not");
        }
        url
    }

    fn unique_zone() -> String {
        let mut b = [0u8; 6];
        rand::fill(&mut b);
        format!(
            "t{}.example.",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        )
    }

    async fn round_trip(url: &str) {
        let zone = unique_zone();
        let zone = zone.as_str();
        let store = Store::open(url).await.expect("open");
        let now = SystemTime::now();
        // Instance ids are unique across zones; a database kept between runs must not clash.
        let (id_a, id_b) = (format!("a-{zone}"), format!("b-{zone}"));
        let a = inst(&id_a);
        let change = StateChange {
            zone,
            upsert: vec![&a],
            remove: vec![],
            template: None,
        };
        store
            .record(
                &change,
                &Actor::user("alice"),
                "apply",
                &serde_json::json!({"adds": 1}),
                now,
            )
            .await
            .expect("record");
        assert_eq!(store.instances(zone).await.expect("list"), vec![a.clone()]);
        assert!(store.instances("other.example.").await.expect("list").is_empty());
        let mut a2 = a.clone();
        a2.records.clear();
        let b = inst(&id_b);
        let change = StateChange {
            zone,
            upsert: vec![&a2, &b],
            remove: vec![],
            template: None,
        };
        store
            .record(
                &change,
                &Actor::user("alice"),
                "apply",
                &serde_json::json!({}),
                now,
            )
            .await
            .expect("record");
        assert_eq!(store.instances(zone).await.expect("list"), vec![a2, b.clone()]);
        let change = StateChange {
            zone,
            upsert: vec![],
            remove: vec![id_a.as_str()],
            template: Some(("p", "s")),
        };
        store
            .record(
                &change,
                &Actor::user("bob"),
                "revert",
                &serde_json::json!({}),
                now,
            )
            .await
            .expect("record");
        assert_eq!(store.instances(zone).await.expect("list"), vec![b]);
        let log = store.audit_log(Some(zone), 10).await.expect("log");
        assert_eq!(
            log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            vec!["revert", "apply", "apply"]
        );
        assert_eq!(log[0].actor, "user:bob");
        assert_eq!(log[0].service_id.as_deref(), Some("s"));
        assert_eq!(log[2].detail, serde_json::json!({"adds": 1}));
        assert!(store.zones().await.expect("zones").contains(&zone.to_string()));
        // Reopening runs the migrations again without harm and keeps the data.
        drop(store);
        let store = Store::open(url).await.expect("reopen");
        assert_eq!(store.instances(zone).await.expect("list").len(), 1);
    }

    #[tokio::test]
    async fn sqlite_synchronous_follows_the_option() {
        use sqlx::Row;
        let dir = tempfile::tempdir().expect("tempdir");
        for (relaxed, want) in [(true, 1i64), (false, 2)] {
            let url = format!(
                "sqlite://{}?mode=rwc",
                dir.path().join(format!("s{want}.db")).display()
            );
            let store = Store::open_with(&url, relaxed).await.expect("open");
            let row = sqlx::query("PRAGMA synchronous")
                .fetch_one(&store.pool)
                .await
                .expect("pragma");
            // 1 = NORMAL, 2 = FULL.
            assert_eq!(
                row.try_get::<i64, _>(0).expect("value"),
                want,
                "relaxed = {relaxed}"
            );
        }
    }

    #[tokio::test]
    async fn sqlite_round_trip_of_state_and_audit() {
        let dir = tempfile::tempdir().expect("tempdir");
        round_trip(&format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("t.db").display()
        ))
        .await;
    }

    #[tokio::test]
    async fn postgres_round_trip_of_state_and_audit() {
        let Some(url) = postgres_url() else {
            eprintln!("skipped: no PostgreSQL (DCGW_TEST_POSTGRES_URL)");
            return;
        };
        round_trip(&url).await;
    }

    #[tokio::test]
    async fn postgres_zone_locks_exclude_other_replicas() {
        let Some(url) = postgres_url() else {
            eprintln!("skipped: no PostgreSQL (DCGW_TEST_POSTGRES_URL)");
            return;
        };
        // Two stores stand for two gateway replicas on one database.
        let a = Store::open(&url).await.expect("open");
        let b = Store::open(&url).await.expect("open");
        let zone = unique_zone();
        let held = a.lock_zone(&zone).await.expect("lock");
        let z2 = zone.clone();
        let waiter = tokio::spawn(async move { b.lock_zone(&z2).await.map(|l| (l, b)) });
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(
            !waiter.is_finished(),
            "the other replica waits for the advisory lock"
        );
        held.release().await;
        let (lock, _b) = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("gets the lock after release")
            .expect("join")
            .expect("lock");
        lock.release().await;
    }

    #[tokio::test]
    async fn zone_locks_serialize_writers_in_one_process() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::open(&url).await.expect("open");
        let first = store.lock_zone("example.com.").await.expect("lock");
        let s2 = store.clone();
        let waiter = tokio::spawn(async move { s2.lock_zone("example.com.").await.map(|_| ()) });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "a second writer waits");
        let other = store
            .lock_zone("other.example.")
            .await
            .expect("another zone is free");
        other.release().await;
        first.release().await;
        waiter.await.expect("join").expect("then gets the lock");
    }
}
