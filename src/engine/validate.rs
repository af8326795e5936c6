//! Template validation: what an operator vetting a template before serving it wants to know
//! (SPEC.md §5, §6, §10, §11; POLICY.md). Pure: no I/O.
//!
//! [`validate`] returns every [`Finding`]. An [`Severity::Error`] means the template is
//! broken for this gateway (it would fail, or write something a real zone rejects) and must
//! not be served; a [`Severity::Warning`] flags something we tolerate (and say how). Each
//! finding carries a stable kebab-case rule id (see [`RULES`]).
//!
//! Record numbers are indexes into `records`, counted from 0, as in the engine's errors.
//! Only literal (variable-free) values are checked against DNS syntax; values holding
//! variables are checked once substituted, by the engine.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Serialize;

use super::template::{Essential, IntField, Template, TemplateRecord, TxtMode};
use super::vars::{self, Token};

/// Largest TTL we write (RFC 2181 §8); larger values are clamped (POLICY.md 3).
pub const MAX_TTL: u64 = 2_147_483_647;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Tolerated (and interpreted as the message says); the template is served.
    Warning,
    /// The template is not served.
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One problem found in a template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// Index of the record in `records` (from 0); `None` for the template as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<usize>,
    /// The JSON key the finding is about (`pointsTo`, `providerId`, ...); empty when it is
    /// about no key in particular (a file that does not parse, say).
    pub field: &'static str,
    /// Stable rule id, kebab-case (one of [`RULES`]).
    pub rule: &'static str,
    pub message: String,
}

impl Finding {
    pub fn error(record: Option<usize>, field: &'static str, rule: &'static str, message: String) -> Self {
        Finding {
            severity: Severity::Error,
            record,
            field,
            rule,
            message,
        }
    }

    pub fn warning(record: Option<usize>, field: &'static str, rule: &'static str, message: String) -> Self {
        Finding {
            severity: Severity::Warning,
            record,
            field,
            rule,
            message,
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `record 2, field pointsTo: <message> [rule-id]` (the parts that apply).
impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.record, self.field.is_empty()) {
            (Some(r), false) => write!(f, "record {r}, field {}: ", self.field)?,
            (Some(r), true) => write!(f, "record {r}: ")?,
            (None, false) => write!(f, "field {}: ", self.field)?,
            (None, true) => {}
        }
        write!(f, "{} [{}]", self.message, self.rule)
    }
}

/// True when any finding is an error.
pub fn has_errors(findings: &[Finding]) -> bool {
    findings.iter().any(Finding::is_error)
}

/// Every rule id [`validate`] (and the template store) can report, with its usual severity
/// and a one-line summary. Ids are stable: tools may filter on them.
#[rustfmt::skip]
pub const RULES: &[(&str, Severity, &str)] = &[
    ("invalid-id", Severity::Error, "providerId/serviceId/groupId must be a dc-id (1-63 of A-Za-z0-9-_.)"),
    ("invalid-display-name", Severity::Error, "providerName/serviceName must hold 1-255 characters"),
    ("invalid-version", Severity::Error, "version must be a positive integer"),
    ("no-records", Severity::Error, "records must not be empty"),
    ("description-too-long", Severity::Warning, "description/variableDescription over 2048 characters"),
    ("logo-url", Severity::Warning, "logoUrl is not an http(s) URL"),
    ("invalid-pubkey-domain", Severity::Error, "syncPubKeyDomain is not a domain name"),
    ("blank-pubkey-domain", Severity::Warning, "syncPubKeyDomain is blank: requests are not signed"),
    ("invalid-redirect-domain", Severity::Error, "a syncRedirectDomain entry is not a domain name"),
    ("redirect-domain-whitespace", Severity::Warning, "spaces around commas in syncRedirectDomain"),
    ("redirect-domain-empty-entry", Severity::Warning, "an empty entry in syncRedirectDomain"),
    ("pubkey-with-warn-phishing", Severity::Warning, "syncPubKeyDomain together with warnPhishing"),
    ("deprecated-shared", Severity::Warning, "shared without sharedProviderName"),
    ("unsigned-variables", Severity::Warning, "unsigned sync flow for a template that takes variables"),
    ("reserved-variable", Severity::Warning, "a variable named like a protocol parameter"),
    ("variable-case-clash", Severity::Warning, "two variable names differ only in case"),
    ("type-missing", Severity::Error, "record type is empty"),
    ("type-invalid", Severity::Error, "record type is not an RR type mnemonic"),
    ("type-forbidden", Severity::Error, "record type a template must never write (SOA, DNSSEC, meta types)"),
    ("type-unknown-mnemonic", Severity::Warning, "record type is not a registered RR type"),
    ("extension-type", Severity::Warning, "APEXCNAME/REDIR301/REDIR302 are not supported by every backend"),
    ("variable-not-allowed", Severity::Error, "a variable in type/groupId/essential/txtConflictMatching*"),
    ("variable-syntax", Severity::Error, "an unclosed '%' or a bad variable name"),
    ("missing-field", Severity::Error, "a field the record type requires is missing"),
    ("field-not-allowed", Severity::Warning, "a field the record type does not use (ignored)"),
    ("empty-value", Severity::Error, "pointsTo/target is empty"),
    ("int-syntax", Severity::Error, "an integer field is neither digits nor exactly one %variable%"),
    ("int-range", Severity::Error, "priority/weight/port outside 0..65535"),
    ("ttl-range", Severity::Warning, "ttl outside 0..2^31-1 (clamped)"),
    ("ttl-missing", Severity::Warning, "no ttl (the default is used)"),
    ("essential-invalid", Severity::Warning, "essential is neither Always nor OnApply (treated as Always)"),
    ("essential-case", Severity::Warning, "essential spelled with other case or spaces"),
    ("txt-mode-invalid", Severity::Warning, "txtConflictMatchingMode unknown (treated as None)"),
    ("txt-mode-case", Severity::Warning, "txtConflictMatchingMode spelled with other case or spaces"),
    ("txt-prefix-missing", Severity::Error, "mode Prefix without txtConflictMatchingPrefix"),
    ("txt-prefix-unused", Severity::Warning, "txtConflictMatchingPrefix without mode Prefix"),
    ("apex-without-host-required", Severity::Error, "CNAME/NS at the applied root without hostRequired"),
    ("points-to-apex", Severity::Error, "A/AAAA/NS pointsTo '@'"),
    ("invalid-ipv4", Severity::Error, "A pointsTo is not a dotted-quad IPv4 address"),
    ("invalid-ipv6", Severity::Error, "AAAA pointsTo is not an IPv6 address"),
    ("invalid-host", Severity::Error, "host/name is not a valid (relative or absolute) name"),
    ("invalid-target", Severity::Error, "pointsTo/target is not a valid host name"),
    ("target-is-address", Severity::Warning, "CNAME/MX/NS/SRV target is an IP address"),
    ("apexcname-host", Severity::Error, "APEXCNAME with a host other than '@'"),
    ("srv-protocol", Severity::Error, "SRV protocol not one of _tcp/_udp/_tls/_sctp/_dccp"),
    ("srv-service", Severity::Error, "SRV service is not a '_label'"),
    ("host-doubling", Severity::Warning, "%host% inside a host field (the label is doubled)"),
    ("relative-builtin", Severity::Warning, "%fqdn%/%domain% in a relative host (the domain is doubled)"),
    ("raw-spf-txt", Severity::Warning, "a TXT record holding SPF (use SPFM; merged anyway)"),
    ("txt-data-at", Severity::Warning, "TXT data '@' is written as a literal '@'"),
    ("spf-rules", Severity::Error, "spfRules holds v=spf1, an all term or an invalid term"),
    ("spf-redirect", Severity::Warning, "redirect= in spfRules is ignored once merged"),
    ("invalid-data", Severity::Error, "generic-type data empty, '@' or malformed"),
    ("invalid-redirect-target", Severity::Error, "REDIR target is not an http(s) URL"),
    ("self-conflict", Severity::Error, "two records that are always applied together conflict"),
    ("group-alternatives", Severity::Warning, "groups that conflict: they cannot be applied together"),
    ("multi-instance-conflict", Severity::Warning, "multiInstance template with a record at a fixed owner"),
    ("duplicate-record", Severity::Warning, "the same record twice"),
    // Reported by the template store (src/templates.rs), not by `validate`.
    ("file-read", Severity::Error, "the file cannot be read"),
    ("file-too-large", Severity::Error, "the file is larger than the limit"),
    ("not-utf8", Severity::Error, "the file is not UTF-8"),
    ("utf8-bom", Severity::Warning, "the file starts with a byte-order mark"),
    ("json-syntax", Severity::Error, "the file is not JSON"),
    ("not-an-object", Severity::Error, "the JSON is not an object"),
    ("json-structure", Severity::Error, "the JSON does not have the shape of a template"),
    ("unknown-field", Severity::Warning, "a key the template format does not define (ignored)"),
    ("file-name", Severity::Error, "the file name is not providerId.serviceId.json"),
    ("duplicate-template", Severity::Error, "another file holds the same providerId/serviceId"),
];

/// Checks a template. Findings come in template order: template-level first, then each
/// record, then the checks across records.
pub fn validate(t: &Template) -> Vec<Finding> {
    let mut c = Checker { t, out: Vec::new() };
    c.template_fields();
    for (i, r) in t.records.iter().enumerate() {
        c.record(i, r);
    }
    c.variables();
    c.cross_records();
    c.out
}

// ---------------------------------------------------------------------------------------
// Small syntax helpers

/// `dc-id`: 1–63 of `A-Z a-z 0-9 - _ .`.
pub fn is_dc_id(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

fn has_var(s: &str) -> bool {
    matches!(vars::tokens(s), Ok(toks) if toks.iter().any(|t| matches!(t, Token::Var(_))))
}

/// A field that is neither a variable nor holds one (nor a broken `%`).
fn is_literal(s: &str) -> bool {
    !s.contains('%')
}

fn is_label_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_'
}

