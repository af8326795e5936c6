//! Discovery (SPEC.md §1.2), the template-support query (§2, POLICY.md 12) and health.

use actix_web::{HttpResponse, get, web};
use dcgw_adapter::ReadFilter;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use crate::engine::names::normalize_domain;

/// `GET /v2/{domain}/settings`: 200 with the settings, 404 when no backend hosts the zone.
#[get("/v2/{domain}/settings")]
pub async fn settings(state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let domain = normalize_domain(&path.into_inner()).map_err(|_| ApiError::NotFound)?;
    let key = format!("settings:{domain}");
    let answer = match state.cache.get(&key).await {
        Some(a) => a,
        None => {
            let a = settings_for(&state, &domain)
                .await?
                .map(|v| web::Bytes::from(v.to_string()));
            state.cache.insert(key, a.clone()).await;
            a
        }
    };
    match answer {
        Some(body) => Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "public, max-age=60"))
            .content_type("application/json")
            .body(body)),
        None => Err(ApiError::NotFound),
    }
}

async fn settings_for(state: &AppState, domain: &str) -> Result<Option<Value>, ApiError> {
    let Some(hosted) = state.router.hosted(domain).await? else {
        return Ok(None);
    };
    let cfg = &state.config;
    let mut body = json!({
        "providerId": cfg.provider.id,
        "providerName": cfg.provider.name,
        "urlSyncUX": cfg.sync_url(),
        "urlAsyncUX": cfg.async_url(),
        "urlAPI": cfg.api_url(),
        "width": cfg.provider.popup_width,
        "height": cfg.provider.popup_height,
    });
    if let Some(d) = &cfg.provider.display_name {
        body["providerDisplayName"] = json!(d);
    }
    if let Some(cp) = &cfg.provider.control_panel_url {
        body["urlControlPanel"] = json!(cp);
    }
    let name_servers: Vec<String> = if cfg.provider.name_servers.is_empty() {
        // The zone's own apex NS set (D02).
        let sets = hosted
            .backend
            .adapter
            .read(&hosted.zone, &ReadFilter::Names(vec![hosted.zone.clone()]))
            .await?;
        sets.iter()
            .filter(|s| s.rtype == "NS")
            .flat_map(|s| s.data.iter().map(|d| d.trim_end_matches('.').to_string()))
            .collect()
    } else {
        cfg.provider.name_servers.clone()
    };
    if !name_servers.is_empty() {
        body["nameServers"] = json!(name_servers);
    }
    Ok(Some(body))
}

/// `GET /v2/domainTemplates/providers/{providerId}/services/{serviceId}`: 200 with
/// `{"version": n}` when the template is served and every backend can apply it, else 404.
///
/// The same path with a `client_id` parameter is the asynchronous consent in its
/// service-in-path form (what the PyPI client sends with `service_id_in_path`).
#[get("/v2/domainTemplates/providers/{provider_id}/services/{service_id}")]
pub async fn template_query(
    state: web::Data<AppState>,
    req: actix_web::HttpRequest,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (pid, sid) = path.into_inner();
    if req.query_string().split('&').any(|p| p.starts_with("client_id=")) {
        return Ok(super::oauth::consent_get(&state, &req, &pid, Some(&sid)).await);
    }
    let mut key = String::with_capacity(10 + pid.len() + sid.len());
    key.push_str("template:");
    key.push_str(&pid);
    key.push('/');
    key.push_str(&sid);
    key.make_ascii_lowercase();
    let answer = match state.cache.get(&key).await {
        Some(a) => a,
        None => {
            let store = state.templates();
            let a = store
                .get(&pid, &sid)
                .filter(|t| state.supported_everywhere(t).is_ok())
                .map(|t| {
                    let mut v = json!({});
                    if let Some(version) = t.version {
                        v["version"] = json!(version);
                    }
                    web::Bytes::from(v.to_string())
                });
            state.cache.insert(key, a.clone()).await;
            a
        }
    };
    match answer {
        Some(body) => Ok(HttpResponse::Ok()
            .insert_header(("Cache-Control", "public, max-age=60"))
            .content_type("application/json")
            .body(body)),
        None => {
            state.metrics.template_not_found(&pid, &sid);
            tracing::info!(provider_id = %pid, service_id = %sid, "template query for a template not served");
            Err(ApiError::NotFound)
        }
    }
}

/// Liveness: the process answers.
#[get("/healthz")]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok\n")
}

/// Readiness: templates are loaded and every backend answers.
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let mut problems = Vec::new();
    if state.templates().is_empty() {
        problems.push("no templates loaded".to_string());
    }
    for b in state.router.backends() {
        if let Err(e) = b.adapter.find_zone("readiness-probe.invalid.").await {
            problems.push(format!("backend {}: {}", b.name, e.class()));
        }
    }
    if problems.is_empty() {
        HttpResponse::Ok().content_type("text/plain").body("ready\n")
    } else {
        HttpResponse::ServiceUnavailable()
            .content_type("text/plain")
            .body(problems.join("\n") + "\n")
    }
}
