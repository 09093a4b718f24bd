//! The issuer's HTTP handlers.

pub mod introspect;
pub mod request;
pub mod token;
pub mod wellknown;
