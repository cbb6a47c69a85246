//! Reconciliation: recomputes every stock row's `reserved` from the live allocations, reports
//! the rows that differ and, on request, repairs them.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::json;

use crate::deps::Deps;
use crate::domain::allocation::Allocation;
use crate::domain::ids::{ItemId, LocationId, TenantId};
use crate::error::OmsResult;
use crate::keys;
use crate::ports::{Condition, Index, Query, StoreError, Update};
use crate::service::allocation::read_allocation;
use crate::service::inventory::StockRow;
use crate::store::{self, entity};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Drift {
    pub location_id: LocationId,
    pub item_id: ItemId,
    pub reserved: i64,
    pub expected: i64,
    pub drift: i64,
    pub repaired: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReconcileReport {
    pub stock_rows_checked: usize,
    pub live_allocations: usize,
    pub drift: Vec<Drift>,
    pub repaired: usize,
}

/// Recomputes every stock row's `reserved` from the live allocations and reports the rows
/// that differ; with `repair`, sets them right (guarded, so a concurrent change is not lost).
#[tracing::instrument(skip_all)]
pub async fn reconcile(deps: &Deps, tenant: &TenantId, repair: bool) -> OmsResult<ReconcileReport> {
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
    let mut expected: BTreeMap<(LocationId, ItemId), i64> = BTreeMap::new();
    for doc in &live {
        for (item, units) in doc.units_by_item() {
            *expected.entry((doc.location_num.clone(), item)).or_insert(0) += i64::from(units);
        }
    }
    let mut report = ReconcileReport {
        stock_rows_checked: rows.len(),
        live_allocations: live.len(),
        drift: Vec::new(),
        repaired: 0,
    };
    let mut seen = BTreeSet::new();
    for row in &rows {
        let key = (row.location_id.clone(), row.item_id.clone());
        let want = expected.get(&key).copied().unwrap_or(0);
        seen.insert(key);
        if row.level.reserved == want {
            continue;
        }
        let mut drift = Drift {
            location_id: row.location_id.clone(),
            item_id: row.item_id.clone(),
            reserved: row.level.reserved,
            expected: want,
            drift: row.level.reserved - want,
            repaired: false,
        };
        if repair {
            let fix = Update::new().add("reserved", -drift.drift).add("available", drift.drift).add(entity::VERSION, 1);
            let guard = Condition::Equals("reserved".into(), json!(row.level.reserved));
            match deps.store.update(&keys::stock(tenant, &row.item_id, &row.location_id), fix, Some(guard)).await {
                Ok(_) => {
                    drift.repaired = true;
                    report.repaired += 1;
                }
                Err(StoreError::ConditionFailed) => tracing::info!("stock row changed during repair; run again"),
                Err(e) => return Err(e.into()),
            }
        }
        report.drift.push(drift);
    }
    for ((location, item), want) in expected {
        if want != 0 && !seen.contains(&(location.clone(), item.clone())) {
            report.drift.push(Drift {
                location_id: location,
                item_id: item,
                reserved: 0,
                expected: want,
                drift: -want,
                repaired: false,
            });
        }
    }
    Ok(report)
}
