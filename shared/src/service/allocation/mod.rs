//! The allocation service (seed 001): choose ship-from locations, reserve the stock, and keep
//! the order's per-status quantities, the allocation documents and the reservations in step.
//!
//! Reservations are conditional atomic updates on the stock rows (`available >= q`), never
//! read-modify-write. An order's reservations, its allocation documents and the order itself
//! are written in one transaction; a reservation that loses a race fails the transaction, and
//! the order is planned again from fresh stock.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::deps::Deps;
use crate::domain::allocation::{
    Allocation, AllocationEventRequest, AllocationId, AllocationItem, AllocationStatus, AllocationType, Recipient,
};
use crate::domain::caller::Caller;
use crate::domain::ids::{ItemId, LocationId, OrderId, TenantId, UserId};
use crate::domain::location::Location;
use crate::domain::order::{DeliveryMethod, Order, OrderDraft, OrderLine};
use crate::domain::sourcing::{self, Availability, Demand, Plan, Strategy};
use crate::domain::status::FulfillmentStatus;
use crate::error::{OmsError, OmsResult};
use crate::keys;
use crate::ports::{Condition, Index, Item, MAX_TRANSACTION_ITEMS, Query, StoreError, Update, WriteOp};

mod batch;
pub(crate) mod journal;
mod order_change;
mod placement;
mod query;
mod reallocate;
mod update;
use crate::service::change_tracker;
use crate::service::inventory;
use crate::service::lifecycle::{self, Units};
use crate::service::stock::{self, StockMove};
use crate::service::{commit, orders, outbox, troubleshooting};
use crate::store::{self, entity};
pub use batch::{BatchSettings, OrderPlan, Planned, allocate_many};
pub(crate) use order_change::write_order_change;
pub use query::{QueryRequest, explain, query};
pub use reallocate::reallocate;
pub use update::update;

/// Attempts before an allocation that keeps losing races gives up with 409.
const MAX_ATTEMPTS: usize = 10;
/// Most ids one cancel or reallocate request may name.
const MAX_IDS: usize = 25;
/// `source` of the audit entries a cancel writes.
pub(crate) const CANCEL_SOURCE: &str = "PUT /allocation/cancel/{allocationIds}";
/// `source` of the order audit entries an allocation writes.
pub(crate) const ALLOCATE_SOURCE: &str = "POST /allocation/";
/// `source` of the audit entries a reallocation writes.
pub(crate) const REALLOCATE_SOURCE: &str = "PUT /allocation/reallocate";

// ------------------------------------------------------------------------------------------
// Stores and writes
// ------------------------------------------------------------------------------------------

/// The item of an allocation: listed among its tenant's (GSI3, keys only, under keys it keeps
/// for life) and among its order's (GSI2, whole documents, read on every change of the order).
pub(crate) fn allocation_item(tenant: &TenantId, allocation: &Allocation) -> OmsResult<Item> {
    let id = &allocation.allocation_id;
    let (listing, listing_sort) = keys::allocation_listing(tenant, id);
    let [by_order, by_order_sort] =
        entity::index_entry(Index::Gsi2, keys::allocations_of_order(tenant, &allocation.order_number), id.to_string());
    let [listed, listed_sort] = entity::index_entry(Index::Gsi3, listing, listing_sort);
    entity::to_item(
        &keys::allocation(tenant, id),
        allocation,
        allocation.version,
        &[by_order, by_order_sort, listed, listed_sort],
    )
}

/// Index attributes an allocation item may carry (GSI1 from before the listing moved to GSI3).
const INDEX_ATTRIBUTES: [&str; 6] = ["GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"];

/// Every allocation document of a tenant, read whole: those the keys-only listing's shards
/// name, and those still listed where they were before (not written since).
pub(crate) async fn all_allocation_items(deps: &Deps, tenant: &TenantId) -> OmsResult<Vec<Item>> {
    let listings = keys::allocation_listing_partitions(tenant)
        .map(|p| Query::partition(p).on(Index::Gsi3))
        .chain([Query::partition(keys::allocations_by_update(tenant)).on(Index::Gsi1)]);
    Ok(store::read_listed(deps.store.as_ref(), listings).await?)
}

/// A stored allocation document, in today's shape (see [`Allocation::normalize`]).
pub(crate) fn read_allocation(item: Item) -> OmsResult<Allocation> {
    let mut doc: Allocation = entity::from_item(item, &INDEX_ATTRIBUTES)?;
    doc.normalize();
    Ok(doc)
}

