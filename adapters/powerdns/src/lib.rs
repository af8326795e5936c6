//! dc-gateway adapter for PowerDNS Authoritative, through its HTTP API (`X-API-Key`).
//!
//! * **Atomicity**: one change set is one `PATCH /zones/{zone}` carrying every RRset change;
//!   PowerDNS applies a PATCH in one backend transaction, so it is all or nothing (a refused
//!   RRset, e.g. a CNAME beside other data, refuses the whole PATCH with 422).
//! * **Preconditions**: the API has no conditional PATCH. The adapter reads the RRsets a change
//!   set touches and compares them with each [`Expect`] while holding a per-zone lock, then
//!   PATCHes. That excludes every writer going through this adapter instance (the gateway adds
//!   a per-zone lock across replicas); a writer bypassing the gateway between the read and
//!   the PATCH is not detected. Concurrent PATCHes to one zone are also known to duplicate
//!   records in PowerDNS, which the same lock prevents. Through
//!   [`Adapter::apply_locked`] (the gateway, under its zone lock shared by its replicas, with
//!   preconditions from a read made under that lock) the second read is skipped: the
//!   gateway's lock already excludes every writer the adapter's would.
//! * **Reads**: `ReadFilter::Names` asks for each owner with the `rrset_name` filter (PowerDNS
//!   4.7 has it), so reads do not grow with the zone.
//! * **Errors**: connection failures, timeouts and 5xx are [`AdapterError::Transient`], 401/403
//!   [`AdapterError::Unauthorized`], 404 [`AdapterError::ZoneNotFound`], 422/400
//!   [`AdapterError::Rejected`] with PowerDNS's message, 429 [`AdapterError::Throttled`]. The
//!   API key is sent in a header only and never appears in an error or in `Debug` output.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use dcgw_adapter::{
    Adapter, AdapterError, Atomicity, Capabilities, ChangeSet, Expect, RRset, ReadFilter, RecordTypes,
    absolute,
};
use serde::{Deserialize, Serialize};

/// How to reach the PowerDNS API.
#[derive(Clone)]
pub struct PowerDnsOptions {
    /// The API's base URL, e.g. `http://127.0.0.1:8081` (the `/api/v1` part is added).
    pub api_url: String,
    /// The `api-key` of the server.
    pub api_key: String,
    /// The server id in API paths (`localhost` for a single server).
    pub server_id: String,
    /// Timeout of each request.
    pub timeout: Duration,
}

