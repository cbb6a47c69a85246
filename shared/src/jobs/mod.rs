//! Background jobs: the one SQS batch helper every queue consumer goes through.
pub mod batch;
pub mod dispatch;