/// Checks a literal domain name (no `@`, no variables); one trailing dot allowed.
/// `wildcard`: a leftmost `*` label is allowed.
pub fn check_name(s: &str, wildcard: bool) -> Result<(), String> {
    let body = s.strip_suffix('.').unwrap_or(s);
    if body.is_empty() {
        return Err("is empty".into());
    }
    if s.len() > 254 || body.len() > 253 {
        return Err(format!(
            "is {} characters long; a name has at most 253",
            body.len()
        ));
    }
    for (i, label) in body.split('.').enumerate() {
        if label.is_empty() {
            return Err("has an empty label ('..', or a leading '.')".into());
        }
        if label == "*" {
            if wildcard && i == 0 {
                continue;
            }
            return Err("has a '*' that is not the whole leftmost label".into());
        }
        if label.len() > 63 {
            return Err(format!("has a label of {} characters; at most 63", label.len()));
        }
        if let Some(c) = label.chars().find(|&c| !(c.is_ascii() && is_label_char(c as u8))) {
            return Err(match c {
                '@' => "has an '@' inside: '@' is only allowed as the whole field".into(),
                c if !c.is_ascii() => {
                    format!("has the non-ASCII character {c:?}: use the A-label (xn--) form")
                }
                c => format!("has the character {c:?}; labels hold only A-Z a-z 0-9 - _"),
            });
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("has the label {label:?}, which starts or ends with '-'"));
        }
    }
    Ok(())
}

/// Checks the literal parts of a name that holds variables.
fn check_templated_name(s: &str, wildcard: bool) -> Result<(), String> {
    let Ok(toks) = vars::tokens(s) else {
        return Ok(()); // reported as variable-syntax
    };
    for (ti, tok) in toks.iter().enumerate() {
        let Token::Literal(lit) = tok else { continue };
        if let Some(c) = lit
            .chars()
            .find(|&c| !(c.is_ascii() && (is_label_char(c as u8) || c == '.' || c == '*')))
        {
            return Err(match c {
                '@' => "has an '@' inside: '@' is only allowed as the whole field".into(),
                c => format!("has the character {c:?}; names hold only A-Z a-z 0-9 - _ ."),
            });
        }
        if lit.contains("..") || (ti == 0 && lit.starts_with('.')) {
            return Err("has an empty label ('..', or a leading '.')".into());
        }
        if let Some(pos) = lit.find('*') {
            let ok = wildcard && ti == 0 && pos == 0 && (lit.len() == 1 || lit[1..].starts_with('.'));
            if !ok || lit[1..].contains('*') {
                return Err("has a '*' that is not the whole leftmost label".into());
            }
        }
        // Labels wholly inside this literal (not joined to a variable) must fit.
        let pieces: Vec<&str> = lit.split('.').collect();
        let n = pieces.len();
        for (pi, p) in pieces.iter().enumerate() {
            let whole = (pi > 0 || ti == 0) && (pi + 1 < n || ti + 1 == toks.len());
            if whole && p.len() > 63 {
                return Err(format!("has a label of {} characters; at most 63", p.len()));
            }
        }
    }
    Ok(())
}

/// Parses a literal integer field value; `None` when it is not all digits.
fn literal_int(v: &IntField) -> Option<Result<u64, ()>> {
    match v {
        IntField::Int(i) => Some(u64::try_from(*i).map_err(|_| ())),
        IntField::Text(s) => {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                Some(s.parse::<u64>().map_err(|_| ()))
            } else {
                None
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Record kinds and their fields

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    A,
    Aaaa,
    Cname,
    Mx,
    Txt,
    Srv,
    Spfm,
    Ns,
    ApexCname,
    Redir,
    Generic,
    /// The type is missing or invalid: field checks are skipped.
    Invalid,
}

/// Meta and zone-maintained types a template must never write.
const FORBIDDEN_TYPES: &[&str] = &[
    "SOA",
    "OPT",
    "TKEY",
    "TSIG",
    "IXFR",
    "AXFR",
    "MAILA",
    "MAILB",
    "ANY",
    "RRSIG",
    "NSEC",
    "NSEC3",
    "NSEC3PARAM",
    "NXNAME",
];

/// IANA RR type mnemonics (data types), besides the core ones.
const KNOWN_TYPES: &[&str] = &[
    "MD",
    "MF",
    "MB",
    "MG",
    "MR",
    "NULL",
    "WKS",
    "PTR",
    "HINFO",
    "MINFO",
    "RP",
    "AFSDB",
    "X25",
    "ISDN",
    "RT",
    "NSAP",
    "NSAP-PTR",
    "SIG",
    "KEY",
    "PX",
    "GPOS",
    "LOC",
    "NXT",
    "EID",
    "NIMLOC",
    "ATMA",
    "NAPTR",
    "KX",
    "CERT",
    "A6",
    "DNAME",
    "SINK",
    "APL",
    "DS",
    "SSHFP",
    "IPSECKEY",
    "DNSKEY",
    "DHCID",
    "TLSA",
    "SMIMEA",
    "HIP",
    "NINFO",
    "RKEY",
    "TALINK",
    "CDS",
    "CDNSKEY",
    "OPENPGPKEY",
    "CSYNC",
    "ZONEMD",
    "SVCB",
    "HTTPS",
    "DSYNC",
    "HHIT",
    "BRID",
    "SPF",
    "UINFO",
    "UID",
    "GID",
    "UNSPEC",
    "NID",
    "L32",
    "L64",
    "LP",
    "EUI48",
    "EUI64",
    "URI",
    "CAA",
    "AVC",
    "DOA",
    "AMTRELAY",
    "RESINFO",
    "WALLET",
    "CLA",
    "IPN",
    "TA",
    "DLV",
    "ALIAS",
];

const HOST: &str = "host";
const NAME: &str = "name";
const POINTS_TO: &str = "pointsTo";
const TTL: &str = "ttl";
const DATA: &str = "data";
const TXT_MODE: &str = "txtConflictMatchingMode";
const TXT_PREFIX: &str = "txtConflictMatchingPrefix";
const PRIORITY: &str = "priority";
const WEIGHT: &str = "weight";
const PORT: &str = "port";
const PROTOCOL: &str = "protocol";
const SERVICE: &str = "service";
const TARGET: &str = "target";
const SPF_RULES: &str = "spfRules";

impl Kind {
    /// Fields the type uses besides type/groupId/essential (SPEC.md §5.3; SPFM also takes a
    /// ttl, §10.21; APEXCNAME may name its host as `@`).
    fn allowed(self) -> &'static [&'static str] {
        match self {
            Kind::A | Kind::Aaaa | Kind::Ns | Kind::Cname | Kind::ApexCname => &[HOST, POINTS_TO, TTL],
            Kind::Txt => &[HOST, DATA, TTL, TXT_MODE, TXT_PREFIX],
            Kind::Mx => &[HOST, POINTS_TO, TTL, PRIORITY],
            Kind::Srv => &[NAME, TARGET, TTL, PRIORITY, PROTOCOL, SERVICE, WEIGHT, PORT],
            Kind::Spfm => &[HOST, SPF_RULES, TTL],
            Kind::Redir => &[HOST, TARGET],
            Kind::Generic => &[HOST, DATA, TTL],
            Kind::Invalid => &[],
        }
    }

    /// Fields the type requires (SPEC.md §5.3; ttl is handled apart).
    fn required(self) -> &'static [&'static str] {
        match self {
            Kind::A | Kind::Aaaa | Kind::Ns | Kind::Cname => &[HOST, POINTS_TO],
            Kind::Txt | Kind::Generic => &[HOST, DATA],
            Kind::Mx => &[HOST, POINTS_TO, PRIORITY],
            Kind::Srv => &[NAME, TARGET, PROTOCOL, SERVICE, PRIORITY, WEIGHT, PORT],
            Kind::Spfm => &[HOST, SPF_RULES],
            Kind::Redir => &[TARGET],
            Kind::ApexCname => &[POINTS_TO],
            Kind::Invalid => &[],
        }
    }

    /// Whether the spec (schema) wants a ttl on this type.
    fn wants_ttl(self) -> bool {
        !matches!(self, Kind::Spfm | Kind::Redir | Kind::Invalid)
    }
}

/// The optional fields of a record that are present, by JSON key.
fn present_fields(r: &TemplateRecord) -> Vec<&'static str> {
    let mut v = Vec::new();
    let mut add = |present: bool, key: &'static str| {
        if present {
            v.push(key);
        }
    };
    add(r.host.is_some(), HOST);
    add(r.name.is_some(), NAME);
    add(r.points_to.is_some(), POINTS_TO);
    add(r.ttl.is_some(), TTL);
    add(r.data.is_some(), DATA);
    add(r.txt_conflict_matching_mode.is_some(), TXT_MODE);
    add(r.txt_conflict_matching_prefix.is_some(), TXT_PREFIX);
    add(r.priority.is_some(), PRIORITY);
    add(r.weight.is_some(), WEIGHT);
    add(r.port.is_some(), PORT);
    add(r.protocol.is_some(), PROTOCOL);
    add(r.service.is_some(), SERVICE);
    add(r.target.is_some(), TARGET);
    add(r.spf_rules.is_some(), SPF_RULES);
    v
}

/// The string fields of a record that may hold variables, with their keys.
fn text_fields(r: &TemplateRecord) -> Vec<(&'static str, &str)> {
    [
        (HOST, r.host.as_deref()),
        (NAME, r.name.as_deref()),
        (POINTS_TO, r.points_to.as_deref()),
        (DATA, r.data.as_deref()),
        (PROTOCOL, r.protocol.as_deref()),
        (SERVICE, r.service.as_deref()),
        (TARGET, r.target.as_deref()),
        (SPF_RULES, r.spf_rules.as_deref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect()
}

fn int_fields(r: &TemplateRecord) -> Vec<(&'static str, &IntField)> {
    [
        (TTL, r.ttl.as_ref()),
        (PRIORITY, r.priority.as_ref()),
        (WEIGHT, r.weight.as_ref()),
        (PORT, r.port.as_ref()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, v)))
    .collect()
}

fn kind_of(rtype: &str) -> Kind {
    match rtype.trim().to_ascii_uppercase().as_str() {
        "A" => Kind::A,
        "AAAA" => Kind::Aaaa,
        "CNAME" => Kind::Cname,
        "MX" => Kind::Mx,
        "TXT" => Kind::Txt,
        "SRV" => Kind::Srv,
        "SPFM" => Kind::Spfm,
        "NS" => Kind::Ns,
        "APEXCNAME" => Kind::ApexCname,
        "REDIR301" | "REDIR302" => Kind::Redir,
        "" => Kind::Invalid,
        _ => Kind::Generic,
    }
}

fn is_apex_field(s: &str) -> bool {
    let s = s.trim();
    s.is_empty() || s == "@"
}

// ---------------------------------------------------------------------------------------

struct Checker<'a> {
    t: &'a Template,
    out: Vec<Finding>,
}

