//! `dc-gateway templates ...`

use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;

use crate::engine::validate::Severity;
use crate::templates::{self, LintReport, TemplateStore};

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Check every template in a directory and print each finding per file.
    ///
    /// Prints `path: error|warning: record N, field F: message [rule]` for every finding
    /// (records are counted from 0), then a summary line. Exit status: 0 when no file has an
    /// error, 1 when some file has one (such templates are not served), 2 when the
    /// directory cannot be read.
    Lint {
        /// Directory of `providerId.serviceId.json` files (or one template file).
        dir: PathBuf,
        /// Print errors only (warnings still count in the summary).
        #[arg(long)]
        errors_only: bool,
    },
    /// Print one template of a directory as canonical JSON (as the gateway reads it).
    Show {
        /// Directory of `providerId.serviceId.json` files.
        dir: PathBuf,
        /// `providerId/serviceId` (case-insensitive).
        id: String,
    },
}

pub fn run(cmd: &TemplatesCommand) -> ExitCode {
    match cmd {
        TemplatesCommand::Lint { dir, errors_only } => lint(dir, *errors_only),
        TemplatesCommand::Show { dir, id } => show(dir, id),
    }
}

fn lint(path: &Path, errors_only: bool) -> ExitCode {
    let report = if path.is_file() {
        LintReport {
            files: vec![templates::load_file(path)],
        }
    } else {
        match TemplateStore::lint_dir(path) {
            Ok((_, report)) => report,
            Err(e) => {
                eprintln!(
                    "dc-gateway: cannot read template directory {}: {e}",
                    path.display()
                );
                return ExitCode::from(2);
            }
        }
    };
    let mut out = io::stdout().lock();
    // A closed stdout (`| head`) is not an error worth a panic.
    let _ = print_report(&mut out, &report, errors_only);
    if report.has_errors() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_report(out: &mut impl Write, report: &LintReport, errors_only: bool) -> io::Result<()> {
    for p in report.problems() {
        if errors_only && p.finding.severity != Severity::Error {
            continue;
        }
        writeln!(out, "{p}")?;
    }
    writeln!(out, "{}", report.summary())?;
    out.flush()
}

fn show(dir: &Path, id: &str) -> ExitCode {
    let Some((provider, service)) = id.split_once('/') else {
        eprintln!("dc-gateway: expected providerId/serviceId, got {id:?}");
        return ExitCode::from(2);
    };
    let (store, report) = match TemplateStore::lint_dir(dir) {
        Ok(x) => x,
        Err(e) => {
            eprintln!(
                "dc-gateway: cannot read template directory {}: {e}",
                dir.display()
            );
            return ExitCode::from(2);
        }
    };
    let Some(t) = store.get(provider, service) else {
        // Say why when the file exists but is not served.
        let lower = id.replace('/', ".").to_ascii_lowercase();
        let file = report.files.iter().find(|f| {
            f.template
                .as_ref()
                .is_some_and(|t| format!("{}.{}", t.provider_id, t.service_id).to_ascii_lowercase() == lower)
        });
        match file {
            Some(f) => {
                eprintln!("dc-gateway: {id} is not served because of errors:");
                for p in f.findings.iter().filter(|x| x.is_error()) {
                    eprintln!("{}: error: {p}", f.path.display());
                }
            }
            None => eprintln!("dc-gateway: no template {id} in {}", dir.display()),
        }
        return ExitCode::from(1);
    };
    match serde_json::to_string_pretty(t.as_ref()) {
        Ok(json) => {
            let _ = writeln!(io::stdout().lock(), "{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("dc-gateway: cannot print {id}: {e}");
            ExitCode::from(2)
        }
    }
}
