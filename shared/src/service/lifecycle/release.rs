//! Release (status 3000): the allocated units of a confirmed order with no applied hold and no
//! `DoNotReleaseBefore` ahead are sent to their ship-from locations, one release document per
//! location, published on the outbound `release` queue. The documents, the allocation documents
//! (their released units), the order and the messages are written in one transaction; release
//! ids are numbered per order, so a release repeated (a redelivered pipeline message) finds
//! nothing left to release and writes nothing.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::deps::Deps;
use crate::domain::allocation::{Allocation, AllocationId, AuditLog, AuditType};
use crate::domain::ids::{ItemId, LocationId, OrderId, OrderLineId, TenantId, UserId};
use crate::domain::order::{Address, DeliveryMethod, HoldStatus, Order};
use crate::domain::status::FulfillmentStatus;
use crate::error::{OmsError, OmsResult};
use crate::keys;
use crate::ports::{Condition, Query, QueueName, StoreError, WriteOp};
use crate::service::allocation;
use crate::service::{commit, orders, outbox};
use crate::store::{self, entity};

use super::effects::Units;

/// `source` of what a release writes.
pub const RELEASE_SOURCE: &str = "POST /order/api/order/order/release";
const ATTEMPTS: usize = 8;

/// A release document: the units of one order released to one ship-from location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Release {
    /// `<OrderId>-R<n>`: the n-th release of the order.
    pub release_id: String,
    #[schema(value_type = String)]
    pub order_id: OrderId,
    #[schema(value_type = String)]
    pub ship_from_location_id: LocationId,
    pub release_line: Vec<ReleaseLine>,
    pub created_timestamp: DateTime<Utc>,
    #[schema(value_type = String)]
    pub released_by: UserId,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ReleaseLine {
    #[schema(value_type = String)]
    pub order_line_id: OrderLineId,
    #[schema(value_type = String)]
    pub item_id: ItemId,
    pub quantity: u32,
    #[schema(value_type = String)]
    pub allocation_id: AllocationId,
    pub allocation_line_number: u32,
    pub delivery_method_id: DeliveryMethod,
    pub ship_to_address: Option<Address>,
    #[schema(value_type = Option<String>)]
    pub pickup_location_id: Option<LocationId>,
}

/// Why an order cannot be released now, or `None` when it can.
pub fn blocked(order: &Order, now: DateTime<Utc>) -> Option<String> {
    if !order.is_confirmed {
        return Some(format!("order {} is not confirmed", order.order_id));
    }
    if let Some(hold) = order.holds.iter().find(|h| h.status_id == HoldStatus::Applied) {
        return Some(format!("order {} is on hold {}", order.order_id, hold.hold_type_id));
    }
    if let Some(at) = order.do_not_release_before
        && at > now
    {
        return Some(format!("order {} is not to be released before {}", order.order_id, at.to_rfc3339()));
    }
    None
}

/// How a release went.
#[derive(Debug, Clone, PartialEq)]
pub enum Released {
    /// The documents written (none when nothing allocated was left to release).
    Done(Vec<Release>),
    /// Not releasable now, and why.
    Blocked(String),
}

