//! fabric's published allocation document (Orders v2 collection): every field of items,
//! recipients and audit logs on every answer; item-level reallocation; scratch and ship by
//! item. Both backends; reconcile finds zero drift after each.

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApp, location};
use serde_json::{Value, json};

const ITEM_FIELDS: &[&str] = &[
    "allocationLineNumber",
    "itemId",
    "quantity",
    "sku",
    "orderLineId",
    "orderId",
    "orderDate",
    "estimatedDeliveryDate",
    "parentAllocationLineNumber",
    "reallocationRequestId",
    "shippedQuantity",
    "scratchQuantity",
    "scratchedReasonCode",
    "reshipReasonCode",
    "reallocationReasonCode",
    "channelId",
    "segment",
    "vendorId",
    "title",
    "weight",
    "cost",
    "price",
    "itemStatus",
    "attributes",
    "uom",
];
const AUDIT_FIELDS: &[&str] = &[
    "auditId",
    "auditType",
    "lineItemId",
    "lineItemNumber",
    "sku",
    "quantity",
    "amount",
    "employeeId",
    "auditTimestamp",
    "source",
    "reasonCode",
    "subReasonCode",
    "policyCode",
    "note",
    "success",
    "updatedFields",
    "attributes",
    "paymentToken",
    "paymentResponse",
];

/// Atlanta, Dallas and Newark DCs and a SoHo store, each with `units` of SKU-1.
async fn network(app: &TestApp, stock: &[(&str, i64)]) {
    for (id, name, kind, lat, lon) in [
        ("DC-ATL", "Atlanta DC", "DC", 33.64, -84.43),
        ("DC-DFW", "Dallas DC", "DC", 32.90, -97.04),
        ("DC-EWR", "Newark DC", "DC", 40.69, -74.17),
        ("ST-NYC", "SoHo store", "Store", 40.72, -74.00),
    ] {
        assert_eq!(
            app.put(&format!("/inventory/api/location/{id}"), &location(name, kind, lat, lon)).await.status,
            StatusCode::OK
        );
    }
    let rows: Vec<Value> =
        stock.iter().map(|(loc, qty)| json!({"LocationId": loc, "ItemId": "SKU-1", "Quantity": qty})).collect();
    let supply = app.post("/inventory/api/supply", &json!({"Mode": "Sync", "Supply": rows})).await;
    assert_eq!(supply.status, StatusCode::OK, "{}", supply.body);
}

/// An order shipped to Atlanta, with the recipient's contact, lines of SKU-1.
fn order(id: &str, lines: &[(&str, u32)]) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(line, qty)| json!({"OrderLineId": line, "ItemId": "SKU-1", "Quantity": qty, "UnitPrice": 12.5,
            "ItemDescription": "Blue mug", "UOM": "EACH", "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
            "ShipToAddress": {"Address": {"FirstName": "Ada", "MiddleName": "K", "LastName": "Byron", "Email": "ada@example.com",
                "Phone": "+1 404 555 0100", "PhoneType": "mobile", "Address1": "1 Main St", "City": "Atlanta", "Country": "US",
                "Latitude": 33.749, "Longitude": -84.388}}}))
        .collect();
    json!({"OrderId": id, "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true, "OrderLine": lines})
}

async fn allocated(app: &TestApp, body: Value) -> Vec<Value> {
    let id = body["OrderId"].as_str().unwrap().to_owned();
    let saved = app.post("/order/api/order/order", &body).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
    let reply = app
        .fabric(Method::POST, "/allocation/", Some(&json!({"detailType": "ORDER_CREATED", "detail": {"orderId": id}})))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body.as_array().unwrap().clone()
}

async fn get(app: &TestApp, id: &str) -> Value {
    let reply = app.fabric(Method::GET, &format!("/allocation/{id}"), None).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// (onHand, reserved) of SKU-1 at `location`.
async fn stock(app: &TestApp, location: &str) -> (i64, i64) {
    app.stock("SKU-1", location).await
}

async fn assert_no_drift(app: &TestApp) {
    let report = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({}))).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(report.body["drift"], json!([]), "{}", report.body);
}

