//! `PUT /allocation/reallocate`: moves held units (whole allocations, whole items, or line
//! quantities) to a location or away from where they are. The old reservations are released
//! and the new ones made in the same change; when the units cannot all move, nothing moves.

use std::collections::BTreeSet;

use super::placement::{Moving, Placer};
use super::{
    Allocation, AllocationId, Caller, Deps, LocationId, MAX_ATTEMPTS, OmsError, OmsResult, OrderId, REALLOCATE_SOURCE,
    StockDeltas, TenantId, Written, allocations_of_order, held_conflict, held_elsewhere, inventory, journal,
    load_allocations, orders, read_availability, settings, write_change,
};
use crate::domain::allocation::{AuditLog, AuditType, DocumentType, LinePick, ReallocateRequest, Selection, Taken};

/// Moves the units the request selects; answers the allocations that received them.
#[tracing::instrument(skip_all)]
pub async fn reallocate(deps: &Deps, caller: &Caller, req: &ReallocateRequest) -> OmsResult<Vec<Allocation>> {
    let tenant = &caller.tenant;
    let (kind, ids) = req.targets()?;
    if req.tenant.as_deref().map(str::trim) != Some(caller.tenant.as_str()) {
        return Err(OmsError::Forbidden(format!(
            "tenant {:?} is not the caller's tenant",
            req.tenant.as_deref().unwrap_or_default()
        )));
    }
    let target = req.location_num.as_deref().map(|l| LocationId::parse_at("locationNum", l)).transpose()?;
    let selection = req.selection()?;
    let reason = req.reason()?;
    let mut held = Vec::new();
    for attempt in 0..MAX_ATTEMPTS {
        let sources = sources(deps, tenant, kind, &ids, req.order_number.as_deref()).await?;
        if held_elsewhere(deps, tenant, &sources).await? {
            held = sources;
            super::super::backoff(attempt).await;
            continue;
        }
        let moving = select(&sources, &selection, reason.as_deref())?;
        let items: BTreeSet<_> = moving
            .iter()
            .filter_map(|m| sources.iter().find(|s| s.allocation_id == m.source)?.item(m.line_number))
            .map(|i| i.item_id.clone())
            .collect();
        let (availability, _, _) = read_availability(deps, tenant, &items).await?;
        let locations = inventory::list_locations(deps, tenant).await?;
        let strategy = settings(deps, tenant).await?.strategy;
        let mut placer = Placer::new(deps, tenant, &caller.user, REALLOCATE_SOURCE, &locations, availability, strategy);
        let now = deps.clock.now();
        for source in &sources {
            placer.touch(source.clone(), source.clone());
        }
        for m in &moving {
            let Some((doc, entries)) = placer.document_mut(&m.source) else { continue };
            let Some(item) = doc.item_mut(m.line_number) else { continue };
            item.take(m.units, Taken::Reallocated).map_err(|held| {
                OmsError::Internal(anyhow::anyhow!("line {} holds {held}, fewer than {}", m.line_number, m.units))
            })?;
            entries.push(
                AuditLog::new(AuditType::Reallocate, &caller.user, now, REALLOCATE_SOURCE)
                    .for_item(item, m.units)
                    .reason(m.reason.as_deref()),
            );
        }
        let mut orders_of: Vec<OrderId> = sources.iter().map(|s| s.order_number.clone()).collect();
        orders_of.sort();
        orders_of.dedup();
        for order_id in orders_of {
            let order = orders::load_order(deps, tenant, &order_id)
                .await?
                .ok_or_else(|| OmsError::order_not_found(order_id.as_str()))?;
            let of_order: Vec<Moving> = moving
                .iter()
                .filter(|m| sources.iter().any(|s| s.allocation_id == m.source && s.order_number == order_id))
                .cloned()
                .collect();
            placer.place(&order, &of_order, target.as_ref(), false).await?;
        }
        let (rewrites, created) = placer.finish();
        let sources_ids: BTreeSet<&AllocationId> = sources.iter().map(|s| &s.allocation_id).collect();
        let received: Vec<Allocation> = rewrites
            .iter()
            .filter(|r| !sources_ids.contains(&r.read.allocation_id) || gained(&r.read, &r.next))
            .map(|r| r.next.clone())
            .chain(created.iter().cloned())
            .collect();
        let mut change = super::Change::new(journal::Kind::Reallocate);
        change.rewrites = rewrites;
        change.created = created;
        change.settle_stock(&StockDeltas::new());
        match write_change(deps, tenant, &caller.user, change).await? {
            Written::Done => return Ok(received),
            Written::Raced => super::super::backoff(attempt).await,
        }
    }
    if !held.is_empty() {
        return Err(held_conflict(&held));
    }
    Err(OmsError::Conflict("stock or allocations kept changing while reallocating; retry".into()))
}

/// True when `next` holds lines `read` did not (units moved in).
fn gained(read: &Allocation, next: &Allocation) -> bool {
    next.items.len() > read.items.len()
}

