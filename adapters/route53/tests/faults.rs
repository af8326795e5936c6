//! Faults of Route 53 (moto, scripts/services/moto.sh; MOTO_URL), on the hosted zone
//! r53-faults.example. A small HTTP proxy in front of moto records every request the adapter
//! sends and injects Route 53's faults: throttling, 5xx, an endpoint that never answers, a
//! refused batch, refused credentials. Each gives a typed error, and the zone read back from
//! moto is unchanged. moto does not make a batch atomic, so atomicity is proven by the
//! request: one `ChangeResourceRecordSets` per change set, an exact DELETE before each CREATE.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use dcgw_adapter::{Adapter, AdapterError, ChangeSet, Expect, RRset, RRsetChange};
use dcgw_route53::{Route53Adapter, Route53Options};
use dcgw_testkit::build;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ZONE: &str = "r53-faults.example.";
const SECRET: &str = "dcgw-route53-test-secret-0123456789";

fn moto() -> Option<String> {
    match std::env::var("MOTO_URL") {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                std::env::var("DCGW_REQUIRE_MOTO").as_deref() != Ok("1"),
                "DCGW_REQUIRE_MOTO=1 but MOTO_URL is not set"
            );
            eprintln!("skipped: no moto (MOTO_URL)");
            None
        }
    }
}

/// One request the proxy saw.
#[derive(Clone, Debug)]
struct Seen {
    method: String,
    path: String,
    head: String,
    body: String,
}

impl Seen {
    fn is_change(&self) -> bool {
        self.method == "POST" && self.path.ends_with("/rrset")
    }
}

/// What the proxy does with a request.
#[derive(Clone)]
enum Rule {
    Forward,
    Fail(u16, String),
    Hang,
}

type Policy = Arc<dyn Fn(&Seen, usize) -> Rule + Send + Sync>;

struct Proxy {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Proxy {
    fn changes(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .expect("seen")
            .iter()
            .filter(|s| s.is_change())
            .cloned()
            .collect()
    }
}

fn error_xml(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\
         <Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>dcgw-test</RequestId></ErrorResponse>"
    )
}

/// Route 53's answer to a refused batch (the standard error shape since 2024).
fn invalid_change_batch(message: &str) -> String {
    error_xml("InvalidChangeBatch", message)
}

/// The shape Route 53 used before, which the SDK does not parse by itself.
fn legacy_invalid_change_batch(message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InvalidChangeBatch xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\
         <Messages><Message>{message}</Message></Messages><RequestId>dcgw-test</RequestId></InvalidChangeBatch>"
    )
}

async fn read_request(s: &mut TcpStream) -> Option<(Seen, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let len = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut first = head.lines().next().unwrap_or("").split(' ');
    let seen = Seen {
        method: first.next().unwrap_or("").to_string(),
        path: first.next().unwrap_or("").to_string(),
        head: head.clone(),
        body: String::from_utf8_lossy(&buf[head_end..head_end + len]).to_string(),
    };
    // Forward with the connection closed after one exchange.
    let mut out = Vec::new();
    for l in head.split("\r\n").filter(|l| !l.is_empty()) {
        if l.to_ascii_lowercase().starts_with("connection:") {
            continue;
        }
        out.extend_from_slice(l.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Connection: close\r\n\r\n");
    out.extend_from_slice(&buf[head_end..head_end + len]);
    Some((seen, out))
}

async fn proxy(upstream: &str, policy: Policy) -> Proxy {
    let upstream: SocketAddr = upstream
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("moto address");
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", l.local_addr().expect("addr"));
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else { return };
            let (log, policy) = (log.clone(), policy.clone());
            tokio::spawn(async move {
                let Some((req, raw)) = read_request(&mut s).await else {
                    return;
                };
                let changes_before = {
                    let mut l = log.lock().expect("log");
                    let n = l.iter().filter(|x| x.is_change()).count();
                    l.push(req.clone());
                    n
                };
                match policy(&req, changes_before) {
                    Rule::Hang => tokio::time::sleep(Duration::from_secs(3600)).await,
                    Rule::Fail(status, body) => {
                        let resp = format!(
                            "HTTP/1.1 {status} Error\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                            body.len()
                        );
                        let _ = s.write_all(resp.as_bytes()).await;
                    }
                    Rule::Forward => {
                        let Ok(mut up) = TcpStream::connect(upstream).await else {
                            return;
                        };
                        if up.write_all(&raw).await.is_err() {
                            return;
                        }
                        let mut resp = Vec::new();
                        let _ = up.read_to_end(&mut resp).await;
                        let _ = s.write_all(&resp).await;
                    }
                }
                let _ = s.shutdown().await;
            });
        }
    });
    Proxy { url, seen }
}