impl fmt::Debug for PowerDnsOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowerDnsOptions")
            .field("api_url", &self.api_url)
            .field("api_key", &"[redacted]")
            .field("server_id", &self.server_id)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl PowerDnsOptions {
    pub fn new(api_url: impl Into<String>, api_key: impl Into<String>) -> Self {
        PowerDnsOptions {
            api_url: api_url.into(),
            api_key: api_key.into(),
            server_id: "localhost".into(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The record types PowerDNS accepts through the API that dc-gateway writes.
const TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "LOC", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV",
    "SSHFP", "SVCB", "TLSA", "TXT",
];

/// The PowerDNS adapter.
pub struct PowerDnsAdapter {
    http: reqwest::Client,
    /// `{api_url}/api/v1/servers/{server_id}`.
    base: String,
    key: String,
    caps: Capabilities,
    /// One lock per zone: precondition checks and PATCHes of a zone never interleave.
    locks: dcgw_adapter::ZoneLocks,
}

impl fmt::Debug for PowerDnsAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowerDnsAdapter")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct ZoneBody {
    #[serde(default)]
    rrsets: Vec<PdnsRRset>,
}

#[derive(Debug, Deserialize, Serialize)]
struct PdnsRRset {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ttl: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    changetype: Option<String>,
    #[serde(default)]
    records: Vec<PdnsRecord>,
}

#[derive(Debug, Deserialize, Serialize)]
struct PdnsRecord {
    content: String,
    #[serde(default)]
    disabled: bool,
}

#[derive(Debug, Deserialize)]
struct PdnsError {
    #[serde(default)]
    error: String,
}

/// A zone name as a path segment (PowerDNS escapes `/` as `=2F`).
fn zone_id(zone: &str) -> String {
    let z = absolute(zone).replace('/', "=2F");
    percent_encode(&z)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~=".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl PowerDnsAdapter {
    pub fn new(options: PowerDnsOptions) -> Result<PowerDnsAdapter, AdapterError> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .build()
            .map_err(|e| AdapterError::Rejected(format!("cannot build the HTTP client: {e}")))?;
        let base = format!(
            "{}/api/v1/servers/{}",
            options.api_url.trim_end_matches('/'),
            percent_encode(&options.server_id)
        );
        Ok(PowerDnsAdapter {
            http,
            base,
            key: options.api_key,
            caps: Capabilities {
                atomicity: Atomicity::Atomic,
                preconditions: true,
                record_types: RecordTypes::Only(TYPES.iter().map(|t| t.to_string()).collect()),
                apex_alias: None,
                max_batch: None,
            },
            locks: dcgw_adapter::ZoneLocks::default(),
        })
    }

    /// Sends a request, again up to twice after a 5xx answer (PowerDNS's SQL backends answer
    /// 500 when the database is busy, e.g. SQLite's "database is locked"; every request the
    /// adapter sends is idempotent: reads, and PATCHes of whole RRsets made under the zone
    /// lock). Connection failures and timeouts are not retried here: the caller decides.
    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response, AdapterError> {
        let mut delay = Duration::from_millis(50);
        let mut attempt = 0;
        loop {
            let Some(this) = req.try_clone() else {
                return self.send_once(req, what).await;
            };
            match self.send_once(this, what).await {
                Err(AdapterError::Transient(m)) if m.contains(" answered 5") && attempt < 2 => {
                    attempt += 1;
                    tokio::time::sleep(delay).await;
                    delay *= 4;
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        req: reqwest::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::Response, AdapterError> {
        let resp = req
            .header("X-API-Key", &self.key)
            .header("Accept", "application/json")
            .send()
            .await
            .map_err(|e| transport_error(what, &e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<PdnsError>(&body)
            .map(|e| e.error)
            .unwrap_or_else(|_| body.chars().take(200).collect());
        Err(match status.as_u16() {
            401 | 403 => {
                AdapterError::Unauthorized(format!("{what}: PowerDNS refused the API key ({status})"))
            }
            404 => AdapterError::ZoneNotFound(what.to_string()),
            429 => AdapterError::Throttled { retry_after },
            400 | 422 => AdapterError::Rejected(format!("{what}: {message}")),
            s if s >= 500 => {
                AdapterError::Transient(format!("{what}: PowerDNS answered {status}: {message}"))
            }
            _ => AdapterError::Rejected(format!("{what}: PowerDNS answered {status}: {message}")),
        })
    }

    /// The RRsets of `zone`, all of them or those at one owner (and type).
    async fn fetch(
        &self,
        zone: &str,
        owner: Option<&str>,
        rtype: Option<&str>,
    ) -> Result<Vec<RRset>, AdapterError> {
        let mut req = self.http.get(format!("{}/zones/{}", self.base, zone_id(zone)));
        if let Some(o) = owner {
            req = req.query(&[("rrset_name", o)]);
            if let Some(t) = rtype {
                req = req.query(&[("rrset_type", t)]);
            }
        }
        let body: ZoneBody = self
            .send(req, &format!("zone {zone}"))
            .await?
            .json()
            .await
            .map_err(|e| AdapterError::Transient(format!("zone {zone}: unreadable answer: {e}")))?;
        Ok(body
            .rrsets
            .into_iter()
            .filter(|s| owner.is_none_or(|o| s.name.eq_ignore_ascii_case(o)))
            .filter(|s| rtype.is_none_or(|t| s.rtype.eq_ignore_ascii_case(t)))
            .filter_map(|s| {
                let data: Vec<String> = s
                    .records
                    .into_iter()
                    .filter(|r| !r.disabled)
                    .map(|r| r.content)
                    .collect();
                (!data.is_empty()).then(|| {
                    RRset::new(
                        s.name.to_ascii_lowercase(),
                        s.rtype.to_ascii_uppercase(),
                        s.ttl.unwrap_or(0),
                        data,
                    )
                })
            })
            .collect())
    }
}

impl PowerDnsAdapter {
    /// The RRsets at `owners`, one `rrset_name` request per owner, sent concurrently.
    async fn fetch_owners(&self, zone: &str, owners: BTreeSet<String>) -> Result<Vec<RRset>, AdapterError> {
        let reads = owners.iter().map(|o| self.fetch(zone, Some(o), None));
        let sets = futures_util::future::try_join_all(reads).await?;
        Ok(sets.into_iter().flatten().collect())
    }
}

fn transport_error(what: &str, e: &reqwest::Error) -> AdapterError {
    // reqwest's Display names the URL (never the key, which travels in a header).
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    AdapterError::Transient(format!("{what}: PowerDNS {kind}"))
}

#[async_trait::async_trait]
impl Adapter for PowerDnsAdapter {
    fn kind(&self) -> &'static str {
        "powerdns"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn find_zone(&self, name: &str) -> Result<Option<String>, AdapterError> {
        let name = absolute(name);
        for c in dcgw_adapter::zone_candidates(&name) {
            let req = self
                .http
                .get(format!("{}/zones/{}", self.base, zone_id(c)))
                .query(&[("rrsets", "false")]);
            match self.send(req, &format!("zone {c}")).await {
                Ok(_) => return Ok(Some(c.to_string())),
                // PowerDNS answers 404 (and some versions 422) for a zone it does not have.
                Err(AdapterError::ZoneNotFound(_)) | Err(AdapterError::Rejected(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(None)
    }

    async fn read(&self, zone: &str, filter: &ReadFilter) -> Result<Vec<RRset>, AdapterError> {
        let zone = absolute(zone);
        match filter {
            ReadFilter::All => self.fetch(&zone, None, None).await,
            ReadFilter::Names(names) => {
                let unique: BTreeSet<String> = names.iter().map(|n| absolute(n)).collect();
                self.fetch_owners(&zone, unique).await
            }
        }
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<(), AdapterError> {
        self.write(changes, true).await
    }

    /// The caller's lock covers the read its preconditions come from: no second read (see
    /// [`Adapter::apply_locked`]); the PATCH is still serialized per zone.
    async fn apply_locked(&self, changes: &ChangeSet) -> Result<(), AdapterError> {
        self.write(changes, false).await
    }
}

impl PowerDnsAdapter {
    /// One PATCH for the change set, under the zone's lock; with `check`, the preconditions
    /// are read and compared first.
    async fn write(&self, changes: &ChangeSet, check: bool) -> Result<(), AdapterError> {
        if changes.changes.is_empty() {
            return Ok(());
        }
        let zone = absolute(&changes.zone);
        let _held = self.locks.lock(&zone).await;
        if check {
            // The owners with a precondition, each read once (all at the same time).
            let owners: BTreeSet<String> = changes
                .changes
                .iter()
                .filter(|c| c.expect != Expect::Any)
                .map(|c| absolute(&c.name))
                .collect();
            let current = self.fetch_owners(&zone, owners).await?;
            for c in changes.changes.iter().filter(|c| c.expect != Expect::Any) {
                let name = absolute(&c.name);
                let set = current
                    .iter()
                    .find(|s| s.name == name && s.rtype.eq_ignore_ascii_case(&c.rtype));
                if !c.expect.matches(set) {
                    return Err(AdapterError::PreconditionFailed {
                        name: c.name.clone(),
                        rtype: c.rtype.clone(),
                    });
                }
            }
        }
        let rrsets: Vec<PdnsRRset> = changes
            .changes
            .iter()
            .map(|c| match &c.new {
                Some(set) if !set.data.is_empty() => PdnsRRset {
                    name: absolute(&c.name),
                    rtype: c.rtype.to_ascii_uppercase(),
                    ttl: Some(set.ttl),
                    changetype: Some("REPLACE".into()),
                    records: set
                        .data
                        .iter()
                        .map(|d| PdnsRecord {
                            content: d.clone(),
                            disabled: false,
                        })
                        .collect(),
                },
                _ => PdnsRRset {
                    name: absolute(&c.name),
                    rtype: c.rtype.to_ascii_uppercase(),
                    ttl: None,
                    changetype: Some("DELETE".into()),
                    records: Vec::new(),
                },
            })
            .collect();
        let req = self
            .http
            .patch(format!("{}/zones/{}", self.base, zone_id(&zone)))
            .json(&serde_json::json!({ "rrsets": rrsets }));
        self.send(req, &format!("zone {zone}")).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zone_ids_are_escaped() {
        assert_eq!(zone_id("example.com"), "example.com.");
        assert_eq!(
            zone_id("0/26.2.0.192.in-addr.arpa."),
            "0=2F26.2.0.192.in-addr.arpa."
        );
    }

    #[test]
    fn the_key_is_never_printed() {
        let o = PowerDnsOptions::new("http://127.0.0.1:1", "secret-key-123");
        assert!(!format!("{o:?}").contains("secret-key-123"));
        let a = PowerDnsAdapter::new(o).expect("adapter");
        assert!(!format!("{a:?}").contains("secret-key-123"));
    }
}
