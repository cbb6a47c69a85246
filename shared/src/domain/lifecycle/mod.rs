//! The order lifecycle configuration: modification types and the services they trigger, the
//! per-order-type configuration (modification rules, milestones, monitoring rules), and the
//! message templates PublishEmail / PublishText render.

pub mod config;
pub mod diff;
pub mod messages;
pub mod milestones;
mod mod_type;

pub use mod_type::*;
