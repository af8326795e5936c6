//! RFC 1035 master files ("zone files"): a parser and a writer.
//!
//! [`parse`] reads a master file into [`Record`]s in the model of `dcgw-adapter`: absolute,
//! lower-case owner names with a trailing dot, upper-case type mnemonics and canonical
//! presentation-format data (see [`parse`] for what "canonical" means per type). [`write`]
//! renders records back into a deterministic master file that [`parse`] reads to the same
//! records.
//!
//! The parser is hand-written for presentation format. It supports `$ORIGIN`, `$TTL`, `@`,
//! relative names, a blank owner (the previous owner), parentheses spanning lines, `;`
//! comments, quoted strings with `\"`, `\\` and `\DDD` escapes, the class `IN` (optional), TTL
//! and class in either order, and TTLs with units (`1h30m`, `2d`, `1w`). `$INCLUDE`,
//! `$GENERATE` and classes other than `IN` are refused.
//!
//! ```
//! use dcgw_zonefile::master;
//!
//! let text = "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n  NS ns1\nwww A 192.0.2.1\n";
//! let records = master::parse(text, "example.com.").expect("valid zone");
//! assert_eq!(records[0].data, "ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300");
//! assert_eq!(records[2].name, "www.example.com.");
//! let out = master::write("example.com.", &records);
//! assert_eq!(master::parse(&out, "example.com.").expect("round trip"), records);
//! ```

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use dcgw_adapter::{Record, absolute, in_zone};

/// Why a master file could not be read: the (1-based) line and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ParseError {
    /// 1-based line number where the problem is (for an unclosed `(` or quote: where it opened).
    pub line: usize,
    pub message: String,
}

/// Types whose mnemonic the parser accepts (any other type must be written `TYPEnnn`).
pub const KNOWN_TYPES: &[&str] = &[
    "A",
    "AAAA",
    "AFSDB",
    "ALIAS",
    "ANAME",
    "APL",
    "CAA",
    "CDNSKEY",
    "CDS",
    "CERT",
    "CNAME",
    "CSYNC",
    "DHCID",
    "DLV",
    "DNAME",
    "DNSKEY",
    "DS",
    "EUI48",
    "EUI64",
    "HINFO",
    "HIP",
    "HTTPS",
    "IPSECKEY",
    "KEY",
    "KX",
    "LOC",
    "MX",
    "NAPTR",
    "NS",
    "NSEC",
    "NSEC3",
    "NSEC3PARAM",
    "OPENPGPKEY",
    "PTR",
    "RP",
    "RRSIG",
    "SMIMEA",
    "SOA",
    "SPF",
    "SRV",
    "SSHFP",
    "SVCB",
    "TLSA",
    "TXT",
    "URI",
    "ZONEMD",
];

/// Largest TTL (2^31 − 1, RFC 2181 §8).
const MAX_TTL: u64 = (1 << 31) - 1;

/// Is `t` (upper-case) a type mnemonic [`parse`] accepts: a [known](KNOWN_TYPES) one or
/// RFC 3597 `TYPEnnn`?
pub fn is_type(t: &str) -> bool {
    KNOWN_TYPES.contains(&t) || generic_type_number(t).is_some()
}

fn generic_type_number(t: &str) -> Option<u16> {
    let n = t.strip_prefix("TYPE")?;
    if n.is_empty() || n.len() > 5 || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse().ok()
}

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Tok {
    /// The token's text as written (escapes not decoded; for a quoted token, without quotes).
    text: String,
    quoted: bool,
    line: usize,
}

/// One logical entry: a physical line, or several joined by parentheses.
#[derive(Debug)]
struct Entry {
    line: usize,
    /// The entry's first line starts with blank space: the owner is the previous one.
    blank_owner: bool,
    toks: Vec<Tok>,
}

fn err(line: usize, message: impl Into<String>) -> ParseError {
    ParseError {
        line,
        message: message.into(),
    }
}

