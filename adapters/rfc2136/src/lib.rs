//! dc-gateway adapter for RFC 2136 dynamic updates, signed with TSIG (RFC 8945): BIND, Knot,
//! PowerDNS with `dnsupdate=yes`, and any other primary that takes UPDATE.
//!
//! * **Atomicity**: a change set is **one UPDATE message**. RFC 2136 §3.4 has the server check
//!   every prerequisite first and then apply the whole update section or none of it, so a
//!   change set is all or nothing. A set too large for one message (64 KiB over TCP) is
//!   refused before anything is sent.
//! * **Preconditions are the server's**: each [`Expect`] becomes a prerequisite in the same
//!   message. `Expect::Absent` is "RRset does not exist" (§2.4.3), `Expect::Exactly(data)` is
//!   "RRset exists (value dependent)" (§2.4.2): the server compares the whole RRset with the
//!   data, so an RRset changed by anybody, through the gateway or not, refuses the update
//!   (NXRRSET/YXRRSET → [`AdapterError::PreconditionFailed`]). No lock is needed for
//!   correctness; the adapter still sends one update per zone at a time, so its own writers do
//!   not make the server queue them.
//! * **Updates**: every RRset a change replaces or deletes is deleted (§2.5.2) before any
//!   record is added (§2.5.1), so a change set may turn an A into a CNAME. The apex NS set is
//!   the exception, because servers ignore a delete of it (§3.4.2.4): its records are deleted
//!   one by one (§2.5.4). The apex SOA can be replaced, never deleted.
//! * **Reads** are TSIG-signed zone transfers (AXFR over TCP, every message's signature
//!   checked). DNS has no per-owner read an authoritative server is bound to answer fully
//!   (ANY is answered minimally under RFC 8482), so `ReadFilter::Names` filters a transfer:
//!   reads grow with the zone.
//! * **find_zone** asks the server for the name's SOA: the owner of the SOA in an
//!   authoritative answer (or authority section) is the zone.
//! * **Errors**: no connection, a timeout or SERVFAIL are [`AdapterError::Transient`];
//!   NOTAUTH/REFUSED are [`AdapterError::ZoneNotFound`] when the server is not authoritative
//!   for the zone, else [`AdapterError::Unauthorized`] (a TSIG error: unknown key, bad
//!   signature, clock skew); FORMERR and NOTZONE are [`AdapterError::Rejected`]. A response
//!   whose TSIG signature does not verify is never trusted. The TSIG secret is never printed.
//! * **TSIG algorithms**: hmac-sha256, hmac-sha384 and hmac-sha512 (hickory does not compute
//!   the older MD5/SHA-1 MACs, which RFC 8945 no longer recommends).

pub mod wire;

