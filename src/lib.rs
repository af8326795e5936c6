//! dc-gateway: the DNS-Provider side of Domain Connect, on pluggable DNS backends.
//!
//! * [`engine`]: the pure Domain Connect logic (templates, substitution, conflicts, SPF
//!   merging, the plan). No I/O.
//! * [`templates`]: the directory of templates this deployment serves.
//! * [`cli`]: the `dc-gateway` subcommands.

pub mod auth;
pub mod backends;
pub mod cli;
pub mod config;
pub mod dns;
pub mod engine;
pub mod http;
pub mod server;
pub mod sig;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod ui;

pub use dcgw_adapter as adapter;
