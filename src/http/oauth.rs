//! The asynchronous flow's OAuth side (SPEC.md §4.2–4.3, POLICY.md 19–22): the consent
//! `GET {urlAsyncUX}/v2/domainTemplates/providers/{providerId}?...` with its form, and the
//! token endpoint `POST {urlAPI}/v2/oauth/access_token`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AppState;
use super::sync::{
    Failure, base_ctx, current_session, end, failure, html, load_failure, login_redirect, parse_pairs,
};
use crate::auth::session::Session;
use crate::engine::names::{normalize_domain, normalize_host, relative};
use crate::engine::{self, ApplyRequest, Params, Template};
use crate::store::grants::{Grant, GrantError};
use crate::store::oauth::Client;
use crate::store::{Actor, StoreError};

/// A parsed and checked authorization request.
struct AuthzRequest {
    raw: String,
    client: Client,
    redirect: url::Url,
    state: Option<String>,
    domain: String,
    hosts: Vec<String>,
    templates: Vec<std::sync::Arc<Template>>,
    challenge: Option<String>,
    provider_name: Option<String>,
    params: Params,
}

/// Errors before the redirect URI is known to be registered end on a page, never in a
/// redirect (POLICY.md 19).
enum Refusal {
    Page(Failure),
    Redirect(url::Url, Option<String>, Failure),
}

fn bad(d: impl Into<String>) -> Failure {
    failure(StatusCode::BAD_REQUEST, "invalid_request", d)
}

async fn parse(state: &AppState, pid: &str, sid: Option<&str>, raw: &str) -> Result<AuthzRequest, Refusal> {
    let mut pairs = parse_pairs(raw).map_err(|e| Refusal::Page(bad(e)))?;
    let client_id = pairs
        .remove("client_id")
        .ok_or_else(|| Refusal::Page(bad("client_id is missing")))?;
    let client = state
        .store
        .client(&client_id)
        .await
        .map_err(|e| Refusal::Page(store_failure(&e)))?
        .ok_or_else(|| {
            Refusal::Page(failure(
                StatusCode::BAD_REQUEST,
                "unauthorized_client",
                "unknown client",
            ))
        })?;
    let redirect_uri = pairs
        .remove("redirect_uri")
        .ok_or_else(|| Refusal::Page(bad("redirect_uri is missing")))?;
    if !client.redirect_uris.contains(&redirect_uri) {
        return Err(Refusal::Page(bad(
            "redirect_uri is not registered for this client",
        )));
    }
    let redirect =
        url::Url::parse(&redirect_uri).map_err(|_| Refusal::Page(bad("redirect_uri is not a URL")))?;
    let st = pairs.remove("state");
    let refuse = |f: Failure| Refusal::Redirect(redirect.clone(), st.clone(), f);
    if !client.client_id.eq_ignore_ascii_case(pid) {
        return Err(refuse(failure(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            "the client is not this provider",
        )));
    }
    if pairs.remove("response_type").is_some_and(|r| r != "code") {
        return Err(refuse(failure(
            StatusCode::BAD_REQUEST,
            "unsupported_response_type",
            "only code is supported",
        )));
    }
    let scope = pairs
        .remove("scope")
        .or_else(|| sid.map(str::to_string))
        .unwrap_or_default();
    let store = state.templates();
    let mut templates = Vec::new();
    for s in scope.split([' ', ',']).filter(|s| !s.is_empty()) {
        let t = store
            .get(pid, s)
            .cloned()
            .filter(|t| state.supported_everywhere(t).is_ok());
        let Some(t) = t else {
            return Err(refuse(failure(
                StatusCode::BAD_REQUEST,
                "invalid_scope",
                format!("no template {s}"),
            )));
        };
        if !templates
            .iter()
            .any(|x: &std::sync::Arc<Template>| x.service_id == t.service_id)
        {
            templates.push(t);
        }
    }
    if templates.is_empty() {
        return Err(refuse(failure(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "scope is missing",
        )));
    }
    let challenge = pairs.remove("code_challenge");
    match (pairs.remove("code_challenge_method").as_deref(), &challenge) {
        (Some("S256"), Some(c)) | (None, Some(c)) if (43..=128).contains(&c.len()) => {}
        (_, None) if !client.require_pkce => {}
        (_, None) => return Err(refuse(bad("this client must use PKCE (code_challenge, S256)"))),
        _ => {
            return Err(refuse(bad(
                "code_challenge must be S256 and 43 to 128 characters",
            )));
        }
    }
    let domain = pairs
        .remove("domain")
        .ok_or_else(|| refuse(bad("domain is missing")))?;
    let domain = normalize_domain(&domain).map_err(|e| refuse(bad(e)))?;
    let hosts = match pairs.remove("host") {
        None => vec![String::new()],
        Some(h) => {
            let mut out = Vec::new();
            for one in h.split(',') {
                let n = normalize_host(one).map_err(|e| refuse(bad(e)))?;
                if !out.contains(&n) {
                    out.push(n);
                }
            }
            out
        }
    };
    let provider_name = pairs.remove("providerName");
    pairs.remove("serviceName");
    Ok(AuthzRequest {
        raw: raw.to_string(),
        client,
        redirect,
        state: st,
        domain,
        hosts,
        templates,
        challenge,
        provider_name,
        params: pairs,
    })
}