use std::collections::BTreeSet;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use dcgw_adapter::{
    Adapter, AdapterError, Atomicity, Capabilities, ChangeSet, Expect, RRset, ReadFilter, Record,
    RecordTypes, absolute, group_rrsets, in_zone,
};
use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode, UpdateMessage};
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{DNSClass, Name, RData, RecordType, TSigVerifier, TSigner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A TSIG key: algorithm, name and secret.
#[derive(Clone)]
pub struct TsigKey {
    pub algorithm: String,
    pub name: String,
    pub secret: Vec<u8>,
}

impl fmt::Debug for TsigKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TsigKey")
            .field("algorithm", &self.algorithm)
            .field("name", &self.name)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl TsigKey {
    /// A key from its parts; `secret` is base64, as in `named.conf`, `knot.conf` and
    /// `pdnsutil`.
    pub fn new(algorithm: &str, name: &str, secret_base64: &str) -> Result<TsigKey, String> {
        let algorithm = algorithm.trim().to_ascii_lowercase();
        algorithm_of(&algorithm)?;
        let secret = base64::engine::general_purpose::STANDARD
            .decode(secret_base64.trim())
            .map_err(|_| format!("the secret of TSIG key {name:?} is not base64"))?;
        if secret.is_empty() {
            return Err(format!("the secret of TSIG key {name:?} is empty"));
        }
        Name::from_ascii(name).map_err(|e| format!("TSIG key name {name:?}: {e}"))?;
        Ok(TsigKey {
            algorithm,
            name: name.trim().to_string(),
            secret,
        })
    }

    /// `algorithm:name:secret`, the form of `dig -y` and `nsupdate -y`.
    pub fn parse(spec: &str) -> Result<TsigKey, String> {
        let mut parts = spec.trim().splitn(3, ':');
        match (parts.next(), parts.next(), parts.next()) {
            (Some(a), Some(n), Some(s)) => TsigKey::new(a, n, s),
            _ => Err("a TSIG key is written algorithm:name:secret".into()),
        }
    }

    fn signer(&self) -> Result<TSigner, AdapterError> {
        let alg = algorithm_of(&self.algorithm).map_err(AdapterError::Rejected)?;
        let name = Name::from_ascii(&self.name)
            .map_err(|e| AdapterError::Rejected(format!("TSIG key name: {e}")))?;
        TSigner::new(self.secret.clone(), alg, name, 300)
            .map_err(|e| AdapterError::Rejected(format!("TSIG key {}: {e}", self.name)))
    }
}

fn algorithm_of(a: &str) -> Result<TsigAlgorithm, String> {
    match a.trim_end_matches('.') {
        "hmac-sha256" => Ok(TsigAlgorithm::HmacSha256),
        "hmac-sha384" => Ok(TsigAlgorithm::HmacSha384),
        "hmac-sha512" => Ok(TsigAlgorithm::HmacSha512),
        other => Err(format!(
            "TSIG algorithm {other:?} is not supported (hmac-sha256, hmac-sha384, hmac-sha512)"
        )),
    }
}

/// How to reach the primary server.
#[derive(Clone, Debug)]
pub struct Rfc2136Options {
    /// The primary's address (updates and transfers go there over TCP).
    pub server: SocketAddr,
    /// The key updates and transfers are signed with; `None` sends them unsigned (only for a
    /// server that restricts updates by address, which is weaker).
    pub tsig: Option<TsigKey>,
    /// The time one operation (a query, an update, a whole transfer) may take.
    pub timeout: Duration,
    /// The types the server takes in updates (PowerDNS refuses RFC 3597 types with FORMERR;
    /// BIND drops TYPE65534, its signing-state type). Default: any.
    pub record_types: RecordTypes,
    /// Read the changed RRsets back after each update and undo it when the server silently
    /// ignored part of it (RFC 2136 §3.4.2 has servers ignore, not refuse, a CNAME added
    /// beside other data, data added beside a CNAME, and some types). Costs one zone transfer
    /// per update. Default: on.
    pub verify_writes: bool,
}

impl Rfc2136Options {
    pub fn new(server: SocketAddr, tsig: Option<TsigKey>) -> Self {
        Rfc2136Options {
            server,
            tsig,
            timeout: Duration::from_secs(10),
            record_types: RecordTypes::Any,
            verify_writes: true,
        }
    }
}

/// The RFC 2136 adapter.
pub struct Rfc2136Adapter {
    options: Rfc2136Options,
    signer: Option<TSigner>,
    caps: Capabilities,
    locks: dcgw_adapter::ZoneLocks,
}

impl fmt::Debug for Rfc2136Adapter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rfc2136Adapter")
            .field("server", &self.options.server)
            .field("key", &self.options.tsig.as_ref().map(|k| &k.name))
            .finish_non_exhaustive()
    }
}

/// What went wrong in one exchange, before it is mapped onto an [`AdapterError`].
#[derive(Debug)]
enum Fault {
    /// Connection, timeout, truncated stream: the operation may not have happened.
    Io(String),
    /// The server's answer could not be trusted or parsed.
    Bad(String),
    /// The server answered with this code (and TSIG error, if any); `true` when the answer
    /// was signed with our key (so the server knew us).
    Code(ResponseCode, Option<String>, bool),
    /// The request does not fit one message.
    TooLarge(String),
}

/// Over 64 KiB a message does not fit one TCP frame.
const MAX_MESSAGE: usize = 65_535;

impl Rfc2136Adapter {
    pub fn new(options: Rfc2136Options) -> Result<Rfc2136Adapter, AdapterError> {
        let signer = options.tsig.as_ref().map(TsigKey::signer).transpose()?;
        let record_types = options.record_types.clone();
        Ok(Rfc2136Adapter {
            options,
            signer,
            caps: Capabilities {
                atomicity: Atomicity::Atomic,
                preconditions: true,
                record_types,
                apex_alias: None,
                max_batch: None,
            },
            locks: dcgw_adapter::ZoneLocks::default(),
        })
    }

