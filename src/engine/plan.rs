//! Turning (template, zone, parameters, template state) into a [`Plan`] (SPEC.md §7,
//! POLICY.md 1–16).
//!
//! Steps, in order: group filter → render every active record (substitution, names, strict
//! per-type data) → self-conflict checks → earlier instance of the same template →
//! record conflicts → `essential` cascade → SPF merging → the resulting RRsets, checked
//! once more (no CNAME beside other data, one SPF record per owner).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use dcgw_adapter::{RRset, Record};

use super::names::{self, render_owner, render_target};
use super::rdata;
use super::spf::{self, Spf};
use super::template::{IntField, TemplateRecord, TxtMode};
use super::vars::{self, SubstError};
use super::{
    ApplyRequest, Conflict, ConflictRule, EngineConfig, EngineError, Essential, Instance, InstanceRecord,
    Plan, RRsetDiff, Redirect, SpfContribution, Zone,
};

/// Types the engine knows by name beyond the core ones; any other mnemonic is refused
/// (a real zone would reject it). `TYPEnnn` is always accepted.
const KNOWN_TYPES: &[&str] = &[
    "CAA",
    "TLSA",
    "SSHFP",
    "HTTPS",
    "SVCB",
    "PTR",
    "DS",
    "DNSKEY",
    "CDS",
    "CDNSKEY",
    "NAPTR",
    "LOC",
    "HINFO",
    "RP",
    "CERT",
    "SMIMEA",
    "OPENPGPKEY",
    "URI",
    "DNAME",
    "SPF",
    "AFSDB",
    "KX",
    "CSYNC",
    "ZONEMD",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
    Srv,
    Ns,
    /// SPFM, or a TXT whose data is an SPF record: merged, never added as is.
    Spf,
    ApexAlias,
    /// The REDIR pseudo record itself (not written to DNS).
    Redirect,
    Generic,
}

#[derive(Debug, Clone)]
struct NewRec {
    idx: usize,
    kind: Kind,
    record: Record,
    essential: Essential,
    group: Option<String>,
    txt_mode: TxtMode,
    txt_prefix: Option<String>,
    spf_rules: Vec<String>,
    spf_all: Option<char>,
}

/// Why an existing record is removed.
#[derive(Debug, Clone)]
enum Removal {
    Conflict(ConflictRule, usize),
    /// Part of the earlier instance of the same template (POLICY.md 14).
    Replaced,
    /// An SPF record rewritten by a merge.
    SpfMerge,
    /// Its instance lost an `Always` record (POLICY.md 15).
    Cascade {
        instance: String,
        caused_by: usize,
    },
}

struct Ctx<'a> {
    domain: String,
    host: String,
    fqdn: String,
    apex: String,
    req: &'a ApplyRequest<'a>,
    cfg: &'a EngineConfig,
}

impl Ctx<'_> {
    fn sub(&self, idx: usize, field: &'static str, value: &str) -> Result<String, EngineError> {
        vars::substitute(value, |name| match name {
            "domain" => Some(self.domain.as_str()),
            "host" => Some(self.host.as_str()),
            "fqdn" => Some(self.fqdn.as_str()),
            other => self.req.params.get(other).map(String::as_str),
        })
        .map_err(|e| match e {
            SubstError::Missing(variable) => EngineError::MissingVariable {
                record: idx,
                field,
                variable,
            },
            SubstError::Syntax(e) => {
                EngineError::InvalidTemplate(format!("record {idx}, field {field}: {e}"))
            }
        })
    }

    fn invalid(idx: usize, field: &'static str, reason: impl Into<String>) -> EngineError {
        EngineError::InvalidData {
            record: idx,
            field,
            reason: reason.into(),
        }
    }

    /// An integer field: a literal or exactly one whole variable.
    fn int_field(
        &self,
        idx: usize,
        field: &'static str,
        value: Option<&IntField>,
    ) -> Result<Option<String>, EngineError> {
        let Some(v) = value else { return Ok(None) };
        let text = v.as_text();
        if text.contains('%') && !vars::is_single_var(&text) {
            return Err(Self::invalid(
                idx,
                field,
                "must be a number or exactly one %variable%",
            ));
        }
        self.sub(idx, field, &text).map(Some)
    }

    fn ttl(&self, idx: usize, r: &TemplateRecord, default: u32) -> Result<u32, EngineError> {
        match self.int_field(idx, "ttl", r.ttl.as_ref())? {
            None => Ok(default.clamp(self.cfg.min_ttl, rdata::MAX_TTL as u32)),
            Some(t) => rdata::ttl(&t, self.cfg.min_ttl).map_err(|e| Self::invalid(idx, "ttl", e)),
        }
    }

    fn u16_field(&self, idx: usize, field: &'static str, v: Option<&IntField>) -> Result<u16, EngineError> {
        let t = self
            .int_field(idx, field, v)?
            .ok_or_else(|| Self::invalid(idx, field, "is missing"))?;
        rdata::uint16(&t).map_err(|e| Self::invalid(idx, field, e))
    }

    fn text(&self, idx: usize, field: &'static str, v: Option<&String>) -> Result<String, EngineError> {
        self.sub(idx, field, v.map(String::as_str).unwrap_or(""))
    }

    fn owner(&self, idx: usize, field: &'static str, v: Option<&String>) -> Result<String, EngineError> {
        let value = self.text(idx, field, v)?;
        render_owner(&value, &self.domain, &self.host).map_err(|e| Self::invalid(idx, field, e))
    }

    fn target(&self, idx: usize, field: &'static str, v: Option<&String>) -> Result<String, EngineError> {
        let value = self.text(idx, field, v)?;
        render_target(&value, &self.domain, &self.host).map_err(|e| Self::invalid(idx, field, e))
    }
}

