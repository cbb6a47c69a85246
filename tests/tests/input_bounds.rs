//! What a caller can send is bounded before anything is written, so both stores answer the same
//! 400 naming the limit (DynamoDB alone would refuse an item over 400 KB or a number beyond its
//! range with a ValidationException, which used to surface as a 500).

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApp, sample_order};
use serde_json::{Value, json};

const SAVE: &str = "/order/api/order/order";

fn line(id: usize, text: &str) -> Value {
    json!({"OrderLineId": format!("{id}"), "ItemId": "SKU-1", "Quantity": 1, "UnitPrice": 1,
        "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
        "ShipToAddress": {"Address": {"FirstName": text, "LastName": text, "Address1": text, "Address2": text,
            "City": text, "State": text, "PostalCode": text, "Country": text}}})
}

fn order_with_lines(id: &str, count: usize, text: &str) -> Value {
    json!({"OrderId": id, "OrderType": {"OrderTypeId": "Web"}, "OrderLine": (0..count).map(|i| line(i, text)).collect::<Vec<_>>()})
}

/// Saves and allocates the sample order; returns the path of its allocation.
async fn allocated(app: &TestApp) -> String {
    let dc = common::location("Atlanta DC", "DC", 33.64, -84.43);
    assert_eq!(app.put("/inventory/api/location/DC-ATL", &dc).await.status, StatusCode::OK);
    let supply = json!({"Mode": "Sync", "Supply": [{"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": 10}]});
    assert_eq!(app.post("/inventory/api/supply", &supply).await.status, StatusCode::OK);
    assert_eq!(app.post(SAVE, &sample_order("O-B")).await.status, StatusCode::OK);
    let event = json!({"detailType": "ORDER_CREATED", "detail": {"orderId": "O-B"}});
    let reply = app.fabric(Method::POST, "/allocation/", Some(&event)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    format!("/allocation/{}", reply.body[0]["allocationId"].as_str().unwrap())
}

on_both_backends! {
    when_an_order_has_more_lines_than_the_limit_should_answer_400_naming_it => |app| {
        let refused = app.post(SAVE, &order_with_lines("O-MANY", 501, "x")).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.error_field(), Some("OrderLine"));
        assert!(refused.message().contains("500"), "{}", refused.message());
        assert_eq!(app.post(SAVE, &order_with_lines("O-MANY", 500, "x")).await.status, StatusCode::OK);
    }

    when_an_order_would_be_stored_larger_than_the_item_limit_should_answer_400_and_save_nothing => |app| {
        let refused = app.post(SAVE, &order_with_lines("O-BIG", 200, &"y".repeat(250))).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.error_field(), Some("OrderLine"));
        assert!(refused.message().contains("350000"), "{}", refused.message());
        assert_eq!(app.get("/order/api/order/order/orderId/O-BIG").await.status, StatusCode::NOT_FOUND);
    }

    when_an_allocation_update_carries_free_form_json_beyond_the_store_should_answer_400_naming_the_path => |app| {
        let path = allocated(&app).await;
        let id = path.trim_start_matches("/allocation/");
        let cases = [
            (json!({"allocationId": id, "recipient": [{"name": {"first": "x".repeat(20_000)}}]}), "recipient[0].name.first"),
            (json!({"allocationId": id, "recipient": [{"phone": {"number": "1", "type": "PAGER"}}]}), "recipient[0].phone.type"),
            (json!({"allocationId": id, "recipient": [{"pickupType": "Tertiary"}]}), "recipient[0].pickupType"),
            (json!({"allocationId": id, "items": [{"allocationLineNumber": 1, "attributes": serde_json::from_str::<Value>(r#"{"floor": 1e200}"#).unwrap()}]}), "items[0].attributes.floor"),
            (json!({"allocationId": id, "shipToAddress": {"": "nameless"}}), "shipToAddress"),
            (json!({"allocationId": id, "allocationNum": "9".repeat(5_000)}), "allocationNum"),
        ];
        for (body, field) in cases {
            let refused = app.fabric(Method::PUT, &path, Some(&body)).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{field}: {}", refused.body);
            assert_eq!(refused.body["field"], field);
        }
        assert_eq!(app.fabric(Method::GET, &path, None).await.body["version"], 1);
    }

    when_an_allocation_has_kept_the_most_audit_entries_the_oldest_should_make_room => |app| {
        let path = allocated(&app).await;
        let id = path.trim_start_matches("/allocation/");
        let mut last = Value::Null;
        for n in 0..103 {
            let body = json!({"allocationId": id, "allocationNum": format!("A-{n}")});
            last = app.fabric(Method::PUT, &path, Some(&body)).await.body;
            assert_eq!(last["allocationNum"], format!("A-{n}"), "{n}: {last}");
        }
        let logs = last["auditLogs"].as_array().unwrap();
        assert_eq!(logs.len(), 100);
        assert_eq!(logs[0]["attributes"]["allocationNum"], "A-3", "the three oldest entries went");
        assert_eq!(logs[99]["auditId"], format!("{id}-104-1"));
    }
}
