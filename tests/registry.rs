//! The public template registry through the template store, and the `templates` CLI.
//!
//! The registry is read from `$DC_SHARED/domainconnect/templates` (default: the `shared`
//! directory beside the repository); it is never copied into the repository.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use dc_gateway::engine::template::{Essential, IntField};
use dc_gateway::templates::{FileStatus, TemplateStore};

fn shared() -> PathBuf {
    match std::env::var_os("DC_SHARED") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("shared"),
    }
}

fn registry() -> PathBuf {
    shared().join("domainconnect").join("templates")
}

/// Files in the registry snapshot, and how many of them have no error (measured).
const REGISTRY_FILES: usize = 1154;
const REGISTRY_SERVABLE: usize = 1152;
/// The registry files with errors, and why.
const REGISTRY_BROKEN: &[(&str, &str)] = &[
    // "syncPubKeyDomain" appears twice in the object.
    ("aiprospectscout.com.mail.json", "json-structure"),
    // MX pointsTo "mail.@": '@' is only valid as a whole field.
    ("plesk.com.mail.json", "invalid-target"),
];

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn the_whole_registry_loads() {
    let (store, report) = TemplateStore::lint_dir(&registry()).expect("registry directory readable");
    assert_eq!(
        report.files.len(),
        REGISTRY_FILES,
        "files read from {}",
        registry().display()
    );

    let mut rules: BTreeMap<&str, usize> = BTreeMap::new();
    for p in report.problems() {
        *rules.entry(p.finding.rule).or_default() += 1;
    }
    eprintln!("{}; findings by rule: {rules:?}", report.summary());

    let broken: Vec<(String, Vec<&str>)> = report
        .files
        .iter()
        .filter(|f| f.has_errors())
        .map(|f| {
            (
                file_name(&f.path),
                f.findings
                    .iter()
                    .filter(|x| x.is_error())
                    .map(|x| x.rule)
                    .collect(),
            )
        })
        .collect();
    let expected: Vec<(String, Vec<&str>)> = REGISTRY_BROKEN
        .iter()
        .map(|(f, r)| (f.to_string(), vec![*r]))
        .collect();
    assert_eq!(broken, expected);
    assert_eq!(
        report.files.len() - report.count(FileStatus::Errors),
        REGISTRY_SERVABLE
    );
    assert_eq!(store.len(), REGISTRY_SERVABLE);
    // Every served template came from a file without errors; lookups by its own ids work.
    for f in report.files.iter().filter(|f| !f.has_errors()) {
        let t = f.template.as_ref().expect("parsed");
        let served = store.get(&t.provider_id, &t.service_id).expect("served");
        assert!(std::sync::Arc::ptr_eq(served, t), "{}", f.path.display());
    }
}

