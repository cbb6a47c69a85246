//! The scheduled jobs (seed 000's job schedules): what `jobExecution/trigger` runs now and
//! what each scheduled Lambda runs on its EventBridge tick.

use serde::Deserialize;

use crate::deps::Deps;
use crate::domain::caller::Caller;
use crate::domain::job::JobExecutionView;
use crate::error::{OmsError, OmsResult};
use crate::service::milestones::scheduler::{self, Limits, Started};

/// The JobScheduleIds `jobExecution/trigger` knows.
pub const TRIGGERABLE: &[&str] = &[scheduler::JOB_SCHEDULE_ID];

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct TriggerRequest {
    /// The scheduled job to run now: `milestoneScheduler`.
    pub job_schedule_id: Option<String>,
}

/// `POST /scheduler/api/scheduler/jobExecution/trigger`: runs one pass of the scheduled job
/// now, for the caller's tenant, and answers its job execution.
pub async fn trigger(deps: &Deps, caller: &Caller, req: &TriggerRequest) -> OmsResult<JobExecutionView> {
    let id = match req.job_schedule_id.as_deref().map(str::trim) {
        Some(id) if !id.is_empty() => id,
        _ => {
            return Err(OmsError::validation(
                "JobScheduleId",
                format!("is required: one of {}", TRIGGERABLE.join(", ")),
            ));
        }
    };
    if !id.eq_ignore_ascii_case(scheduler::JOB_SCHEDULE_ID) {
        return Err(OmsError::validation(
            "JobScheduleId",
            format!("no scheduled job {id:?}; expected one of {}", TRIGGERABLE.join(", ")),
        ));
    }
    // Behind the HTTP API's 30 s: the pass stops starting checks after 20 s (the rest stay due).
    let limits = Limits { max_time: std::time::Duration::from_secs(20), ..Limits::default() };
    let job = scheduler::run_and_record(deps, &caller.tenant, &caller.user, Started::Adhoc, limits)
        .await?
        .ok_or_else(|| OmsError::Internal(anyhow::anyhow!("a triggered pass is always recorded")))?;
    Ok(job.view(deps.clock.now()))
}