impl Checker<'_> {
    fn err(
        &mut self,
        record: Option<usize>,
        field: &'static str,
        rule: &'static str,
        msg: impl Into<String>,
    ) {
        self.out.push(Finding::error(record, field, rule, msg.into()));
    }

    fn warn(
        &mut self,
        record: Option<usize>,
        field: &'static str,
        rule: &'static str,
        msg: impl Into<String>,
    ) {
        self.out.push(Finding::warning(record, field, rule, msg.into()));
    }

    fn template_fields(&mut self) {
        let t = self.t;
        for (field, v) in [("providerId", &t.provider_id), ("serviceId", &t.service_id)] {
            if !is_dc_id(v) {
                self.err(
                    None,
                    field,
                    "invalid-id",
                    format!("{v:?} is not a dc-id (1-63 of A-Z a-z 0-9 - _ .)"),
                );
            }
        }
        for (field, v) in [
            ("providerName", &t.provider_name),
            ("serviceName", &t.service_name),
        ] {
            let n = v.chars().count();
            if v.trim().is_empty() {
                self.err(None, field, "invalid-display-name", "is empty");
            } else if n > 255 {
                self.err(
                    None,
                    field,
                    "invalid-display-name",
                    format!("is {n} characters long; at most 255"),
                );
            } else if v.chars().any(char::is_control) {
                self.err(None, field, "invalid-display-name", "holds control characters");
            }
        }
        if let Some(v) = t.version
            && v <= 0
        {
            self.err(
                None,
                "version",
                "invalid-version",
                format!("{v} is not a positive integer"),
            );
        }
        if t.records.is_empty() {
            self.err(None, "records", "no-records", "the template has no records");
        }
        for (field, v) in [
            ("description", &t.description),
            ("variableDescription", &t.variable_description),
        ] {
            if let Some(v) = v {
                let n = v.chars().count();
                if n > 2048 {
                    self.warn(
                        None,
                        field,
                        "description-too-long",
                        format!("is {n} characters long; at most 2048"),
                    );
                }
            }
        }
        if let Some(url) = &t.logo_url {
            let lower = url.trim().to_ascii_lowercase();
            let rest = lower
                .strip_prefix("https://")
                .or_else(|| lower.strip_prefix("http://"));
            if rest.is_none_or(|r| r.is_empty() || r.starts_with('/')) {
                self.warn(
                    None,
                    "logoUrl",
                    "logo-url",
                    format!("{url:?} is not an http(s) URL; the logo is not shown"),
                );
            }
        }
        self.sync_fields();
    }

    fn sync_fields(&mut self) {
        let t = self.t;
        if let Some(d) = &t.sync_pub_key_domain {
            if d.trim().is_empty() {
                self.warn(
                    None,
                    "syncPubKeyDomain",
                    "blank-pubkey-domain",
                    "is blank, so sync requests are not signed (drop the key or fill it in)",
                );
            } else if let Err(e) = check_domain(d.trim()) {
                self.err(
                    None,
                    "syncPubKeyDomain",
                    "invalid-pubkey-domain",
                    format!("{d:?} {e}"),
                );
            }
        }
        if let Some(list) = &t.sync_redirect_domain {
            let entries: Vec<&str> = list.split(',').collect();
            if entries.len() > 1 && entries.iter().any(|e| e.trim() != *e) {
                self.warn(
                    None,
                    "syncRedirectDomain",
                    "redirect-domain-whitespace",
                    format!("{list:?} has spaces around its commas (they are trimmed)"),
                );
            }
            if entries.iter().any(|e| e.trim().is_empty()) && !list.trim().is_empty() {
                self.warn(
                    None,
                    "syncRedirectDomain",
                    "redirect-domain-empty-entry",
                    format!("{list:?} has an empty entry (ignored)"),
                );
            }
            for e in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
                let hint = if e.contains("://") || e.contains('/') {
                    " (list domain names, not URLs)"
                } else {
                    ""
                };
                if let Err(msg) = check_domain(e) {
                    self.err(
                        None,
                        "syncRedirectDomain",
                        "invalid-redirect-domain",
                        format!("entry {e:?} {msg}{hint}"),
                    );
                }
            }
        }
        if t.pub_key_domain().is_some() && t.warn_phishing {
            self.warn(
                None,
                "warnPhishing",
                "pubkey-with-warn-phishing",
                "set together with syncPubKeyDomain: signed requests need no phishing warning \
                 (the template registry forbids the combination)",
            );
        }
        if t.shared && !t.shared_provider_name {
            self.warn(
                None,
                "shared",
                "deprecated-shared",
                "the deprecated 'shared' flag is set without sharedProviderName (honoured as sharedProviderName)",
            );
        }
    }

    fn record(&mut self, i: usize, r: &TemplateRecord) {
        let ix = Some(i);
        // Fields that never take variables.
        let no_vars = [
            ("type", Some(r.rtype.as_str())),
            ("groupId", r.group_id.as_deref()),
            ("essential", r.essential.as_deref()),
            (TXT_MODE, r.txt_conflict_matching_mode.as_deref()),
            (TXT_PREFIX, r.txt_conflict_matching_prefix.as_deref()),
        ];
        let mut var_in_type = false;
        for (field, v) in no_vars {
            if let Some(v) = v
                && has_var(v)
            {
                var_in_type |= field == "type";
                self.err(
                    ix,
                    field,
                    "variable-not-allowed",
                    format!("{v:?} holds a variable; this field takes none"),
                );
            }
        }
        // Variable syntax everywhere else.
        for (field, v) in text_fields(r) {
            if let Err(e) = vars::tokens(v) {
                self.err(ix, field, "variable-syntax", format!("{v:?}: {e}"));
            }
        }
        if let Some(g) = &r.group_id
            && !has_var(g)
            && !is_dc_id(g)
        {
            self.err(
                ix,
                "groupId",
                "invalid-id",
                format!("{g:?} is not a dc-id (1-63 of A-Z a-z 0-9 - _ .)"),
            );
        }
        self.essential(i, r);

        let kind = if var_in_type {
            Kind::Invalid
        } else {
            self.rtype(i, r)
        };
        if kind == Kind::Invalid {
            self.int_fields(i, r);
            return;
        }
        let present = present_fields(r);
        for f in kind.required() {
            if !present.contains(f) {
                self.err(ix, f, "missing-field", format!("{} records need {f}", r.kind()));
            }
        }
        for f in &present {
            if !kind.allowed().contains(f) {
                self.warn(
                    ix,
                    f,
                    "field-not-allowed",
                    format!("{} records do not use {f}; it is ignored", r.kind()),
                );
            }
        }
        if kind.wants_ttl() && r.ttl.is_none() {
            self.warn(
                ix,
                TTL,
                "ttl-missing",
                "no ttl; the gateway's default TTL is used".to_string(),
            );
        }
        self.int_fields(i, r);
        self.owner(i, r, kind);
        self.targets(i, r, kind);
        match kind {
            Kind::Txt => self.txt(i, r),
            Kind::Spfm => self.spfm(i, r),
            Kind::Srv => self.srv(i, r),
            Kind::Generic => self.generic(i, r),
            Kind::Redir => self.redir(i, r),
            _ => {}
        }
    }

    fn rtype(&mut self, i: usize, r: &TemplateRecord) -> Kind {
        let ix = Some(i);
        let raw = r.rtype.trim();
        if raw.is_empty() {
            self.err(ix, "type", "type-missing", "the record has no type");
            return Kind::Invalid;
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            self.err(
                ix,
                "type",
                "type-invalid",
                format!("{raw:?} is not an RR type mnemonic"),
            );
            return Kind::Invalid;
        }
        let up = raw.to_ascii_uppercase();
        let kind = kind_of(&up);
        match kind {
            Kind::ApexCname | Kind::Redir => self.warn(
                ix,
                "type",
                "extension-type",
                format!(
                    "{up} is an extension type, not supported by every backend (POLICY 11: it needs {})",
                    if kind == Kind::Redir {
                        "a configured redirect service"
                    } else {
                        "an apex-alias capable backend"
                    }
                ),
            ),
            Kind::Generic => {
                if let Some(num) = up
                    .strip_prefix("TYPE")
                    .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                {
                    if num.parse::<u16>().is_err() {
                        self.err(
                            ix,
                            "type",
                            "type-invalid",
                            format!("{raw:?}: type numbers are 0..65535"),
                        );
                        return Kind::Invalid;
                    }
                } else if FORBIDDEN_TYPES.contains(&up.as_str()) {
                    self.err(
                        ix,
                        "type",
                        "type-forbidden",
                        format!("{up} is not a type a template may write"),
                    );
                    return Kind::Invalid;
                } else if !KNOWN_TYPES.contains(&up.as_str()) {
                    self.warn(
                        ix,
                        "type",
                        "type-unknown-mnemonic",
                        format!("{up} is not a registered RR type; the backend will likely refuse it"),
                    );
                }
            }
            _ => {}
        }
        kind
    }

    fn essential(&mut self, i: usize, r: &TemplateRecord) {
        let Some(e) = r.essential.as_deref() else { return };
        if has_var(e) {
            return;
        }
        match Essential::parse(e) {
            None => self.warn(
                Some(i),
                "essential",
                "essential-invalid",
                format!("{e:?} is neither Always nor OnApply; treated as Always (POLICY 8)"),
            ),
            Some(v) if v.as_str() != e => self.warn(
                Some(i),
                "essential",
                "essential-case",
                format!("{e:?} should be spelled {:?} (accepted)", v.as_str()),
            ),
            Some(_) => {}
        }
    }

    fn int_fields(&mut self, i: usize, r: &TemplateRecord) {
        for (field, v) in int_fields(r) {
            let is_ttl = field == TTL;
            let max = if is_ttl { MAX_TTL } else { 65_535 };
            match literal_int(v) {
                None => {
                    let text = v.as_text();
                    if !vars::is_single_var(&text) {
                        self.err(
                            Some(i),
                            field,
                            "int-syntax",
                            format!("{text:?} is neither digits nor exactly one %variable%"),
                        );
                    }
                }
                Some(n) => {
                    if n.is_ok_and(|n| n <= max) {
                        continue;
                    }
                    let text = v.as_text();
                    if is_ttl {
                        self.warn(
                            Some(i),
                            field,
                            "ttl-range",
                            format!("{text} is outside 0..{MAX_TTL}; it is clamped (POLICY 3)"),
                        );
                    } else {
                        self.err(Some(i), field, "int-range", format!("{text} is outside 0..65535"));
                    }
                }
            }
        }
    }

    /// The owner field: host (name for SRV).
    fn owner(&mut self, i: usize, r: &TemplateRecord, kind: Kind) {
        let ix = Some(i);
        let (field, value) = if kind == Kind::Srv {
            (NAME, r.name.as_deref())
        } else {
            (HOST, r.host.as_deref())
        };
        let Some(v) = value else { return };
        if kind == Kind::ApexCname && !is_apex_field(v) {
            self.err(
                ix,
                field,
                "apexcname-host",
                format!(
                    "{v:?}: APEXCNAME always applies at the applied root; its host must be '@' or absent"
                ),
            );
        }
        if vars::tokens(v).is_err() {
            return;
        }
        if is_literal(v) {
            if !is_apex_field(v)
                && let Err(e) = check_name(v.trim(), true)
            {
                self.err(ix, field, "invalid-host", format!("{v:?} {e}"));
            }
        } else {
            if let Err(e) = check_templated_name(v, true) {
                self.err(ix, field, "invalid-host", format!("{v:?} {e}"));
            }
            let names = vars::names(v).unwrap_or_default();
            if names.contains(&"host") {
                self.warn(
                    ix,
                    field,
                    "host-doubling",
                    format!(
                        "{v:?} uses %host%, but names are already relative to the host parameter: \
                         the label is doubled"
                    ),
                );
            }
            if !v.ends_with('.')
                && let Some(b) = names.iter().find(|n| **n == "fqdn" || **n == "domain")
            {
                self.warn(
                    ix,
                    field,
                    "relative-builtin",
                    format!(
                        "{v:?} uses %{b}% in a relative name, so the domain is appended again; \
                         end it with '.' (or use '@')"
                    ),
                );
            }
        }
        // CNAME/NS at the applied root.
        if matches!(kind, Kind::Cname | Kind::Ns) {
            let ns_note = if kind == Kind::Ns {
                "; NS at the zone apex is refused at apply time anyway (POLICY 6)"
            } else {
                ""
            };
            if is_apex_field(v) && !self.t.host_required {
                self.err(
                    ix,
                    field,
                    "apex-without-host-required",
                    format!(
                        "{} at {v:?} (the applied root) needs hostRequired: true, or it lands on the zone \
                         apex{ns_note}",
                        r.kind()
                    ),
                );
            } else if v.trim() == "%domain%." {
                self.err(
                    ix,
                    field,
                    "apex-without-host-required",
                    format!(
                        "{} at \"%domain%.\" is always at the zone apex, which is refused",
                        r.kind()
                    ),
                );
            }
        }
    }

    /// pointsTo and target.
    fn targets(&mut self, i: usize, r: &TemplateRecord, kind: Kind) {
        let ix = Some(i);
        let (field, value) = match kind {
            Kind::A | Kind::Aaaa | Kind::Ns | Kind::Cname | Kind::Mx | Kind::ApexCname => {
                (POINTS_TO, r.points_to.as_deref())
            }
            Kind::Srv => (TARGET, r.target.as_deref()),
            _ => return,
        };
        let Some(v) = value else { return };
        let v = v.trim();
        if v.is_empty() {
            self.err(ix, field, "empty-value", format!("{field} is empty"));
            return;
        }
        if vars::tokens(v).is_err() {
            return;
        }
        if v == "@" {
            if matches!(kind, Kind::A | Kind::Aaaa | Kind::Ns) {
                let why = if kind == Kind::Ns {
                    "a zone cannot delegate to itself"
                } else {
                    "it must be an address"
                };
                self.err(
                    ix,
                    field,
                    "points-to-apex",
                    format!("{} pointsTo cannot be '@': {why}", r.kind()),
                );
            }
            return;
        }
        if !is_literal(v) {
            if !matches!(kind, Kind::A | Kind::Aaaa)
                && let Err(e) = check_templated_name(v, false)
            {
                self.err(ix, field, "invalid-target", format!("{v:?} {e}"));
            }
            return;
        }
        match kind {
            Kind::A => {
                if v.parse::<Ipv4Addr>().is_err() {
                    self.err(
                        ix,
                        field,
                        "invalid-ipv4",
                        format!("{v:?} is not a dotted-quad IPv4 address"),
                    );
                }
            }
            Kind::Aaaa => {
                if v.parse::<Ipv6Addr>().is_err() {
                    self.err(ix, field, "invalid-ipv6", format!("{v:?} is not an IPv6 address"));
                }
            }
            _ => {
                // "." means "no service" for SRV and a null MX (RFC 7505).
                if v == "." && matches!(kind, Kind::Srv | Kind::Mx) {
                    return;
                }
                if let Err(e) = check_name(v, false) {
                    self.err(ix, field, "invalid-target", format!("{v:?} {e}"));
                } else if v.trim_end_matches('.').parse::<Ipv4Addr>().is_ok() || v.parse::<Ipv6Addr>().is_ok()
                {
                    self.warn(
                        ix,
                        field,
                        "target-is-address",
                        format!(
                            "{v:?} is an IP address; a {} target must be a host name",
                            r.kind()
                        ),
                    );
                }
            }
        }
    }

    fn txt(&mut self, i: usize, r: &TemplateRecord) {
        let ix = Some(i);
        let mode_raw = r.txt_conflict_matching_mode.as_deref();
        let mut prefix_mode = false;
        if let Some(m) = mode_raw.filter(|m| !has_var(m)) {
            match TxtMode::parse(m) {
                None => self.warn(
                    ix,
                    TXT_MODE,
                    "txt-mode-invalid",
                    format!("{m:?} is not None, All or Prefix; treated as None (POLICY 8)"),
                ),
                Some(mode) => {
                    prefix_mode = mode == TxtMode::Prefix;
                    let canonical = match mode {
                        TxtMode::None => "None",
                        TxtMode::All => "All",
                        TxtMode::Prefix => "Prefix",
                    };
                    if m != canonical {
                        self.warn(
                            ix,
                            TXT_MODE,
                            "txt-mode-case",
                            format!("{m:?} should be spelled {canonical:?} (accepted)"),
                        );
                    }
                }
            }
        }
        let prefix = r.txt_conflict_matching_prefix.as_deref();
        if prefix_mode && prefix.is_none_or(str::is_empty) {
            self.err(
                ix,
                TXT_PREFIX,
                "txt-prefix-missing",
                "txtConflictMatchingMode is Prefix but there is no txtConflictMatchingPrefix",
            );
        }
        if !prefix_mode && mode_raw.is_none_or(|m| !has_var(m)) && prefix.is_some_and(|p| !p.is_empty()) {
            self.warn(
                ix,
                TXT_PREFIX,
                "txt-prefix-unused",
                "txtConflictMatchingPrefix is ignored: txtConflictMatchingMode is not Prefix",
            );
        }
        if let Some(d) = r.data.as_deref() {
            let plain = d.trim().trim_start_matches('"').trim_start();
            if plain.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("v=spf1")) {
                self.warn(
                    ix,
                    DATA,
                    "raw-spf-txt",
                    "a TXT record holding SPF: use SPFM; the gateway merges it into the SPF record anyway (POLICY 7)",
                );
            }
            if d.trim() == "@" {
                self.warn(
                    ix,
                    DATA,
                    "txt-data-at",
                    "TXT data \"@\" is written as a literal '@', not the domain name",
                );
            }
        }
    }

    fn spfm(&mut self, i: usize, r: &TemplateRecord) {
        let ix = Some(i);
        let Some(rules) = r.spf_rules.as_deref() else {
            return;
        };
        if rules.trim().is_empty() {
            self.err(ix, SPF_RULES, "spf-rules", "spfRules is empty");
            return;
        }
        for term in rules.split_whitespace() {
            if let Err(e) = check_spf_term(term) {
                self.err(ix, SPF_RULES, "spf-rules", format!("{term:?}: {e}"));
            } else if term.len() > 9 && term.get(..9).is_some_and(|p| p.eq_ignore_ascii_case("redirect=")) {
                self.warn(
                    ix,
                    SPF_RULES,
                    "spf-redirect",
                    format!(
                        "{term:?}: a redirect= modifier is ignored in a merged record, which ends with 'all'"
                    ),
                );
            }
        }
    }

    fn srv(&mut self, i: usize, r: &TemplateRecord) {
        let ix = Some(i);
        if let Some(p) = r.protocol.as_deref().filter(|p| is_literal(p)) {
            let bare = p.trim().trim_start_matches('_').to_ascii_lowercase();
            if !["tcp", "udp", "tls", "sctp", "dccp"].contains(&bare.as_str()) {
                self.err(
                    ix,
                    PROTOCOL,
                    "srv-protocol",
                    format!("{p:?} is not one of _tcp, _udp, _tls, _sctp, _dccp"),
                );
            }
        }
        if let Some(s) = r.service.as_deref().filter(|s| is_literal(s)) {
            let bare = s.trim().strip_prefix('_').unwrap_or(s.trim());
            let ok = (1..=62).contains(&bare.len())
                && bare.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !bare.starts_with('-')
                && !bare.ends_with('-');
            if !ok {
                self.err(
                    ix,
                    SERVICE,
                    "srv-service",
                    format!("{s:?} is not a service label like _sip"),
                );
            }
        }
    }

    fn generic(&mut self, i: usize, r: &TemplateRecord) {
        let ix = Some(i);
        let Some(d) = r.data.as_deref() else { return };
        let d = d.trim();
        if d.is_empty() || d == "@" {
            self.err(
                ix,
                DATA,
                "invalid-data",
                format!("{} data cannot be {d:?}", r.kind()),
            );
            return;
        }
        if r.kind() == "CAA"
            && is_literal(d)
            && let Err(e) = check_caa(d)
        {
            self.err(ix, DATA, "invalid-data", format!("{d:?} is not CAA data: {e}"));
        }
    }

    fn redir(&mut self, i: usize, r: &TemplateRecord) {
        let Some(t) = r.target.as_deref() else { return };
        let t = t.trim();
        if t.is_empty() {
            self.err(Some(i), TARGET, "empty-value", "target is empty");
            return;
        }
        let lower = t.to_ascii_lowercase();
        let starts_var = t.starts_with('%');
        if !starts_var && !lower.starts_with("http://") && !lower.starts_with("https://") {
            self.err(
                Some(i),
                TARGET,
                "invalid-redirect-target",
                format!("{t:?} is not an http:// or https:// URL"),
            );
        }
        if t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            self.err(
                Some(i),
                TARGET,
                "invalid-redirect-target",
                format!("{t:?} holds spaces"),
            );
        }
    }

    /// Checks on the variables the template uses, across records.
    fn variables(&mut self) {
        // name -> first record using it
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (i, r) in self.t.records.iter().enumerate() {
            let mut fields: Vec<String> = text_fields(r).into_iter().map(|(_, v)| v.to_string()).collect();
            fields.extend(int_fields(r).into_iter().map(|(_, v)| v.as_text().into_owned()));
            for f in fields {
                for n in vars::names(&f).unwrap_or_default() {
                    seen.entry(n.to_string()).or_insert(i);
                }
            }
        }
        const RESERVED: &[&str] = &[
            "state",
            "key",
            "sig",
            "groupId",
            "force",
            "instanceId",
            "providerName",
            "serviceName",
            "redirect_uri",
            "client_id",
            "response_type",
            "scope",
        ];
        let mut by_lower: BTreeMap<String, Vec<&str>> = BTreeMap::new();
        for (name, &i) in &seen {
            if RESERVED.contains(&name.as_str()) {
                self.warn(
                    Some(i),
                    "",
                    "reserved-variable",
                    format!("variable %{name}% has the name of a protocol parameter; callers cannot set it reliably"),
                );
            }
            by_lower.entry(name.to_ascii_lowercase()).or_default().push(name);
        }
        for names in by_lower.values().filter(|v| v.len() > 1) {
            let list: Vec<String> = names.iter().map(|n| format!("%{n}%")).collect();
            let first = names.iter().filter_map(|n| seen.get(*n)).min().copied();
            self.warn(
                first,
                "",
                "variable-case-clash",
                format!(
                    "variables {} differ only in case; names are case-sensitive, so they are separate values",
                    list.join(", ")
                ),
            );
        }
        let builtins = ["domain", "host", "fqdn"];
        let takes_vars = seen.keys().any(|n| !builtins.contains(&n.as_str()));
        let t = self.t;
        if takes_vars && t.pub_key_domain().is_none() && !t.sync_block && !t.warn_phishing {
            self.warn(
                None,
                "syncPubKeyDomain",
                "unsigned-variables",
                "the template takes variables but sync requests are not signed (no syncPubKeyDomain), \
                 not blocked (syncBlock) and not flagged (warnPhishing): anyone can craft an apply link \
                 with their own values",
            );
        }
    }

    fn cross_records(&mut self) {
        let t = self.t;
        let recs: Vec<(Kind, Option<String>, Option<&str>)> = t
            .records
            .iter()
            .map(|r| {
                let k = kind_of(&r.rtype);
                let k = if has_var(&r.rtype) { Kind::Invalid } else { k };
                (k, owner_key(r, k), r.group_id.as_deref().map(str::trim))
            })
            .collect();
        // Duplicates.
        for j in 0..t.records.len() {
            if let Some(i) = (0..j).find(|&i| t.records[i] == t.records[j]) {
                self.warn(
                    Some(j),
                    "",
                    "duplicate-record",
                    format!("the same record as record {i}"),
                );
            }
        }
        // Records that cannot coexist.
        for (i, (ki, oi, gi)) in recs.iter().enumerate() {
            let Some(oi) = oi else { continue };
            for (j, (kj, oj, gj)) in recs.iter().enumerate() {
                let Some(oj) = oj else { continue };
                if i == j || *kj == Kind::Invalid {
                    continue;
                }
                let why = match ki {
                    Kind::Cname if oi == oj && (*kj != Kind::Cname || i < j) => {
                        "a CNAME cannot share its owner with any other record"
                    }
                    Kind::ApexCname
                        if oi == oj
                            && (matches!(kj, Kind::A | Kind::Aaaa) || (*kj == Kind::ApexCname && i < j)) =>
                    {
                        "an APEXCNAME replaces the addresses at its owner"
                    }
                    Kind::Ns if *kj != Kind::Ns && at_or_below(oj, oi) => {
                        "an NS delegation cannot have other records at or below its owner"
                    }
                    _ => continue,
                };
                let (ti, tj) = (t.records[i].kind(), t.records[j].kind());
                let at = if oi == oj {
                    format!("at {oi:?}")
                } else {
                    format!("at {oj:?}, below {oi:?}")
                };
                match (gi, gj) {
                    (Some(a), Some(b)) if a != b => self.warn(
                        Some(i),
                        "groupId",
                        "group-alternatives",
                        format!(
                            "{ti} (group {a:?}) and record {j}, {tj} {at} (group {b:?}) conflict: the groups are \
                             alternatives and applying both at once fails (POLICY 10) ({why})"
                        ),
                    ),
                    _ => {
                        let when = match (gi, gj) {
                            (None, None) => "the template can never be applied".to_string(),
                            (Some(g), _) | (_, Some(g)) => format!("group {g:?} can never be applied"),
                        };
                        self.err(
                            Some(i),
                            "",
                            "self-conflict",
                            format!("{ti} and record {j}, {tj} {at} are applied together and conflict: {when} ({why})"),
                        );
                    }
                }
            }
        }
        // multiInstance with records that replace each other across instances.
        if t.multi_instance {
            for (i, (k, o, _)) in recs.iter().enumerate() {
                let r = &t.records[i];
                let replaces = match k {
                    Kind::Txt => r.txt_mode() != TxtMode::None,
                    Kind::Cname
                    | Kind::A
                    | Kind::Aaaa
                    | Kind::Mx
                    | Kind::Srv
                    | Kind::Ns
                    | Kind::ApexCname
                    | Kind::Redir => true,
                    _ => false,
                };
                if replaces && o.is_some() {
                    self.warn(
                        Some(i),
                        "",
                        "multi-instance-conflict",
                        format!(
                            "multiInstance, but this {} has a fixed owner: a second instance on the same host \
                             replaces it (and, if it is essential, the first instance)",
                            r.kind()
                        ),
                    );
                }
            }
        }
    }
}

