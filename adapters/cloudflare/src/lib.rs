//! dc-gateway adapter for Cloudflare DNS, through the v4 API with an API token.
//!
//! * **Atomicity**: a change set is one `POST /zones/{id}/dns_records/batch`; Cloudflare runs a
//!   batch as one transaction (deletes, then patches, puts and posts) and applies none of it
//!   when any part fails.
//! * **Preconditions**: the API has no conditional batch. The adapter reads the touched owners
//!   (it needs their record ids to delete them anyway), compares them with each [`Expect`]
//!   under a per-zone lock, then sends the batch. Writers outside the gateway between the
//!   read and the batch are not detected.
//! * **Provenance**: every record written carries the comment `dc-gateway`.
//! * **The apex NS set** is Cloudflare's (the zone's `name_servers`): reads show it, writes to
//!   it are refused. Cloudflare does not list the SOA as a record, so reads hold none.
//! * **Names and data**: Cloudflare names carry no trailing dot, MX priority is a field of its
//!   own; the adapter converts to and from the contract's presentation format. Types: A,
//!   AAAA, CNAME, MX, NS, TXT.
//! * **Errors**: 401/403 and codes 9109/10000 → [`AdapterError::Unauthorized`], 429 →
//!   [`AdapterError::Throttled`], 5xx and transport failures → [`AdapterError::Transient`],
//!   other 4xx → [`AdapterError::Rejected`] with Cloudflare's messages. The token travels in a
//!   header only and never appears in an error or in `Debug` output.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use dcgw_adapter::{
    Adapter, AdapterError, Atomicity, Capabilities, ChangeSet, Expect, RRset, ReadFilter, Record,
    RecordTypes, absolute, group_rrsets,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// The comment on every record the adapter writes.
pub const PROVENANCE: &str = "dc-gateway";

const TYPES: &[&str] = &["A", "AAAA", "CNAME", "MX", "NS", "TXT"];

/// How to reach the API.
#[derive(Clone)]
pub struct CloudflareOptions {
    /// Default `https://api.cloudflare.com/client/v4`.
    pub api_url: String,
    pub api_token: String,
    pub timeout: Duration,
    /// Records per page when listing (Cloudflare allows up to 5,000 for DNS records).
    pub page_size: u32,
}

impl fmt::Debug for CloudflareOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudflareOptions")
            .field("api_url", &self.api_url)
            .field("api_token", &"[redacted]")
            .field("timeout", &self.timeout)
            .field("page_size", &self.page_size)
            .finish()
    }
}

impl CloudflareOptions {
    pub fn new(api_token: impl Into<String>) -> Self {
        CloudflareOptions {
            api_url: "https://api.cloudflare.com/client/v4".into(),
            api_token: api_token.into(),
            timeout: Duration::from_secs(10),
            page_size: 500,
        }
    }
}

pub struct CloudflareAdapter {
    http: reqwest::Client,
    base: String,
    token: String,
    page_size: u32,
    caps: Capabilities,
    zone_ids: Mutex<HashMap<String, String>>,
    locks: dcgw_adapter::ZoneLocks,
}

impl fmt::Debug for CloudflareAdapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CloudflareAdapter")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
struct Envelope {
    #[serde(default)]
    success: bool,
    #[serde(default)]
    errors: Vec<ApiMessage>,
    #[serde(default)]
    result: Value,
    #[serde(default)]
    result_info: Option<ResultInfo>,
}

