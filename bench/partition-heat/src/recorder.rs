//! An [`ItemStore`] that passes every call to an inner store and charges each write the write
//! units (WU) DynamoDB would charge, per table or index partition and simulated second.
//!
//! Rules: one WU per started KB of the larger of the item before and after the write (at least
//! one); twice that inside a transaction (a `Check` costs like a write of the current item). A
//! write that fails its condition is charged on the table only. Index writes follow from the
//! item before and after, see [`index_writes`].

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use oms_core::ports::{
    Clock, Condition, Index, Item, ItemStore, Key, Page, Projection, Query, StoreError, Update, WriteOp,
};
use serde_json::Value;

/// Write units one partition key takes per second before DynamoDB throttles it.
pub const PARTITION_WRITE_LIMIT: u64 = 1000;

/// Where a write lands: the base table or one of its global secondary indexes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Table,
    Index(Index),
}

impl Target {
    /// The table and every index, in report order.
    pub fn all() -> Vec<Target> {
        std::iter::once(Target::Table).chain(Index::ALL.into_iter().map(Target::Index)).collect()
    }

    pub fn name(self) -> &'static str {
        match self {
            Target::Table => "table",
            Target::Index(index) => index.name(),
        }
    }
}

/// How the recorder charges writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct HeatConfig {
    /// Charge index writes caused by a transaction twice, like its table writes. DynamoDB
    /// propagates a committed transaction to its indexes as ordinary writes, so off by default.
    pub transactional_index_writes_double: bool,
}

impl HeatConfig {
    /// One line that names the rules, for the report.
    pub fn describe(&self) -> String {
        format!(
            "1 WU per started KB (item size = its JSON length, an over-estimate), min 1; table writes in a \
             transaction x2; index writes of a transaction {}; failed conditional writes charged on the table only",
            if self.transactional_index_writes_double { "x2" } else { "x1 (propagated after commit)" }
        )
    }
}

/// Write units per (target, partition key, simulated second since the Unix epoch).
pub type HeatMap = HashMap<(Target, String, i64), u64>;

/// The store wrapper that records partition heat. The item before a write is read just before
/// it, not atomically with it: exact for one writer per key, as in the simulated workload.
pub struct HeatRecorder {
    inner: Arc<dyn ItemStore>,
    clock: Arc<dyn Clock>,
    config: HeatConfig,
    heat: Mutex<HeatMap>,
}

/// Size of an item as DynamoDB would bill it, approximated by the length of its JSON text:
/// attribute names and quotes count, so this over-estimates DynamoDB's size somewhat.
pub fn item_size(item: &Item) -> usize {
    serde_json::to_string(item).map_or(0, |text| text.len())
}

/// Write units of a write of `bytes`: one per started KB, at least one.
pub fn write_units(bytes: usize) -> u64 {
    (bytes.div_ceil(1024) as u64).max(1)
}

/// The attributes `index` copies from `item`.
pub fn projected(item: &Item, index: Index, projection: Projection) -> Item {
    projection.apply(index, item.clone())
}

/// The index key of `item` in `index`, when the item carries both key attributes.
fn index_key(item: &Item, index: Index) -> Option<(String, &Value)> {
    let pk = item.get(index.pk_attr())?;
    let sk = item.get(index.sk_attr())?;
    let pk = pk.as_str().map_or_else(|| pk.to_string(), str::to_owned);
    Some((pk, sk))
}

/// The writes DynamoDB makes to `index` when a table item goes from `old` to `new`, as
/// (index partition key, write units): a put when the item joins, a delete when it leaves,
/// a delete and a put when its index key changes, one write when a projected attribute
/// changes under the same key, nothing otherwise.
pub fn index_writes(
    old: Option<&Item>,
    new: Option<&Item>,
    index: Index,
    projection: Projection,
) -> Vec<(String, u64)> {
    let old_key = old.and_then(|item| index_key(item, index).map(|key| (item, key)));
    let new_key = new.and_then(|item| index_key(item, index).map(|key| (item, key)));
    let units = |item: &Item| write_units(item_size(&projected(item, index, projection)));
    match (old_key, new_key) {
        (None, None) => Vec::new(),
        (None, Some((new, (pk, _)))) => vec![(pk, units(new))],
        (Some((old, (pk, _))), None) => vec![(pk, units(old))],
        (Some((old, old_key)), Some((new, new_key))) if old_key == new_key => {
            if projected(old, index, projection) == projected(new, index, projection) {
                Vec::new()
            } else {
                vec![(new_key.0, units(new))]
            }
        }
        (Some((old, (old_pk, _))), Some((new, (new_pk, _)))) => vec![(old_pk, units(old)), (new_pk, units(new))],
    }
}

fn partition(key: &Key) -> String {
    key.pk.clone()
}

fn size_of(item: Option<&Item>) -> usize {
    item.map_or(0, item_size)
}

