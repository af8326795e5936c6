//! The zone-file adapter's own behaviour: serials, atomic writes, the reload command, broken
//! files, defense-in-depth rejections and writers in two adapter instances.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use dcgw_adapter::{Adapter, AdapterError, ChangeSet, Expect, RRset, RRsetChange, ReadFilter};
use dcgw_zonefile::{Clock, SerialPolicy, ZoneFileAdapter, ZoneFileOptions, master};

const ZONE: &str = "example.test.";
const TEXT: &str = "\
$ORIGIN example.test.
$TTL 3600
@    SOA ns1 hostmaster 2020010100 7200 3600 1209600 300
@    NS  ns1
ns1  A   192.0.2.53
www  A   192.0.2.1
";

/// 2025-11-24 12:00 UTC.
fn noon() -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(20_416 * 86_400 + 12 * 3600)
}

fn setup(options: ZoneFileOptions) -> (tempfile::TempDir, ZoneFileAdapter) {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("example.test.zone"), TEXT).expect("write zone");
    let a = ZoneFileAdapter::new(dir.path(), options).expect("adapter");
    (dir, a)
}

fn fixed_clock() -> ZoneFileOptions {
    ZoneFileOptions {
        clock: Clock::fixed(noon()),
        ..Default::default()
    }
}

fn put(name: &str, rtype: &str, data: &[&str], expect: Expect) -> RRsetChange {
    RRsetChange {
        name: name.into(),
        rtype: rtype.into(),
        expect,
        new: Some(RRset::new(
            name,
            rtype,
            300,
            data.iter().map(|d| d.to_string()).collect(),
        )),
    }
}

fn del(name: &str, rtype: &str) -> RRsetChange {
    RRsetChange {
        name: name.into(),
        rtype: rtype.into(),
        expect: Expect::Any,
        new: None,
    }
}

fn cs(changes: Vec<RRsetChange>) -> ChangeSet {
    ChangeSet {
        zone: ZONE.into(),
        changes,
    }
}

async fn serial(a: &ZoneFileAdapter) -> u32 {
    let sets = a
        .read(ZONE, &ReadFilter::Names(vec![ZONE.into()]))
        .await
        .expect("read");
    let soa = sets.iter().find(|s| s.rtype == "SOA").expect("SOA");
    soa.data[0]
        .split(' ')
        .nth(2)
        .expect("serial")
        .parse()
        .expect("number")
}

fn zone_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("example.test.zone")).expect("read zone file")
}

#[tokio::test]
async fn serial_is_date_based_then_increments() {
    let (_dir, a) = setup(fixed_clock());
    assert_eq!(serial(&a).await, 2020010100);
    a.apply(&cs(vec![put(
        "a.example.test.",
        "A",
        &["192.0.2.7"],
        Expect::Absent,
    )]))
    .await
    .expect("apply");
    assert_eq!(serial(&a).await, 2025112400);
    a.apply(&cs(vec![put(
        "b.example.test.",
        "A",
        &["192.0.2.8"],
        Expect::Absent,
    )]))
    .await
    .expect("apply");
    assert_eq!(serial(&a).await, 2025112401);
    // A change set that changes nothing writes nothing and keeps the serial.
    a.apply(&cs(vec![put(
        "b.example.test.",
        "A",
        &["192.0.2.8"],
        Expect::Any,
    )]))
    .await
    .expect("apply");
    assert_eq!(serial(&a).await, 2025112401);
}

#[tokio::test]
async fn serial_policy_increment_and_explicit_soa() {
    let (_dir, a) = setup(ZoneFileOptions {
        serial: SerialPolicy::Increment,
        ..fixed_clock()
    });
    a.apply(&cs(vec![put(
        "a.example.test.",
        "A",
        &["192.0.2.7"],
        Expect::Absent,
    )]))
    .await
    .expect("apply");
    assert_eq!(serial(&a).await, 2020010101);
    // A change set that moves the serial forward itself is honoured.
    let soa = "ns1.example.test. hostmaster.example.test. 2030000000 7200 3600 1209600 300";
    a.apply(&cs(vec![put(ZONE, "SOA", &[soa], Expect::Any)]))
        .await
        .expect("apply");
    assert_eq!(serial(&a).await, 2030000000);
}

#[tokio::test]
async fn writes_are_atomic_and_leave_no_temp_files() {
    let (dir, a) = setup(fixed_clock());
    for i in 0..5 {
        let name = format!("n{i}.example.test.");
        a.apply(&cs(vec![put(&name, "TXT", &["\"x\""], Expect::Absent)]))
            .await
            .expect("apply");
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, [".example.test.zone.lock", "example.test.zone"]);
    // The file is a canonical master file that reads back to the same records.
    let text = zone_text(dir.path());
    assert!(text.starts_with("$ORIGIN example.test.\n@ "), "{text}");
    assert!(text.lines().nth(1).is_some_and(|l| l.contains(" SOA ")), "{text}");
    let records = master::parse(&text, ZONE).expect("parse");
    assert_eq!(records.len(), 4 + 5);
}

