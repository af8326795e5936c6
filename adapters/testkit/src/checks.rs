//! The checks. Each takes the adapter and the zone apex and returns [`Outcome`] or the
//! [`Failure`] that says what was expected and what was found.

use std::collections::BTreeSet;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use dcgw_adapter::{
    Adapter, AdapterError, Atomicity, ChangeSet, Expect, RRset, RRsetChange, ReadFilter, RecordTypes,
    absolute, in_zone,
};

use crate::{Failure, Outcome, normalize};

/// Per-check context: the label `tk-<check>.<zone>` everything is written under.
struct Ctx {
    check: &'static str,
    adapter: Arc<dyn Adapter>,
    zone: String,
    label: String,
}

use crate::build::{del, exactly, put};

fn norm_set<S: AsRef<str>>(rtype: &str, data: &[S]) -> BTreeSet<String> {
    data.iter().map(|d| normalize(rtype, d.as_ref())).collect()
}

fn show_set<S: AsRef<str>>(data: &[S]) -> String {
    let v: Vec<&str> = data.iter().map(AsRef::as_ref).collect();
    format!("{v:?}")
}

impl Ctx {
    fn new(check: &'static str, adapter: Arc<dyn Adapter>, zone: &str) -> Ctx {
        let zone = absolute(zone);
        Ctx {
            check,
            label: format!("tk-{}.{zone}", check.replace('_', "-")),
            adapter,
            zone,
        }
    }

    /// `<prefix>.tk-<check>.<zone>`.
    fn name(&self, prefix: &str) -> String {
        format!("{prefix}.{}", self.label)
    }

    fn fail(&self, expected: impl Display, found: impl Display) -> Failure {
        Failure {
            check: self.check,
            expected: expected.to_string(),
            found: found.to_string(),
        }
    }

    fn changeset(&self, changes: Vec<RRsetChange>) -> ChangeSet {
        ChangeSet {
            zone: self.zone.clone(),
            changes,
        }
    }

    async fn apply(&self, changes: Vec<RRsetChange>) -> Result<(), AdapterError> {
        apply_with_backoff(&*self.adapter, &self.changeset(changes)).await
    }

    /// Applies changes that must succeed.
    async fn ok(&self, what: &str, changes: Vec<RRsetChange>) -> Result<(), Failure> {
        self.apply(changes)
            .await
            .map_err(|e| self.fail(format!("{what} to succeed"), format!("error {e:?}")))
    }

    /// Applies changes that must fail with PreconditionFailed.
    async fn precondition_fails(&self, what: &str, changes: Vec<RRsetChange>) -> Result<(), Failure> {
        match self.apply(changes).await {
            Err(AdapterError::PreconditionFailed { .. }) => Ok(()),
            other => Err(self.fail(
                format!("{what} to fail with PreconditionFailed"),
                format!("{other:?}"),
            )),
        }
    }

    async fn read(&self, filter: &ReadFilter) -> Result<Vec<RRset>, Failure> {
        self.adapter
            .read(&self.zone, filter)
            .await
            .map_err(|e| self.fail(format!("read({filter:?}) to succeed"), format!("error {e:?}")))
    }

    async fn rrset(&self, name: &str, rtype: &str) -> Result<Option<RRset>, Failure> {
        let sets = self.read(&ReadFilter::Names(vec![name.to_string()])).await?;
        let mut found = sets.into_iter().filter(|s| s.name == name && s.rtype == rtype);
        let first = found.next();
        if found.next().is_some() {
            return Err(self.fail(
                format!("one {rtype} RRset at {name}"),
                "several RRsets with the same owner and type",
            ));
        }
        Ok(first)
    }

    /// Reads `name rtype` back and compares it with `data` (as a normalised set) and `ttl`.
    async fn expect_rrset(
        &self,
        name: &str,
        rtype: &str,
        ttl: Option<u32>,
        data: &[&str],
    ) -> Result<(), Failure> {
        let want = format!("{name} {rtype} = {} (ttl {ttl:?})", show_set(data));
        match self.rrset(name, rtype).await? {
            None => Err(self.fail(want, "no such RRset")),
            Some(s) => {
                if norm_set(rtype, data) != norm_set(rtype, &s.data) || ttl.is_some_and(|t| t != s.ttl) {
                    return Err(self.fail(want, format!("{} (ttl {})", show_set(&s.data), s.ttl)));
                }
                Ok(())
            }
        }
    }