fn check_type(idx: usize, t: &str, cfg: &EngineConfig) -> Result<(), EngineError> {
    let unsupported = |reason: &str| EngineError::UnsupportedType {
        record: idx,
        rtype: t.to_string(),
        reason: reason.to_string(),
    };
    let core = matches!(t, "A" | "AAAA" | "CNAME" | "MX" | "TXT" | "SRV" | "NS" | "SPFM");
    let ext = matches!(t, "APEXCNAME" | "REDIR301" | "REDIR302");
    let numbered = t
        .strip_prefix("TYPE")
        .is_some_and(|n| n.parse::<u16>().is_ok_and(|n| n > 0));
    if !(core || ext || numbered || KNOWN_TYPES.contains(&t)) {
        return Err(unsupported("is not a record type the gateway can write"));
    }
    if t == "APEXCNAME" && cfg.apex_alias.is_none() {
        return Err(unsupported(
            "needs a backend that can hold an apex alias (POLICY.md 11)",
        ));
    }
    if t.starts_with("REDIR") && cfg.redirect_records.is_empty() {
        return Err(unsupported("needs a configured redirect service (POLICY.md 11)"));
    }
    if let Some(types) = &cfg.supported_types {
        let effective = match t {
            "SPFM" => "TXT",
            "APEXCNAME" => cfg.apex_alias.as_deref().unwrap_or("ALIAS"),
            "REDIR301" | "REDIR302" => "A",
            other => other,
        };
        if !types.iter().any(|s| s.eq_ignore_ascii_case(effective)) {
            return Err(unsupported("is not supported by the configured backend"));
        }
    }
    Ok(())
}