fn store_failure(e: &StoreError) -> Failure {
    super::sync::store_failure(e)
}

fn purpose(raw: &str) -> String {
    format!(
        "grant:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(raw.as_bytes()))
    )
}

#[derive(Serialize)]
struct ConflictRow {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    data: String,
}

/// The consent page, with the conflicts every template × host would cause now (SPEC.md
/// §4.2). Templates whose variables are not given yet are checked at apply time instead.
async fn grant_page(
    state: &AppState,
    r: &AuthzRequest,
    session: &Session,
    path: &str,
) -> Result<HttpResponse, Failure> {
    if !state.authz.may_edit(session, &r.domain).await {
        return Err(failure(
            StatusCode::FORBIDDEN,
            "access_denied",
            "the user may not change this domain",
        ));
    }
    let cur = super::zone::load(state, &r.domain, None)
        .await
        .map_err(|e| load_failure(&e))?;
    let mut conflicts: Vec<ConflictRow> = Vec::new();
    for t in &r.templates {
        for host in &r.hosts {
            let req = ApplyRequest {
                template: t,
                domain: &r.domain,
                host,
                params: &r.params,
                group_ids: None,
                instance_id: "preview",
            };
            if let Ok(plan) = engine::plan(&req, &cur.zone, &cur.instances, &cur.cfg) {
                for c in plan.conflicts {
                    let row = ConflictRow {
                        name: relative(&c.record.name, &cur.name),
                        rtype: c.record.rtype,
                        data: c.record.data,
                    };
                    if !conflicts
                        .iter()
                        .any(|x| x.name == row.name && x.rtype == row.rtype && x.data == row.data)
                    {
                        conflicts.push(row);
                    }
                }
            }
        }
    }
    let mut ctx = base_ctx(state);
    let client_name = r
        .templates
        .first()
        .map_or(r.client.client_id.clone(), |t| t.provider_name.clone());
    ctx.insert("client_name", &client_name);
    ctx.insert(
        "provider_name_extra",
        &r.provider_name
            .as_ref()
            .filter(|_| r.templates.iter().all(|t| t.allows_shared_provider_name())),
    );
    ctx.insert(
        "services",
        &r.templates
            .iter()
            .map(|t| t.service_name.clone())
            .collect::<Vec<_>>(),
    );
    ctx.insert("domain", &r.domain);
    ctx.insert(
        "hosts",
        &r.hosts
            .iter()
            .map(|h| {
                if h.is_empty() {
                    r.domain.clone()
                } else {
                    format!("{h}.{}", r.domain)
                }
            })
            .collect::<Vec<_>>(),
    );
    ctx.insert("conflicts", &conflicts);
    ctx.insert("user", &session.user);
    ctx.insert("query", &r.raw);
    ctx.insert("csrf", &session.csrf_token(&purpose(&r.raw)));
    ctx.insert("action", &format!("{}{path}", state.base_path()));
    Ok(html(state, StatusCode::OK, "grant.html", &ctx, Some(&r.redirect)))
}

fn refused(state: &AppState, r: Refusal) -> HttpResponse {
    match r {
        Refusal::Page(f) => end(state, None, None, Err(f)),
        Refusal::Redirect(u, st, f) => end(state, Some(&u), st.as_deref(), Err(f)),
    }
}

/// `GET {urlAsyncUX}/v2/domainTemplates/providers/{providerId}[/services/{serviceId}]?...`
pub async fn consent_get(state: &AppState, req: &HttpRequest, pid: &str, sid: Option<&str>) -> HttpResponse {
    let r = match parse(state, pid, sid, req.query_string()).await {
        Ok(r) => r,
        Err(refusal) => return refused(state, refusal),
    };
    let (session, fresh) = current_session(state, req, state.now());
    let Some(session) = session else {
        return login_redirect(state, req);
    };
    let mut resp = match grant_page(state, &r, &session, req.path()).await {
        Ok(p) => p,
        Err(f) => return end(state, Some(&r.redirect), r.state.as_deref(), Err(f)),
    };
    if fresh {
        let _ = resp.add_cookie(&state.sessions.cookie(&session));
    }
    resp
}