#[cfg(unix)]
#[tokio::test]
async fn writes_keep_the_file_mode() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, a) = setup(fixed_clock());
    let path = dir.path().join("example.test.zone");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    a.apply(&cs(vec![put(
        "m.example.test.",
        "A",
        &["192.0.2.9"],
        Expect::Absent,
    )]))
    .await
    .expect("apply");
    let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
    assert_eq!(mode, 0o640);
}

#[tokio::test]
async fn reload_command_runs_after_each_write() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("example.test.zone"), TEXT).expect("write zone");
    let marker = dir.path().join("marker");
    let cmd = format!("echo {{zone}} >> '{}'", marker.display());
    let a = ZoneFileAdapter::new(
        dir.path(),
        ZoneFileOptions {
            reload_command: Some(vec!["sh".into(), "-c".into(), cmd]),
            ..fixed_clock()
        },
    )
    .expect("adapter");
    for name in ["r1.example.test.", "r2.example.test."] {
        a.apply(&cs(vec![put(name, "A", &["192.0.2.1"], Expect::Absent)]))
            .await
            .expect("apply");
    }
    // No change, no write, no reload.
    a.apply(&cs(vec![])).await.expect("empty apply");
    let got = std::fs::read_to_string(&marker).expect("marker written");
    assert_eq!(got, "example.test\nexample.test\n");
}

#[tokio::test]
async fn reload_failure_is_transient_but_the_file_is_written() {
    let (dir, _) = setup(fixed_clock());
    let a = ZoneFileAdapter::new(
        dir.path(),
        ZoneFileOptions {
            reload_command: Some(vec![
                "sh".into(),
                "-c".into(),
                "echo cannot reload {zone} >&2; exit 3".into(),
            ]),
            ..fixed_clock()
        },
    )
    .expect("adapter");
    let err = a
        .apply(&cs(vec![put(
            "f.example.test.",
            "A",
            &["192.0.2.1"],
            Expect::Absent,
        )]))
        .await
        .expect_err("reload fails");
    match &err {
        AdapterError::Transient(msg) => {
            assert!(msg.contains("cannot reload example.test"), "{msg}");
            assert!(msg.contains("written"), "{msg}");
        }
        other => panic!("expected Transient, got {other:?}"),
    }
    assert!(err.is_retryable());
    assert!(zone_text(dir.path()).contains("f "), "the change is in the file");

    let missing = ZoneFileAdapter::new(
        dir.path(),
        ZoneFileOptions {
            reload_command: Some(vec!["/nonexistent/dcgw-reload".into()]),
            ..fixed_clock()
        },
    )
    .expect("adapter");
    let err = missing
        .apply(&cs(vec![put(
            "g.example.test.",
            "A",
            &["192.0.2.1"],
            Expect::Absent,
        )]))
        .await
        .expect_err("reload cannot start");
    assert!(
        matches!(err, AdapterError::Transient(ref m) if m.contains("could not run")),
        "{err:?}"
    );
}

#[tokio::test]
async fn garbage_zone_file_is_a_clear_error_and_nothing_is_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("example.test.zone");
    let garbage = "$TTL 60\n@ SOA ns1 h 1 1 1 1 1\nwww A 192.0.2.1\nwww IN WHAT is this\n";
    std::fs::write(&path, garbage).expect("write");
    let a = ZoneFileAdapter::new(dir.path(), fixed_clock()).expect("adapter");
    let err = a.read(ZONE, &ReadFilter::All).await.expect_err("read fails");
    let msg = err.to_string();
    assert!(msg.contains("line 4") && msg.contains("WHAT"), "{msg}");
    let err = a
        .apply(&cs(vec![put(
            "x.example.test.",
            "A",
            &["192.0.2.1"],
            Expect::Absent,
        )]))
        .await
        .expect_err("apply fails");
    assert!(err.to_string().contains("line 4"), "{err}");
    assert_eq!(std::fs::read_to_string(&path).expect("read"), garbage);
}

#[tokio::test]
async fn defense_in_depth_rejections_change_nothing() {
    let (dir, a) = setup(fixed_clock());
    let before = zone_text(dir.path());
    let cases: Vec<(&str, Vec<RRsetChange>)> = vec![
        (
            "CNAME beside A",
            vec![put(
                "www.example.test.",
                "CNAME",
                &["other.example.net."],
                Expect::Any,
            )],
        ),
        (
            "A beside CNAME",
            vec![
                put("c.example.test.", "CNAME", &["other.example.net."], Expect::Any),
                put("c.example.test.", "TXT", &["\"x\""], Expect::Any),
            ],
        ),
        ("apex SOA deleted", vec![del(ZONE, "SOA")]),
        (
            "two SOAs",
            vec![put(
                ZONE,
                "SOA",
                &["a. b. 1 1 1 1 1", "c. d. 1 1 1 1 1"],
                Expect::Any,
            )],
        ),
        (
            "outside the zone",
            vec![put("www.example.net.", "A", &["192.0.2.1"], Expect::Any)],
        ),
        (
            "bad data",
            vec![put("bad.example.test.", "A", &["not-an-ip"], Expect::Any)],
        ),
        (
            "injected line",
            vec![put(
                "bad.example.test.",
                "A",
                &["192.0.2.1\nevil A 192.0.2.66"],
                Expect::Any,
            )],
        ),
        (
            "unknown type",
            vec![put("bad.example.test.", "BOGUS", &["x"], Expect::Any)],
        ),
        (
            "same RRset twice",
            vec![
                put("d.example.test.", "A", &["192.0.2.1"], Expect::Any),
                del("d.example.test.", "A"),
            ],
        ),
    ];
    for (what, changes) in cases {
        let r = a.apply(&cs(changes)).await;
        assert!(matches!(r, Err(AdapterError::Rejected(_))), "{what}: {r:?}");
        assert_eq!(zone_text(dir.path()), before, "{what}: file changed");
    }
}

