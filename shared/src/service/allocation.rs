//! The allocation service (seed 001): choose ship-from locations, reserve the stock, and keep
//! the order's per-status quantities, the allocation documents and the reservations in step.
//!
//! Reservations are conditional atomic updates on the stock rows (`available >= q`), never
//! read-modify-write. An order's reservations, its allocation documents and the order itself
//! are written in one transaction; a reservation that loses a race fails the transaction, and
//! the order is planned again from fresh stock.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::deps::Deps;
use crate::domain::allocation::{
    Allocation, AllocationEventRequest, AllocationId, AllocationItem, AllocationStatus, AllocationType, AuditLog,
    DocumentType, ReallocateRequest, UpdateAllocationRequest,
};
use crate::domain::ids::{ItemId, LocationId, OrderId, TenantId};
use crate::domain::location::Location;
use crate::domain::order::{DeliveryMethod, Order, OrderLine, SaveOrderRequest};
use crate::domain::sourcing::{self, Availability, Demand, Explanation, Plan, Strategy};
use crate::domain::status::FulfillmentStatus;
use crate::error::{OmsError, OmsResult};
use crate::http::auth::Caller;
use crate::keys;
use crate::ports::{Condition, Index, Item, MAX_TRANSACTION_ITEMS, Query, QueueName, StoreError, Update, WriteOp};
use crate::service::change_tracker::ChangeTrackerMessage;
use crate::service::inventory::{self, StockRow};
use crate::service::{orders, outbox};
use crate::store::{self, entity};

/// Attempts before an allocation that keeps losing races gives up with 409.
const MAX_ATTEMPTS: usize = 10;
/// Most ids one cancel or reallocate request may name.
const MAX_IDS: usize = 25;

// ------------------------------------------------------------------------------------------
// Stores and writes
// ------------------------------------------------------------------------------------------

fn allocation_item(tenant: &TenantId, allocation: &Allocation) -> OmsResult<Item> {
    let id = allocation.allocation_id.as_str();
    entity::to_item(
        &keys::allocation(tenant, &allocation.allocation_id),
        allocation,
        allocation.version,
        &[
            ("GSI1PK", keys::allocations_by_update(tenant).into()),
            ("GSI1SK", format!("{}#{id}", keys::timestamp(allocation.updated_at)).into()),
            ("GSI2PK", keys::allocations_of_order(tenant, &allocation.order_number).into()),
            ("GSI2SK", id.into()),
        ],
    )
}

const INDEX_ATTRIBUTES: [&str; 4] = ["GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK"];

fn read_allocation(item: Item) -> OmsResult<Allocation> {
    entity::from_item(item, &INDEX_ATTRIBUTES)
}

/// Net change of `reserved` per stock row: positive reserves, negative releases.
type StockDeltas = BTreeMap<(LocationId, ItemId), i64>;

/// The guarded update that moves `delta` units of a row into (or out of) `reserved`.
fn reservation(tenant: &TenantId, location: &LocationId, item: &ItemId, delta: i64) -> WriteOp {
    let update = Update::new().add("reserved", delta).add("available", -delta).add(entity::VERSION, 1);
    // Reserving needs the units to be there; releasing only needs the row.
    let condition = if delta > 0 { Condition::AtLeast("available".into(), delta) } else { Condition::Exists };
    WriteOp::Update { key: keys::stock(tenant, item, location), update, condition: Some(condition) }
}

/// One write and how to undo it if a later chunk of the same change fails.
struct Step {
    write: WriteOp,
    undo: Option<WriteOp>,
}

fn reservation_steps(tenant: &TenantId, deltas: &StockDeltas) -> Vec<Step> {
    deltas
        .iter()
        .filter(|(_, delta)| **delta != 0)
        .map(|((location, item), delta)| Step {
            write: reservation(tenant, location, item, *delta),
            undo: Some(reservation(tenant, location, item, -*delta)),
        })
        .collect()
}

/// Writes the steps all or nothing: one transaction when they fit, else chunks of 100 where
/// a failed chunk undoes the chunks before it. Steps without an undo all go in the last
/// chunk, so nothing that cannot be undone is written before every other chunk succeeded.
async fn write_all(deps: &Deps, steps: Vec<Step>) -> Result<(), StoreError> {
    if steps.len() <= MAX_TRANSACTION_ITEMS {
        return deps.store.transact(steps.into_iter().map(|s| s.write).collect()).await;
    }
    let (mut ordered, last): (Vec<Step>, Vec<Step>) = steps.into_iter().partition(|s| s.undo.is_some());
    if last.len() > MAX_TRANSACTION_ITEMS {
        return Err(StoreError::Invalid(format!(
            "{} writes cannot be undone and must share one transaction; split the request",
            last.len()
        )));
    }
    ordered.extend(last);
    // Chunks are cut from the end, so the last one holds the final 100 steps.
    let first = ordered.len() % MAX_TRANSACTION_ITEMS;
    let mut sizes = Vec::new();
    if first > 0 {
        sizes.push(first);
    }
    sizes.extend(std::iter::repeat_n(MAX_TRANSACTION_ITEMS, ordered.len() / MAX_TRANSACTION_ITEMS));
    let mut undo: Vec<WriteOp> = Vec::new();
    let mut offset = 0;
    let mut steps = ordered.into_iter();
    for size in sizes {
        let (writes, undos): (Vec<WriteOp>, Vec<Option<WriteOp>>) =
            steps.by_ref().take(size).map(|s| (s.write, s.undo)).unzip();
        match deps.store.transact(writes).await {
            Ok(()) => undo.extend(undos.into_iter().flatten()),
            Err(err) => {
                compensate(deps, undo).await;
                return Err(match err {
                    StoreError::TransactionCanceled { failed } => {
                        StoreError::TransactionCanceled { failed: failed.into_iter().map(|i| i + offset).collect() }
                    }
                    other => other,
                });
            }
        }
        offset += size;
    }
    Ok(())
}

