//! Building the running service from its configuration.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::backends::{Backend, Router, ZonePattern};
use crate::config::{BackendKind, Config};
use crate::http::AppState;
use crate::templates::TemplateStore;

/// Builds the backends named in the configuration.
pub fn build_router(config: &Config) -> anyhow::Result<Router> {
    let mut backends = Vec::new();
    for b in &config.backends {
        let adapter: Arc<dyn dcgw_adapter::Adapter> = match &b.kind {
            BackendKind::Zonefile {
                dir,
                reload_command,
                seed,
            } => {
                let dir = config.data_path(dir);
                std::fs::create_dir_all(&dir).map_err(|e| {
                    anyhow::anyhow!("backend {}: cannot create {}: {e}", b.name, dir.display())
                })?;
                for s in seed {
                    let Some(file) = s.file_name() else { continue };
                    let target = dir.join(file);
                    if !target.exists() {
                        std::fs::copy(s, &target).map_err(|e| {
                            anyhow::anyhow!(
                                "backend {}: cannot seed {} from {}: {e}",
                                b.name,
                                target.display(),
                                s.display()
                            )
                        })?;
                    }
                }
                let options = dcgw_zonefile::ZoneFileOptions {
                    reload_command: reload_command.clone(),
                    ..Default::default()
                };
                let adapter = dcgw_zonefile::ZoneFileAdapter::new(&dir, options)
                    .map_err(|e| anyhow::anyhow!("backend {}: {}: {e}", b.name, dir.display()))?;
                Arc::new(adapter)
            }
            BackendKind::Powerdns {
                api_url,
                api_key,
                api_key_file,
                server_id,
                timeout_ms,
            } => {
                let key = secret(&b.name, "api_key", api_key.as_ref(), api_key_file.as_deref())?;
                let options = dcgw_powerdns::PowerDnsOptions {
                    api_url: api_url.clone(),
                    api_key: key,
                    server_id: server_id.clone(),
                    timeout: Duration::from_millis(*timeout_ms),
                };
                Arc::new(
                    dcgw_powerdns::PowerDnsAdapter::new(options)
                        .map_err(|e| anyhow::anyhow!("backend {}: {e}", b.name))?,
                )
            }
            BackendKind::Cloudflare {
                api_url,
                api_token,
                api_token_file,
                timeout_ms,
            } => {
                let token = secret(
                    &b.name,
                    "api_token",
                    api_token.as_ref(),
                    api_token_file.as_deref(),
                )?;
                let mut options = dcgw_cloudflare::CloudflareOptions::new(token);
                options.api_url = api_url.clone();
                options.timeout = Duration::from_millis(*timeout_ms);
                Arc::new(
                    dcgw_cloudflare::CloudflareAdapter::new(options)
                        .map_err(|e| anyhow::anyhow!("backend {}: {e}", b.name))?,
                )
            }
            BackendKind::Rfc2136 {
                server,
                tsig_key_name,
                tsig_algorithm,
                tsig_secret,
                tsig_secret_file,
                record_types,
                verify_writes,
                timeout_ms,
            } => {
                use std::net::ToSocketAddrs;
                let addr = server
                    .to_socket_addrs()
                    .map_err(|e| anyhow::anyhow!("backend {}: server {server:?}: {e}", b.name))?
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("backend {}: server {server:?} has no address", b.name))?;
                let tsig = match tsig_key_name {
                    Some(key_name) => {
                        let secret = secret(
                            &b.name,
                            "tsig_secret",
                            tsig_secret.as_ref(),
                            tsig_secret_file.as_deref(),
                        )?;
                        Some(
                            dcgw_rfc2136::TsigKey::new(tsig_algorithm, key_name, &secret)
                                .map_err(|e| anyhow::anyhow!("backend {}: {e}", b.name))?,
                        )
                    }
                    None if tsig_secret.is_some() || tsig_secret_file.is_some() => {
                        anyhow::bail!("backend {}: tsig_secret needs tsig_key_name", b.name)
                    }
                    None => None,
                };
                let mut options = dcgw_rfc2136::Rfc2136Options::new(addr, tsig);
                options.timeout = Duration::from_millis(*timeout_ms);
                options.verify_writes = *verify_writes;
                if let Some(types) = record_types {
                    options.record_types = dcgw_adapter::RecordTypes::Only(
                        types.iter().map(|t| t.trim().to_ascii_uppercase()).collect(),
                    );
                }
                Arc::new(
                    dcgw_rfc2136::Rfc2136Adapter::new(options)
                        .map_err(|e| anyhow::anyhow!("backend {}: {e}", b.name))?,
                )
            }
            BackendKind::Route53 {
                endpoint_url,
                region,
                profile,
                access_key_id,
                secret_access_key,
                secret_access_key_file,
                private_zones,
                split_batches,
                max_attempts,
                timeout_ms,
            } => {
                let static_credentials = match access_key_id {
                    Some(id) => Some((
                        id.clone(),
                        secret(
                            &b.name,
                            "secret_access_key",
                            secret_access_key.as_ref(),
                            secret_access_key_file.as_deref(),
                        )?,
                    )),
                    None if secret_access_key.is_some() || secret_access_key_file.is_some() => {
                        anyhow::bail!("backend {}: secret_access_key needs access_key_id", b.name)
                    }
                    None => None,
                };
                Arc::new(dcgw_route53::Route53Adapter::new(dcgw_route53::Route53Options {
                    endpoint_url: endpoint_url.clone(),
                    region: region.clone(),
                    profile: profile.clone(),
                    static_credentials,
                    private_zones: *private_zones,
                    split_batches: *split_batches,
                    max_attempts: *max_attempts,
                    timeout: Duration::from_millis(*timeout_ms),
                    ..dcgw_route53::Route53Options::default()
                }))
            }
        };
        backends.push(Backend {
            name: b.name.clone(),
            patterns: b.zones.iter().map(|z| ZonePattern::parse(z)).collect(),
            adapter,
        });
    }
    Ok(Router::new(backends))
}

