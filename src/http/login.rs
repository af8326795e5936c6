//! The login form (local users) and static assets.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::AppState;
use crate::auth::Login;
use crate::auth::oidc::{self, Pending};
use crate::auth::session::Session;

/// The cookie that carries a login under way at the identity provider.
const OIDC_COOKIE: &str = "dcgw_oidc";

/// A `next` target is a path on this site: it starts with one `/` and holds no backslash.
fn safe_next(next: &str) -> &str {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && !next.chars().any(char::is_control);
    if ok { next } else { "/" }
}

fn login_page(state: &AppState, next: &str, error: Option<&str>, status: StatusCode) -> HttpResponse {
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
    ctx.insert("next", safe_next(next));
    ctx.insert(
        "next_q",
        &url::form_urlencoded::byte_serialize(safe_next(next).as_bytes()).collect::<String>(),
    );
    ctx.insert("oidc", &matches!(state.login, Login::Oidc(_)));
    ctx.insert("error", &error);
    match state.views.render("login.html", &ctx) {
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

#[derive(Debug, Deserialize)]
pub struct NextQuery {
    #[serde(default)]
    next: String,
}

/// The login form, or with OIDC login a redirect to the identity provider.
#[get("/login")]
pub async fn login_form(state: web::Data<AppState>, q: web::Query<NextQuery>) -> HttpResponse {
    let Login::Oidc(o) = &state.login else {
        return login_page(&state, &q.next, None, StatusCode::OK);
    };
    match o.begin(safe_next(&q.next), state.now()).await {
        Ok((url, pending)) => HttpResponse::SeeOther()
            .cookie(state.sessions.seal(OIDC_COOKIE, &pending, oidc::PENDING_TTL))
            .insert_header((header::LOCATION, url.as_str()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .finish(),
        Err(e) => {
            tracing::error!(error = %e, "OIDC login cannot start");
            login_page(
                &state,
                &q.next,
                Some("The sign-in service cannot be reached. Try again in a moment."),
                StatusCode::BAD_GATEWAY,
            )
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

/// The identity provider's redirect back: finish the login and start a session.
#[get("/login/oidc/callback")]
pub async fn oidc_callback(
    state: web::Data<AppState>,
    req: HttpRequest,
    q: web::Query<CallbackQuery>,
) -> HttpResponse {
    let Login::Oidc(o) = &state.login else {
        return HttpResponse::NotFound().finish();
    };
    let pending: Option<Pending> = state.sessions.open(&req, OIDC_COOKIE);
    let next = pending.as_ref().map_or("/", |p| safe_next(&p.next)).to_string();
    let fail = |msg: &str, status: StatusCode| {
        let mut resp = login_page(&state, &next, Some(msg), status);
        let _ = resp.add_cookie(&state.sessions.clear_named(OIDC_COOKIE));
        resp
    };
    let Some(pending) = pending else {
        return fail(
            "This sign-in was not started here or has expired.",
            StatusCode::BAD_REQUEST,
        );
    };
    if let Some(err) = &q.error {
        tracing::info!(error = %err.chars().take(100).collect::<String>(), "OIDC login refused by the provider");
        return fail("The sign-in was cancelled or refused.", StatusCode::FORBIDDEN);
    }
    let (Some(code), Some(st)) = (&q.code, &q.state) else {
        return fail("The sign-in answer is incomplete.", StatusCode::BAD_REQUEST);
    };
    match o.finish(&pending, code, st, state.now()).await {
        Ok(id) => {
            tracing::info!(user = %id.user, zones = id.zones.len(), "OIDC login");
            let mut session = Session::new(&id.user, state.now());
            session.zones = id.zones;
            HttpResponse::SeeOther()
                .cookie(state.sessions.cookie(&session))
                .cookie(state.sessions.clear_named(OIDC_COOKIE))
                .insert_header((header::LOCATION, next))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish()
        }
        Err(e) => {
            tracing::warn!(error = %e, "OIDC login failed");
            let status = match e {
                oidc::OidcError::Discovery(_) => StatusCode::BAD_GATEWAY,
                oidc::OidcError::State => StatusCode::BAD_REQUEST,
                _ => StatusCode::FORBIDDEN,
            };
            fail("The sign-in could not be completed.", status)
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: String,
}

/// Checks the credentials (argon2 off the async workers) and starts a session.
#[post("/login")]
pub async fn login_submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    form: web::Form<LoginForm>,
) -> HttpResponse {
    // Refuse cross-site posts of the login form (login CSRF).
    if let Some(origin) = req.headers().get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
        let ours = state.config.server.public_url.origin().ascii_serialization();
        if origin != ours && origin != "null" {
            return login_page(
                &state,
                &form.next,
                Some("This form was sent from another site."),
                StatusCode::FORBIDDEN,
            );
        }
    }
    let form = form.into_inner();
    let login = state.login.clone();
    let (user, password) = (form.username.clone(), form.password);
    let ok = web::block(move || login.check_password(&user, &password))
        .await
        .unwrap_or(false);
    if !ok {
        tracing::info!("login failed");
        return login_page(
            &state,
            &form.next,
            Some("Wrong user name or password."),
            StatusCode::UNAUTHORIZED,
        );
    }
    let session = Session::new(&form.username, state.now());
    HttpResponse::SeeOther()
        .cookie(state.sessions.cookie(&session))
        .insert_header((header::LOCATION, format!("{}{}", "", safe_next(&form.next))))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

#[post("/logout")]
pub async fn logout(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::SeeOther()
        .cookie(state.sessions.clear())
        .insert_header((header::LOCATION, "/login"))
        .finish()
}

#[get("/static/dcgw.css")]
pub async fn css() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(crate::ui::CSS)
}

#[get("/static/close.js")]
pub async fn close_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(crate::ui::CLOSE_JS)
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(safe_next("/v2/x?y=1"), "/v2/x?y=1");
        assert_eq!(safe_next("//evil.test/"), "/");
        assert_eq!(safe_next("https://evil.test/"), "/");
        assert_eq!(safe_next("/\\evil.test"), "/");
    }
}
