//! Observability: logs (text or JSON, with the trace id of the request), OpenTelemetry traces
//! (OTLP, configured by the standard `OTEL_*` variables), Prometheus metrics, the per-request
//! span with the Domain Connect attributes, and the instrumented backend wrapper that gives
//! every backend call a child span, a latency histogram and an error counter.
//!
//! Nothing here writes a secret: request lines are logged with the values of sensitive query
//! parameters (codes, tokens, client secrets, signatures) replaced.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use dcgw_adapter::{Adapter, AdapterError, Capabilities, ChangeSet, RRset, ReadFilter};
use opentelemetry::propagation::Extractor;
use opentelemetry::trace::TraceContextExt;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The Prometheus metrics of one gateway. Each gateway has its own registry, so several can
/// live in one process (tests).
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// `dcgw_http_requests_total{method, route, status}`.
    pub http_requests: IntCounterVec,
    /// `dcgw_http_request_duration_seconds{method, route}`.
    pub http_duration: HistogramVec,
    /// `dcgw_applies_total{flow, provider_id, service_id, outcome}`.
    pub applies: IntCounterVec,
    /// `dcgw_reverts_total{flow, provider_id, service_id, outcome}`.
    pub reverts: IntCounterVec,
    /// `dcgw_conflicts_total{flow, provider_id, service_id}`: existing records a plan would
    /// replace.
    pub conflicts: IntCounterVec,
    /// `dcgw_backend_request_duration_seconds{backend, kind, operation}`.
    pub backend_duration: HistogramVec,
    /// `dcgw_backend_errors_total{backend, kind, operation, class}`.
    pub backend_errors: IntCounterVec,
    /// `dcgw_signing_key_lookups_total{result}`: `hit` (cache), `miss` (asked the DNS), `error`.
    pub key_lookups: IntCounterVec,
    /// `dcgw_template_reloads_total{outcome}`.
    pub template_reloads: IntCounterVec,
    /// `dcgw_templates_served{}`: how many templates are served now.
    pub templates_served: IntGaugeVec,
    /// `dcgw_template_queries_not_found_total{provider_id, service_id}`: demand for templates
    /// this deployment does not serve (yet).
    template_not_found: IntCounterVec,
    not_found_seen: Arc<Mutex<HashSet<(String, String)>>>,
}

/// Distinct `(providerId, serviceId)` pairs counted by name in the not-found counter; later
/// ones are counted under `_other`, so hostile queries cannot grow the registry without end.
pub const NOT_FOUND_LABEL_LIMIT: usize = 1000;

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("metric definition");
    registry
        .register(Box::new(c.clone()))
        .expect("metric registration");
    c
}

