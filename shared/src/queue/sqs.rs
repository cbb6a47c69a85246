//! The Amazon SQS [`MessageQueue`]. Dead-lettering is done by SQS itself through each queue's
//! RedrivePolicy (see [`create_queue_with_dlq`]).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::http::HttpResponse;
use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use chrono::{DateTime, Utc};

use crate::ports::{
    MAX_RECEIVE_COUNT, MAX_SEND_BATCH, MessageQueue, OutgoingMessage, QueueError, QueueName, ReceivedMessage,
};

/// ReceiveMessage and DeleteMessageBatch take at most 10 entries.
const MAX_SQS_BATCH: usize = 10;
/// SQS caps the visibility timeout at 12 hours.
const MAX_VISIBILITY_SECS: u64 = 12 * 60 * 60;

/// Error codes SQS uses when it throttles or fails on its side; the call may be retried.
const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "RequestThrottled",
    "AWS.SimpleQueueService.RequestThrottled",
    "KmsThrottled",
    "ServiceUnavailable",
    "InternalError",
    "InternalFailure",
];

/// SQS-backed queues, addressed by URL.
#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    urls: HashMap<QueueName, String>,
}

impl SqsQueue {
    pub fn new(client: Client, urls: HashMap<QueueName, String>) -> Self {
        Self { client, urls }
    }

    /// Reads every queue URL from its [`QueueName::url_env`] variable.
    pub fn from_env(client: Client) -> anyhow::Result<Self> {
        let mut urls = HashMap::new();
        for queue in QueueName::ALL {
            let var = queue.url_env();
            let url = std::env::var(var).map_err(|err| {
                anyhow::anyhow!("environment variable {var} (URL of the {} queue): {err}", queue.as_str())
            })?;
            urls.insert(queue, url);
        }
        Ok(Self::new(client, urls))
    }

    fn url(&self, queue: QueueName) -> Result<&str, QueueError> {
        self.urls
            .get(&queue)
            .map(String::as_str)
            .ok_or_else(|| QueueError::Invalid(format!("no URL configured for queue {}", queue.as_str())))
    }

    /// Sends one chunk of at most [`MAX_SEND_BATCH`] messages; returns the ids that failed.
    async fn send_chunk(&self, url: &str, chunk: &[OutgoingMessage]) -> Result<Vec<String>, QueueError> {
        // Entry ids are positions: caller ids need not match SQS's id alphabet.
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(position, message)| {
                SendMessageBatchRequestEntry::builder().id(position.to_string()).message_body(&message.body).build()
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|err| QueueError::Invalid(err.to_string()))?;
        let output = self
            .client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|err| map_sdk_error("SendMessageBatch", err))?;
        let mut failed = Vec::new();
        for entry in output.failed() {
            tracing::warn!(code = entry.code(), message = entry.message(), "SQS refused a message");
            match entry.id().parse::<usize>().ok().and_then(|position| chunk.get(position)) {
                Some(message) => failed.push(message.id.clone()),
                // An id we did not send: we cannot tell which message failed, so all may have.
                None => return Ok(chunk.iter().map(|message| message.id.clone()).collect()),
            }
        }
        Ok(failed)
    }

    /// ApproximateNumberOfMessages + ApproximateNumberOfMessagesNotVisible of a queue.
    async fn message_count(&self, url: &str) -> Result<usize, QueueError> {
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|err| map_sdk_error("GetQueueAttributes", err))?;
        let attributes = output.attributes();
        let mut total = 0;
        for name in
            [QueueAttributeName::ApproximateNumberOfMessages, QueueAttributeName::ApproximateNumberOfMessagesNotVisible]
        {
            let value = attributes.and_then(|attributes| attributes.get(&name)).map(String::as_str).unwrap_or("0");
            total += value
                .parse::<usize>()
                .map_err(|err| QueueError::Unavailable(format!("{} = {value:?}: {err}", name.as_str())))?;
        }
        Ok(total)
    }
}

#[async_trait]
impl MessageQueue for SqsQueue {
    async fn send(&self, queue: QueueName, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        let url = self.url(queue)?;
        let mut not_sent = Vec::new();
        let mut last_error = None;
        // Every chunk is tried so the caller learns exactly which messages to send again.
        for chunk in messages.chunks(MAX_SEND_BATCH) {
            match self.send_chunk(url, chunk).await {
                Ok(failed) => not_sent.extend(failed),
                Err(err) => {
                    not_sent.extend(chunk.iter().map(|message| message.id.clone()));
                    last_error = Some(err);
                }
            }
        }
        match last_error {
            // Nothing went out because of the call itself: the cause is more useful than the ids.
            Some(err) if not_sent.len() == messages.len() => Err(err),
            _ if not_sent.is_empty() => Ok(()),
            _ => Err(QueueError::NotSent(not_sent)),
        }
    }

