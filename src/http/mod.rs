//! The HTTP service: handlers per endpoint group, thin over the engine, the template store
//! and the backends. Errors become responses in [`error`] only.

pub mod account;
pub mod api;
pub mod discovery;
pub mod error;
pub mod login;
pub mod oauth;
pub mod sync;
pub mod zone;

use std::net::TcpListener;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::Server;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::{DefaultHeaders, Next, from_fn};
use actix_web::{App, HttpServer, ResponseError, web};

pub use error::ApiError;

use crate::backends::Router;
use crate::config::Config;
use crate::engine::{EngineConfig, Template};
use crate::templates::TemplateStore;

/// What every handler shares.
pub struct AppState {
    pub config: Arc<Config>,
    pub engine: EngineConfig,
    pub router: Router,
    templates: RwLock<Arc<TemplateStore>>,
    /// Discovery and template-query answers, serialized once (`None`: 404), dropped when
    /// templates reload.
    pub cache: moka::future::Cache<String, Option<web::Bytes>>,
    pub views: crate::ui::Views,
    pub sessions: crate::auth::session::SessionKeys,
    pub login: crate::auth::Login,
    pub authz: crate::auth::Authz,
    /// Consent forms already carried out (a second submit changes nothing).
    pub used_consents: moka::future::Cache<String, ()>,
    /// The clock (tests set their own).
    pub clock: Clock,
    /// Template state and the audit log.
    pub store: crate::store::Store,
    /// Signing keys from DNS (cached by TTL).
    pub keys: crate::sig::KeyResolver,
    /// Prometheus metrics.
    pub metrics: crate::telemetry::Metrics,
}

/// A source of the current time.
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

impl AppState {
    pub fn new(
        config: Arc<Config>,
        router: Router,
        templates: TemplateStore,
        store: crate::store::Store,
    ) -> anyhow::Result<AppState> {
        if config.session.secret.is_empty() {
            tracing::warn!("session.secret is not set: sessions end when the process stops");
        }
        let metrics = crate::telemetry::Metrics::new();
        metrics
            .templates_served
            .with_label_values(&[] as &[&str])
            .set(i64::try_from(templates.len()).unwrap_or(i64::MAX));
        let router = router.instrumented(&metrics);
        Ok(AppState {
            views: crate::ui::Views::new().map_err(anyhow::Error::msg)?,
            sessions: crate::auth::session::SessionKeys::new(
                &config.session.secret,
                config.session.secure_cookies,
            ),
            login: crate::auth::Login::from_config(&config.login, &config.server.public_url)
                .map_err(anyhow::Error::msg)?,
            authz: crate::auth::Authz::from_config(&config.authz).map_err(anyhow::Error::msg)?,
            used_consents: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(3600))
                .build(),
            clock: Arc::new(SystemTime::now),
            keys: crate::sig::KeyResolver::new(
                &config.dns.resolver,
                Duration::from_millis(config.dns.timeout_ms),
                Duration::from_secs(30),
            )
            .map_err(|e| anyhow::anyhow!("dns: {e}"))?
            .with_metrics(metrics.key_lookups.clone()),
            metrics,
            store,
            engine: config.engine_config(),
            config,
            router,
            templates: RwLock::new(Arc::new(templates)),
            cache: moka::future::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(Duration::from_secs(30))
                .build(),
        })
    }

    /// The canonical ids of a served template, for metric labels (`_unknown` otherwise, so
    /// request paths never become label values).
    pub fn template_labels(&self, provider_id: &str, service_id: &str) -> (String, String) {
        match self.templates().get(provider_id, service_id) {
            Some(t) => (t.provider_id.clone(), t.service_id.clone()),
            None => ("_unknown".into(), "_unknown".into()),
        }
    }

    /// Counts an apply or a revert (`kind`) and records its outcome on the request span.
    pub fn count_write(&self, kind: &str, flow: &str, provider_id: &str, service_id: &str, outcome: &str) {
        let (pid, sid) = self.template_labels(provider_id, service_id);
        let counter = if kind == "revert" {
            &self.metrics.reverts
        } else {
            &self.metrics.applies
        };
        counter
            .with_label_values(&[flow, pid.as_str(), sid.as_str(), outcome])
            .inc();
        crate::telemetry::record_outcome(outcome);
    }

    /// Counts the conflicts of a plan about to be applied.
    pub fn count_conflicts(&self, flow: &str, provider_id: &str, service_id: &str, n: usize) {
        if n > 0 {
            let (pid, sid) = self.template_labels(provider_id, service_id);
            self.metrics
                .conflicts
                .with_label_values(&[flow, pid.as_str(), sid.as_str()])
                .inc_by(u64::try_from(n).unwrap_or(u64::MAX));
        }
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        (self.clock)()
    }

    /// A fresh template instance id.
    pub fn new_instance_id(&self) -> String {
        let mut b = [0u8; 16];
        rand::fill(&mut b);
        b.iter().map(|x| format!("{x:02x}")).collect()
    }

    /// The path of the public URL (for links), without a trailing slash.
    pub fn base_path(&self) -> &str {
        self.config.server.public_url.path().trim_end_matches('/')
    }

    /// Verifies the signature of a raw sync query against keys under `pub_key_domain`.
    pub async fn verify_signature(&self, raw: &str, pub_key_domain: &str) -> Result<(), String> {
        crate::sig::verify_request(&self.keys, raw, pub_key_domain)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The templates served now.
    pub fn templates(&self) -> Arc<TemplateStore> {
        match self.templates.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Serves a new set of templates and forgets cached answers.
    pub fn replace_templates(&self, store: TemplateStore) {
        self.metrics
            .templates_served
            .with_label_values(&[] as &[&str])
            .set(i64::try_from(store.len()).unwrap_or(i64::MAX));
        let store = Arc::new(store);
        match self.templates.write() {
            Ok(mut g) => *g = store,
            Err(poisoned) => *poisoned.into_inner() = store,
        }
        self.cache.invalidate_all();
    }

    /// Whether every configured backend can apply the template (POLICY.md 12). `Err` names
    /// the first type that cannot be applied and where.
    pub fn supported_everywhere(&self, t: &Template) -> Result<(), String> {
        for rtype in t.record_types() {
            match rtype.as_str() {
                "APEXCNAME" => {
                    if let Some(b) = self
                        .router
                        .backends()
                        .iter()
                        .find(|b| b.adapter.capabilities().apex_alias.is_none())
                    {
                        return Err(format!("backend {} holds no apex alias (APEXCNAME)", b.name));
                    }
                }
                "REDIR301" | "REDIR302" => {
                    if self.engine.redirect_records.is_empty() {
                        return Err(format!("{rtype} needs a configured redirect service"));
                    }
                }
                other => {
                    let effective = if other == "SPFM" { "TXT" } else { other };
                    if let Some(b) = self
                        .router
                        .backends()
                        .iter()
                        .find(|b| !b.adapter.capabilities().record_types.supports(effective))
                    {
                        return Err(format!("backend {} cannot write {effective}", b.name));
                    }
                }
            }
        }
        Ok(())
    }
}

/// Registers every route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(discovery::settings)
        .service(discovery::template_query)
        .service(discovery::healthz)
        .service(discovery::readyz)
        .service(login::login_form)
        .service(login::login_submit)
        .service(login::oidc_callback)
        .service(login::logout)
        .service(login::css)
        .service(login::close_js)
        .service(account::account)
        .service(account::disconnect)
        .service(account::revoke)
        .service(
            web::resource("/v2/domainTemplates/providers/{provider_id}")
                .route(web::get().to(oauth::consent_get_provider))
                .route(web::post().to(oauth::consent_post_provider)),
        )
        .service(
            web::resource("/v2/domainTemplates/providers/{provider_id}/services/{service_id}")
                .route(web::post().to(oauth::consent_post_service)),
        )
        .service(
            web::resource("/v2/oauth/access_token")
                .app_data(web::PayloadConfig::new(16 * 1024))
                .route(web::post().to(oauth::access_token)),
        )
        .service(
            web::resource("/v2/domainTemplates/providers/{provider_id}/services/{service_id}/apply")
                .route(web::get().to(sync::apply_get))
                .app_data(web::PayloadConfig::new(64 * 1024))
                .route(web::post().to(api::apply_dispatch)),
        )
        .service(
            web::resource("/v2/domainTemplates/providers/{provider_id}/services/{service_id}/revert")
                .app_data(web::PayloadConfig::new(64 * 1024))
                .route(web::post().to(api::revert)),
        );
}

