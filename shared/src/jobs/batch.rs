//! The SQS batch helper every queue consumer uses, in Lambda (the event comes from the event
//! source mapping) and locally (the event is shaped from embedded-queue messages), so both run
//! the very same handler and report failures the same way (`ReportBatchItemFailures`).

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::time::Duration;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use futures::StreamExt;
use tracing::Instrument;

use crate::ports::{MessageQueue, QueueName, ReceivedMessage};

/// How many messages of one batch are handled at the same time.
pub const MAX_CONCURRENT_MESSAGES: usize = 8;
/// ReceiveMessage returns at most 10 messages, like one Lambda SQS batch by default.
pub const DRAIN_BATCH: usize = 10;

/// One message of a batch, as a handler sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsMessageIn {
    pub message_id: String,
    pub body: String,
    /// 1 on first delivery.
    pub receive_count: u32,
}

impl SqsMessageIn {
    /// `None` when the record has no id or no body: such a record cannot be processed.
    fn from_record(record: &SqsMessage) -> Option<Self> {
        let receive_count =
            record.attributes.get("ApproximateReceiveCount").and_then(|count| count.parse().ok()).unwrap_or(1);
        Some(Self { message_id: record.message_id.clone()?, body: record.body.clone()?, receive_count })
    }
}

/// Why a handler did not process a message; the message goes back to the queue and, after
/// [`crate::ports::MAX_RECEIVE_COUNT`] attempts, to its dead-letter queue.
#[derive(Debug)]
pub struct MessageFailure(anyhow::Error);

impl MessageFailure {
    pub fn new(reason: impl std::fmt::Display + std::fmt::Debug + Send + Sync + 'static) -> Self {
        Self(anyhow::Error::msg(reason))
    }
}

impl std::fmt::Display for MessageFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

/// Lets handlers use `?` on any error.
impl<E: Into<anyhow::Error>> From<E> for MessageFailure {
    fn from(err: E) -> Self {
        Self(err.into())
    }
}

/// Runs `handler` on every record of the event, at most [`MAX_CONCURRENT_MESSAGES`] at a time,
/// each inside an `sqs_message` span, and reports the records that failed.
///
/// A record without a message id is reported with an empty identifier, which makes Lambda
/// retry the whole batch: the message is never deleted unprocessed and ends in the DLQ.
pub async fn process_sqs_batch<F, Fut>(event: SqsEvent, handler: F) -> SqsBatchResponse
where
    F: Fn(SqsMessageIn) -> Fut,
    Fut: Future<Output = Result<(), MessageFailure>>,
{
    let handler = &handler;
    let failed: Vec<String> = futures::stream::iter(event.records)
        .map(|record| {
            let id = record.message_id.clone().unwrap_or_default();
            let span = tracing::info_span!("sqs_message", message_id = %id);
            async move {
                let Some(message) = SqsMessageIn::from_record(&record) else {
                    tracing::error!("SQS record without a message id or body; left to the dead-letter queue");
                    return Some(id);
                };
                match handler(message).await {
                    Ok(()) => None,
                    Err(failure) => {
                        tracing::warn!(error = %failure, "message failed; it will be retried");
                        Some(id)
                    }
                }
            }
            .instrument(span)
        })
        .buffer_unordered(MAX_CONCURRENT_MESSAGES)
        .filter_map(std::future::ready)
        .collect()
        .await;
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

/// Shapes embedded-queue messages as the event Lambda would receive from SQS for `queue_arn`.
pub fn received_to_sqs_event(messages: &[ReceivedMessage], queue_arn: &str) -> SqsEvent {
    // arn:aws:sqs:<region>:<account>:<name>
    let region = queue_arn.split(':').nth(3).filter(|region| !region.is_empty()).map(str::to_owned);
    let mut event = SqsEvent::default();
    event.records = messages
        .iter()
        .map(|message| {
            let mut record = SqsMessage::default();
            record.message_id = Some(message.message_id.clone());
            record.receipt_handle = Some(message.receipt_handle.clone());
            record.body = Some(message.body.clone());
            record.attributes = HashMap::from([
                ("ApproximateReceiveCount".to_owned(), message.receive_count.to_string()),
                ("SentTimestamp".to_owned(), message.sent_at.timestamp_millis().to_string()),
            ]);
            record.event_source = Some("aws:sqs".to_owned());
            record.event_source_arn = Some(queue_arn.to_owned());
            record.aws_region = region.clone();
            record
        })
        .collect();
    event
}

/// The ARN the local drain reports as the event source of `queue`.
pub fn local_queue_arn(queue: QueueName) -> String {
    format!("arn:aws:sqs:us-east-1:000000000000:{}", queue.as_str())
}

/// What one [`drain_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DrainReport {
    /// Messages handed to the handler.
    pub delivered: usize,
    /// Messages left in the queue to reappear after the visibility timeout.
    pub failed: usize,
}

/// Receives up to [`DRAIN_BATCH`] messages hidden for `visibility`, runs them through
/// [`process_sqs_batch`] as Lambda would, and acks the ones that succeeded.
pub async fn drain_once<F, Fut>(
    queue: &dyn MessageQueue,
    name: QueueName,
    visibility: Duration,
    handler: F,
) -> anyhow::Result<DrainReport>
where
    F: Fn(SqsMessageIn) -> Fut,
    Fut: Future<Output = Result<(), MessageFailure>>,
{
    let messages = queue.receive(name, DRAIN_BATCH, visibility).await?;
    if messages.is_empty() {
        return Ok(DrainReport::default());
    }
    let response = process_sqs_batch(received_to_sqs_event(&messages, &local_queue_arn(name)), handler).await;
    let failed: HashSet<&str> =
        response.batch_item_failures.iter().map(|failure| failure.item_identifier.as_str()).collect();
    // Lambda treats an unknown or empty identifier as a failure of the whole batch; so do we.
    let whole_batch_failed = failed.iter().any(|id| !messages.iter().any(|message| message.message_id == *id));
    let to_ack: Vec<String> = if whole_batch_failed {
        Vec::new()
    } else {
        messages
            .iter()
            .filter(|message| !failed.contains(message.message_id.as_str()))
            .map(|message| message.receipt_handle.clone())
            .collect()
    };
    queue.ack(name, &to_ack).await?;
    Ok(DrainReport { delivered: messages.len(), failed: messages.len() - to_ack.len() })
}
