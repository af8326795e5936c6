//! Record data in presentation format: strict per-type checks (POLICY.md 3) and TXT
//! character-strings.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Largest TTL (2^31 − 1, RFC 2181 §8).
pub const MAX_TTL: u64 = (1 << 31) - 1;

/// A dotted-quad IPv4 address, nothing looser.
pub fn ipv4(v: &str) -> Result<String, String> {
    let ok = v.split('.').count() == 4
        && v.split('.')
            .all(|o| !o.is_empty() && o.len() <= 3 && o.bytes().all(|b| b.is_ascii_digit()));
    match v.parse::<Ipv4Addr>() {
        Ok(a) if ok => Ok(a.to_string()),
        _ => Err(format!("{:?} is not a dotted-quad IPv4 address", short(v))),
    }
}

/// An IPv6 address, written in its canonical (RFC 5952) form.
pub fn ipv6(v: &str) -> Result<String, String> {
    v.parse::<Ipv6Addr>()
        .map(|a| a.to_string())
        .map_err(|_| format!("{:?} is not an IPv6 address", short(v)))
}

/// A 16-bit unsigned integer field.
pub fn uint16(v: &str) -> Result<u16, String> {
    let t = v.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{:?} is not a whole number", short(t)));
    }
    t.parse::<u16>().map_err(|_| format!("{t} is not in 0..65535"))
}

/// A TTL field, clamped into `[min_ttl, 2^31-1]` (POLICY.md 3).
pub fn ttl(v: &str, min_ttl: u32) -> Result<u32, String> {
    let t = v.trim();
    if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{:?} is not a whole number of seconds", short(t)));
    }
    let n: u64 = t.parse().unwrap_or(MAX_TTL);
    Ok(n.clamp(u64::from(min_ttl), MAX_TTL) as u32)
}

fn short(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push_str("...");
    }
    out
}

/// Rejects control characters (newline, NUL, ...) anywhere in a rendered value.
pub fn no_control(v: &str) -> Result<(), String> {
    match v.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!("holds the control character U+{:04X}", c as u32)),
        None => Ok(()),
    }
}

/// Parses TXT data in presentation format (`"a" "b"`, or bare words) into character-strings
/// (raw bytes, escapes decoded).
pub fn parse_txt(data: &str) -> Result<Vec<Vec<u8>>, String> {
    let b = data.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let quoted = b[i] == b'"';
        if quoted {
            i += 1;
        }
        let mut s = Vec::new();
        loop {
            if i >= b.len() {
                if quoted {
                    return Err("unterminated quoted string".into());
                }
                break;
            }
            let c = b[i];
            if quoted && c == b'"' {
                i += 1;
                break;
            }
            if !quoted && (c.is_ascii_whitespace() || c == b'"') {
                break;
            }
            if c == b'\\' {
                i += 1;
                if i >= b.len() {
                    return Err("a backslash ends the text".into());
                }
                if b[i].is_ascii_digit() {
                    if i + 3 > b.len() || !b[i..i + 3].iter().all(u8::is_ascii_digit) {
                        return Err("a \\DDD escape needs three digits".into());
                    }
                    let n: u32 = b[i..i + 3].iter().fold(0, |a, d| a * 10 + u32::from(d - b'0'));
                    if n > 255 {
                        return Err(format!("escape \\{n} is above 255"));
                    }
                    s.push(n as u8);
                    i += 3;
                } else {
                    s.push(b[i]);
                    i += 1;
                }
                continue;
            }
            s.push(c);
            i += 1;
        }
        out.push(s);
    }
    Ok(out)
}

/// The text of TXT data: its character-strings joined (lossy UTF-8). Used for conflict
/// matching (POLICY.md 8) and SPF detection. Unparseable data is returned as it is.
pub fn txt_text(data: &str) -> String {
    match parse_txt(data) {
        Ok(strings) => String::from_utf8_lossy(&strings.concat()).into_owned(),
        Err(_) => data.to_string(),
    }
}

