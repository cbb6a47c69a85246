//! Job executions (seed 000's scheduler API): stored, searched, aborted, finished, and their
//! per-order results read. Mass allocate writes them today; every later job records its runs
//! here too, so one search finds them all.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::deps::Deps;
use crate::domain::caller::Caller;
use crate::domain::ids::TenantId;
use crate::domain::job::{JOB_SCHEMA, JobExecution, JobExecutionView, JobStatus, JobType, OrderResult};
use crate::domain::query::{self, Literal};
use crate::error::{OmsError, OmsResult};
use crate::keys;
use crate::ports::{Condition, Index, Item, Key, Query, SkRange, StoreError, Update, WriteOp};
use crate::store::{self, entity};

/// Index attributes a job item carries.
const INDEX_ATTRIBUTES: [&str; 2] = ["GSI3PK", "GSI3SK"];
/// Most executions one search answers.
const MAX_SIZE: usize = 500;
/// Most executions one search reads before filtering (newest first).
const MAX_SCANNED: usize = 5_000;
/// Most results one page answers.
pub const MAX_RESULTS_PAGE: usize = 1_000;

/// The stored item of `job`, listed among its tenant's (GSI3, keys only, for life).
pub fn job_item(tenant: &TenantId, job: &JobExecution) -> OmsResult<Item> {
    let (listing, sort) = keys::job_listing(tenant, job.created_timestamp, job.record_id());
    let index = entity::index_entry(Index::Gsi3, listing, sort);
    entity::to_item(&keys::job(tenant, job.record_id()), job, 0, &index)
}

pub fn read_job(item: Item) -> OmsResult<JobExecution> {
    entity::from_item(item, &[&INDEX_ATTRIBUTES[..], &[entity::VERSION]].concat())
}

pub async fn load_job(deps: &Deps, tenant: &TenantId, job_schedule_id: &str) -> OmsResult<Option<JobExecution>> {
    match deps.store.get(&keys::job(tenant, job_schedule_id)).await? {
        Some(item) => Ok(Some(read_job(item)?)),
        None => Ok(None),
    }
}

/// The job `job_schedule_id`, or 404.
pub async fn get_job(deps: &Deps, tenant: &TenantId, job_schedule_id: &str) -> OmsResult<JobExecution> {
    load_job(deps, tenant, job_schedule_id)
        .await?
        .ok_or_else(|| OmsError::not_found(format!("job {job_schedule_id} does not exist")))
}

