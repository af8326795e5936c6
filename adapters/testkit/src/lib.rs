//! Conformance suite for dc-gateway adapters.
//!
//! Every adapter runs these checks against a live backend (a real server, an emulator or, for
//! the zone-file adapter, a temporary directory). Each check writes only under its own label
//! `tk-<check>.<zone>` (plus, for `apex_records`, one TXT and one MX record at the apex, which
//! it removes again), cleans up before and after itself, and reads every change back with
//! [`Adapter::read`]. The zone must exist, with SOA and NS at the apex; it may hold other
//! data, which the checks leave alone.
//!
//! Run the whole suite with [`run_all`], one check with [`run_check`] or the check's own
//! function in [`checks`], or let [`conformance_tests!`] generate one `#[test]` per check:
//!
//! ```ignore
//! fn fixture() -> dcgw_testkit::Fixture {
//!     let adapter = std::sync::Arc::new(MyAdapter::connect("http://127.0.0.1:8081").expect("backend"));
//!     dcgw_testkit::Fixture::new(adapter, "testkit.example.")
//! }
//! dcgw_testkit::conformance_tests!(fixture());
//! ```
//!
//! # Comparing data
//!
//! Data is compared as sets of strings after a small normalisation ([`normalize`]) for the
//! reformatting a backend may legitimately do: runs of blanks become one space; names inside
//! CNAME, NS, PTR, DNAME, MX and SRV data are compared case-insensitively; AAAA addresses are
//! compared as addresses; RFC 3597 hex is compared case-insensitively. TXT data is compared
//! exactly: an adapter must return the character-strings it was given.

pub mod build;
pub mod checks;

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::net::Ipv6Addr;
use std::sync::Arc;

pub use dcgw_adapter::{self as adapter, Adapter};

/// Why a check failed: which check, what it expected and what it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub check: &'static str,
    pub expected: String,
    pub found: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conformance check `{}` failed:\n  expected: {}\n  found:    {}",
            self.check, self.expected, self.found
        )
    }
}

impl std::error::Error for Failure {}

/// The result of a check that did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// The adapter's capabilities say the check does not apply (with the reason).
    Skipped(String),
}

/// What [`run_all`] ran.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub passed: Vec<&'static str>,
    pub skipped: Vec<(&'static str, String)>,
}

/// The names of all checks, in the order [`run_all`] runs them.
pub const CHECKS: &[&str] = &[
    "find_zone",
    "zone_not_found",
    "record_types",
    "long_txt",
    "apex_records",
    "replace",
    "read_filter",
    "preconditions",
    "concurrent_writes",
    "racing_writes",
];

/// Runs one check by name (one of [`CHECKS`]).
pub async fn run_check(check: &str, adapter: Arc<dyn Adapter>, zone: &str) -> Result<Outcome, Failure> {
    match check {
        "find_zone" => checks::find_zone(adapter, zone).await,
        "zone_not_found" => checks::zone_not_found(adapter, zone).await,
        "record_types" => checks::record_types(adapter, zone).await,
        "long_txt" => checks::long_txt(adapter, zone).await,
        "apex_records" => checks::apex_records(adapter, zone).await,
        "replace" => checks::replace(adapter, zone).await,
        "read_filter" => checks::read_filter(adapter, zone).await,
        "preconditions" => checks::preconditions(adapter, zone).await,
        "concurrent_writes" => checks::concurrent_writes(adapter, zone).await,
        "racing_writes" => checks::racing_writes(adapter, zone).await,
        other => Err(Failure {
            check: "run_check",
            expected: format!("one of {CHECKS:?}"),
            found: format!("{other:?}"),
        }),
    }
}

/// Runs every check in turn against `zone`; stops at the first failure.
pub async fn run_all(adapter: Arc<dyn Adapter>, zone: &str) -> Result<Report, Failure> {
    let mut report = Report::default();
    for &check in CHECKS {
        match run_check(check, adapter.clone(), zone).await? {
            Outcome::Passed => report.passed.push(check),
            Outcome::Skipped(why) => report.skipped.push((check, why)),
        }
    }
    Ok(report)
}

/// An adapter and the zone to test it on, plus anything that must live as long as the test
/// (a temporary directory, a server handle).
pub struct Fixture {
    pub adapter: Arc<dyn Adapter>,
    /// The zone apex, absolute with a trailing dot (e.g. `testkit.example.`).
    pub zone: String,
    guard: Option<Box<dyn Any + Send>>,
}

impl Fixture {
    pub fn new(adapter: Arc<dyn Adapter>, zone: impl Into<String>) -> Fixture {
        Fixture {
            adapter,
            zone: dcgw_adapter::absolute(&zone.into()),
            guard: None,
        }
    }

    /// Keeps `guard` alive (and drops it) with the fixture.
    pub fn keep(mut self, guard: impl Any + Send) -> Fixture {
        self.guard = Some(Box::new(guard));
        self
    }
}

impl fmt::Debug for Fixture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fixture")
            .field("adapter", &self.adapter)
            .field("zone", &self.zone)
            .field("guard", &self.guard.is_some())
            .finish()
    }
}

