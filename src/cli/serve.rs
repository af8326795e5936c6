//! `dc-gateway serve` and `dc-gateway passwd`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use crate::config::Config;
use crate::http::{self, AppState};
use crate::server;

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// A configuration file layered over the embedded default.
    #[arg(long, env = "DCGW_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long, env = "DCGW_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
}

fn init_logging(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("DCGW_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

pub fn run(args: &ServeArgs) -> ExitCode {
    init_logging(&args.log_format);
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = actix_web::rt::System::new().block_on(async move {
        let router = server::build_router(&config)?;
        let templates = server::load_templates(&config)?;
        let listener = TcpListener::bind(config.server.listen)
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.server.listen))?;
        tracing::info!(listen = %config.server.listen, public_url = %config.server.public_url, "dc-gateway serving");
        std::fs::create_dir_all(&config.server.data_dir)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", config.server.data_dir.display()))?;
        let store = crate::store::Store::open(&config.database_url()).await?;
        let state = Arc::new(AppState::new(config.clone(), router, templates, store)?);
        server::spawn_template_reloader(state.clone());
        http::serve(state, listener)?.await?;
        tracing::info!("dc-gateway stopped");
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct PasswdArgs {
    /// Read the password from this file instead of standard input.
    #[arg(long)]
    pub password_file: Option<PathBuf>,
}

/// Prints an argon2id hash of a password read from standard input (or a file), for
/// `[[login.users]]`.
pub fn passwd(args: &PasswdArgs) -> ExitCode {
    let password = match &args.password_file {
        Some(f) => std::fs::read_to_string(f),
        None => std::io::read_to_string(std::io::stdin()),
    };
    let password = match password {
        Ok(p) => p.trim_end_matches(['\r', '\n']).to_string(),
        Err(e) => {
            eprintln!("error: cannot read the password: {e}");
            return ExitCode::from(2);
        }
    };
    if password.is_empty() {
        eprintln!("error: the password is empty");
        return ExitCode::from(2);
    }
    match crate::auth::hash_password(&password) {
        Ok(h) => {
            println!("{h}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
