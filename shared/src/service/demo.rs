//! Demo data for the local server: tenant `demo` with DCs and stores that have coordinates,
//! stock, and a few orders, loaded once through the same services as the API.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::catalog::permission;
use crate::deps::Deps;
use crate::domain::caller::Caller;
use crate::domain::ids::{TenantId, UserId};
use crate::domain::inventory::SupplyRequest;
use crate::domain::location::UpsertLocationRequest;
use crate::domain::order::SaveOrderRequest;
use crate::error::OmsError;
use crate::keys;
use crate::ports::{Condition, Item, StoreError};
use crate::service::{inventory, orders};

pub const TENANT: &str = "demo";

/// (id, name, type, latitude, longitude, priority)
const LOCATIONS: &[(&str, &str, &str, f64, f64, u32)] = &[
    ("DC-ATL", "Atlanta DC", "DC", 33.6407, -84.4277, 10),
    ("DC-DFW", "Dallas DC", "DC", 32.8998, -97.0403, 20),
    ("DC-EWR", "Newark DC", "DC", 40.6895, -74.1745, 10),
    ("DC-ONT", "Ontario (CA) DC", "DC", 34.0633, -117.6509, 30),
    ("ST-ATL-MIDTOWN", "Midtown Atlanta store", "Store", 33.7838, -84.3830, 50),
    ("ST-NYC-SOHO", "SoHo store", "Store", 40.7233, -74.0030, 50),
    ("ST-CHI-LOOP", "Chicago Loop store", "Store", 41.8837, -87.6324, 50),
];

/// (location, item, on hand, safety stock). SKU-2 is short on purpose: O-1002 wants 12 and
/// only 10 can be promised, so the walkthrough shows a partial allocation and its explanation.
const STOCK: &[(&str, &str, i64, u32)] = &[
    ("DC-ATL", "SKU-1", 40, 2),
    ("DC-DFW", "SKU-1", 25, 0),
    ("DC-EWR", "SKU-1", 10, 0),
    ("DC-ATL", "SKU-2", 3, 0),
    ("DC-EWR", "SKU-2", 8, 1),
    ("DC-DFW", "SKU-3", 12, 0),
    ("ST-NYC-SOHO", "SKU-3", 4, 1),
    ("ST-ATL-MIDTOWN", "SKU-4", 6, 0),
    ("ST-CHI-LOOP", "SKU-4", 2, 0),
    ("DC-ONT", "SKU-5", 100, 10),
];

fn system_caller() -> Result<Caller, OmsError> {
    Ok(Caller {
        tenant: TenantId::parse(TENANT)?,
        user: UserId::parse("demo-loader")?,
        permissions: permission::ALL.iter().map(|(p, _)| (*p).to_owned()).collect::<BTreeSet<_>>(),
    })
}

fn address(street: &str, city: &str, state: &str, zip: &str, lat: f64, lon: f64) -> Value {
    json!({"Address": {"FirstName": "Demo", "LastName": "Customer", "Email": "demo.customer@example.com",
        "Phone": "+1 555 0100", "PhoneType": "Mobile", "Address1": street, "City": city, "State": state,
        "PostalCode": zip, "Country": "US", "Latitude": lat, "Longitude": lon}})
}

fn orders() -> Vec<Value> {
    vec![
        json!({"OrderId": "O-1001", "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": false, "OrderLine": [
            {"OrderLineId": "1", "ItemId": "SKU-1", "Quantity": 2, "UnitPrice": 19.99, "ItemDescription": "Trail mug", "UOM": "EACH",
             "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
             "ShipToAddress": address("1 Main St", "Atlanta", "GA", "30303", 33.749, -84.388)}],
            "Payment": [{"PaymentMethod": [{"PaymentMethodId": "PM-1", "Amount": 39.98, "CurrentAuthAmount": 39.98}]}]}),
        json!({"OrderId": "O-1002", "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": false, "OrderLine": [
            {"OrderLineId": "1", "ItemId": "SKU-2", "Quantity": 12, "UnitPrice": 5.5,
             "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
             "ShipToAddress": address("350 5th Ave", "New York", "NY", "10118", 40.7484, -73.9857)},
            {"OrderLineId": "2", "ItemId": "SKU-3", "Quantity": 1, "UnitPrice": 42.0,
             "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
             "ShipToAddress": address("350 5th Ave", "New York", "NY", "10118", 40.7484, -73.9857)}]}),
        json!({"OrderId": "O-1003", "OrderType": {"OrderTypeId": "Store"}, "IsConfirmed": false,
            "PickupPerson": [{"FirstName": "Demo", "LastName": "Customer", "Email": "demo.customer@example.com"},
                {"FirstName": "Alex", "LastName": "Friend", "Phone": "+1 555 0101", "PhoneType": "Mobile"}],
            "OrderLine": [
            {"OrderLineId": "1", "ItemId": "SKU-4", "Quantity": 1, "UnitPrice": 12.0,
             "DeliveryMethod": {"DeliveryMethodId": "PickUpAtStore"}, "PickupLocationId": "ST-CHI-LOOP"}]}),
    ]
}

/// Loads the demo tenant unless it was loaded before; true when it loaded it now.
pub async fn load(deps: &Deps) -> Result<bool, OmsError> {
    let caller = system_caller()?;
    let marker = keys::demo_marker(&caller.tenant);
    if deps.store.get(&marker).await?.is_some() {
        return Ok(false);
    }
    for (id, name, kind, lat, lon, priority) in LOCATIONS {
        let req: UpsertLocationRequest = serde_json::from_value(json!({
            "Name": name, "Type": kind, "Latitude": lat, "Longitude": lon, "Priority": priority, "Active": true}))
        .map_err(|e| OmsError::Internal(e.into()))?;
        if inventory::load_location(deps, &caller.tenant, &crate::domain::ids::LocationId::parse(id)?).await?.is_none()
        {
            inventory::upsert_location(deps, &caller.tenant, id, &req).await?;
        }
    }
    let rows: Vec<Value> = STOCK
        .iter()
        .map(|(loc, item, qty, safety)| json!({"LocationId": loc, "ItemId": item, "Quantity": qty, "SafetyStock": safety}))
        .collect();
    let supply: SupplyRequest =
        serde_json::from_value(json!({"Mode": "Sync", "Supply": rows})).map_err(|e| OmsError::Internal(e.into()))?;
    inventory::apply_supply(deps, &caller.tenant, &supply).await?;
    for order in orders() {
        let req: SaveOrderRequest = serde_json::from_value(order).map_err(|e| OmsError::Internal(e.into()))?;
        orders::save_order(deps, &caller, &req).await?;
    }
    let mut item = Item::new();
    item.insert("PK".into(), marker.pk.into());
    item.insert("SK".into(), marker.sk.into());
    match deps.store.put(item, Some(Condition::NotExists)).await {
        Ok(()) | Err(StoreError::ConditionFailed) => Ok(true),
        Err(e) => Err(e.into()),
    }
}
