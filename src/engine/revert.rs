//! Removing applied template instances (POLICY.md 16).
//!
//! Revert removes the records of the given instances that are still present (a record that
//! another remaining instance also wrote stays), and takes their SPF terms out of the merged
//! SPF records again (a term another remaining instance also added stays). An SPF record left
//! with no terms at all is removed.

use std::collections::BTreeSet;

use dcgw_adapter::{ChangeSet, Record};
use serde::Serialize;

use super::plan::{change_set_of, resulting_rrsets};
use super::{EngineConfig, Instance, RRsetDiff, Zone, rdata, spf};

/// What reverting some instances does to a zone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Revert {
    pub zone: String,
    pub adds: Vec<Record>,
    pub deletes: Vec<Record>,
    pub rrsets: Vec<RRsetDiff>,
    /// Ids of the instances removed.
    pub removed_instances: Vec<String>,
}

impl Revert {
    /// True when nothing of the instances is left in DNS to remove.
    pub fn is_noop(&self) -> bool {
        self.rrsets.iter().all(|d| d.before == d.after)
    }

    /// The change set that carries the revert out, guarded by the current content.
    pub fn change_set(&self) -> ChangeSet {
        change_set_of(&self.zone, &self.rrsets)
    }
}

/// Computes the removal of `targets` (instances of `zone`); `remaining` are every other
/// instance recorded for the zone.
pub fn revert(zone: &Zone, targets: &[&Instance], remaining: &[&Instance], cfg: &EngineConfig) -> Revert {
    let kept = |r: &Record| {
        remaining
            .iter()
            .any(|i| i.records.iter().any(|ir| ir.record == *r))
    };
    let mut removed: BTreeSet<usize> = BTreeSet::new();
    for inst in targets {
        for ir in &inst.records {
            if kept(&ir.record) {
                continue;
            }
            for &i in zone.at(&ir.record.name) {
                let z = zone.record(i);
                if z.rtype == ir.record.rtype && z.data == ir.record.data {
                    removed.insert(i);
                }
            }
        }
    }

    // SPF terms: take out what the targets added and nobody else still needs.
    let mut spf_rewrites: Vec<Record> = Vec::new();
    let mut owners: Vec<&str> = Vec::new();
    for inst in targets {
        for c in &inst.spf_terms {
            if !owners.contains(&c.name.as_str()) {
                owners.push(&c.name);
            }
        }
    }
    for owner in owners {
        let ours: Vec<String> = targets
            .iter()
            .flat_map(|i| i.spf_terms.iter())
            .filter(|c| c.name == owner)
            .flat_map(|c| c.terms.iter().cloned())
            .filter(|t| {
                !remaining
                    .iter()
                    .flat_map(|i| i.spf_terms.iter())
                    .any(|c| c.name == owner && c.terms.iter().any(|x| x.eq_ignore_ascii_case(t)))
            })
            .collect();
        for &i in zone.at(owner) {
            let r = zone.record(i);
            let text = rdata::txt_text(&r.data);
            if r.rtype != "TXT" || !spf::is_spf(&text) {
                continue;
            }
            let Ok(mut parsed) = spf::parse(&text) else {
                continue;
            };
            let before = parsed.terms.len();
            spf::remove(&mut parsed, &ours);
            if parsed.terms.len() == before {
                continue;
            }
            removed.insert(i);
            if !parsed.terms.is_empty() {
                let text = spf::render(&parsed, cfg.spf_all_qualifier);
                spf_rewrites.push(Record {
                    name: r.name.clone(),
                    rtype: "TXT".into(),
                    ttl: r.ttl,
                    data: rdata::txt_presentation(text.as_bytes()),
                });
            }
        }
    }
    let written: Vec<&Record> = spf_rewrites.iter().collect();
    let (rrsets, adds, deletes) = resulting_rrsets(zone, &removed, &written);
    Revert {
        zone: zone.apex().to_string(),
        adds,
        deletes,
        rrsets,
        removed_instances: targets.iter().map(|i| i.id.clone()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Essential, InstanceRecord, SpfContribution};

    fn rec(name: &str, t: &str, data: &str) -> Record {
        Record {
            name: name.into(),
            rtype: t.into(),
            ttl: 300,
            data: data.into(),
        }
    }

    fn inst(id: &str, recs: &[Record], spf: &[&str]) -> Instance {
        Instance {
            id: id.into(),
            provider_id: "p".into(),
            service_id: "s".into(),
            host: String::new(),
            groups: vec![],
            records: recs
                .iter()
                .map(|r| InstanceRecord {
                    record: r.clone(),
                    essential: Essential::Always,
                    group_id: None,
                })
                .collect(),
            spf_terms: if spf.is_empty() {
                vec![]
            } else {
                vec![SpfContribution {
                    name: "example.com.".into(),
                    terms: spf.iter().map(|s| s.to_string()).collect(),
                }]
            },
        }
    }

    #[test]
    fn revert_removes_present_records_and_own_spf_terms_only() {
        let a = rec("www.example.com.", "CNAME", "host.example.net.");
        let shared = rec("example.com.", "TXT", "\"shared\"");
        let gone = rec("old.example.com.", "A", "192.0.2.1");
        let spf_txt = rec(
            "example.com.",
            "TXT",
            "\"v=spf1 mx include:a.example include:b.example -all\"",
        );
        let z = Zone::new("example.com", vec![a.clone(), shared.clone(), spf_txt]);
        let target = inst(
            "t",
            &[a, shared.clone(), gone],
            &["include:a.example", "include:b.example"],
        );
        let other = inst("o", &[shared], &["include:b.example"]);
        let r = revert(&z, &[&target], &[&other], &EngineConfig::default());
        let mut after: Vec<Record> = z.records().to_vec();
        for d in &r.rrsets {
            after.retain(|x| !(x.name == d.name && x.rtype == d.rtype));
            if let Some(a) = &d.after {
                after.extend(a.records());
            }
        }
        after.sort();
        assert_eq!(
            after,
            vec![
                rec("example.com.", "TXT", "\"shared\""),
                rec("example.com.", "TXT", "\"v=spf1 mx include:b.example -all\""),
            ]
        );
        assert_eq!(r.removed_instances, vec!["t".to_string()]);
    }

    #[test]
    fn revert_of_something_already_gone_is_a_noop() {
        let z = Zone::new("example.com", vec![rec("x.example.com.", "A", "192.0.2.9")]);
        let target = inst("t", &[rec("www.example.com.", "A", "192.0.2.1")], &[]);
        let r = revert(&z, &[&target], &[], &EngineConfig::default());
        assert!(r.is_noop());
        assert!(r.change_set().changes.is_empty());
    }
}