/// Releases every allocated, unreleased unit of the order, if the order may be released.
#[tracing::instrument(skip_all, fields(order_id = %order_id))]
pub async fn release_order(deps: &Deps, tenant: &TenantId, user: &UserId, order_id: &OrderId) -> OmsResult<Released> {
    for attempt in 0..ATTEMPTS {
        let order = orders::load_order(deps, tenant, order_id)
            .await?
            .ok_or_else(|| OmsError::order_not_found(order_id.as_str()))?;
        let now = deps.clock.now();
        if let Some(why) = blocked(&order, now) {
            return Ok(Released::Blocked(why));
        }
        let docs = allocation::live_allocations_of_order(deps, tenant, order_id).await?;
        if allocation::held_elsewhere(deps, tenant, &docs).await? {
            crate::service::backoff(attempt).await;
            continue;
        }
        let mut next = order.clone();
        let mut by_location: BTreeMap<LocationId, Vec<ReleaseLine>> = BTreeMap::new();
        let mut rewrites: Vec<(Allocation, Allocation)> = Vec::new();
        for doc in &docs {
            let mut changed = doc.changed(Vec::new(), now);
            let mut entries = Vec::new();
            for item in &mut changed.items {
                let Some(line) = next.line_mut(&item.order_line_id) else { continue };
                let units = item.unreleased().min(line.quantity_at(FulfillmentStatus::Allocated));
                if units == 0 {
                    continue;
                }
                line.move_quantity(FulfillmentStatus::Allocated, FulfillmentStatus::Released, units)?;
                item.released_quantity += units;
                entries.push(AuditLog::new(AuditType::Release, user, now, RELEASE_SOURCE).for_item(item, units));
                by_location.entry(doc.location_num.clone()).or_default().push(ReleaseLine {
                    order_line_id: item.order_line_id.clone(),
                    item_id: item.item_id.clone(),
                    quantity: units,
                    allocation_id: doc.allocation_id.clone(),
                    allocation_line_number: item.allocation_line_number,
                    delivery_method_id: line.delivery_method,
                    ship_to_address: line.ship_to.clone(),
                    pickup_location_id: line.pickup_location_id.clone(),
                });
            }
            if !entries.is_empty() {
                changed.record(entries);
                rewrites.push((doc.clone(), changed));
            }
        }
        if by_location.is_empty() {
            return Ok(Released::Done(Vec::new()));
        }
        let releases: Vec<Release> = by_location
            .into_iter()
            .enumerate()
            .map(|(i, (location, lines))| Release {
                release_id: format!("{}-R{}", order.order_id, order.release_count as usize + i + 1),
                order_id: order.order_id.clone(),
                ship_from_location_id: location,
                release_line: lines,
                created_timestamp: now,
                released_by: user.clone(),
            })
            .collect();
        next.release_count += releases.len() as u32;
        next.touch(user, now);
        let recorded = super::record_change(deps, Some(&order), &mut next, Units::Keep, RELEASE_SOURCE).await?;

        let mut writes = Vec::new();
        for (read, changed) in &rewrites {
            let item = allocation::allocation_item(tenant, changed)?;
            writes.push(WriteOp::Put { item, condition: Some(Condition::version_is(read.version)) });
        }
        for release in &releases {
            let key = keys::release(tenant, &order.order_id, &release.release_id);
            writes.push(WriteOp::Put {
                item: entity::to_item(&key, release, 1, &[])?,
                condition: Some(Condition::NotExists),
            });
        }
        let item = orders::order_item(tenant, &next)?;
        writes.push(WriteOp::Put { item, condition: Some(Condition::version_is(order.version)) });
        writes.extend(recorded.writes);
        let mut messages = recorded.messages;
        for release in &releases {
            let body = serde_json::json!({
                "MessageId": release.release_id,
                "Tenant": tenant,
                "ModTypes": recorded.mod_types,
                "Release": release,
            });
            let (write, message) = outbox::record(deps, tenant, QueueName::Release, body.to_string(), now);
            writes.push(write);
            messages.push(message);
        }
        if writes.len() > commit::capacity() {
            return Err(OmsError::Conflict(format!(
                "releasing order {order_id} takes {} writes, more than one transaction holds; release fewer lines at a time",
                writes.len()
            )));
        }
        match commit::transact(deps, writes).await {
            Ok(()) => {
                outbox::deliver(deps, messages).await;
                return Ok(Released::Done(releases));
            }
            Err(StoreError::TransactionCanceled { .. } | StoreError::TransactionConflict) => {
                tracing::debug!(attempt, "release raced another change; reading again");
                crate::service::backoff(attempt).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(OmsError::Conflict(format!("order {order_id} kept changing while it was released; retry")))
}

/// The release documents of an order, oldest first.
pub async fn releases_of(deps: &Deps, tenant: &TenantId, order_id: &OrderId) -> OmsResult<Vec<Release>> {
    let query = Query::partition(keys::releases_partition(tenant, order_id));
    let mut releases: Vec<Release> = store::query_all(deps.store.as_ref(), query)
        .await?
        .into_iter()
        .map(|item| entity::from_item(item, &[entity::VERSION]))
        .collect::<OmsResult<_>>()?;
    releases.sort_by_key(|r| (r.created_timestamp, r.release_id.len(), r.release_id.clone()));
    Ok(releases)
}
