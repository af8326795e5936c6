//! dc-gateway adapter for Amazon Route 53, through the official AWS SDK (`aws-sdk-route53`).
//!
//! * **Credentials** come from the SDK's standard chain (`aws-config`): environment variables,
//!   the shared config and credentials files (an optional profile), **web identity** (the
//!   `AWS_ROLE_ARN` + `AWS_WEB_IDENTITY_TOKEN_FILE` that EKS injects for a Kubernetes service
//!   account, IRSA), ECS container credentials and the EC2 instance role. The adapter never
//!   sees or stores a secret; none can reach an error or `Debug` output.
//! * **Zones** are hosted zones found by name (`ListHostedZonesByName`); private zones are
//!   skipped unless asked for. Zone ids are remembered; names found not to be zones are
//!   believed for [`MISS_TTL`], so unauthenticated discovery of random names cannot spend the
//!   account's API rate.
//! * **Reads**: `ReadFilter::Names` lists each owner from its own name
//!   (`ListResourceRecordSets` with `StartRecordName`), concurrently, so a read costs the same in
//!   any size of zone; `ReadFilter::All` pages through the whole zone. Alias and routing-policy
//!   record sets (weighted, latency, geo, failover: `SetIdentifier`) are outside the model: they
//!   are not reported, and a change to an owner and type that has one is refused.
//! * **Writes**: one change set is **one `ChangeResourceRecordSets` batch**, which Route 53
//!   applies all or nothing. Every replaced or deleted RRset is sent as an exact `DELETE` of its
//!   current records (values and TTL) followed by a `CREATE`, and every new RRset as a `CREATE`:
//!   Route 53 refuses the whole batch if any RRset is not exactly as read, or already exists, so
//!   the batch is a compare-and-swap enforced by Route 53 itself, against every writer. The
//!   adapter also checks each [`Expect`] before sending, under a per-zone lock. The apex SOA and
//!   NS sets, which Route 53 will not delete, are `UPSERT`ed.
//! * **Limits**: a batch holds at most 1,000 records and 32,000 characters of values (an
//!   `UPSERT` counts twice). A larger change set is refused before anything is sent, unless
//!   [`Route53Options::split_batches`] allows splitting it: the capabilities then say
//!   [`Atomicity::PerBatch`], batches never cut one RRset's DELETE from its CREATE, and when a
//!   later batch fails the earlier ones are undone (`PartiallyApplied` only if the undo fails).
//! * **Errors**: `Throttling` and `PriorRequestNotComplete` are retried by the SDK's standard
//!   retry strategy (exponential backoff with full jitter, [`Route53Options::max_attempts`]),
//!   then reported [`AdapterError::Throttled`]; `InvalidChangeBatch` for a record set that is not
//!   as expected is [`AdapterError::PreconditionFailed`]; `NoSuchHostedZone` is
//!   [`AdapterError::ZoneNotFound`]; credential and signature errors are
//!   [`AdapterError::Unauthorized`]; timeouts, unreachable endpoints and 5xx are
//!   [`AdapterError::Transient`]; other refusals are [`AdapterError::Rejected`] with Route 53's
//!   code and message.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_route53::Client;
use aws_sdk_route53::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_route53::types::{Change, ChangeAction, ChangeBatch, ResourceRecord, ResourceRecordSet, RrType};
use dcgw_adapter::{
    Adapter, AdapterError, Atomicity, Capabilities, ChangeSet, RRset, ReadFilter, RecordTypes, absolute,
    in_zone,
};
use tokio::sync::OnceCell;

/// The record types Route 53 stores.
pub const TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "SSHFP",
    "SVCB", "TLSA", "TXT",
];

/// Route 53's limits on one `ChangeResourceRecordSets` request.
pub const MAX_BATCH_RECORDS: usize = 1000;
pub const MAX_BATCH_CHARS: usize = 32_000;

/// How long a name found not to be a hosted zone is believed.
pub const MISS_TTL: Duration = Duration::from_secs(30);
/// At most this many such names are remembered.
const MAX_MISSES: usize = 10_000;

