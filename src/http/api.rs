//! The asynchronous API (SPEC.md §4.4–4.6, POLICY.md 13–16, 20): `POST .../apply` and
//! `POST .../revert` with a Bearer token. Answers are JSON: 200 on success (never 204: real
//! clients parse the body), 409 with the conflicting records, 410 when nothing is applied.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use dcgw_adapter::AdapterError;

use super::AppState;
use super::sync::parse_pairs;
use super::zone::{LoadError, WriteError};
use crate::engine::names::{normalize_domain, normalize_host, relative};
use crate::engine::{self, ApplyRequest, Template};
use crate::store::grants::Grant;
use crate::store::{Actor, StateChange};

/// An API error: status and RFC 6749-style JSON.
#[derive(Debug)]
pub struct ApiFailure {
    status: StatusCode,
    error: &'static str,
    description: String,
}

fn fail(status: StatusCode, error: &'static str, description: impl Into<String>) -> ApiFailure {
    ApiFailure {
        status,
        error,
        description: description.into(),
    }
}

impl ApiFailure {
    fn response(&self) -> HttpResponse {
        let mut b = HttpResponse::build(self.status);
        b.insert_header((header::CACHE_CONTROL, "no-store"));
        if self.status == StatusCode::UNAUTHORIZED {
            b.insert_header((header::WWW_AUTHENTICATE, "Bearer error=\"invalid_token\""));
        }
        b.json(serde_json::json!({"error": self.error, "error_description": self.description}))
    }
}

fn write_failure(e: &WriteError) -> ApiFailure {
    match e {
        WriteError::Load(LoadError::NotHosted) => fail(
            StatusCode::FORBIDDEN,
            "access_denied",
            "the domain is not hosted here",
        ),
        WriteError::Changed => fail(
            StatusCode::CONFLICT,
            "conflict",
            "the zone changed while applying; try again",
        ),
        WriteError::Backend(e) | WriteError::Load(LoadError::Backend(e)) => {
            let (status, error, description) = super::zone::backend_response(e);
            fail(status, error, description)
        }
        other => {
            tracing::error!(error = %other, "async API write failed");
            fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "the DNS service is unavailable; try again later",
            )
        }
    }
}

/// What an API call asks for, after the token and the parameters are checked.
struct Call {
    grant: Grant,
    template: std::sync::Arc<Template>,
    domain: String,
    host: String,
    params: BTreeMap<String, String>,
}

/// Parameters from the query and a JSON body, merged (the same name twice with different
/// values is refused).
fn params(req: &HttpRequest, body: &[u8]) -> Result<BTreeMap<String, String>, ApiFailure> {
    let bad = |d: String| fail(StatusCode::BAD_REQUEST, "invalid_request", d);
    let mut p = parse_pairs(req.query_string()).map_err(bad)?;
    let trimmed = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .map_or(&body[..0], |i| &body[i..]);
    if !trimmed.is_empty() {
        let v: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(trimmed).map_err(|_| {
                fail(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "the body must be a JSON object",
                )
            })?;
        for (k, v) in v {
            let v = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                _ => return Err(bad(format!("parameter {k} must be a string"))),
            };
            match p.get(&k) {
                Some(old) if *old != v => {
                    return Err(bad(format!("parameter {k} is given twice with different values")));
                }
                _ => {
                    p.insert(k, v);
                }
            }
        }
    }
    Ok(p)
}