#[derive(Debug, Deserialize)]
struct ApiMessage {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
struct ResultInfo {
    #[serde(default)]
    total_pages: Option<u32>,
}

#[derive(Debug, Deserialize, Clone)]
struct CfRecord {
    id: String,
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    content: String,
    #[serde(default)]
    ttl: u32,
    #[serde(default)]
    priority: Option<u16>,
}

/// Names inside data that Cloudflare keeps without the trailing dot.
fn data_has_name(rtype: &str) -> bool {
    matches!(rtype, "CNAME" | "NS" | "MX")
}

impl CfRecord {
    fn to_record(&self) -> Record {
        let rtype = self.rtype.to_ascii_uppercase();
        let target = if data_has_name(&rtype) {
            absolute(&self.content)
        } else {
            self.content.clone()
        };
        let data = match (rtype.as_str(), self.priority) {
            ("MX", Some(p)) => format!("{p} {target}"),
            _ => target,
        };
        Record {
            name: absolute(&self.name),
            rtype,
            // Cloudflare's "automatic" TTL is 1 (300 seconds).
            ttl: if self.ttl == 1 { 300 } else { self.ttl },
            data,
        }
    }
}

/// The API body for one record of the contract.
fn body(name: &str, rtype: &str, ttl: u32, data: &str) -> Result<Value, AdapterError> {
    let name = name.trim_end_matches('.');
    let ttl = if ttl < 60 { 60 } else { ttl.min(86_400) };
    Ok(match rtype {
        "MX" => {
            let (prio, target) = data
                .split_once(char::is_whitespace)
                .ok_or_else(|| AdapterError::Rejected(format!("MX data {data:?} has no priority")))?;
            let prio: u16 = prio
                .parse()
                .map_err(|_| AdapterError::Rejected(format!("MX priority {prio:?} is not a number")))?;
            json!({"name": name, "type": "MX", "content": target.trim().trim_end_matches('.'), "priority": prio,
                   "ttl": ttl, "comment": PROVENANCE})
        }
        "CNAME" | "NS" => {
            json!({"name": name, "type": rtype, "content": data.trim_end_matches('.'), "ttl": ttl,
                                  "proxied": false, "comment": PROVENANCE})
        }
        "A" | "AAAA" => json!({"name": name, "type": rtype, "content": data, "ttl": ttl, "proxied": false,
                               "comment": PROVENANCE}),
        _ => json!({"name": name, "type": rtype, "content": data, "ttl": ttl, "comment": PROVENANCE}),
    })
}

impl CloudflareAdapter {
    pub fn new(options: CloudflareOptions) -> Result<CloudflareAdapter, AdapterError> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(options.timeout)
            .build()
            .map_err(|e| AdapterError::Rejected(format!("cannot build the HTTP client: {e}")))?;
        Ok(CloudflareAdapter {
            http,
            base: options.api_url.trim_end_matches('/').to_string(),
            token: options.api_token,
            page_size: options.page_size.max(1),
            caps: Capabilities {
                atomicity: Atomicity::Atomic,
                preconditions: true,
                record_types: RecordTypes::Only(TYPES.iter().map(|t| t.to_string()).collect()),
                apex_alias: None,
                max_batch: None,
            },
            zone_ids: Mutex::new(HashMap::new()),
            locks: dcgw_adapter::ZoneLocks::default(),
        })
    }

    async fn call(&self, req: reqwest::RequestBuilder, what: &str) -> Result<Envelope, AdapterError> {
        let resp = req.bearer_auth(&self.token).send().await.map_err(|e| {
            let kind = if e.is_timeout() {
                "timed out"
            } else if e.is_connect() {
                "cannot connect"
            } else {
                "request failed"
            };
            AdapterError::Transient(format!("{what}: Cloudflare {kind}"))
        })?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let text = resp.text().await.unwrap_or_default();
        let env: Option<Envelope> = serde_json::from_str(&text).ok();
        let messages = env
            .as_ref()
            .map(|e| {
                e.errors
                    .iter()
                    .map(|m| format!("{} ({})", m.message, m.code))
                    .collect::<Vec<_>>()
                    .join("; ")
            })
            .unwrap_or_default();
        let codes: Vec<i64> = env
            .as_ref()
            .map(|e| e.errors.iter().map(|m| m.code).collect())
            .unwrap_or_default();
        if status.is_success() && env.as_ref().is_some_and(|e| e.success) {
            return env.ok_or_else(|| AdapterError::Transient(format!("{what}: unreadable answer")));
        }
        Err(match status.as_u16() {
            s if s >= 500 => {
                AdapterError::Transient(format!("{what}: Cloudflare answered {status}: {messages}"))
            }
            429 => AdapterError::Throttled { retry_after },
            401 | 403 => {
                AdapterError::Unauthorized(format!("{what}: Cloudflare refused the token: {messages}"))
            }
            _ if codes.iter().any(|c| *c == 9109 || *c == 10000) => {
                AdapterError::Unauthorized(format!("{what}: Cloudflare refused the token: {messages}"))
            }
            404 => AdapterError::ZoneNotFound(what.to_string()),
            _ if status.is_success() => AdapterError::Transient(format!("{what}: unreadable answer")),
            _ => AdapterError::Rejected(format!("{what}: {messages}")),
        })
    }

