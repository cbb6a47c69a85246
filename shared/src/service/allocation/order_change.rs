//! Writing a change of an order made outside allocation (Save Order, order cancel, release):
//! the allocation documents and the stock follow the order's allocated units in the same
//! transaction, so every reserved unit keeps belonging to one live allocation line.

use std::collections::BTreeMap;

use super::{
    Allocation, Change, Deps, OmsResult, Rewrite, StockDeltas, TenantId, Written, held_elsewhere,
    live_allocations_of_order, write_change,
};
use crate::domain::allocation::{AllocationStatus, AuditLog, AuditType, Taken};
use crate::domain::ids::{OrderLineId, UserId};
use crate::domain::order::Order;
use crate::domain::status::FulfillmentStatus;
use crate::ports::{Condition, WriteOp};
use crate::service::allocation::journal;
use crate::service::orders;
use crate::service::outbox::OutboxMessage;

/// Units each line holds allocated less than before: they leave their allocation documents.
fn dropped_units(before: Option<&Order>, after: &Order) -> BTreeMap<OrderLineId, u32> {
    let Some(before) = before else { return BTreeMap::new() };
    before
        .lines
        .iter()
        .filter_map(|old| {
            let now = after.line(&old.order_line_id).map_or(0, |l| l.quantity_at(FulfillmentStatus::Allocated));
            let was = old.quantity_at(FulfillmentStatus::Allocated);
            (was > now).then(|| (old.order_line_id.clone(), was - now))
        })
        .collect()
}

/// The documents after giving back `drops` units per line (unreleased units only), and what
/// could not be found held (a sign of drift, logged).
fn give_back(
    docs: &[Allocation],
    mut drops: BTreeMap<OrderLineId, u32>,
    user: &UserId,
    now: chrono::DateTime<chrono::Utc>,
    source: &str,
) -> Vec<Rewrite> {
    let mut rewrites = Vec::new();
    for doc in docs {
        let mut next = doc.changed(Vec::new(), now);
        let mut entries = Vec::new();
        for item in &mut next.items {
            let Some(left) = drops.get_mut(&item.order_line_id) else { continue };
            let units = (*left).min(item.unreleased());
            if units == 0 {
                continue;
            }
            // `units` is at most what is unreleased, so the take cannot fail.
            let _ = item.take(units, Taken::Cancelled);
            *left -= units;
            entries.push(AuditLog::new(AuditType::Cancel, user, now, source).for_item(item, units));
        }
        if entries.is_empty() {
            continue;
        }
        next.record(entries);
        let shipped: u32 = next.items.iter().map(|i| i.shipped_quantity).sum();
        if next.units() == 0 && shipped == 0 {
            next.status_code = AllocationStatus::Cancelled;
        }
        next.settle_status();
        rewrites.push(Rewrite { read: doc.clone(), next });
    }
    for (line, left) in drops.into_iter().filter(|(_, left)| *left > 0) {
        tracing::warn!(order_line_id = %line, units = left, "order gave back allocated units no document held");
    }
    rewrites
}

/// Writes `after` (guarded by `before`'s version, or as new) with `others` and `messages`: the
/// units whose allocation the order no longer holds leave their documents and their stock is
/// released, all in one transaction. False when something changed meanwhile (read again).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn write_order_change(
    deps: &Deps,
    tenant: &TenantId,
    user: &UserId,
    before: Option<&Order>,
    after: &Order,
    source: &str,
    others: Vec<WriteOp>,
    messages: Vec<OutboxMessage>,
) -> OmsResult<bool> {
    let mut change = Change::new(journal::Kind::Cancel);
    change.refuse_beyond_one_transaction = Some("OrderLine");
    let drops = dropped_units(before, after);
    if !drops.is_empty() {
        let docs = live_allocations_of_order(deps, tenant, &after.order_id).await?;
        if held_elsewhere(deps, tenant, &docs).await? {
            return Ok(false);
        }
        change.rewrites = give_back(&docs, drops, user, deps.clock.now(), source);
    }
    change.settle_stock(&StockDeltas::new());
    let guard = before.map_or(Condition::NotExists, |b| Condition::version_is(b.version));
    change.others.push(WriteOp::Put { item: orders::order_item(tenant, after)?, condition: Some(guard) });
    change.others.extend(others);
    change.messages = messages;
    Ok(matches!(write_change(deps, tenant, user, change).await?, Written::Done))
}
