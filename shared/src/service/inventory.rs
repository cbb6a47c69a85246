//! Locations, supply (absolute sync and relative adjust) and availability.
//!
//! A stock row keeps `onHand`, `reserved`, `safetyStock` and `available` = onHand - reserved -
//! safetyStock (may be negative after a count below reservations). Reservations change
//! `reserved`/`available` with one guarded atomic update (`available >= q`); supply changes are
//! version-guarded writes that retry when a reservation slipped in between. A hot item's stock
//! at a location may be kept in several such rows (shards, see `service::stock`): supply and
//! availability work on their sum.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::deps::Deps;
use crate::domain::ids::{ItemId, LocationId, TenantId};
use crate::domain::inventory::{StockLevel, SupplyLine, SupplyRequest};
use crate::domain::location::{Location, UpsertLocationRequest};
use crate::domain::stock_shards::{ShardCount, spread};
use crate::error::{OmsError, OmsResult};
use crate::keys;
use crate::ports::{Condition, Index, Item, Key, Query, StoreError, WriteOp};
use crate::service::{commit, stock};
use crate::store::{self, entity};

const WRITE_ATTEMPTS: usize = 5;

/// Stock row attribute: when a reservation or release last changed the row's `reserved`.
pub const RESERVED_AT: &str = "reservedAt";

pub async fn load_location(deps: &Deps, tenant: &TenantId, id: &LocationId) -> OmsResult<Option<Location>> {
    match deps.store.get(&keys::location(tenant, id)).await? {
        Some(item) => Ok(Some(entity::from_item(item, &[])?)),
        None => Ok(None),
    }
}

pub async fn get_location(deps: &Deps, tenant: &TenantId, id: &str) -> OmsResult<Location> {
    let id = LocationId::parse_at("LocationId", id)?;
    load_location(deps, tenant, &id).await?.ok_or_else(|| OmsError::not_found(format!("location {id} does not exist")))
}

/// Every location of the tenant, in id order.
pub async fn list_locations(deps: &Deps, tenant: &TenantId) -> OmsResult<Vec<Location>> {
    let items = store::query_all(deps.store.as_ref(), Query::partition(keys::locations_partition(tenant))).await?;
    items.into_iter().map(|item| entity::from_item(item, &[])).collect()
}