    /// Like [`expect_rrset`](Self::expect_rrset), but data compared exactly, in order-free sets.
    async fn expect_exact(&self, name: &str, rtype: &str, data: &[&str]) -> Result<(), Failure> {
        let want = format!("{name} {rtype} = exactly {}", show_set(data));
        match self.rrset(name, rtype).await? {
            None => Err(self.fail(want, "no such RRset")),
            Some(s) => {
                let got: BTreeSet<&str> = s.data.iter().map(String::as_str).collect();
                let exp: BTreeSet<&str> = data.iter().copied().collect();
                if got != exp {
                    return Err(self.fail(want, show_set(&s.data)));
                }
                Ok(())
            }
        }
    }

    async fn expect_absent(&self, name: &str, rtype: &str) -> Result<(), Failure> {
        match self.rrset(name, rtype).await? {
            None => Ok(()),
            Some(s) => Err(self.fail(
                format!("no {rtype} RRset at {name}"),
                format!("{} (ttl {})", show_set(&s.data), s.ttl),
            )),
        }
    }

    /// Deletes every RRset at or below the check's label.
    async fn cleanup(&self) -> Result<(), Failure> {
        let sets = self.read(&ReadFilter::All).await?;
        let dels: Vec<RRsetChange> = sets
            .iter()
            .filter(|s| in_zone(&s.name, &self.label))
            .map(|s| del(&s.name, &s.rtype, Expect::Any))
            .collect();
        if dels.is_empty() {
            return Ok(());
        }
        let batch = self.adapter.capabilities().max_batch.unwrap_or(usize::MAX).max(1);
        for chunk in dels.chunks(batch) {
            self.ok("cleanup of the check's records", chunk.to_vec()).await?;
        }
        Ok(())
    }

    /// Runs `body` between two cleanups; the body's failure wins over a cleanup failure.
    async fn run<F>(&self, body: F) -> Result<Outcome, Failure>
    where
        F: Future<Output = Result<Outcome, Failure>>,
    {
        self.cleanup().await?;
        let r = body.await;
        let c = self.cleanup().await;
        let out = r?;
        c?;
        Ok(out)
    }
}

/// Applies a change set, waiting and retrying (up to 5 times) when the backend throttles.
async fn apply_with_backoff(adapter: &dyn Adapter, cs: &ChangeSet) -> Result<(), AdapterError> {
    let mut tries = 0;
    loop {
        match adapter.apply(cs).await {
            Err(AdapterError::Throttled { retry_after }) if tries < 5 => {
                tries += 1;
                tokio::time::sleep(retry_after.unwrap_or(Duration::from_millis(500))).await;
            }
            other => return other,
        }
    }
}

fn debug<T: Debug>(v: T) -> String {
    format!("{v:?}")
}

/// `find_zone`: a name below the zone and the apex map to the zone; a name outside any zone
/// the backend hosts maps to `None`.
pub async fn find_zone(adapter: Arc<dyn Adapter>, zone: &str) -> Result<Outcome, Failure> {
    let ctx = Ctx::new("find_zone", adapter, zone);
    let z = ctx.zone.clone();
    for name in [format!("x.y.{z}"), ctx.name("deep.er"), z.clone()] {
        let got = ctx
            .adapter
            .find_zone(&name)
            .await
            .map_err(|e| ctx.fail(format!("find_zone({name}) = Some({z})"), debug(e)))?;
        if got.as_deref() != Some(z.as_str()) {
            return Err(ctx.fail(format!("find_zone({name}) = Some({z})"), debug(got)));
        }
    }
    let outside = "tk-outside.dcgw-testkit.invalid.";
    let got = ctx
        .adapter
        .find_zone(outside)
        .await
        .map_err(|e| ctx.fail(format!("find_zone({outside}) = None"), debug(e)))?;
    if got.is_some() {
        return Err(ctx.fail(format!("find_zone({outside}) = None"), debug(got)));
    }
    Ok(Outcome::Passed)
}

