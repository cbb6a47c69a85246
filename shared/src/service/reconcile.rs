//! Reconciliation: recomputes every stock row's `reserved` from the live allocations, reports
//! the rows that differ and, on request, repairs them. It also lists the rows that reserve more
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
use crate::ports::{Condition, Index, Query, StoreError, Update};
use crate::service::allocation::{journal, read_allocation};
use crate::service::inventory::StockRow;
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
    let rows =
        store::query_all(deps.store.as_ref(), Query::partition(keys::stock_rows(tenant)).on(Index::Gsi2)).await?;
    let rows: Vec<StockRow> = rows.iter().map(StockRow::from_item).collect::<OmsResult<_>>()?;
    let docs =
        store::query_all(deps.store.as_ref(), Query::partition(keys::allocations_by_update(tenant)).on(Index::Gsi1))
            .await?;
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
        if row.level.reserved == want || moving.contains(&key) {
            continue;
        }
        let mut drift = Drift {
            location_id: row.location_id.clone(),
            item_id: row.item_id.clone(),
            reserved: row.level.reserved,
            expected: want,
            drift: row.level.reserved - want,
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

/// Sets `reserved` of the row the index showed as `seen` to the units of `held`, once the
/// table confirms the drift: the row still reserves what the index showed, its reservations
/// settled before the indexes were read, and every allocation counted is still live with the
/// same units. `Ok(Err(reason))` when the drift is not confirmed and nothing was written.
async fn repair_row(
    deps: &Deps,
    tenant: &TenantId,
    seen: &StockRow,
    held: &[(AllocationId, i64)],
    indexes_read_at: DateTime<Utc>,
) -> OmsResult<Result<(), String>> {
    let key = keys::stock(tenant, &seen.item_id, &seen.location_id);
    let Some(item) = deps.store.get(&key).await? else {
        return Ok(Err("the stock row no longer exists".into()));
    };
    let row = StockRow::from_item(&item)?;
    if row.level.reserved != seen.level.reserved {
        return Ok(Err(format!(
            "the stock row reserves {}, not the {} the index showed; run again",
            row.level.reserved, seen.level.reserved
        )));
    }
    if let Some(at) = row.reserved_at
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
            doc.status_code.is_live() && doc.location_num == row.location_id && units_of(doc, &row.item_id) == *units
        });
        if !confirmed {
            return Ok(Err(format!("allocation {id} is not as the index showed it; run again")));
        }
    }
    let drift = row.level.reserved - held.iter().map(|(_, units)| units).sum::<i64>();
    let fix = Update::new().add("reserved", -drift).add("available", drift).add(entity::VERSION, 1);
    // Guarded by the version read, so a reservation made since is never overwritten.
    match deps.store.update(&key, fix, Some(Condition::version_is(row.version))).await {
        Ok(_) => Ok(Ok(())),
        Err(StoreError::ConditionFailed) => Ok(Err("the stock row changed during the repair; run again".into())),
        Err(e) => Err(e.into()),
    }
}
