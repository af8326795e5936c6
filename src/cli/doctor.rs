//! `dc-gateway doctor DOMAIN`: checks a deployment's discovery chain the way a Service
//! Provider's client walks it (the `_domainconnect` TXT record, the settings URL over HTTPS,
//! the settings answer) and says what is wrong in plain words.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::Value;

use crate::dns;

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// The zone to check (the registrable domain a Service Provider would look up).
    pub domain: String,
    /// DNS server to ask: "system" or IP:PORT.
    #[arg(long, default_value = "system")]
    pub resolver: String,
    /// Also check that this template is offered (providerId/serviceId).
    #[arg(long, value_name = "PROVIDER/SERVICE")]
    pub template: Option<String>,
    /// Seconds to wait for each answer.
    #[arg(long, default_value_t = 5)]
    pub timeout: u64,
    /// Fetch the settings over plain http (for a local gateway without TLS; real clients
    /// always use https).
    #[arg(long)]
    pub allow_http: bool,
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub ok: bool,
    /// `false` for a warning that does not break discovery.
    pub fatal: bool,
    pub message: String,
}

fn ok(m: impl Into<String>) -> Finding {
    Finding {
        ok: true,
        fatal: false,
        message: m.into(),
    }
}
fn warn(m: impl Into<String>) -> Finding {
    Finding {
        ok: false,
        fatal: false,
        message: m.into(),
    }
}
fn bad(m: impl Into<String>) -> Finding {
    Finding {
        ok: false,
        fatal: true,
        message: m.into(),
    }
}

/// Checks the `_domainconnect` TXT answer; returns the value to use, if usable.
pub fn check_txt(domain: &str, records: &[dns::Txt], out: &mut Vec<Finding>) -> Option<String> {
    let name = format!("_domainconnect.{domain}");
    let first = records.first()?;
    if records.len() > 1 {
        out.push(warn(format!(
            "{name} has {} TXT records; clients read only the first one the server returns, so keep exactly one",
            records.len()
        )));
    }
    if first.strings.len() > 1 {
        out.push(warn(format!(
            "the TXT record at {name} is split into {} strings; the Python client joins them with spaces, which breaks the URL",
            first.strings.len()
        )));
    }
    let value = String::from_utf8_lossy(&first.joined()).trim().to_string();
    if value.is_empty() {
        out.push(bad(format!(
            "the TXT record at {name} is empty; it must hold your gateway's host, e.g. dc.example.net"
        )));
        return None;
    }
    if value.contains("://") {
        out.push(bad(format!(
            "the TXT record at {name} is {value:?}: it must not contain a scheme; write only the host and optional path"
        )));
        return None;
    }
    if value.contains(char::is_whitespace) || value.contains(['?', '#']) {
        out.push(bad(format!(
            "the TXT record at {name} is {value:?}: it must be host[:port][/path] with no spaces, query or fragment"
        )));
        return None;
    }
    out.push(ok(format!("{name} TXT points at {value}")));
    Some(value.trim_end_matches('/').to_string())
}

fn check_base_url(key: &str, v: &Value, out: &mut Vec<Finding>, allow_http: bool) -> Option<url::Url> {
    let s = v.as_str()?;
    match url::Url::parse(s) {
        Ok(u) if u.query().is_some() || u.fragment().is_some() => {
            out.push(bad(format!("{key} {s:?} must not have a query or fragment")));
            None
        }
        Ok(u) if u.scheme() != "https" && !(allow_http && u.scheme() == "http") => {
            out.push(bad(format!("{key} {s:?} must be an https URL")));
            None
        }
        Ok(u) => Some(u),
        Err(e) => {
            out.push(bad(format!("{key} {s:?} is not a URL ({e})")));
            None
        }
    }
}