fn forward_all() -> Policy {
    Arc::new(|_, _| Rule::Forward)
}

/// Every change request answered `status` with `body`; everything else forwarded.
fn fail_changes(status: u16, body: String) -> Policy {
    Arc::new(move |s, _| {
        if s.is_change() {
            Rule::Fail(status, body.clone())
        } else {
            Rule::Forward
        }
    })
}

fn options(url: &str) -> Route53Options {
    Route53Options {
        endpoint_url: Some(url.to_string()),
        static_credentials: Some(("AKIDDCGWTEST".into(), SECRET.into())),
        initial_backoff: Duration::from_millis(20),
        ..Route53Options::default()
    }
}

fn put(name: &str, rtype: &str, data: &[&str], expect: Expect) -> RRsetChange {
    build::put(name, rtype, 300, data, expect)
}

fn del(name: &str, rtype: &str, expect: Expect) -> RRsetChange {
    build::del(name, rtype, expect)
}

fn cs(changes: Vec<RRsetChange>) -> ChangeSet {
    build::change_set(ZONE, changes)
}

async fn owners(a: &Route53Adapter, names: &[&str]) -> Vec<RRset> {
    build::owners(a, ZONE, names).await
}

async fn clean(a: &Route53Adapter, names: &[&str]) {
    build::clear(a, ZONE, names, 200).await
}

fn assert_no_secret(e: &AdapterError) {
    assert!(!e.to_string().contains(SECRET), "{e}");
    assert!(!format!("{e:?}").contains(SECRET), "{e:?}");
}

#[tokio::test]
async fn one_change_set_is_one_batch_of_exact_deletes_before_creates() {
    let Some(url) = moto() else { return };
    let direct = Route53Adapter::new(options(&url));
    let (a, b, c) = (
        "one-a.r53-faults.example.",
        "one-b.r53-faults.example.",
        "one-c.r53-faults.example.",
    );
    clean(&direct, &[a, b, c]).await;
    direct
        .apply(&cs(vec![
            put(a, "A", &["192.0.2.1", "192.0.2.2"], Expect::Absent),
            put(c, "MX", &["10 mail.example.net."], Expect::Absent),
        ]))
        .await
        .expect("seed");
    let p = proxy(&url, forward_all()).await;
    let via = Route53Adapter::new(options(&p.url));
    via.apply(&cs(vec![
        put(
            a,
            "A",
            &["192.0.2.3"],
            Expect::Exactly(vec!["192.0.2.2".into(), "192.0.2.1".into()]),
        ),
        put(b, "TXT", &["\"new\""], Expect::Absent),
        del(c, "MX", Expect::Exactly(vec!["10 mail.example.net.".into()])),
    ]))
    .await
    .expect("apply");
    let changes = p.changes();
    assert_eq!(changes.len(), 1, "one request for the whole change set");
    let body = &changes[0].body;
    let actions: Vec<&str> = body
        .match_indices("<Action>")
        .map(|(i, _)| {
            let rest = &body[i + 8..];
            &rest[..rest.find('<').unwrap_or(0)]
        })
        .collect();
    assert_eq!(actions, ["DELETE", "CREATE", "CREATE", "DELETE"], "{body}");
    // The DELETE names the RRset exactly as Route 53 holds it: both values and the TTL.
    let first = &body[..body.find("</Change>").expect("change")];
    assert!(
        first.contains("192.0.2.1") && first.contains("192.0.2.2") && first.contains("<TTL>300</TTL>"),
        "{first}"
    );
    assert!(!changes[0].head.contains(SECRET), "the secret never travels");
    assert!(
        changes[0].head.contains("Credential=AKIDDCGWTEST/"),
        "{}",
        changes[0].head
    );
    let now = owners(&direct, &[a, b, c]).await;
    let got: Vec<(String, Vec<String>)> = now.iter().map(|s| (s.rtype.clone(), s.data.clone())).collect();
    assert_eq!(
        got,
        vec![
            ("A".to_string(), vec!["192.0.2.3".to_string()]),
            ("TXT".into(), vec!["\"new\"".into()])
        ]
    );
    clean(&direct, &[a, b, c]).await;
}

