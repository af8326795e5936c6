//! OpenID Connect login: the authorization code flow with PKCE (S256), `state` and `nonce`,
//! against the registrar's identity provider, with the `openidconnect` crate doing discovery,
//! the token request and the ID token checks (signature from the provider's JWKS, issuer,
//! audience, expiry, nonce).
//!
//! What the gateway keeps between the redirect to the provider and the callback (state, nonce,
//! PKCE verifier, where to go next) travels in an encrypted, short-lived cookie, so any replica
//! can finish a login another one started. The provider's metadata and keys are fetched on
//! first use and kept for [`METADATA_TTL`]; a failed fetch is not cached.

use std::time::{Duration, Instant, SystemTime};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::config::OidcLogin;

/// How long discovered metadata (and the provider's signing keys) are used before refetching.
pub const METADATA_TTL: Duration = Duration::from_secs(900);
/// How long a started login may take at the provider.
pub const PENDING_TTL: Duration = Duration::from_secs(600);
/// The path of the callback, below the public base URL.
pub const CALLBACK_PATH: &str = "/login/oidc/callback";

/// Why a login through the provider failed. The text is for logs; users see a generic page.
#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider cannot be reached or described: {0}")]
    Discovery(String),
    #[error("the login was started elsewhere, has expired or was tampered with")]
    State,
    #[error("the identity provider refused: {0}")]
    Provider(String),
    #[error("the token request failed: {0}")]
    Token(String),
    #[error("the ID token is not valid: {0}")]
    IdToken(String),
    #[error("the ID token has no usable {0:?} claim")]
    Claim(String),
}

/// A login under way: what the callback checks the provider's answer against.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
    pub next: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
}

/// Who logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    /// The zones of the configured zones claim (for `claim` authorization), lower-case.
    pub zones: Vec<String>,
}

/// The OpenID Connect relying party.
#[derive(Debug)]
pub struct Oidc {
    cfg: OidcLogin,
    client_secret: Option<String>,
    redirect: RedirectUrl,
    http: reqwest::Client,
    metadata: Mutex<Option<(CoreProviderMetadata, Instant)>>,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Oidc {
    /// `public_url` is the gateway's base URL (the callback lies below it).
    pub fn new(cfg: &OidcLogin, public_url: &url::Url, timeout: Duration) -> Result<Oidc, String> {
        let client_secret = match (&cfg.client_secret, &cfg.client_secret_file) {
            (Some(s), _) if !s.is_empty() => Some(s.clone()),
            (_, Some(f)) => Some(
                std::fs::read_to_string(f)
                    .map_err(|e| format!("login.oidc.client_secret_file {}: {e}", f.display()))?
                    .trim()
                    .to_string(),
            ),
            _ => None,
        };
        let base = public_url.as_str().trim_end_matches('/');
        let redirect = RedirectUrl::new(format!("{base}{CALLBACK_PATH}"))
            .map_err(|e| format!("login.oidc callback URL: {e}"))?;
        // Never follow redirects: the provider's endpoints are used exactly as published.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .build()
            .map_err(|e| format!("login.oidc HTTP client: {e}"))?;
        Ok(Oidc {
            cfg: cfg.clone(),
            client_secret,
            redirect,
            http,
            metadata: Mutex::new(None),
        })
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        let mut cached = self.metadata.lock().await;
        if let Some((m, at)) = cached.as_ref()
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let issuer =
            IssuerUrl::new(self.cfg.issuer.clone()).map_err(|e| OidcError::Discovery(e.to_string()))?;
        let http = |req| self.send(req);
        let m = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| OidcError::Discovery(error_chain(&e)))?;
        *cached = Some((m.clone(), Instant::now()));
        Ok(m)
    }

    async fn client(
        &self,
    ) -> Result<
        openidconnect::core::CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcError,
    > {
        let m = self.metadata().await?;
        Ok(CoreClient::from_provider_metadata(
            m,
            ClientId::new(self.cfg.client_id.clone()),
            self.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect.clone()))
    }

