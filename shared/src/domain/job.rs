//! Job executions (seed 000's scheduler): every run of a job, a mass action or a scheduled
//! job's pass, is one record per tenant that the same search finds. Its counters count orders.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ids::{LocationId, OrderId, TenantId, UserId};
use super::query::{AttrType, Known, Literal, Record, Schema};
use super::sourcing::Strategy;
use crate::error::OmsError;

/// How long a job execution is kept after it starts (the seed's PurgeDate is 5 days on).
pub const PURGE_AFTER_DAYS: i64 = 5;

/// What a job does: its `JobTypeId`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum JobType {
    #[serde(rename = "orderMassActionJob")]
    OrderMassAction,
    /// A pass of the milestone scheduler over the orders whose milestone check is due.
    #[serde(rename = "milestoneSchedulerJob")]
    MilestoneScheduler,
}

impl JobType {
    pub fn id(self) -> &'static str {
        match self {
            JobType::OrderMassAction => "orderMassActionJob",
            JobType::MilestoneScheduler => "milestoneSchedulerJob",
        }
    }

    /// The component whose job it is, as the seed's `UniqueJobId` and `Component` name it.
    pub fn component(self) -> &'static str {
        match self {
            JobType::OrderMassAction | JobType::MilestoneScheduler => "order",
        }
    }
}

/// A job's `Status`, spelled as the seed spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub enum JobStatus {
    InProgress,
    #[serde(rename = "completed")]
    Completed,
    #[serde(rename = "aborted")]
    Aborted,
    #[serde(rename = "failed")]
    Failed,
}

impl JobStatus {
    pub fn id(self) -> &'static str {
        match self {
            JobStatus::InProgress => "InProgress",
            JobStatus::Completed => "completed",
            JobStatus::Aborted => "aborted",
            JobStatus::Failed => "failed",
        }
    }

    pub fn is_finished(self) -> bool {
        self != JobStatus::InProgress
    }
}

/// One input of a job (`JobExecParams`): the query, the action, the dry-run flag, the strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct JobExecParam {
    pub input_key: String,
    pub input_value: String,
}

/// Counter attributes of the stored record, added to atomically by the workers.
pub mod counter {
    pub const TOTAL: &str = "TotalMsgCount";
    pub const SUCCESS: &str = "SuccessMsgCount";
    pub const FAILURE: &str = "FailureMsgCount";
    pub const TOTAL_PAGES: &str = "TotalPageCount";
    pub const POSTED_PAGES: &str = "PostedPageCount";
    /// Plan pages done: a redelivered plan message for a page already done adds nothing.
    pub const PLAN_PAGES: &str = "PlanPages";
    pub const UNITS: &str = "UnitsAllocated";
    pub const FULL: &str = "OrdersFullyAllocated";
    pub const PARTIAL: &str = "OrdersPartlyAllocated";
    pub const NONE: &str = "OrdersNotAllocated";
    pub const SHIPMENTS: &str = "Shipments";
    /// Sum of shipment distances in metres (integers add atomically), and how many were known.
    pub const DISTANCE_METRES: &str = "DistanceMetres";
    pub const DISTANCES: &str = "DistanceCount";
}

/// A job execution as stored. Field names are the seed's, so counters are updated in place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct JobExecution {
    pub job_schedule_id: String,
    /// The id the record is stored under when it differs from `job_schedule_id`: each run of a
    /// scheduled job (one schedule, many runs) has its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub unique_job_id: String,
    pub job_type_id: JobType,
    pub status: JobStatus,
    pub job_organization: TenantId,
    pub user: UserId,
    pub created_by: UserId,
    pub updated_by: UserId,
    pub created_timestamp: DateTime<Utc>,
    pub updated_timestamp: DateTime<Utc>,
    pub start_time: DateTime<Utc>,
    pub completion_time: Option<DateTime<Utc>>,
    pub purge_date: DateTime<Utc>,
    pub job_exec_params: Vec<JobExecParam>,
    #[serde(default)]
    pub total_msg_count: i64,
    #[serde(default)]
    pub success_msg_count: i64,
    #[serde(default)]
    pub failure_msg_count: i64,
    #[serde(default)]
    pub total_page_count: i64,
    #[serde(default)]
    pub posted_page_count: i64,
    #[serde(default)]
    pub plan_pages: i64,
    /// Every page of matching orders has been planned into chunks.
    #[serde(default)]
    pub planning_done: bool,
    /// No reservation, no order change: the results tell what would happen.
    #[serde(default)]
    pub dry_run: bool,
    pub strategy: Option<Strategy>,
    #[serde(default)]
    pub units_allocated: i64,
    #[serde(default)]
    pub orders_fully_allocated: i64,
    #[serde(default)]
    pub orders_partly_allocated: i64,
    #[serde(default)]
    pub orders_not_allocated: i64,
    #[serde(default)]
    pub shipments: i64,
    #[serde(default)]
    pub distance_metres: i64,
    #[serde(default)]
    pub distance_count: i64,
    /// A milestone scheduler pass: what it found and did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone_pass: Option<MilestonePass>,
}