#[tokio::test]
async fn a_refused_batch_changes_nothing() {
    let Some(url) = moto() else { return };
    let direct = Route53Adapter::new(options(&url));
    let (a, b) = ("refused-a.r53-faults.example.", "refused-b.r53-faults.example.");
    clean(&direct, &[a, b]).await;
    direct
        .apply(&cs(vec![put(b, "TXT", &["\"old\""], Expect::Absent)]))
        .await
        .expect("seed");
    let before = owners(&direct, &[a, b]).await;
    // Route 53 refuses the batch because b changed since it was read (another writer).
    let message = format!(
        "[Tried to delete resource record set [name='{b}', type='TXT'] but the values provided do not match the current values]"
    );
    let p = proxy(&url, fail_changes(400, invalid_change_batch(&message))).await;
    let via = Route53Adapter::new(options(&p.url));
    let e = via
        .apply(&cs(vec![
            put(a, "A", &["192.0.2.9"], Expect::Absent),
            put(b, "TXT", &["\"new\""], Expect::Exactly(vec!["\"old\"".into()])),
        ]))
        .await
        .expect_err("refused");
    assert_eq!(
        e,
        AdapterError::PreconditionFailed {
            name: b.into(),
            rtype: "TXT".into()
        }
    );
    assert_eq!(p.changes().len(), 1, "not retried");
    // The same in the older shape.
    let message = format!("Tried to create resource record set [name='{a}', type='A'] but it already exists");
    let p = proxy(&url, fail_changes(400, legacy_invalid_change_batch(&message))).await;
    let e = Route53Adapter::new(options(&p.url))
        .apply(&cs(vec![put(a, "A", &["192.0.2.9"], Expect::Absent)]))
        .await
        .expect_err("refused");
    assert_eq!(
        e,
        AdapterError::PreconditionFailed {
            name: a.into(),
            rtype: "A".into()
        }
    );
    // Any other refusal of the batch is Rejected, with Route 53's words.
    let p = proxy(
        &url,
        Arc::new(|s, _| {
            if s.is_change() {
                Rule::Fail(
                    400,
                    invalid_change_batch("[RRSet of type CNAME with DNS name x. is not permitted at apex]"),
                )
            } else {
                Rule::Forward
            }
        }),
    )
    .await;
    let e = Route53Adapter::new(options(&p.url))
        .apply(&cs(vec![put(a, "A", &["192.0.2.9"], Expect::Absent)]))
        .await
        .expect_err("refused");
    assert!(
        matches!(e, AdapterError::Rejected(ref m) if m.contains("not permitted at apex")),
        "{e:?}"
    );
    assert_eq!(owners(&direct, &[a, b]).await, before, "the zone is unchanged");
    clean(&direct, &[a, b]).await;
}

