//! The dcgw-testkit conformance suite against a real PowerDNS (scripts/services/pdns.sh):
//! PDNS_API_URL and PDNS_API_KEY name it; the zone testkit.example. must exist. Without them
//! the checks are skipped, unless DCGW_REQUIRE_PDNS=1 (CI), which makes that a failure.

use std::sync::Arc;
use std::time::Duration;

use dcgw_powerdns::{PowerDnsAdapter, PowerDnsOptions};
use dcgw_testkit::Fixture;

fn fixture() -> Option<Fixture> {
    let (Ok(url), Ok(key)) = (std::env::var("PDNS_API_URL"), std::env::var("PDNS_API_KEY")) else {
        assert!(
            std::env::var("DCGW_REQUIRE_PDNS").as_deref() != Ok("1"),
            "DCGW_REQUIRE_PDNS=1 but PDNS_API_URL/PDNS_API_KEY are not set"
        );
        return None;
    };
    let mut o = PowerDnsOptions::new(url, key);
    o.timeout = Duration::from_secs(10);
    let adapter = PowerDnsAdapter::new(o).expect("adapter");
    Some(Fixture::new(Arc::new(adapter), "testkit.example."))
}

dcgw_testkit::conformance_tests!(fixture());