    fn now() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }

    /// Sends `msg` over a new TCP connection (signed when a key is configured) and returns the
    /// answers: one for a query or update, every message of a transfer until its closing SOA.
    async fn exchange(&self, mut msg: Message, transfer: bool) -> Result<Vec<Message>, Fault> {
        let msg_is_query = msg.metadata.op_code == OpCode::Query;
        let work = async {
            let id = msg.metadata.id;
            let mut verifier: Option<TSigVerifier> = None;
            if let Some(signer) = &self.signer
                && (transfer || msg.metadata.op_code == OpCode::Update)
            {
                verifier = msg
                    .finalize(signer, Self::now())
                    .map_err(|e| Fault::Bad(format!("cannot sign the request: {e}")))?;
            }
            let bytes = msg
                .to_vec()
                .map_err(|e| Fault::Bad(format!("cannot encode the request: {e}")))?;
            // hickory drops the records that do not fit 64 KiB and sets TC: a truncated update
            // must never be sent (a server could apply the part that arrived).
            let counts = |i: usize| {
                bytes
                    .get(i..i + 2)
                    .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
            };
            let intact = bytes.get(2).is_some_and(|b| b & 0x02 == 0)
                && counts(4) == Some(msg.queries.len())
                && counts(6) == Some(msg.answers.len())
                && counts(8) == Some(msg.authorities.len());
            if !intact {
                return Err(Fault::TooLarge(format!(
                    "the change set does not fit the {MAX_MESSAGE} octets of one DNS message"
                )));
            }
            let len = u16::try_from(bytes.len()).map_err(|_| {
                Fault::TooLarge(format!(
                    "the change set needs {} octets, over the {MAX_MESSAGE} one DNS message can hold",
                    bytes.len()
                ))
            })?;
            let mut tcp = TcpStream::connect(self.options.server)
                .await
                .map_err(|e| Fault::Io(format!("cannot connect to {}: {}", self.options.server, e.kind())))?;
            let _ = tcp.set_nodelay(true);
            let mut frame = Vec::with_capacity(bytes.len() + 2);
            frame.extend_from_slice(&len.to_be_bytes());
            frame.extend_from_slice(&bytes);
            tcp.write_all(&frame)
                .await
                .map_err(|e| Fault::Io(format!("cannot send to {}: {}", self.options.server, e.kind())))?;
            let mut answers = Vec::new();
            let mut first_serial: Option<u32> = None;
            let mut records_seen = 0usize;
            loop {
                let mut lb = [0u8; 2];
                tcp.read_exact(&mut lb).await.map_err(|e| {
                    Fault::Io(format!(
                        "the connection to {} ended early: {}",
                        self.options.server,
                        e.kind()
                    ))
                })?;
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(lb))];
                tcp.read_exact(&mut buf).await.map_err(|e| {
                    Fault::Io(format!(
                        "the connection to {} ended early: {}",
                        self.options.server,
                        e.kind()
                    ))
                })?;
                let answer =
                    Message::from_vec(&buf).map_err(|e| Fault::Bad(format!("an unreadable answer: {e}")))?;
                if answer.metadata.id != id || answer.metadata.message_type != MessageType::Response {
                    return Err(Fault::Bad("an answer to another request".into()));
                }
                let code = answer.metadata.response_code;
                // For a query, NXDOMAIN is an answer (its authority section names the zone).
                let code = if !transfer && msg_is_query && code == ResponseCode::NXDomain {
                    ResponseCode::NoError
                } else {
                    code
                };
                let tsig_error = answer.signature.as_ref().and_then(|s| s.data.error);
                let verified = match (&mut verifier, answer.signature.is_some()) {
                    // A server that cannot verify our request answers with a TSIG error and no
                    // MAC (RFC 8945 §5.2): an error is believed as an error, never a success.
                    (Some(_), true) if tsig_error.is_some() => false,
                    (Some(v), true) => {
                        v.verify(&buf).map_err(|e| {
                            Fault::Bad(format!("the answer's TSIG signature does not verify: {e}"))
                        })?;
                        true
                    }
                    (Some(_), false) if code != ResponseCode::NoError => false,
                    (Some(_), false) => return Err(Fault::Bad("the answer is not signed".into())),
                    (None, _) => false,
                };
                if code != ResponseCode::NoError || tsig_error.is_some() {
                    let tsig_error = tsig_error.map(|e| tsig_error_name(e.into()));
                    return Err(Fault::Code(code, tsig_error, verified));
                }
                if !transfer {
                    answers.push(answer);
                    return Ok(answers);
                }
                // A transfer ends with the SOA it began with.
                let mut done = false;
                for r in &answer.answers {
                    records_seen += 1;
                    if let RData::SOA(soa) = &r.data {
                        match first_serial {
                            None if records_seen == 1 => first_serial = Some(soa.serial),
                            Some(s) if s == soa.serial && records_seen > 1 => done = true,
                            _ => {}
                        }
                    } else if records_seen == 1 {
                        return Err(Fault::Bad("the transfer does not begin with the SOA".into()));
                    }
                }
                answers.push(answer);
                if done {
                    return Ok(answers);
                }
            }
        };
        match tokio::time::timeout(self.options.timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(Fault::Io(format!(
                "{} timed out after {:?}",
                self.options.server, self.options.timeout
            ))),
        }
    }

    fn fault(&self, what: &str, f: Fault) -> AdapterError {
        match f {
            Fault::Io(m) => AdapterError::Transient(format!("{what}: {m}")),
            Fault::Bad(m) => AdapterError::Transient(format!("{what}: {m}")),
            Fault::TooLarge(m) => AdapterError::Rejected(format!("{what}: {m}")),
            Fault::Code(_, Some(t), _) => {
                AdapterError::Unauthorized(format!("{what}: the server refused the TSIG signature ({t})"))
            }
            Fault::Code(ResponseCode::ServFail, _, _) => {
                AdapterError::Transient(format!("{what}: the server answered SERVFAIL"))
            }
            Fault::Code(ResponseCode::FormErr, _, _) => AdapterError::Rejected(format!(
                "{what}: the server answered FORMERR (malformed or unsupported data)"
            )),
            Fault::Code(ResponseCode::NotZone, _, _) => {
                AdapterError::Rejected(format!("{what}: a name is outside the zone (NOTZONE)"))
            }
            Fault::Code(ResponseCode::NotImp, _, _) => {
                AdapterError::Rejected(format!("{what}: the server does not implement it (NOTIMP)"))
            }
            // REFUSED in an answer signed with our key: the server knew us and refused the
            // content (PowerDNS refuses a CNAME beside other data so) or our key's rights.
            Fault::Code(ResponseCode::Refused, _, true) => AdapterError::Rejected(format!(
                "{what}: the server refused the update (REFUSED): the data, or the key's rights"
            )),
            Fault::Code(code, tsig, _) => {
                let mut m = format!("{what}: the server answered {code}");
                if let Some(t) = tsig {
                    m.push_str(&format!(" (TSIG {t})"));
                }
                AdapterError::Unauthorized(m)
            }
        }
    }

    /// Refines a refusal on `zone`: NOTAUTH/REFUSED from a server that is not authoritative for
    /// the zone means the zone is not there.
    async fn refine(&self, zone: &str, e: AdapterError) -> AdapterError {
        if matches!(e, AdapterError::Unauthorized(_) | AdapterError::Rejected(_))
            && let Ok(found) = self.find_zone(zone).await
            && found.as_deref() != Some(zone)
        {
            return AdapterError::ZoneNotFound(zone.to_string());
        }
        e
    }

    fn name(n: &str) -> Result<Name, AdapterError> {
        let mut name =
            Name::from_ascii(absolute(n)).map_err(|e| AdapterError::Rejected(format!("name {n:?}: {e}")))?;
        name.set_fqdn(true);
        Ok(name)
    }

    /// Every record of the zone, by a signed AXFR.
    async fn transfer(&self, zone: &str) -> Result<Vec<Record>, AdapterError> {
        let apex = Self::name(zone)?;
        let mut q = Query::query(apex, RecordType::AXFR);
        q.set_query_class(DNSClass::IN);
        let mut msg = Message::query();
        msg.metadata.recursion_desired = false;
        msg.add_query(q);
        let what = format!("zone transfer of {zone}");
        let answers = match self.exchange(msg, true).await {
            Ok(a) => a,
            Err(f) => {
                let e = self.fault(&what, f);
                return Err(self.refine(zone, e).await);
            }
        };
        let mut out = Vec::new();
        let mut seen_soa = false;
        for r in answers.iter().flat_map(|m| m.answers.iter()) {
            let t = r.record_type();
            if t == RecordType::SOA {
                // The closing SOA repeats the first.
                if seen_soa {
                    continue;
                }
                seen_soa = true;
            }
            if wire::is_dnssec_maintained(t) || r.dns_class != DNSClass::IN {
                continue;
            }
            let name = r.name.to_lowercase().to_ascii();
            let name = absolute(&name);
            if !in_zone(&name, zone) {
                continue;
            }
            out.push(Record {
                name,
                rtype: wire::type_name(t),
                ttl: r.ttl,
                data: wire::to_presentation(t, &r.data, zone),
            });
        }
        Ok(out)
    }

    /// The UPDATE message for a change set. `current` gives the apex NS set when a change
    /// replaces it without saying what it expects.
    fn update_message(
        &self,
        cs: &ChangeSet,
        zone: &str,
        apex_ns: Option<&RRset>,
    ) -> Result<Message, AdapterError> {
        let apex = Self::name(zone)?;
        let mut msg = Message::query();
        msg.metadata.op_code = OpCode::Update;
        msg.metadata.recursion_desired = false;
        let mut zq = Query::query(apex.clone(), RecordType::SOA);
        zq.set_query_class(DNSClass::IN);
        msg.add_zone(zq);

        let rec = |name: &Name, class: DNSClass, ttl: u32, data: RData| {
            let mut r = hickory_proto::rr::Record::from_rdata(name.clone(), ttl, data);
            r.dns_class = class;
            r
        };
        let mut seen = BTreeSet::new();
        let mut deletes = Vec::new();
        let mut adds = Vec::new();
        for c in &cs.changes {
            let owner = absolute(&c.name);
            let rtype = c.rtype.to_ascii_uppercase();
            if !seen.insert((owner.clone(), rtype.clone())) {
                return Err(AdapterError::Rejected(format!(
                    "{owner} {rtype} is changed twice in one change set"
                )));
            }
            let t = wire::record_type(&rtype).map_err(AdapterError::Rejected)?;
            if wire::is_dnssec_maintained(t) {
                return Err(AdapterError::Rejected(format!(
                    "{rtype} records are maintained by the signing server"
                )));
            }
            let name = Self::name(&owner)?;
            let data_of = |d: &str| {
                wire::to_rdata(&rtype, d, zone)
                    .map_err(|e| AdapterError::Rejected(format!("{owner} {rtype}: {e}")))
            };
            // Prerequisites.
            match &c.expect {
                Expect::Any => {}
                Expect::Absent => msg.add_pre_requisite(rec(&name, DNSClass::NONE, 0, RData::Update0(t))),
                Expect::Exactly(d) if d.is_empty() => {
                    msg.add_pre_requisite(rec(&name, DNSClass::NONE, 0, RData::Update0(t)))
                }
                Expect::Exactly(d) => {
                    let unique: BTreeSet<&String> = d.iter().collect();
                    for x in unique {
                        msg.add_pre_requisite(rec(&name, DNSClass::IN, 0, data_of(x)?));
                    }
                }
            }
            let new: Vec<RData> = match &c.new {
                Some(set) => set.data.iter().map(|d| data_of(d)).collect::<Result<_, _>>()?,
                None => Vec::new(),
            };
            let ttl = c.new.as_ref().map_or(0, |s| s.ttl);
            let is_apex = owner == zone;
            if is_apex && t == RecordType::SOA {
                if new.len() != 1 {
                    return Err(AdapterError::Rejected(
                        "the apex SOA can be replaced, never deleted".into(),
                    ));
                }
            } else if is_apex && t == RecordType::NS {
                // A delete of the apex NS RRset is ignored by servers: remove record by record
                // what the new set does not hold.
                let old: Vec<String> = match (&c.expect, apex_ns) {
                    (Expect::Exactly(d), _) => d.clone(),
                    (_, Some(cur)) => cur.data.clone(),
                    _ => Vec::new(),
                };
                let keep: BTreeSet<Vec<u8>> = new.iter().filter_map(|r| wire::octets(r).ok()).collect();
                if new.is_empty() {
                    return Err(AdapterError::Rejected("the apex NS set cannot be deleted".into()));
                }
                for d in &old {
                    let r = data_of(d)?;
                    if wire::octets(&r).is_ok_and(|b| !keep.contains(&b)) {
                        deletes.push(rec(&name, DNSClass::NONE, 0, r));
                    }
                }
            } else {
                deletes.push(rec(&name, DNSClass::ANY, 0, RData::Update0(t)));
            }
            for r in new {
                adds.push(rec(&name, DNSClass::IN, ttl, r));
            }
        }
        msg.add_updates(deletes);
        msg.add_updates(adds);
        Ok(msg)
    }

    /// After the server refused a prerequisite: which change's precondition no longer holds.
    async fn failed_precondition(&self, cs: &ChangeSet, zone: &str) -> AdapterError {
        let first = cs.changes.iter().find(|c| c.expect != Expect::Any);
        let fallback = || AdapterError::PreconditionFailed {
            name: first.map(|c| c.name.clone()).unwrap_or_default(),
            rtype: first.map(|c| c.rtype.clone()).unwrap_or_default(),
        };
        let Ok(records) = self.transfer(zone).await else {
            return fallback();
        };
        let sets = group_rrsets(records);
        for c in cs.changes.iter().filter(|c| c.expect != Expect::Any) {
            let owner = absolute(&c.name);
            let current = sets
                .iter()
                .find(|s| s.name == owner && s.rtype.eq_ignore_ascii_case(&c.rtype));
            let expect = match &c.expect {
                Expect::Exactly(d) => {
                    Expect::Exactly(d.iter().map(|x| canonical(&c.rtype, x, zone)).collect())
                }
                e => e.clone(),
            };
            if !expect.matches(current) {
                return AdapterError::PreconditionFailed {
                    name: c.name.clone(),
                    rtype: c.rtype.clone(),
                };
            }
        }
        fallback()
    }
}