fn lex(text: &str) -> Result<Vec<Entry>, ParseError> {
    let b = text.as_bytes();
    let mut entries = Vec::new();
    let mut line = 1usize;
    let mut depth = 0usize;
    let mut paren_line = 0usize;
    let mut cur = Entry {
        line: 1,
        blank_owner: false,
        toks: Vec::new(),
    };
    let mut at_line_start = true;
    let mut i = 0usize;
    let to_string = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    while i < b.len() {
        if at_line_start {
            at_line_start = false;
            if depth == 0 {
                let done = std::mem::replace(
                    &mut cur,
                    Entry {
                        line,
                        blank_owner: matches!(b[i], b' ' | b'\t'),
                        toks: Vec::new(),
                    },
                );
                if !done.toks.is_empty() {
                    entries.push(done);
                }
            }
        }
        let c = b[i];
        match c {
            b'\n' => {
                line += 1;
                at_line_start = true;
                i += 1;
            }
            b' ' | b'\t' | b'\r' => i += 1,
            b';' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'(' => {
                if depth == 0 {
                    paren_line = line;
                }
                depth += 1;
                i += 1;
            }
            b')' => {
                if depth == 0 {
                    return Err(err(line, "')' without a matching '('"));
                }
                depth -= 1;
                i += 1;
            }
            b'"' => {
                let start_line = line;
                i += 1;
                let start = i;
                loop {
                    if i >= b.len() || b[i] == b'\n' {
                        return Err(err(start_line, "unterminated quoted string"));
                    }
                    match b[i] {
                        b'"' => break,
                        b'\\' => {
                            if i + 1 >= b.len() || b[i + 1] == b'\n' {
                                return Err(err(start_line, "unterminated quoted string"));
                            }
                            i += 2;
                        }
                        _ => i += 1,
                    }
                }
                cur.toks.push(Tok {
                    text: to_string(&b[start..i]),
                    quoted: true,
                    line: start_line,
                });
                i += 1;
            }
            _ if c.is_ascii_control() => {
                return Err(err(line, format!("control character 0x{c:02x} in the text")));
            }
            _ => {
                let start = i;
                while i < b.len() {
                    match b[i] {
                        b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                        b'\\' => {
                            if i + 1 >= b.len() || b[i + 1] == b'\n' {
                                return Err(err(line, "a backslash ends the line"));
                            }
                            i += 2;
                        }
                        x if x.is_ascii_control() => {
                            return Err(err(line, format!("control character 0x{x:02x} in the text")));
                        }
                        _ => i += 1,
                    }
                }
                cur.toks.push(Tok {
                    text: to_string(&b[start..i]),
                    quoted: false,
                    line,
                });
            }
        }
    }
    if depth > 0 {
        return Err(err(paren_line, "'(' is never closed"));
    }
    if !cur.toks.is_empty() {
        entries.push(cur);
    }
    Ok(entries)
}

// ---------------------------------------------------------------------------------------------
// Fields
// ---------------------------------------------------------------------------------------------

/// The fields of one record's data (`0 issue "ca.example"`), each with whether it was quoted
/// and its octets with the escapes (`\"`, `\\`, `\DDD`) decoded: for an adapter that encodes
/// canonical data to its backend's wire format itself.
pub fn data_fields(data: &str) -> Result<Vec<(bool, Vec<u8>)>, String> {
    if data.contains(['\n', '\r']) {
        return Err("record data must be one line".into());
    }
    let entries = lex(data).map_err(|e| e.message)?;
    entries
        .into_iter()
        .flat_map(|e| e.toks)
        .map(|t| Ok((t.quoted, decode_string(&t.text)?)))
        .collect()
}

/// Resolves a name as written in a master file against `origin`: `@` is the origin, a name
/// without a trailing dot is relative. Returns it absolute and lower-case.
pub fn resolve_name(tok: &str, origin: &str) -> Result<String, String> {
    if tok.is_empty() {
        return Err("empty name".into());
    }
    if tok == "@" {
        return Ok(origin.to_string());
    }
    // `\$` and `\@` only protect a leading `$` or `@` from being read as a directive or
    // the origin; the name itself holds the plain character.
    let tok = match tok.strip_prefix('\\') {
        Some(rest) if rest.starts_with(['$', '@']) => rest,
        _ => tok,
    };
    let name = if ends_with_unescaped_dot(tok) {
        tok.to_string()
    } else if origin == "." {
        format!("{tok}.")
    } else {
        format!("{tok}.{origin}")
    };
    let name = name.to_ascii_lowercase();
    check_name(&name)?;
    Ok(name)
}

fn ends_with_unescaped_dot(s: &str) -> bool {
    let b = s.as_bytes();
    if b.last() != Some(&b'.') {
        return false;
    }
    let backslashes = b[..b.len() - 1].iter().rev().take_while(|&&c| c == b'\\').count();
    backslashes % 2 == 0
}

/// Checks label and name lengths of an absolute name (escapes counted as one octet).
fn check_name(name: &str) -> Result<(), String> {
    if name == "." {
        return Ok(());
    }
    let b = name.as_bytes();
    let mut label = 0usize;
    let mut total = 1usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'.' => {
                if label == 0 {
                    return Err(format!("{name:?} has an empty label"));
                }
                total += label + 1;
                label = 0;
                i += 1;
            }
            b'\\' => {
                label += 1;
                i += if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    4
                } else {
                    2
                };
            }
            _ => {
                label += 1;
                i += 1;
            }
        }
        if label > 63 {
            return Err(format!("{name:?} has a label longer than 63 octets"));
        }
    }
    if total > 255 {
        return Err(format!("{name:?} is longer than 255 octets"));
    }
    Ok(())
}

