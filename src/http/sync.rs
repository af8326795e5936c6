//! The synchronous flow (SPEC.md §3, POLICY.md 17–21): `GET .../apply?...` shows a consent
//! page, `POST .../apply` applies. The POST re-derives everything from the original query
//! string (never from posted records) and applies with preconditions, so a zone that changed
//! since the page was shown gets a fresh consent page instead of a blind write.

use std::collections::BTreeMap;
use std::time::SystemTime;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use base64::Engine;
use dcgw_adapter::AdapterError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::AppState;
use crate::auth::session::Session;
use crate::engine::names::{normalize_domain, normalize_host, relative};
use crate::engine::{self, ApplyRequest, Params, Plan, Template};

/// Parameters with a meaning of their own; everything else is a template variable.
const RESERVED: &[&str] = &[
    "domain",
    "host",
    "redirect_uri",
    "state",
    "groupId",
    "providerName",
    "serviceName",
    "instanceId",
    "sig",
    "key",
];

/// A parsed sync request. `raw` is the query string exactly as received.
#[derive(Debug, Clone)]
pub struct SyncQuery {
    pub raw: String,
    pub domain: String,
    pub host: String,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub group_ids: Option<Vec<String>>,
    pub provider_name: Option<String>,
    pub service_name: Option<String>,
    pub instance_id: Option<String>,
    pub params: Params,
}

/// Decodes one `application/x-www-form-urlencoded` component; invalid UTF-8 is an error.
fn decode(part: &str) -> Result<String, String> {
    let plus = part.replace('+', " ");
    percent_encoding::percent_decode_str(&plus)
        .decode_utf8()
        .map(|c| c.into_owned())
        .map_err(|_| "a parameter is not valid UTF-8 after percent-decoding".to_string())
}

/// Splits a raw query into decoded pairs, refusing duplicates and control characters in names.
pub fn parse_pairs(raw: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    for item in raw.split('&').filter(|s| !s.is_empty()) {
        let (n, v) = item.split_once('=').unwrap_or((item, ""));
        let name = decode(n)?;
        let value = decode(v)?;
        if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
            return Err("a parameter name is empty, too long or holds control characters".into());
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(format!("parameter {name:?} is given more than once"));
        }
    }
    Ok(out)
}

impl SyncQuery {
    /// Parses and checks the parameters (SPEC.md §3.2).
    pub fn parse(raw: &str, template: &Template) -> Result<SyncQuery, String> {
        let mut pairs = parse_pairs(raw)?;
        let domain = pairs.remove("domain").ok_or("domain is missing")?;
        let domain = normalize_domain(&domain)?;
        let host = normalize_host(&pairs.remove("host").unwrap_or_default())?;
        let provider_name = pairs.remove("providerName");
        if provider_name.is_some() && !template.allows_shared_provider_name() {
            return Err("providerName is not allowed for this template".into());
        }
        let service_name = pairs.remove("serviceName");
        if service_name.is_some() && !template.shared_service_name {
            return Err("serviceName is not allowed for this template".into());
        }
        for n in [&provider_name, &service_name].into_iter().flatten() {
            if n.is_empty() || n.chars().count() > 255 || n.chars().any(char::is_control) {
                return Err("providerName/serviceName must be 1 to 255 printable characters".into());
            }
        }
        let group_ids = pairs.remove("groupId").map(|g| {
            g.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
        });
        let instance_id = pairs.remove("instanceId");
        if let Some(id) = &instance_id
            && !crate::engine::validate::is_dc_id(id)
        {
            return Err("instanceId is not a valid id".into());
        }
        let redirect_uri = pairs.remove("redirect_uri");
        let state = pairs.remove("state");
        if state.as_ref().is_some_and(|s| s.len() > 2048) {
            return Err("state is too long".into());
        }
        pairs.remove("sig");
        pairs.remove("key");
        let params = pairs
            .into_iter()
            .filter(|(k, _)| !RESERVED.contains(&k.as_str()))
            .collect();
        Ok(SyncQuery {
            raw: raw.to_string(),
            domain,
            host,
            redirect_uri,
            state,
            group_ids,
            provider_name,
            service_name,
            instance_id,
            params,
        })
    }

