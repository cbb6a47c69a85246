//! The order lifecycle (seed 003), on both backends: order type configurations, modification
//! rules (ord::10007 / ord::10008, nothing written), the fulfillment services per mod type
//! (ChangeStatus, ReevaluatePipeline, ResubmitPipeline, CancelReservation) with zero drift after
//! each, holds, cancel, release, ship, and what is published on the outbound queues.

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApp, drain_queues, location, outbound};
use oms_core::jobs::batch::SqsMessageIn;
use oms_core::jobs::dispatch;
use oms_core::ports::QueueName;
use serde_json::{Value, json};

const SAVE: &str = "/order/api/order/order";
const CANCEL: &str = "/order/api/order/order/cancel";
const RELEASE: &str = "/order/api/order/order/release";

/// An Atlanta DC and an Atlanta store with `units` of SKU-1 each.
async fn network(app: &TestApp, units: i64) {
    for (id, name, kind) in [("DC-ATL", "Atlanta DC", "DC"), ("ST-ATL", "Atlanta store", "Store")] {
        let reply = app.put(&format!("/inventory/api/location/{id}"), &location(name, kind, 33.64, -84.43)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let rows = json!([{"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": units}, {"LocationId": "ST-ATL", "ItemId": "SKU-1", "Quantity": units}]);
    let supply = app.post("/inventory/api/supply", &json!({"Mode": "Sync", "Supply": rows})).await;
    assert_eq!(supply.status, StatusCode::OK, "{}", supply.body);
}

fn address(city: &str) -> Value {
    json!({"Address": {"Address1": "1 Main St", "City": city, "Country": "US", "Latitude": 33.749, "Longitude": -84.388}})
}

/// An order of type `order_type` with one ShipToAddress line of `qty` SKU-1.
fn order(id: &str, order_type: &str, qty: u32, confirmed: bool) -> Value {
    json!({"OrderId": id, "OrderType": {"OrderTypeId": order_type}, "IsConfirmed": confirmed,
           "OrderLine": [{"OrderLineId": "1", "ItemId": "SKU-1", "Quantity": qty, "UnitPrice": 10,
               "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"}, "ShipToAddress": address("Atlanta")}]})
}

async fn save(app: &TestApp, body: &Value) -> crate::common::Reply {
    app.post(SAVE, body).await
}

/// Units per status of the order's first line, e.g. `{"2000": 2}`.
async fn statuses(app: &TestApp, id: &str) -> Value {
    let order = app.order(id).await;
    let mut units = serde_json::Map::new();
    for row in order["OrderLine"][0]["QuantityDetail"].as_array().unwrap() {
        units.insert(row["StatusId"].as_str().unwrap().to_owned(), row["Quantity"].clone());
    }
    Value::Object(units)
}

async fn allocate(app: &TestApp, id: &str) -> Value {
    let event = json!({"detailType": "ORDER_CREATED", "detail": {"orderId": id}});
    let reply = app.fabric(Method::POST, "/allocation/", Some(&event)).await;
    assert!(reply.status == StatusCode::OK || reply.status == StatusCode::PARTIAL_CONTENT, "{}", reply.body);
    reply.body
}

/// Reservations recomputed from the allocations equal the stock rows.
async fn assert_no_drift(app: &TestApp) {
    let report = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({}))).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(report.body["drift"], json!([]), "{}", report.body);
}

/// Units reserved of SKU-1 at both locations.
async fn reserved(app: &TestApp) -> i64 {
    app.stock("SKU-1", "DC-ATL").await.1 + app.stock("SKU-1", "ST-ATL").await.1
}

