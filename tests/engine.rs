//! Engine behaviour named by POLICY.md that the reference suites do not pin down, and what
//! hostile input does. Each test says what the zone looks like afterwards.

use dc_gateway::adapter::{Expect, Record};
use dc_gateway::engine::rdata::{parse_txt, txt_text};
use dc_gateway::engine::template::{Template, TemplateRecord};
use dc_gateway::engine::{
    self, ApplyRequest, ConflictRule, EngineConfig, EngineError, Essential, Instance, InstanceRecord, Params,
    Plan, Zone,
};
use proptest::prelude::*;

fn template(records: serde_json::Value) -> Template {
    serde_json::from_value(serde_json::json!({
        "providerId": "mail.example", "providerName": "Mail", "serviceId": "box", "serviceName": "Box",
        "records": records,
    }))
    .expect("template")
}

fn rec(name: &str, t: &str, ttl: u32, data: &str) -> Record {
    Record {
        name: name.into(),
        rtype: t.into(),
        ttl,
        data: data.into(),
    }
}

fn zone(records: &[(&str, &str, &str)]) -> Zone {
    Zone::new("example.com", records.iter().map(|(n, t, d)| rec(n, t, 300, d)))
}

struct Run<'a> {
    t: &'a Template,
    host: &'a str,
    params: Params,
    groups: Option<Vec<String>>,
    id: &'a str,
    cfg: EngineConfig,
}

impl<'a> Run<'a> {
    fn new(t: &'a Template) -> Self {
        Run {
            t,
            host: "",
            params: Params::new(),
            groups: None,
            id: "i1",
            cfg: EngineConfig::default(),
        }
    }
    fn host(mut self, h: &'a str) -> Self {
        self.host = h;
        self
    }
    fn param(mut self, k: &str, v: &str) -> Self {
        self.params.insert(k.into(), v.into());
        self
    }
    fn groups(mut self, g: &[&str]) -> Self {
        self.groups = Some(g.iter().map(|s| s.to_string()).collect());
        self
    }
    fn id(mut self, id: &'a str) -> Self {
        self.id = id;
        self
    }
    fn plan(&self, z: &Zone, instances: &[Instance]) -> Result<Plan, EngineError> {
        let req = ApplyRequest {
            template: self.t,
            domain: "example.com",
            host: self.host,
            params: &self.params,
            group_ids: self.groups.as_deref(),
            instance_id: self.id,
        };
        engine::plan(&req, z, instances, &self.cfg)
    }
}

/// The zone after the plan, as sorted (name, type, ttl, data) tuples.
fn after(z: &Zone, p: &Plan) -> Vec<(String, String, u32, String)> {
    let mut recs: Vec<Record> = z.records().to_vec();
    for d in &p.rrsets {
        recs.retain(|r| !(r.name == d.name && r.rtype == d.rtype));
        if let Some(a) = &d.after {
            recs.extend(a.records());
        }
    }
    let mut out: Vec<_> = recs
        .into_iter()
        .map(|r| (r.name, r.rtype, r.ttl, r.data))
        .collect();
    out.sort();
    out.dedup();
    out
}

fn names_types(v: &[(String, String, u32, String)]) -> Vec<(String, String)> {
    v.iter().map(|(n, t, _, _)| (n.clone(), t.clone())).collect()
}

// ---- POLICY.md 4: CNAME is exclusive ------------------------------------------------------

#[test]
fn new_cname_removes_every_type_at_its_owner() {
    let t = template(
        serde_json::json!([{"type": "CNAME", "host": "www", "pointsTo": "sites.mail.example", "ttl": 600}]),
    );
    let z = zone(&[
        ("www.example.com.", "A", "192.0.2.1"),
        ("www.example.com.", "TXT", "\"keep?\""),
        ("www.example.com.", "CAA", "0 issue \"ca.example\""),
        ("www.example.com.", "MX", "10 mx.example.com."),
        ("other.example.com.", "A", "192.0.2.9"),
    ]);
    let p = Run::new(&t).plan(&z, &[]).expect("plan");
    assert_eq!(
        after(&z, &p),
        vec![
            ("other.example.com.".into(), "A".into(), 300, "192.0.2.9".into()),
            (
                "www.example.com.".into(),
                "CNAME".into(),
                600,
                "sites.mail.example.".into()
            ),
        ]
    );
    assert_eq!(p.conflicts.len(), 4);
    assert!(p.conflicts.iter().all(|c| c.rule == ConflictRule::Cname));
}

