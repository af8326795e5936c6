//! The reference library's language-neutral YAML suites (../shared/domainconnect/compliance),
//! run against our engine as golden tests.
//!
//! The suites describe zones in the reference library's record model (relative names, SRV
//! service/protocol in separate fields, MX priority apart from its target, REDIR301/302 and
//! APEXCNAME as pseudo records). `to_record` maps that model onto ours; the comparison is on
//! the final zone, the add and delete counts, the error category and, for stateful cases, the
//! instance each record belongs to.
//!
//! Where we deliberately differ (POLICY.md), the case is listed in `compliance_overrides.yaml`
//! with the policy number, and our behaviour is asserted instead.

use std::collections::BTreeMap;
use std::path::PathBuf;

use dc_gateway::adapter::Record;
use dc_gateway::engine::rdata::{render_txt, txt_presentation};
use dc_gateway::engine::template::{Template, TemplateRecord};
use dc_gateway::engine::{
    self, ApplyRequest, EngineConfig, EngineError, Essential, Instance, InstanceRecord, Plan, RedirectTarget,
    Zone,
};
use serde_yaml::Value;

fn shared() -> PathBuf {
    std::env::var_os("DC_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared"))
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn get<'a>(m: &'a Value, k: &str) -> Option<&'a Value> {
    m.get(k).filter(|v| !v.is_null())
}

/// A zone record of the suites in our model.
fn to_record(v: &Value, domain: &str) -> Record {
    let apex = format!("{domain}.");
    let rtype = get(v, "type").map(s).unwrap_or_default().to_ascii_uppercase();
    let name = get(v, "name").map(s).unwrap_or_default().to_ascii_lowercase();
    let abs = |n: &str| {
        if n.is_empty() || n == "@" {
            apex.clone()
        } else {
            format!("{n}.{apex}")
        }
    };
    let dotted = |d: &str| {
        let d = d.to_ascii_lowercase();
        if d.ends_with('.') { d } else { format!("{d}.") }
    };
    let data = get(v, "data").map(s).unwrap_or_default();
    let ttl = get(v, "ttl").and_then(|t| s(t).parse().ok()).unwrap_or(0);
    let (name, data) = match rtype.as_str() {
        "CNAME" | "NS" | "APEXCNAME" => (abs(&name), dotted(&data)),
        "MX" => (
            abs(&name),
            format!(
                "{} {}",
                s(get(v, "priority").unwrap_or(&Value::Null)),
                dotted(&data)
            ),
        ),
        "SRV" => {
            let svc = s(get(v, "service").unwrap_or(&Value::Null)).to_ascii_lowercase();
            let proto = s(get(v, "protocol").unwrap_or(&Value::Null)).to_ascii_lowercase();
            // Without service/protocol fields the name already holds `_service._proto`.
            let owner = if svc.is_empty() && proto.is_empty() {
                abs(&name)
            } else {
                format!(
                    "_{}._{}.{}",
                    svc.trim_start_matches('_'),
                    proto.trim_start_matches('_'),
                    abs(&name)
                )
            };
            let f = |k: &str| s(get(v, k).unwrap_or(&Value::Null));
            (
                owner,
                format!(
                    "{} {} {} {}",
                    f("priority"),
                    f("weight"),
                    f("port"),
                    dotted(&data)
                ),
            )
        }
        // The suites store TXT data as the template wrote it (quoted or bare).
        "TXT" => (
            abs(&name),
            render_txt(&data).unwrap_or_else(|_| txt_presentation(data.as_bytes())),
        ),
        "A" | "AAAA" => (abs(&name), data.to_ascii_lowercase()),
        _ => (abs(&name), data),
    };
    Record {
        name,
        rtype,
        ttl,
        data,
    }
}

