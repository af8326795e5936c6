//! Domain Connect request signatures (SPEC.md §3.4, POLICY.md 17–18).
