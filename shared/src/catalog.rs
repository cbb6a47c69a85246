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
    pub const ORDER_TRANSACTION_ADMIN: &str = "api::order::transaction::admin";
    pub const ORDER_CONFIG_ADMIN: &str = "api::order::config::admin";
    pub const ORDER_CONFIG_READ: &str = "api::order::config::read";
    pub const SCHEDULER_READ: &str = "api::scheduler::read";
    pub const SCHEDULER_ADMIN: &str = "api::scheduler::admin";

    /// Every permission with what it grants, for the README and token minting.
    pub const ALL: &[(&str, &str)] = &[
        (ORDER_READ, "read orders (Get Order)"),
        (ORDER_WRITE, "create and update orders (Save Order), cancel and release them"),
        (INVENTORY_READ, "read locations and availability"),
        (INVENTORY_WRITE, "upsert locations, sync and adjust supply, shard a hot item's stock"),
        (ALLOCATION_READ, "read, query and explain allocations; read allocation settings"),
        (ALLOCATION_WRITE, "allocate orders, update, reallocate and cancel allocations"),
        (ALLOCATION_ADMIN, "reconcile reservations and change allocation settings"),
        (ORDER_TRANSACTION_ADMIN, "start mass actions (mass allocate) over the orders a query selects"),
        (
            ORDER_CONFIG_ADMIN,
            "configure order types and message templates; set component log levels (allocation troubleshooting logs)",
        ),
        (ORDER_CONFIG_READ, "read order type configurations and message templates"),
        (SCHEDULER_READ, "search job executions and read their per-order results"),
        (SCHEDULER_ADMIN, "abort job executions; run a scheduled job now (jobExecution/trigger)"),
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
    /// A second method the same function answers (the seed documents some routes with both).
    pub alternate_method: Option<&'static str>,
}

impl Route {
    /// Every method of the route.
    pub fn methods(self) -> impl Iterator<Item = &'static str> {
        std::iter::once(self.method).chain(self.alternate_method)
    }
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
        trigger: Trigger::Http(Route {
            method,
            path,
            permission,
            mutating,
            site_context_required: false,
            alternate_method: None,
        }),
    }
}

/// A Manhattan-style POST that only reads (a search): no idempotency record.
const fn search(name: &'static str, path: &'static str, permission: &'static str) -> FunctionSpec {
    FunctionSpec {
        name,
        trigger: Trigger::Http(Route {
            method: "POST",
            path,
            permission,
            mutating: false,
            site_context_required: false,
            alternate_method: None,
        }),
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
        trigger: Trigger::Http(Route {
            method,
            path,
            permission,
            mutating,
            site_context_required: true,
            alternate_method: None,
        }),
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
    http("order-mass-action", "POST", "/order/api/order/order/massAction", permission::ORDER_TRANSACTION_ADMIN),
    search("job-execution-search", "/scheduler/api/scheduler/jobExecution/search", permission::SCHEDULER_READ),
    FunctionSpec {
        name: "job-execution-abort",
        trigger: Trigger::Http(Route {
            method: "PUT",
            path: "/scheduler/api/scheduler/jobExecution/uniqueJobId/{uniqueJobId}",
            permission: permission::SCHEDULER_ADMIN,
            mutating: true,
            site_context_required: false,
            alternate_method: Some("POST"),
        }),
    },
    http(
        "job-execution-results",
        "GET",
        "/scheduler/api/scheduler/jobExecution/jobScheduleId/{jobScheduleId}/results",
        permission::SCHEDULER_READ,
    ),
    http("job-execution-trigger", "POST", "/scheduler/api/scheduler/jobExecution/trigger", permission::SCHEDULER_ADMIN),
    http("component-log-level", "POST", "/order/component/logLevel", permission::ORDER_CONFIG_ADMIN),
    http("order-cancel", "POST", "/order/api/order/order/cancel", permission::ORDER_WRITE),
    http("order-release", "POST", "/order/api/order/order/release", permission::ORDER_WRITE),
    http("order-releases-get", "GET", "/order/api/order/release/orderId/{orderId}", permission::ORDER_READ),
    http("order-type-put", "PUT", "/order/api/order/orderType/{OrderTypeId}", permission::ORDER_CONFIG_ADMIN),
    http("order-type-get", "GET", "/order/api/order/orderType/{OrderTypeId}", permission::ORDER_CONFIG_READ),
    http("order-type-list", "GET", "/order/api/order/orderType", permission::ORDER_CONFIG_READ),
    http(
        "message-template-put",
        "PUT",
        "/order/api/order/messageTemplate/{TemplateId}",
        permission::ORDER_CONFIG_ADMIN,
    ),
    http("message-template-get", "GET", "/order/api/order/messageTemplate/{TemplateId}", permission::ORDER_CONFIG_READ),
    http("message-template-list", "GET", "/order/api/order/messageTemplate", permission::ORDER_CONFIG_READ),
    FunctionSpec { name: "change-tracker-consumer", trigger: Trigger::Queue(QueueName::ChangeTracker) },
    FunctionSpec { name: "mass-allocate-planner", trigger: Trigger::Queue(QueueName::MassAllocatePlan) },
    FunctionSpec { name: "mass-allocate-worker", trigger: Trigger::Queue(QueueName::MassAllocateChunk) },
    FunctionSpec { name: "order-pipeline", trigger: Trigger::Queue(QueueName::OrderPipeline) },
    FunctionSpec { name: "outbox-relay", trigger: Trigger::Schedule("rate(1 minute)") },
    FunctionSpec { name: "milestone-scheduler", trigger: Trigger::Schedule("rate(1 minute)") },
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
