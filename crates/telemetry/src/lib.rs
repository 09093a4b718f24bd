//! Logging initialisation shared by every binary: one call, so every service logs the same way.
//!
//! Logs go to standard error (standard output stays for what a command prints). `RUST_LOG` filters (default `info`); `PORTCULLIS_LOG_FORMAT=json` switches to JSON lines for
//! log shippers. Audit events use the target `portcullis::audit`, so they can be routed apart.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Safe to call twice (later calls do nothing), so tests and
/// the all-in-one launcher can call it freely.
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("PORTCULLIS_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
