//! The user's page: the services connected to each of their domains, with Disconnect
//! (revert, POLICY.md 16).

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::{Deserialize, Serialize};

use super::AppState;
use crate::auth::session::Session;
use crate::store::Actor;

#[derive(Serialize)]
struct InstanceRow {
    id: String,
    service: String,
    host: String,
    records: usize,
    csrf: String,
}

#[derive(Serialize)]
struct GrantRow {
    id: String,
    client: String,
    scope: String,
    domain: String,
    hosts: String,
    csrf: String,
}

#[derive(Serialize)]
struct ZoneRow {
    zone: String,
    instances: Vec<InstanceRow>,
}

fn page(
    state: &AppState,
    session: &Session,
    (zones, grants): &(Vec<ZoneRow>, Vec<GrantRow>),
    message: Option<&str>,
    status: StatusCode,
) -> HttpResponse {
    let mut ctx = tera::Context::new();
    ctx.insert(
        "provider_name",
        &state
            .config
            .provider
            .display_name
            .clone()
            .unwrap_or(state.config.provider.name.clone()),
    );
    ctx.insert("base_path", state.base_path());
    ctx.insert("user", &session.user);
    ctx.insert("zones", zones);
    ctx.insert("grants", grants);
    ctx.insert("message", &message);
    match state.views.render("account.html", &ctx) {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::X_FRAME_OPTIONS, "DENY"))
            .insert_header((
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "view failed");
            HttpResponse::InternalServerError().finish()
        }
    }
}

fn purpose(zone: &str, id: &str) -> String {
    format!("disconnect:{zone}:{id}")
}

async fn rows(
    state: &AppState,
    session: &Session,
) -> Result<(Vec<ZoneRow>, Vec<GrantRow>), crate::store::StoreError> {
    let mut out = Vec::new();
    for zone in state.store.zones().await? {
        let bare = zone.trim_end_matches('.');
        if !state.authz.may_edit(session, bare).await {
            continue;
        }
        let instances = state
            .store
            .instances(&zone)
            .await?
            .into_iter()
            .map(|i| InstanceRow {
                csrf: session.csrf_token(&purpose(bare, &i.id)),
                service: format!("{} / {}", i.provider_id, i.service_id),
                host: if i.host.is_empty() {
                    "(the domain itself)".into()
                } else {
                    i.host.clone()
                },
                records: i.records.len(),
                id: i.id,
            })
            .collect();
        out.push(ZoneRow {
            zone: bare.to_string(),
            instances,
        });
    }
    let grants = state
        .store
        .grants_of(&session.user)
        .await?
        .into_iter()
        .map(|g| GrantRow {
            csrf: session.csrf_token(&format!("revoke:{}", g.id)),
            client: g.client_id,
            scope: g.scope.join(", "),
            hosts: g
                .hosts
                .iter()
                .map(|h| {
                    if h.is_empty() {
                        g.domain.clone()
                    } else {
                        format!("{h}.{}", g.domain)
                    }
                })
                .collect::<Vec<_>>()
                .join(", "),
            domain: g.domain,
            id: g.id,
        })
        .collect();
    Ok((out, grants))
}

fn login_redirect(state: &AppState) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((
            header::LOCATION,
            format!("{}/login?next=%2Faccount", state.base_path()),
        ))
        .finish()
}

#[get("/account")]
pub async fn account(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let Some(session) = state.sessions.read(&req, state.now()) else {
        return login_redirect(&state);
    };
    match rows(&state, &session).await {
        Ok(z) => page(&state, &session, &z, None, StatusCode::OK),
        Err(e) => {
            tracing::error!(error = %e, "account page");
            HttpResponse::ServiceUnavailable().body("the service is unavailable; try again later\n")
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Disconnect {
    zone: String,
    instance: String,
    csrf: String,
}

/// Removes one instance's records (those still present) and its SPF terms.
#[post("/account/disconnect")]
pub async fn disconnect(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<Disconnect>,
) -> HttpResponse {
    let Some(session) = state.sessions.read(&req, state.now()) else {
        return login_redirect(&state);
    };
    let zone = dcgw_adapter::absolute(&form.zone);
    let bare = zone.trim_end_matches('.').to_string();
    if !session.check_csrf(&purpose(&bare, &form.instance), &form.csrf)
        || !state.authz.may_edit(&session, &bare).await
    {
        return HttpResponse::Forbidden()
            .content_type("text/plain")
            .body("not allowed\n");
    }
    let message = match revert_instance(&state, &session, &zone, &form.instance).await {
        Ok(true) => "The service was disconnected and its DNS records removed.",
        Ok(false) => "That service is no longer connected.",
        Err(e) => {
            tracing::error!(error = %e, zone = %zone, "disconnect failed");
            "The service could not be disconnected; nothing was changed. Try again later."
        }
    };
    match rows(&state, &session).await {
        Ok(z) => page(&state, &session, &z, Some(message), StatusCode::OK),
        Err(_) => HttpResponse::ServiceUnavailable().body("the service is unavailable; try again later\n"),
    }
}

#[derive(Debug, Deserialize)]
pub struct Revoke {
    grant: String,
    csrf: String,
}

/// Withdraws a permission the user gave a client: its tokens stop working at once.
#[post("/account/revoke")]
pub async fn revoke(state: web::Data<AppState>, req: HttpRequest, form: web::Form<Revoke>) -> HttpResponse {
    let Some(session) = state.sessions.read(&req, state.now()) else {
        return login_redirect(&state);
    };
    if !session.check_csrf(&format!("revoke:{}", form.grant), &form.csrf) {
        return HttpResponse::Forbidden()
            .content_type("text/plain")
            .body("not allowed\n");
    }
    let now = state.now();
    let message = match state.store.revoke_grant(&form.grant, &session.user, now).await {
        Ok(true) => {
            let detail = serde_json::json!({"grant": form.grant});
            if let Err(e) = state
                .store
                .audit(&Actor::user(&session.user), "revoke", None, None, &detail, now)
                .await
            {
                tracing::error!(error = %e, "audit of a revoke failed");
            }
            "The permission was withdrawn."
        }
        Ok(false) => "That permission was already withdrawn.",
        Err(e) => {
            tracing::error!(error = %e, "revoke failed");
            "The permission could not be withdrawn; try again later."
        }
    };
    match rows(&state, &session).await {
        Ok(z) => page(&state, &session, &z, Some(message), StatusCode::OK),
        Err(_) => HttpResponse::ServiceUnavailable().body("the service is unavailable; try again later\n"),
    }
}

/// Reverts one instance. `Ok(false)` when it is not recorded.
async fn revert_instance(state: &AppState, session: &Session, zone: &str, id: &str) -> anyhow::Result<bool> {
    let domain = zone.trim_end_matches('.');
    let detail = serde_json::json!({"flow": "account"});
    let template = state
        .store
        .instances(zone)
        .await?
        .into_iter()
        .find(|i| i.id == id)
        .map(|i| (i.provider_id, i.service_id))
        .unwrap_or_default();
    crate::telemetry::record_request(&template.0, &template.1, domain, "account");
    let done = super::zone::revert(
        state,
        domain,
        &|i| i.id == id,
        &Actor::user(&session.user),
        detail,
    )
    .await;
    let outcome = match &done {
        Ok(Some(_)) => "reverted",
        Ok(None) => "not_applied",
        Err(_) => "failed",
    };
    state.count_write("revert", "account", &template.0, &template.1, outcome);
    Ok(done?.is_some())
}