/// Above this many owners, a read lists the whole zone instead of each owner.
const MAX_OWNER_READS: usize = 8;

/// How to reach Route 53.
#[derive(Clone)]
pub struct Route53Options {
    /// An endpoint other than AWS's (a test server such as moto). `AWS_ENDPOINT_URL_ROUTE_53`
    /// is honoured too.
    pub endpoint_url: Option<String>,
    /// The region to sign for. Route 53 is global; its API lives in `us-east-1`.
    pub region: String,
    /// A profile of the shared config files, instead of the default chain's choice (one
    /// profile per backend serves several AWS accounts from one gateway).
    pub profile: Option<String>,
    /// A static access key (id, secret) instead of the chain. Prefer the chain: web identity
    /// or an instance role never puts a long-lived secret in the gateway's configuration.
    pub static_credentials: Option<(String, String)>,
    /// Whether private hosted zones are served.
    pub private_zones: bool,
    /// Allow a change set over Route 53's batch limits to be split (and undone on failure)
    /// instead of refused. The adapter then promises [`Atomicity::PerBatch`] only.
    pub split_batches: bool,
    /// Attempts per request, throttling and 5xx retries included.
    pub max_attempts: u32,
    /// The first retry's backoff (doubled each time, with jitter).
    pub initial_backoff: Duration,
    /// Timeout of each request attempt, and of connecting.
    pub timeout: Duration,
}

impl fmt::Debug for Route53Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route53Options")
            .field("endpoint_url", &self.endpoint_url)
            .field("region", &self.region)
            .field("profile", &self.profile)
            .field(
                "static_credentials",
                &self.static_credentials.as_ref().map(|(id, _)| (id, "[redacted]")),
            )
            .field("private_zones", &self.private_zones)
            .field("split_batches", &self.split_batches)
            .field("max_attempts", &self.max_attempts)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for Route53Options {
    fn default() -> Self {
        Route53Options {
            endpoint_url: None,
            region: "us-east-1".into(),
            profile: None,
            static_credentials: None,
            private_zones: false,
            split_batches: false,
            max_attempts: 5,
            initial_backoff: Duration::from_millis(200),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The Route 53 adapter.
pub struct Route53Adapter {
    options: Route53Options,
    client: OnceCell<Client>,
    caps: Capabilities,
    /// Zone apex → hosted zone id.
    zone_ids: Mutex<HashMap<String, String>>,
    /// Names known not to be hosted zones, and since when: asked again after [`MISS_TTL`].
    /// Discovery is unauthenticated, and each name it asks about costs API calls against the
    /// account's five a second; this bounds what a scan of random names can spend.
    misses: Mutex<HashMap<String, std::time::Instant>>,
    locks: dcgw_adapter::ZoneLocks,
}

impl fmt::Debug for Route53Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Route53Adapter")
            .field("endpoint_url", &self.options.endpoint_url)
            .field("region", &self.options.region)
            .finish_non_exhaustive()
    }
}

/// One RRset as Route 53 holds it: the values exactly as stored (for exact DELETEs) and in
/// the model's canonical form.
#[derive(Clone, Debug)]
struct Stored {
    name: String,
    rtype: String,
    ttl: i64,
    raw: Vec<String>,
    /// An alias or routing-policy record set: outside the model.
    special: bool,
}

impl Stored {
    fn model(&self) -> RRset {
        RRset::new(
            self.name.clone(),
            self.rtype.clone(),
            u32::try_from(self.ttl).unwrap_or(0),
            self.raw.iter().map(|v| canonical(&self.rtype, v)).collect(),
        )
    }
}

/// A value in the model's canonical form. Route 53 values are presentation format with every
/// name absolute, trailing dot optional; a value the parser does not take is kept as it is.
fn canonical(rtype: &str, value: &str) -> String {
    dcgw_zonefile::master::canonical_data(rtype, value, ".").unwrap_or_else(|_| value.trim().to_string())
}

/// Route 53 escapes octets in names as `\ooo` (octal; `*` is `\052`).
fn decode_name(n: &str) -> String {
    let b = n.as_bytes();
    let mut out = String::with_capacity(n.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |a, c| a * 8 + u32::from(c - b'0'));
            match u8::try_from(v) {
                Ok(c) if c.is_ascii_graphic() && c != b'.' && c != b'\\' => out.push(char::from(c)),
                _ => out.push_str(&format!("\\{v:03}")),
            }
            i += 4;
        } else {
            out.push(char::from(b[i]));
            i += 1;
        }
    }
    absolute(&out)
}

