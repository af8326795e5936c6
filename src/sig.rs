//! Domain Connect request signatures (SPEC.md §3.4, POLICY.md 17–18).
//!
//! The signed text is the raw received query string with every `sig=` and `key=` pair
//! removed wherever it stands, the rest kept byte for byte in order; only if that fails is
//! the draft's sorted canonical form tried. The public key is read from every TXT record at
//! `<key>.<syncPubKeyDomain>` (all character-strings of a record joined), fragments ordered by
//! `p`, `a`/`t` other than RS256/x509 refused; the key is an RSA SubjectPublicKeyInfo.
//! Verification is RS256 (RSASSA-PKCS1-v1_5 with SHA-256).

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use hickory_resolver::TokioResolver;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::sha2::Sha256;
use rsa::signature::Verifier;
use rsa::traits::PublicKeyParts;

use crate::dns;

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SigError {
    #[error("the request is not signed (sig and key are required)")]
    Missing,
    #[error("sig or key is given more than once")]
    Duplicate,
    #[error("key {0:?} is not a single DNS label")]
    BadKeyLabel(String),
    #[error("no public key is published at {0}")]
    NoKey(String),
    #[error("the public key at {host} is malformed: {reason}")]
    BadKey { host: String, reason: String },
    #[error("the key at {host} uses {what}, which is not supported (only RS256 / x509)")]
    Unsupported { host: String, what: String },
    #[error("sig is not valid base64")]
    BadEncoding,
    #[error("the signature does not match the request (key {0})")]
    Mismatch(String),
    #[error("looking up the key failed: {0}")]
    Dns(String),
}

/// The raw query string without its `sig` and `key` pairs (POLICY.md 17).
pub fn signed_string(raw: &str) -> String {
    raw.split('&')
        .filter(|p| {
            let name = p.split_once('=').map_or(*p, |(n, _)| n);
            name != "sig" && name != "key"
        })
        .collect::<Vec<_>>()
        .join("&")
}

const UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn form_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

