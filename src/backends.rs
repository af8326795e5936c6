//! Routing zones to backends: each configured backend serves the zones its patterns match.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use dcgw_adapter::{Adapter, AdapterError};

/// A zone pattern: `example.com` (that zone), `*.example.com` (zones strictly below it),
/// `*` (any zone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ZonePattern {
    Exact(String),
    Below(String),
    Any,
}

impl ZonePattern {
    pub fn parse(p: &str) -> ZonePattern {
        let p = p.trim().trim_end_matches('.').to_ascii_lowercase();
        if p == "*" {
            ZonePattern::Any
        } else if let Some(rest) = p.strip_prefix("*.") {
            ZonePattern::Below(rest.to_string())
        } else {
            ZonePattern::Exact(p)
        }
    }

    /// Does the pattern match `zone` (lower-case, no trailing dot)?
    pub fn matches(&self, zone: &str) -> bool {
        match self {
            ZonePattern::Exact(z) => zone == z,
            ZonePattern::Below(z) => {
                zone.len() > z.len() + 1
                    && zone.ends_with(z.as_str())
                    && zone.as_bytes()[zone.len() - z.len() - 1] == b'.'
            }
            ZonePattern::Any => true,
        }
    }

    /// Higher is more specific.
    fn rank(&self) -> usize {
        match self {
            ZonePattern::Exact(z) => 2 * z.len() + 1,
            ZonePattern::Below(z) => 2 * z.len(),
            ZonePattern::Any => 0,
        }
    }
}

/// A configured backend.
#[derive(Debug, Clone)]
pub struct Backend {
    pub name: String,
    pub patterns: Vec<ZonePattern>,
    pub adapter: Arc<dyn Adapter>,
}

/// Every configured backend, and which serves a zone.
#[derive(Debug, Clone, Default)]
pub struct Router {
    backends: Vec<Backend>,
    /// Apexes a backend confirmed hosting, and when: asked again after [`HOSTED_TTL`]. Only
    /// positive answers are kept, so a zone created on the backend is found at once; a zone
    /// deleted there keeps being routed for at most the TTL, and its reads then fail.
    hosted: Arc<Mutex<HashMap<String, Instant>>>,
}

/// How long a confirmed zone is trusted without asking the backend again.
pub const HOSTED_TTL: Duration = Duration::from_secs(60);

/// A zone hosted by a backend.
#[derive(Debug, Clone)]
pub struct Hosted<'a> {
    pub backend: &'a Backend,
    /// The zone apex, absolute with a trailing dot.
    pub zone: String,
}

impl Router {
    pub fn new(backends: Vec<Backend>) -> Router {
        Router {
            backends,
            hosted: Arc::default(),
        }
    }

    /// The same backends, each wrapped so its calls are traced and measured.
    pub fn instrumented(self, metrics: &crate::telemetry::Metrics) -> Router {
        Router {
            hosted: self.hosted,
            backends: self
                .backends
                .into_iter()
                .map(|b| Backend {
                    adapter: crate::telemetry::Instrumented::wrap(&b.name, b.adapter, metrics.clone()),
                    ..b
                })
                .collect(),
        }
    }

    pub fn backends(&self) -> &[Backend] {
        &self.backends
    }

    /// The backend whose most specific pattern matches `domain`.
    pub fn route(&self, domain: &str) -> Option<&Backend> {
        let d = domain.trim_end_matches('.').to_ascii_lowercase();
        self.backends
            .iter()
            .filter_map(|b| {
                b.patterns
                    .iter()
                    .filter(|p| p.matches(&d))
                    .map(|p| p.rank())
                    .max()
                    .map(|r| (r, b))
            })
            .max_by_key(|(r, _)| *r)
            .map(|(_, b)| b)
    }

    /// The backend and zone when `domain` is the apex of a zone a backend hosts.
    pub async fn hosted(&self, domain: &str) -> Result<Option<Hosted<'_>>, AdapterError> {
        let Some(backend) = self.route(domain) else {
            return Ok(None);
        };
        let apex = dcgw_adapter::absolute(domain);
        let key = format!("{}\n{apex}", backend.name);
        let fresh = |t: &Instant| t.elapsed() < HOSTED_TTL;
        if let Ok(cache) = self.hosted.lock()
            && cache.get(&key).is_some_and(fresh)
        {
            return Ok(Some(Hosted { backend, zone: apex }));
        }
        match backend.adapter.find_zone(&apex).await? {
            Some(z) if z == apex => {
                if let Ok(mut cache) = self.hosted.lock() {
                    cache.retain(|_, t| fresh(t));
                    cache.insert(key, Instant::now());
                }
                Ok(Some(Hosted { backend, zone: z }))
            }
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(ZonePattern::parse("Example.com.").matches("example.com"));
        assert!(!ZonePattern::parse("example.com").matches("a.example.com"));
        assert!(ZonePattern::parse("*.example.com").matches("a.example.com"));
        assert!(!ZonePattern::parse("*.example.com").matches("example.com"));
        assert!(!ZonePattern::parse("*.example.com").matches("badexample.com"));
        assert!(ZonePattern::parse("*").matches("anything.test"));
    }
}