#[test]
fn known_registry_templates_load_with_their_fields() {
    let (store, problems) = TemplateStore::load_dir(&registry()).expect("registry directory readable");

    // Case-insensitive lookup, canonical spelling kept.
    let g = store
        .get("Google.COM", "Domain-Verification")
        .expect("google.com/domain-verification");
    assert_eq!(
        (g.provider_id.as_str(), g.service_id.as_str()),
        ("google.com", "domain-verification")
    );
    assert!(g.multi_instance && g.shared_service_name && !g.sync_block);
    assert_eq!(g.pub_key_domain(), Some("google.com"));
    let r = &g.records[0];
    assert_eq!(
        (r.kind().as_str(), r.host.as_deref(), r.data.as_deref()),
        ("TXT", Some("@"), Some("%verifytxt%"))
    );
    assert_eq!(
        (r.ttl.clone(), r.group_id.as_deref()),
        (Some(IntField::Int(3600)), Some("verification"))
    );

    // SRV with an empty name and integer fields.
    let b = store.get("bluehost.com", "email").expect("bluehost.com/email");
    let srv = b
        .records
        .iter()
        .find(|r| r.kind() == "SRV")
        .expect("an SRV record");
    assert_eq!(
        (
            srv.name.as_deref(),
            srv.service.as_deref(),
            srv.protocol.as_deref(),
            srv.port.clone()
        ),
        (
            Some(""),
            Some("_autodiscover"),
            Some("_tcp"),
            Some(IntField::Int(443))
        )
    );
    assert_eq!(srv.essential(), Essential::OnApply);
    assert!(store.by_provider("BLUEHOST.com").count() >= 3);

    // A TTL given as a string.
    let s = store
        .get("8s.io", "ownership-verification")
        .expect("8s.io/ownership-verification");
    assert_eq!(s.records[0].ttl, Some(IntField::Text("3600".into())));

    // Served with warnings: an invalid `essential` is treated as Always (POLICY 8) ...
    let m = store
        .get("mailaura.io", "email-sending")
        .expect("mailaura.io/email-sending");
    assert_eq!(m.records[5].essential.as_deref(), Some("No"));
    assert_eq!(m.records[5].essential(), Essential::Always);
    let has = |file: &str, rule: &str| {
        problems
            .iter()
            .any(|p| file_name(&p.path) == file && p.finding.rule == rule && !p.finding.is_error())
    };
    assert!(has("mailaura.io.email-sending.json", "essential-invalid"));
    // ... and APEXCNAME is flagged as an extension.
    let a = store
        .get("customdomain.ai", "apex-cname")
        .expect("customdomain.ai/apex-cname");
    assert_eq!(a.record_types(), vec!["APEXCNAME".to_string()]);
    assert!(has("customdomain.ai.apex-cname.json", "extension-type"));

    // Broken files are not served.
    assert!(store.get("plesk.com", "mail").is_none());
    assert!(store.get("aiprospectscout.com", "mail").is_none());
}

// ---------------------------------------------------------------------------------------
// The CLI

const GOOD: &str = r#"{
  "providerId": "example.com", "providerName": "Example", "serviceId": "web",
  "serviceName": "Web hosting", "version": 1, "syncPubKeyDomain": "keys.example.com",
  "records": [
    {"type": "A", "host": "@", "pointsTo": "%ip%", "ttl": 3600},
    {"type": "CNAME", "host": "www", "pointsTo": "@", "ttl": 3600}
  ]
}"#;

fn bad() -> String {
    GOOD.replace("\"web\"", "\"bad\"").replace("%ip%", "1.2.3")
}

fn lint(dir: &Path) -> (i32, String, String) {
    run(&["templates", "lint", &dir.to_string_lossy()])
}

fn run(args: &[&str]) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new(env!("CARGO_BIN_EXE_dc-gateway"))
        .args(args)
        .output()
        .expect("runs");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn write(dir: &Path, name: &str, body: impl AsRef<[u8]>) -> String {
    let p = dir.join(name);
    fs::write(&p, body).expect("write");
    p.to_string_lossy().into_owned()
}

#[test]
fn lint_good_and_bad() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "example.com.web.json", GOOD);
    let bad_path = write(dir.path(), "example.com.bad.json", bad());
    let (code, out, err) = lint(dir.path());
    assert_eq!(code, 1, "stdout:\n{out}\nstderr:\n{err}");
    assert_eq!(
        out,
        format!(
            "{bad_path}: error: record 0, field pointsTo: \"1.2.3\" is not a dotted-quad IPv4 address \
             [invalid-ipv4]\n2 files, 1 ok, 0 with warnings, 1 with errors\n"
        )
    );

    fs::remove_file(&bad_path).expect("rm");
    let (code, out, _) = lint(dir.path());
    assert_eq!(
        (code, out.as_str()),
        (0, "1 files, 1 ok, 0 with warnings, 0 with errors\n")
    );
}