#[test]
fn any_new_record_removes_a_cname_at_its_owner() {
    for (rtype, extra) in [
        (
            "SPFM",
            serde_json::json!({"spfRules": "include:spf.mail.example"}),
        ),
        (
            "CAA",
            serde_json::json!({"data": "0 issue \"ca.example\"", "ttl": 300}),
        ),
        ("TXT", serde_json::json!({"data": "token", "ttl": 300})),
    ] {
        let mut r = serde_json::json!({"type": rtype, "host": "shop"});
        r.as_object_mut()
            .expect("obj")
            .extend(extra.as_object().expect("obj").clone());
        let t = template(serde_json::json!([r]));
        let z = zone(&[("shop.example.com.", "CNAME", "shops.example.net.")]);
        let p = Run::new(&t).plan(&z, &[]).expect("plan");
        let types: Vec<String> = after(&z, &p).into_iter().map(|(_, t, _, _)| t).collect();
        assert_eq!(
            types,
            vec![if rtype == "SPFM" {
                "TXT".to_string()
            } else {
                rtype.to_string()
            }],
            "{rtype}"
        );
    }
}

#[test]
fn cname_and_ns_at_the_apex_are_refused() {
    for rtype in ["CNAME", "NS"] {
        let mut t = template(
            serde_json::json!([{"type": rtype, "host": "@", "pointsTo": "x.example.net", "ttl": 300}]),
        );
        t.host_required = false;
        let err = Run::new(&t).plan(&zone(&[]), &[]).expect_err("refused");
        assert!(
            matches!(err, EngineError::InvalidData { field: "host", .. }),
            "{rtype}: {err}"
        );
    }
}

// ---- POLICY.md 6: NS is a delegation ------------------------------------------------------

#[test]
fn ns_replaces_everything_at_and_below_and_nothing_beside() {
    let t = template(serde_json::json!([
        {"type": "NS", "host": "shop", "pointsTo": "ns1.shops.example", "ttl": 3600},
        {"type": "NS", "host": "shop", "pointsTo": "ns2.shops.example", "ttl": 3600}
    ]));
    let z = zone(&[
        ("shop.example.com.", "A", "192.0.2.1"),
        ("a.shop.example.com.", "TXT", "\"x\""),
        ("b.a.shop.example.com.", "A", "192.0.2.2"),
        ("shopping.example.com.", "A", "192.0.2.3"),
    ]);
    let p = Run::new(&t).plan(&z, &[]).expect("plan");
    assert_eq!(
        names_types(&after(&z, &p)),
        vec![
            ("shop.example.com.".to_string(), "NS".to_string()),
            ("shop.example.com.".to_string(), "NS".to_string()),
            ("shopping.example.com.".to_string(), "A".to_string()),
        ]
    );
}

#[test]
fn a_record_under_an_existing_delegation_removes_the_delegation() {
    let t =
        template(serde_json::json!([{"type": "A", "host": "www.shop", "pointsTo": "192.0.2.7", "ttl": 300}]));
    let z = zone(&[("shop.example.com.", "NS", "ns1.elsewhere.example.")]);
    let p = Run::new(&t).plan(&z, &[]).expect("plan");
    assert_eq!(
        names_types(&after(&z, &p)),
        vec![("www.shop.example.com.".to_string(), "A".to_string())]
    );
    assert_eq!(p.conflicts[0].rule, ConflictRule::Ns);
}

// ---- POLICY.md 7: SPF merging -------------------------------------------------------------