impl Rfc2136Adapter {
    /// Reads back what an acknowledged update changed. Where the server ignored part of it,
    /// the part it did apply is undone (guarded by prerequisites on what was just written)
    /// and the change set is reported refused; if the undo fails too, partially applied.
    async fn verify(&self, cs: &ChangeSet, zone: &str) -> Result<(), AdapterError> {
        // The server acknowledged the update: if it cannot be read back, believe it.
        let Ok(records) = self.transfer(zone).await else {
            return Ok(());
        };
        let sets = group_rrsets(records);
        let (mut applied, mut ignored) = (Vec::new(), Vec::new());
        for c in &cs.changes {
            if c.rtype.eq_ignore_ascii_case("SOA") {
                continue; // the server rewrites the serial
            }
            let owner = absolute(&c.name);
            let got: BTreeSet<String> = sets
                .iter()
                .find(|s| s.name == owner && s.rtype.eq_ignore_ascii_case(&c.rtype))
                .map(|s| s.data.iter().cloned().collect())
                .unwrap_or_default();
            let want: BTreeSet<String> = c
                .new
                .as_ref()
                .map(|s| s.data.iter().map(|d| canonical(&c.rtype, d, zone)).collect())
                .unwrap_or_default();
            if got == want {
                applied.push(c);
            } else {
                ignored.push(format!("{owner} {}", c.rtype.to_ascii_uppercase()));
            }
        }
        if ignored.is_empty() {
            return Ok(());
        }
        let cause = format!(
            "the server acknowledged the update but ignored {} (RFC 2136 §3.4.2: e.g. a CNAME beside other data, or a type it keeps for itself)",
            ignored.join(", ")
        );
        let mut undo = Vec::new();
        for c in &applied {
            let restore = match &c.expect {
                Expect::Absent => None,
                Expect::Exactly(d) if d.is_empty() => None,
                Expect::Exactly(d) => Some(RRset::new(
                    c.name.clone(),
                    c.rtype.clone(),
                    c.new.as_ref().map_or(300, |s| s.ttl),
                    d.clone(),
                )),
                Expect::Any => {
                    return Err(AdapterError::PartiallyApplied {
                        applied: applied.len(),
                        total: cs.changes.len(),
                        cause: format!("{cause}; the rest cannot be undone: its earlier content is unknown"),
                    });
                }
            };
            undo.push(dcgw_adapter::RRsetChange {
                name: c.name.clone(),
                rtype: c.rtype.clone(),
                expect: match &c.new {
                    Some(s) if !s.data.is_empty() => Expect::Exactly(s.data.clone()),
                    _ => Expect::Absent,
                },
                new: restore,
            });
        }
        let undo = ChangeSet {
            zone: zone.to_string(),
            changes: undo,
        };
        let undone = match self.update_message(&undo, zone, None) {
            Ok(msg) if !undo.changes.is_empty() => self.exchange(msg, false).await.map(|_| ()),
            Ok(_) => Ok(()),
            Err(e) => Err(Fault::Bad(e.to_string())),
        };
        match undone {
            Ok(()) => Err(AdapterError::Rejected(format!("{cause}; the rest was undone"))),
            Err(f) => Err(AdapterError::PartiallyApplied {
                applied: applied.len(),
                total: cs.changes.len(),
                cause: format!("{cause}; undoing the rest failed: {}", self.fault("undo", f)),
            }),
        }
    }
}

