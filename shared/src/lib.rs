//! The OMS core: domain, ports, adapters, services and HTTP routes shared by every function.

pub mod catalog;
pub mod config;
pub mod deps;
pub mod domain;
pub mod error;
pub mod http;
pub mod jobs;
pub mod keys;
pub mod ports;
pub mod queue;
pub mod runtime;
pub mod service;
pub mod sqlite;
pub mod store;
pub mod telemetry;

pub use error::{OmsError, OmsResult};
