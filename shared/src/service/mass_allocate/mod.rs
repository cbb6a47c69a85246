//! Mass allocate (seed 000): `POST /order/api/order/order/massAction` records a job and queues
//! a plan message; the planner pages through the orders the query selects (the order status
//! index, never a scan) and queues chunks; the worker allocates each chunk with the allocation
//! service and counts it into the job once; the last chunk completes the job.
//!
//! One mass action job per tenant runs at a time: the job is created together with the
//! tenant's lock item, only if the lock is absent, and ending the job frees the lock.

mod planner;
mod worker;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::deps::Deps;
use crate::domain::caller::Caller;
use crate::domain::ids::{OrderId, TenantId};
use crate::domain::job::{JobExecParam, JobExecution, JobType, parse_mass_action};
use crate::domain::order_search::ORDER_SCHEMA;
use crate::domain::query::{self, Expr};
use crate::domain::sourcing::Strategy;
use crate::error::{OmsError, OmsResult};
use crate::keys;
use crate::ports::{Condition, QueueName, StoreError, WriteOp};
use crate::service::jobs::{self, LOCK_HOLDER};
use crate::service::{commit, outbox};
use crate::store::entity;

pub use planner::plan_page;
pub use worker::process_chunk;

/// Orders one plan message reads from the index (and so at most this many per chunk set).
pub const PAGE_ORDERS: usize = 1_000;
/// Orders per chunk message: one worker invocation allocates them together, reading the stock
/// of their items once (orders of a chunk often share items) in about 20 transactions.
pub const CHUNK_ORDERS: usize = 250;

/// Job inputs, as `JobExecParams` keys.
pub mod param {
    pub const QUERY: &str = "Query";
    pub const MASS_ACTION: &str = "MassAction";
    pub const DRY_RUN: &str = "DryRun";
    pub const STRATEGY: &str = "Strategy";
}

/// The body of `POST /order/api/order/order/massAction`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MassActionRequest {
    /// The orders to act on, in the search query language (mandatory).
    pub query: Option<String>,
    /// `Allocate`.
    pub mass_action: Option<String>,
    /// Run without reserving anything or changing any order: the results tell what would happen.
    #[serde(default)]
    pub dry_run: Option<bool>,
    /// Overrides the tenant's allocation strategy for this run: nearest, priority or fewestShipments.
    pub strategy: Option<String>,
}

/// The `data` of the massAction answer (the seed's shape).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MassActionAccepted {
    pub messages: Option<Value>,
    pub mass_action: &'static str,
    pub job_schedule_id: String,
}

/// A plan message: plan page `page` of the job's matching orders, from `cursor`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanMessage {
    pub tenant: TenantId,
    pub job_schedule_id: String,
    pub page: i64,
    pub cursor: Option<planner::PlanCursor>,
}

/// A chunk message: allocate these orders for the job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkMessage {
    pub tenant: TenantId,
    pub job_schedule_id: String,
    /// `p<page>-c<n>`: unique within the job.
    pub chunk: String,
    pub orders: Vec<OrderId>,
}

/// A mass action job's inputs, read back from its record.
pub(crate) struct JobInputs {
    pub query: Expr,
    pub dry_run: bool,
    pub strategy: Option<Strategy>,
}

impl JobInputs {
    pub(crate) fn of(job: &JobExecution) -> OmsResult<Self> {
        let text = job.param(param::QUERY).unwrap_or_default();
        let query = query::parse(text, &ORDER_SCHEMA).map_err(|e| OmsError::validation("Query", e.to_string()))?;
        Ok(JobInputs { query, dry_run: job.dry_run, strategy: job.strategy })
    }
}

/// A JobScheduleId like the seed's (`js` and 23 digits), from a new time-ordered id.
fn job_schedule_id(deps: &Deps) -> String {
    let id = deps.ids.new_id();
    let value = ulid::Ulid::from_string(&id)
        .map(u128::from)
        .unwrap_or_else(|_| id.bytes().fold(0u128, |acc, b| acc.wrapping_mul(131).wrapping_add(u128::from(b))));
    let millis = (value >> 80) as u64;
    let random = (value & ((1u128 << 80) - 1)) % 10_000_000_000;
    format!("{}{millis:013}{random:010}", crate::service::jobs::MASS_ACTION_ID_PREFIX)
}