/// Starts the server on `listener` (bind to port 0 in tests). The returned server stops
/// gracefully on SIGINT/SIGTERM or through its handle.
pub fn serve(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::from(state.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .app_data(
                web::QueryConfig::default().error_handler(|e, _| ApiError::BadRequest(e.to_string()).into()),
            )
            .wrap(from_fn(query_limit))
            .wrap(
                DefaultHeaders::new()
                    .add(("X-Content-Type-Options", "nosniff"))
                    .add(("Referrer-Policy", "no-referrer")),
            )
            .wrap(from_fn(crate::telemetry::request_span))
            .configure(routes)
    })
    .shutdown_timeout(state.config.server.shutdown_timeout_secs);
    let server = match state.config.server.workers {
        Some(n) if n > 0 => server.workers(n),
        _ => server,
    };
    let server = match (
        &state.config.server.tls_cert_file,
        &state.config.server.tls_key_file,
    ) {
        (Some(cert), Some(key)) => server.listen_rustls_0_23(listener, tls_config(cert, key)?)?,
        _ => server.listen(listener)?,
    };
    Ok(server.run())
}

/// Starts the metrics server (`GET /metrics`, Prometheus text format) on `listener`: kept off
/// the public port so an ingress never exposes it.
pub fn serve_metrics(state: Arc<AppState>, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::from(state);
    let server = HttpServer::new(move || {
        App::new().app_data(data.clone()).route(
            "/metrics",
            web::get().to(|s: web::Data<AppState>| async move {
                actix_web::HttpResponse::Ok()
                    .content_type("text/plain; version=0.0.4; charset=utf-8")
                    .body(s.metrics.render())
            }),
        )
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?;
    Ok(server.run())
}

/// A rustls server configuration from PEM files.
fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> std::io::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let invalid = |what: &str, p: &std::path::Path, e: &dyn std::fmt::Display| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} {}: {e}", p.display()),
        )
    };
    let certs = CertificateDer::pem_file_iter(cert)
        .and_then(|i| i.collect::<Result<Vec<_>, _>>())
        .map_err(|e| invalid("TLS certificate", cert, &e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| invalid("TLS key", key, &e))?;
    rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid("TLS", cert, &e))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| invalid("TLS certificate", cert, &e))
}

/// Refuses requests whose query string is longer than the configured limit.
async fn query_limit(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let limit = req
        .app_data::<web::Data<AppState>>()
        .map_or(usize::MAX, |s| s.config.server.max_query_bytes);
    if req.query_string().len() > limit {
        let resp = ApiError::BadRequest("the query string is too long".into()).error_response();
        return Ok(req.into_response(resp).map_into_right_body());
    }
    next.call(req).await.map(ServiceResponse::map_into_left_body)
}