fn spf_of(z: &Zone, p: &Plan, name: &str) -> Vec<(String, u32)> {
    after(z, p)
        .into_iter()
        .filter(|(n, t, _, d)| n == name && t == "TXT" && txt_text(d).starts_with("v=spf1"))
        .map(|(_, _, ttl, d)| (txt_text(&d), ttl))
        .collect()
}

#[test]
fn spf_keeps_existing_terms_appends_dedups_and_keeps_ttl_and_qualifier() {
    let t = template(serde_json::json!([
        {"type": "SPFM", "host": "@", "spfRules": "include:spf.mail.example mx"}
    ]));
    let z = zone(&[("example.com.", "TXT", "\"v=spf1 mx include:old.example -all\"")]);
    let p = Run::new(&t).plan(&z, &[]).expect("plan");
    assert_eq!(
        spf_of(&z, &p, "example.com."),
        vec![(
            "v=spf1 mx include:old.example include:spf.mail.example -all".into(),
            300
        )]
    );
    assert!(p.conflicts.is_empty(), "an SPF merge is not a conflict");
    assert_eq!(
        p.instance.spf_terms[0].terms,
        vec!["include:spf.mail.example".to_string()]
    );
}

#[test]
fn new_spf_gets_template_ttl_or_3600_and_tilde_all() {
    let t = template(serde_json::json!([{"type": "SPFM", "host": "@", "spfRules": "include:a.example"}]));
    let p = Run::new(&t).plan(&zone(&[]), &[]).expect("plan");
    assert_eq!(
        spf_of(&zone(&[]), &p, "example.com."),
        vec![("v=spf1 include:a.example ~all".into(), 3600)]
    );
    let t = template(
        serde_json::json!([{"type": "SPFM", "host": "@", "spfRules": "include:a.example", "ttl": 900}]),
    );
    let p = Run::new(&t).plan(&zone(&[]), &[]).expect("plan");
    assert_eq!(
        spf_of(&zone(&[]), &p, "example.com."),
        vec![("v=spf1 include:a.example ~all".into(), 900)]
    );
}

#[test]
fn raw_spf_txt_in_a_template_is_merged_not_added_twice() {
    let t = template(
        serde_json::json!([{"type": "TXT", "host": "@", "data": "v=spf1 include:b.example ?all", "ttl": 600}]),
    );
    let z = zone(&[
        ("example.com.", "TXT", "\"v=spf1 a ~all\""),
        ("example.com.", "TXT", "\"other\""),
    ]);
    let p = Run::new(&t).plan(&z, &[]).expect("plan");
    // Least strict qualifier wins: '?' over '~'.
    assert_eq!(spf_of(&z, &p, "example.com.").len(), 1);
    assert_eq!(
        spf_of(&z, &p, "example.com.")[0].0,
        "v=spf1 a include:b.example ?all"
    );
    assert!(after(&z, &p).iter().any(|(_, _, _, d)| d == "\"other\""));
}

#[test]
fn unparseable_existing_spf_is_a_conflict_and_is_replaced() {
    let t = template(serde_json::json!([{"type": "SPFM", "host": "@", "spfRules": "include:a.example"}]));
    let z = zone(&[(
        "example.com.",
        "TXT",
        "\"v=spf1 include:x.example bogus#term -all\"",
    )]);
    let p = Run::new(&t).plan(&z, &[]).expect("plan");
    assert_eq!(p.conflicts.len(), 1);
    assert_eq!(p.conflicts[0].rule, ConflictRule::UnparseableSpf);
    assert_eq!(
        spf_of(&z, &p, "example.com."),
        vec![("v=spf1 include:a.example ~all".into(), 3600)]
    );
}

#[test]
fn bad_spf_rules_change_nothing() {
    for rules in ["include:a ~all", "v=spf1 mx", "foo bar", "include:a\nmx"] {
        let t = template(serde_json::json!([{"type": "SPFM", "host": "@", "spfRules": rules}]));
        let err = Run::new(&t).plan(&zone(&[]), &[]).expect_err(rules);
        assert!(
            matches!(
                err,
                EngineError::InvalidData {
                    field: "spfRules",
                    ..
                }
            ),
            "{rules}: {err}"
        );
    }
}

