//! What Save Order may and may not change, exact money, and the bounds of what a caller can
//! send: through the router, on both backends.

mod common;

use axum::http::StatusCode;
use common::sample_order;
use serde_json::{Value, json};

const SAVE: &str = "/order/api/order/order";

fn get_path(id: &str) -> String {
    format!("/order/api/order/order/orderId/{id}")
}

fn with_detail(id: &str, detail: Value) -> Value {
    let mut order = sample_order(id);
    order["OrderLine"][0]["QuantityDetail"] = detail;
    order
}

/// One DC with plenty of SKU-1, so that sample orders allocate.
async fn stock_one_dc(app: &common::TestApp) {
    let dc = common::location("Atlanta DC", "DC", 33.64, -84.43);
    assert_eq!(app.put("/inventory/api/location/DC-ATL", &dc).await.status, StatusCode::OK);
    let supply = json!({"Mode": "Sync", "Supply": [{"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": 50}]});
    assert_eq!(app.post("/inventory/api/supply", &supply).await.status, StatusCode::OK);
}

on_both_backends! {
    when_a_new_order_puts_units_in_allocated_should_answer_400_naming_the_row_and_save_nothing => |app| {
        let detail = json!([{"StatusId": "2000", "Quantity": 2}]);
        let refused = app.post(SAVE, &with_detail("O-QD", detail)).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.error_field(), Some("OrderLine[0].QuantityDetail[0].StatusId"));
        assert_eq!(app.get(&get_path("O-QD")).await.status, StatusCode::NOT_FOUND);
    }

    when_a_new_line_of_a_saved_order_puts_units_past_open_should_answer_400_and_change_nothing => |app| {
        assert_eq!(app.post(SAVE, &sample_order("O-NL")).await.status, StatusCode::OK);
        let mut update = sample_order("O-NL");
        let mut line = update["OrderLine"][0].clone();
        line["OrderLineId"] = json!("2");
        line["QuantityDetail"] = json!([{"StatusId": "1000", "Quantity": 1}, {"StatusId": "7000", "Quantity": 1}]);
        update["OrderLine"] = json!([line]);
        let refused = app.post(SAVE, &update).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.body);
        assert_eq!(refused.error_field(), Some("OrderLine[0].QuantityDetail[1].StatusId"));
        let stored = app.get(&get_path("O-NL")).await;
        assert_eq!(stored.data()["Version"], 1);
        assert_eq!(stored.data()["OrderLine"].as_array().map(Vec::len), Some(1));
    }

    when_an_allocated_line_changes_its_item_or_return_flag_should_refuse_with_ord_10008 => |app| {
        stock_one_dc(&app).await;
        assert_eq!(app.post(SAVE, &sample_order("O-AL")).await.status, StatusCode::OK);
        let site = r#"{"account":"demo"}"#;
        let event = json!({"detailType": "ORDER_CREATED", "detail": {"orderId": "O-AL"}}).to_string();
        let allocated = app
            .send(axum::http::Method::POST, "/allocation/", Some(&app.demo_token()), &[("x-site-context", site)], Some(&event))
            .await;
        assert_eq!(allocated.status, StatusCode::OK, "{}", allocated.body);
        let edits: [(&str, Value); 2] = [("ItemId", json!("SKU-2")), ("IsReturn", json!(true))];
        for (field, value) in edits {
            let mut update = sample_order("O-AL");
            update["OrderLine"][0][field] = value;
            let refused = app.post(SAVE, &update).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{field}: {}", refused.body);
            assert_eq!(refused.body["messageKey"], "ord::10008", "{field}");
            assert!(refused.message().contains(field), "{}", refused.message());
        }
        let stored = app.get(&get_path("O-AL")).await;
        assert_eq!(stored.data()["OrderLine"][0]["ItemId"], "SKU-1");
        assert_eq!(stored.data()["OrderLine"][0]["MaxFulfillmentStatusId"], "2000");
        // A delivery change is the configuration's call: the default runs ReevaluatePipeline,
        // so the line restarts Open and its reservation is released with the change.
        let mut email = sample_order("O-AL");
        email["OrderLine"][0]["DeliveryMethod"] = json!({"DeliveryMethodId": "Email"});
        let restarted = app.post(SAVE, &email).await;
        assert_eq!(restarted.status, StatusCode::OK, "{}", restarted.body);
        assert_eq!(restarted.data()["OrderLine"][0]["QuantityDetail"], json!([{"StatusId": "1000", "Quantity": 2}]));
        assert_eq!(app.stock("SKU-1", "DC-ATL").await.1, 0);
    }

    when_amounts_have_more_digits_than_a_float_holds_should_round_trip_unchanged => |app| {
        let mut order = sample_order("O-MONEY");
        order["OrderLine"][0]["UnitPrice"] = serde_json::from_str("19.999999999999999999").unwrap();
        order["Payment"] = serde_json::from_str(
            r#"[{"PaymentMethod": [{"PaymentMethodId": "PM-1", "Amount": 39.999999999999999998, "CurrentAuthAmount": "0.000000000000000001"}]}]"#,
        )
        .unwrap();
        let saved = app.post(SAVE, &order).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        let got = app.get(&get_path("O-MONEY")).await;
        let order = got.data();
        assert_eq!(order["OrderLine"][0]["UnitPrice"].to_string(), "19.999999999999999999");
        assert_eq!(order["Payment"][0]["PaymentMethod"][0]["Amount"].to_string(), "39.999999999999999998");
        assert_eq!(order["Payment"][0]["PaymentMethod"][0]["CurrentAuthAmount"].to_string(), "0.000000000000000001");
        assert_eq!(order["OrderTotal"].to_string(), "39.999999999999999998");
    }
}
