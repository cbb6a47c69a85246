//! Allocation changes too large for one transaction (more than 100 writes: a cancel or a
//! reallocation of many lines, a large order). Guards first, then stock, then documents:
//!
//! 1. claim: one transaction writes the journal and claims every source document (a
//!    version-checked `pendingOperation`), so no other request moves the same units, and holds
//!    the shard setting of every sharded item it moves, so no resharding deletes a shard under it;
//! 2. stock: reservations first (they may fail: the stock went elsewhere), then releases, in
//!    chunks; each chunk advances the journal's `step` under a condition, so it applies exactly
//!    once whoever drives the journal;
//! 3. finish: one transaction retires the sources, writes the new documents and the orders,
//!    marks the request's idempotency claim committed, and deletes the journal.
//!
//! A reservation that fails turns the journal back: the chunks done are undone in reverse,
//! step by step, then the claims are released. A journal left by a crash or an outage is the
//! durable repair record: the next request that meets its claims, or reconcile, drives it to
//! its end once its lease has passed (cancel and reallocate forward, allocate back).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    Allocation, AllocationId, AllocationStatus, CANCEL_SOURCE, Deps, MAX_TRANSACTION_ITEMS, OmsError, OmsResult,
    OrderId, REALLOCATE_SOURCE, Rewrite, StockMove, StoreError, TenantId, WriteOp, allocation_item,
    cancel_order_writes, keys, load_allocations, outbox, reservation,
};
use crate::domain::ids::UserId;
use crate::ports::{Condition, Item, Key, Update};
use crate::service::commit::{self, CommitMarker};
use crate::store::entity;

/// How long a journal belongs to the request that started it; after that anyone may drive it.
pub(crate) const LEASE_SECONDS: i64 = 60;
/// Stock moves per chunk: one write of each transaction advances the journal.
const MOVES_PER_CHUNK: usize = MAX_TRANSACTION_ITEMS - 1;
/// Tries of one step when the store is unavailable or the transaction conflicts.
const STEP_TRIES: usize = 8;
/// Steps one drive may take: every chunk forward and back, plus retries of the finish.
const MAX_ROUNDS: usize = 2 * 500 * 2 / MOVES_PER_CHUNK + 50;
/// Attribute of an allocation document naming the journal that holds it.
pub(super) const PENDING: &str = "pendingOperation";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Kind {
    Allocate,
    Cancel,
    Reallocate,
}

impl Kind {
    /// The endpoint whose changes a journal of this kind finishes.
    fn source(self) -> &'static str {
        match self {
            Kind::Cancel => CANCEL_SOURCE,
            Kind::Reallocate => REALLOCATE_SOURCE,
            Kind::Allocate => "POST /allocation/",
        }
    }

    /// The status the source documents of a journal written before `rewritten` end in.
    pub(super) fn retires_as(self) -> Option<AllocationStatus> {
        match self {
            Kind::Cancel => Some(AllocationStatus::Cancelled),
            Kind::Reallocate => Some(AllocationStatus::Reallocated),
            Kind::Allocate => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) enum Stage {
    Forward,
    Back,
}

impl Stage {
    fn id(self) -> &'static str {
        match self {
            Stage::Forward => "forward",
            Stage::Back => "back",
        }
    }
}

/// The idempotency claim of the request that started a journal (see `service::commit`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CommitRecord {
    pub pk: String,
    pub sk: String,
    pub attempt: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Journal {
    pub id: String,
    pub tenant: TenantId,
    pub kind: Kind,
    pub created_at: DateTime<Utc>,
    pub user: UserId,
    pub stage: Stage,
    /// Forward: chunks applied; back: chunks still to undo.
    pub step: usize,
    /// Shard moves, reservations (positive) first, then releases.
    pub moves: Vec<StockMove>,
    /// Source documents claimed by this journal, rewritten at the finish.
    pub claimed: Vec<AllocationId>,
    /// Documents written at the finish.
    pub created: Vec<Allocation>,
    /// What each claimed document becomes at the finish. Journals written before carry none:
    /// their claimed documents are retired in the status of their kind.
    #[serde(default)]
    pub rewritten: Vec<Allocation>,
    pub commit: Option<CommitRecord>,
}

