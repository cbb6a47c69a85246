//! An item's stock over its shards. A hot item's stock at a location can be split over N rows
//! (shards, each in its own partition), so that reservations spread over N partitions: readers
//! read every shard and sum, reservations and releases pick shards, and changing N spreads the
//! stock over the new shards in one transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::deps::Deps;
use crate::domain::ids::{ItemId, LocationId, TenantId};
use crate::domain::inventory::StockLevel;
use crate::domain::stock_shards::{self, ShardCount, ShardLevel};
use crate::error::{OmsError, OmsResult};
use crate::keys;
use crate::ports::{Condition, Item, Key, Query, StoreError, WriteOp};
use crate::service::allocation::journal;
use crate::service::commit;
use crate::service::inventory::StockRow;
use crate::store::{self, entity};

const WRITE_ATTEMPTS: usize = 5;

/// Stock row attribute: the shard the row is (absent on shard 0 rows written before shards).
pub const SHARD: &str = "shard";

/// How many shards an item has, and the version of that setting (`None`: never set, one shard).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSetting {
    pub count: ShardCount,
    pub version: Option<u64>,
}

impl Default for ShardSetting {
    fn default() -> Self {
        ShardSetting { count: ShardCount::ONE, version: None }
    }
}

impl ShardSetting {
    fn from_item(item: &Item) -> ShardSetting {
        let count = item.get("ShardCount").and_then(Value::as_u64).unwrap_or(1);
        ShardSetting { count: ShardCount::from_stored(count), version: Some(entity::version_of(item)) }
    }

    /// A transaction write that holds only while the setting is still the one read.
    pub fn check(&self, tenant: &TenantId, item: &ItemId) -> WriteOp {
        let condition = match self.version {
            Some(version) => Condition::version_is(version),
            None => Condition::NotExists,
        };
        WriteOp::Check { key: keys::stock_shard_count(tenant, item), condition }
    }
}

/// Shard settings by item.
pub type ShardSettings = HashMap<ItemId, ShardSetting>;

/// The shard settings of `items` (one batch read); items never set have one shard.
pub async fn shard_settings(
    deps: &Deps,
    tenant: &TenantId,
    items: &BTreeSet<ItemId>,
) -> OmsResult<HashMap<ItemId, ShardSetting>> {
    let wanted: Vec<Key> = items.iter().map(|item| keys::stock_shard_count(tenant, item)).collect();
    let mut found: HashMap<ItemId, ShardSetting> = HashMap::new();
    for item in deps.store.batch_get(&wanted).await? {
        let id = item.get("ItemId").and_then(Value::as_str).unwrap_or_default();
        found.insert(ItemId::parse(id)?, ShardSetting::from_item(&item));
    }
    Ok(items.iter().map(|item| (item.clone(), found.remove(item).unwrap_or_default())).collect())
}

/// How a reader reads the stock: consistently, or eventually (half the read capacity of every
/// shard's partition) when what it reads only plans writes that guard themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Read {
    Consistent,
    Eventual,
}

/// Every shard row of `item` at every location, with the item's shard setting: shard 0's
/// partition (which also holds the setting), then the other shards' partitions at once.
pub async fn item_shards(
    deps: &Deps,
    tenant: &TenantId,
    item: &ItemId,
    read: Read,
) -> OmsResult<(ShardSetting, Vec<StockRow>)> {
    let query = |shard: u32| {
        let query = Query::partition(keys::stock_shard_partition(tenant, item, shard));
        if read == Read::Eventual { query.eventually_consistent() } else { query }
    };
    let first = store::query_all(deps.store.as_ref(), query(0)).await?;
    let mut setting = ShardSetting::default();
    let mut rows = Vec::new();
    for found in &first {
        if found.get(crate::ports::SK).and_then(Value::as_str) == Some(keys::STOCK_SHARD_COUNT_SK) {
            setting = ShardSetting::from_item(found);
        } else {
            rows.push(StockRow::from_item(found)?);
        }
    }
    let others = setting.count.shards().skip(1).map(|shard| store::query_all(deps.store.as_ref(), query(shard)));
    for page in futures::future::join_all(others).await {
        for found in page? {
            rows.push(StockRow::from_item(&found)?);
        }
    }
    Ok((setting, rows))
}