/// The JobScheduleId of the milestone scheduler's runs (and of `jobExecution/trigger`).
pub const MILESTONE_SCHEDULE_ID: &str = "milestoneScheduler";

/// What one milestone scheduler pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MilestonePass {
    /// Orders whose milestone check was due and that were checked.
    pub orders_checked: i64,
    /// Monitoring events raised (each once per order and rule).
    pub events_raised: i64,
    /// Orders released because their DoNotReleaseBefore had passed.
    pub orders_released: i64,
    /// Checks that failed (they stay due and are retried by the next pass).
    pub failed: i64,
    /// The pass stopped at its limit of time or orders; the next one goes on.
    pub more: bool,
}

/// How a run was started, the last part of its UniqueJobId.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Started {
    /// By a request (a mass action, `jobExecution/trigger`).
    Adhoc,
    /// By its schedule (the EventBridge tick).
    Scheduled,
}

impl Started {
    pub fn id(self) -> &'static str {
        match self {
            Started::Adhoc => "ADHOC",
            Started::Scheduled => "SCHEDULED",
        }
    }
}

impl JobExecution {
    /// A new InProgress execution of `job_type` started by `user` at `now`, by a request.
    pub fn start(
        job_type: JobType,
        job_schedule_id: String,
        tenant: &TenantId,
        user: &UserId,
        now: DateTime<Utc>,
        params: Vec<JobExecParam>,
    ) -> Self {
        Self::begin(job_type, job_schedule_id, tenant, user, now, params, Started::Adhoc)
    }

    /// A milestone scheduler pass from `start` to `end`, recorded once it is over under its own
    /// `run_id` (one schedule, many runs). Counts are orders: checked ones succeeded, failed
    /// checks failed; a pass whose every check failed is `failed`.
    #[allow(clippy::too_many_arguments)]
    pub fn milestone_pass(
        tenant: &TenantId,
        user: &UserId,
        started: Started,
        run_id: String,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        params: Vec<JobExecParam>,
        pass: MilestonePass,
    ) -> Self {
        let schedule = MILESTONE_SCHEDULE_ID.to_owned();
        let mut job = Self::begin(JobType::MilestoneScheduler, schedule, tenant, user, start, params, started);
        job.run_id = Some(run_id);
        job.status = if pass.failed > 0 && pass.orders_checked == 0 { JobStatus::Failed } else { JobStatus::Completed };
        job.completion_time = Some(end);
        job.updated_timestamp = end;
        job.planning_done = true;
        job.total_msg_count = pass.orders_checked + pass.failed;
        job.success_msg_count = pass.orders_checked;
        job.failure_msg_count = pass.failed;
        job.milestone_pass = Some(pass);
        job
    }

    fn begin(
        job_type: JobType,
        job_schedule_id: String,
        tenant: &TenantId,
        user: &UserId,
        now: DateTime<Utc>,
        params: Vec<JobExecParam>,
        started: Started,
    ) -> Self {
        let unique_job_id = format!(
            "{tenant}::X::{}::{job_schedule_id}::{}::{}::{}",
            job_type.id(),
            job_type.component(),
            now.format("%y-%m-%d %H:%M:%S"),
            started.id()
        );
        JobExecution {
            job_schedule_id,
            run_id: None,
            unique_job_id,
            job_type_id: job_type,
            status: JobStatus::InProgress,
            job_organization: tenant.clone(),
            user: user.clone(),
            created_by: user.clone(),
            updated_by: user.clone(),
            created_timestamp: now,
            updated_timestamp: now,
            start_time: now,
            completion_time: None,
            purge_date: now + Duration::days(PURGE_AFTER_DAYS),
            job_exec_params: params,
            total_msg_count: 0,
            success_msg_count: 0,
            failure_msg_count: 0,
            total_page_count: 0,
            posted_page_count: 0,
            plan_pages: 0,
            planning_done: false,
            dry_run: false,
            strategy: None,
            units_allocated: 0,
            orders_fully_allocated: 0,
            orders_partly_allocated: 0,
            orders_not_allocated: 0,
            shipments: 0,
            distance_metres: 0,
            distance_count: 0,
            milestone_pass: None,
        }
    }