/// Renders one active template record into zero or more new records.
fn render(ctx: &Ctx<'_>, idx: usize, r: &TemplateRecord, out: &mut Vec<NewRec>) -> Result<(), EngineError> {
    let t = r.kind();
    check_type(idx, &t, ctx.cfg)?;
    let mk = |kind: Kind, name: String, rtype: &str, ttl: u32, data: String| NewRec {
        idx,
        kind,
        record: Record {
            name,
            rtype: rtype.to_string(),
            ttl,
            data,
        },
        essential: r.essential(),
        group: r.group_id.clone(),
        txt_mode: r.txt_mode(),
        txt_prefix: r.txt_conflict_matching_prefix.clone(),
        spf_rules: Vec::new(),
        spf_all: None,
    };
    match t.as_str() {
        "A" | "AAAA" => {
            let owner = ctx.owner(idx, "host", r.host.as_ref())?;
            let v = ctx.text(idx, "pointsTo", r.points_to.as_ref())?;
            let data = if t == "A" {
                rdata::ipv4(&v)
            } else {
                rdata::ipv6(&v)
            };
            let data = data.map_err(|e| Ctx::invalid(idx, "pointsTo", e))?;
            let kind = if t == "A" { Kind::A } else { Kind::Aaaa };
            out.push(mk(kind, owner, &t, ctx.ttl(idx, r, 3600)?, data));
        }
        "CNAME" | "NS" => {
            let owner = ctx.owner(idx, "host", r.host.as_ref())?;
            if owner == ctx.apex {
                return Err(Ctx::invalid(
                    idx,
                    "host",
                    format!("{t} at the zone apex is refused (POLICY.md 4, 6)"),
                ));
            }
            let raw = ctx.text(idx, "pointsTo", r.points_to.as_ref())?;
            if t == "NS" && raw.trim() == "@" {
                return Err(Ctx::invalid(
                    idx,
                    "pointsTo",
                    "NS pointing at '@' would delegate to itself",
                ));
            }
            let target = ctx.target(idx, "pointsTo", r.points_to.as_ref())?;
            let kind = if t == "NS" { Kind::Ns } else { Kind::Cname };
            out.push(mk(kind, owner, &t, ctx.ttl(idx, r, 3600)?, target));
        }
        "MX" => {
            let owner = ctx.owner(idx, "host", r.host.as_ref())?;
            let prio = ctx.u16_field(idx, "priority", r.priority.as_ref())?;
            let target = ctx.target(idx, "pointsTo", r.points_to.as_ref())?;
            out.push(mk(
                Kind::Mx,
                owner,
                "MX",
                ctx.ttl(idx, r, 3600)?,
                format!("{prio} {target}"),
            ));
        }
        "TXT" => {
            let owner = ctx.owner(idx, "host", r.host.as_ref())?;
            let v = ctx.text(idx, "data", r.data.as_ref())?;
            let data = rdata::render_txt(&v).map_err(|e| Ctx::invalid(idx, "data", e))?;
            let text = rdata::txt_text(&data);
            let ttl = ctx.ttl(idx, r, 3600)?;
            if spf::is_spf(&text) {
                // A raw SPF TXT is merged like SPFM (POLICY.md 7).
                let parsed = spf::parse(&text).map_err(|e| Ctx::invalid(idx, "data", e))?;
                let mut n = mk(Kind::Spf, owner, "TXT", ttl, String::new());
                n.spf_rules = parsed.terms;
                n.spf_all = parsed.all;
                out.push(n);
            } else {
                if r.txt_mode() == TxtMode::Prefix
                    && r.txt_conflict_matching_prefix
                        .as_deref()
                        .is_none_or(str::is_empty)
                {
                    return Err(EngineError::InvalidTemplate(format!(
                        "record {idx}: txtConflictMatchingMode Prefix needs txtConflictMatchingPrefix"
                    )));
                }
                out.push(mk(Kind::Txt, owner, "TXT", ttl, data));
            }
        }
        "SPFM" => {
            let owner = ctx.owner(idx, "host", r.host.as_ref())?;
            let rules = ctx.text(idx, "spfRules", r.spf_rules.as_ref())?;
            let rules = spf::parse_rules(&rules).map_err(|e| Ctx::invalid(idx, "spfRules", e))?;
            if rules.is_empty() {
                return Err(Ctx::invalid(idx, "spfRules", "is empty"));
            }
            let ttl = ctx.ttl(idx, r, ctx.cfg.spf_default_ttl)?;
            let mut n = mk(Kind::Spf, owner, "TXT", ttl, String::new());
            n.spf_rules = rules;
            out.push(n);
        }
        "SRV" => {
            let base = ctx.owner(idx, "name", r.name.as_ref())?;
            let service = ctx.text(idx, "service", r.service.as_ref())?.to_ascii_lowercase();
            let service = service.trim().trim_start_matches('_');
            names::check_name(service, false).map_err(|e| Ctx::invalid(idx, "service", e))?;
            let proto = ctx
                .text(idx, "protocol", r.protocol.as_ref())?
                .to_ascii_lowercase();
            let proto = proto.trim().trim_start_matches('_');
            if !matches!(proto, "tcp" | "udp" | "tls" | "sctp" | "dccp") {
                return Err(Ctx::invalid(
                    idx,
                    "protocol",
                    format!("{proto:?} is not one of tcp, udp, tls, sctp, dccp"),
                ));
            }
            let owner = format!("_{service}._{proto}.{base}");
            names::check_name(owner.trim_end_matches('.'), false)
                .map_err(|e| Ctx::invalid(idx, "name", e))?;
            let prio = ctx.u16_field(idx, "priority", r.priority.as_ref())?;
            let weight = ctx.u16_field(idx, "weight", r.weight.as_ref())?;
            let port = ctx.u16_field(idx, "port", r.port.as_ref())?;
            let raw_target = ctx.text(idx, "target", r.target.as_ref())?;
            let target = if raw_target.trim() == "." {
                ".".to_string()
            } else {
                ctx.target(idx, "target", r.target.as_ref())?
            };
            let ttl = ctx.ttl(idx, r, 3600)?;
            out.push(mk(
                Kind::Srv,
                owner,
                "SRV",
                ttl,
                format!("{prio} {weight} {port} {target}"),
            ));
        }
        "APEXCNAME" => {
            let host = ctx.text(idx, "host", r.host.as_ref())?;
            if !(host.is_empty() || host == "@") {
                return Err(Ctx::invalid(
                    idx,
                    "host",
                    "APEXCNAME applies at the applied root only ('@')",
                ));
            }
            let alias = ctx.cfg.apex_alias.clone().unwrap_or_else(|| "ALIAS".into());
            let target = ctx.target(idx, "pointsTo", r.points_to.as_ref())?;
            let owner = names::root(&ctx.domain, &ctx.host);
            out.push(mk(Kind::ApexAlias, owner, &alias, ctx.ttl(idx, r, 3600)?, target));
        }
        "REDIR301" | "REDIR302" => {
            let owner = ctx.owner(idx, "host", r.host.as_ref())?;
            let target = ctx.text(idx, "target", r.target.as_ref())?;
            check_url(&target).map_err(|e| Ctx::invalid(idx, "target", e))?;
            for b in &ctx.cfg.redirect_records {
                let bt = b.rtype.to_ascii_uppercase();
                let (kind, data) = match bt.as_str() {
                    "A" => (Kind::A, rdata::ipv4(&b.data)),
                    "AAAA" => (Kind::Aaaa, rdata::ipv6(&b.data)),
                    _ => return Err(EngineError::InvalidTemplate(format!("redirect record type {bt}"))),
                };
                let data = data.map_err(|e| EngineError::InvalidTemplate(format!("redirect record: {e}")))?;
                let ttl = b.ttl.clamp(ctx.cfg.min_ttl, rdata::MAX_TTL as u32);
                out.push(mk(kind, owner.clone(), &bt, ttl, data));
            }
            out.push(mk(Kind::Redirect, owner, &t, 0, target));
        }
        _ => {
            let owner = ctx.owner(idx, "host", r.host.as_ref())?;
            let v = ctx.text(idx, "data", r.data.as_ref())?;
            let data = rdata::render_generic(&t, &v).map_err(|e| Ctx::invalid(idx, "data", e))?;
            out.push(mk(Kind::Generic, owner, &t, ctx.ttl(idx, r, 3600)?, data));
        }
    }
    Ok(())
}

