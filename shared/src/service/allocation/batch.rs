//! Allocating many orders at once (mass allocate's chunks): one read of the stock and the
//! locations for all of them, each order planned against what the ones before it took, and
//! several orders committed per transaction, their reservations merged per stock row. A group
//! that loses a race commits nothing; its orders come back as [`Planned::Raced`] for the
//! caller to try again, one order per group.
//!
//! A dry run writes no reservation and no order: it takes units from the job's simulated
//! stock rows instead (guarded like reservations), so the job's results tell what a real run
//! over the same backlog would do, chunk after chunk.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::Value;

use super::{
    Caller, Deps, OmsResult, StockDeltas, TenantId, apply_plan_to_order, demands, documents, inventory, keys, orders,
    read_availability, reservation,
};
use crate::domain::ids::{ItemId, LocationId, OrderId};
use crate::domain::job::OrderOutcome;
use crate::domain::lifecycle::config::OrderTypeConfig;
use crate::domain::location::Location;
use crate::domain::order::Order;
use crate::domain::sourcing::{self, Availability, Demand, Plan, Strategy};
use crate::ports::{Condition, Item, Key, Query, QueueName, StoreError, Update, WriteOp};
use crate::service::change_tracker::{ChangeTrackerBatch, ChangeTrackerMessage};
use crate::service::lifecycle::{self, PipelineMessage, Units};
use crate::service::{commit, outbox, stock, troubleshooting};

/// `source` of the order audit entries mass allocation writes.
const MASS_ALLOCATE_SOURCE: &str = "POST /order/api/order/order/massAction";
use crate::store::entity;

/// Attribute of a simulated stock row: units a dry run may still take there.
const LEFT: &str = "left";

/// How a batch runs.
#[derive(Debug, Clone)]
pub struct BatchSettings {
    pub strategy: Strategy,
    /// `Some(job)`: a dry run that takes units from that job's simulated stock.
    pub dry_run_job: Option<String>,
    /// Most orders committed in one transaction.
    pub group: usize,
    /// `Some(context)`: log each decision (the allocation logger is at TRACE).
    pub trace: Option<String>,
}

/// What the batch decided for one order.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderPlan {
    pub order_id: OrderId,
    pub outcome: OrderOutcome,
    pub units_allocated: u64,
    pub units_back_ordered: u64,
    pub locations: Vec<LocationId>,
    /// Kilometres of each shipment whose destination is known.
    pub distances_km: Vec<f64>,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Planned {
    /// Written (a dry run: its simulated stock taken), with the caller's extra writes.
    Done(OrderPlan),
    /// Nothing was written: read again and retry.
    Raced(OrderId),
}

/// One order's share of a group: its writes besides the stock, its change for the tracker (when
/// the order changed), and the stock it takes.
struct Pending {
    plan: OrderPlan,
    writes: Vec<WriteOp>,
    /// What the order's configuration publishes (recorded in `writes`), sent after the commit.
    messages: Vec<outbox::OutboxMessage>,
    changed: Option<ChangeTrackerMessage>,
    /// The pipeline step the configuration asks for; the group sends one message for all.
    pipeline: Option<PipelineMessage>,
    deltas: StockDeltas,
}

