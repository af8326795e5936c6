//! The backend adapter contract of dc-gateway.
//!
//! An adapter connects the gateway to one DNS backend (a zone-file directory, PowerDNS,
//! Route 53, ...). Adapter authors depend on this crate only; they never need the gateway.
//!
//! # The model
//!
//! * Names are **absolute, lower-case, with a trailing dot** (`www.example.com.`). Adapters
//!   convert from whatever their backend uses when reading and back when writing.
//! * Record types are upper-case mnemonics (`A`, `TXT`, `TYPE65534`).
//! * Record data is **RFC 1035 presentation format**, as it would appear in a master file
//!   after the type: `10 mx.example.com.` for MX, `"v=spf1 -all"` for TXT (quoted, split into
//!   character-strings of at most 255 octets), names inside data absolute with a trailing dot.
//! * Changes are made per **RRset** (owner name + type): a [`ChangeSet`] holds one
//!   [`RRsetChange`] per RRset, each replacing or deleting the whole RRset, each guarded by an
//!   [`Expect`] precondition on the RRset's current data. The set is applied atomically when
//!   the adapter's [`Capabilities::atomicity`] says so.
//!
//! See `docs/adapters.md` in the repository for the guide to writing an adapter, and the
//! `dcgw-testkit` crate for the conformance suite every adapter must pass.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One resource record.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Record {
    /// Absolute owner name, lower-case, trailing dot.
    pub name: String,
    /// Upper-case type mnemonic.
    #[serde(rename = "type")]
    pub rtype: String,
    pub ttl: u32,
    /// RDATA in presentation format.
    pub data: String,
}

/// All records of one owner name and type. One RRset has one TTL.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RRset {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    pub ttl: u32,
    /// RDATA of each record, presentation format. Order carries no meaning.
    pub data: Vec<String>,
}

impl RRset {
    pub fn new(name: impl Into<String>, rtype: impl Into<String>, ttl: u32, data: Vec<String>) -> Self {
        RRset {
            name: name.into(),
            rtype: rtype.into(),
            ttl,
            data,
        }
    }

    /// The RRset's data as a set, for order-insensitive comparison.
    pub fn data_set(&self) -> BTreeSet<&str> {
        self.data.iter().map(String::as_str).collect()
    }

    /// True when both RRsets hold the same records (owner, type and data; TTL ignored).
    pub fn same_data(&self, other: &RRset) -> bool {
        self.name == other.name && self.rtype == other.rtype && self.data_set() == other.data_set()
    }

    /// The RRset as individual records.
    pub fn records(&self) -> impl Iterator<Item = Record> + '_ {
        self.data.iter().map(|d| Record {
            name: self.name.clone(),
            rtype: self.rtype.clone(),
            ttl: self.ttl,
            data: d.clone(),
        })
    }
}

/// Groups records into RRsets (owner + type). A group whose records disagree on TTL takes the
/// lowest one. The output is sorted by name, then type.
pub fn group_rrsets(records: impl IntoIterator<Item = Record>) -> Vec<RRset> {
    let mut map: std::collections::BTreeMap<(String, String), RRset> = Default::default();
    for r in records {
        let e = map
            .entry((r.name.clone(), r.rtype.clone()))
            .or_insert_with(|| RRset::new(r.name.clone(), r.rtype.clone(), r.ttl, Vec::new()));
        e.ttl = e.ttl.min(r.ttl);
        if !e.data.contains(&r.data) {
            e.data.push(r.data);
        }
    }
    map.into_values().collect()
}

/// What an [`RRsetChange`] requires of the RRset's current content before it is applied.
///
/// Comparison is on the set of RDATA strings only (TTL is not compared: RFC 2136
/// prerequisites cannot express it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "snake_case")]
pub enum Expect {
    /// No precondition.
    Any,
    /// The RRset must not exist.
    Absent,
    /// The RRset must hold exactly these records.
    Exactly(Vec<String>),
}

impl Expect {
    /// Does the current RRset (None = absent) satisfy this precondition?
    pub fn matches(&self, current: Option<&RRset>) -> bool {
        match (self, current) {
            (Expect::Any, _) => true,
            (Expect::Absent, None) => true,
            (Expect::Absent, Some(c)) => c.data.is_empty(),
            (Expect::Exactly(d), None) => d.is_empty(),
            (Expect::Exactly(d), Some(c)) => {
                d.iter().map(String::as_str).collect::<BTreeSet<_>>() == c.data_set()
            }
        }
    }
}