/// Net change of `reserved` per stock row: positive reserves, negative releases.
type StockDeltas = BTreeMap<(LocationId, ItemId), i64>;

/// The guarded update that moves `delta` units of a stock shard row into (or out of) `reserved`
/// (and, for units shipped, out of `onHand` too).
pub(crate) fn reservation(tenant: &TenantId, m: &StockMove, delta: i64, now: chrono::DateTime<chrono::Utc>) -> WriteOp {
    // `reservedAt` tells reconciliation whether the allocation indexes can have caught up yet.
    let mut update = Update::new().set(inventory::RESERVED_AT, keys::timestamp(now)).add("reserved", delta);
    // Shipped units leave the building: out of reserved and on hand, available unchanged.
    update = if m.consume { update.add("onHand", delta) } else { update.add("available", -delta) };
    let update = update.add(entity::VERSION, 1);
    // Reserving needs the units to be there, on this shard; releasing only needs the row.
    let condition = if delta > 0 { Condition::AtLeast("available".into(), delta) } else { Condition::Exists };
    WriteOp::Update {
        key: keys::stock_shard(tenant, &m.item_id, &m.location_id, m.shard),
        update,
        condition: Some(condition),
    }
}

/// A document a change rewrites: as read (its version guards the write) and as written.
#[derive(Debug, Clone)]
pub(crate) struct Rewrite {
    pub read: Allocation,
    pub next: Allocation,
}

/// One allocation change before it is written: the stock it moves, the documents it rewrites
/// and creates, and what commits with them (orders, change-tracker records).
struct Change {
    kind: journal::Kind,
    /// Units into (positive) or out of (negative) `reserved`.
    deltas: StockDeltas,
    /// Units shipped: out of `reserved` and `onHand` both (negative).
    consumed: StockDeltas,
    rewrites: Vec<Rewrite>,
    created: Vec<Allocation>,
    /// Order and change-tracker writes (a journaled cancel computes them again).
    others: Vec<WriteOp>,
    /// The order and change-tracker writes of an allocation.
    allocate: Option<journal::AllocateFinish>,
    messages: Vec<outbox::OutboxMessage>,
    /// Shard settings planning read with the stock (any setting read will do: the writes are
    /// guarded); the change reads those of its other items.
    shard_settings: stock::ShardSettings,
    /// Where a change too large for one transaction is refused rather than journaled: the
    /// request field to name.
    refuse_beyond_one_transaction: Option<&'static str>,
}

impl Change {
    fn new(kind: journal::Kind) -> Change {
        Change {
            kind,
            deltas: StockDeltas::new(),
            consumed: StockDeltas::new(),
            rewrites: Vec::new(),
            created: Vec::new(),
            others: Vec::new(),
            allocate: None,
            messages: Vec::new(),
            shard_settings: stock::ShardSettings::new(),
            refuse_beyond_one_transaction: None,
        }
    }

    /// The stock the documents' holdings move: what they hold after less what they held before
    /// (released or reserved), with `shipped` units leaving `onHand` instead of going back.
    fn settle_stock(&mut self, shipped: &StockDeltas) {
        for rewrite in &self.rewrites {
            deltas_of(std::slice::from_ref(&rewrite.read), -1, &mut self.deltas);
            deltas_of(std::slice::from_ref(&rewrite.next), 1, &mut self.deltas);
        }
        deltas_of(&self.created, 1, &mut self.deltas);
        for (row, units) in shipped {
            *self.deltas.entry(row.clone()).or_insert(0) += units;
            *self.consumed.entry(row.clone()).or_insert(0) -= units;
        }
        self.deltas.retain(|_, d| *d != 0);
        self.consumed.retain(|_, d| *d != 0);
    }
}

/// How writing a change went.
enum Written {
    Done,
    /// A document, a stock row or an order changed since it was read (or the stock is gone):
    /// nothing was written; read again and plan again.
    Raced,
}