/// A TTL or SOA timer: seconds, or a sum of numbers with units `s`, `m`, `h`, `d`, `w`.
pub fn parse_ttl(tok: &str) -> Result<u32, String> {
    let bad = || format!("{tok:?} is not a TTL");
    if tok.is_empty() || !tok.as_bytes()[0].is_ascii_digit() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    for c in tok.chars() {
        if let Some(d) = c.to_digit(10) {
            num = Some(num.unwrap_or(0).saturating_mul(10).saturating_add(u64::from(d)));
            continue;
        }
        let mult = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 604800,
            _ => return Err(bad()),
        };
        total = total.saturating_add(num.take().ok_or_else(bad)?.saturating_mul(mult));
    }
    total = total.saturating_add(num.unwrap_or(0));
    if total > u64::from(u32::MAX) {
        return Err(format!("{tok:?} is too large for a TTL"));
    }
    Ok(total as u32)
}

fn parse_u16(tok: &str, what: &str) -> Result<u16, String> {
    if tok.is_empty() || !tok.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{what} {tok:?} is not a number"));
    }
    tok.parse()
        .map_err(|_| format!("{what} {tok} is not in 0..65535"))
}

/// Decodes the escapes of a character-string (`\"`, `\\`, `\DDD`) into octets.
fn decode_string(s: &str) -> Result<Vec<u8>, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'\\' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        i += 1;
        if i >= b.len() {
            return Err("a backslash ends the string".into());
        }
        if b[i].is_ascii_digit() {
            if i + 3 > b.len() || !b[i..i + 3].iter().all(u8::is_ascii_digit) {
                return Err("a \\DDD escape needs three digits".into());
            }
            let n: u32 = b[i..i + 3].iter().fold(0, |a, d| a * 10 + u32::from(d - b'0'));
            if n > 255 {
                return Err(format!("escape \\{n} is above 255"));
            }
            out.push(n as u8);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// Renders octets as one quoted character-string: `"` and `\` escaped, anything outside
/// printable ASCII as `\DDD`.
pub fn quote(bytes: &[u8], out: &mut String) {
    out.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\{b:03}");
            }
        }
    }
    out.push('"');
}

/// Canonical TXT data: each string quoted; if any string is longer than 255 octets, all are
/// joined and re-split into 255-octet strings (the same rule as the gateway's engine).
fn canonical_txt(toks: &[Tok]) -> Result<String, String> {
    let strings = toks
        .iter()
        .map(|t| decode_string(&t.text))
        .collect::<Result<Vec<_>, _>>()?;
    let strings: Vec<Vec<u8>> = if strings.iter().all(|s| s.len() <= 255) {
        strings
    } else {
        let joined = strings.concat();
        joined.chunks(255).map(<[u8]>::to_vec).collect()
    };
    let total: usize = strings.iter().map(|s| s.len() + 1).sum();
    if total > 65535 {
        return Err(format!("TXT data of {total} octets does not fit one record"));
    }
    let mut out = String::new();
    for (n, s) in strings.iter().enumerate() {
        if n > 0 {
            out.push(' ');
        }
        quote(s, &mut out);
    }
    Ok(out)
}

fn tok_text(t: &Tok) -> String {
    if t.quoted {
        format!("\"{}\"", t.text)
    } else {
        t.text.clone()
    }
}

fn unquoted<'a>(t: &'a Tok, what: &str) -> Result<&'a str, String> {
    if t.quoted {
        Err(format!("{what} must not be quoted"))
    } else {
        Ok(&t.text)
    }
}

fn expect_count(rtype: &str, toks: &[Tok], n: usize, shape: &str) -> Result<(), String> {
    if toks.len() != n {
        return Err(format!(
            "{rtype} data must be `{shape}`, found {} field(s)",
            toks.len()
        ));
    }
    Ok(())
}