/// D02's canonical form: every pair but `sig`/`key`, decoded, re-encoded per RFC 3986,
/// sorted by encoded name.
pub fn sorted_canonical(raw: &str) -> String {
    let mut pairs: Vec<(String, String)> = raw
        .split('&')
        .filter(|p| !p.is_empty())
        .filter_map(|p| {
            let (n, v) = p.split_once('=').unwrap_or((p, ""));
            (n != "sig" && n != "key").then(|| {
                (
                    percent_encoding::utf8_percent_encode(&form_decode(n), UNRESERVED).to_string(),
                    percent_encoding::utf8_percent_encode(&form_decode(v), UNRESERVED).to_string(),
                )
            })
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// The `sig` and `key` of a raw query (each exactly once), decoded.
pub fn sig_and_key(raw: &str) -> Result<(String, String), SigError> {
    let (mut sig, mut key) = (None, None);
    for p in raw.split('&') {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        let slot = match n {
            "sig" => &mut sig,
            "key" => &mut key,
            _ => continue,
        };
        if slot.replace(v.to_string()).is_some() {
            return Err(SigError::Duplicate);
        }
    }
    let (Some(sig), Some(key)) = (sig, key) else {
        return Err(SigError::Missing);
    };
    // Percent-decode only: a '+' in base64 must be sent as %2B; a literal '+' that arrived
    // (an unencoded signature) is a '+' of base64, not a space.
    let sig = percent_encoding::percent_decode_str(&sig)
        .decode_utf8()
        .map_err(|_| SigError::BadEncoding)?
        .into_owned();
    let key = form_decode(&key);
    let label_ok = !key.is_empty()
        && key.len() <= 63
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && !key.starts_with('-')
        && !key.ends_with('-');
    if !label_ok {
        return Err(SigError::BadKeyLabel(key));
    }
    Ok((sig, key))
}

/// Assembles the public key from the TXT records at `host` (each record's strings joined).
pub fn parse_key_records(host: &str, records: &[Vec<u8>]) -> Result<rsa::PublicKey, SigError> {
    let bad = |reason: String| SigError::BadKey {
        host: host.to_string(),
        reason,
    };
    let mut fragments: Vec<(u64, String)> = Vec::new();
    for rec in records {
        let text = String::from_utf8_lossy(rec);
        let (mut p, mut d) = (None, None);
        for item in text.split(',') {
            let Some((k, v)) = item.split_once('=') else {
                continue;
            };
            let v = v.trim();
            match k.trim() {
                "p" => {
                    p = Some(
                        v.parse::<u64>()
                            .map_err(|_| bad(format!("fragment index {v:?}")))?,
                    )
                }
                "d" => d = Some(v.to_string()),
                "a" if !v.eq_ignore_ascii_case("RS256") => {
                    return Err(SigError::Unsupported {
                        host: host.into(),
                        what: format!("a={v}"),
                    });
                }
                "t" if !v.eq_ignore_ascii_case("x509") => {
                    return Err(SigError::Unsupported {
                        host: host.into(),
                        what: format!("t={v}"),
                    });
                }
                _ => {}
            }
        }
        // Records without both p and d are not key fragments (AZ ignores them too).
        if let (Some(p), Some(d)) = (p, d) {
            if fragments.iter().any(|(q, _)| *q == p) {
                return Err(bad(format!("fragment {p} is published twice")));
            }
            fragments.push((p, d));
        }
    }
    if fragments.is_empty() {
        return Err(SigError::NoKey(host.to_string()));
    }
    fragments.sort();
    let b64: String = fragments
        .iter()
        .flat_map(|(_, d)| d.chars())
        .filter(|c| !c.is_whitespace())
        .collect();
    let b64 = b64.replace("\\n", "");
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|e| bad(format!("base64: {e}")))?;
    let key =
        rsa::PublicKey::from_public_key_der(&der).map_err(|e| bad(format!("not an RSA public key: {e}")))?;
    if key.size() * 8 < 2048 {
        return Err(bad(format!(
            "{} bits is too short (2048 at least)",
            key.size() * 8
        )));
    }
    Ok(key)
}

/// Verifies an RS256 signature (standard base64) over `message`.
pub fn verify(key: &rsa::PublicKey, message: &[u8], sig_b64: &str) -> Result<(), SigError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(sig_b64.trim().as_bytes())
        .map_err(|_| SigError::BadEncoding)?;
    let sig = Signature::try_from(raw.as_slice()).map_err(|_| SigError::BadEncoding)?;
    VerifyingKey::<Sha256>::new(key.clone())
        .verify(message, &sig)
        .map_err(|_| SigError::Mismatch(String::new()))
}

/// A cached key lookup: the key and how long the DNS said it may be kept.
#[derive(Clone)]
struct Entry {
    key: Result<Arc<rsa::PublicKey>, SigError>,
    ttl: Duration,
}

struct ByTtl;

impl moka::Expiry<String, Entry> for ByTtl {
    fn expire_after_create(&self, _: &String, v: &Entry, _: std::time::Instant) -> Option<Duration> {
        Some(v.ttl)
    }
}

/// Looks up signing keys in DNS and caches them by their DNS TTL (at most an hour), failures
/// for a short while.
pub struct KeyResolver {
    resolver: TokioResolver,
    cache: moka::future::Cache<String, Entry>,
    negative_ttl: Duration,
    /// Counts hits, misses and failed lookups (label `result`), when set.
    lookups: Option<prometheus::IntCounterVec>,
}

impl std::fmt::Debug for KeyResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyResolver").finish_non_exhaustive()
    }
}

/// The longest a key is kept, whatever its TTL.
pub const MAX_KEY_TTL: Duration = Duration::from_secs(3600);

impl KeyResolver {
    /// `spec` is "system" or "IP:PORT".
    pub fn new(spec: &str, timeout: Duration, negative_ttl: Duration) -> Result<KeyResolver, dns::DnsError> {
        Ok(KeyResolver {
            resolver: dns::resolver(spec, timeout)?,
            cache: moka::future::Cache::builder()
                .max_capacity(10_000)
                .expire_after(ByTtl)
                .build(),
            negative_ttl,
            lookups: None,
        })
    }