impl Route53Adapter {
    pub fn new(options: Route53Options) -> Route53Adapter {
        let caps = Capabilities {
            atomicity: if options.split_batches {
                Atomicity::PerBatch
            } else {
                Atomicity::Atomic
            },
            preconditions: true,
            record_types: RecordTypes::Only(TYPES.iter().map(|t| t.to_string()).collect()),
            apex_alias: None,
            max_batch: None,
        };
        Route53Adapter {
            options,
            client: OnceCell::new(),
            caps,
            zone_ids: Mutex::new(HashMap::new()),
            misses: Mutex::new(HashMap::new()),
            locks: dcgw_adapter::ZoneLocks::default(),
        }
    }

    /// The SDK client, configured from the standard chain on first use.
    async fn client(&self) -> &Client {
        self.client
            .get_or_init(|| async {
                let o = &self.options;
                let mut loader = aws_config::defaults(BehaviorVersion::latest())
                    .region(aws_config::Region::new(o.region.clone()))
                    .retry_config(
                        RetryConfig::standard()
                            .with_max_attempts(o.max_attempts.max(1))
                            .with_initial_backoff(o.initial_backoff)
                            .with_max_backoff(Duration::from_secs(20)),
                    )
                    .timeout_config(
                        TimeoutConfig::builder()
                            .connect_timeout(o.timeout)
                            .operation_attempt_timeout(o.timeout)
                            .build(),
                    );
                if let Some(p) = &o.profile {
                    loader = loader.profile_name(p);
                }
                if let Some((id, secret)) = &o.static_credentials {
                    loader = loader.credentials_provider(aws_sdk_route53::config::Credentials::new(
                        id.clone(),
                        secret.clone(),
                        None,
                        None,
                        "dc-gateway configuration",
                    ));
                }
                if let Some(url) = &o.endpoint_url {
                    loader = loader.endpoint_url(url);
                }
                Client::new(&loader.load().await)
            })
            .await
    }