    /// True when the query carries a `sig` or `key` parameter.
    pub fn claims_signature(&self) -> bool {
        self.raw.split('&').any(|p| {
            let n = p.split_once('=').map_or(p, |(n, _)| n);
            n == "sig" || n == "key"
        })
    }
}

/// Whether `redirect_uri` may be redirected to (POLICY.md 19): an http(s) URL whose host
/// equals or lies below an entry of `syncRedirectDomain`, or any http(s) URL when the request
/// is validly signed.
pub fn redirect_target(uri: Option<&str>, template: &Template, signed: bool) -> Option<url::Url> {
    let u = url::Url::parse(uri?).ok()?;
    if !matches!(u.scheme(), "https" | "http") || u.cannot_be_a_base() || !u.username().is_empty() {
        return None;
    }
    let host = u.host_str()?.trim_end_matches('.').to_ascii_lowercase();
    let listed = template.redirect_domains().iter().any(|d| {
        host == *d
            || (host.len() > d.len()
                && host.ends_with(d.as_str())
                && host.as_bytes()[host.len() - d.len() - 1] == b'.')
    });
    (listed || signed).then_some(u)
}

/// How the flow ends when it cannot go on.
#[derive(Debug)]
pub(super) struct Failure {
    pub(super) status: StatusCode,
    /// RFC 6749 error code.
    pub(super) error: &'static str,
    /// Developer-facing, vague on purpose.
    pub(super) description: String,
}

pub(super) fn failure(status: StatusCode, error: &'static str, description: impl Into<String>) -> Failure {
    Failure {
        status,
        error,
        description: description.into(),
    }
}

/// What is known about a request once it is parsed and its signature checked.
struct Checked {
    template: std::sync::Arc<Template>,
    query: SyncQuery,
    signed: bool,
    redirect: Option<url::Url>,
}

fn page_headers(resp: &mut HttpResponse, form_target: Option<&url::Url>) {
    let form_action = match form_target {
        Some(u) => format!("'self' {}", u.origin().ascii_serialization()),
        None => "'self'".to_string(),
    };
    let csp = format!(
        "default-src 'none'; style-src 'self'; img-src 'self' https:; script-src 'self'; \
         form-action {form_action}; frame-ancestors 'none'; base-uri 'none'"
    );
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&csp) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

pub(super) fn html(
    state: &AppState,
    status: StatusCode,
    view: &str,
    ctx: &tera::Context,
    form_target: Option<&url::Url>,
) -> HttpResponse {
    match state.views.render(view, ctx) {
        Ok(body) => {
            let mut resp = HttpResponse::build(status)
                .content_type("text/html; charset=utf-8")
                .body(body);
            page_headers(&mut resp, form_target);
            resp
        }
        Err(e) => {
            tracing::error!(error = %e, "view failed");
            HttpResponse::InternalServerError()
                .content_type("text/plain")
                .body("internal error\n")
        }
    }
}

pub(super) fn base_ctx(state: &AppState) -> tera::Context {
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
    ctx
}