/// Creates or replaces a location; a `Version` in the body must equal the stored one.
pub async fn upsert_location(
    deps: &Deps,
    tenant: &TenantId,
    id: &str,
    req: &UpsertLocationRequest,
) -> OmsResult<(Location, bool)> {
    let id = LocationId::parse_at("LocationId", id)?;
    let key = keys::location(tenant, &id);
    for _ in 0..WRITE_ATTEMPTS {
        let previous = load_location(deps, tenant, &id).await?;
        let location = Location::from_request(id.clone(), req, previous.as_ref(), deps.clock.now())?;
        let guard = previous.as_ref().map_or(Condition::NotExists, |p| Condition::version_is(p.version));
        let item = entity::to_item(&key, &location, location.version, &[])?;
        match commit::put(deps, item, Some(guard)).await {
            Ok(()) => return Ok((location, previous.is_none())),
            Err(StoreError::ConditionFailed) if req.version.is_none() => continue,
            Err(StoreError::ConditionFailed) => break,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OmsError::Conflict(format!(
        "location {id} was changed by another request; get it again and resend with its Version"
    )))
}

/// One location's stock of one item.
#[derive(Debug, Clone, PartialEq)]
pub struct StockRow {
    pub location_id: LocationId,
    pub item_id: ItemId,
    /// Which shard of the item's stock at the location (0 for an unsharded item's one row).
    pub shard: u32,
    pub level: StockLevel,
    pub version: u64,
    pub updated_timestamp: Option<String>,
    /// When reservations last changed `reserved` (absent on rows never reserved since it was kept).
    pub reserved_at: Option<DateTime<Utc>>,
}

impl StockRow {
    pub fn from_item(item: &Item) -> OmsResult<StockRow> {
        let text = |name: &str| item.get(name).and_then(Value::as_str).unwrap_or_default().to_owned();
        let int = |name: &str| item.get(name).and_then(Value::as_i64).unwrap_or(0);
        Ok(StockRow {
            location_id: LocationId::parse(&text("LocationId"))?,
            item_id: ItemId::parse(&text("ItemId"))?,
            shard: item.get(stock::SHARD).and_then(Value::as_u64).and_then(|s| u32::try_from(s).ok()).unwrap_or(0),
            level: StockLevel { on_hand: int("onHand"), reserved: int("reserved"), safety_stock: int("safetyStock") },
            version: entity::version_of(item),
            updated_timestamp: item.get("UpdatedTimestamp").and_then(Value::as_str).map(str::to_owned),
            reserved_at: item
                .get(RESERVED_AT)
                .and_then(Value::as_str)
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| t.with_timezone(&Utc)),
        })
    }

    /// The item that stores this row at `version`, with `available` kept in step.
    pub(crate) fn to_item(&self, tenant: &TenantId, version: u64, now: DateTime<Utc>) -> Item {
        let key = keys::stock_shard(tenant, &self.item_id, &self.location_id, self.shard);
        let mut item = Item::new();
        item.insert("PK".into(), key.pk.into());
        item.insert("SK".into(), key.sk.into());
        item.insert("LocationId".into(), self.location_id.as_str().into());
        item.insert("ItemId".into(), self.item_id.as_str().into());
        item.insert("onHand".into(), json!(self.level.on_hand));
        item.insert("reserved".into(), json!(self.level.reserved));
        item.insert("safetyStock".into(), json!(self.level.safety_stock));
        item.insert("available".into(), json!(self.level.raw_available()));
        item.insert(stock::SHARD.into(), json!(self.shard));
        item.insert(entity::VERSION.into(), json!(version));
        item.insert("UpdatedTimestamp".into(), keys::timestamp(now).into());
        if let Some(at) = self.reserved_at {
            item.insert(RESERVED_AT.into(), keys::timestamp(at).into());
        }
        let (location, item_id, shard) = (&self.location_id, &self.item_id, self.shard);
        let listing = entity::index_entry(
            Index::Gsi3,
            keys::stock_rows_partition(tenant, item_id, location, shard),
            keys::stock_rows_sort(item_id, location, shard),
        );
        item.extend(listing.map(|(name, value)| (name.to_owned(), value)));
        item
    }

    pub fn to_response(&self) -> StockRowResponse {
        StockRowResponse {
            location_id: self.location_id.clone(),
            item_id: self.item_id.clone(),
            on_hand: self.level.on_hand,
            reserved: self.level.reserved,
            safety_stock: self.level.safety_stock,
            available: self.level.available(),
            shortfall: self.level.shortfall(),
            updated_timestamp: self.updated_timestamp.clone(),
        }
    }
}

/// One location's stock of one item, as supply and availability return it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct StockRowResponse {
    pub location_id: LocationId,
    pub item_id: ItemId,
    pub on_hand: i64,
    pub reserved: i64,
    pub safety_stock: i64,
    /// Units that can still be promised: `max(0, OnHand - Reserved - SafetyStock)`.
    pub available: i64,
    /// Units promised but not there: `max(0, Reserved - OnHand)`.
    pub shortfall: i64,
    /// RFC 3339.
    pub updated_timestamp: Option<String>,
}