    /// The id of `zone` (absolute), if the token can see it.
    async fn zone_id(&self, zone: &str) -> Result<Option<String>, AdapterError> {
        if let Ok(ids) = self.zone_ids.lock()
            && let Some(id) = ids.get(zone)
        {
            return Ok(Some(id.clone()));
        }
        let name = zone.trim_end_matches('.');
        let env = self
            .call(
                self.http
                    .get(format!("{}/zones", self.base))
                    .query(&[("name", name)]),
                &format!("zone {zone}"),
            )
            .await?;
        let id = env.result.as_array().and_then(|zs| {
            zs.iter()
                .find(|z| z["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(name)))
                .and_then(|z| z["id"].as_str().map(str::to_string))
        });
        if let (Some(id), Ok(mut ids)) = (&id, self.zone_ids.lock()) {
            ids.insert(zone.to_string(), id.clone());
        }
        Ok(id)
    }

    async fn need_zone(&self, zone: &str) -> Result<String, AdapterError> {
        self.zone_id(zone)
            .await?
            .ok_or_else(|| AdapterError::ZoneNotFound(zone.to_string()))
    }

    /// Every record of the zone, or those at `name`, page by page.
    async fn list(&self, zone: &str, zid: &str, name: Option<&str>) -> Result<Vec<CfRecord>, AdapterError> {
        let mut out = Vec::new();
        let mut page = 1u32;
        loop {
            let mut req = self
                .http
                .get(format!("{}/zones/{zid}/dns_records", self.base))
                .query(&[
                    ("page", page.to_string()),
                    ("per_page", self.page_size.to_string()),
                ]);
            if let Some(n) = name {
                req = req.query(&[("name", n.trim_end_matches('.'))]);
            }
            let env = self.call(req, &format!("zone {zone}")).await?;
            let records: Vec<CfRecord> = serde_json::from_value(env.result)
                .map_err(|e| AdapterError::Transient(format!("zone {zone}: unreadable records: {e}")))?;
            let n = records.len();
            out.extend(records);
            let total = env.result_info.and_then(|i| i.total_pages).unwrap_or(1);
            if page >= total || n == 0 {
                break;
            }
            page += 1;
        }
        Ok(out
            .into_iter()
            .filter(|r| TYPES.contains(&r.rtype.as_str()))
            .collect())
    }

    /// The zone's apex NS set, from the zone's `name_servers`.
    async fn apex_ns(&self, zone: &str, zid: &str) -> Result<Option<RRset>, AdapterError> {
        let env = self
            .call(
                self.http.get(format!("{}/zones/{zid}", self.base)),
                &format!("zone {zone}"),
            )
            .await?;
        let ns: Vec<String> = env.result["name_servers"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n.as_str().map(absolute)).collect())
            .unwrap_or_default();
        Ok((!ns.is_empty()).then(|| RRset::new(zone, "NS", 86_400, ns)))
    }

    async fn list_owners(
        &self,
        zone: &str,
        zid: &str,
        owners: &BTreeSet<String>,
    ) -> Result<Vec<CfRecord>, AdapterError> {
        let lists =
            futures_util::future::try_join_all(owners.iter().map(|o| self.list(zone, zid, Some(o)))).await?;
        Ok(lists.into_iter().flatten().collect())
    }
}

fn to_rrsets(records: &[CfRecord]) -> Vec<RRset> {
    group_rrsets(records.iter().map(CfRecord::to_record))
}

#[async_trait::async_trait]
impl Adapter for CloudflareAdapter {
    fn kind(&self) -> &'static str {
        "cloudflare"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn find_zone(&self, name: &str) -> Result<Option<String>, AdapterError> {
        let name = absolute(name);
        for c in dcgw_adapter::zone_candidates(&name) {
            if self.zone_id(c).await?.is_some() {
                return Ok(Some(c.to_string()));
            }
        }
        Ok(None)
    }

