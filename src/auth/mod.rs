//! User login and zone authorization.

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

/// An argon2id hash (PHC string) of `password` with a random 16-byte salt.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    rand::fill(&mut salt);
    let hash: PasswordHash = Argon2::default()
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| e.to_string())?;
    Ok(hash.to_string())
}

/// Checks `password` against a PHC hash; a malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_round_trip() {
        let h = hash_password("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong", &h));
        assert!(!verify_password("correct horse", "not-a-hash"));
    }
}

pub mod oidc;
pub mod session;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use session::Session;

use crate::backends::ZonePattern;
use crate::config::{AuthzConfig, LoginConfig};

/// How users log in.
#[derive(Debug, Clone)]
pub enum Login {
    /// Users and argon2 hashes from the configuration; a login form.
    Local { users: HashMap<String, String> },
    /// A trusted reverse proxy names the user in a header.
    Header { header: String, trusted: Vec<IpAddr> },
    /// The registrar's OpenID Provider (code flow with PKCE).
    Oidc(Arc<oidc::Oidc>),
}

/// A hash no password matches, checked for unknown users so that timing does not tell
/// which user names exist.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$0n6DpwfJAeR1Ml3UtYHqIgAwxZg3ZVXo3fX0Hx5ZXuY";

impl Login {
    /// The login of the configuration; `public_url` is the gateway's base URL (OIDC callback).
    pub fn from_config(c: &LoginConfig, public_url: &url::Url) -> Result<Login, String> {
        Ok(match (c.kind.as_str(), &c.header, &c.oidc) {
            ("header", Some(h), _) => Login::Header {
                header: h.user_header.clone(),
                trusted: h.trusted_proxies.clone(),
            },
            ("oidc", _, Some(o)) => Login::Oidc(Arc::new(oidc::Oidc::new(
                o,
                public_url,
                Duration::from_millis(o.timeout_ms),
            )?)),
            _ => Login::Local {
                users: c
                    .users
                    .iter()
                    .map(|u| (u.username.clone(), u.password_hash.clone()))
                    .collect(),
            },
        })
    }

    /// Checks a user name and password (local login). Runs the hash even for unknown users.
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        match self {
            Login::Local { users } => {
                let hash = users.get(user).map_or(DUMMY_HASH, String::as_str);
                verify_password(password, hash) && users.contains_key(user)
            }
            Login::Header { .. } | Login::Oidc(_) => false,
        }
    }

    /// The user named by a trusted proxy (header login): only when the peer is trusted and
    /// the value is a plausible user name.
    pub fn user_from_header(&self, peer: Option<IpAddr>, value: Option<&str>) -> Option<String> {
        let Login::Header { trusted, .. } = self else {
            return None;
        };
        let peer = peer?;
        if !trusted.contains(&peer) {
            return None;
        }
        let v = value?.trim();
        let ok = !v.is_empty() && v.len() <= 256 && v.chars().all(|c| !c.is_control());
        ok.then(|| v.to_string())
    }
}

/// Which zones a user may change.
#[derive(Debug, Clone)]
pub enum Authz {
    /// User → zone patterns from the configuration.
    Static { rules: Vec<(String, Vec<ZonePattern>)> },
    /// The registrar's API decides; answers are cached briefly and failures refuse.
    Webhook(Arc<Webhook>),
    /// The zones the identity provider listed in the session's zones claim.
    Claim,
}

/// The `webhook` authorization's client and cache.
#[derive(Debug)]
pub struct Webhook {
    url: url::Url,
    token: Option<String>,
    http: reqwest::Client,
    cache: moka::future::Cache<(String, String), bool>,
}

impl Authz {
    pub fn from_config(c: &AuthzConfig) -> Result<Authz, String> {
        Ok(match c.kind.as_str() {
            "webhook" => {
                let w = c
                    .webhook
                    .as_ref()
                    .ok_or("authz.kind = \"webhook\" needs an [authz.webhook] section")?;
                let token = match (&w.bearer_token, &w.bearer_token_file) {
                    (Some(t), _) if !t.is_empty() => Some(t.clone()),
                    (_, Some(f)) => Some(
                        std::fs::read_to_string(f)
                            .map_err(|e| format!("authz.webhook.bearer_token_file {}: {e}", f.display()))?
                            .trim()
                            .to_string(),
                    ),
                    _ => None,
                };
                let http = reqwest::Client::builder()
                    .redirect(reqwest::redirect::Policy::none())
                    .timeout(Duration::from_millis(w.timeout_ms))
                    .build()
                    .map_err(|e| format!("authz.webhook: {e}"))?;
                Authz::Webhook(Arc::new(Webhook {
                    url: w.url.clone(),
                    token,
                    http,
                    cache: moka::future::Cache::builder()
                        .max_capacity(100_000)
                        .time_to_live(Duration::from_secs(w.cache_secs))
                        .build(),
                }))
            }
            "claim" => Authz::Claim,
            _ => Authz::Static {
                rules: c
                    .rules
                    .iter()
                    .map(|r| {
                        (
                            r.user.clone(),
                            r.zones.iter().map(|z| ZonePattern::parse(z)).collect(),
                        )
                    })
                    .collect(),
            },
        })
    }