/// The canonical text of data, as a read reports it (unchanged when it does not parse).
fn canonical(rtype: &str, data: &str, zone: &str) -> String {
    let Ok(t) = wire::record_type(rtype) else {
        return data.to_string();
    };
    match wire::to_rdata(rtype, data, zone) {
        Ok(r) => wire::to_presentation(t, &r, zone),
        Err(_) => data.to_string(),
    }
}

fn tsig_error_name(code: u16) -> String {
    match code {
        16 => "BADSIG: the key's secret does not match".into(),
        17 => "BADKEY: the server does not know the key".into(),
        18 => "BADTIME: the clocks differ by more than the fudge".into(),
        22 => "BADTRUNC".into(),
        other => format!("error {other}"),
    }
}

#[async_trait::async_trait]
impl Adapter for Rfc2136Adapter {
    fn kind(&self) -> &'static str {
        "rfc2136"
    }

    fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    async fn find_zone(&self, name: &str) -> Result<Option<String>, AdapterError> {
        let name = absolute(name);
        let qname = Self::name(&name)?;
        let mut msg = Message::query();
        msg.metadata.recursion_desired = false;
        let mut q = Query::query(qname, RecordType::SOA);
        q.set_query_class(DNSClass::IN);
        msg.add_query(q);
        let answer = match self.exchange(msg, false).await {
            Ok(mut a) => match a.pop() {
                Some(m) => m,
                None => return Ok(None),
            },
            // A server that is not authoritative for the name refuses the query.
            Err(Fault::Code(
                ResponseCode::Refused | ResponseCode::NotAuth | ResponseCode::NXDomain,
                _,
                _,
            )) => {
                return Ok(None);
            }
            Err(f) => return Err(self.fault(&format!("zone lookup of {name}"), f)),
        };
        if !answer.metadata.authoritative {
            // A referral: the name lies in a zone delegated away.
            return Ok(None);
        }
        let soa_owner = answer
            .answers
            .iter()
            .chain(answer.authorities.iter())
            .find(|r| r.record_type() == RecordType::SOA)
            .map(|r| absolute(&r.name.to_lowercase().to_ascii()));
        Ok(soa_owner.filter(|z| in_zone(&name, z)))
    }

    async fn read(&self, zone: &str, filter: &ReadFilter) -> Result<Vec<RRset>, AdapterError> {
        let zone = absolute(zone);
        let records = self.transfer(&zone).await?;
        Ok(group_rrsets(
            records.into_iter().filter(|r| filter.wants(&r.name)),
        ))
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<(), AdapterError> {
        if changes.changes.is_empty() {
            return Ok(());
        }
        let zone = absolute(&changes.zone);
        for c in &changes.changes {
            if !in_zone(&absolute(&c.name), &zone) {
                return Err(AdapterError::Rejected(format!(
                    "{} is not in the zone {zone}",
                    c.name
                )));
            }
        }
        let _held = self.locks.lock(&zone).await;
        // Replacing the apex NS set without a precondition needs its current records.
        let needs_ns = changes.changes.iter().any(|c| {
            absolute(&c.name) == zone
                && c.rtype.eq_ignore_ascii_case("NS")
                && !matches!(c.expect, Expect::Exactly(_))
        });
        let apex_ns = if needs_ns {
            let sets = self.read(&zone, &ReadFilter::Names(vec![zone.clone()])).await?;
            sets.into_iter().find(|s| s.rtype == "NS")
        } else {
            None
        };
        let msg = self.update_message(changes, &zone, apex_ns.as_ref())?;
        let what = format!("update of {zone}");
        match self.exchange(msg, false).await {
            Ok(_) if self.options.verify_writes => self.verify(changes, &zone).await,
            Ok(_) => Ok(()),
            Err(Fault::Code(ResponseCode::NXRRSet | ResponseCode::YXRRSet, None, _)) => {
                Err(self.failed_precondition(changes, &zone).await)
            }
            Err(f) => {
                let e = self.fault(&what, f);
                Err(self.refine(&zone, e).await)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_and_never_print_their_secret() {
        let k = TsigKey::parse("hmac-sha256:gw-key:c2VjcmV0LXNlY3JldA==").expect("key");
        assert_eq!(k.name, "gw-key");
        assert_eq!(k.secret, b"secret-secret");
        assert!(!format!("{k:?}").contains("c2VjcmV0"));
        assert!(!format!("{k:?}").contains("secret-secret"));
        let a = Rfc2136Adapter::new(Rfc2136Options::new(
            "127.0.0.1:53".parse().expect("addr"),
            Some(k),
        ))
        .expect("adapter");
        assert!(!format!("{a:?}").contains("secret-secret"));
        assert!(TsigKey::parse("hmac-md5:k:c2VjcmV0").is_err());
        assert!(TsigKey::parse("hmac-sha256:k:not base64!").is_err());
        assert!(TsigKey::parse("hmac-sha256:k").is_err());
    }

    fn change(name: &str, rtype: &str, expect: Expect, new: Option<&[&str]>) -> dcgw_adapter::RRsetChange {
        dcgw_adapter::RRsetChange {
            name: name.into(),
            rtype: rtype.into(),
            expect,
            new: new.map(|d| RRset::new(name, rtype, 300, d.iter().map(|s| s.to_string()).collect())),
        }
    }

    fn adapter() -> Rfc2136Adapter {
        Rfc2136Adapter::new(Rfc2136Options::new("127.0.0.1:53".parse().expect("addr"), None))
            .expect("adapter")
    }

    #[test]
    fn an_update_carries_prerequisites_then_deletes_then_adds() {
        let cs = ChangeSet {
            zone: "example.test.".into(),
            changes: vec![
                change(
                    "www.example.test.",
                    "CNAME",
                    Expect::Absent,
                    Some(&["target.example.net."]),
                ),
                change(
                    "www.example.test.",
                    "A",
                    Expect::Exactly(vec!["192.0.2.1".into()]),
                    None,
                ),
                change(
                    "example.test.",
                    "NS",
                    Expect::Exactly(vec!["ns1.example.test.".into(), "ns2.example.test.".into()]),
                    Some(&["ns1.example.test.", "ns3.example.test."]),
                ),
            ],
        };
        let m = adapter()
            .update_message(&cs, "example.test.", None)
            .expect("message");
        assert_eq!(m.metadata.op_code, OpCode::Update);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].query_type(), RecordType::SOA);
        // Prerequisites: CNAME absent (class NONE), A 192.0.2.1 exists, NS exactly two.
        let pre: Vec<(String, DNSClass)> = m
            .answers
            .iter()
            .map(|r| (r.record_type().to_string(), r.dns_class))
            .collect();
        assert_eq!(
            pre,
            vec![
                ("CNAME".to_string(), DNSClass::NONE),
                ("A".to_string(), DNSClass::IN),
                ("NS".to_string(), DNSClass::IN),
                ("NS".to_string(), DNSClass::IN),
            ]
        );
        assert!(m.answers.iter().all(|r| r.ttl == 0));
        // Updates: the CNAME and A RRsets deleted whole, ns2 deleted alone, then the adds.
        let up: Vec<(String, DNSClass)> = m
            .authorities
            .iter()
            .map(|r| (r.record_type().to_string(), r.dns_class))
            .collect();
        assert_eq!(
            up,
            vec![
                ("CNAME".to_string(), DNSClass::ANY),
                ("A".to_string(), DNSClass::ANY),
                ("NS".to_string(), DNSClass::NONE),
                ("CNAME".to_string(), DNSClass::IN),
                ("NS".to_string(), DNSClass::IN),
                ("NS".to_string(), DNSClass::IN),
            ]
        );
        assert_eq!(m.authorities[2].data.to_string(), "ns2.example.test.");
    }

    #[test]
    fn bad_change_sets_are_refused_before_sending() {
        let a = adapter();
        let twice = ChangeSet {
            zone: "example.test.".into(),
            changes: vec![
                change("x.example.test.", "A", Expect::Any, Some(&["192.0.2.1"])),
                change("x.example.test.", "a", Expect::Any, None),
            ],
        };
        assert!(matches!(
            a.update_message(&twice, "example.test.", None),
            Err(AdapterError::Rejected(_))
        ));
        let bad = ChangeSet {
            zone: "example.test.".into(),
            changes: vec![change(
                "x.example.test.",
                "A",
                Expect::Any,
                Some(&["not-an-address"]),
            )],
        };
        assert!(matches!(
            a.update_message(&bad, "example.test.", None),
            Err(AdapterError::Rejected(_))
        ));
        let soa = ChangeSet {
            zone: "example.test.".into(),
            changes: vec![change("example.test.", "SOA", Expect::Any, None)],
        };
        assert!(matches!(
            a.update_message(&soa, "example.test.", None),
            Err(AdapterError::Rejected(_))
        ));
    }
}
