//! The directory of templates this deployment serves.
//!
//! A template directory holds `providerId.serviceId.json` files (other files are ignored).
//! Every file is read (at most [`MAX_FILE_SIZE`] bytes), parsed and checked with
//! [`validate`]; a file with an error is reported and **not served**. Lookups are
//! case-insensitive on (providerId, serviceId) (SPEC.md §10.18); the [`Template`] keeps its
//! canonical spelling. Loading never panics, whatever the files hold.

use std::collections::BTreeMap;
use std::fmt;
use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::engine::template::Template;
use crate::engine::validate::{Finding, validate};

/// Files larger than this are refused (the largest registry template is a few KiB).
pub const MAX_FILE_SIZE: u64 = 1024 * 1024;

/// The templates served, keyed by lower-cased (providerId, serviceId).
#[derive(Debug, Clone, Default)]
pub struct TemplateStore {
    by_key: BTreeMap<(String, String), Arc<Template>>,
}

impl TemplateStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads every `*.json` file of `dir` (not recursively), in file-name order. Files with
    /// errors are left out of the store; every finding (errors and warnings) comes back as
    /// a [`LoadProblem`]. Fails only when the directory itself cannot be listed.
    pub fn load_dir(dir: &Path) -> io::Result<(TemplateStore, Vec<LoadProblem>)> {
        let (store, report) = Self::lint_dir(dir)?;
        Ok((store, report.problems()))
    }

    /// Like [`TemplateStore::load_dir`], with the per-file results.
    pub fn lint_dir(dir: &Path) -> io::Result<(TemplateStore, LintReport)> {
        let mut paths = Vec::new();
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || !name.to_ascii_lowercase().ends_with(".json") {
                continue;
            }
            let path = entry.path();
            // Follow symlinks; skip directories, FIFOs and the like (a broken link is kept, to
            // be reported as unreadable).
            if fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
                continue;
            }
            paths.push(path);
        }
        paths.sort();
        let mut store = TemplateStore::new();
        // lower-cased key -> file that holds it
        let mut owners: BTreeMap<(String, String), PathBuf> = BTreeMap::new();
        let mut files = Vec::with_capacity(paths.len());
        for path in paths {
            let mut report = load_file(&path);
            if let Some(t) = &report.template {
                let key = key_of(&t.provider_id, &t.service_id);
                if let Some(first) = owners.get(&key) {
                    report.findings.push(Finding::error(
                        None,
                        "serviceId",
                        "duplicate-template",
                        format!(
                            "{}/{} is already defined by {} (ids are compared case-insensitively)",
                            t.provider_id,
                            t.service_id,
                            first.display()
                        ),
                    ));
                } else if !report.has_errors() {
                    owners.insert(key.clone(), path.clone());
                }
                if !report.has_errors() {
                    store.by_key.insert(key, Arc::clone(t));
                }
            }
            files.push(report);
        }
        Ok((store, LintReport { files }))
    }

    /// Adds a template (replacing one with the same ids); no validation.
    pub fn insert(&mut self, t: Template) -> Option<Arc<Template>> {
        self.by_key
            .insert(key_of(&t.provider_id, &t.service_id), Arc::new(t))
    }

    /// The template with these ids, compared case-insensitively.
    pub fn get(&self, provider_id: &str, service_id: &str) -> Option<&Arc<Template>> {
        self.by_key.get(&key_of(provider_id, service_id))
    }

    /// The templates of one provider (case-insensitive), ordered by lower-cased serviceId.
    pub fn by_provider<'a>(&'a self, provider_id: &str) -> impl Iterator<Item = &'a Arc<Template>> + 'a {
        let p = provider_id.to_ascii_lowercase();
        self.by_key
            .range((p.clone(), String::new())..)
            .take_while(move |((kp, _), _)| *kp == p)
            .map(|(_, t)| t)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Every template, ordered by lower-cased (providerId, serviceId).
    pub fn iter(&self) -> impl Iterator<Item = &Arc<Template>> {
        self.by_key.values()
    }
}

fn key_of(provider_id: &str, service_id: &str) -> (String, String) {
    (provider_id.to_ascii_lowercase(), service_id.to_ascii_lowercase())
}

/// The result of loading one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub path: PathBuf,
    /// The parsed template, when the file parsed (served only if there is no error).
    pub template: Option<Arc<Template>>,
    /// Every finding, template-level first, then by record.
    pub findings: Vec<Finding>,
}