/// Writes a change all or nothing: one transaction when it fits, else a journal that claims
/// the documents first, moves the stock in chunks and finishes in one transaction.
async fn write_change(deps: &Deps, tenant: &TenantId, user: &UserId, change: Change) -> OmsResult<Written> {
    // Which shards of each row the stock moves on; none have the units any more: plan again.
    let moves = stock::moves_for(deps, tenant, &change.deltas, change.shard_settings.clone()).await?;
    let Some(mut stock) = moves else { return Ok(Written::Raced) };
    if !change.consumed.is_empty() {
        let shipped = stock::moves_for(deps, tenant, &change.consumed, change.shard_settings).await?;
        let Some(shipped) = shipped else { return Ok(Written::Raced) };
        stock.moves.extend(shipped.moves.into_iter().map(|m| StockMove { consume: true, ..m }));
        stock.settings.extend(shipped.settings);
        stock.settings.sort();
        stock.settings.dedup();
    }
    let now = deps.clock.now();
    let mut writes: Vec<WriteOp> = stock.moves.iter().map(|m| reservation(tenant, m, m.delta, now)).collect();
    for rewrite in &change.rewrites {
        // A rewrite appends audit entries: it must still fit one item.
        let item = allocation_item(tenant, &rewrite.next)?;
        entity::check_item_size(&item, &format!("allocation {}", rewrite.next.allocation_id), "auditLogs")?;
        writes.push(WriteOp::Put { item, condition: Some(Condition::version_is(rewrite.read.version)) });
    }
    for doc in &change.created {
        writes.push(WriteOp::Put { item: allocation_item(tenant, doc)?, condition: Some(Condition::NotExists) });
    }
    writes.extend(change.others.iter().cloned());
    if let Some(finish) = &change.allocate {
        writes.push(WriteOp::Put { item: finish.order.clone(), condition: Some(finish.guard.clone()) });
        writes.extend(finish.records.iter().cloned());
    }
    if writes.len() <= commit::capacity() {
        return match commit::transact(deps, writes).await {
            Ok(()) => {
                outbox::deliver(deps, change.messages).await;
                Ok(Written::Done)
            }
            Err(StoreError::TransactionCanceled { .. } | StoreError::TransactionConflict) => Ok(Written::Raced),
            Err(e) => Err(e.into()),
        };
    }
    if let Some(field) = change.refuse_beyond_one_transaction {
        return Err(OmsError::validation(
            field,
            format!(
                "this change makes {} writes and at most {} fit in one transaction: send fewer {field} per request",
                writes.len(),
                commit::capacity()
            ),
        ));
    }
    let reads: Vec<Allocation> = change.rewrites.iter().map(|r| r.read.clone()).collect();
    let orders = match change.kind {
        journal::Kind::Cancel => journal::orders_of(&reads).len(),
        journal::Kind::Allocate => 1,
        journal::Kind::Reallocate => 0,
    };
    let holds = stock.hold_settings(tenant);
    let published = change.allocate.as_ref().map_or(0, |f| f.records.len().saturating_sub(1));
    journal::check_size(reads.len() + holds.len(), change.created.len(), orders, published)?;
    let plan = journal::Journal::new(deps, tenant, change.kind, user, stock.moves, &change.rewrites, change.created);
    match journal::run(deps, plan, &reads, holds, change.allocate).await? {
        journal::Ending::Finished => {
            if change.kind == journal::Kind::Allocate {
                outbox::deliver(deps, change.messages).await;
            }
            Ok(Written::Done)
        }
        journal::Ending::RolledBack | journal::Ending::Gone | journal::Ending::NotClaimed => Ok(Written::Raced),
    }
}

/// Waits out documents held by a journal of another request: drives the journal if its lease
/// has passed. True when the caller must read the documents again.
pub(crate) async fn held_elsewhere(deps: &Deps, tenant: &TenantId, docs: &[Allocation]) -> OmsResult<bool> {
    let mut held = false;
    for doc in docs {
        if let Some(journal) = &doc.pending_operation {
            journal::recover_if_stale(deps, tenant, journal).await?;
            held = true;
        }
    }
    Ok(held)
}

fn held_conflict(docs: &[Allocation]) -> OmsError {
    let held: Vec<&str> =
        docs.iter().filter(|d| d.pending_operation.is_some()).map(|d| d.allocation_id.as_str()).collect();
    OmsError::Conflict(format!("allocations {} are being changed by another request; retry shortly", held.join(", ")))
}