/// Plans and writes the orders `ids` (those that exist), `extra` giving each order's writes
/// that must commit with it (e.g. its job result).
pub async fn allocate_many(
    deps: &Deps,
    caller: &Caller,
    ids: &[OrderId],
    settings: &BatchSettings,
    extra: &(dyn Fn(&OrderPlan) -> OmsResult<Vec<WriteOp>> + Sync),
) -> OmsResult<Vec<Planned>> {
    let tenant = &caller.tenant;
    let order_keys: Vec<Key> = ids.iter().map(|id| keys::order(tenant, id)).collect();
    let mut found: HashMap<OrderId, Order> = HashMap::new();
    for item in deps.store.batch_get(&order_keys).await? {
        let order = orders::read_order(item)?;
        found.insert(order.order_id.clone(), order);
    }
    let loaded: Vec<Order> = ids.iter().filter_map(|id| found.remove(id)).collect();
    let all_demands: Vec<Vec<Demand>> = loaded.iter().map(demands).collect();
    let items: BTreeSet<ItemId> = all_demands.iter().flatten().map(|d| d.item_id.clone()).collect();
    let (mut availability, _, shard_settings) = read_availability(deps, tenant, &items).await?;
    let simulated = match &settings.dry_run_job {
        Some(job) => read_simulated(deps, tenant, job, &items, &mut availability).await?,
        None => Simulated::default(),
    };
    let locations = inventory::list_locations(deps, tenant).await?;
    let by_id: HashMap<LocationId, &Location> = locations.iter().map(|l| (l.location_id.clone(), l)).collect();

    let mut configs: HashMap<String, OrderTypeConfig> = HashMap::new();
    for order in &loaded {
        if !configs.contains_key(&order.order_type_id) {
            let config = lifecycle::config::config_for(deps, tenant, &order.order_type_id).await?;
            configs.insert(order.order_type_id.clone(), config);
        }
    }
    let mut pending = Vec::new();
    for (order, demands) in loaded.iter().zip(&all_demands) {
        let plan = sourcing::plan(demands, &locations, &availability, settings.strategy);
        if let Some(context) = &settings.trace {
            let explanation = sourcing::explain(demands, &locations, &availability, settings.strategy);
            troubleshooting::log_decision(tenant, context, &order.order_id, &explanation);
        }
        let order_plan = describe(order, demands, &plan, &locations, &availability, &by_id, settings.strategy);
        // What the next orders of the batch can still have.
        for line in &plan.lines {
            for pick in &line.picks {
                let left = availability.get(&pick.location_id, &line.item_id).unwrap_or(0);
                availability.set(&pick.location_id, &line.item_id, left - i64::from(pick.quantity));
            }
        }
        let config = &configs[&order.order_type_id];
        let dry_run = settings.dry_run_job.is_some();
        pending.push(pend(deps, caller, order, config, &plan, order_plan, dry_run, &by_id, extra).await?);
    }

    let mut planned = Vec::new();
    let mut group: Vec<Pending> = Vec::new();
    for next in pending {
        // Each order's writes and stock rows, and the group's one change-tracker record.
        // (Plus one pipeline record.)
        let writes = |g: &[Pending]| g.iter().map(|p| p.writes.len() + p.deltas.len()).sum::<usize>() + 2;
        if !group.is_empty()
            && (group.len() >= settings.group
                || writes(&group) + writes(std::slice::from_ref(&next)) > commit::capacity())
        {
            planned.extend(
                commit_group(deps, tenant, std::mem::take(&mut group), settings, &simulated, &shard_settings).await?,
            );
        }
        group.push(next);
    }
    if !group.is_empty() {
        planned.extend(commit_group(deps, tenant, group, settings, &simulated, &shard_settings).await?);
    }
    Ok(planned)
}

/// The outcome of `plan` for `order`, with the explain reasons of what it cannot allocate.
fn describe(
    order: &Order,
    demands: &[Demand],
    plan: &Plan,
    locations: &[Location],
    availability: &Availability,
    by_id: &HashMap<LocationId, &Location>,
    strategy: Strategy,
) -> OrderPlan {
    let (allocated, back_ordered) = (plan.allocated(), plan.back_ordered());
    let outcome = match (allocated, back_ordered) {
        (_, 0) => OrderOutcome::Allocated,
        (0, _) => OrderOutcome::NotAllocated,
        _ => OrderOutcome::Partial,
    };
    let mut reasons = Vec::new();
    if back_ordered > 0 {
        let explanation = sourcing::explain(demands, locations, availability, strategy);
        for line in explanation.lines.iter().filter(|l| l.back_ordered > 0) {
            let mut why: Vec<String> = line
                .candidates
                .iter()
                .filter(|c| c.chosen == 0)
                .take(3)
                .map(|c| format!("{}: {}", c.location_id, c.reason))
                .collect();
            if line.candidates.is_empty() {
                why.push(format!("item {} is not stocked at any location", line.item_id));
            }
            why.extend(line.suggestions.iter().cloned());
            reasons.push(format!(
                "line {} ({} x {}): {} back ordered; {}",
                line.line_id,
                line.quantity,
                line.item_id,
                line.back_ordered,
                why.join("; ")
            ));
        }
    }
    // One shipment per ship-from location, measured to the first line it serves.
    let mut shipments: BTreeMap<&LocationId, Option<f64>> = BTreeMap::new();
    for (line, demand) in plan.lines.iter().zip(demands) {
        for pick in &line.picks {
            let distance = demand.destination.zip(by_id.get(&pick.location_id)).map(|(to, l)| l.distance_km_to(to));
            let entry = shipments.entry(&pick.location_id).or_insert(None);
            if entry.is_none() {
                *entry = distance;
            }
        }
    }
    OrderPlan {
        order_id: order.order_id.clone(),
        outcome,
        units_allocated: allocated,
        units_back_ordered: back_ordered,
        locations: shipments.keys().map(|l| (*l).clone()).collect(),
        distances_km: shipments.values().filter_map(|d| *d).collect(),
        reasons,
    }
}

