//! Domain names: normalising the `domain` and `host` parameters and rendering owner names
//! and targets (SPEC.md §6.5–6.6, POLICY.md 2).
//!
//! Every name the engine produces is absolute, lower-case, with a trailing dot.

/// Longest name in presentation format without the trailing dot.
pub const MAX_NAME: usize = 253;

/// Checks one label: 1–63 of `A-Z a-z 0-9 _ -`, not starting or ending with `-`.
pub fn check_label(label: &str) -> Result<(), String> {
    if label.is_empty() {
        return Err("empty label (two dots in a row, or a leading or trailing dot)".into());
    }
    if label.len() > 63 {
        return Err(format!("label {:?} is longer than 63 octets", truncate(label)));
    }
    if let Some(c) = label
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(format!(
            "label {:?} holds {:?}; only letters, digits, '_' and '-' are allowed",
            truncate(label),
            c
        ));
    }
    if label.starts_with('-') || label.ends_with('-') {
        return Err(format!("label {label:?} starts or ends with '-'"));
    }
    Ok(())
}

fn truncate(s: &str) -> String {
    if s.len() <= 40 {
        s.to_string()
    } else {
        let mut end = 40;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}...", &s[..end])
    }
}

/// Checks a dotted name (no trailing dot). `wildcard` allows `*` as the leftmost label.
pub fn check_name(name: &str, wildcard: bool) -> Result<(), String> {
    if name.len() > MAX_NAME {
        return Err(format!(
            "name is {} octets long; at most {MAX_NAME} are allowed",
            name.len()
        ));
    }
    for (i, label) in name.split('.').enumerate() {
        if label == "*" {
            if wildcard && i == 0 {
                continue;
            }
            return Err("a wildcard '*' may only be the leftmost label".into());
        }
        check_label(label)?;
    }
    Ok(())
}

/// Normalises the `domain` parameter: lower-case A-label form, no trailing dot.
pub fn normalize_domain(domain: &str) -> Result<String, String> {
    let d = domain.trim_end_matches('.');
    if d.is_empty() {
        return Err("domain is empty".into());
    }
    let ascii = if d.is_ascii() {
        d.to_ascii_lowercase()
    } else {
        idna::domain_to_ascii_strict(d).map_err(|_| format!("domain {:?} is not a valid IDN", truncate(d)))?
    };
    if !ascii.contains('.') {
        return Err(format!("domain {ascii:?} is not a zone below a top-level domain"));
    }
    check_name(&ascii, false).map_err(|e| format!("domain: {e}"))?;
    Ok(ascii)
}

/// Normalises the `host` parameter: lower-case, `@` and empty mean the apex (returned as "").
pub fn normalize_host(host: &str) -> Result<String, String> {
    let h = host.trim();
    if h.is_empty() || h == "@" {
        return Ok(String::new());
    }
    let h = h.to_ascii_lowercase();
    if h.ends_with('.') {
        return Err("host must be relative to the domain (no trailing dot)".into());
    }
    check_name(&h, false).map_err(|e| format!("host: {e}"))?;
    Ok(h)
}

/// The absolute name of the applied root: `host.domain.` or `domain.`.
pub fn root(domain: &str, host: &str) -> String {
    if host.is_empty() {
        format!("{domain}.")
    } else {
        format!("{host}.{domain}.")
    }
}

/// Renders a substituted `host`/`name` value into an absolute owner name inside the zone.
///
/// * `""` or `@`: the applied root.
/// * ends with `.`: absolute; must lie inside the zone (never cut down, POLICY.md 2).
/// * otherwise relative to the applied root.
pub fn render_owner(value: &str, domain: &str, host: &str) -> Result<String, String> {
    let v = value.trim();
    let apex = format!("{domain}.");
    if v.is_empty() || v == "@" {
        return Ok(root(domain, host));
    }
    let lower = v.to_ascii_lowercase();
    let abs = if lower.ends_with('.') {
        if !dcgw_adapter::in_zone(&lower, &apex) {
            return Err(format!("{:?} is outside the zone {domain}", truncate(v)));
        }
        lower
    } else {
        // Check the template/variable part on its own so a bad label is named precisely.
        check_name(&lower, true)?;
        format!("{lower}.{}", root(domain, host))
    };
    check_name(abs.trim_end_matches('.'), true)?;
    Ok(abs)
}

/// Renders a target (`pointsTo`, SRV `target`): `@` is the applied root; a name without a
/// trailing dot is taken as absolute (SPEC.md §6.6).
pub fn render_target(value: &str, domain: &str, host: &str) -> Result<String, String> {
    let v = value.trim();
    if v.is_empty() {
        return Err("target is empty".into());
    }
    if v == "@" {
        return Ok(root(domain, host));
    }
    let lower = v.to_ascii_lowercase();
    let bare = lower.strip_suffix('.').unwrap_or(&lower);
    check_name(bare, false)?;
    Ok(format!("{bare}."))
}

/// The name relative to `apex` (`@` for the apex itself); names outside stay absolute.
pub fn relative(name: &str, apex: &str) -> String {
    if name == apex {
        "@".into()
    } else if let Some(rel) = name.strip_suffix(apex).and_then(|r| r.strip_suffix('.')) {
        rel.into()
    } else {
        name.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners() {
        assert_eq!(render_owner("@", "foo.com", "bar"), Ok("bar.foo.com.".into()));
        assert_eq!(render_owner("", "foo.com", ""), Ok("foo.com.".into()));
        assert_eq!(
            render_owner("www", "foo.com", "bar"),
            Ok("www.bar.foo.com.".into())
        );
        assert_eq!(render_owner("foo.com.", "foo.com", "bar"), Ok("foo.com.".into()));
        assert_eq!(
            render_owner("X.Foo.Com.", "foo.com", "bar"),
            Ok("x.foo.com.".into())
        );
        assert!(render_owner("evil.com.", "foo.com", "").is_err());
        assert!(render_owner("foo.com.evil.", "foo.com", "").is_err());
        assert!(render_owner("a..b", "foo.com", "").is_err());
        assert_eq!(render_owner("*", "foo.com", "bar"), Ok("*.bar.foo.com.".into()));
        assert!(render_owner("a.*", "foo.com", "").is_err());
        assert!(render_owner("a\nb", "foo.com", "").is_err());
    }

    #[test]
    fn domains() {
        assert_eq!(normalize_domain("Example.COM."), Ok("example.com".into()));
        assert_eq!(
            normalize_domain("bücher.example"),
            Ok("xn--bcher-kva.example".into())
        );
        assert!(normalize_domain("com").is_err());
        assert!(normalize_domain("a b.com").is_err());
        assert_eq!(normalize_host("@"), Ok(String::new()));
        assert!(normalize_host("../x").is_err());
    }

    #[test]
    fn targets() {
        assert_eq!(render_target("Bar.com.", "foo.com", ""), Ok("bar.com.".into()));
        assert_eq!(render_target("abc", "foo.com", ""), Ok("abc.".into()));
        assert_eq!(render_target("@", "foo.com", "x"), Ok("x.foo.com.".into()));
        assert!(render_target("", "foo.com", "").is_err());
    }
}