fn histogram(
    registry: &Registry,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Vec<f64>,
) -> HistogramVec {
    let h = HistogramVec::new(HistogramOpts::new(name, help).buckets(buckets), labels)
        .expect("metric definition");
    registry
        .register(Box::new(h.clone()))
        .expect("metric registration");
    h
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new_custom(Some("dcgw".into()), None).expect("registry");
        let latency = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let templates_served = IntGaugeVec::new(Opts::new("templates_served", "Templates served now."), &[])
            .expect("metric definition");
        registry
            .register(Box::new(templates_served.clone()))
            .expect("metric registration");
        Metrics {
            http_requests: counter(
                &registry,
                "http_requests_total",
                "HTTP requests by route pattern and status.",
                &["method", "route", "status"],
            ),
            http_duration: histogram(
                &registry,
                "http_request_duration_seconds",
                "HTTP request latency by route pattern.",
                &["method", "route"],
                latency.clone(),
            ),
            applies: counter(
                &registry,
                "applies_total",
                "Template applies by flow, template and outcome.",
                &["flow", "provider_id", "service_id", "outcome"],
            ),
            reverts: counter(
                &registry,
                "reverts_total",
                "Template reverts by flow, template and outcome.",
                &["flow", "provider_id", "service_id", "outcome"],
            ),
            conflicts: counter(
                &registry,
                "conflicts_total",
                "Existing records an apply conflicted with, by template.",
                &["flow", "provider_id", "service_id"],
            ),
            backend_duration: histogram(
                &registry,
                "backend_request_duration_seconds",
                "Latency of backend calls.",
                &["backend", "kind", "operation"],
                latency,
            ),
            backend_errors: counter(
                &registry,
                "backend_errors_total",
                "Backend calls that failed, by error class.",
                &["backend", "kind", "operation", "class"],
            ),
            key_lookups: counter(
                &registry,
                "signing_key_lookups_total",
                "Signing-key lookups: hit (cache), miss (asked the DNS), error.",
                &["result"],
            ),
            template_reloads: counter(
                &registry,
                "template_reloads_total",
                "Template directory reloads by outcome.",
                &["outcome"],
            ),
            template_not_found: counter(
                &registry,
                "template_queries_not_found_total",
                "Template queries answered 404, by the providerId and serviceId asked for.",
                &["provider_id", "service_id"],
            ),
            templates_served,
            not_found_seen: Arc::new(Mutex::new(HashSet::new())),
            registry,
        }
    }

    /// Counts a template query answered 404. Ids that are not template ids, and new pairs
    /// beyond [`NOT_FOUND_LABEL_LIMIT`], are counted under `_invalid` and `_other`.
    pub fn template_not_found(&self, provider_id: &str, service_id: &str) {
        let valid = |s: &str| {
            !s.is_empty()
                && s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        };
        if !valid(provider_id) || !valid(service_id) {
            self.template_not_found
                .with_label_values(&["_invalid", "_invalid"])
                .inc();
            return;
        }
        let key = (provider_id.to_ascii_lowercase(), service_id.to_ascii_lowercase());
        let known = match self.not_found_seen.lock() {
            Ok(mut seen) => {
                if seen.contains(&key) {
                    true
                } else if seen.len() < NOT_FOUND_LABEL_LIMIT {
                    seen.insert(key.clone());
                    true
                } else {
                    false
                }
            }
            Err(_) => false,
        };
        if known {
            self.template_not_found.with_label_values(&[&key.0, &key.1]).inc();
        } else {
            self.template_not_found
                .with_label_values(&["_other", "_other"])
                .inc();
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        if TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .is_err()
        {
            return String::new();
        }
        String::from_utf8(out).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------
// Logs and traces
// ---------------------------------------------------------------------------------------

/// Keeps the trace pipeline alive; flushes it when dropped.
pub struct TelemetryGuard {
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        if let Some(p) = self.provider.take() {
            let _ = p.shutdown();
        }
    }
}

/// Whether the standard variables ask for OTLP traces: an OTLP endpoint is set, the SDK is
/// not disabled and the traces exporter is not `none`.
fn otlp_wanted() -> bool {
    let set = |k: &str| std::env::var(k).is_ok_and(|v| !v.trim().is_empty());
    let disabled = std::env::var("OTEL_SDK_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
    let exporter_none = std::env::var("OTEL_TRACES_EXPORTER").is_ok_and(|v| v.trim() == "none");
    !disabled
        && !exporter_none
        && (set("OTEL_EXPORTER_OTLP_ENDPOINT") || set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
}

/// A tracer provider exporting to OTLP over HTTP/protobuf, configured by the `OTEL_*`
/// variables (endpoint, headers, timeout, service name, resource attributes, sampler).
fn otlp_provider() -> anyhow::Result<opentelemetry_sdk::trace::SdkTracerProvider> {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
        .map_err(|e| anyhow::anyhow!("OTLP exporter: {e}"))?;
    let mut resource = opentelemetry_sdk::Resource::builder();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        resource = resource.with_service_name("dc-gateway");
    }
    Ok(opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource.build())
        .build())
}

/// Sets up logging (`DCGW_LOG` filter, default `info`; `format` is `text` or `json`) and,
/// when the `OTEL_*` variables ask for it, OTLP trace export. Call once, at start.
pub fn init(format: &str) -> anyhow::Result<TelemetryGuard> {
    use opentelemetry::trace::TracerProvider as _;

    let provider = if otlp_wanted() {
        Some(otlp_provider()?)
    } else {
        None
    };
    let tracer = provider.as_ref().map(|p| p.tracer("dc-gateway"));
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal();
    tracing::subscriber::set_global_default(subscriber(format, std::io::stderr, ansi, tracer))
        .map_err(|e| anyhow::anyhow!("logging: {e}"))?;
    opentelemetry::global::set_text_map_propagator(
        opentelemetry_sdk::propagation::TraceContextPropagator::new(),
    );
    Ok(TelemetryGuard { provider })
}

/// The subscriber [`init`] installs: the `DCGW_LOG` filter, log lines (`json`: one object per
/// line with the current span's fields, among them `trace_id`; otherwise text) written to
/// `writer`, and spans sent to `tracer` when there is one. Tests give their own writer and an
/// in-memory tracer.
pub fn subscriber<W>(
    format: &str,
    writer: W,
    ansi: bool,
    tracer: Option<opentelemetry_sdk::trace::Tracer>,
) -> Box<dyn tracing::Subscriber + Send + Sync>
where
    W: for<'a> tracing_subscriber::fmt::MakeWriter<'a> + Send + Sync + 'static,
{
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;

    let filter = tracing_subscriber::EnvFilter::try_from_env("DCGW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt: Box<dyn Layer<tracing_subscriber::Registry> + Send + Sync> = if format == "json" {
        Box::new(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .with_span_list(false)
                .with_writer(writer),
        )
    } else {
        Box::new(
            tracing_subscriber::fmt::layer()
                .with_ansi(ansi)
                .with_writer(writer),
        )
    };
    let otel = tracer.map(|t| tracing_opentelemetry::layer().with_tracer(t));
    Box::new(tracing_subscriber::registry().with(fmt).with(otel).with(filter))
}

/// Query parameters whose values are secrets or single-use credentials.
const SENSITIVE: &[&str] = &[
    "code",
    "client_secret",
    "refresh_token",
    "access_token",
    "code_verifier",
    "password",
    "sig",
    "token",
    "csrf",
];

/// The query string with the values of sensitive parameters replaced by `[redacted]`.
pub fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_encoding::percent_decode_str(k).decode_utf8_lossy();
            if SENSITIVE.iter().any(|s| name.eq_ignore_ascii_case(s)) && !v.is_empty() {
                format!("{k}=[redacted]")
            } else {
                pair.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("&")
}

struct HeaderExtractor<'a>(&'a actix_web::http::header::HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// Middleware: one span per request (`http.*` and the Domain Connect attributes that the
/// handlers fill in), its parent taken from a W3C `traceparent` header, the request counted
/// and timed by route pattern, and one access-log line (secrets redacted) carrying the
/// trace id.
pub async fn request_span(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().as_str().to_string();
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = tracing::field::Empty,
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
        trace_id = tracing::field::Empty,
        dc.provider_id = tracing::field::Empty,
        dc.service_id = tracing::field::Empty,
        dc.domain = tracing::field::Empty,
        dc.flow = tracing::field::Empty,
        dc.outcome = tracing::field::Empty,
    );
    let parent =
        opentelemetry::global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(req.headers())));
    let _ = span.set_parent(parent);
    let trace_id = span.context().span().span_context().trace_id();
    if trace_id != opentelemetry::trace::TraceId::INVALID {
        span.record("trace_id", tracing::field::display(trace_id));
    }
    let path = req.path().to_string();
    let query = req.query_string();
    let query = if query.is_empty() {
        String::new()
    } else {
        format!("?{}", redact_query(query))
    };
    let peer = req.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
    let state = req.app_data::<actix_web::web::Data<crate::http::AppState>>();
    let access_log = state.is_none_or(|s| s.config.telemetry.access_log);
    let metrics = state.map(|s| s.metrics.clone());
    let res = next.call(req).instrument(span.clone()).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    span.record("http.response.status_code", status);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let elapsed = started.elapsed();
    if let Some(m) = metrics {
        m.http_requests
            .with_label_values(&[method.as_str(), route.as_str(), status_label(status)])
            .inc();
        m.http_duration
            .with_label_values(&[method.as_str(), route.as_str()])
            .observe(elapsed.as_secs_f64());
    }
    if route != "/healthz" && route != "/readyz" && access_log {
        let _entered = span.enter();
        tracing::info!(
            target: "dc_gateway::access",
            peer = %peer,
            status,
            ms = elapsed.as_secs_f64() * 1000.0,
            "{method} {path}{query}"
        );
    }
    res
}