/// How a file fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileStatus {
    Ok,
    Warnings,
    Errors,
}

impl FileReport {
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(Finding::is_error)
    }

    pub fn status(&self) -> FileStatus {
        if self.has_errors() {
            FileStatus::Errors
        } else if self.findings.is_empty() {
            FileStatus::Ok
        } else {
            FileStatus::Warnings
        }
    }

    /// The template, if it is fit to serve (parsed, no errors).
    pub fn servable(&self) -> Option<&Arc<Template>> {
        if self.has_errors() {
            None
        } else {
            self.template.as_ref()
        }
    }
}

/// One finding in one file: `path: severity: finding`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadProblem {
    pub path: PathBuf,
    pub finding: Finding,
}

impl fmt::Display for LoadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}: {}",
            self.path.display(),
            self.finding.severity,
            self.finding
        )
    }
}

/// The results of loading a directory, one entry per file, in file-name order.
#[derive(Debug, Clone, Default)]
pub struct LintReport {
    pub files: Vec<FileReport>,
}

impl LintReport {
    pub fn count(&self, status: FileStatus) -> usize {
        self.files.iter().filter(|f| f.status() == status).count()
    }

    pub fn has_errors(&self) -> bool {
        self.files.iter().any(FileReport::has_errors)
    }

    /// Every finding of every file.
    pub fn problems(&self) -> Vec<LoadProblem> {
        self.files
            .iter()
            .flat_map(|f| {
                f.findings.iter().map(|x| LoadProblem {
                    path: f.path.clone(),
                    finding: x.clone(),
                })
            })
            .collect()
    }

    /// `N files, N ok, N with warnings, N with errors`
    pub fn summary(&self) -> String {
        format!(
            "{} files, {} ok, {} with warnings, {} with errors",
            self.files.len(),
            self.count(FileStatus::Ok),
            self.count(FileStatus::Warnings),
            self.count(FileStatus::Errors)
        )
    }
}

/// Loads and checks one template file; every problem (unreadable, too large, not UTF-8, not
/// JSON, wrong shape, wrong file name, validation) becomes a finding.
pub fn load_file(path: &Path) -> FileReport {
    let mut report = FileReport {
        path: path.to_path_buf(),
        template: None,
        findings: Vec::new(),
    };
    let text = match read_text(path, &mut report.findings) {
        Ok(t) => t,
        Err(f) => {
            report.findings.push(f);
            return report;
        }
    };
    match parse(&text) {
        Ok((template, mut findings)) => {
            findings.extend(validate(&template));
            if let Some(f) = check_file_name(path, &template) {
                findings.insert(0, f);
            }
            report.findings.append(&mut findings);
            report.template = Some(Arc::new(template));
        }
        Err(f) => report.findings.push(f),
    }
    sort_findings(&mut report.findings);
    report
}

/// Template-level findings first, then by record; the order within each is kept.
fn sort_findings(findings: &mut [Finding]) {
    findings.sort_by_key(|f| f.record.map_or(0, |r| r + 1));
}

fn read_text(path: &Path, findings: &mut Vec<Finding>) -> Result<String, Finding> {
    let read_err = |e: io::Error| Finding::error(None, "", "file-read", format!("cannot read the file: {e}"));
    // Never open a FIFO or device: that could block or never end.
    if fs::metadata(path).is_ok_and(|m| !m.is_file()) {
        return Err(Finding::error(None, "", "file-read", "not a regular file".into()));
    }
    let file = fs::File::open(path).map_err(read_err)?;
    let too_large = |n: &str| {
        Finding::error(
            None,
            "",
            "file-too-large",
            format!("the file is {n} bytes long; templates are limited to {MAX_FILE_SIZE} bytes"),
        )
    };
    if let Ok(m) = file.metadata()
        && m.len() > MAX_FILE_SIZE
    {
        return Err(too_large(&m.len().to_string()));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_SIZE + 1)
        .read_to_end(&mut bytes)
        .map_err(read_err)?;
    if bytes.len() as u64 > MAX_FILE_SIZE {
        return Err(too_large("more than"));
    }
    let mut slice = bytes.as_slice();
    if let Some(rest) = slice.strip_prefix(b"\xEF\xBB\xBF") {
        slice = rest;
        findings.push(Finding::warning(
            None,
            "",
            "utf8-bom",
            "the file starts with a UTF-8 byte-order mark (ignored)".into(),
        ));
    }
    match std::str::from_utf8(slice) {
        Ok(s) => Ok(s.to_string()),
        Err(e) => {
            let at = e.valid_up_to();
            let line = slice[..at].iter().filter(|&&b| b == b'\n').count() + 1;
            Err(Finding::error(
                None,
                "",
                "not-utf8",
                format!(
                    "the file is not UTF-8: invalid byte 0x{:02x} at offset {at} (line {line})",
                    slice[at]
                ),
            ))
        }
    }
}