/// Replace or delete one RRset.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RRsetChange {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    /// Precondition on the RRset's current data.
    pub expect: Expect,
    /// The new content of the RRset, or `None` to delete it.
    pub new: Option<RRset>,
}

/// A set of RRset changes to one zone, applied as one unit.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeSet {
    /// The zone apex, absolute with a trailing dot.
    pub zone: String,
    pub changes: Vec<RRsetChange>,
}

/// How much of a change set an adapter can apply as one unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Atomicity {
    /// The whole change set is applied or none of it.
    Atomic,
    /// Each batch of at most [`Capabilities::max_batch`] changes is atomic; a larger set may
    /// end [`AdapterError::PartiallyApplied`].
    PerBatch,
    /// Each RRset change is applied on its own.
    PerRRset,
}

/// Which record types an adapter can write.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordTypes {
    /// Any type in presentation format (including RFC 3597 `TYPEnnn`).
    Any,
    /// Only these mnemonics.
    Only(BTreeSet<String>),
}

impl RecordTypes {
    pub fn supports(&self, rtype: &str) -> bool {
        match self {
            RecordTypes::Any => true,
            RecordTypes::Only(set) => set.contains(&rtype.to_ascii_uppercase()),
        }
    }
}

/// What an adapter guarantees. The gateway reads these to decide what it may promise.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    pub atomicity: Atomicity,
    /// Whether [`Expect`] preconditions are enforced by the backend (or the adapter, under a
    /// lock that excludes every other writer it knows of).
    pub preconditions: bool,
    pub record_types: RecordTypes,
    /// The type the backend uses for an alias at the zone apex (`ALIAS`, `ANAME`, ...), if any.
    pub apex_alias: Option<String>,
    /// The largest number of RRset changes one atomic call may carry, if limited.
    pub max_batch: Option<usize>,
}

/// Which RRsets to read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadFilter {
    /// The whole zone.
    All,
    /// Only the RRsets at these owner names (absolute, lower-case, trailing dot).
    Names(Vec<String>),
}

impl ReadFilter {
    pub fn wants(&self, name: &str) -> bool {
        match self {
            ReadFilter::All => true,
            ReadFilter::Names(n) => n.iter().any(|x| x == name),
        }
    }
}

/// The error classes every adapter maps its backend's failures onto.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum AdapterError {
    /// An [`Expect`] precondition did not hold; nothing was changed.
    #[error("precondition failed for {name} {rtype}: the RRset changed since it was read")]
    PreconditionFailed { name: String, rtype: String },
    /// The backend asked us to slow down; nothing was changed.
    #[error("throttled by the backend")]
    Throttled { retry_after: Option<Duration> },
    /// A failure that may pass (timeout, connection refused, 5xx); nothing was changed.
    #[error("transient backend failure: {0}")]
    Transient(String),
    /// The backend refused the change as invalid; nothing was changed.
    #[error("rejected by the backend: {0}")]
    Rejected(String),
    /// Credentials missing, wrong or without the needed rights.
    #[error("not authorized by the backend: {0}")]
    Unauthorized(String),
    /// The backend does not host this zone.
    #[error("zone not found: {0}")]
    ZoneNotFound(String),
    /// Only part of a non-atomic change set was applied.
    #[error("partially applied: {applied} of {total} changes written before: {cause}")]
    PartiallyApplied {
        applied: usize,
        total: usize,
        cause: String,
    },
}

impl AdapterError {
    /// True when retrying the same call later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, AdapterError::Throttled { .. } | AdapterError::Transient(_))
    }

    /// A short, stable name for the class (for metrics and logs).
    pub fn class(&self) -> &'static str {
        match self {
            AdapterError::PreconditionFailed { .. } => "precondition_failed",
            AdapterError::Throttled { .. } => "throttled",
            AdapterError::Transient(_) => "transient",
            AdapterError::Rejected(_) => "rejected",
            AdapterError::Unauthorized(_) => "unauthorized",
            AdapterError::ZoneNotFound(_) => "zone_not_found",
            AdapterError::PartiallyApplied { .. } => "partially_applied",
        }
    }
}

/// A DNS backend. Dyn-compatible: the gateway holds adapters as `Arc<dyn Adapter>`.
#[async_trait::async_trait]
pub trait Adapter: Send + Sync + fmt::Debug {
    /// A short name for logs and metrics (`zonefile`, `powerdns`, ...).
    fn kind(&self) -> &'static str;

    /// What this adapter guarantees.
    fn capabilities(&self) -> &Capabilities;

    /// The apex of the zone that holds `name` (absolute, trailing dot), if this backend hosts
    /// one. The most specific zone wins when zones are nested.
    async fn find_zone(&self, name: &str) -> Result<Option<String>, AdapterError>;

