//! The use cases the services call: the rules that tie the ports together.

mod cache_entry;
mod cache_repair;
pub mod dpop;
mod grant_error;
mod item_policy;
pub mod items;
pub mod login;
pub mod tokens;
