//! The pure Domain Connect engine: (template, current zone, parameters, template state) →
//! [`Plan`]. No I/O, no clock, no randomness: the caller passes the instance id in.
//!
//! Behaviour follows SPEC.md §5–7 and the decisions in POLICY.md; the module docs cite the
//! policy numbers where we deliberately differ from the reference library.

pub mod names;
pub mod plan;
pub mod rdata;
pub mod revert;
pub mod spf;
pub mod template;
pub mod validate;
pub mod vars;
pub mod zone;

use std::collections::BTreeMap;

use serde::Serialize;

pub use dcgw_adapter::{ChangeSet, Expect, RRset, RRsetChange, Record};
pub use plan::plan;
pub use revert::{Revert, revert};
pub use template::{Essential, Template, TemplateRecord};
pub use zone::Zone;

/// Why a template cannot be applied. Each variant names the category (see
/// [`EngineError::category`]) and the field or record it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EngineError {
    #[error("missing variable: %{variable}% (record {record}, field {field})")]
    MissingVariable {
        record: usize,
        field: &'static str,
        variable: String,
    },
    #[error("invalid data: record {record}, field {field}: {reason}")]
    InvalidData {
        record: usize,
        field: &'static str,
        reason: String,
    },
    #[error("host required: this template must be applied with a non-empty host")]
    HostRequired,
    #[error("invalid template: {0}")]
    InvalidTemplate(String),
    #[error("unsupported type: record {record} has type {rtype}, which {reason}")]
    UnsupportedType {
        record: usize,
        rtype: String,
        reason: String,
    },
    #[error("invalid request: {0}")]
    InvalidRequest(String),
}

impl EngineError {
    /// The category, as the CLI and the HTTP layer name it.
    pub fn category(&self) -> &'static str {
        match self {
            EngineError::MissingVariable { .. } => "missing variable",
            EngineError::InvalidData { .. } => "invalid data",
            EngineError::HostRequired => "host required",
            EngineError::InvalidTemplate(_) => "invalid template",
            EngineError::UnsupportedType { .. } => "unsupported type",
            EngineError::InvalidRequest(_) => "invalid request",
        }
    }
}

/// Operator settings that change what the engine produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineConfig {
    /// TTLs below this are raised to it (POLICY.md 3).
    pub min_ttl: u32,
    /// Qualifier of the final `all` of a merged SPF record when no source has one (POLICY.md 7).
    pub spf_all_qualifier: char,
    /// TTL of a new SPF record when the template gives none (POLICY.md 7).
    pub spf_default_ttl: u32,
    /// The backend's apex-alias type (`ALIAS`, ...); APEXCNAME is unsupported without one
    /// (POLICY.md 11).
    pub apex_alias: Option<String>,
    /// The A/AAAA records of the web-forwarding service that REDIR301/302 point at; REDIR is
    /// unsupported without them (POLICY.md 11). Data are IP addresses.
    pub redirect_records: Vec<RedirectTarget>,
    /// Record types the backend can write; `None` means any.
    pub supported_types: Option<Vec<String>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            min_ttl: 60,
            spf_all_qualifier: '~',
            spf_default_ttl: 3600,
            apex_alias: None,
            redirect_records: Vec::new(),
            supported_types: None,
        }
    }
}

/// One backing record of the redirect service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectTarget {
    /// `A` or `AAAA`.
    #[serde(rename = "type")]
    pub rtype: String,
    pub data: String,
    pub ttl: u32,
}

/// Caller-supplied variable values, by exact (case-sensitive) name.
pub type Params = BTreeMap<String, String>;

/// One application of a template.
#[derive(Debug, Clone)]
pub struct ApplyRequest<'a> {
    pub template: &'a Template,
    /// The zone apex, e.g. `example.com` (any case, with or without a trailing dot).
    pub domain: &'a str,
    /// Sub-domain inside the zone; empty (or `@`) for the apex.
    pub host: &'a str,
    pub params: &'a Params,
    /// `groupId` filter; `None` applies every record.
    pub group_ids: Option<&'a [String]>,
    /// The id of the instance this application creates (passed in: the engine has no
    /// randomness). Re-using the id of an existing instance updates it.
    pub instance_id: &'a str,
}