/// A redirect target: an absolute http(s) URL in ASCII, with a valid host, no user info.
fn check_url(u: &str) -> Result<(), String> {
    rdata::no_control(u)?;
    if !u.is_ascii() || u.contains(char::is_whitespace) {
        return Err("must be an ASCII URL without spaces (percent-encode the rest)".into());
    }
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
        .ok_or("must be an http:// or https:// URL")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err("must not carry user info ('@') in the URL".into());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, Some(p)),
        _ => (authority, None),
    };
    if let Some(p) = port {
        p.parse::<u16>()
            .map_err(|_| format!("port {p:?} is not in 0..65535"))?;
    }
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => !host.is_empty() && names::check_name(host.trim_end_matches('.'), false).is_ok(),
    };
    if !host_ok {
        return Err(format!("host {host:?} is not a valid host name"));
    }
    Ok(())
}

/// True when `name` is `n` or lies below it.
fn at_or_below(name: &str, n: &str) -> bool {
    dcgw_adapter::in_zone(name, n)
}

fn self_conflicts(news: &[NewRec]) -> Result<(), EngineError> {
    for (i, a) in news.iter().enumerate() {
        for b in &news[i + 1..] {
            if a.idx == b.idx {
                continue;
            }
            let alias = |k: Kind| matches!(k, Kind::Cname | Kind::ApexAlias);
            let addr = |k: Kind| matches!(k, Kind::A | Kind::Aaaa);
            let clash = if a.record.name == b.record.name {
                alias(a.kind) && (alias(b.kind) || a.kind == Kind::Cname || addr(b.kind))
                    || alias(b.kind) && (b.kind == Kind::Cname || addr(a.kind))
            } else {
                false
            } || (a.kind == Kind::Ns
                && b.kind != Kind::Ns
                && at_or_below(&b.record.name, &a.record.name))
                || (b.kind == Kind::Ns && a.kind != Kind::Ns && at_or_below(&a.record.name, &b.record.name));
            if clash {
                let reason = match (&a.group, &b.group) {
                    (Some(ga), Some(gb)) if ga != gb => format!(
                        "records {} and {} are alternatives (groups {ga:?} and {gb:?}) and cannot be \
                         applied together; choose one group with groupId",
                        a.idx, b.idx
                    ),
                    _ => format!(
                        "records {} ({}) and {} ({}) conflict with each other at {}",
                        a.idx, a.record.rtype, b.idx, b.record.rtype, b.record.name
                    ),
                };
                return Err(EngineError::InvalidData {
                    record: b.idx,
                    field: "host",
                    reason,
                });
            }
        }
    }
    Ok(())
}

/// The rule under which an existing record conflicts with a new one at the same owner.
fn same_owner_rule(n: &NewRec, existing: &Record, cfg: &EngineConfig) -> Option<ConflictRule> {
    let et = existing.rtype.as_str();
    let is_alias = cfg.apex_alias.as_deref() == Some(et) || et == "APEXCNAME";
    match n.kind {
        Kind::Cname => Some(ConflictRule::Cname),
        _ if et == "CNAME" => Some(ConflictRule::Cname),
        Kind::A | Kind::Aaaa if matches!(et, "A" | "AAAA") || is_alias => Some(ConflictRule::Address),
        Kind::ApexAlias if matches!(et, "A" | "AAAA") || is_alias => Some(ConflictRule::ApexAlias),
        Kind::Mx if et == "MX" => Some(ConflictRule::Mx),
        Kind::Srv if et == "SRV" => Some(ConflictRule::Srv),
        Kind::Redirect if matches!(et, "REDIR301" | "REDIR302") => Some(ConflictRule::Redirect),
        Kind::Txt if et == "TXT" => match n.txt_mode {
            TxtMode::All => Some(ConflictRule::TxtAll),
            TxtMode::Prefix => {
                let prefix = n.txt_prefix.as_deref().unwrap_or("");
                rdata::txt_text(&existing.data)
                    .starts_with(prefix)
                    .then_some(ConflictRule::TxtPrefix)
            }
            TxtMode::None => None,
        },
        _ => None,
    }
}

/// The parent of an absolute name (`a.b.c.` → `b.c.`), `None` at the root.
fn parent(name: &str) -> Option<&str> {
    name.split_once('.').map(|(_, p)| p).filter(|p| !p.is_empty())
}

type Key<'a> = (&'a str, &'a str, &'a str);

fn key(r: &Record) -> Key<'_> {
    (r.name.as_str(), r.rtype.as_str(), r.data.as_str())
}

