//! `dc-gateway plan-batch`, run as a user would: a job file in, one JSON line per job out,
//! one summary line on stderr.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn batch_file(path: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_dc-gateway"))
        .args(["plan-batch", path])
        .output()
        .expect("runs")
}

fn batch_stdin(input: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dc-gateway"))
        .args(["plan-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawns");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("writes");
    child.wait_with_output().expect("runs")
}

fn lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect()
}

fn template() -> Value {
    json!({
        "providerId": "batch.example", "providerName": "Batch", "serviceId": "mail", "serviceName": "Mail",
        "records": [
            {"type": "CNAME", "host": "www", "pointsTo": "sites.batch.example", "ttl": 600},
            {"type": "MX", "host": "@", "pointsTo": "mx.batch.example", "priority": 10, "ttl": 600},
            {"type": "SPFM", "host": "@", "spfRules": "include:_spf.batch.example"},
            {"type": "TXT", "host": "@", "data": "verify=%token%", "ttl": 600,
             "txtConflictMatchingMode": "Prefix", "txtConflictMatchingPrefix": "verify="}
        ]
    })
}

fn zone() -> Value {
    json!([
        {"name": "example.com.", "type": "A", "ttl": 3600, "data": "192.0.2.10"},
        {"name": "www.example.com.", "type": "CNAME", "ttl": 3600, "data": "old.host.example."},
        {"name": "example.com.", "type": "TXT", "ttl": 3600, "data": "\"v=spf1 mx -all\""},
        {"name": "example.com.", "type": "MX", "ttl": 3600, "data": "10 mx.old.example."}
    ])
}

#[test]
fn plans_each_line_and_reports_errors_per_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tpath = dir.path().join("batch.example.mail.json");
    std::fs::write(&tpath, template().to_string()).expect("write template");
    let jobs = [
        json!({"id": "inline", "template": template(), "domain": "example.com", "params": {"token": "abc"},
               "zone": zone(), "force": true})
        .to_string(),
        json!({"id": "file", "template_file": tpath, "domain": "example.com", "host": "shop",
               "params": {"token": "abc"}, "force": true})
        .to_string(),
        String::new(),
        "{\"id\": \"broken\"".to_string(),
        json!({"id": "missing", "template_file": tpath, "domain": "example.com", "force": true}).to_string(),
        json!({"id": "conflict", "template": template(), "domain": "example.com",
               "params": {"token": "abc"}, "zone": zone()})
        .to_string(),
    ];
    let jpath = dir.path().join("jobs.jsonl");
    std::fs::write(&jpath, jobs.join("\n")).expect("write jobs");

    let out = batch_file(&jpath.display().to_string());
    assert!(out.status.success(), "{out:?}");
    let got = lines(&out);
    assert_eq!(got.len(), 5, "{got:?}");

    // Inline template against the sample zone: CNAME replaced, MX replaced, SPF merged.
    assert_eq!(got[0]["id"], json!("inline"));
    assert_eq!(got[0]["ok"], json!(true));
    let adds = got[0]["plan"]["adds"].as_array().expect("adds");
    let has = |name: &str, t: &str, data: &str| {
        adds.iter()
            .any(|r| r["name"] == json!(name) && r["type"] == json!(t) && r["data"] == json!(data))
    };
    assert!(
        has("www.example.com.", "CNAME", "sites.batch.example."),
        "{adds:?}"
    );
    assert!(has("example.com.", "MX", "10 mx.batch.example."), "{adds:?}");
    assert!(
        has(
            "example.com.",
            "TXT",
            "\"v=spf1 mx include:_spf.batch.example -all\""
        ),
        "{adds:?}"
    );
    assert!(has("example.com.", "TXT", "\"verify=abc\""), "{adds:?}");

    // From a file, under a host, on an empty zone.
    assert_eq!(got[1]["id"], json!("file"));
    assert_eq!(got[1]["ok"], json!(true));
    assert_eq!(got[1]["plan"]["zone"], json!("example.com."));
    assert!(
        got[1]["plan"]["adds"]
            .as_array()
            .expect("adds")
            .iter()
            .any(|r| r["name"] == json!("www.shop.example.com.") && r["type"] == json!("CNAME"))
    );

    // Not JSON: the error names the line (4: the blank line 3 is skipped but counted).
    assert_eq!(got[2]["ok"], json!(false));
    assert_eq!(got[2]["id"], Value::Null);
    assert_eq!(got[2]["category"], json!("invalid job"));
    assert!(
        got[2]["error"].as_str().expect("error").starts_with("line 4:"),
        "{:?}",
        got[2]
    );

    assert_eq!(got[3]["id"], json!("missing"));
    assert_eq!(got[3]["category"], json!("missing variable"));
    assert!(got[3]["error"].as_str().expect("error").contains("%token%"));

    assert_eq!(got[4]["id"], json!("conflict"));
    assert_eq!(got[4]["category"], json!("conflict"));

    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("plan-batch: 5 jobs, 2 ok, 3 errors, engine time "),
        "{err}"
    );
    assert!(err.trim_end().ends_with("µs/job"), "{err}");
}

#[test]
fn reads_standard_input_and_survives_garbage() {
    let input = format!(
        "[]\n\"x\"\n{{\"id\": 1, \"domain\": \"example.com\"}}\n{}\n",
        json!({"id": 2, "template": {"records": []}, "domain": "example.com"})
    );
    let out = batch_stdin(&input);
    assert!(out.status.success(), "{out:?}");
    let got = lines(&out);
    assert_eq!(got.len(), 4);
    assert!(got.iter().all(|l| l["ok"] == json!(false)));
    assert_eq!(got[2]["id"], json!(1));
    assert_eq!(got[3]["category"], json!("invalid template"));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("plan-batch: 4 jobs, 0 ok, 4 errors"));
}

#[test]
fn unreadable_job_file_exits_2() {
    let out = batch_file("/nonexistent/jobs.jsonl");
    assert_eq!(out.status.code(), Some(2));
}