impl Journal {
    pub(super) fn new(
        deps: &Deps,
        tenant: &TenantId,
        kind: Kind,
        user: &UserId,
        mut moves: Vec<StockMove>,
        rewrites: &[Rewrite],
        created: Vec<Allocation>,
    ) -> Journal {
        moves.retain(|m| m.delta != 0);
        // Reservations first: only they can fail, and then only reservations need undoing.
        moves.sort_by_key(|m| m.delta < 0);
        Journal {
            id: deps.ids.new_id(),
            tenant: tenant.clone(),
            kind,
            created_at: deps.clock.now(),
            user: user.clone(),
            stage: Stage::Forward,
            step: 0,
            moves,
            claimed: rewrites.iter().map(|r| r.read.allocation_id.clone()).collect(),
            created,
            rewritten: rewrites.iter().map(|r| r.next.clone()).collect(),
            commit: commit::current().map(|m| CommitRecord { pk: m.record.pk, sk: m.record.sk, attempt: m.attempt }),
        }
    }

    fn key(&self) -> Key {
        keys::journal(&self.tenant, &self.id)
    }

    fn chunks(&self) -> usize {
        self.moves.len().div_ceil(MOVES_PER_CHUNK)
    }

    fn chunk(&self, index: usize) -> &[StockMove] {
        let start = index * MOVES_PER_CHUNK;
        &self.moves[start..(start + MOVES_PER_CHUNK).min(self.moves.len())]
    }

    /// Holds when the stored journal is at `stage` and `step`.
    fn at(&self, stage: Stage, step: usize) -> Condition {
        Condition::All(vec![
            Condition::Equals("stage".into(), Value::from(stage.id())),
            Condition::Equals("step".into(), Value::from(step)),
        ])
    }

    /// Moves the stored journal from (`stage`, `step`) to (`to_stage`, `to_step`).
    fn advance(&self, stage: Stage, step: usize, to_stage: Stage, to_step: usize) -> WriteOp {
        WriteOp::Update {
            key: self.key(),
            update: Update::new().set("stage", to_stage.id()).set("step", to_step),
            condition: Some(self.at(stage, step)),
        }
    }

    fn is_stale(&self, now: DateTime<Utc>) -> bool {
        now - self.created_at > chrono::Duration::seconds(LEASE_SECONDS)
    }
}

/// The commit marker of the request that started the journal, while that request still holds
/// its idempotency claim (a claim taken over by a retry must not block the finish).
async fn live_marker(deps: &Deps, journal: &Journal) -> Result<Option<WriteOp>, StoreError> {
    let Some(c) = &journal.commit else { return Ok(None) };
    let record = Key::new(c.pk.clone(), c.sk.clone());
    let holds = deps
        .store
        .get(&record)
        .await?
        .is_some_and(|item| item.get(commit::ATTEMPT).and_then(Value::as_str) == Some(c.attempt.as_str()));
    Ok(holds.then(|| CommitMarker { record, attempt: c.attempt.clone() }.write()))
}

/// How a journal ended, as seen by whoever drove it last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    Finished,
    RolledBack,
    /// Someone else ended it: read the documents to learn how.
    Gone,
    /// A source document changed before it could be claimed: nothing was written.
    NotClaimed,
}

/// What the live allocate request writes at the finish: the order (with its guard) and its
/// outbox records (the change-tracker record first, then what the order's configuration
/// publishes). Recovery has none, so an allocate journal found later rolls back.
pub(crate) struct AllocateFinish {
    pub order: Item,
    pub guard: Condition,
    pub records: Vec<WriteOp>,
}

/// The most allocation documents and orders one journaled change may touch: they share the
/// claim and the finish transactions.
/// `published`: outbox records the finish writes beyond one change-tracker record per order.
pub(super) fn check_size(claimed: usize, created: usize, orders: usize, published: usize) -> OmsResult<()> {
    // Finish: retire claimed + write created + (order + tracker) per order + journal delete + marker.
    let finish = claimed + created + 2 * orders + 2 + published;
    if claimed + 1 > MAX_TRANSACTION_ITEMS || finish > MAX_TRANSACTION_ITEMS {
        return Err(OmsError::validation(
            "id",
            format!(
                "this change would retire {claimed} and write {created} allocation documents over {orders} orders; at most {} documents and orders fit in one request: name fewer ids",
                MAX_TRANSACTION_ITEMS - 2
            ),
        ));
    }
    Ok(())
}