    /// Counts lookups in `counter` (one label: `hit`, `miss` or `error`).
    pub fn with_metrics(mut self, counter: prometheus::IntCounterVec) -> KeyResolver {
        self.lookups = Some(counter);
        self
    }

    fn count(&self, result: &str) {
        if let Some(c) = &self.lookups {
            c.with_label_values(&[result]).inc();
        }
    }

    /// The key published at `host`.
    pub async fn key(&self, host: &str) -> Result<Arc<rsa::PublicKey>, SigError> {
        let host = host.to_ascii_lowercase();
        if let Some(e) = self.cache.get(&host).await {
            self.count("hit");
            return e.key;
        }
        self.count("miss");
        let entry = match dns::txt(&self.resolver, &host).await {
            Ok(records) => {
                let ttl = records.iter().map(|r| r.ttl).min().unwrap_or(0);
                let joined: Vec<Vec<u8>> = records.iter().map(dns::Txt::joined).collect();
                match parse_key_records(&host, &joined) {
                    Ok(k) => Entry {
                        key: Ok(Arc::new(k)),
                        ttl: Duration::from_secs(u64::from(ttl).max(1)).min(MAX_KEY_TTL),
                    },
                    Err(e) => Entry {
                        key: Err(e),
                        ttl: self.negative_ttl,
                    },
                }
            }
            Err(dns::DnsError::NoRecords(_)) => Entry {
                key: Err(SigError::NoKey(host.clone())),
                ttl: self.negative_ttl,
            },
            // A lookup that failed is not remembered: the next request asks again.
            Err(e) => {
                self.count("error");
                return Err(SigError::Dns(e.to_string()));
            }
        };
        self.cache.insert(host, entry.clone()).await;
        entry.key
    }
}

/// A verified request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub key_host: String,
    /// True when the sorted canonical form matched rather than the raw string.
    pub canonical_form_used: bool,
}