/// The request checked and the template's active records rendered: the first steps of a plan.
struct Prepared<'a> {
    ctx: Ctx<'a>,
    news: Vec<NewRec>,
    groups: Option<Vec<&'a str>>,
}

/// The owner names a plan for `req` reads, so a backend can be asked for only those RRsets
/// (apply cost independent of the zone's size): the owners of the records the template writes,
/// their ancestors up to the apex (delegations above them), and the owners of every recorded
/// instance's records (replacement and `essential` cascades). `None` when the template writes
/// NS records, whose conflicts reach every name below them: then the whole zone is read.
/// Names are absolute, lower-case, with a trailing dot.
pub fn read_scope(
    req: &ApplyRequest<'_>,
    instances: &[Instance],
    cfg: &EngineConfig,
) -> Result<Option<Vec<String>>, EngineError> {
    let Prepared { ctx, news, .. } = prepare(req, None, cfg)?;
    if news.iter().any(|n| n.kind == Kind::Ns) {
        return Ok(None);
    }
    let mut names: BTreeSet<String> = BTreeSet::new();
    names.insert(ctx.apex.clone());
    for n in &news {
        let mut name = Some(n.record.name.as_str());
        while let Some(nm) = name {
            if !at_or_below(nm, &ctx.apex) {
                break;
            }
            names.insert(nm.to_string());
            if nm == ctx.apex {
                break;
            }
            name = parent(nm);
        }
    }
    for inst in instances {
        for r in &inst.records {
            names.insert(r.record.name.clone());
        }
    }
    Ok(Some(names.into_iter().collect()))
}

fn prepare<'a>(
    req: &'a ApplyRequest<'a>,
    zone_apex: Option<&str>,
    cfg: &'a EngineConfig,
) -> Result<Prepared<'a>, EngineError> {
    let domain = names::normalize_domain(req.domain).map_err(EngineError::InvalidRequest)?;
    let host = names::normalize_host(req.host).map_err(EngineError::InvalidRequest)?;
    let apex = format!("{domain}.");
    if let Some(zone_apex) = zone_apex
        && zone_apex != apex
    {
        return Err(EngineError::InvalidRequest(format!(
            "domain {domain} is not the zone {zone_apex}"
        )));
    }
    let t = req.template;
    if t.host_required && host.is_empty() {
        return Err(EngineError::HostRequired);
    }
    let groups: Option<Vec<&'a str>> = req
        .group_ids
        .filter(|g| !g.is_empty())
        .map(|g| g.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect());
    if let Some(g) = &groups
        && !t
            .records
            .iter()
            .any(|r| r.group_id.as_deref().is_some_and(|id| g.contains(&id)))
    {
        return Err(EngineError::InvalidRequest(format!(
            "groupId {} matches no record of the template (POLICY.md 10)",
            g.join(",")
        )));
    }
    let fqdn = if host.is_empty() {
        domain.clone()
    } else {
        format!("{host}.{domain}")
    };
    let ctx = Ctx {
        domain,
        host,
        fqdn,
        apex,
        req,
        cfg,
    };

    // 1. Render the active records.
    let mut news: Vec<NewRec> = Vec::new();
    for (idx, r) in t.records.iter().enumerate() {
        let active = match (&groups, r.group_id.as_deref()) {
            (Some(g), Some(id)) => g.contains(&id),
            _ => true,
        };
        if active {
            render(&ctx, idx, r, &mut news)?;
        }
    }
    self_conflicts(&news)?;
    Ok(Prepared { ctx, news, groups })
}

