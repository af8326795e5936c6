//! DNS lookups the gateway makes itself (signature keys, `doctor`), through hickory's
//! resolver: the system configuration, or one server given as `IP:PORT` (tests point it at a
//! local DNS server).

use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};

/// Why a lookup gave no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    #[error("{0} does not exist (NXDOMAIN) or holds no such record")]
    NoRecords(String),
    #[error("DNS lookup of {name} failed: {reason}")]
    Failed { name: String, reason: String },
    #[error("resolver configuration: {0}")]
    Config(String),
}

/// Builds a resolver from `spec`: `"system"` or `"IP:PORT"`.
pub fn resolver(spec: &str, timeout: Duration) -> Result<TokioResolver, DnsError> {
    let mut opts = ResolverOpts::default();
    opts.timeout = timeout;
    opts.attempts = 1;
    let builder = if spec == "system" {
        Resolver::builder_tokio().map_err(|e| DnsError::Config(e.to_string()))?
    } else {
        let addr: SocketAddr = spec
            .parse()
            .map_err(|_| DnsError::Config(format!("{spec:?} is not IP:PORT")))?;
        let mut udp = ConnectionConfig::udp();
        udp.port = addr.port();
        let mut tcp = ConnectionConfig::tcp();
        tcp.port = addr.port();
        let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
        let cfg = ResolverConfig::from_parts(None, vec![], vec![ns]);
        Resolver::builder_with_config(cfg, TokioRuntimeProvider::default())
    };
    builder
        .with_options(opts)
        .build()
        .map_err(|e| DnsError::Config(e.to_string()))
}

/// One TXT record: its character-strings and TTL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txt {
    pub strings: Vec<Vec<u8>>,
    pub ttl: u32,
}

impl Txt {
    /// The character-strings joined.
    pub fn joined(&self) -> Vec<u8> {
        self.strings.concat()
    }
}

/// The TXT records at `name` (absolute or not; a trailing dot is added).
pub async fn txt(resolver: &TokioResolver, name: &str) -> Result<Vec<Txt>, DnsError> {
    let fqdn = if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    };
    let lookup = resolver
        .lookup(fqdn.as_str(), RecordType::TXT)
        .await
        .map_err(|e| {
            // Only an answer from a server (NXDOMAIN, or NOERROR without data) means "no records";
            // a server that cannot be reached or fails is a failure.
            let answered = match &e {
                hickory_resolver::net::NetError::Dns(hickory_resolver::net::DnsError::NoRecordsFound(n)) => {
                    matches!(n.response_code, ResponseCode::NXDomain | ResponseCode::NoError)
                }
                _ => false,
            };
            tracing::debug!(error = ?e, "dns lookup error");
            if answered {
                DnsError::NoRecords(fqdn.clone())
            } else {
                DnsError::Failed {
                    name: fqdn.clone(),
                    reason: e.to_string(),
                }
            }
        })?;
    let out: Vec<Txt> = lookup
        .answers()
        .iter()
        .filter_map(|r| match &r.data {
            RData::TXT(t) => Some(Txt {
                strings: t.txt_data.iter().map(|s| s.to_vec()).collect(),
                ttl: r.ttl,
            }),
            _ => None,
        })
        .collect();
    if out.is_empty() {
        Err(DnsError::NoRecords(fqdn))
    } else {
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_unreachable_server_is_a_failure_not_an_empty_answer() {
        let r = resolver("127.0.0.1:1", Duration::from_millis(300)).expect("resolver");
        let e = txt(&r, "_domainconnect.example.com").await.expect_err("fails");
        assert!(matches!(e, DnsError::Failed { .. }), "{e:?}");
    }
}
