//! A generated backlog of open orders for trying mass allocation at scale (`oms-local backlog`,
//! the mass allocate bench and its crash test): locations across the US, items stocked at a
//! fifth of them, and orders of 1 to 3 lines. Deterministic: the same spec gives the same data.
//!
//! Locations and stock go through the inventory services; the orders are imported as they
//! would be from another system (`IsImport`), written in batches of one transaction each,
//! without change-tracker records, so a backlog of 100,000 loads in seconds.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::deps::Deps;
use crate::domain::caller::Caller;
use crate::domain::ids::{TenantId, UserId};
use crate::domain::inventory::SupplyRequest;
use crate::domain::location::UpsertLocationRequest;
use crate::domain::order::{Order, SaveOrderRequest};
use crate::error::{OmsError, OmsResult};
use crate::ports::{Condition, MAX_TRANSACTION_ITEMS, StoreError, WriteOp};
use crate::service::{inventory, orders};

/// What to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BacklogSpec {
    pub tenant: TenantId,
    pub orders: usize,
    pub locations: usize,
    pub items: usize,
    /// Order ids are `<prefix><n>` (zero-padded to 6 digits).
    pub prefix: String,
    /// Stock as a percentage of the demand of each item (100: every unit can be allocated,
    /// if it sits at the right locations).
    pub stock_percent: u32,
}

/// What was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacklogReport {
    pub orders: usize,
    pub units: u64,
    pub stock_rows: usize,
}

/// A small, stable pseudo-random number from `n` and `salt` (splitmix64).
fn mix(n: u64, salt: u64) -> u64 {
    let mut z = n.wrapping_mul(0x9E37_79B9_7F4A_7C15).wrapping_add(salt);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A point in the contiguous US for `n`.
fn point(n: u64, salt: u64) -> (f64, f64) {
    let lat = 26.0 + (mix(n, salt) % 2200) as f64 / 100.0;
    let lon = -122.0 + (mix(n, salt + 1) % 5200) as f64 / 100.0;
    (lat, lon)
}

fn location_id(l: usize) -> String {
    format!("BL-{l:03}")
}

fn item_id(i: usize) -> String {
    format!("BSKU-{i:04}")
}

/// The order `n`: 1 to 3 lines of 1 or 2 units of distinct items, shipped to a US address.
pub fn order_body(spec: &BacklogSpec, n: usize) -> Value {
    let (lat, lon) = point(n as u64, 7);
    let count = 1 + (mix(n as u64, 11) % 3) as usize;
    let first = (mix(n as u64, 13) % spec.items as u64) as usize;
    let lines: Vec<Value> = (0..count)
        .map(|l| {
            let item = (first + l * (1 + spec.items / 3)) % spec.items;
            json!({"OrderLineId": (l + 1).to_string(), "ItemId": item_id(item), "Quantity": 1 + mix(n as u64, 17 + l as u64) % 2,
                "UnitPrice": 9.99, "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
                "ShipToAddress": {"Address": {"FirstName": "Backlog", "LastName": format!("Customer {n}"),
                    "Address1": format!("{} Main St", 1 + n % 999), "City": "Springfield", "Country": "US",
                    "Latitude": lat, "Longitude": lon}}})
        })
        .collect();
    json!({"OrderId": format!("{}{n:06}", spec.prefix), "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true,
        "IsImport": true, "OrderLine": lines})
}

fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> OmsResult<T> {
    serde_json::from_value(value).map_err(|e| OmsError::Internal(e.into()))
}

/// Writes the backlog: its locations, stock added for its demand, and its orders. Orders that
/// exist already are left as they are.
pub async fn load(deps: &Deps, spec: &BacklogSpec) -> OmsResult<BacklogReport> {
    if spec.items == 0 || spec.locations == 0 {
        return Err(OmsError::validation("items", "a backlog needs at least one item and one location"));
    }
    let caller = Caller::for_job(spec.tenant.clone(), UserId::parse("backlog-loader")?);
    for l in 0..spec.locations {
        let (lat, lon) = point(l as u64, 3);
        let req: UpsertLocationRequest = from_json(json!({"Name": format!("Backlog DC {l}"), "Type": "DC",
            "Latitude": lat, "Longitude": lon, "Priority": 10 + (l % 5) * 10, "Active": true}))?;
        inventory::upsert_location(deps, &spec.tenant, &location_id(l), &req).await?;
    }
    let bodies: Vec<Value> = (0..spec.orders).map(|n| order_body(spec, n)).collect();
    let mut demand: BTreeMap<String, u64> = BTreeMap::new();
    for body in &bodies {
        for line in body["OrderLine"].as_array().into_iter().flatten() {
            *demand.entry(line["ItemId"].as_str().unwrap_or_default().to_owned()).or_default() +=
                line["Quantity"].as_u64().unwrap_or(0);
        }
    }
    // Each item at a fifth of the locations (at least one), its stock shared among them.
    let per_item = spec.locations.div_ceil(5);
    let mut rows = Vec::new();
    for i in 0..spec.items {
        let wanted = demand.get(&item_id(i)).copied().unwrap_or(0) * u64::from(spec.stock_percent) / 100;
        let start = (mix(i as u64, 5) % spec.locations as u64) as usize;
        for k in 0..per_item {
            let share = wanted / per_item as u64 + u64::from((k as u64) < wanted % per_item as u64);
            if share == 0 {
                continue;
            }
            let location = location_id((start + k * 5 + k / spec.locations) % spec.locations);
            rows.push(json!({"LocationId": location, "ItemId": item_id(i), "Quantity": share}));
        }
    }
    for batch in rows.chunks(100) {
        // Adjust: a second backlog adds its stock to the first one's.
        let req: SupplyRequest = from_json(json!({"Mode": "Adjust", "Supply": batch}))?;
        inventory::apply_supply(deps, &spec.tenant, &req).await?;
    }
    let now = deps.clock.now();
    let mut units = 0;
    let mut writes = Vec::with_capacity(MAX_TRANSACTION_ITEMS);
    for body in bodies {
        let req: SaveOrderRequest = from_json(body)?;
        let order = Order::from_draft(req.parse()?, &spec.tenant, &caller.user, now, None)?;
        units += order.lines.iter().map(|l| u64::from(l.quantity)).sum::<u64>();
        writes.push(WriteOp::Put {
            item: orders::order_item(&spec.tenant, &order)?,
            condition: Some(Condition::NotExists),
        });
        if writes.len() == MAX_TRANSACTION_ITEMS {
            write_batch(deps, std::mem::take(&mut writes)).await?;
        }
    }
    write_batch(deps, writes).await?;
    Ok(BacklogReport { orders: spec.orders, units, stock_rows: rows.len() })
}

/// One batch of order puts; when some exist already (a backlog loaded twice), each alone.
async fn write_batch(deps: &Deps, writes: Vec<WriteOp>) -> OmsResult<()> {
    if writes.is_empty() {
        return Ok(());
    }
    match deps.store.transact(writes.clone()).await {
        Ok(()) => Ok(()),
        Err(StoreError::TransactionCanceled { .. }) => {
            for write in writes {
                if let WriteOp::Put { item, condition } = write {
                    match deps.store.put(item, condition).await {
                        Ok(()) | Err(StoreError::ConditionFailed) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}
