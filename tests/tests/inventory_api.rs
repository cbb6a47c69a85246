//! Locations, supply and availability through the router, on both backends.

mod common;

use axum::http::StatusCode;
use common::location;
use serde_json::{Value, json};

const SUPPLY: &str = "/inventory/api/supply";

fn availability_path(item: &str) -> String {
    format!("/inventory/api/availability/itemId/{item}")
}

fn row<'a>(reply: &'a common::Reply, location: &str) -> &'a Value {
    reply.data()["Locations"].as_array().unwrap().iter().find(|r| r["LocationId"] == location).unwrap()
}

on_both_backends! {
    when_a_location_is_upserted_should_be_read_back_with_defaults => |app| {
        let put = app.put("/inventory/api/location/DC-1", &location("Atlanta DC", "DC", 33.65, -84.42)).await;
        assert_eq!(put.status, StatusCode::OK, "{}", put.body);
        let got = app.get("/inventory/api/location/DC-1").await;
        assert_eq!(got.status, StatusCode::OK);
        assert_eq!(got.data()["LocationId"], "DC-1");
        assert_eq!(got.data()["Type"], "DC");
        assert_eq!(got.data()["CanPickup"], false);
        assert_eq!(got.data()["Version"], 1);
    }

    when_a_location_update_carries_a_stale_version_should_answer_409 => |app| {
        app.put("/inventory/api/location/ST-1", &location("Store", "Store", 40.7, -74.0)).await;
        let mut update = location("Store renamed", "Store", 40.7, -74.0);
        update["Version"] = json!(1);
        assert_eq!(app.put("/inventory/api/location/ST-1", &update).await.status, StatusCode::OK);
        let stale = app.put("/inventory/api/location/ST-1", &update).await;
        assert_eq!(stale.status, StatusCode::CONFLICT);
    }

    when_a_location_has_an_invalid_latitude_should_answer_400_naming_it => |app| {
        let put = app.put("/inventory/api/location/DC-2", &location("Nowhere", "DC", 123.0, 0.0)).await;
        assert_eq!(put.status, StatusCode::BAD_REQUEST);
        assert_eq!(put.error_field(), Some("Latitude"));
        assert_eq!(app.get("/inventory/api/location/DC-2").await.status, StatusCode::NOT_FOUND);
    }

    when_a_location_type_is_unknown_should_answer_400_naming_it => |app| {
        let put = app.put("/inventory/api/location/DC-3", &location("Boat", "Ship", 10.0, 10.0)).await;
        assert_eq!(put.status, StatusCode::BAD_REQUEST);
        assert_eq!(put.error_field(), Some("Type"));
    }

    when_supply_is_synced_then_adjusted_should_show_on_hand_safety_and_available => |app| {
        app.put("/inventory/api/location/DC-1", &location("A", "DC", 33.6, -84.4)).await;
        app.put("/inventory/api/location/DC-2", &location("B", "DC", 32.9, -97.0)).await;
        let sync = app.post(SUPPLY, &json!({"Mode": "Sync", "Supply": [
            {"LocationId": "DC-1", "ItemId": "SKU-1", "Quantity": 40, "SafetyStock": 2},
            {"LocationId": "DC-2", "ItemId": "SKU-1", "Quantity": 5}]})).await;
        assert_eq!(sync.status, StatusCode::OK, "{}", sync.body);
        let adjust = app.post(SUPPLY, &json!({"Mode": "Adjust", "Supply": [{"LocationId": "DC-1", "ItemId": "SKU-1", "Quantity": -10}]})).await;
        assert_eq!(adjust.status, StatusCode::OK, "{}", adjust.body);
        let availability = app.get(&availability_path("SKU-1")).await;
        assert_eq!(availability.status, StatusCode::OK);
        let dc1 = row(&availability, "DC-1");
        assert_eq!((dc1["OnHand"].as_i64(), dc1["Reserved"].as_i64(), dc1["SafetyStock"].as_i64(), dc1["Available"].as_i64()), (Some(30), Some(0), Some(2), Some(28)));
        assert_eq!(row(&availability, "DC-2")["Available"], 5);
        assert_eq!(availability.data()["TotalAvailable"], 33);
    }

    when_an_adjustment_would_go_below_zero_should_answer_400_and_change_nothing => |app| {
        app.put("/inventory/api/location/DC-1", &location("A", "DC", 33.6, -84.4)).await;
        app.post(SUPPLY, &json!({"Mode": "Sync", "Supply": [{"LocationId": "DC-1", "ItemId": "SKU-1", "Quantity": 3}]})).await;
        let adjust = app.post(SUPPLY, &json!({"Mode": "Adjust", "Supply": [{"LocationId": "DC-1", "ItemId": "SKU-1", "Quantity": -4}]})).await;
        assert_eq!(adjust.status, StatusCode::BAD_REQUEST);
        assert_eq!(adjust.error_field(), Some("Supply[0].Quantity"));
        assert_eq!(row(&app.get(&availability_path("SKU-1")).await, "DC-1")["OnHand"], 3);
    }

    when_an_adjustment_would_leave_fewer_on_hand_than_reserved_should_answer_409_naming_the_shortfall_and_write_nothing => |app| {
        app.put("/inventory/api/location/DC-ATL", &location("Atlanta DC", "DC", 33.64, -84.43)).await;
        app.post(SUPPLY, &json!({"Mode": "Sync", "Supply": [
            {"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": 8},
            {"LocationId": "DC-ATL", "ItemId": "SKU-2", "Quantity": 10}]})).await;
        let mut order = common::sample_order("O-1");
        order["OrderLine"][0]["Quantity"] = json!(6);
        assert_eq!(app.post("/order/api/order/order", &order).await.status, StatusCode::OK);
        let event = json!({"detailType": "ORDER_CREATED", "detail": {"orderId": "O-1"}});
        assert_eq!(app.fabric(axum::http::Method::POST, "/allocation/", Some(&event)).await.status, StatusCode::OK);

        let adjust = app.post(SUPPLY, &json!({"Mode": "Adjust", "Supply": [
            {"LocationId": "DC-ATL", "ItemId": "SKU-2", "Quantity": -1},
            {"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": -5}]})).await;
        assert_eq!(adjust.status, StatusCode::CONFLICT, "{}", adjust.body);
        assert_eq!(adjust.message(), "cannot remove 5 units of SKU-1 at DC-ATL: 8 on hand, 6 reserved; 3 short");
        assert_eq!(row(&app.get(&availability_path("SKU-1")).await, "DC-ATL")["OnHand"], 8);
        assert_eq!(row(&app.get(&availability_path("SKU-2")).await, "DC-ATL")["OnHand"], 10, "no row is written");

        let down_to_reserved = json!({"Mode": "Adjust", "Supply": [{"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": -2}]});
        assert_eq!(app.post(SUPPLY, &down_to_reserved).await.status, StatusCode::OK);
        let count = app.post(SUPPLY, &json!({"Mode": "Sync", "Supply": [{"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": 4}]})).await;
        assert_eq!(count.status, StatusCode::OK, "only a count may leave reservations unbacked");
        assert_eq!(row(&app.get(&availability_path("SKU-1")).await, "DC-ATL")["Shortfall"], 2);
    }

    when_one_supply_row_is_invalid_should_write_no_row => |app| {
        app.put("/inventory/api/location/DC-1", &location("A", "DC", 33.6, -84.4)).await;
        let supply = app.post(SUPPLY, &json!({"Mode": "Sync", "Supply": [
            {"LocationId": "DC-1", "ItemId": "SKU-1", "Quantity": 10},
            {"LocationId": "DC-404", "ItemId": "SKU-1", "Quantity": 10}]})).await;
        assert_eq!(supply.status, StatusCode::BAD_REQUEST);
        assert_eq!(supply.error_field(), Some("Supply[1].LocationId"));
        let availability = app.get(&availability_path("SKU-1")).await;
        assert_eq!(availability.data()["Locations"], json!([]));
    }

    when_supply_mode_is_unknown_should_answer_400_naming_mode => |app| {
        let supply = app.post(SUPPLY, &json!({"Mode": "Replace", "Supply": [{"LocationId": "DC-1", "ItemId": "SKU-1", "Quantity": 1}]})).await;
        assert_eq!(supply.status, StatusCode::BAD_REQUEST);
        assert_eq!(supply.error_field(), Some("Mode"));
    }

    when_supply_has_more_than_100_rows_should_answer_400 => |app| {
        let rows: Vec<Value> = (0..101).map(|i| json!({"LocationId": "DC-1", "ItemId": format!("SKU-{i}"), "Quantity": 1})).collect();
        let supply = app.post(SUPPLY, &json!({"Mode": "Sync", "Supply": rows})).await;
        assert_eq!(supply.status, StatusCode::BAD_REQUEST);
        assert_eq!(supply.error_field(), Some("Supply"));
    }

    when_supply_has_100_rows_should_apply_them_in_one_transaction => |app| {
        app.put("/inventory/api/location/DC-1", &location("A", "DC", 33.6, -84.4)).await;
        let rows: Vec<Value> = (0..100).map(|i| json!({"LocationId": "DC-1", "ItemId": format!("SKU-{i}"), "Quantity": i})).collect();
        let supply = app.post(SUPPLY, &json!({"Mode": "Sync", "Supply": rows})).await;
        assert_eq!(supply.status, StatusCode::OK, "{}", supply.body);
        assert_eq!(row(&app.get(&availability_path("SKU-99")).await, "DC-1")["OnHand"], 99);
    }

    when_concurrent_adjustments_hit_one_row_should_lose_none => |app| {
        app.put("/inventory/api/location/DC-1", &location("A", "DC", 33.6, -84.4)).await;
        app.post(SUPPLY, &json!({"Mode": "Sync", "Supply": [{"LocationId": "DC-1", "ItemId": "SKU-1", "Quantity": 0}]})).await;
        let one_more = json!({"Mode": "Adjust", "Supply": [{"LocationId": "DC-1", "ItemId": "SKU-1", "Quantity": 1}]});
        let adds = (0..6).map(|_| app.post(SUPPLY, &one_more));
        let statuses: Vec<StatusCode> = futures::future::join_all(adds).await.into_iter().map(|r| r.status).collect();
        let applied = statuses.iter().filter(|s| **s == StatusCode::OK).count() as i64;
        assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT), "{statuses:?}");
        assert_eq!(row(&app.get(&availability_path("SKU-1")).await, "DC-1")["OnHand"].as_i64(), Some(applied));
    }

    when_another_tenant_reads_availability_should_see_none_of_it => |app| {
        app.put("/inventory/api/location/DC-1", &location("A", "DC", 33.6, -84.4)).await;
        app.post(SUPPLY, &json!({"Mode": "Sync", "Supply": [{"LocationId": "DC-1", "ItemId": "SKU-1", "Quantity": 9}]})).await;
        let acme = app.token("acme", common::ALL_PERMISSIONS);
        let reply = app.send(axum::http::Method::GET, &availability_path("SKU-1"), Some(&acme), &[], None).await;
        assert_eq!(reply.status, StatusCode::OK);
        assert_eq!(reply.data()["Locations"], json!([]));
        let location = app.send(axum::http::Method::GET, "/inventory/api/location/DC-1", Some(&acme), &[], None).await;
        assert_eq!(location.status, StatusCode::NOT_FOUND);
    }
}
