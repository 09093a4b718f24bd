//! The workspace-level suites, one module each, in one test binary (`suites`): a suite is
//! selected by its module path, e.g. `cargo nextest run -p portcullis-tests -E 'test(/^postgres::/)'`
//! or `cargo test -p portcullis-tests --test suites postgres::`.

mod cache_repair;
mod data_api_attacks;
mod dev_walkthrough;
mod end_to_end;
mod issuer_clients;
mod issuer_lockout;
mod issuer_refresh;
mod issuer_security;
mod issuer_sessions;
mod issuer_slow_bodies;
mod journeys_and_faults;
mod postgres;
mod redis;
mod redis_cluster;
mod redis_faults;
mod token_conformance;
