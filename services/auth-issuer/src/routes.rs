//! The issuer's HTTP handlers.

pub mod device;
pub mod introspect;
pub mod request;
pub mod token;
pub mod userinfo;
pub mod wellknown;