    /// The id the record is stored under (see `run_id`).
    pub fn record_id(&self) -> &str {
        self.run_id.as_deref().unwrap_or(&self.job_schedule_id)
    }

    /// The value of an input, if the job has it.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.job_exec_params.iter().find(|p| p.input_key == key).map(|p| p.input_value.as_str())
    }

    /// Orders the workers have finished, either way.
    pub fn processed(&self) -> i64 {
        self.success_msg_count + self.failure_msg_count
    }

    /// Every planned order has been processed: the job can complete.
    pub fn all_processed(&self) -> bool {
        self.planning_done && self.processed() >= self.total_msg_count
    }

    /// The execution as the scheduler API answers it, at `now`.
    pub fn view(&self, now: DateTime<Utc>) -> JobExecutionView {
        let processed = self.processed();
        let percentage = match (self.planning_done, self.total_msg_count) {
            (true, 0) => Some(100),
            (_, 0) => None,
            (_, total) => Some((processed * 100 / total).clamp(0, 100)),
        };
        let display = match self.status {
            JobStatus::InProgress if !self.planning_done && self.total_msg_count == 0 => "searching orders".to_owned(),
            JobStatus::InProgress => format!("{processed} of {} records processed", self.total_msg_count),
            _ if processed == 0 => "no records processed".to_owned(),
            JobStatus::Completed => format!("{processed} records processed"),
            JobStatus::Aborted => format!("aborted after {processed} of {} records", self.total_msg_count),
            JobStatus::Failed => format!("failed after {processed} of {} records", self.total_msg_count),
        };
        // Linear: the time so far, scaled by what is left.
        let estimated = match (self.status, self.completion_time) {
            (_, Some(done)) => done,
            (JobStatus::InProgress, None) if processed > 0 && self.planning_done => {
                let elapsed = (now - self.start_time).num_milliseconds().max(0);
                let total_ms = elapsed.saturating_mul(self.total_msg_count) / processed;
                self.start_time + Duration::milliseconds(total_ms)
            }
            _ => self.start_time + Duration::days(1),
        };
        let incomplete = match self.status {
            JobStatus::InProgress => None,
            _ => Some((self.total_msg_count - processed).max(0)),
        };
        JobExecutionView {
            unique_job_id: self.unique_job_id.clone(),
            job_schedule_id: self.job_schedule_id.clone(),
            job_type_id: self.job_type_id,
            status: self.status,
            display_status: display,
            user: self.user.clone(),
            created_by: self.created_by.clone(),
            updated_by: self.updated_by.clone(),
            created_timestamp: millis(self.created_timestamp),
            updated_timestamp: millis(self.updated_timestamp),
            start_time: millis(self.start_time),
            completion_time: self.completion_time.map(millis),
            estimated_completion_time: millis(estimated),
            total_msg_count: self.total_msg_count,
            success_msg_count: self.success_msg_count,
            failure_msg_count: self.failure_msg_count,
            incomplete_msg_count: incomplete,
            completion_percentage: percentage,
            total_page_count: self.total_page_count,
            posted_page_count: self.posted_page_count,
            component: self.job_type_id.component(),
            job_category: "FUNCTIONAL",
            status_monitor_level: "CHUNK",
            job_organization: self.job_organization.clone(),
            purge_date: millis(self.purge_date),
            job_exec_params: self.job_exec_params.clone(),
            messages: None,
            message: None,
            allocation_summary: (self.job_type_id == JobType::OrderMassAction).then(|| AllocationSummary {
                dry_run: self.dry_run,
                strategy: self.strategy,
                units_allocated: self.units_allocated,
                orders_fully_allocated: self.orders_fully_allocated,
                orders_partly_allocated: self.orders_partly_allocated,
                orders_not_allocated: self.orders_not_allocated,
                shipments: self.shipments,
                mean_distance_km: (self.distance_count > 0)
                    .then(|| (self.distance_metres as f64 / self.distance_count as f64 / 1000.0 * 10.0).round() / 10.0),
            }),
            milestone_pass: self.milestone_pass,
        }
    }
}

