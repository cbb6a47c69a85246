//! The worker: one chunk message allocates its orders with the allocation service (several
//! orders per transaction), each order's result committed with its allocation, then counts
//! the chunk into the job once (a marker item guards the counting) and completes the job
//! when it was the last.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

use super::{ChunkMessage, JobInputs, complete_if_done};
use crate::deps::Deps;
use crate::domain::caller::Caller;
use crate::domain::ids::{OrderId, TenantId};
use crate::domain::job::{JobExecution, JobStatus, OrderOutcome, OrderResult, counter};
use crate::error::OmsResult;
use crate::keys;
use crate::ports::{Condition, Key, StoreError, Update, WriteOp};
use crate::service::allocation::{self, BatchSettings, OrderPlan, Planned};
use crate::service::{backoff, troubleshooting};
use crate::store::entity;

/// Orders committed per transaction on the first attempt (raced ones then go one by one).
const GROUP_ORDERS: usize = 12;
/// Attempts per order before its result says it failed.
const ATTEMPTS: usize = 6;

/// Handles one chunk message.
#[tracing::instrument(skip_all, fields(job = %message.job_schedule_id, chunk = %message.chunk))]
pub async fn process_chunk(deps: &Deps, message: &ChunkMessage) -> OmsResult<()> {
    let tenant = &message.tenant;
    let id = &message.job_schedule_id;
    let Some(job) = crate::service::jobs::load_job(deps, tenant, id).await? else {
        tracing::warn!("chunk message for a job that does not exist; dropped");
        return Ok(());
    };
    if job.status != JobStatus::InProgress {
        // Aborted (or ended): what was not processed stays unallocated.
        return Ok(());
    }
    if deps.store.get(&keys::job_chunk(tenant, id, &message.chunk)).await?.is_some() {
        return complete_if_done(deps, tenant, id).await;
    }
    let started = std::time::Instant::now();
    let inputs = JobInputs::of(&job)?;
    let strategy = match inputs.strategy {
        Some(strategy) => strategy,
        None => allocation::settings(deps, tenant).await?.strategy,
    };
    let settings = BatchSettings {
        strategy,
        dry_run_job: inputs.dry_run.then(|| id.clone()),
        group: GROUP_ORDERS,
        trace: troubleshooting::allocation_trace_enabled(deps, tenant).await?.then(|| format!("mass action {id}")),
    };
    let caller = Caller::for_job(tenant.clone(), job.user.clone());

    let mut pending = without_results(deps, tenant, id, &message.orders).await?;
    let prepared = started.elapsed();
    for attempt in 0..ATTEMPTS {
        if pending.is_empty() {
            break;
        }
        let settings = BatchSettings { group: if attempt == 0 { settings.group } else { 1 }, ..settings.clone() };
        let now = deps.clock.now();
        let result_write = |plan: &OrderPlan| Ok(vec![result_put(tenant, id, &message.chunk, plan, now)?]);
        let planned = allocation::allocate_many(deps, &caller, &pending, &settings, &result_write).await?;
        let mut raced = Vec::new();
        let mut seen: HashSet<OrderId> = HashSet::new();
        for outcome in planned {
            match outcome {
                Planned::Done(plan) => {
                    seen.insert(plan.order_id);
                }
                Planned::Raced(order) => {
                    seen.insert(order.clone());
                    raced.push(order);
                }
            }
        }
        // Orders that no longer exist: their result says so.
        for missing in pending.iter().filter(|o| !seen.contains(*o)) {
            write_failed(deps, tenant, id, &message.chunk, missing, "the order no longer exists").await?;
        }
        if raced.is_empty() {
            pending.clear();
            break;
        }
        backoff(attempt).await;
        // A duplicate delivery of this chunk (or another chunk) may have processed some.
        pending = without_results(deps, tenant, id, &raced).await?;
    }
    for order in &pending {
        let reason = "allocation kept losing races with other changes of its stock or order; allocate it again";
        write_failed(deps, tenant, id, &message.chunk, order, reason).await?;
    }
    let allocated = started.elapsed();
    count_chunk(deps, tenant, &job, message).await?;
    complete_if_done(deps, tenant, id).await?;
    tracing::debug!(
        orders = message.orders.len(),
        prepared_ms = prepared.as_millis() as u64,
        allocated_ms = allocated.as_millis() as u64,
        total_ms = started.elapsed().as_millis() as u64,
        "chunk processed"
    );
    Ok(())
}

/// The orders among `orders` that have no result in the job yet.
async fn without_results(deps: &Deps, tenant: &TenantId, job: &str, orders: &[OrderId]) -> OmsResult<Vec<OrderId>> {
    let done = results_of(deps, tenant, job, orders).await?;
    Ok(orders.iter().filter(|o| !done.contains_key(*o)).cloned().collect())
}

async fn results_of(
    deps: &Deps,
    tenant: &TenantId,
    job: &str,
    orders: &[OrderId],
) -> OmsResult<HashMap<OrderId, OrderResult>> {
    let keys: Vec<Key> = orders.iter().map(|o| keys::job_result(tenant, job, o)).collect();
    let mut found = HashMap::new();
    for item in deps.store.batch_get(&keys).await? {
        let result: OrderResult = entity::from_item(item, &[entity::VERSION])?;
        found.insert(result.order_id.clone(), result);
    }
    Ok(found)
}

