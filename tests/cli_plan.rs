//! `dc-gateway plan`, run as a user would: exit codes, stdout, one line on stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn plan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dc-gateway"))
        .arg("plan")
        .args(args)
        .current_dir(repo())
        .output()
        .expect("runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const DEMO: &str = "templates/demo.dc-gateway.example.website.json";
const ZONE: &str = "config/example.com.zone";

fn write_template(dir: &Path, name: &str, records: serde_json::Value, extra: serde_json::Value) -> String {
    let mut t = serde_json::json!({
        "providerId": "cli.example", "providerName": "CLI", "serviceId": name, "serviceName": "CLI test",
        "records": records,
    });
    if let (Some(t), Some(e)) = (t.as_object_mut(), extra.as_object()) {
        t.extend(e.clone());
    }
    let path = dir.join(format!("cli.example.{name}.json"));
    std::fs::write(&path, t.to_string()).expect("write");
    path.display().to_string()
}

#[test]
fn prints_the_resulting_zone() {
    let o = plan(&[
        "--template",
        DEMO,
        "--zone",
        ZONE,
        "--domain",
        "example.com",
        "--param",
        "ip=192.0.2.10",
        "--param",
        "token=abc",
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("@            3600 IN A 192.0.2.10\n"), "{out}");
    assert!(!out.contains("192.0.2.1\n"), "the old apex A is gone: {out}");
    assert!(out.contains("www          3600 IN CNAME example.com.\n"), "{out}");
    assert!(
        out.contains("\"v=spf1 mx include:_spf.demo.dc-gateway.example -all\""),
        "{out}"
    );
    assert!(
        out.contains("_demo-verify 3600 IN TXT \"demo-verification=abc\""),
        "{out}"
    );
    assert!(out.contains("IN SOA"), "the SOA is kept");
}

#[test]
fn conflicts_stop_without_force() {
    let o = plan(&[
        "--template",
        DEMO,
        "--zone",
        ZONE,
        "--domain",
        "example.com",
        "--param",
        "ip=192.0.2.10",
        "--param",
        "token=abc",
    ]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).starts_with("error: conflict: 2 existing record(s)"),
        "{}",
        stderr(&o)
    );
    assert!(stdout(&o).is_empty());
}

#[test]
fn json_plan_and_lookup_by_provider_and_service() {
    let o = plan(&[
        "--template",
        "Demo.dc-gateway.example/WEBSITE",
        "--zone",
        ZONE,
        "--domain",
        "example.com",
        "--param",
        "ip=192.0.2.10",
        "--param",
        "token=abc",
        "--format",
        "json",
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["zone"], "example.com.");
    assert_eq!(v["conflicts"].as_array().map(Vec::len), Some(2));
    assert_eq!(v["conflicts"][0]["rule"], "address");
    assert_eq!(v["instance"]["serviceId"], "website");
    assert!(
        v["adds"]
            .as_array()
            .is_some_and(|a| a.iter().any(|r| r["data"] == "192.0.2.10"))
    );
}

#[test]
fn each_error_category_is_one_line_naming_the_field() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let a = write_template(
        d,
        "a",
        serde_json::json!([{"type": "A", "host": "@", "pointsTo": "%ip%", "ttl": 300}]),
        serde_json::json!({}),
    );
    let req = write_template(
        d,
        "req",
        serde_json::json!([{"type": "CNAME", "host": "@", "pointsTo": "x.example.net", "ttl": 300}]),
        serde_json::json!({"hostRequired": true}),
    );
    let apex = write_template(
        d,
        "apex",
        serde_json::json!([{"type": "APEXCNAME", "pointsTo": "x.example.net", "ttl": 300}]),
        serde_json::json!({}),
    );
    let bad = d.join("bad.json");
    std::fs::write(&bad, "{\"providerId\": ").expect("write");
    let bad = bad.display().to_string();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["--template", &a],
            "error: missing variable: %ip% (record 0, field pointsTo)",
        ),
        (
            vec!["--template", &a, "--param", "ip=300.1.1.1"],
            "error: invalid data: record 0, field pointsTo",
        ),
        (vec!["--template", &req], "error: host required"),
        (vec!["--template", &bad], "error: invalid template: "),
        (
            vec!["--template", &apex],
            "error: unsupported type: record 0 has type APEXCNAME",
        ),
        (
            vec!["--template", "nobody/nothing"],
            "error: invalid template: nobody/nothing",
        ),
    ];
    for (mut args, want) in cases {
        args.extend(["--zone", ZONE, "--domain", "example.com", "--force"]);
        let o = plan(&args);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        let err = stderr(&o);
        assert!(err.starts_with(want), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(stdout(&o).is_empty());
    }
}

#[test]
fn apex_alias_and_redirects_can_be_declared() {
    let dir = tempfile::tempdir().expect("tempdir");
    let apex = write_template(
        dir.path(),
        "apex",
        serde_json::json!([{"type": "APEXCNAME", "pointsTo": "x.example.net", "ttl": 300}]),
        serde_json::json!({}),
    );
    let o = plan(&[
        "--template",
        &apex,
        "--zone",
        ZONE,
        "--domain",
        "example.com",
        "--apex-alias",
        "ALIAS",
        "--force",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("@            300  IN ALIAS x.example.net.")
            || stdout(&o).contains("IN ALIAS x.example.net."),
        "{}",
        stdout(&o)
    );
    let redir = write_template(
        dir.path(),
        "redir",
        serde_json::json!([{"type": "REDIR301", "host": "go", "target": "https://shop.example.net/"}]),
        serde_json::json!({}),
    );
    let o = plan(&[
        "--template",
        &redir,
        "--zone",
        ZONE,
        "--domain",
        "example.com",
        "--redirect-record",
        "A:203.0.113.80",
        "--redirect-record",
        "AAAA:2001:db8::80:600",
        "--format",
        "json",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["redirects"][0]["target"], "https://shop.example.net/");
    let adds = v["adds"].as_array().expect("adds");
    assert!(
        adds.iter()
            .any(|r| r["type"] == "AAAA" && r["data"] == "2001:db8::80" && r["ttl"] == 600),
        "{adds:?}"
    );
}

#[test]
fn unusable_files_exit_2() {
    let o = plan(&[
        "--template",
        DEMO,
        "--zone",
        "no/such.zone",
        "--domain",
        "example.com",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).starts_with("error: cannot read zone"),
        "{}",
        stderr(&o)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let z = dir.path().join("bad.zone");
    std::fs::write(&z, "@ IN A\n").expect("write");
    let o = plan(&[
        "--template",
        DEMO,
        "--zone",
        &z.display().to_string(),
        "--domain",
        "example.com",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("line 1"), "{}", stderr(&o));
}