    async fn read(&self, zone: &str, filter: &ReadFilter) -> Result<Vec<RRset>, AdapterError> {
        let zone = absolute(zone);
        let zid = self.need_zone(&zone).await?;
        let records = match filter {
            ReadFilter::All => self.list(&zone, &zid, None).await?,
            ReadFilter::Names(names) => {
                let owners: BTreeSet<String> = names.iter().map(|n| absolute(n)).collect();
                self.list_owners(&zone, &zid, &owners).await?
            }
        };
        let mut sets = to_rrsets(&records);
        if filter.wants(&zone) {
            sets.retain(|s| !(s.name == zone && s.rtype == "NS"));
            sets.extend(self.apex_ns(&zone, &zid).await?);
        }
        Ok(sets)
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<(), AdapterError> {
        if changes.changes.is_empty() {
            return Ok(());
        }
        let zone = absolute(&changes.zone);
        let zid = self.need_zone(&zone).await?;
        let _held = self.locks.lock(&zone).await;
        // Every touched owner is read: preconditions, and the ids of the records to delete.
        let owners: BTreeSet<String> = changes.changes.iter().map(|c| absolute(&c.name)).collect();
        let current = self.list_owners(&zone, &zid, &owners).await?;
        let sets = to_rrsets(&current);
        let mut deletes = Vec::new();
        let mut posts = Vec::new();
        for c in &changes.changes {
            let name = absolute(&c.name);
            let rtype = c.rtype.to_ascii_uppercase();
            if !TYPES.contains(&rtype.as_str()) {
                return Err(AdapterError::Rejected(format!(
                    "{name} {rtype}: type not supported by this adapter"
                )));
            }
            if rtype == "NS" && name == zone {
                return Err(AdapterError::Rejected(format!(
                    "{name} NS: the apex NS set is Cloudflare's"
                )));
            }
            let set = sets.iter().find(|s| s.name == name && s.rtype == rtype);
            if c.expect != Expect::Any && !c.expect.matches(set) {
                return Err(AdapterError::PreconditionFailed {
                    name: c.name.clone(),
                    rtype: c.rtype.clone(),
                });
            }
            for r in current
                .iter()
                .filter(|r| absolute(&r.name) == name && r.rtype.eq_ignore_ascii_case(&rtype))
            {
                deletes.push(json!({"id": r.id}));
            }
            if let Some(new) = &c.new {
                for d in &new.data {
                    posts.push(body(&name, &rtype, new.ttl, d)?);
                }
            }
        }
        let req = self
            .http
            .post(format!("{}/zones/{zid}/dns_records/batch", self.base))
            .json(&json!({"deletes": deletes, "posts": posts}));
        self.call(req, &format!("zone {zone}")).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_convert_both_ways() {
        let mx = CfRecord {
            id: "1".into(),
            name: "Example.com".into(),
            rtype: "MX".into(),
            content: "mail.example.com".into(),
            ttl: 1,
            priority: Some(10),
        };
        let r = mx.to_record();
        assert_eq!(
            (r.name.as_str(), r.data.as_str(), r.ttl),
            ("example.com.", "10 mail.example.com.", 300)
        );
        let b = body("example.com.", "MX", 3600, "10 mail.example.com.").expect("body");
        assert_eq!(b["content"], "mail.example.com");
        assert_eq!(b["priority"], 10);
        assert_eq!(b["comment"], PROVENANCE);
        assert!(body("example.com.", "MX", 3600, "mail.example.com.").is_err());
        let t = body("x.example.com.", "TXT", 30, "\"a\" \"b\"").expect("body");
        assert_eq!(
            (t["content"].as_str(), t["ttl"].as_u64()),
            (Some("\"a\" \"b\""), Some(60))
        );
    }

    #[test]
    fn the_token_is_never_printed() {
        let o = CloudflareOptions::new("tok-secret-42");
        assert!(!format!("{o:?}").contains("tok-secret-42"));
        let a = CloudflareAdapter::new(o).expect("adapter");
        assert!(!format!("{a:?}").contains("tok-secret-42"));
    }
}
