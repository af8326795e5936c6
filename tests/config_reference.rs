//! The configuration reference (docs/configuration.md) cannot drift from the configuration
//! types: for every section, the keys the types accept (read from serde's own "unknown field,
//! expected one of ..." answer to a probe key) are exactly the keys the reference documents.

use std::collections::{BTreeMap, BTreeSet};

use dc_gateway::config::Config;

/// The sections of the configuration, as TOML headers.
const SECTIONS: &[&str] = &[
    "[server]",
    "[provider]",
    "[templates]",
    "[engine]",
    "[[engine.redirect_records]]",
    "[dns]",
    "[login]",
    "[[login.users]]",
    "[login.header]",
    "[login.oidc]",
    "[authz]",
    "[[authz.rules]]",
    "[authz.webhook]",
    "[session]",
    "[database]",
    "[telemetry]",
];

/// The keys the types accept in `header`'s table.
fn accepted(header: &str) -> BTreeSet<String> {
    let toml = format!("{header}\nzz_probe_zz = 1\n");
    let err = match Config::from_toml(&toml) {
        Ok(_) => panic!("{header}: an unknown key was accepted"),
        Err(e) => e.to_string(),
    };
    let expected = err
        .split_once("expected ")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("{header}: no field list in {err:?}"));
    let list = expected.strip_prefix("one of ").unwrap_or(expected);
    // The config crate appends where the error happened: "... for key `server`".
    let list = list.split(" for key").next().unwrap_or(list);
    let keys: BTreeSet<String> = list.split('`').skip(1).step_by(2).map(str::to_string).collect();
    assert!(!keys.is_empty(), "{header}: {err}");
    keys
}

/// The keys docs/configuration.md documents under each section heading: a heading line
/// "### `[section]`" followed by a table whose rows start with "| `key` |".
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md"))
        .expect("docs/configuration.md");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        if line.starts_with('#') {
            current = line
                .strip_prefix("### `")
                .and_then(|h| h.strip_suffix('`'))
                .map(str::to_string);
            if let Some(c) = &current {
                out.entry(c.clone()).or_default();
            }
        } else if let (Some(section), Some(row)) = (&current, line.strip_prefix("| `")) {
            let key = row.split('`').next().unwrap_or_default();
            out.entry(section.clone()).or_default().insert(key.to_string());
        }
    }
    out
}

#[test]
fn every_key_of_the_types_is_documented_and_every_documented_key_exists() {
    let docs = documented();
    let mut problems = Vec::new();
    for header in SECTIONS {
        let types = accepted(header);
        let Some(doc) = docs.get(*header) else {
            problems.push(format!("no section ### `{header}` (keys {types:?})"));
            continue;
        };
        let undocumented: Vec<_> = types.difference(doc).collect();
        let unknown: Vec<_> = doc.difference(&types).collect();
        if !undocumented.is_empty() || !unknown.is_empty() {
            problems.push(format!(
                "{header}: keys not documented {undocumented:?}; documented keys the types do not have {unknown:?}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md:\n{}",
        problems.join("\n")
    );
    let extra: Vec<_> = docs
        .keys()
        .filter(|k| !SECTIONS.contains(&k.as_str()) && k.starts_with('[') && !k.starts_with("[[backends]]"))
        .collect();
    assert!(extra.is_empty(), "sections documented but not checked: {extra:?}");
}

/// The backend kinds; each documented under "### `[[backends]] kind = <kind>`".
const KINDS: &[&str] = &["zonefile", "powerdns", "cloudflare", "rfc2136", "route53"];

/// The keys a backend kind accepts besides `name`, `zones` and `kind`.
fn accepted_by_kind(kind: &str) -> BTreeSet<String> {
    let toml = format!("[[backends]]\nname = \"b\"\nzones = [\"*\"]\nkind = \"{kind}\"\nzz_probe_zz = 1\n");
    let err = match Config::from_toml(&toml) {
        Ok(_) => panic!("{kind}: an unknown key was accepted"),
        Err(e) => e.to_string(),
    };
    let list = err
        .split_once("expected one of ")
        .map(|(_, rest)| rest)
        .unwrap_or_else(|| panic!("{kind}: no field list in {err:?}"));
    let list = list.split(" for key").next().unwrap_or(list);
    list.split('`').skip(1).step_by(2).map(str::to_string).collect()
}

#[test]
fn every_backend_key_is_documented_per_kind() {
    let docs = documented();
    let common: BTreeSet<String> = ["name", "zones", "kind"].iter().map(|s| s.to_string()).collect();
    assert_eq!(
        docs.get("[[backends]]"),
        Some(&common),
        "### `[[backends]]` documents the common keys"
    );
    let mut problems = Vec::new();
    for kind in KINDS {
        let types = accepted_by_kind(kind);
        let heading = format!("[[backends]] kind = {kind}");
        let Some(doc) = docs.get(&heading) else {
            problems.push(format!("no section ### `{heading}` (keys {types:?})"));
            continue;
        };
        if &types != doc {
            problems.push(format!(
                "{heading}: the types accept {types:?}, the reference documents {doc:?}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/configuration.md:\n{}",
        problems.join("\n")
    );
}

#[test]
fn misspelt_keys_are_refused_at_start() {
    let err = Config::from_toml("[server]\nlisten = \"127.0.0.1:1\"\npublic_ulr = \"https://x\"\n")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(err.contains("public_ulr"), "{err}");
}