/// Starts `journal` (claiming `sources` at the versions read, holding the shard settings of
/// `hold_settings`) and drives it to its end.
/// `Err(TransactionCanceled)` from the claim means a source changed since it was read.
pub(super) async fn run(
    deps: &Deps,
    journal: Journal,
    sources: &[Allocation],
    hold_settings: Vec<WriteOp>,
    allocate: Option<AllocateFinish>,
) -> Result<Ending, OmsError> {
    let mut claim = vec![WriteOp::Put {
        item: entity::to_item(&journal.key(), &journal, 0, &[])?,
        condition: Some(Condition::NotExists),
    }];
    // The shard settings its moves were picked for: no resharding runs under this journal.
    claim.extend(hold_settings);
    for doc in sources {
        claim.push(WriteOp::Update {
            key: keys::allocation(&journal.tenant, &doc.allocation_id),
            update: Update::new().set(PENDING, journal.id.clone()).add(entity::VERSION, 1),
            condition: Some(Condition::All(vec![
                Condition::version_is(doc.version),
                Condition::Equals("statusCode".into(), serde_json::to_value(doc.status_code).unwrap_or_default()),
            ])),
        });
    }
    match deps.store.transact(claim).await {
        Ok(()) => drive(deps, &journal.tenant, &journal.id, allocate).await,
        Err(StoreError::TransactionCanceled { .. } | StoreError::TransactionConflict) => Ok(Ending::NotClaimed),
        Err(e) => Err(e.into()),
    }
}

