//! Item store adapters.
pub mod dynamodb;
pub mod embedded;
pub mod entity;
