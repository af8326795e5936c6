//! The dcgw-testkit conformance suite against Route 53 as emulated by moto
//! (scripts/services/moto.sh; MOTO_URL and the AWS_* test credentials), on the hosted zone
//! testkit.example. Skipped without MOTO_URL unless DCGW_REQUIRE_MOTO=1 (CI).
//!
//! moto checks a batch's DELETEs against its change journal, not the records, and accepts a
//! CREATE of an RRset that exists, so against moto the preconditions are held by the adapter's
//! own check under its zone lock; against Route 53 the batch is a compare-and-swap as well
//! (see faults.rs for the request that proves it).

use std::sync::Arc;

use dcgw_route53::{Route53Adapter, Route53Options};
use dcgw_testkit::Fixture;

fn fixture() -> Option<Fixture> {
    let Ok(url) = std::env::var("MOTO_URL") else {
        assert!(
            std::env::var("DCGW_REQUIRE_MOTO").as_deref() != Ok("1"),
            "DCGW_REQUIRE_MOTO=1 but MOTO_URL is not set"
        );
        return None;
    };
    let adapter = Route53Adapter::new(Route53Options {
        endpoint_url: Some(url),
        ..Route53Options::default()
    });
    Some(Fixture::new(Arc::new(adapter), "testkit.example."))
}

dcgw_testkit::conformance_tests!(fixture());
