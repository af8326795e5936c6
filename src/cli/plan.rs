//! `dc-gateway plan`: apply a template to a master file offline and print the result.
//!
//! Nothing is written. Exit 0 on success; on error, exit 1 (2 for unusable arguments or
//! files, 3 for conflicts without `--force`) with one line on stderr naming the category.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::ValueEnum;

use crate::adapter::Record;
use crate::engine::{self, ApplyRequest, EngineConfig, Params, RedirectTarget, Template, Zone};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The resulting zone as an RFC 1035 master file.
    Zone,
    /// The plan as JSON: adds, deletes, conflicts, RRsets before and after, the instance.
    Json,
}

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// A template file, or `providerId/serviceId` looked up in --templates.
    #[arg(long)]
    pub template: String,
    /// The directory --template is looked up in when it is `providerId/serviceId`.
    #[arg(long, default_value = "templates")]
    pub templates: PathBuf,
    /// The current zone, an RFC 1035 master file.
    #[arg(long)]
    pub zone: PathBuf,
    /// The zone apex the template is applied to.
    #[arg(long)]
    pub domain: String,
    /// Sub-domain to apply the template under (empty: the apex).
    #[arg(long, default_value = "")]
    pub host: String,
    /// A variable value, `name=value` (repeatable).
    #[arg(long = "param", value_name = "NAME=VALUE")]
    pub params: Vec<String>,
    /// Apply only these groups (repeatable, or comma-separated).
    #[arg(long = "group", value_name = "ID")]
    pub groups: Vec<String>,
    #[arg(long, value_enum, default_value_t = Format::Zone)]
    pub format: Format,
    /// Apply even when existing records conflict (they are removed, as with `force=1`).
    #[arg(long)]
    pub force: bool,
    /// The instance id to record (default: "plan").
    #[arg(long, default_value = "plan")]
    pub instance_id: String,
    /// TTLs below this are raised to it.
    #[arg(long, default_value_t = 60)]
    pub min_ttl: u32,
    /// Declare that the backend holds apex aliases of this type (enables APEXCNAME).
    #[arg(long, value_name = "TYPE")]
    pub apex_alias: Option<String>,
    /// A record of the web-forwarding service, `A:ADDRESS[:TTL]` or `AAAA:ADDRESS[:TTL]`
    /// (repeatable; enables REDIR301/302).
    #[arg(long = "redirect-record", value_name = "TYPE:ADDRESS[:TTL]")]
    pub redirect_records: Vec<String>,
}

/// A failure of the command, printed as one line.
struct Failure {
    code: u8,
    line: String,
}

fn fail(code: u8, line: impl Into<String>) -> Failure {
    Failure {
        code,
        line: line.into(),
    }
}

pub fn run(args: &PlanArgs) -> ExitCode {
    match execute(args) {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(f) => {
            eprintln!("error: {}", f.line.replace('\n', " "));
            ExitCode::from(f.code)
        }
    }
}

fn load_template(args: &PlanArgs) -> Result<Template, Failure> {
    let path = Path::new(&args.template);
    if path.is_file() {
        let text = std::fs::read_to_string(path)
            .map_err(|e| fail(2, format!("cannot read template {}: {e}", path.display())))?;
        let t: Template = serde_json::from_str(&text)
            .map_err(|e| fail(1, format!("invalid template: {}: {e}", path.display())))?;
        let errors: Vec<String> = engine::validate::validate(&t)
            .into_iter()
            .filter(|f| f.severity == engine::validate::Severity::Error)
            .map(|f| f.to_string())
            .collect();
        if let Some(first) = errors.first() {
            return Err(fail(1, format!("invalid template: {}: {first}", path.display())));
        }
        return Ok(t);
    }
    let Some((pid, sid)) = args.template.split_once('/') else {
        return Err(fail(
            2,
            format!(
                "template {:?}: no such file, and not providerId/serviceId",
                args.template
            ),
        ));
    };
    let (store, _problems) = crate::templates::TemplateStore::load_dir(&args.templates).map_err(|e| {
        fail(
            2,
            format!("cannot read template directory {}: {e}", args.templates.display()),
        )
    })?;
    store.get(pid, sid).map(|t| t.as_ref().clone()).ok_or_else(|| {
        fail(
            1,
            format!(
                "invalid template: {pid}/{sid} is not a valid template in {}",
                args.templates.display()
            ),
        )
    })
}

