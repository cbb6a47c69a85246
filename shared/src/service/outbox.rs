//! Transactional outbox: a message is written in the same transaction as the change that
//! causes it, sent right after, and re-sent by the relay schedule if that send never happened.
//! So a crash between commit and send loses nothing; consumers are idempotent, so a repeat
//! send is harmless.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::deps::Deps;
use crate::domain::ids::TenantId;
use crate::keys;
use crate::ports::{Condition, Index, Item, Key, OutgoingMessage, Query, QueueName, SkRange, WriteOp};

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
    let mut item = Item::new();
    item.insert("PK".into(), key.pk.clone().into());
    item.insert("SK".into(), key.sk.clone().into());
    item.insert("GSI1PK".into(), keys::OUTBOX_INDEX_PK.into());
    item.insert("GSI1SK".into(), format!("{}#{id}", keys::timestamp(now)).into());
    item.insert("queue".into(), queue.as_str().into());
    item.insert("body".into(), body.clone().into());
    let op = WriteOp::Put { item, condition: Some(Condition::NotExists) };
    (op, OutboxMessage { key, queue, body })
}

/// Sends the messages and deletes their outbox records. Failures are logged and left for
/// the relay; the caller's change is already committed.
pub async fn deliver(deps: &Deps, messages: Vec<OutboxMessage>) -> usize {
    let mut delivered = 0;
    for queue in QueueName::ALL {
        let batch: Vec<&OutboxMessage> = messages.iter().filter(|m| m.queue == queue).collect();
        if batch.is_empty() {
            continue;
        }
        let outgoing = batch.iter().map(|m| OutgoingMessage { id: m.key.sk.clone(), body: m.body.clone() }).collect();
        if let Err(e) = deps.queue.send(queue, outgoing).await {
            tracing::warn!(error = %e, queue = queue.as_str(), "outbox send failed; the relay will retry");
            continue;
        }
        for message in batch {
            match deps.store.delete(&message.key, None).await {
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
}

/// Delivers outbox messages older than `grace` (younger ones are being sent by their request).
pub async fn relay_pending(deps: &Deps, grace: Duration, max: usize) -> anyhow::Result<RelayReport> {
    let cutoff = deps.clock.now() - chrono::Duration::from_std(grace)?;
    let mut report = RelayReport::default();
    let mut cursor = None;
    while report.delivered + report.failed < max {
        let query = Query::partition(keys::OUTBOX_INDEX_PK)
            .on(Index::Gsi1)
            .sk(SkRange::Le(keys::timestamp(cutoff)))
            .limit(50)
            .cursor(cursor.take());
        let page = deps.store.query(query).await?;
        let mut messages = Vec::new();
        for item in &page.items {
            match parse(item) {
                Some(message) => messages.push(message),
                None => {
                    tracing::error!(item = ?Key::of(item), "unreadable outbox record skipped");
                    report.failed += 1;
                }
            }
        }
        let count = messages.len();
        let delivered = deliver(deps, messages).await;
        report.delivered += delivered;
        report.failed += count - delivered;
        match page.cursor {
            Some(next) if !page.items.is_empty() => cursor = Some(next),
            _ => break,
        }
    }
    Ok(report)
}

fn parse(item: &Item) -> Option<OutboxMessage> {
    let queue = item.get("queue").and_then(Value::as_str)?;
    let queue = QueueName::ALL.into_iter().find(|q| q.as_str() == queue)?;
    let body = item.get("body").and_then(Value::as_str)?.to_owned();
    Some(OutboxMessage { key: Key::of(item)?, queue, body })
}

/// Outbox messages not yet delivered (for tests and the local server's status line).
pub async fn pending(deps: &Deps) -> anyhow::Result<usize> {
    let page = deps.store.query(Query::partition(keys::OUTBOX_INDEX_PK).on(Index::Gsi1)).await?;
    Ok(page.items.len() + usize::from(page.cursor.is_some()))
}

/// Standard JSON used in message bodies.
pub fn body(value: &impl serde::Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| json!(null).to_string())
}
