//! End to end with the real PyPI `domain-connect` client against a running gateway: discovery
//! through Knot, settings over HTTPS with a test certificate, the template check, the async
//! consent (approved through the UI), the token, apply with force=false (409) and
//! force=true, a refresh, revert; and sync URLs built by the client, unsigned and signed
//! (the key published in Knot). The steps and their
//! checks are in tests/e2e/client_e2e.py; this test sets the stage and runs it.

use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn required(var: &str) -> bool {
    std::env::var_os("DCGW_REQUIRE_E2E").is_some() && !var.is_empty()
}

#[test]
fn the_python_client_walks_discovery_async_and_sync() {
    let (python, knot, tsig) = match (
        std::env::var("DCGW_E2E_PYTHON"),
        std::env::var("KNOT_DNS"),
        std::env::var("KNOT_TSIG"),
    ) {
        (Ok(p), Ok(k), Ok(t)) => (p, k, t),
        _ => {
            assert!(
                !required("x"),
                "DCGW_REQUIRE_E2E is set but DCGW_E2E_PYTHON, KNOT_DNS or KNOT_TSIG is not"
            );
            eprintln!("skipped: the e2e client setup (scripts/setup-e2e.sh, Knot) is not there");
            return;
        }
    };
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let bin = env!("CARGO_BIN_EXE_dc-gateway");
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(ok.success(), "a test certificate");
    let data = dir.path().join("data");
    // The shipped templates plus one whose sync requests must be signed with a key under
    // keys.sp.example (a zone of the test's Knot, where the script publishes the key).
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).expect("templates dir");
    for entry in std::fs::read_dir(repo.join("templates")).expect("templates") {
        let path = entry.expect("entry").path();
        if let Some(name) = path.file_name() {
            std::fs::copy(&path, templates.join(name)).expect("copy template");
        }
    }
    let signed = serde_json::json!({
        "providerId": "demo.dc-gateway.example", "providerName": "dc-gateway demo",
        "serviceId": "signed", "serviceName": "Signed verification",
        "syncPubKeyDomain": "keys.sp.example",
        "records": [{"type": "TXT", "host": "@", "data": "signed-by-pyc=%token%", "ttl": 300,
                     "txtConflictMatchingMode": "Prefix", "txtConflictMatchingPrefix": "signed-by-pyc="}]
    });
    std::fs::write(
        templates.join("demo.dc-gateway.example.signed.json"),
        signed.to_string(),
    )
    .expect("signed template");
    let redirect = "https://demo.dc-gateway.example/oauth/cb";
    let out = Command::new(bin)
        .args([
            "clients",
            "add",
            "--client-id",
            "demo.dc-gateway.example",
            "--redirect-uri",
            redirect,
        ])
        .env("DCGW__SERVER__DATA_DIR", &data)
        .current_dir(&repo)
        .output()
        .expect("clients add");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let secret = stdout
        .lines()
        .find_map(|l| l.strip_prefix("client_secret: "))
        .expect("secret")
        .to_string();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let gateway = format!("https://127.0.0.1:{port}");
    let mut child = Command::new(bin)
        .arg("serve")
        .current_dir(&repo)
        .env("DCGW__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("DCGW__SERVER__PUBLIC_URL", &gateway)
        .env("DCGW__SERVER__DATA_DIR", &data)
        .env("DCGW__SERVER__TLS_CERT_FILE", &cert)
        .env("DCGW__SERVER__TLS_KEY_FILE", &key)
        .env("DCGW__TEMPLATES__DIR", &templates)
        .env("DCGW__DNS__RESOLVER", &knot)
        .env("DCGW_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("gateway");
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the gateway did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = Command::new(&python)
        .arg(repo.join("tests/e2e/client_e2e.py"))
        .env("GATEWAY", &gateway)
        .env("KNOT_DNS", &knot)
        .env("KNOT_TSIG", &tsig)
        .env("ZONE_FILE", data.join("zones/example.com.zone"))
        .env("CLIENT_ID", "demo.dc-gateway.example")
        .env("CLIENT_SECRET", &secret)
        .env("REDIRECT_URI", redirect)
        .env("REQUESTS_CA_BUNDLE", &cert)
        .output()
        .expect("python");
    let _ = child.kill();
    let _ = child.wait();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&run.stdout),
        String::from_utf8_lossy(&run.stderr)
    );
    println!("{text}");
    assert!(run.status.success(), "{text}");
    assert!(text.contains(" passed, 0 failed"), "{text}");
}
