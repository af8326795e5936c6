//! dc-gateway adapter for powerdns (work in progress).
