//! Login and zone authorization beyond the local users: OpenID Connect against a real OpenID
//! Provider (the npm `oidc-provider` package, started by this test; installed by
//! scripts/services/oidc.sh), `claim` authorization from its ID token, and the `webhook`
//! authorization against a registrar API stand-in (cached, failing closed).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::TestApp;

const APPLY: &str = "/v2/domainTemplates/providers/demo.dc-gateway.example/services/website/apply";
const QUERY: &str = "domain=example.com&ip=192.0.2.50&token=t";

struct Op {
    child: Child,
    issuer: String,
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

fn provider_dir() -> Option<String> {
    match std::env::var("OIDC_PROVIDER_DIR") {
        Ok(d) => Some(d),
        Err(_) => {
            assert!(
                std::env::var_os("DCGW_REQUIRE_OIDC").is_none(),
                "DCGW_REQUIRE_OIDC is set but OIDC_PROVIDER_DIR is not"
            );
            eprintln!("skipped: no oidc-provider (OIDC_PROVIDER_DIR)");
            None
        }
    }
}

/// Starts the OpenID Provider on `port` for a gateway whose callback is `redirect`.
fn start_op(dir: &str, port: u16, redirect: &str) -> Op {
    let script = common::repo().join("tests/oidc/provider.mjs");
    let mut child = Command::new("node")
        .arg(script)
        .env("OIDC_PROVIDER_DIR", dir)
        .env("PORT", port.to_string())
        .env("REDIRECT_URI", redirect)
        .env("CLIENT_ID", "dc-gateway")
        .env("CLIENT_SECRET", "op-test-secret-0123456789")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("node");
    let out = child.stdout.take().expect("stdout");
    let mut reader = BufReader::new(out);
    let mut line = String::new();
    reader.read_line(&mut line).expect("read");
    assert_eq!(line.trim(), "ready", "the OpenID Provider did not start");
    // Keep draining its output, so a later write never meets a closed pipe.
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    Op {
        child,
        issuer: format!("http://127.0.0.1:{port}"),
    }
}

async fn oidc_app(dir: &str) -> (TestApp, Op) {
    let port = free_port();
    let issuer = format!("http://127.0.0.1:{port}");
    // Discovery is lazy, so the gateway may start before the provider.
    let app = TestApp::spawn(&format!(
        "[login]\nkind = \"oidc\"\n[login.oidc]\nissuer = \"{issuer}\"\nclient_id = \"dc-gateway\"\n\
         client_secret = \"op-test-secret-0123456789\"\nscopes = [\"openid\", \"profile\", \"dcgw\"]\n\
         zones_claim = \"dcgw_zones\"\n[authz]\nkind = \"claim\"\n"
    ))
    .await;
    let op = start_op(dir, port, &app.url("/login/oidc/callback"));
    assert_eq!(op.issuer, issuer);
    (app, op)
}

fn location(r: &reqwest::Response) -> String {
    r.headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Absolute form of a Location relative to `base`.
fn absolute(base: &str, loc: &str) -> String {
    url::Url::parse(base)
        .and_then(|b| b.join(loc))
        .map(|u| u.to_string())
        .expect("location")
}

/// Signs in at the provider as `user`, starting from the gateway's /login?next=..., and
/// returns the callback URL the provider sends the browser to (not yet visited).
async fn sign_in_at_op(app: &TestApp, c: &reqwest::Client, user: &str, next: &str) -> String {
    let r = c
        .get(app.url(&format!("/login?next={}", urlenc(next))))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);
    let mut url = location(&r);
    let auth = url::Url::parse(&url).expect("authorize URL");
    let q: std::collections::HashMap<_, _> = auth.query_pairs().into_owned().collect();
    assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"));
    assert!(q.contains_key("state") && q.contains_key("nonce") && q.contains_key("code_challenge"));
    assert_eq!(q.get("response_type").map(String::as_str), Some("code"));
    for _ in 0..10 {
        if url.starts_with(&app.url("/login/oidc/callback")) {
            return url;
        }
        let r = if url.contains("/interaction/") {
            let page = c.get(&url).send().await.expect("interaction");
            assert_eq!(page.status(), 200);
            c.post(&url)
                .form(&[("login", user)])
                .send()
                .await
                .expect("sign in")
        } else {
            c.get(&url).send().await.expect("follow")
        };
        assert!(
            r.status().is_redirection(),
            "{url}: {} {}",
            r.status(),
            r.text().await.unwrap_or_default()
        );
        url = absolute(&url, &location(&r));
    }
    panic!("the provider never sent the browser back: {url}");
}

fn urlenc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oidc_login_and_claim_authorization() {
    let Some(dir) = provider_dir() else { return };
    let (app, _op) = oidc_app(&dir).await;
    let apply = format!("{APPLY}?{QUERY}");

    // Not signed in: the sync flow sends the user to /login, which goes to the provider.
    let c = TestApp::client();
    let r = c.get(app.url(&apply)).send().await.expect("apply");
    assert!(r.status().is_redirection());
    assert!(location(&r).contains("/login?next="), "{}", location(&r));

    let cb = sign_in_at_op(&app, &c, "alice", &apply).await;
    let r = c.get(&cb).send().await.expect("callback");
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    assert_eq!(location(&r), apply, "back where the login started");
    let page = c.get(app.url(&apply)).send().await.expect("consent");
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("alice") && html.contains("Approve"), "{html}");