    /// May the session's user change `zone` (lower-case, no trailing dot)?
    pub async fn may_edit(&self, session: &Session, zone: &str) -> bool {
        match self {
            Authz::Static { rules } => rules
                .iter()
                .any(|(u, pats)| *u == session.user && pats.iter().any(|p| p.matches(zone))),
            // "*" in a claim is not taken as "every zone".
            Authz::Claim => session.zones.iter().any(|z| {
                let p = ZonePattern::parse(z);
                !matches!(p, ZonePattern::Any) && p.matches(zone)
            }),
            Authz::Webhook(w) => w.allowed(&session.user, zone).await,
        }
    }
}

impl Webhook {
    async fn allowed(&self, user: &str, zone: &str) -> bool {
        let key = (user.to_string(), zone.to_string());
        if let Some(v) = self.cache.get(&key).await {
            return v;
        }
        match self.ask(user, zone).await {
            Ok(v) => {
                self.cache.insert(key, v).await;
                v
            }
            Err(e) => {
                tracing::warn!(user, zone, error = %e, "authorization webhook failed; refusing");
                false
            }
        }
    }

    async fn ask(&self, user: &str, zone: &str) -> Result<bool, String> {
        #[derive(serde::Deserialize)]
        struct Answer {
            allowed: bool,
        }
        let mut req = self
            .http
            .post(self.url.clone())
            .json(&serde_json::json!({"user": user, "zone": zone}));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.map_err(|e| e.to_string())?;
        if resp.status() != reqwest::StatusCode::OK {
            return Err(format!("status {}", resp.status()));
        }
        let body = resp.bytes().await.map_err(|e| e.to_string())?;
        if body.len() > 64 * 1024 {
            return Err("answer larger than 64 KiB".into());
        }
        serde_json::from_slice::<Answer>(&body)
            .map(|a| a.allowed)
            .map_err(|e| format!("answer: {e}"))
    }
}

#[cfg(test)]
mod login_tests {
    use super::*;

    #[test]
    fn header_login_only_from_trusted_proxies() {
        let l = Login::Header {
            header: "X-User".into(),
            trusted: vec!["127.0.0.1".parse().expect("ip")],
        };
        assert_eq!(
            l.user_from_header("127.0.0.1".parse().ok(), Some("alice")),
            Some("alice".into())
        );
        assert_eq!(l.user_from_header("10.0.0.1".parse().ok(), Some("alice")), None);
        assert_eq!(l.user_from_header("127.0.0.1".parse().ok(), Some("a\nb")), None);
        assert_eq!(l.user_from_header(None, Some("alice")), None);
    }

    #[tokio::test]
    async fn static_authz() {
        let c = AuthzConfig {
            kind: "static".into(),
            rules: vec![crate::config::AuthzRule {
                user: "alice".into(),
                zones: vec!["example.com".into(), "*.shop.example".into()],
            }],
            webhook: None,
        };
        let a = Authz::from_config(&c).expect("authz");
        let now = std::time::SystemTime::now();
        let (alice, bob) = (Session::new("alice", now), Session::new("bob", now));
        assert!(a.may_edit(&alice, "example.com").await);
        assert!(a.may_edit(&alice, "x.shop.example").await);
        assert!(!a.may_edit(&alice, "example.org").await);
        assert!(!a.may_edit(&bob, "example.com").await);
    }

    #[tokio::test]
    async fn claim_authz_reads_the_session_zones() {
        let now = std::time::SystemTime::now();
        let mut s = Session::new("carol", now);
        s.zones = vec!["example.com".into(), "*.shop.example".into()];
        assert!(Authz::Claim.may_edit(&s, "example.com").await);
        assert!(Authz::Claim.may_edit(&s, "a.shop.example").await);
        assert!(!Authz::Claim.may_edit(&s, "sub.example.com").await);
        assert!(
            !Authz::Claim
                .may_edit(&Session::new("carol", now), "example.com")
                .await
        );
        s.zones = vec!["*".into()];
        assert!(!Authz::Claim.may_edit(&s, "example.com").await);
    }
}