/// Ends the flow: a redirect to the Service Provider when allowed, else a page that closes.
pub(super) fn end(
    state: &AppState,
    redirect: Option<&url::Url>,
    query_state: Option<&str>,
    outcome: Result<(), Failure>,
) -> HttpResponse {
    if let Some(u) = redirect {
        let mut u = u.clone();
        {
            let mut q = u.query_pairs_mut();
            if let Err(f) = &outcome {
                q.append_pair("error", f.error);
                q.append_pair("error_description", &f.description);
            }
            if let Some(s) = query_state {
                q.append_pair("state", s);
            }
        }
        return HttpResponse::SeeOther()
            .insert_header((header::LOCATION, u.as_str()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish();
    }
    let mut ctx = base_ctx(state);
    let status = match &outcome {
        Ok(()) => {
            ctx.insert("heading", "Done");
            ctx.insert("message", "The DNS changes were applied.");
            StatusCode::OK
        }
        Err(f) => {
            ctx.insert("heading", "Nothing was changed");
            ctx.insert(
                "message",
                &format!(
                    "The request could not be completed ({}: {}).",
                    f.error, f.description
                ),
            );
            f.status
        }
    };
    html(state, status, "done.html", &ctx, None)
}

/// Template lookup, syncBlock, parameters and signature, in the order of SPEC.md §3.3.
async fn check(
    state: &AppState,
    pid: &str,
    sid: &str,
    raw: &str,
) -> Result<Checked, (Option<Checked>, Failure)> {
    let bad = |d: String| failure(StatusCode::BAD_REQUEST, "invalid_request", d);
    let template = state.templates().get(pid, sid).cloned().ok_or_else(|| {
        (
            None,
            failure(StatusCode::NOT_FOUND, "invalid_request", "unknown template"),
        )
    })?;
    if template.sync_block {
        return Err((
            None,
            bad("this template is not available through the synchronous flow".into()),
        ));
    }
    let query = SyncQuery::parse(raw, &template).map_err(|e| (None, bad(e)))?;
    let signed = match template.pub_key_domain() {
        Some(domain) => match state.verify_signature(raw, domain).await {
            Ok(()) => true,
            Err(e) => {
                let redirect = redirect_target(query.redirect_uri.as_deref(), &template, false);
                let partial = Checked {
                    template: template.clone(),
                    query,
                    signed: false,
                    redirect,
                };
                return Err((
                    Some(partial),
                    failure(StatusCode::FORBIDDEN, "access_denied", format!("signature: {e}")),
                ));
            }
        },
        None => false,
    };
    let redirect = redirect_target(query.redirect_uri.as_deref(), &template, signed);
    Ok(Checked {
        template,
        query,
        signed,
        redirect,
    })
}

fn fail_with(state: &AppState, partial: Option<Checked>, f: Failure) -> HttpResponse {
    tracing::info!(error = f.error, description = %f.description, "sync flow refused");
    match partial {
        Some(c) => end(state, c.redirect.as_ref(), c.query.state.as_deref(), Err(f)),
        None => end(state, None, None, Err(f)),
    }
}

/// The logged-in user: a session, or a trusted proxy's header (which starts a session).
pub(super) fn current_session(
    state: &AppState,
    req: &HttpRequest,
    now: SystemTime,
) -> (Option<Session>, bool) {
    if let Some(s) = state.sessions.read(req, now) {
        return (Some(s), false);
    }
    if let crate::auth::Login::Header { header: name, .. } = &state.login {
        let value = req.headers().get(name.as_str()).and_then(|v| v.to_str().ok());
        let peer = req.peer_addr().map(|a| a.ip());
        if let Some(user) = state.login.user_from_header(peer, value) {
            return (Some(Session::new(&user, now)), true);
        }
    }
    (None, false)
}

/// The plan for a checked request against the zone as it is now.
async fn plan_now(state: &AppState, c: &Checked, session: &Session) -> Result<(Plan, bool), Failure> {
    let q = &c.query;
    if !state.authz.may_edit(session, &q.domain).await {
        return Err(failure(
            StatusCode::FORBIDDEN,
            "access_denied",
            "the user may not change this domain",
        ));
    }
    let instance_id = q.instance_id.clone().unwrap_or_else(|| state.new_instance_id());
    let req = ApplyRequest {
        template: &c.template,
        domain: &q.domain,
        host: &q.host,
        params: &q.params,
        group_ids: q.group_ids.as_deref(),
        instance_id: &instance_id,
    };
    let cur = super::zone::load(state, &q.domain, Some(&req))
        .await
        .map_err(|e| load_failure(&e))?;
    let plan = tracing::info_span!("engine.plan")
        .in_scope(|| engine::plan(&req, &cur.zone, &cur.instances, &cur.cfg))
        .map_err(|e| failure(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()))?;
    Ok((plan, cur.atomic))
}

pub(super) fn load_failure(e: &super::zone::LoadError) -> Failure {
    match e {
        super::zone::LoadError::NotHosted => failure(
            StatusCode::FORBIDDEN,
            "access_denied",
            "the user may not change this domain",
        ),
        super::zone::LoadError::Backend(e) => backend_failure(e),
        super::zone::LoadError::Store(e) => store_failure(e),
    }
}

pub(super) fn store_failure(e: &crate::store::StoreError) -> Failure {
    tracing::error!(error = %e, "store failure in the sync flow");
    failure(
        StatusCode::SERVICE_UNAVAILABLE,
        "temporarily_unavailable",
        "the service is unavailable; try again later",
    )
}

pub(super) fn backend_failure(e: &AdapterError) -> Failure {
    let (status, error, description) = super::zone::backend_response(e);
    failure(status, error, description)
}

/// A short digest of the change a plan makes, to notice a zone that changed since consent.
fn digest(plan: &Plan) -> String {
    let cs = plan.change_set();
    let bytes = serde_json::to_vec(&cs).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
}

fn purpose(raw: &str) -> String {
    format!(
        "apply:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(raw.as_bytes()))
    )
}

#[derive(Serialize)]
struct Row {
    name: String,
    #[serde(rename = "type")]
    rtype: String,
    data: String,
    ttl: u32,
    conflict: bool,
    why: String,
}

fn consent(
    state: &AppState,
    c: &Checked,
    plan: &Plan,
    atomic: bool,
    session: &Session,
    path: &str,
    refreshed: bool,
) -> HttpResponse {
    let apex = plan.zone.as_str();
    let t = &c.template;
    let mut ctx = base_ctx(state);
    ctx.insert("template_provider", &t.provider_name);
    ctx.insert("service_name", &t.service_name);
    ctx.insert("provider_name_extra", &c.query.provider_name);
    ctx.insert("service_name_extra", &c.query.service_name);
    ctx.insert(
        "logo_url",
        &t.logo_url.as_deref().filter(|u| u.starts_with("https://")),
    );
    let fqdn = if c.query.host.is_empty() {
        c.query.domain.clone()
    } else {
        format!("{}.{}", c.query.host, c.query.domain)
    };
    ctx.insert("fqdn", &fqdn);
    ctx.insert("signed", &c.signed);
    ctx.insert("warn_phishing", &t.warn_phishing);
    ctx.insert("user", &session.user);
    ctx.insert("atomic", &atomic);
    ctx.insert("refreshed", &refreshed);
    let adds: Vec<Row> = plan
        .adds
        .iter()
        .map(|r| Row {
            name: relative(&r.name, apex),
            rtype: r.rtype.clone(),
            data: r.data.clone(),
            ttl: r.ttl,
            conflict: false,
            why: String::new(),
        })
        .collect();
    let conflict_of = |r: &dcgw_adapter::Record| {
        plan.conflicts
            .iter()
            .find(|x| x.record.name == r.name && x.record.rtype == r.rtype && x.record.data == r.data)
    };
    let removes: Vec<Row> = plan
        .deletes
        .iter()
        .map(|r| {
            let c = conflict_of(r);
            let readded = plan
                .adds
                .iter()
                .any(|a| a.name == r.name && a.rtype == r.rtype && a.data == r.data);
            let why = match c {
                Some(c) => format!(
                    "replaced by {} (rule: {:?})",
                    t.records
                        .get(c.caused_by)
                        .map_or("the template".to_string(), |tr| tr.kind()),
                    c.rule
                )
                .to_lowercase(),
                None if readded => "its TTL changes".into(),
                None => "rewritten by the template".into(),
            };
            Row {
                name: relative(&r.name, apex),
                rtype: r.rtype.clone(),
                data: r.data.clone(),
                ttl: r.ttl,
                conflict: c.is_some(),
                why,
            }
        })
        .collect();
    ctx.insert("adds", &adds);
    ctx.insert("removes", &removes);
    ctx.insert("conflicts", &removes.iter().filter(|r| r.conflict).count());
    ctx.insert("query", &c.query.raw);
    ctx.insert("digest", &digest(plan));
    ctx.insert("csrf", &session.csrf_token(&purpose(&c.query.raw)));
    ctx.insert("action", &format!("{}{path}", state.base_path()));
    let mut resp = html(state, StatusCode::OK, "consent.html", &ctx, c.redirect.as_ref());
    resp.headers_mut()
        .insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

pub(super) fn login_redirect(state: &AppState, req: &HttpRequest) -> HttpResponse {
    let next = match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    };
    let target = format!(
        "{}/login?next={}",
        state.base_path(),
        percent_encoding::utf8_percent_encode(&next, percent_encoding::NON_ALPHANUMERIC)
    );
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, target))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// `GET .../apply?...`
pub async fn apply_get(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (pid, sid) = path.into_inner();
    let c = match check(&state, &pid, &sid, req.query_string()).await {
        Ok(c) => c,
        Err((partial, f)) => return fail_with(&state, partial, f),
    };
    crate::telemetry::record_request(
        &c.template.provider_id,
        &c.template.service_id,
        &c.query.domain,
        "sync",
    );
    let now = state.now();
    let (session, fresh) = current_session(&state, &req, now);
    let Some(session) = session else {
        return login_redirect(&state, &req);
    };
    let mut resp = match plan_now(&state, &c, &session).await {
        Ok((plan, atomic)) => consent(&state, &c, &plan, atomic, &session, req.path(), false),
        Err(f) => return fail_with(&state, Some(c), f),
    };
    if fresh {
        let _ = resp.add_cookie(&state.sessions.cookie(&session));
    }
    resp
}

/// The consent form.
#[derive(Debug, Deserialize)]
pub struct Decision {
    pub(super) query: String,
    pub(super) digest: String,
    pub(super) csrf: String,
    pub(super) decision: String,
}

/// `POST .../apply` (the consent form).
pub async fn apply_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    (pid, sid): (String, String),
    form: Decision,
) -> HttpResponse {
    let now = state.now();
    let (session, _) = current_session(&state, &req, now);
    let Some(session) = session else {
        return end(
            &state,
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
            &state,
            None,
            None,
            Err(failure(
                StatusCode::FORBIDDEN,
                "access_denied",
                "the form is not valid for this session",
            )),
        );
    }
    let c = match check(&state, &pid, &sid, &form.query).await {
        Ok(c) => c,
        Err((partial, f)) => {
            state.count_write("apply", "sync", &pid, &sid, "refused");
            return fail_with(&state, partial, f);
        }
    };
    crate::telemetry::record_request(
        &c.template.provider_id,
        &c.template.service_id,
        &c.query.domain,
        "sync",
    );
    if form.decision != "approve" {
        state.count_write("apply", "sync", &pid, &sid, "cancelled");
        let f = failure(StatusCode::OK, "access_denied", "user_cancel");
        return end(&state, c.redirect.as_ref(), c.query.state.as_deref(), Err(f));
    }
    let used_key = format!("{}:{}", session.csrf_token(&purpose(&form.query)), form.digest);
    if state.used_consents.get(&used_key).await.is_some() {
        return end(&state, c.redirect.as_ref(), c.query.state.as_deref(), Ok(()));
    }
    // One writer per zone: the plan, the write and the state change happen under the lock.
    let zone_key = format!("{}.", c.query.domain);
    let lock = match state.store.lock_zone(&zone_key).await {
        Ok(l) => l,
        Err(e) => return fail_with(&state, Some(c), store_failure(&e)),
    };
    let outcome = approve(&state, &c, &session, &form.digest).await;
    lock.release().await;
    let label = match &outcome {
        Approved::Done => "applied",
        Approved::Changed(..) => "zone_changed",
        Approved::Failed(_) => "failed",
    };
    state.count_write("apply", "sync", &pid, &sid, label);
    match outcome {
        Approved::Done => {
            state.used_consents.insert(used_key, ()).await;
            end(&state, c.redirect.as_ref(), c.query.state.as_deref(), Ok(()))
        }
        Approved::Changed(plan, atomic) => consent(&state, &c, &plan, atomic, &session, req.path(), true),
        Approved::Failed(f) => fail_with(&state, Some(c), f),
    }
}

