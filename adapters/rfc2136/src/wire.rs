//! Record data between the adapter model (RFC 1035 presentation format, canonicalised by
//! `dcgw_zonefile::master`) and DNS wire format (hickory's `RData`).
//!
//! * TXT, SPF and CAA are encoded and decoded here, octet for octet, so character-strings
//!   round-trip exactly (hickory's text forms of these types are not presentation format).
//! * RFC 3597 data (`\# len hex`) of any type is sent as those octets.
//! * DNAME is encoded here (hickory 0.26 has no text parser for it).
//! * Every other type goes through hickory's presentation parser, and is read back through its
//!   `Display`; when that text does not encode back to the same octets, the record is read as
//!   RFC 3597 data instead, so a precondition built from a read always matches the server's
//!   octets.

use std::fmt::Write as _;
use std::str::FromStr;

use hickory_proto::rr::rdata::NULL;
use hickory_proto::rr::{Name, RData, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinDecoder, BinEncodable, BinEncoder};

/// The hickory record type of an upper-case mnemonic or `TYPEnnn`.
pub fn record_type(rtype: &str) -> Result<RecordType, String> {
    let upper = rtype.to_ascii_uppercase();
    if let Some(n) = upper.strip_prefix("TYPE")
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        let code: u16 = n
            .parse()
            .map_err(|_| format!("record type {rtype} is out of range"))?;
        return Ok(RecordType::from(code));
    }
    match RecordType::from_str(&upper) {
        Ok(RecordType::Unknown(_)) | Err(_) => EXTRA
            .iter()
            .find(|(n, _)| *n == upper)
            .map(|(_, c)| RecordType::from(*c))
            .ok_or_else(|| format!("unknown record type {rtype:?}")),
        Ok(t) => Ok(t),
    }
}

/// Mnemonics hickory has no name for (their data is still written and read, as octets).
const EXTRA: &[(&str, u16)] = &[
    ("RP", 17),
    ("AFSDB", 18),
    ("LOC", 29),
    ("KX", 36),
    ("DHCID", 49),
    ("SPF", 99),
    ("URI", 256),
];

/// The model's mnemonic for a record type: hickory's name when it has one, else `TYPEnnn`.
pub fn type_name(t: RecordType) -> String {
    if let Some((n, _)) = EXTRA.iter().find(|(_, c)| *c == u16::from(t)) {
        return (*n).to_string();
    }
    match t {
        RecordType::Unknown(code) => format!("TYPE{code}"),
        t => {
            let s = t.to_string();
            // Round-trip through the name: anything hickory cannot parse back is TYPEnnn.
            match RecordType::from_str(&s) {
                Ok(back) if back == t => s,
                _ => format!("TYPE{}", u16::from(t)),
            }
        }
    }
}

/// Types whose data the adapter never writes or reports: maintained by a signing server.
pub fn is_dnssec_maintained(t: RecordType) -> bool {
    // RRSIG, NSEC, NSEC3, NSEC3PARAM.
    matches!(u16::from(t), 46 | 47 | 50 | 51)
}

fn opaque(t: RecordType, bytes: Vec<u8>) -> RData {
    RData::Unknown {
        code: t,
        rdata: NULL::with(bytes),
    }
}

/// The wire octets of `data` (presentation format) for a record of type `rtype` in `zone`.
///
/// The data is first canonicalised (names made absolute against the zone, TXT quoted), so
/// any presentation form the model allows is accepted.
pub fn to_rdata(rtype: &str, data: &str, zone: &str) -> Result<RData, String> {
    let t = record_type(rtype)?;
    let upper = rtype.to_ascii_uppercase();
    let canon = if upper.starts_with("TYPE") {
        data.split_whitespace().collect::<Vec<_>>().join(" ")
    } else {
        dcgw_zonefile::master::canonical_data(&upper, data, zone)?
    };
    if let Some(rest) = canon.strip_prefix("\\#") {
        let bytes = generic_octets(rest)?;
        return Ok(opaque(t, bytes));
    }
    match upper.as_str() {
        "TXT" | "SPF" => Ok(opaque(t, txt_octets(&canon)?)),
        "CAA" => Ok(opaque(t, caa_octets(&canon)?)),
        "DNAME" => {
            let name = Name::from_ascii(&canon).map_err(|e| format!("DNAME target {canon:?}: {e}"))?;
            Ok(opaque(t, name_octets(&name)?))
        }
        _ => RData::try_from_str(t, &canon).map_err(|e| format!("{upper} data {canon:?}: {e}")),
    }
}

