//! Allocation requests that used to write part of their effect or answer 5xx: an order sent
//! inside the event, and reallocation ids named twice. Both backends.

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApp, sample_order};
use serde_json::{Value, json};

async fn stock_atlanta(app: &TestApp, quantity: i64) {
    let dc = common::location("Atlanta DC", "DC", 33.64, -84.43);
    assert_eq!(app.put("/inventory/api/location/DC-ATL", &dc).await.status, StatusCode::OK);
    let dallas = common::location("Dallas DC", "DC", 32.90, -97.04);
    assert_eq!(app.put("/inventory/api/location/DC-DFW", &dallas).await.status, StatusCode::OK);
    let rows = json!([{"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": quantity},
        {"LocationId": "DC-DFW", "ItemId": "SKU-1", "Quantity": quantity}]);
    let supply = app.post("/inventory/api/supply", &json!({"Mode": "Sync", "Supply": rows})).await;
    assert_eq!(supply.status, StatusCode::OK, "{}", supply.body);
}

async fn event_with_order(app: &TestApp, order: Value) -> common::Reply {
    let event = json!({"detailType": "ORDER_CREATED", "detail": {"order": order}});
    app.fabric(Method::POST, "/allocation/", Some(&event)).await
}

async fn reserved(app: &TestApp, location: &str) -> i64 {
    let reply = app.get("/inventory/api/availability/itemId/SKU-1").await;
    let rows = reply.data()["Locations"].as_array().cloned().unwrap_or_default();
    rows.iter().find(|r| r["LocationId"] == location).map_or(0, |r| r["Reserved"].as_i64().unwrap_or(0))
}

on_both_backends! {
    when_the_event_carries_an_order_with_an_unstocked_item_should_answer_404_and_save_nothing => |app| {
        stock_atlanta(&app, 5).await;
        let mut order = sample_order("O-EV1");
        order["OrderLine"][0]["ItemId"] = json!("SKU-NOWHERE");
        let refused = event_with_order(&app, order).await;
        assert_eq!(refused.status, StatusCode::NOT_FOUND, "{}", refused.body);
        assert!(refused.body["message"].as_str().unwrap_or_default().contains("detail.order.OrderLine[0].ItemId"));
        assert_eq!(app.get("/order/api/order/order/orderId/O-EV1").await.status, StatusCode::NOT_FOUND);
    }

    when_the_event_carries_an_invalid_order_should_answer_400_naming_the_full_path => |app| {
        stock_atlanta(&app, 5).await;
        type Edit = fn(&mut Value);
        let cases: [(Edit, &str); 3] = [
            (|o| o["OrderLine"][0]["Quantity"] = json!(2.5), "detail.order.OrderLine[0].Quantity"),
            (|o| { o["OrderLine"][0].as_object_mut().unwrap().remove("ItemId"); }, "detail.order.OrderLine[0].ItemId"),
            (|o| o["OrderLine"][0]["UnitPrice"] = json!("lots"), "detail.order.OrderLine[0].UnitPrice"),
        ];
        for (edit, field) in cases {
            let mut order = sample_order("O-EV2");
            edit(&mut order);
            let refused = event_with_order(&app, order).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{field}: {}", refused.body);
            assert_eq!(refused.body["field"], field);
        }
        assert_eq!(app.get("/order/api/order/order/orderId/O-EV2").await.status, StatusCode::NOT_FOUND);
        assert_eq!(reserved(&app, "DC-ATL").await, 0);
    }

    when_the_event_carries_a_valid_order_should_save_and_allocate_it_in_one_change => |app| {
        stock_atlanta(&app, 5).await;
        let reply = event_with_order(&app, sample_order("O-EV3")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let order = app.get("/order/api/order/order/orderId/O-EV3").await;
        assert_eq!(order.data()["Version"], 1);
        assert_eq!(order.data()["MaxFulfillmentStatusId"], "2000");
        assert_eq!(reserved(&app, "DC-ATL").await, 2);
    }

    when_reallocate_names_the_same_order_twice_should_move_it_once => |app| {
        stock_atlanta(&app, 5).await;
        let first = event_with_order(&app, sample_order("O-RE1")).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        let body = json!({"channel": "web", "tenant": "demo", "documentType": "ORDER", "id": ["O-RE1", "O-RE1"], "locationNum": "DC-DFW"});
        let moved = app.fabric(Method::PUT, "/allocation/reallocate", Some(&body)).await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
        assert_eq!(moved.body["allocations"].as_array().map(Vec::len), Some(1));
        assert_eq!((reserved(&app, "DC-ATL").await, reserved(&app, "DC-DFW").await), (0, 2));
        let id = moved.body["allocations"][0]["allocationId"].as_str().unwrap().to_owned();
        let by_id = json!({"channel": "web", "tenant": "demo", "documentType": "ALLOCATION", "id": [id, id.to_uppercase()], "locationNum": "DC-ATL"});
        let back = app.fabric(Method::PUT, "/allocation/reallocate", Some(&by_id)).await;
        assert_eq!(back.status, StatusCode::OK, "{}", back.body);
        assert_eq!((reserved(&app, "DC-ATL").await, reserved(&app, "DC-DFW").await), (2, 0));
    }
}