/// `POST /order/api/order/order/massAction`: records the job (refused with 409 while another
/// mass action job of the tenant is InProgress) and queues its first plan message.
pub async fn start(deps: &Deps, caller: &Caller, req: &MassActionRequest) -> OmsResult<MassActionAccepted> {
    let text = req.query.as_deref().map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(OmsError::validation(
            "Query",
            "search criteria are mandatory: select the orders to act on, e.g. MaxFulfillmentStatusId=1000",
        ));
    }
    query::parse(text, &ORDER_SCHEMA).map_err(|e| OmsError::validation("Query", e.to_string()))?;
    let action = parse_mass_action(req.mass_action.as_deref())?;
    let strategy = req.strategy.as_deref().map(|s| Strategy::parse_at("Strategy", s)).transpose()?;
    let dry_run = req.dry_run.unwrap_or(false);
    let tenant = &caller.tenant;
    for _ in 0..3 {
        let now = deps.clock.now();
        let id = job_schedule_id(deps);
        let mut params = vec![
            JobExecParam { input_key: param::QUERY.into(), input_value: text.to_owned() },
            JobExecParam { input_key: param::MASS_ACTION.into(), input_value: action.to_owned() },
            JobExecParam { input_key: param::DRY_RUN.into(), input_value: dry_run.to_string() },
        ];
        if let Some(strategy) = strategy {
            params.push(JobExecParam { input_key: param::STRATEGY.into(), input_value: strategy.id().to_owned() });
        }
        let mut job = JobExecution::start(JobType::OrderMassAction, id.clone(), tenant, &caller.user, now, params);
        job.dry_run = dry_run;
        job.strategy = strategy;
        let plan = PlanMessage { tenant: tenant.clone(), job_schedule_id: id.clone(), page: 0, cursor: None };
        let (plan_write, message) = outbox::record(deps, tenant, QueueName::MassAllocatePlan, outbox::body(&plan), now);
        let lock = entity::item_at(&keys::mass_action_lock(tenant), &[(LOCK_HOLDER, Value::from(id.clone()))]);
        let writes = vec![
            WriteOp::Put { item: lock, condition: Some(Condition::NotExists) },
            WriteOp::Put { item: jobs::job_item(tenant, &job)?, condition: Some(Condition::NotExists) },
            plan_write,
        ];
        match commit::transact(deps, writes).await {
            Ok(()) => {
                outbox::deliver(deps, vec![message]).await;
                tracing::info!(job = %id, dry_run, "mass action job started");
                return Ok(MassActionAccepted { messages: None, mass_action: action, job_schedule_id: id });
            }
            Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => {
                if let Some(running) = running_job(deps, tenant).await? {
                    return Err(OmsError::Conflict(format!(
                        "mass action job {running} is InProgress; wait for it to complete or abort it first"
                    )));
                }
                // The lock's job has ended (or the lock just went): try again.
            }
            Err(StoreError::TransactionCanceled { .. } | StoreError::TransactionConflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(OmsError::Conflict("another mass action request is starting a job; retry".into()))
}

/// The tenant's InProgress mass action job, if the lock names one. A lock whose job has ended
/// (it cannot, as ending frees it in the same transaction, but a lock must never block
/// forever) is freed.
async fn running_job(deps: &Deps, tenant: &TenantId) -> OmsResult<Option<String>> {
    let key = keys::mass_action_lock(tenant);
    let Some(lock) = deps.store.get(&key).await? else { return Ok(None) };
    let holder = lock.get(LOCK_HOLDER).and_then(Value::as_str).unwrap_or_default().to_owned();
    match jobs::load_job(deps, tenant, &holder).await? {
        Some(job) if !job.status.is_finished() => Ok(Some(holder)),
        _ => {
            let condition = Condition::Equals(LOCK_HOLDER.into(), Value::from(holder));
            match deps.store.delete(&key, Some(condition)).await {
                Ok(()) | Err(StoreError::ConditionFailed) => Ok(None),
                Err(e) => Err(e.into()),
            }
        }
    }
}

/// Completes the job if every planned order has been processed.
pub(crate) async fn complete_if_done(deps: &Deps, tenant: &TenantId, job_schedule_id: &str) -> OmsResult<()> {
    let job = jobs::get_job(deps, tenant, job_schedule_id).await?;
    if !job.status.is_finished() && job.all_processed() {
        let completed = jobs::finish(deps, tenant, &job, crate::domain::job::JobStatus::Completed, None).await?;
        if completed {
            tracing::info!(job = job_schedule_id, orders = job.total_msg_count, "mass action job completed");
        }
    }
    Ok(())
}
