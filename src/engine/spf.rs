//! SPF records and SPFM merging (POLICY.md 7).
//!
//! One SPF record per owner: the existing record's terms are kept in order, the template's
//! rules are appended, exact duplicates (case-insensitive) are dropped, and the record ends
//! with one `all` term carrying the least strict qualifier among the sources (`+` over `?`
//! over `~` over `-`), or the configured default when no source has one.

/// A parsed SPF record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Spf {
    /// Terms without `v=spf1` and without the `all` term.
    pub terms: Vec<String>,
    /// Qualifier of the `all` term, if there was one.
    pub all: Option<char>,
}

/// True when TXT text is an SPF record (`v=spf1` alone or followed by a space).
pub fn is_spf(text: &str) -> bool {
    let t = text.trim_start();
    t.len() >= 6
        && t.as_bytes()[..6].eq_ignore_ascii_case(b"v=spf1")
        && (t.len() == 6 || t.as_bytes()[6] == b' ')
}

const MECHANISMS: [&str; 8] = ["all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"];

/// Checks one term (RFC 7208 §4.6.1): a mechanism with an optional qualifier, or a
/// `name=value` modifier.
pub fn check_term(term: &str) -> Result<(), String> {
    if term.is_empty() || !term.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "SPF term {term:?} holds characters outside printable ASCII"
        ));
    }
    let body = term.strip_prefix(['+', '-', '~', '?']).unwrap_or(term);
    let name_end = body.find([':', '/', '=']).unwrap_or(body.len());
    let name = &body[..name_end];
    if body[name_end..].starts_with('=') {
        if body.len() != term.len() {
            return Err(format!("SPF modifier {term:?} cannot take a qualifier"));
        }
        let ok = name.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        return if ok {
            Ok(())
        } else {
            Err(format!("SPF modifier {term:?} has an invalid name"))
        };
    }
    if !MECHANISMS.iter().any(|m| m.eq_ignore_ascii_case(name)) {
        return Err(format!("SPF term {term:?} is not a known mechanism"));
    }
    Ok(())
}

/// Parses SPF text. `Err` when it is not SPF or holds a term that is not valid SPF.
pub fn parse(text: &str) -> Result<Spf, String> {
    if !is_spf(text) {
        return Err("not an SPF record".into());
    }
    let mut spf = Spf::default();
    for term in text.split_whitespace().skip(1) {
        check_term(term)?;
        let body = term.strip_prefix(['+', '-', '~', '?']).unwrap_or(term);
        if body.eq_ignore_ascii_case("all") {
            let q = term.chars().next().filter(|c| "+-~?".contains(*c)).unwrap_or('+');
            spf.all = Some(least_strict(spf.all, q));
        } else {
            spf.terms.push(term.to_string());
        }
    }
    Ok(spf)
}

/// Parses the `spfRules` of an SPFM record: terms only (no `v=spf1`, no `all`).
pub fn parse_rules(rules: &str) -> Result<Vec<String>, String> {
    if let Some(c) = rules.chars().find(|c| c.is_control()) {
        return Err(format!("spfRules hold the control character U+{:04X}", c as u32));
    }
    let mut out = Vec::new();
    for term in rules.split_whitespace() {
        if term.eq_ignore_ascii_case("v=spf1") {
            return Err("spfRules must not contain v=spf1".into());
        }
        check_term(term)?;
        let body = term.strip_prefix(['+', '-', '~', '?']).unwrap_or(term);
        if body.eq_ignore_ascii_case("all") {
            return Err("spfRules must not contain an 'all' term".into());
        }
        out.push(term.to_string());
    }
    Ok(out)
}

fn strictness(q: char) -> u8 {
    match q {
        '+' => 0,
        '?' => 1,
        '~' => 2,
        _ => 3,
    }
}

/// The least strict of two qualifiers.
pub fn least_strict(a: Option<char>, b: char) -> char {
    match a {
        Some(a) if strictness(a) <= strictness(b) => a,
        _ => b,
    }
}

/// Appends `rules` to `base`, dropping exact duplicates; returns the terms actually added.
pub fn merge(base: &mut Spf, rules: &[String]) -> Vec<String> {
    let mut added = Vec::new();
    for r in rules {
        if !base.terms.iter().any(|t| t.eq_ignore_ascii_case(r)) {
            base.terms.push(r.clone());
            added.push(r.clone());
        }
    }
    added
}

/// Removes `terms` (case-insensitive) from `base` (revert).
pub fn remove(base: &mut Spf, terms: &[String]) {
    base.terms
        .retain(|t| !terms.iter().any(|r| r.eq_ignore_ascii_case(t)));
}

/// The record text, ending in one `all` term.
pub fn render(spf: &Spf, default_qualifier: char) -> String {
    let q = spf.all.unwrap_or(default_qualifier);
    let mut out = String::from("v=spf1");
    for t in &spf.terms {
        out.push(' ');
        out.push_str(t);
    }
    out.push(' ');
    if q != '+' {
        out.push(q);
    }
    out.push_str("all");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_appends_dedups_and_keeps_one_all() {
        let mut s = parse("v=spf1 mx include:a.example -all").expect("parses");
        let added = merge(&mut s, &["include:a.example".into(), "include:b.example".into()]);
        assert_eq!(added, vec!["include:b.example".to_string()]);
        assert_eq!(
            render(&s, '~'),
            "v=spf1 mx include:a.example include:b.example -all"
        );
    }

    #[test]
    fn least_strict_qualifier_wins_and_default_applies() {
        let s = parse("v=spf1 ~all -all").expect("parses");
        assert_eq!(s.all, Some('~'));
        let mut fresh = Spf::default();
        merge(&mut fresh, &["include:x.example".into()]);
        assert_eq!(render(&fresh, '~'), "v=spf1 include:x.example ~all");
    }

    #[test]
    fn garbage_is_refused() {
        assert!(parse("v=spf1 bogus!! -all").is_err());
        assert!(parse("v=spf10 -all").is_err());
        assert!(parse_rules("include:x ~all").is_err());
        assert!(parse_rules("v=spf1 include:x").is_err());
        assert!(is_spf("V=SPF1"));
        assert!(!is_spf("v=spf1x"));
    }
}