#[tokio::test]
async fn data_is_stored_canonically() {
    let (_dir, a) = setup(fixed_clock());
    a.apply(&cs(vec![
        put(
            "c.example.test.",
            "CNAME",
            &["Target.Example.NET."],
            Expect::Absent,
        ),
        put("t.example.test.", "TXT", &["unquoted"], Expect::Absent),
    ]))
    .await
    .expect("apply");
    let sets = a.read(ZONE, &ReadFilter::All).await.expect("read");
    let get = |n: &str| sets.iter().find(|s| s.name == n).expect("rrset").data.clone();
    assert_eq!(get("c.example.test."), ["target.example.net."]);
    assert_eq!(get("t.example.test."), ["\"unquoted\""]);
    // Preconditions compare canonical forms too.
    a.apply(&cs(vec![put(
        "c.example.test.",
        "CNAME",
        &["x.example.net."],
        Expect::Exactly(vec!["TARGET.example.net.".into()]),
    )]))
    .await
    .expect("apply with non-canonical expect");
}

#[tokio::test]
async fn find_zone_picks_the_most_specific_file() {
    let (dir, a) = setup(fixed_clock());
    std::fs::write(
        dir.path().join("sub.example.test.zone"),
        "$TTL 60\n@ SOA a. b. 1 1 1 1 1\n",
    )
    .expect("write");
    assert_eq!(
        a.find_zone("www.example.test.").await.expect("ok").as_deref(),
        Some(ZONE)
    );
    assert_eq!(
        a.find_zone("x.Sub.example.test").await.expect("ok").as_deref(),
        Some("sub.example.test.")
    );
    assert_eq!(a.find_zone("example.org.").await.expect("ok"), None);
    assert_eq!(a.find_zone("../../etc/passwd.").await.expect("ok"), None);
    let r = a.read("../example.test.", &ReadFilter::All).await;
    assert!(matches!(r, Err(AdapterError::ZoneNotFound(_))), "{r:?}");
}

#[test]
fn new_refuses_a_missing_directory() {
    assert!(ZoneFileAdapter::new("/nonexistent/dcgw-zonefile", ZoneFileOptions::default()).is_err());
}

/// Two adapter instances on one directory stand for two processes: only the file lock
/// orders them. Nothing may be lost and racing preconditions must still exclude each other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_on_one_directory_lose_nothing() {
    let (dir, a) = setup(fixed_clock());
    let b = ZoneFileAdapter::new(dir.path(), fixed_clock()).expect("second adapter");
    let (a, b) = (Arc::new(a), Arc::new(b));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..30 {
        let ad: Arc<ZoneFileAdapter> = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.spawn(async move {
            let name = format!("p{i}.example.test.");
            let data = format!("\"{i}\"");
            ad.apply(&cs(vec![put(&name, "TXT", &[data.as_str()], Expect::Absent)]))
                .await
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task").expect("apply");
    }
    let sets = a.read(ZONE, &ReadFilter::All).await.expect("read");
    for i in 0..30 {
        let name = format!("p{i}.example.test.");
        assert!(
            sets.iter()
                .any(|s| s.name == name && s.data == [format!("\"{i}\"")]),
            "{name} lost"
        );
    }
    // 30 writes, 30 serial bumps.
    assert_eq!(serial(&a).await, 2025112400 + 29);

    for round in 0..5 {
        let name = format!("race{round}.example.test.");
        let ta = {
            let (a, name) = (a.clone(), name.clone());
            tokio::spawn(async move {
                a.apply(&cs(vec![put(&name, "A", &["192.0.2.1"], Expect::Absent)]))
                    .await
            })
        };
        let tb = {
            let (b, name) = (b.clone(), name.clone());
            tokio::spawn(async move {
                b.apply(&cs(vec![put(&name, "A", &["192.0.2.2"], Expect::Absent)]))
                    .await
            })
        };
        let (ra, rb) = (ta.await.expect("task"), tb.await.expect("task"));
        let oks = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(oks, 1, "round {round}: {ra:?} {rb:?}");
        assert!(
            [&ra, &rb]
                .iter()
                .any(|r| matches!(r, Err(AdapterError::PreconditionFailed { .. }))),
            "round {round}: {ra:?} {rb:?}"
        );
    }
}