/// Canonical data of one record from its rdata tokens.
fn canonical_rdata(rtype: &str, toks: &[Tok], origin: &str) -> Result<String, String> {
    if toks.is_empty() {
        return Err(format!("{rtype} record without data"));
    }
    if !toks[0].quoted && toks[0].text == "\\#" {
        return canonical_generic_3597(toks);
    }
    let name = |t: &Tok| -> Result<String, String> { resolve_name(unquoted(t, "a name")?, origin) };
    match rtype {
        "A" => {
            expect_count(rtype, toks, 1, "address")?;
            let t = unquoted(&toks[0], "an address")?;
            let ok = t.split('.').count() == 4
                && t.split('.')
                    .all(|o| !o.is_empty() && o.len() <= 3 && o.bytes().all(|b| b.is_ascii_digit()));
            match t.parse::<Ipv4Addr>() {
                Ok(a) if ok => Ok(a.to_string()),
                _ => Err(format!("{t:?} is not an IPv4 address")),
            }
        }
        "AAAA" => {
            expect_count(rtype, toks, 1, "address")?;
            let t = unquoted(&toks[0], "an address")?;
            t.parse::<Ipv6Addr>()
                .map(|a| a.to_string())
                .map_err(|_| format!("{t:?} is not an IPv6 address"))
        }
        "CNAME" | "NS" | "PTR" | "DNAME" | "ALIAS" | "ANAME" => {
            expect_count(rtype, toks, 1, "name")?;
            name(&toks[0])
        }
        "MX" | "KX" | "AFSDB" => {
            expect_count(rtype, toks, 2, "preference name")?;
            let p = parse_u16(unquoted(&toks[0], "a preference")?, "preference")?;
            Ok(format!("{p} {}", name(&toks[1])?))
        }
        "SRV" => {
            expect_count(rtype, toks, 4, "priority weight port target")?;
            let mut out = String::new();
            for (t, what) in toks[..3].iter().zip(["priority", "weight", "port"]) {
                let v = parse_u16(unquoted(t, what)?, what)?;
                let _ = write!(out, "{v} ");
            }
            out.push_str(&name(&toks[3])?);
            Ok(out)
        }
        "RP" => {
            expect_count(rtype, toks, 2, "mbox txt-name")?;
            Ok(format!("{} {}", name(&toks[0])?, name(&toks[1])?))
        }
        "SOA" => {
            expect_count(rtype, toks, 7, "mname rname serial refresh retry expire minimum")?;
            let mut out = format!("{} {}", name(&toks[0])?, name(&toks[1])?);
            let serial = unquoted(&toks[2], "the serial")?;
            if serial.is_empty() || !serial.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!("SOA serial {serial:?} is not a number"));
            }
            let serial: u32 = serial
                .parse()
                .map_err(|_| format!("SOA serial {serial} is not in 0..2^32"))?;
            let _ = write!(out, " {serial}");
            for t in &toks[3..] {
                let v = parse_ttl(unquoted(t, "an SOA timer")?)?;
                let _ = write!(out, " {v}");
            }
            Ok(out)
        }
        "TXT" | "SPF" => canonical_txt(toks),
        "CAA" => {
            expect_count(rtype, toks, 3, "flags tag \"value\"")?;
            let flags = unquoted(&toks[0], "CAA flags")?;
            let flags: u8 = flags
                .parse()
                .ok()
                .filter(|_| flags.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| format!("CAA flags {flags:?} are not in 0..255"))?;
            let tag = unquoted(&toks[1], "the CAA tag")?;
            if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric()) {
                return Err(format!("CAA tag {tag:?} must be letters and digits"));
            }
            let value = decode_string(&toks[2].text)?;
            let mut out = format!("{flags} {tag} ");
            quote(&value, &mut out);
            Ok(out)
        }
        _ => Ok(toks.iter().map(tok_text).collect::<Vec<_>>().join(" ")),
    }
}

/// RFC 3597 `\# len hex...`: validated, kept with its whitespace normalised.
fn canonical_generic_3597(toks: &[Tok]) -> Result<String, String> {
    let len_tok = toks.get(1).ok_or("RFC 3597 data needs a length after \\#")?;
    let len: usize = unquoted(len_tok, "the RFC 3597 length")?
        .parse()
        .map_err(|_| format!("RFC 3597 length {:?} is not a number", len_tok.text))?;
    let mut digits = 0;
    for t in &toks[2..] {
        let h = unquoted(t, "RFC 3597 hex")?;
        if !h.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{h:?} is not hex"));
        }
        digits += h.len();
    }
    if digits != len * 2 {
        return Err(format!(
            "RFC 3597 data says {len} octets but holds {digits} hex digits"
        ));
    }
    Ok(toks.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join(" "))
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