/// The owner of a record, when it is literal: lower-case, `@` for the applied root, a
/// trailing dot for absolute names. SRV owners include `_service._protocol`.
fn owner_key(r: &TemplateRecord, kind: Kind) -> Option<String> {
    let norm = |s: &str| -> Option<String> {
        let s = s.trim();
        if !is_literal(s) {
            return None;
        }
        Some(if s.is_empty() {
            "@".to_string()
        } else {
            s.to_ascii_lowercase()
        })
    };
    match kind {
        Kind::Invalid => None,
        Kind::ApexCname => Some("@".into()),
        Kind::Srv => {
            let name = norm(r.name.as_deref()?)?;
            let svc = norm(r.service.as_deref()?)?;
            let proto = norm(r.protocol.as_deref()?)?;
            let head = format!(
                "_{}._{}",
                svc.trim_start_matches('_'),
                proto.trim_start_matches('_')
            );
            Some(if name == "@" {
                head
            } else {
                format!("{head}.{name}")
            })
        }
        _ => norm(r.host.as_deref().unwrap_or("@")),
    }
}

/// Whether owner `a` is `n` or below it (both as from [`owner_key`]).
fn at_or_below(a: &str, n: &str) -> bool {
    if n == "@" {
        return !a.ends_with('.');
    }
    if a == "@" || a.ends_with('.') != n.ends_with('.') {
        return false;
    }
    a == n || a.ends_with(&format!(".{n}"))
}