fn millis(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A job execution as `jobExecution/search` answers it (the seed's fields).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct JobExecutionView {
    /// `{org}::X::{JobTypeId}::{JobScheduleId}::{component}::{yy-MM-dd HH:mm:ss}::ADHOC`
    pub unique_job_id: String,
    pub job_schedule_id: String,
    pub job_type_id: JobType,
    pub status: JobStatus,
    pub display_status: String,
    pub user: UserId,
    pub created_by: UserId,
    pub updated_by: UserId,
    pub created_timestamp: String,
    pub updated_timestamp: String,
    pub start_time: String,
    pub completion_time: Option<String>,
    pub estimated_completion_time: String,
    /// Orders the job selected.
    pub total_msg_count: i64,
    /// Orders fully allocated.
    pub success_msg_count: i64,
    /// Orders partly or not allocated, or that failed.
    pub failure_msg_count: i64,
    /// Orders never processed (set once the job has ended).
    pub incomplete_msg_count: Option<i64>,
    pub completion_percentage: Option<i64>,
    /// Chunks of orders queued for the workers.
    pub total_page_count: i64,
    /// Chunks the workers have finished.
    pub posted_page_count: i64,
    pub component: &'static str,
    pub job_category: &'static str,
    pub status_monitor_level: &'static str,
    pub job_organization: TenantId,
    pub purge_date: String,
    pub job_exec_params: Vec<JobExecParam>,
    pub messages: Option<String>,
    pub message: Option<String>,
    /// What the mass allocation did (or, in a dry run, would do).
    pub allocation_summary: Option<AllocationSummary>,
    /// What a milestone scheduler pass did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub milestone_pass: Option<MilestonePass>,
}

/// Totals of a mass allocation over the orders processed so far.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AllocationSummary {
    pub dry_run: bool,
    /// The strategy the run used when it overrode the tenant's.
    pub strategy: Option<Strategy>,
    /// Units allocated (a dry run: units that could be).
    pub units_allocated: i64,
    pub orders_fully_allocated: i64,
    pub orders_partly_allocated: i64,
    pub orders_not_allocated: i64,
    /// Distinct ship-from locations per order, summed.
    pub shipments: i64,
    /// Mean distance from ship-from location to destination over shipments whose distance is
    /// known, in km to one decimal.
    pub mean_distance_km: Option<f64>,
}

/// The attributes `jobExecution/search` queries may use.
pub const JOB_SCHEMA: Schema = Schema::new(&[
    ("JobTypeId", AttrType::Text),
    ("JobScheduleId", AttrType::Text),
    ("UniqueJobId", AttrType::Text),
    ("Status", AttrType::Text),
    ("User", AttrType::Text),
    ("CreatedBy", AttrType::Text),
    ("Component", AttrType::Text),
    ("CreatedTimestamp", AttrType::Timestamp),
    ("UpdatedTimestamp", AttrType::Timestamp),
    ("StartTime", AttrType::Timestamp),
    ("CompletionTime", AttrType::Timestamp),
    ("TotalMsgCount", AttrType::Integer),
    ("FailureMsgCount", AttrType::Integer),
]);

impl Record for JobExecution {
    fn value(&self, attribute: &str) -> Known {
        let text = |s: &str| Known::Value(Literal::Text(s.to_owned()));
        let time = |t: DateTime<Utc>| Known::Value(Literal::Time(t));
        match attribute {
            "JobTypeId" => text(self.job_type_id.id()),
            "JobScheduleId" => text(&self.job_schedule_id),
            "UniqueJobId" => text(&self.unique_job_id),
            "Status" => text(self.status.id()),
            "User" => text(self.user.as_str()),
            "CreatedBy" => text(self.created_by.as_str()),
            "Component" => text(self.job_type_id.component()),
            "CreatedTimestamp" => time(self.created_timestamp),
            "UpdatedTimestamp" => time(self.updated_timestamp),
            "StartTime" => time(self.start_time),
            "CompletionTime" => self.completion_time.map_or(Known::Null, time),
            "TotalMsgCount" => Known::Value(Literal::Int(self.total_msg_count)),
            "FailureMsgCount" => Known::Value(Literal::Int(self.failure_msg_count)),
            _ => Known::Unknown,
        }
    }
}