/// The mod types of the order's last audit entry.
async fn last_mod_types(app: &TestApp, id: &str) -> Vec<String> {
    let order = app.order(id).await;
    let audits = order["OrderAudit"].as_array().unwrap();
    audits.last().unwrap()["ModTypes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["ModTypeId"].as_str().unwrap().to_owned())
        .collect()
}

on_both_backends! {
    when_an_order_type_is_configured_should_validate_it_and_read_it_back => |app| {
        let both = json!({"ModTypes": [{"ModTypeId": "UpdateShipToAddress", "Services": ["ChangeStatus", "ReevaluatePipeline"]}]});
        let refused = app.put("/order/api/order/orderType/Web", &both).await;
        assert_eq!((refused.status, refused.error_field()), (StatusCode::BAD_REQUEST, Some("ModTypes[0].Services")), "{}", refused.body);
        for (body, field) in [
            (json!({"ModTypes": [{"ModTypeId": "Teleport"}]}), "ModTypes[0].ModTypeId"),
            (json!({"ModTypes": [{"ModTypeId": "CancelOrder", "Services": ["Fly"]}]}), "ModTypes[0].Services[0]"),
            (json!({"ModTypes": [{"ModTypeId": "CancelOrder", "RestrictFromStatus": "2500"}]}), "ModTypes[0].RestrictFromStatus"),
            (json!({"ModTypes": [{"ModTypeId": "UpdateShipToAddress", "Services": ["ChangeStatus"], "ChangeStatusId": "2000"}]}), "ModTypes[0].ChangeStatusId"),
            (json!({"ModTypes": [{"ModTypeId": "ShipLine", "EmailMessages": ["NoSuchTemplate"]}]}), "ModTypes[0].EmailMessages[0]"),
        ] {
            let reply = app.put("/order/api/order/orderType/Web", &body).await;
            assert_eq!((reply.status, reply.error_field()), (StatusCode::BAD_REQUEST, Some(field)), "{}", reply.body);
        }
        let default = app.get("/order/api/order/orderType/Web").await;
        assert_eq!(default.data()["IsDefault"], true, "an unconfigured type answers the default: {}", default.body);
        let config = json!({"Description": "Web orders", "ModTypes": [{"ModTypeId": "UpdateShipToAddress", "Services": ["ChangeStatus", "PublishOrderLine"], "ChangeStatusId": "1000", "RestrictFromStatus": "3000"}]});
        app.configure_order_type("Web", config).await;
        let read = app.get("/order/api/order/orderType/Web").await;
        assert_eq!((read.data()["IsDefault"].as_bool(), read.data()["Version"].as_u64()), (Some(false), Some(1)), "{}", read.body);
        assert_eq!(read.data()["ModTypes"][0]["Services"], json!(["ChangeStatus", "PublishOrderLine"]));
        let stale = app.put("/order/api/order/orderType/Web", &json!({"Version": 7, "ModTypes": []})).await;
        assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
        let list = app.get("/order/api/order/orderType").await;
        assert_eq!(list.data().as_array().map(Vec::len), Some(1), "{}", list.body);
    }

    when_the_address_of_a_released_line_changes_should_refuse_with_10008_and_write_nothing => |app| {
        network(&app, 5).await;
        app.saved_order(&order("L-1", "Web", 2, true)).await;
        allocate(&app, "L-1").await;
        drain_queues(&app.deps, 10).await;
        assert_eq!(statuses(&app, "L-1").await, json!({"3000": 2}), "allocated, then released by the default ResubmitPipeline");
        let before = app.order("L-1").await;
        let mut moved = order("L-1", "Web", 2, true);
        moved["OrderLine"][0]["ShipToAddress"] = address("Savannah");
        let refused = save(&app, &moved).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.body["errors"][0]["code"], "ord::10008", "{}", refused.body);
        assert!(refused.body["message"].as_str().unwrap().contains("not permitted at status Released"), "{}", refused.body);
        assert_eq!(app.order("L-1").await, before, "nothing written");
    }

    when_a_rule_restricts_post_confirmation_should_refuse_the_order_level_change_with_10007 => |app| {
        app.configure_order_type("Locked", json!({"ModTypes": [{"ModTypeId": "UpdateOrderAttributes", "RestrictPostConfirmation": true}]})).await;
        app.saved_order(&order("L-2", "Locked", 1, true)).await;
        let before = app.order("L-2").await;
        let refused = save(&app, &json!({"OrderId": "L-2", "OrderType": {"OrderTypeId": "Locked"}, "CurrencyCode": "EUR"})).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.body["errors"][0]["code"], "ord::10007", "{}", refused.body);
        assert_eq!(app.order("L-2").await, before, "nothing written");
        let unconfirmed = order("L-3", "Locked", 1, false);
        app.saved_order(&unconfirmed).await;
        let changed = save(&app, &json!({"OrderId": "L-3", "OrderType": {"OrderTypeId": "Locked"}, "CurrencyCode": "EUR"})).await;
        assert_eq!(changed.status, StatusCode::OK, "before confirmation the change is allowed: {}", changed.body);
    }

    when_a_rule_restricts_from_a_status_should_refuse_order_and_return_line_changes_past_it => |app| {
        network(&app, 5).await;
        app.configure_order_type("Guarded", json!({"ModTypes": [
            {"ModTypeId": "UpdateOrderAttributes", "RestrictFromStatus": "2000"},
            {"ModTypeId": "UpdateLinePrice", "RestrictFromReturnStatus": "1000"}]})).await;
        let mut body = order("G-1", "Guarded", 1, false);
        body["OrderLine"].as_array_mut().unwrap().push(json!({"OrderLineId": "2", "ItemId": "SKU-1", "Quantity": 1, "UnitPrice": 10, "IsReturn": true,
            "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"}, "ShipToAddress": address("Atlanta")}));
        app.saved_order(&body).await;
        let before_allocation = save(&app, &json!({"OrderId": "G-1", "OrderType": {"OrderTypeId": "Guarded"}, "CurrencyCode": "CAD"})).await;
        assert_eq!(before_allocation.status, StatusCode::OK, "not allocated yet: {}", before_allocation.body);
        allocate(&app, "G-1").await;
        let before = app.order("G-1").await;
        let refused = save(&app, &json!({"OrderId": "G-1", "OrderType": {"OrderTypeId": "Guarded"}, "CurrencyCode": "EUR"})).await;
        assert_eq!(refused.body["errors"][0]["code"], "ord::10007", "{}", refused.body);
        assert!(refused.body["message"].as_str().unwrap().contains("not permitted at status Allocated"), "{}", refused.body);
        let mut repriced = body.clone();
        repriced["OrderLine"][1]["UnitPrice"] = json!(12);
        let refused = save(&app, &repriced).await;
        assert_eq!(refused.body["errors"][0]["code"], "ord::10008", "the return line: {}", refused.body);
        assert_eq!(app.order("G-1").await, before, "nothing written");
        let mut sale = body.clone();
        sale["OrderLine"][0]["UnitPrice"] = json!(11);
        sale["CurrencyCode"] = json!("CAD");
        assert_eq!(save(&app, &sale).await.status, StatusCode::OK, "a sale line's price is not restricted by return status");
    }

    when_released_units_are_scratched_should_place_them_again_and_release_them_there => |app| {
        network(&app, 5).await;
        app.saved_order(&order("SC-1", "Web", 1, true)).await;
        let created = allocate(&app, "SC-1").await;
        let id = created[0]["allocationId"].as_str().unwrap().to_owned();
        let first = created[0]["locationNum"].as_str().unwrap().to_owned();
        drain_queues(&app.deps, 10).await;
        assert_eq!(statuses(&app, "SC-1").await, json!({"3000": 1}));
        let scratch = json!({"allocationId": id, "items": [{"allocationLineNumber": 1, "scratchQuantity": 1, "scratchedReasonCode": "NOT_FOUND"}]});
        let reply = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&scratch)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(statuses(&app, "SC-1").await, json!({"2000": 1}), "placed again, not released there yet");
        assert_no_drift(&app).await;
        drain_queues(&app.deps, 10).await;
        assert_eq!(statuses(&app, "SC-1").await, json!({"3000": 1}), "AllocateLine resubmitted the pipeline");
        let releases = app.get("/order/api/order/release/orderId/SC-1").await;
        let to: Vec<&str> = releases.data()["Release"].as_array().unwrap().iter().map(|r| r["ShipFromLocationId"].as_str().unwrap()).collect();
        assert_eq!(to.len(), 2, "{}", releases.body);
        assert_eq!(to[0], first);
        assert_ne!(to[1], first, "released again at the other location");
        assert_no_drift(&app).await;
    }

    when_change_status_runs_on_an_address_change_should_release_the_reservation_and_allocate_again => |app| {
        network(&app, 5).await;
        app.configure_order_type("Web", json!({"ModTypes": [{"ModTypeId": "UpdateShipToAddress", "Services": ["ChangeStatus"], "ChangeStatusId": "1000"}]})).await;
        app.saved_order(&order("C-1", "Web", 2, false)).await;
        allocate(&app, "C-1").await;
        let reserved = app.stock("SKU-1", "DC-ATL").await.1 + app.stock("SKU-1", "ST-ATL").await.1;
        assert_eq!(reserved, 2);
        let mut moved = order("C-1", "Web", 2, false);
        moved["OrderLine"][0]["ShipToAddress"] = address("Marietta");
        let data = app.saved_order(&moved).await;
        assert_eq!(data["OrderLine"][0]["QuantityDetail"], json!([{"StatusId": "1000", "Quantity": 2}]), "dropped to the change status");
        let reserved = app.stock("SKU-1", "DC-ATL").await.1 + app.stock("SKU-1", "ST-ATL").await.1;
        assert_eq!(reserved, 0, "its reservations released with the change");
        assert_no_drift(&app).await;
        assert_eq!(last_mod_types(&app, "C-1").await, ["UpdateShipToAddress"]);
        drain_queues(&app.deps, 10).await;
        assert_eq!(statuses(&app, "C-1").await, json!({"2000": 2}), "allocated again by the pipeline (not released: unconfirmed)");
        assert_no_drift(&app).await;
    }

    when_reevaluate_pipeline_runs_on_a_delivery_change_should_restart_the_line_at_the_pickup_store => |app| {
        network(&app, 5).await;
        app.saved_order(&order("R-1", "Web", 1, false)).await;
        allocate(&app, "R-1").await;
        let mut pickup = order("R-1", "Web", 1, false);
        pickup["OrderLine"][0]["DeliveryMethod"] = json!({"DeliveryMethodId": "PickUpAtStore"});
        pickup["OrderLine"][0]["PickupLocationId"] = json!("ST-ATL");
        let data = app.saved_order(&pickup).await;
        assert_eq!(data["OrderLine"][0]["QuantityDetail"], json!([{"StatusId": "1000", "Quantity": 1}]), "{data}");
        drain_queues(&app.deps, 10).await;
        assert_eq!(statuses(&app, "R-1").await, json!({"2000": 1}));
        assert_eq!(app.stock("SKU-1", "ST-ATL").await, (5, 1), "allocated at the pickup store");
        assert_eq!(app.stock("SKU-1", "DC-ATL").await.1, 0);
        assert_no_drift(&app).await;
        // Without a service that restarts the units, the change is refused.
        app.configure_order_type("Strict", json!({"ModTypes": []})).await;
        app.saved_order(&order("R-2", "Strict", 1, false)).await;
        allocate(&app, "R-2").await;
        let mut pickup = order("R-2", "Strict", 1, false);
        pickup["OrderLine"][0]["DeliveryMethod"] = json!({"DeliveryMethodId": "PickUpAtStore"});
        pickup["OrderLine"][0]["PickupLocationId"] = json!("ST-ATL");
        let refused = save(&app, &pickup).await;
        assert_eq!(refused.body["errors"][0]["code"], "ord::10008", "{}", refused.body);
    }

    when_a_hold_is_applied_the_order_should_not_release_until_it_is_resolved => |app| {
        network(&app, 5).await;
        let mut held = order("H-1", "Web", 2, true);
        held["Hold"] = json!([{"HoldTypeId": "Fraud"}]);
        app.saved_order(&held).await;
        allocate(&app, "H-1").await;
        drain_queues(&app.deps, 10).await;
        assert_eq!(statuses(&app, "H-1").await, json!({"2000": 2}), "held: allocated, not released");
        let blocked = app.post(RELEASE, &json!({"OrderId": "H-1"})).await;
        assert_eq!(blocked.status, StatusCode::CONFLICT, "{}", blocked.body);
        assert!(blocked.body["message"].as_str().unwrap().contains("on hold Fraud"), "{}", blocked.body);
        let resolve = json!({"OrderId": "H-1", "OrderType": {"OrderTypeId": "Web"}, "Hold": [{"HoldTypeId": "Fraud", "StatusId": "Resolved", "ResolveReasonId": "Verified"}]});
        app.saved_order(&resolve).await;
        assert_eq!(last_mod_types(&app, "H-1").await, ["ResolveHold"]);
        drain_queues(&app.deps, 10).await;
        assert_eq!(statuses(&app, "H-1").await, json!({"3000": 2}), "resolving the hold resubmitted the pipeline");
        let releases = app.get("/order/api/order/release/orderId/H-1").await;
        assert_eq!(releases.data()["Release"].as_array().map(Vec::len), Some(1), "{}", releases.body);
        let published = outbound(&app.deps, QueueName::Release).await;
        assert_eq!(published.len(), 1, "{published:?}");
        assert_eq!(published[0]["Release"]["ReleaseLine"][0]["Quantity"], 2);
        assert_eq!(published[0]["MessageId"], "H-1-R1");
        assert_no_drift(&app).await;
    }

    when_cancel_reservation_runs_on_apply_hold_should_give_the_stock_back => |app| {
        network(&app, 5).await;
        app.configure_order_type("Fraudy", json!({"ModTypes": [{"ModTypeId": "ApplyHold", "Services": ["CancelReservation"]}]})).await;
        app.saved_order(&order("H-2", "Fraudy", 2, false)).await;
        allocate(&app, "H-2").await;
        let held = json!({"OrderId": "H-2", "OrderType": {"OrderTypeId": "Fraudy"}, "Hold": [{"HoldTypeId": "Fraud"}]});
        let data = app.saved_order(&held).await;
        assert_eq!(data["OrderLine"][0]["QuantityDetail"], json!([{"StatusId": "1000", "Quantity": 2}]));
        assert_eq!(app.stock("SKU-1", "DC-ATL").await.1 + app.stock("SKU-1", "ST-ATL").await.1, 0);
        assert_no_drift(&app).await;
    }

    when_allocated_units_are_canceled_should_release_exactly_their_stock => |app| {
        network(&app, 5).await;
        app.saved_order(&order("X-1", "Web", 3, false)).await;
        allocate(&app, "X-1").await;
        assert_eq!(reserved(&app).await, 3);
        let missing = app.post(CANCEL, &json!({"OrderId": "X-1"})).await;
        assert_eq!((missing.status, missing.error_field()), (StatusCode::BAD_REQUEST, Some("CancelReasonId")), "{}", missing.body);
        let one = app.post(CANCEL, &json!({"OrderId": "X-1", "CancelReasonId": "CustomerRequest", "OrderLine": [{"OrderLineId": "1", "Quantity": 1}]})).await;
        assert_eq!(one.status, StatusCode::OK, "{}", one.body);
        assert_eq!(statuses(&app, "X-1").await, json!({"2000": 2, "9000": 1}));
        assert_eq!(reserved(&app).await, 2, "exactly the canceled unit's stock came back");
        assert_eq!(last_mod_types(&app, "X-1").await, ["CancelOrderLine"]);
        assert_no_drift(&app).await;
        let rest = app.post(CANCEL, &json!({"OrderId": "X-1", "CancelReasonId": "CustomerRequest"})).await;
        assert_eq!(rest.status, StatusCode::OK, "{}", rest.body);
        assert_eq!(statuses(&app, "X-1").await, json!({"9000": 3}));
        assert_eq!(reserved(&app).await, 0);
        assert_eq!(last_mod_types(&app, "X-1").await, ["CancelOrder"]);
        assert_eq!(app.order("X-1").await["OrderLine"][0]["CancelReasonId"], "CustomerRequest");
        assert_no_drift(&app).await;
    }

    when_units_are_released_they_cannot_be_canceled => |app| {
        network(&app, 5).await;
        app.configure_order_type("Open", json!({"ModTypes": []})).await;
        app.saved_order(&order("X-2", "Open", 2, true)).await;
        allocate(&app, "X-2").await;
        common::release(&app, "X-2").await;
        let before = app.order("X-2").await;
        let refused = app.post(CANCEL, &json!({"OrderId": "X-2", "CancelReasonId": "CustomerRequest"})).await;
        assert_eq!(refused.body["errors"][0]["code"], "ord::10008", "{}", refused.body);
        assert_eq!(app.order("X-2").await, before);
    }

    when_released_units_ship_should_leave_on_hand_and_reserved_and_publish_once => |app| {
        network(&app, 5).await;
        app.saved_order(&order("S-1", "Web", 2, true)).await;
        let created = allocate(&app, "S-1").await;
        let id = created[0]["allocationId"].as_str().unwrap_or_else(|| panic!("an allocation id in {created}")).to_owned();
        let location = created[0]["locationNum"].as_str().unwrap().to_owned();
        let early = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&json!({"allocationId": id, "statusCode": "SHIPPED"}))).await;
        assert_eq!(early.status, StatusCode::CONFLICT, "not released yet: {}", early.body);
        drain_queues(&app.deps, 10).await;
        assert_eq!(statuses(&app, "S-1").await, json!({"3000": 2}));
        let too_many = json!({"allocationId": id, "items": [{"allocationLineNumber": 1, "shippedQuantity": 3}]});
        assert_eq!(app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&too_many)).await.status, StatusCode::CONFLICT);
        outbound(&app.deps, QueueName::OrderEvents).await;
        outbound(&app.deps, QueueName::Notifications).await;
        let shipped = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&json!({"allocationId": id, "statusCode": "SHIPPED"}))).await;
        assert_eq!(shipped.status, StatusCode::OK, "{}", shipped.body);
        assert_eq!(app.stock("SKU-1", &location).await, (3, 0), "on hand and reserved both dropped");
        assert_eq!(statuses(&app, "S-1").await, json!({"7000": 2}));
        assert_eq!(app.order("S-1").await["FulfillmentStatus"], "Fulfilled");
        assert_eq!(last_mod_types(&app, "S-1").await, ["ShipLine"]);
        assert_no_drift(&app).await;
        let events = outbound(&app.deps, QueueName::OrderEvents).await;
        assert_eq!(events.len(), 1, "one published order per transaction: {events:?}");
        assert_eq!((events[0]["MessageType"].as_str(), events[0]["ModTypes"].clone()), (Some("OrderLine"), json!(["ShipLine"])));
        assert_eq!(events[0]["Order"]["OrderLine"][0]["QuantityDetail"], json!([{"StatusId": "7000", "Quantity": 2}]));
        let notes = outbound(&app.deps, QueueName::Notifications).await;
        let kinds: Vec<(String, String)> = notes.iter().map(|n| (n["Channel"].as_str().unwrap().to_owned(), n["TemplateId"].as_str().unwrap().to_owned())).collect();
        assert_eq!(kinds, [("Email".to_owned(), "ShipConfirmation".to_owned()), ("Text".to_owned(), "ShipConfirmation".to_owned())]);
        assert!(notes[1]["Body"].as_str().unwrap().contains("S-1"), "{notes:?}");
        assert!(notes.iter().all(|n| n["Tenant"] == "demo" && n["MessageId"].as_str().is_some()));
    }

    when_several_mod_types_publish_in_one_change_should_put_one_order_message => |app| {
        app.configure_order_type("Loud", json!({"ModTypes": [
            {"ModTypeId": "ConfirmOrder", "Services": ["PublishOrder"]},
            {"ModTypeId": "UpdateOrderAttributes", "Services": ["PublishOrder"]},
            {"ModTypeId": "ApplyHold", "Services": ["PublishOrderLine"]}]})).await;
        app.saved_order(&order("P-1", "Loud", 1, false)).await;
        outbound(&app.deps, QueueName::OrderEvents).await;
        let change = json!({"OrderId": "P-1", "OrderType": {"OrderTypeId": "Loud"}, "IsConfirmed": true, "CurrencyCode": "EUR", "Hold": [{"HoldTypeId": "Review"}]});
        app.saved_order(&change).await;
        let events = outbound(&app.deps, QueueName::OrderEvents).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0]["MessageType"], "Order");
        assert_eq!(events[0]["ModTypes"], json!(["ConfirmOrder", "UpdateOrderAttributes", "ApplyHold"]));
        assert_eq!(events[0]["Order"]["CurrencyCode"], "EUR");
        assert_eq!(events[0]["MessageId"], format!("P-1-v{}-order", events[0]["Version"]));
    }

    when_a_pipeline_message_is_delivered_twice_should_release_once => |app| {
        network(&app, 5).await;
        app.configure_order_type("Manual", json!({"ModTypes": []})).await;
        app.saved_order(&order("D-1", "Manual", 2, true)).await;
        allocate(&app, "D-1").await;
        let body = json!({"Tenant": "demo", "OrderIds": ["D-1"], "Reallocate": false, "MessageId": "D-1-v9-pipeline"}).to_string();
        for receive_count in [1, 2] {
            let message = SqsMessageIn { message_id: "m-1".into(), body: body.clone(), receive_count };
            dispatch::consume_one(&app.deps, QueueName::OrderPipeline, message).await.unwrap();
        }
        assert_eq!(statuses(&app, "D-1").await, json!({"3000": 2}));
        let releases = app.get("/order/api/order/release/orderId/D-1").await;
        assert_eq!(releases.data()["Release"].as_array().map(Vec::len), Some(1), "{}", releases.body);
        assert_eq!(outbound(&app.deps, QueueName::Release).await.len(), 1);
        assert_no_drift(&app).await;
    }

    when_a_custom_template_is_saved_it_should_render_when_its_mod_type_occurs => |app| {
        let broken = app.put("/order/api/order/messageTemplate/Bad", &json!({"Channel": "Text", "Body": "{{ Order.NoSuchField.Deeper }}"})).await;
        assert_eq!((broken.status, broken.error_field()), (StatusCode::BAD_REQUEST, Some("Body")), "{}", broken.body);
        let base = app.put("/order/api/order/messageTemplate/ShipConfirmation", &json!({"Channel": "Text", "Body": "x"})).await;
        assert_eq!(base.status, StatusCode::BAD_REQUEST, "{}", base.body);
        let ok = app.put("/order/api/order/messageTemplate/Thanks", &json!({"Channel": "Text", "Body": "Thanks for order {{ Order.OrderId }}!"})).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.body);
        app.configure_order_type("Kind", json!({"ModTypes": [{"ModTypeId": "ConfirmOrder", "TextMessages": ["Thanks", "OrderConfirmation"]}]})).await;
        app.saved_order(&order("T-1", "Kind", 1, true)).await;
        let notes = outbound(&app.deps, QueueName::Notifications).await;
        let bodies: Vec<&str> = notes.iter().map(|n| n["Body"].as_str().unwrap()).collect();
        assert_eq!(bodies.len(), 2, "{notes:?}");
        assert_eq!(bodies[0], "Thanks for order T-1!");
        assert_eq!(notes[0]["ModTypes"], json!(["CreateOrder", "ConfirmOrder"]));
    }

    when_an_order_goes_through_its_whole_lifecycle_the_audit_should_name_each_step => |app| {
        network(&app, 5).await;
        app.saved_order(&order("W-1", "Web", 1, false)).await;
        assert_eq!(last_mod_types(&app, "W-1").await, ["CreateOrder"]);
        app.saved_order(&json!({"OrderId": "W-1", "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true})).await;
        assert_eq!(last_mod_types(&app, "W-1").await, ["ConfirmOrder"]);
        allocate(&app, "W-1").await;
        assert_eq!(last_mod_types(&app, "W-1").await, ["AllocateLine"]);
        drain_queues(&app.deps, 10).await;
        assert_eq!(last_mod_types(&app, "W-1").await, ["ReleaseLine"]);
        let docs = app.fabric(Method::POST, "/allocation/query", Some(&json!({"filters": {"orderNumber": "W-1"}}))).await;
        let id = docs.body[0]["allocationId"].as_str().unwrap().to_owned();
        let shipped = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&json!({"allocationId": id, "statusCode": "SHIPPED"}))).await;
        assert_eq!(shipped.status, StatusCode::OK, "{}", shipped.body);
        let order = app.order("W-1").await;
        assert_eq!(order["FulfillmentStatus"], "Fulfilled");
        let trail: Vec<&str> = order["OrderAudit"].as_array().unwrap().iter().flat_map(|a| a["ModTypes"].as_array().unwrap()).map(|m| m["ModTypeId"].as_str().unwrap()).collect();
        assert_eq!(trail, ["CreateOrder", "ConfirmOrder", "AllocateLine", "ReleaseLine", "ShipLine"]);
        assert_eq!(order["OrderAudit"][4]["ModTypes"][0]["OrderLineIds"], json!(["1"]));
        assert_eq!(order["OrderAudit"][4]["UpdatedBy"], "tester");
    }
}

/// The selling services are another issue's: configured, they are a no-op that says so in the
/// logs, and the order's prices stay as sent.
#[tokio::test(flavor = "current_thread")]
async fn when_a_pricing_service_is_configured_should_log_that_it_is_not_built_yet() {
    let app = common::spawn_app(common::Backend::Embedded).await.unwrap();
    app.configure_order_type(
        "Priced",
        json!({"ModTypes": [{"ModTypeId": "CreateOrder", "Services": ["CalculatePrice", "CalculateTaxes"]}]}),
    )
    .await;
    let (lines, data) = common::capture_logs(async { app.saved_order(&order("PR-1", "Priced", 2, false)).await }).await;
    let noops: Vec<&str> = lines
        .iter()
        .filter(|l| l["fields"]["message"].as_str().is_some_and(|m| m.starts_with("selling service not built yet")))
        .map(|l| l["fields"]["service"].as_str().unwrap())
        .collect();
    assert_eq!(noops, ["CalculatePrice", "CalculateTaxes"], "{lines:?}");
    assert_eq!(data["OrderLine"][0]["UnitPrice"], 10, "the price is what the order carries");
}
