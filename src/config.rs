//! Layered configuration: the embedded default (`config/default.toml`), then an optional
//! file, then environment variables `DCGW__SECTION__KEY`. Keys ending in `_file` name files
//! that secrets are read from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::engine::{EngineConfig, RedirectTarget};

/// The embedded default configuration.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub server: ServerConfig,
    pub provider: ProviderConfig,
    pub templates: TemplatesConfig,
    pub engine: EngineSection,
    pub dns: DnsConfig,
    #[serde(default)]
    pub backends: Vec<BackendConfig>,
    pub login: LoginConfig,
    pub authz: AuthzConfig,
    pub session: SessionConfig,
    pub database: DatabaseConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
}

/// Logs, metrics and traces. Traces are configured by the standard `OTEL_*` variables
/// (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SERVICE_NAME`, ...), not here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// `text` or `json`.
    #[serde(default = "default_log_format")]
    pub log_format: String,
    /// Serve Prometheus metrics at `http://ADDR/metrics` (a port of its own, never the
    /// public one). Unset: no metrics endpoint.
    #[serde(default)]
    pub metrics_listen: Option<SocketAddr>,
    /// One log line per request (method, path with secrets redacted, status, time).
    #[serde(default = "yes")]
    pub access_log: bool,
}

fn yes() -> bool {
    true
}

fn default_log_format() -> String {
    "text".into()
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_format: default_log_format(),
            metrics_listen: None,
            access_log: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH?mode=rwc` or `postgres://USER:PASSWORD@HOST/DB`; empty: a SQLite file
    /// `dc-gateway.db` in `server.data_dir`.
    #[serde(default)]
    pub url: String,
    /// Read the URL (it holds a password) from this file.
    #[serde(default)]
    pub url_file: Option<PathBuf>,
    /// SQLite's `synchronous` in WAL mode: `normal` (a commit is safe from a crash of the
    /// process; a power loss may take the last commits, never the database's consistency) or
    /// `full` (every commit waits for the disk).
    #[serde(default = "default_sqlite_synchronous")]
    pub sqlite_synchronous: String,
}

