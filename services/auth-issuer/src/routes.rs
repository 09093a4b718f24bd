//! The issuer's HTTP handlers.

pub mod token;
pub mod wellknown;
