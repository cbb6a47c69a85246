//! The OMS core: domain, ports, adapters, services and HTTP routes shared by every function.

pub mod catalog;
pub mod error;
pub mod ports;
pub mod queue;
pub mod sqlite;
pub mod store;

pub use error::{OmsError, OmsResult};