/// The shard rows summed into one row per location, in location order: what the API shows.
pub fn by_location(rows: Vec<StockRow>) -> Vec<StockRow> {
    let mut summed: BTreeMap<LocationId, StockRow> = BTreeMap::new();
    for row in rows {
        match summed.get_mut(&row.location_id) {
            None => {
                summed.insert(row.location_id.clone(), StockRow { shard: 0, ..row });
            }
            Some(total) => {
                total.level = add(total.level, row.level);
                total.version = total.version.max(row.version);
                total.updated_timestamp = total.updated_timestamp.clone().max(row.updated_timestamp);
                total.reserved_at = total.reserved_at.max(row.reserved_at);
            }
        }
    }
    summed.into_values().collect()
}

fn add(a: StockLevel, b: StockLevel) -> StockLevel {
    StockLevel {
        on_hand: a.on_hand + b.on_hand,
        reserved: a.reserved + b.reserved,
        safety_stock: a.safety_stock + b.safety_stock,
    }
}

/// The sum of `rows`' levels.
pub fn total(rows: &[StockRow]) -> StockLevel {
    rows.iter().fold(StockLevel::default(), |sum, row| add(sum, row.level))
}

/// `delta` units of an item into (positive) or out of (negative) `reserved` of one shard row;
/// units shipped (`consume`) leave `onHand` with `reserved`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StockMove {
    pub location_id: LocationId,
    pub item_id: ItemId,
    /// Absent in journals written before shards: shard 0, the item's one row.
    #[serde(default)]
    pub shard: u32,
    pub delta: i64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub consume: bool,
}

/// The shard moves of a change, and the shard settings of its sharded items as they were read.
pub(crate) struct StockPlan {
    pub moves: Vec<StockMove>,
    /// (item, version of its shard setting) of every item with more than one shard.
    pub settings: Vec<(ItemId, u64)>,
}

impl StockPlan {
    /// The writes that hold the shard settings the moves were picked for: each bumps a
    /// setting's version under the version read. A journal's claim carries them, so a
    /// resharding that read the setting before the claim fails and finds the journal, and one
    /// that committed since the moves were picked fails the claim: a journal never moves stock
    /// on a shard a resharding deleted.
    pub fn hold_settings(&self, tenant: &TenantId) -> Vec<WriteOp> {
        self.settings
            .iter()
            .map(|(item, version)| WriteOp::Update {
                key: keys::stock_shard_count(tenant, item),
                update: crate::ports::Update::new().add(entity::VERSION, 1),
                condition: Some(Condition::version_is(*version)),
            })
            .collect()
    }
}

/// The shard moves that make the net changes `deltas` of (location, item) stock. An item with
/// one shard moves its one row (its guard decides). A sharded item's change starts at a random
/// shard (so concurrent writers spread over the shards): when that shard can take it alone, only
/// that shard is read; otherwise every shard is read and the change goes to one that can take
/// it, or to several. `None` when the shards together no longer have the units: the caller plans
/// again from fresh stock.
pub(crate) async fn moves_for(
    deps: &Deps,
    tenant: &TenantId,
    deltas: &BTreeMap<(LocationId, ItemId), i64>,
    known: ShardSettings,
) -> OmsResult<Option<StockPlan>> {
    let changing: Vec<(&LocationId, &ItemId, i64)> =
        deltas.iter().filter(|(_, delta)| **delta != 0).map(|((l, i), d)| (l, i, *d)).collect();
    // Settings planning read are kept (every move is guarded, and a journal's hold fails on a
    // setting changed since): a hot item's allocation reads no more of shard 0's partition.
    let unknown: BTreeSet<ItemId> =
        changing.iter().map(|(_, item, _)| (*item).clone()).filter(|item| !known.contains_key(item)).collect();
    let mut settings = known;
    if !unknown.is_empty() {
        settings.extend(shard_settings(deps, tenant, &unknown).await?);
    }
    let count = |item: &ItemId| settings.get(item).map_or(ShardCount::ONE, |s| s.count);
    let one = |location: &LocationId, item: &ItemId, shard: u32, delta: i64| StockMove {
        location_id: location.clone(),
        item_id: item.clone(),
        shard,
        delta,
        consume: false,
    };
    let held: Vec<(ItemId, u64)> = settings
        .iter()
        .filter(|(item, s)| s.count > ShardCount::ONE && changing.iter().any(|(_, changed, _)| changed == item))
        .filter_map(|(item, s)| s.version.map(|v| (item.clone(), v)))
        .collect();
    let mut moves = Vec::new();
    let mut sharded = Vec::new();
    for (location, item, delta) in changing {
        match count(item).get() {
            1 => moves.push(one(location, item, 0, delta)),
            n => sharded.push((location, item, delta, rand::random_range(0..n))),
        }
    }
    if sharded.is_empty() {
        return Ok(Some(StockPlan { moves, settings: held }));
    }
    let starts: Vec<Key> = sharded.iter().map(|(l, i, _, start)| keys::stock_shard(tenant, i, l, *start)).collect();
    let first = shard_levels(deps, &starts).await?;
    let mut rest = Vec::new();
    for (location, item, delta, start) in sharded {
        let fits = first
            .get(&(location.clone(), item.clone(), start))
            .is_some_and(|s| if delta > 0 { s.available >= delta } else { s.reserved >= -delta });
        if fits {
            moves.push(one(location, item, start, delta));
        } else {
            rest.push((location, item, delta, start));
        }
    }
    let wanted: Vec<Key> =
        rest.iter().flat_map(|(l, i, _, _)| count(i).shards().map(|k| keys::stock_shard(tenant, i, l, k))).collect();
    let all = if wanted.is_empty() { HashMap::new() } else { shard_levels(deps, &wanted).await? };
    for (location, item, delta, start) in rest {
        let shards: Vec<ShardLevel> =
            count(item).shards().filter_map(|k| all.get(&(location.clone(), item.clone(), k)).copied()).collect();
        let from = shards.iter().position(|s| s.shard >= start).unwrap_or(0);
        let Some(picked) = stock_shards::pick(&shards, from, delta) else { return Ok(None) };
        moves.extend(picked.into_iter().map(|(shard, delta)| one(location, item, shard, delta)));
    }
    Ok(Some(StockPlan { moves, settings: held }))
}