#[tokio::test]
async fn throttling_is_retried_with_backoff_then_reported() {
    let Some(url) = moto() else { return };
    let direct = Route53Adapter::new(options(&url));
    let owner = "throttle.r53-faults.example.";
    clean(&direct, &[owner]).await;
    // Two PriorRequestNotComplete answers, then Route 53 takes the batch.
    let p = proxy(
        &url,
        Arc::new(|s, n| {
            if s.is_change() && n < 2 {
                Rule::Fail(
                    400,
                    error_xml(
                        "PriorRequestNotComplete",
                        "The request was rejected because Route 53 was still processing a prior request.",
                    ),
                )
            } else {
                Rule::Forward
            }
        }),
    )
    .await;
    let start = std::time::Instant::now();
    Route53Adapter::new(options(&p.url))
        .apply(&cs(vec![put(owner, "A", &["192.0.2.1"], Expect::Absent)]))
        .await
        .expect("applied after retries");
    assert_eq!(p.changes().len(), 3, "two retries");
    assert!(start.elapsed() >= Duration::from_millis(1), "backed off");
    assert_eq!(owners(&direct, &[owner]).await.len(), 1);

    // Throttling that does not pass: reported as Throttled after the attempts, nothing written.
    let p = proxy(&url, fail_changes(400, error_xml("Throttling", "Rate exceeded"))).await;
    let mut o = options(&p.url);
    o.max_attempts = 3;
    let e = Route53Adapter::new(o)
        .apply(&cs(vec![put(
            owner,
            "A",
            &["192.0.2.2"],
            Expect::Exactly(vec!["192.0.2.1".into()]),
        )]))
        .await
        .expect_err("throttled");
    assert!(matches!(e, AdapterError::Throttled { .. }), "{e:?}");
    assert_eq!(p.changes().len(), 3, "max_attempts");
    let now = owners(&direct, &[owner]).await;
    assert_eq!(now[0].data, vec!["192.0.2.1".to_string()], "unchanged");
    clean(&direct, &[owner]).await;
}

#[tokio::test]
async fn unreachable_slow_failing_and_refused_endpoints_change_nothing() {
    let Some(url) = moto() else { return };
    let direct = Route53Adapter::new(options(&url));
    let owner = "down.r53-faults.example.";
    clean(&direct, &[owner]).await;
    direct
        .apply(&cs(vec![put(owner, "A", &["192.0.2.1"], Expect::Absent)]))
        .await
        .expect("seed");
    let before = owners(&direct, &[owner]).await;
    let change = cs(vec![put(
        owner,
        "A",
        &["192.0.2.99"],
        Expect::Exactly(vec!["192.0.2.1".into()]),
    )]);

    // Stopped.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let mut o = options(&closed);
    o.max_attempts = 2;
    let e = Route53Adapter::new(o).apply(&change).await.expect_err("down");
    assert!(
        matches!(e, AdapterError::Transient(ref m) if m.contains("connect")),
        "{e:?}"
    );
    assert_no_secret(&e);

    // Slow: the endpoint takes the request and never answers.
    let p = proxy(&url, Arc::new(|_, _| Rule::Hang)).await;
    let mut o = options(&p.url);
    o.timeout = Duration::from_millis(300);
    o.max_attempts = 1;
    let e = Route53Adapter::new(o)
        .find_zone(owner)
        .await
        .expect_err("timeout");
    assert!(
        matches!(e, AdapterError::Transient(ref m) if m.contains("timed out")),
        "{e:?}"
    );

    // 5xx on the write, retried, then reported.
    let p = proxy(
        &url,
        fail_changes(500, error_xml("InternalFailure", "An internal error occurred.")),
    )
    .await;
    let mut o = options(&p.url);
    o.max_attempts = 2;
    let e = Route53Adapter::new(o).apply(&change).await.expect_err("500");
    assert!(
        matches!(e, AdapterError::Transient(ref m) if m.contains("500")),
        "{e:?}"
    );
    assert_eq!(p.changes().len(), 2);

    // Refused credentials: never retried, never printed.
    for code in ["SignatureDoesNotMatch", "InvalidClientTokenId", "AccessDenied"] {
        let p = proxy(
            &url,
            Arc::new(move |_, _| {
                Rule::Fail(
                    403,
                    error_xml(code, "The request signature we calculated does not match"),
                )
            }),
        )
        .await;
        let e = Route53Adapter::new(options(&p.url))
            .apply(&change)
            .await
            .expect_err("403");
        assert!(
            matches!(e, AdapterError::Unauthorized(ref m) if m.contains(code)),
            "{e:?}"
        );
        assert_no_secret(&e);
    }
    assert_eq!(owners(&direct, &[owner]).await, before, "the zone is unchanged");
    clean(&direct, &[owner]).await;
}

