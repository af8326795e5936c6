//! `dc-gateway audit`: reads the audit log.

use std::path::PathBuf;
use std::process::ExitCode;

use crate::config::Config;
use crate::store::Store;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// A configuration file layered over the embedded default (for the database URL).
    #[arg(long, env = "DCGW_CONFIG")]
    pub config: Option<PathBuf>,
    /// Only entries of this zone.
    #[arg(long)]
    pub zone: Option<String>,
    /// How many entries, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: i64,
    /// Print JSON lines instead of text.
    #[arg(long)]
    pub json: bool,
}

fn when(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000);
    t.ok()
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

pub fn run(args: &AuditArgs) -> ExitCode {
    let config = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let zone = args.zone.as_deref().map(dcgw_adapter::absolute);
    let result = actix_web::rt::System::new().block_on(async {
        let store = Store::open(&config.database_url()).await?;
        store
            .audit_log(zone.as_deref(), args.limit.clamp(1, 100_000))
            .await
    });
    match result {
        Ok(entries) => {
            for e in entries {
                if args.json {
                    println!("{}", serde_json::to_string(&e).unwrap_or_default());
                } else {
                    println!(
                        "{} {} {} zone={} template={}/{} {}",
                        when(e.at),
                        e.action,
                        e.actor,
                        e.zone.as_deref().unwrap_or("-"),
                        e.provider_id.as_deref().unwrap_or("-"),
                        e.service_id.as_deref().unwrap_or("-"),
                        e.detail
                    );
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
