//! Save Order and Get Order (seed 003). A save is one transaction: the order (guarded by its
//! stored version) and the change-tracker message in the outbox.

use crate::deps::Deps;
use crate::domain::caller::Caller;
use crate::domain::ids::{OrderId, TenantId};
use crate::domain::order::{Order, SaveOrderRequest};
use crate::error::{OmsError, OmsResult};
use crate::keys;
use crate::ports::{Index, Item};
use crate::service::allocation;
use crate::service::lifecycle::{self, Units};
use crate::store::entity;

/// Attempts before a save that races other saves gives up with 409.
const SAVE_ATTEMPTS: usize = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub order: Order,
    pub created: bool,
}

/// The stored item of `order`, listed in its status bucket (GSI3, keys only) so that mass
/// allocation and order search find it by status without a scan. Every write of an order
/// goes through here.
pub fn order_item(tenant: &TenantId, order: &Order) -> OmsResult<Item> {
    let bucket = keys::order_status_bucket(order.status_range().map(|(min, max)| (min.code(), max.code())));
    let index = entity::index_entry(
        Index::Gsi3,
        keys::orders_by_status_partition(tenant, &bucket, &order.order_id),
        keys::orders_by_status_sort(order.created_timestamp, &order.order_id),
    );
    entity::to_item(&keys::order(tenant, &order.order_id), order, order.version, &index)
}

/// Index attributes an order item carries.
const INDEX_ATTRIBUTES: [&str; 2] = ["GSI3PK", "GSI3SK"];

/// An order as stored.
pub fn read_order(item: Item) -> OmsResult<Order> {
    entity::from_item(item, &INDEX_ATTRIBUTES)
}

pub async fn load_order(deps: &Deps, tenant: &TenantId, id: &OrderId) -> OmsResult<Option<Order>> {
    match deps.store.get(&keys::order(tenant, id)).await? {
        Some(item) => Ok(Some(read_order(item)?)),
        None => Ok(None),
    }
}

pub async fn get_order(deps: &Deps, tenant: &TenantId, id: &str) -> OmsResult<Order> {
    let id = OrderId::parse_at("orderId", id)?;
    load_order(deps, tenant, &id).await?.ok_or_else(|| OmsError::order_not_found(id.as_str()))
}

/// `source` of the audit entries Save Order writes.
pub const SAVE_SOURCE: &str = "POST /order/api/order/order";

/// Creates or updates an order. Without `Version` a concurrent save is retried on the
/// newer order; with `Version` a stale one is refused with 409. The order type's configuration
/// decides what the change may do (modification rules), what it sets off (services) and what
/// it publishes, all written in the same transaction as the order.
#[tracing::instrument(skip_all, fields(order_id = req.order_id.as_deref().unwrap_or_default()))]
pub async fn save_order(deps: &Deps, caller: &Caller, req: &SaveOrderRequest) -> OmsResult<Saved> {
    let draft = req.parse()?;
    for attempt in 0..SAVE_ATTEMPTS {
        let previous = load_order(deps, &caller.tenant, &draft.order_id).await?;
        let now = deps.clock.now();
        let mut order = Order::from_draft(draft.clone(), &caller.tenant, &caller.user, now, previous.as_ref())?;
        let recorded = lifecycle::record_change(deps, previous.as_ref(), &mut order, Units::Move, SAVE_SOURCE).await?;
        let item = order_item(&caller.tenant, &order)?;
        entity::check_item_size(&item, &format!("order {}", order.order_id), "OrderLine")?;
        let written = allocation::write_order_change(
            deps,
            &caller.tenant,
            &caller.user,
            previous.as_ref(),
            &order,
            SAVE_SOURCE,
            recorded.writes,
            recorded.messages,
        )
        .await?;
        if written {
            return Ok(Saved { created: previous.is_none(), order });
        }
        if draft.version.is_some() {
            let latest = load_order(deps, &caller.tenant, &draft.order_id).await?;
            if latest.map(|o| o.version) != previous.as_ref().map(|p| p.version) {
                return Err(stale(&draft.order_id));
            }
        }
        tracing::debug!("order changed while saving; merging again");
        super::backoff(attempt).await;
    }
    Err(stale(&draft.order_id))
}

fn stale(id: &OrderId) -> OmsError {
    OmsError::Conflict(format!("order {id} was changed by another request; get it again and resend with its Version"))
}