/// The live allocations the request names.
async fn sources(
    deps: &Deps,
    tenant: &TenantId,
    kind: DocumentType,
    ids: &[String],
    order_number: Option<&str>,
) -> OmsResult<Vec<Allocation>> {
    let mut sources = Vec::new();
    match kind {
        DocumentType::Allocation => {
            // (index in the request, id): an id named twice is one document to move.
            let mut named: Vec<(usize, AllocationId)> = Vec::with_capacity(ids.len());
            for (i, raw) in ids.iter().enumerate() {
                let id = AllocationId::parse_at(&format!("id[{i}]"), raw)?;
                if !named.iter().any(|(_, seen)| seen == &id) {
                    named.push((i, id));
                }
            }
            let parsed: Vec<AllocationId> = named.iter().map(|(_, id)| id.clone()).collect();
            let mut found = load_allocations(deps, tenant, &parsed).await?;
            for (i, id) in &named {
                let doc = found
                    .remove(id)
                    .ok_or_else(|| OmsError::validation(format!("id[{i}]"), format!("allocation {id} not found")))?;
                if !doc.status_code.is_live() {
                    return Err(OmsError::Conflict(format!(
                        "allocation {id} is {}; only live allocations move",
                        doc.status_code.id()
                    )));
                }
                sources.push(doc);
            }
        }
        DocumentType::Order => {
            let mut orders: Vec<OrderId> = Vec::with_capacity(ids.len());
            for (i, raw) in ids.iter().enumerate() {
                let order = OrderId::parse_at(&format!("id[{i}]"), raw)?;
                if !orders.contains(&order) {
                    orders.push(order);
                }
            }
            for order in orders {
                sources.extend(
                    allocations_of_order(deps, tenant, &order)
                        .await?
                        .into_iter()
                        .filter(|a| a.status_code.is_live() && a.units() > 0),
                );
            }
            if sources.is_empty() {
                return Err(OmsError::validation("id", "the orders named have no live allocation"));
            }
        }
    }
    if let Some(number) = order_number
        && let Some(other) = sources.iter().find(|s| s.order_number.as_str() != number)
    {
        return Err(OmsError::validation(
            "orderNumber",
            format!("allocation {} belongs to order {}, not {number}", other.allocation_id, other.order_number),
        ));
    }
    Ok(sources)
}

/// The units the selection moves out of `sources`, line by line.
fn select(sources: &[Allocation], selection: &Selection, reason: Option<&str>) -> OmsResult<Vec<Moving>> {
    let whole = |source: &Allocation, keep: &dyn Fn(&crate::domain::allocation::AllocationItem) -> bool| {
        source
            .items
            .iter()
            // Units released to the location stay there until they ship or are scratched.
            .filter(|i| i.unreleased() > 0 && keep(i))
            .map(|i| Moving {
                source: source.allocation_id.clone(),
                line_number: i.allocation_line_number,
                units: i.unreleased(),
                reason: reason.map(str::to_owned),
            })
            .collect::<Vec<_>>()
    };
    let moving: Vec<Moving> = match selection {
        Selection::All => sources.iter().flat_map(|s| whole(s, &|_| true)).collect(),
        Selection::Items(items) => {
            let moving: Vec<Moving> = sources.iter().flat_map(|s| whole(s, &|i| items.contains(&i.item_id))).collect();
            if moving.is_empty() {
                let ids: Vec<&str> = sources.iter().map(|s| s.allocation_id.as_str()).collect();
                return Err(OmsError::validation(
                    "items",
                    format!("allocation {} holds none of the items named", ids.join(", ")),
                ));
            }
            moving
        }
        Selection::Lines(picks) => {
            let mut moving: Vec<Moving> = Vec::with_capacity(picks.len());
            for pick in picks {
                let m = line_pick(sources, pick, reason)?;
                if moving.iter().any(|seen| seen.source == m.source && seen.line_number == m.line_number) {
                    return Err(OmsError::validation(
                        format!("{}.allocationLineNumber", pick.field),
                        format!("line {} of allocation {} is named twice", m.line_number, m.source),
                    ));
                }
                moving.push(m);
            }
            moving
        }
    };
    if moving.is_empty() {
        if sources.iter().any(|s| s.items.iter().any(|i| i.released_quantity > 0)) {
            return Err(OmsError::Conflict(
                "the units of the allocations named are released to their locations, which keep them until they ship or are scratched".into(),
            ));
        }
        return Err(OmsError::validation("id", "the allocations named hold no units to move"));
    }
    Ok(moving)
}

/// The units one line pick moves, checked against the line it names.
fn line_pick(sources: &[Allocation], pick: &LinePick, reason: Option<&str>) -> OmsResult<Moving> {
    let field = |name: &str| format!("{}.{name}", pick.field);
    let source = match &pick.allocation_id {
        Some(id) => sources.iter().find(|s| &s.allocation_id == id).ok_or_else(|| {
            OmsError::validation(field("allocationId"), format!("allocation {id} is not among those named in id"))
        })?,
        None => match sources {
            [one] => one,
            _ => {
                return Err(OmsError::validation(
                    field("allocationId"),
                    "is required when the request names several allocations: say which one holds the line",
                ));
            }
        },
    };
    let item = source.item(pick.line_number).ok_or_else(|| {
        OmsError::validation(
            field("allocationLineNumber"),
            format!("allocation {} has no line {}", source.allocation_id, pick.line_number),
        )
    })?;
    if let Some(line) = &pick.line_item_id
        && line != &item.order_line_id
    {
        return Err(OmsError::validation(
            field("lineItemId"),
            format!("line {} serves order line {}, not {line}", pick.line_number, item.order_line_id),
        ));
    }
    let held = item.unreleased();
    let units = pick.quantity.unwrap_or(held);
    if item.released_quantity > 0 && units > held {
        return Err(OmsError::Conflict(format!(
            "line {} of allocation {} has {} units released to its location, which stay there until they ship or are scratched; {held} can move",
            pick.line_number, source.allocation_id, item.released_quantity
        )));
    }
    if units == 0 || units > held {
        return Err(OmsError::validation(
            field("quantity"),
            format!(
                "line {} of allocation {} holds {held} units; {units} cannot move",
                pick.line_number, source.allocation_id
            ),
        ));
    }
    Ok(Moving {
        source: source.allocation_id.clone(),
        line_number: pick.line_number,
        units,
        reason: pick.reason.clone().or_else(|| reason.map(str::to_owned)),
    })
}