/// Computes the plan. See the module docs for the order of the steps.
pub fn plan(
    req: &ApplyRequest<'_>,
    zone: &Zone,
    instances: &[Instance],
    cfg: &EngineConfig,
) -> Result<Plan, EngineError> {
    let Prepared { ctx, news, groups } = prepare(req, Some(zone.apex()), cfg)?;
    let t = req.template;

    // 2. The earlier instance(s) of the same template on the same host (POLICY.md 14).
    let same_template = |i: &Instance| {
        i.provider_id.eq_ignore_ascii_case(&t.provider_id)
            && i.service_id.eq_ignore_ascii_case(&t.service_id)
            && i.host == ctx.host
            && (!t.multi_instance || i.id == req.instance_id)
    };
    let earlier: Vec<&Instance> = instances.iter().filter(|i| same_template(i)).collect();
    let in_groups = |g: &Option<String>| match (&groups, g) {
        (None, _) => true,
        (Some(gs), Some(g)) => gs.contains(&g.as_str()),
        (Some(_), None) => false,
    };
    // Instance records indexed by record, for replacement and cascades.
    let mut owners_of: HashMap<Key<'_>, Vec<(usize, Essential)>> = HashMap::new();
    for (ii, inst) in instances.iter().enumerate() {
        for r in &inst.records {
            owners_of
                .entry(key(&r.record))
                .or_default()
                .push((ii, r.essential));
        }
    }
    let find = |r: &Record| -> Vec<usize> {
        zone.at(&r.name)
            .iter()
            .copied()
            .filter(|&i| key(zone.record(i)) == key(r))
            .collect()
    };

    let mut removals: BTreeMap<usize, Removal> = BTreeMap::new();
    let mut kept_from_earlier: Vec<InstanceRecord> = Vec::new();
    for inst in &earlier {
        for r in &inst.records {
            if in_groups(&r.group_id) {
                for i in find(&r.record) {
                    removals.insert(i, Removal::Replaced);
                }
            } else {
                kept_from_earlier.push(r.clone());
            }
        }
    }
    let replaced_ids: BTreeSet<&str> = earlier.iter().map(|i| i.id.as_str()).collect();

    // 3. Record conflicts (SPEC.md §7.3 with POLICY.md 4–8).
    for n in &news {
        let owner = n.record.name.as_str();
        if n.kind == Kind::Ns {
            for i in zone.at_and_below(owner) {
                removals
                    .entry(i)
                    .or_insert(Removal::Conflict(ConflictRule::Ns, n.idx));
            }
            continue;
        }
        for &i in zone.at(owner) {
            if let Some(rule) = same_owner_rule(n, zone.record(i), cfg) {
                removals.entry(i).or_insert(Removal::Conflict(rule, n.idx));
            }
        }
        // A delegation at or above the owner would hide the new record.
        let mut name = Some(owner);
        while let Some(nm) = name {
            if nm == ctx.apex || !at_or_below(nm, &ctx.apex) {
                break;
            }
            for &i in zone.at(nm) {
                if zone.record(i).rtype == "NS" {
                    removals
                        .entry(i)
                        .or_insert(Removal::Conflict(ConflictRule::Ns, n.idx));
                }
            }
            name = parent(nm);
        }
    }

    // 4. SPF merging, per owner (POLICY.md 7).
    let mut spf_owners: Vec<&str> = Vec::new();
    for n in news.iter().filter(|n| n.kind == Kind::Spf) {
        if !spf_owners.contains(&n.record.name.as_str()) {
            spf_owners.push(&n.record.name);
        }
    }
    let mut spf_records: Vec<Record> = Vec::new();
    let mut contributions: Vec<SpfContribution> = Vec::new();
    for owner in spf_owners {
        let mut base = Spf::default();
        let mut existing_ttl: Option<u32> = None;
        let first_idx = news
            .iter()
            .find(|n| n.kind == Kind::Spf && n.record.name == owner)
            .map_or(0, |n| n.idx);
        for &i in zone.at(owner) {
            let r = zone.record(i);
            if r.rtype != "TXT" || removals.contains_key(&i) {
                continue;
            }
            let text = rdata::txt_text(&r.data);
            if !spf::is_spf(&text) {
                continue;
            }
            match spf::parse(&text) {
                Ok(s) => {
                    spf::merge(&mut base, &s.terms);
                    if let Some(q) = s.all {
                        base.all = Some(spf::least_strict(base.all, q));
                    }
                    existing_ttl = Some(existing_ttl.map_or(r.ttl, |t| t.min(r.ttl)));
                    removals.insert(i, Removal::SpfMerge);
                }
                Err(_) => {
                    removals.insert(i, Removal::Conflict(ConflictRule::UnparseableSpf, first_idx));
                }
            }
        }
        let mut added = Vec::new();
        let mut template_ttl = None;
        for n in news
            .iter()
            .filter(|n| n.kind == Kind::Spf && n.record.name == owner)
        {
            added.extend(spf::merge(&mut base, &n.spf_rules));
            // Terms the replaced instance contributed stay this instance's (for revert).
            for e in &earlier {
                for c in e.spf_terms.iter().filter(|c| c.name == owner) {
                    for t in c
                        .terms
                        .iter()
                        .filter(|t| n.spf_rules.iter().any(|r| r.eq_ignore_ascii_case(t)))
                    {
                        if !added.iter().any(|a: &String| a.eq_ignore_ascii_case(t)) {
                            added.push(t.clone());
                        }
                    }
                }
            }
            if let Some(q) = n.spf_all {
                base.all = Some(spf::least_strict(base.all, q));
            }
            template_ttl.get_or_insert(n.record.ttl);
        }
        let text = spf::render(&base, cfg.spf_all_qualifier);
        let ttl = existing_ttl.or(template_ttl).unwrap_or(cfg.spf_default_ttl);
        spf_records.push(Record {
            name: owner.to_string(),
            rtype: "TXT".into(),
            ttl,
            data: rdata::txt_presentation(text.as_bytes()),
        });
        if !added.is_empty() {
            contributions.push(SpfContribution {
                name: owner.to_string(),
                terms: added,
            });
        }
    }

    // 5. The essential cascade (POLICY.md 15): an `Always` record removed by a conflict takes
    //    its whole instance (only that instance) with it.
    let mut removed_instances: BTreeSet<usize> = BTreeSet::new();
    let mut lost: BTreeMap<usize, Vec<Key<'_>>> = BTreeMap::new();
    let mut work: Vec<(usize, usize)> = removals
        .iter()
        .filter_map(|(&i, why)| match why {
            Removal::Conflict(_, by) => Some((i, *by)),
            _ => None,
        })
        .collect();
    while let Some((zi, by)) = work.pop() {
        let rec = zone.record(zi);
        let Some(owners) = owners_of.get(&key(rec)) else {
            continue;
        };
        for &(ii, essential) in owners {
            let inst = &instances[ii];
            if replaced_ids.contains(inst.id.as_str()) && same_template(inst) {
                continue;
            }
            if essential == Essential::OnApply {
                lost.entry(ii).or_default().push(key(rec));
                continue;
            }
            if !removed_instances.insert(ii) {
                continue;
            }
            for r in &inst.records {
                for i in find(&r.record) {
                    if let std::collections::btree_map::Entry::Vacant(e) = removals.entry(i) {
                        e.insert(Removal::Cascade {
                            instance: inst.id.clone(),
                            caused_by: by,
                        });
                        work.push((i, by));
                    }
                }
            }
        }
    }

    // 6. Resulting RRsets.
    let written: Vec<&Record> = news
        .iter()
        .filter(|n| !matches!(n.kind, Kind::Spf | Kind::Redirect))
        .map(|n| &n.record)
        .chain(spf_records.iter())
        .collect();
    let (diffs, adds, deletes) = resulting_rrsets(zone, &removals.keys().copied().collect(), &written);

    // 7. Safety net: what real DNS software would reject never leaves the engine.
    check_result(zone, &diffs, &ctx.apex)?;

    // Conflicts: removals that really remove a record, excluding replacements and merges.
    let survives = |r: &Record| {
        diffs.iter().any(|d| {
            d.name == r.name
                && d.rtype == r.rtype
                && d.after.as_ref().is_some_and(|a| a.data.contains(&r.data))
        })
    };
    let mut conflicts = Vec::new();
    for (&i, why) in &removals {
        let rec = zone.record(i);
        let (rule, caused_by, instance) = match why {
            Removal::Conflict(rule, by) => (*rule, *by, None),
            Removal::Cascade { instance, caused_by } => {
                (ConflictRule::Cascade, *caused_by, Some(instance.clone()))
            }
            Removal::Replaced | Removal::SpfMerge => continue,
        };
        if survives(rec) {
            continue;
        }
        let instance = instance.or_else(|| {
            owners_of
                .get(&key(rec))
                .and_then(|o| o.first())
                .map(|(ii, _)| instances[*ii].id.clone())
        });
        conflicts.push(Conflict {
            record: rec.clone(),
            rule,
            caused_by,
            instance,
        });
    }

    // The instance to record.
    let mut inst_records: Vec<InstanceRecord> = Vec::new();
    let mut id = req.instance_id.to_string();
    let mut inst_groups: Vec<String> = groups.iter().flatten().map(|s| s.to_string()).collect();
    if groups.is_some()
        && let Some(e) = earlier.first()
    {
        // Applying some groups adds to the earlier instance (POLICY.md 14).
        id = e.id.clone();
        inst_records.extend(kept_from_earlier.iter().cloned());
        if e.groups.is_empty() {
            inst_groups.clear();
        } else {
            for g in &e.groups {
                if !inst_groups.contains(g) {
                    inst_groups.push(g.clone());
                }
            }
        }
    }
    for n in news
        .iter()
        .filter(|n| !matches!(n.kind, Kind::Spf | Kind::Redirect))
    {
        let ir = InstanceRecord {
            record: n.record.clone(),
            essential: n.essential,
            group_id: n.group.clone(),
        };
        if !inst_records.contains(&ir) {
            inst_records.push(ir);
        }
    }
    let redirects = news
        .iter()
        .filter(|n| n.kind == Kind::Redirect)
        .map(|n| Redirect {
            name: n.record.name.clone(),
            status: if n.record.rtype == "REDIR302" { 302 } else { 301 },
            target: n.record.data.clone(),
        })
        .collect();

    let removed_ids: Vec<String> = earlier
        .iter()
        .filter(|e| e.id != id)
        .map(|e| e.id.clone())
        .chain(removed_instances.iter().map(|&ii| instances[ii].id.clone()))
        .collect();
    let updated_instances = lost
        .iter()
        .filter(|(ii, _)| !removed_instances.contains(ii))
        .map(|(&ii, keys)| {
            let mut inst = instances[ii].clone();
            inst.records.retain(|r| !keys.contains(&key(&r.record)));
            inst
        })
        .collect();

    Ok(Plan {
        zone: ctx.apex.clone(),
        adds,
        deletes,
        conflicts,
        rrsets: diffs,
        instance: Instance {
            id,
            provider_id: t.provider_id.clone(),
            service_id: t.service_id.clone(),
            host: ctx.host.clone(),
            groups: inst_groups,
            records: inst_records,
            spf_terms: contributions,
        },
        removed_instances: removed_ids,
        updated_instances,
        redirects,
    })
}