fn result_item(tenant: &TenantId, job: &str, result: &OrderResult) -> OmsResult<crate::ports::Item> {
    entity::to_item(&keys::job_result(tenant, job, &result.order_id), result, 1, &[])
}

/// The result of `plan`, written only if the order has none in the job yet.
fn result_put(
    tenant: &TenantId,
    job: &str,
    chunk: &str,
    plan: &OrderPlan,
    now: chrono::DateTime<chrono::Utc>,
) -> OmsResult<WriteOp> {
    let distance_km =
        (!plan.distances_km.is_empty()).then(|| plan.distances_km.iter().sum::<f64>() / plan.distances_km.len() as f64);
    let result = OrderResult {
        order_id: plan.order_id.clone(),
        outcome: plan.outcome,
        chunk: chunk.to_owned(),
        units_allocated: plan.units_allocated,
        units_back_ordered: plan.units_back_ordered,
        locations: plan.locations.clone(),
        distance_km: distance_km.map(|d| (d * 10.0).round() / 10.0),
        reasons: plan.reasons.clone(),
        processed_at: now,
    };
    let mut item = result_item(tenant, job, &result)?;
    // Shipments and their distances in metres, summed when the chunk is counted.
    item.insert("shipments".into(), Value::from(plan.locations.len() as i64));
    let metres: i64 = plan.distances_km.iter().map(|d| (d * 1000.0).round() as i64).sum();
    item.insert("distanceMetres".into(), Value::from(metres));
    item.insert("distances".into(), Value::from(plan.distances_km.len() as i64));
    Ok(WriteOp::Put { item, condition: Some(Condition::NotExists) })
}

async fn write_failed(
    deps: &Deps,
    tenant: &TenantId,
    job: &str,
    chunk: &str,
    order: &OrderId,
    reason: &str,
) -> OmsResult<()> {
    let result = OrderResult {
        order_id: order.clone(),
        outcome: OrderOutcome::Failed,
        chunk: chunk.to_owned(),
        units_allocated: 0,
        units_back_ordered: 0,
        locations: Vec::new(),
        distance_km: None,
        reasons: vec![reason.to_owned()],
        processed_at: deps.clock.now(),
    };
    match deps.store.put(result_item(tenant, job, &result)?, Some(Condition::NotExists)).await {
        Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Adds the chunk's results to the job's counters, once: with the chunk's marker, created
/// only if absent. An order a different chunk processed first is taken out of the total.
async fn count_chunk(deps: &Deps, tenant: &TenantId, job: &JobExecution, message: &ChunkMessage) -> OmsResult<()> {
    let id = &job.job_schedule_id;
    let keys: Vec<Key> = message.orders.iter().map(|o| keys::job_result(tenant, id, o)).collect();
    let mut results: HashMap<OrderId, (OrderResult, crate::ports::Item)> = HashMap::new();
    for item in deps.store.batch_get(&keys).await? {
        let result: OrderResult = entity::from_item(item.clone(), &[entity::VERSION])?;
        results.insert(result.order_id.clone(), (result, item));
    }
    let (mut success, mut failure, mut duplicates) = (0i64, 0i64, 0i64);
    let (mut units, mut full, mut partial, mut none) = (0i64, 0i64, 0i64, 0i64);
    let (mut shipments, mut metres, mut distances) = (0i64, 0i64, 0i64);
    let mut listed: HashSet<&OrderId> = HashSet::new();
    for order in &message.orders {
        if !listed.insert(order) {
            duplicates += 1;
            continue;
        }
        let Some((result, item)) = results.get(order) else { continue };
        if result.chunk != message.chunk {
            duplicates += 1;
            continue;
        }
        if result.outcome.is_success() {
            success += 1;
        } else {
            failure += 1;
        }
        units += result.units_allocated as i64;
        match result.outcome {
            OrderOutcome::Allocated => full += 1,
            OrderOutcome::Partial => partial += 1,
            OrderOutcome::NotAllocated | OrderOutcome::Failed => none += 1,
        }
        // The shipment figures stored beside the result.
        let int = |name: &str| item.get(name).and_then(Value::as_i64).unwrap_or(0);
        shipments += int("shipments");
        metres += int("distanceMetres");
        distances += int("distances");
    }
    let now = deps.clock.now();
    let marker =
        entity::item_at(&keys::job_chunk(tenant, id, &message.chunk), &[("orders", Value::from(message.orders.len()))]);
    let update = Update::new()
        .add(counter::SUCCESS, success)
        .add(counter::FAILURE, failure)
        .add(counter::TOTAL, -duplicates)
        .add(counter::POSTED_PAGES, 1)
        .add(counter::UNITS, units)
        .add(counter::FULL, full)
        .add(counter::PARTIAL, partial)
        .add(counter::NONE, none)
        .add(counter::SHIPMENTS, shipments)
        .add(counter::DISTANCE_METRES, metres)
        .add(counter::DISTANCES, distances)
        .set("UpdatedTimestamp", keys::timestamp(now));
    let writes = vec![
        WriteOp::Put { item: marker, condition: Some(Condition::NotExists) },
        WriteOp::Update { key: keys::job(tenant, id), update, condition: Some(Condition::Exists) },
    ];
    match deps.store.transact(writes).await {
        Ok(()) => Ok(()),
        // Counted by another delivery of this chunk.
        Err(StoreError::TransactionCanceled { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