enum Approved {
    Done,
    /// The zone changed since the consent page: show this plan instead.
    Changed(Box<Plan>, bool),
    Failed(Failure),
}

/// Plans again against the zone as it is now, applies when it is what the user saw, and
/// records template state and the audit entry. Runs under the zone's lock.
async fn approve(state: &AppState, c: &Checked, session: &Session, seen: &str) -> Approved {
    let (plan, atomic) = match plan_now(state, c, session).await {
        Ok(p) => p,
        Err(f) => return Approved::Failed(f),
    };
    if digest(&plan) != seen {
        return Approved::Changed(Box::new(plan), atomic);
    }
    let Some(hosted) = state.router.hosted(&c.query.domain).await.ok().flatten() else {
        return Approved::Failed(failure(
            StatusCode::SERVICE_UNAVAILABLE,
            "temporarily_unavailable",
            "the DNS service is unavailable",
        ));
    };
    state.count_conflicts(
        "sync",
        &c.template.provider_id,
        &c.template.service_id,
        plan.conflicts.len(),
    );
    let changes = plan.change_set();
    if !changes.changes.is_empty() {
        // Under the zone lock since the plan's read (see Adapter::apply_locked).
        match hosted.backend.adapter.apply_locked(&changes).await {
            Ok(()) => {}
            Err(AdapterError::PreconditionFailed { .. }) => {
                // The zone changed between reading and writing: ask again.
                return match plan_now(state, c, session).await {
                    Ok((plan, atomic)) => Approved::Changed(Box::new(plan), atomic),
                    Err(f) => Approved::Failed(f),
                };
            }
            Err(e) => return Approved::Failed(backend_failure(&e)),
        }
    }
    let upsert: Vec<&crate::engine::Instance> = std::iter::once(&plan.instance)
        .chain(plan.updated_instances.iter())
        .collect();
    let change = crate::store::StateChange {
        zone: &hosted.zone,
        upsert,
        remove: plan.removed_instances.iter().map(String::as_str).collect(),
        template: Some((&c.template.provider_id, &c.template.service_id)),
    };
    let detail = serde_json::json!({
        "flow": "sync",
        "host": c.query.host,
        "instance": plan.instance.id,
        "signed": c.signed,
        "adds": plan.adds,
        "deletes": plan.deletes,
        "conflicts": plan.conflicts.len(),
        "removed_instances": plan.removed_instances,
    });
    let actor = crate::store::Actor::user(&session.user);
    if let Err(e) = state
        .store
        .record(&change, &actor, "apply", &detail, state.now())
        .await
    {
        // DNS is written; the state could not be: say so loudly, the operator must look.
        tracing::error!(error = %e, zone = %hosted.zone, "the zone was changed but its template state was not recorded");
        return Approved::Failed(store_failure(&e));
    }
    tracing::info!(
        user = %session.user, domain = %c.query.domain, host = %c.query.host,
        provider_id = %c.template.provider_id, service_id = %c.template.service_id,
        adds = plan.adds.len(), deletes = plan.deletes.len(), signed = c.signed,
        "sync apply"
    );
    Approved::Done
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(redirect: Option<&str>) -> Template {
        serde_json::from_value(serde_json::json!({
            "providerId": "p.example", "providerName": "P", "serviceId": "s", "serviceName": "S",
            "syncRedirectDomain": redirect, "records": []
        }))
        .expect("template")
    }

    #[test]
    fn duplicates_and_bad_utf8_are_refused() {
        assert!(parse_pairs("a=1&a=2").is_err());
        assert!(parse_pairs("a=%ff").is_err());
        assert_eq!(
            parse_pairs("a=b+c%2Bd").expect("ok").get("a").map(String::as_str),
            Some("b c+d")
        );
        let t = template(None);
        assert!(SyncQuery::parse("host=www", &t).is_err(), "domain is required");
        assert!(SyncQuery::parse("domain=example.com&providerName=X", &t).is_err());
        let q = SyncQuery::parse("domain=Example.com&host=WWW&IP=1&sig=x&key=y&groupId=a,b", &t).expect("ok");
        assert_eq!((q.domain.as_str(), q.host.as_str()), ("example.com", "www"));
        assert_eq!(q.params.keys().collect::<Vec<_>>(), vec!["IP"]);
        assert_eq!(q.group_ids, Some(vec!["a".to_string(), "b".to_string()]));
        assert!(q.claims_signature());
    }

    #[test]
    fn redirects_only_to_listed_domains_or_when_signed() {
        let t = template(Some(" Shop.example , other.example"));
        assert!(redirect_target(Some("https://shop.example/done?x=1"), &t, false).is_some());
        assert!(redirect_target(Some("https://a.shop.example/"), &t, false).is_some());
        assert!(redirect_target(Some("https://evilshop.example/"), &t, false).is_none());
        assert!(redirect_target(Some("https://shop.example.evil.test/"), &t, false).is_none());
        assert!(redirect_target(Some("https://user@shop.example/"), &t, false).is_none());
        assert!(redirect_target(Some("javascript:alert(1)"), &t, true).is_none());
        assert!(redirect_target(Some("https://anywhere.test/"), &t, true).is_some());
        assert!(redirect_target(Some("https://anywhere.test/"), &template(None), false).is_none());
    }
}