/// Whether a store error means a condition did not hold (DynamoDB still charges the write).
fn is_condition_failure(error: &StoreError) -> bool {
    matches!(error, StoreError::ConditionFailed | StoreError::TransactionCanceled { .. })
}

impl HeatRecorder {
    pub fn new(inner: Arc<dyn ItemStore>, clock: Arc<dyn Clock>, config: HeatConfig) -> Self {
        Self { inner, clock, config, heat: Mutex::new(HeatMap::new()) }
    }

    pub fn config(&self) -> HeatConfig {
        self.config
    }

    /// Forgets every write recorded so far (after setup, say).
    pub fn reset(&self) {
        self.lock().clear();
    }

    /// A copy of everything recorded.
    pub fn snapshot(&self) -> HeatMap {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HeatMap> {
        // A panic while holding the lock cannot leave the map half-updated: recover it.
        self.heat.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds `charges` at the current simulated second, under one lock.
    fn charge(&self, charges: Vec<(Target, String, u64)>) {
        if charges.is_empty() {
            return;
        }
        let second = self.clock.now().timestamp();
        let mut heat = self.lock();
        for (target, key, units) in charges {
            *heat.entry((target, key, second)).or_insert(0) += units;
        }
    }

    /// Table and index charges of one write that happened, from the item before and after.
    fn charges(
        &self,
        key: &Key,
        before: Option<&Item>,
        after: Option<&Item>,
        transactional: bool,
    ) -> Vec<(Target, String, u64)> {
        let factor = if transactional { 2 } else { 1 };
        let table = write_units(size_of(before).max(size_of(after))) * factor;
        let mut charges = vec![(Target::Table, partition(key), table)];
        let index_factor = if transactional && self.config.transactional_index_writes_double { 2 } else { 1 };
        for index in Index::ALL {
            for (pk, units) in index_writes(before, after, index, index.projection()) {
                charges.push((Target::Index(index), pk, units * index_factor));
            }
        }
        charges
    }

    /// The table charge alone: a condition check, or a write whose condition failed.
    fn table_charge(key: &Key, before: Option<&Item>, attempted: Option<&Item>, factor: u64) -> (Target, String, u64) {
        (Target::Table, partition(key), write_units(size_of(before).max(size_of(attempted))) * factor)
    }
}

#[async_trait]
impl ItemStore for HeatRecorder {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner.get(key).await
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.inner.batch_get(keys).await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let Some(key) = Key::of(&item) else { return self.inner.put(item, condition).await };
        let before = self.inner.get(&key).await?;
        match self.inner.put(item.clone(), condition).await {
            Ok(()) => {
                self.charge(self.charges(&key, before.as_ref(), Some(&item), false));
                Ok(())
            }
            Err(e) => {
                if is_condition_failure(&e) {
                    self.charge(vec![Self::table_charge(&key, before.as_ref(), Some(&item), 1)]);
                }
                Err(e)
            }
        }
    }

    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError> {
        let before = self.inner.get(key).await?;
        match self.inner.update(key, update, condition).await {
            Ok(after) => {
                self.charge(self.charges(key, before.as_ref(), Some(&after), false));
                Ok(after)
            }
            Err(e) => {
                if is_condition_failure(&e) {
                    self.charge(vec![Self::table_charge(key, before.as_ref(), None, 1)]);
                }
                Err(e)
            }
        }
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let before = self.inner.get(key).await?;
        match self.inner.delete(key, condition).await {
            Ok(()) => {
                self.charge(self.charges(key, before.as_ref(), None, false));
                Ok(())
            }
            Err(e) => {
                if is_condition_failure(&e) {
                    self.charge(vec![Self::table_charge(key, before.as_ref(), None, 1)]);
                }
                Err(e)
            }
        }
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        let ops = writes.clone();
        let mut before = Vec::with_capacity(ops.len());
        for op in &ops {
            before.push(match op.key() {
                Some(key) => self.inner.get(&key).await?,
                None => None,
            });
        }
        let result = self.inner.transact(writes).await;
        let mut charges = Vec::new();
        for (op, before) in ops.iter().zip(&before) {
            let Some(key) = op.key() else { continue };
            let attempted = match op {
                WriteOp::Put { item, .. } => Some(item),
                _ => None,
            };
            match (&result, op) {
                (Err(e), _) if is_condition_failure(e) => {
                    charges.push(Self::table_charge(&key, before.as_ref(), attempted, 2));
                }
                (Err(_), _) => {}
                (Ok(()), WriteOp::Check { .. }) => charges.push(Self::table_charge(&key, before.as_ref(), None, 2)),
                (Ok(()), WriteOp::Update { .. }) => {
                    let after = self.inner.get(&key).await?;
                    charges.extend(self.charges(&key, before.as_ref(), after.as_ref(), true));
                }
                (Ok(()), _) => charges.extend(self.charges(&key, before.as_ref(), attempted, true)),
            }
        }
        self.charge(charges);
        result
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.inner.query(query).await
    }
}
