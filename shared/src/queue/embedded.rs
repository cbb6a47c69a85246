//! A durable SQS-like queue in the shared SQLite file: one table holds every queue and its
//! dead-letter queue (`<name>-dlq`), and each operation is one atomic write of the database's
//! writer so a crash never loses or duplicates a stored message.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, params};
use tokio::sync::OnceCell;

use crate::ports::{MAX_RECEIVE_COUNT, MessageQueue, OutgoingMessage, QueueError, QueueName, ReceivedMessage};
use crate::sqlite::SqliteDb;

/// SQS refuses to receive more than 10 messages per call; the embedded queue behaves the same.
const MAX_RECEIVE_BATCH: usize = 10;
/// SQS caps the visibility timeout at 12 hours.
const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 60 * 60);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queue_messages (
    seq            INTEGER PRIMARY KEY,
    queue          TEXT    NOT NULL,
    message_id     TEXT    NOT NULL UNIQUE,
    body           TEXT    NOT NULL,
    sent_at_ms     INTEGER NOT NULL,
    receive_count  INTEGER NOT NULL DEFAULT 0,
    visible_at_ms  INTEGER NOT NULL,
    receipt_handle TEXT    UNIQUE
);
CREATE INDEX IF NOT EXISTS queue_messages_by_visibility ON queue_messages (queue, visible_at_ms, seq);
";

/// The embedded [`MessageQueue`]: SQS semantics (visibility timeout, receive count,
/// dead-letter queue after [`MAX_RECEIVE_COUNT`] deliveries) stored in SQLite.
#[derive(Debug, Clone)]
pub struct EmbeddedQueue {
    db: SqliteDb,
    schema: Arc<OnceCell<()>>,
}

impl EmbeddedQueue {
    /// Uses the shared database; the `queue_` tables are created when absent, on first use
    /// (the database is only reachable asynchronously, and `new` is not async).
    pub fn new(db: SqliteDb) -> anyhow::Result<Self> {
        Ok(Self { db, schema: Arc::new(OnceCell::new()) })
    }

    /// The database, once the tables exist.
    async fn db(&self) -> anyhow::Result<&SqliteDb> {
        self.schema
            .get_or_try_init(|| {
                self.db.write(|conn| {
                    conn.execute_batch(SCHEMA)?;
                    Ok(())
                })
            })
            .await?;
        Ok(&self.db)
    }

    /// Moves every message of the queue's dead-letter queue back to the queue as never
    /// received; returns how many moved.
    pub async fn redrive_dead_letters(&self, queue: QueueName) -> anyhow::Result<usize> {
        let name = queue.as_str();
        let dlq = dlq_name(queue);
        let now = now_ms();
        self.db()
            .await?
            .write(move |conn| {
                let moved = conn.execute(
                    "UPDATE queue_messages
                        SET queue = ?1, receive_count = 0, visible_at_ms = ?2, receipt_handle = NULL
                      WHERE queue = ?3",
                    params![name, now, dlq],
                )?;
                Ok(moved)
            })
            .await
    }