/// `zone_not_found`: read and apply on a zone the backend does not host give ZoneNotFound.
pub async fn zone_not_found(adapter: Arc<dyn Adapter>, zone: &str) -> Result<Outcome, Failure> {
    let ctx = Ctx::new("zone_not_found", adapter, zone);
    let missing = "tk-no-such-zone.dcgw-testkit.invalid.";
    let r = ctx.adapter.read(missing, &ReadFilter::All).await;
    if !matches!(r, Err(AdapterError::ZoneNotFound(_))) {
        return Err(ctx.fail(format!("read({missing}) = Err(ZoneNotFound)"), debug(r)));
    }
    let name = format!("www.{missing}");
    let cs = ChangeSet {
        zone: missing.to_string(),
        changes: vec![put(&name, "A", 300, &["192.0.2.1"], Expect::Any)],
    };
    let r = ctx.adapter.apply(&cs).await;
    if !matches!(r, Err(AdapterError::ZoneNotFound(_))) {
        return Err(ctx.fail(format!("apply to {missing} = Err(ZoneNotFound)"), debug(r)));
    }
    Ok(Outcome::Passed)
}

/// Sample RRsets per type: (owner prefix, type, data).
const SAMPLES: &[(&str, &str, &[&str])] = &[
    ("a", "A", &["192.0.2.1", "192.0.2.2"]),
    ("aaaa", "AAAA", &["2001:db8::1"]),
    ("cname", "CNAME", &["target.example.net."]),
    ("mx", "MX", &["10 mail.example.net.", "20 mail2.example.net."]),
    ("txt", "TXT", &["\"hello world\""]),
    ("_sip._tcp", "SRV", &["10 20 5060 sip.example.net."]),
    ("ns", "NS", &["ns1.example.net.", "ns2.example.net."]),
    ("caa", "CAA", &["0 issue \"ca.example.net\""]),
    // 65280, the first private-use code: BIND keeps 65534 for its signing state and silently
    // drops updates of it.
    ("type65280", "TYPE65280", &["\\# 3 010203"]),
];

/// `record_types`: every supported type is created, read back equal, deleted and read back
/// absent. For `RecordTypes::Any`: A, AAAA, CNAME, MX, TXT, SRV, NS (a delegation below the
/// apex), CAA and RFC 3597 `TYPE65280`.
pub async fn record_types(adapter: Arc<dyn Adapter>, zone: &str) -> Result<Outcome, Failure> {
    let ctx = Ctx::new("record_types", adapter, zone);
    let types = ctx.adapter.capabilities().record_types.clone();
    let body = async {
        let mut tested = 0;
        for (prefix, rtype, data) in SAMPLES {
            if !types.supports(rtype) {
                continue;
            }
            tested += 1;
            let name = ctx.name(prefix);
            ctx.ok(
                &format!("creating {name} {rtype}"),
                vec![put(&name, rtype, 300, data, Expect::Absent)],
            )
            .await?;
            ctx.expect_rrset(&name, rtype, Some(300), data).await?;
            ctx.ok(
                &format!("deleting {name} {rtype}"),
                vec![del(&name, rtype, exactly(data))],
            )
            .await?;
            ctx.expect_absent(&name, rtype).await?;
        }
        if tested == 0 {
            let RecordTypes::Only(set) = &types else {
                return Ok(Outcome::Passed);
            };
            return Ok(Outcome::Skipped(format!(
                "no sample for any of the types {set:?}"
            )));
        }
        Ok(Outcome::Passed)
    };
    ctx.run(body).await
}

