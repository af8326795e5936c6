//! The dcgw-testkit conformance suite against three real RFC 2136 primaries, each on its zone
//! rfc2136.example. with a TSIG key (scripts/services/{knot,bind9,pdns}.sh):
//! Knot (KNOT_DNS, KNOT_TSIG), BIND (BIND_DNS, BIND_TSIG) and PowerDNS with dnsupdate on
//! (PDNS_DNS, PDNS_TSIG). A server whose variables are unset is skipped, unless its
//! DCGW_REQUIRE_<SERVER>=1 (CI), which makes that a failure.

use std::sync::Arc;
use std::time::Duration;

use dcgw_adapter::RecordTypes;
use dcgw_rfc2136::{Rfc2136Adapter, Rfc2136Options, TsigKey};
use dcgw_testkit::Fixture;

/// The types PowerDNS takes in RFC 2136 updates (it answers FORMERR to RFC 3597 types).
pub const PDNS_TYPES: &[&str] = &[
    "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA", "SPF", "SRV", "SSHFP",
    "SVCB", "TLSA", "TXT",
];

pub fn fixture(server: &str) -> Option<Fixture> {
    let (Ok(addr), Ok(key)) = (
        std::env::var(format!("{server}_DNS")),
        std::env::var(format!("{server}_TSIG")),
    ) else {
        assert!(
            std::env::var(format!("DCGW_REQUIRE_{server}")).as_deref() != Ok("1"),
            "DCGW_REQUIRE_{server}=1 but {server}_DNS/{server}_TSIG are not set"
        );
        return None;
    };
    let mut o = Rfc2136Options::new(
        addr.parse().expect("server address"),
        Some(TsigKey::parse(&key).expect("TSIG key")),
    );
    o.timeout = Duration::from_secs(10);
    if server == "PDNS" {
        o.record_types = RecordTypes::Only(PDNS_TYPES.iter().map(|t| t.to_string()).collect());
    }
    let adapter = Rfc2136Adapter::new(o).expect("adapter");
    Some(Fixture::new(Arc::new(adapter), "rfc2136.example."))
}

mod knot {
    dcgw_testkit::conformance_tests!(crate::fixture("KNOT"));
}

mod bind {
    dcgw_testkit::conformance_tests!(crate::fixture("BIND"));
}

mod powerdns {
    dcgw_testkit::conformance_tests!(crate::fixture("PDNS"));
}
