//! Reconciliation: recomputes every stock row's `reserved` from the live allocations, reports
//! the rows that differ and, on request, repairs them. A sharded item's row at a location is
//! the sum of its shards: the sum must equal what the allocations hold and no shard may reserve
//! fewer than zero units; a repair sets the shards right together, in one transaction. It also lists the rows that reserve more
//! than is on hand (a count came in short) with the allocations that hold those units.
//!
//! The stock rows and the allocations are found through global secondary indexes, which are
//! eventually consistent: an index can miss an allocation that is already committed, or show
//! a row or an allocation as it was. So a drift seen in the indexes is only a suspicion. A
//! repair confirms it with consistent reads of the table first, and touches a row only when
//! its reservations last changed before the settle window, so that every allocation behind
//! them was visible in the index when reconciliation read it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::deps::Deps;
use crate::domain::allocation::{Allocation, AllocationId};
use crate::domain::ids::{ItemId, LocationId, TenantId};
use crate::error::OmsResult;
use crate::keys;
use crate::ports::{Condition, Index, Item, Key, Query, StoreError, Update, WriteOp};
use crate::service::allocation::{all_allocation_items, journal, read_allocation};
use crate::service::inventory::StockRow;
use crate::service::stock;
use crate::store::{self, entity};

/// How long an allocation may take, once committed, to be visible in the allocation index.
/// A row whose reservations changed more recently than this before the indexes were read is
/// not repaired: the allocation that changed it may be missing from what was read.
pub const SETTLE_WINDOW: TimeDelta = TimeDelta::seconds(60);

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub location_id: LocationId,
    pub item_id: ItemId,
    pub reserved: i64,
    pub expected: i64,
    pub drift: i64,
    /// Shards that reserve fewer than zero units (a sharded item's), even when the sum is right.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub negative_shards: Vec<u32>,
    pub repaired: bool,
    /// Why a repair was asked for and not made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// A stock row that reserves more units than are on hand, after a count (Sync) found fewer.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Shortage {
    pub location_id: LocationId,
    pub item_id: ItemId,
    pub on_hand: i64,
    pub reserved: i64,
    pub shortfall: i64,
    /// Every live allocation holding the item at the location, newest first: reallocating or
    /// cancelling from the front until the shortfall is covered undoes the latest promises first.
    pub allocation_ids: Vec<AllocationId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    pub stock_rows_checked: usize,
    pub live_allocations: usize,
    pub drift: Vec<Drift>,
    pub repaired: usize,
    pub shortages: Vec<Shortage>,
}

/// The live allocations (as the index showed them) that hold units of one stock row.
type Holders = BTreeMap<(LocationId, ItemId), Vec<(AllocationId, i64)>>;

/// Units of `item` that `doc` holds.
fn units_of(doc: &Allocation, item: &ItemId) -> i64 {
    doc.units_by_item().get(item).map_or(0, |u| i64::try_from(*u).unwrap_or(i64::MAX))
}

/// Every stock row of the tenant, read whole: those the keys-only listing (GSI3) names, and
/// those still listed where they were before (GSI2), not written since.
async fn stock_row_items(deps: &Deps, tenant: &TenantId) -> OmsResult<Vec<Item>> {
    let listings = keys::stock_rows_partitions(tenant)
        .map(|p| Query::partition(p).on(Index::Gsi3))
        .chain(keys::legacy_stock_rows_partitions(tenant).map(|p| Query::partition(p).on(Index::Gsi2)));
    Ok(store::read_listed(deps.store.as_ref(), listings).await?)
}