/// Parses a master file.
///
/// `origin` is the initial `$ORIGIN` (normally the zone apex, e.g. `example.com.`; a missing
/// trailing dot is added). The records come back in file order, duplicates kept.
///
/// Canonical data, per type:
/// * names inside data (CNAME, NS, PTR, DNAME, ALIAS/ANAME, MX, KX, AFSDB, SRV and RP targets,
///   SOA mname and rname) absolute, lower-case, with a trailing dot;
/// * A and AAAA as `Ipv4Addr`/`Ipv6Addr` display them (RFC 5952 for IPv6);
/// * SOA timers in seconds (units resolved);
/// * TXT and SPF as quoted character-strings separated by one space, `"` and `\` escaped, other
///   octets outside printable ASCII as `\DDD`; a string over 255 octets makes the whole text be
///   re-split into 255-octet strings;
/// * CAA as `flags tag "value"`;
/// * RFC 3597 `\# len hex` (any type) and every other type as their fields separated by one
///   space (quoted fields kept quoted, as written).
///
/// A TTL-less record takes `$TTL`, else the last explicit TTL; if there is neither, it is an
/// error. Missing SOA is not an error here (the zone-file adapter checks that).
pub fn parse(text: &str, origin: &str) -> Result<Vec<Record>, ParseError> {
    let mut origin = absolute(origin);
    check_name(&origin).map_err(|m| err(1, format!("bad origin: {m}")))?;
    let mut default_ttl: Option<u32> = None;
    let mut last_ttl: Option<u32> = None;
    let mut last_owner: Option<String> = None;
    let mut out = Vec::new();
    for e in lex(text)? {
        let first = &e.toks[0];
        if !e.blank_owner && !first.quoted && first.text.starts_with('$') {
            let arg = |n: usize| -> Result<&Tok, ParseError> {
                if e.toks.len() != n + 1 {
                    return Err(err(
                        e.line,
                        format!("{} takes exactly {n} argument(s)", first.text),
                    ));
                }
                Ok(&e.toks[n])
            };
            match first.text.to_ascii_uppercase().as_str() {
                "$ORIGIN" => {
                    let t = arg(1)?;
                    origin = resolve_name(&t.text, &origin).map_err(|m| err(t.line, m))?;
                }
                "$TTL" => {
                    let t = arg(1)?;
                    default_ttl = Some(parse_ttl(&t.text).map_err(|m| err(t.line, m))?);
                }
                "$INCLUDE" | "$GENERATE" => {
                    return Err(err(e.line, format!("{} is not supported", first.text)));
                }
                other => return Err(err(e.line, format!("unknown directive {other}"))),
            }
            continue;
        }
        let mut toks = e.toks.iter().peekable();
        let owner = if e.blank_owner {
            last_owner
                .clone()
                .ok_or_else(|| err(e.line, "a record without an owner name and no previous owner"))?
        } else {
            let t = toks.next().ok_or_else(|| err(e.line, "empty entry"))?;
            if t.quoted {
                return Err(err(t.line, "an owner name must not be quoted"));
            }
            resolve_name(&t.text, &origin).map_err(|m| err(t.line, m))?
        };
        let mut ttl: Option<u32> = None;
        let mut class_seen = false;
        let rtype = loop {
            let t = toks
                .next()
                .ok_or_else(|| err(e.line, format!("no record type after owner {owner}")))?;
            if t.quoted {
                return Err(err(
                    t.line,
                    format!("expected a TTL, class or type, found \"{}\"", t.text),
                ));
            }
            let up = t.text.to_ascii_uppercase();
            if t.text.as_bytes()[0].is_ascii_digit() {
                if ttl.is_some() {
                    return Err(err(t.line, format!("a second TTL {:?}", t.text)));
                }
                let v = parse_ttl(&t.text).map_err(|m| err(t.line, m))?;
                if u64::from(v) > MAX_TTL {
                    return Err(err(t.line, format!("TTL {v} is above 2^31-1")));
                }
                ttl = Some(v);
            } else if up == "IN" {
                if class_seen {
                    return Err(err(t.line, "a second class"));
                }
                class_seen = true;
            } else if matches!(up.as_str(), "CH" | "CS" | "HS" | "NONE" | "ANY") || up.starts_with("CLASS") {
                return Err(err(
                    t.line,
                    format!("class {} is not supported (only IN)", t.text),
                ));
            } else if is_type(&up) {
                break up;
            } else {
                return Err(err(t.line, format!("unknown record type {:?}", t.text)));
            }
        };
        let rest: Vec<Tok> = toks.cloned().collect();
        let data = canonical_rdata(&rtype, &rest, &origin).map_err(|m| err(e.line, m))?;
        let ttl = match ttl {
            Some(v) => {
                last_ttl = Some(v);
                v
            }
            None => default_ttl
                .or(last_ttl)
                .ok_or_else(|| err(e.line, "no TTL on the record and no $TTL before it"))?,
        };
        last_owner = Some(owner.clone());
        out.push(Record {
            name: owner,
            rtype,
            ttl,
            data,
        });
    }
    Ok(out)
}

/// The canonical form of one record's data, as [`parse`] would produce it for a record of
/// type `rtype` (upper-case) with `data` in a zone whose origin is `origin`.
pub fn canonical_data(rtype: &str, data: &str, origin: &str) -> Result<String, String> {
    if data.contains(['\n', '\r']) {
        return Err("record data must be one line".into());
    }
    if !is_type(rtype) {
        return Err(format!("unknown record type {rtype:?}"));
    }
    let line = format!("@ 0 IN {rtype} {data}\n");
    let recs = parse(&line, origin).map_err(|e| e.message)?;
    match recs.as_slice() {
        [r] => Ok(r.data.clone()),
        _ => Err(format!("{rtype} data {data:?} is not one record")),
    }
}

// ---------------------------------------------------------------------------------------------
// Writer
// ---------------------------------------------------------------------------------------------

fn reversed_labels(name: &str) -> Vec<String> {
    let mut l: Vec<String> = name
        .trim_end_matches('.')
        .split('.')
        .map(str::to_string)
        .collect();
    l.reverse();
    l
}

/// The owner name as written in a file with `$ORIGIN apex`.
fn relative_owner(name: &str, apex: &str) -> String {
    let rel = if name == apex {
        return "@".into();
    } else if apex == "." {
        name.trim_end_matches('.').to_string()
    } else if in_zone(name, apex) {
        name[..name.len() - apex.len() - 1].to_string()
    } else {
        name.to_string()
    };
    if rel.starts_with('$') || rel == "@" {
        format!("\\{rel}")
    } else {
        rel
    }
}