/// `long_txt`: a 600-octet TXT value split into 255-octet character-strings, a TXT with an
/// escaped `"` and `\`, and an RRset of multi-string TXT records all round-trip exactly.
pub async fn long_txt(adapter: Arc<dyn Adapter>, zone: &str) -> Result<Outcome, Failure> {
    let ctx = Ctx::new("long_txt", adapter, zone);
    if !ctx.adapter.capabilities().record_types.supports("TXT") {
        return Ok(Outcome::Skipped("the adapter does not write TXT".into()));
    }
    let text: String = (0..600).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let long = format!(
        "\"{}\" \"{}\" \"{}\"",
        &text[..255],
        &text[255..510],
        &text[510..]
    );
    let cases: Vec<(String, Vec<String>)> = vec![
        (ctx.name("long"), vec![long]),
        (
            ctx.name("escapes"),
            vec![r#""say \"hi\" and \\ back""#.to_string()],
        ),
        (
            ctx.name("multi"),
            vec![
                r#""first" "second part" "third""#.to_string(),
                r#""v=tk1" "x""#.to_string(),
            ],
        ),
    ];
    let body = async {
        for (name, data) in &cases {
            let d: Vec<&str> = data.iter().map(String::as_str).collect();
            ctx.ok(
                &format!("creating {name} TXT"),
                vec![put(name, "TXT", 300, &d, Expect::Absent)],
            )
            .await?;
            ctx.expect_exact(name, "TXT", &d).await?;
            // The precondition must match the data as read back.
            ctx.ok(
                &format!("deleting {name} TXT with Expect::Exactly of its data"),
                vec![del(name, "TXT", exactly(&d))],
            )
            .await?;
            ctx.expect_absent(name, "TXT").await?;
        }
        Ok(Outcome::Passed)
    };
    ctx.run(body).await
}

/// SOA data without the serial (which a backend may bump on every change).
fn soa_sans_serial(data: &str) -> String {
    let mut f: Vec<&str> = data.split_whitespace().collect();
    if f.len() == 7 {
        f.remove(2);
    }
    f.join(" ").to_ascii_lowercase()
}

/// `apex_records`: a TXT and an MX added at the apex (beside any already there) read back,
/// the SOA (but its serial) and NS stay as they were, and removing them restores the apex.
/// The apex NS set must be readable; an SOA is compared when the backend lists one (some APIs,
/// Cloudflare's among them, do not expose the SOA as a record).
pub async fn apex_records(adapter: Arc<dyn Adapter>, zone: &str) -> Result<Outcome, Failure> {
    let ctx = Ctx::new("apex_records", adapter, zone);
    let types = ctx.adapter.capabilities().record_types.clone();
    if !types.supports("TXT") || !types.supports("MX") {
        return Ok(Outcome::Skipped("the adapter does not write TXT and MX".into()));
    }
    let apex = ctx.zone.clone();
    let before = ctx.read(&ReadFilter::Names(vec![apex.clone()])).await?;
    let get = |sets: &[RRset], t: &str| sets.iter().find(|s| s.name == apex && s.rtype == t).cloned();
    let soa0 = get(&before, "SOA");
    let Some(ns0) = get(&before, "NS") else {
        return Err(ctx.fail(
            format!("the zone {apex} to hold NS at its apex"),
            format!(
                "apex RRsets {:?}",
                before.iter().map(|s| &s.rtype).collect::<Vec<_>>()
            ),
        ));
    };
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let ours_txt = format!("\"dcgw-testkit apex {nonce}\"");
    let ours_mx = format!("50 tk-apex-{nonce}.example.net.");
    let txt0 = get(&before, "TXT");
    let mx0 = get(&before, "MX");
    let plus = |old: &Option<RRset>, rtype: &str, ours: &str| -> (RRsetChange, RRsetChange, Vec<String>) {
        let mut data = old.as_ref().map(|s| s.data.clone()).unwrap_or_default();
        data.push(ours.to_string());
        let ttl = old.as_ref().map_or(300, |s| s.ttl);
        let expect_old = match old {
            Some(s) => Expect::Exactly(s.data.clone()),
            None => Expect::Absent,
        };
        let add = RRsetChange {
            name: apex.clone(),
            rtype: rtype.into(),
            expect: expect_old,
            new: Some(RRset::new(apex.clone(), rtype, ttl, data.clone())),
        };
        let restore = RRsetChange {
            name: apex.clone(),
            rtype: rtype.into(),
            expect: Expect::Exactly(data.clone()),
            new: old.clone(),
        };
        (add, restore, data)
    };
    let (add_txt, restore_txt, txt1) = plus(&txt0, "TXT", &ours_txt);
    let (add_mx, restore_mx, mx1) = plus(&mx0, "MX", &ours_mx);

    let check_soa_ns = |sets: &[RRset], when: &str| -> Result<(), Failure> {
        let soa = get(sets, "SOA").map(|s| s.data.iter().map(|d| soa_sans_serial(d)).collect::<Vec<_>>());
        let want = soa0
            .as_ref()
            .map(|s| s.data.iter().map(|d| soa_sans_serial(d)).collect::<Vec<_>>());
        if soa != want {
            return Err(ctx.fail(
                format!("{when}: the apex SOA unchanged but for its serial: {want:?}"),
                debug(soa),
            ));
        }
        let ns = get(sets, "NS");
        if !ns.as_ref().is_some_and(|n| n.same_data(&ns0)) {
            return Err(ctx.fail(
                format!("{when}: the apex NS unchanged: {:?}", ns0.data),
                debug(ns),
            ));
        }
        Ok(())
    };

    let body = async {
        ctx.ok(
            "adding a TXT and an MX at the apex",
            vec![add_txt.clone(), add_mx.clone()],
        )
        .await?;
        let after = ctx.read(&ReadFilter::Names(vec![apex.clone()])).await?;
        check_soa_ns(&after, "after adding at the apex")?;
        let txt1s: Vec<&str> = txt1.iter().map(String::as_str).collect();
        let mx1s: Vec<&str> = mx1.iter().map(String::as_str).collect();
        ctx.expect_rrset(&apex, "TXT", None, &txt1s).await?;
        ctx.expect_rrset(&apex, "MX", None, &mx1s).await?;
        ctx.ok(
            "removing the apex TXT and MX again",
            vec![restore_txt.clone(), restore_mx.clone()],
        )
        .await?;
        let end = ctx.read(&ReadFilter::Names(vec![apex.clone()])).await?;
        check_soa_ns(&end, "after removing from the apex")?;
        for (old, t) in [(&txt0, "TXT"), (&mx0, "MX")] {
            let now = get(&end, t);
            let same = match (old, &now) {
                (None, None) => true,
                (Some(a), Some(b)) => norm_set(t, &a.data) == norm_set(t, &b.data),
                _ => false,
            };
            if !same {
                return Err(ctx.fail(
                    format!("the apex {t} RRset back to {:?}", old.as_ref().map(|s| &s.data)),
                    debug(now.map(|s| s.data)),
                ));
            }
        }
        Ok(Outcome::Passed)
    };
    let r = body.await;
    if r.is_err() {
        // Best effort: put the apex back as it was.
        let undo = |old: &Option<RRset>, t: &str| RRsetChange {
            name: apex.clone(),
            rtype: t.into(),
            expect: Expect::Any,
            new: old.clone(),
        };
        let _ = ctx.apply(vec![undo(&txt0, "TXT"), undo(&mx0, "MX")]).await;
    }
    r
}

/// `replace`: an RRset of two A records replaced by one with another TTL, then deleted; a
/// TXT RRset at the same owner is untouched throughout.
pub async fn replace(adapter: Arc<dyn Adapter>, zone: &str) -> Result<Outcome, Failure> {
    let ctx = Ctx::new("replace", adapter, zone);
    let name = ctx.name("r");
    let body = async {
        ctx.ok(
            "creating two A records and a TXT",
            vec![
                put(&name, "A", 300, &["192.0.2.1", "192.0.2.2"], Expect::Absent),
                put(&name, "TXT", 300, &["\"beside\""], Expect::Absent),
            ],
        )
        .await?;
        ctx.expect_rrset(&name, "A", Some(300), &["192.0.2.1", "192.0.2.2"])
            .await?;
        ctx.ok(
            "replacing the A RRset by one record with TTL 600",
            vec![put(
                &name,
                "A",
                600,
                &["192.0.2.3"],
                exactly(&["192.0.2.2", "192.0.2.1"]),
            )],
        )
        .await?;
        ctx.expect_rrset(&name, "A", Some(600), &["192.0.2.3"]).await?;
        ctx.expect_exact(&name, "TXT", &["\"beside\""]).await?;
        ctx.ok(
            "deleting the A RRset",
            vec![del(&name, "A", exactly(&["192.0.2.3"]))],
        )
        .await?;
        ctx.expect_absent(&name, "A").await?;
        ctx.expect_exact(&name, "TXT", &["\"beside\""]).await?;
        Ok(Outcome::Passed)
    };
    ctx.run(body).await
}

/// `read_filter`: `ReadFilter::Names` returns the RRsets of exactly those owners.
pub async fn read_filter(adapter: Arc<dyn Adapter>, zone: &str) -> Result<Outcome, Failure> {
    let ctx = Ctx::new("read_filter", adapter, zone);
    let (a, b, c) = (ctx.name("a"), ctx.name("b"), ctx.name("c"));
    let body = async {
        ctx.ok(
            "creating RRsets at a, b and c",
            vec![
                put(&a, "A", 300, &["192.0.2.1"], Expect::Absent),
                put(&a, "TXT", 300, &["\"a\""], Expect::Absent),
                put(&b, "A", 300, &["192.0.2.2"], Expect::Absent),
                put(&c, "A", 300, &["192.0.2.3"], Expect::Absent),
            ],
        )
        .await?;
        let sets = ctx.read(&ReadFilter::Names(vec![a.clone(), b.clone()])).await?;
        let got: BTreeSet<(String, String)> =
            sets.iter().map(|s| (s.name.clone(), s.rtype.clone())).collect();
        let want: BTreeSet<(String, String)> = [(&a, "A"), (&a, "TXT"), (&b, "A")]
            .into_iter()
            .map(|(n, t)| (n.clone(), t.to_string()))
            .collect();
        if got != want {
            return Err(ctx.fail(format!("read(Names[a, b]) = {want:?}"), debug(got)));
        }
        let none = ctx
            .read(&ReadFilter::Names(vec![ctx.name("nothing-here")]))
            .await?;
        if !none.is_empty() {
            return Err(ctx.fail("read(Names[an unused name]) = []", debug(none)));
        }
        let all = ctx.read(&ReadFilter::All).await?;
        for n in [&a, &b, &c] {
            if !all.iter().any(|s| &s.name == n) {
                return Err(ctx.fail(format!("read(All) to include {n}"), "it does not"));
            }
        }
        Ok(Outcome::Passed)
    };
    ctx.run(body).await
}

/// `preconditions`: a change set whose second change's Expect does not hold fails with
/// PreconditionFailed and (for an atomic adapter) applies nothing; Expect::Absent on an
/// existing RRset and Expect::Exactly on an absent one fail; a holding Expect::Exactly (in any
/// order) succeeds.
pub async fn preconditions(adapter: Arc<dyn Adapter>, zone: &str) -> Result<Outcome, Failure> {
    let ctx = Ctx::new("preconditions", adapter, zone);
    let caps = ctx.adapter.capabilities().clone();
    if !caps.preconditions {
        return Ok(Outcome::Skipped(
            "the adapter does not enforce preconditions".into(),
        ));
    }
    let (one, exists, nothing) = (ctx.name("one"), ctx.name("exists"), ctx.name("nothing"));
    let body = async {
        ctx.ok(
            "creating the existing RRset",
            vec![put(
                &exists,
                "A",
                300,
                &["192.0.2.1", "192.0.2.2"],
                Expect::Absent,
            )],
        )
        .await?;
        ctx.precondition_fails(
            "a change set whose second change expects other data",
            vec![
                put(&one, "A", 300, &["192.0.2.10"], Expect::Absent),
                put(&exists, "A", 300, &["192.0.2.9"], exactly(&["192.0.2.99"])),
            ],
        )
        .await?;
        if caps.atomicity == Atomicity::Atomic {
            ctx.expect_absent(&one, "A").await?;
        }
        ctx.expect_rrset(&exists, "A", Some(300), &["192.0.2.1", "192.0.2.2"])
            .await?;
        ctx.precondition_fails(
            "Expect::Absent on an existing RRset",
            vec![put(&exists, "A", 300, &["192.0.2.9"], Expect::Absent)],
        )
        .await?;
        ctx.precondition_fails(
            "Expect::Exactly on a subset of the existing RRset",
            vec![del(&exists, "A", exactly(&["192.0.2.1"]))],
        )
        .await?;
        ctx.expect_rrset(&exists, "A", Some(300), &["192.0.2.1", "192.0.2.2"])
            .await?;
        ctx.precondition_fails(
            "Expect::Exactly on an absent RRset",
            vec![del(&nothing, "A", exactly(&["192.0.2.1"]))],
        )
        .await?;
        ctx.ok(
            "a change whose Expect::Exactly holds (data in another order)",
            vec![put(
                &exists,
                "A",
                300,
                &["192.0.2.3"],
                exactly(&["192.0.2.2", "192.0.2.1"]),
            )],
        )
        .await?;
        ctx.expect_rrset(&exists, "A", Some(300), &["192.0.2.3"]).await?;
        Ok(Outcome::Passed)
    };
    ctx.run(body).await
}

/// `concurrent_writes`: 20 change sets applied at once, each adding its own TXT RRset, all
/// succeed and all 20 RRsets are there afterwards.
pub async fn concurrent_writes(adapter: Arc<dyn Adapter>, zone: &str) -> Result<Outcome, Failure> {
    const N: usize = 20;
    let ctx = Ctx::new("concurrent_writes", adapter, zone);
    let body = async {
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..N {
            let name = ctx.name(&format!("n{i}"));
            let cs = ctx.changeset(vec![put(
                &name,
                "TXT",
                300,
                &[&format!("\"tk {i}\"")],
                Expect::Absent,
            )]);
            let adapter = ctx.adapter.clone();
            tasks.spawn(async move { (i, apply_with_backoff(&*adapter, &cs).await) });
        }
        let mut errors = Vec::new();
        while let Some(r) = tasks.join_next().await {
            match r {
                Ok((_, Ok(()))) => {}
                Ok((i, Err(e))) => errors.push(format!("n{i}: {e:?}")),
                Err(e) => errors.push(format!("task panicked: {e}")),
            }
        }
        if !errors.is_empty() {
            return Err(ctx.fail(
                format!("{N} concurrent change sets to succeed"),
                errors.join("; "),
            ));
        }
        let sets = ctx.read(&ReadFilter::All).await?;
        let mut missing = Vec::new();
        for i in 0..N {
            let name = ctx.name(&format!("n{i}"));
            let want = format!("\"tk {i}\"");
            let ok = sets
                .iter()
                .any(|s| s.name == name && s.rtype == "TXT" && s.data == [want.clone()]);
            if !ok {
                missing.push(name);
            }
        }
        if !missing.is_empty() {
            return Err(ctx.fail(
                format!("all {N} concurrently written TXT RRsets present"),
                format!("{} lost: {missing:?}", missing.len()),
            ));
        }
        Ok(Outcome::Passed)
    };
    ctx.run(body).await
}

/// `racing_writes`: two change sets with the same precondition on one RRset, applied at once:
/// exactly one succeeds and the other fails with PreconditionFailed; the RRset holds the
/// winner's data. Done for Expect::Exactly (three rounds) and for Expect::Absent.
pub async fn racing_writes(adapter: Arc<dyn Adapter>, zone: &str) -> Result<Outcome, Failure> {
    let ctx = Ctx::new("racing_writes", adapter, zone);
    if !ctx.adapter.capabilities().preconditions {
        return Ok(Outcome::Skipped(
            "the adapter does not enforce preconditions".into(),
        ));
    }
    let race = ctx.name("race");
    let body = async {
        ctx.ok(
            "creating the contended RRset",
            vec![put(&race, "A", 300, &["192.0.2.1"], Expect::Absent)],
        )
        .await?;
        let mut current = "192.0.2.1".to_string();
        for round in 0..4u8 {
            // Rounds 0-2 race on Expect::Exactly; round 3 on Expect::Absent for a new name.
            let (name, expect) = if round < 3 {
                (race.clone(), Expect::Exactly(vec![current.clone()]))
            } else {
                (ctx.name("fresh"), Expect::Absent)
            };
            let contenders = [
                format!("192.0.2.{}", 10 + 2 * round),
                format!("192.0.2.{}", 11 + 2 * round),
            ];
            let mut tasks = Vec::new();
            for data in &contenders {
                let cs = ctx.changeset(vec![put(&name, "A", 300, &[data.as_str()], expect.clone())]);
                let adapter = ctx.adapter.clone();
                tasks.push(tokio::spawn(
                    async move { apply_with_backoff(&*adapter, &cs).await },
                ));
            }
            let mut results = Vec::new();
            for t in tasks {
                results.push(t.await.map_err(|e| ctx.fail("racing tasks to finish", e))?);
            }
            let wins: Vec<usize> = (0..2).filter(|&i| results[i].is_ok()).collect();
            let lost_ok = (0..2).all(|i| {
                results[i].is_ok() || matches!(results[i], Err(AdapterError::PreconditionFailed { .. }))
            });
            if wins.len() != 1 || !lost_ok {
                return Err(ctx.fail(
                    format!(
                        "round {round}: of two racing writes to {name} with {expect:?}, exactly one Ok and one \
                         PreconditionFailed"
                    ),
                    debug(&results),
                ));
            }
            let winner = contenders[wins[0]].clone();
            ctx.expect_rrset(&name, "A", Some(300), &[winner.as_str()])
                .await?;
            current = winner;
        }
        Ok(Outcome::Passed)
    };
    ctx.run(body).await
}
