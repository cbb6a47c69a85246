//! Use cases: they call the domain and the ports, and know nothing of HTTP or Lambda.

pub mod allocation;
pub mod change_tracker;
pub mod demo;
pub mod inventory;
pub mod orders;
pub mod outbox;
