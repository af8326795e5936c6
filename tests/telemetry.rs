//! Observability, black-box: the metrics endpoint shows the apply just made (and the demand
//! for a template not served), the spans of one apply reach an in-memory OpenTelemetry
//! exporter with the backend call under the request span and the caller's trace context
//! kept, and the JSON logs carry the trace id but never a secret from a query string.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use common::{TestApp, approve_form, login_demo};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use reqwest::Client;

const APPLY: &str = "/v2/domainTemplates/providers/demo.dc-gateway.example/services/website/apply";
const QUERY: &str = "?domain=example.com&ip=192.0.2.77&token=tok1";

/// Everything the subscriber wrote.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("logs").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("logs")).into_owned()
    }
}

/// The process-wide subscriber of this test binary: the gateway's own, with JSON logs into a
/// buffer and spans into an in-memory exporter.
fn telemetry() -> &'static (InMemorySpanExporter, SdkTracerProvider, Logs) {
    static T: OnceLock<(InMemorySpanExporter, SdkTracerProvider, Logs)> = OnceLock::new();
    T.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let logs = Logs::default();
        let sub =
            dc_gateway::telemetry::subscriber("json", logs.clone(), false, Some(provider.tracer("test")));
        tracing::subscriber::set_global_default(sub).expect("the only subscriber");
        opentelemetry::global::set_text_map_propagator(
            opentelemetry_sdk::propagation::TraceContextPropagator::new(),
        );
        (exporter, provider, logs)
    })
}

/// Logs in, shows the consent page and approves; returns the POST's status.
async fn sync_apply(app: &TestApp, c: &Client, traceparent: Option<&str>) -> u16 {
    login_demo(c, app).await;
    let html = c
        .get(app.url(&format!("{APPLY}{QUERY}")))
        .send()
        .await
        .expect("consent")
        .text()
        .await
        .expect("body");
    let mut post = c.post(app.url(APPLY)).form(&approve_form(&html));
    if let Some(tp) = traceparent {
        post = post.header("traceparent", tp);
    }
    post.send().await.expect("approve").status().as_u16()
}

fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
}