/// Drives the journal `id` from wherever it stands to its end.
pub(crate) async fn drive(
    deps: &Deps,
    tenant: &TenantId,
    id: &str,
    mut allocate: Option<AllocateFinish>,
) -> Result<Ending, OmsError> {
    let key = keys::journal(tenant, id);
    let mut tries = 0;
    let mut rounds = 0;
    loop {
        rounds += 1;
        if rounds > MAX_ROUNDS {
            return Err(OmsError::Conflict(format!(
                "journal {id} could not be driven to its end; reconcile with repair will retry it"
            )));
        }
        let Some(item) = deps.store.get(&key).await? else { return Ok(Ending::Gone) };
        let journal: Journal = entity::from_item(item, &[entity::VERSION])?;
        let outcome = match (journal.stage, journal.step) {
            (Stage::Forward, step) if step < journal.chunks() => forward_chunk(deps, &journal, step).await,
            (Stage::Forward, _) => finish(deps, &journal, allocate.take()).await,
            (Stage::Back, 0) => release_claims(deps, &journal).await,
            (Stage::Back, step) => undo_chunk(deps, &journal, step).await,
        };
        match outcome {
            Ok(Some(ending)) => return Ok(ending),
            Ok(None) => tries = 0,
            // A transient failure: try the same step again, a bounded number of times; the
            // journal stays as the repair record if the store does not come back.
            Err(StoreError::TransactionConflict | StoreError::Unavailable(_)) if tries < STEP_TRIES => {
                super::super::backoff(tries).await;
                tries += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// `Ok(Some(ending))` when the journal ended, `Ok(None)` when it moved on (or someone else
/// moved it): read it again and continue.
type StepResult = Result<Option<Ending>, StoreError>;

fn move_write(tenant: &TenantId, m: &StockMove, sign: i64, now: DateTime<Utc>) -> WriteOp {
    reservation(tenant, m, sign * m.delta, now)
}

async fn forward_chunk(deps: &Deps, journal: &Journal, step: usize) -> StepResult {
    let chunk = journal.chunk(step);
    let mut writes: Vec<WriteOp> = chunk.iter().map(|m| move_write(&journal.tenant, m, 1, deps.clock.now())).collect();
    writes.push(journal.advance(Stage::Forward, step, Stage::Forward, step + 1));
    match deps.store.transact(writes).await {
        Ok(()) => Ok(None),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&chunk.len()) => Ok(None),
        Err(StoreError::TransactionCanceled { failed }) => {
            if failed.iter().any(|&i| chunk.get(i).is_some_and(|m| m.delta < 0)) {
                return Err(StoreError::Invalid(format!("journal {}: a release found no stock row", journal.id)));
            }
            // Not enough stock for a reservation: undo the chunks done so far.
            turn_back(deps, journal, step).await
        }
        Err(e) => Err(e),
    }
}

async fn turn_back(deps: &Deps, journal: &Journal, step: usize) -> StepResult {
    let write = journal.advance(Stage::Forward, step, Stage::Back, step);
    match deps.store.transact(vec![write]).await {
        Ok(()) | Err(StoreError::TransactionCanceled { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn undo_chunk(deps: &Deps, journal: &Journal, step: usize) -> StepResult {
    let chunk = journal.chunk(step - 1);
    // Chunks before a failed reservation hold reservations only (they come first).
    let mut writes: Vec<WriteOp> = chunk.iter().map(|m| move_write(&journal.tenant, m, -1, deps.clock.now())).collect();
    writes.push(journal.advance(Stage::Back, step, Stage::Back, step - 1));
    match deps.store.transact(writes).await {
        Ok(()) => Ok(None),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&chunk.len()) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The claimed documents as stored now, each still held by this journal.
async fn claimed_documents(deps: &Deps, journal: &Journal) -> Result<Vec<Allocation>, StoreError> {
    let found = load_allocations(deps, &journal.tenant, &journal.claimed)
        .await
        .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    Ok(journal
        .claimed
        .iter()
        .filter_map(|id| found.get(id))
        .filter(|doc| doc.pending_operation.as_deref() == Some(journal.id.as_str()))
        .cloned()
        .collect())
}

/// A document write that holds only while this journal still holds the document.
fn held_by(journal: &Journal) -> Condition {
    Condition::Equals(PENDING.into(), Value::from(journal.id.clone()))
}

async fn release_claims(deps: &Deps, journal: &Journal) -> StepResult {
    let mut writes = Vec::new();
    for doc in claimed_documents(deps, journal).await? {
        writes.push(WriteOp::Update {
            key: keys::allocation(&journal.tenant, &doc.allocation_id),
            update: Update::new().remove(PENDING).add(entity::VERSION, 1),
            condition: Some(held_by(journal)),
        });
    }
    writes.push(WriteOp::Delete { key: journal.key(), condition: Some(journal.at(Stage::Back, 0)) });
    match deps.store.transact(writes).await {
        Ok(()) => Ok(Some(Ending::RolledBack)),
        Err(StoreError::TransactionCanceled { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

async fn finish(deps: &Deps, journal: &Journal, allocate: Option<AllocateFinish>) -> StepResult {
    let steps = journal.chunks();
    let now = deps.clock.now();
    let mut writes = Vec::new();
    let mut messages = Vec::new();
    let claimed = claimed_documents(deps, journal).await?;
    for doc in &claimed {
        let mut held = doc.clone();
        held.pending_operation = None;
        let next = match journal.rewritten.iter().find(|r| r.allocation_id == doc.allocation_id) {
            // Planned from the document as read; the claim bumped its version since.
            Some(planned) => Allocation { version: held.version + 1, ..planned.clone() },
            None => match journal.kind.retires_as() {
                Some(status) => held.retired(status, &journal.user, now, journal.kind.source()),
                None => continue,
            },
        };
        let item = allocation_item(&journal.tenant, &next).map_err(|e| StoreError::Invalid(e.to_string()))?;
        writes.push(WriteOp::Put { item, condition: Some(held_by(journal)) });
    }
    for doc in &journal.created {
        let item = allocation_item(&journal.tenant, doc).map_err(|e| StoreError::Invalid(e.to_string()))?;
        writes.push(WriteOp::Put { item, condition: Some(Condition::NotExists) });
    }
    match journal.kind {
        Kind::Cancel => {
            let (order_writes, order_messages) = cancel_order_writes(deps, &journal.tenant, &claimed, &journal.user)
                .await
                .map_err(|e| StoreError::Unavailable(e.to_string()))?;
            writes.extend(order_writes);
            messages.extend(order_messages);
        }
        Kind::Reallocate => {}
        Kind::Allocate => {
            // Only the live request knows the order it planned: anyone else rolls back.
            let Some(AllocateFinish { order, guard, records }) = allocate else {
                return turn_back(deps, journal, steps).await;
            };
            writes.push(WriteOp::Put { item: order, condition: Some(guard) });
            writes.extend(records);
        }
    }
    let own = writes.len();
    writes.push(WriteOp::Delete { key: journal.key(), condition: Some(journal.at(Stage::Forward, steps)) });
    writes.extend(live_marker(deps, journal).await?);
    match deps.store.transact(writes).await {
        Ok(()) => {
            outbox::deliver(deps, messages).await;
            Ok(Some(Ending::Finished))
        }
        // The journal itself moved on: someone else drives it.
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&own) => Ok(None),
        // The allocated order changed since it was planned: give the stock back.
        Err(StoreError::TransactionCanceled { .. }) if journal.kind == Kind::Allocate => {
            turn_back(deps, journal, steps).await
        }
        // An order changed under a cancel: compute its writes again.
        Err(StoreError::TransactionCanceled { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Drives a journal that holds an allocation document, if its lease has passed; true when it
/// did (the caller reads the documents again).
pub(crate) async fn recover_if_stale(deps: &Deps, tenant: &TenantId, id: &str) -> OmsResult<bool> {
    let Some(item) = deps.store.get(&keys::journal(tenant, id)).await? else { return Ok(true) };
    let journal: Journal = entity::from_item(item, &[entity::VERSION])?;
    if !journal.is_stale(deps.clock.now()) {
        return Ok(false);
    }
    tracing::warn!(journal = id, kind = ?journal.kind, "driving a journal whose request did not finish it");
    drive(deps, tenant, id, None).await?;
    Ok(true)
}

/// Every journal of the tenant. With `drive_stale`, those past their lease are driven to their
/// end first; the journals returned are still under way, and so are the stock rows they move.
pub(crate) async fn in_flight(deps: &Deps, tenant: &TenantId, drive_stale: bool) -> OmsResult<Vec<Journal>> {
    let partitions = keys::journal_partitions(tenant).map(crate::ports::Query::partition);
    let items = crate::store::query_every(deps.store.as_ref(), partitions).await?;
    let mut running = Vec::new();
    for item in items {
        let journal: Journal = entity::from_item(item, &[entity::VERSION])?;
        if drive_stale && journal.is_stale(deps.clock.now()) {
            drive(deps, tenant, &journal.id, None).await?;
        } else {
            running.push(journal);
        }
    }
    Ok(running)
}

/// Orders whose allocations a journal moves, in id order.
pub(super) fn orders_of(docs: &[Allocation]) -> Vec<OrderId> {
    let orders: std::collections::BTreeSet<OrderId> = docs.iter().map(|d| d.order_number.clone()).collect();
    orders.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_change_holds_more_documents_than_one_transaction_should_refuse_naming_the_limit() {
        assert!(check_size(40, 40, 5, 0).is_ok());
        for (claimed, created, orders) in [(99, 0, 0), (60, 40, 0), (30, 30, 20)] {
            let err = check_size(claimed, created, orders, 0).unwrap_err();
            assert_eq!(err.field(), Some("id"), "{claimed} {created} {orders}");
            assert!(err.to_string().contains("98"), "{err}");
        }
    }

    #[test]
    fn when_moves_are_planned_reservations_should_come_before_releases() {
        let deps = Deps::embedded(crate::sqlite::SqliteDb::in_memory().unwrap()).unwrap();
        let tenant = TenantId::parse("t").unwrap();
        let moves = [-2, 3, -1, 4, 0]
            .into_iter()
            .enumerate()
            .map(|(i, delta)| StockMove {
                location_id: crate::domain::ids::LocationId::parse(&format!("L{i}")).unwrap(),
                item_id: crate::domain::ids::ItemId::parse("I").unwrap(),
                shard: 0,
                delta,
                consume: false,
            })
            .collect();
        let user = UserId::parse("u").unwrap();
        let journal = Journal::new(&deps, &tenant, Kind::Reallocate, &user, moves, &[], Vec::new());
        let signs: Vec<i64> = journal.moves.iter().map(|m| m.delta).collect();
        assert_eq!(signs, vec![3, 4, -2, -1]);
    }

    #[test]
    fn when_a_journal_from_before_rewritten_documents_is_read_should_read_none() {
        let stored = serde_json::json!({"id": "j", "tenant": "t", "kind": "cancel", "createdAt": "2026-01-01T00:00:00Z",
            "user": "u", "stage": "forward", "step": 0, "moves": [], "claimed": [], "created": [], "commit": null});
        let journal: Journal = serde_json::from_value(stored).unwrap();
        assert!(journal.rewritten.is_empty());
        assert_eq!(journal.kind.retires_as(), Some(AllocationStatus::Cancelled));
    }
}