/// The wire octets of one RDATA.
pub fn octets(rdata: &RData) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    // Canonical form: names uncompressed and, for the RFC 4034 list of types, lower-cased,
    // which is how servers compare RDATA in prerequisites.
    enc.set_canonical_form(true);
    rdata.emit(&mut enc).map_err(|e| e.to_string())?;
    Ok(buf)
}

/// Presentation-format data of a record read from the server, in the model's canonical form.
pub fn to_presentation(t: RecordType, rdata: &RData, zone: &str) -> String {
    let Ok(bytes) = octets(rdata) else {
        return String::from("\\# 0");
    };
    let name = type_name(t);
    let text = match name.as_str() {
        "TXT" | "SPF" => txt_text(&bytes),
        "CAA" => caa_text(&bytes),
        "DNAME" => name_text(&bytes),
        _ if matches!(rdata, RData::Unknown { .. } | RData::NULL(_)) || name.starts_with("TYPE") => None,
        _ => Some(rdata.to_string()),
    };
    // Keep the text only when it is canonical and encodes back to the same octets.
    if let Some(text) = text
        && !name.starts_with("TYPE")
        && let Ok(canon) = dcgw_zonefile::master::canonical_data(&name, &text, zone)
        && to_rdata(&name, &canon, zone)
            .ok()
            .and_then(|r| octets(&r).ok())
            .is_some_and(|b| b == bytes)
    {
        return canon;
    }
    generic_text(&bytes)
}

/// `\# len hex` (RFC 3597) of `bytes`.
pub fn generic_text(bytes: &[u8]) -> String {
    let mut s = format!("\\# {}", bytes.len());
    if !bytes.is_empty() {
        s.push(' ');
        for b in bytes {
            let _ = write!(s, "{b:02X}");
        }
    }
    s
}

/// The octets of RFC 3597 data after the `\#`: a length, then hex digits (in any grouping).
fn generic_octets(rest: &str) -> Result<Vec<u8>, String> {
    let mut parts = rest.split_whitespace();
    let len: usize = parts
        .next()
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| "RFC 3597 data needs a length after \\#".to_string())?;
    let hex: String = parts.collect();
    if hex.len() != 2 * len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("RFC 3597 data says {len} octets but holds {:?}", hex));
    }
    (0..len)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|e| e.to_string()))
        .collect()
}

use dcgw_zonefile::master::data_fields as fields;

fn txt_octets(canon: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    for (_, s) in fields(canon)? {
        let len =
            u8::try_from(s.len()).map_err(|_| "a TXT character-string is over 255 octets".to_string())?;
        out.push(len);
        out.extend_from_slice(&s);
    }
    Ok(out)
}

fn caa_octets(canon: &str) -> Result<Vec<u8>, String> {
    let f = fields(canon)?;
    let [(_, flags), (_, tag), (_, value)] = f.as_slice() else {
        return Err(format!("CAA data must be `flags tag \"value\"`: {canon:?}"));
    };
    let flags: u8 = std::str::from_utf8(flags)
        .ok()
        .and_then(|f| f.parse().ok())
        .ok_or_else(|| format!("CAA flags in {canon:?}"))?;
    let tag_len = u8::try_from(tag.len()).map_err(|_| "CAA tag too long".to_string())?;
    let mut out = vec![flags, tag_len];
    out.extend_from_slice(tag);
    out.extend_from_slice(value);
    Ok(out)
}

fn name_octets(name: &Name) -> Result<Vec<u8>, String> {
    let mut buf = Vec::new();
    let mut enc = BinEncoder::new(&mut buf);
    enc.set_canonical_form(true);
    name.emit(&mut enc).map_err(|e| e.to_string())?;
    Ok(buf)
}

use dcgw_zonefile::master::quote;

fn txt_text(bytes: &[u8]) -> Option<String> {
    let mut out = String::new();
    let mut i = 0;
    while i < bytes.len() {
        let len = usize::from(bytes[i]);
        let s = bytes.get(i + 1..i + 1 + len)?;
        if !out.is_empty() {
            out.push(' ');
        }
        quote(s, &mut out);
        i += 1 + len;
    }
    (!out.is_empty()).then_some(out)
}