/// A record written by a template instance, with its `essential` flag and group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct InstanceRecord {
    #[serde(flatten)]
    pub record: Record,
    pub essential: Essential,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
}

/// An applied template instance (POLICY.md 13), as the gateway's store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    pub id: String,
    pub provider_id: String,
    pub service_id: String,
    /// The `host` it was applied with, lower-case; empty for the apex.
    pub host: String,
    /// The groups applied (empty: all).
    pub groups: Vec<String>,
    pub records: Vec<InstanceRecord>,
    /// SPF terms merged into SPF records, per owner, so revert can take them out again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spf_terms: Vec<SpfContribution>,
}

/// SPF terms an instance merged into the SPF record at `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SpfContribution {
    pub name: String,
    pub terms: Vec<String>,
}

/// The rule that made an existing record conflict (SPEC.md §7.3, POLICY.md 4–8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictRule {
    /// A new CNAME, or any new record at an owner holding a CNAME (POLICY.md 4).
    Cname,
    /// A new NS delegation covers the record (POLICY.md 6), or a new record lies at or
    /// below an existing delegation.
    Ns,
    /// A/AAAA replace A/AAAA at the owner.
    Address,
    Mx,
    Srv,
    /// TXT matching mode `All`.
    TxtAll,
    /// TXT matching mode `Prefix`.
    TxtPrefix,
    /// APEXCNAME replaces apex addresses and aliases (POLICY.md 11).
    ApexAlias,
    /// REDIR301/302 replace addresses and aliases at the owner.
    Redirect,
    /// The existing SPF record cannot be parsed, so it cannot be merged (POLICY.md 7).
    UnparseableSpf,
    /// The record belongs to an instance whose `Always` record is removed (POLICY.md 15).
    Cascade,
}

/// An existing record the plan removes because of a conflict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub record: Record,
    pub rule: ConflictRule,
    /// Index (in the template) of the record that caused it.
    pub caused_by: usize,
    /// The instance the record belonged to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
}

/// How one RRset looks before and after the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RRsetDiff {
    pub name: String,
    #[serde(rename = "type")]
    pub rtype: String,
    /// The RRset now (`None`: absent).
    pub before: Option<RRset>,
    /// The RRset after the plan (`None`: deleted).
    pub after: Option<RRset>,
}

/// What applying a template does to a zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// The zone apex, absolute.
    pub zone: String,
    /// Records written (new, or existing with a new TTL).
    pub adds: Vec<Record>,
    /// Records removed (conflicts, replaced instances, rewritten SPF records, old TTLs).
    pub deletes: Vec<Record>,
    /// The removals that count as conflicts for the user or the 409 answer.
    pub conflicts: Vec<Conflict>,
    /// Every RRset the plan touches, before and after.
    pub rrsets: Vec<RRsetDiff>,
    /// The instance to record (POLICY.md 13).
    pub instance: Instance,
    /// Ids of existing instances the plan removes entirely.
    pub removed_instances: Vec<String>,
    /// Existing instances that lose some records but stay (the records removed were
    /// `OnApply`); each with the records it keeps.
    pub updated_instances: Vec<Instance>,
    /// HTTP redirects (REDIR301/302) for the web-forwarding service to serve; the backing
    /// A/AAAA records are among `adds`.
    pub redirects: Vec<Redirect>,
}

/// One HTTP redirect a template asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redirect {
    pub name: String,
    /// 301 or 302.
    pub status: u16,
    pub target: String,
}

impl Plan {
    /// True when the plan changes nothing in DNS.
    pub fn is_noop(&self) -> bool {
        self.rrsets.iter().all(|d| d.before == d.after)
    }

    /// The change set that carries the plan out, each RRset guarded by its current content.
    pub fn change_set(&self) -> ChangeSet {
        plan::change_set_of(&self.zone, &self.rrsets)
    }
}