/// Undoes written chunks. If this fails too, reconciliation finds and repairs the drift.
async fn compensate(deps: &Deps, undo: Vec<WriteOp>) {
    for chunk in undo.chunks(MAX_TRANSACTION_ITEMS) {
        if let Err(e) = deps.store.transact(chunk.to_vec()).await {
            tracing::error!(error = %e, "compensation failed; run reconciliation to repair reservations");
        }
    }
}

/// Writes a new allocation document; undone by deleting it.
fn new_document_step(tenant: &TenantId, doc: &Allocation) -> OmsResult<Step> {
    Ok(Step {
        write: WriteOp::Put { item: allocation_item(tenant, doc)?, condition: Some(Condition::NotExists) },
        undo: Some(WriteOp::Delete { key: keys::allocation(tenant, &doc.allocation_id), condition: None }),
    })
}

/// Ends a live allocation (cancelled or reallocated): the status change is audited and the
/// write is guarded by the version that was read.
fn retire(
    tenant: &TenantId,
    doc: &Allocation,
    status: AllocationStatus,
    caller: &Caller,
    now: chrono::DateTime<chrono::Utc>,
) -> OmsResult<(Allocation, Step)> {
    let mut next = doc.clone();
    next.audit_logs.push(AuditLog {
        updated_at: now,
        updated_by: caller.user.clone(),
        field: "statusCode".into(),
        old_value: json!(doc.status_code),
        new_value: json!(status),
    });
    next.status_code = status;
    next.version += 1;
    next.updated_at = now;
    let write =
        WriteOp::Put { item: allocation_item(tenant, &next)?, condition: Some(Condition::version_is(doc.version)) };
    Ok((next, Step { write, undo: None }))
}

fn order_step(tenant: &TenantId, order: &Order, stored_version: u64) -> OmsResult<Step> {
    let item = entity::to_item(&keys::order(tenant, &order.order_id), order, order.version, &[])?;
    Ok(Step { write: WriteOp::Put { item, condition: Some(Condition::version_is(stored_version)) }, undo: None })
}

fn change_tracker_step(deps: &Deps, tenant: &TenantId, order: &OrderId) -> (Step, outbox::OutboxMessage) {
    let now = deps.clock.now();
    let change = ChangeTrackerMessage {
        tenant: tenant.clone(),
        order_id: order.clone(),
        change_id: deps.ids.new_id(),
        time: now,
    };
    let (write, message) = outbox::record(deps, tenant, QueueName::ChangeTracker, outbox::body(&change), now);
    (Step { write, undo: None }, message)
}

// ------------------------------------------------------------------------------------------
// Reads
// ------------------------------------------------------------------------------------------

pub async fn load_allocation(deps: &Deps, tenant: &TenantId, id: &AllocationId) -> OmsResult<Option<Allocation>> {
    match deps.store.get(&keys::allocation(tenant, id)).await? {
        Some(item) => Ok(Some(read_allocation(item)?)),
        None => Ok(None),
    }
}

/// The allocations among `ids` that exist, read in one batch.
async fn load_allocations(
    deps: &Deps,
    tenant: &TenantId,
    ids: &[AllocationId],
) -> OmsResult<HashMap<AllocationId, Allocation>> {
    let keys: Vec<_> = ids.iter().map(|id| keys::allocation(tenant, id)).collect();
    let mut found = HashMap::new();
    for item in deps.store.batch_get(&keys).await? {
        let doc = read_allocation(item)?;
        found.insert(doc.allocation_id.clone(), doc);
    }
    Ok(found)
}

/// Documented: an unknown or malformed id is a 400.
pub async fn get_allocation(deps: &Deps, tenant: &TenantId, id: &str) -> OmsResult<Allocation> {
    let id = AllocationId::parse_at("allocationId", id)?;
    load_allocation(deps, tenant, &id)
        .await?
        .ok_or_else(|| OmsError::validation("allocationId", format!("allocation {id} not found")))
}

async fn query_all(deps: &Deps, query: Query) -> OmsResult<Vec<Item>> {
    Ok(store::query_all(deps.store.as_ref(), query).await?)
}

pub async fn allocations_of_order(deps: &Deps, tenant: &TenantId, order: &OrderId) -> OmsResult<Vec<Allocation>> {
    let query = Query::partition(keys::allocations_of_order(tenant, order)).on(Index::Gsi2);
    query_all(deps, query).await?.into_iter().map(read_allocation).collect()
}

