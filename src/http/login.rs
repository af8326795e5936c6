//! The login form (local users) and static assets.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use serde::Deserialize;

use super::AppState;
use crate::auth::session::Session;

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

#[get("/login")]
pub async fn login_form(state: web::Data<AppState>, q: web::Query<NextQuery>) -> HttpResponse {
    login_page(&state, &q.next, None, StatusCode::OK)
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
