//! Locations, supply (absolute sync and relative adjust) and availability.
//!
//! A stock row keeps `onHand`, `reserved`, `safetyStock` and `available` = onHand - reserved -
//! safetyStock (may be negative after a count below reservations). Reservations change
//! `reserved`/`available` with one guarded atomic update (`available >= q`); supply changes are
//! version-guarded writes that retry when a reservation slipped in between.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::deps::Deps;
use crate::domain::ids::{ItemId, LocationId, TenantId};
use crate::domain::inventory::{StockLevel, SupplyLine, SupplyRequest};
use crate::domain::location::{Location, UpsertLocationRequest};
use crate::error::{OmsError, OmsResult};
use crate::keys;
use crate::ports::{Condition, Item, Key, Query, StoreError, WriteOp};
use crate::service::commit;
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
    fn to_item(&self, tenant: &TenantId, version: u64, now: DateTime<Utc>) -> Item {
        let key = keys::stock(tenant, &self.item_id, &self.location_id);
        let mut item = Item::new();
        item.insert("PK".into(), key.pk.into());
        item.insert("SK".into(), key.sk.into());
        item.insert("LocationId".into(), self.location_id.as_str().into());
        item.insert("ItemId".into(), self.item_id.as_str().into());
        item.insert("onHand".into(), json!(self.level.on_hand));
        item.insert("reserved".into(), json!(self.level.reserved));
        item.insert("safetyStock".into(), json!(self.level.safety_stock));
        item.insert("available".into(), json!(self.level.on_hand - self.level.reserved - self.level.safety_stock));
        item.insert(entity::VERSION.into(), json!(version));
        item.insert("UpdatedTimestamp".into(), keys::timestamp(now).into());
        if let Some(at) = self.reserved_at {
            item.insert(RESERVED_AT.into(), keys::timestamp(at).into());
        }
        item.insert("GSI2PK".into(), keys::stock_rows(tenant).into());
        item.insert("GSI2SK".into(), format!("{}#{}", self.item_id, self.location_id).into());
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

/// Applies a supply request atomically: every row or none. Unknown locations are refused.
#[tracing::instrument(skip_all)]
pub async fn apply_supply(deps: &Deps, tenant: &TenantId, req: &SupplyRequest) -> OmsResult<Vec<StockRow>> {
    let lines: Vec<SupplyLine> = req.parse()?;
    check_locations_exist(deps, tenant, &lines).await?;
    let keys: Vec<Key> = lines.iter().map(|l| keys::stock(tenant, &l.item_id, &l.location_id)).collect();
    for attempt in 0..WRITE_ATTEMPTS {
        let stored: HashMap<Key, StockRow> = deps
            .store
            .batch_get(&keys)
            .await?
            .iter()
            .map(|item| {
                let row = StockRow::from_item(item)?;
                Ok((keys::stock(tenant, &row.item_id, &row.location_id), row))
            })
            .collect::<OmsResult<_>>()?;
        let now = deps.clock.now();
        let mut rows = Vec::with_capacity(lines.len());
        let mut writes = Vec::with_capacity(lines.len());
        for (line, key) in lines.iter().zip(&keys) {
            let previous = stored.get(key);
            let level = previous.map(|p| p.level).unwrap_or_default().apply(line)?;
            let version = previous.map_or(0, |p| p.version);
            let row = StockRow {
                location_id: line.location_id.clone(),
                item_id: line.item_id.clone(),
                level,
                version: version + 1,
                updated_timestamp: Some(keys::timestamp(now)),
                // Supply never changes `reserved`, so the time it last changed carries over.
                reserved_at: previous.and_then(|p| p.reserved_at),
            };
            let guard = if previous.is_some() { Condition::version_is(version) } else { Condition::NotExists };
            writes.push(WriteOp::Put { item: row.to_item(tenant, version + 1, now), condition: Some(guard) });
            rows.push(row);
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
pub async fn availability(deps: &Deps, tenant: &TenantId, item: &str) -> OmsResult<(ItemId, Vec<StockRow>)> {
    let item = ItemId::parse_at("ItemId", item)?;
    let items = store::query_all(deps.store.as_ref(), Query::partition(keys::stock_partition(tenant, &item))).await?;
    let rows = items.iter().map(StockRow::from_item).collect::<OmsResult<_>>()?;
    Ok((item, rows))
}
