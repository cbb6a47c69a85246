//! The allocation invariants under concurrency and under any sequence of operations, on
//! both backends: never oversell, every reserved unit belongs to one live allocation line,
//! and every order's lines add up.

mod common;

use std::collections::BTreeMap;

use axum::http::{Method, StatusCode};
use common::{TestApp, location};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const DCS: &[(&str, f64, f64)] =
    &[("DC-ATL", 33.64, -84.43), ("DC-DFW", 32.90, -97.04), ("DC-EWR", 40.69, -74.17), ("DC-ONT", 34.06, -117.65)];
const ITEMS: &[&str] = &["SKU-1", "SKU-2"];

async fn network(app: &TestApp, stock: &[(&str, &str, i64)]) {
    for (id, lat, lon) in DCS {
        assert_eq!(
            app.put(&format!("/inventory/api/location/{id}"), &location(id, "DC", *lat, *lon)).await.status,
            StatusCode::OK
        );
    }
    let rows: Vec<Value> =
        stock.iter().map(|(l, i, q)| json!({"LocationId": l, "ItemId": i, "Quantity": q, "SafetyStock": 1})).collect();
    let supply = app.post("/inventory/api/supply", &json!({"Mode": "Sync", "Supply": rows})).await;
    assert_eq!(supply.status, StatusCode::OK, "{}", supply.body);
}

fn random_order(rng: &mut StdRng, id: &str) -> Value {
    let lines: Vec<Value> = (0..rng.random_range(1..=2))
        .map(|n| {
            json!({"OrderLineId": format!("{n}"), "ItemId": ITEMS[rng.random_range(0..ITEMS.len())], "Quantity": rng.random_range(1..=3),
                "UnitPrice": 5, "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
                "ShipToAddress": {"Address": {"Address1": "1 Main St", "City": "X", "Country": "US",
                    "Latitude": rng.random_range(30.0..45.0), "Longitude": rng.random_range(-120.0..-75.0)}}})
        })
        .collect();
    json!({"OrderId": id, "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true, "OrderLine": lines})
}

/// Units an allocation item holds: allocated less shipped, scratched, moved and cancelled.
fn held_units(item: &Value) -> i64 {
    let count = |field: &str| item[field].as_i64().unwrap_or(0);
    count("quantity")
        - count("shippedQuantity")
        - count("scratchQuantity")
        - count("reallocatedQuantity")
        - count("cancelledQuantity")
}

/// A random line of the allocation `id` that holds units: (line number, units held, the
/// document), or `None` when it holds nothing.
async fn held_line(app: &TestApp, rng: &mut StdRng, id: &str) -> Option<(u64, i64, Value)> {
    let doc = app.fabric(Method::GET, &format!("/allocation/{id}"), None).await.body;
    let lines: Vec<&Value> = doc["items"].as_array()?.iter().filter(|i| held_units(i) > 0).collect();
    if lines.is_empty() {
        return None;
    }
    let line = lines[rng.random_range(0..lines.len())];
    Some((line["allocationLineNumber"].as_u64()?, held_units(line), doc.clone()))
}

/// Checks every invariant; returns (reserved units, on hand units).
async fn assert_invariants(app: &TestApp, orders: &[String]) -> (i64, i64) {
    let mut reserved_total = 0;
    let mut on_hand_total = 0;
    for item in ITEMS {
        let availability = app.get(&format!("/inventory/api/availability/itemId/{item}")).await;
        for row in availability.data()["Locations"].as_array().unwrap() {
            let (on_hand, reserved) = (row["OnHand"].as_i64().unwrap(), row["Reserved"].as_i64().unwrap());
            assert!(reserved <= on_hand - row["SafetyStock"].as_i64().unwrap(), "oversold: {row}");
            assert!(reserved >= 0, "negative reservation: {row}");
            reserved_total += reserved;
            on_hand_total += on_hand;
        }
    }
    let reconcile = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({}))).await;
    assert_eq!(reconcile.body["drift"], json!([]), "reservations drifted from the live allocations");
    let mut allocated_total = 0;
    for id in orders {
        let order = app.get(&format!("/order/api/order/order/orderId/{id}")).await;
        let mut allocated_in_order = 0;
        for line in order.data()["OrderLine"].as_array().unwrap() {
            let at = |status: &str| -> i64 {
                line["QuantityDetail"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|q| q["StatusId"] == status)
                    .map(|q| q["Quantity"].as_i64().unwrap())
                    .sum()
            };
            let quantity = line["Quantity"].as_i64().unwrap();
            assert_eq!(
                at("1000") + at("1500") + at("2000") + at("3000") + at("7000"),
                quantity,
                "order {id} line does not add up: {line}"
            );
            // Released units are still held (reserved) at their location until they ship.
            allocated_in_order += at("2000") + at("3000");
        }
        let live = app
            .fabric(Method::POST, "/allocation/query", Some(&json!({"limit": 100, "filters": {"orderNumber": id}})))
            .await;
        let held: i64 = live
            .body
            .as_array()
            .map(|docs| {
                docs.iter()
                    .filter(|d| d["statusCode"] != "CANCELLED" && d["statusCode"] != "REALLOCATED")
                    .flat_map(|d| d["items"].as_array().unwrap().iter().map(held_units))
                    .sum()
            })
            .unwrap_or(0);
        assert_eq!(
            held, allocated_in_order,
            "order {id}: live allocations hold {held} units, the order says {allocated_in_order}"
        );
        allocated_total += allocated_in_order;
    }
    assert_eq!(reserved_total, allocated_total, "reserved units must equal allocated order units");
    (reserved_total, on_hand_total)
}

