//! The dcgw-testkit conformance suite against a zone-file directory in a temporary directory.

use std::sync::Arc;

use dcgw_testkit::Fixture;
use dcgw_zonefile::{ZoneFileAdapter, ZoneFileOptions};

/// A zone with SOA and NS at the apex and some unrelated data the checks must leave alone.
const ZONE: &str = "\
$ORIGIN testkit.example.
$TTL 3600
@       IN SOA ns1.testkit.example. hostmaster.testkit.example. 1 7200 3600 1209600 300
@       IN NS  ns1.testkit.example.
@       IN NS  ns2.testkit.example.
@       IN TXT \"v=spf1 -all\"
www     IN A   192.0.2.80
ns1     IN A   192.0.2.53
ns2     IN A   192.0.2.54
";

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("testkit.example.zone"), ZONE).expect("write zone");
    // A parent zone: find_zone must still pick the most specific one.
    std::fs::write(
        dir.path().join("example.zone"),
        "$TTL 60\n@ SOA ns1.example. h.example. 1 1 1 1 1\n@ NS ns1.example.\n",
    )
    .expect("write parent zone");
    let adapter = ZoneFileAdapter::new(dir.path(), ZoneFileOptions::default()).expect("adapter");
    Fixture::new(Arc::new(adapter), "testkit.example.").keep(dir)
}

dcgw_testkit::conformance_tests!(fixture());

/// The whole suite in one go through `run_all`, then the untouched data is checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_all_passes_and_leaves_other_data_alone() {
    let fx = fixture();
    let report = dcgw_testkit::run_all(fx.adapter.clone(), &fx.zone)
        .await
        .unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(report.passed.len(), dcgw_testkit::CHECKS.len(), "{report:?}");
    assert!(report.skipped.is_empty());
    let sets = fx
        .adapter
        .read(&fx.zone, &dcgw_adapter::ReadFilter::All)
        .await
        .expect("read");
    let got: Vec<String> = sets
        .iter()
        .map(|s| format!("{} {} {}", s.name, s.rtype, s.data.join(" | ")))
        .collect();
    assert_eq!(
        got,
        [
            "ns1.testkit.example. A 192.0.2.53",
            "ns2.testkit.example. A 192.0.2.54",
            "testkit.example. NS ns1.testkit.example. | ns2.testkit.example.",
            // Checked below: the serial moved on.
            &format!("testkit.example. SOA {}", sets[3].data[0]),
            "testkit.example. TXT \"v=spf1 -all\"",
            "www.testkit.example. A 192.0.2.80",
        ]
        .map(String::from)
    );
    let soa: Vec<&str> = sets[3].data[0].split(' ').collect();
    assert_eq!(soa[..2], ["ns1.testkit.example.", "hostmaster.testkit.example."]);
    assert_eq!(soa[3..], ["7200", "3600", "1209600", "300"]);
    assert!(soa[2].parse::<u32>().expect("serial") > 2_000_000_000, "{soa:?}");
}