    /// The RRsets of `zone` selected by `filter`.
    async fn read(&self, zone: &str, filter: &ReadFilter) -> Result<Vec<RRset>, AdapterError>;

    /// Apply `changes` as one unit (see [`Capabilities::atomicity`]). Every precondition is
    /// checked before anything is written; if one fails the zone is left unchanged and
    /// [`AdapterError::PreconditionFailed`] is returned.
    async fn apply(&self, changes: &ChangeSet) -> Result<(), AdapterError>;

    /// [`Adapter::apply`] for a caller that read the RRsets its preconditions name from this
    /// adapter while holding a lock on the zone that every other writer through the gateway
    /// takes too (the gateway's per-zone lock, shared by its replicas), and holds it still.
    ///
    /// An adapter that enforces preconditions itself, by reading the RRsets again under its
    /// own lock because the backend has no conditional write, may skip that read here: the
    /// caller's lock already excludes every writer the adapter's lock could, and the
    /// preconditions were built from a read made under it. Writers that bypass the gateway
    /// are not excluded either way. Adapters whose backend enforces preconditions (RFC 2136
    /// prerequisites, a compare-and-swap batch) keep the default, which is `apply`.
    async fn apply_locked(&self, changes: &ChangeSet) -> Result<(), AdapterError> {
        self.apply(changes).await
    }
}

/// One async mutex per zone, for an adapter that writes a zone one change set at a time.
#[derive(Debug, Default)]
pub struct ZoneLocks(
    std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<tokio::sync::Mutex<()>>>>,
);

impl ZoneLocks {
    /// Waits for the zone's lock; it is released when the guard is dropped.
    pub async fn lock(&self, zone: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let m = {
            let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(zone.to_string()).or_default().clone()
        };
        m.lock_owned().await
    }
}

/// Lower-cases a name and makes sure it ends with a dot.
pub fn absolute(name: &str) -> String {
    let mut n = name.trim().to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    n
}

/// `name` and each of its parents, most specific first, without the root: the zones that
/// could hold `name` (`www.example.com.`, `example.com.`, `com.`). For `find_zone`.
pub fn zone_candidates(name: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(name), |c| c.split_once('.').map(|(_, rest)| rest))
        .filter(|c| !c.is_empty() && *c != ".")
}

/// True when `name` equals `zone` or lies below it (both absolute).
pub fn in_zone(name: &str, zone: &str) -> bool {
    name == zone
        || (name.len() > zone.len()
            && name.ends_with(zone)
            && name.as_bytes()[name.len() - zone.len() - 1] == b'.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expect_compares_data_as_sets() {
        let cur = RRset::new(
            "a.example.",
            "A",
            300,
            vec!["192.0.2.1".into(), "192.0.2.2".into()],
        );
        assert!(Expect::Exactly(vec!["192.0.2.2".into(), "192.0.2.1".into()]).matches(Some(&cur)));
        assert!(!Expect::Exactly(vec!["192.0.2.2".into()]).matches(Some(&cur)));
        assert!(!Expect::Absent.matches(Some(&cur)));
        assert!(Expect::Absent.matches(None));
        assert!(Expect::Any.matches(Some(&cur)));
        assert!(!Expect::Exactly(vec!["192.0.2.2".into()]).matches(None));
    }

    #[test]
    fn zone_candidates_walk_up_to_the_tld() {
        let v: Vec<&str> = zone_candidates("www.example.com.").collect();
        assert_eq!(v, ["www.example.com.", "example.com.", "com."]);
        assert_eq!(zone_candidates(".").count(), 0);
        assert_eq!(zone_candidates("").count(), 0);
    }

    #[test]
    fn in_zone_respects_label_boundaries() {
        assert!(in_zone("www.example.com.", "example.com."));
        assert!(in_zone("example.com.", "example.com."));
        assert!(!in_zone("badexample.com.", "example.com."));
        assert!(!in_zone("com.", "example.com."));
    }

    #[test]
    fn group_rrsets_merges_and_takes_lowest_ttl() {
        let r = |d: &str, ttl| Record {
            name: "x.".into(),
            rtype: "A".into(),
            ttl,
            data: d.into(),
        };
        let sets = group_rrsets(vec![r("192.0.2.1", 300), r("192.0.2.2", 60), r("192.0.2.1", 300)]);
        assert_eq!(sets.len(), 1);
        assert_eq!(sets[0].ttl, 60);
        assert_eq!(sets[0].data.len(), 2);
    }
}