/// No CNAME beside other data, one SPF record per owner, nothing outside the zone.
fn check_result(zone: &Zone, diffs: &[RRsetDiff], apex: &str) -> Result<(), EngineError> {
    let bad = |reason: String| EngineError::InvalidData {
        record: 0,
        field: "host",
        reason,
    };
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for d in diffs {
        if !at_or_below(&d.name, apex) {
            return Err(bad(format!("{} is outside the zone {apex}", d.name)));
        }
        names.insert(&d.name);
        if let Some(a) = &d.after
            && a.rtype == "TXT"
            && a.data.iter().filter(|t| spf::is_spf(&rdata::txt_text(t))).count() > 1
        {
            return Err(bad(format!(
                "the result would hold two SPF records at {}",
                d.name
            )));
        }
    }
    for name in names {
        let mut types: BTreeSet<&str> = zone
            .at(name)
            .iter()
            .map(|&i| zone.record(i).rtype.as_str())
            .collect();
        for d in diffs.iter().filter(|d| d.name == name) {
            if d.after.is_some() {
                types.insert(&d.rtype);
            } else {
                types.remove(d.rtype.as_str());
            }
        }
        if types.contains("CNAME") && types.len() > 1 {
            return Err(bad(format!(
                "the result would leave a CNAME beside other data at {name}"
            )));
        }
    }
    Ok(())
}