/// The order writes of cancelling `docs`: their units go back to Open, each order guarded by
/// the version read, with its change-tracker record.
pub(crate) async fn cancel_order_writes(
    deps: &Deps,
    tenant: &TenantId,
    docs: &[Allocation],
    user: &UserId,
) -> OmsResult<(Vec<WriteOp>, Vec<outbox::OutboxMessage>)> {
    let mut writes = Vec::new();
    let mut messages = Vec::new();
    for order_id in journal::orders_of(docs) {
        let Some(order) = orders::load_order(deps, tenant, &order_id).await? else { continue };
        let mut next = order.clone();
        for doc in docs.iter().filter(|d| d.order_number == order_id) {
            for item in &doc.items {
                if let Some(line) = next.line_mut(&item.order_line_id) {
                    let units = item.unreleased().min(line.quantity_at(FulfillmentStatus::Allocated));
                    line.move_quantity(FulfillmentStatus::Allocated, FulfillmentStatus::Open, units)?;
                    // Units released to the location come back too: the allocation is gone.
                    let units = item.released_quantity.min(line.quantity_at(FulfillmentStatus::Released));
                    line.move_quantity(FulfillmentStatus::Released, FulfillmentStatus::Open, units)?;
                }
            }
        }
        next.touch(user, deps.clock.now());
        let item = orders::order_item(tenant, &next)?;
        writes.push(WriteOp::Put { item, condition: Some(Condition::version_is(order.version)) });
        let (tracker, message) = change_tracker::outbox_record(deps, tenant, &order_id);
        writes.push(tracker);
        messages.push(message);
    }
    Ok((writes, messages))
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

pub(crate) async fn live_allocations_of_order(
    deps: &Deps,
    tenant: &TenantId,
    order: &OrderId,
) -> OmsResult<Vec<Allocation>> {
    Ok(allocations_of_order(deps, tenant, order).await?.into_iter().filter(|a| a.status_code.is_live()).collect())
}

/// Units of each item still promisable at each location (stock rows of the given items), the
/// items that have stock rows, and the items' shard settings as read with them.
async fn read_availability(
    deps: &Deps,
    tenant: &TenantId,
    items: &BTreeSet<ItemId>,
) -> OmsResult<(Availability, BTreeSet<ItemId>, stock::ShardSettings)> {
    let mut availability = Availability::new();
    let mut known = BTreeSet::new();
    let mut settings = stock::ShardSettings::new();
    // Planning reads need not be consistent: every reservation it plans is guarded.
    let reads = items.iter().map(|item| async move {
        let (setting, rows) = stock::item_shards(deps, tenant, item, stock::Read::Eventual).await?;
        OmsResult::Ok((item.clone(), setting, stock::by_location(rows)))
    });
    for result in futures::future::join_all(reads).await {
        let (item, setting, rows) = result?;
        settings.insert(item.clone(), setting);
        if !rows.is_empty() {
            known.insert(item.clone());
        }
        availability.reserve(rows.len());
        for row in rows {
            let level = row.level;
            availability.set(&row.location_id, &item, level.on_hand - level.reserved - level.safety_stock);
        }
    }
    Ok((availability, known, settings))
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
    match commit::put(deps, entity::to_item(&key, &next, next.version, &[])?, Some(guard)).await {
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
    pub allocated: u64,
    pub back_ordered: u64,
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

/// An empty allocation document of `order` at `location`, for units of `line`. With a
/// `parent` (units moved from it) the parent's client fields and recipients carry over.
fn new_document(
    deps: &Deps,
    order: &Order,
    line: Option<&OrderLine>,
    location: &LocationId,
    locations: &HashMap<LocationId, &Location>,
    parent: Option<&Allocation>,
) -> OmsResult<Allocation> {
    let now = deps.clock.now();
    Ok(Allocation {
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
        ship_type: line.map(|l| ship_type(l.delivery_method).to_owned()),
        ship_method: parent.and_then(|p| p.ship_method.clone()),
        ship_to_id: parent.and_then(|p| p.ship_to_id.clone()),
        status_code: AllocationStatus::Allocated,
        location_type: locations.get(location).map_or("DC", |l| l.location_type.id()).to_owned(),
        location_num: location.clone(),
        ship_to_address: line.and_then(|l| l.ship_to.as_ref()).map(|a| json!({"Address": a})),
        recipient: match (parent, line) {
            (Some(p), _) if !p.recipient.is_empty() => p.recipient.clone(),
            (_, Some(line)) => Recipient::of_line(order, line),
            _ => Vec::new(),
        },
        items: Vec::new(),
        audit_logs: Vec::new(),
        pending_operation: None,
    })
}

/// Builds one allocation document per ship-from location of `plan`.
fn documents(
    deps: &Deps,
    order: &Order,
    plan: &Plan,
    locations: &HashMap<LocationId, &Location>,
) -> OmsResult<Vec<Allocation>> {
    let mut by_location: BTreeMap<LocationId, Vec<(&OrderLine, u32)>> = BTreeMap::new();
    for line_plan in &plan.lines {
        let Some(line) = order.line(&line_plan.line_id) else { continue };
        for pick in &line_plan.picks {
            by_location.entry(pick.location_id.clone()).or_default().push((line, pick.quantity));
        }
    }
    let mut docs = Vec::new();
    for (location, lines) in by_location {
        let mut doc = new_document(deps, order, lines.first().map(|(l, _)| *l), &location, locations, None)?;
        for (line, units) in lines {
            doc.items.push(AllocationItem::for_line(doc.next_line_number(), order, line, units));
        }
        docs.push(doc);
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
            // Units are bounded by the order's lines, far below i64::MAX.
            let units = i64::try_from(units).unwrap_or(i64::MAX);
            *deltas.entry((doc.location_num.clone(), item)).or_insert(0) += sign * units;
        }
    }
}

/// `POST /allocation/`: allocates the order the event names. With `detail.order` the order is
/// saved in the same transaction as its allocation: everything is checked first, and a refusal
/// writes nothing.
pub async fn allocate_from_event(
    deps: &Deps,
    caller: &Caller,
    req: &AllocationEventRequest,
) -> OmsResult<AllocationOutcome> {
    req.check_event()?;
    let detail =
        req.detail.as_ref().ok_or_else(|| OmsError::validation("detail", "is required: {\"orderId\": ...}"))?;
    let strategy = strategy_for(deps, &caller.tenant, detail.strategy.as_deref()).await?;
    match (&detail.order, &detail.order_id) {
        (Some(order), named) => {
            let draft = order.parse().map_err(|e| e.nested_in("detail.order"))?;
            if let Some(named) = named
                && named.trim() != draft.order_id.as_str()
            {
                return Err(OmsError::validation(
                    "detail.orderId",
                    format!("{named} differs from detail.order.OrderId {}", draft.order_id),
                ));
            }
            let order_id = draft.order_id.clone();
            allocate(deps, caller, &order_id, strategy, Some(&draft)).await
        }
        (None, Some(id)) => allocate(deps, caller, &OrderId::parse_at("detail.orderId", id)?, strategy, None).await,
        (None, None) => Err(OmsError::validation("detail.orderId", "is required (or detail.order)")),
    }
}

/// Allocates every outstanding unit of an order it can, back orders the rest.
pub async fn allocate_order(
    deps: &Deps,
    caller: &Caller,
    order_id: &OrderId,
    strategy: Option<&str>,
) -> OmsResult<AllocationOutcome> {
    let strategy = strategy_for(deps, &caller.tenant, strategy).await?;
    allocate(deps, caller, order_id, strategy, None).await
}

/// Allocates the stored order, or the stored order merged with `draft` (a Save Order request,
/// written in the same transaction).
#[tracing::instrument(skip_all, fields(order_id = %order_id))]
async fn allocate(
    deps: &Deps,
    caller: &Caller,
    order_id: &OrderId,
    strategy: Strategy,
    draft: Option<&OrderDraft>,
) -> OmsResult<AllocationOutcome> {
    let tenant = &caller.tenant;
    let trace = troubleshooting::allocation_trace_enabled(deps, tenant).await?;
    for attempt in 0..MAX_ATTEMPTS {
        let stored = orders::load_order(deps, tenant, order_id).await?;
        let order = match draft {
            Some(draft) => Order::from_draft(draft.clone(), tenant, &caller.user, deps.clock.now(), stored.as_ref())
                .map_err(|e| e.nested_in("detail.order"))?,
            None => stored.clone().ok_or_else(|| OmsError::order_not_found(order_id.as_str()))?,
        };
        let demands = demands(&order);
        let items: BTreeSet<ItemId> = demands.iter().map(|d| d.item_id.clone()).collect();
        let (availability, known, shard_settings) = read_availability(deps, tenant, &items).await?;
        if let Some(unknown) = items.iter().find(|i| !known.contains(*i)) {
            let line = order.lines.iter().position(|l| &l.item_id == unknown && outstanding(l) > 0).unwrap_or(0);
            let message = format!("item {unknown} is not stocked at any location");
            return Err(match draft {
                Some(_) => OmsError::NotFound {
                    code: None,
                    message: format!("detail.order.OrderLine[{line}].ItemId: {message}"),
                },
                None => OmsError::not_found(message),
            });
        }
        let locations = inventory::list_locations(deps, tenant).await?;
        let plan = sourcing::plan(&demands, &locations, &availability, strategy);
        if trace {
            let explanation = sourcing::explain(&demands, &locations, &availability, strategy);
            troubleshooting::log_decision(tenant, "POST /allocation/", order_id, &explanation);
        }
        let by_id: HashMap<LocationId, &Location> = locations.iter().map(|l| (l.location_id.clone(), l)).collect();
        let docs = documents(deps, &order, &plan, &by_id)?;

        let mut next = order.clone();
        apply_plan_to_order(&mut next, &plan)?;
        if draft.is_none() && demands.is_empty() {
            // Fully allocated already: answer with what holds it, change nothing.
            let live = live_allocations_of_order(deps, tenant, order_id).await?;
            let allocated = live.iter().map(Allocation::units).sum();
            return Ok(AllocationOutcome { allocations: live, allocated, back_ordered: 0 });
        }
        if draft.is_none() && next == order {
            // Nothing could be allocated and the lines were already back ordered.
            return Ok(AllocationOutcome { allocations: Vec::new(), allocated: 0, back_ordered: plan.back_ordered() });
        }
        if draft.is_none() {
            next.touch(&caller.user, deps.clock.now());
        }
        let recorded = lifecycle::record_change(deps, stored.as_ref(), &mut next, Units::Keep, ALLOCATE_SOURCE)
            .await
            .map_err(|e| if draft.is_some() { e.nested_in("detail.order") } else { e })?;
        let order_item = orders::order_item(tenant, &next)?;
        if draft.is_some() {
            entity::check_item_size(&order_item, &format!("order {order_id}"), "detail.order.OrderLine")?;
        }
        let guard = stored.as_ref().map_or(Condition::NotExists, |s| Condition::version_is(s.version));

        let mut change = Change::new(journal::Kind::Allocate);
        change.created = docs.clone();
        change.settle_stock(&StockDeltas::new());
        change.allocate = Some(journal::AllocateFinish { order: order_item, guard, records: recorded.writes });
        change.messages = recorded.messages;
        change.shard_settings = shard_settings.clone();
        match write_change(deps, tenant, &caller.user, change).await? {
            Written::Done => {
                let allocations =
                    if docs.is_empty() { live_allocations_of_order(deps, tenant, order_id).await? } else { docs };
                return Ok(AllocationOutcome {
                    allocated: plan.allocated(),
                    back_ordered: plan.back_ordered(),
                    allocations,
                });
            }
            // Another allocation took the stock, or the order changed: plan again from fresh reads.
            Written::Raced => {
                tracing::debug!(attempt, "allocation lost a race; planning again");
                super::backoff(attempt).await;
            }
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
    let mut docs = Vec::new();
    for attempt in 0..MAX_ATTEMPTS {
        docs = read_in_order(deps, tenant, &ids).await?;
        if held_elsewhere(deps, tenant, &docs).await? {
            super::backoff(attempt).await;
            continue;
        }
        let live: Vec<Allocation> = docs.iter().filter(|d| d.status_code.is_live()).cloned().collect();
        if live.is_empty() {
            return Ok(docs);
        }
        let (others, messages) = cancel_order_writes(deps, tenant, &live, &caller.user).await?;
        let mut change = Change::new(journal::Kind::Cancel);
        let now = deps.clock.now();
        change.rewrites = live
            .into_iter()
            .map(|read| Rewrite {
                next: read.retired(AllocationStatus::Cancelled, &caller.user, now, CANCEL_SOURCE),
                read,
            })
            .collect();
        change.settle_stock(&StockDeltas::new());
        change.others = others;
        change.messages = messages;
        match write_change(deps, tenant, &caller.user, change).await? {
            Written::Done => return read_in_order(deps, tenant, &ids).await,
            Written::Raced => super::backoff(attempt).await,
        }
    }
    if docs.iter().any(|d| d.pending_operation.is_some()) {
        return Err(held_conflict(&docs));
    }
    Err(OmsError::Conflict("the allocations kept changing while cancelling; retry".into()))
}

/// The allocations `ids` in their order; 404 for one that does not exist.
async fn read_in_order(deps: &Deps, tenant: &TenantId, ids: &[AllocationId]) -> OmsResult<Vec<Allocation>> {
    let mut found = load_allocations(deps, tenant, ids).await?;
    ids.iter()
        .map(|id| found.remove(id).ok_or_else(|| OmsError::not_found(format!("allocation {id} not found"))))
        .collect()
}