/// Checks a settings answer (SPEC.md §1.2); returns urlAPI when usable.
pub fn check_settings(body: &Value, out: &mut Vec<Finding>, allow_http: bool) -> Option<url::Url> {
    let Some(obj) = body.as_object() else {
        out.push(bad("the settings answer is not a JSON object"));
        return None;
    };
    for key in ["providerId", "providerName", "urlAPI"] {
        if obj.get(key).and_then(Value::as_str).is_none_or(str::is_empty) {
            out.push(bad(format!(
                "the settings answer lacks {key}, which clients require"
            )));
        }
    }
    if obj.get("urlSyncUX").is_none() {
        out.push(warn(
            "the settings answer has no urlSyncUX: the synchronous flow is not offered",
        ));
    } else if let Some(v) = obj.get("urlSyncUX") {
        check_base_url("urlSyncUX", v, out, allow_http);
    }
    if let Some(v) = obj.get("urlAsyncUX") {
        check_base_url("urlAsyncUX", v, out, allow_http);
    }
    for key in ["width", "height"] {
        if obj.get(key).is_some_and(|v| !v.is_u64()) {
            out.push(warn(format!("{key} should be a whole number of pixels")));
        }
    }
    let api = obj
        .get("urlAPI")
        .and_then(|v| check_base_url("urlAPI", v, out, allow_http));
    if api.is_some() {
        out.push(ok(format!(
            "settings name provider {} ({})",
            obj.get("providerName").and_then(Value::as_str).unwrap_or("?"),
            obj.get("providerId").and_then(Value::as_str).unwrap_or("?")
        )));
    }
    api
}