/// A backend credential: the file's content (trimmed) when `file` is set, else the value.
fn secret(
    backend: &str,
    key: &str,
    value: Option<&crate::config::Secret>,
    file: Option<&std::path::Path>,
) -> anyhow::Result<String> {
    match (value.map(crate::config::Secret::expose), file) {
        (_, Some(f)) => std::fs::read_to_string(f)
            .map(|k| k.trim().to_string())
            .map_err(|e| anyhow::anyhow!("backend {backend}: cannot read {}: {e}", f.display())),
        (Some(v), None) => Ok(v.to_string()),
        (None, None) => anyhow::bail!("backend {backend}: {key} or {key}_file is required"),
    }
}

/// Loads the templates, logging every file that is not served.
pub fn load_templates(config: &Config) -> anyhow::Result<TemplateStore> {
    let (store, problems) = TemplateStore::load_dir(&config.templates.dir)
        .map_err(|e| anyhow::anyhow!("templates: cannot read {}: {e}", config.templates.dir.display()))?;
    for p in &problems {
        tracing::warn!(problem = %p, "template not served");
    }
    tracing::info!(count = store.len(), dir = %config.templates.dir.display(), "templates loaded");
    Ok(store)
}

/// The newest modification time below `dir` (files and the directory itself).
fn newest_mtime(dir: &std::path::Path) -> Option<SystemTime> {
    let mut newest = std::fs::metadata(dir).and_then(|m| m.modified()).ok();
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
            newest = newest.max(Some(t));
        }
    }
    newest
}