fn parse_params(args: &PlanArgs) -> Result<Params, Failure> {
    let mut params = Params::new();
    for p in &args.params {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| fail(2, format!("--param {p:?} is not name=value")))?;
        params.insert(k.to_string(), v.to_string());
    }
    Ok(params)
}

fn parse_redirects(args: &PlanArgs) -> Result<Vec<RedirectTarget>, Failure> {
    args.redirect_records
        .iter()
        .map(|r| {
            let (rtype, rest) = r
                .split_once(':')
                .ok_or_else(|| fail(2, format!("--redirect-record {r:?} is not TYPE:ADDRESS")))?;
            // AAAA addresses hold colons: a TTL is only taken from a trailing all-digit part
            // after an address that parses without it.
            let (data, ttl) = match rest.rsplit_once(':') {
                Some((a, t))
                    if t.bytes().all(|b| b.is_ascii_digit()) && a.parse::<std::net::IpAddr>().is_ok() =>
                {
                    (a.to_string(), t.parse().unwrap_or(600))
                }
                _ => (rest.to_string(), 600),
            };
            Ok(RedirectTarget {
                rtype: rtype.to_ascii_uppercase(),
                data,
                ttl,
            })
        })
        .collect()
}

fn execute(args: &PlanArgs) -> Result<String, Failure> {
    let template = load_template(args)?;
    let params = parse_params(args)?;
    let domain = engine::names::normalize_domain(&args.domain)
        .map_err(|e| fail(1, format!("invalid request: {e}")))?;
    let text = std::fs::read_to_string(&args.zone)
        .map_err(|e| fail(2, format!("cannot read zone {}: {e}", args.zone.display())))?;
    let records: Vec<Record> = dcgw_zonefile::master::parse(&text, &format!("{domain}."))
        .map_err(|e| fail(2, format!("zone file {}: {e}", args.zone.display())))?;
    let zone = Zone::new(&domain, records);
    let groups: Vec<String> = args
        .groups
        .iter()
        .flat_map(|g| g.split(','))
        .map(|g| g.trim().to_string())
        .filter(|g| !g.is_empty())
        .collect();
    let cfg = EngineConfig {
        min_ttl: args.min_ttl,
        apex_alias: args.apex_alias.as_ref().map(|a| a.to_ascii_uppercase()),
        redirect_records: parse_redirects(args)?,
        ..EngineConfig::default()
    };
    let req = ApplyRequest {
        template: &template,
        domain: &domain,
        host: &args.host,
        params: &params,
        group_ids: (!groups.is_empty()).then_some(groups.as_slice()),
        instance_id: &args.instance_id,
    };
    let plan = engine::plan(&req, &zone, &[], &cfg).map_err(|e| fail(1, e.to_string()))?;
    if !args.force
        && let Some(c) = plan.conflicts.first()
    {
        return Err(fail(
            3,
            format!(
                "conflict: {} existing record(s) would be removed, first {} {} {} (rule {:?}, template record {}); \
                 use --force to apply anyway",
                plan.conflicts.len(),
                c.record.name,
                c.record.rtype,
                c.record.data,
                c.rule,
                c.caused_by
            ),
        ));
    }
    match args.format {
        Format::Json => serde_json::to_string_pretty(&plan)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| fail(1, format!("cannot encode the plan: {e}"))),
        Format::Zone => {
            let mut result: Vec<Record> = zone.records().to_vec();
            for d in plan.rrsets.iter().filter(|d| d.before != d.after) {
                result.retain(|r| !(r.name == d.name && r.rtype == d.rtype));
                if let Some(a) = &d.after {
                    result.extend(a.records());
                }
            }
            Ok(dcgw_zonefile::master::write(&format!("{domain}."), &result))
        }
    }
}