/// The writes that end an InProgress job with `status` (only if it is still InProgress), and
/// free the tenant's mass action lock when this job holds it.
pub fn finish_writes(
    tenant: &TenantId,
    job: &JobExecution,
    status: JobStatus,
    user: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<WriteOp> {
    let mut update = Update::new()
        .set("Status", status.id())
        .set("CompletionTime", keys::timestamp(now))
        .set("UpdatedTimestamp", keys::timestamp(now));
    if let Some(user) = user {
        update = update.set("UpdatedBy", user);
    }
    let mut writes = vec![WriteOp::Update {
        key: keys::job(tenant, job.record_id()),
        update,
        condition: Some(Condition::Equals("Status".into(), JobStatus::InProgress.id().into())),
    }];
    if job.job_type_id == JobType::OrderMassAction {
        writes.push(WriteOp::Delete {
            key: keys::mass_action_lock(tenant),
            condition: Some(Condition::Equals(LOCK_HOLDER.into(), job.job_schedule_id.clone().into())),
        });
    }
    writes
}

/// Attribute of the mass action lock naming the job that holds it.
pub const LOCK_HOLDER: &str = "JobScheduleId";

/// Ends `job` with `status` if it is still InProgress. False when it had already ended.
pub async fn finish(
    deps: &Deps,
    tenant: &TenantId,
    job: &JobExecution,
    status: JobStatus,
    user: Option<&str>,
) -> OmsResult<bool> {
    let now = deps.clock.now();
    let mut writes = finish_writes(tenant, job, status, user, now);
    // A lock that another job holds (or none) is not this job's to free.
    let lock = deps.store.get(&keys::mass_action_lock(tenant)).await?;
    let holds = lock.as_ref().and_then(|l| l.get(LOCK_HOLDER)).and_then(Value::as_str) == Some(&job.job_schedule_id);
    if !holds {
        writes.truncate(1);
    }
    match deps.store.transact(writes).await {
        Ok(()) => Ok(true),
        Err(StoreError::TransactionCanceled { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

// ------------------------------------------------------------------------------------------
// Search
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SearchRequest {
    /// E.g. `JobTypeId=orderMassActionJob` or `JobScheduleId=js…`; empty lists every job.
    pub query: Option<String>,
    #[serde(default)]
    pub sort: Vec<SortBy>,
    /// Executions per page, 1 to 500 (default 50).
    pub size: Option<u64>,
    /// Zero-based page (default 0).
    pub page: Option<u64>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct SortBy {
    /// `CreatedTimestamp`, `UpdatedTimestamp`, `StartTime`, `CompletionTime`, `JobScheduleId`, `Status` or `JobTypeId`.
    pub attribute: String,
    /// `asc` or `desc` (default `asc`).
    pub direction: Option<String>,
}

/// `POST /scheduler/api/scheduler/jobExecution/search`.
pub async fn search(deps: &Deps, tenant: &TenantId, req: &SearchRequest) -> OmsResult<Vec<JobExecutionView>> {
    let size = match req.size {
        None => 50,
        Some(n) if (1..=MAX_SIZE as u64).contains(&n) => n as usize,
        Some(n) => return Err(OmsError::validation("Size", format!("must be from 1 to {MAX_SIZE}, not {n}"))),
    };
    let page = req.page.unwrap_or(0) as usize;
    let sorts = req.sort.iter().enumerate().map(|(i, s)| parse_sort(i, s)).collect::<OmsResult<Vec<_>>>()?;
    let query = match req.query.as_deref().map(str::trim) {
        Some(text) if !text.is_empty() => {
            Some(query::parse(text, &JOB_SCHEMA).map_err(|e| OmsError::validation("Query", e.to_string()))?)
        }
        _ => None,
    };
    // A mass action's JobScheduleId names its one record; a scheduled job's names all its runs,
    // which only the listing finds.
    let pinned = query
        .as_ref()
        .and_then(|q| q.pinned_values("JobScheduleId"))
        .filter(|ids| ids.iter().all(|v| matches!(v, Literal::Text(id) if id.starts_with(MASS_ACTION_ID_PREFIX))));
    let jobs = match pinned {
        Some(ids) => {
            let keys: Vec<Key> = ids
                .iter()
                .filter_map(|v| match v {
                    Literal::Text(id) => Some(keys::job(tenant, id)),
                    _ => None,
                })
                .collect();
            deps.store.batch_get(&keys).await?.into_iter().map(read_job).collect::<OmsResult<Vec<_>>>()?
        }
        None => newest_jobs(deps, tenant).await?,
    };
    let mut matching: Vec<JobExecution> =
        jobs.into_iter().filter(|job| query.as_ref().is_none_or(|q| q.matches(job))).collect();
    matching.sort_by(|a, b| {
        let mut order = std::cmp::Ordering::Equal;
        for (attribute, descending) in &sorts {
            let o = sort_key(a, attribute).cmp(&sort_key(b, attribute));
            order = order.then(if *descending { o.reverse() } else { o });
        }
        order.then_with(|| b.created_timestamp.cmp(&a.created_timestamp))
    });
    let now = deps.clock.now();
    Ok(matching.into_iter().skip(page.saturating_mul(size)).take(size).map(|job| job.view(now)).collect())
}

const SORTABLE: [&str; 7] =
    ["CreatedTimestamp", "UpdatedTimestamp", "StartTime", "CompletionTime", "JobScheduleId", "Status", "JobTypeId"];

fn parse_sort(i: usize, sort: &SortBy) -> OmsResult<(&'static str, bool)> {
    let attribute = SORTABLE.iter().find(|a| a.eq_ignore_ascii_case(sort.attribute.trim())).ok_or_else(|| {
        OmsError::validation(
            format!("Sort[{i}].attribute"),
            format!("cannot sort by {:?}; expected one of {}", sort.attribute, SORTABLE.join(", ")),
        )
    })?;
    let descending = match sort.direction.as_deref().map(str::trim) {
        None => false,
        Some(d) if d.eq_ignore_ascii_case("asc") => false,
        Some(d) if d.eq_ignore_ascii_case("desc") => true,
        Some(other) => {
            return Err(OmsError::validation(
                format!("Sort[{i}].direction"),
                format!("{other:?} is neither asc nor desc"),
            ));
        }
    };
    Ok((attribute, descending))
}

fn sort_key(job: &JobExecution, attribute: &str) -> String {
    match attribute {
        "CreatedTimestamp" => keys::timestamp(job.created_timestamp),
        "UpdatedTimestamp" => keys::timestamp(job.updated_timestamp),
        "StartTime" => keys::timestamp(job.start_time),
        "CompletionTime" => job.completion_time.map(keys::timestamp).unwrap_or_default(),
        "JobScheduleId" => job.job_schedule_id.clone(),
        "Status" => job.status.id().to_owned(),
        _ => job.job_type_id.id().to_owned(),
    }
}

/// The tenant's newest executions, at most [`MAX_SCANNED`], read through the keys-only listing.
async fn newest_jobs(deps: &Deps, tenant: &TenantId) -> OmsResult<Vec<JobExecution>> {
    let mut jobs = Vec::new();
    let mut cursor = None;
    loop {
        let listing = Query::partition(keys::jobs_partition(tenant)).on(Index::Gsi3).descending().limit(100);
        let page = deps.store.query(listing.cursor(cursor)).await?;
        let keys: Vec<Key> = page.items.iter().filter_map(Key::of).collect();
        let mut read: Vec<JobExecution> =
            deps.store.batch_get(&keys).await?.into_iter().map(read_job).collect::<OmsResult<_>>()?;
        read.sort_by_key(|job| std::cmp::Reverse(job.created_timestamp));
        jobs.extend(read);
        match page.cursor {
            Some(next) if !page.items.is_empty() && jobs.len() < MAX_SCANNED => cursor = Some(next),
            _ => return Ok(jobs),
        }
    }
}

// ------------------------------------------------------------------------------------------
// Abort
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct StatusRequest {
    /// Only `aborted` may be set.
    pub status: Option<String>,
}

/// How every mass action's JobScheduleId starts.
pub const MASS_ACTION_ID_PREFIX: &str = "js";

/// The JobScheduleId inside a UniqueJobId (`{org}::X::{type}::{JobScheduleId}::...`).
fn schedule_id_of(unique_job_id: &str) -> OmsResult<&str> {
    let parts: Vec<&str> = unique_job_id.split("::").collect();
    match parts.as_slice() {
        [_, "X", _, id, ..] if id.starts_with(MASS_ACTION_ID_PREFIX) => Ok(id),
        _ => Err(OmsError::validation(
            "uniqueJobId",
            format!("{unique_job_id:?} is not a UniqueJobId ({{org}}::X::{{JobTypeId}}::{{JobScheduleId}}::...)"),
        )),
    }
}

/// `PUT|POST /scheduler/api/scheduler/jobExecution/uniqueJobId/{uniqueJobId}` with
/// `{"Status": "aborted"}`: stops an InProgress job. Work not yet done stays undone.
pub async fn set_status(
    deps: &Deps,
    caller: &Caller,
    unique_job_id: &str,
    req: &StatusRequest,
) -> OmsResult<JobExecutionView> {
    match req.status.as_deref().map(str::trim) {
        Some(s) if s.eq_ignore_ascii_case("aborted") => {}
        Some(other) => {
            return Err(OmsError::validation("Status", format!("{other:?} cannot be set; only \"aborted\" can")));
        }
        None => return Err(OmsError::validation("Status", "is required: \"aborted\"")),
    }
    let tenant = &caller.tenant;
    let id = schedule_id_of(unique_job_id)?;
    let job = match load_job(deps, tenant, id).await? {
        Some(job) if job.unique_job_id == unique_job_id => job,
        _ => return Err(OmsError::not_found(format!("job execution {unique_job_id} does not exist"))),
    };
    if job.status.is_finished() {
        return Err(OmsError::Conflict(format!(
            "job {} is {}; only an InProgress job can be aborted",
            job.job_schedule_id,
            job.status.id()
        )));
    }
    if !finish(deps, tenant, &job, JobStatus::Aborted, Some(caller.user.as_str())).await? {
        let now = get_job(deps, tenant, id).await?;
        return Err(OmsError::Conflict(format!("job {id} ended ({}) while aborting it", now.status.id())));
    }
    tracing::info!(job = id, "job aborted");
    Ok(get_job(deps, tenant, id).await?.view(deps.clock.now()))
}

// ------------------------------------------------------------------------------------------
// Results
// ------------------------------------------------------------------------------------------

/// Where the next page of results starts: a shard and the store's cursor inside it.
#[derive(Debug, Serialize, Deserialize)]
struct ResultsCursor {
    shard: usize,
    inner: Option<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ResultsPage {
    pub job_schedule_id: String,
    pub results: Vec<OrderResult>,
    /// Pass as `cursor` for the next page; null on the last one.
    pub next_cursor: Option<String>,
}

/// `GET .../jobExecution/jobScheduleId/{JobScheduleId}/results?limit=&cursor=`.
pub async fn results(
    deps: &Deps,
    tenant: &TenantId,
    job_schedule_id: &str,
    limit: Option<&str>,
    cursor: Option<&str>,
) -> OmsResult<ResultsPage> {
    let limit = match limit {
        None => 100,
        Some(text) => match text.trim().parse::<usize>() {
            Ok(n) if (1..=MAX_RESULTS_PAGE).contains(&n) => n,
            _ => {
                return Err(OmsError::validation(
                    "limit",
                    format!("must be a whole number from 1 to {MAX_RESULTS_PAGE}, not {text:?}"),
                ));
            }
        },
    };
    let job = get_job(deps, tenant, job_schedule_id).await?;
    let mut at = match cursor.filter(|c| !c.is_empty()) {
        None => ResultsCursor { shard: 0, inner: None },
        Some(text) => URL_SAFE_NO_PAD
            .decode(text)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| OmsError::validation("cursor", "is not a cursor this API returned"))?,
    };
    let partitions = keys::job_result_partitions(tenant, &job.job_schedule_id);
    let mut results = Vec::new();
    while at.shard < partitions.len() && results.len() < limit {
        let query = Query::partition(partitions[at.shard].clone())
            .sk(SkRange::BeginsWith(keys::JOB_RESULT_PREFIX.into()))
            .limit(limit - results.len())
            .cursor(at.inner.take());
        let page = deps.store.query(query).await?;
        for item in page.items {
            results.push(entity::from_item::<OrderResult>(item, &[entity::VERSION])?);
        }
        match page.cursor {
            Some(next) => at.inner = Some(next),
            None => at.shard += 1,
        }
    }
    let next_cursor =
        (at.shard < partitions.len()).then(|| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&at).unwrap_or_default()));
    Ok(ResultsPage { job_schedule_id: job.job_schedule_id, results, next_cursor })
}

/// Every result of a job (for tests and the bench; a job's results fit in memory there).
pub async fn all_results(deps: &Deps, tenant: &TenantId, job_schedule_id: &str) -> OmsResult<Vec<OrderResult>> {
    let listings = keys::job_result_partitions(tenant, job_schedule_id)
        .into_iter()
        .map(|p| Query::partition(p).sk(SkRange::BeginsWith(keys::JOB_RESULT_PREFIX.into())));
    store::query_every(deps.store.as_ref(), listings)
        .await?
        .into_iter()
        .map(|item| entity::from_item(item, &[entity::VERSION]))
        .collect()
}