/// A literal domain name for syncPubKeyDomain/syncRedirectDomain: at least two labels.
fn check_domain(s: &str) -> Result<(), String> {
    check_name(s, false)?;
    if !s.trim_end_matches('.').contains('.') {
        return Err("is a single label, not a domain name".into());
    }
    Ok(())
}

/// One SPF term of `spfRules` (RFC 7208 §5, §6), which must not be `v=spf1` or `all`.
fn check_spf_term(term: &str) -> Result<(), String> {
    if term.eq_ignore_ascii_case("v=spf1") {
        return Err("spfRules must not hold v=spf1 (the record is built by the gateway)".into());
    }
    let body = term.trim_start_matches(['+', '-', '~', '?']);
    if body.len() + 1 < term.len() {
        return Err("more than one qualifier".into());
    }
    if body.eq_ignore_ascii_case("all") {
        return Err(
            "spfRules must not hold an 'all' term (the gateway writes the final all, POLICY 7)".into(),
        );
    }
    if body.starts_with('%') {
        return Ok(()); // a variable: checked once substituted
    }
    let end = body.find([':', '/', '=']).unwrap_or(body.len());
    let name = body[..end].to_ascii_lowercase();
    let rest = &body[end..];
    if rest.starts_with('=') {
        if body.len() != term.len() {
            return Err("a modifier takes no qualifier".into());
        }
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        {
            return Err("not a valid modifier name".into());
        }
        if rest.len() == 1 {
            return Err("the modifier has no value".into());
        }
        return Ok(());
    }
    let arg = rest.strip_prefix(':');
    match name.as_str() {
        "include" | "exists" => {
            if arg.is_none_or(str::is_empty) {
                return Err(format!("{name} needs a domain (\"{name}:example.com\")"));
            }
        }
        "a" | "mx" | "ptr" => {}
        "ip4" | "ip6" => {
            let Some(arg) = arg.filter(|a| !a.is_empty()) else {
                return Err(format!("{name} needs an address"));
            };
            if is_literal(arg) {
                let (addr, cidr) = arg.split_once('/').map_or((arg, None), |(a, c)| (a, Some(c)));
                let (ok, max) = if name == "ip4" {
                    (addr.parse::<Ipv4Addr>().is_ok(), 32)
                } else {
                    (addr.parse::<Ipv6Addr>().is_ok(), 128)
                };
                if !ok {
                    return Err(format!(
                        "{addr:?} is not an {} address",
                        if max == 32 { "IPv4" } else { "IPv6" }
                    ));
                }
                if let Some(c) = cidr
                    && c.parse::<u8>().map_or(true, |c| c > max)
                {
                    return Err(format!("/{c} is not a prefix length (0..{max})"));
                }
            }
        }
        _ => return Err(format!("{:?} is not an SPF mechanism", &body[..end])),
    }
    Ok(())
}

