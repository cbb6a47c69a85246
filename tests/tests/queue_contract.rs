//! The `MessageQueue` contract, written once and run against both adapters (the embedded
//! SQLite queue and SQS through an emulator), and the SQS batch helper every consumer uses.
//!
//! SQS tests need an emulator: `OMS_TEST_SQS_ENDPOINT=http://127.0.0.1:5065`. Without it they
//! are skipped, unless `OMS_REQUIRE_EMULATOR=1` makes that a failure (CI).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, ensure};
use aws_lambda_events::sqs::SqsEvent;
use oms_core::jobs::batch::{
    DrainReport, MessageFailure, SqsMessageIn, drain_once, process_sqs_batch, received_to_sqs_event,
};
use oms_core::ports::{MAX_RECEIVE_COUNT, MessageQueue, OutgoingMessage, QueueName, ReceivedMessage};
use oms_core::queue::embedded::EmbeddedQueue;
use oms_core::queue::sqs::{SqsQueue, client_for_endpoint, create_queue_with_dlq};
use oms_core::sqlite::SqliteDb;

const QUEUE: QueueName = QueueName::ChangeTracker;
/// Long enough that a received message stays hidden for the rest of a test.
const HIDE: Duration = Duration::from_secs(60);
/// Short visibility for redelivery tests; SQS counts whole seconds.
const BRIEF: Duration = Duration::from_secs(1);
/// Comfortably past [`BRIEF`] so the message is visible again.
const PAST_BRIEF: Duration = Duration::from_millis(2100);

const CHANGE_TRACKER_EVENT: &str = include_str!("../../events/change-tracker-consumer.json");

// ---------------------------------------------------------------------------------------------
// Backends

fn embedded_queue() -> anyhow::Result<Arc<dyn MessageQueue>> {
    Ok(Arc::new(EmbeddedQueue::new(SqliteDb::in_memory()?)?))
}

/// A fresh queue pair on the emulator, or `None` (skip) when no emulator is configured.
async fn sqs_queue() -> anyhow::Result<Option<Arc<dyn MessageQueue>>> {
    let endpoint = match std::env::var("OMS_TEST_SQS_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => endpoint,
        _ => {
            if std::env::var("OMS_REQUIRE_EMULATOR").as_deref() == Ok("1") {
                panic!(
                    "OMS_REQUIRE_EMULATOR=1 but OMS_TEST_SQS_ENDPOINT is not set: start an SQS emulator \
                     (e.g. `.venv/bin/moto_server -H 127.0.0.1 -p 5065`) and set \
                     OMS_TEST_SQS_ENDPOINT=http://127.0.0.1:5065"
                );
            }
            println!("skipped: OMS_TEST_SQS_ENDPOINT not set");
            return Ok(None);
        }
    };
    let client = client_for_endpoint(&endpoint);
    // A unique name per test: tests run in parallel against one emulator.
    let name = format!("oms-test-{}", ulid::Ulid::new().to_string().to_lowercase());
    let url = create_queue_with_dlq(&client, &name)
        .await
        .with_context(|| format!("creating queues on the emulator at {endpoint}"))?;
    Ok(Some(Arc::new(SqsQueue::new(client, HashMap::from([(QUEUE, url)])))))
}

/// Emits one test per contract function for each backend.
macro_rules! queue_contract {
    ($($spec:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test]
                async fn $spec() -> anyhow::Result<()> {
                    super::$spec(super::embedded_queue()?).await
                }
            )+
        }

        mod sqs {
            $(
                #[tokio::test]
                async fn $spec() -> anyhow::Result<()> {
                    let Some(queue) = super::sqs_queue().await? else {
                        return Ok(());
                    };
                    super::$spec(queue).await
                }
            )+
        }
    };
}

queue_contract!(
    when_25_messages_are_sent_should_receive_each_exactly_once_across_pages,
    when_a_received_message_is_not_acked_should_come_back_after_visibility_with_receive_count_2,
    when_a_message_is_acked_should_never_come_back,
    when_a_message_is_received_more_than_max_receive_count_should_move_to_the_dead_letter_queue,
    when_draining_should_ack_successes_and_leave_failures_for_redelivery,
);