/// Units of each item still promisable at each location (stock rows of the given items).
async fn read_availability(
    deps: &Deps,
    tenant: &TenantId,
    items: &BTreeSet<ItemId>,
) -> OmsResult<(Availability, BTreeSet<ItemId>)> {
    let mut availability = Availability::new();
    let mut known = BTreeSet::new();
    let reads = items.iter().map(|item| inventory::availability(deps, tenant, item.as_str()));
    for result in futures::future::join_all(reads).await {
        let (item, rows) = result?;
        if !rows.is_empty() {
            known.insert(item.clone());
        }
        for row in rows {
            let level = row.level;
            availability.insert((row.location_id, item.clone()), level.on_hand - level.reserved - level.safety_stock);
        }
    }
    Ok((availability, known))
}

// ------------------------------------------------------------------------------------------
// Settings
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllocationSettings {
    pub strategy: Strategy,
    pub version: u64,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsRequest {
    /// Any case; `fewest-shipments` is read as `fewestShipments`.
    #[schema(value_type = Strategy, required = true)]
    pub strategy: Option<String>,
    pub version: Option<u64>,
}

pub async fn settings(deps: &Deps, tenant: &TenantId) -> OmsResult<AllocationSettings> {
    match deps.store.get(&keys::allocation_settings(tenant)).await? {
        Some(item) => entity::from_item(item, &[]),
        None => Ok(AllocationSettings::default()),
    }
}

pub async fn put_settings(deps: &Deps, tenant: &TenantId, req: &SettingsRequest) -> OmsResult<AllocationSettings> {
    let strategy = match req.strategy.as_deref() {
        Some(s) => Strategy::parse_at("strategy", s)?,
        None => return Err(OmsError::validation("strategy", "is required: nearest, priority or fewestShipments")),
    };
    let current = settings(deps, tenant).await?;
    if let Some(version) = req.version
        && version != current.version
    {
        return Err(OmsError::Conflict(format!("settings are at version {}, not {version}", current.version)));
    }
    let next = AllocationSettings { strategy, version: current.version + 1 };
    let key = keys::allocation_settings(tenant);
    let guard = if current.version == 0 { Condition::NotExists } else { Condition::version_is(current.version) };
    match deps.store.put(entity::to_item(&key, &next, next.version, &[])?, Some(guard)).await {
        Ok(()) => Ok(next),
        Err(StoreError::ConditionFailed) => Err(OmsError::Conflict("settings changed meanwhile; retry".into())),
        Err(e) => Err(e.into()),
    }
}

async fn strategy_for(deps: &Deps, tenant: &TenantId, requested: Option<&str>) -> OmsResult<Strategy> {
    match requested {
        Some(s) => Strategy::parse_at("detail.strategy", s),
        None => Ok(settings(deps, tenant).await?.strategy),
    }
}

// ------------------------------------------------------------------------------------------
// Allocate
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub struct AllocationOutcome {
    /// The allocations this request created; when there was nothing left to allocate, the
    /// order's live allocations.
    pub allocations: Vec<Allocation>,
    pub allocated: u32,
    pub back_ordered: u32,
}

/// Units of a line that still wait for stock: open and back ordered.
fn outstanding(line: &OrderLine) -> u32 {
    line.quantity_at(FulfillmentStatus::Open) + line.quantity_at(FulfillmentStatus::BackOrdered)
}

fn demands(order: &Order) -> Vec<Demand> {
    order
        .lines
        .iter()
        .filter(|line| !line.is_return && outstanding(line) > 0)
        .map(|line| Demand {
            line_id: line.order_line_id.clone(),
            item_id: line.item_id.clone(),
            quantity: outstanding(line),
            delivery: line.delivery_method,
            destination: line.ship_to.as_ref().and_then(|a| a.coordinates()),
            pickup_location: line.pickup_location_id.clone(),
        })
        .collect()
}

fn ship_type(method: DeliveryMethod) -> &'static str {
    match method {
        DeliveryMethod::ShipToAddress => "SHIP_TO_ADDRESS",
        DeliveryMethod::ShipToStore => "SHIP_TO_STORE",
        DeliveryMethod::PickUpAtStore => "PICKUP_AT_STORE",
        DeliveryMethod::Email => "EMAIL",
    }
}