/// Literal CAA data: `<flags 0-255> <tag> <value>`.
fn check_caa(d: &str) -> Result<(), String> {
    let mut it = d.splitn(3, char::is_whitespace);
    let flags = it.next().unwrap_or("");
    let tag = it.next().unwrap_or("");
    let value = it.next().map(str::trim).unwrap_or("");
    if flags.parse::<u8>().is_err() {
        return Err(format!("flags {flags:?} are not 0..255"));
    }
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(format!("tag {tag:?} is not alphanumeric"));
    }
    if value.is_empty() {
        return Err("no value".into());
    }
    Ok(())
}
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const A: &str = r#"{"type":"A","host":"@","pointsTo":"192.0.2.1","ttl":3600}"#;

    /// A clean template with `patch` merged over it (a `null` removes a key).
    fn tpl(patch: &Value) -> Template {
        let mut base = json!({
            "providerId": "example.com", "providerName": "Example", "serviceId": "svc",
            "serviceName": "Service", "version": 1, "syncPubKeyDomain": "keys.example.com",
            "records": [serde_json::from_str::<Value>(A).expect("A")],
        });
        if let (Some(b), Some(p)) = (base.as_object_mut(), patch.as_object()) {
            for (k, v) in p {
                if v.is_null() {
                    b.remove(k);
                } else {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
        serde_json::from_value(base).expect("template parses")
    }

    fn recs(records: Value) -> Value {
        json!({ "records": records })
    }

    fn fired(patch: &Value) -> Vec<&'static str> {
        validate(&tpl(patch)).iter().map(|f| f.rule).collect()
    }

    /// (rule, patches that must not fire it, patches that must)
    fn cases() -> Vec<(&'static str, Vec<Value>, Vec<Value>)> {
        let txt = |extra: Value| {
            let mut r = json!({"type":"TXT","host":"@","data":"hello","ttl":60});
            if let (Some(r), Some(e)) = (r.as_object_mut(), extra.as_object()) {
                r.extend(e.clone());
            }
            recs(json!([r]))
        };
        let srv = |extra: Value| {
            let mut r = json!({"type":"SRV","name":"@","target":"sip.example.net.","protocol":"_tcp",
                "service":"_sip","priority":10,"weight":5,"port":5060,"ttl":60});
            if let (Some(r), Some(e)) = (r.as_object_mut(), extra.as_object()) {
                r.extend(e.clone());
            }
            recs(json!([r]))
        };
        let one = |r: Value| recs(json!([r]));
        vec![
            (
                "invalid-id",
                vec![json!({}), json!({"serviceId": "a-b_c.d"})],
                vec![
                    json!({"providerId": "bad id"}),
                    json!({"serviceId": ""}),
                    json!({"serviceId": "x".repeat(64)}),
                    txt(json!({"groupId": "a,b"})),
                ],
            ),
            (
                "invalid-display-name",
                vec![json!({"providerName": "Ünïcode Name"})],
                vec![
                    json!({"providerName": " "}),
                    json!({"serviceName": "x".repeat(256)}),
                ],
            ),
            (
                "invalid-version",
                vec![json!({"version": null})],
                vec![json!({"version": 0}), json!({"version": -3})],
            ),
            ("no-records", vec![json!({})], vec![recs(json!([]))]),
            (
                "description-too-long",
                vec![json!({"description": "x".repeat(2048)})],
                vec![json!({"variableDescription": "x".repeat(2049)})],
            ),
            (
                "logo-url",
                vec![
                    json!({"logoUrl": "https://example.com/logo.png"}),
                    json!({"logoUrl": "HTTP://e.com/l.svg"}),
                ],
                vec![
                    json!({"logoUrl": ""}),
                    json!({"logoUrl": "ftp://example.com/l.png"}),
                    json!({"logoUrl": "https://"}),
                ],
            ),
            (
                "invalid-pubkey-domain",
                vec![json!({"syncPubKeyDomain": "_keys.example.com."})],
                vec![
                    json!({"syncPubKeyDomain": "keys example.com"}),
                    json!({"syncPubKeyDomain": "localhost"}),
                ],
            ),
            (
                "blank-pubkey-domain",
                vec![json!({})],
                vec![json!({"syncPubKeyDomain": " "})],
            ),
            (
                "invalid-redirect-domain",
                vec![json!({"syncRedirectDomain": "a.example.com,b.example.org"})],
                vec![
                    json!({"syncRedirectDomain": "https://a.example.com/x"}),
                    json!({"syncRedirectDomain": "a..b"}),
                ],
            ),
            (
                "redirect-domain-whitespace",
                vec![json!({"syncRedirectDomain": "a.example,b.example"})],
                vec![json!({"syncRedirectDomain": "a.example, b.example"})],
            ),
            (
                "redirect-domain-empty-entry",
                vec![json!({"syncRedirectDomain": "a.example"})],
                vec![json!({"syncRedirectDomain": "a.example,"})],
            ),
            (
                "pubkey-with-warn-phishing",
                vec![json!({"warnPhishing": true, "syncPubKeyDomain": null})],
                vec![json!({"warnPhishing": true})],
            ),
            (
                "deprecated-shared",
                vec![json!({"shared": true, "sharedProviderName": true})],
                vec![json!({"shared": true})],
            ),
            (
                "unsigned-variables",
                vec![
                    txt(json!({"data": "%v%"})),
                    json!({"syncPubKeyDomain": null, "syncBlock": true, "records": [{"type":"TXT","host":"@","data":"%v%","ttl":1}]}),
                    json!({"syncPubKeyDomain": null, "records": [{"type":"TXT","host":"@","data":"%domain%","ttl":1}]}),
                ],
                vec![
                    json!({"syncPubKeyDomain": null, "records": [{"type":"TXT","host":"@","data":"%v%","ttl":1}]}),
                ],
            ),
            (
                "reserved-variable",
                vec![txt(json!({"data": "%stat%"}))],
                vec![txt(json!({"data": "%state%"}))],
            ),
            (
                "variable-case-clash",
                vec![txt(json!({"data": "%ip% %ip%"}))],
                vec![recs(json!([
                    {"type":"A","host":"@","pointsTo":"%ip%","ttl":60},
                    {"type":"A","host":"www","pointsTo":"%IP%","ttl":60}
                ]))],
            ),
            (
                "type-missing",
                vec![json!({})],
                vec![one(json!({"type": " ", "host": "@", "data": "x"}))],
            ),
            (
                "type-invalid",
                vec![one(
                    json!({"type": "TYPE65535", "host": "@", "data": "\\# 0", "ttl": 1}),
                )],
                vec![
                    one(json!({"type": "C NAME", "host": "x", "pointsTo": "y.example."})),
                    one(json!({"type": "TYPE65536", "host": "@", "data": "\\# 0", "ttl": 1})),
                ],
            ),
            (
                "type-forbidden",
                vec![one(
                    json!({"type": "CAA", "host": "@", "data": "0 issue \"ca.example\"", "ttl": 1}),
                )],
                vec![one(json!({"type": "soa", "host": "@", "data": "x", "ttl": 1}))],
            ),
            (
                "type-unknown-mnemonic",
                vec![one(
                    json!({"type": "tlsa", "host": "_443._tcp", "data": "3 1 1 ab", "ttl": 1}),
                )],
                vec![one(json!({"type": "FOO", "host": "@", "data": "x", "ttl": 1}))],
            ),
            (
                "extension-type",
                vec![json!({})],
                vec![
                    one(json!({"type": "APEXCNAME", "pointsTo": "x.example.net", "ttl": 60})),
                    one(json!({"type": "REDIR301", "host": "@", "target": "https://x.example/"})),
                ],
            ),
            (
                "variable-not-allowed",
                vec![txt(
                    json!({"groupId": "g1", "txtConflictMatchingMode": "Prefix", "txtConflictMatchingPrefix": "a%"}),
                )],
                vec![
                    txt(json!({"groupId": "%g%"})),
                    one(json!({"type": "%t%", "host": "@"})),
                    txt(json!({"txtConflictMatchingMode": "Prefix", "txtConflictMatchingPrefix": "v=%x%"})),
                    txt(json!({"essential": "%e%"})),
                ],
            ),
            (
                "variable-syntax",
                vec![txt(json!({"data": "a%b%c%d%"}))],
                vec![
                    txt(json!({"host": "ab%cd"})),
                    txt(json!({"data": "%a b%"})),
                    txt(json!({"data": "100%"})),
                ],
            ),
            (
                "missing-field",
                vec![txt(json!({"data": ""})), srv(json!({}))],
                vec![
                    one(json!({"type": "MX", "host": "@", "pointsTo": "mx.example.", "ttl": 1})),
                    one(json!({"type": "TXT", "host": "@", "ttl": 1})),
                    one(json!({"type": "A", "pointsTo": "192.0.2.1", "ttl": 1})),
                    one(json!({"type": "SPFM", "host": "@"})),
                    one(json!({"type": "REDIR302", "host": "@"})),
                    one(json!({"type": "CAA", "host": "@", "ttl": 1})),
                    one(
                        json!({"type": "SRV", "name": "@", "target": "x.example.", "protocol": "_tcp", "service": "_x",
                        "priority": 1, "weight": 1, "ttl": 1}),
                    ),
                ],
            ),
            (
                "field-not-allowed",
                vec![one(
                    json!({"type": "SPFM", "host": "@", "spfRules": "mx", "ttl": 60}),
                )],
                vec![
                    one(json!({"type": "A", "host": "@", "pointsTo": "192.0.2.1", "ttl": 1, "data": "x"})),
                    srv(json!({"host": "@"})),
                ],
            ),
            (
                "empty-value",
                vec![json!({})],
                vec![
                    one(json!({"type": "CNAME", "host": "www", "pointsTo": "", "ttl": 1})),
                    srv(json!({"target": ""})),
                ],
            ),
            (
                "int-syntax",
                vec![
                    txt(json!({"ttl": "%ttl%"})),
                    txt(json!({"ttl": "3600"})),
                    srv(json!({"port": "%port%"})),
                ],
                vec![
                    txt(json!({"ttl": "1%v%"})),
                    txt(json!({"ttl": "%a%%b%"})),
                    txt(json!({"ttl": "abc"})),
                    txt(json!({"ttl": ""})),
                    srv(json!({"priority": "-1"})),
                    srv(json!({"weight": " 5"})),
                ],
            ),
            (
                "int-range",
                vec![srv(json!({"priority": 65535, "port": "0"}))],
                vec![
                    srv(json!({"priority": 65536})),
                    srv(json!({"port": "70000"})),
                    srv(json!({"weight": -1})),
                ],
            ),
            (
                "ttl-range",
                vec![txt(json!({"ttl": 2_147_483_647_i64})), txt(json!({"ttl": 0}))],
                vec![
                    txt(json!({"ttl": 2_147_483_648_i64})),
                    txt(json!({"ttl": -1})),
                    txt(json!({"ttl": "99999999999999999999999"})),
                ],
            ),
            (
                "ttl-missing",
                vec![one(json!({"type": "SPFM", "host": "@", "spfRules": "mx"}))],
                vec![one(json!({"type": "A", "host": "@", "pointsTo": "192.0.2.1"}))],
            ),
            (
                "essential-invalid",
                vec![
                    txt(json!({"essential": "OnApply"})),
                    txt(json!({"essential": "Always"})),
                ],
                vec![txt(json!({"essential": "No"})), txt(json!({"essential": ""}))],
            ),
            (
                "essential-case",
                vec![txt(json!({"essential": "OnApply"}))],
                vec![
                    txt(json!({"essential": "onApply"})),
                    txt(json!({"essential": "Always "})),
                ],
            ),
            (
                "txt-mode-invalid",
                vec![txt(json!({"txtConflictMatchingMode": "All"}))],
                vec![txt(json!({"txtConflictMatchingMode": "Exact"}))],
            ),
            (
                "txt-mode-case",
                vec![txt(json!({"txtConflictMatchingMode": "None"}))],
                vec![txt(json!({"txtConflictMatchingMode": "all"}))],
            ),
            (
                "txt-prefix-missing",
                vec![txt(
                    json!({"txtConflictMatchingMode": "Prefix", "txtConflictMatchingPrefix": "v=DMARC1"}),
                )],
                vec![
                    txt(json!({"txtConflictMatchingMode": "Prefix"})),
                    txt(json!({"txtConflictMatchingMode": "prefix", "txtConflictMatchingPrefix": ""})),
                ],
            ),
            (
                "txt-prefix-unused",
                vec![txt(
                    json!({"txtConflictMatchingMode": "Prefix", "txtConflictMatchingPrefix": "x"}),
                )],
                vec![txt(json!({"txtConflictMatchingPrefix": "x"}))],
            ),
            (
                "apex-without-host-required",
                vec![
                    json!({"hostRequired": true, "records": [{"type":"CNAME","host":"@","pointsTo":"x.example.","ttl":1}]}),
                    one(json!({"type": "CNAME", "host": "www", "pointsTo": "x.example.", "ttl": 1})),
                ],
                vec![
                    one(json!({"type": "CNAME", "host": "@", "pointsTo": "x.example.", "ttl": 1})),
                    one(json!({"type": "NS", "host": "", "pointsTo": "ns1.example.", "ttl": 1})),
                    json!({"hostRequired": true, "records": [{"type":"CNAME","host":"%domain%.","pointsTo":"x.example.","ttl":1}]}),
                ],
            ),
            (
                "points-to-apex",
                vec![
                    json!({"hostRequired": true, "records": [{"type":"CNAME","host":"@","pointsTo":"@","ttl":1}]}),
                ],
                vec![
                    one(json!({"type": "A", "host": "@", "pointsTo": "@", "ttl": 1})),
                    one(json!({"type": "NS", "host": "sub", "pointsTo": "@", "ttl": 1})),
                ],
            ),
            (
                "invalid-ipv4",
                vec![one(
                    json!({"type": "A", "host": "@", "pointsTo": "%ip%", "ttl": 1}),
                )],
                vec![
                    one(json!({"type": "A", "host": "@", "pointsTo": "1.2.3", "ttl": 1})),
                    one(json!({"type": "A", "host": "@", "pointsTo": "256.1.1.1", "ttl": 1})),
                    one(json!({"type": "A", "host": "@", "pointsTo": "2001:db8::1", "ttl": 1})),
                ],
            ),
            (
                "invalid-ipv6",
                vec![one(
                    json!({"type": "AAAA", "host": "@", "pointsTo": "2001:db8::1", "ttl": 1}),
                )],
                vec![one(
                    json!({"type": "AAAA", "host": "@", "pointsTo": "192.0.2.1", "ttl": 1}),
                )],
            ),
            (
                "invalid-host",
                vec![
                    txt(json!({"host": "*.x"})),
                    txt(json!({"host": "_dmarc"})),
                    txt(json!({"host": "%sel%._domainkey"})),
                    txt(json!({"host": "www.example.com."})),
                    txt(json!({"host": "*.%sub%"})),
                    txt(json!({"host": ""})),
                ],
                vec![
                    txt(json!({"host": "a..b"})),
                    txt(json!({"host": "a b"})),
                    txt(json!({"host": "x@y"})),
                    txt(json!({"host": "a.*.b"})),
                    txt(json!({"host": "-a"})),
                    txt(json!({"host": "%x%..y"})),
                    txt(json!({"host": "@.%x%"})),
                    txt(json!({"host": "x".repeat(64)})),
                    txt(json!({"host": "é"})),
                    srv(json!({"name": "a/b"})),
                ],
            ),
            (
                "invalid-target",
                vec![
                    one(json!({"type": "CNAME", "host": "www", "pointsTo": "%t%.example.net", "ttl": 1})),
                    one(json!({"type": "MX", "host": "@", "pointsTo": ".", "priority": 0, "ttl": 1})),
                    srv(json!({"target": "."})),
                ],
                vec![
                    one(json!({"type": "CNAME", "host": "www", "pointsTo": "a b.example.", "ttl": 1})),
                    one(json!({"type": "MX", "host": "@", "pointsTo": "x..y", "priority": 1, "ttl": 1})),
                    one(json!({"type": "CNAME", "host": "www", "pointsTo": "*.example.", "ttl": 1})),
                    one(json!({"type": "CNAME", "host": "www", "pointsTo": "https://x.example/", "ttl": 1})),
                ],
            ),
            (
                "target-is-address",
                vec![one(
                    json!({"type": "MX", "host": "@", "pointsTo": "mx1.example.", "priority": 1, "ttl": 1}),
                )],
                vec![one(
                    json!({"type": "MX", "host": "@", "pointsTo": "192.0.2.1", "priority": 1, "ttl": 1}),
                )],
            ),
            (
                "apexcname-host",
                vec![one(
                    json!({"type": "APEXCNAME", "host": "@", "pointsTo": "x.example.", "ttl": 1}),
                )],
                vec![one(
                    json!({"type": "APEXCNAME", "host": "www", "pointsTo": "x.example.", "ttl": 1}),
                )],
            ),
            (
                "srv-protocol",
                vec![
                    srv(json!({"protocol": "TCP"})),
                    srv(json!({"protocol": "_tls"})),
                    srv(json!({"protocol": "%proto%"})),
                ],
                vec![srv(json!({"protocol": "_xyz"})), srv(json!({"protocol": ""}))],
            ),
            (
                "srv-service",
                vec![srv(json!({"service": "sip"})), srv(json!({"service": "_%svc%"}))],
                vec![srv(json!({"service": "_s ip"})), srv(json!({"service": "_"}))],
            ),
            (
                "host-doubling",
                vec![txt(json!({"host": "%sub%.x"}))],
                vec![txt(json!({"host": "%host%.x"}))],
            ),
            (
                "relative-builtin",
                vec![
                    txt(json!({"host": "%fqdn%."})),
                    txt(json!({"host": "_x.%domain%."})),
                ],
                vec![
                    txt(json!({"host": "%fqdn%"})),
                    txt(json!({"host": "_x.%domain%"})),
                ],
            ),
            (
                "raw-spf-txt",
                vec![
                    txt(json!({"data": "v=DMARC1; p=none"})),
                    txt(json!({"data": "v=spf\u{e9}"})),
                ],
                vec![
                    txt(json!({"data": "v=spf1 include:x.example ~all"})),
                    txt(json!({"data": "\"V=SPF1 mx -all\""})),
                ],
            ),
            (
                "txt-data-at",
                vec![txt(json!({"data": "@x"}))],
                vec![txt(json!({"data": "@"}))],
            ),
            (
                "spf-rules",
                vec![one(json!({"type": "SPFM", "host": "@",
                    "spfRules": "include:_spf.example.com ip4:192.0.2.0/24 ip6:2001:db8::/32 -mx a:x.example exp=x.example %rules% ?ptr"}))],
                vec![
                    one(json!({"type": "SPFM", "host": "@", "spfRules": "v=spf1 include:x.example"})),
                    one(json!({"type": "SPFM", "host": "@", "spfRules": "include:x.example ~all"})),
                    one(json!({"type": "SPFM", "host": "@", "spfRules": "foo:bar"})),
                    one(json!({"type": "SPFM", "host": "@", "spfRules": "ip4:192.0.2.1/33"})),
                    one(json!({"type": "SPFM", "host": "@", "spfRules": "include:"})),
                    one(json!({"type": "SPFM", "host": "@", "spfRules": " "})),
                ],
            ),
            (
                "spf-redirect",
                vec![
                    one(json!({"type": "SPFM", "host": "@", "spfRules": "include:x.example"})),
                    one(json!({"type": "SPFM", "host": "@", "spfRules": "include:\u{e9}x"})),
                ],
                vec![one(
                    json!({"type": "SPFM", "host": "@", "spfRules": "redirect=_spf.example.com"}),
                )],
            ),
            (
                "invalid-data",
                vec![
                    one(json!({"type": "CAA", "host": "@", "data": "0 issue \"letsencrypt.org\"", "ttl": 1})),
                    one(json!({"type": "CAA", "host": "@", "data": "%flags% %tag% \"%value%\"", "ttl": 1})),
                ],
                vec![
                    one(json!({"type": "CAA", "host": "@", "data": "", "ttl": 1})),
                    one(json!({"type": "CAA", "host": "@", "data": "@", "ttl": 1})),
                    one(json!({"type": "CAA", "host": "@", "data": "300 issue x", "ttl": 1})),
                ],
            ),
            (
                "invalid-redirect-target",
                vec![
                    one(json!({"type": "REDIR301", "host": "@", "target": "https://www.%domain%/"})),
                    one(json!({"type": "REDIR302", "host": "@", "target": "%target%"})),
                ],
                vec![
                    one(json!({"type": "REDIR301", "host": "@", "target": "www.example.com"})),
                    one(json!({"type": "REDIR301", "host": "@", "target": "https://x.example/a b"})),
                ],
            ),
            (
                "self-conflict",
                vec![
                    recs(json!([
                        {"type":"CNAME","host":"www","pointsTo":"x.example.","ttl":1},
                        {"type":"TXT","host":"other","data":"x","ttl":1}
                    ])),
                    recs(json!([
                        {"type":"NS","host":"sub","pointsTo":"ns1.example.","ttl":1},
                        {"type":"NS","host":"sub","pointsTo":"ns2.example.","ttl":1},
                        {"type":"A","host":"notsub","pointsTo":"192.0.2.1","ttl":1}
                    ])),
                ],
                vec![
                    recs(json!([
                        {"type":"CNAME","host":"WWW","pointsTo":"x.example.","ttl":1},
                        {"type":"TXT","host":"www","data":"x","ttl":1}
                    ])),
                    recs(json!([
                        {"type":"NS","host":"sub","pointsTo":"ns1.example.","ttl":1},
                        {"type":"A","host":"x.sub","pointsTo":"192.0.2.1","ttl":1}
                    ])),
                    recs(json!([
                        {"type":"CNAME","host":"www","pointsTo":"x.example.","ttl":1,"groupId":"a"},
                        {"type":"A","host":"www","pointsTo":"192.0.2.1","ttl":1}
                    ])),
                    recs(json!([
                        {"type":"CNAME","host":"_sip._tcp","pointsTo":"x.example.","ttl":1},
                        {"type":"SRV","name":"@","target":"x.example.","protocol":"tcp","service":"sip",
                         "priority":1,"weight":1,"port":1,"ttl":1}
                    ])),
                ],
            ),
            (
                "group-alternatives",
                vec![recs(json!([
                    {"type":"CNAME","host":"www","pointsTo":"x.example.","ttl":1,"groupId":"a"},
                    {"type":"A","host":"web","pointsTo":"192.0.2.1","ttl":1,"groupId":"b"}
                ]))],
                vec![recs(json!([
                    {"type":"CNAME","host":"www","pointsTo":"x.example.","ttl":1,"groupId":"a"},
                    {"type":"A","host":"www","pointsTo":"192.0.2.1","ttl":1,"groupId":"b"}
                ]))],
            ),
            (
                "multi-instance-conflict",
                vec![
                    json!({"multiInstance": true, "records": [{"type":"TXT","host":"@","data":"%v%","ttl":1}]}),
                ],
                vec![
                    json!({"multiInstance": true, "records": [{"type":"CNAME","host":"www","pointsTo":"x.example.","ttl":1}]}),
                    json!({"multiInstance": true, "records": [{"type":"TXT","host":"@","data":"x","ttl":1,
                        "txtConflictMatchingMode":"All"}]}),
                ],
            ),
            (
                "duplicate-record",
                vec![recs(json!([
                    {"type":"TXT","host":"@","data":"a","ttl":1},
                    {"type":"TXT","host":"@","data":"b","ttl":1}
                ]))],
                vec![recs(json!([
                    {"type":"TXT","host":"@","data":"a","ttl":1},
                    {"type":"TXT","host":"@","data":"a","ttl":1}
                ]))],
            ),
        ]
    }

    #[test]
    fn each_rule_passes_and_fails() {
        let mut failures = Vec::new();
        for (rule, good, bad) in cases() {
            for g in &good {
                if fired(g).contains(&rule) {
                    failures.push(format!("{rule}: fired on {g}: {:?}", validate(&tpl(g))));
                }
            }
            for b in &bad {
                if !fired(b).contains(&rule) {
                    failures.push(format!("{rule}: not fired on {b}: {:?}", validate(&tpl(b))));
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    #[test]
    fn severities_match_the_rule_table_and_every_rule_is_tested() {
        let tested: Vec<&str> = cases().iter().map(|c| c.0).collect();
        // The rules from `file-read` on are the store's, tested in src/templates.rs.
        let store_rules = RULES
            .iter()
            .position(|r| r.0 == "file-read")
            .unwrap_or(RULES.len());
        for (rule, _, _) in &RULES[..store_rules] {
            assert!(tested.contains(rule), "rule {rule} has no test case");
        }
        for (_, _, bad) in cases() {
            for b in bad {
                for f in validate(&tpl(&b)) {
                    let entry = RULES.iter().find(|r| r.0 == f.rule);
                    assert_eq!(entry.map(|e| e.1), Some(f.severity), "{f}");
                }
            }
        }
        let mut ids: Vec<&str> = RULES.iter().map(|r| r.0).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), RULES.len(), "duplicate rule ids");
    }

    #[test]
    fn a_clean_template_has_no_findings() {
        let t = tpl(&json!({
            "logoUrl": "https://example.com/logo.svg",
            "syncRedirectDomain": "example.com,app.example.com",
            "records": [
                {"type":"A","host":"@","pointsTo":"%ip%","ttl":3600},
                {"type":"AAAA","host":"@","pointsTo":"2001:db8::1","ttl":"3600"},
                {"type":"CNAME","host":"www","pointsTo":"@","ttl":3600},
                {"type":"MX","host":"@","pointsTo":"mx.example.net.","priority":"%prio%","ttl":3600},
                {"type":"TXT","host":"_dmarc","data":"v=DMARC1; p=none","ttl":3600,
                 "txtConflictMatchingMode":"Prefix","txtConflictMatchingPrefix":"v=DMARC1","essential":"OnApply"},
                {"type":"SPFM","host":"@","spfRules":"include:_spf.example.net"},
                {"type":"SRV","name":"@","target":"sip.example.net.","protocol":"_tls","service":"_sips",
                 "priority":10,"weight":5,"port":5061,"ttl":3600},
                {"type":"CAA","host":"@","data":"0 issue \"ca.example\"","ttl":3600,"groupId":"caa"}
            ]
        }));
        assert_eq!(validate(&t), vec![]);
    }

    #[test]
    fn display_names_record_field_and_rule() {
        let f = Finding::error(
            Some(2),
            "pointsTo",
            "invalid-ipv4",
            "\"1.2.3\" is not an address".into(),
        );
        assert_eq!(
            f.to_string(),
            "record 2, field pointsTo: \"1.2.3\" is not an address [invalid-ipv4]"
        );
        let f = Finding::warning(None, "logoUrl", "logo-url", "bad".into());
        assert_eq!(f.to_string(), "field logoUrl: bad [logo-url]");
        let f = Finding::error(None, "", "json-syntax", "line 1, column 2: oops".into());
        assert_eq!(f.to_string(), "line 1, column 2: oops [json-syntax]");
        assert_eq!(
            Finding::warning(Some(0), "", "x", "m".into()).to_string(),
            "record 0: m [x]"
        );
    }

    #[test]
    fn alternatives_message_names_both_groups() {
        let t = tpl(&recs(json!([
            {"type":"CNAME","host":"www","pointsTo":"x.example.","ttl":1,"groupId":"a"},
            {"type":"A","host":"www","pointsTo":"192.0.2.1","ttl":1,"groupId":"b"}
        ])));
        let f = validate(&t);
        assert_eq!(f.len(), 1, "{f:?}");
        assert!(
            f[0].message.contains("\"a\"") && f[0].message.contains("\"b\""),
            "{}",
            f[0]
        );
    }

    #[test]
    fn ns_at_apex_mentions_policy_6() {
        let t = tpl(&recs(
            json!([{"type":"NS","host":"@","pointsTo":"ns.example.","ttl":1}]),
        ));
        let f = validate(&t);
        assert!(
            f.iter()
                .any(|f| f.rule == "apex-without-host-required" && f.message.contains("POLICY 6"))
        );
    }

    #[test]
    fn names() {
        assert!(check_name("a.b.c.", false).is_ok());
        assert!(check_name(".", false).is_err());
        assert!(check_name(&format!("{}.com", "a.".repeat(130)), false).is_err());
        assert!(check_name("*", true).is_ok());
        assert!(check_name("*", false).is_err());
        assert!(is_dc_id("a.b-c_D"));
        assert!(!is_dc_id("a/b"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(
            rtype in "(A|AAAA|CNAME|MX|TXT|SRV|SPFM|NS|APEXCNAME|REDIR301|CAA|TYPE[0-9]{1,6}|[a-z%]{0,4})",
            host in "\\PC{0,12}", target in "[a-z0-9.%@*_ é-]{0,16}", data in "\\PC{0,16}",
            rules in "[a-z0-9:./=~?+% é-]{0,20}", int in "[0-9%a-z-]{0,8}", mode in "\\PC{0,8}",
            group in proptest::option::of("[a-z%]{0,4}"),
        ) {
            let r = json!({"type": rtype, "host": host, "name": host, "pointsTo": target, "target": target,
                "data": data, "spfRules": rules, "ttl": int, "priority": int, "port": int, "weight": int,
                "protocol": target, "service": target, "txtConflictMatchingMode": mode,
                "txtConflictMatchingPrefix": mode, "essential": mode, "groupId": group});
            let t = tpl(&json!({"multiInstance": true, "records": [r.clone(), r,
                {"type":"CNAME","host":host,"pointsTo":"x.example.","ttl":1},
                {"type":"NS","host":target,"pointsTo":"x.example.","ttl":1}]}));
            for f in validate(&t) {
                let _ = f.to_string();
            }
        }
    }
}
