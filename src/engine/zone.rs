//! The current zone, indexed so that a plan never scans the whole zone per template record:
//! records by owner name, and owner names in label order for "at and below N" queries.

use std::collections::{BTreeMap, HashMap};

use dcgw_adapter::{RRset, Record};

/// A snapshot of a zone (or of the part of it a plan needs).
#[derive(Debug, Clone, Default)]
pub struct Zone {
    apex: String,
    records: Vec<Record>,
    by_name: HashMap<String, Vec<usize>>,
    /// Reversed-label key (`com.example.www`) → owner name, for subtree ranges.
    tree: BTreeMap<String, String>,
}

fn reversed(name: &str) -> String {
    let mut labels: Vec<&str> = name.trim_end_matches('.').split('.').collect();
    labels.reverse();
    labels.join(".")
}

impl Zone {
    /// Builds the index. Names are lower-cased and made absolute; types upper-cased.
    pub fn new(apex: &str, records: impl IntoIterator<Item = Record>) -> Zone {
        let mut z = Zone {
            apex: dcgw_adapter::absolute(apex),
            ..Default::default()
        };
        for mut r in records {
            r.name = dcgw_adapter::absolute(&r.name);
            r.rtype = r.rtype.to_ascii_uppercase();
            let idx = z.records.len();
            z.by_name.entry(r.name.clone()).or_default().push(idx);
            z.tree.entry(reversed(&r.name)).or_insert_with(|| r.name.clone());
            z.records.push(r);
        }
        z
    }

    /// Builds the index from RRsets.
    pub fn from_rrsets(apex: &str, rrsets: &[RRset]) -> Zone {
        Zone::new(apex, rrsets.iter().flat_map(RRset::records))
    }

    pub fn apex(&self) -> &str {
        &self.apex
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    pub fn record(&self, idx: usize) -> &Record {
        &self.records[idx]
    }

    /// Indices of the records at exactly `name`.
    pub fn at(&self, name: &str) -> &[usize] {
        self.by_name.get(name).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Indices of the records at `name` and every name below it.
    pub fn at_and_below(&self, name: &str) -> Vec<usize> {
        let key = reversed(name);
        let mut out: Vec<usize> = self.at(name).to_vec();
        let lo = format!("{key}.");
        let hi = format!("{key}/"); // '/' sorts right after '.'
        for owner in self.tree.range(lo..hi).map(|(_, v)| v) {
            out.extend_from_slice(self.at(owner));
        }
        out
    }

    /// The RRset at `name`/`rtype`, if any.
    pub fn rrset(&self, name: &str, rtype: &str) -> Option<RRset> {
        let recs: Vec<&Record> = self
            .at(name)
            .iter()
            .map(|&i| &self.records[i])
            .filter(|r| r.rtype == rtype)
            .collect();
        let first = recs.first()?;
        let mut set = RRset::new(name, rtype, first.ttl, Vec::new());
        for r in recs {
            set.ttl = set.ttl.min(r.ttl);
            if !set.data.contains(&r.data) {
                set.data.push(r.data.clone());
            }
        }
        Some(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(name: &str, t: &str, d: &str) -> Record {
        Record {
            name: name.into(),
            rtype: t.into(),
            ttl: 300,
            data: d.into(),
        }
    }

    #[test]
    fn subtree_respects_label_boundaries() {
        let z = Zone::new(
            "example.com",
            vec![
                rec("sub.example.com", "NS", "ns."),
                rec("a.sub.example.com.", "A", "192.0.2.1"),
                rec("b.a.sub.example.com.", "A", "192.0.2.2"),
                rec("xsub.example.com.", "A", "192.0.2.3"),
                rec("sub-x.example.com.", "A", "192.0.2.4"),
            ],
        );
        let mut got: Vec<&str> = z
            .at_and_below("sub.example.com.")
            .iter()
            .map(|&i| z.record(i).data.as_str())
            .collect();
        got.sort();
        assert_eq!(got, vec!["192.0.2.1", "192.0.2.2", "ns."]);
        assert_eq!(
            z.rrset("sub.example.com.", "NS").map(|s| s.data),
            Some(vec!["ns.".to_string()])
        );
    }
}
