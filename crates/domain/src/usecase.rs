//! The use cases the services call: the rules that tie the ports together.

mod cache_repair;
mod grant_error;
pub mod items;
pub mod tokens;