fn status_label(status: u16) -> &'static str {
    match status {
        200 => "200",
        201 => "201",
        204 => "204",
        302 => "302",
        303 => "303",
        304 => "304",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        405 => "405",
        409 => "409",
        410 => "410",
        413 => "413",
        414 => "414",
        429 => "429",
        500 => "500",
        502 => "502",
        503 => "503",
        504 => "504",
        s if s < 200 => "1xx",
        s if s < 300 => "2xx",
        s if s < 400 => "3xx",
        s if s < 500 => "4xx",
        _ => "5xx",
    }
}

/// Fills the Domain Connect attributes of the current request span.
pub fn record_request(provider_id: &str, service_id: &str, domain: &str, flow: &str) {
    let span = tracing::Span::current();
    span.record("dc.provider_id", provider_id);
    span.record("dc.service_id", service_id);
    if !domain.is_empty() {
        span.record("dc.domain", domain);
    }
    span.record("dc.flow", flow);
}

/// Records the outcome of the current request (`applied`, `conflict`, `refused`, ...).
pub fn record_outcome(outcome: &str) {
    tracing::Span::current().record("dc.outcome", outcome);
}

// ---------------------------------------------------------------------------------------
// Backends
// ---------------------------------------------------------------------------------------

/// An adapter wrapped so that every call gets a client span, a latency observation and, when
/// it fails, an error count by class.
#[derive(Debug)]
pub struct Instrumented {
    name: String,
    inner: Arc<dyn Adapter>,
    metrics: Metrics,
}

