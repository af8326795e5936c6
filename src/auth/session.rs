//! Login sessions in an encrypted, authenticated cookie (no server-side state), with a
//! CSRF secret bound to the session.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::HttpRequest;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The session cookie's name.
pub const COOKIE: &str = "dcgw_session";

/// How long a login lasts.
pub const LIFETIME: Duration = Duration::from_secs(8 * 3600);

/// What the session cookie holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The user name.
    pub user: String,
    /// Zones named by the identity provider (`claim` authorization), if any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
    /// Secret the CSRF tokens of this session derive from.
    pub csrf: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
}

fn secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Session {
    /// A new session for `user`, with a fresh CSRF secret.
    pub fn new(user: &str, now: SystemTime) -> Session {
        let mut secret = [0u8; 32];
        rand::fill(&mut secret);
        Session {
            user: user.to_string(),
            zones: Vec::new(),
            csrf: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret),
            exp: secs(now + LIFETIME),
        }
    }

    /// The CSRF token for one form purpose (`apply:<digest>`, ...), bound to this session.
    pub fn csrf_token(&self, purpose: &str) -> String {
        let mut h = Sha256::new();
        h.update(self.csrf.as_bytes());
        h.update([0]);
        h.update(purpose.as_bytes());
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(h.finalize())
    }

    /// Checks a posted CSRF token in constant time.
    pub fn check_csrf(&self, purpose: &str, token: &str) -> bool {
        let want = self.csrf_token(purpose);
        want.len() == token.len() && bool::from(want.as_bytes().ct_eq(token.as_bytes()))
    }
}

/// Encrypts sessions into cookies and back.
#[derive(Clone)]
pub struct SessionKeys {
    key: Key,
    secure: bool,
}

impl std::fmt::Debug for SessionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionKeys")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

impl SessionKeys {
    /// From a secret of at least 64 bytes; an empty secret gives a random key.
    pub fn new(secret: &str, secure: bool) -> SessionKeys {
        let key = if secret.len() >= 64 {
            Key::from(secret.as_bytes())
        } else {
            Key::generate()
        };
        SessionKeys { key, secure }
    }

    /// The session of a request, if its cookie is genuine and not expired.
    pub fn read(&self, req: &HttpRequest, now: SystemTime) -> Option<Session> {
        let cookie = req.cookie(COOKIE)?;
        let mut jar = CookieJar::new();
        jar.add_original(cookie);
        let plain = jar.private(&self.key).get(COOKIE)?;
        let s: Session = serde_json::from_str(plain.value()).ok()?;
        (s.exp > secs(now)).then_some(s)
    }

    /// The cookie that stores `session`.
    pub fn cookie(&self, session: &Session) -> Cookie<'static> {
        let mut jar = CookieJar::new();
        let value = serde_json::to_string(session).unwrap_or_default();
        jar.private_mut(&self.key)
            .add(self.base(Cookie::new(COOKIE, value)));
        jar.get(COOKIE)
            .cloned()
            .unwrap_or_else(|| Cookie::new(COOKIE, ""))
    }

    /// A cookie that ends the session.
    pub fn clear(&self) -> Cookie<'static> {
        self.clear_named(COOKIE)
    }

    /// An encrypted cookie `name` holding `value` (JSON), e.g. a login under way.
    pub fn seal<T: Serialize>(&self, name: &'static str, value: &T, max_age: Duration) -> Cookie<'static> {
        let mut jar = CookieJar::new();
        let plain = serde_json::to_string(value).unwrap_or_default();
        let mut c = self.base(Cookie::new(name, plain));
        c.set_max_age(actix_web::cookie::time::Duration::seconds(
            i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX),
        ));
        jar.private_mut(&self.key).add(c);
        jar.get(name).cloned().unwrap_or_else(|| Cookie::new(name, ""))
    }

    /// The value of an encrypted cookie `name`, if genuine.
    pub fn open<T: serde::de::DeserializeOwned>(&self, req: &HttpRequest, name: &str) -> Option<T> {
        let cookie = req.cookie(name)?;
        let mut jar = CookieJar::new();
        jar.add_original(cookie);
        let plain = jar.private(&self.key).get(name)?;
        serde_json::from_str(plain.value()).ok()
    }

    /// A cookie that removes cookie `name`.
    pub fn clear_named(&self, name: &'static str) -> Cookie<'static> {
        let mut c = self.base(Cookie::new(name, ""));
        c.make_removal();
        c
    }

    fn base(&self, mut c: Cookie<'static>) -> Cookie<'static> {
        c.set_path("/");
        c.set_http_only(true);
        c.set_secure(self.secure);
        c.set_same_site(SameSite::Lax);
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn cookie_round_trip_expiry_and_tampering() {
        let keys = SessionKeys::new("", false);
        let now = SystemTime::now();
        let s = Session::new("alice", now);
        let cookie = keys.cookie(&s);
        assert!(cookie.http_only().unwrap_or(false));
        let req = TestRequest::default().cookie(cookie.clone()).to_http_request();
        assert_eq!(keys.read(&req, now), Some(s.clone()));
        assert_eq!(keys.read(&req, now + LIFETIME + Duration::from_secs(1)), None);
        let other = SessionKeys::new("", false);
        assert_eq!(other.read(&req, now), None, "another key cannot read it");
        let mut forged = cookie;
        forged.set_value(format!("{}x", forged.value()));
        let req = TestRequest::default().cookie(forged).to_http_request();
        assert_eq!(keys.read(&req, now), None);
    }

    #[test]
    fn csrf_tokens_are_per_session_and_purpose() {
        let now = SystemTime::now();
        let a = Session::new("alice", now);
        let b = Session::new("alice", now);
        let t = a.csrf_token("apply:1");
        assert!(a.check_csrf("apply:1", &t));
        assert!(!a.check_csrf("apply:2", &t));
        assert!(!b.check_csrf("apply:1", &t));
        assert!(!a.check_csrf("apply:1", ""));
    }
}
