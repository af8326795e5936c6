use std::process::ExitCode;

use clap::{Parser, Subcommand};
use dc_gateway::cli;

// The engine allocates many small strings per plan; mimalloc makes a plan about a third faster
// than glibc's allocator (benches/engine.rs measures with the same allocator).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// dc-gateway: a Domain Connect gateway in front of your DNS.
#[derive(Debug, Parser)]
#[command(name = "dc-gateway", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway (on its embedded default without a config file).
    Serve(cli::serve::ServeArgs),
    /// Print an argon2id hash of a password read from standard input, for [[login.users]].
    Passwd(cli::serve::PasswdArgs),
    /// Check a configuration file (layered over the embedded default, with the environment)
    /// without starting: exit 0 when `serve` would accept it, else one line naming the fault.
    CheckConfig(cli::serve::CheckConfigArgs),
    /// Apply a template to a zone file offline and print the result (nothing is written).
    Plan(cli::plan::PlanArgs),
    /// Run many plans in one process: JSON lines in, JSON lines out (for comparisons and
    /// throughput measurements).
    PlanBatch(cli::batch::BatchArgs),
    /// OAuth clients (Service Providers) for the asynchronous flow.
    Clients(cli::clients::ClientsArgs),
    /// Read the audit log (applies, reverts, consents), newest first.
    Audit(cli::audit::AuditArgs),
    /// Check a deployment's discovery chain (_domainconnect TXT, settings over HTTPS).
    Doctor(cli::doctor::DoctorArgs),
    /// Signing keys for Domain Connect requests (for Service Providers).
    Keys {
        #[command(subcommand)]
        command: cli::keys::KeysCommand,
    },
    /// Build a signed synchronous apply URL (what a Service Provider sends).
    Sign(cli::keys::SignArgs),
    /// Work with a directory of Domain Connect templates.
    Templates {
        #[command(subcommand)]
        command: cli::templates::TemplatesCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => cli::serve::run(&args),
        Command::Passwd(args) => cli::serve::passwd(&args),
        Command::CheckConfig(args) => cli::serve::check_config(&args),
        Command::Plan(args) => cli::plan::run(&args),
        Command::Doctor(args) => cli::doctor::run(&args),
        Command::Audit(args) => cli::audit::run(&args),
        Command::Clients(args) => cli::clients::run(&args),
        Command::PlanBatch(args) => cli::batch::run(&args),
        Command::Templates { command } => cli::templates::run(&command),
        Command::Keys { command } => cli::keys::run_keys(&command),
        Command::Sign(args) => cli::keys::run_sign(&args),
    }
}