    /// The id of the hosted zone named exactly `zone`, if there is one.
    async fn lookup(&self, zone: &str) -> Result<Option<String>, AdapterError> {
        if let Ok(ids) = self.zone_ids.lock()
            && let Some(id) = ids.get(zone)
        {
            return Ok(Some(id.clone()));
        }
        if let Ok(misses) = self.misses.lock()
            && misses.get(zone).is_some_and(|t| t.elapsed() < MISS_TTL)
        {
            return Ok(None);
        }
        let out = self
            .client()
            .await
            .list_hosted_zones_by_name()
            .dns_name(zone)
            .max_items(10)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("hosted zone {zone}"), e))?;
        let found = out.hosted_zones().iter().find(|z| {
            decode_name(z.name()) == zone
                && (self.options.private_zones || !z.config().is_some_and(|c| c.private_zone()))
        });
        let Some(z) = found else {
            if let Ok(mut misses) = self.misses.lock() {
                if misses.len() >= MAX_MISSES {
                    misses.retain(|_, t| t.elapsed() < MISS_TTL);
                    if misses.len() >= MAX_MISSES {
                        misses.clear();
                    }
                }
                misses.insert(zone.to_string(), std::time::Instant::now());
            }
            return Ok(None);
        };
        let id = z.id().trim_start_matches("/hostedzone/").to_string();
        if let Ok(mut ids) = self.zone_ids.lock() {
            ids.insert(zone.to_string(), id.clone());
        }
        Ok(Some(id))
    }

    async fn zone_id(&self, zone: &str) -> Result<String, AdapterError> {
        self.lookup(zone)
            .await?
            .ok_or_else(|| AdapterError::ZoneNotFound(zone.to_string()))
    }

    /// Record sets from `start` on, until `until` says stop (every page when `start` is None).
    async fn list(&self, zone: &str, id: &str, owner: Option<&str>) -> Result<Vec<Stored>, AdapterError> {
        let client = self.client().await;
        let mut out = Vec::new();
        let mut next: Option<(String, Option<RrType>, Option<String>)> =
            owner.map(|o| (o.to_string(), None, None));
        loop {
            let mut req = client
                .list_resource_record_sets()
                .hosted_zone_id(id)
                .max_items(300);
            if let Some((n, t, i)) = &next {
                req = req.start_record_name(n);
                if let Some(t) = t {
                    req = req.start_record_type(t.clone());
                }
                if let Some(i) = i {
                    req = req.start_record_identifier(i);
                }
            }
            let page = req
                .send()
                .await
                .map_err(|e| sdk_error(&format!("records of {zone}"), e))?;
            let mut past_owner = false;
            for s in page.resource_record_sets() {
                let name = decode_name(s.name());
                if let Some(o) = owner
                    && name != o
                {
                    past_owner = true;
                    continue;
                }
                if !in_zone(&name, zone) {
                    continue;
                }
                out.push(Stored {
                    name,
                    rtype: s.r#type().as_str().to_ascii_uppercase(),
                    ttl: s.ttl().unwrap_or(0),
                    raw: s
                        .resource_records()
                        .iter()
                        .map(|r| r.value().to_string())
                        .collect(),
                    special: s.alias_target().is_some()
                        || s.set_identifier().is_some()
                        || s.traffic_policy_instance_id().is_some(),
                });
            }
            if !page.is_truncated() || past_owner {
                return Ok(out);
            }
            next = page.next_record_name().map(|n| {
                (
                    n.to_string(),
                    page.next_record_type().cloned(),
                    page.next_record_identifier().map(str::to_string),
                )
            });
            if next.is_none() {
                return Ok(out);
            }
        }
    }

    /// Sends one batch.
    async fn send_batch(&self, zone: &str, id: &str, batch: &[Planned]) -> Result<(), AdapterError> {
        let changes: Vec<Change> = batch.iter().map(Planned::to_sdk).collect::<Result<_, _>>()?;
        let batch = ChangeBatch::builder()
            .set_changes(Some(changes))
            .comment("dc-gateway")
            .build()
            .map_err(|e| AdapterError::Rejected(format!("cannot build the batch: {e}")))?;
        self.client()
            .await
            .change_resource_record_sets()
            .hosted_zone_id(id)
            .change_batch(batch)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sdk_error(&format!("changes to {zone}"), e))
    }

    /// The stored RRsets at `owners`: one listing per owner, concurrently, for a few owners
    /// (Route 53 takes five requests a second per account); the whole zone, filtered, for more.
    async fn owners(
        &self,
        zone: &str,
        id: &str,
        owners: &BTreeSet<String>,
    ) -> Result<Vec<Stored>, AdapterError> {
        if owners.len() > MAX_OWNER_READS {
            let all = self.list(zone, id, None).await?;
            return Ok(all.into_iter().filter(|s| owners.contains(&s.name)).collect());
        }
        let reads = owners.iter().map(|o| self.list(zone, id, Some(o)));
        let sets = futures_util::future::try_join_all(reads).await?;
        Ok(sets.into_iter().flatten().collect())
    }
}

/// One Route 53 change and what it costs against the batch limits.
#[derive(Clone, Debug)]
struct Planned {
    action: ChangeAction,
    set: Stored,
}

impl Planned {
    fn cost(&self) -> (usize, usize) {
        let k = if self.action == ChangeAction::Upsert { 2 } else { 1 };
        (
            k * self.set.raw.len(),
            k * self.set.raw.iter().map(String::len).sum::<usize>(),
        )
    }