/// The writes of one order: its documents and the order (not in a dry run), and the caller's
/// extra writes; its change for the tracker goes in its group's one message.
#[allow(clippy::too_many_arguments)]
async fn pend(
    deps: &Deps,
    caller: &Caller,
    order: &Order,
    config: &OrderTypeConfig,
    plan: &Plan,
    order_plan: OrderPlan,
    dry_run: bool,
    by_id: &HashMap<LocationId, &Location>,
    extra: &(dyn Fn(&OrderPlan) -> OmsResult<Vec<WriteOp>> + Sync),
) -> OmsResult<Pending> {
    let mut deltas = StockDeltas::new();
    for line in &plan.lines {
        for pick in &line.picks {
            *deltas.entry((pick.location_id.clone(), line.item_id.clone())).or_insert(0) += i64::from(pick.quantity);
        }
    }
    let mut writes = Vec::new();
    let mut messages = Vec::new();
    let mut changed = None;
    let mut pipeline = None;
    if !dry_run {
        let mut next = order.clone();
        apply_plan_to_order(&mut next, plan)?;
        if next != *order {
            let docs = documents(deps, order, plan, by_id)?;
            next.touch(&caller.user, deps.clock.now());
            let mut effects =
                lifecycle::effects::apply(deps, config, Some(order), &mut next, Units::Keep, MASS_ALLOCATE_SOURCE)
                    .await?;
            pipeline = effects.pipeline.take();
            let (published, sent) = effects.into_writes(deps, &caller.tenant);
            writes.extend(published);
            messages = sent;
            for doc in &docs {
                writes.push(WriteOp::Put {
                    item: super::allocation_item(&caller.tenant, doc)?,
                    condition: Some(Condition::NotExists),
                });
            }
            let guard = Condition::version_is(order.version);
            writes.push(WriteOp::Put { item: orders::order_item(&caller.tenant, &next)?, condition: Some(guard) });
            changed = Some(ChangeTrackerMessage {
                tenant: caller.tenant.clone(),
                order_id: order.order_id.clone(),
                change_id: deps.ids.new_id(),
                time: deps.clock.now(),
            });
        }
    }
    writes.extend(extra(&order_plan)?);
    Ok(Pending { plan: order_plan, writes, messages, changed, pipeline, deltas })
}