/// Checks the signature of a raw sync query against keys under `pub_key_domain`.
pub async fn verify_request(
    resolver: &KeyResolver,
    raw: &str,
    pub_key_domain: &str,
) -> Result<Verified, SigError> {
    let (sig, key) = sig_and_key(raw)?;
    let host = format!("{key}.{}", pub_key_domain.trim().trim_end_matches('.'));
    let public = resolver.key(&host).await?;
    let signed = signed_string(raw);
    if verify(&public, signed.as_bytes(), &sig).is_ok() {
        return Ok(Verified {
            key_host: host,
            canonical_form_used: false,
        });
    }
    let canonical = sorted_canonical(raw);
    if verify(&public, canonical.as_bytes(), &sig).is_ok() {
        return Ok(Verified {
            key_host: host,
            canonical_form_used: true,
        });
    }
    tracing::warn!(key_host = %host, signed = %signed, "signature does not match");
    Err(SigError::Mismatch(host))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs1v15::SigningKey;
    use rsa::pkcs8::EncodePublicKey;
    use rsa::signature::{SignatureEncoding, Signer};

    fn keypair() -> (rsa::PrivateKey, rsa::PublicKey) {
        let private = rsa::PrivateKey::new(&mut rand::rng(), 2048).expect("key");
        let public = private.to_public_key();
        (private, public)
    }

    fn sign(private: &rsa::PrivateKey, msg: &str) -> String {
        let s = SigningKey::<Sha256>::new(private.clone()).sign(msg.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(s.to_vec())
    }

    fn enc(s: &str) -> String {
        url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
    }

    fn records(public: &rsa::PublicKey, parts: usize) -> Vec<Vec<u8>> {
        let der = public.to_public_key_der().expect("der");
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_bytes());
        let size = b64.len().div_ceil(parts);
        b64.as_bytes()
            .chunks(size)
            .enumerate()
            .map(|(i, c)| format!("p={},a=RS256,d={}", i + 1, String::from_utf8_lossy(c)).into_bytes())
            .rev()
            .collect()
    }

    #[test]
    fn signed_string_drops_sig_and_key_anywhere() {
        assert_eq!(signed_string("a=1&sig=x&b=2&key=k"), "a=1&b=2");
        assert_eq!(signed_string("key=k&a=1%2B&sig=x"), "a=1%2B");
        assert_eq!(signed_string("a=1&signature=2&keys=3"), "a=1&signature=2&keys=3");
        assert_eq!(sorted_canonical("b=2&a=x+y&sig=s&key=k"), "a=x%20y&b=2");
    }

    #[test]
    fn sig_and_key_rules() {
        assert_eq!(
            sig_and_key("a=1&sig=ab%2Bc%3D&key=_dck1"),
            Ok(("ab+c=".into(), "_dck1".into()))
        );
        assert_eq!(sig_and_key("a=1&key=k"), Err(SigError::Missing));
        assert_eq!(sig_and_key("sig=a&sig=b&key=k"), Err(SigError::Duplicate));
        assert!(matches!(
            sig_and_key("sig=a&key=a.b"),
            Err(SigError::BadKeyLabel(_))
        ));
        assert!(matches!(
            sig_and_key("sig=a&key=x%0Ay"),
            Err(SigError::BadKeyLabel(_))
        ));
    }

    #[test]
    fn keys_from_fragments_in_any_order_and_verification() {
        let (private, public) = keypair();
        let recs = records(&public, 3);
        let key = parse_key_records("_dck1.keys.example", &recs).expect("key");
        let qs = format!(
            "domain=example.com&IP=192.0.2.1&RANDOMTEXT={}",
            enc("hello world")
        );
        let sig = sign(&private, &qs);
        let raw = format!("{qs}&sig={}&key=_dck1", enc(&sig));
        let (s, _) = sig_and_key(&raw).expect("sig");
        assert!(verify(&key, signed_string(&raw).as_bytes(), &s).is_ok());
        // A tampered or extended query fails.
        let tampered = raw.replace("192.0.2.1", "192.0.2.2");
        assert!(verify(&key, signed_string(&tampered).as_bytes(), &s).is_err());
        let extended = format!("{raw}&blah=blah");
        assert!(verify(&key, signed_string(&extended).as_bytes(), &s).is_err());
        // Key before sig, in the middle.
        let moved = format!("key=_dck1&{qs}&sig={}", enc(&sig));
        assert!(verify(&key, signed_string(&moved).as_bytes(), &s).is_ok());
    }

    #[test]
    fn bad_key_records() {
        let (_, public) = keypair();
        let mut recs = records(&public, 2);
        recs.push(b"v=spf1 -all".to_vec());
        assert!(
            parse_key_records("h", &recs).is_ok(),
            "records that are not fragments are ignored"
        );
        let dup = vec![recs[0].clone(), recs[0].clone()];
        assert!(matches!(
            parse_key_records("h", &dup),
            Err(SigError::BadKey { .. })
        ));
        let alg = vec![b"p=1,a=ES256,d=AAAA".to_vec()];
        assert!(matches!(
            parse_key_records("h", &alg),
            Err(SigError::Unsupported { .. })
        ));
        let t = vec![b"p=1,t=raw,d=AAAA".to_vec()];
        assert!(matches!(
            parse_key_records("h", &t),
            Err(SigError::Unsupported { .. })
        ));
        assert!(matches!(
            parse_key_records("h", &[b"p=1,d=!!!".to_vec()]),
            Err(SigError::BadKey { .. })
        ));
        assert!(matches!(
            parse_key_records("h", &[b"hello".to_vec()]),
            Err(SigError::NoKey(_))
        ));
        let small = rsa::PrivateKey::new(&mut rand::rng(), 1024)
            .expect("key")
            .to_public_key();
        assert!(matches!(
            parse_key_records("h", &records(&small, 1)),
            Err(SigError::BadKey { .. })
        ));
        let zero = records(&public, 2)
            .into_iter()
            .map(|r| String::from_utf8_lossy(&r).replace("p=1,", "p=0,").into_bytes())
            .collect::<Vec<_>>();
        assert!(parse_key_records("h", &zero).is_ok(), "fragments may start at 0");
    }
}