/// What [`conformance_tests!`] accepts: a [`Fixture`], or `Option<Fixture>` where `None`
/// skips the test (e.g. when the backend's environment variables are not set).
pub trait IntoFixture {
    fn into_fixture(self) -> Option<Fixture>;
}

impl IntoFixture for Fixture {
    fn into_fixture(self) -> Option<Fixture> {
        Some(self)
    }
}

impl IntoFixture for Option<Fixture> {
    fn into_fixture(self) -> Option<Fixture> {
        self
    }
}

/// The normalisation applied to record data before comparing (see the crate docs).
pub fn normalize(rtype: &str, data: &str) -> String {
    let rtype = rtype.to_ascii_uppercase();
    if rtype == "TXT" || rtype == "SPF" {
        return data.trim().to_string();
    }
    let d = data.split_whitespace().collect::<Vec<_>>().join(" ");
    if d.starts_with("\\#") {
        return d.to_ascii_lowercase();
    }
    match rtype.as_str() {
        "CNAME" | "NS" | "PTR" | "DNAME" | "MX" | "SRV" => d.to_ascii_lowercase(),
        "AAAA" => d.parse::<Ipv6Addr>().map(|a| a.to_string()).unwrap_or(d),
        _ => d,
    }
}

#[doc(hidden)]
pub mod __private {
    use super::*;

    /// Runs one check in its own multi-threaded runtime; used by [`conformance_tests!`].
    pub fn run_test<F>(check: &str, make: F)
    where
        F: Future,
        F::Output: IntoFixture,
    {
        let rt = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => panic!("cannot start a tokio runtime: {e}"),
        };
        rt.block_on(async {
            let Some(fixture) = make.await.into_fixture() else {
                eprintln!("conformance check `{check}` skipped: no fixture");
                return;
            };
            match run_check(check, fixture.adapter.clone(), &fixture.zone).await {
                Ok(Outcome::Passed) => {}
                Ok(Outcome::Skipped(why)) => eprintln!("conformance check `{check}` skipped: {why}"),
                Err(f) => panic!("{f}"),
            }
            drop(fixture);
        });
    }
}

/// Generates a module `conformance` with one `#[test]` per check.
///
/// Two forms:
/// * `conformance_tests!(adapter_expr, "zone.")` where `adapter_expr` is an
///   `Arc<dyn Adapter>` (or an `Arc` of a concrete adapter);
/// * `conformance_tests!(fixture_expr)` where `fixture_expr` is a [`Fixture`] or an
///   `Option<Fixture>` (`None` skips).
///
/// The expression is evaluated afresh for each test, inside an `async` block running on a
/// multi-threaded tokio runtime, so it may use `.await` and items of the enclosing module. The
/// calling crate needs no tokio dependency of its own.
#[macro_export]
macro_rules! conformance_tests {
    (@fixture $fixture:expr) => {
        #[allow(unused_imports)]
        mod conformance {
            use super::*;
            $crate::__conformance_test!($fixture; find_zone);
            $crate::__conformance_test!($fixture; zone_not_found);
            $crate::__conformance_test!($fixture; record_types);
            $crate::__conformance_test!($fixture; long_txt);
            $crate::__conformance_test!($fixture; apex_records);
            $crate::__conformance_test!($fixture; replace);
            $crate::__conformance_test!($fixture; read_filter);
            $crate::__conformance_test!($fixture; preconditions);
            $crate::__conformance_test!($fixture; concurrent_writes);
            $crate::__conformance_test!($fixture; racing_writes);
        }
    };
    ($adapter:expr, $zone:expr $(,)?) => {
        $crate::conformance_tests!(@fixture $crate::Fixture::new($adapter, $zone));
    };
    ($fixture:expr $(,)?) => {
        $crate::conformance_tests!(@fixture $fixture);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_test {
    ($fixture:expr; $check:ident) => {
        #[test]
        fn $check() {
            $crate::__private::run_test(stringify!($check), async {
                $crate::IntoFixture::into_fixture($fixture)
            });
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_only_folds_what_backends_may_reformat() {
        assert_eq!(normalize("CNAME", "Target.Example.NET."), "target.example.net.");
        assert_eq!(normalize("MX", "10   Mail.example.net."), "10 mail.example.net.");
        assert_eq!(normalize("AAAA", "2001:DB8:0::1"), "2001:db8::1");
        assert_eq!(normalize("TYPE65534", "\\# 3 0A0B0C"), "\\# 3 0a0b0c");
        assert_eq!(normalize("TXT", "\"A  B\""), "\"A  B\"");
        assert_eq!(
            normalize("CAA", "0 issue \"CA.example\""),
            "0 issue \"CA.example\""
        );
    }

    #[test]
    fn failure_names_check_expected_and_found() {
        let f = Failure {
            check: "replace",
            expected: "x A = [\"192.0.2.3\"]".into(),
            found: "no such RRset".into(),
        };
        let s = f.to_string();
        assert!(s.contains("`replace`") && s.contains("expected: x A") && s.contains("found:    no such"));
    }
}
