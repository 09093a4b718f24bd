//! The use cases the services call: the rules that tie the ports together.

pub mod items;
pub mod tokens;
