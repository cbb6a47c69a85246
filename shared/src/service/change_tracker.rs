//! Order change tracker (seed 003): every order, payment or invoice change enqueues
//! `{OrderId, time}`; the consumer writes one tracker record per change. The order summary
//! job reads and purges these records.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::deps::Deps;
use crate::domain::ids::{OrderId, TenantId};
use crate::error::OmsError;
use crate::keys;
use crate::ports::{Item, Key, Query, QueueName, SkRange, WriteOp};
use crate::service::outbox::{self, OutboxMessage};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeTrackerMessage {
    pub tenant: TenantId,
    pub order_id: OrderId,
    /// Unique per change: a redelivered message writes the same record again.
    pub change_id: String,
    pub time: DateTime<Utc>,
}

/// The outbox record of one change of `order`, to join the change's transaction, and its
/// message, to send once it committed.
pub(crate) fn outbox_record(deps: &Deps, tenant: &TenantId, order: &OrderId) -> (WriteOp, OutboxMessage) {
    let now = deps.clock.now();
    let change = ChangeTrackerMessage {
        tenant: tenant.clone(),
        order_id: order.clone(),
        change_id: deps.ids.new_id(),
        time: now,
    };
    outbox::record(deps, tenant, QueueName::ChangeTracker, outbox::body(&change), now)
}

/// Several changes in one message: a mass allocation's group of orders, committed together,
/// sends one message instead of one per order (each change still gets its own record).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChangeTrackerBatch {
    pub changes: Vec<ChangeTrackerMessage>,
}

/// A change-tracker queue message: one change, or a batch of them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum TrackerMessage {
    Batch(ChangeTrackerBatch),
    One(ChangeTrackerMessage),
}

impl TrackerMessage {
    pub fn changes(&self) -> &[ChangeTrackerMessage] {
        match self {
            TrackerMessage::Batch(batch) => &batch.changes,
            TrackerMessage::One(change) => std::slice::from_ref(change),
        }
    }
}

/// Writes the tracker record of one change. Idempotent: the key is the change's own.
pub async fn record_change(deps: &Deps, change: &ChangeTrackerMessage) -> Result<(), OmsError> {
    let key = keys::change_tracker(&change.tenant, change.time, &change.order_id, &change.change_id);
    let mut item = Item::new();
    item.insert("PK".into(), key.pk.into());
    item.insert("SK".into(), key.sk.into());
    item.insert("OrderId".into(), change.order_id.as_str().into());
    item.insert("ChangeId".into(), change.change_id.clone().into());
    item.insert("CreatedTimestamp".into(), keys::timestamp(change.time).into());
    deps.store.put(item, None).await?;
    Ok(())
}

/// Tracker records of a tenant, oldest first, up to `until` (inclusive) and `limit`: the first
/// `limit` of each shard, merged by time.
pub async fn list(deps: &Deps, tenant: &TenantId, until: DateTime<Utc>, limit: usize) -> Result<Vec<Item>, OmsError> {
    // The sort key starts with the timestamp; "~" sorts after every id that follows it.
    let until = format!("{}~", keys::timestamp(until));
    let pages = keys::change_tracker_partitions(tenant)
        .map(|partition| deps.store.query(Query::partition(partition).sk(SkRange::Le(until.clone())).limit(limit)));
    let mut records = Vec::new();
    for page in futures::future::join_all(pages).await {
        records.extend(page?.items);
    }
    records.sort_by_cached_key(|item| Key::of(item).map(|key| key.sk));
    records.truncate(limit);
    Ok(records)
}
