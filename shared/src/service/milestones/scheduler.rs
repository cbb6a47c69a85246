//! The milestone scheduler (seed 003): a pass reads, shard by shard, the milestone checks due
//! by now (the due index, never a scan of orders), and checks each order: releases it when its
//! `DoNotReleaseBefore` has passed and it may be released, then evaluates its milestones
//! (Late, monitoring events) and writes what changed with its next check, in one transaction.
//!
//! A check is idempotent: an event is recorded on the order in the transaction that publishes
//! it, a release writes the order it releases; a rerun after a crash finds nothing left to do.
//! A pass stops at its limits of time and orders; what it left stays due for the next one.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio::sync::Mutex;

use crate::deps::Deps;
use crate::domain::ids::{OrderId, TenantId, UserId};
use crate::domain::job::{JobExecParam, JobExecution, MilestonePass};
use crate::domain::lifecycle::config::{Milestone, OrderTypeConfig};
use crate::domain::lifecycle::milestones::{self, reached};
use crate::domain::order::Order;
use crate::domain::status::FulfillmentStatus;
use crate::error::{OmsError, OmsResult};
use crate::keys;
use crate::ports::{Condition, Index, Query, QueueName, SkRange, StoreError, WriteOp};
use crate::service::lifecycle::{config, release};
use crate::service::{jobs, orders, outbox};

pub use crate::domain::job::{MILESTONE_SCHEDULE_ID as JOB_SCHEDULE_ID, Started};
/// The user the scheduler's changes are recorded under.
pub const SCHEDULER_USER: &str = "milestone-scheduler";
/// Attempts of one check that races other changes of its order.
const ATTEMPTS: usize = 5;
/// Due checks read per query of one shard.
const PAGE: usize = 500;

/// How much one pass may do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most orders checked.
    pub max_orders: usize,
    /// Longest a pass runs before it stops starting checks (the Lambda's timeout is 60 s).
    pub max_time: Duration,
    /// Checks in flight at once.
    pub concurrency: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_orders: 50_000, max_time: Duration::from_secs(40), concurrency: 128 }
    }
}

/// Order type configurations read once per pass.
#[derive(Default)]
struct Configs(Mutex<HashMap<String, Arc<OrderTypeConfig>>>);

impl Configs {
    async fn get(&self, deps: &Deps, tenant: &TenantId, order_type_id: &str) -> OmsResult<Arc<OrderTypeConfig>> {
        if let Some(found) = self.0.lock().await.get(order_type_id) {
            return Ok(found.clone());
        }
        let loaded = Arc::new(config::config_for(deps, tenant, order_type_id).await?);
        self.0.lock().await.insert(order_type_id.to_owned(), loaded.clone());
        Ok(loaded)
    }
}

/// What one check did.
#[derive(Debug, Default)]
struct Checked {
    raised: usize,
    released: bool,
    /// The events' messages, committed with the order: sent once the page's checks are done.
    messages: Vec<outbox::OutboxMessage>,
}

/// Whether the scheduler releases the order now: its DoNotReleaseBefore has passed, it is not
/// released yet, something is allocated, and nothing else stops it (confirmed, no applied hold).
fn due_for_release(order: &Order, now: DateTime<Utc>) -> bool {
    order.do_not_release_before.is_some_and(|at| at <= now)
        && !reached(order, Milestone::Released)
        && order.lines.iter().any(|l| l.quantity_at(FulfillmentStatus::Allocated) > 0)
        && release::blocked(order, now).is_none()
}