    // The same callback again (a replayed code, the pending login already used): refused.
    let r = c.get(&cb).send().await.expect("replay");
    assert!(r.status() == 400 || r.status() == 403, "{}", r.status());

    // bob's claim lists example.org and "*": neither lets him change example.com.
    let bob = TestApp::client();
    let cb = sign_in_at_op(&app, &bob, "bob", &apply).await;
    assert_eq!(bob.get(&cb).send().await.expect("cb").status(), 303);
    let r = bob.get(app.url(&apply)).send().await.expect("consent");
    assert_eq!(r.status(), 403);
    assert!(r.text().await.expect("body").contains("Nothing was changed"));

    // A user without the configured user-name claim gets no session.
    let nameless = TestApp::client();
    let cb = sign_in_at_op(&app, &nameless, "nameless", "/account").await;
    assert_eq!(nameless.get(&cb).send().await.expect("cb").status(), 403);
    let r = nameless.get(app.url("/account")).send().await.expect("account");
    assert!(r.status().is_redirection(), "still signed out");

    // A tampered state, or a callback without the pending-login cookie, is refused.
    let eve = TestApp::client();
    let cb = sign_in_at_op(&app, &eve, "alice", "/account").await;
    let tampered = url::Url::parse(&cb)
        .map(|mut u| {
            let pairs: Vec<(String, String)> = u
                .query_pairs()
                .map(|(k, v)| {
                    let v = if k == "state" {
                        format!("{v}x")
                    } else {
                        v.into_owned()
                    };
                    (k.into_owned(), v)
                })
                .collect();
            u.query_pairs_mut().clear().extend_pairs(pairs);
            u.to_string()
        })
        .expect("url");
    assert_eq!(eve.get(&tampered).send().await.expect("cb").status(), 400);
    let stranger = TestApp::client();
    assert_eq!(stranger.get(&cb).send().await.expect("cb").status(), 400);
    // The provider's refusal comes back as an error, not a session.
    let r = stranger
        .get(app.url("/login/oidc/callback?error=access_denied&state=x"))
        .send()
        .await
        .expect("cb");
    assert!(r.status().is_client_error());

    // Nothing of this changed the zone.
    let zone = app.zone_text("example.com");
    assert!(!zone.contains("192.0.2.50"), "{zone}");
}