/// Commits a group in one transaction: the merged stock writes and every order's writes.
async fn commit_group(
    deps: &Deps,
    tenant: &TenantId,
    group: Vec<Pending>,
    settings: &BatchSettings,
    simulated: &Simulated,
    shard_settings: &stock::ShardSettings,
) -> OmsResult<Vec<Planned>> {
    let raced = |plans: Vec<OrderPlan>| plans.into_iter().map(|p| Planned::Raced(p.order_id)).collect::<Vec<_>>();
    let mut deltas = StockDeltas::new();
    for pending in &group {
        for (row, units) in &pending.deltas {
            *deltas.entry(row.clone()).or_insert(0) += units;
        }
    }
    let now = deps.clock.now();
    let mut writes: Vec<WriteOp> = match &settings.dry_run_job {
        Some(job) => simulated_writes(tenant, job, &deltas, simulated),
        None => match stock::moves_for(deps, tenant, &deltas, shard_settings.clone()).await? {
            Some(stock) => stock.moves.iter().map(|m| reservation(tenant, m, m.delta, now)).collect(),
            None => return Ok(raced(group.into_iter().map(|p| p.plan).collect())),
        },
    };
    let mut plans = Vec::with_capacity(group.len());
    let mut changes = Vec::new();
    let mut messages = Vec::new();
    let mut pipeline: Option<PipelineMessage> = None;
    for pending in group {
        writes.extend(pending.writes);
        messages.extend(pending.messages);
        changes.extend(pending.changed);
        if let Some(step) = pending.pipeline {
            match &mut pipeline {
                Some(all) => {
                    all.order_ids.extend(step.order_ids);
                    all.reallocate |= step.reallocate;
                }
                None => pipeline = Some(step),
            }
        }
        plans.push(pending.plan);
    }
    // One pipeline message for the group's orders, named by its first order's change.
    if let Some(step) = pipeline {
        let (write, message) = outbox::record(deps, tenant, QueueName::OrderPipeline, outbox::body(&step), now);
        writes.push(write);
        messages.push(message);
    }
    // One change-tracker message for the group: one outbox record, one queue message.
    if !changes.is_empty() {
        let body = outbox::body(&ChangeTrackerBatch { changes });
        let (write, message) = outbox::record(deps, tenant, QueueName::ChangeTracker, body, now);
        writes.push(write);
        messages.push(message);
    }
    if writes.len() > commit::capacity() {
        // Sharded stock split over more rows than planned: the caller retries order by order.
        return Ok(raced(plans));
    }
    match commit::transact(deps, writes).await {
        Ok(()) => {
            outbox::deliver(deps, messages).await;
            Ok(plans.into_iter().map(Planned::Done).collect())
        }
        Err(StoreError::TransactionCanceled { .. } | StoreError::TransactionConflict) => Ok(raced(plans)),
        Err(e) => Err(e.into()),
    }
}

/// A dry run's view of its job's simulated stock.
#[derive(Default)]
struct Simulated {
    /// Units left of each simulated row read.
    rows: BTreeMap<(LocationId, ItemId), i64>,
    /// The real availability, for rows not simulated yet.
    base: Availability,
}

/// The job's simulated stock of `items`: each row read overrides the real availability (a row
/// never written is absent: the real stock stands).
async fn read_simulated(
    deps: &Deps,
    tenant: &TenantId,
    job: &str,
    items: &BTreeSet<ItemId>,
    availability: &mut Availability,
) -> OmsResult<Simulated> {
    let base = availability.clone();
    let reads = items.iter().map(|item| async move {
        let query = Query::partition(keys::job_simulated_stock_partition(tenant, job, item));
        OmsResult::Ok((item.clone(), crate::store::query_all(deps.store.as_ref(), query).await?))
    });
    let mut simulated = BTreeMap::new();
    for result in futures::future::join_all(reads).await {
        let (item, rows) = result?;
        for row in rows {
            let location = row.get("SK").and_then(Value::as_str).unwrap_or_default();
            let left = row.get(LEFT).and_then(Value::as_i64).unwrap_or(0);
            let location = LocationId::parse_at("location", location)?;
            availability.set(&location, &item, left);
            simulated.insert((location, item.clone()), left);
        }
    }
    Ok(Simulated { rows: simulated, base })
}

/// The writes that take `deltas` from the job's simulated stock: a row read is decremented
/// under a guard like a reservation's; a row never written is created from the real stock
/// (only if still absent, so two chunks cannot both create it).
fn simulated_writes(tenant: &TenantId, job: &str, deltas: &StockDeltas, simulated: &Simulated) -> Vec<WriteOp> {
    let Simulated { rows: simulated, base } = simulated;
    deltas
        .iter()
        .filter(|(_, units)| **units > 0)
        .map(|((location, item), units)| {
            let key = keys::job_simulated_stock(tenant, job, item, location);
            match simulated.get(&(location.clone(), item.clone())) {
                Some(_) => WriteOp::Update {
                    key,
                    update: Update::new().add(LEFT, -units),
                    condition: Some(Condition::AtLeast(LEFT.into(), *units)),
                },
                None => {
                    let real = base.get(location, item).unwrap_or(0);
                    WriteOp::Put { item: simulated_row(&key, real - units), condition: Some(Condition::NotExists) }
                }
            }
        })
        .collect()
}

/// A simulated row created at its first take: the real availability read, less the units.
fn simulated_row(key: &Key, left: i64) -> Item {
    entity::item_at(key, &[(LEFT, Value::from(left))])
}
