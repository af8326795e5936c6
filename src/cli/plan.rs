//! `dc-gateway plan`
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Template file, or providerId/serviceId looked up in --templates.
    #[arg(long)]
    pub template: String,
}

pub fn run(_args: &PlanArgs) -> ExitCode {
    ExitCode::from(2)
}