    /// The provider's authorization URL for a new login, and what to remember until the
    /// callback.
    pub async fn begin(&self, next: &str, now: SystemTime) -> Result<(url::Url, Pending), OidcError> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for s in &self.cfg.scopes {
            if s != "openid" {
                req = req.add_scope(Scope::new(s.clone()));
            }
        }
        let (url, state, nonce) = req.url();
        Ok((
            url,
            Pending {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
                next: next.to_string(),
                exp: secs(now + PENDING_TTL),
            },
        ))
    }

    /// Finishes a login: checks `state` against the pending login, redeems the code with the
    /// PKCE verifier, verifies the ID token and reads the user (and zones) from its claims.
    pub async fn finish(
        &self,
        pending: &Pending,
        code: &str,
        state: &str,
        now: SystemTime,
    ) -> Result<Identity, OidcError> {
        let same_state = pending.state.len() == state.len()
            && bool::from(subtle::ConstantTimeEq::ct_eq(
                pending.state.as_bytes(),
                state.as_bytes(),
            ));
        if !same_state || pending.exp <= secs(now) {
            return Err(OidcError::State);
        }
        let client = self.client().await?;
        let http = |req| self.send(req);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| OidcError::Token(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|e| OidcError::Token(error_chain(&e)))?;
        let _ = token.access_token();
        let id_token: &CoreIdToken = token
            .id_token()
            .ok_or_else(|| OidcError::IdToken("the token response has no id_token".into()))?;
        let verifier = client.id_token_verifier();
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = id_token
            .claims(&verifier, &nonce)
            .map_err(|e| OidcError::IdToken(e.to_string()))?;
        // The standard claims are typed; the configured claims are read from the verified
        // token's payload (its signature covers exactly these bytes).
        let payload = payload_of(&id_token.to_string())
            .ok_or_else(|| OidcError::IdToken("unreadable payload".into()))?;
        let user = match self.cfg.username_claim.as_str() {
            "sub" => Some(claims.subject().as_str().to_string()),
            other => payload.get(other).and_then(|v| v.as_str()).map(str::to_string),
        }
        .map(|u| u.trim().to_string())
        .filter(|u| !u.is_empty() && u.len() <= 256 && !u.chars().any(char::is_control))
        .ok_or_else(|| OidcError::Claim(self.cfg.username_claim.clone()))?;
        let zones = match &self.cfg.zones_claim {
            None => Vec::new(),
            Some(name) => zones_from(payload.get(name)),
        };
        Ok(Identity { user, zones })
    }

    /// Sends one request of the OIDC library with our HTTP client.
    async fn send(&self, req: openidconnect::HttpRequest) -> Result<openidconnect::HttpResponse, HttpError> {
        let (parts, body) = req.into_parts();
        let resp = self
            .http
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await
            .map_err(|e| HttpError(error_chain(&e)))?;
        let mut builder = http::Response::builder().status(resp.status());
        for (k, v) in resp.headers() {
            builder = builder.header(k, v);
        }
        // The provider's documents are small; refuse anything large.
        let bytes = resp.bytes().await.map_err(|e| HttpError(e.to_string()))?;
        if bytes.len() > 1 << 20 {
            return Err(HttpError("response larger than 1 MiB".into()));
        }
        builder.body(bytes.to_vec()).map_err(|e| HttpError(e.to_string()))
    }
}

/// An error of our HTTP client, for the OIDC library.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The JSON payload of a compact JWT.
fn payload_of(jwt: &str) -> Option<serde_json::Map<String, serde_json::Value>> {
    use base64::Engine;
    let part = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Zones from a claim: an array of strings, or one string of names separated by spaces or
/// commas. Lower-cased, trailing dots dropped; anything else is ignored.
fn zones_from(v: Option<&serde_json::Value>) -> Vec<String> {
    let names: Vec<String> = match v {
        Some(serde_json::Value::Array(a)) => {
            a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect()
        }
        Some(serde_json::Value::String(s)) => s.split([' ', ',']).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    names
        .into_iter()
        .map(|n| n.trim().trim_end_matches('.').to_ascii_lowercase())
        .filter(|n| !n.is_empty() && n.len() <= 253)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn zones_claim_shapes() {
        assert_eq!(
            zones_from(Some(&json!(["Example.COM.", "shop.example", 7]))),
            vec!["example.com", "shop.example"]
        );
        assert_eq!(
            zones_from(Some(&json!("a.example, b.example c.example"))),
            vec!["a.example", "b.example", "c.example"]
        );
        assert!(zones_from(Some(&json!({"a": 1}))).is_empty());
        assert!(zones_from(None).is_empty());
    }

    #[test]
    fn payload_of_a_compact_jwt() {
        use base64::Engine;
        let p = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(br#"{"sub":"a","z":["x"]}"#);
        let m = payload_of(&format!("eyJhbGciOiJSUzI1NiJ9.{p}.sig")).expect("payload");
        assert_eq!(m.get("sub"), Some(&json!("a")));
        assert!(payload_of("nodots").is_none());
    }
}
