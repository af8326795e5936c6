//! The directory of templates this deployment serves.
