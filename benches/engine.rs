//! Engine throughput (criterion). Run with `scripts/bench.sh` or
//! `cargo bench --bench engine`.
//!
//! * `plan/typical/{1k,100k}`: one plan of a typical email + website template (CNAME, TXT
//!   verification with prefix matching, two MX, SPFM) against synthetic zones of 1,000 and
//!   100,000 records, which hold records at every owner the template touches (so the
//!   conflict, merge and TTL paths run). The zone is indexed once, outside the timed loop.
//!   Targets: ≤ 20 µs at 1k, ≤ 2 ms at 100k, and no growth with zone size.
//! * `plan/subdomain/{1k,100k}`: the same template applied under a host.
//! * `baseline/*`: cheap reference operations measured in the same run, so figures can be
//!   given as ratios (machine-independent): cloning the 1k-record `Vec<Record>`, one
//!   `HashMap` lookup in the 100k zone's owner index, building `Zone` for 1k records.
//! * `zone_index/100k`: building the [`Zone`] index for the 100k zone (done once per plan
//!   by callers that read the zone fresh; not part of the plan figures).
//! * `templates/load_dir`: loading, parsing and validating every registry template
//!   (`TemplateStore::load_dir`, reading the files); `templates/parse_validate`: the same
//!   from memory (serde_json + `validate`), without file I/O. The registry is read from
//!   `$DC_SHARED/domainconnect/templates` (default: `shared` beside the repository); these
//!   benches are skipped when it is absent.

use std::collections::HashMap;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use dc_gateway::adapter::Record;
use dc_gateway::engine::{self, ApplyRequest, EngineConfig, Params, Template, Zone};
use dc_gateway::templates::TemplateStore;

// The allocator of the `dc-gateway` binary, so the figures are the binary's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const DOMAIN: &str = "example.com";

fn template() -> Template {
    serde_json::from_value(serde_json::json!({
        "providerId": "mailhost.example",
        "providerName": "Mailhost",
        "serviceId": "email-and-website",
        "serviceName": "Email and website",
        "records": [
            {"type": "CNAME", "host": "www", "pointsTo": "sites.mailhost.example", "ttl": 3600},
            {"type": "CNAME", "host": "autodiscover", "pointsTo": "autodiscover.mailhost.example", "ttl": 3600},
            {"type": "TXT", "host": "@", "data": "mailhost-verification=%token%", "ttl": 3600,
             "txtConflictMatchingMode": "Prefix", "txtConflictMatchingPrefix": "mailhost-verification="},
            {"type": "MX", "host": "@", "pointsTo": "mx1.mailhost.example", "priority": 10, "ttl": 3600},
            {"type": "MX", "host": "@", "pointsTo": "mx2.mailhost.example", "priority": 20, "ttl": 3600},
            {"type": "SPFM", "host": "@", "spfRules": "include:_spf.mailhost.example"},
            {"type": "TXT", "host": "_dmarc", "data": "v=DMARC1; p=none; rua=mailto:%dmarc%", "ttl": 3600,
             "txtConflictMatchingMode": "Prefix", "txtConflictMatchingPrefix": "v=DMARC1"}
        ]
    }))
    .expect("the bench template parses")
}

fn rec(name: String, rtype: &str, ttl: u32, data: String) -> Record {
    Record {
        name,
        rtype: rtype.to_string(),
        ttl,
        data,
    }
}

/// A synthetic zone of exactly `n` records (n ≥ 100): the records a typical customer zone has
/// at the owners the template touches (apex A/MX/SPF/verification TXT, a www CNAME, DMARC),
/// for every applied root (apex and `shop`), then many owners with A/AAAA/TXT/MX/CNAME/SRV,
/// some of them nested (`a.b.example.com.`).
fn zone_records(n: usize) -> Vec<Record> {
    let mut v = Vec::with_capacity(n);
    let apex = format!("{DOMAIN}.");
    v.push(rec(
        apex.clone(),
        "SOA",
        3600,
        format!("ns1.{apex} hostmaster.{apex} 1 7200 3600 1209600 3600"),
    ));
    v.push(rec(apex.clone(), "NS", 3600, format!("ns1.{apex}")));
    v.push(rec(apex.clone(), "NS", 3600, format!("ns2.{apex}")));
    for root in [apex.clone(), format!("shop.{apex}")] {
        v.push(rec(root.clone(), "A", 3600, "192.0.2.10".into()));
        v.push(rec(root.clone(), "AAAA", 3600, "2001:db8::10".into()));
        v.push(rec(root.clone(), "MX", 3600, "10 mx.old-mail.example.".into()));
        v.push(rec(
            root.clone(),
            "TXT",
            3600,
            "\"v=spf1 mx ip4:192.0.2.0/24 -all\"".into(),
        ));
        v.push(rec(
            root.clone(),
            "TXT",
            3600,
            "\"mailhost-verification=old\"".into(),
        ));
        v.push(rec(
            root.clone(),
            "TXT",
            300,
            "\"google-site-verification=abc\"".into(),
        ));
        v.push(rec(
            format!("www.{root}"),
            "CNAME",
            3600,
            "old.host.example.".into(),
        ));
        v.push(rec(
            format!("_dmarc.{root}"),
            "TXT",
            3600,
            "\"v=DMARC1; p=reject\"".into(),
        ));
        v.push(rec(
            format!("autodiscover.{root}"),
            "A",
            3600,
            "192.0.2.11".into(),
        ));
    }
    let mut i = 0usize;
    while v.len() < n {
        let owner = if i % 5 == 4 {
            format!("h{}.g{}.{apex}", i, i % 97)
        } else {
            format!("h{i}.{apex}")
        };
        let oct = |k: usize| (k % 250) + 1;
        match i % 8 {
            0..=2 => v.push(rec(
                owner,
                "A",
                3600,
                format!("198.51.{}.{}", oct(i / 250), oct(i)),
            )),
            3 => v.push(rec(owner, "AAAA", 3600, format!("2001:db8::{:x}", i + 1))),
            4 => v.push(rec(owner, "TXT", 3600, format!("\"token-{i}\""))),
            5 => v.push(rec(owner, "MX", 3600, format!("10 mx{i}.example.net."))),
            6 => v.push(rec(owner, "CNAME", 3600, format!("target{i}.example.net."))),
            _ => v.push(rec(
                format!("_sip._tcp.{owner}"),
                "SRV",
                3600,
                format!("10 5 5060 sip{i}.example.net."),
            )),
        }
        i += 1;
    }
    v.truncate(n);
    v
}