/// Parses a template; the findings are about unknown keys.
fn parse(text: &str) -> Result<(Template, Vec<Finding>), Finding> {
    let json_err = |rule: &'static str, e: serde_json::Error| {
        let (line, column) = (e.line(), e.column());
        let msg = e.to_string();
        let msg = msg
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&msg);
        Finding::error(None, "", rule, format!("line {line}, column {column}: {msg}"))
    };
    let value: Value = serde_json::from_str(text).map_err(|e| json_err("json-syntax", e))?;
    let Some(obj) = value.as_object() else {
        let what = match value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        };
        return Err(Finding::error(
            None,
            "",
            "not-an-object",
            format!("the file holds {what}, not a template object"),
        ));
    };
    let template: Template = serde_json::from_str(text).map_err(|e| json_err("json-structure", e))?;
    let mut findings = Vec::new();
    for key in obj.keys().filter(|k| !TEMPLATE_KEYS.contains(&k.as_str())) {
        findings.push(Finding::warning(
            None,
            "",
            "unknown-field",
            format!("unknown key {key:?} (ignored)"),
        ));
    }
    if let Some(Value::Array(records)) = obj.get("records") {
        for (i, r) in records.iter().enumerate() {
            let Some(r) = r.as_object() else { continue };
            for key in r.keys().filter(|k| !RECORD_KEYS.contains(&k.as_str())) {
                findings.push(Finding::warning(
                    Some(i),
                    "",
                    "unknown-field",
                    format!("unknown key {key:?} (ignored)"),
                ));
            }
        }
    }
    Ok((template, findings))
}

const TEMPLATE_KEYS: &[&str] = &[
    "providerId",
    "providerName",
    "serviceId",
    "serviceName",
    "version",
    "logoUrl",
    "description",
    "variableDescription",
    "syncBlock",
    "shared",
    "sharedProviderName",
    "sharedServiceName",
    "syncPubKeyDomain",
    "syncRedirectDomain",
    "multiInstance",
    "warnPhishing",
    "hostRequired",
    "records",
];

const RECORD_KEYS: &[&str] = &[
    "type",
    "groupId",
    "essential",
    "host",
    "name",
    "pointsTo",
    "ttl",
    "data",
    "txtConflictMatchingMode",
    "txtConflictMatchingPrefix",
    "priority",
    "weight",
    "port",
    "protocol",
    "service",
    "target",
    "spfRules",
];