/// Checks the Bearer token and that the grant covers this provider, template, domain and host.
async fn authorize(
    state: &AppState,
    req: &HttpRequest,
    pid: &str,
    sid: &str,
    body: &[u8],
) -> Result<Call, ApiFailure> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
        .map(str::trim)
        .ok_or_else(|| {
            fail(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "a Bearer token is required",
            )
        })?;
    let grant = state
        .store
        .grant_for_access_token(token, state.now())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "token lookup");
            fail(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                "try again later",
            )
        })?
        .ok_or_else(|| {
            fail(
                StatusCode::UNAUTHORIZED,
                "invalid_token",
                "the token is invalid, expired or revoked",
            )
        })?;
    if !grant.client_id.eq_ignore_ascii_case(pid) {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "unauthorized_client",
            "the token was not issued for this provider",
        ));
    }
    let template = state
        .templates()
        .get(pid, sid)
        .cloned()
        .ok_or_else(|| fail(StatusCode::NOT_FOUND, "invalid_request", "unknown template"))?;
    if !grant
        .scope
        .iter()
        .any(|s| s.eq_ignore_ascii_case(&template.service_id))
    {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "invalid_scope",
            "the token does not cover this template",
        ));
    }
    let mut p = params(req, body)?;
    let bad = |d: String| fail(StatusCode::BAD_REQUEST, "invalid_request", d);
    let domain = normalize_domain(
        &p.remove("domain")
            .ok_or_else(|| bad("domain is missing".into()))?,
    )
    .map_err(bad)?;
    if domain != grant.domain {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "access_denied",
            "the token does not cover this domain",
        ));
    }
    let host = normalize_host(&p.remove("host").unwrap_or_default()).map_err(bad)?;
    if !grant.hosts.contains(&host) {
        return Err(fail(
            StatusCode::FORBIDDEN,
            "access_denied",
            "the token does not cover this host",
        ));
    }
    if p.contains_key("providerName") && !template.allows_shared_provider_name() {
        return Err(bad("providerName is not allowed for this template".into()));
    }
    if p.contains_key("serviceName") && !template.shared_service_name {
        return Err(bad("serviceName is not allowed for this template".into()));
    }
    Ok(Call {
        grant,
        template,
        domain,
        host,
        params: p,
    })
}

fn force(p: &mut BTreeMap<String, String>) -> Result<bool, ApiFailure> {
    match p.remove("force").map(|f| f.to_ascii_lowercase()).as_deref() {
        None | Some("0") | Some("false") => Ok(false),
        Some("1") | Some("true") => Ok(true),
        Some(_) => Err(fail(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "force must be 0, 1, true or false",
        )),
    }
}

/// `POST .../apply` with a Bearer token.
pub async fn apply(state: &AppState, req: &HttpRequest, pid: &str, sid: &str, body: &[u8]) -> HttpResponse {
    let response = match apply_inner(state, req, pid, sid, body).await {
        Ok(r) => r,
        Err(f) => f.response(),
    };
    state.count_write("apply", "async", pid, sid, outcome_of(response.status()));
    response
}

/// The outcome label of an API answer.
fn outcome_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200..=299 => "applied",
        409 => "conflict",
        410 => "not_applied",
        401 | 403 => "unauthorized",
        400..=499 => "refused",
        _ => "failed",
    }
}

async fn apply_inner(
    state: &AppState,
    req: &HttpRequest,
    pid: &str,
    sid: &str,
    body: &[u8],
) -> Result<HttpResponse, ApiFailure> {
    let mut call = authorize(state, req, pid, sid, body).await?;
    crate::telemetry::record_request(
        &call.template.provider_id,
        &call.template.service_id,
        &call.domain,
        "async",
    );
    let force = force(&mut call.params)?;
    let groups: Option<Vec<String>> = call.params.remove("groupId").map(|g| {
        g.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    });
    let instance_id = match call.params.remove("instanceId") {
        Some(id) if !call.template.multi_instance => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!("instanceId {id:?} needs a multiInstance template"),
            ));
        }
        Some(id) if !engine::validate::is_dc_id(&id) => {
            return Err(fail(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "instanceId is not a valid id",
            ));
        }
        Some(id) => id,
        None => state.new_instance_id(),
    };
    let apex = format!("{}.", call.domain);
    let lock = state
        .store
        .lock_zone(&apex)
        .await
        .map_err(|e| write_failure(&WriteError::from(e)))?;
    let result = async {
        let req = ApplyRequest {
            template: &call.template,
            domain: &call.domain,
            host: &call.host,
            params: &call.params,
            group_ids: groups.as_deref(),
            instance_id: &instance_id,
        };
        let cur = super::zone::load(state, &call.domain, Some(&req))
            .await
            .map_err(|e| write_failure(&WriteError::Load(e)))?;
        let plan = tracing::info_span!("engine.plan")
            .in_scope(|| engine::plan(&req, &cur.zone, &cur.instances, &cur.cfg))
            .map_err(|e| fail(StatusCode::BAD_REQUEST, "invalid_request", e.to_string()))?;
        if force || plan.conflicts.is_empty() {
            state.count_conflicts("async", pid, sid, plan.conflicts.len());
        }
        if !plan.conflicts.is_empty() && !force {
            let records: Vec<serde_json::Value> = plan
                .conflicts
                .iter()
                .map(|c| {
                    serde_json::json!({"type": c.record.rtype, "host": relative(&c.record.name, &cur.name), "data": c.record.data})
                })
                .collect();
            return Ok(HttpResponse::Conflict().insert_header((header::CACHE_CONTROL, "no-store")).json(serde_json::json!({
                "code": "409",
                "message": format!("{} existing record(s) conflict with the template; apply with force=1 to replace them", records.len()),
                "records": records,
            })));
        }
        let changes = plan.change_set();
        if !changes.changes.is_empty() {
            match cur.adapter.apply_locked(&changes).await {
                Ok(()) => {}
                Err(AdapterError::PreconditionFailed { .. }) => return Err(write_failure(&WriteError::Changed)),
                Err(e) => return Err(write_failure(&WriteError::Backend(e))),
            }
        }
        let change = StateChange {
            zone: &cur.name,
            upsert: std::iter::once(&plan.instance).chain(plan.updated_instances.iter()).collect(),
            remove: plan.removed_instances.iter().map(String::as_str).collect(),
            template: Some((&call.template.provider_id, &call.template.service_id)),
        };
        let detail = serde_json::json!({
            "flow": "async", "grant": call.grant.id, "host": call.host, "instance": plan.instance.id, "force": force,
            "adds": plan.adds, "deletes": plan.deletes, "conflicts": plan.conflicts.len(),
            "removed_instances": plan.removed_instances,
        });
        let actor = Actor::client(&call.grant.client_id, &call.grant.username);
        state.store.record(&change, &actor, "apply", &detail, state.now()).await.map_err(|e| write_failure(&e.into()))?;
        Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(serde_json::json!({
            "status": "applied",
            "instanceId": plan.instance.id,
            "added": plan.adds.len(),
            "removed": plan.deletes.len(),
        })))
    }
    .await;
    lock.release().await;
    result
}

