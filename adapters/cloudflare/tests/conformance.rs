//! The dcgw-testkit conformance suite against the Cloudflare stand-in
//! (scripts/services/cloudflare.sh; CF_API_URL, CF_API_TOKEN; zone testkit.example). Skipped
//! without it unless DCGW_REQUIRE_CLOUDFLARE=1. A small page size makes every read page.

use std::sync::Arc;

use dcgw_cloudflare::{CloudflareAdapter, CloudflareOptions};
use dcgw_testkit::Fixture;

fn fixture() -> Option<Fixture> {
    let (Ok(url), Ok(token)) = (std::env::var("CF_API_URL"), std::env::var("CF_API_TOKEN")) else {
        assert!(
            std::env::var("DCGW_REQUIRE_CLOUDFLARE").as_deref() != Ok("1"),
            "DCGW_REQUIRE_CLOUDFLARE=1 but CF_API_URL/CF_API_TOKEN are not set"
        );
        return None;
    };
    let mut o = CloudflareOptions::new(token);
    o.api_url = url;
    o.page_size = 3;
    Some(Fixture::new(
        Arc::new(CloudflareAdapter::new(o).expect("adapter")),
        "testkit.example.",
    ))
}

dcgw_testkit::conformance_tests!(fixture());