/// The shard rows at `wanted` that exist, as reservations see them (one consistent batch read).
async fn shard_levels(deps: &Deps, wanted: &[Key]) -> OmsResult<HashMap<(LocationId, ItemId, u32), ShardLevel>> {
    let mut levels = HashMap::new();
    for found in deps.store.batch_get(wanted).await? {
        let row = StockRow::from_item(&found)?;
        let available = found.get("available").and_then(Value::as_i64).unwrap_or_else(|| row.level.raw_available());
        let level = ShardLevel { shard: row.shard, available, reserved: row.level.reserved };
        levels.insert((row.location_id, row.item_id, row.shard), level);
    }
    Ok(levels)
}

// ------------------------------------------------------------------------------------------
// The shard count of an item (`/inventory/api/item/{ItemId}/stockShards`)
// ------------------------------------------------------------------------------------------

/// The body of `PUT /inventory/api/item/{ItemId}/stockShards`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct ShardCountRequest {
    /// Shards of the item's stock at every location: 1 (one row) to 64.
    #[serde(rename = "ShardCount")]
    #[schema(value_type = u32, minimum = 1, maximum = 64, required = true)]
    pub shard_count: Option<Value>,
}

/// One shard of an item's stock at a location.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ShardResponse {
    pub shard: u32,
    pub on_hand: i64,
    pub reserved: i64,
    pub safety_stock: i64,
    /// `OnHand - Reserved - SafetyStock` of this shard, what a reservation here is checked
    /// against (negative after a count below its reservations).
    pub available: i64,
}

/// An item's stock at one location: the sums, and each shard.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct LocationShardsResponse {
    pub location_id: LocationId,
    pub on_hand: i64,
    pub reserved: i64,
    pub safety_stock: i64,
    /// `max(0, OnHand - Reserved - SafetyStock)`, as availability shows it.
    pub available: i64,
    pub shards: Vec<ShardResponse>,
}

/// The `data` of `GET`/`PUT /inventory/api/item/{ItemId}/stockShards`.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct StockShardsResponse {
    pub item_id: ItemId,
    pub shard_count: u32,
    /// One row per location that stocks the item, in location id order.
    pub locations: Vec<LocationShardsResponse>,
}

fn response(item: ItemId, count: ShardCount, rows: Vec<StockRow>) -> StockShardsResponse {
    let mut by_location: BTreeMap<LocationId, Vec<StockRow>> = BTreeMap::new();
    for row in rows {
        by_location.entry(row.location_id.clone()).or_default().push(row);
    }
    let locations = by_location
        .into_iter()
        .map(|(location_id, mut shards)| {
            shards.sort_by_key(|row| row.shard);
            let sum = total(&shards);
            LocationShardsResponse {
                location_id,
                on_hand: sum.on_hand,
                reserved: sum.reserved,
                safety_stock: sum.safety_stock,
                available: sum.available(),
                shards: shards
                    .iter()
                    .map(|row| ShardResponse {
                        shard: row.shard,
                        on_hand: row.level.on_hand,
                        reserved: row.level.reserved,
                        safety_stock: row.level.safety_stock,
                        available: row.level.raw_available(),
                    })
                    .collect(),
            }
        })
        .collect();
    StockShardsResponse { item_id: item, shard_count: count.get(), locations }
}

