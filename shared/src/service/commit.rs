//! The commit point of a request. When a request carries an `Idempotency-Key`, the HTTP layer
//! runs it inside [`scope`] with the key's claim; every transaction that commits the request's
//! effect then also marks that claim `committed`, atomically. So a later attempt with the same
//! key knows for sure whether the first one's effect happened, and an attempt whose claim was
//! taken over can no longer commit (its marker's condition fails).

use std::future::Future;

use serde_json::Value;

use crate::deps::Deps;
use crate::ports::{Condition, Item, Key, MAX_TRANSACTION_ITEMS, StoreError, Update, WriteOp};

/// Attribute of the idempotency record that names the attempt holding its claim.
pub const ATTEMPT: &str = "attempt";
/// Attribute of the idempotency record: `pending`, `committed` or `done`.
pub const STATE: &str = "state";
pub const COMMITTED: &str = "committed";

/// The idempotency claim a request runs under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitMarker {
    pub record: Key,
    pub attempt: String,
}

impl CommitMarker {
    /// The write that marks the claim committed; it fails when another attempt took the claim.
    pub fn write(&self) -> WriteOp {
        WriteOp::Update {
            key: self.record.clone(),
            update: Update::new().set(STATE, COMMITTED),
            condition: Some(Condition::Equals(ATTEMPT.into(), Value::from(self.attempt.clone()))),
        }
    }
}

tokio::task_local! {
    static MARKER: CommitMarker;
}

/// Runs `work` with `marker` as its commit marker.
pub async fn scope<F: Future>(marker: CommitMarker, work: F) -> F::Output {
    MARKER.scope(marker, work).await
}

/// The marker of the running request, if it carries an idempotency key.
pub fn current() -> Option<CommitMarker> {
    MARKER.try_with(CommitMarker::clone).ok()
}

/// How many writes of the caller's own fit in one committing transaction.
pub fn capacity() -> usize {
    MAX_TRANSACTION_ITEMS - usize::from(current().is_some())
}

/// `writes` plus the marker of the running request, if any.
fn with_marker(mut writes: Vec<WriteOp>) -> Vec<WriteOp> {
    if let Some(marker) = current() {
        writes.push(marker.write());
    }
    writes
}

/// Commits `writes` in one transaction together with the request's marker. A failed marker
/// reads as a cancelled transaction, which callers already treat as a lost race.
pub async fn transact(deps: &Deps, writes: Vec<WriteOp>) -> Result<(), StoreError> {
    deps.store.transact(with_marker(writes)).await
}

/// A conditional put that commits the request: `ConditionFailed` when its condition (or the
/// marker) does not hold.
pub async fn put(deps: &Deps, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
    if current().is_none() {
        return deps.store.put(item, condition).await;
    }
    match transact(deps, vec![WriteOp::Put { item, condition }]).await {
        Err(StoreError::TransactionCanceled { .. }) => Err(StoreError::ConditionFailed),
        other => other,
    }
}
