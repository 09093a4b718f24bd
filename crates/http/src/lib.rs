//! The HTTP glue both services share: RFC 9457 problems, bearer-token authentication, the
//! rate-limit layer, health and readiness, request metrics, and the server loop.

pub mod auth;
pub mod client_ip;
pub mod client_limits;
pub mod config_error;
pub mod config_schema;
pub mod config_source;
pub mod dpop;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod probe;
pub mod problem;
pub mod protect;
pub mod ratelimit;
pub mod redis_tls;
mod request_span;
pub mod resilience;
pub mod server;
pub mod stall_guard;
pub mod tls;
pub mod transport;

pub use problem::Problem;
