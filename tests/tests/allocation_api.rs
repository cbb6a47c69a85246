//! The allocation service API through the router, on both backends.

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApp, location};
use serde_json::{Value, json};

const ATLANTA: (f64, f64) = (33.749, -84.388);

/// DCs in Atlanta, Dallas and Newark, and a New York store, with SKU-1 at each DC.
async fn network(app: &TestApp, stock: &[(&str, &str, i64)]) {
    for (id, name, kind, lat, lon) in [
        ("DC-ATL", "Atlanta DC", "DC", 33.64, -84.43),
        ("DC-DFW", "Dallas DC", "DC", 32.90, -97.04),
        ("DC-EWR", "Newark DC", "DC", 40.69, -74.17),
        ("ST-NYC", "SoHo store", "Store", 40.72, -74.00),
    ] {
        let put = app.put(&format!("/inventory/api/location/{id}"), &location(name, kind, lat, lon)).await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    }
    let rows: Vec<Value> =
        stock.iter().map(|(loc, item, qty)| json!({"LocationId": loc, "ItemId": item, "Quantity": qty})).collect();
    let supply = app.post("/inventory/api/supply", &json!({"Mode": "Sync", "Supply": rows})).await;
    assert_eq!(supply.status, StatusCode::OK, "{}", supply.body);
}

