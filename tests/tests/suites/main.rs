//! The workspace-level suites, one module each, in one test binary (`suites`): a suite is
//! selected by its module path, e.g. `cargo nextest run -p portcullis-tests -E 'test(/^postgres::/)'`
//! or `cargo test -p portcullis-tests --test suites postgres::`.

mod admin_api;
mod apache_oidc;
mod browser_login;
mod cache_repair;
mod data_api_attacks;
mod dev_walkthrough;
mod dpop;
mod dpop_issuer_resources;
mod dpop_journey;
mod end_to_end;
mod identity_store;
mod issuer_clients;
mod issuer_lockout;
mod issuer_refresh;
mod issuer_security;
mod issuer_sessions;
mod issuer_slow_bodies;
mod issuer_users_reload;
mod journeys_and_faults;
mod local_cache;
mod oidc_code_flow;
mod oidc_device;
mod oidc_interop;
mod oidc_pages;
mod postgres;
mod postgres_tls;
mod quota_leases;
mod redis;
mod redis_cluster;
mod redis_faults;
mod redis_sentinel;
mod redis_tls;
mod tls;
mod token_algorithms;
mod token_conformance;