/// Instances described by the `_dc` fields of zone records.
fn instances(zone: &[Value], domain: &str) -> Vec<Instance> {
    let mut by_id: BTreeMap<String, Instance> = BTreeMap::new();
    for v in zone {
        let Some(dc) = get(v, "_dc") else { continue };
        let id = s(get(dc, "id").unwrap_or(&Value::Null));
        let host = s(get(dc, "host").unwrap_or(&Value::Null)).to_ascii_lowercase();
        let inst = by_id.entry(id.clone()).or_insert_with(|| Instance {
            id,
            provider_id: s(get(dc, "providerId").unwrap_or(&Value::Null)),
            service_id: s(get(dc, "serviceId").unwrap_or(&Value::Null)),
            host: if host == "@" { String::new() } else { host },
            groups: vec![],
            records: vec![],
            spf_terms: vec![],
        });
        let essential = get(dc, "essential")
            .and_then(|e| Essential::parse(&s(e)))
            .unwrap_or_default();
        inst.records.push(InstanceRecord {
            record: to_record(v, domain),
            essential,
            group_id: None,
        });
    }
    by_id.into_values().collect()
}

fn category(e: &EngineError) -> &'static str {
    match e {
        EngineError::MissingVariable { .. } => "MissingParameter",
        EngineError::InvalidData { .. } => "InvalidData",
        EngineError::HostRequired => "HostRequired",
        EngineError::InvalidTemplate(_) => "InvalidTemplate",
        EngineError::UnsupportedType { .. } => "TypeError",
        EngineError::InvalidRequest(_) => "InvalidRequest",
    }
}

/// The zone after the plan, in our model, with the instance id of each record (stateful).
fn final_zone(zone: &Zone, plan: &Plan, before: &[Instance]) -> Vec<(Record, Option<String>)> {
    let mut recs: Vec<Record> = zone.records().to_vec();
    for d in plan.rrsets.iter().filter(|d| d.before != d.after) {
        recs.retain(|r| !(r.name == d.name && r.rtype == d.rtype));
        if let Some(a) = &d.after {
            recs.extend(a.records());
        }
    }
    recs.sort();
    recs.dedup();
    let owner = |r: &Record| -> Option<String> {
        if plan
            .instance
            .records
            .iter()
            .any(|ir| ir.record.name == r.name && ir.record.rtype == r.rtype && ir.record.data == r.data)
        {
            return Some(plan.instance.id.clone());
        }
        before
            .iter()
            .filter(|i| !plan.removed_instances.contains(&i.id))
            .find(|i| {
                i.records.iter().any(|ir| {
                    ir.record.name == r.name && ir.record.rtype == r.rtype && ir.record.data == r.data
                })
            })
            .map(|i| i.id.clone())
    };
    let mut out: Vec<(Record, Option<String>)> = recs
        .into_iter()
        .map(|r| {
            let o = owner(&r);
            (r, o)
        })
        .collect();
    for r in &plan.redirects {
        let rtype = if r.status == 302 { "REDIR302" } else { "REDIR301" };
        out.push((
            Record {
                name: r.name.clone(),
                rtype: rtype.into(),
                ttl: 0,
                data: r.target.clone(),
            },
            None,
        ));
    }
    out
}

struct Outcome {
    id: String,
    problems: Vec<String>,
}