/// Applies a supply request atomically: every row or none. Unknown locations are refused. A
/// sharded item's row is the sum of its shards: the line applies to the sum (so Adjust below
/// the reservations of all shards is refused), and the result is spread over the shards again.
#[tracing::instrument(skip_all)]
pub async fn apply_supply(deps: &Deps, tenant: &TenantId, req: &SupplyRequest) -> OmsResult<Vec<StockRow>> {
    let lines: Vec<SupplyLine> = req.parse()?;
    check_locations_exist(deps, tenant, &lines).await?;
    let items: BTreeSet<ItemId> = lines.iter().map(|l| l.item_id.clone()).collect();
    for attempt in 0..WRITE_ATTEMPTS {
        let settings = stock::shard_settings(deps, tenant, &items).await?;
        let count = |item: &ItemId| settings.get(item).copied().unwrap_or_default().count;
        let keys: Vec<Key> = lines
            .iter()
            .flat_map(|l| count(&l.item_id).shards().map(|k| keys::stock_shard(tenant, &l.item_id, &l.location_id, k)))
            .collect();
        let stored: HashMap<Key, StockRow> = deps
            .store
            .batch_get(&keys)
            .await?
            .iter()
            .map(|item| {
                let row = StockRow::from_item(item)?;
                Ok((keys::stock_shard(tenant, &row.item_id, &row.location_id, row.shard), row))
            })
            .collect::<OmsResult<_>>()?;
        let now = deps.clock.now();
        let mut rows = Vec::with_capacity(lines.len());
        let mut writes = Vec::with_capacity(keys.len());
        for line in &lines {
            let n = count(&line.item_id);
            let previous: Vec<Option<&StockRow>> = n
                .shards()
                .map(|k| stored.get(&keys::stock_shard(tenant, &line.item_id, &line.location_id, k)))
                .collect();
            let before: Vec<StockRow> = previous.iter().flatten().map(|row| (*row).clone()).collect();
            let total = stock::total(&before).apply(line)?;
            let reserved: Vec<i64> = previous.iter().map(|p| p.map_or(0, |row| row.level.reserved)).collect();
            let levels =
                if n == ShardCount::ONE { vec![total] } else { spread(&reserved, total.on_hand, total.safety_stock) };
            let mut shards = Vec::with_capacity(levels.len());
            for ((shard, level), previous) in n.shards().zip(levels).zip(&previous) {
                let version = previous.map_or(0, |p| p.version);
                let row = StockRow {
                    location_id: line.location_id.clone(),
                    item_id: line.item_id.clone(),
                    shard,
                    level,
                    version: version + 1,
                    updated_timestamp: Some(keys::timestamp(now)),
                    // Supply never changes `reserved`, so the time it last changed carries over.
                    reserved_at: previous.and_then(|p| p.reserved_at),
                };
                let guard = if previous.is_some() { Condition::version_is(version) } else { Condition::NotExists };
                writes.push(WriteOp::Put { item: row.to_item(tenant, version + 1, now), condition: Some(guard) });
                shards.push(row);
            }
            rows.extend(stock::by_location(shards));
        }
        // A sharded item's rows are written for the shard count read: a change of it fails this.
        for item in &items {
            if let Some(setting) = settings.get(item).filter(|s| s.version.is_some()) {
                writes.push(setting.check(tenant, item));
            }
        }
        if writes.len() > commit::capacity() {
            return Err(OmsError::validation(
                "Supply",
                format!(
                    "these rows are kept in {} stock shard rows, more than the {} one request can write; send fewer rows per request",
                    writes.len(),
                    commit::capacity()
                ),
            ));
        }
        match commit::transact(deps, writes).await {
            Ok(()) => return Ok(rows),
            // A reservation or another supply changed a row since it was read: read again.
            Err(StoreError::TransactionCanceled { .. } | StoreError::TransactionConflict) => {
                super::backoff(attempt).await
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(OmsError::Conflict("stock changed on every attempt to apply this supply; retry".into()))
}

async fn check_locations_exist(deps: &Deps, tenant: &TenantId, lines: &[SupplyLine]) -> OmsResult<()> {
    let mut wanted: Vec<Key> = lines.iter().map(|l| keys::location(tenant, &l.location_id)).collect();
    wanted.sort();
    wanted.dedup();
    let found: Vec<Key> = deps.store.batch_get(&wanted).await?.iter().filter_map(Key::of).collect();
    for (index, line) in lines.iter().enumerate() {
        if !found.contains(&keys::location(tenant, &line.location_id)) {
            return Err(OmsError::validation(
                format!("Supply[{index}].LocationId"),
                format!(
                    "location {} does not exist; create it with PUT /inventory/api/location/{}",
                    line.location_id, line.location_id
                ),
            ));
        }
    }
    Ok(())
}

/// Stock of an item at every location that has a row for it, in location id order.
/// A sharded item's row at a location is the sum of its shards.
pub async fn availability(deps: &Deps, tenant: &TenantId, item: &str) -> OmsResult<(ItemId, Vec<StockRow>)> {
    let item = ItemId::parse_at("ItemId", item)?;
    let (_, rows) = stock::item_shards(deps, tenant, &item, stock::Read::Consistent).await?;
    Ok((item, stock::by_location(rows)))
}
