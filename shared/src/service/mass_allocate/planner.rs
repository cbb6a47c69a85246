//! The planner: one plan message reads one page of the orders a job's query selects, from the
//! status buckets the query can match (every shard of each), and queues them as chunks. The
//! page's chunks, its counts and the next plan message commit together, and only if the job
//! has planned exactly the pages before this one: a redelivered plan message adds nothing.

use serde::{Deserialize, Serialize};

use super::{CHUNK_ORDERS, ChunkMessage, JobInputs, PAGE_ORDERS, PlanMessage, complete_if_done};
use crate::deps::Deps;
use crate::domain::ids::{OrderId, TenantId};
use crate::domain::job::{JobStatus, counter};
use crate::domain::order_search::ranges_to_search;
use crate::domain::query::Literal;
use crate::error::OmsResult;
use crate::keys;
use crate::ports::{Condition, Index, Key, Query, QueueName, StoreError, Update, WriteOp};
use crate::service::{commit, jobs, orders, outbox};

/// Where the next page starts: a partition of the buckets to search, and the store's cursor in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanCursor {
    pub partition: usize,
    pub inner: Option<String>,
}

/// Every index partition a query can match, in a fixed order.
fn partitions(tenant: &TenantId, inputs: &JobInputs) -> Vec<String> {
    ranges_to_search(&inputs.query)
        .into_iter()
        .flat_map(|range| {
            keys::orders_by_status_partitions(tenant, &keys::order_status_bucket(range)).collect::<Vec<_>>()
        })
        .collect()
}

/// The keys of the orders the query pins by id (`OrderId=...`, `OrderId IN (...)`), when it
/// pins at most a page of them.
fn named_orders(tenant: &TenantId, inputs: &JobInputs) -> Option<Vec<Key>> {
    let pinned = inputs.query.pinned_values("OrderId")?;
    if pinned.len() > PAGE_ORDERS {
        return None;
    }
    let ids = pinned.iter().filter_map(|value| match value {
        Literal::Text(id) => OrderId::parse_at("OrderId", id).ok(),
        _ => None,
    });
    Some(ids.map(|id| keys::order(tenant, &id)).collect())
}

/// Handles one plan message.
#[tracing::instrument(skip_all, fields(job = %message.job_schedule_id, page = message.page))]
pub async fn plan_page(deps: &Deps, message: &PlanMessage) -> OmsResult<()> {
    let tenant = &message.tenant;
    let Some(job) = jobs::load_job(deps, tenant, &message.job_schedule_id).await? else {
        tracing::warn!("plan message for a job that does not exist; dropped");
        return Ok(());
    };
    if job.status != JobStatus::InProgress || job.plan_pages > message.page {
        // Aborted while planning, or this page was planned by an earlier delivery.
        return Ok(());
    }
    let inputs = JobInputs::of(&job)?;
    // A query that names its orders (`OrderId IN (...)`) reads them, not the index.
    let named = named_orders(tenant, &inputs);
    let partitions = if named.is_some() { Vec::new() } else { partitions(tenant, &inputs) };
    let mut at = message.cursor.clone().unwrap_or(PlanCursor { partition: 0, inner: None });
    let mut listed: Vec<Key> = named.unwrap_or_default();
    while at.partition < partitions.len() && listed.len() < PAGE_ORDERS {
        let query = Query::partition(partitions[at.partition].clone())
            .on(Index::Gsi3)
            .limit(PAGE_ORDERS - listed.len())
            .cursor(at.inner.take());
        let page = deps.store.query(query).await?;
        listed.extend(page.items.iter().filter_map(Key::of));
        match page.cursor {
            Some(next) if !page.items.is_empty() => at.inner = Some(next),
            _ => at.partition += 1,
        }
    }
    let last = at.partition >= partitions.len();
    // The index is eventually consistent: the query decides on the orders as they are now.
    let mut matching: Vec<(Key, OrderId)> = Vec::new();
    for item in deps.store.batch_get(&listed).await? {
        let key = Key::of(&item);
        let order = orders::read_order(item)?;
        if inputs.query.matches(&order)
            && let Some(key) = key
        {
            matching.push((key, order.order_id));
        }
    }
    // In index order, so chunks hold neighbours (oldest first within a bucket).
    let position: std::collections::HashMap<&Key, usize> = listed.iter().enumerate().map(|(n, k)| (k, n)).collect();
    matching.sort_by_key(|(key, _)| position.get(key).copied());
    let ids: Vec<OrderId> = matching.into_iter().map(|(_, id)| id).collect();

    let now = deps.clock.now();
    let mut writes = Vec::new();
    let mut messages = Vec::new();
    for (n, orders) in ids.chunks(CHUNK_ORDERS).enumerate() {
        let chunk = ChunkMessage {
            tenant: tenant.clone(),
            job_schedule_id: job.job_schedule_id.clone(),
            chunk: format!("p{:05}-c{n:02}", message.page),
            orders: orders.to_vec(),
        };
        let (write, sent) = outbox::record(deps, tenant, QueueName::MassAllocateChunk, outbox::body(&chunk), now);
        writes.push(write);
        messages.push(sent);
    }
    let chunks = writes.len() as i64;
    if !last {
        let next = PlanMessage {
            tenant: tenant.clone(),
            job_schedule_id: job.job_schedule_id.clone(),
            page: message.page + 1,
            cursor: Some(at),
        };
        let (write, sent) = outbox::record(deps, tenant, QueueName::MassAllocatePlan, outbox::body(&next), now);
        writes.push(write);
        messages.push(sent);
    }
    let mut update = Update::new()
        .add(counter::TOTAL, ids.len() as i64)
        .add(counter::TOTAL_PAGES, chunks)
        .add(counter::PLAN_PAGES, 1)
        .set("UpdatedTimestamp", keys::timestamp(now));
    if last {
        update = update.set("PlanningDone", true);
    }
    let guard = Condition::All(vec![
        Condition::Equals(counter::PLAN_PAGES.into(), message.page.into()),
        Condition::Equals("Status".into(), JobStatus::InProgress.id().into()),
    ]);
    writes.insert(0, WriteOp::Update { key: keys::job(tenant, &job.job_schedule_id), update, condition: Some(guard) });
    match commit::transact(deps, writes).await {
        Ok(()) => {
            outbox::deliver(deps, messages).await;
            tracing::info!(orders = ids.len(), chunks, last, "planned a page of the mass action");
            if last {
                complete_if_done(deps, tenant, &job.job_schedule_id).await?;
            }
            Ok(())
        }
        // Planned meanwhile by another delivery, or aborted: either way nothing is left to do.
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&0) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
