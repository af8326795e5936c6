//! dc-gateway adapter for cloudflare (work in progress).
