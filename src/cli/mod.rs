//! The `dc-gateway` subcommands (argument types and their implementations).

pub mod audit;
pub mod batch;
pub mod clients;
pub mod doctor;
pub mod keys;
pub mod plan;
pub mod serve;
pub mod templates;
