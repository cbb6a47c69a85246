//! Partition-heat simulator: which DynamoDB partition keys one tenant's order changes make hot.
//!
//! [`recorder::HeatRecorder`] wraps the embedded store and charges every write the write units
//! DynamoDB would charge, per table or index partition and simulated second;
//! [`workload`] drives the real services on it at a chosen rate; [`report`] ranks the keys.

pub mod recorder;
pub mod report;
pub mod workload;