/// `GET /inventory/api/item/{ItemId}/stockShards`: the item's shard count and every shard.
pub async fn get_shards(deps: &Deps, tenant: &TenantId, item: &str) -> OmsResult<StockShardsResponse> {
    let item = ItemId::parse_at("ItemId", item)?;
    let (setting, rows) = item_shards(deps, tenant, &item, Read::Consistent).await?;
    Ok(response(item, setting.count, rows))
}

/// `PUT /inventory/api/item/{ItemId}/stockShards`: sets how many shards the item's stock has
/// at every location, and spreads each location's stock over the new shards in the same
/// transaction: on hand, reserved and safety stock keep their totals, reservations are split
/// evenly, and every shard can promise about the same number of units.
#[tracing::instrument(skip_all)]
pub async fn set_shards(
    deps: &Deps,
    tenant: &TenantId,
    item: &str,
    req: &ShardCountRequest,
) -> OmsResult<StockShardsResponse> {
    let item = ItemId::parse_at("ItemId", item)?;
    let count = ShardCount::parse_at("ShardCount", req.shard_count.as_ref())?;
    for attempt in 0..WRITE_ATTEMPTS {
        // A change too large for one transaction moves shards it named in steps: wait for it.
        let running = journal::in_flight(deps, tenant, false).await?;
        if running.iter().any(|j| j.moves.iter().any(|m| m.item_id == item)) {
            return Err(OmsError::Conflict(format!(
                "a large allocation change is moving stock of {item}; retry when it has finished"
            )));
        }
        let (setting, rows) = item_shards(deps, tenant, &item, Read::Consistent).await?;
        let now = deps.clock.now();
        let mut by_location: BTreeMap<LocationId, Vec<StockRow>> = BTreeMap::new();
        for row in rows {
            by_location.entry(row.location_id.clone()).or_default().push(row);
        }
        let mut writes = Vec::new();
        let mut next_rows = Vec::new();
        for (location, shards) in &by_location {
            let sum = total(shards);
            let reserved = stock_shards::split(sum.reserved, count.get() as usize);
            let levels = stock_shards::spread(&reserved, sum.on_hand, sum.safety_stock);
            let reserved_at = shards.iter().filter_map(|row| row.reserved_at).max();
            for (shard, level) in count.shards().zip(levels) {
                let previous = shards.iter().find(|row| row.shard == shard);
                let version = previous.map_or(0, |p| p.version);
                let row = StockRow {
                    location_id: location.clone(),
                    item_id: item.clone(),
                    shard,
                    level,
                    version: version + 1,
                    updated_timestamp: Some(keys::timestamp(now)),
                    reserved_at,
                };
                let guard = if previous.is_some() { Condition::version_is(version) } else { Condition::NotExists };
                writes.push(WriteOp::Put { item: row.to_item(tenant, version + 1, now), condition: Some(guard) });
                next_rows.push(row);
            }
            for gone in shards.iter().filter(|row| row.shard >= count.get()) {
                writes.push(WriteOp::Delete {
                    key: keys::stock_shard(tenant, &item, location, gone.shard),
                    condition: Some(Condition::version_is(gone.version)),
                });
            }
        }
        let version = setting.version.unwrap_or(0) + 1;
        let mut setting_item = entity::item_at(&keys::stock_shard_count(tenant, &item), &[]);
        setting_item.insert("ItemId".into(), item.as_str().into());
        setting_item.insert("ShardCount".into(), json!(count.get()));
        setting_item.insert(entity::VERSION.into(), json!(version));
        setting_item.insert("UpdatedTimestamp".into(), keys::timestamp(now).into());
        let guard = setting.version.map_or(Condition::NotExists, Condition::version_is);
        writes.push(WriteOp::Put { item: setting_item, condition: Some(guard) });
        if writes.len() > commit::capacity() {
            return Err(OmsError::validation(
                "ShardCount",
                format!(
                    "{count} shards of {item} at {} locations take {} writes to set, more than the {} of one transaction; choose fewer shards",
                    by_location.len(),
                    writes.len(),
                    commit::capacity(),
                    count = count.get(),
                ),
            ));
        }
        match commit::transact(deps, writes).await {
            Ok(()) => return Ok(response(item, count, next_rows)),
            // A reservation or a supply changed a row since it was read: read again.
            Err(StoreError::TransactionCanceled { .. } | StoreError::TransactionConflict) => {
                super::backoff(attempt).await
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(OmsError::Conflict(format!("the stock of {item} changed on every attempt to reshard it; retry")))
}
