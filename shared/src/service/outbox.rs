//! Transactional outbox: a message is written in the same transaction as the change that
//! causes it, sent right after, and re-sent by the relay schedule if that send never happened.
//! So a crash between commit and send loses nothing; consumers are idempotent, so a repeat
//! send is harmless.
//!
//! Each record is a partition of its own; undelivered records are listed in GSI3 (keys only, so
//! an entry costs one write unit whatever the message's size) across
//! [`keys::KeyShards::outbox_index`] partitions, so no one partition takes every change's
//! writes. A record the relay cannot read is moved out of the index to a dead-letter key, where
//! it waits for a person instead of failing every run.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{Value, json};

use crate::deps::Deps;
use crate::domain::ids::TenantId;
use crate::keys;
use crate::ports::{
    Condition, Index, Item, Key, OutgoingMessage, Projection, Query, QueueName, SkRange, StoreError, WriteOp,
};
use crate::store::{self, entity};

/// Attributes of an outbox record besides its key and index entry.
const QUEUE: &str = "queue";
const BODY: &str = "body";
/// Attributes a dead-lettered record gains: when and why it was moved.
const DEAD_LETTERED_AT: &str = "deadLetteredAt";
const DEAD_LETTER_REASON: &str = "deadLetterReason";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub key: Key,
    pub queue: QueueName,
    pub body: String,
}

/// The write that records `body` for `queue`, to join the transaction of the change.
pub fn record(
    deps: &Deps,
    tenant: &TenantId,
    queue: QueueName,
    body: String,
    now: DateTime<Utc>,
) -> (WriteOp, OutboxMessage) {
    let id = deps.ids.new_id();
    let key = keys::outbox(tenant, &id);
    let index = entity::index_entry(Index::Gsi3, keys::outbox_index_partition(&id), keys::outbox_index_sort(now, &id));
    let mut item = entity::item_at(&key, &index);
    item.insert(QUEUE.into(), queue.as_str().into());
    item.insert(BODY.into(), body.clone().into());
    let op = WriteOp::Put { item, condition: Some(Condition::NotExists) };
    (op, OutboxMessage { key, queue, body })
}

/// Outbox records deleted at once after their messages were sent.
const DELETES_IN_FLIGHT: usize = 64;