#[tokio::test]
async fn oidc_provider_down_is_a_clear_error() {
    let port = free_port();
    let app = TestApp::spawn(&format!(
        "[login]\nkind = \"oidc\"\n[login.oidc]\nissuer = \"http://127.0.0.1:{port}\"\n\
         client_id = \"dc-gateway\"\ntimeout_ms = 1000\n"
    ))
    .await;
    let c = TestApp::client();
    let r = c
        .get(app.url("/login?next=/account"))
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 502);
    assert!(r.text().await.expect("body").contains("cannot be reached"));
}

/// A registrar API stand-in: allows demo on example.com, counts the questions, and answers
/// 500 for example.net.
async fn registrar_api(calls: Arc<AtomicUsize>) -> (String, actix_web::dev::ServerHandle) {
    use actix_web::{App, HttpResponse, HttpServer, web};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/authz", listener.local_addr().expect("addr"));
    let srv = HttpServer::new(move || {
        let calls = calls.clone();
        App::new().route(
            "/authz",
            web::post().to(
                move |req: actix_web::HttpRequest, body: web::Json<serde_json::Value>| {
                    let calls = calls.clone();
                    async move {
                        calls.fetch_add(1, Ordering::SeqCst);
                        let auth = req
                            .headers()
                            .get("authorization")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_string();
                        if auth != "Bearer registrar-token" {
                            return HttpResponse::Unauthorized().finish();
                        }
                        if body["zone"] == "example.net" {
                            return HttpResponse::InternalServerError().finish();
                        }
                        let allowed = body["user"] == "demo" && body["zone"] == "example.com";
                        HttpResponse::Ok().json(serde_json::json!({"allowed": allowed}))
                    }
                },
            ),
        )
    })
    .workers(1)
    .listen(listener)
    .expect("listen")
    .run();
    let handle = srv.handle();
    tokio::spawn(srv);
    (url, handle)
}

#[tokio::test]
async fn webhook_authorization_is_cached_and_fails_closed() {
    let calls = Arc::new(AtomicUsize::new(0));
    let (url, _h) = registrar_api(calls.clone()).await;
    let app = TestApp::spawn(&format!(
        "[authz]\nkind = \"webhook\"\n[authz.webhook]\nurl = \"{url}\"\nbearer_token = \"registrar-token\"\n\
         cache_secs = 60\ntimeout_ms = 1000\n"
    ))
    .await;
    let c = TestApp::client();
    let r = c
        .post(app.url("/login"))
        .form(&[("username", "demo"), ("password", "demo"), ("next", "/")])
        .send()
        .await
        .expect("login");
    assert_eq!(r.status(), 303);

    let apply = |domain: &str| app.url(&format!("{APPLY}?domain={domain}&ip=192.0.2.50&token=t"));
    assert_eq!(
        c.get(apply("example.com")).send().await.expect("get").status(),
        200
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Cached: a second look does not ask again.
    assert_eq!(
        c.get(apply("example.com")).send().await.expect("get").status(),
        200
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // The registrar's API errs: refused (fail closed), and the failure is not cached.
    for _ in 0..2 {
        let r = c.get(apply("example.net")).send().await.expect("get");
        assert_eq!(r.status(), 403, "a failing webhook refuses");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    // A definite "no".
    let r = c.get(apply("example.org")).send().await.expect("get");
    assert_eq!(r.status(), 403);
    assert!(!app.zone_text("example.com").contains("192.0.2.50"));
}

#[tokio::test]
async fn webhook_unreachable_refuses() {
    let port = free_port();
    let app = TestApp::spawn(&format!(
        "[authz]\nkind = \"webhook\"\n[authz.webhook]\nurl = \"http://127.0.0.1:{port}/authz\"\ntimeout_ms = 500\n"
    ))
    .await;
    let c = TestApp::client();
    c.post(app.url("/login"))
        .form(&[("username", "demo"), ("password", "demo"), ("next", "/")])
        .send()
        .await
        .expect("login");
    let r = c
        .get(app.url(&format!("{APPLY}?{QUERY}")))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 403);
}
