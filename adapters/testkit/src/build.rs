//! Small builders and read-backs for an adapter's own tests (fault tests, say), the same the
//! checks use.

use dcgw_adapter::{Adapter, ChangeSet, Expect, RRset, RRsetChange, ReadFilter};

/// Replace `name rtype` by `data` (TTL `ttl`) if `expect` holds.
pub fn put(name: &str, rtype: &str, ttl: u32, data: &[&str], expect: Expect) -> RRsetChange {
    RRsetChange {
        name: name.to_string(),
        rtype: rtype.to_string(),
        expect,
        new: Some(RRset::new(
            name,
            rtype,
            ttl,
            data.iter().map(|d| d.to_string()).collect(),
        )),
    }
}

/// Delete `name rtype` if `expect` holds.
pub fn del(name: &str, rtype: &str, expect: Expect) -> RRsetChange {
    RRsetChange {
        name: name.to_string(),
        rtype: rtype.to_string(),
        expect,
        new: None,
    }
}

/// `Expect::Exactly` of these records.
pub fn exactly(data: &[&str]) -> Expect {
    Expect::Exactly(data.iter().map(|d| d.to_string()).collect())
}

/// A change set on `zone`.
pub fn change_set(zone: &str, changes: Vec<RRsetChange>) -> ChangeSet {
    ChangeSet {
        zone: zone.to_string(),
        changes,
    }
}

/// The RRsets at `names`, read through the adapter, sorted by owner and type. Panics when the
/// read fails (it is for tests).
pub async fn owners(adapter: &dyn Adapter, zone: &str, names: &[&str]) -> Vec<RRset> {
    let filter = ReadFilter::Names(names.iter().map(|s| s.to_string()).collect());
    let mut v = match adapter.read(zone, &filter).await {
        Ok(v) => v,
        Err(e) => panic!("reading {names:?} back from {zone}: {e:?}"),
    };
    v.sort_by(|x, y| (&x.name, &x.rtype).cmp(&(&y.name, &y.rtype)));
    v
}

/// Deletes every RRset at `names`, `chunk` changes per change set. Panics on failure.
pub async fn clear(adapter: &dyn Adapter, zone: &str, names: &[&str], chunk: usize) {
    let dels: Vec<RRsetChange> = owners(adapter, zone, names)
        .await
        .iter()
        .map(|s| del(&s.name, &s.rtype, Expect::Any))
        .collect();
    for part in dels.chunks(chunk.max(1)) {
        if let Err(e) = adapter.apply(&change_set(zone, part.to_vec())).await {
            panic!("clearing {names:?} in {zone}: {e:?}");
        }
    }
}