/// 600 TXT RRsets of two records: 1,200 records, more than one batch holds.
fn big_change_set() -> (Vec<String>, ChangeSet) {
    let names: Vec<String> = (0..600).map(|i| format!("big{i}.r53-faults.example.")).collect();
    let changes = names
        .iter()
        .map(|n| put(n, "TXT", &["\"a\"", "\"b\""], Expect::Absent))
        .collect();
    (names, cs(changes))
}

#[tokio::test]
async fn a_change_set_over_the_batch_limits_is_refused_whole_or_split_and_undone() {
    let Some(url) = moto() else { return };
    let direct = Route53Adapter::new(options(&url));
    let (names, big) = big_change_set();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    clean(&direct, &refs).await;

    // Atomic (the default): refused before anything is sent.
    let p = proxy(&url, forward_all()).await;
    let e = Route53Adapter::new(options(&p.url))
        .apply(&big)
        .await
        .expect_err("too big");
    assert!(
        matches!(e, AdapterError::Rejected(ref m) if m.contains("2 Route 53 batches")),
        "{e:?}"
    );
    assert!(p.changes().is_empty());
    assert!(owners(&direct, &refs).await.is_empty());

    // split_batches: Route 53 refuses the second batch; the first is undone.
    let p = proxy(
        &url,
        Arc::new(|s, n| {
            if s.is_change() && n == 1 {
                Rule::Fail(
                    400,
                    invalid_change_batch("[Invalid Resource Record: FATAL problem: test refusal]"),
                )
            } else {
                Rule::Forward
            }
        }),
    )
    .await;
    let mut o = options(&p.url);
    o.split_batches = true;
    let split = Route53Adapter::new(o);
    assert_eq!(split.capabilities().atomicity, dcgw_adapter::Atomicity::PerBatch);
    let e = split.apply(&big).await.expect_err("second batch refused");
    assert!(matches!(e, AdapterError::Rejected(_)), "{e:?}");
    let sent = p.changes();
    assert_eq!(sent.len(), 3, "batch 1, batch 2 (refused), the undo of batch 1");
    assert!(
        sent[2].body.contains("<Action>DELETE</Action>") && !sent[2].body.contains("<Action>CREATE</Action>")
    );
    assert!(owners(&direct, &refs).await.is_empty(), "restored");

    // And with nothing refused, all of it lands.
    let mut o = options(&url);
    o.split_batches = true;
    Route53Adapter::new(o).apply(&big).await.expect("split apply");
    assert_eq!(owners(&direct, &refs).await.len(), 600);
    clean(&direct, &refs).await;
}

