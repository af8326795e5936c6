//! `dc-gateway plan-batch`: many plans in one process (JSON lines in, JSON lines out).
//!
//! Each input line is one job:
//!
//! ```json
//! {"id": "j1", "template": {...} | "template_file": "path", "domain": "example.com",
//!  "host": "", "params": {"ip": "192.0.2.1"}, "groups": ["g1"],
//!  "zone": [{"name": "example.com.", "type": "A", "ttl": 3600, "data": "192.0.2.9"}]
//!        | "zone_text": "<master file>", "force": false}
//! ```
//!
//! Optional fields: `instance_id` (default `batch`), `instances` (existing template instances,
//! as the store keeps them), `min_ttl`, `apex_alias` and `redirect_records` (see
//! [`EngineConfig`]), `validate` (run the template linter first; a template with an error is
//! refused as `invalid template`). Unknown fields are refused, so a misspelt option is never
//! ignored silently.
//!
//! Each job gives one output line, in input order: `{"id", "ok": true, "plan": {...}}`, or
//! `{"id", "ok": false, "category", "error", "line"}`. Without `force`, a plan that removes
//! existing records is an error of category `conflict` (the line carries the plan as well).
//! Blank lines are skipped. A line that is not a JSON job gives an error line naming its
//! line number; nothing panics on bad input.
//!
//! At the end one summary line goes to standard error; its engine time counts only the
//! [`engine::plan`] calls (parsing, zone indexing and output are not included), so it is the
//! engine's throughput. Exit status: 0 when every line was processed (whatever the jobs'
//! outcomes), 2 when the job file cannot be read or the output cannot be written.

use std::collections::HashMap;
use std::fs;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::{Value, json};

use crate::adapter::Record;
use crate::engine::{
    self, ApplyRequest, EngineConfig, Instance, Params, RedirectTarget, Template, Zone, names,
};

#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// A file of JSON lines, one job per line (`-` for standard input).
    pub jobs: PathBuf,
}

/// One job, as read from a line.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Job {
    /// Echoed from the raw line (so it is known even when the job does not parse).
    #[serde(default, rename = "id")]
    _id: Value,
    #[serde(default)]
    template: Option<Value>,
    #[serde(default)]
    template_file: Option<PathBuf>,
    domain: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    params: serde_json::Map<String, Value>,
    #[serde(default)]
    groups: Option<Vec<String>>,
    #[serde(default)]
    zone: Option<Vec<Record>>,
    #[serde(default)]
    zone_text: Option<String>,
    #[serde(default)]
    force: bool,
    #[serde(default)]
    instance_id: Option<String>,
    #[serde(default)]
    instances: Vec<Instance>,
    #[serde(default)]
    min_ttl: Option<u32>,
    #[serde(default)]
    apex_alias: Option<String>,
    #[serde(default)]
    redirect_records: Vec<RedirectTarget>,
    #[serde(default)]
    validate: bool,
}

/// Why a job produced no plan.
struct JobError {
    category: &'static str,
    message: String,
    /// A plan that exists but was refused (conflicts without `force`).
    plan: Option<Value>,
}

fn job_error(category: &'static str, message: impl Into<String>) -> JobError {
    JobError {
        category,
        message: message.into(),
        plan: None,
    }
}

/// Counters for the summary line.
#[derive(Default)]
struct Stats {
    jobs: u64,
    ok: u64,
    errors: u64,
    engine_calls: u64,
    engine_time: Duration,
}

/// Templates read from `template_file`, by path (a batch often applies one file many times).
type TemplateCache = HashMap<PathBuf, Result<Template, String>>;

pub fn run(args: &BatchArgs) -> ExitCode {
    let input: Box<dyn Read> = if args.jobs.as_os_str() == "-" {
        Box::new(io::stdin().lock())
    } else {
        match fs::File::open(&args.jobs) {
            Ok(f) => Box::new(f),
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", args.jobs.display());
                return ExitCode::from(2);
            }
        }
    };
    let stdout = io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    let result = process(BufReader::new(input), &mut out).and_then(|stats| {
        out.flush()?;
        Ok(stats)
    });
    match result {
        Ok(stats) => {
            eprintln!("{}", summary(&stats));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: plan-batch: {e}");
            ExitCode::from(2)
        }
    }
}

fn summary(s: &Stats) -> String {
    let total_us = s.engine_time.as_secs_f64() * 1e6;
    let per_job = if s.engine_calls == 0 {
        0.0
    } else {
        total_us / s.engine_calls as f64
    };
    format!(
        "plan-batch: {} jobs, {} ok, {} errors, engine time {total_us:.1} µs total, {per_job:.3} µs/job",
        s.jobs, s.ok, s.errors
    )
}