/// Builds one allocation document per ship-from location of `plan`.
fn documents(
    deps: &Deps,
    order: &Order,
    plan: &Plan,
    locations: &HashMap<LocationId, &Location>,
    parent: Option<&Allocation>,
) -> OmsResult<Vec<Allocation>> {
    let now = deps.clock.now();
    let mut by_location: BTreeMap<LocationId, Vec<AllocationItem>> = BTreeMap::new();
    for line in &plan.lines {
        for pick in &line.picks {
            by_location.entry(pick.location_id.clone()).or_default().push(AllocationItem {
                line_id: line.line_id.clone(),
                item_id: line.item_id.clone(),
                quantity: pick.quantity,
            });
        }
    }
    let mut docs = Vec::new();
    for (location, items) in by_location {
        let first_line = items.first().and_then(|i| order.line(&i.line_id));
        let ship_to = first_line.and_then(|l| l.ship_to.as_ref()).map(|a| json!({"Address": a}));
        docs.push(Allocation {
            allocation_id: AllocationId::from_ulid(&deps.ids.new_id())?,
            version: 1,
            order_number: order.order_id.clone(),
            allocation_request_id: None,
            allocation_num: None,
            parent_allocation_id: parent.map(|p| p.allocation_id.clone()),
            sent_to_pps_date: None,
            allocation_date: now,
            updated_at: now,
            allocation_type: AllocationType::Allocated,
            previous_allocation_location_num: parent.map(|p| p.location_num.as_str().to_owned()),
            po_number: parent.and_then(|p| p.po_number.clone()),
            items_type: parent.and_then(|p| p.items_type.clone()),
            order_sub_type: parent.and_then(|p| p.order_sub_type.clone()),
            vendor_id: parent.and_then(|p| p.vendor_id.clone()),
            ship_date: None,
            ship_type: first_line.map(|l| ship_type(l.delivery_method).to_owned()),
            ship_method: parent.and_then(|p| p.ship_method.clone()),
            ship_to_id: parent.and_then(|p| p.ship_to_id.clone()),
            status_code: AllocationStatus::Allocated,
            location_type: locations.get(&location).map_or("DC", |l| l.location_type.id()).to_owned(),
            location_num: location,
            ship_to_address: ship_to,
            recipient: parent.map(|p| p.recipient.clone()).unwrap_or_default(),
            items,
            audit_logs: Vec::new(),
        });
    }
    Ok(docs)
}

/// Moves a line's outstanding units to Allocated (what the plan picked) and the rest to
/// Back Ordered.
fn apply_plan_to_order(order: &mut Order, plan: &Plan) -> OmsResult<()> {
    for line_plan in &plan.lines {
        let line = order
            .line_mut(&line_plan.line_id)
            .ok_or_else(|| OmsError::Internal(anyhow::anyhow!("plan names unknown line {}", line_plan.line_id)))?;
        let picked: u32 = line_plan.picks.iter().map(|p| p.quantity).sum();
        let from_open = picked.min(line.quantity_at(FulfillmentStatus::Open));
        line.move_quantity(FulfillmentStatus::Open, FulfillmentStatus::Allocated, from_open)?;
        line.move_quantity(FulfillmentStatus::BackOrdered, FulfillmentStatus::Allocated, picked - from_open)?;
        let still_open = line.quantity_at(FulfillmentStatus::Open);
        line.move_quantity(FulfillmentStatus::Open, FulfillmentStatus::BackOrdered, still_open)?;
    }
    Ok(())
}

fn deltas_of(docs: &[Allocation], sign: i64, deltas: &mut StockDeltas) {
    for doc in docs {
        for (item, units) in doc.units_by_item() {
            *deltas.entry((doc.location_num.clone(), item)).or_insert(0) += sign * i64::from(units);
        }
    }
}

/// `POST /allocation/`: allocates the order the event names (saving `detail.order` first).
pub async fn allocate_from_event(
    deps: &Deps,
    caller: &Caller,
    req: &AllocationEventRequest,
) -> OmsResult<AllocationOutcome> {
    req.check_event()?;
    let detail =
        req.detail.as_ref().ok_or_else(|| OmsError::validation("detail", "is required: {\"orderId\": ...}"))?;
    let order_id = match (&detail.order, &detail.order_id) {
        (Some(order), _) => {
            let save: SaveOrderRequest = serde_json::from_value(order.clone())
                .map_err(|e| OmsError::validation("detail.order", format!("is not a valid order: {e}")))?;
            if let (Some(named), Some(inside)) = (&detail.order_id, &save.order_id)
                && named != inside
            {
                return Err(OmsError::validation(
                    "detail.orderId",
                    format!("{named} differs from detail.order.OrderId {inside}"),
                ));
            }
            orders::save_order(deps, caller, &save).await?.order.order_id
        }
        (None, Some(id)) => OrderId::parse_at("detail.orderId", id)?,
        (None, None) => return Err(OmsError::validation("detail.orderId", "is required (or detail.order)")),
    };
    allocate_order(deps, caller, &order_id, detail.strategy.as_deref()).await
}