/// Writes text as TXT presentation data: split into character-strings of at most 255
/// octets, each quoted, `"` and `\` escaped, bytes outside printable ASCII as `\DDD`.
pub fn txt_presentation(text: &[u8]) -> String {
    if text.is_empty() {
        return "\"\"".into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for (n, chunk) in text.chunks(255).enumerate() {
        if n > 0 {
            out.push(' ');
        }
        out.push('"');
        for &b in chunk {
            match b {
                b'"' | b'\\' => {
                    out.push('\\');
                    out.push(b as char);
                }
                0x20..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\{b:03}")),
            }
        }
        out.push('"');
    }
    out
}

/// Renders a template TXT `data` value: text starting with `"` is presentation format (one or
/// more quoted strings); anything else is one literal string, however long.
pub fn render_txt(v: &str) -> Result<String, String> {
    no_control(v)?;
    // RDATA is at most 65535 octets: each 255-octet string costs one length octet more.
    if v.len() + v.len().div_ceil(255) > 65535 {
        return Err(format!("TXT data of {} octets does not fit one record", v.len()));
    }
    if v.trim_start().starts_with('"') {
        let strings = parse_txt(v)?;
        let joined: Vec<u8> = strings.concat();
        // Re-split on 255-octet boundaries only where a string is too long.
        if strings.iter().all(|s| s.len() <= 255) {
            return Ok(strings
                .iter()
                .map(|s| txt_presentation(s))
                .collect::<Vec<_>>()
                .join(" "));
        }
        return Ok(txt_presentation(&joined));
    }
    Ok(txt_presentation(v.as_bytes()))
}

/// The number of `"` not preceded by an escaping backslash.
fn unescaped_quotes(s: &str) -> usize {
    let mut escaped = false;
    let mut n = 0;
    for c in s.chars() {
        if !escaped && c == '"' {
            n += 1;
        }
        escaped = !escaped && c == '\\';
    }
    n
}

/// Data of a type the engine has no specific rule for (RFC 3597 `\# len hex`, CAA, ...).
/// Returns the whitespace-normalised presentation text.
pub fn render_generic(rtype: &str, v: &str) -> Result<String, String> {
    no_control(v)?;
    let t = v.split_whitespace().collect::<Vec<_>>().join(" ");
    if t.is_empty() {
        return Err("data is empty".into());
    }
    if t == "@" {
        return Err("'@' is not record data".into());
    }
    if !unescaped_quotes(&t).is_multiple_of(2) {
        return Err("unbalanced quotes".into());
    }
    if let Some(rest) = t.strip_prefix("\\#") {
        let mut parts = rest.split_whitespace();
        let len: usize = parts
            .next()
            .and_then(|l| l.parse().ok())
            .ok_or("RFC 3597 data needs a length after \\#")?;
        let hex: String = parts.collect();
        if hex.len() != len * 2 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "RFC 3597 data says {len} octets but holds {} hex digits",
                hex.len()
            ));
        }
        return Ok(t);
    }
    if rtype == "CAA" {
        let mut parts = t.splitn(3, ' ');
        let flags = parts.next().unwrap_or("");
        let tag = parts.next().unwrap_or("");
        let value = parts.next().unwrap_or("");
        if flags.parse::<u8>().is_err() {
            return Err(format!("CAA flags {flags:?} are not in 0..255"));
        }
        if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(format!("CAA tag {tag:?} must be letters and digits"));
        }
        if value.is_empty() {
            return Err("CAA value is missing".into());
        }
        let value_ok = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            // One quoted string: no unescaped quote inside.
            Some(inner) => {
                let mut escaped = false;
                inner.chars().all(|c| {
                    let ok = escaped || c != '"';
                    escaped = !escaped && c == '\\';
                    ok
                }) && !escaped
            }
            None => !value.contains([' ', '"', '\\']),
        };
        if !value_ok {
            return Err("CAA value must be one quoted string".into());
        }
        return Ok(format!("{flags} {tag} {value}"));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_addresses() {
        assert_eq!(ipv4("192.0.2.1"), Ok("192.0.2.1".into()));
        for bad in [
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.3.04x",
            "abc",
            "::1",
            " ",
            "1.2.3.4\n",
        ] {
            assert!(ipv4(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!(ipv6("2001:DB8:0:0:0:0:0:1"), Ok("2001:db8::1".into()));
        assert!(ipv6("1.2.3.4").is_err());
    }

    #[test]
    fn ttl_is_clamped_not_rejected() {
        assert_eq!(ttl("0", 60), Ok(60));
        assert_eq!(ttl("99999999999999999999", 60), Ok(MAX_TTL as u32));
        assert!(ttl("1h", 60).is_err());
        assert!(ttl("-1", 60).is_err());
    }

    #[test]
    fn txt_round_trip_and_split() {
        let long = "x".repeat(600);
        let p = render_txt(&long).expect("renders");
        let strings = parse_txt(&p).expect("parses");
        assert_eq!(
            strings.iter().map(Vec::len).collect::<Vec<_>>(),
            vec![255, 255, 90]
        );
        assert_eq!(txt_text(&p), long);
        let tricky = r#"say "hi" \ now"#;
        assert_eq!(txt_text(&render_txt(tricky).expect("renders")), tricky);
        assert_eq!(render_txt(r#""a b" "c""#), Ok(r#""a b" "c""#.into()));
        assert!(render_txt("a\nb").is_err());
        assert!(render_txt(r#""open"#).is_err());
        assert_eq!(txt_presentation("é".as_bytes()), "\"\\195\\169\"");
    }

    #[test]
    fn generic_data() {
        assert_eq!(
            render_generic("CAA", "0  issue \"ca.example\""),
            Ok("0 issue \"ca.example\"".into())
        );
        assert!(render_generic("CAA", "300 issue \"x\"").is_err());
        assert!(render_generic("CAA", "0 issue \"\"0 issue \"ca.example\"\"").is_err());
        assert!(render_generic("CAA", "0 issue \"a\\\"b\"").is_ok());
        assert!(render_generic("CAA", "0 issue ca.example").is_ok());
        assert!(render_generic("TYPE256", "\\# 2 0102").is_ok());
        assert!(render_generic("TYPE256", "\\# 3 0102").is_err());
        assert!(render_generic("CAA", "@").is_err());
        assert!(render_generic("CAA", "").is_err());
    }
}