#[test]
fn lint_warnings_exit_zero() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(
        dir.path(),
        "example.com.web.json",
        GOOD.replace("\"version\": 1,", "\"logoUrl\": \"ftp://x\","),
    );
    let (code, out, _) = lint(dir.path());
    assert_eq!(code, 0, "{out}");
    assert!(
        out.starts_with(&format!("{p}: warning: field logoUrl: ")),
        "{out}"
    );
    assert!(
        out.contains("[logo-url]\n") && out.ends_with("1 files, 0 ok, 1 with warnings, 0 with errors\n"),
        "{out}"
    );
    // --errors-only hides it but keeps the count.
    let (code, out, _) = run(&[
        "templates",
        "lint",
        "--errors-only",
        &dir.path().to_string_lossy(),
    ]);
    assert_eq!(
        (code, out.as_str()),
        (0, "1 files, 0 ok, 1 with warnings, 0 with errors\n")
    );
}

#[test]
fn lint_broken_files_give_clear_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let malformed = write(
        d,
        "example.com.malformed.json",
        "{\n  \"providerId\": \"example.com\",\n  oops\n}",
    );
    let misnamed = write(d, "example.com.other.json", GOOD);
    let latin1 = write(
        d,
        "example.com.latin1.json",
        GOOD.replace("Web hosting", "Caf\u{e9}")
            .replace('\u{e9}', "\u{1}"),
    );
    // Put a real ISO-8859-1 byte in.
    let mut bytes = fs::read(&latin1).expect("read");
    if let Some(b) = bytes.iter_mut().find(|b| **b == 1) {
        *b = 0xe9;
    }
    fs::write(&latin1, bytes).expect("write");
    let mut huge = GOOD.to_string();
    huge.push_str(&" ".repeat(2 * 1024 * 1024));
    let huge_path = write(d, "example.com.huge.json", huge);
    let array = write(d, "example.com.array.json", "[]");

    let offset = GOOD.find("Web hosting").expect("in GOOD") + 3;
    let line = GOOD[..offset].lines().count();
    let (code, out, _) = lint(d);
    assert_eq!(code, 1, "{out}");
    let expect = [
        format!("{malformed}: error: line 3, column 3: key must be a string [json-syntax]"),
        format!(
            "{misnamed}: error: the file is named \"example.com.other.json\" but holds providerId \
             \"example.com\" and serviceId \"web\"; it must be named \"example.com.web.json\" [file-name]"
        ),
        format!(
            "{latin1}: error: the file is not UTF-8: invalid byte 0xe9 at offset {offset} (line {line}) [not-utf8]"
        ),
        format!(
            "{huge_path}: error: the file is {} bytes long; templates are limited to 1048576 bytes \
             [file-too-large]",
            GOOD.len() + 2 * 1024 * 1024
        ),
        format!("{array}: error: the file holds an array, not a template object [not-an-object]"),
    ];
    for line in &expect {
        assert!(
            out.lines().any(|l| l == line),
            "missing line:\n{line}\nin:\n{out}"
        );
    }
    assert!(
        out.ends_with("5 files, 0 ok, 0 with warnings, 5 with errors\n"),
        "{out}"
    );
}

#[test]
fn lint_unreadable_dir_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("nope");
    let (code, out, err) = lint(&missing);
    assert_eq!((code, out.as_str()), (2, ""));
    assert!(
        err.contains("cannot read template directory") && err.contains("nope"),
        "{err}"
    );
}

#[test]
fn lint_a_single_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), "example.com.bad.json", bad());
    let (code, out, _) = run(&["templates", "lint", &p]);
    assert_eq!(code, 1);
    assert!(
        out.ends_with("1 files, 0 ok, 0 with warnings, 1 with errors\n"),
        "{out}"
    );
}

#[test]
fn show_prints_canonical_json() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    write(d, "example.com.web.json", GOOD);
    write(d, "example.com.bad.json", bad());
    let ds = d.to_string_lossy();
    let (code, out, err) = run(&["templates", "show", &ds, "Example.COM/WEB"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert_eq!(v["providerId"], "example.com");
    assert_eq!(v["records"][1]["pointsTo"], "@");

    let (code, _, err) = run(&["templates", "show", &ds, "example.com/bad"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("not served because of errors") && err.contains("[invalid-ipv4]"),
        "{err}"
    );
    let (code, _, err) = run(&["templates", "show", &ds, "example.com/none"]);
    assert_eq!(code, 1);
    assert!(err.contains("no template example.com/none"), "{err}");
}