/// Sends the messages and deletes their outbox records. Failures are logged and left for
/// the relay; the caller's change is already committed.
pub async fn deliver(deps: &Deps, messages: Vec<OutboxMessage>) -> usize {
    let mut delivered = 0;
    for queue in QueueName::ALL {
        let batch: Vec<&OutboxMessage> = messages.iter().filter(|m| m.queue == queue).collect();
        if batch.is_empty() {
            continue;
        }
        let outgoing = batch
            .iter()
            .map(|m| OutgoingMessage { id: keys::outbox_id(&m.key).to_owned(), body: m.body.clone() })
            .collect();
        if let Err(e) = deps.queue.send(queue, outgoing).await {
            tracing::warn!(error = %e, queue = queue.as_str(), "outbox send failed; the relay will retry");
            continue;
        }
        // Deleted concurrently: a page of records is one group of writes, not one after another.
        let keys: Vec<Key> = batch.iter().map(|m| m.key.clone()).collect();
        let deletes = futures::stream::iter(keys).map(|key: Key| async move { deps.store.delete(&key, None).await });
        for deleted in deletes.buffer_unordered(DELETES_IN_FLIGHT).collect::<Vec<_>>().await {
            match deleted {
                Ok(()) => delivered += 1,
                Err(e) => tracing::warn!(error = %e, "outbox record not deleted; it will be sent again"),
            }
        }
    }
    delivered
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RelayReport {
    pub delivered: usize,
    pub failed: usize,
    /// Unreadable records moved to the dead-letter key this run.
    pub dead_lettered: usize,
}

impl RelayReport {
    fn handled(&self) -> usize {
        self.delivered + self.failed + self.dead_lettered
    }
}

/// Where undelivered records are listed: GSI3 (keys only) since records are written there, and
/// GSI1 (whole items), where older versions listed them.
fn listings() -> impl Iterator<Item = (Index, String)> {
    keys::outbox_index_partitions()
        .map(|p| (Index::Gsi3, p))
        .chain(keys::legacy_outbox_index_partitions().map(|p| (Index::Gsi1, p)))
}

/// The records a page of the index lists: the page itself on an index that copies whole items;
/// read by key on a keys-only one (a record delivered since it was listed is gone: skipped).
async fn records(deps: &Deps, index: Index, listed: Vec<Item>) -> Result<Vec<Item>, StoreError> {
    if index.projection() == Projection::All {
        return Ok(listed);
    }
    let keys: Vec<Key> = listed.iter().filter_map(Key::of).collect();
    deps.store.batch_get(&keys).await
}

/// Index partitions read at once for their first page: nearly all are empty, so the relay
/// finds the few that are not without hundreds of round trips one after another.
const PARTITIONS_IN_FLIGHT: usize = 32;

/// Delivers outbox messages older than `grace` (younger ones are being sent by their request),
/// at most about `max` of them, reading every shard of the outbox index.
pub async fn relay_pending(deps: &Deps, grace: Duration, max: usize) -> anyhow::Result<RelayReport> {
    let now = deps.clock.now();
    let bound = keys::outbox_index_cutoff(now - chrono::Duration::from_std(grace)?);
    let page_query = |index: Index, partition: &str, cursor: Option<String>| {
        Query::partition(partition.to_owned()).on(index).sk(SkRange::Le(bound.clone())).limit(50).cursor(cursor)
    };
    let first_pages: Vec<_> = futures::stream::iter(listings())
        .map(|(index, partition)| {
            let query = page_query(index, &partition, None);
            async move { (index, partition, deps.store.query(query).await) }
        })
        .buffer_unordered(PARTITIONS_IN_FLIGHT)
        .collect()
        .await;
    let mut report = RelayReport::default();
    for (index, partition, page) in first_pages {
        let mut page = page?;
        while report.handled() < max && !page.items.is_empty() {
            relay_page(deps, index, std::mem::take(&mut page.items), now, &mut report).await?;
            match page.cursor.take() {
                Some(next) => page = deps.store.query(page_query(index, &partition, Some(next))).await?,
                None => break,
            }
        }
    }
    Ok(report)
}

/// Sends what one page of the index lists, and moves what cannot be read to its dead-letter key.
async fn relay_page(
    deps: &Deps,
    index: Index,
    listed: Vec<Item>,
    now: DateTime<Utc>,
    report: &mut RelayReport,
) -> Result<(), StoreError> {
    let mut messages = Vec::new();
    for item in &records(deps, index, listed).await? {
        match parse(item) {
            Ok(message) => messages.push(message),
            Err(reason) => match dead_letter(deps, item, &reason, now).await {
                Ok(true) => report.dead_lettered += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(error = %e, item = ?Key::of(item), %reason, "unreadable outbox record not moved");
                    report.failed += 1;
                }
            },
        }
    }
    let count = messages.len();
    let delivered = deliver(deps, messages).await;
    report.delivered += delivered;
    report.failed += count - delivered;
    Ok(())
}

/// The message an outbox record carries, or why it cannot be sent.
fn parse(item: &Item) -> Result<OutboxMessage, String> {
    let key = Key::of(item).ok_or("no key")?;
    let queue = item.get(QUEUE).and_then(Value::as_str).ok_or("no queue")?;
    let queue =
        QueueName::ALL.into_iter().find(|q| q.as_str() == queue).ok_or_else(|| format!("unknown queue {queue:?}"))?;
    let body = item.get(BODY).and_then(Value::as_str).ok_or("no body")?.to_owned();
    Ok(OutboxMessage { key, queue, body })
}

/// Moves an unreadable record to its dead-letter key, out of the index, in one transaction
/// with the delete of the original. `Ok(false)` when another run moved or sent it first.
async fn dead_letter(deps: &Deps, item: &Item, reason: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let Some(key) = Key::of(item) else {
        return Err(StoreError::Invalid("an outbox index entry without a key".into()));
    };
    let mut dead = entity::moved_out_of_indexes(item.clone(), &keys::outbox_dead_letter(&key));
    dead.insert(DEAD_LETTERED_AT.into(), keys::timestamp(now).into());
    dead.insert(DEAD_LETTER_REASON.into(), reason.into());
    let writes = vec![
        WriteOp::Put { item: dead, condition: None },
        WriteOp::Delete { key: key.clone(), condition: Some(Condition::Exists) },
    ];
    match deps.store.transact(writes).await {
        Ok(()) => {
            tracing::error!(?key, %reason, "unreadable outbox record moved to the dead-letter key");
            Ok(true)
        }
        Err(StoreError::TransactionCanceled { .. } | StoreError::TransactionConflict) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Outbox messages not yet delivered, in every shard (for tests and the local server).
pub async fn pending(deps: &Deps) -> anyhow::Result<usize> {
    let listings = listings().map(|(index, partition)| Query::partition(partition).on(index));
    Ok(store::query_every(deps.store.as_ref(), listings).await?.len())
}

/// Standard JSON used in message bodies.
pub fn body(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| json!(null).to_string())
}