// ---- POLICY.md 3 and 9: values, TTLs, RRsets ----------------------------------------------

#[test]
fn ttls_are_clamped_and_one_rrset_has_one_ttl() {
    let t = template(serde_json::json!([
        {"type": "A", "host": "a", "pointsTo": "192.0.2.1", "ttl": 0},
        {"type": "A", "host": "b", "pointsTo": "192.0.2.1", "ttl": "99999999999"},
        {"type": "TXT", "host": "c", "data": "new", "ttl": 120}
    ]));
    let z = zone(&[("c.example.com.", "TXT", "\"old\"")]);
    let p = Run::new(&t).plan(&z, &[]).expect("plan");
    let a = after(&z, &p);
    assert!(a.contains(&("a.example.com.".into(), "A".into(), 60, "192.0.2.1".into())));
    assert!(a.contains(&(
        "b.example.com.".into(),
        "A".into(),
        2_147_483_647,
        "192.0.2.1".into()
    )));
    assert!(a.contains(&("c.example.com.".into(), "TXT".into(), 120, "\"old\"".into())));
    assert!(a.contains(&("c.example.com.".into(), "TXT".into(), 120, "\"new\"".into())));
}

#[test]
fn long_txt_is_split_into_255_octet_strings() {
    let t = template(serde_json::json!([{"type": "TXT", "host": "@", "data": "%v%", "ttl": 300}]));
    let value = "k".repeat(700);
    let p = Run::new(&t)
        .param("v", &value)
        .plan(&zone(&[]), &[])
        .expect("plan");
    let data = &p.adds[0].data;
    let strings = parse_txt(data).expect("valid presentation");
    assert_eq!(
        strings.iter().map(Vec::len).collect::<Vec<_>>(),
        vec![255, 255, 190]
    );
    assert_eq!(txt_text(data), value);
}

#[test]
fn identical_records_are_not_rewritten() {
    let t = template(serde_json::json!([{"type": "A", "host": "@", "pointsTo": "192.0.2.1", "ttl": 300}]));
    let z = zone(&[("example.com.", "A", "192.0.2.1")]);
    let p = Run::new(&t).plan(&z, &[]).expect("plan");
    assert!(p.is_noop());
    assert!(p.adds.is_empty() && p.deletes.is_empty() && p.conflicts.is_empty());
    assert!(p.change_set().changes.is_empty());
}

#[test]
fn change_set_guards_every_rrset_with_its_current_content() {
    let t = template(serde_json::json!([
        {"type": "A", "host": "@", "pointsTo": "192.0.2.1", "ttl": 300},
        {"type": "TXT", "host": "v", "data": "token", "ttl": 300}
    ]));
    let z = zone(&[
        ("example.com.", "A", "198.51.100.1"),
        ("example.com.", "AAAA", "2001:db8::1"),
    ]);
    let cs = Run::new(&t).plan(&z, &[]).expect("plan").change_set();
    let find = |n: &str, ty: &str| {
        cs.changes
            .iter()
            .find(|c| c.name == n && c.rtype == ty)
            .expect("change")
    };
    assert_eq!(
        find("example.com.", "A").expect,
        Expect::Exactly(vec!["198.51.100.1".into()])
    );
    assert_eq!(
        find("example.com.", "AAAA").expect,
        Expect::Exactly(vec!["2001:db8::1".into()])
    );
    assert!(find("example.com.", "AAAA").new.is_none());
    assert_eq!(find("v.example.com.", "TXT").expect, Expect::Absent);
}

// ---- POLICY.md 10: groups -----------------------------------------------------------------

#[test]
fn group_that_matches_nothing_is_an_error() {
    let t = template(
        serde_json::json!([{"type": "TXT", "host": "@", "data": "x", "ttl": 300, "groupId": "verify"}]),
    );
    let err = Run::new(&t)
        .groups(&["mail"])
        .plan(&zone(&[]), &[])
        .expect_err("no match");
    assert!(matches!(err, EngineError::InvalidRequest(_)), "{err}");
}

