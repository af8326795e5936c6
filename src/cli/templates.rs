//! `dc-gateway templates ...`

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum TemplatesCommand {
    /// Check every template in a directory and print each finding per file.
    Lint {
        /// Directory of `providerId.serviceId.json` files.
        dir: PathBuf,
    },
}

pub fn run(cmd: &TemplatesCommand) -> ExitCode {
    match cmd {
        TemplatesCommand::Lint { dir } => {
            eprintln!("templates lint {}: not built yet", dir.display());
            ExitCode::from(2)
        }
    }
}
