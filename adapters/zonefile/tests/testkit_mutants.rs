//! The conformance suite must catch broken adapters: each mutant wraps a correct zone-file
//! adapter and breaks one promise; the named check must fail on it (and pass without the bug).

use std::sync::Arc;

use async_trait::async_trait;
use dcgw_adapter::{Adapter, AdapterError, Capabilities, ChangeSet, Expect, RRset, ReadFilter};
use dcgw_zonefile::{ZoneFileAdapter, ZoneFileOptions};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    None,
    /// find_zone claims every name.
    GreedyFindZone,
    /// read of an unknown zone returns nothing instead of ZoneNotFound.
    EmptyUnknownZone,
    /// read joins TXT character-strings into one.
    JoinTxt,
    /// read reports every TTL as 3600.
    FixedTtl,
    /// read ignores ReadFilter::Names.
    IgnoreFilter,
    /// preconditions are not enforced.
    NoPreconditions,
    /// each change is applied on its own although the adapter claims atomicity.
    NotAtomic,
    /// deleting an RRset is silently ignored.
    NoDelete,
}

#[derive(Debug)]
struct Mutant {
    inner: ZoneFileAdapter,
    bug: Bug,
}

#[async_trait]
impl Adapter for Mutant {
    fn kind(&self) -> &'static str {
        "mutant"
    }

    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    async fn find_zone(&self, name: &str) -> Result<Option<String>, AdapterError> {
        if self.bug == Bug::GreedyFindZone {
            return Ok(Some("testkit.example.".into()));
        }
        self.inner.find_zone(name).await
    }

    async fn read(&self, zone: &str, filter: &ReadFilter) -> Result<Vec<RRset>, AdapterError> {
        let filter = if self.bug == Bug::IgnoreFilter {
            &ReadFilter::All
        } else {
            filter
        };
        let mut sets = match self.inner.read(zone, filter).await {
            Err(AdapterError::ZoneNotFound(_)) if self.bug == Bug::EmptyUnknownZone => return Ok(vec![]),
            r => r?,
        };
        for s in &mut sets {
            if self.bug == Bug::FixedTtl {
                s.ttl = 3600;
            }
            if self.bug == Bug::JoinTxt && s.rtype == "TXT" {
                for d in &mut s.data {
                    *d = d.replace("\" \"", "");
                }
            }
        }
        Ok(sets)
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<(), AdapterError> {
        let mut cs = changes.clone();
        match self.bug {
            Bug::NoPreconditions => cs.changes.iter_mut().for_each(|c| c.expect = Expect::Any),
            Bug::NoDelete => cs.changes.retain(|c| c.new.is_some()),
            Bug::NotAtomic => {
                for c in cs.changes {
                    let one = ChangeSet {
                        zone: cs.zone.clone(),
                        changes: vec![c],
                    };
                    self.inner.apply(&one).await?;
                }
                return Ok(());
            }
            _ => {}
        }
        self.inner.apply(&cs).await
    }
}

const ZONE: &str = "$TTL 3600\n@ SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ NS ns1\nns1 A 192.0.2.53\n";

async fn outcome(bug: Bug, check: &str) -> Result<dcgw_testkit::Outcome, dcgw_testkit::Failure> {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("testkit.example.zone"), ZONE).expect("write zone");
    let inner = ZoneFileAdapter::new(dir.path(), ZoneFileOptions::default()).expect("adapter");
    let adapter: Arc<dyn Adapter> = Arc::new(Mutant { inner, bug });
    dcgw_testkit::run_check(check, adapter, "testkit.example.").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_mutant_is_caught_by_its_check() {
    let cases = [
        (Bug::GreedyFindZone, "find_zone"),
        (Bug::EmptyUnknownZone, "zone_not_found"),
        (Bug::JoinTxt, "long_txt"),
        (Bug::FixedTtl, "record_types"),
        (Bug::FixedTtl, "replace"),
        (Bug::IgnoreFilter, "read_filter"),
        (Bug::NoPreconditions, "preconditions"),
        (Bug::NoPreconditions, "racing_writes"),
        (Bug::NotAtomic, "preconditions"),
        (Bug::NoDelete, "record_types"),
        (Bug::NoDelete, "apex_records"),
    ];
    for (bug, check) in cases {
        let clean = outcome(Bug::None, check).await;
        assert_eq!(
            clean,
            Ok(dcgw_testkit::Outcome::Passed),
            "{check} on a correct adapter"
        );
        match outcome(bug, check).await {
            Err(f) => {
                assert_eq!(f.check, check);
                let text = f.to_string();
                assert!(text.contains("expected") && text.contains("found"), "{text}");
            }
            Ok(o) => panic!("{check} did not catch {bug:?}: {o:?}"),
        }
    }
}
