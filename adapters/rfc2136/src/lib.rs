//! dc-gateway adapter for rfc2136 (work in progress).