#[test]
fn alternative_groups_applied_together_fail_with_a_clear_message() {
    let t = template(serde_json::json!([
        {"type": "CNAME", "host": "www", "pointsTo": "a.example.net", "ttl": 300, "groupId": "hosted"},
        {"type": "A", "host": "www", "pointsTo": "192.0.2.1", "ttl": 300, "groupId": "ip"}
    ]));
    let err = Run::new(&t).plan(&zone(&[]), &[]).expect_err("alternatives");
    assert!(err.to_string().contains("alternatives"), "{err}");
    assert!(Run::new(&t).groups(&["ip"]).plan(&zone(&[]), &[]).is_ok());
}

// ---- POLICY.md 13–15: template state -------------------------------------------------------

fn instance(id: &str, service: &str, host: &str, recs: &[(Record, Essential, Option<&str>)]) -> Instance {
    Instance {
        id: id.into(),
        provider_id: "mail.example".into(),
        service_id: service.into(),
        host: host.into(),
        groups: vec![],
        records: recs
            .iter()
            .map(|(r, e, g)| InstanceRecord {
                record: r.clone(),
                essential: *e,
                group_id: g.map(String::from),
            })
            .collect(),
        spf_terms: vec![],
    }
}

#[test]
fn reapply_at_the_apex_replaces_the_earlier_instance() {
    let t = template(serde_json::json!([{"type": "TXT", "host": "@", "data": "v2", "ttl": 300}]));
    let old = rec("example.com.", "TXT", 300, "\"v1\"");
    let z = Zone::new("example.com", vec![old.clone()]);
    let earlier = instance("old", "box", "", &[(old, Essential::Always, None)]);
    let p = Run::new(&t).id("new").plan(&z, &[earlier]).expect("plan");
    assert_eq!(
        after(&z, &p),
        vec![("example.com.".into(), "TXT".into(), 300, "\"v2\"".into())]
    );
    assert_eq!(p.removed_instances, vec!["old".to_string()]);
    assert!(
        p.conflicts.is_empty(),
        "replacing our own instance is not a conflict"
    );
}

#[test]
fn reapply_with_a_group_keeps_the_other_groups() {
    let t = template(serde_json::json!([
        {"type": "TXT", "host": "@", "data": "verify-%t%", "ttl": 300, "groupId": "verify"},
        {"type": "MX", "host": "@", "pointsTo": "mx.mail.example", "priority": 10, "ttl": 300, "groupId": "mail"}
    ]));
    let v1 = rec("example.com.", "TXT", 300, "\"verify-1\"");
    let mx = rec("example.com.", "MX", 300, "10 mx.mail.example.");
    let z = Zone::new("example.com", vec![v1.clone(), mx.clone()]);
    let earlier = instance(
        "first",
        "box",
        "",
        &[
            (v1, Essential::Always, Some("verify")),
            (mx.clone(), Essential::Always, Some("mail")),
        ],
    );
    let p = Run::new(&t)
        .groups(&["verify"])
        .param("t", "2")
        .id("second")
        .plan(&z, &[earlier])
        .expect("plan");
    let a = after(&z, &p);
    assert!(a.contains(&(
        "example.com.".into(),
        "MX".into(),
        300,
        "10 mx.mail.example.".into()
    )));
    assert!(a.contains(&("example.com.".into(), "TXT".into(), 300, "\"verify-2\"".into())));
    assert!(!a.iter().any(|r| r.3 == "\"verify-1\""));
    assert_eq!(
        p.instance.id, "first",
        "the group is added to the earlier instance"
    );
    assert!(p.instance.records.iter().any(|r| r.record == mx));
}