/// What happened to one order in a mass allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum OrderOutcome {
    /// Every outstanding unit is allocated (or, in a dry run, could be).
    Allocated,
    /// Some units are allocated, the rest back ordered.
    Partial,
    /// No unit could be allocated.
    NotAllocated,
    /// The order could not be processed (it no longer exists, or allocation kept failing).
    Failed,
}

impl OrderOutcome {
    pub fn is_success(self) -> bool {
        self == OrderOutcome::Allocated
    }
}

/// One order's result in a job (`.../results`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderResult {
    pub order_id: OrderId,
    pub outcome: OrderOutcome,
    /// The chunk that processed it: an order planned twice (it moved between status buckets
    /// while the job searched) is processed once, by the first chunk that reached it.
    pub chunk: String,
    pub units_allocated: u64,
    pub units_back_ordered: u64,
    /// Ship-from locations of the units allocated by this job.
    pub locations: Vec<LocationId>,
    /// Mean distance of this order's shipments, where known.
    pub distance_km: Option<f64>,
    /// Why units were not allocated, line by line: the explain reasons.
    pub reasons: Vec<String>,
    pub processed_at: DateTime<Utc>,
}

/// Reads a `MassAction`: only `Allocate` is known.
pub fn parse_mass_action(value: Option<&str>) -> Result<&'static str, OmsError> {
    match value.map(str::trim) {
        Some(action) if action.eq_ignore_ascii_case("Allocate") => Ok("Allocate"),
        Some(other) => {
            Err(OmsError::validation("MassAction", format!("unknown mass action {other:?}; expected Allocate")))
        }
        None => Err(OmsError::validation("MassAction", "is required: \"Allocate\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn job() -> JobExecution {
        let at = Utc.with_ymd_and_hms(2021, 9, 22, 9, 15, 57).unwrap();
        let tenant = TenantId::parse("ecomorg").unwrap();
        let user = UserId::parse("admin@ecomorg.com").unwrap();
        JobExecution::start(JobType::OrderMassAction, "js6901488094841529834525158".into(), &tenant, &user, at, vec![])
    }

    #[test]
    fn a_unique_job_id_should_be_shaped_like_the_seeds() {
        assert_eq!(
            job().unique_job_id,
            "ecomorg::X::orderMassActionJob::js6901488094841529834525158::order::21-09-22 09:15:57::ADHOC"
        );
        assert_eq!(job().purge_date, job().created_timestamp + Duration::days(5));
    }

    #[test]
    fn when_half_the_orders_are_processed_should_show_half_and_estimate_the_end_linearly() {
        let mut running = job();
        running.planning_done = true;
        running.total_msg_count = 100;
        running.success_msg_count = 40;
        running.failure_msg_count = 10;
        let view = running.view(running.start_time + Duration::seconds(30));
        assert_eq!(view.completion_percentage, Some(50));
        assert_eq!(view.display_status, "50 of 100 records processed");
        assert_eq!(view.estimated_completion_time, millis(running.start_time + Duration::seconds(60)));
        assert_eq!(view.incomplete_msg_count, None);
    }

    #[test]
    fn when_a_job_is_aborted_should_count_what_was_not_processed_as_incomplete() {
        let mut aborted = job();
        aborted.status = JobStatus::Aborted;
        aborted.total_msg_count = 250;
        aborted.success_msg_count = 100;
        let view = aborted.view(aborted.start_time);
        assert_eq!(view.incomplete_msg_count, Some(150));
        assert_eq!(serde_json::to_value(view.status).unwrap(), "aborted");
    }

    #[test]
    fn a_mass_action_should_be_allocate_in_any_case_and_nothing_else() {
        assert_eq!(parse_mass_action(Some("allocate")).unwrap(), "Allocate");
        assert_eq!(parse_mass_action(Some("Release")).unwrap_err().field(), Some("MassAction"));
        assert_eq!(parse_mass_action(None).unwrap_err().field(), Some("MassAction"));
    }
}
