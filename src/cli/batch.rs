//! `dc-gateway plan-batch`: many plans in one process (JSON lines in, JSON lines out).
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct BatchArgs {
    /// A file of JSON lines, one job per line (`-` for standard input).
    pub jobs: std::path::PathBuf,
}

pub fn run(_args: &BatchArgs) -> ExitCode {
    eprintln!("plan-batch: not built yet");
    ExitCode::from(2)
}