#[test]
fn cascade_removes_only_the_instance_that_lost_an_always_record() {
    // Two instances of another multi-instance service on the same host; a new CNAME hits
    // one record of instance "a" only.
    let t = template(
        serde_json::json!([{"type": "CNAME", "host": "app", "pointsTo": "new.example.net", "ttl": 300}]),
    );
    let a1 = rec("app.example.com.", "A", 300, "192.0.2.1");
    let a2 = rec("a-extra.example.com.", "TXT", 300, "\"a\"");
    let b1 = rec("b.example.com.", "TXT", 300, "\"b\"");
    let z = Zone::new("example.com", vec![a1.clone(), a2.clone(), b1.clone()]);
    let inst_a = instance(
        "a",
        "other",
        "",
        &[(a1, Essential::Always, None), (a2, Essential::Always, None)],
    );
    let inst_b = instance("b", "other", "", &[(b1.clone(), Essential::Always, None)]);
    let p = Run::new(&t).plan(&z, &[inst_a, inst_b]).expect("plan");
    let a = after(&z, &p);
    assert_eq!(
        a,
        vec![
            (
                "app.example.com.".into(),
                "CNAME".into(),
                300,
                "new.example.net.".into()
            ),
            ("b.example.com.".into(), "TXT".into(), 300, "\"b\"".into()),
        ]
    );
    assert_eq!(p.removed_instances, vec!["a".to_string()]);
    assert!(
        p.conflicts
            .iter()
            .any(|c| c.rule == ConflictRule::Cascade && c.instance.as_deref() == Some("a"))
    );
}

#[test]
fn on_apply_records_go_alone() {
    let t = template(
        serde_json::json!([{"type": "CNAME", "host": "app", "pointsTo": "new.example.net", "ttl": 300}]),
    );
    let a1 = rec("app.example.com.", "A", 300, "192.0.2.1");
    let a2 = rec("keep.example.com.", "TXT", 300, "\"a\"");
    let z = Zone::new("example.com", vec![a1.clone(), a2.clone()]);
    let inst = instance(
        "a",
        "other",
        "",
        &[
            (a1, Essential::OnApply, None),
            (a2.clone(), Essential::Always, None),
        ],
    );
    let p = Run::new(&t).plan(&z, &[inst]).expect("plan");
    assert!(after(&z, &p).contains(&("keep.example.com.".into(), "TXT".into(), 300, "\"a\"".into())));
    assert!(p.removed_instances.is_empty());
    assert_eq!(p.updated_instances.len(), 1);
    assert_eq!(p.updated_instances[0].records.len(), 1);
    assert_eq!(p.updated_instances[0].records[0].record, a2);
}

#[test]
fn multi_instance_templates_keep_earlier_instances() {
    let mut t = template(serde_json::json!([{"type": "TXT", "host": "@", "data": "%v%", "ttl": 300}]));
    t.multi_instance = true;
    let old = rec("example.com.", "TXT", 300, "\"one\"");
    let z = Zone::new("example.com", vec![old.clone()]);
    let earlier = instance("one", "box", "", &[(old, Essential::Always, None)]);
    let p = Run::new(&t)
        .param("v", "two")
        .id("two")
        .plan(&z, &[earlier])
        .expect("plan");
    assert_eq!(after(&z, &p).len(), 2);
    assert!(p.removed_instances.is_empty());
}

// ---- POLICY.md 11–12: capabilities --------------------------------------------------------

