//! `dc-gateway serve` as an operator runs it: configuration from the environment and a file,
//! readiness, a clean stop on SIGTERM; and `dc-gateway passwd`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

/// A minimal HTTP/1.1 GET; returns (status, body).
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Some((status, body))
}

#[test]
fn serve_starts_from_env_and_a_file_answers_and_stops_cleanly_on_sigterm() {
    let data = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let cfg = data.path().join("gateway.toml");
    std::fs::write(&cfg, "[provider]\nname = \"Operator Test DNS\"\n").expect("config");
    let mut child = Command::new(env!("CARGO_BIN_EXE_dc-gateway"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .current_dir(repo())
        .env("DCGW__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("DCGW__SERVER__PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("DCGW__SERVER__DATA_DIR", data.path())
        .env("DCGW_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut ready = None;
    while Instant::now() < deadline {
        if let Some(r) = get(port, "/readyz") {
            ready = Some(r);
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(ready.map(|r| r.0), Some(200), "the gateway became ready");
    let (status, body) = get(port, "/v2/example.com/settings").expect("settings");
    assert_eq!(status, 200);
    assert!(body.contains("\"providerName\":\"Operator Test DNS\""), "{body}");
    assert!(
        data.path().join("zones/example.com.zone").exists(),
        "the demo zone was seeded"
    );

    // SIGTERM: a graceful stop with exit status 0.
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "the gateway did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut logs = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut logs)
        .expect("logs");
    assert!(status.success(), "exit status {status:?}\n{logs}");
    let first = logs.lines().next().unwrap_or("");
    assert!(
        serde_json::from_str::<serde_json::Value>(first).is_ok(),
        "JSON logs: {first}"
    );
    assert!(logs.contains("dc-gateway stopped"), "{logs}");
}

#[test]
fn serve_refuses_a_bad_configuration_with_one_clear_line() {
    let data = tempfile::tempdir().expect("tempdir");
    let cfg = data.path().join("bad.toml");
    std::fs::write(&cfg, "[engine]\nspf_all_qualifier = \"!\"\n").expect("config");
    let o = Command::new(env!("CARGO_BIN_EXE_dc-gateway"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .current_dir(repo())
        .output()
        .expect("runs");
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("spf_all_qualifier"), "{err}");
}

#[test]
fn passwd_prints_a_verifiable_argon2_hash() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_dc-gateway"))
        .arg("passwd")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"s3cret pass\n")
        .expect("write");
    let o = child.wait_with_output().expect("output");
    assert!(o.status.success());
    let hash = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(dc_gateway::auth::verify_password("s3cret pass", &hash));
    assert!(!dc_gateway::auth::verify_password("s3cret pass\n", &hash));
}