/// The file must be named `providerId.serviceId.json` (case-insensitively).
fn check_file_name(path: &Path, t: &Template) -> Option<Finding> {
    let name = path.file_name()?.to_string_lossy();
    let lower = name.to_ascii_lowercase();
    let stem = lower.strip_suffix(".json").unwrap_or(&lower);
    let expected = format!("{}.{}", t.provider_id, t.service_id);
    if stem == expected.to_ascii_lowercase() {
        return None;
    }
    Some(Finding::error(
        None,
        "",
        "file-name",
        format!(
            "the file is named {name:?} but holds providerId {:?} and serviceId {:?}; \
             it must be named {:?}",
            t.provider_id,
            t.service_id,
            format!("{}.json", expected.to_ascii_lowercase())
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"{"providerId":"Example.com","providerName":"Example","serviceId":"Web",
        "serviceName":"Web","syncPubKeyDomain":"keys.example.com",
        "records":[{"type":"A","host":"@","pointsTo":"192.0.2.1","ttl":3600}]}"#;

    fn write(dir: &Path, name: &str, body: &[u8]) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, body).expect("write");
        p
    }

    fn rules(r: &FileReport) -> Vec<&'static str> {
        r.findings.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn loads_and_looks_up_case_insensitively() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "example.com.web.json", GOOD.as_bytes());
        write(dir.path(), "README.md", b"not a template");
        fs::create_dir(dir.path().join("nested.json")).expect("mkdir");
        write(dir.path(), ".hidden.json", b"{");
        let (store, problems) = TemplateStore::load_dir(dir.path()).expect("load");
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(store.len(), 1);
        let t = store.get("EXAMPLE.COM", "web").expect("found");
        assert_eq!(
            (t.provider_id.as_str(), t.service_id.as_str()),
            ("Example.com", "Web")
        );
        assert_eq!(store.by_provider("example.COM").count(), 1);
        assert_eq!(store.by_provider("example").count(), 0);
        assert_eq!(store.iter().count(), 1);
    }

    #[test]
    fn file_problems_become_findings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        let cases: Vec<(PathBuf, &str)> = vec![
            (write(d, "a.b.json", b"{\"providerId\": "), "json-syntax"),
            (write(d, "a.c.json", b"[1,2]"), "not-an-object"),
            (write(d, "a.d.json", b"{\"providerId\": 5}"), "json-structure"),
            (write(d, "a.e.json", b"{\"a\": \"\xff\xfe\"}"), "not-utf8"),
            (write(d, "wrong.name.json", GOOD.as_bytes()), "file-name"),
            (
                write(d, "big.json", &vec![b' '; 2 * 1024 * 1024]),
                "file-too-large",
            ),
        ];
        for (path, rule) in &cases {
            let r = load_file(path);
            assert!(rules(&r).contains(rule), "{}: {:?}", path.display(), r.findings);
            assert!(r.has_errors());
        }
        let sub = d.join("sub.json");
        fs::create_dir(&sub).expect("mkdir");
        assert_eq!(rules(&load_file(&sub)), vec!["file-read"]);
        let r = load_file(&d.join("missing.json"));
        assert_eq!(rules(&r), vec!["file-read"]);
        let msg = load_file(&cases[0].0).findings[0].to_string();
        assert!(msg.starts_with("line 1, column 15: "), "{msg}");
    }

    #[test]
    fn bom_and_unknown_keys_are_warnings() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut body = b"\xEF\xBB\xBF".to_vec();
        body.extend(
            GOOD.replace("\"ttl\":3600", "\"ttl\":3600,\"pointsto\":\"x\"")
                .as_bytes(),
        );
        body = String::from_utf8_lossy(&body)
            .replace("\"records\"", "\"color\":1,\"records\"")
            .into_bytes();
        let p = write(dir.path(), "example.com.web.json", &body);
        let r = load_file(&p);
        assert_eq!(
            rules(&r),
            vec!["utf8-bom", "unknown-field", "unknown-field"],
            "{:?}",
            r.findings
        );
        assert_eq!(r.status(), FileStatus::Warnings);
        assert!(r.servable().is_some());
    }

    #[test]
    fn duplicates_and_errors_are_not_served() {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        write(d, "example.com.web.json", GOOD.as_bytes());
        write(
            d,
            "EXAMPLE.COM.WEB.json",
            GOOD.replace("Example.com", "EXAMPLE.COM").as_bytes(),
        );
        write(
            d,
            "example.com.bad.json",
            GOOD.replace("\"Web\",\n", "\"bad\",\n")
                .replace("192.0.2.1", "1.2.3")
                .as_bytes(),
        );
        let (store, report) = TemplateStore::lint_dir(d).expect("load");
        assert_eq!(report.files.len(), 3);
        assert_eq!(store.len(), 1);
        let dup = report
            .files
            .iter()
            .find(|f| f.path.ends_with("example.com.web.json"))
            .expect("file");
        assert_eq!(rules(dup), vec!["duplicate-template"]);
        assert!(
            dup.findings[0].message.contains("EXAMPLE.COM.WEB.json"),
            "{}",
            dup.findings[0]
        );
        let bad = report
            .files
            .iter()
            .find(|f| f.path.ends_with("example.com.bad.json"))
            .expect("file");
        assert!(rules(bad).contains(&"invalid-ipv4"), "{:?}", bad.findings);
        assert_eq!(report.summary(), "3 files, 1 ok, 0 with warnings, 2 with errors");
        let p = &report.problems()[0];
        assert!(p.to_string().contains(": error: "), "{p}");
    }

    #[test]
    fn deep_nesting_does_not_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let p = write(dir.path(), "deep.json", deep.as_bytes());
        assert_eq!(rules(&load_file(&p)), vec!["json-syntax"]);
    }
}