/// Runs every job of `input`, writing one line per job to `out`.
fn process(mut input: impl BufRead, out: &mut impl Write) -> io::Result<Stats> {
    let mut stats = Stats::default();
    let mut cache = TemplateCache::new();
    let mut buf = Vec::new();
    let mut line_no = 0usize;
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        line_no += 1;
        let line = match std::str::from_utf8(&buf) {
            Ok(l) => l,
            Err(e) => {
                stats.jobs += 1;
                stats.errors += 1;
                let err = job_error("invalid job", format!("line {line_no}: not UTF-8: {e}"));
                write_line(out, &error_line(&Value::Null, line_no, err))?;
                continue;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        stats.jobs += 1;
        let (id, result) = match serde_json::from_str::<Value>(line) {
            Err(e) => (
                Value::Null,
                Err(job_error(
                    "invalid job",
                    format!("line {line_no}: invalid JSON: {e}"),
                )),
            ),
            Ok(v) => {
                let id = v.get("id").cloned().unwrap_or(Value::Null);
                let result = match serde_json::from_value::<Job>(v) {
                    Ok(job) => run_job(&job, &mut cache, &mut stats),
                    Err(e) => Err(job_error("invalid job", format!("line {line_no}: {e}"))),
                };
                (id, result)
            }
        };
        let value = match result {
            Ok(plan) => {
                stats.ok += 1;
                json!({"id": id, "ok": true, "plan": plan})
            }
            Err(e) => {
                stats.errors += 1;
                error_line(&id, line_no, e)
            }
        };
        write_line(out, &value)?;
    }
    Ok(stats)
}

fn error_line(id: &Value, line_no: usize, e: JobError) -> Value {
    let mut v = json!({
        "id": id,
        "ok": false,
        "category": e.category,
        "error": e.message,
        "line": line_no,
    });
    if let (Some(plan), Some(obj)) = (e.plan, v.as_object_mut()) {
        obj.insert("plan".into(), plan);
    }
    v
}

fn write_line(out: &mut impl Write, v: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *out, v).map_err(io::Error::other)?;
    out.write_all(b"\n")
}

fn load_template(job: &Job, cache: &mut TemplateCache) -> Result<Template, JobError> {
    match (&job.template, &job.template_file) {
        (Some(v), None) => serde_json::from_value::<Template>(v.clone())
            .map_err(|e| job_error("invalid template", format!("template: {e}"))),
        (None, Some(path)) => cache
            .entry(path.clone())
            .or_insert_with(|| read_template(path))
            .clone()
            .map_err(|e| job_error("invalid template", e)),
        (Some(_), Some(_)) => Err(job_error(
            "invalid job",
            "give either \"template\" or \"template_file\", not both",
        )),
        (None, None) => Err(job_error(
            "invalid job",
            "missing \"template\" or \"template_file\"",
        )),
    }
}

fn read_template(path: &Path) -> Result<Template, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str::<Template>(&text).map_err(|e| format!("{}: {e}", path.display()))
}

fn param_value(name: &str, v: &Value) -> Result<String, JobError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(job_error(
            "invalid job",
            format!("params.{name}: must be a string (or a number)"),
        )),
    }
}

