//! Zone-file directory adapter.