/// Allocates every outstanding unit of an order it can, back orders the rest.
#[tracing::instrument(skip_all, fields(order_id = %order_id))]
pub async fn allocate_order(
    deps: &Deps,
    caller: &Caller,
    order_id: &OrderId,
    strategy: Option<&str>,
) -> OmsResult<AllocationOutcome> {
    let tenant = &caller.tenant;
    let strategy = strategy_for(deps, tenant, strategy).await?;
    for attempt in 0..MAX_ATTEMPTS {
        let order = orders::load_order(deps, tenant, order_id)
            .await?
            .ok_or_else(|| OmsError::order_not_found(order_id.as_str()))?;
        let demands = demands(&order);
        if demands.is_empty() {
            let live: Vec<Allocation> = allocations_of_order(deps, tenant, order_id)
                .await?
                .into_iter()
                .filter(|a| a.status_code.is_live())
                .collect();
            let allocated = live.iter().map(Allocation::units).sum();
            return Ok(AllocationOutcome { allocations: live, allocated, back_ordered: 0 });
        }
        let items: BTreeSet<ItemId> = demands.iter().map(|d| d.item_id.clone()).collect();
        let (availability, known) = read_availability(deps, tenant, &items).await?;
        if let Some(unknown) = items.iter().find(|i| !known.contains(*i)) {
            return Err(OmsError::not_found(format!("item {unknown} is not stocked at any location")));
        }
        let locations = inventory::list_locations(deps, tenant).await?;
        let plan = sourcing::plan(&demands, &locations, &availability, strategy);
        let by_id: HashMap<LocationId, &Location> = locations.iter().map(|l| (l.location_id.clone(), l)).collect();
        let docs = documents(deps, &order, &plan, &by_id, None)?;

        let mut next = order.clone();
        apply_plan_to_order(&mut next, &plan)?;
        if next == order {
            // Nothing could be allocated and the lines were already back ordered.
            return Ok(AllocationOutcome { allocations: Vec::new(), allocated: 0, back_ordered: plan.back_ordered() });
        }
        next.touch(&caller.user, deps.clock.now());

        let mut deltas = StockDeltas::new();
        deltas_of(&docs, 1, &mut deltas);
        let mut steps = reservation_steps(tenant, &deltas);
        for doc in &docs {
            steps.push(new_document_step(tenant, doc)?);
        }
        steps.push(order_step(tenant, &next, order.version)?);
        let (tracker, message) = change_tracker_step(deps, tenant, order_id);
        steps.push(tracker);
        match write_all(deps, steps).await {
            Ok(()) => {
                outbox::deliver(deps, vec![message]).await;
                return Ok(AllocationOutcome {
                    allocated: plan.allocated(),
                    back_ordered: plan.back_ordered(),
                    allocations: docs,
                });
            }
            // Another allocation took the stock, or the order changed: plan again from fresh reads.
            Err(StoreError::TransactionCanceled { failed }) => {
                tracing::debug!(attempt, ?failed, "allocation lost a race; planning again");
                super::backoff(attempt).await;
            }
            Err(StoreError::TransactionConflict) => super::backoff(attempt).await,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OmsError::Conflict(format!("order {order_id}: stock kept changing during allocation; retry")))
}

// ------------------------------------------------------------------------------------------
// Cancel
// ------------------------------------------------------------------------------------------

fn parse_ids(field: &str, raw: &str) -> OmsResult<Vec<AllocationId>> {
    let mut ids: Vec<AllocationId> = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let id = AllocationId::parse_at(field, part)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.is_empty() {
        return Err(OmsError::validation(field, "name at least one allocation id (comma-separated)"));
    }
    if ids.len() > MAX_IDS {
        return Err(OmsError::validation(field, format!("at most {MAX_IDS} allocation ids per request")));
    }
    Ok(ids)
}

/// `PUT /allocation/cancel/{allocationIds}`: releases exactly what each live allocation
/// reserved and returns its units to Open. Cancelling again changes nothing.
#[tracing::instrument(skip_all)]
pub async fn cancel(deps: &Deps, caller: &Caller, raw_ids: &str) -> OmsResult<Vec<Allocation>> {
    let tenant = &caller.tenant;
    let ids = parse_ids("allocationIds", raw_ids)?;
    for attempt in 0..MAX_ATTEMPTS {
        let mut found = load_allocations(deps, tenant, &ids).await?;
        let mut docs = Vec::with_capacity(ids.len());
        for id in &ids {
            docs.push(found.remove(id).ok_or_else(|| OmsError::not_found(format!("allocation {id} not found")))?);
        }
        let live: Vec<Allocation> = docs.iter().filter(|d| d.status_code.is_live()).cloned().collect();
        if live.is_empty() {
            return Ok(docs);
        }
        let now = deps.clock.now();
        let mut deltas = StockDeltas::new();
        deltas_of(&live, -1, &mut deltas);
        let mut steps = reservation_steps(tenant, &deltas);
        let mut messages = Vec::new();
        let orders_touched: BTreeSet<OrderId> = live.iter().map(|d| d.order_number.clone()).collect();
        for order_id in &orders_touched {
            let Some(order) = orders::load_order(deps, tenant, order_id).await? else { continue };
            let mut next = order.clone();
            for doc in live.iter().filter(|d| &d.order_number == order_id) {
                for item in &doc.items {
                    if let Some(line) = next.line_mut(&item.line_id) {
                        let units = item.quantity.min(line.quantity_at(FulfillmentStatus::Allocated));
                        line.move_quantity(FulfillmentStatus::Allocated, FulfillmentStatus::Open, units)?;
                    }
                }
            }
            next.touch(&caller.user, now);
            steps.push(order_step(tenant, &next, order.version)?);
            let (tracker, message) = change_tracker_step(deps, tenant, order_id);
            steps.push(tracker);
            messages.push(message);
        }
        let mut result = Vec::new();
        for doc in docs {
            if !doc.status_code.is_live() {
                result.push(doc);
                continue;
            }
            let (next, step) = retire(tenant, &doc, AllocationStatus::Cancelled, caller, now)?;
            steps.push(step);
            result.push(next);
        }
        match write_all(deps, steps).await {
            Ok(()) => {
                outbox::deliver(deps, messages).await;
                return Ok(result);
            }
            Err(StoreError::TransactionCanceled { .. } | StoreError::TransactionConflict) => {
                super::backoff(attempt).await
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(OmsError::Conflict("the allocations kept changing while cancelling; retry".into()))
}

// ------------------------------------------------------------------------------------------
// Reallocate
// ------------------------------------------------------------------------------------------

/// `PUT /allocation/reallocate`: moves live allocations to `locationNum`, or re-plans their
/// units at other locations. Old reservations are released and new ones made in the same
/// transaction; when the units cannot all move, nothing moves (409).
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
    let only_items = req.item_filter()?;
    for attempt in 0..MAX_ATTEMPTS {
        let sources = reallocation_sources(deps, tenant, kind, &ids, req.order_number.as_deref()).await?;
        let locations = inventory::list_locations(deps, tenant).await?;
        let by_id: HashMap<LocationId, &Location> = locations.iter().map(|l| (l.location_id.clone(), l)).collect();
        let now = deps.clock.now();
        let mut deltas = StockDeltas::new();
        let mut steps = Vec::new();
        let mut created = Vec::new();
        for source in &sources {
            let order = orders::load_order(deps, tenant, &source.order_number)
                .await?
                .ok_or_else(|| OmsError::order_not_found(source.order_number.as_str()))?;
            let (moving, staying): (Vec<AllocationItem>, Vec<AllocationItem>) = source
                .items
                .iter()
                .cloned()
                .partition(|i| only_items.as_ref().is_none_or(|only| only.contains(&i.item_id)));
            if moving.is_empty() {
                return Err(OmsError::validation(
                    "items",
                    format!("allocation {} holds none of the items named", source.allocation_id),
                ));
            }
            let plan = reallocation_plan(deps, tenant, &order, source, &moving, target.as_ref(), &locations).await?;
            let mut new_docs = documents(deps, &order, &plan, &by_id, Some(source))?;
            if !staying.is_empty() {
                // The units that stay keep their location in a new document of their own.
                let keep = Plan {
                    lines: staying
                        .iter()
                        .map(|i| sourcing::LinePlan {
                            line_id: i.line_id.clone(),
                            item_id: i.item_id.clone(),
                            picks: vec![sourcing::Pick {
                                location_id: source.location_num.clone(),
                                quantity: i.quantity,
                            }],
                            back_ordered: 0,
                        })
                        .collect(),
                };
                let mut kept = documents(deps, &order, &keep, &by_id, Some(source))?;
                for doc in &mut kept {
                    doc.previous_allocation_location_num = source.previous_allocation_location_num.clone();
                }
                new_docs.extend(kept);
            }
            deltas_of(std::slice::from_ref(source), -1, &mut deltas);
            deltas_of(&new_docs, 1, &mut deltas);
            steps.push(retire(tenant, source, AllocationStatus::Reallocated, caller, now)?.1);
            for doc in &new_docs {
                steps.push(new_document_step(tenant, doc)?);
            }
            created.extend(new_docs);
        }
        // Reservations first so that a chunked write undoes them if a document write fails.
        let mut all = reservation_steps(tenant, &deltas);
        all.extend(steps);
        match write_all(deps, all).await {
            Ok(()) => return Ok(created),
            Err(StoreError::TransactionCanceled { .. } | StoreError::TransactionConflict) => {
                super::backoff(attempt).await
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(OmsError::Conflict("stock or allocations kept changing while reallocating; retry".into()))
}

async fn reallocation_sources(
    deps: &Deps,
    tenant: &TenantId,
    kind: DocumentType,
    ids: &[String],
    order_number: Option<&str>,
) -> OmsResult<Vec<Allocation>> {
    let mut sources = Vec::new();
    match kind {
        DocumentType::Allocation => {
            let parsed: Vec<AllocationId> = ids
                .iter()
                .enumerate()
                .map(|(i, raw)| AllocationId::parse_at(&format!("id[{i}]"), raw))
                .collect::<OmsResult<_>>()?;
            let mut found = load_allocations(deps, tenant, &parsed).await?;
            for (i, id) in parsed.iter().enumerate() {
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
            for (i, raw) in ids.iter().enumerate() {
                let order = OrderId::parse_at(&format!("id[{i}]"), raw)?;
                sources.extend(
                    allocations_of_order(deps, tenant, &order).await?.into_iter().filter(|a| a.status_code.is_live()),
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

/// Where the moving units of `source` go: all to `target`, or re-planned away from its location.
async fn reallocation_plan(
    deps: &Deps,
    tenant: &TenantId,
    order: &Order,
    source: &Allocation,
    moving: &[AllocationItem],
    target: Option<&LocationId>,
    locations: &[Location],
) -> OmsResult<Plan> {
    let demands: Vec<Demand> = moving
        .iter()
        .map(|item| {
            let line = order.line(&item.line_id);
            Demand {
                line_id: item.line_id.clone(),
                item_id: item.item_id.clone(),
                quantity: item.quantity,
                delivery: line.map_or(DeliveryMethod::ShipToAddress, |l| l.delivery_method),
                destination: line.and_then(|l| l.ship_to.as_ref()).and_then(|a| a.coordinates()),
                pickup_location: line.and_then(|l| l.pickup_location_id.clone()),
            }
        })
        .collect();
    let items: BTreeSet<ItemId> = moving.iter().map(|i| i.item_id.clone()).collect();
    let (availability, _) = read_availability(deps, tenant, &items).await?;
    let candidates: Vec<Location> = match target {
        Some(target) if target == &source.location_num => {
            return Err(OmsError::validation(
                "locationNum",
                format!("allocation {} is already at {target}", source.allocation_id),
            ));
        }
        Some(target) => {
            let location = locations
                .iter()
                .find(|l| &l.location_id == target)
                .ok_or_else(|| OmsError::validation("locationNum", format!("location {target} does not exist")))?;
            vec![location.clone()]
        }
        None => locations.iter().filter(|l| l.location_id != source.location_num).cloned().collect(),
    };
    let strategy = settings(deps, tenant).await?.strategy;
    let plan = sourcing::plan(&demands, &candidates, &availability, strategy);
    if plan.back_ordered() > 0 {
        let short: Vec<String> = plan
            .lines
            .iter()
            .filter(|l| l.back_ordered > 0)
            .map(|l| format!("{} units of {}", l.back_ordered, l.item_id))
            .collect();
        let place = target.map_or_else(|| "no other location".to_string(), |t| format!("location {t}"));
        return Err(OmsError::Conflict(format!(
            "{place} can take {} of allocation {}; nothing was moved",
            short.join(", "),
            source.allocation_id
        )));
    }
    Ok(plan)
}

// ------------------------------------------------------------------------------------------
// Update and query
// ------------------------------------------------------------------------------------------

/// `PUT /allocation/{allocationId}`: a versioned update of the document's own fields.
pub async fn update(deps: &Deps, caller: &Caller, id: &str, req: &UpdateAllocationRequest) -> OmsResult<Allocation> {
    let tenant = &caller.tenant;
    let current = get_allocation(deps, tenant, id).await?;
    let next = req.apply(&current, &caller.user, deps.clock.now())?;
    if next == current {
        return Ok(current);
    }
    let item = allocation_item(tenant, &next)?;
    match deps.store.put(item, Some(Condition::version_is(current.version))).await {
        Ok(()) => Ok(next),
        Err(StoreError::ConditionFailed) => Err(OmsError::Conflict(format!(
            "allocation {id} was changed by another request; get it again and resend with its version"
        ))),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryRequest {
    /// 10 when left out.
    #[schema(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    #[schema(minimum = 0)]
    pub offset: Option<i64>,
    /// `updatedAt` when left out.
    #[schema(schema_with = sort_by_schema)]
    pub sort_by: Option<String>,
    /// `desc` when left out; any case.
    #[schema(schema_with = sort_direction_schema)]
    pub sort_direction: Option<String>,
    /// Fields an allocation must have, shaped like an allocation (e.g. `{"orderNumber": "O-1"}`).
    #[schema(value_type = Option<Object>)]
    pub filters: Option<Value>,
}

fn sort_by_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(SORTABLE.iter().copied()))
        .build()
}

fn sort_direction_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["asc", "desc"]))
        .build()
}

const SORTABLE: &[&str] = &["updatedAt", "allocationDate", "allocationId", "locationNum", "statusCode", "orderNumber"];
const MAX_LIMIT: i64 = 100;

/// True when `doc` has every field of `filter` (objects match recursively, arrays match
/// when some element matches each filter element).
fn matches(doc: &Value, filter: &Value) -> bool {
    match (doc, filter) {
        (_, Value::Object(fields)) => fields.iter().all(|(k, f)| doc.get(k).is_some_and(|d| matches(d, f))),
        (Value::Array(elements), Value::Array(wanted)) => wanted.iter().all(|w| elements.iter().any(|e| matches(e, w))),
        (Value::Array(elements), wanted) => elements.iter().any(|e| matches(e, wanted)),
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::Number(b)) | (Value::Number(b), Value::String(a)) => *a == b.to_string(),
        (a, b) => a == b,
    }
}

/// `POST /allocation/query`: the tenant's allocations matching `filters`, from the tenant's
/// index partitions (by order when `filters.orderNumber` is given), never a table scan.
pub async fn query(deps: &Deps, tenant: &TenantId, req: &QueryRequest) -> OmsResult<Vec<Allocation>> {
    let limit = req.limit.unwrap_or(10);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(OmsError::validation("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    let offset = req.offset.unwrap_or(0);
    if offset < 0 {
        return Err(OmsError::validation("offset", "must be 0 or more"));
    }
    let sort_by = req.sort_by.as_deref().unwrap_or("updatedAt");
    if !SORTABLE.contains(&sort_by) {
        return Err(OmsError::validation("sortBy", format!("must be one of {}", SORTABLE.join(", "))));
    }
    let descending = match req.sort_direction.as_deref().unwrap_or("desc") {
        d if d.eq_ignore_ascii_case("desc") => true,
        d if d.eq_ignore_ascii_case("asc") => false,
        other => return Err(OmsError::validation("sortDirection", format!("must be asc or desc, got {other:?}"))),
    };
    let filters = match &req.filters {
        None => json!({}),
        Some(f @ Value::Object(_)) => f.clone(),
        Some(_) => return Err(OmsError::validation("filters", "must be an object shaped like an allocation")),
    };
    let source = match filters.get("orderNumber").and_then(Value::as_str) {
        Some(order) => {
            Query::partition(keys::allocations_of_order(tenant, &OrderId::parse_at("filters.orderNumber", order)?))
                .on(Index::Gsi2)
        }
        None => Query::partition(keys::allocations_by_update(tenant)).on(Index::Gsi1),
    };
    let mut docs: Vec<(Value, Allocation)> = Vec::new();
    for item in query_all(deps, source).await? {
        let doc = read_allocation(item)?;
        let value = serde_json::to_value(&doc).map_err(|e| OmsError::Internal(e.into()))?;
        if matches(&value, &filters) {
            docs.push((value, doc));
        }
    }
    docs.sort_by(|(a, _), (b, _)| {
        let key = |v: &Value| v.get(sort_by).map(|x| x.to_string()).unwrap_or_default();
        let order = key(a).cmp(&key(b)).then_with(|| key_id(a).cmp(&key_id(b)));
        if descending { order.reverse() } else { order }
    });
    let page: Vec<Allocation> = docs.into_iter().skip(offset as usize).take(limit as usize).map(|(_, d)| d).collect();
    if page.is_empty() {
        return Err(OmsError::not_found("no allocation matches the filters"));
    }
    Ok(page)
}

fn key_id(v: &Value) -> String {
    v.get("allocationId").and_then(Value::as_str).unwrap_or_default().to_owned()
}

// ------------------------------------------------------------------------------------------
// Explain and reconcile
// ------------------------------------------------------------------------------------------

/// Why each outstanding unit of an order goes (or would go) where it does.
pub async fn explain(
    deps: &Deps,
    tenant: &TenantId,
    order_id: &str,
) -> OmsResult<(Order, Explanation, Vec<Allocation>)> {
    let order_id = OrderId::parse_at("orderId", order_id)?;
    let order = orders::load_order(deps, tenant, &order_id)
        .await?
        .ok_or_else(|| OmsError::order_not_found(order_id.as_str()))?;
    let demands = demands(&order);
    let items: BTreeSet<ItemId> = demands.iter().map(|d| d.item_id.clone()).collect();
    let (availability, _) = read_availability(deps, tenant, &items).await?;
    let locations = inventory::list_locations(deps, tenant).await?;
    let strategy = settings(deps, tenant).await?.strategy;
    let explanation = sourcing::explain(&demands, &locations, &availability, strategy);
    let live =
        allocations_of_order(deps, tenant, &order_id).await?.into_iter().filter(|a| a.status_code.is_live()).collect();
    Ok((order, explanation, live))
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub location_id: LocationId,
    pub item_id: ItemId,
    pub reserved: i64,
    pub expected: i64,
    pub drift: i64,
    pub repaired: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    pub stock_rows_checked: usize,
    pub live_allocations: usize,
    pub drift: Vec<Drift>,
    pub repaired: usize,
}

/// Recomputes every stock row's `reserved` from the live allocations and reports the rows
/// that differ; with `repair`, sets them right (guarded, so a concurrent change is not lost).
#[tracing::instrument(skip_all)]
pub async fn reconcile(deps: &Deps, tenant: &TenantId, repair: bool) -> OmsResult<ReconcileReport> {
    let rows = query_all(deps, Query::partition(keys::stock_rows(tenant)).on(Index::Gsi2)).await?;
    let rows: Vec<StockRow> = rows.iter().map(StockRow::from_item).collect::<OmsResult<_>>()?;
    let docs = query_all(deps, Query::partition(keys::allocations_by_update(tenant)).on(Index::Gsi1)).await?;
    let live: Vec<Allocation> = docs
        .into_iter()
        .map(read_allocation)
        .collect::<OmsResult<Vec<_>>>()?
        .into_iter()
        .filter(|a| a.status_code.is_live())
        .collect();
    let mut expected = StockDeltas::new();
    deltas_of(&live, 1, &mut expected);
    let mut report = ReconcileReport {
        stock_rows_checked: rows.len(),
        live_allocations: live.len(),
        drift: Vec::new(),
        repaired: 0,
    };
    let mut seen = BTreeSet::new();
    for row in &rows {
        let key = (row.location_id.clone(), row.item_id.clone());
        let want = expected.get(&key).copied().unwrap_or(0);
        seen.insert(key);
        if row.level.reserved == want {
            continue;
        }
        let mut drift = Drift {
            location_id: row.location_id.clone(),
            item_id: row.item_id.clone(),
            reserved: row.level.reserved,
            expected: want,
            drift: row.level.reserved - want,
            repaired: false,
        };
        if repair {
            let fix = Update::new().add("reserved", -drift.drift).add("available", drift.drift).add(entity::VERSION, 1);
            let guard = Condition::Equals("reserved".into(), json!(row.level.reserved));
            match deps.store.update(&keys::stock(tenant, &row.item_id, &row.location_id), fix, Some(guard)).await {
                Ok(_) => {
                    drift.repaired = true;
                    report.repaired += 1;
                }
                Err(StoreError::ConditionFailed) => tracing::info!("stock row changed during repair; run again"),
                Err(e) => return Err(e.into()),
            }
        }
        report.drift.push(drift);
    }
    for ((location, item), want) in expected {
        if want != 0 && !seen.contains(&(location.clone(), item.clone())) {
            report.drift.push(Drift {
                location_id: location,
                item_id: item,
                reserved: 0,
                expected: want,
                drift: -want,
                repaired: false,
            });
        }
    }
    Ok(report)
}
