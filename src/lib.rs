//! dc-gateway: the DNS-Provider side of Domain Connect, on pluggable DNS backends.
//!
//! * [`engine`]: the pure Domain Connect logic (templates, substitution, conflicts, SPF
//!   merging, the plan). No I/O.
//! * [`templates`]: the directory of templates this deployment serves.
//! * [`cli`]: the `dc-gateway` subcommands.

pub mod cli;
pub mod engine;
pub mod sig;
pub mod templates;

pub use dcgw_adapter as adapter;
