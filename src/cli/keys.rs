//! `dc-gateway keys new` and `dc-gateway sign`: tools for Service Providers and operators.
use std::process::ExitCode;

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Generate an RSA key pair and print the TXT records to publish.
    New {
        /// Directory to write the key files into.
        #[arg(long, default_value = ".")]
        out: std::path::PathBuf,
    },
}

#[derive(Debug, clap::Args)]
pub struct SignArgs {
    /// The private key (PEM).
    #[arg(long)]
    pub key_file: std::path::PathBuf,
}

pub fn run_keys(_cmd: &KeysCommand) -> ExitCode {
    eprintln!("keys: not built yet");
    ExitCode::from(2)
}

pub fn run_sign(_args: &SignArgs) -> ExitCode {
    eprintln!("sign: not built yet");
    ExitCode::from(2)
}