fn params() -> Params {
    let mut p = Params::new();
    p.insert("token".into(), "f3a9c2d1e0b4".into());
    p.insert("dmarc".into(), "dmarc@example.com".into());
    p
}

fn plan_once(t: &Template, zone: &Zone, host: &str, params: &Params, cfg: &EngineConfig) -> engine::Plan {
    let req = ApplyRequest {
        template: t,
        domain: DOMAIN,
        host,
        params,
        group_ids: None,
        instance_id: "bench",
    };
    engine::plan(&req, zone, &[], cfg).expect("the bench template applies")
}

fn bench_plan(c: &mut Criterion) {
    let t = template();
    let params = params();
    let cfg = EngineConfig::default();
    let recs_1k = zone_records(1_000);
    let recs_100k = zone_records(100_000);
    let zone_1k = Zone::new(DOMAIN, recs_1k.clone());
    let zone_100k = Zone::new(DOMAIN, recs_100k.clone());

    // The plan must be the same whatever the zone size (same touched RRsets), and must
    // exercise conflicts; check once, outside the timed loops.
    let p1 = plan_once(&t, &zone_1k, "", &params, &cfg);
    let p2 = plan_once(&t, &zone_100k, "", &params, &cfg);
    assert_eq!(p1.rrsets, p2.rrsets, "plan depends on unrelated records");
    assert!(
        !p1.conflicts.is_empty(),
        "the bench zone should produce conflicts"
    );

    let mut g = c.benchmark_group("plan");
    for (label, zone) in [("1k", &zone_1k), ("100k", &zone_100k)] {
        g.bench_function(format!("typical/{label}"), |b| {
            b.iter(|| plan_once(black_box(&t), black_box(zone), "", &params, &cfg))
        });
    }
    for (label, zone) in [("1k", &zone_1k), ("100k", &zone_100k)] {
        g.bench_function(format!("subdomain/{label}"), |b| {
            b.iter(|| plan_once(black_box(&t), black_box(zone), "shop", &params, &cfg))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("baseline");
    g.bench_function("clone_vec_1k", |b| b.iter(|| black_box(&recs_1k).clone()));
    let index: HashMap<String, Vec<usize>> =
        recs_100k
            .iter()
            .enumerate()
            .fold(HashMap::new(), |mut m, (i, r)| {
                m.entry(r.name.clone()).or_default().push(i);
                m
            });
    let probe = format!("www.{DOMAIN}.");
    g.bench_function("hashmap_lookup_100k", |b| {
        b.iter(|| index.get(black_box(probe.as_str())).map(Vec::len))
    });
    g.bench_function("zone_index_1k", |b| {
        b.iter(|| Zone::new(DOMAIN, black_box(&recs_1k).iter().cloned()))
    });
    g.finish();

    let mut g = c.benchmark_group("zone_index");
    g.sample_size(10);
    g.bench_function("100k", |b| {
        b.iter(|| Zone::new(DOMAIN, black_box(&recs_100k).iter().cloned()))
    });
    g.finish();
}

fn registry() -> PathBuf {
    let shared = match std::env::var_os("DC_SHARED") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("shared"),
    };
    shared.join("domainconnect").join("templates")
}

fn bench_templates(c: &mut Criterion) {
    let dir = registry();
    let Ok(entries) = std::fs::read_dir(&dir) else {
        eprintln!("templates benches skipped: no registry at {}", dir.display());
        return;
    };
    let mut texts: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .collect();
    texts.sort();
    let (store, _) = TemplateStore::load_dir(&dir).expect("registry loads");
    eprintln!("templates: {} files, {} servable", texts.len(), store.len());

    let mut g = c.benchmark_group("templates");
    g.sample_size(10);
    g.bench_function("load_dir", |b| {
        b.iter(|| TemplateStore::load_dir(black_box(&dir)).map(|(s, p)| (s.len(), p.len())))
    });
    g.bench_function("parse_validate", |b| {
        b.iter(|| {
            let mut errors = 0usize;
            for text in &texts {
                match serde_json::from_str::<Template>(black_box(text)) {
                    Ok(t) => errors += engine::validate::validate(&t).len(),
                    Err(_) => errors += 1,
                }
            }
            errors
        })
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_plan, bench_templates
}
criterion_main!(benches);
