//! Signed synchronous requests, black-box, with the keys served by a real DNS server (Knot,
//! started by the test setup; records published with RFC 2136 updates).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use base64::Engine;
use common::TestApp;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer};

const PKD: &str = "keys.sp.example";

struct Dns {
    server: String,
    tsig: String,
}

fn dns() -> Option<Dns> {
    match (std::env::var("KNOT_DNS"), std::env::var("KNOT_TSIG")) {
        (Ok(server), Ok(tsig)) => Some(Dns { server, tsig }),
        _ => {
            assert!(
                std::env::var_os("DCGW_REQUIRE_KNOT").is_none(),
                "DCGW_REQUIRE_KNOT is set but KNOT_DNS is not"
            );
            eprintln!("skipped: no Knot (KNOT_DNS)");
            None
        }
    }
}

impl Dns {
    fn update(&self, commands: &str) {
        let (host, port) = self.server.split_once(':').expect("IP:PORT");
        let mut child = Command::new("nsupdate")
            .args(["-y", &self.tsig])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("nsupdate");
        let script = format!("server {host} {port}\nzone {PKD}\n{commands}\nsend\n");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(script.as_bytes())
            .expect("write");
        assert!(child.wait().expect("wait").success(), "nsupdate: {commands}");
    }

    /// Publishes `public` at `<label>.keys.sp.example` split over `rrs` records, each record's
    /// data split over (at least) `strings` character-strings.
    fn publish(&self, label: &str, public: &rsa::PublicKey, rrs: usize, strings: usize) {
        let der = public.to_public_key_der().expect("der");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_bytes());
        let size = b64.len().div_ceil(rrs);
        let mut cmds = format!("update delete {label}.{PKD} TXT\n");
        for (i, chunk) in b64.as_bytes().chunks(size).enumerate() {
            let text = format!("p={},a=RS256,d={}", i + 1, String::from_utf8_lossy(chunk));
            // A character-string holds at most 255 octets.
            let step = text.len().div_ceil(strings.max(text.len().div_ceil(255)));
            let parts: Vec<String> = text
                .as_bytes()
                .chunks(step)
                .map(|c| format!("\"{}\"", String::from_utf8_lossy(c)))
                .collect();
            cmds.push_str(&format!("update add {label}.{PKD} 300 TXT {}\n", parts.join(" ")));
        }
        self.update(&cmds);
    }
}

fn keypair() -> (rsa::PrivateKey, rsa::PublicKey) {
    let private = rsa::PrivateKey::new(&mut rand::rng(), 2048).expect("key");
    let public = private.to_public_key();
    (private, public)
}

fn label() -> String {
    let mut b = [0u8; 4];
    rand::fill(&mut b);
    format!("_k{}", b.iter().map(|x| format!("{x:02x}")).collect::<String>())
}

fn sign(private: &rsa::PrivateKey, qs: &str) -> String {
    let s = SigningKey::<Sha256>::new(private.clone()).sign(qs.as_bytes());
    url::form_urlencoded::byte_serialize(
        base64::engine::general_purpose::STANDARD
            .encode(s.to_vec())
            .as_bytes(),
    )
    .collect()
}

async fn app(dns: &Dns) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = serde_json::json!({
        "providerId": "sp.example", "providerName": "Signed SP", "serviceId": "web", "serviceName": "Web",
        "syncPubKeyDomain": PKD,
        "records": [{"type": "TXT", "host": "@", "data": "sp-verify=%token%", "ttl": 300,
                     "txtConflictMatchingMode": "Prefix", "txtConflictMatchingPrefix": "sp-verify="}]
    });
    std::fs::write(dir.path().join("sp.example.web.json"), t.to_string()).expect("template");
    let overrides = format!(
        "[templates]\ndir = \"{}\"\n[dns]\nresolver = \"{}\"\n",
        dir.path().display(),
        dns.server
    );
    let app = TestApp::spawn(&overrides).await;
    (app, dir)
}

const APPLY: &str = "/v2/domainTemplates/providers/sp.example/services/web/apply";

async fn login(app: &TestApp, c: &reqwest::Client) {
    c.post(app.url("/login"))
        .form(&[("username", "demo"), ("password", "demo"), ("next", "/")])
        .send()
        .await
        .expect("login");
}

async fn get(app: &TestApp, c: &reqwest::Client, query: &str) -> (u16, String, String) {
    let r = c
        .get(app.url(&format!("{APPLY}?{query}")))
        .send()
        .await
        .expect("get");
    let status = r.status().as_u16();
    let loc = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, loc, r.text().await.expect("body"))
}

