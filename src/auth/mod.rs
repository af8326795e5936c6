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

pub mod session;

use std::collections::HashMap;
use std::net::IpAddr;

use crate::backends::ZonePattern;
use crate::config::{AuthzConfig, LoginConfig};

/// How users log in.
#[derive(Debug, Clone)]
pub enum Login {
    /// Users and argon2 hashes from the configuration; a login form.
    Local { users: HashMap<String, String> },
    /// A trusted reverse proxy names the user in a header.
    Header { header: String, trusted: Vec<IpAddr> },
}

/// A hash no password matches, checked for unknown users so that timing does not tell
/// which user names exist.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$0n6DpwfJAeR1Ml3UtYHqIgAwxZg3ZVXo3fX0Hx5ZXuY";

impl Login {
    pub fn from_config(c: &LoginConfig) -> Login {
        match (c.kind.as_str(), &c.header) {
            ("header", Some(h)) => Login::Header {
                header: h.user_header.clone(),
                trusted: h.trusted_proxies.clone(),
            },
            _ => Login::Local {
                users: c
                    .users
                    .iter()
                    .map(|u| (u.username.clone(), u.password_hash.clone()))
                    .collect(),
            },
        }
    }

    /// Checks a user name and password (local login). Runs the hash even for unknown users.
    pub fn check_password(&self, user: &str, password: &str) -> bool {
        match self {
            Login::Local { users } => {
                let hash = users.get(user).map_or(DUMMY_HASH, String::as_str);
                verify_password(password, hash) && users.contains_key(user)
            }
            Login::Header { .. } => false,
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
pub struct Authz {
    rules: Vec<(String, Vec<ZonePattern>)>,
}

impl Authz {
    pub fn from_config(c: &AuthzConfig) -> Authz {
        Authz {
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
        }
    }

    /// May `user` change `zone` (lower-case, no trailing dot)?
    pub fn may_edit(&self, user: &str, zone: &str) -> bool {
        self.rules
            .iter()
            .any(|(u, pats)| u == user && pats.iter().any(|p| p.matches(zone)))
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

    #[test]
    fn static_authz() {
        let c = AuthzConfig {
            kind: "static".into(),
            rules: vec![crate::config::AuthzRule {
                user: "alice".into(),
                zones: vec!["example.com".into(), "*.shop.example".into()],
            }],
        };
        let a = Authz::from_config(&c);
        assert!(a.may_edit("alice", "example.com"));
        assert!(a.may_edit("alice", "x.shop.example"));
        assert!(!a.may_edit("alice", "example.org"));
        assert!(!a.may_edit("bob", "example.com"));
    }
}