fn order(id: &str, lines: &[(&str, &str, u32)], to: (f64, f64)) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(line, item, qty)| json!({"OrderLineId": line, "ItemId": item, "Quantity": qty, "UnitPrice": 10,
            "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
            "ShipToAddress": {"Address": {"Address1": "1 Main St", "City": "Somewhere", "Country": "US", "Latitude": to.0, "Longitude": to.1}}}))
        .collect();
    json!({"OrderId": id, "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true, "OrderLine": lines})
}

async fn save(app: &TestApp, body: &Value) {
    let saved = app.post("/order/api/order/order", body).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
}

async fn allocate(app: &TestApp, order_id: &str) -> common::Reply {
    app.fabric(
        Method::POST,
        "/allocation/",
        Some(&json!({"detailType": "ORDER_CREATED", "detail": {"orderId": order_id}})),
    )
    .await
}

async fn stock(app: &TestApp, item: &str, location: &str) -> (i64, i64) {
    let reply = app.get(&format!("/inventory/api/availability/itemId/{item}")).await;
    let row =
        reply.data()["Locations"].as_array().unwrap().iter().find(|r| r["LocationId"] == location).cloned().unwrap();
    (row["Reserved"].as_i64().unwrap(), row["Available"].as_i64().unwrap())
}

async fn line_quantities(app: &TestApp, order_id: &str, line: usize) -> Value {
    app.get(&format!("/order/api/order/order/orderId/{order_id}")).await.data()["OrderLine"][line]["QuantityDetail"]
        .clone()
}

async fn drift(app: &TestApp, repair: bool) -> Value {
    let reply = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({"repair": repair}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

on_both_backends! {
    when_stock_is_at_several_dcs_should_allocate_to_the_nearest_and_reserve_it => |app| {
        network(&app, &[("DC-ATL", "SKU-1", 5), ("DC-DFW", "SKU-1", 50), ("DC-EWR", "SKU-1", 50)]).await;
        save(&app, &order("O-1", &[("1", "SKU-1", 2)], ATLANTA)).await;
        let reply = allocate(&app, "O-1").await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let docs = reply.body.as_array().unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0]["locationNum"], "DC-ATL");
        assert_eq!(docs[0]["statusCode"], "ALLOCATED");
        assert_eq!(docs[0]["allocationId"].as_str().unwrap().len(), 24);
        let item = &docs[0]["items"][0];
        assert_eq!((item["orderLineId"].as_str(), item["itemId"].as_str(), item["quantity"].as_u64()), (Some("1"), Some("SKU-1"), Some(2)));
        assert_eq!((item["allocationLineNumber"].as_u64(), item["itemStatus"].as_str()), (Some(1), Some("ALLOCATED")));
        assert_eq!(stock(&app, "SKU-1", "DC-ATL").await, (2, 3));
        assert_eq!(line_quantities(&app, "O-1", 0).await, json!([{"StatusId": "2000", "Quantity": 2}]));
        let got = app.fabric(Method::GET, &format!("/allocation/{}", docs[0]["allocationId"].as_str().unwrap()), None).await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.body["orderNumber"], "O-1");
    }

    when_stock_is_short_should_allocate_partially_with_206_and_explain_the_rest => |app| {
        network(&app, &[("DC-ATL", "SKU-1", 3), ("DC-DFW", "SKU-1", 1)]).await;
        save(&app, &order("O-2", &[("1", "SKU-1", 6)], ATLANTA)).await;
        let reply = allocate(&app, "O-2").await;
        assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT, "{}", reply.body);
        let locations: Vec<&str> = reply.body.as_array().unwrap().iter().map(|d| d["locationNum"].as_str().unwrap()).collect();
        assert_eq!(locations, ["DC-ATL", "DC-DFW"]);
        let quantities = line_quantities(&app, "O-2", 0).await;
        assert_eq!(quantities, json!([{"StatusId": "1500", "Quantity": 2}, {"StatusId": "2000", "Quantity": 4}]));
        let explain = app.fabric(Method::GET, "/allocation/explain/O-2", None).await;
        assert_eq!(explain.status, StatusCode::OK, "{}", explain.body);
        let line = &explain.body["lines"][0];
        assert_eq!(line["allocated"], 4);
        assert_eq!(line["allocations"].as_array().unwrap().len(), 2);
        assert_eq!(line["backOrdered"], 2);
        let candidates = line["candidates"].as_array().unwrap();
        assert!(candidates.iter().any(|c| c["locationId"] == "DC-ATL"), "{candidates:?}");
        let suggestions: Vec<&str> = line["suggestions"].as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect();
        assert!(suggestions.iter().any(|s| s.contains("units short")), "{suggestions:?}");
    }

    when_allocation_is_asked_again_for_a_fully_allocated_order_should_change_nothing => |app| {
        network(&app, &[("DC-ATL", "SKU-1", 5)]).await;
        save(&app, &order("O-3", &[("1", "SKU-1", 2)], ATLANTA)).await;
        let first = allocate(&app, "O-3").await;
        let again = allocate(&app, "O-3").await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(first.body[0]["allocationId"], again.body[0]["allocationId"]);
        assert_eq!(stock(&app, "SKU-1", "DC-ATL").await, (2, 3));
    }

    when_the_order_or_an_item_is_unknown_should_answer_404 => |app| {
        network(&app, &[("DC-ATL", "SKU-1", 5)]).await;
        assert_eq!(allocate(&app, "NOPE").await.status, StatusCode::NOT_FOUND);
        save(&app, &order("O-4", &[("1", "SKU-404", 1)], ATLANTA)).await;
        let unknown = allocate(&app, "O-4").await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
        assert!(unknown.body["message"].as_str().unwrap().contains("SKU-404"));
    }

    when_the_event_creates_no_demand_should_answer_400_naming_detail_type => |app| {
        let reply = app.fabric(Method::POST, "/allocation/", Some(&json!({"detailType": "INVOICE_POSTING", "detail": {"orderId": "O-1"}}))).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.body["field"], "detailType");
    }

    when_the_event_carries_the_whole_order_should_save_it_then_allocate => |app| {
        network(&app, &[("DC-EWR", "SKU-1", 5)]).await;
        let event = json!({"detailType": "ORDER_CREATE", "detail": {"order": order("O-5", &[("1", "SKU-1", 1)], (40.75, -73.99))}});
        let reply = app.fabric(Method::POST, "/allocation/", Some(&event)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body[0]["locationNum"], "DC-EWR");
        assert_eq!(app.get("/order/api/order/order/orderId/O-5").await.status, StatusCode::OK);
    }

    when_x_site_context_is_missing_should_answer_400_naming_it => |app| {
        let token = app.demo_token();
        let reply = app.send(Method::GET, "/allocation/62ff5c0bec0aed3c86202c32", Some(&token), &[], None).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.body["field"], "x-site-context");
    }

    when_an_allocation_id_is_malformed_or_unknown_should_answer_400 => |app| {
        assert_eq!(app.fabric(Method::GET, "/allocation/short", None).await.status, StatusCode::BAD_REQUEST);
        let unknown = app.fabric(Method::GET, "/allocation/62ff5c0bec0aed3c86202c32", None).await;
        assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
        assert_eq!(unknown.body["field"], "allocationId");
    }

    when_an_allocation_is_updated_with_a_stale_version_should_answer_409_and_keep_the_first_update => |app| {
        network(&app, &[("DC-ATL", "SKU-1", 5)]).await;
        save(&app, &order("O-6", &[("1", "SKU-1", 1)], ATLANTA)).await;
        let doc = allocate(&app, "O-6").await.body[0].clone();
        let id = doc["allocationId"].as_str().unwrap();
        let path = format!("/allocation/{id}");
        let first = app.fabric(Method::PUT, &path, Some(&json!({"allocationId": id, "version": 1, "allocationNum": "A-1", "statusCode": "PENDING_PICK"}))).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert_eq!(first.body["version"], 2);
        let logs = first.body["auditLogs"].as_array().unwrap();
        assert_eq!(logs.len(), 1, "one change, one entry");
        assert_eq!(logs[0]["updatedFields"], json!([{"fieldName": "allocationNum", "fieldOriginalValue": null}, {"fieldName": "statusCode", "fieldOriginalValue": "ALLOCATED"}]));
        let stale = app.fabric(Method::PUT, &path, Some(&json!({"allocationId": id, "version": 1, "allocationNum": "A-2"}))).await;
        assert_eq!(stale.status, StatusCode::CONFLICT);
        assert_eq!(app.fabric(Method::GET, &path, None).await.body["allocationNum"], "A-1");
    }

    when_allocations_are_queried_should_filter_sort_and_page_from_the_tenants_index => |app| {
        network(&app, &[("DC-ATL", "SKU-1", 10), ("DC-EWR", "SKU-1", 10)]).await;
        for (id, to) in [("O-7", ATLANTA), ("O-8", (40.75, -73.99)), ("O-9", ATLANTA)] {
            save(&app, &order(id, &[("1", "SKU-1", 1)], to)).await;
            allocate(&app, id).await;
        }
        let atl = app.fabric(Method::POST, "/allocation/query", Some(&json!({"filters": {"locationNum": "DC-ATL"}, "sortBy": "orderNumber", "sortDirection": "asc"}))).await;
        assert_eq!(atl.status, StatusCode::OK, "{}", atl.body);
        let orders: Vec<&str> = atl.body.as_array().unwrap().iter().map(|d| d["orderNumber"].as_str().unwrap()).collect();
        assert_eq!(orders, ["O-7", "O-9"]);
        let paged = app.fabric(Method::POST, "/allocation/query", Some(&json!({"limit": 1, "offset": 1, "sortBy": "orderNumber", "sortDirection": "asc", "filters": {}}))).await;
        assert_eq!(paged.body.as_array().unwrap().len(), 1);
        assert_eq!(paged.body[0]["orderNumber"], "O-8");
        let by_item = app.fabric(Method::POST, "/allocation/query", Some(&json!({"filters": {"orderNumber": "O-8", "items": [{"itemId": "SKU-1"}]}}))).await;
        assert_eq!(by_item.body.as_array().unwrap().len(), 1);
        let none = app.fabric(Method::POST, "/allocation/query", Some(&json!({"filters": {"statusCode": "SHIPPED"}}))).await;
        assert_eq!(none.status, StatusCode::NOT_FOUND);
        let bad = app.fabric(Method::POST, "/allocation/query", Some(&json!({"limit": 0}))).await;
        assert_eq!(bad.body["field"], "limit");
    }

    when_an_allocation_is_reallocated_should_move_its_reservation_and_keep_the_previous_location => |app| {
        network(&app, &[("DC-ATL", "SKU-1", 5), ("DC-DFW", "SKU-1", 5)]).await;
        save(&app, &order("O-10", &[("1", "SKU-1", 2)], ATLANTA)).await;
        let doc = allocate(&app, "O-10").await.body[0].clone();
        let body = json!({"orderNumber": "O-10", "channel": "web", "tenant": "demo", "id": [doc["allocationId"]], "documentType": "ALLOCATION", "locationNum": "DC-DFW"});
        let moved = app.fabric(Method::PUT, "/allocation/reallocate", Some(&body)).await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
        assert!(moved.body["message"].as_str().unwrap().starts_with("Reallocation process completed Successfully"));
        let new = &moved.body["allocations"][0];
        assert_eq!(new["locationNum"], "DC-DFW");
        assert_eq!(new["previousAllocationLocationNum"], "DC-ATL");
        assert_eq!(new["parentAllocationId"], doc["allocationId"]);
        let old = app.fabric(Method::GET, &format!("/allocation/{}", doc["allocationId"].as_str().unwrap()), None).await;
        assert_eq!(old.body["statusCode"], "REALLOCATED");
        assert_eq!(stock(&app, "SKU-1", "DC-ATL").await, (0, 5));
        assert_eq!(stock(&app, "SKU-1", "DC-DFW").await, (2, 3));
        assert_eq!(drift(&app, false).await["drift"], json!([]));
    }

    when_no_other_location_can_take_the_units_should_answer_409_and_move_nothing => |app| {
        network(&app, &[("DC-ATL", "SKU-1", 5), ("DC-DFW", "SKU-1", 1)]).await;
        save(&app, &order("O-11", &[("1", "SKU-1", 3)], ATLANTA)).await;
        let doc = allocate(&app, "O-11").await.body[0].clone();
        let body = json!({"channel": "web", "tenant": "demo", "id": doc["allocationId"], "documentType": "ALLOCATION"});
        let refused = app.fabric(Method::PUT, "/allocation/reallocate", Some(&body)).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
        assert_eq!(stock(&app, "SKU-1", "DC-ATL").await, (3, 2));
        assert_eq!(stock(&app, "SKU-1", "DC-DFW").await, (0, 1));
    }

    when_allocations_are_cancelled_twice_should_release_exactly_once => |app| {
        network(&app, &[("DC-ATL", "SKU-1", 2), ("DC-DFW", "SKU-1", 5)]).await;
        save(&app, &order("O-12", &[("1", "SKU-1", 4)], ATLANTA)).await;
        let docs = allocate(&app, "O-12").await.body.clone();
        let ids: Vec<&str> = docs.as_array().unwrap().iter().map(|d| d["allocationId"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), 2);
        let path = format!("/allocation/cancel/{}", ids.join(","));
        let cancelled = app.fabric(Method::PUT, &path, None).await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
        assert!(cancelled.body.as_array().unwrap().iter().all(|d| d["statusCode"] == "CANCELLED"));
        let again = app.fabric(Method::PUT, &path, None).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(again.body, cancelled.body);
        assert_eq!(stock(&app, "SKU-1", "DC-ATL").await, (0, 2));
        assert_eq!(stock(&app, "SKU-1", "DC-DFW").await, (0, 5));
        assert_eq!(line_quantities(&app, "O-12", 0).await, json!([{"StatusId": "1000", "Quantity": 4}]));
        let unknown = app.fabric(Method::PUT, "/allocation/cancel/62ff5c0bec0aed3c86202c32", None).await;
        assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    }

    when_save_order_tries_to_change_allocated_units_should_refuse_with_ord_10008 => |app| {
        network(&app, &[("DC-ATL", "SKU-1", 5)]).await;
        save(&app, &order("O-13", &[("1", "SKU-1", 2)], ATLANTA)).await;
        allocate(&app, "O-13").await;
        let mut update = order("O-13", &[("1", "SKU-1", 2)], ATLANTA);
        update["OrderLine"][0]["QuantityDetail"] = json!([{"StatusId": "1000", "Quantity": 2}]);
        let refused = app.post("/order/api/order/order", &update).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.body["errors"][0]["code"], "ord::10008");
    }

    when_the_tenant_strategy_is_priority_should_prefer_the_highest_priority_location => |app| {
        network(&app, &[("DC-ATL", "SKU-1", 5), ("DC-EWR", "SKU-1", 5)]).await;
        let mut preferred = location("Newark DC", "DC", 40.69, -74.17);
        preferred["Priority"] = json!(1);
        preferred["Version"] = json!(1);
        assert_eq!(app.put("/inventory/api/location/DC-EWR", &preferred).await.status, StatusCode::OK);
        let settings = app.fabric(Method::PUT, "/allocation/settings", Some(&json!({"strategy": "priority"}))).await;
        assert_eq!(settings.status, StatusCode::OK, "{}", settings.body);
        assert_eq!(app.fabric(Method::GET, "/allocation/settings", None).await.body["strategy"], "priority");
        save(&app, &order("O-14", &[("1", "SKU-1", 1)], ATLANTA)).await;
        assert_eq!(allocate(&app, "O-14").await.body[0]["locationNum"], "DC-EWR");
    }

    when_a_count_leaves_fewer_on_hand_than_reserved_should_report_the_shortage_with_the_newest_allocations_first => |app| {
        let (app, clock) = common::with_clock(app);
        network(&app, &[("DC-ATL", "SKU-1", 6), ("DC-DFW", "SKU-1", 6)]).await;
        let mut ids = Vec::new();
        for (id, units) in [("O-16", 4), ("O-17", 2)] {
            save(&app, &order(id, &[("1", "SKU-1", units)], ATLANTA)).await;
            ids.push(allocate(&app, id).await.body[0]["allocationId"].clone());
            clock.advance(chrono::TimeDelta::seconds(1));
        }
        assert_eq!(drift(&app, false).await["shortages"], json!([]));
        let count = app.post("/inventory/api/supply", &json!({"Mode": "Sync", "Supply": [{"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": 3}]})).await;
        assert_eq!(count.status, StatusCode::OK, "{}", count.body);
        let report = drift(&app, false).await;
        assert_eq!(report["drift"], json!([]));
        assert_eq!(report["shortages"], json!([{"locationId": "DC-ATL", "itemId": "SKU-1", "onHand": 3, "reserved": 6,
            "shortfall": 3, "allocationIds": [ids[1], ids[0]]}]));
    }

    when_reservations_drift_should_report_and_repair_it => |app| {
        let (app, clock) = common::with_clock(app);
        network(&app, &[("DC-ATL", "SKU-1", 5)]).await;
        save(&app, &order("O-15", &[("1", "SKU-1", 2)], ATLANTA)).await;
        allocate(&app, "O-15").await;
        assert_eq!(drift(&app, false).await["drift"], json!([]));
        // Repairs wait until the allocation index has had time to show every allocation.
        clock.advance(oms_core::service::reconcile::SETTLE_WINDOW * 2);
        // Corrupt the counter behind the service's back, as a lost compensation would.
        let tenant = oms_core::domain::ids::TenantId::parse("demo").unwrap();
        let key = oms_core::keys::stock(&tenant, &oms_core::domain::ids::ItemId::parse("SKU-1").unwrap(), &oms_core::domain::ids::LocationId::parse("DC-ATL").unwrap());
        app.deps.store.update(&key, oms_core::ports::Update::new().add("reserved", 3).add("available", -3), None).await.unwrap();
        let report = drift(&app, true).await;
        assert_eq!(report["drift"], json!([{"locationId": "DC-ATL", "itemId": "SKU-1", "reserved": 5, "expected": 2, "drift": 3, "repaired": true}]));
        assert_eq!(drift(&app, false).await["drift"], json!([]));
        assert_eq!(stock(&app, "SKU-1", "DC-ATL").await, (2, 3));
    }
}