    async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        let url = self.url(queue)?;
        let max = max.min(MAX_SQS_BATCH);
        if max == 0 {
            return Ok(Vec::new());
        }
        if visibility.as_secs() > MAX_VISIBILITY_SECS {
            return Err(QueueError::Invalid(format!("visibility {visibility:?} exceeds 12 hours")));
        }
        // SQS counts visibility in whole seconds; rounding up never shows a message early.
        let visibility_secs = visibility.as_secs() + u64::from(visibility.subsec_nanos() > 0);
        let output = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(10))
            .visibility_timeout(i32::try_from(visibility_secs).unwrap_or(i32::MAX))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .send()
            .await
            .map_err(|err| map_sdk_error("ReceiveMessage", err))?;
        output.messages().iter().map(to_received).collect()
    }

    async fn ack(&self, queue: QueueName, receipt_handles: &[String]) -> Result<(), QueueError> {
        let url = self.url(queue)?;
        for chunk in receipt_handles.chunks(MAX_SQS_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(position, handle)| {
                    DeleteMessageBatchRequestEntry::builder().id(position.to_string()).receipt_handle(handle).build()
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| QueueError::Invalid(err.to_string()))?;
            let output = self
                .client
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|err| map_sdk_error("DeleteMessageBatch", err))?;
            for entry in output.failed() {
                if !entry.sender_fault() {
                    return Err(QueueError::Unavailable(format!(
                        "DeleteMessageBatch: {} {}",
                        entry.code(),
                        entry.message().unwrap_or_default()
                    )));
                }
                // An invalid or expired receipt: the message is redelivered, as with a stale handle.
                tracing::warn!(code = entry.code(), message = entry.message(), "SQS ignored an ack");
            }
        }
        Ok(())
    }

    async fn dead_letter_count(&self, queue: QueueName) -> Result<usize, QueueError> {
        let url = self.url(queue)?;
        let output = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::RedrivePolicy)
            .send()
            .await
            .map_err(|err| map_sdk_error("GetQueueAttributes", err))?;
        let policy = output
            .attributes()
            .and_then(|attributes| attributes.get(&QueueAttributeName::RedrivePolicy))
            .ok_or_else(|| QueueError::Invalid(format!("queue {} has no RedrivePolicy", queue.as_str())))?;
        let dlq_name = dead_letter_queue_name(policy)?;
        let dlq_url = self
            .client
            .get_queue_url()
            .queue_name(&dlq_name)
            .send()
            .await
            .map_err(|err| map_sdk_error("GetQueueUrl", err))?
            .queue_url
            .ok_or_else(|| QueueError::Unavailable(format!("GetQueueUrl returned no URL for {dlq_name}")))?;
        self.message_count(&dlq_url).await
    }
}

/// The queue name at the end of the RedrivePolicy's deadLetterTargetArn.
fn dead_letter_queue_name(policy: &str) -> Result<String, QueueError> {
    let policy: serde_json::Value =
        serde_json::from_str(policy).map_err(|err| QueueError::Invalid(format!("RedrivePolicy {policy:?}: {err}")))?;
    policy
        .get("deadLetterTargetArn")
        .and_then(serde_json::Value::as_str)
        .and_then(|arn| arn.rsplit(':').next())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| QueueError::Invalid(format!("RedrivePolicy without deadLetterTargetArn: {policy}")))
}

fn to_received(message: &Message) -> Result<ReceivedMessage, QueueError> {
    let missing = |field: &str| QueueError::Unavailable(format!("ReceiveMessage returned a message without {field}"));
    let attribute = |name: MessageSystemAttributeName| {
        message.attributes().and_then(|attributes| attributes.get(&name)).map(String::as_str)
    };
    let receive_count = attribute(MessageSystemAttributeName::ApproximateReceiveCount)
        .and_then(|count| count.parse::<u32>().ok())
        .unwrap_or(1);
    let sent_at = attribute(MessageSystemAttributeName::SentTimestamp)
        .and_then(|millis| millis.parse::<i64>().ok())
        .and_then(DateTime::from_timestamp_millis)
        .unwrap_or_else(Utc::now);
    Ok(ReceivedMessage {
        message_id: message.message_id().ok_or_else(|| missing("MessageId"))?.to_owned(),
        receipt_handle: message.receipt_handle().ok_or_else(|| missing("ReceiptHandle"))?.to_owned(),
        body: message.body().unwrap_or_default().to_owned(),
        receive_count,
        sent_at,
    })
}

/// Transport failures, timeouts, throttling and 5xx are `Unavailable` (retry); the rest is
/// a bad request (`Invalid`).
fn map_sdk_error<E>(operation: &str, err: SdkError<E, HttpResponse>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let retryable = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(service) => {
            service.raw().status().is_server_error()
                || service.err().code().is_some_and(|code| RETRYABLE_CODES.contains(&code))
        }
        _ => false,
    };
    let message = format!("{operation}: {}", DisplayErrorContext(&err));
    if retryable { QueueError::Unavailable(message) } else { QueueError::Invalid(message) }
}

/// A client for a local SQS emulator (moto, LocalStack, ElasticMQ) at `endpoint`.
pub fn client_for_endpoint(endpoint: &str) -> Client {
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

/// Creates `<name>-dlq` and `<name>`, whose RedrivePolicy moves a message to the DLQ after
/// [`MAX_RECEIVE_COUNT`] receives; returns the URL of `<name>`.
pub async fn create_queue_with_dlq(client: &Client, name: &str) -> anyhow::Result<String> {
    let dlq_name = format!("{name}-dlq");
    let dlq_url = client
        .create_queue()
        .queue_name(&dlq_name)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("CreateQueue {dlq_name}: {}", DisplayErrorContext(&err)))?
        .queue_url
        .ok_or_else(|| anyhow::anyhow!("CreateQueue {dlq_name} returned no URL"))?;
    let dlq_arn = client
        .get_queue_attributes()
        .queue_url(&dlq_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("GetQueueAttributes {dlq_name}: {}", DisplayErrorContext(&err)))?
        .attributes()
        .and_then(|attributes| attributes.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("queue {dlq_name} has no QueueArn"))?;
    let policy = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": MAX_RECEIVE_COUNT.to_string(),
    });
    client
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::RedrivePolicy, policy.to_string())
        .send()
        .await
        .map_err(|err| anyhow::anyhow!("CreateQueue {name}: {}", DisplayErrorContext(&err)))?
        .queue_url
        .ok_or_else(|| anyhow::anyhow!("CreateQueue {name} returned no URL"))
}