    /// The change that undoes this one, given what stood there before (for an UPSERT).
    fn inverse(&self, before: Option<&Stored>) -> Option<Planned> {
        match self.action {
            ChangeAction::Create => Some(Planned {
                action: ChangeAction::Delete,
                set: self.set.clone(),
            }),
            ChangeAction::Delete => Some(Planned {
                action: ChangeAction::Create,
                set: self.set.clone(),
            }),
            _ => before.map(|b| Planned {
                action: ChangeAction::Upsert,
                set: b.clone(),
            }),
        }
    }

    fn to_sdk(&self) -> Result<Change, AdapterError> {
        let bad = |e: aws_sdk_route53::error::BuildError| {
            AdapterError::Rejected(format!("cannot build the change: {e}"))
        };
        let mut rrset = ResourceRecordSet::builder()
            .name(self.set.name.clone())
            .r#type(RrType::from(self.set.rtype.as_str()))
            .ttl(self.set.ttl);
        for v in &self.set.raw {
            rrset = rrset.resource_records(ResourceRecord::builder().value(v.clone()).build().map_err(bad)?);
        }
        Change::builder()
            .action(self.action.clone())
            .resource_record_set(rrset.build().map_err(bad)?)
            .build()
            .map_err(bad)
    }
}

/// Cuts changes into batches within Route 53's limits, never between the changes of one RRset
/// (`groups` holds each RRset's changes together).
fn batches(groups: Vec<Vec<Planned>>) -> Vec<Vec<Planned>> {
    let mut out: Vec<Vec<Planned>> = Vec::new();
    let (mut recs, mut chars) = (0, 0);
    for g in groups {
        let (r, c) = g
            .iter()
            .map(Planned::cost)
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        if out.is_empty() || recs + r > MAX_BATCH_RECORDS || chars + c > MAX_BATCH_CHARS {
            out.push(Vec::new());
            (recs, chars) = (0, 0);
        }
        recs += r;
        chars += c;
        if let Some(last) = out.last_mut() {
            last.extend(g);
        }
    }
    out
}

/// Maps an SDK error onto the adapter's classes. Only codes and messages are kept: never a
/// request, so never a credential.
fn sdk_error<E>(what: &str, e: SdkError<E, aws_sdk_route53::config::http::HttpResponse>) -> AdapterError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match &e {
        SdkError::TimeoutError(_) => AdapterError::Transient(format!("{what}: Route 53 timed out")),
        SdkError::DispatchFailure(d) => {
            if d.is_timeout() {
                AdapterError::Transient(format!("{what}: Route 53 timed out"))
            } else if d.is_io() {
                AdapterError::Transient(format!("{what}: cannot connect to Route 53"))
            } else if chain_mentions(&e, &["credential", "identity", "token"]) {
                AdapterError::Unauthorized(format!("{what}: no usable AWS credentials ({})", short_chain(&e)))
            } else {
                AdapterError::Transient(format!(
                    "{what}: the request to Route 53 failed ({})",
                    short_chain(&e)
                ))
            }
        }
        SdkError::ConstructionFailure(_) => {
            if chain_mentions(&e, &["credential", "identity", "token"]) {
                AdapterError::Unauthorized(format!("{what}: no usable AWS credentials ({})", short_chain(&e)))
            } else {
                AdapterError::Rejected(format!("{what}: cannot build the request ({})", short_chain(&e)))
            }
        }
        SdkError::ResponseError(_) => {
            AdapterError::Transient(format!("{what}: an unreadable answer from Route 53"))
        }
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let mut code = ctx.err().code().unwrap_or("").to_string();
            let mut message = ctx.err().message().unwrap_or("").to_string();
            // Route 53 used to answer InvalidChangeBatch in a shape of its own
            // (<InvalidChangeBatch><Messages><Message>...), which the SDK does not parse.
            if code.is_empty()
                && let Some(body) = ctx.raw().body().bytes()
            {
                let body = String::from_utf8_lossy(body);
                if body.contains("<InvalidChangeBatch") {
                    code = "InvalidChangeBatch".into();
                    message = body
                        .split("<Message>")
                        .skip(1)
                        .filter_map(|m| m.split("</Message>").next())
                        .collect::<Vec<_>>()
                        .join(", ");
                }
            }
            let text = format!("{what}: Route 53 answered {status} {code}: {message}");
            match code.as_str() {
                "NoSuchHostedZone" => AdapterError::ZoneNotFound(what.to_string()),
                "Throttling" | "ThrottlingException" | "PriorRequestNotComplete" | "RequestLimitExceeded" => {
                    AdapterError::Throttled { retry_after: None }
                }
                "AccessDenied"
                | "AccessDeniedException"
                | "InvalidClientTokenId"
                | "SignatureDoesNotMatch"
                | "ExpiredToken"
                | "ExpiredTokenException"
                | "UnrecognizedClientException"
                | "MissingAuthenticationToken"
                | "IncompleteSignature"
                | "InvalidSignatureException" => AdapterError::Unauthorized(text),
                "InvalidChangeBatch" => match precondition_in(&message) {
                    Some((name, rtype)) => AdapterError::PreconditionFailed { name, rtype },
                    None => AdapterError::Rejected(text),
                },
                _ if status == 429 => AdapterError::Throttled { retry_after: None },
                _ if status == 401 || status == 403 => AdapterError::Unauthorized(text),
                _ if status >= 500 => AdapterError::Transient(text),
                _ => AdapterError::Rejected(text),
            }
        }
        _ => AdapterError::Transient(format!("{what}: {}", short_chain(&e))),
    }
}