impl Instrumented {
    pub fn wrap(name: &str, inner: Arc<dyn Adapter>, metrics: Metrics) -> Arc<dyn Adapter> {
        Arc::new(Instrumented {
            name: name.to_string(),
            inner,
            metrics,
        })
    }

    async fn observe<T>(
        &self,
        operation: &'static str,
        zone: &str,
        call: impl std::future::Future<Output = Result<T, AdapterError>>,
    ) -> Result<T, AdapterError> {
        let kind = self.inner.kind();
        let span = tracing::info_span!(
            "backend",
            otel.name = %format_args!("backend.{operation}"),
            otel.kind = "client",
            otel.status_code = tracing::field::Empty,
            dc.backend = %self.name,
            dc.backend_kind = kind,
            dc.operation = operation,
            dc.zone = zone,
            error.class = tracing::field::Empty,
        );
        let started = Instant::now();
        let result = call.instrument(span.clone()).await;
        self.metrics
            .backend_duration
            .with_label_values(&[self.name.as_str(), kind, operation])
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = &result {
            span.record("error.class", e.class());
            span.record("otel.status_code", "ERROR");
            self.metrics
                .backend_errors
                .with_label_values(&[self.name.as_str(), kind, operation, e.class()])
                .inc();
        }
        result
    }
}

#[async_trait::async_trait]
impl Adapter for Instrumented {
    fn kind(&self) -> &'static str {
        self.inner.kind()
    }

    fn capabilities(&self) -> &Capabilities {
        self.inner.capabilities()
    }

    async fn find_zone(&self, name: &str) -> Result<Option<String>, AdapterError> {
        self.observe("find_zone", name, self.inner.find_zone(name)).await
    }

    async fn read(&self, zone: &str, filter: &ReadFilter) -> Result<Vec<RRset>, AdapterError> {
        self.observe("read", zone, self.inner.read(zone, filter)).await
    }

    async fn apply(&self, changes: &ChangeSet) -> Result<(), AdapterError> {
        self.observe("apply", &changes.zone, self.inner.apply(changes))
            .await
    }

    async fn apply_locked(&self, changes: &ChangeSet) -> Result<(), AdapterError> {
        self.observe("apply", &changes.zone, self.inner.apply_locked(changes))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_query_strings_are_redacted() {
        let q = "grant_type=authorization_code&code=abc123&client_id=sp&client_secret=s3cr3t&redirect_uri=https%3A%2F%2Fx";
        let r = redact_query(q);
        assert!(!r.contains("abc123") && !r.contains("s3cr3t"), "{r}");
        assert!(r.contains("client_id=sp") && r.contains("code=[redacted]"), "{r}");
        assert_eq!(
            redact_query("Client%5Fsecret=x&a"),
            "Client%5Fsecret=[redacted]&a"
        );
        assert_eq!(
            redact_query("domain=example.com&sig=AAAA"),
            "domain=example.com&sig=[redacted]"
        );
    }

    #[test]
    fn not_found_labels_are_bounded() {
        let m = Metrics::new();
        for i in 0..(NOT_FOUND_LABEL_LIMIT + 10) {
            m.template_not_found(&format!("p{i}.example"), "svc");
        }
        m.template_not_found("../../etc", "passwd");
        m.template_not_found("P0.example", "SVC");
        let text = m.render();
        let series = text
            .lines()
            .filter(|l| l.starts_with("dcgw_template_queries_not_found_total{"))
            .count();
        assert_eq!(
            series,
            NOT_FOUND_LABEL_LIMIT + 2,
            "the named pairs, _other and _invalid"
        );
        assert!(text.contains(
            r#"dcgw_template_queries_not_found_total{provider_id="_other",service_id="_other"} 10"#
        ));
        assert!(text.contains(
            r#"dcgw_template_queries_not_found_total{provider_id="_invalid",service_id="_invalid"} 1"#
        ));
        assert!(text.contains(
            r#"dcgw_template_queries_not_found_total{provider_id="p0.example",service_id="svc"} 2"#
        ));
    }
}