on_both_backends! {
    when_64_allocations_compete_for_scarce_stock_should_never_oversell => |app| {
        network(&app, &[("DC-ATL", "SKU-1", 12), ("DC-DFW", "SKU-1", 8), ("DC-EWR", "SKU-1", 6), ("DC-ATL", "SKU-2", 5), ("DC-ONT", "SKU-2", 9)]).await;
        let mut rng = StdRng::seed_from_u64(64);
        let ids: Vec<String> = (0..64).map(|i| format!("C-{i:02}")).collect();
        let mut demanded = 0;
        for id in &ids {
            let order = random_order(&mut rng, id);
            demanded += order["OrderLine"].as_array().unwrap().iter().map(|l| l["Quantity"].as_i64().unwrap()).sum::<i64>();
            assert_eq!(app.post("/order/api/order/order", &order).await.status, StatusCode::OK);
        }
        let (full, partial, conflict, elapsed) = app.allocate_concurrently(&ids).await;
        let (reserved, on_hand) = assert_invariants(&app, &ids).await;
        // Safety stock of one unit per row keeps 5 of the 40 units back.
        assert_eq!(reserved, 35, "every promisable unit should be allocated when demand ({demanded}) exceeds it");
        println!("{:?}: 64 concurrent allocations in {elapsed:?}: {full} full, {partial} partial, {conflict} gave up; {reserved} of {on_hand} units reserved for {demanded} demanded; zero drift", app.backend);
    }

    when_a_random_sequence_of_allocate_update_reallocate_scratch_ship_and_cancel_runs_should_leave_zero_drift => |app| {
        network(&app, &[("DC-ATL", "SKU-1", 30), ("DC-DFW", "SKU-1", 30), ("DC-EWR", "SKU-1", 20), ("DC-ONT", "SKU-2", 30), ("DC-ATL", "SKU-2", 10)]).await;
        let mut rng = StdRng::seed_from_u64(7);
        let mut orders: Vec<String> = Vec::new();
        let mut live: Vec<String> = Vec::new();
        let mut tally: BTreeMap<&str, usize> = BTreeMap::new();
        for step in 0..90 {
            let op = if live.is_empty() { 0 } else { rng.random_range(0..8) };
            match op {
                0 | 1 => {
                    let id = format!("R-{step}");
                    app.post("/order/api/order/order", &random_order(&mut rng, &id)).await;
                    let reply = app.fabric(Method::POST, "/allocation/", Some(&json!({"detailType": "ORDER_CREATED", "detail": {"orderId": id}}))).await;
                    assert!(matches!(reply.status.as_u16(), 200 | 206), "{}", reply.body);
                    live.extend(reply.body.as_array().unwrap().iter().map(|d| d["allocationId"].as_str().unwrap().to_owned()));
                    orders.push(id);
                    *tally.entry("allocate").or_default() += 1;
                }
                2 => {
                    let id = live[rng.random_range(0..live.len())].clone();
                    let reply = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&json!({"allocationId": id, "statusCode": "PENDING_PICK", "allocationNum": format!("N-{step}")}))).await;
                    match reply.status {
                        StatusCode::OK => *tally.entry("update").or_default() += 1,
                        // Every unit moved away by line: the document ended REALLOCATED.
                        StatusCode::CONFLICT => *tally.entry("refused").or_default() += 1,
                        other => panic!("update answered {other}: {}", reply.body),
                    }
                }
                3 => {
                    let index = rng.random_range(0..live.len());
                    let id = live[index].clone();
                    let target = if rng.random_bool(0.5) { Some(DCS[rng.random_range(0..DCS.len())].0) } else { None };
                    let mut body = json!({"channel": "web", "tenant": "demo", "id": [id], "documentType": "ALLOCATION"});
                    if let Some(target) = target {
                        body["locationNum"] = json!(target);
                    }
                    let reply = app.fabric(Method::PUT, "/allocation/reallocate", Some(&body)).await;
                    match reply.status {
                        StatusCode::OK => {
                            live.remove(index);
                            live.extend(reply.body["allocations"].as_array().unwrap().iter().map(|d| d["allocationId"].as_str().unwrap().to_owned()));
                            *tally.entry("reallocate").or_default() += 1;
                        }
                        // Already there, or no room elsewhere: refused with nothing moved.
                        StatusCode::BAD_REQUEST | StatusCode::CONFLICT => *tally.entry("reallocate refused").or_default() += 1,
                        other => panic!("reallocate answered {other}: {}", reply.body),
                    }
                }
                5..=7 => {
                    let id = live[rng.random_range(0..live.len())].clone();
                    let Some((line, held, doc)) = held_line(&app, &mut rng, &id).await else {
                        *tally.entry("nothing held").or_default() += 1;
                        continue;
                    };
                    let units = rng.random_range(1..=held);
                    let item = doc["items"].as_array().unwrap().iter().find(|i| i["allocationLineNumber"] == line).unwrap().clone();
                    let (kind, reply) = match op {
                        5 => {
                            let mut body = json!({"channel": "web", "tenant": "demo", "id": id, "documentType": "ALLOCATION",
                                "items": [{"allocationLineNumber": line, "lineItemId": item["orderLineId"], "quantity": units}]});
                            if rng.random_bool(0.5) {
                                body["locationNum"] = json!(DCS[rng.random_range(0..DCS.len())].0);
                            }
                            let reply = app.fabric(Method::PUT, "/allocation/reallocate", Some(&body)).await;
                            if reply.status == StatusCode::OK {
                                live.extend(reply.body["allocations"].as_array().unwrap().iter().map(|d| d["allocationId"].as_str().unwrap().to_owned()));
                            }
                            ("move line", reply)
                        }
                        6 => {
                            let total = item["scratchQuantity"].as_i64().unwrap() + units;
                            let body = json!({"allocationId": id, "items": [{"allocationLineNumber": line, "scratchQuantity": total, "scratchedReasonCode": "DAMAGED"}]});
                            let reply = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&body)).await;
                            if reply.status == StatusCode::OK {
                                // The scratched units may have gone to a new allocation of the order.
                                let order = doc["orderNumber"].as_str().unwrap();
                                let all = app.fabric(Method::POST, "/allocation/query", Some(&json!({"limit": 100, "filters": {"orderNumber": order}}))).await;
                                for d in all.body.as_array().unwrap() {
                                    let d = d["allocationId"].as_str().unwrap().to_owned();
                                    if !live.contains(&d) {
                                        live.push(d);
                                    }
                                }
                            }
                            ("scratch", reply)
                        }
                        _ => {
                            // Only released units ship: release what the order has allocated first.
                            let order = doc["orderNumber"].as_str().unwrap();
                            app.post("/order/api/order/order/release", &json!({"OrderId": order})).await;
                            let total = item["shippedQuantity"].as_i64().unwrap() + units;
                            let body = json!({"allocationId": id, "items": [{"allocationLineNumber": line, "shippedQuantity": total}]});
                            ("ship", app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&body)).await)
                        }
                    };
                    match reply.status {
                        StatusCode::OK => *tally.entry(kind).or_default() += 1,
                        StatusCode::BAD_REQUEST | StatusCode::CONFLICT => *tally.entry("refused").or_default() += 1,
                        other => panic!("{kind} answered {other}: {}", reply.body),
                    }
                }
                _ => {
                    let id = live.remove(rng.random_range(0..live.len()));
                    let reply = app.fabric(Method::PUT, &format!("/allocation/cancel/{id}"), None).await;
                    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
                    *tally.entry("cancel").or_default() += 1;
                }
            }
        }
        let (reserved, on_hand) = assert_invariants(&app, &orders).await;
        println!("{:?}: random sequence {tally:?}: {reserved} of {on_hand} units reserved, zero drift", app.backend);
    }
}
