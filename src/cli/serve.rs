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
    /// Log format, text or json (overrides `telemetry.log_format`).
    #[arg(long, env = "DCGW_LOG_FORMAT")]
    pub log_format: Option<String>,
}

pub fn run(args: &ServeArgs) -> ExitCode {
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let format = args
        .log_format
        .clone()
        .unwrap_or_else(|| config.telemetry.log_format.clone());
    let _telemetry = match crate::telemetry::init(&format) {
        Ok(g) => g,
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
        let store = crate::store::Store::open_with(
            &config.database_url(),
            config.database.sqlite_synchronous == "normal",
        )
        .await?;
        let state = Arc::new(AppState::new(config.clone(), router, templates, store)?);
        server::spawn_template_reloader(state.clone());
        if let Some(addr) = state.config.telemetry.metrics_listen {
            let l = TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr} for metrics: {e}"))?;
            tracing::info!(listen = %addr, "metrics at /metrics");
            actix_web::rt::spawn(http::serve_metrics(state.clone(), l)?);
        }
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
pub struct CheckConfigArgs {
    /// The configuration file.
    #[arg(long, env = "DCGW_CONFIG")]
    pub config: Option<PathBuf>,
    /// Ignore `DCGW__*` environment variables (check the file alone).
    #[arg(long)]
    pub no_env: bool,
}

/// `dc-gateway check-config`: loads and validates the configuration as `serve` would, and
/// builds its backends' settings and login and authorization, without listening.
pub fn check_config(args: &CheckConfigArgs) -> ExitCode {
    let config = match Config::load_with_env(args.config.as_deref(), !args.no_env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = crate::auth::Login::from_config(&config.login, &config.server.public_url) {
        eprintln!("error: login: {e}");
        return ExitCode::from(2);
    }
    if let Err(e) = crate::auth::Authz::from_config(&config.authz) {
        eprintln!("error: authz: {e}");
        return ExitCode::from(2);
    }
    println!(
        "configuration ok: {} backend(s), login {}, authz {}",
        config.backends.len(),
        config.login.kind,
        config.authz.kind
    );
    ExitCode::SUCCESS
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