#[test]
fn apexcname_and_redir_need_configuration_and_backend_types_are_honoured() {
    let t = template(serde_json::json!([{"type": "APEXCNAME", "pointsTo": "a.example.net", "ttl": 300}]));
    assert!(matches!(
        Run::new(&t).plan(&zone(&[]), &[]),
        Err(EngineError::UnsupportedType { .. })
    ));
    let mut run = Run::new(&t);
    run.cfg.apex_alias = Some("ALIAS".into());
    let z = zone(&[
        ("example.com.", "A", "192.0.2.1"),
        ("example.com.", "MX", "10 mx.example.com."),
    ]);
    let p = run.plan(&z, &[]).expect("plan");
    assert_eq!(
        names_types(&after(&z, &p)),
        vec![
            ("example.com.".into(), "ALIAS".into()),
            ("example.com.".into(), "MX".into())
        ]
    );

    let t = template(
        serde_json::json!([{"type": "REDIR301", "host": "www", "target": "https://shop.example.net/"}]),
    );
    assert!(matches!(
        Run::new(&t).plan(&zone(&[]), &[]),
        Err(EngineError::UnsupportedType { .. })
    ));

    let t = template(
        serde_json::json!([{"type": "CAA", "host": "@", "data": "0 issue \"ca.example\"", "ttl": 300}]),
    );
    let mut run = Run::new(&t);
    run.cfg.supported_types = Some(vec!["A".into(), "TXT".into()]);
    assert!(matches!(
        run.plan(&zone(&[]), &[]),
        Err(EngineError::UnsupportedType { .. })
    ));
}

// ---- Bad input ----------------------------------------------------------------------------

#[test]
fn hostile_values_end_in_a_clear_error() {
    let t = template(serde_json::json!([
        {"type": "A", "host": "%h%", "pointsTo": "%ip%", "ttl": 300},
        {"type": "TXT", "host": "t", "data": "%txt%", "ttl": 300}
    ]));
    let ok = |h: &str, ip: &str, txt: &str| {
        Run::new(&t)
            .param("h", h)
            .param("ip", ip)
            .param("txt", txt)
            .plan(&zone(&[]), &[])
    };
    let cases: Vec<(&str, &str, &str, &str)> = vec![
        ("a\nb", "192.0.2.1", "x", "host"),
        ("evil.org.", "192.0.2.1", "x", "host"),
        ("..", "192.0.2.1", "x", "host"),
        ("b\u{fc}cher", "192.0.2.1", "x", "host"),
        ("www", "192.0.2.1\n", "x", "pointsTo"),
        ("www", "", "x", "pointsTo"),
        ("www", "192.0.2.1 ; rm", "x", "pointsTo"),
        ("www", "192.0.2.1", "line\nbreak", "data"),
        ("www", "192.0.2.1", "nul\u{0}", "data"),
    ];
    for (h, ip, txt, field) in cases {
        match ok(h, ip, txt) {
            Err(EngineError::InvalidData { field: f, .. }) => assert_eq!(f, field, "{h:?} {ip:?} {txt:?}"),
            other => panic!("{h:?} {ip:?} {txt:?}: expected invalid data in {field}, got {other:?}"),
        }
    }
    let long = "a".repeat(10_000);
    assert!(matches!(
        ok(&long, "192.0.2.1", "x"),
        Err(EngineError::InvalidData { field: "host", .. })
    ));
    // Dots that climb out of the zone never shorten the name.
    assert!(ok("example.com.evil.", "192.0.2.1", "x").is_err());
    let missing = Run::new(&t)
        .param("h", "www")
        .plan(&zone(&[]), &[])
        .expect_err("missing");
    assert_eq!(
        missing.to_string(),
        "missing variable: %ip% (record 0, field pointsTo)"
    );
}

#[test]
fn quotes_percents_and_non_ascii_in_txt_stay_literal_and_zone_safe() {
    let t = template(serde_json::json!([{"type": "TXT", "host": "@", "data": "v=%v%", "ttl": 300}]));
    let value = "a\"b\\c %d% é";
    let p = Run::new(&t)
        .param("v", value)
        .plan(&zone(&[]), &[])
        .expect("plan");
    let data = &p.adds[0].data;
    assert!(data.is_ascii(), "{data}");
    assert_eq!(txt_text(data), format!("v={value}"));
    assert_eq!(parse_txt(data).expect("parses").len(), 1);
}

#[test]
fn empty_host_variable_means_the_apex_and_empty_txt_is_allowed() {
    let t = template(serde_json::json!([{"type": "TXT", "host": "%h%", "data": "%d%", "ttl": 300}]));
    let p = Run::new(&t)
        .param("h", "")
        .param("d", "")
        .plan(&zone(&[]), &[])
        .expect("plan");
    assert_eq!(p.adds, vec![rec("example.com.", "TXT", 300, "\"\"")]);
}