fn run_case(suite: &str, case: &Value, expect: &Value) -> Outcome {
    let id = s(get(case, "id").unwrap_or(&Value::Null));
    let input = get(case, "input").cloned().unwrap_or(Value::Null);
    let domain = s(get(&input, "domain").unwrap_or(&Value::Null)).to_ascii_lowercase();
    let host = get(&input, "host").map(s).unwrap_or_default();
    let zone_vals: Vec<Value> = get(&input, "zone_records")
        .and_then(Value::as_sequence)
        .cloned()
        .unwrap_or_default();
    let multi_aware = get(&input, "multi_aware")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let zone = Zone::new(&domain, zone_vals.iter().map(|v| to_record(v, &domain)));
    let insts = if multi_aware || suite == "apply_template" {
        instances(&zone_vals, &domain)
    } else {
        vec![]
    };

    let template: Template = if suite == "apply_template" {
        let pid = s(get(&input, "provider_id").unwrap_or(&Value::Null)).to_ascii_lowercase();
        let sid = s(get(&input, "service_id").unwrap_or(&Value::Null)).to_ascii_lowercase();
        let path = shared().join(format!("domainconnect/compliance/templates/{pid}.{sid}.json"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        serde_json::from_str(&text).expect("compliance template parses")
    } else {
        let records: Vec<TemplateRecord> = serde_yaml::from_value(
            get(&input, "template_records")
                .cloned()
                .unwrap_or(Value::Sequence(vec![])),
        )
        .unwrap_or_else(|e| panic!("{id}: template_records: {e}"));
        Template {
            provider_id: get(&input, "provider_id")
                .map(s)
                .unwrap_or_else(|| "compliance.example".into()),
            provider_name: "Compliance".into(),
            service_id: get(&input, "service_id").map(s).unwrap_or_else(|| "test".into()),
            service_name: "Test".into(),
            version: None,
            logo_url: None,
            description: None,
            variable_description: None,
            sync_block: false,
            shared: false,
            shared_provider_name: false,
            shared_service_name: false,
            sync_pub_key_domain: None,
            sync_redirect_domain: None,
            multi_instance: get(&input, "multi_instance")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            warn_phishing: false,
            host_required: false,
            records,
        }
    };
    let params: BTreeMap<String, String> = get(&input, "params")
        .and_then(Value::as_mapping)
        .map(|m| m.iter().map(|(k, v)| (s(k), s(v))).collect())
        .unwrap_or_default();
    let groups: Option<Vec<String>> = get(&input, "group_ids")
        .and_then(Value::as_sequence)
        .map(|g| g.iter().map(s).collect());
    let redirect_records = match get(&input, "redirect_records").and_then(Value::as_sequence) {
        Some(rr) => rr
            .iter()
            .map(|r| RedirectTarget {
                rtype: s(get(r, "type").unwrap_or(&Value::Null)),
                data: s(get(r, "pointsTo").unwrap_or(&Value::Null)),
                ttl: get(r, "ttl").and_then(|t| s(t).parse().ok()).unwrap_or(600),
            })
            .collect(),
        None if suite == "apply_template" => vec![
            RedirectTarget {
                rtype: "A".into(),
                data: "127.0.0.1".into(),
                ttl: 600,
            },
            RedirectTarget {
                rtype: "AAAA".into(),
                data: "::1".into(),
                ttl: 600,
            },
        ],
        None => vec![],
    };
    let cfg = EngineConfig {
        apex_alias: Some("APEXCNAME".into()),
        redirect_records,
        ..Default::default()
    };
    let instance_id = get(&input, "unique_id")
        .map(s)
        .unwrap_or_else(|| "generated-id".into());
    let req = ApplyRequest {
        template: &template,
        domain: &domain,
        host: &host,
        params: &params,
        group_ids: groups.as_deref(),
        instance_id: &instance_id,
    };
    let result = engine::plan(&req, &zone, &insts, &cfg);
    let mut problems = Vec::new();
    match (get(expect, "exception").map(s), result) {
        (Some(want), Ok(_)) => problems.push(format!("expected {want}, got a plan")),
        (Some(want), Err(e)) => {
            if category(&e) != want {
                problems.push(format!("expected {want}, got {} ({e})", category(&e)));
            }
        }
        (None, Err(e)) => problems.push(format!("expected a plan, got {} ({e})", category(&e))),
        (None, Ok(plan)) => {
            let want_new = get(expect, "new_count").and_then(Value::as_u64);
            let want_del = get(expect, "delete_count").and_then(Value::as_u64);
            // The reference library counts each REDIR pseudo record as a new record.
            let adds = (plan.adds.len() + plan.redirects.len()) as u64;
            if let Some(n) = want_new.filter(|&n| n != adds) {
                problems.push(format!("new_count: expected {n}, got {adds}"));
            }
            if let Some(n) = want_del.filter(|&n| n != plan.deletes.len() as u64) {
                problems.push(format!("delete_count: expected {n}, got {}", plan.deletes.len()));
            }
            if let Some(want) = get(expect, "records").and_then(Value::as_sequence) {
                let mut want: Vec<(Record, Option<String>)> = want
                    .iter()
                    .map(|v| {
                        let dc = get(v, "_dc").map(|dc| s(get(dc, "id").unwrap_or(&Value::Null)));
                        (to_record(v, &domain), dc)
                    })
                    .collect();
                let mut got = final_zone(&zone, &plan, &insts);
                if !multi_aware {
                    want.iter_mut().for_each(|w| w.1 = None);
                    got.iter_mut().for_each(|g| g.1 = None);
                }
                // "generated-id" stands for the random id the reference library assigns.
                want.iter_mut().for_each(|w| {
                    if w.1.is_some() && get(&input, "unique_id").is_none() {
                        w.1 = Some(instance_id.clone())
                    }
                });
                want.sort();
                got.sort();
                if want != got {
                    problems.push(format!("records:\n    expected {want:?}\n    got      {got:?}"));
                }
            }
        }
    }
    Outcome { id, problems }
}

fn suite(file: &str) -> (String, Vec<Value>) {
    let path = shared().join("domainconnect/compliance").join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_yaml::from_str(&text).expect("suite parses");
    let kind = s(get(&doc, "suite_type").unwrap_or(&Value::Null));
    (
        kind,
        get(&doc, "tests")
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default(),
    )
}

#[derive(serde::Deserialize)]
struct Override {
    policy: u32,
    reason: String,
    expect: Value,
}

#[test]
fn compliance_suites() {
    let overrides: BTreeMap<String, Override> =
        serde_yaml::from_str(include_str!("compliance_overrides.yaml")).expect("overrides parse");
    let files = [
        "process_records_tests.yaml",
        "process_records_apexcname_tests.yaml",
        "process_records_redir_tests.yaml",
        "apply_template_tests.yaml",
    ];
    let (mut total, mut failures, mut seen) = (0, Vec::new(), Vec::new());
    for f in files {
        let (kind, cases) = suite(f);
        for case in &cases {
            total += 1;
            let id = s(get(case, "id").unwrap_or(&Value::Null));
            let expect = match overrides.get(&id) {
                Some(o) => {
                    seen.push(id.clone());
                    assert!(
                        o.policy >= 1 && o.policy <= 22 && !o.reason.is_empty(),
                        "{id}: override needs a policy and reason"
                    );
                    // Our expectation must really differ from the reference library's.
                    let mut merged = get(case, "expect").cloned().unwrap_or(Value::Null);
                    if let (Some(m), Some(o)) = (merged.as_mapping_mut(), o.expect.as_mapping()) {
                        if o.contains_key("exception") {
                            m.clear();
                        } else {
                            m.remove("exception");
                        }
                        for (k, v) in o {
                            m.insert(k.clone(), v.clone());
                        }
                    }
                    assert_ne!(
                        Some(&merged),
                        get(case, "expect"),
                        "{id}: override does not differ"
                    );
                    merged
                }
                None => get(case, "expect").cloned().unwrap_or(Value::Null),
            };
            let out = run_case(&kind, case, &expect);
            if !out.problems.is_empty() {
                failures.push(format!("{f} {}:\n  {}", out.id, out.problems.join("\n  ")));
            }
        }
    }
    let unknown: Vec<&String> = overrides.keys().filter(|k| !seen.contains(k)).collect();
    assert!(unknown.is_empty(), "overrides for unknown cases: {unknown:?}");
    assert_eq!(total, 291, "the suites hold 291 cases");
    assert!(
        failures.is_empty(),
        "{} of {total} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
