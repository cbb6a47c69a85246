//! Every deployed function and what triggers it. The SAM template must match this table
//! (a test compares them), and the local server hosts exactly these routes.

use crate::ports::QueueName;

/// Permission names, as the sources name them (`api::<area>::<action>`).
pub mod permission {
    pub const ORDER_READ: &str = "api::order::read";
    pub const ORDER_WRITE: &str = "api::order::write";
    pub const INVENTORY_READ: &str = "api::inventory::read";
    pub const INVENTORY_WRITE: &str = "api::inventory::write";
    pub const ALLOCATION_READ: &str = "api::allocation::read";
    pub const ALLOCATION_WRITE: &str = "api::allocation::write";
    pub const ALLOCATION_ADMIN: &str = "api::allocation::admin";

    /// Every permission with what it grants, for the README and token minting.
    pub const ALL: &[(&str, &str)] = &[
        (ORDER_READ, "read orders (Get Order)"),
        (ORDER_WRITE, "create and update orders (Save Order)"),
        (INVENTORY_READ, "read locations and availability"),
        (INVENTORY_WRITE, "upsert locations, sync and adjust supply, shard a hot item's stock"),
        (ALLOCATION_READ, "read, query and explain allocations; read allocation settings"),
        (ALLOCATION_WRITE, "allocate orders, update, reallocate and cancel allocations"),
        (ALLOCATION_ADMIN, "reconcile reservations and change allocation settings"),
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
    /// The fabric-style routes document `x-site-context` as a required header.
    pub site_context_required: bool,
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
    FunctionSpec {
        name,
        trigger: Trigger::Http(Route { method, path, permission, mutating, site_context_required: false }),
    }
}

/// A fabric-style route: tenant in `x-site-context`; `mutating` false for a POST that only reads.
const fn fabric(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    permission: &'static str,
    mutating: bool,
) -> FunctionSpec {
    FunctionSpec {
        name,
        trigger: Trigger::Http(Route { method, path, permission, mutating, site_context_required: true }),
    }
}

pub const FUNCTIONS: &[FunctionSpec] = &[
    http("order-save", "POST", "/order/api/order/order", permission::ORDER_WRITE),
    http("order-get", "GET", "/order/api/order/order/orderId/{orderId}", permission::ORDER_READ),
    http("location-put", "PUT", "/inventory/api/location/{LocationId}", permission::INVENTORY_WRITE),
    http("location-get", "GET", "/inventory/api/location/{LocationId}", permission::INVENTORY_READ),
    http("supply-post", "POST", "/inventory/api/supply", permission::INVENTORY_WRITE),
    http("availability-get", "GET", "/inventory/api/availability/itemId/{ItemId}", permission::INVENTORY_READ),
    http("stock-shards-put", "PUT", "/inventory/api/item/{ItemId}/stockShards", permission::INVENTORY_WRITE),
    http("stock-shards-get", "GET", "/inventory/api/item/{ItemId}/stockShards", permission::INVENTORY_READ),
    // Documented as `POST /allocation/`: API Gateway route keys cannot end in `/` (it routes
    // `/allocation/` here), and the router answers both forms.
    fabric("allocation-create", "POST", "/allocation", permission::ALLOCATION_WRITE, true),
    fabric("allocation-get", "GET", "/allocation/{allocationId}", permission::ALLOCATION_READ, false),
    fabric("allocation-update", "PUT", "/allocation/{allocationId}", permission::ALLOCATION_WRITE, true),
    fabric("allocation-query", "POST", "/allocation/query", permission::ALLOCATION_READ, false),
    fabric("allocation-reallocate", "PUT", "/allocation/reallocate", permission::ALLOCATION_WRITE, true),
    fabric("allocation-cancel", "PUT", "/allocation/cancel/{allocationIds}", permission::ALLOCATION_WRITE, true),
    fabric("allocation-explain", "GET", "/allocation/explain/{orderId}", permission::ALLOCATION_READ, false),
    fabric("allocation-reconcile", "POST", "/allocation/reconcile", permission::ALLOCATION_ADMIN, true),
    fabric("allocation-settings-get", "GET", "/allocation/settings", permission::ALLOCATION_READ, false),
    fabric("allocation-settings-put", "PUT", "/allocation/settings", permission::ALLOCATION_ADMIN, true),
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