#[tokio::test]
async fn the_metrics_endpoint_shows_the_apply_just_made() {
    let app = TestApp::spawn("").await;
    let metrics = app.spawn_metrics();
    let c = TestApp::client();
    let scrape = || async {
        reqwest::get(format!("{metrics}/metrics"))
            .await
            .expect("scrape")
            .text()
            .await
            .expect("text")
    };
    let before = scrape().await;
    let applied = r#"dcgw_applies_total{flow="sync",outcome="applied",provider_id="demo.dc-gateway.example",service_id="website"}"#;
    assert_eq!(metric(&before, applied), None, "nothing applied yet");

    assert_eq!(
        sync_apply(&app, &c, None).await,
        200,
        "no redirect_uri: the flow ends on a closing page"
    );
    assert!(app.zone_text("example.com").contains("192.0.2.77"));
    let r = c
        .get(app.url("/v2/domainTemplates/providers/not-onboarded.example/services/mail"))
        .send()
        .await
        .expect("query");
    assert_eq!(r.status(), 404);

    let after = scrape().await;
    assert_eq!(metric(&after, applied), Some(1.0), "{after}");
    assert!(
        metric(
            &after,
            r#"dcgw_conflicts_total{flow="sync",provider_id="demo.dc-gateway.example",service_id="website"}"#
        )
        .is_some_and(|n| n >= 1.0),
        "the demo zone's apex A was a conflict: {after}"
    );
    assert_eq!(
        metric(
            &after,
            r#"dcgw_backend_request_duration_seconds_count{backend="local",kind="zonefile",operation="apply"}"#
        ),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        metric(
            &after,
            r#"dcgw_http_requests_total{method="POST",route="/v2/domainTemplates/providers/{provider_id}/services/{service_id}/apply",status="200"}"#
        ),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        metric(
            &after,
            r#"dcgw_template_queries_not_found_total{provider_id="not-onboarded.example",service_id="mail"}"#
        ),
        Some(1.0),
        "{after}"
    );
    assert_eq!(
        metric(&after, "dcgw_templates_served "),
        Some(app.state.templates().len() as f64)
    );
    // The public port does not serve the metrics.
    let r = c.get(app.url("/metrics")).send().await.expect("get");
    assert_eq!(r.status(), 404);
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

#[tokio::test]
async fn one_apply_is_one_trace_with_the_backend_call_under_the_request_span() {
    let (exporter, provider, logs) = telemetry();
    let app = TestApp::spawn("").await;
    let c = TestApp::client();
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let status = sync_apply(&app, &c, Some(&format!("00-{trace_id}-{caller_span}-01"))).await;
    assert_eq!(status, 200);
    // The request span ends when the server is done with the response, which may be a moment
    // after the client has read it: wait for it (at most 5 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let spans: Vec<SpanData> = loop {
        provider.force_flush().expect("flush");
        let spans: Vec<SpanData> = exporter
            .get_finished_spans()
            .expect("spans")
            .into_iter()
            .filter(|s| s.span_context.trace_id().to_string() == trace_id)
            .collect();
        if spans.iter().any(|s| attr(s, "http.route").is_some()) || std::time::Instant::now() > deadline {
            break spans;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
    let request = spans
        .iter()
        .find(|s| attr(s, "http.route").is_some())
        .unwrap_or_else(|| panic!("a request span in the caller's trace: {names:?}"));
    assert_eq!(
        request.parent_span_id.to_string(),
        caller_span,
        "the request span continues the caller's span"
    );
    assert_eq!(
        request.name,
        "POST /v2/domainTemplates/providers/{provider_id}/services/{service_id}/apply"
    );
    assert_eq!(
        attr(request, "dc.provider_id").as_deref(),
        Some("demo.dc-gateway.example")
    );
    assert_eq!(attr(request, "dc.service_id").as_deref(), Some("website"));
    assert_eq!(attr(request, "dc.domain").as_deref(), Some("example.com"));
    assert_eq!(attr(request, "dc.flow").as_deref(), Some("sync"));
    assert_eq!(attr(request, "dc.outcome").as_deref(), Some("applied"));
    assert_eq!(attr(request, "http.response.status_code").as_deref(), Some("200"));

    let child_of_request = |name: &str| {
        spans
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("a {name} span: {names:?}"))
    };
    let backend = child_of_request("backend.apply");
    assert_eq!(
        backend.parent_span_id,
        request.span_context.span_id(),
        "{names:?}"
    );
    assert_eq!(attr(backend, "dc.backend").as_deref(), Some("local"));
    assert_eq!(attr(backend, "dc.zone").as_deref(), Some("example.com."));
    let read = child_of_request("backend.read");
    assert_eq!(read.parent_span_id, request.span_context.span_id());
    let plan = child_of_request("engine.plan");
    assert_eq!(plan.parent_span_id, request.span_context.span_id());
    let record = child_of_request("store.record");
    assert_eq!(record.parent_span_id, request.span_context.span_id());

    // The JSON log lines of that request carry its trace id.
    let text = logs.text();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    assert!(!lines.is_empty(), "JSON logs: {text}");
    assert!(
        lines.iter().any(|l| l["span"]["trace_id"] == trace_id
            && l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("POST /v2/domainTemplates"))),
        "the access line carries the trace id: {text}"
    );
}

#[tokio::test]
async fn secrets_in_query_strings_never_reach_the_logs() {
    let (_, _, logs) = telemetry();
    let app = TestApp::spawn("").await;
    let r = TestApp::client()
        .post(app.url(
            "/v2/oauth/access_token?grant_type=authorization_code&code=CODE-4711&client_id=sp.example\
             &client_secret=TOPSECRET-4711&redirect_uri=https%3A%2F%2Fsp.example%2Fcb",
        ))
        .send()
        .await
        .expect("token");
    assert!(r.status().is_client_error(), "{}", r.status());
    let text = logs.text();
    assert!(
        text.contains("POST /v2/oauth/access_token?grant_type=authorization_code"),
        "{text}"
    );
    assert!(
        text.contains("client_secret=[redacted]") && text.contains("code=[redacted]"),
        "{text}"
    );
    assert!(
        !text.contains("TOPSECRET-4711") && !text.contains("CODE-4711"),
        "{text}"
    );
}