#[test]
fn host_parameter_and_domain_are_validated() {
    let t = template(serde_json::json!([{"type": "TXT", "host": "@", "data": "x", "ttl": 300}]));
    let bad_host = Run::new(&t)
        .host("a/../b")
        .plan(&zone(&[]), &[])
        .expect_err("host");
    assert!(matches!(bad_host, EngineError::InvalidRequest(_)));
    let req_t = {
        let mut t = t.clone();
        t.host_required = true;
        t
    };
    assert_eq!(
        Run::new(&req_t).plan(&zone(&[]), &[]).expect_err("required"),
        EngineError::HostRequired
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// Whatever the caller sends, the engine answers with a plan or an error, never a panic;
    /// and a plan never holds a name outside the zone, a bad label, control characters or
    /// unparseable TXT.
    #[test]
    fn substitution_never_yields_an_unsafe_zone(h in ".{0,80}", v in ".{0,300}", ip in "[0-9.:a-f]{0,20}") {
        let t = template(serde_json::json!([
            {"type": "A", "host": "%h%", "pointsTo": "%ip%", "ttl": 300},
            {"type": "TXT", "host": "%h%.txt", "data": "%v%", "ttl": 300},
            {"type": "CNAME", "host": "c.%h%", "pointsTo": "%v%.example.net", "ttl": 300},
            {"type": "SPFM", "host": "@", "spfRules": "include:%v%"}
        ]));
        let run = Run::new(&t).param("h", &h).param("v", &v).param("ip", &ip);
        if let Ok(p) = run.plan(&zone(&[("c.example.com.", "A", "192.0.2.1")]), &[]) {
            for r in &p.adds {
                prop_assert!(dc_gateway::adapter::in_zone(&r.name, "example.com."));
                prop_assert!(r.name.is_ascii() && !r.name.contains(".."));
                prop_assert!(!r.data.chars().any(char::is_control));
                if r.rtype == "TXT" { prop_assert!(parse_txt(&r.data).is_ok()); }
            }
        }
    }

    /// Template parsing never panics, whatever the JSON holds.
    #[test]
    fn template_parsing_never_panics(s in "\\PC{0,200}") {
        let _ = serde_json::from_str::<Template>(&s);
        let wrapped = format!("{{\"providerId\":\"a\",\"providerName\":\"b\",\"serviceId\":\"c\",\"serviceName\":\"d\",\"records\":[{s}]}}");
        if let Ok(t) = serde_json::from_str::<Template>(&wrapped) {
            let _ = Run::new(&t).plan(&zone(&[]), &[]);
        }
        let _: Result<TemplateRecord, _> = serde_json::from_str(&s);
    }
}

#[test]
fn reapply_keeps_the_spf_terms_the_earlier_instance_merged() {
    let t =
        template(serde_json::json!([{"type": "SPFM", "host": "@", "spfRules": "include:spf.mail.example"}]));
    let z = zone(&[(
        "example.com.",
        "TXT",
        "\"v=spf1 mx include:spf.mail.example -all\"",
    )]);
    let mut earlier = instance("first", "box", "", &[]);
    earlier.spf_terms = vec![dc_gateway::engine::SpfContribution {
        name: "example.com.".into(),
        terms: vec!["include:spf.mail.example".into()],
    }];
    let p = Run::new(&t).id("second").plan(&z, &[earlier]).expect("plan");
    assert!(p.is_noop(), "the term is already there");
    assert_eq!(p.instance.spf_terms.len(), 1, "{:?}", p.instance);
    assert_eq!(
        p.instance.spf_terms[0].terms,
        vec!["include:spf.mail.example".to_string()]
    );
    // A term that was there before any instance is not claimed.
    let p = Run::new(&t).id("second").plan(&z, &[]).expect("plan");
    assert!(p.instance.spf_terms.is_empty());
}