/// Reloads templates when the directory changes, without a restart.
pub fn spawn_template_reloader(state: Arc<AppState>) {
    let secs = state.config.templates.reload_secs;
    if secs == 0 {
        return;
    }
    actix_web::rt::spawn(async move {
        let dir = state.config.templates.dir.clone();
        let mut seen = newest_mtime(&dir);
        loop {
            actix_web::rt::time::sleep(Duration::from_secs(secs)).await;
            let now = newest_mtime(&dir);
            if now == seen {
                continue;
            }
            seen = now;
            match load_templates(&state.config) {
                Ok(store) => {
                    state.replace_templates(store);
                    state.metrics.template_reloads.with_label_values(&["ok"]).inc();
                }
                Err(e) => {
                    state
                        .metrics
                        .template_reloads
                        .with_label_values(&["failed"])
                        .inc();
                    tracing::error!(error = %e, "template reload failed; the previous set stays")
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds the backends of one `[[backends]]` entry; the error's text on failure.
    fn build(body: &str) -> Result<Router, String> {
        let c = Config::from_toml(&format!("[[backends]]\nname = \"b\"\nzones = [\"*\"]\n{body}\n"))
            .map_err(|e| e.to_string())?;
        build_router(&c).map_err(|e| e.to_string())
    }

    #[test]
    fn rfc2136_and_route53_backends_are_built_from_their_keys() {
        let r = build(
            "kind = \"rfc2136\"\nserver = \"127.0.0.1:5399\"\ntsig_key_name = \"k\"\ntsig_secret = \"c2VjcmV0\"\nrecord_types = [\"a\", \"TXT\"]",
        )
        .expect("rfc2136");
        let caps = r.backends()[0].adapter.capabilities();
        assert!(caps.record_types.supports("A") && caps.record_types.supports("TXT"));
        assert!(!caps.record_types.supports("TYPE65280"));
        let r = build("kind = \"route53\"\nsplit_batches = true").expect("route53");
        assert_eq!(r.backends()[0].adapter.kind(), "route53");
        assert_eq!(
            r.backends()[0].adapter.capabilities().atomicity,
            dcgw_adapter::Atomicity::PerBatch
        );
    }

    #[test]
    fn bad_backend_credentials_are_refused_at_start_with_the_reason() {
        for (body, says) in [
            (
                "kind = \"rfc2136\"\nserver = \"127.0.0.1:53\"\ntsig_secret = \"c2VjcmV0\"",
                "needs tsig_key_name",
            ),
            (
                "kind = \"rfc2136\"\nserver = \"127.0.0.1:53\"\ntsig_key_name = \"k\"",
                "tsig_secret or tsig_secret_file",
            ),
            (
                "kind = \"rfc2136\"\nserver = \"127.0.0.1:53\"\ntsig_key_name = \"k\"\ntsig_secret = \"not base64!\"",
                "not base64",
            ),
            (
                "kind = \"rfc2136\"\nserver = \"127.0.0.1:53\"\ntsig_key_name = \"k\"\ntsig_algorithm = \"hmac-md5\"\ntsig_secret = \"c2VjcmV0\"",
                "not supported",
            ),
            ("kind = \"rfc2136\"\nserver = \"no port here\"", "server"),
            (
                "kind = \"route53\"\nsecret_access_key = \"x\"",
                "needs access_key_id",
            ),
            (
                "kind = \"route53\"\naccess_key_id = \"AKID\"",
                "secret_access_key or secret_access_key_file",
            ),
            (
                "kind = \"powerdns\"\napi_url = \"http://x\"\napi_key_file = \"/nonexistent/dcgw-key\"",
                "cannot read",
            ),
        ] {
            let e = build(body).map(|_| ()).expect_err(body);
            assert!(e.contains("backend b") && e.contains(says), "{body}: {e}");
        }
        let e = Config::from_toml("[database]\nsqlite_synchronous = \"off\"\n")
            .map(|_| ())
            .map_err(|e| e.to_string())
            .expect_err("sqlite_synchronous");
        assert!(e.contains("sqlite_synchronous"), "{e}");
    }
}
