//! Faults against real RFC 2136 primaries (Knot, BIND, PowerDNS; see conformance.rs for the
//! variables), each on its zone rfc2136-faults.example.: the server stopped, too slow,
//! answering SERVFAIL, ignoring or refusing part of a change set, a precondition broken by a
//! writer outside the gateway, a wrong or missing key, a change set too large for one message.
//! Each gives a typed error, and reading the zone back from the real server shows it unchanged.
//! The TSIG secret never appears in an error.

use std::net::SocketAddr;
use std::time::Duration;

use dcgw_adapter::{Adapter, AdapterError, ChangeSet, Expect, RRset, RRsetChange, ReadFilter, RecordTypes};
use dcgw_rfc2136::{Rfc2136Adapter, Rfc2136Options, TsigKey};
use dcgw_testkit::build;
use hickory_proto::op::{Message, MessageType, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ZONE: &str = "rfc2136-faults.example.";

struct Server {
    label: &'static str,
    addr: SocketAddr,
    key: String,
}

/// The servers whose variables are set (each required when DCGW_REQUIRE_<SERVER>=1).
fn servers() -> Vec<Server> {
    let mut out = Vec::new();
    for label in ["KNOT", "BIND", "PDNS"] {
        match (
            std::env::var(format!("{label}_DNS")),
            std::env::var(format!("{label}_TSIG")),
        ) {
            (Ok(a), Ok(k)) => out.push(Server {
                label,
                addr: a.parse().expect("address"),
                key: k,
            }),
            _ => assert!(
                std::env::var(format!("DCGW_REQUIRE_{label}")).as_deref() != Ok("1"),
                "DCGW_REQUIRE_{label}=1 but {label}_DNS/{label}_TSIG are not set"
            ),
        }
    }
    if out.is_empty() {
        eprintln!("skipped: no RFC 2136 server");
    }
    out
}

fn adapter_with(addr: SocketAddr, key: Option<&str>, timeout_ms: u64) -> Rfc2136Adapter {
    let mut o = Rfc2136Options::new(addr, key.map(|k| TsigKey::parse(k).expect("key")));
    o.timeout = Duration::from_millis(timeout_ms);
    o.record_types = RecordTypes::Any;
    Rfc2136Adapter::new(o).expect("adapter")
}

fn adapter(s: &Server) -> Rfc2136Adapter {
    adapter_with(s.addr, Some(&s.key), 10_000)
}

fn put(name: &str, rtype: &str, data: &[&str], expect: Expect) -> RRsetChange {
    build::put(name, rtype, 300, data, expect)
}

fn del(name: &str, rtype: &str) -> RRsetChange {
    build::del(name, rtype, Expect::Any)
}

fn cs(changes: Vec<RRsetChange>) -> ChangeSet {
    build::change_set(ZONE, changes)
}

async fn owners(a: &Rfc2136Adapter, names: &[&str]) -> Vec<RRset> {
    build::owners(a, ZONE, names).await
}

async fn clean(a: &Rfc2136Adapter, names: &[&str]) {
    build::clear(a, ZONE, names, 100).await
}

fn assert_no_secret(e: &AdapterError, key: &str) {
    let secret = key.rsplit(':').next().expect("secret");
    assert!(!e.to_string().contains(secret), "{e}");
    assert!(!format!("{e:?}").contains(secret), "{e:?}");
}

/// A TCP DNS server on 127.0.0.1 that reads one request per connection and then answers
/// `code` after `delay` (or never, with `delay` None).
async fn stub(code: ResponseCode, delay: Option<Duration>) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = l.local_addr().expect("addr");
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else { return };
            tokio::spawn(async move {
                let mut lb = [0u8; 2];
                if s.read_exact(&mut lb).await.is_err() {
                    return;
                }
                let mut buf = vec![0u8; usize::from(u16::from_be_bytes(lb))];
                if s.read_exact(&mut buf).await.is_err() {
                    return;
                }
                let Some(d) = delay else {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    return;
                };
                tokio::time::sleep(d).await;
                let req = Message::from_vec(&buf).expect("request");
                let mut resp = Message::error_msg(req.metadata.id, req.metadata.op_code, code);
                resp.metadata.message_type = MessageType::Response;
                resp.add_queries(req.queries.clone());
                let bytes = resp.to_vec().expect("encode");
                let mut frame = (bytes.len() as u16).to_be_bytes().to_vec();
                frame.extend_from_slice(&bytes);
                let _ = s.write_all(&frame).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn unreachable_slow_and_failing_servers_are_transient_and_change_nothing() {
    let servers = servers();
    let Some(real) = servers.first() else { return };
    let a = adapter(real);
    let owner = "stub.rfc2136-faults.example.";
    a.apply(&cs(vec![put(owner, "A", &["192.0.2.1"], Expect::Any)]))
        .await
        .expect("seed");
    let before = owners(&a, &[owner]).await;
    let change = cs(vec![put(
        owner,
        "A",
        &["192.0.2.99"],
        Expect::Exactly(vec!["192.0.2.1".into()]),
    )]);

    // Stopped: nothing listens on the port.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let e = adapter_with(closed, Some(&real.key), 2000)
        .apply(&change)
        .await
        .expect_err("refused");
    assert!(
        matches!(e, AdapterError::Transient(ref m) if m.contains("cannot connect")),
        "{e:?}"
    );
    assert_no_secret(&e, &real.key);
    let e = adapter_with(closed, Some(&real.key), 2000)
        .find_zone(owner)
        .await
        .expect_err("refused");
    assert!(matches!(e, AdapterError::Transient(_)), "{e:?}");

    // Slow: takes the request and never answers.
    let slow = stub(ResponseCode::NoError, None).await;
    let e = adapter_with(slow, Some(&real.key), 300)
        .apply(&change)
        .await
        .expect_err("timeout");
    assert!(
        matches!(e, AdapterError::Transient(ref m) if m.contains("timed out")),
        "{e:?}"
    );
    let e = adapter_with(slow, Some(&real.key), 300)
        .read(ZONE, &ReadFilter::All)
        .await
        .expect_err("timeout");
    assert!(
        matches!(e, AdapterError::Transient(ref m) if m.contains("timed out")),
        "{e:?}"
    );

    // SERVFAIL.
    let broken = stub(ResponseCode::ServFail, Some(Duration::ZERO)).await;
    let e = adapter_with(broken, Some(&real.key), 2000)
        .apply(&change)
        .await
        .expect_err("servfail");
    assert!(
        matches!(e, AdapterError::Transient(ref m) if m.contains("SERVFAIL")),
        "{e:?}"
    );
    // An unsigned NOERROR to a signed update is not believed.
    let liar = stub(ResponseCode::NoError, Some(Duration::ZERO)).await;
    let e = adapter_with(liar, Some(&real.key), 2000)
        .apply(&change)
        .await
        .expect_err("unsigned success");
    assert!(
        matches!(e, AdapterError::Transient(ref m) if m.contains("not signed")),
        "{e:?}"
    );

    assert_eq!(owners(&a, &[owner]).await, before, "the zone is unchanged");
}

#[tokio::test]
async fn a_change_set_the_server_ignores_or_refuses_in_part_leaves_the_zone_unchanged() {
    for s in servers() {
        let a = adapter(&s);
        let (x, y) = ("half-x.rfc2136-faults.example.", "half-y.rfc2136-faults.example.");
        clean(&a, &[x, y]).await;
        a.apply(&cs(vec![put(y, "TXT", &["\"beside\""], Expect::Absent)]))
            .await
            .expect("seed");
        let before = owners(&a, &[x, y]).await;
        // The first change is fine; the second adds a CNAME beside the TXT. Knot and BIND
        // acknowledge the update and ignore the CNAME (RFC 2136 §3.4.2.2), PowerDNS refuses
        // it whole: either way the change set must be refused and the zone left as it was.
        let e = a
            .apply(&cs(vec![
                put(x, "A", &["192.0.2.8"], Expect::Absent),
                put(y, "CNAME", &["elsewhere.example."], Expect::Absent),
            ]))
            .await
            .expect_err(s.label);
        assert!(matches!(e, AdapterError::Rejected(_)), "{}: {e:?}", s.label);
        assert_eq!(
            owners(&a, &[x, y]).await,
            before,
            "{}: none of the change set is left",
            s.label
        );
        clean(&a, &[x, y]).await;
    }
}

#[tokio::test]
async fn a_precondition_broken_by_another_writer_is_enforced_by_the_server() {
    for s in servers() {
        let gateway = adapter(&s);
        // Another writer: nsupdate, a zone editor, anything that does not go through us.
        let other = adapter(&s);
        let (first, contended) = ("pre-a.rfc2136-faults.example.", "pre-b.rfc2136-faults.example.");
        clean(&gateway, &[first, contended]).await;
        gateway
            .apply(&cs(vec![put(contended, "TXT", &["\"v1\""], Expect::Absent)]))
            .await
            .expect("seed");
        // The gateway read v1 and plans on it; meanwhile the other writer changes it.
        other
            .apply(&cs(vec![put(
                contended,
                "TXT",
                &["\"v2 by someone else\""],
                Expect::Any,
            )]))
            .await
            .expect("other writer");
        let e = gateway
            .apply(&cs(vec![
                put(first, "A", &["192.0.2.5"], Expect::Absent),
                put(
                    contended,
                    "TXT",
                    &["\"v3\""],
                    Expect::Exactly(vec!["\"v1\"".into()]),
                ),
            ]))
            .await
            .expect_err(s.label);
        assert_eq!(
            e,
            AdapterError::PreconditionFailed {
                name: contended.into(),
                rtype: "TXT".into()
            },
            "{}",
            s.label
        );
        let now = owners(&gateway, &[first, contended]).await;
        assert_eq!(now.len(), 1, "{}: {now:?}", s.label);
        assert_eq!(
            now[0].data,
            vec!["\"v2 by someone else\"".to_string()],
            "{}",
            s.label
        );
        // Expect::Absent on an RRset that exists.
        let e = gateway
            .apply(&cs(vec![put(contended, "TXT", &["\"v4\""], Expect::Absent)]))
            .await
            .expect_err(s.label);
        assert!(
            matches!(e, AdapterError::PreconditionFailed { .. }),
            "{}: {e:?}",
            s.label
        );
        clean(&gateway, &[first, contended]).await;
    }
}

#[tokio::test]
async fn a_wrong_or_missing_key_is_unauthorized_and_never_printed() {
    for s in servers() {
        let a = adapter(&s);
        let owner = "key.rfc2136-faults.example.";
        clean(&a, &[owner]).await;
        let change = cs(vec![put(owner, "A", &["192.0.2.66"], Expect::Absent)]);
        let (alg, rest) = s.key.split_once(':').expect("alg");
        let (name, _) = rest.split_once(':').expect("name");
        let wrong_secret = format!("{alg}:{name}:d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC0wMTIzNDU=");
        let unknown_key = format!("{alg}:no-such-key:d3Jvbmctc2VjcmV0LXdyb25nLXNlY3JldC0wMTIzNDU=");
        for key in [Some(wrong_secret.as_str()), Some(unknown_key.as_str()), None] {
            let e = adapter_with(s.addr, key, 5000)
                .apply(&change)
                .await
                .expect_err(s.label);
            assert!(
                matches!(e, AdapterError::Unauthorized(_)),
                "{} with {:?}: {e:?}",
                s.label,
                key.map(|k| k.split(':').nth(1))
            );
            if let Some(k) = key {
                assert_no_secret(&e, k);
            }
            assert_no_secret(&e, &s.key);
        }
        // The wrong keys cannot read the zone either (PowerDNS also lets 127.0.0.1 transfer
        // unsigned: allow-axfr-ips).
        let e = adapter_with(s.addr, Some(&wrong_secret), 5000)
            .read(ZONE, &ReadFilter::All)
            .await
            .expect_err(s.label);
        assert!(matches!(e, AdapterError::Unauthorized(_)), "{}: {e:?}", s.label);
        assert!(
            owners(&a, &[owner]).await.is_empty(),
            "{}: nothing was written",
            s.label
        );
    }
}

#[tokio::test]
async fn a_change_set_too_large_for_one_message_is_refused_before_sending() {
    for s in servers() {
        let a = adapter(&s);
        let owners_: Vec<String> = (0..300)
            .map(|i| format!("big{i}.rfc2136-faults.example."))
            .collect();
        let txt = format!("\"{}\"", "x".repeat(250));
        let e = a
            .apply(&cs(owners_
                .iter()
                .map(|o| put(o, "TXT", &[txt.as_str()], Expect::Absent))
                .collect()))
            .await
            .expect_err(s.label);
        assert!(
            matches!(e, AdapterError::Rejected(ref m) if m.contains("one DNS message")),
            "{e:?}"
        );
        let names: Vec<&str> = owners_.iter().map(String::as_str).collect();
        assert!(owners(&a, &names).await.is_empty(), "{}", s.label);
    }
}

#[tokio::test]
async fn the_apex_ns_set_is_replaced_record_by_record() {
    for s in servers() {
        let a = adapter(&s);
        let apex = ZONE;
        let before = owners(&a, &[apex]).await;
        let ns0 = before.iter().find(|r| r.rtype == "NS").expect("apex NS").clone();
        let mut more = ns0.data.clone();
        more.push("ns9.example.net.".into());
        a.apply(&cs(vec![RRsetChange {
            name: apex.into(),
            rtype: "NS".into(),
            expect: Expect::Exactly(ns0.data.clone()),
            new: Some(RRset::new(apex, "NS", ns0.ttl, more.clone())),
        }]))
        .await
        .expect(s.label);
        let mid = owners(&a, &[apex]).await;
        let ns1 = mid.iter().find(|r| r.rtype == "NS").expect("apex NS");
        assert!(
            ns1.same_data(&RRset::new(apex, "NS", 0, more.clone())),
            "{}: {ns1:?}",
            s.label
        );
        // Back, without a precondition: the adapter reads the current set to remove ns9.
        a.apply(&cs(vec![RRsetChange {
            name: apex.into(),
            rtype: "NS".into(),
            expect: Expect::Any,
            new: Some(ns0.clone()),
        }]))
        .await
        .expect(s.label);
        let end = owners(&a, &[apex]).await;
        let ns2 = end.iter().find(|r| r.rtype == "NS").expect("apex NS");
        assert!(ns2.same_data(&ns0), "{}: {ns2:?}", s.label);
        // Deleting the apex NS set or SOA is refused, not silently ignored.
        let e = a.apply(&cs(vec![del(apex, "NS")])).await.expect_err(s.label);
        assert!(matches!(e, AdapterError::Rejected(_)), "{e:?}");
        let e = a.apply(&cs(vec![del(apex, "SOA")])).await.expect_err(s.label);
        assert!(matches!(e, AdapterError::Rejected(_)), "{e:?}");
    }
}
