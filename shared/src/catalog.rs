//! Every deployed function and what triggers it. The SAM template must match this table
//! (a test compares them), and the local server hosts exactly these routes.

use crate::ports::QueueName;

/// Permission names, as the sources name them (`api::<area>::<action>`).
pub mod permission {
    pub const ORDER_READ: &str = "api::order::read";
    pub const ORDER_WRITE: &str = "api::order::write";
    pub const INVENTORY_READ: &str = "api::inventory::read";
    pub const INVENTORY_WRITE: &str = "api::inventory::write";

    /// Every permission with what it grants, for the README and token minting.
    pub const ALL: &[(&str, &str)] = &[
        (ORDER_READ, "read orders (Get Order)"),
        (ORDER_WRITE, "create and update orders (Save Order)"),
        (INVENTORY_READ, "read locations and availability"),
        (INVENTORY_WRITE, "upsert locations, sync and adjust supply"),
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Upper-case HTTP method.
    pub method: &'static str,
    /// Path template with `{param}` segments, as API Gateway and axum both write them.
    pub path: &'static str,
    /// The permission a caller's token must carry.
    pub permission: &'static str,
    /// Whether the route changes state (and so honours `Idempotency-Key`).
    pub mutating: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    Http(Route),
    Queue(QueueName),
    /// An EventBridge schedule expression.
    Schedule(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FunctionSpec {
    /// Crate name under `functions/`, SAM `BuildProperties.Binary`, and the resource's stem.
    pub name: &'static str,
    pub trigger: Trigger,
}

const fn http(name: &'static str, method: &'static str, path: &'static str, permission: &'static str) -> FunctionSpec {
    let mutating = !matches!(method.as_bytes(), b"GET");
    FunctionSpec { name, trigger: Trigger::Http(Route { method, path, permission, mutating }) }
}

pub const FUNCTIONS: &[FunctionSpec] = &[
    http("order-save", "POST", "/order/api/order/order", permission::ORDER_WRITE),
    http("order-get", "GET", "/order/api/order/order/orderId/{orderId}", permission::ORDER_READ),
    http("location-put", "PUT", "/inventory/api/location/{LocationId}", permission::INVENTORY_WRITE),
    http("location-get", "GET", "/inventory/api/location/{LocationId}", permission::INVENTORY_READ),
    http("supply-post", "POST", "/inventory/api/supply", permission::INVENTORY_WRITE),
    http("availability-get", "GET", "/inventory/api/availability/itemId/{ItemId}", permission::INVENTORY_READ),
    FunctionSpec { name: "change-tracker-consumer", trigger: Trigger::Queue(QueueName::ChangeTracker) },
    FunctionSpec { name: "outbox-relay", trigger: Trigger::Schedule("rate(1 minute)") },
];

pub fn function(name: &str) -> Option<&'static FunctionSpec> {
    FUNCTIONS.iter().find(|f| f.name == name)
}

pub fn routes() -> impl Iterator<Item = (&'static str, Route)> {
    FUNCTIONS.iter().filter_map(|f| match f.trigger {
        Trigger::Http(route) => Some((f.name, route)),
        _ => None,
    })
}