fn chain_mentions(e: &dyn std::error::Error, words: &[&str]) -> bool {
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(x) = cur {
        let s = x.to_string().to_ascii_lowercase();
        if words.iter().any(|w| s.contains(w)) {
            return true;
        }
        cur = x.source();
    }
    false
}

/// The error's chain of messages, shortened.
fn short_chain(e: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(x) = cur {
        parts.push(x.to_string());
        cur = x.source();
    }
    let s = parts.join(": ");
    s.chars().take(300).collect()
}

/// The RRset named in an `InvalidChangeBatch` message about a record set that was not as
/// expected: "Tried to delete resource record set [name='x.', type='A'] but it was not found",
/// "... but the values provided do not match the current values", "Tried to create resource
/// record set [name='x.', type='A'] but it already exists".
fn precondition_in(message: &str) -> Option<(String, String)> {
    let stale = ["was not found", "do not match", "already exists"];
    if !stale.iter().any(|s| message.contains(s)) {
        return None;
    }
    let field = |key: &str| -> Option<String> {
        let start = message.find(key)? + key.len();
        let end = message[start..].find('\'')? + start;
        Some(message[start..end].to_string())
    };
    Some((
        field("name='").map(|n| decode_name(&n)).unwrap_or_default(),
        field("type='").unwrap_or_default(),
    ))
}

#[async_trait::async_trait]
impl Adapter for Route53Adapter {
    fn kind(&self) -> &'static str {
        "route53"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn find_zone(&self, name: &str) -> Result<Option<String>, AdapterError> {
        let name = absolute(name);
        for c in dcgw_adapter::zone_candidates(&name) {
            if self.lookup(c).await?.is_some() {
                return Ok(Some(c.to_string()));
            }
        }
        Ok(None)
    }