/// Units of the order line at each status, e.g. `{"2000": 3, "7000": 1}`.
async fn line_statuses(app: &TestApp, order: &str, line: usize) -> Value {
    let reply = app.get(&format!("/order/api/order/order/orderId/{order}")).await;
    let detail = reply.data()["OrderLine"][line]["QuantityDetail"].as_array().cloned().unwrap_or_default();
    Value::Object(detail.iter().map(|q| (q["StatusId"].as_str().unwrap().to_owned(), q["Quantity"].clone())).collect())
}

fn assert_every_field(doc: &Value) {
    for item in doc["items"].as_array().unwrap() {
        for field in ITEM_FIELDS {
            assert!(item.as_object().unwrap().contains_key(*field), "item lacks {field}: {item}");
        }
    }
    for entry in doc["auditLogs"].as_array().unwrap() {
        for field in AUDIT_FIELDS {
            assert!(entry.as_object().unwrap().contains_key(*field), "audit entry lacks {field}: {entry}");
        }
    }
    for recipient in doc["recipient"].as_array().unwrap() {
        for field in ["name", "email", "phone", "pickupType"] {
            assert!(recipient.as_object().unwrap().contains_key(field), "recipient lacks {field}: {recipient}");
        }
    }
}

fn reallocate_lines(id: &str, order: &str, items: Value, to: Option<&str>) -> Value {
    let mut body = json!({"orderNumber": order, "channel": "12", "tenant": "demo", "id": id, "documentType": "ALLOCATION",
        "items": items, "reallocationReasonCode": "CLOSER_STOCK"});
    if let Some(to) = to {
        body["locationNum"] = json!(to);
    }
    body
}