// ---------------------------------------------------------------------------------------------
// Helpers

fn outgoing(count: usize) -> Vec<OutgoingMessage> {
    (0..count).map(|i| OutgoingMessage { id: format!("m{i}"), body: format!("body-{i}") }).collect()
}

async fn receive_one(queue: &dyn MessageQueue, visibility: Duration) -> anyhow::Result<ReceivedMessage> {
    let mut messages = queue.receive(QUEUE, 10, visibility).await?;
    ensure!(messages.len() == 1, "expected one message, received {messages:?}");
    Ok(messages.remove(0))
}

async fn ensure_empty(queue: &dyn MessageQueue) -> anyhow::Result<()> {
    let messages = queue.receive(QUEUE, 10, HIDE).await?;
    ensure!(messages.is_empty(), "expected no visible message, received {messages:?}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The contract

async fn when_25_messages_are_sent_should_receive_each_exactly_once_across_pages(
    queue: Arc<dyn MessageQueue>,
) -> anyhow::Result<()> {
    queue.send(QUEUE, outgoing(25)).await?;

    let mut received = Vec::new();
    for _ in 0..10 {
        let page = queue.receive(QUEUE, 10, HIDE).await?;
        ensure!(page.len() <= 10, "a page holds at most 10 messages, got {}", page.len());
        if page.is_empty() {
            break;
        }
        received.extend(page);
    }

    ensure!(received.len() == 25, "received {} messages", received.len());
    let ids: HashSet<&str> = received.iter().map(|m| m.message_id.as_str()).collect();
    ensure!(ids.len() == 25, "a message was delivered twice");
    let bodies: HashSet<String> = received.iter().map(|m| m.body.clone()).collect();
    let sent: HashSet<String> = outgoing(25).into_iter().map(|m| m.body).collect();
    ensure!(bodies == sent, "bodies differ from what was sent");
    ensure!(received.iter().all(|m| m.receive_count == 1), "first delivery has receive_count 1");
    ensure!(queue.dead_letter_count(QUEUE).await? == 0);

    let handles: Vec<String> = received.into_iter().map(|m| m.receipt_handle).collect();
    queue.ack(QUEUE, &handles).await?;
    ensure_empty(queue.as_ref()).await
}

async fn when_a_received_message_is_not_acked_should_come_back_after_visibility_with_receive_count_2(
    queue: Arc<dyn MessageQueue>,
) -> anyhow::Result<()> {
    queue.send(QUEUE, outgoing(1)).await?;
    let first = receive_one(queue.as_ref(), BRIEF).await?;
    ensure!(first.receive_count == 1);

    ensure_empty(queue.as_ref()).await.context("in flight, the message is invisible")?;

    tokio::time::sleep(PAST_BRIEF).await;
    let again = receive_one(queue.as_ref(), HIDE).await?;
    ensure!(again.message_id == first.message_id, "the same message comes back");
    ensure!(again.body == first.body);
    ensure!(again.receive_count == 2, "receive_count is {}", again.receive_count);
    ensure!(again.receipt_handle != first.receipt_handle, "each delivery has its own receipt handle");
    Ok(())
}

async fn when_a_message_is_acked_should_never_come_back(queue: Arc<dyn MessageQueue>) -> anyhow::Result<()> {
    queue.send(QUEUE, outgoing(1)).await?;
    let message = receive_one(queue.as_ref(), BRIEF).await?;
    queue.ack(QUEUE, &[message.receipt_handle]).await?;

    tokio::time::sleep(PAST_BRIEF).await;
    ensure_empty(queue.as_ref()).await?;
    ensure!(queue.dead_letter_count(QUEUE).await? == 0);
    Ok(())
}

async fn when_a_message_is_received_more_than_max_receive_count_should_move_to_the_dead_letter_queue(
    queue: Arc<dyn MessageQueue>,
) -> anyhow::Result<()> {
    queue.send(QUEUE, outgoing(1)).await?;
    // A zero visibility makes the message visible again at once: no waiting between attempts.
    for attempt in 1..=MAX_RECEIVE_COUNT {
        let message = receive_one(queue.as_ref(), Duration::ZERO).await?;
        ensure!(message.receive_count == attempt, "attempt {attempt} saw receive_count {}", message.receive_count);
    }

    ensure_empty(queue.as_ref()).await.context("the next receive moves it to the DLQ instead")?;
    ensure!(queue.dead_letter_count(QUEUE).await? == 1);
    Ok(())
}

async fn when_draining_should_ack_successes_and_leave_failures_for_redelivery(
    queue: Arc<dyn MessageQueue>,
) -> anyhow::Result<()> {
    let messages = ["ok-1", "fail", "ok-2"]
        .iter()
        .map(|body| OutgoingMessage { id: (*body).to_owned(), body: (*body).to_owned() })
        .collect();
    queue.send(QUEUE, messages).await?;

    let report = drain_once(queue.as_ref(), QUEUE, Duration::ZERO, |message| async move {
        if message.body == "fail" { Err(MessageFailure::new("refused")) } else { Ok(()) }
    })
    .await?;

    ensure!(report == DrainReport { delivered: 3, failed: 1 }, "report {report:?}");
    let left = receive_one(queue.as_ref(), HIDE).await?;
    ensure!(left.body == "fail", "only the failed message is left, found {left:?}");
    ensure!(left.receive_count == 2);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Embedded-only behaviour

mod embedded_only {
    use super::*;

    /// Moto deletes a message with any receipt handle it ever had, and SQS documents the
    /// outcome of a stale handle as undefined, so this holds for the embedded queue only.
    #[tokio::test]
    async fn when_a_stale_receipt_is_acked_should_not_delete_the_redelivered_message() -> anyhow::Result<()> {
        let queue = EmbeddedQueue::new(SqliteDb::in_memory()?)?;
        queue.send(QUEUE, outgoing(1)).await?;
        let stale = receive_one(&queue, Duration::ZERO).await?;
        let current = receive_one(&queue, Duration::ZERO).await?;
        ensure!(current.message_id == stale.message_id);

        queue.ack(QUEUE, &[stale.receipt_handle]).await?;

        ensure!(queue.pending_count(QUEUE).await? == 1, "the stale handle deleted nothing");
        let again = receive_one(&queue, HIDE).await?;
        ensure!(again.receive_count == 3);
        queue.ack(QUEUE, &[again.receipt_handle]).await?;
        ensure!(queue.pending_count(QUEUE).await? == 0, "the current handle deletes it");
        Ok(())
    }

    #[tokio::test]
    async fn when_dead_letters_are_redriven_should_be_delivered_again_as_new() -> anyhow::Result<()> {
        let queue = EmbeddedQueue::new(SqliteDb::in_memory()?)?;
        queue.send(QUEUE, outgoing(2)).await?;
        for _ in 0..=MAX_RECEIVE_COUNT {
            queue.receive(QUEUE, 10, Duration::ZERO).await?;
        }
        ensure!(queue.dead_letter_count(QUEUE).await? == 2);
        ensure!(queue.pending_count(QUEUE).await? == 0);

        ensure!(queue.redrive_dead_letters(QUEUE).await? == 2);

        ensure!(queue.dead_letter_count(QUEUE).await? == 0);
        ensure!(queue.pending_count(QUEUE).await? == 2);
        let messages = queue.receive(QUEUE, 10, HIDE).await?;
        ensure!(messages.len() == 2);
        ensure!(messages.iter().all(|m| m.receive_count == 1), "redriven messages start over: {messages:?}");
        Ok(())
    }

    #[tokio::test]
    async fn when_the_database_is_reopened_should_still_hold_unacked_messages() -> anyhow::Result<()> {
        let dir = std::env::temp_dir().join(format!("oms-queue-contract-{}", ulid::Ulid::new()));
        let path = dir.join("oms.sqlite");
        let result = async {
            let (acked, in_flight) = {
                let queue = EmbeddedQueue::new(SqliteDb::open(&path)?)?;
                queue.send(QUEUE, outgoing(3)).await?;
                let acked = receive_one_of(&queue).await?;
                queue.ack(QUEUE, std::slice::from_ref(&acked.receipt_handle)).await?;
                let in_flight = receive_one_of(&queue).await?;
                (acked, in_flight)
                // The queue and its connection are dropped here, as in a crash after commit.
            };

            let queue = EmbeddedQueue::new(SqliteDb::open(&path)?)?;
            ensure!(queue.pending_count(QUEUE).await? == 2);
            let messages = queue.receive(QUEUE, 10, HIDE).await?;
            let ids: HashSet<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
            ensure!(messages.len() == 2, "received {messages:?}");
            ensure!(!ids.contains(acked.message_id.as_str()), "the acked message is gone");
            ensure!(ids.contains(in_flight.message_id.as_str()), "the un-acked message survived");
            let redelivered = messages.iter().find(|m| m.message_id == in_flight.message_id);
            ensure!(redelivered.is_some_and(|m| m.receive_count == 2));
            Ok(())
        }
        .await;
        let _ = std::fs::remove_dir_all(&dir);
        result
    }

    async fn receive_one_of(queue: &EmbeddedQueue) -> anyhow::Result<ReceivedMessage> {
        let mut messages = queue.receive(QUEUE, 1, Duration::ZERO).await?;
        ensure!(messages.len() == 1, "received {messages:?}");
        Ok(messages.remove(0))
    }
}

// ---------------------------------------------------------------------------------------------
// The batch helper

mod batch_helper {
    use super::*;

    fn change_tracker_event() -> anyhow::Result<SqsEvent> {
        Ok(serde_json::from_str(CHANGE_TRACKER_EVENT)?)
    }

    fn message_ids(event: &SqsEvent) -> Vec<String> {
        event.records.iter().filter_map(|record| record.message_id.clone()).collect()
    }

    fn failures(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
        response.batch_item_failures.iter().map(|failure| failure.item_identifier.clone()).collect()
    }

    #[tokio::test]
    async fn when_every_message_succeeds_should_report_no_failure() -> anyhow::Result<()> {
        let event = change_tracker_event()?;
        ensure!(event.records.len() == 2);

        let response = process_sqs_batch(event, |_| async { Ok(()) }).await;

        ensure!(response.batch_item_failures.is_empty());
        Ok(())
    }

    #[tokio::test]
    async fn when_handler_fails_one_message_should_report_only_that_message() -> anyhow::Result<()> {
        let event = change_tracker_event()?;
        let failing = message_ids(&event)[1].clone();

        let response = process_sqs_batch(event, |message| async move {
            if message.body.contains("O-1002") { Err(MessageFailure::new("order O-1002 refused")) } else { Ok(()) }
        })
        .await;

        ensure!(failures(&response) == vec![failing], "failures {:?}", failures(&response));
        Ok(())
    }

    #[tokio::test]
    async fn when_a_message_has_no_body_should_report_it_without_calling_the_handler() -> anyhow::Result<()> {
        let mut event = change_tracker_event()?;
        event.records[0].body = None;
        let without_body = message_ids(&event)[0].clone();
        let calls = AtomicUsize::new(0);

        let response = process_sqs_batch(event, |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Ok(()) }
        })
        .await;

        ensure!(failures(&response) == vec![without_body]);
        ensure!(calls.load(Ordering::SeqCst) == 1, "only the message with a body is handled");
        Ok(())
    }

    #[tokio::test]
    async fn when_a_message_has_no_id_should_report_an_empty_identifier_so_the_whole_batch_retries()
    -> anyhow::Result<()> {
        let mut event = change_tracker_event()?;
        event.records[1].message_id = None;

        let response = process_sqs_batch(event, |_| async { Ok(()) }).await;

        ensure!(failures(&response) == vec![String::new()]);
        Ok(())
    }

    #[tokio::test]
    async fn when_the_sample_event_is_handled_should_give_each_body_and_receive_count() -> anyhow::Result<()> {
        let seen = Mutex::new(Vec::<SqsMessageIn>::new());

        let response = process_sqs_batch(change_tracker_event()?, |message| {
            let seen = &seen;
            async move {
                let change: serde_json::Value = serde_json::from_str(&message.body)?;
                seen.lock().map_err(|_| MessageFailure::new("poisoned"))?.push(message);
                change.get("OrderId").context("OrderId")?;
                Ok(())
            }
        })
        .await;

        ensure!(response.batch_item_failures.is_empty());
        let seen = seen.into_inner().map_err(|_| anyhow::anyhow!("poisoned"))?;
        let mut orders: Vec<String> = seen
            .iter()
            .filter_map(|m| serde_json::from_str::<serde_json::Value>(&m.body).ok())
            .filter_map(|change| change.get("OrderId").and_then(|o| o.as_str()).map(str::to_owned))
            .collect();
        orders.sort();
        ensure!(orders == ["O-1001", "O-1002"], "orders {orders:?}");
        ensure!(seen.iter().all(|m| m.receive_count == 1));
        Ok(())
    }

    #[tokio::test]
    async fn when_embedded_messages_are_shaped_as_an_sqs_event_should_read_like_a_lambda_event() -> anyhow::Result<()> {
        let queue = EmbeddedQueue::new(SqliteDb::in_memory()?)?;
        queue.send(QUEUE, outgoing(2)).await?;
        let received = queue.receive(QUEUE, 10, HIDE).await?;
        let arn = "arn:aws:sqs:us-east-1:123456789012:oms-change-tracker";

        let event = received_to_sqs_event(&received, arn);

        // Through JSON, as the Lambda runtime would deliver it.
        let json = serde_json::to_value(&event)?;
        let record = &json["Records"][0];
        ensure!(record["eventSource"] == "aws:sqs");
        ensure!(record["eventSourceARN"] == arn);
        ensure!(record["awsRegion"] == "us-east-1");
        ensure!(record["attributes"]["ApproximateReceiveCount"] == "1");
        ensure!(record["messageId"] == received[0].message_id.as_str());
        let event: SqsEvent = serde_json::from_value(json)?;
        let seen = Mutex::new(Vec::new());
        let response = process_sqs_batch(event, |message| {
            let seen = &seen;
            async move {
                seen.lock().map_err(|_| MessageFailure::new("poisoned"))?.push(message.body);
                Ok(())
            }
        })
        .await;
        ensure!(response.batch_item_failures.is_empty());
        let mut seen = seen.into_inner().map_err(|_| anyhow::anyhow!("poisoned"))?;
        seen.sort();
        ensure!(seen == ["body-0", "body-1"], "bodies {seen:?}");
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// SQS adapter details that need no emulator

mod sqs_adapter {
    use super::*;
    use oms_core::ports::QueueError;

    #[tokio::test]
    async fn when_sqs_is_unreachable_should_report_unavailable() -> anyhow::Result<()> {
        // Port 9 (discard) is closed on a test machine: the connection is refused.
        let client = client_for_endpoint("http://127.0.0.1:9");
        let queue = SqsQueue::new(client, HashMap::from([(QUEUE, "http://127.0.0.1:9/000000000000/q".to_owned())]));

        let result = queue.receive(QUEUE, 1, HIDE).await;

        ensure!(matches!(result, Err(QueueError::Unavailable(_))), "got {result:?}");
        Ok(())
    }

    #[tokio::test]
    async fn when_a_queue_url_variable_is_missing_should_name_it() -> anyhow::Result<()> {
        let var = QUEUE.url_env();
        if std::env::var_os(var).is_some() {
            println!("skipped: {var} is set in this environment");
            return Ok(());
        }

        let result = SqsQueue::from_env(client_for_endpoint("http://127.0.0.1:9"));

        let error = result.err().context("from_env succeeded without the variable")?;
        ensure!(error.to_string().contains(var), "error {error} does not name {var}");
        Ok(())
    }

    #[tokio::test]
    async fn when_no_url_is_configured_for_a_queue_should_report_invalid() -> anyhow::Result<()> {
        let queue = SqsQueue::new(client_for_endpoint("http://127.0.0.1:9"), HashMap::new());

        let result = queue.send(QUEUE, outgoing(1)).await;

        ensure!(matches!(result, Err(QueueError::Invalid(_))), "got {result:?}");
        Ok(())
    }
}
