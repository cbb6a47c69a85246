//! The pure domain model: identifiers, statuses, orders, locations and inventory. No I/O.

pub mod allocation;
pub mod caller;
pub mod ids;
pub mod inventory;
pub mod job;
pub mod lifecycle;
pub mod limits;
pub mod location;
pub mod order;
pub mod order_search;
pub mod order_view;
pub mod query;
pub mod sourcing;
pub mod status;
pub mod stock_shards;
pub mod text;
