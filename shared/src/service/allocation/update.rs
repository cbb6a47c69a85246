//! `PUT /allocation/{allocationId}`: a versioned update of the document's own fields and its
//! items'. Scratched units are released at the location and re-planned elsewhere (or back
//! ordered); shipped units leave `onHand` and `reserved` and move to Fulfilled on the order.
//! All of it, documents, stock and order, in one transaction.

use std::collections::BTreeSet;

use super::placement::{Moving, Placer};
use super::{
    Allocation, Caller, Deps, MAX_ATTEMPTS, OmsError, OmsResult, StockDeltas, Written, get_allocation, held_conflict,
    held_elsewhere, inventory, journal, orders, read_availability, settings, write_change,
};
use crate::domain::allocation::{AppliedUpdate, UPDATE_SOURCE, UpdateAllocationRequest};
use crate::domain::order::Order;
use crate::domain::status::FulfillmentStatus;
use crate::ports::{Condition, WriteOp};
use crate::service::lifecycle::{self, Units};

/// Applies the update; answers the document as written.
#[tracing::instrument(skip_all)]
pub async fn update(deps: &Deps, caller: &Caller, id: &str, req: &UpdateAllocationRequest) -> OmsResult<Allocation> {
    let tenant = &caller.tenant;
    let mut current = get_allocation(deps, tenant, id).await?;
    for attempt in 0..MAX_ATTEMPTS {
        if held_elsewhere(deps, tenant, std::slice::from_ref(&current)).await? {
            if attempt + 1 == MAX_ATTEMPTS {
                return Err(held_conflict(std::slice::from_ref(&current)));
            }
            super::super::backoff(attempt).await;
            current = get_allocation(deps, tenant, id).await?;
            continue;
        }
        let applied = req.apply(&current, &caller.user, deps.clock.now())?;
        if applied.next == current {
            return Ok(current);
        }
        match write_update(deps, caller, &current, applied).await? {
            (Written::Done, next) => return Ok(next),
            // Only a client's version decides a conflict on the document itself; stock or the
            // order moving under a scratch or a shipment is planned again.
            (Written::Raced, _) => {
                let latest = get_allocation(deps, tenant, id).await?;
                if latest.version != current.version && req.version.is_some() {
                    return Err(OmsError::Conflict(format!(
                        "allocation {id} was changed by another request; get it again and resend with its version"
                    )));
                }
                current = latest;
                super::super::backoff(attempt).await;
            }
        }
    }
    Err(OmsError::Conflict(format!("allocation {id} kept changing while it was updated; retry")))
}

/// Writes an applied update: with no units moved, the document alone; else the document, the
/// stock, the documents the scratched units move to and the order, together. Answers how it
/// went and the document as written.
async fn write_update(
    deps: &Deps,
    caller: &Caller,
    current: &Allocation,
    applied: AppliedUpdate,
) -> OmsResult<(Written, Allocation)> {
    let tenant = &caller.tenant;
    let mut change = super::Change::new(journal::Kind::Reallocate);
    change.refuse_beyond_one_transaction = Some("items");
    change.rewrites = vec![super::Rewrite { read: current.clone(), next: applied.next.clone() }];
    if applied.scratched.is_empty() && applied.shipped.is_empty() {
        return Ok((write_change(deps, tenant, &caller.user, change).await?, applied.next));
    }
    let order = orders::load_order(deps, tenant, &current.order_number)
        .await?
        .ok_or_else(|| OmsError::order_not_found(current.order_number.as_str()))?;
    let mut back_ordered = Vec::new();
    if !applied.scratched.is_empty() {
        let moving: Vec<Moving> = applied
            .scratched
            .iter()
            .map(|&(line_number, units)| Moving {
                source: current.allocation_id.clone(),
                line_number,
                units,
                reason: applied.next.item(line_number).and_then(|i| i.scratched_reason_code.clone()),
            })
            .collect();
        let items: BTreeSet<_> = current.items.iter().map(|i| i.item_id.clone()).collect();
        let (availability, _, _) = read_availability(deps, tenant, &items).await?;
        let locations = inventory::list_locations(deps, tenant).await?;
        let strategy = settings(deps, tenant).await?.strategy;
        let mut placer = Placer::new(deps, tenant, &caller.user, UPDATE_SOURCE, &locations, availability, strategy);
        placer.touch(current.clone(), applied.next.clone());
        back_ordered = placer.place(&order, &moving, None, true).await?;
        (change.rewrites, change.created) = placer.finish();
    }
    let written = change
        .rewrites
        .iter()
        .find(|r| r.read.allocation_id == current.allocation_id)
        .map_or_else(|| applied.next.clone(), |r| r.next.clone());

    let mut next_order = order.clone();
    let mut shipped = StockDeltas::new();
    for &(line_number, units) in &applied.shipped {
        let Some(item) = current.item(line_number) else { continue };
        *shipped.entry((current.location_num.clone(), item.item_id.clone())).or_insert(0) += i64::from(units);
        ship_on_order(&mut next_order, &item.order_line_id, units)?;
    }
    // Scratched units the location had been released: they come back to Allocated on the
    // order first, then follow the other scratched units (placed again or back ordered).
    for &(line_number, _) in &applied.scratched {
        let (Some(read), Some(written)) = (current.item(line_number), applied.next.item(line_number)) else {
            continue;
        };
        let shipped_here: u32 = applied.shipped.iter().filter(|(n, _)| *n == line_number).map(|(_, u)| u).sum();
        let unreleased = read.released_quantity.saturating_sub(written.released_quantity).saturating_sub(shipped_here);
        if let Some(line) = next_order.line_mut(&read.order_line_id) {
            let units = unreleased.min(line.quantity_at(FulfillmentStatus::Released));
            line.move_quantity(FulfillmentStatus::Released, FulfillmentStatus::Allocated, units)?;
        }
    }
    for (line_id, units) in back_ordered {
        if let Some(line) = next_order.line_mut(&line_id) {
            let units = units.min(line.quantity_at(FulfillmentStatus::Allocated));
            line.move_quantity(FulfillmentStatus::Allocated, FulfillmentStatus::BackOrdered, units)?;
        }
    }
    change.settle_stock(&shipped);
    if next_order != order {
        next_order.touch(&caller.user, deps.clock.now());
        let recorded =
            lifecycle::record_change(deps, Some(&order), &mut next_order, Units::Keep, UPDATE_SOURCE).await?;
        let item = orders::order_item(tenant, &next_order)?;
        change.others.push(WriteOp::Put { item, condition: Some(Condition::version_is(order.version)) });
        change.others.extend(recorded.writes);
        change.messages.extend(recorded.messages);
    }
    Ok((write_change(deps, tenant, &caller.user, change).await?, written))
}

/// Moves `units` of the line to Fulfilled: released units first, then allocated ones.
fn ship_on_order(order: &mut Order, line_id: &crate::domain::ids::OrderLineId, units: u32) -> OmsResult<()> {
    let Some(line) = order.line_mut(line_id) else { return Ok(()) };
    let released = units.min(line.quantity_at(FulfillmentStatus::Released));
    line.move_quantity(FulfillmentStatus::Released, FulfillmentStatus::Fulfilled, released)?;
    let allocated = (units - released).min(line.quantity_at(FulfillmentStatus::Allocated));
    line.move_quantity(FulfillmentStatus::Allocated, FulfillmentStatus::Fulfilled, allocated)
}
