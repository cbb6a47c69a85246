//! Which code handles each queue and each schedule; used by the Lambdas and the local server.

use std::time::Duration;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

use crate::deps::Deps;
use crate::jobs::batch::{MessageFailure, SqsMessageIn, process_sqs_batch};
use crate::ports::QueueName;
use crate::service::{change_tracker, lifecycle, mass_allocate, milestones, outbox};

/// Runs the consumer of `queue` on one SQS batch, reporting partial failures.
pub async fn consume(deps: &Deps, queue: QueueName, event: SqsEvent) -> SqsBatchResponse {
    process_sqs_batch(event, |message| consume_one(deps, queue, message)).await
}

/// Handles one message of `queue` (the local server's drain calls this through the same helper).
pub async fn consume_one(deps: &Deps, queue: QueueName, message: SqsMessageIn) -> Result<(), MessageFailure> {
    match queue {
        QueueName::ChangeTracker => record_change(deps, message).await,
        QueueName::MassAllocatePlan => {
            let plan: mass_allocate::PlanMessage = parse(&message, "mass allocate plan")?;
            Ok(mass_allocate::plan_page(deps, &plan).await?)
        }
        QueueName::MassAllocateChunk => {
            let chunk: mass_allocate::ChunkMessage = parse(&message, "mass allocate chunk")?;
            Ok(mass_allocate::process_chunk(deps, &chunk).await?)
        }
        QueueName::OrderPipeline => {
            let step: lifecycle::PipelineMessage = parse(&message, "order pipeline")?;
            Ok(lifecycle::run_pipeline(deps, &step).await?)
        }
        QueueName::Release | QueueName::OrderEvents | QueueName::Notifications => {
            Err(MessageFailure::new(format!("{} is an outbound queue: another system consumes it", queue.as_str())))
        }
    }
}

/// The message's body as `T`; a body that is not one fails alone (and ends in the DLQ).
fn parse<T: serde::de::DeserializeOwned>(message: &SqsMessageIn, what: &str) -> Result<T, MessageFailure> {
    serde_json::from_str(&message.body).map_err(|e| MessageFailure::new(format!("not a {what} message: {e}")))
}

/// A change-tracker message becomes its tracker records (one, or one per change of a batch);
/// a body that is not one fails alone.
async fn record_change(deps: &Deps, message: SqsMessageIn) -> Result<(), MessageFailure> {
    let message: change_tracker::TrackerMessage = parse(&message, "change tracker")?;
    let writes = message.changes().iter().map(|change| change_tracker::record_change(deps, change));
    for written in futures::future::join_all(writes).await {
        written?;
    }
    Ok(())
}

/// What a scheduled run did, for the logs and the invoke output.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ScheduleReport {
    pub function: String,
    pub delivered: usize,
    pub failed: usize,
    pub dead_lettered: usize,
    /// What the milestone scheduler's passes did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub milestones: Option<crate::domain::job::MilestonePass>,
}

/// Outbox messages younger than this are still being sent by the request that wrote them.
pub const OUTBOX_GRACE: Duration = Duration::from_secs(30);

/// Runs the scheduled function `function` once.
pub async fn run_schedule(deps: &Deps, function: &str) -> anyhow::Result<ScheduleReport> {
    match function {
        "outbox-relay" => {
            let report = outbox::relay_pending(deps, OUTBOX_GRACE, 1000).await?;
            Ok(ScheduleReport {
                function: function.into(),
                delivered: report.delivered,
                failed: report.failed,
                dead_lettered: report.dead_lettered,
                milestones: None,
            })
        }
        "milestone-scheduler" => {
            let pass = milestones::scheduler::tick(deps).await?;
            Ok(ScheduleReport {
                function: function.into(),
                delivered: pass.orders_checked as usize,
                failed: pass.failed as usize,
                dead_lettered: 0,
                milestones: Some(pass),
            })
        }
        other => anyhow::bail!("no scheduled function named {other}"),
    }
}

/// Period of an EventBridge `rate(...)` expression (the local server runs schedules by it).
pub fn rate_period(expression: &str) -> Option<Duration> {
    let inner = expression.strip_prefix("rate(")?.strip_suffix(')')?;
    let (count, unit) = inner.trim().split_once(' ')?;
    let count: u64 = count.parse().ok()?;
    let seconds = match unit.trim_end_matches('s') {
        "minute" => 60,
        "hour" => 3600,
        "day" => 86_400,
        _ => return None,
    };
    Some(Duration::from_secs(count * seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_rate_expression_is_parsed_should_give_its_period() {
        assert_eq!(rate_period("rate(1 minute)"), Some(Duration::from_secs(60)));
        assert_eq!(rate_period("rate(10 minutes)"), Some(Duration::from_secs(600)));
        assert_eq!(rate_period("cron(0 12 * * ? *)"), None);
    }
}