pub async fn consent_get_provider(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
) -> HttpResponse {
    consent_get(&state, &req, &path.into_inner(), None).await
}

#[derive(Debug, Deserialize)]
pub struct GrantForm {
    query: String,
    csrf: String,
    decision: String,
}

/// The consent form: on Allow, a grant and a single-use code, sent to the redirect URI.
pub async fn consent_post(
    state: &AppState,
    req: &HttpRequest,
    pid: &str,
    sid: Option<&str>,
    form: &GrantForm,
) -> HttpResponse {
    let (session, _) = current_session(state, req, state.now());
    let Some(session) = session else {
        return end(
            state,
            None,
            None,
            Err(failure(
                StatusCode::FORBIDDEN,
                "access_denied",
                "the session expired; start again",
            )),
        );
    };
    if !session.check_csrf(&purpose(&form.query), &form.csrf) {
        return end(
            state,
            None,
            None,
            Err(failure(
                StatusCode::FORBIDDEN,
                "access_denied",
                "the form is not valid for this session",
            )),
        );
    }
    let r = match parse(state, pid, sid, &form.query).await {
        Ok(r) => r,
        Err(refusal) => return refused(state, refusal),
    };
    if form.decision != "approve" {
        return end(
            state,
            Some(&r.redirect),
            r.state.as_deref(),
            Err(failure(StatusCode::OK, "access_denied", "user_cancel")),
        );
    }
    if !state.authz.may_edit(&session, &r.domain).await {
        let f = failure(
            StatusCode::FORBIDDEN,
            "access_denied",
            "the user may not change this domain",
        );
        return end(state, Some(&r.redirect), r.state.as_deref(), Err(f));
    }
    let grant = Grant {
        id: String::new(),
        client_id: r.client.client_id.clone(),
        username: session.user.clone(),
        domain: r.domain.clone(),
        hosts: r.hosts.clone(),
        scope: r.templates.iter().map(|t| t.service_id.clone()).collect(),
        created_at: 0,
        revoked_at: None,
    };
    let now = state.now();
    let code = match state
        .store
        .create_grant(&grant, r.redirect.as_str(), r.challenge.as_deref(), now)
        .await
    {
        Ok((gid, code)) => {
            let detail = serde_json::json!({"grant": gid, "client": grant.client_id, "hosts": grant.hosts, "scope": grant.scope});
            let zone = format!("{}.", grant.domain);
            if let Err(e) = state
                .store
                .audit(
                    &Actor::user(&session.user),
                    "consent",
                    Some(&zone),
                    None,
                    &detail,
                    now,
                )
                .await
            {
                tracing::error!(error = %e, "audit of a consent failed");
            }
            code
        }
        Err(e) => {
            return end(
                state,
                Some(&r.redirect),
                r.state.as_deref(),
                Err(store_failure(&e)),
            );
        }
    };
    let mut u = r.redirect.clone();
    {
        let mut q = u.query_pairs_mut();
        q.append_pair("code", &code);
        if let Some(s) = &r.state {
            q.append_pair("state", s);
        }
    }
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, u.as_str()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

pub async fn consent_post_provider(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<String>,
    form: web::Form<GrantForm>,
) -> HttpResponse {
    consent_post(&state, &req, &path.into_inner(), None, &form).await
}

/// An RFC 6749 error answer from the token endpoint: 400 with JSON (what real clients parse).
fn token_error(error: &str, description: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(serde_json::json!({"error": error, "error_description": description}))
}

/// The token request's parameters merged from the query, a JSON body and a form body
/// (POLICY.md 20). The same name with two different values is refused.
fn token_params(req: &HttpRequest, body: &[u8]) -> Result<BTreeMap<String, String>, String> {
    let mut params = parse_pairs(req.query_string())?;
    let trimmed = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&body[..0], |i| &body[i..]);
    let from_body: BTreeMap<String, String> = if trimmed.is_empty() {
        BTreeMap::new()
    } else if trimmed.starts_with(b"{") {
        let v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(trimmed).map_err(|_| "the JSON body is not an object".to_string())?;
        v.into_iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => Ok((k, s)),
                serde_json::Value::Number(n) => Ok((k, n.to_string())),
                serde_json::Value::Bool(b) => Ok((k, b.to_string())),
                _ => Err(format!("parameter {k} must be a string")),
            })
            .collect::<Result<_, _>>()?
    } else {
        parse_pairs(std::str::from_utf8(trimmed).map_err(|_| "the body is not UTF-8".to_string())?)?
    };
    for (k, v) in from_body {
        match params.get(&k) {
            Some(old) if *old != v => {
                return Err(format!("parameter {k} is given twice with different values"));
            }
            _ => {
                params.insert(k, v);
            }
        }
    }
    Ok(params)
}