/// Walks the discovery chain; the findings in order.
pub async fn diagnose(args: &DoctorArgs) -> Vec<Finding> {
    let mut out = Vec::new();
    let domain = match crate::engine::names::normalize_domain(&args.domain) {
        Ok(d) => d,
        Err(e) => return vec![bad(format!("{:?} is not a domain name: {e}", args.domain))],
    };
    let timeout = Duration::from_secs(args.timeout.max(1));
    let resolver = match dns::resolver(&args.resolver, timeout) {
        Ok(r) => r,
        Err(e) => return vec![bad(e.to_string())],
    };
    let name = format!("_domainconnect.{domain}");
    let records = match dns::txt(&resolver, &name).await {
        Ok(r) => r,
        Err(dns::DnsError::NoRecords(_)) => {
            out.push(bad(format!(
                "there is no TXT record at {name}: publish one whose value is your gateway's host (and optional path), e.g. \"dc.example.net\""
            )));
            return out;
        }
        Err(e) => {
            out.push(bad(format!("looking up {name} failed: {e}")));
            return out;
        }
    };
    let Some(value) = check_txt(&domain, &records, &mut out) else {
        return out;
    };
    let scheme = if args.allow_http { "http" } else { "https" };
    let settings_url = format!("{scheme}://{value}/v2/{domain}/settings");
    let client = match reqwest::Client::builder().timeout(timeout).build() {
        Ok(c) => c,
        Err(e) => {
            out.push(bad(format!("cannot make an HTTP client: {e}")));
            return out;
        }
    };
    let resp = match client.get(&settings_url).send().await {
        Ok(r) => r,
        Err(e) => {
            let detail = error_chain(&e);
            let hint = if detail.to_ascii_lowercase().contains("certificate") {
                "the TLS certificate is not valid for this host (expired, self-signed or for another name); clients that check certificates will fail"
            } else if e.is_timeout() {
                "no answer in time"
            } else if e.is_connect() {
                "nothing accepts connections there (wrong host or port, or a firewall)"
            } else {
                "the request failed"
            };
            out.push(bad(format!("GET {settings_url}: {hint} ({detail})")));
            return out;
        }
    };
    let status = resp.status();
    if status.as_u16() == 404 {
        out.push(bad(format!(
            "GET {settings_url} answered 404: the gateway does not host {domain}; check the backends' zone patterns and that the zone exists"
        )));
        return out;
    }
    if status.as_u16() != 200 {
        out.push(bad(format!(
            "GET {settings_url} answered {status}; clients accept only 200 with a JSON body"
        )));
        return out;
    }
    out.push(ok(format!("GET {settings_url} answered 200")));
    let body: Value = match resp.json().await {
        Ok(v) => v,
        Err(e) => {
            out.push(bad(format!("the settings answer is not JSON ({e})")));
            return out;
        }
    };
    let Some(api) = check_settings(&body, &mut out, args.allow_http) else {
        return out;
    };
    if let Some(t) = &args.template {
        let Some((pid, sid)) = t.split_once('/') else {
            out.push(bad(format!("--template {t:?} is not providerId/serviceId")));
            return out;
        };
        let url = format!(
            "{}/v2/domainTemplates/providers/{pid}/services/{sid}",
            api.as_str().trim_end_matches('/')
        );
        match client.get(&url).send().await {
            Ok(r) if r.status().as_u16() == 200 => out.push(ok(format!("template {pid}/{sid} is offered"))),
            Ok(r) => out.push(bad(format!(
                "template {pid}/{sid} is not offered (GET {url} answered {}): onboard it, or check that every backend can write its record types",
                r.status()
            ))),
            Err(e) => out.push(bad(format!("GET {url} failed: {}", error_chain(&e)))),
        }
    }
    out
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

pub fn run(args: &DoctorArgs) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let findings = rt.block_on(diagnose(args));
    for f in &findings {
        let mark = match (f.ok, f.fatal) {
            (true, _) => "ok  ",
            (false, false) => "warn",
            (false, true) => "FAIL",
        };
        println!("{mark} {}", f.message);
    }
    if findings.iter().any(|f| f.fatal) {
        println!("discovery of {} is broken: fix the FAIL lines above", args.domain);
        ExitCode::from(1)
    } else {
        println!("discovery of {} works", args.domain);
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txt(values: &[&[&str]]) -> Vec<dns::Txt> {
        values
            .iter()
            .map(|strings| dns::Txt {
                strings: strings.iter().map(|s| s.as_bytes().to_vec()).collect(),
                ttl: 300,
            })
            .collect()
    }

    #[test]
    fn txt_values() {
        let mut out = Vec::new();
        assert_eq!(
            check_txt("example.com", &txt(&[&["dc.example.net/api/"]]), &mut out),
            Some("dc.example.net/api".into())
        );
        assert!(out.iter().all(|f| f.ok));
        let mut out = Vec::new();
        assert_eq!(
            check_txt("example.com", &txt(&[&["https://dc.example.net"]]), &mut out),
            None
        );
        assert!(out[0].fatal && out[0].message.contains("scheme"));
        let mut out = Vec::new();
        check_txt("example.com", &txt(&[&["a.example"], &["b.example"]]), &mut out);
        assert!(
            out.iter()
                .any(|f| !f.ok && !f.fatal && f.message.contains("2 TXT records"))
        );
        let mut out = Vec::new();
        check_txt("example.com", &txt(&[&["dc.", "example.net"]]), &mut out);
        assert!(out.iter().any(|f| f.message.contains("split into 2 strings")));
    }

    #[test]
    fn settings_answers() {
        let mut out = Vec::new();
        let good = serde_json::json!({"providerId": "p", "providerName": "P", "urlAPI": "https://api.example/dc", "urlSyncUX": "https://x.example"});
        assert!(check_settings(&good, &mut out, false).is_some());
        assert!(out.iter().all(|f| !f.fatal));
        let mut out = Vec::new();
        let badv = serde_json::json!({"providerName": "P", "urlAPI": "http://api.example/?q=1"});
        assert!(check_settings(&badv, &mut out, false).is_none());
        assert!(out.iter().any(|f| f.message.contains("lacks providerId")));
        assert!(out.iter().any(|f| f.message.contains("query or fragment")));
        assert!(out.iter().any(|f| f.message.contains("no urlSyncUX")));
    }
}