/// Writes records as a master file for the zone `zone_apex`.
///
/// The output starts with `$ORIGIN <apex>`, then the apex SOA, the apex NS records, and every
/// other record sorted by owner name (in DNS label order: a name's subtree follows it), type
/// and data. Owner names are relative to the apex (`@` for the apex itself); names inside data
/// stay absolute. Every record carries its TTL and the class `IN`. Identical records are
/// written once. The output is deterministic: the same set of records always gives the same
/// text.
pub fn write(zone_apex: &str, records: &[Record]) -> String {
    let apex = absolute(zone_apex);
    let mut sorted: Vec<(u8, Vec<String>, &Record)> = records
        .iter()
        .map(|r| {
            let rank = match (r.name == apex, r.rtype.as_str()) {
                (true, "SOA") => 0,
                (true, "NS") => 1,
                _ => 2,
            };
            (rank, reversed_labels(&r.name), r)
        })
        .collect();
    sorted.sort_by(|a, b| {
        (a.0, &a.1, &a.2.rtype, &a.2.data, a.2.ttl).cmp(&(b.0, &b.1, &b.2.rtype, &b.2.data, b.2.ttl))
    });
    sorted.dedup_by(|a, b| a.2 == b.2);
    let owners: Vec<String> = sorted
        .iter()
        .map(|(_, _, r)| relative_owner(&r.name, &apex))
        .collect();
    let width = owners.iter().map(String::len).max().unwrap_or(1).min(24);
    let ttl_width = sorted
        .iter()
        .map(|(_, _, r)| r.ttl.to_string().len())
        .max()
        .unwrap_or(1);
    let mut out = format!("$ORIGIN {apex}\n");
    for ((_, _, r), owner) in sorted.iter().zip(&owners) {
        let _ = writeln!(
            out,
            "{owner:<width$} {ttl:>ttl_width$} IN {rtype} {data}",
            ttl = r.ttl,
            rtype = r.rtype,
            data = r.data
        );
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn p(text: &str) -> Vec<Record> {
        parse(text, "example.com.").unwrap_or_else(|e| panic!("parse failed: {e}\n{text}"))
    }

    fn perr(text: &str) -> ParseError {
        match parse(text, "example.com.") {
            Ok(r) => panic!("expected an error, parsed {r:?}"),
            Err(e) => e,
        }
    }

    fn rec(name: &str, rtype: &str, ttl: u32, data: &str) -> Record {
        Record {
            name: name.into(),
            rtype: rtype.into(),
            ttl,
            data: data.into(),
        }
    }

    #[test]
    fn data_fields_decode_quoted_strings_and_bare_words() {
        assert_eq!(
            data_fields(r#"0 issue "ca \"x\" \\ \195\169""#).expect("fields"),
            vec![
                (false, b"0".to_vec()),
                (false, b"issue".to_vec()),
                (true, "ca \"x\" \\ \u{e9}".as_bytes().to_vec()),
            ]
        );
        assert!(data_fields("\"unterminated").is_err());
        assert!(data_fields("\"a\"\n\"b\"").is_err());
        assert!(data_fields(r#""\999""#).is_err());
    }

    #[test]
    fn parses_the_demo_zone_shape() {
        let text = concat!(
            "; demo\n",
            "$ORIGIN example.com.\n",
            "$TTL 3600\n",
            "@       IN SOA  ns1.example.com. hostmaster.example.com. (\n",
            "                2026112401 ; serial\n",
            "                7200       ; refresh\n",
            "                3600 1209600\n",
            "                300 )      ; minimum\n",
            "@       IN NS   ns1\n",
            "        IN NS   ns2.example.com.\n",
            "www     IN A    192.0.2.1\n",
            "mail 60 IN MX   10 Mail\n",
        );
        let r = p(text);
        assert_eq!(
            r,
            vec![
                rec(
                    "example.com.",
                    "SOA",
                    3600,
                    "ns1.example.com. hostmaster.example.com. 2026112401 7200 3600 1209600 300"
                ),
                rec("example.com.", "NS", 3600, "ns1.example.com."),
                rec("example.com.", "NS", 3600, "ns2.example.com."),
                rec("www.example.com.", "A", 3600, "192.0.2.1"),
                rec("mail.example.com.", "MX", 60, "10 mail.example.com."),
            ]
        );
    }

    #[test]
    fn ttl_and_class_in_either_order_and_units() {
        let r = p("a 1h IN A 192.0.2.1\nb IN 1h30m A 192.0.2.2\nc in a 192.0.2.3\nd 2D txt x\n");
        assert_eq!(r[0].ttl, 3600);
        assert_eq!(r[1].ttl, 5400);
        assert_eq!(r[2].ttl, 5400, "last explicit TTL");
        assert_eq!(r[2].rtype, "A");
        assert_eq!(r[3].ttl, 172800);
        assert_eq!(r[3].data, "\"x\"");
    }

    #[test]
    fn ttl_default_prefers_dollar_ttl() {
        let r = p("$TTL 300\na 60 A 192.0.2.1\nb A 192.0.2.2\n");
        assert_eq!(r[1].ttl, 300);
        assert_eq!(perr("a A 192.0.2.1\n").line, 1);
    }

    #[test]
    fn origin_switches_and_relative_vs_absolute() {
        let r = p(
            "$TTL 60\nwww A 192.0.2.1\n$ORIGIN sub\nx CNAME y\nz CNAME y.other.net.\n\
             $ORIGIN Other.ORG.\n@ NS ns1.example.com.\nq.example.com. A 192.0.2.9\n",
        );
        assert_eq!(r[0].name, "www.example.com.");
        assert_eq!(r[1].name, "x.sub.example.com.");
        assert_eq!(r[1].data, "y.sub.example.com.");
        assert_eq!(r[2].data, "y.other.net.");
        assert_eq!(r[3].name, "other.org.");
        assert_eq!(r[4].name, "q.example.com.");
    }

    #[test]
    fn blank_owner_uses_previous_owner() {
        let r = p("$TTL 60\nwww A 192.0.2.1\n\t AAAA 2001:DB8:0:0::1\n; comment\n\n  TXT \"x\"\n");
        assert!(r.iter().all(|x| x.name == "www.example.com."));
        assert_eq!(r[1].data, "2001:db8::1");
        assert_eq!(perr("$TTL 60\n  A 192.0.2.1\n").line, 2);
    }

    #[test]
    fn multi_string_txt_and_escapes() {
        let r = p(
            "$TTL 60\nt TXT \"a b\" \"c\"\nu TXT \"say \\\"hi\\\" \\\\ ok\"\nv TXT \"caf\\195\\169\" bare\n\
             w TXT ( \"one\"\n   \"two\" ) ; c\n",
        );
        assert_eq!(r[0].data, "\"a b\" \"c\"");
        assert_eq!(r[1].data, "\"say \\\"hi\\\" \\\\ ok\"");
        assert_eq!(r[2].data, "\"caf\\195\\169\" \"bare\"");
        assert_eq!(r[3].data, "\"one\" \"two\"");
        // \DDD of printable characters comes back plain.
        let r = p("$TTL 60\nt TXT \"\\065\\066\"\n");
        assert_eq!(r[0].data, "\"AB\"");
        // Raw UTF-8 is escaped.
        let r = p("$TTL 60\nt TXT \"é\"\n");
        assert_eq!(r[0].data, "\"\\195\\169\"");
    }

    #[test]
    fn long_txt_is_resplit() {
        let long = "x".repeat(600);
        let r = p(&format!("$TTL 60\nt TXT \"{long}\"\n"));
        let want = format!(
            "\"{}\" \"{}\" \"{}\"",
            "x".repeat(255),
            "x".repeat(255),
            "x".repeat(90)
        );
        assert_eq!(r[0].data, want);
        // Already split: kept.
        let r2 = p(&format!("$TTL 60\nt TXT {want}\n"));
        assert_eq!(r2[0].data, want);
    }

    #[test]
    fn parentheses_span_lines_with_comments() {
        let r = p("$TTL 60\n@ SOA ( ns1 ; primary\n  host\\.master ; rname\n  1 ; s\n  1h 30m 1w 5m )\n");
        assert_eq!(
            r[0].data,
            "ns1.example.com. host\\.master.example.com. 1 3600 1800 604800 300"
        );
    }

    #[test]
    fn generic_and_rfc3597() {
        let r = p(
            "$TTL 60\nx TYPE65534 \\# 3 010203\ny CAA 0 issue ca.example.net\n\
             z SSHFP 1   1  abcdef\nw A \\# 4 c0000201\ne TYPE65534 \\# 0\n",
        );
        assert_eq!(r[0].rtype, "TYPE65534");
        assert_eq!(r[0].data, "\\# 3 010203");
        assert_eq!(r[1].data, "0 issue \"ca.example.net\"");
        assert_eq!(r[2].data, "1 1 abcdef");
        assert_eq!(r[3].data, "\\# 4 c0000201");
        assert_eq!(r[4].data, "\\# 0");
        assert!(
            perr("$TTL 60\nx TYPE65534 \\# 3 0102\n")
                .message
                .contains("3 octets")
        );
    }

    #[test]
    fn srv_and_names_in_data_lowercased() {
        let r = p("$TTL 60\n_sip._tcp SRV 10 20 5060 SIP\n@ MX 5 @\n");
        assert_eq!(r[0].name, "_sip._tcp.example.com.");
        assert_eq!(r[0].data, "10 20 5060 sip.example.com.");
        assert_eq!(r[1].data, "5 example.com.");
    }

    #[test]
    fn missing_soa_is_not_a_parse_error() {
        assert_eq!(p("$TTL 60\nwww A 192.0.2.1\n").len(), 1);
        assert!(p("").is_empty());
        assert!(p("; only a comment\n\n").is_empty());
    }

    #[test]
    fn garbage_is_rejected_with_line_numbers() {
        let cases: &[(&str, usize, &str)] = &[
            (
                "$TTL 60\nwww A 192.0.2.1\nwww BOGUS x\n",
                3,
                "unknown record type",
            ),
            ("$TTL 60\nwww A 999.0.2.1\n", 2, "IPv4"),
            ("$TTL 60\n\nwww TXT \"open\n", 3, "unterminated"),
            ("$TTL 60\nwww A ( 192.0.2.1\n\n", 2, "never closed"),
            ("$TTL 60\nwww A 192.0.2.1 )\n", 2, "without a matching"),
            ("$TTL abc\n", 1, "not a TTL"),
            ("$INCLUDE other.zone\n", 1, "not supported"),
            ("$FOO x\n", 1, "unknown directive"),
            ("$TTL 60\nwww CH A 192.0.2.1\n", 2, "class"),
            ("$TTL 60\nwww MX mail\n", 2, "preference name"),
            ("$TTL 60\nwww MX x mail\n", 2, "not a number"),
            ("$TTL 60\nwww A\n", 2, "without data"),
            ("$TTL 60\na..b A 192.0.2.1\n", 2, "empty label"),
            ("$TTL 60\nwww TXT \"\\300\"\n", 2, "above 255"),
            ("$TTL 60\n@ SOA ns1 host 1 2 3 4\n", 2, "mname rname"),
            ("$TTL 60\nwww 60 60 A 192.0.2.1\n", 2, "second TTL"),
            ("\u{1}garbage\n", 1, "control character"),
            ("this is not a zone file\n", 1, "unknown record type"),
        ];
        for (text, line, what) in cases {
            let e = perr(text);
            assert_eq!(e.line, *line, "{text:?}: {e}");
            assert!(e.message.contains(what), "{text:?}: {e}");
        }
    }

    #[test]
    fn write_orders_and_round_trips() {
        let recs = vec![
            rec("www.example.com.", "A", 300, "192.0.2.1"),
            rec("a.b.example.com.", "TXT", 60, "\"x\""),
            rec("example.com.", "NS", 3600, "ns2.example.com."),
            rec("b.example.com.", "A", 60, "192.0.2.2"),
            rec("example.com.", "MX", 3600, "10 mail.example.com."),
            rec("example.com.", "NS", 3600, "ns1.example.com."),
            rec(
                "example.com.",
                "SOA",
                3600,
                "ns1.example.com. hostmaster.example.com. 1 7200 3600 1209600 300",
            ),
            rec("www.example.com.", "A", 300, "192.0.2.1"),
        ];
        let text = write("example.com.", &recs);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "$ORIGIN example.com.");
        assert!(lines[1].contains(" SOA "), "{text}");
        assert!(lines[2].contains("NS ns1.example.com."), "{text}");
        assert!(lines[3].contains("NS ns2.example.com."), "{text}");
        assert!(lines[4].starts_with("@ ") && lines[4].contains("MX"), "{text}");
        assert!(
            lines[5].starts_with("b ") && lines[6].starts_with("a.b "),
            "{text}"
        );
        assert!(lines[7].starts_with("www "), "{text}");
        assert_eq!(lines.len(), 8, "duplicates written once: {text}");
        let back = parse(&text, "example.com.").unwrap();
        let mut want = recs.clone();
        want.sort();
        want.dedup();
        let mut got = back.clone();
        got.sort();
        assert_eq!(got, want);
        // Deterministic regardless of input order.
        let mut rev = recs.clone();
        rev.reverse();
        assert_eq!(write("example.com.", &rev), text);
    }

    #[test]
    fn write_keeps_out_of_zone_owners_absolute_and_escapes_dollar() {
        let recs = vec![
            rec("other.net.", "A", 60, "192.0.2.1"),
            rec("$x.example.com.", "A", 60, "192.0.2.2"),
        ];
        let text = write("example.com", &recs);
        assert!(text.contains("other.net. "), "{text}");
        assert!(text.contains("\\$x "), "{text}");
        let back = parse(&text, "example.com.").unwrap();
        assert_eq!(back.len(), 2);
        assert!(back.iter().any(|r| r.name == "$x.example.com."));
    }

    #[test]
    fn canonical_data_normalises_one_value() {
        assert_eq!(
            canonical_data("CNAME", "Target.Example.NET.", "example.com.").unwrap(),
            "target.example.net."
        );
        assert_eq!(
            canonical_data("TXT", "hello", "example.com.").unwrap(),
            "\"hello\""
        );
        assert!(canonical_data("A", "1.2.3.4\nwww A 1.2.3.5", "example.com.").is_err());
        assert!(canonical_data("A", "1.2.3.4 5.6.7.8", "example.com.").is_err());
        assert!(canonical_data("FOO", "x", "example.com.").is_err());
    }
}
