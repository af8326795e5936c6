//! Every template of the public registry, applied by the engine with plausible variable
//! values to a typical zone, at the apex and under a host. Whatever the template, the result
//! never holds a CNAME beside other data, two SPF records at one owner, a name outside the
//! zone, or data that does not survive a master-file round trip.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use dc_gateway::adapter::Record;
use dc_gateway::engine::rdata::txt_text;
use dc_gateway::engine::template::{Template, TemplateRecord};
use dc_gateway::engine::{
    self, ApplyRequest, EngineConfig, EngineError, Params, RedirectTarget, Zone, spf, vars,
};
use dc_gateway::templates::TemplateStore;

fn shared() -> PathBuf {
    std::env::var_os("DC_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

/// A value for a variable, chosen by where the template uses it (the most demanding use:
/// addresses and numbers first).
fn value_for(var: &str, uses: &[(&str, &'static str, bool)]) -> String {
    let rank = |u: &&(&str, &'static str, bool)| match u {
        (_, "ttl" | "priority" | "weight" | "port", _) => 0,
        ("A" | "AAAA", "pointsTo", _) => 1,
        _ => 2,
    };
    let (rtype, field, whole) = uses
        .iter()
        .min_by_key(rank)
        .copied()
        .unwrap_or(("TXT", "data", false));
    match (rtype, field) {
        (_, "spfRules") if whole => "include:spf.example.net".into(),
        ("CAA", "data") if whole => "0 issue \"ca.example.net\"".into(),
        (_, "ttl") => "3600".into(),
        (_, "priority" | "weight") => "10".into(),
        (_, "port") => "443".into(),
        ("A", "pointsTo") => "192.0.2.10".into(),
        ("AAAA", "pointsTo") => "2001:db8::10".into(),
        (_, "host" | "name") => format!("h-{}", var.to_ascii_lowercase().replace('_', "-")),
        (_, "pointsTo" | "target") if rtype.starts_with("REDIR") => "https://www.example.net/path".into(),
        (_, "pointsTo" | "target") => "target.example.net".into(),
        (_, "spfRules") => "spf.example.net".into(),
        (_, "service") => "sip".into(),
        (_, "protocol") => "tcp".into(),
        ("CAA", "data") => "ca.example.net".into(),
        _ => format!("value-{var}"),
    }
}

fn fields(r: &TemplateRecord) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let s = |f: &'static str, v: &Option<String>, out: &mut Vec<(&'static str, String)>| {
        if let Some(v) = v {
            out.push((f, v.clone()));
        }
    };
    s("host", &r.host, &mut out);
    s("name", &r.name, &mut out);
    s("pointsTo", &r.points_to, &mut out);
    s("data", &r.data, &mut out);
    s("target", &r.target, &mut out);
    s("spfRules", &r.spf_rules, &mut out);
    s("service", &r.service, &mut out);
    s("protocol", &r.protocol, &mut out);
    for (f, v) in [
        ("ttl", &r.ttl),
        ("priority", &r.priority),
        ("weight", &r.weight),
        ("port", &r.port),
    ] {
        if let Some(v) = v {
            out.push((f, v.as_text().into_owned()));
        }
    }
    out
}

fn params_for(t: &Template) -> Params {
    let mut uses: BTreeMap<String, Vec<(&str, &'static str, bool)>> = BTreeMap::new();
    for r in &t.records {
        for (f, v) in fields(r) {
            let whole = vars::is_single_var(&v);
            for name in vars::names(&v).unwrap_or_default() {
                uses.entry(name.to_string())
                    .or_default()
                    .push((r.rtype.as_str(), f, whole));
            }
        }
    }
    uses.iter().map(|(k, u)| (k.clone(), value_for(k, u))).collect()
}

fn zone() -> Zone {
    let r = |n: &str, t: &str, d: &str| Record {
        name: n.into(),
        rtype: t.into(),
        ttl: 3600,
        data: d.into(),
    };
    Zone::new(
        "example.com",
        vec![
            r(
                "example.com.",
                "SOA",
                "ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300",
            ),
            r("example.com.", "NS", "ns1.example.com."),
            r("example.com.", "A", "192.0.2.1"),
            r("example.com.", "MX", "10 mail.example.com."),
            r("example.com.", "TXT", "\"v=spf1 mx -all\""),
            r("example.com.", "TXT", "\"google-site-verification=abc\""),
            r("www.example.com.", "CNAME", "example.com."),
            r("shop.example.com.", "A", "192.0.2.2"),
            r("shop.example.com.", "TXT", "\"v=spf1 a -all\""),
            r("mail.example.com.", "A", "192.0.2.25"),
        ],
    )
}

fn check_result(id: &str, z: &Zone, p: &engine::Plan) {
    let mut recs: Vec<Record> = z.records().to_vec();
    for d in p.rrsets.iter().filter(|d| d.before != d.after) {
        recs.retain(|r| !(r.name == d.name && r.rtype == d.rtype));
        if let Some(a) = &d.after {
            recs.extend(a.records());
        }
    }
    let mut by_name: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut spf: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &recs {
        assert!(
            dc_gateway::adapter::in_zone(&r.name, "example.com."),
            "{id}: {} is outside the zone",
            r.name
        );
        by_name.entry(&r.name).or_default().insert(&r.rtype);
        if r.rtype == "TXT" && spf::is_spf(&txt_text(&r.data)) {
            *spf.entry(&r.name).or_default() += 1;
        }
    }
    for (name, types) in &by_name {
        assert!(
            !(types.contains("CNAME") && types.len() > 1),
            "{id}: CNAME beside other data at {name}: {types:?}"
        );
    }
    for (name, n) in &spf {
        assert!(*n <= 1, "{id}: {n} SPF records at {name}");
    }
    // What the engine writes survives a master-file round trip unchanged.
    let text = dcgw_zonefile::master::write("example.com.", &recs);
    let back =
        dcgw_zonefile::master::parse(&text, "example.com.").unwrap_or_else(|e| panic!("{id}: {e}\n{text}"));
    let mut a: Vec<_> = recs
        .iter()
        .map(|r| (r.name.clone(), r.rtype.clone(), r.data.clone()))
        .collect();
    let mut b: Vec<_> = back
        .iter()
        .map(|r| (r.name.clone(), r.rtype.clone(), r.data.clone()))
        .collect();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    assert_eq!(
        a, b,
        "{id}: the written zone does not parse back to the same records"
    );
}

#[test]
fn every_registry_template_plans_to_a_valid_zone() {
    let dir = shared().join("domainconnect/templates");
    let (store, _) = TemplateStore::load_dir(&dir).expect("registry");
    let cfg = EngineConfig {
        apex_alias: Some("ALIAS".into()),
        redirect_records: vec![RedirectTarget {
            rtype: "A".into(),
            data: "203.0.113.80".into(),
            ttl: 600,
        }],
        ..EngineConfig::default()
    };
    let z = zone();
    let mut outcomes: BTreeMap<String, usize> = BTreeMap::new();
    let mut invalid: BTreeSet<String> = BTreeSet::new();
    for t in store.iter() {
        let params = params_for(t);
        for host in ["", "sub"] {
            let req = ApplyRequest {
                template: t,
                domain: "example.com",
                host,
                params: &params,
                group_ids: None,
                instance_id: "registry",
            };
            let id = format!("{}/{} host={host:?}", t.provider_id, t.service_id);
            let key = match engine::plan(&req, &z, &[], &cfg) {
                Ok(p) => {
                    check_result(&id, &z, &p);
                    "ok".to_string()
                }
                Err(EngineError::InvalidData { reason, .. }) if reason.contains("alternatives") => {
                    "alternative groups".into()
                }
                Err(e) => {
                    if std::env::var_os("DCGW_SHOW").is_some() {
                        println!("{id}: {e}");
                    }
                    if matches!(e, EngineError::InvalidData { .. }) {
                        invalid.insert(format!("{}/{}", t.provider_id, t.service_id));
                    }
                    e.category().to_string()
                }
            };
            *outcomes.entry(key).or_default() += 1;
        }
    }
    let total: usize = outcomes.values().sum();
    println!("registry plans: {outcomes:?} of {total}");
    assert_eq!(total, 2 * 1152);
    // Every template applies, except at the apex for hostRequired templates, with all groups
    // at once for templates whose groups are alternatives, and two whose variables this
    // generator cannot guess (a CAA record and an SPF TXT built from several variables).
    assert_eq!(outcomes.get("host required"), Some(&331), "{outcomes:?}");
    assert_eq!(outcomes.get("alternative groups"), Some(&40), "{outcomes:?}");
    assert_eq!(
        invalid,
        BTreeSet::from([
            "goodroots.work/caa_management".to_string(),
            "lofty.com/website".to_string()
        ])
    );
    assert_eq!(outcomes.get("ok"), Some(&(total - 331 - 40 - 4)), "{outcomes:?}");
}

/// Reading only the owners [`engine::read_scope`] names gives the very plan the whole zone
/// gives, for every registry template, at the apex and under a host, first alone and then
/// beside an instance recorded earlier: partial reads never change what is applied.
#[test]
fn plans_from_the_read_scope_equal_plans_from_the_whole_zone() {
    let dir = shared().join("domainconnect/templates");
    let (store, _) = TemplateStore::load_dir(&dir).expect("registry");
    let cfg = EngineConfig {
        apex_alias: Some("ALIAS".into()),
        redirect_records: vec![RedirectTarget {
            rtype: "A".into(),
            data: "203.0.113.80".into(),
            ttl: 600,
        }],
        ..EngineConfig::default()
    };
    // The typical zone plus unrelated data a partial read leaves out.
    let mut records = zone().records().to_vec();
    for i in 0..50 {
        records.push(Record {
            name: format!("filler{i}.example.com."),
            rtype: "A".into(),
            ttl: 300,
            data: format!("198.51.100.{i}"),
        });
    }
    let full = Zone::new("example.com", records.clone());
    let (mut compared, mut whole_zone) = (0, 0);
    for t in store.iter() {
        let params = params_for(t);
        for host in ["", "sub"] {
            let req = ApplyRequest {
                template: t,
                domain: "example.com",
                host,
                params: &params,
                group_ids: None,
                instance_id: "scope",
            };
            let Ok(first) = engine::plan(&req, &full, &[], &cfg) else {
                continue;
            };
            let earlier = [first.instance.clone()];
            for instances in [&[][..], &earlier[..]] {
                let id = format!(
                    "{}/{} host={host:?} instances={}",
                    t.provider_id,
                    t.service_id,
                    instances.len()
                );
                let expected =
                    serde_json::to_value(engine::plan(&req, &full, instances, &cfg).expect("plans"))
                        .expect("json");
                let Some(names) = engine::plan::read_scope(&req, instances, &cfg).expect("scope") else {
                    whole_zone += 1;
                    continue;
                };
                let part = Zone::new(
                    "example.com",
                    records
                        .iter()
                        .filter(|r| names.contains(&r.name))
                        .cloned()
                        .collect::<Vec<_>>(),
                );
                assert!(
                    part.records().len() < full.records().len(),
                    "{id}: the scope left nothing out"
                );
                let got = serde_json::to_value(engine::plan(&req, &part, instances, &cfg).expect("plans"))
                    .expect("json");
                assert_eq!(got, expected, "{id}: names {names:?}");
                compared += 1;
            }
        }
    }
    println!("read scope: {compared} plans compared, {whole_zone} needed the whole zone (NS records)");
    assert!(compared > 3000, "{compared}");
}
