//! dc-gateway adapter for route53 (work in progress).
