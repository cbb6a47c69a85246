//! Message queue adapters.
pub mod embedded;
pub mod sqs;