fn caa_text(bytes: &[u8]) -> Option<String> {
    let (&flags, rest) = bytes.split_first()?;
    let (&tag_len, rest) = rest.split_first()?;
    let tag = rest.get(..usize::from(tag_len))?;
    let value = rest.get(usize::from(tag_len)..)?;
    if tag.is_empty() || !tag.iter().all(u8::is_ascii_alphanumeric) {
        return None;
    }
    let mut out = format!("{flags} {} ", String::from_utf8_lossy(tag));
    quote(value, &mut out);
    Some(out)
}

fn name_text(bytes: &[u8]) -> Option<String> {
    let mut d = BinDecoder::new(bytes);
    let name = Name::read(&mut d).ok()?;
    Some(name.to_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ZONE: &str = "example.test.";

    /// Decodes the wire octets of one RDATA of type `t`, as hickory does for a server's answer.
    fn from_octets(t: RecordType, bytes: &[u8]) -> Result<RData, String> {
        use hickory_proto::serialize::binary::Restrict;
        let mut d = BinDecoder::new(bytes);
        let len = u16::try_from(bytes.len()).map_err(|_| "RDATA over 65535 octets".to_string())?;
        RData::read(&mut d, t, Restrict::new(len)).map_err(|e| e.to_string())
    }

    /// Presentation → wire → presentation gives the canonical text back.
    fn round_trip(rtype: &str, data: &str) -> String {
        let rdata = to_rdata(rtype, data, ZONE).unwrap_or_else(|e| panic!("{rtype} {data}: {e}"));
        let bytes = octets(&rdata).expect("octets");
        let t = record_type(rtype).expect("type");
        // What a server sends back is decoded by hickory into its own RData.
        let decoded = from_octets(t, &bytes).expect("decode");
        to_presentation(t, &decoded, ZONE)
    }

    #[test]
    fn common_types_round_trip_to_canonical_text() {
        for (t, d) in [
            ("A", "192.0.2.1"),
            ("AAAA", "2001:db8::1"),
            ("CNAME", "target.example.net."),
            ("NS", "ns1.example.net."),
            ("PTR", "host.example.net."),
            ("MX", "10 mail.example.net."),
            ("SRV", "10 20 5060 sip.example.net."),
            (
                "SOA",
                "ns1.example.test. hostmaster.example.test. 7 3600 600 86400 60",
            ),
            ("TXT", "\"hello world\""),
            ("TXT", r#""say \"hi\" and \\ back""#),
            ("TXT", r#""first" "second part" "third""#),
            ("TXT", "\"caf\\195\\169\""),
            ("SPF", "\"v=spf1 -all\""),
            ("CAA", "0 issue \"ca.example.net\""),
            ("CAA", "128 iodef \"mailto:security@example.test\""),
            ("DNAME", "elsewhere.example.net."),
            ("TYPE65534", "\\# 3 010203"),
        ] {
            assert_eq!(round_trip(t, d), d, "{t} {d}");
        }
    }

    #[test]
    fn names_in_data_are_made_absolute_and_lower_case() {
        assert_eq!(round_trip("CNAME", "Target.Example.NET."), "target.example.net.");
        assert_eq!(round_trip("MX", "10 mail"), "10 mail.example.test.");
    }

    #[test]
    fn a_long_txt_keeps_its_character_strings() {
        let text: String = (0..600).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        let d = format!(
            "\"{}\" \"{}\" \"{}\"",
            &text[..255],
            &text[255..510],
            &text[510..]
        );
        assert_eq!(round_trip("TXT", &d), d);
    }

    #[test]
    fn generic_data_of_a_known_type_is_decoded() {
        // An A record written as RFC 3597 data reads back as an address.
        assert_eq!(round_trip("A", "\\# 4 C0000201"), "192.0.2.1");
    }

    #[test]
    fn bad_data_is_refused_with_the_reason() {
        for (t, d) in [
            ("A", "300.1.1.1"),
            ("MX", "mail.example.net."),
            ("TXT", "\"unterminated"),
            ("TYPE65534", "\\# 3 0102"),
            ("BOGUS", "x"),
        ] {
            assert!(to_rdata(t, d, ZONE).is_err(), "{t} {d}");
        }
    }

    #[test]
    fn type_names() {
        assert_eq!(record_type("TYPE65534").expect("t"), RecordType::Unknown(65534));
        assert_eq!(type_name(RecordType::Unknown(65534)), "TYPE65534");
        assert_eq!(type_name(RecordType::A), "A");
        assert_eq!(record_type("txt").expect("t"), RecordType::TXT);
        assert!(is_dnssec_maintained(RecordType::RRSIG));
        assert!(!is_dnssec_maintained(RecordType::TXT));
    }
}