/// `POST .../revert` with a Bearer token: removes the instance(s) of the template on the
/// domain and host (POLICY.md 16); 410 when nothing of it is applied there.
pub async fn revert(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (pid, sid) = path.into_inner();
    let result = async {
        let mut call = authorize(&state, &req, &pid, &sid, &body).await?;
        crate::telemetry::record_request(
            &call.template.provider_id,
            &call.template.service_id,
            &call.domain,
            "async",
        );
        let instance_id = call.params.remove("instanceId");
        let (tpid, tsid, host) = (
            call.template.provider_id.clone(),
            call.template.service_id.clone(),
            call.host.clone(),
        );
        let select = move |i: &engine::Instance| {
            i.provider_id.eq_ignore_ascii_case(&tpid)
                && i.service_id.eq_ignore_ascii_case(&tsid)
                && i.host == host
                && instance_id.as_ref().is_none_or(|id| *id == i.id)
        };
        let actor = Actor::client(&call.grant.client_id, &call.grant.username);
        let detail = serde_json::json!({"flow": "async", "grant": call.grant.id, "host": call.host});
        match super::zone::revert(&state, &call.domain, &select, &actor, detail).await {
            Ok(Some(r)) => Ok(HttpResponse::Ok()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(serde_json::json!({
                    "status": "reverted",
                    "instances": r.removed_instances,
                    "removed": r.deletes.len(),
                }))),
            Ok(None) => Err(fail(
                StatusCode::GONE,
                "not_applied",
                "the template is not applied there",
            )),
            Err(e) => Err(write_failure(&e)),
        }
    }
    .await;
    let response = match result {
        Ok(r) => r,
        Err(f) => f.response(),
    };
    let outcome = match outcome_of(response.status()) {
        "applied" => "reverted",
        o => o,
    };
    state.count_write("revert", "async", &pid, &sid, outcome);
    response
}

/// `POST .../apply`: the API with a Bearer token, otherwise the synchronous consent form.
pub async fn apply_dispatch(
    state: web::Data<AppState>,
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
) -> HttpResponse {
    let (pid, sid) = path.into_inner();
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.len() > 7 && v[..7].eq_ignore_ascii_case("bearer "));
    if bearer {
        return apply(&state, &req, &pid, &sid, &body).await;
    }
    match serde_urlencoded_form(&body) {
        Some(form) => super::sync::apply_post(state, req, (pid, sid), form).await,
        None => HttpResponse::BadRequest()
            .content_type("text/plain")
            .body("the consent form is incomplete\n"),
    }
}

/// The consent form's fields, all required.
fn serde_urlencoded_form(body: &[u8]) -> Option<super::sync::Decision> {
    let mut map: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if map.insert(k.into_owned(), v.into_owned()).is_some() {
            return None;
        }
    }
    Some(super::sync::Decision {
        query: map.remove("query")?,
        digest: map.remove("digest")?,
        csrf: map.remove("csrf")?,
        decision: map.remove("decision")?,
    })
}