/// Checks one order at `now`.
async fn check_order(
    deps: &Deps,
    tenant: &TenantId,
    order_id: &OrderId,
    user: &UserId,
    now: DateTime<Utc>,
    configs: &Configs,
) -> OmsResult<Checked> {
    let mut checked = Checked::default();
    let mut release_tried = false;
    for attempt in 0..ATTEMPTS {
        let Some(order) = orders::load_order(deps, tenant, order_id).await? else {
            // The order is gone (archived): so is its check.
            deps.store.delete(&keys::milestone_check(tenant, order_id), None).await?;
            return Ok(checked);
        };
        if !release_tried && due_for_release(&order, now) {
            release_tried = true;
            // Release first: its own change evaluates the milestones, so a crash right after
            // leaves nothing undone, and the order is never dropped from the index unreleased.
            if let release::Released::Done(done) = release::release_order(deps, tenant, user, order_id).await? {
                checked.released = !done.is_empty();
            }
            continue;
        }
        let config = configs.get(deps, tenant, &order.order_type_id).await?;
        let mut next = order.clone();
        let evaluation = milestones::evaluate(&config, &mut next, now);
        let guard = Condition::version_is(order.version);
        // The entry was listed as due by now and the next check is later (or none): it always
        // moves, even when it lagged the order and nothing else changed.
        let mut writes = vec![super::check_entry(tenant, &next)];
        let mut messages = Vec::new();
        if evaluation.changed {
            next.touch(user, now);
            writes.push(WriteOp::Put { item: orders::order_item(tenant, &next)?, condition: Some(guard) });
            for event in &evaluation.raised {
                let body = super::event_body(tenant, order_id, event);
                let (write, message) = outbox::record(deps, tenant, QueueName::OrderEvents, body, now);
                writes.push(write);
                messages.push(message);
            }
        } else {
            writes.push(WriteOp::Check { key: keys::order(tenant, order_id), condition: guard });
        }
        match deps.store.transact(writes).await {
            Ok(()) => {
                checked.raised = evaluation.raised.len();
                checked.messages = messages;
                return Ok(checked);
            }
            Err(StoreError::TransactionCanceled { .. } | StoreError::TransactionConflict) => {
                tracing::debug!(order_id = %order_id, attempt, "milestone check raced a change; reading again");
                crate::service::backoff(attempt).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(OmsError::Conflict(format!("order {order_id} kept changing while its milestones were checked")))
}

/// The orders whose check is due by `now`, shard by shard, at most `max`; `true` when more are.
async fn due_orders(deps: &Deps, tenant: &TenantId, now: DateTime<Utc>, max: usize) -> OmsResult<(Vec<OrderId>, bool)> {
    let cutoff = keys::milestone_due_cutoff(now);
    let mut due = Vec::new();
    for partition in keys::milestone_due_partitions(tenant) {
        let mut cursor = None;
        loop {
            let left = max.saturating_sub(due.len());
            if left == 0 {
                return Ok((due, true));
            }
            let query = Query::partition(partition.clone())
                .on(Index::Gsi3)
                .sk(SkRange::Le(cutoff.clone()))
                .limit(PAGE.min(left))
                .cursor(cursor.take());
            let page = deps.store.query(query).await?;
            due.extend(
                page.items
                    .iter()
                    .filter_map(|item| item.get(Index::Gsi3.sk_attr())?.as_str())
                    .filter_map(keys::milestone_due_order)
                    .filter_map(|id| OrderId::parse_at("OrderId", id).ok()),
            );
            match page.cursor {
                Some(next) if !page.items.is_empty() => cursor = Some(next),
                _ => break,
            }
        }
    }
    Ok((due, false))
}

/// One pass over the tenant's checks due by now: the due orders of every shard (keys only),
/// then their checks, `limits.concurrency` at a time; the events' messages go out a page at a
/// time (they are committed with their orders already: a crash before they are sent leaves them
/// to the relay).
pub async fn run_pass(deps: &Deps, tenant: &TenantId, limits: Limits) -> OmsResult<MilestonePass> {
    let started = Instant::now();
    let now = deps.clock.now();
    let user = UserId::parse_at("user", SCHEDULER_USER)?;
    let configs = Configs::default();
    let (due, more) = due_orders(deps, tenant, now, limits.max_orders).await?;
    let mut pass = MilestonePass { more, ..MilestonePass::default() };
    let (user, configs) = (&user, &configs);
    let mut checks = futures::stream::iter(due)
        .map(|order_id: OrderId| async move {
            if started.elapsed() >= limits.max_time {
                return (order_id, None);
            }
            let outcome = check_order(deps, tenant, &order_id, user, now, configs).await;
            (order_id, Some(outcome))
        })
        .buffer_unordered(limits.concurrency.max(1));
    let mut messages = Vec::new();
    while let Some((order_id, outcome)) = checks.next().await {
        match outcome {
            None => pass.more = true,
            Some(Ok(checked)) => {
                pass.orders_checked += 1;
                pass.events_raised += checked.raised as i64;
                pass.orders_released += i64::from(checked.released);
                messages.extend(checked.messages);
            }
            Some(Err(e)) => {
                pass.failed += 1;
                tracing::warn!(order_id = %order_id, error = %e, "milestone check failed; it stays due");
            }
        }
        if messages.len() >= PAGE {
            outbox::deliver(deps, std::mem::take(&mut messages)).await;
        }
    }
    outbox::deliver(deps, messages).await;
    Ok(pass)
}

/// Runs a pass for `tenant` and records it as a job execution (`milestoneSchedulerJob`). A
/// scheduled pass that found nothing due is not recorded (one a minute per tenant would bury
/// every other job execution); a triggered one always is.
pub async fn run_and_record(
    deps: &Deps,
    tenant: &TenantId,
    user: &UserId,
    started: Started,
    limits: Limits,
) -> OmsResult<Option<JobExecution>> {
    let start = deps.clock.now();
    let pass = run_pass(deps, tenant, limits).await?;
    if started == Started::Scheduled && pass.orders_checked + pass.failed == 0 {
        return Ok(None);
    }
    let params = vec![JobExecParam { input_key: "Limit".into(), input_value: limits.max_orders.to_string() }];
    let run_id = format!("{JOB_SCHEDULE_ID}-{}", deps.ids.new_id());
    let job = JobExecution::milestone_pass(tenant, user, started, run_id, start, deps.clock.now(), params, pass);
    deps.store.put(jobs::job_item(tenant, &job)?, Some(Condition::NotExists)).await?;
    tracing::info!(tenant = %tenant, ?pass, "milestone scheduler pass");
    Ok(Some(job))
}

/// The scheduled run: a pass for every tenant with scheduled work, within one time budget.
pub async fn tick(deps: &Deps) -> OmsResult<MilestonePass> {
    let started = Instant::now();
    let limits = Limits::default();
    let user = UserId::parse_at("user", SCHEDULER_USER)?;
    let mut total = MilestonePass::default();
    for tenant in super::scheduled_tenants(deps).await? {
        let left = limits.max_time.saturating_sub(started.elapsed());
        if left.is_zero() {
            total.more = true;
            break;
        }
        let limits = Limits { max_time: left, ..limits };
        match run_and_record(deps, &tenant, &user, Started::Scheduled, limits).await {
            Ok(Some(job)) => {
                let pass = job.milestone_pass.unwrap_or_default();
                total.orders_checked += pass.orders_checked;
                total.events_raised += pass.events_raised;
                total.orders_released += pass.orders_released;
                total.failed += pass.failed;
                total.more |= pass.more;
            }
            Ok(None) => {}
            Err(e) => {
                // One tenant's trouble does not stop the others'.
                tracing::warn!(tenant = %tenant, error = %e, "milestone scheduler pass failed");
                total.failed += 1;
            }
        }
    }
    Ok(total)
}