/// Recomputes every stock row's `reserved` from the live allocations and reports the rows
/// that differ; with `repair`, sets right those whose drift consistent reads confirm.
#[tracing::instrument(skip_all)]
pub async fn reconcile(deps: &Deps, tenant: &TenantId, repair: bool) -> OmsResult<ReconcileReport> {
    // Changes too large for one transaction move stock in steps: with repair, those whose
    // request died are driven to their end first; rows the others touch are mid-change.
    let running = journal::in_flight(deps, tenant, repair).await?;
    let moving: BTreeSet<(LocationId, ItemId)> =
        running.iter().flat_map(|j| j.moves.iter().map(|m| (m.location_id.clone(), m.item_id.clone()))).collect();
    // Taken before the index reads: only changes settled by then are sure to be in them.
    let indexes_read_at = deps.clock.now();
    let mut shards_of: BTreeMap<(LocationId, ItemId), Vec<StockRow>> = BTreeMap::new();
    for item in stock_row_items(deps, tenant).await? {
        let row = StockRow::from_item(&item)?;
        shards_of.entry((row.location_id.clone(), row.item_id.clone())).or_default().push(row);
    }
    // One row per (location, item): the shards summed.
    let rows: Vec<StockRow> = shards_of.values().flat_map(|shards| stock::by_location(shards.clone())).collect();
    let docs = all_allocation_items(deps, tenant).await?;
    let live: Vec<Allocation> = docs
        .into_iter()
        .map(read_allocation)
        .collect::<OmsResult<Vec<_>>>()?
        .into_iter()
        .filter(|a| a.status_code.is_live())
        .collect();
    let mut holders = Holders::new();
    for doc in &live {
        for (item, units) in doc.units_by_item() {
            holders
                .entry((doc.location_num.clone(), item))
                .or_default()
                .push((doc.allocation_id.clone(), i64::try_from(units).unwrap_or(i64::MAX)));
        }
    }
    let mut report = ReconcileReport {
        stock_rows_checked: rows.len(),
        live_allocations: live.len(),
        drift: Vec::new(),
        repaired: 0,
        shortages: shortages(&rows, &live),
    };
    for row in &rows {
        let key = (row.location_id.clone(), row.item_id.clone());
        let held = holders.remove(&key).unwrap_or_default();
        let want: i64 = held.iter().map(|(_, units)| units).sum();
        let shards = shards_of.get(&key).map(Vec::as_slice).unwrap_or_default();
        let mut negative_shards: Vec<u32> = shards.iter().filter(|s| s.level.reserved < 0).map(|s| s.shard).collect();
        negative_shards.sort_unstable();
        if (row.level.reserved == want && negative_shards.is_empty()) || moving.contains(&key) {
            continue;
        }
        let mut drift = Drift {
            location_id: row.location_id.clone(),
            item_id: row.item_id.clone(),
            reserved: row.level.reserved,
            expected: want,
            drift: row.level.reserved - want,
            negative_shards,
            repaired: false,
            reason: None,
        };
        if repair {
            match repair_row(deps, tenant, row, &held, indexes_read_at).await? {
                Ok(()) => {
                    drift.repaired = true;
                    report.repaired += 1;
                }
                Err(reason) => {
                    tracing::info!(location = %row.location_id, item = %row.item_id, %reason, "drift not repaired");
                    drift.reason = Some(reason);
                }
            }
        }
        report.drift.push(drift);
    }
    for ((location, item), held) in holders {
        let want: i64 = held.iter().map(|(_, units)| units).sum();
        if want != 0 && !moving.contains(&(location.clone(), item.clone())) {
            report.drift.push(Drift {
                location_id: location,
                item_id: item,
                reserved: 0,
                expected: want,
                drift: -want,
                negative_shards: Vec::new(),
                repaired: false,
                reason: repair.then(|| "no stock row to repair".to_owned()),
            });
        }
    }
    Ok(report)
}

/// The rows that reserve more than they hold, each with the live allocations holding its units.
fn shortages(rows: &[StockRow], live: &[Allocation]) -> Vec<Shortage> {
    rows.iter()
        .filter(|row| row.level.shortfall() > 0)
        .map(|row| {
            let mut holding: Vec<&Allocation> = live
                .iter()
                .filter(|doc| doc.location_num == row.location_id && units_of(doc, &row.item_id) > 0)
                .collect();
            holding.sort_by(|a, b| (b.allocation_date, &b.allocation_id).cmp(&(a.allocation_date, &a.allocation_id)));
            Shortage {
                location_id: row.location_id.clone(),
                item_id: row.item_id.clone(),
                on_hand: row.level.on_hand,
                reserved: row.level.reserved,
                shortfall: row.level.shortfall(),
                allocation_ids: holding.into_iter().map(|doc| doc.allocation_id.clone()).collect(),
            }
        })
        .collect()
}