fn default_sqlite_synchronous() -> String {
    "normal".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub public_url: url::Url,
    #[serde(default)]
    pub sync_url: Option<url::Url>,
    #[serde(default)]
    pub async_url: Option<url::Url>,
    #[serde(default)]
    pub api_url: Option<url::Url>,
    pub data_dir: PathBuf,
    pub shutdown_timeout_secs: u64,
    pub max_query_bytes: usize,
    /// HTTP worker threads; unset: one per CPU.
    #[serde(default)]
    pub workers: Option<usize>,
    /// Serve HTTPS with this certificate chain (PEM); usually TLS ends at a proxy instead.
    #[serde(default)]
    pub tls_cert_file: Option<PathBuf>,
    /// The private key of `tls_cert_file` (PEM).
    #[serde(default)]
    pub tls_key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub control_panel_url: Option<String>,
    pub popup_width: u32,
    pub popup_height: u32,
    #[serde(default)]
    pub name_servers: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplatesConfig {
    pub dir: PathBuf,
    pub reload_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineSection {
    pub min_ttl: u32,
    pub spf_all_qualifier: String,
    #[serde(default)]
    pub redirect_records: Vec<RedirectTarget>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsConfig {
    /// "system" or "IP:PORT".
    pub resolver: String,
    pub timeout_ms: u64,
}

/// A credential from the configuration: never printed by `Debug`.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

/// One DNS backend and the zones routed to it.
///
/// `name`, `zones` and `kind` are common; the other keys belong to the kind, and a key the
/// kind does not have is refused (so a misspelt credential key fails at start).
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub name: String,
    /// Zone patterns: `example.com` (that zone), `*.example.com` (zones below it), `*` (any).
    pub zones: Vec<String>,
    pub kind: BackendKind,
}

impl<'de> Deserialize<'de> for BackendConfig {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut map: serde_json::Map<String, serde_json::Value> = Deserialize::deserialize(d)?;
        let name = match map.remove("name") {
            Some(serde_json::Value::String(n)) => n,
            Some(_) => return Err(D::Error::custom("backend `name` must be a string")),
            None => return Err(D::Error::missing_field("name")),
        };
        let zones: Vec<String> = match map.remove("zones") {
            Some(z) => serde_json::from_value(z).map_err(|e| {
                D::Error::custom(format!(
                    "backend {name:?}: `zones` must be a list of strings: {e}"
                ))
            })?,
            None => {
                return Err(D::Error::custom(format!(
                    "backend {name:?}: missing field `zones`"
                )));
            }
        };
        let kind = BackendKind::deserialize(serde_json::Value::Object(map))
            .map_err(|e| D::Error::custom(format!("backend {name:?}: {e}")))?;
        Ok(BackendConfig { name, zones, kind })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum BackendKind {
    /// A directory of master files (relative paths are below `server.data_dir`).
    Zonefile {
        dir: PathBuf,
        #[serde(default)]
        reload_command: Option<Vec<String>>,
        /// Zone files copied into `dir` when it holds no zone of that name yet.
        #[serde(default)]
        seed: Vec<PathBuf>,
    },
    /// PowerDNS Authoritative through its HTTP API.
    Powerdns {
        /// The API's base URL, e.g. `http://pdns:8081`.
        api_url: String,
        /// The API key (prefer `api_key_file`).
        #[serde(default)]
        api_key: Option<Secret>,
        /// A file holding the API key.
        #[serde(default)]
        api_key_file: Option<PathBuf>,
        /// The server id in API paths.
        #[serde(default = "default_pdns_server_id")]
        server_id: String,
        /// Timeout of each API request, in milliseconds.
        #[serde(default = "default_backend_timeout")]
        timeout_ms: u64,
    },
    /// Cloudflare DNS through the v4 API with an API token.
    Cloudflare {
        /// Default `https://api.cloudflare.com/client/v4`.
        #[serde(default = "default_cloudflare_url")]
        api_url: String,
        /// The API token (prefer `api_token_file`); it needs Zone:Read and DNS:Edit.
        #[serde(default)]
        api_token: Option<Secret>,
        #[serde(default)]
        api_token_file: Option<PathBuf>,
        #[serde(default = "default_backend_timeout")]
        timeout_ms: u64,
    },
    /// An RFC 2136 primary (BIND, Knot, PowerDNS with dnsupdate), TSIG-signed.
    Rfc2136 {
        /// The primary's address, `host:port` (resolved at start).
        server: String,
        /// The TSIG key's name as the server knows it. Without one, updates go unsigned.
        #[serde(default)]
        tsig_key_name: Option<String>,
        /// `hmac-sha256` (default), `hmac-sha384` or `hmac-sha512`.
        #[serde(default = "default_tsig_algorithm")]
        tsig_algorithm: String,
        /// The key's secret, base64 (prefer `tsig_secret_file`).
        #[serde(default)]
        tsig_secret: Option<Secret>,
        #[serde(default)]
        tsig_secret_file: Option<PathBuf>,
        /// The types the server takes in updates; default: any.
        #[serde(default)]
        record_types: Option<Vec<String>>,
        /// Read each update back and undo it when the server ignored part of it.
        #[serde(default = "yes")]
        verify_writes: bool,
        #[serde(default = "default_backend_timeout")]
        timeout_ms: u64,
    },
    /// Amazon Route 53 through the AWS SDK; credentials from the standard chain.
    Route53 {
        /// An endpoint other than AWS's (e.g. a test server).
        #[serde(default)]
        endpoint_url: Option<String>,
        #[serde(default = "default_route53_region")]
        region: String,
        /// A profile of the shared AWS config files.
        #[serde(default)]
        profile: Option<String>,
        /// A static access key instead of the chain (prefer web identity or a role).
        #[serde(default)]
        access_key_id: Option<String>,
        #[serde(default)]
        secret_access_key: Option<Secret>,
        #[serde(default)]
        secret_access_key_file: Option<PathBuf>,
        /// Serve private hosted zones too.
        #[serde(default)]
        private_zones: bool,
        /// Split change sets over Route 53's batch limits (then not atomic).
        #[serde(default)]
        split_batches: bool,
        /// Attempts per request, throttling retries included.
        #[serde(default = "default_route53_attempts")]
        max_attempts: u32,
        #[serde(default = "default_backend_timeout")]
        timeout_ms: u64,
    },
}

fn default_tsig_algorithm() -> String {
    "hmac-sha256".into()
}

fn default_route53_region() -> String {
    "us-east-1".into()
}

fn default_route53_attempts() -> u32 {
    5
}

fn default_cloudflare_url() -> String {
    "https://api.cloudflare.com/client/v4".into()
}

fn default_pdns_server_id() -> String {
    "localhost".into()
}

fn default_backend_timeout() -> u64 {
    10_000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginConfig {
    pub kind: String,
    #[serde(default)]
    pub users: Vec<LocalUser>,
    #[serde(default)]
    pub header: Option<HeaderLogin>,
    #[serde(default)]
    pub oidc: Option<OidcLogin>,
}

/// `login.kind = "oidc"`: the registrar's OpenID Provider.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcLogin {
    /// The issuer URL (its `/.well-known/openid-configuration` is fetched).
    pub issuer: String,
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
    /// A file holding the client secret (preferred over `client_secret` in production).
    #[serde(default)]
    pub client_secret_file: Option<PathBuf>,
    /// Scopes to ask for besides `openid`.
    #[serde(default = "default_oidc_scopes")]
    pub scopes: Vec<String>,
    /// The ID token claim that names the user (`sub`, `preferred_username`, `email`...).
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// An ID token claim listing the zones the user may change (for `authz.kind = "claim"`).
    #[serde(default)]
    pub zones_claim: Option<String>,
    /// Timeout of each request to the provider, in milliseconds.
    #[serde(default = "default_oidc_timeout")]
    pub timeout_ms: u64,
}

fn default_oidc_scopes() -> Vec<String> {
    vec!["openid".into(), "profile".into(), "email".into()]
}

fn default_username_claim() -> String {
    "preferred_username".into()
}

fn default_oidc_timeout() -> u64 {
    5000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalUser {
    pub username: String,
    pub password_hash: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderLogin {
    /// Header carrying the user name.
    pub user_header: String,
    /// Peer addresses the header is accepted from.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthzConfig {
    pub kind: String,
    #[serde(default)]
    pub rules: Vec<AuthzRule>,
    #[serde(default)]
    pub webhook: Option<WebhookAuthz>,
}

/// `authz.kind = "webhook"`: the registrar's API says whether a user may change a zone.
///
/// The gateway sends `POST url` with `{"user": "...", "zone": "example.com"}` (and
/// `Authorization: Bearer <token>` when a token is configured) and expects 200 with
/// `{"allowed": true|false}`. Anything else (another status, a timeout, a body that does not
/// say `allowed`) is a refusal: the check fails closed.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookAuthz {
    pub url: url::Url,
    #[serde(default)]
    pub bearer_token: Option<String>,
    #[serde(default)]
    pub bearer_token_file: Option<PathBuf>,
    /// Answers (allowed or not) are kept this long; failures are never kept.
    #[serde(default = "default_webhook_cache")]
    pub cache_secs: u64,
    #[serde(default = "default_webhook_timeout")]
    pub timeout_ms: u64,
}

fn default_webhook_cache() -> u64 {
    60
}

fn default_webhook_timeout() -> u64 {
    2000
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthzRule {
    pub user: String,
    pub zones: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    #[serde(default)]
    pub secret: String,
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    pub secure_cookies: bool,
}

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("configuration: cannot read {path}: {source}")]
    Secret { path: PathBuf, source: std::io::Error },
}

impl Config {
    /// The embedded default, then `file` (if any), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Self::load_with_env(file, true)
    }

    /// As [`Config::load`]; `env: false` ignores the environment (tests).
    pub fn load_with_env(file: Option<&Path>, env: bool) -> Result<Config, ConfigError> {
        let mut b = config::Config::builder()
            .add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml));
        if let Some(f) = file {
            b = b.add_source(
                config::File::from(f)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        if env {
            b = b.add_source(
                config::Environment::with_prefix("DCGW")
                    .prefix_separator("__")
                    .separator("__"),
            );
        }
        let mut cfg: Config = b.build()?.try_deserialize()?;
        cfg.resolve_secrets()?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Loads from a TOML string layered over the default (tests and tools).
    pub fn from_toml(overrides: &str) -> Result<Config, ConfigError> {
        Self::from_toml_layers(&[overrides])
    }

    /// Loads from TOML strings, each layered over the previous, over the default.
    pub fn from_toml_layers(layers: &[&str]) -> Result<Config, ConfigError> {
        let mut b = config::Config::builder()
            .add_source(config::File::from_str(DEFAULT_TOML, config::FileFormat::Toml));
        for l in layers {
            b = b.add_source(config::File::from_str(l, config::FileFormat::Toml));
        }
        let mut cfg: Config = b.build()?.try_deserialize()?;
        cfg.resolve_secrets()?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn resolve_secrets(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = &self.database.url_file {
            let s = std::fs::read_to_string(path).map_err(|source| ConfigError::Secret {
                path: path.clone(),
                source,
            })?;
            self.database.url = s.trim().to_string();
        }
        if let Some(path) = &self.session.secret_file {
            let s = std::fs::read_to_string(path).map_err(|source| ConfigError::Secret {
                path: path.clone(),
                source,
            })?;
            self.session.secret = s.trim().to_string();
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if !matches!(self.telemetry.log_format.as_str(), "text" | "json") {
            return bad(format!(
                "telemetry.log_format {:?} is not text or json",
                self.telemetry.log_format
            ));
        }
        if !matches!(self.engine.spf_all_qualifier.as_str(), "~" | "-" | "?" | "+") {
            return bad(format!(
                "engine.spf_all_qualifier {:?} is not one of ~ - ? +",
                self.engine.spf_all_qualifier
            ));
        }
        if !self.session.secret.is_empty() && self.session.secret.len() < 64 {
            return bad("session.secret must be at least 64 bytes".into());
        }
        for u in [
            &self.server.public_url,
            self.server.api_url.as_ref().unwrap_or(&self.server.public_url),
        ] {
            if u.query().is_some() || u.fragment().is_some() || u.host_str().is_none() {
                return bad(format!(
                    "{u} must be a base URL with a host and no query or fragment"
                ));
            }
        }
        if self.server.tls_cert_file.is_some() != self.server.tls_key_file.is_some() {
            return bad("server.tls_cert_file and server.tls_key_file go together".into());
        }
        if self.dns.resolver != "system" && self.dns.resolver.parse::<SocketAddr>().is_err() {
            return bad(format!(
                "dns.resolver {:?} is neither \"system\" nor IP:PORT",
                self.dns.resolver
            ));
        }
        if !matches!(self.login.kind.as_str(), "local" | "header" | "oidc") {
            return bad(format!(
                "login.kind {:?} is not supported (local, header, oidc)",
                self.login.kind
            ));
        }
        if self.login.kind == "header" && self.login.header.is_none() {
            return bad("login.kind = \"header\" needs a [login.header] section".into());
        }
        if self.login.kind == "oidc" {
            let Some(o) = &self.login.oidc else {
                return bad("login.kind = \"oidc\" needs a [login.oidc] section".into());
            };
            match url::Url::parse(&o.issuer) {
                Ok(u) if matches!(u.scheme(), "https" | "http") && u.query().is_none() => {}
                _ => return bad(format!("login.oidc.issuer {:?} is not an http(s) URL", o.issuer)),
            }
            if o.client_id.is_empty() {
                return bad("login.oidc.client_id is empty".into());
            }
        }
        match self.authz.kind.as_str() {
            "static" => {}
            "webhook" => {
                let Some(w) = &self.authz.webhook else {
                    return bad("authz.kind = \"webhook\" needs an [authz.webhook] section".into());
                };
                if !matches!(w.url.scheme(), "https" | "http") {
                    return bad(format!("authz.webhook.url {} is not http(s)", w.url));
                }
            }
            "claim" => {
                if self.login.kind != "oidc"
                    || self.login.oidc.as_ref().is_none_or(|o| o.zones_claim.is_none())
                {
                    return bad(
                        "authz.kind = \"claim\" needs login.kind = \"oidc\" with login.oidc.zones_claim"
                            .into(),
                    );
                }
            }
            other => {
                return bad(format!(
                    "authz.kind {other:?} is not supported (static, webhook, claim)"
                ));
            }
        }
        if !matches!(self.database.sqlite_synchronous.as_str(), "normal" | "full") {
            return bad(format!(
                "database.sqlite_synchronous must be \"normal\" or \"full\", not {:?}",
                self.database.sqlite_synchronous
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for b in &self.backends {
            if !names.insert(&b.name) {
                return bad(format!("backend name {:?} is used twice", b.name));
            }
            if b.zones.is_empty() {
                return bad(format!("backend {:?} routes no zones", b.name));
            }
        }
        Ok(())
    }

    /// The engine settings.
    pub fn engine_config(&self) -> EngineConfig {
        EngineConfig {
            min_ttl: self.engine.min_ttl,
            spf_all_qualifier: self.engine.spf_all_qualifier.chars().next().unwrap_or('~'),
            redirect_records: self.engine.redirect_records.clone(),
            ..EngineConfig::default()
        }
    }

    /// The database URL: the configured one, or a SQLite file in the data directory.
    pub fn database_url(&self) -> String {
        if self.database.url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.server.data_dir.join("dc-gateway.db").display()
            )
        } else {
            self.database.url.clone()
        }
    }

    /// A path from the configuration: relative paths are below `server.data_dir`.
    pub fn data_path(&self, p: &Path) -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.server.data_dir.join(p)
        }
    }

    fn base(&self, u: Option<&url::Url>) -> String {
        u.unwrap_or(&self.server.public_url)
            .as_str()
            .trim_end_matches('/')
            .to_string()
    }

    /// urlSyncUX.
    pub fn sync_url(&self) -> String {
        self.base(self.server.sync_url.as_ref())
    }

    /// urlAsyncUX.
    pub fn async_url(&self) -> String {
        self.base(self.server.async_url.as_ref())
    }

    /// urlAPI.
    pub fn api_url(&self) -> String {
        self.base(self.server.api_url.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_default_loads() {
        let c = Config::load_with_env(None, false).expect("default config");
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.backends.len(), 1);
        assert_eq!(c.api_url(), "http://127.0.0.1:8080");
    }

    #[test]
    fn overrides_and_validation() {
        let c = Config::from_toml("[server]\napi_url = \"https://api.example/dc/\"\n").expect("loads");
        assert_eq!(c.api_url(), "https://api.example/dc");
        assert_eq!(c.sync_url(), "http://127.0.0.1:8080");
        let err = Config::from_toml("[engine]\nspf_all_qualifier = \"x\"\n").expect_err("invalid");
        assert!(err.to_string().contains("spf_all_qualifier"));
        let err = Config::from_toml("[dns]\nresolver = \"nonsense\"\n").expect_err("invalid");
        assert!(err.to_string().contains("dns.resolver"));
    }
}

#[cfg(test)]
mod backend_tests {
    use super::*;

    fn backend(body: &str) -> Result<Config, String> {
        Config::from_toml(&format!("[[backends]]\nname = \"b\"\nzones = [\"*\"]\n{body}\n"))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn backend_keys_are_checked_per_kind() {
        let c = backend("kind = \"rfc2136\"\nserver = \"127.0.0.1:53\"\ntsig_key_name = \"k\"\ntsig_secret = \"c2VjcmV0\"")
            .expect("rfc2136");
        assert!(matches!(
            c.backends[0].kind,
            BackendKind::Rfc2136 {
                verify_writes: true,
                ..
            }
        ));
        let c = backend("kind = \"route53\"\nsplit_batches = true").expect("route53");
        assert!(matches!(
            c.backends[0].kind,
            BackendKind::Route53 {
                split_batches: true,
                max_attempts: 5,
                ..
            }
        ));
        let e = backend("kind = \"powerdns\"\napi_url = \"http://x\"\napi_kye = \"typo\"").expect_err("typo");
        assert!(e.contains("api_kye") && e.contains("backend \"b\""), "{e}");
        let e = backend("kind = \"route53\"\nsecret_acess_key = \"typo\"").expect_err("typo");
        assert!(e.contains("secret_acess_key"), "{e}");
        let c = backend("kind = \"cloudflare\"\napi_token = \"cf-token-do-not-print\"").expect("cloudflare");
        assert!(!format!("{c:?}").contains("cf-token-do-not-print"));
        let e = backend("kind = \"bind\"").expect_err("kind");
        assert!(e.contains("bind"), "{e}");
        let e = Config::from_toml("[[backends]]\nname = \"b\"\nkind = \"zonefile\"\ndir = \"z\"\n")
            .map_err(|e| e.to_string())
            .expect_err("zones");
        assert!(e.contains("zones"), "{e}");
    }
}