#[tokio::test]
async fn signed_requests_in_every_shape_are_accepted_and_others_refused() {
    let Some(dns) = dns() else { return };
    let (app, _t) = app(&dns).await;
    let c = TestApp::client();
    login(&app, &c).await;
    let (private, public) = keypair();
    let key = label();
    // Over three TXT records, each split over two strings.
    dns.publish(&key, &public, 3, 2);

    // The PyPI client's form: sorted, form-encoded, sig then key.
    let qs = "domain=example.com&redirect_uri=https%3A%2F%2Fanywhere.test%2Fdone&state=s&token=a+b";
    let signed = format!("{qs}&sig={}&key={key}", sign(&private, qs));
    let (status, _, html) = get(&app, &c, &signed).await;
    assert_eq!(status, 200, "{html}");
    assert!(
        !html.contains("Check that you started this"),
        "no phishing warning when signed"
    );
    assert!(html.contains("sp-verify=a b"), "{html}");

    // Unsorted, key before sig, sig in the middle.
    let qs2 = "token=x&domain=example.com";
    for q in [
        format!("{qs2}&key={key}&sig={}", sign(&private, qs2)),
        format!("key={key}&{qs2}&sig={}", sign(&private, qs2)),
        format!("token=x&sig={}&domain=example.com&key={key}", sign(&private, qs2)),
    ] {
        let (status, _, html) = get(&app, &c, &q).await;
        assert_eq!(status, 200, "{q}: {html}");
    }

    // Refused: tampered, extended, unsigned, wrong key, missing key record, bad label.
    let (other, _) = keypair();
    let refused = [
        signed.replace("token=a+b", "token=a+c"),
        format!("{signed}&blah=blah"),
        qs.to_string(),
        format!("{qs}&sig={}&key={key}", sign(&other, qs)),
        format!("{qs}&sig={}&key=_nokey", sign(&private, qs)),
        format!("{qs}&sig={}&key=a.b", sign(&private, qs)),
        format!("{qs}&sig={}&sig=x&key={key}", sign(&private, qs)),
    ];
    let before = app.zone_text("example.com");
    for q in &refused {
        let (status, loc, html) = get(&app, &c, q).await;
        assert!(status == 403 || status == 400, "{q}: {status}");
        assert!(
            loc.is_empty(),
            "no redirect to an unlisted domain without a valid signature: {loc}"
        );
        assert!(html.contains("Nothing was changed"), "{html}");
    }
    assert_eq!(app.zone_text("example.com"), before);
}

#[tokio::test]
async fn rotated_keys_and_the_key_cache() {
    let Some(dns) = dns() else { return };
    let (app, _t) = app(&dns).await;
    let c = TestApp::client();
    login(&app, &c).await;
    let (old, old_pub) = keypair();
    let (new, new_pub) = keypair();
    let (k1, k2) = (label(), label());
    dns.publish(&k1, &old_pub, 1, 1);
    dns.publish(&k2, &new_pub, 2, 1);
    let qs = "domain=example.com&token=rot";
    assert_eq!(
        get(&app, &c, &format!("{qs}&sig={}&key={k1}", sign(&old, qs)))
            .await
            .0,
        200
    );
    assert_eq!(
        get(&app, &c, &format!("{qs}&sig={}&key={k2}", sign(&new, qs)))
            .await
            .0,
        200
    );
    // The old key under the new label does not verify.
    assert_eq!(
        get(&app, &c, &format!("{qs}&sig={}&key={k2}", sign(&old, qs)))
            .await
            .0,
        403
    );
    // Cached by TTL: withdrawing the record does not stop a key already fetched...
    dns.update(&format!("update delete {k1}.{PKD} TXT"));
    assert_eq!(
        get(&app, &c, &format!("{qs}&sig={}&key={k1}", sign(&old, qs)))
            .await
            .0,
        200
    );
    // ...while a label never seen is looked up and not found.
    let k3 = label();
    assert_eq!(
        get(&app, &c, &format!("{qs}&sig={}&key={k3}", sign(&old, qs)))
            .await
            .0,
        403
    );
    dns.publish(&k3, &old_pub, 1, 1);
    assert_eq!(
        get(&app, &c, &format!("{qs}&sig={}&key={k3}", sign(&old, qs)))
            .await
            .0,
        403,
        "a missing key is remembered for a short while (negative cache)"
    );
}

#[tokio::test]
async fn a_signed_request_may_redirect_anywhere_and_approve_applies() {
    let Some(dns) = dns() else { return };
    let (app, _t) = app(&dns).await;
    let c = TestApp::client();
    login(&app, &c).await;
    let (private, public) = keypair();
    let key = label();
    dns.publish(&key, &public, 1, 1);
    let qs = "domain=example.com&redirect_uri=https%3A%2F%2Fsp-elsewhere.test%2Fback&state=zz&token=ok";
    let (_, _, html) = get(&app, &c, &format!("{qs}&sig={}&key={key}", sign(&private, qs))).await;
    let field = |n: &str| {
        let m = format!("name=\"{n}\" value=\"");
        let s = html.find(&m).map(|i| i + m.len()).expect("field");
        html[s..s + html[s..].find('"').expect("end")]
            .replace("&amp;", "&")
            .replace("&#x2F;", "/")
    };
    let form = [
        ("query", field("query")),
        ("digest", field("digest")),
        ("csrf", field("csrf")),
        ("decision", "approve".into()),
    ];
    let r = c.post(app.url(APPLY)).form(&form).send().await.expect("post");
    assert_eq!(r.status(), 303);
    assert_eq!(
        r.headers().get("location").and_then(|v| v.to_str().ok()),
        Some("https://sp-elsewhere.test/back?state=zz")
    );
    assert!(app.zone_text("example.com").contains("\"sp-verify=ok\""));
}