/// HTTP Basic client credentials, if sent.
fn basic_auth(req: &HttpRequest) -> Option<(String, String)> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let b64 = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let s = String::from_utf8(raw).ok()?;
    let (id, secret) = s.split_once(':')?;
    let dec = |x: &str| {
        percent_encoding::percent_decode_str(x)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    Some((dec(id)?, dec(secret)?))
}

/// `POST {urlAPI}/v2/oauth/access_token`
pub async fn access_token(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    let mut p = match token_params(&req, &body) {
        Ok(p) => p,
        Err(e) => return token_error("invalid_request", &e),
    };
    let (client_id, secret) = match (basic_auth(&req), p.remove("client_id"), p.remove("client_secret")) {
        (Some(c), _, _) => c,
        (None, Some(id), Some(secret)) => (id, secret),
        _ => return token_error("invalid_client", "client authentication is missing"),
    };
    let client = match state.store.authenticate_client(&client_id, &secret).await {
        Ok(Some(c)) => c,
        Ok(None) => return token_error("invalid_client", "client authentication failed"),
        Err(e) => {
            tracing::error!(error = %e, "token endpoint");
            return HttpResponse::ServiceUnavailable()
                .json(serde_json::json!({"error": "temporarily_unavailable"}));
        }
    };
    let now = state.now();
    let grant_type = p.remove("grant_type").unwrap_or_default();
    let result = match grant_type.as_str() {
        "authorization_code" => {
            if p.contains_key("refresh_token") {
                return token_error(
                    "invalid_request",
                    "code and refresh_token must not be sent together",
                );
            }
            let Some(code) = p.remove("code") else {
                return token_error("invalid_request", "code is missing");
            };
            state
                .store
                .redeem_code(
                    &code,
                    &client.client_id,
                    p.get("redirect_uri").map(String::as_str),
                    p.get("code_verifier").map(String::as_str),
                    client.access_ttl,
                    client.refresh_ttl,
                    now,
                )
                .await
        }
        "refresh_token" => {
            let Some(rt) = p.remove("refresh_token") else {
                return token_error("invalid_request", "refresh_token is missing");
            };
            state
                .store
                .refresh(&rt, &client.client_id, client.access_ttl, client.refresh_ttl, now)
                .await
        }
        "" => return token_error("invalid_request", "grant_type is missing"),
        _ => {
            return token_error(
                "unsupported_grant_type",
                "only authorization_code and refresh_token",
            );
        }
    };
    match result {
        Ok(Ok((grant, tokens))) => {
            let detail = serde_json::json!({"grant": grant.id, "grant_type": grant_type});
            let zone = format!("{}.", grant.domain);
            let action = if grant_type == "refresh_token" {
                "token_refresh"
            } else {
                "token"
            };
            if let Err(e) = state
                .store
                .audit(
                    &Actor::client(&client.client_id, &grant.username),
                    action,
                    Some(&zone),
                    None,
                    &detail,
                    now,
                )
                .await
            {
                tracing::error!(error = %e, "audit of a token failed");
            }
            HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::PRAGMA, "no-cache"))
                .json(serde_json::json!({
                    "access_token": tokens.access_token,
                    "token_type": "bearer",
                    "expires_in": tokens.expires_in,
                    "refresh_token": tokens.refresh_token,
                }))
        }
        Ok(Err(e)) => {
            tracing::info!(client = %client.client_id, error = %e, "token request refused");
            if e == GrantError::RefreshReused {
                tracing::warn!(client = %client.client_id, "a spent refresh token was used again: grant revoked");
            }
            token_error("invalid_grant", "the code or refresh token is not valid")
        }
        Err(e) => {
            tracing::error!(error = %e, "token endpoint");
            HttpResponse::ServiceUnavailable().json(serde_json::json!({"error": "temporarily_unavailable"}))
        }
    }
}

pub async fn consent_post_service(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    form: web::Form<GrantForm>,
) -> HttpResponse {
    let (pid, sid) = path.into_inner();
    consent_post(&state, &req, &pid, Some(&sid), &form).await
}