/// The standard credential chain with web identity (what EKS injects for IRSA): the adapter
/// gets temporary credentials from STS with the token file and signs with them. Runs in a
/// child process of this test binary, so the AWS_* variables are its own.
#[tokio::test]
async fn web_identity_credentials_come_from_sts() {
    let Some(url) = moto() else { return };
    if std::env::var("DCGW_WEB_IDENTITY_CHILD").is_ok() {
        let a = Route53Adapter::new(Route53Options {
            endpoint_url: std::env::var("DCGW_R53_ENDPOINT").ok(),
            ..Route53Options::default()
        });
        assert_eq!(
            a.find_zone("www.r53.example.").await.expect("zone").as_deref(),
            Some("r53.example.")
        );
        return;
    }
    let p = proxy(&url, forward_all()).await;
    let dir = std::env::temp_dir().join(format!("dcgw-wi-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let token = dir.join("token");
    std::fs::write(
        &token,
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW06c2VydmljZWFjY291bnQ6ZGM6Z3cifQ.c2ln",
    )
    .expect("token");
    let out = tokio::process::Command::new(std::env::current_exe().expect("exe"))
        .args(["--exact", "web_identity_credentials_come_from_sts", "--nocapture"])
        .env("DCGW_WEB_IDENTITY_CHILD", "1")
        .env("DCGW_R53_ENDPOINT", &p.url)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ENDPOINT_URL_ROUTE_53")
        .env("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/dc-gateway")
        .env("AWS_ROLE_SESSION_NAME", "dc-gateway-test")
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", &token)
        .env("AWS_ENDPOINT_URL_STS", &p.url)
        .env("AWS_CONFIG_FILE", dir.join("none"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("none"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .await
        .expect("child");
    let _ = std::fs::remove_dir_all(&dir);
    let seen = p.seen.lock().expect("seen").clone();
    assert!(
        out.status.success(),
        "child failed:\n{}\n{}\nthe proxy saw: {seen:#?}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let sts = seen
        .iter()
        .find(|s| s.body.contains("Action=AssumeRoleWithWebIdentity"))
        .unwrap_or_else(|| panic!("no STS call: {seen:?}"));
    assert!(
        sts.body
            .contains("RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fdc-gateway"),
        "{}",
        sts.body
    );
    assert!(
        sts.body.contains("WebIdentityToken=eyJhbGciOiJSUzI1NiJ9"),
        "{}",
        sts.body
    );
    let r53 = seen
        .iter()
        .find(|s| s.path.contains("/hostedzonesbyname"))
        .unwrap_or_else(|| panic!("no Route 53 call: {seen:?}"));
    let credential = r53
        .head
        .split("Credential=")
        .nth(1)
        .and_then(|c| c.split('/').next())
        .unwrap_or("");
    assert!(
        !credential.is_empty() && credential != "testing",
        "signed with STS's key: {}",
        r53.head
    );
    assert!(
        r53.head.to_ascii_lowercase().contains("x-amz-security-token:"),
        "a session token: {}",
        r53.head
    );
}

#[tokio::test]
async fn names_that_are_no_zone_are_remembered_so_discovery_scans_cost_nothing() {
    let Some(url) = moto() else { return };
    let p = proxy(&url, forward_all()).await;
    let a = Route53Adapter::new(options(&p.url));
    let lookups = || {
        p.seen
            .lock()
            .expect("seen")
            .iter()
            .filter(|s| s.path.contains("/hostedzonesbyname"))
            .count()
    };
    assert_eq!(
        a.find_zone("www.not-hosted.example.").await.expect("lookup"),
        None
    );
    let first = lookups();
    assert_eq!(first, 3, "www.not-hosted.example., not-hosted.example., example.");
    assert_eq!(
        a.find_zone("www.not-hosted.example.").await.expect("lookup"),
        None
    );
    assert_eq!(a.find_zone("not-hosted.example.").await.expect("lookup"), None);
    assert_eq!(lookups(), first, "answered from memory");
    // A hosted zone is still found, and remembered too.
    assert_eq!(
        a.find_zone("x.r53.example.").await.expect("lookup").as_deref(),
        Some("r53.example.")
    );
    let after = lookups();
    assert_eq!(
        a.find_zone("y.r53.example.").await.expect("lookup").as_deref(),
        Some("r53.example.")
    );
    assert_eq!(lookups(), after + 1, "only y.r53.example. itself is asked");
}
