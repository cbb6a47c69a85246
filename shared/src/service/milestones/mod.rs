//! Order monitoring (seed 003): the writes that keep an order's milestone check listed by due
//! time, the monitoring events it publishes, the tenants with scheduled work, and the milestone
//! scheduler ([`scheduler`]) that checks the orders whose time has come.
//!
//! The milestones themselves are evaluated in `domain::lifecycle::milestones`, by every change
//! of an order (`lifecycle::effects::apply`) and by the scheduler.

pub mod scheduler;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::deps::Deps;
use crate::domain::ids::{OrderId, TenantId};
use crate::domain::lifecycle::milestones::MonitoringEvent;
use crate::domain::order::Order;
use crate::error::OmsResult;
use crate::keys;
use crate::ports::{Index, Query, WriteOp};
use crate::store::{self, entity};

/// The write that keeps the order's milestone check (its due-index entry) in step with its
/// `MilestoneCheckAt` after a change from `before`: none when that time did not change (a new
/// order without one has nothing to delete). It joins the order's transaction.
pub fn check_write(tenant: &TenantId, before: Option<&Order>, after: &Order) -> Option<WriteOp> {
    (before.and_then(|b| b.milestone_check_at) != after.milestone_check_at).then(|| check_entry(tenant, after))
}

/// The order's milestone check as its `MilestoneCheckAt` says: a put listing it at that time, or
/// a delete when nothing is due.
pub fn check_entry(tenant: &TenantId, order: &Order) -> WriteOp {
    let key = keys::milestone_check(tenant, &order.order_id);
    match order.milestone_check_at {
        Some(due) => {
            let index = entity::index_entry(
                Index::Gsi3,
                keys::milestone_due_partition(tenant, &order.order_id),
                keys::milestone_due_sort(due, &order.order_id),
            );
            let mut item = entity::item_at(&key, &index);
            item.insert("OrderId".into(), order.order_id.as_str().into());
            item.insert("DueAt".into(), keys::timestamp(due).into());
            WriteOp::Put { item, condition: None }
        }
        None => WriteOp::Delete { key, condition: None },
    }
}

/// The `order-events` message of a monitoring event. Its id is the order and rule, so a
/// repeated delivery is recognisably the same event.
pub fn event_body(tenant: &TenantId, order_id: &OrderId, event: &MonitoringEvent) -> String {
    json!({
        "MessageType": "MonitoringEvent",
        "MessageId": format!("{order_id}-{}", event.rule_id),
        "Tenant": tenant,
        "OrderId": order_id,
        "MilestoneId": event.milestone_id,
        "RuleId": event.rule_id,
        "EventName": event.event_name,
        "ExpectedTime": keys::timestamp(event.expected_time),
        "RaisedAt": keys::timestamp(event.raised_at),
    })
    .to_string()
}

/// Tenants this process has already listed among those with scheduled work.
#[derive(Debug, Default, Clone)]
pub struct Registered(Arc<Mutex<HashSet<TenantId>>>);

/// Lists `tenant` among the tenants with scheduled work (what the scheduled Lambdas read), once
/// per process: an idempotent put before the tenant's first order change here.
pub async fn register_tenant(deps: &Deps, tenant: &TenantId) -> OmsResult<()> {
    let known = deps.registered.0.lock().map(|set| set.contains(tenant)).unwrap_or(false);
    if known {
        return Ok(());
    }
    let mut item = entity::item_at(&keys::scheduled_tenant(tenant), &[]);
    item.insert("Tenant".into(), tenant.as_str().into());
    deps.store.put(item, None).await?;
    if let Ok(mut set) = deps.registered.0.lock() {
        set.insert(tenant.clone());
    }
    Ok(())
}

/// Every tenant with scheduled work.
pub async fn scheduled_tenants(deps: &Deps) -> OmsResult<Vec<TenantId>> {
    let items = store::query_all(deps.store.as_ref(), Query::partition(keys::SCHEDULED_TENANTS_PK)).await?;
    Ok(items
        .iter()
        .filter_map(|item| item.get("Tenant").and_then(|t| t.as_str()))
        .filter_map(|t| TenantId::parse(t).ok())
        .collect())
}