/// Sets `reserved` of the row the index showed as `seen` (the sum of its shards) to the units
/// of `held`, once the table confirms the drift: the shards still reserve what the index showed
/// in total, their reservations settled before the indexes were read, and every allocation
/// counted is still live with the same units. A shard below zero is brought to zero and the
/// difference taken from the shards that reserve most; units missing go to the shards with the
/// most available. `Ok(Err(reason))` when the drift is not confirmed and nothing was written.
async fn repair_row(
    deps: &Deps,
    tenant: &TenantId,
    seen: &StockRow,
    held: &[(AllocationId, i64)],
    indexes_read_at: DateTime<Utc>,
) -> OmsResult<Result<(), String>> {
    let items = BTreeSet::from([seen.item_id.clone()]);
    let count =
        stock::shard_settings(deps, tenant, &items).await?.get(&seen.item_id).copied().unwrap_or_default().count;
    let wanted: Vec<_> =
        count.shards().map(|k| keys::stock_shard(tenant, &seen.item_id, &seen.location_id, k)).collect();
    let mut shards: Vec<StockRow> =
        deps.store.batch_get(&wanted).await?.iter().map(StockRow::from_item).collect::<OmsResult<_>>()?;
    shards.sort_by_key(|row| row.shard);
    if shards.is_empty() {
        return Ok(Err("the stock row no longer exists".into()));
    }
    let reserved: i64 = shards.iter().map(|row| row.level.reserved).sum();
    if reserved != seen.level.reserved {
        return Ok(Err(format!(
            "the stock row reserves {reserved}, not the {} the index showed; run again",
            seen.level.reserved
        )));
    }
    if let Some(at) = shards.iter().filter_map(|row| row.reserved_at).max()
        && at > indexes_read_at - SETTLE_WINDOW
    {
        return Ok(Err(format!(
            "reservations changed at {} within the {}s settle window; an allocation may not be in the index yet",
            keys::timestamp(at),
            SETTLE_WINDOW.num_seconds()
        )));
    }
    let wanted: Vec<_> = held.iter().map(|(id, _)| keys::allocation(tenant, id)).collect();
    let mut found: HashMap<AllocationId, Allocation> = HashMap::new();
    for item in deps.store.batch_get(&wanted).await? {
        let doc = read_allocation(item)?;
        found.insert(doc.allocation_id.clone(), doc);
    }
    for (id, units) in held {
        let confirmed = found.get(id).is_some_and(|doc| {
            doc.status_code.is_live() && doc.location_num == seen.location_id && units_of(doc, &seen.item_id) == *units
        });
        if !confirmed {
            return Ok(Err(format!("allocation {id} is not as the index showed it; run again")));
        }
    }
    let want: i64 = held.iter().map(|(_, units)| units).sum();
    let target = repaired_reservations(&shards, want);
    // Each shard guarded by the version read, so a reservation made since is never overwritten.
    let mut fixes: Vec<(Key, Update, Condition)> = Vec::new();
    for (row, target) in shards.iter().zip(target) {
        let drift = row.level.reserved - target;
        if drift != 0 {
            let key = keys::stock_shard(tenant, &row.item_id, &row.location_id, row.shard);
            let fix = Update::new().add("reserved", -drift).add("available", drift).add(entity::VERSION, 1);
            fixes.push((key, fix, Condition::version_is(row.version)));
        }
    }
    let written = match fixes.len() {
        0 => Ok(()),
        1 => {
            let (key, fix, guard) = fixes.remove(0);
            deps.store.update(&key, fix, Some(guard)).await.map(|_| ())
        }
        _ => {
            let writes = fixes
                .into_iter()
                .map(|(key, update, guard)| WriteOp::Update { key, update, condition: Some(guard) })
                .collect();
            deps.store.transact(writes).await
        }
    };
    match written {
        Ok(()) => Ok(Ok(())),
        Err(StoreError::ConditionFailed | StoreError::TransactionCanceled { .. } | StoreError::TransactionConflict) => {
            Ok(Err("the stock row changed during the repair; run again".into()))
        }
        Err(e) => Err(e.into()),
    }
}

/// What each shard of `shards` (in shard order) should reserve so that they reserve `want` in
/// total and none fewer than zero, changing as few as possible.
fn repaired_reservations(shards: &[StockRow], want: i64) -> Vec<i64> {
    let mut target: Vec<i64> = shards.iter().map(|row| row.level.reserved.max(0)).collect();
    let mut left = want - target.iter().sum::<i64>();
    let mut order: Vec<usize> = (0..shards.len()).collect();
    if left < 0 {
        // Too many reserved: take them off the shards that reserve most.
        order.sort_by_key(|&i| std::cmp::Reverse(target[i]));
        for i in order {
            let take = target[i].min(-left);
            target[i] -= take;
            left += take;
        }
    } else if left > 0 {
        // Too few: add them where the most units are available, the rest to the first of those.
        order.sort_by_key(|&i| std::cmp::Reverse(shards[i].level.raw_available()));
        for &i in &order {
            let room = (shards[i].level.raw_available() - (target[i] - shards[i].level.reserved)).max(0);
            let add = room.min(left);
            target[i] += add;
            left -= add;
        }
        if let Some(&first) = order.first() {
            target[first] += left;
        }
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::inventory::StockLevel;

    fn shard(shard: u32, on_hand: i64, reserved: i64) -> StockRow {
        StockRow {
            location_id: LocationId::parse("DC").unwrap(),
            item_id: ItemId::parse("SKU").unwrap(),
            shard,
            level: StockLevel { on_hand, reserved, safety_stock: 0 },
            version: 1,
            updated_timestamp: None,
            reserved_at: None,
        }
    }

    #[test]
    fn when_shards_reserve_too_many_the_repair_should_take_them_from_the_fullest_and_none_below_zero() {
        let shards = [shard(0, 5, 4), shard(1, 5, -2), shard(2, 5, 1)];
        assert_eq!(repaired_reservations(&shards, 3), vec![2, 0, 1]);
        assert_eq!(repaired_reservations(&shards, 3).iter().sum::<i64>(), 3);
    }

    #[test]
    fn when_shards_reserve_too_few_the_repair_should_add_where_units_are_available() {
        let shards = [shard(0, 5, 5), shard(1, 5, 1), shard(2, 5, 3)];
        assert_eq!(repaired_reservations(&shards, 12), vec![5, 4, 3]);
        let past = repaired_reservations(&shards, 20);
        assert_eq!(past.iter().sum::<i64>(), 20, "drift beyond the stock is still recorded: {past:?}");
    }
}