/// The RRsets touched by removing the zone records `removed` and writing `written`, before and
/// after, with the records deleted and added (an RRset whose TTL changes is rewritten whole).
/// Written records joining an RRset give it their (lowest) TTL (POLICY.md 9).
pub(crate) fn resulting_rrsets(
    zone: &Zone,
    removed: &BTreeSet<usize>,
    written: &[&Record],
) -> (Vec<RRsetDiff>, Vec<Record>, Vec<Record>) {
    let mut adds_by_set: BTreeMap<(String, String), Vec<&Record>> = BTreeMap::new();
    for r in written {
        adds_by_set
            .entry((r.name.clone(), r.rtype.clone()))
            .or_default()
            .push(r);
    }
    let mut touched: BTreeSet<(String, String)> = adds_by_set.keys().cloned().collect();
    for &i in removed {
        let r = zone.record(i);
        touched.insert((r.name.clone(), r.rtype.clone()));
    }
    let mut diffs = Vec::with_capacity(touched.len());
    let (mut adds, mut deletes) = (Vec::new(), Vec::new());
    for (name, rtype) in &touched {
        let before = zone.rrset(name, rtype);
        let mut data: Vec<String> = Vec::new();
        for &i in zone.at(name) {
            let r = zone.record(i);
            if &r.rtype == rtype && !removed.contains(&i) && !data.contains(&r.data) {
                data.push(r.data.clone());
            }
        }
        let new_here = adds_by_set.get(&(name.clone(), rtype.clone()));
        let mut ttl = before.as_ref().map_or(0, |b| b.ttl);
        if let Some(new_here) = new_here {
            ttl = new_here.iter().map(|r| r.ttl).min().unwrap_or(ttl);
            for r in new_here {
                if !data.contains(&r.data) {
                    data.push(r.data.clone());
                }
            }
        }
        let after = (!data.is_empty()).then(|| RRset::new(name.clone(), rtype.clone(), ttl, data));
        let same = match (&before, &after) {
            (Some(b), Some(a)) => b.ttl == a.ttl && b.same_data(a),
            (None, None) => true,
            _ => false,
        };
        if same {
            diffs.push(RRsetDiff {
                name: name.clone(),
                rtype: rtype.clone(),
                before: before.clone(),
                after: before,
            });
            continue;
        }
        let ttl_changed = matches!((&before, &after), (Some(b), Some(a)) if b.ttl != a.ttl);
        let empty = Vec::new();
        let bdata = before.as_ref().map_or(&empty, |b| &b.data);
        let adata = after.as_ref().map_or(&empty, |a| &a.data);
        for d in bdata {
            if ttl_changed || !adata.contains(d) {
                deletes.push(Record {
                    name: name.clone(),
                    rtype: rtype.clone(),
                    ttl: before.as_ref().map_or(0, |b| b.ttl),
                    data: d.clone(),
                });
            }
        }
        for d in adata {
            if ttl_changed || !bdata.contains(d) {
                adds.push(Record {
                    name: name.clone(),
                    rtype: rtype.clone(),
                    ttl,
                    data: d.clone(),
                });
            }
        }
        diffs.push(RRsetDiff {
            name: name.clone(),
            rtype: rtype.clone(),
            before,
            after,
        });
    }
    (diffs, adds, deletes)
}

/// The change set for `diffs`: every changed RRset, guarded by its current content.
pub(crate) fn change_set_of(zone: &str, diffs: &[RRsetDiff]) -> dcgw_adapter::ChangeSet {
    dcgw_adapter::ChangeSet {
        zone: zone.to_string(),
        changes: diffs
            .iter()
            .filter(|d| d.before != d.after)
            .map(|d| dcgw_adapter::RRsetChange {
                name: d.name.clone(),
                rtype: d.rtype.clone(),
                expect: match &d.before {
                    None => dcgw_adapter::Expect::Absent,
                    Some(b) => dcgw_adapter::Expect::Exactly(b.data.clone()),
                },
                new: d.after.clone(),
            })
            .collect(),
    }
}
