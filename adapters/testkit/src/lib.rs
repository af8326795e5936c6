//! Conformance suite for dc-gateway adapters (see the crate README).