    /// The newest `limit` messages of the queue whose JSON body names `tenant` (`"Tenant"`),
    /// oldest first, left where they are (for reading an outbound queue that another system
    /// would consume).
    pub async fn peek(&self, queue: QueueName, tenant: &str, limit: usize) -> anyhow::Result<Vec<PeekedMessage>> {
        let name = queue.as_str().to_owned();
        let tenant = tenant.to_owned();
        let limit = i64::try_from(limit)?;
        self.db()
            .await?
            .read(move |conn| {
                let mut select = conn.prepare_cached(
                    "SELECT message_id, body, sent_at_ms FROM queue_messages
                      WHERE queue = ?1 AND json_valid(body) AND json_extract(body, '$.Tenant') = ?2
                      ORDER BY seq DESC LIMIT ?3",
                )?;
                let mut rows = select
                    .query_map(params![name, tenant, limit], |row| {
                        let sent_at_ms: i64 = row.get(2)?;
                        Ok(PeekedMessage {
                            message_id: row.get(0)?,
                            body: row.get(1)?,
                            sent_at: DateTime::from_timestamp_millis(sent_at_ms).unwrap_or_default(),
                        })
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                rows.reverse();
                Ok(rows)
            })
            .await
    }

    /// Messages in the queue, visible or in flight (dead letters excluded).
    pub async fn pending_count(&self, queue: QueueName) -> anyhow::Result<usize> {
        let name = queue.as_str().to_owned();
        self.db().await?.read(move |conn| count_in(conn, &name)).await
    }
}

/// A message read by [`EmbeddedQueue::peek`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeekedMessage {
    pub message_id: String,
    pub body: String,
    pub sent_at: DateTime<Utc>,
}

fn dlq_name(queue: QueueName) -> String {
    format!("{}-dlq", queue.as_str())
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn count_in(conn: &Connection, queue: &str) -> anyhow::Result<usize> {
    let count: i64 =
        conn.query_row("SELECT COUNT(*) FROM queue_messages WHERE queue = ?1", params![queue], |row| row.get(0))?;
    Ok(usize::try_from(count)?)
}

fn unavailable(err: anyhow::Error) -> QueueError {
    QueueError::Unavailable(format!("{err:#}"))
}

/// A visible message picked by `receive`, before it is delivered or dead-lettered.
struct Candidate {
    seq: i64,
    message_id: String,
    body: String,
    sent_at_ms: i64,
    receive_count: u32,
}

#[async_trait]
impl MessageQueue for EmbeddedQueue {
    async fn send(&self, queue: QueueName, messages: Vec<OutgoingMessage>) -> Result<(), QueueError> {
        if messages.is_empty() {
            return Ok(());
        }
        let name = queue.as_str();
        let now = now_ms();
        self.db()
            .await
            .map_err(unavailable)?
            .write(move |conn| {
                // One atomic write: either the whole call is stored or none of it is.
                {
                    let mut insert = conn.prepare_cached(
                        "INSERT INTO queue_messages (queue, message_id, body, sent_at_ms, receive_count, visible_at_ms)
                         VALUES (?1, ?2, ?3, ?4, 0, ?4)",
                    )?;
                    for message in &messages {
                        insert.execute(params![name, ulid::Ulid::new().to_string(), message.body, now])?;
                    }
                }
                Ok(())
            })
            .await
            .map_err(unavailable)
    }

    async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError> {
        if visibility > MAX_VISIBILITY {
            return Err(QueueError::Invalid(format!("visibility {visibility:?} exceeds 12 hours")));
        }
        let max = max.min(MAX_RECEIVE_BATCH);
        if max == 0 {
            return Ok(Vec::new());
        }
        let name = queue.as_str();
        let dlq = dlq_name(queue);
        // Bounded by MAX_VISIBILITY above, so the conversion cannot overflow.
        let visibility_ms = i64::try_from(visibility.as_millis()).unwrap_or(i64::MAX);
        self.db()
            .await
            .map_err(unavailable)?
            .write(move |conn| {
                let now = now_ms();
                let hidden_until = now.saturating_add(visibility_ms);
                let mut delivered = Vec::with_capacity(max);
                // A cursor on `seq` so a zero visibility or a dead-lettered row is never picked twice.
                let mut after_seq = i64::MIN;
                'pages: loop {
                    let candidates = {
                        let mut select = conn.prepare_cached(
                            "SELECT seq, message_id, body, sent_at_ms, receive_count FROM queue_messages
                              WHERE queue = ?1 AND visible_at_ms <= ?2 AND seq > ?3
                              ORDER BY seq LIMIT ?4",
                        )?;
                        let page = i64::try_from(max - delivered.len())?;
                        select
                            .query_map(params![name, now, after_seq, page], |row| {
                                Ok(Candidate {
                                    seq: row.get(0)?,
                                    message_id: row.get(1)?,
                                    body: row.get(2)?,
                                    sent_at_ms: row.get(3)?,
                                    receive_count: row.get(4)?,
                                })
                            })?
                            .collect::<Result<Vec<_>, _>>()?
                    };
                    if candidates.is_empty() {
                        break;
                    }
                    for candidate in candidates {
                        after_seq = candidate.seq;
                        let receive_count = candidate.receive_count.saturating_add(1);
                        if receive_count > MAX_RECEIVE_COUNT {
                            conn.execute(
                                "UPDATE queue_messages SET queue = ?1, visible_at_ms = ?2, receipt_handle = NULL
                                  WHERE seq = ?3",
                                params![dlq, now, candidate.seq],
                            )?;
                            continue;
                        }
                        let receipt_handle = ulid::Ulid::new().to_string();
                        conn.execute(
                            "UPDATE queue_messages SET receive_count = ?1, visible_at_ms = ?2, receipt_handle = ?3
                              WHERE seq = ?4",
                            params![receive_count, hidden_until, receipt_handle, candidate.seq],
                        )?;
                        delivered.push(ReceivedMessage {
                            message_id: candidate.message_id,
                            receipt_handle,
                            body: candidate.body,
                            receive_count,
                            sent_at: DateTime::from_timestamp_millis(candidate.sent_at_ms).unwrap_or_default(),
                        });
                        if delivered.len() == max {
                            break 'pages;
                        }
                    }
                }
                Ok(delivered)
            })
            .await
            .map_err(unavailable)
    }

    async fn ack(&self, queue: QueueName, receipt_handles: &[String]) -> Result<(), QueueError> {
        if receipt_handles.is_empty() {
            return Ok(());
        }
        let name = queue.as_str();
        let handles = receipt_handles.to_vec();
        self.db()
            .await
            .map_err(unavailable)?
            .write(move |conn| {
                {
                    // A stale handle (the message was received again since) matches no row: SQS
                    // semantics, the newer delivery owns the message.
                    let mut delete =
                        conn.prepare_cached("DELETE FROM queue_messages WHERE queue = ?1 AND receipt_handle = ?2")?;
                    for handle in &handles {
                        delete.execute(params![name, handle])?;
                    }
                }
                Ok(())
            })
            .await
            .map_err(unavailable)
    }

    async fn dead_letter_count(&self, queue: QueueName) -> Result<usize, QueueError> {
        let dlq = dlq_name(queue);
        self.db().await.map_err(unavailable)?.read(move |conn| count_in(conn, &dlq)).await.map_err(unavailable)
    }
}