    async fn read(&self, zone: &str, filter: &ReadFilter) -> Result<Vec<RRset>, AdapterError> {
        let zone = absolute(zone);
        let id = self.zone_id(&zone).await?;
        let stored = match filter {
            ReadFilter::All => self.list(&zone, &id, None).await?,
            ReadFilter::Names(n) => {
                let owners: BTreeSet<String> = n.iter().map(|x| absolute(x)).collect();
                self.owners(&zone, &id, &owners).await?
            }
        };
        Ok(stored.iter().filter(|s| !s.special).map(Stored::model).collect())
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<(), AdapterError> {
        if changes.changes.is_empty() {
            return Ok(());
        }
        let zone = absolute(&changes.zone);
        let id = self.zone_id(&zone).await?;
        let mut seen = BTreeSet::new();
        for c in &changes.changes {
            let owner = absolute(&c.name);
            let rtype = c.rtype.to_ascii_uppercase();
            if !in_zone(&owner, &zone) {
                return Err(AdapterError::Rejected(format!(
                    "{owner} is not in the zone {zone}"
                )));
            }
            if !self.caps.record_types.supports(&rtype) {
                return Err(AdapterError::Rejected(format!(
                    "Route 53 does not store {rtype} records"
                )));
            }
            if !seen.insert((owner, rtype.clone())) {
                return Err(AdapterError::Rejected(format!(
                    "{} {rtype} is changed twice in one change set",
                    c.name
                )));
            }
        }
        let _held = self.locks.lock(&zone).await;
        let owners: BTreeSet<String> = changes.changes.iter().map(|c| absolute(&c.name)).collect();
        let current = self.owners(&zone, &id, &owners).await?;
        let mut groups: Vec<Vec<Planned>> = Vec::new();
        let mut before: HashMap<(String, String), Stored> = HashMap::new();
        for c in &changes.changes {
            let owner = absolute(&c.name);
            let rtype = c.rtype.to_ascii_uppercase();
            let here: Vec<&Stored> = current
                .iter()
                .filter(|s| s.name == owner && s.rtype == rtype)
                .collect();
            if here.iter().any(|s| s.special) {
                return Err(AdapterError::Rejected(format!(
                    "{owner} {rtype} is an alias or routing-policy record set, which the gateway does not manage"
                )));
            }
            let existing = here.first().copied();
            if !c.expect.matches(existing.map(Stored::model).as_ref()) {
                return Err(AdapterError::PreconditionFailed {
                    name: c.name.clone(),
                    rtype: c.rtype.clone(),
                });
            }
            let new = c.new.as_ref().filter(|s| !s.data.is_empty()).map(|s| Stored {
                name: owner.clone(),
                rtype: rtype.clone(),
                ttl: i64::from(s.ttl),
                raw: s.data.clone(),
                special: false,
            });
            let apex_only = owner == zone && (rtype == "SOA" || rtype == "NS");
            let mut g = Vec::new();
            match (existing, new) {
                (Some(_), None) if apex_only => {
                    return Err(AdapterError::Rejected(format!(
                        "Route 53 does not let the apex {rtype} set be deleted"
                    )));
                }
                (Some(old), Some(new)) if apex_only => {
                    before.insert((owner.clone(), rtype.clone()), old.clone());
                    g.push(Planned {
                        action: ChangeAction::Upsert,
                        set: new,
                    });
                }
                (Some(old), new) => {
                    g.push(Planned {
                        action: ChangeAction::Delete,
                        set: old.clone(),
                    });
                    if let Some(n) = new {
                        g.push(Planned {
                            action: ChangeAction::Create,
                            set: n,
                        });
                    }
                }
                (None, Some(n)) => g.push(Planned {
                    action: ChangeAction::Create,
                    set: n,
                }),
                (None, None) => {}
            }
            if !g.is_empty() {
                groups.push(g);
            }
        }
        if groups.is_empty() {
            return Ok(());
        }
        let batches = batches(groups);
        if batches.len() > 1 && !self.options.split_batches {
            return Err(AdapterError::Rejected(format!(
                "the change set needs {} Route 53 batches (at most {MAX_BATCH_RECORDS} records and \
                 {MAX_BATCH_CHARS} characters each); it is refused whole rather than applied in parts \
                 (split_batches allows that)",
                batches.len()
            )));
        }
        for (k, batch) in batches.iter().enumerate() {
            let Err(e) = self.send_batch(&zone, &id, batch).await else {
                continue;
            };
            if k == 0 {
                return Err(e);
            }
            // Undo the batches already applied, last first.
            let total = changes.changes.len();
            let applied: usize = batches[..k].iter().map(Vec::len).sum();
            for done in batches[..k].iter().rev() {
                let undo: Option<Vec<Planned>> = done
                    .iter()
                    .rev()
                    .map(|p| p.inverse(before.get(&(p.set.name.clone(), p.set.rtype.clone()))))
                    .collect();
                let undone = match undo {
                    Some(u) => self.send_batch(&zone, &id, &u).await,
                    None => Err(AdapterError::Rejected("an earlier apex set is unknown".into())),
                };
                if let Err(u) = undone {
                    return Err(AdapterError::PartiallyApplied {
                        applied,
                        total,
                        cause: format!(
                            "batch {} of {} failed ({e}) and undoing the earlier ones failed ({u})",
                            k + 1,
                            batches.len()
                        ),
                    });
                }
            }
            return Err(e);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_decoded_from_route53_octal_escapes() {
        assert_eq!(decode_name("\\052.example.com."), "*.example.com.");
        assert_eq!(decode_name("WWW.Example.com"), "www.example.com.");
        assert_eq!(decode_name("a\\040b.example.com."), "a\\032b.example.com.");
    }

    #[test]
    fn values_are_canonicalised_with_absolute_names() {
        assert_eq!(canonical("NS", "ns-2048.awsdns-64.com"), "ns-2048.awsdns-64.com.");
        assert_eq!(canonical("MX", "10 Mail.Example.net"), "10 mail.example.net.");
        assert_eq!(canonical("TXT", "\"a b\" \"c\""), "\"a b\" \"c\"");
        // A value that does not parse is kept as Route 53 gave it.
        assert_eq!(canonical("SOA", "{'Value': 'x'}"), "{'Value': 'x'}");
    }

    #[test]
    fn stale_record_set_messages_name_the_rrset() {
        let m = "[Tried to delete resource record set [name='www.example.com.', type='A'] but the values provided do not match the current values]";
        assert_eq!(precondition_in(m), Some(("www.example.com.".into(), "A".into())));
        let m = "[Tried to create resource record set [name='\\052.example.com.', type='TXT'] but it already exists]";
        assert_eq!(precondition_in(m), Some(("*.example.com.".into(), "TXT".into())));
        assert_eq!(
            precondition_in("[RRSet of type CNAME with DNS name x. is not permitted at apex]"),
            None
        );
    }

    fn planned(action: ChangeAction, values: usize, len: usize) -> Planned {
        Planned {
            action,
            set: Stored {
                name: "x.example.".into(),
                rtype: "TXT".into(),
                ttl: 300,
                raw: (0..values).map(|_| "x".repeat(len)).collect(),
                special: false,
            },
        }
    }

    #[test]
    fn batches_respect_route53_limits_and_keep_an_rrset_together() {
        // 600 RRsets of one 40-character value, each a DELETE + CREATE: 1,200 records.
        let groups: Vec<Vec<Planned>> = (0..600)
            .map(|_| {
                vec![
                    planned(ChangeAction::Delete, 1, 40),
                    planned(ChangeAction::Create, 1, 40),
                ]
            })
            .collect();
        let b = batches(groups);
        assert_eq!(b.len(), 2);
        for batch in &b {
            let (r, c) = batch
                .iter()
                .map(Planned::cost)
                .fold((0, 0), |a, x| (a.0 + x.0, a.1 + x.1));
            assert!(r <= MAX_BATCH_RECORDS && c <= MAX_BATCH_CHARS, "{r} {c}");
            assert_eq!(batch.len() % 2, 0, "a DELETE is never cut from its CREATE");
        }
        // Characters: 10 values of 250 characters per RRset: 2,500 per CREATE.
        let groups: Vec<Vec<Planned>> = (0..20)
            .map(|_| vec![planned(ChangeAction::Create, 10, 250)])
            .collect();
        assert_eq!(batches(groups).len(), 2);
        // An UPSERT counts twice.
        assert_eq!(planned(ChangeAction::Upsert, 3, 10).cost(), (6, 60));
    }

    #[test]
    fn debug_output_names_no_credentials() {
        let o = Route53Options {
            static_credentials: Some(("AKIDEXAMPLE".into(), "wJalrXUtnFEMI-very-secret".into())),
            ..Route53Options::default()
        };
        assert!(!format!("{o:?}").contains("very-secret"));
        let a = Route53Adapter::new(o);
        let s = format!("{a:?}");
        assert!(s.contains("us-east-1") && !s.contains("very-secret"));
    }
}
