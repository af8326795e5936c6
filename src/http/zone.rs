//! The zone as it is now, for a plan: the backend's RRsets, the recorded template instances
//! and the engine settings the backend's capabilities allow. Shared by both flows.

use std::sync::Arc;

use dcgw_adapter::{Adapter, AdapterError, Atomicity, ReadFilter, RecordTypes};

use super::AppState;
use crate::engine::{EngineConfig, Instance, Zone};
use crate::store::StoreError;

/// A zone loaded for planning.
pub struct Current {
    /// The apex, absolute.
    pub name: String,
    pub adapter: Arc<dyn Adapter>,
    pub zone: Zone,
    pub instances: Vec<Instance>,
    pub cfg: EngineConfig,
    /// Whether the backend applies a change set atomically.
    pub atomic: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("no backend hosts this zone")]
    NotHosted,
    #[error(transparent)]
    Backend(#[from] AdapterError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Loads `domain` (lower-case, no trailing dot). With `apply`, only the RRsets a plan for it
/// reads are asked of the backend ([`crate::engine::plan::read_scope`]: the owners the template
/// writes, their ancestors and the recorded instances' owners), so an apply costs the same in
/// a zone of ten records or a million; without, the whole zone is read.
pub async fn load(
    state: &AppState,
    domain: &str,
    apply: Option<&crate::engine::ApplyRequest<'_>>,
) -> Result<Current, LoadError> {
    let hosted = state.router.hosted(domain).await?.ok_or(LoadError::NotHosted)?;
    let adapter = hosted.backend.adapter.clone();
    let instances = state.store.instances(&hosted.zone).await?;
    let caps = adapter.capabilities();
    let mut cfg = state.engine.clone();
    cfg.apex_alias = caps.apex_alias.clone();
    if let RecordTypes::Only(types) = &caps.record_types {
        cfg.supported_types = Some(types.iter().cloned().collect());
    }
    // A request the engine refuses reads the whole zone; the plan then reports the error.
    let filter = apply
        .and_then(|req| {
            crate::engine::plan::read_scope(req, &instances, &cfg)
                .ok()
                .flatten()
        })
        .map_or(ReadFilter::All, ReadFilter::Names);
    let rrsets = adapter.read(&hosted.zone, &filter).await?;
    let atomic = caps.atomicity == Atomicity::Atomic;
    Ok(Current {
        zone: Zone::from_rrsets(&hosted.zone, &rrsets),
        name: hosted.zone,
        adapter,
        instances,
        cfg,
        atomic,
    })
}

/// What a backend failure tells the user and the Service Provider: the HTTP status, the
/// RFC 6749 error code and a description that names no backend detail (the detail, never a
/// credential, goes to the log). The one place both flows map adapter errors.
pub fn backend_response(e: &AdapterError) -> (actix_web::http::StatusCode, &'static str, &'static str) {
    use actix_web::http::StatusCode;
    tracing::error!(class = e.class(), error = %e, "backend failure");
    match e {
        AdapterError::Transient(_) | AdapterError::Throttled { .. } => (
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the DNS service is unavailable; try again later",
        ),
        AdapterError::PartiallyApplied { .. } => (
            StatusCode::BAD_GATEWAY,
            "server_error",
            "the DNS service applied only part of the change; the DNS provider has been alerted",
        ),
        AdapterError::Rejected(_) => (
            StatusCode::BAD_GATEWAY,
            "server_error",
            "the DNS service refused the change; nothing was applied",
        ),
        AdapterError::Unauthorized(_) | AdapterError::ZoneNotFound(_) => (
            StatusCode::BAD_GATEWAY,
            "server_error",
            "the DNS service cannot be written to now; nothing was applied",
        ),
        AdapterError::PreconditionFailed { .. } => (
            StatusCode::CONFLICT,
            "conflict",
            "the zone changed while applying; try again",
        ),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("the zone changed while it was being written; nothing was applied")]
    Changed,
    #[error(transparent)]
    Backend(AdapterError),
}

impl From<StoreError> for WriteError {
    fn from(e: StoreError) -> Self {
        WriteError::Load(LoadError::Store(e))
    }
}

/// Reverts the instances of `domain` that `select` picks (POLICY.md 16), under the zone's
/// lock: their records still present are removed, their SPF terms taken out, the state and
/// the audit log updated. `Ok(None)` when no recorded instance matches.
pub async fn revert(
    state: &AppState,
    domain: &str,
    select: &(dyn Fn(&Instance) -> bool + Sync),
    actor: &crate::store::Actor,
    detail: serde_json::Value,
) -> Result<Option<crate::engine::Revert>, WriteError> {
    let apex = format!("{domain}.");
    let lock = state.store.lock_zone(&apex).await?;
    let result = async {
        let cur = load(state, domain, None).await?;
        let (targets, remaining): (Vec<&Instance>, Vec<&Instance>) =
            cur.instances.iter().partition(|i| select(i));
        let Some(first) = targets.first() else {
            return Ok(None);
        };
        let plan = crate::engine::revert(&cur.zone, &targets, &remaining, &cur.cfg);
        let changes = plan.change_set();
        if !changes.changes.is_empty() {
            match cur.adapter.apply_locked(&changes).await {
                Ok(()) => {}
                Err(AdapterError::PreconditionFailed { .. }) => return Err(WriteError::Changed),
                Err(e) => return Err(WriteError::Backend(e)),
            }
        }
        let mut detail = detail;
        detail["instances"] = serde_json::json!(plan.removed_instances);
        detail["deletes"] = serde_json::json!(plan.deletes);
        detail["adds"] = serde_json::json!(plan.adds);
        let change = crate::store::StateChange {
            zone: &cur.name,
            upsert: vec![],
            remove: plan.removed_instances.iter().map(String::as_str).collect(),
            template: Some((&first.provider_id, &first.service_id)),
        };
        state
            .store
            .record(&change, actor, "revert", &detail, state.now())
            .await?;
        Ok(Some(plan))
    }
    .await;
    lock.release().await;
    result
}