on_both_backends! {
    when_a_fabric_client_reads_writes_queries_and_cancels_should_find_every_published_field => |app| {
        network(&app, &[("DC-ATL", 10)]).await;
        let docs = allocated(&app, order("F-1", &[("1", 2), ("2", 1)])).await;
        let id = docs[0]["allocationId"].as_str().unwrap().to_owned();
        assert_every_field(&docs[0]);
        let doc = get(&app, &id).await;
        assert_every_field(&doc);
        let items = doc["items"].as_array().unwrap();
        assert_eq!(items.iter().map(|i| i["allocationLineNumber"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(items[0]["orderLineId"], "1");
        assert_eq!(items[0]["orderId"], "F-1");
        assert_eq!(items[0]["sku"], "SKU-1");
        assert_eq!(items[0]["title"], "Blue mug");
        assert_eq!(items[0]["uom"], "EACH");
        assert_eq!(items[0]["price"], json!(12.5));
        assert_eq!(items[0]["itemStatus"], "ALLOCATED");
        assert_eq!(items[0]["weight"], Value::Null, "unknown values are null");
        assert_eq!(doc["recipient"], json!([{"name": {"first": "Ada", "middle": "K", "last": "Byron"},
            "email": "ada@example.com", "phone": {"number": "+1 404 555 0100", "type": "MOBILE"}, "pickupType": "Primary"}]));

        // Update with items, the way a client sends back what it read: one entry names the user.
        let mut body = doc.clone();
        body["items"][1]["title"] = json!("Blue mug, large");
        body["items"][1]["attributes"] = json!({"gift": true});
        body["allocationNum"] = json!("PICK-7");
        let updated = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&body)).await;
        assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
        assert_every_field(&updated.body);
        assert_eq!(updated.body["items"][1]["title"], "Blue mug, large");
        let entry = updated.body["auditLogs"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((entry["auditType"].as_str(), entry["employeeId"].as_str()), (Some("UPDATE"), Some("tester")));
        let fields: Vec<&str> = entry["updatedFields"].as_array().unwrap().iter().map(|f| f["fieldName"].as_str().unwrap()).collect();
        assert_eq!(fields, ["allocationNum", "items[2].title", "items[2].attributes"]);
        assert_eq!(entry["paymentToken"], Value::Null);

        // The deprecated lineId still names a line on input.
        let by_line_id = json!({"allocationId": id, "items": [{"lineId": "1", "reshipReasonCode": "R1"}]});
        let updated = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&by_line_id)).await;
        assert_eq!(updated.status, StatusCode::OK, "{}", updated.body);
        assert_eq!(updated.body["items"][0]["reshipReasonCode"], "R1");

        let query = app.fabric(Method::POST, "/allocation/query", Some(&json!({"limit": 10, "offset": 0, "sortBy": "updatedAt", "sortDirection": "desc", "filters": {}}))).await;
        assert_eq!(query.status, StatusCode::OK, "{}", query.body);
        for doc in query.body.as_array().unwrap() {
            assert_every_field(doc);
        }
        let by_item_field = app.fabric(Method::POST, "/allocation/query", Some(&json!({"filters": {"items": [{"orderLineId": "2", "itemStatus": "ALLOCATED"}]}}))).await;
        assert_eq!(by_item_field.body.as_array().map(Vec::len), Some(1), "{}", by_item_field.body);

        let cancelled = app.fabric(Method::PUT, &format!("/allocation/cancel/{id}"), None).await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
        let doc = &cancelled.body[0];
        assert_every_field(doc);
        assert!(doc["items"].as_array().unwrap().iter().all(|i| i["itemStatus"] == "CANCELLED"), "{doc}");
        let entry = doc["auditLogs"].as_array().unwrap().last().unwrap();
        assert_eq!((entry["auditType"].as_str(), entry["quantity"].as_u64()), (Some("CANCEL"), Some(3)));
        assert_eq!(stock(&app, "DC-ATL").await, (10, 0));
        assert_no_drift(&app).await;
    }

    when_a_pickup_line_is_allocated_its_recipients_should_be_the_pickup_persons_primary_first => |app| {
        network(&app, &[("ST-NYC", 5)]).await;
        let body = json!({"OrderId": "F-P", "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true,
            "PickupPerson": [{"FirstName": "Bob", "LastName": "Alt", "Phone": "555", "PhoneType": "Home", "PickupType": "Alternate"},
                {"FirstName": "Ann", "LastName": "Main", "Email": "ann@example.com"}],
            "OrderLine": [{"OrderLineId": "1", "ItemId": "SKU-1", "Quantity": 1, "UnitPrice": 3,
                "DeliveryMethod": {"DeliveryMethodId": "PickUpAtStore"}, "PickupLocationId": "ST-NYC"}]});
        let docs = allocated(&app, body).await;
        assert_eq!(docs[0]["recipient"], json!([
            {"name": {"first": "Ann", "middle": null, "last": "Main"}, "email": "ann@example.com", "phone": null, "pickupType": "Primary"},
            {"name": {"first": "Bob", "middle": null, "last": "Alt"}, "email": null, "phone": {"number": "555", "type": "HOME"}, "pickupType": "Alternate"}]));
        let two_primaries = json!({"OrderId": "F-P2", "OrderType": {"OrderTypeId": "Web"},
            "PickupPerson": [{"FirstName": "A", "PickupType": "Primary"}, {"FirstName": "B", "PickupType": "primary"}],
            "OrderLine": [{"OrderLineId": "1", "ItemId": "SKU-1", "Quantity": 1, "UnitPrice": 3,
                "DeliveryMethod": {"DeliveryMethodId": "PickUpAtStore"}, "PickupLocationId": "ST-NYC"}]});
        let refused = app.post("/order/api/order/order", &two_primaries).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST);
        assert_eq!(refused.error_field(), Some("PickupPerson[1].PickupType"));
    }

    when_reallocate_names_line_quantities_should_move_only_those_and_keep_the_rest => |app| {
        network(&app, &[("DC-ATL", 10), ("DC-DFW", 10)]).await;
        let docs = allocated(&app, order("F-2", &[("1", 5), ("2", 1)])).await;
        let id = docs[0]["allocationId"].as_str().unwrap().to_owned();
        let body = reallocate_lines(&id, "F-2", json!([{"allocationLineNumber": 1, "lineItemId": "1", "quantity": 2}]), Some("DC-DFW"));
        let moved = app.fabric(Method::PUT, "/allocation/reallocate", Some(&body)).await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
        let received = moved.body["allocations"].as_array().unwrap();
        assert_eq!(received.len(), 1);
        let new = &received[0];
        assert_every_field(new);
        assert_eq!((new["locationNum"].as_str(), new["parentAllocationId"].as_str()), (Some("DC-DFW"), Some(id.as_str())));
        let line = &new["items"][0];
        assert_eq!((line["quantity"].as_u64(), line["parentAllocationLineNumber"].as_u64()), (Some(2), Some(1)));
        assert_eq!(line["reallocationReasonCode"], "CLOSER_STOCK");
        assert!(line["reallocationRequestId"].is_string());
        assert_eq!(line["orderLineId"], "1");

        let source = get(&app, &id).await;
        assert_every_field(&source);
        assert_eq!(source["statusCode"], "ALLOCATED", "the source keeps the units that did not move");
        assert_eq!((source["items"][0]["quantity"].as_u64(), source["items"][0]["reallocatedQuantity"].as_u64()), (Some(5), Some(2)));
        assert_eq!(source["items"][0]["itemStatus"], "PARTIALLY_ALLOCATED");
        assert_eq!(source["items"][1]["itemStatus"], "ALLOCATED");
        let entry = source["auditLogs"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((entry["auditType"].as_str(), entry["lineItemNumber"].as_u64(), entry["quantity"].as_u64()), (Some("REALLOCATE"), Some(1), Some(2)));
        assert_eq!((entry["reasonCode"].as_str(), entry["employeeId"].as_str()), (Some("CLOSER_STOCK"), Some("tester")));
        assert!(entry["note"].as_str().unwrap().contains("DC-DFW"), "{entry}");
        assert_eq!(stock(&app, "DC-ATL").await, (10, 4));
        assert_eq!(stock(&app, "DC-DFW").await, (10, 2));
        assert_eq!(line_statuses(&app, "F-2", 0).await, json!({"2000": 5}), "the order's units stay allocated");
        assert_no_drift(&app).await;

        // Moving the rest of line 1 there joins the allocation the order already has at Dallas.
        let rest = reallocate_lines(&id, "F-2", json!([{"allocationLineNumber": 1}]), Some("DC-DFW"));
        let joined = app.fabric(Method::PUT, "/allocation/reallocate", Some(&rest)).await;
        assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
        let dallas = &joined.body["allocations"][0];
        assert_eq!(dallas["allocationId"], new["allocationId"], "{}", joined.body);
        let numbers: Vec<u64> = dallas["items"].as_array().unwrap().iter().map(|i| i["allocationLineNumber"].as_u64().unwrap()).collect();
        assert_eq!(numbers, [1, 2]);
        assert_eq!(dallas["items"][1]["quantity"], 3);
        assert_eq!(dallas["auditLogs"].as_array().unwrap().last().unwrap()["auditType"], "REALLOCATE");
        let source = get(&app, &id).await;
        assert_eq!(source["items"][0]["itemStatus"], "REALLOCATED");
        assert_eq!(source["statusCode"], "ALLOCATED", "line 2 is still held here");

        // Everything that is left moves: the source ends REALLOCATED.
        let last = reallocate_lines(&id, "F-2", json!([{"allocationLineNumber": 2, "quantity": 1}]), Some("DC-DFW"));
        assert_eq!(app.fabric(Method::PUT, "/allocation/reallocate", Some(&last)).await.status, StatusCode::OK);
        assert_eq!(get(&app, &id).await["statusCode"], "REALLOCATED");
        assert_eq!(stock(&app, "DC-ATL").await, (10, 0));
        assert_eq!(stock(&app, "DC-DFW").await, (10, 6));
        assert_no_drift(&app).await;
    }

    when_reallocate_items_are_bad_should_answer_400_naming_the_field_and_move_nothing => |app| {
        network(&app, &[("DC-ATL", 10), ("DC-DFW", 10)]).await;
        let docs = allocated(&app, order("F-3", &[("1", 2)])).await;
        let id = docs[0]["allocationId"].as_str().unwrap().to_owned();
        let other = allocated(&app, order("F-3B", &[("1", 1)])).await;
        let other_id = other[0]["allocationId"].as_str().unwrap().to_owned();
        let cases = [
            (reallocate_lines(&id, "F-3", json!([{"allocationLineNumber": 7, "quantity": 1}]), None), "items[0].allocationLineNumber"),
            (reallocate_lines(&id, "F-3", json!([{"allocationLineNumber": 1, "quantity": 3}]), None), "items[0].quantity"),
            (reallocate_lines(&id, "F-3", json!([{"allocationLineNumber": 1, "quantity": -1}]), None), "items[0].quantity"),
            (reallocate_lines(&id, "F-3", json!([{"allocationLineNumber": 1, "lineItemId": "9"}]), None), "items[0].lineItemId"),
            (reallocate_lines(&id, "F-3", json!([{"allocationLineNumber": 1}, {"allocationLineNumber": 1}]), None), "items[1].allocationLineNumber"),
            (reallocate_lines(&other_id, "F-3", json!([{"allocationLineNumber": 1}]), None), "orderNumber"),
            (json!({"channel": "12", "tenant": "demo", "id": [id, other_id], "documentType": "ALLOCATION", "items": [{"allocationLineNumber": 1}]}), "items[0].allocationId"),
            (reallocate_lines(&id, "F-3", json!([{"allocationLineNumber": 1}]), Some("DC-ATL")), "locationNum"),
        ];
        for (body, field) in cases {
            let refused = app.fabric(Method::PUT, "/allocation/reallocate", Some(&body)).await;
            assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{field}: {}", refused.body);
            assert_eq!(refused.body["field"], field, "{}", refused.body);
        }
        assert_eq!(get(&app, &id).await["version"], 1, "nothing was written");
        assert_eq!(stock(&app, "DC-ATL").await, (10, 3));
        assert_eq!(stock(&app, "DC-DFW").await, (10, 0));
        assert_no_drift(&app).await;
    }

    when_an_item_is_scratched_should_release_its_units_there_and_allocate_them_elsewhere => |app| {
        network(&app, &[("DC-ATL", 10), ("DC-DFW", 10)]).await;
        let docs = allocated(&app, order("F-4", &[("1", 4)])).await;
        let id = docs[0]["allocationId"].as_str().unwrap().to_owned();
        let body = json!({"allocationId": id, "version": 1, "items": [{"allocationLineNumber": 1, "scratchQuantity": 3, "scratchedReasonCode": "DAMAGED"}]});
        let scratched = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&body)).await;
        assert_eq!(scratched.status, StatusCode::OK, "{}", scratched.body);
        let item = &scratched.body["items"][0];
        assert_eq!((item["scratchQuantity"].as_u64(), item["scratchedReasonCode"].as_str()), (Some(3), Some("DAMAGED")));
        assert_eq!(item["itemStatus"], "PARTIALLY_ALLOCATED");
        assert_eq!(scratched.body["type"], "ALLOCATED");
        let entry = scratched.body["auditLogs"].as_array().unwrap().last().unwrap().clone();
        assert_eq!((entry["auditType"].as_str(), entry["quantity"].as_u64(), entry["reasonCode"].as_str()), (Some("SCRATCH"), Some(3), Some("DAMAGED")));
        assert!(entry["note"].as_str().unwrap().contains("DC-DFW"), "{entry}");
        assert_eq!(stock(&app, "DC-ATL").await, (10, 1));
        assert_eq!(stock(&app, "DC-DFW").await, (10, 3));
        let all = app.fabric(Method::POST, "/allocation/query", Some(&json!({"filters": {"orderNumber": "F-4", "locationNum": "DC-DFW"}}))).await;
        let dallas = &all.body[0];
        assert_eq!((dallas["items"][0]["quantity"].as_u64(), dallas["items"][0]["parentAllocationLineNumber"].as_u64()), (Some(3), Some(1)));
        assert_eq!(dallas["items"][0]["reallocationReasonCode"], "DAMAGED");
        assert_eq!(line_statuses(&app, "F-4", 0).await, json!({"2000": 4}));
        assert_no_drift(&app).await;
    }

    when_scratched_units_find_no_other_stock_should_be_back_ordered_and_the_type_scratched => |app| {
        network(&app, &[("DC-ATL", 10)]).await;
        let docs = allocated(&app, order("F-5", &[("1", 2)])).await;
        let id = docs[0]["allocationId"].as_str().unwrap().to_owned();
        let body = json!({"allocationId": id, "items": [{"allocationLineNumber": 1, "scratchQuantity": 2, "scratchedReasonCode": "NOT_FOUND"}]});
        let scratched = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&body)).await;
        assert_eq!(scratched.status, StatusCode::OK, "{}", scratched.body);
        assert_eq!(scratched.body["type"], "SCRATCHED");
        assert_eq!(scratched.body["items"][0]["itemStatus"], "SCRATCHED");
        assert_eq!(stock(&app, "DC-ATL").await, (10, 0));
        assert_eq!(line_statuses(&app, "F-5", 0).await, json!({"1500": 2}));
        let too_many = json!({"allocationId": id, "items": [{"allocationLineNumber": 1, "scratchQuantity": 3, "scratchedReasonCode": "X"}]});
        let refused = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&too_many)).await;
        assert_eq!((refused.status, refused.body["field"].as_str()), (StatusCode::BAD_REQUEST, Some("items[0].scratchQuantity")));
        assert_no_drift(&app).await;
    }

    when_items_ship_should_leave_on_hand_and_reserved_and_fulfil_the_order_line => |app| {
        network(&app, &[("DC-ATL", 10)]).await;
        let docs = allocated(&app, order("F-6", &[("1", 3)])).await;
        let id = docs[0]["allocationId"].as_str().unwrap().to_owned();
        let body = json!({"allocationId": id, "items": [{"allocationLineNumber": 1, "shippedQuantity": 1}]});
        let unreleased = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&body)).await;
        assert_eq!(unreleased.status, StatusCode::CONFLICT, "only released units ship: {}", unreleased.body);
        common::release(&app, "F-6").await;
        let shipped = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&body)).await;
        assert_eq!(shipped.status, StatusCode::OK, "{}", shipped.body);
        assert_eq!(shipped.body["statusCode"], "PARTIALLY_SHIPPED");
        assert_eq!(shipped.body["items"][0]["itemStatus"], "PARTIALLY_SHIPPED");
        assert_eq!(stock(&app, "DC-ATL").await, (9, 2));
        assert_eq!(line_statuses(&app, "F-6", 0).await, json!({"3000": 2, "7000": 1}));
        let too_many = json!({"allocationId": id, "items": [{"allocationLineNumber": 1, "shippedQuantity": 4}]});
        assert_eq!(app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&too_many)).await.status, StatusCode::CONFLICT);
        let rest = json!({"allocationId": id, "statusCode": "SHIPPED"});
        let all = app.fabric(Method::PUT, &format!("/allocation/{id}"), Some(&rest)).await;
        assert_eq!(all.status, StatusCode::OK, "{}", all.body);
        assert_eq!((all.body["statusCode"].as_str(), all.body["items"][0]["itemStatus"].as_str()), (Some("SHIPPED"), Some("SHIPPED")));
        let ships = all.body["auditLogs"].as_array().unwrap().iter().filter(|e| e["auditType"] == "SHIP").count();
        assert_eq!(ships, 2);
        assert_eq!(stock(&app, "DC-ATL").await, (7, 0));
        assert_eq!(line_statuses(&app, "F-6", 0).await, json!({"7000": 3}));
        assert_no_drift(&app).await;
    }
}