/// Parses, builds and plans one job; only the `engine::plan` call is timed.
fn run_job(job: &Job, cache: &mut TemplateCache, stats: &mut Stats) -> Result<Value, JobError> {
    let template = load_template(job, cache)?;
    if job.validate {
        let errors: Vec<String> = engine::validate::validate(&template)
            .into_iter()
            .filter(|f| f.is_error())
            .map(|f| f.to_string())
            .collect();
        if let Some(first) = errors.first() {
            return Err(job_error(
                "invalid template",
                format!("{first} ({} error(s))", errors.len()),
            ));
        }
    }
    let mut params = Params::new();
    for (k, v) in &job.params {
        params.insert(k.clone(), param_value(k, v)?);
    }
    let domain = names::normalize_domain(&job.domain).map_err(|e| job_error("invalid request", e))?;
    let apex = format!("{domain}.");
    let records: Vec<Record> = match (&job.zone, &job.zone_text) {
        (Some(_), Some(_)) => {
            return Err(job_error(
                "invalid job",
                "give either \"zone\" or \"zone_text\", not both",
            ));
        }
        (Some(z), None) => z.clone(),
        (None, Some(text)) => dcgw_zonefile::master::parse(text, &apex)
            .map_err(|e| job_error("invalid job", format!("zone_text line {}: {}", e.line, e.message)))?,
        (None, None) => Vec::new(),
    };
    let zone = Zone::new(&domain, records);
    let cfg = EngineConfig {
        min_ttl: job.min_ttl.unwrap_or(EngineConfig::default().min_ttl),
        apex_alias: job.apex_alias.as_ref().map(|a| a.trim().to_ascii_uppercase()),
        redirect_records: job.redirect_records.clone(),
        ..EngineConfig::default()
    };
    let req = ApplyRequest {
        template: &template,
        domain: &job.domain,
        host: &job.host,
        params: &params,
        group_ids: job.groups.as_deref(),
        instance_id: job.instance_id.as_deref().unwrap_or("batch"),
    };
    let started = Instant::now();
    let result = engine::plan(&req, &zone, &job.instances, &cfg);
    stats.engine_time += started.elapsed();
    stats.engine_calls += 1;
    let plan = result.map_err(|e| job_error(e.category(), e.to_string()))?;
    let value = serde_json::to_value(&plan)
        .map_err(|e| job_error("internal", format!("cannot encode the plan: {e}")))?;
    if !job.force
        && let Some(c) = plan.conflicts.first()
    {
        return Err(JobError {
            category: "conflict",
            message: format!(
                "{} existing record(s) would be removed, first {} {} {} (rule {:?}, template record {}); \
                 set \"force\": true to apply anyway",
                plan.conflicts.len(),
                c.record.name,
                c.record.rtype,
                c.record.data,
                c.rule,
                c.caused_by
            ),
            plan: Some(value),
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_lines(input: &str) -> (Vec<Value>, Stats) {
        let mut out = Vec::new();
        let stats = process(input.as_bytes(), &mut out).expect("process");
        let lines = String::from_utf8(out)
            .expect("utf8")
            .lines()
            .map(|l| serde_json::from_str(l).expect("json line"))
            .collect();
        (lines, stats)
    }

    const TEMPLATE: &str = r#"{"providerId":"p","providerName":"P","serviceId":"s","serviceName":"S",
        "records":[{"type":"A","host":"@","pointsTo":"%ip%","ttl":600}]}"#;

    #[test]
    fn one_job_per_line_and_errors_name_the_line() {
        let t: Value = serde_json::from_str(TEMPLATE).expect("template");
        let good = json!({"id": "a", "template": t, "domain": "Example.COM", "params": {"ip": "192.0.2.1"},
            "zone": [{"name": "example.com.", "type": "A", "ttl": 300, "data": "192.0.2.9"}], "force": true});
        let conflict = json!({"id": 7, "template": t, "domain": "example.com", "params": {"ip": "192.0.2.1"},
            "zone": [{"name": "example.com.", "type": "A", "ttl": 300, "data": "192.0.2.9"}]});
        let missing = json!({"id": "m", "template": t, "domain": "example.com"});
        let unknown = json!({"id": "u", "template": t, "domain": "example.com", "grups": []});
        let input = format!("{good}\n\n{{not json\n{conflict}\n{missing}\n{unknown}\n");
        let (lines, stats) = run_lines(&input);
        assert_eq!(lines.len(), 5);
        assert_eq!(
            (stats.jobs, stats.ok, stats.errors, stats.engine_calls),
            (5, 1, 4, 3)
        );
        assert_eq!(lines[0]["ok"], json!(true));
        assert_eq!(lines[0]["plan"]["adds"][0]["data"], json!("192.0.2.1"));
        assert_eq!(lines[1]["ok"], json!(false));
        assert_eq!(lines[1]["category"], json!("invalid job"));
        assert!(
            lines[1]["error"]
                .as_str()
                .is_some_and(|e| e.starts_with("line 3:"))
        );
        assert_eq!(lines[2]["id"], json!(7));
        assert_eq!(lines[2]["category"], json!("conflict"));
        assert!(lines[2]["plan"].is_object());
        assert_eq!(lines[3]["category"], json!("missing variable"));
        assert_eq!(lines[4]["category"], json!("invalid job"));
        assert!(summary(&stats).starts_with("plan-batch: 5 jobs, 1 ok, 4 errors, engine time "));
    }

    #[test]
    fn zone_text_and_bad_bytes() {
        let t: Value = serde_json::from_str(TEMPLATE).expect("template");
        let job = json!({"id": "z", "template": t, "domain": "example.com", "params": {"ip": "192.0.2.1"},
            "zone_text": "@ 300 IN A 192.0.2.9\nwww 300 IN CNAME example.com.\n", "force": true});
        let mut input = format!("{job}\n").into_bytes();
        input.extend_from_slice(b"\xff\xfe\n[1,2]\n");
        let mut out = Vec::new();
        let stats = process(input.as_slice(), &mut out).expect("process");
        let text = String::from_utf8(out).expect("utf8");
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(stats.jobs, 3);
        assert_eq!(lines[0]["ok"], json!(true));
        assert_eq!(lines[0]["plan"]["deletes"][0]["data"], json!("192.0.2.9"));
        assert!(lines[1]["error"].as_str().is_some_and(|e| e.contains("line 2")));
        assert_eq!(lines[2]["category"], json!("invalid job"));
    }
}
