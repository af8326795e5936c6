//! One zone, one writer: two gateway processes on one PostgreSQL take 50 concurrent applies
//! and reverts on one zone, once on a shared zone-file directory and once on a real PowerDNS
//! (whose adapter relies on the gateway's zone lock for its preconditions,
//! `Adapter::apply_locked`). Afterwards the zone equals what some serial order gives: each
//! host holds at most one record of the template, the template state matches the zone
//! exactly, and nothing is duplicated or lost.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use dc_gateway::store::Store;
use dc_gateway::store::grants::Grant;
use dc_gateway::store::oauth::{Client, new_secret};

fn postgres_url() -> Option<String> {
    let url = std::env::var("DCGW_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty());
    if url.is_none() && std::env::var_os("DCGW_REQUIRE_POSTGRES").is_some() {
        panic!("DCGW_REQUIRE_POSTGRES is set but DCGW_TEST_POSTGRES_URL is not");
    }
    url
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port")
}

struct Gateway(Child);

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(
    port: u16,
    data: &std::path::Path,
    templates: &std::path::Path,
    db: &str,
    config: Option<&std::path::Path>,
) -> Gateway {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dc-gateway"));
    cmd.arg("serve");
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    let child = cmd
        .current_dir(&repo)
        .env("DCGW__SERVER__LISTEN", format!("127.0.0.1:{port}"))
        .env("DCGW__SERVER__PUBLIC_URL", format!("http://127.0.0.1:{port}"))
        .env("DCGW__SERVER__DATA_DIR", data)
        .env("DCGW__TEMPLATES__DIR", templates)
        .env("DCGW__DATABASE__URL", db)
        .env("DCGW_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("starts");
    Gateway(child)
}

async fn wait_ready(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(r) = reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("gateway on {port} did not become ready");
}

fn unique_domain() -> String {
    // A unique zone per run, so runs on a shared database do not meet.
    let mut b = [0u8; 4];
    rand::fill(&mut b);
    format!(
        "conc{}.example",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// Writes the one-TXT template, makes a client with a grant on ten hosts of `domain`, starts
/// two gateways (with `config`, if any) and sends 50 concurrent applies and reverts. Returns
/// the store and the hosts once every request is answered as a serial order allows.
async fn fifty_writes(
    db: &str,
    data: &std::path::Path,
    config: Option<&std::path::Path>,
    domain: &str,
) -> (Store, Vec<String>) {
    // The Service Provider (and OAuth client) is unique per run too: runs on one database
    // at once must not remove each other's client.
    let pid = format!("sp-{domain}");
    let templates = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        templates.path().join(format!("{pid}.txt.json")),
        serde_json::json!({
            "providerId": pid, "providerName": "Concurrency", "serviceId": "txt", "serviceName": "TXT",
            "records": [{"type": "TXT", "host": "@", "data": "v=%v%", "ttl": 300}]
        })
        .to_string(),
    )
    .expect("template");

    // A client and a grant covering ten hosts, made through the store.
    let store = Store::open(db).await.expect("store");
    let now = SystemTime::now();
    let client_id = pid.clone();
    let secret = new_secret();
    let _ = store.remove_client(&client_id, now).await;
    store
        .add_client(
            &Client {
                client_id: client_id.clone(),
                redirect_uris: vec!["https://conc.example/cb".into()],
                require_pkce: false,
                access_ttl: 3600,
                refresh_ttl: 7200,
                created_at: 0,
            },
            &secret,
            now,
        )
        .await
        .expect("client");
    let hosts: Vec<String> = (0..10).map(|i| format!("h{i}")).collect();
    let grant = Grant {
        id: String::new(),
        client_id: client_id.clone(),
        username: "demo".into(),
        domain: domain.to_string(),
        hosts: hosts.clone(),
        scope: vec!["txt".into()],
        created_at: 0,
        revoked_at: None,
    };
    let (_, code) = store
        .create_grant(&grant, "https://conc.example/cb", None, now)
        .await
        .expect("grant");
    let (_, tokens) = store
        .redeem_code(&code, &client_id, None, None, 3600, 7200, now)
        .await
        .expect("db")
        .expect("tokens");

    let ports = [free_port(), free_port()];
    let _a = spawn(ports[0], data, templates.path(), db, config);
    let _b = spawn(ports[1], data, templates.path(), db, config);
    wait_ready(ports[0]).await;
    wait_ready(ports[1]).await;

    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..50usize {
        let (client, token, domain, pid) = (
            client.clone(),
            tokens.access_token.clone(),
            domain.to_string(),
            pid.clone(),
        );
        let port = ports[i % 2];
        let host = format!("h{}", i % 5);
        tasks.push(tokio::spawn(async move {
            let (op, q) = if i % 4 == 3 {
                ("revert", format!("domain={domain}&host={host}"))
            } else {
                ("apply", format!("domain={domain}&host={host}&v={i}&force=1"))
            };
            let r = client
                .post(format!(
                    "http://127.0.0.1:{port}/v2/domainTemplates/providers/{pid}/services/txt/{op}?{q}"
                ))
                .bearer_auth(&token)
                .send()
                .await
                .expect("request");
            (op, r.status().as_u16())
        }));
    }
    let mut outcomes: BTreeMap<(&str, u16), usize> = BTreeMap::new();
    for t in tasks {
        *outcomes.entry(t.await.expect("join")).or_default() += 1;
    }
    assert_eq!(outcomes.get(&("apply", 200)), Some(&38), "{outcomes:?}");
    let reverts: usize = outcomes
        .iter()
        .filter(|((op, s), _)| *op == "revert" && (*s == 200 || *s == 410))
        .map(|(_, n)| n)
        .sum();
    assert_eq!(reverts, 12, "{outcomes:?}");
    println!("outcomes: {outcomes:?}");
    (store, hosts)
}

/// The zone (its TXT records by owner) and the template state agree, host by host.
async fn zone_matches_state(
    store: &Store,
    hosts: &[String],
    domain: &str,
    txt_at: impl Fn(&str) -> Vec<String>,
) {
    let instances = store.instances(&format!("{domain}.")).await.expect("instances");
    for h in hosts {
        let txt = txt_at(&format!("{h}.{domain}."));
        let inst: Vec<_> = instances.iter().filter(|i| i.host == *h).collect();
        assert!(txt.len() <= 1, "{h}: {txt:?}");
        assert_eq!(txt.len(), inst.len(), "{h}: zone {txt:?}, state {inst:?}");
        if let (Some(t), Some(i)) = (txt.first(), inst.first()) {
            assert_eq!(i.records.len(), 1);
            assert_eq!(i.records[0].record.data, *t, "{h}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_fifty_concurrent_writes_end_in_a_serial_state() {
    let Some(db) = postgres_url() else {
        eprintln!("skipped: no PostgreSQL (DCGW_TEST_POSTGRES_URL)");
        return;
    };
    let data = tempfile::tempdir().expect("tempdir");
    let domain = unique_domain();
    std::fs::create_dir_all(data.path().join("zones")).expect("zones dir");
    std::fs::write(
        data.path().join(format!("zones/{domain}.zone")),
        format!("$ORIGIN {domain}.\n$TTL 300\n@ IN SOA ns1.{domain}. h.{domain}. 1 7200 3600 1209600 300\n@ IN NS ns1.{domain}.\n"),
    )
    .expect("zone");
    let (store, hosts) = fifty_writes(&db, data.path(), None, &domain).await;
    let text = std::fs::read_to_string(data.path().join(format!("zones/{domain}.zone"))).expect("zone");
    let records = dcgw_zonefile::master::parse(&text, &format!("{domain}.")).expect("parses");
    zone_matches_state(&store, &hosts, &domain, |name| {
        records
            .iter()
            .filter(|r| r.name == name && r.rtype == "TXT")
            .map(|r| r.data.clone())
            .collect()
    })
    .await;
    // Every write bumped the serial once: nothing was written twice or lost.
    let soa = records.iter().find(|r| r.rtype == "SOA").expect("soa");
    assert!(
        soa.data
            .split_whitespace()
            .nth(2)
            .and_then(|s| s.parse::<u64>().ok())
            .is_some_and(|s| s > 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_on_powerdns_end_in_a_serial_state() {
    let Some(db) = postgres_url() else {
        eprintln!("skipped: no PostgreSQL (DCGW_TEST_POSTGRES_URL)");
        return;
    };
    let (Ok(url), Ok(key)) = (std::env::var("PDNS_API_URL"), std::env::var("PDNS_API_KEY")) else {
        assert!(
            std::env::var("DCGW_REQUIRE_PDNS").as_deref() != Ok("1"),
            "DCGW_REQUIRE_PDNS=1 but PDNS_API_URL is not set"
        );
        eprintln!("skipped: no PowerDNS");
        return;
    };
    let domain = unique_domain();
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{url}/api/v1/servers/localhost/zones"))
        .header("X-API-Key", &key)
        .json(&serde_json::json!({"name": format!("{domain}."), "kind": "Native", "nameservers": [format!("ns1.{domain}.")]}))
        .send()
        .await
        .expect("create zone");
    assert_eq!(r.status(), 201, "{:?}", r.text().await);
    let data = tempfile::tempdir().expect("tempdir");
    let config = data.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[[backends]]\nname = \"pdns\"\nkind = \"powerdns\"\nzones = [\"{domain}\"]\napi_url = \"{url}\"\napi_key = \"{key}\"\n"),
    )
    .expect("config");
    let (store, hosts) = fifty_writes(&db, data.path(), Some(&config), &domain).await;
    let pdns =
        dcgw_powerdns::PowerDnsAdapter::new(dcgw_powerdns::PowerDnsOptions::new(&url, &key)).expect("pdns");
    use dc_gateway::adapter::Adapter;
    let sets = pdns
        .read(&format!("{domain}."), &dc_gateway::adapter::ReadFilter::All)
        .await
        .expect("read");
    zone_matches_state(&store, &hosts, &domain, |name| {
        sets.iter()
            .filter(|s| s.name == name && s.rtype == "TXT")
            .flat_map(|s| s.data.clone())
            .collect()
    })
    .await;
    let _ = http
        .delete(format!("{url}/api/v1/servers/localhost/zones/{domain}."))
        .header("X-API-Key", &key)
        .send()
        .await;
}
