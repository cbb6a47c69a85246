use super::FulfillmentStatus::*;
use super::*;
use chrono::TimeZone;
use serde_json::json;

const SEED_SAMPLE: &str = r#"{"OrderId": "O-1", "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true, "OrderLine": [{"OrderLineId": "1", "ItemId": "SKU-1", "Quantity": 2, "UnitPrice": 19.99, "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"}, "ShipToAddress": {"Address": {"Address1": "1 Main St", "City": "Atlanta", "State": "GA", "PostalCode": "30303", "Country": "US", "Latitude": 33.749, "Longitude": -84.388}}}]}"#;

fn dec(value: &str) -> Decimal {
    value.parse().unwrap()
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

fn t(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 1, 31, 12, minute, 0).unwrap()
}

fn request(value: Value) -> SaveOrderRequest {
    serde_json::from_value(value).unwrap()
}

fn sample() -> Value {
    serde_json::from_str(SEED_SAMPLE).unwrap()
}

/// The sample order with `edit` applied to its JSON.
fn sample_with(edit: impl FnOnce(&mut Value)) -> SaveOrderRequest {
    let mut value = sample();
    edit(&mut value);
    request(value)
}

fn pickup_line(id: &str, qty: u32) -> Value {
    json!({
        "OrderLineId": id, "ItemId": "SKU-2", "Quantity": qty, "UnitPrice": 5,
        "DeliveryMethod": {"DeliveryMethodId": "PickUpAtStore"}, "PickupLocationId": "S1"
    })
}

fn create(req: &SaveOrderRequest) -> Result<Order, OmsError> {
    Order::from_request(req, &tenant(), &user("alice"), t(0), None)
}

fn update(req: &SaveOrderRequest, previous: &Order) -> Result<Order, OmsError> {
    Order::from_request(req, &tenant(), &user("bob"), t(5), Some(previous))
}

fn error_field(result: Result<Order, OmsError>) -> String {
    match result {
        Err(err) => err.field().unwrap_or("<no field>").to_owned(),
        Ok(_) => "<accepted>".to_owned(),
    }
}

fn line0(order: &Order) -> &OrderLine {
    &order.lines[0]
}

#[test]
fn when_sample_order_from_the_seed_is_saved_should_parse() {
    let order = create(&request(sample())).unwrap();
    assert_eq!(order.order_id.as_str(), "O-1");
    assert_eq!(order.order_type_id, "Web");
    assert!(order.is_confirmed);
    assert!(!order.is_import);
    assert_eq!(order.currency_code, "USD");
    assert_eq!(order.version, 1);
    let line = line0(&order);
    assert_eq!(line.quantity, 2);
    assert_eq!(line.unit_price, dec("19.99"));
    assert_eq!(line.delivery_method, DeliveryMethod::ShipToAddress);
    let address = line.ship_to.as_ref().unwrap();
    assert_eq!(address.coordinates(), Some((33.749, -84.388)));
    assert_eq!(address.state.as_deref(), Some("GA"));
    assert_eq!(line.quantities, BTreeMap::from([(Open, 2)]));
    assert_eq!(order.order_total(), dec("39.98"));
}

#[test]
fn when_order_is_new_should_be_version_1_created_and_updated_now_by_user() {
    let order = create(&request(sample())).unwrap();
    assert_eq!(order.org_id, tenant());
    assert_eq!(order.created_timestamp, t(0));
    assert_eq!(order.updated_timestamp, t(0));
    assert_eq!(order.created_by, user("alice"));
    assert_eq!(order.updated_by, user("alice"));
}

#[test]
fn when_payload_sets_created_by_should_be_ignored() {
    let req = sample_with(|v| {
        v["CreatedBy"] = json!("mallory");
        v["UpdatedBy"] = json!("mallory");
        v["CreatedTimestamp"] = json!("2001-01-01T00:00:00Z");
        v["UpdatedTimestamp"] = json!("2001-01-01T00:00:00Z");
        v["OrgId"] = json!("other");
    });
    let order = create(&req).unwrap();
    assert_eq!(order.created_by, user("alice"));
    assert_eq!(order.updated_by, user("alice"));
    assert_eq!(order.created_timestamp, t(0));
    assert_eq!(order.org_id, tenant());
}

#[test]
fn when_unknown_fields_are_sent_should_ignore_them() {
    let req = sample_with(|v| {
        v["Extended"] = json!({"Anything": 1});
        v["OrderLine"][0]["Note"] = json!("x");
    });
    assert!(create(&req).is_ok());
}

#[test]
fn when_order_id_is_missing_or_invalid_should_refuse_naming_it() {
    let missing = sample_with(|v| {
        v.as_object_mut().unwrap().remove("OrderId");
    });
    assert_eq!(error_field(create(&missing)), "OrderId");
    let invalid = sample_with(|v| v["OrderId"] = json!("O#1"));
    assert_eq!(error_field(create(&invalid)), "OrderId");
}

#[test]
fn when_order_type_is_missing_should_refuse_naming_order_type_id() {
    let missing = sample_with(|v| {
        v.as_object_mut().unwrap().remove("OrderType");
    });
    assert_eq!(error_field(create(&missing)), "OrderType.OrderTypeId");
    let blank = sample_with(|v| v["OrderType"] = json!({"OrderTypeId": " "}));
    assert_eq!(error_field(create(&blank)), "OrderType.OrderTypeId");
}

#[test]
fn when_order_has_no_lines_should_refuse_naming_order_line() {
    let empty = sample_with(|v| v["OrderLine"] = json!([]));
    assert_eq!(error_field(create(&empty)), "OrderLine");
    let missing = sample_with(|v| {
        v.as_object_mut().unwrap().remove("OrderLine");
    });
    assert_eq!(error_field(create(&missing)), "OrderLine");
}

#[test]
fn when_line_ids_repeat_should_refuse_naming_the_second_line() {
    let req = sample_with(|v| {
        let line = v["OrderLine"][0].clone();
        v["OrderLine"] = json!([line.clone(), pickup_line("2", 1), line]);
    });
    let err = create(&req).unwrap_err();
    assert_eq!(err.field(), Some("OrderLine[2].OrderLineId"));
    assert!(err.to_string().contains("OrderLine[0]"), "{err}");
}

#[test]
fn when_item_id_is_missing_should_refuse_naming_the_line() {
    let req = sample_with(|v| {
        v["OrderLine"][0].as_object_mut().unwrap().remove("ItemId");
    });
    assert_eq!(error_field(create(&req)), "OrderLine[0].ItemId");
}

#[test]
fn when_line_id_is_missing_should_refuse_naming_the_line() {
    let req = sample_with(|v| {
        v["OrderLine"] = json!([v["OrderLine"][0].clone(), {"ItemId": "X"}]);
    });
    assert_eq!(error_field(create(&req)), "OrderLine[1].OrderLineId");
}

#[test]
fn when_quantity_is_fractional_should_refuse_naming_the_line() {
    let req = sample_with(|v| {
        v["OrderLine"] = json!([pickup_line("1", 1), v["OrderLine"][0].clone()]);
        v["OrderLine"][1]["Quantity"] = json!(2.5);
    });
    let err = create(&req).unwrap_err();
    assert_eq!(err.field(), Some("OrderLine[1].Quantity"));
    assert!(err.to_string().contains("whole number"), "{err}");
}

#[test]
fn when_quantity_is_a_whole_float_should_accept_it() {
    let req = sample_with(|v| v["OrderLine"][0]["Quantity"] = json!(2.0));
    assert_eq!(line0(&create(&req).unwrap()).quantity, 2);
}

#[test]
fn when_quantity_is_zero_negative_too_large_or_missing_should_refuse() {
    for bad in [json!(0), json!(-1), json!(1_000_001), json!(1e30), json!(-2.0)] {
        let req = sample_with(|v| v["OrderLine"][0]["Quantity"] = bad.clone());
        assert_eq!(error_field(create(&req)), "OrderLine[0].Quantity", "{bad}");
    }
    let req = sample_with(|v| v["OrderLine"][0]["Quantity"] = json!(1_000_000));
    assert!(create(&req).is_ok());
    let missing = sample_with(|v| {
        v["OrderLine"][0].as_object_mut().unwrap().remove("Quantity");
    });
    assert_eq!(error_field(create(&missing)), "OrderLine[0].Quantity");
}

#[test]
fn when_unit_price_is_negative_or_missing_should_refuse() {
    let negative = sample_with(|v| v["OrderLine"][0]["UnitPrice"] = json!(-0.01));
    assert_eq!(error_field(create(&negative)), "OrderLine[0].UnitPrice");
    let missing = sample_with(|v| {
        v["OrderLine"][0].as_object_mut().unwrap().remove("UnitPrice");
    });
    assert_eq!(error_field(create(&missing)), "OrderLine[0].UnitPrice");
    let free = sample_with(|v| v["OrderLine"][0]["UnitPrice"] = json!(0));
    assert!(create(&free).is_ok());
}

#[test]
fn when_delivery_method_is_unknown_should_refuse_listing_the_four() {
    let req = sample_with(|v| v["OrderLine"][0]["DeliveryMethod"] = json!({"DeliveryMethodId": "Drone"}));
    let err = create(&req).unwrap_err();
    assert_eq!(err.field(), Some("OrderLine[0].DeliveryMethod.DeliveryMethodId"));
    let message = err.to_string();
    for id in ["ShipToAddress", "ShipToStore", "PickUpAtStore", "Email"] {
        assert!(message.contains(id), "{message}");
    }
    let missing = sample_with(|v| {
        v["OrderLine"][0].as_object_mut().unwrap().remove("DeliveryMethod");
    });
    assert_eq!(error_field(create(&missing)), "OrderLine[0].DeliveryMethod.DeliveryMethodId");
}

#[test]
fn when_delivery_method_differs_in_case_should_accept_canonical_id() {
    let req = sample_with(|v| v["OrderLine"][0]["DeliveryMethod"] = json!({"DeliveryMethodId": "shiptoaddress"}));
    assert_eq!(line0(&create(&req).unwrap()).delivery_method, DeliveryMethod::ShipToAddress);
}

#[test]
fn when_ship_to_address_line_has_no_address_should_refuse() {
    let req = sample_with(|v| {
        v["OrderLine"][0].as_object_mut().unwrap().remove("ShipToAddress");
    });
    assert_eq!(error_field(create(&req)), "OrderLine[0].ShipToAddress");
    let no_inner = sample_with(|v| v["OrderLine"][0]["ShipToAddress"] = json!({}));
    assert_eq!(error_field(create(&no_inner)), "OrderLine[0].ShipToAddress.Address");
}

#[test]
fn when_address_lacks_address1_city_or_country_should_refuse_naming_it() {
    for name in ["Address1", "City", "Country"] {
        let req = sample_with(|v| {
            v["OrderLine"][0]["ShipToAddress"]["Address"].as_object_mut().unwrap().remove(name);
        });
        assert_eq!(error_field(create(&req)), format!("OrderLine[0].ShipToAddress.Address.{name}"));
    }
    for names in [&["State"][..], &["PostalCode"], &["Latitude", "Longitude"]] {
        let req = sample_with(|v| {
            let address = v["OrderLine"][0]["ShipToAddress"]["Address"].as_object_mut().unwrap();
            for name in names {
                address.remove(*name);
            }
        });
        assert!(create(&req).is_ok(), "{names:?} should be optional");
    }
}

#[test]
fn when_coordinates_are_out_of_range_should_refuse_naming_them() {
    let lat = sample_with(|v| v["OrderLine"][0]["ShipToAddress"]["Address"]["Latitude"] = json!(90.5));
    assert_eq!(error_field(create(&lat)), "OrderLine[0].ShipToAddress.Address.Latitude");
    let lon = sample_with(|v| v["OrderLine"][0]["ShipToAddress"]["Address"]["Longitude"] = json!(-180.01));
    assert_eq!(error_field(create(&lon)), "OrderLine[0].ShipToAddress.Address.Longitude");
}

#[test]
fn when_only_one_coordinate_is_given_should_refuse_naming_the_missing_one() {
    let req = sample_with(|v| {
        v["OrderLine"][0]["ShipToAddress"]["Address"].as_object_mut().unwrap().remove("Longitude");
    });
    assert_eq!(error_field(create(&req)), "OrderLine[0].ShipToAddress.Address.Longitude");
    let req = sample_with(|v| {
        v["OrderLine"][0]["ShipToAddress"]["Address"].as_object_mut().unwrap().remove("Latitude");
    });
    assert_eq!(error_field(create(&req)), "OrderLine[0].ShipToAddress.Address.Latitude");
}

#[test]
fn when_store_delivery_has_no_pickup_location_should_refuse() {
    for method in ["PickUpAtStore", "ShipToStore"] {
        let req = sample_with(|v| {
            v["OrderLine"] = json!([pickup_line("1", 1)]);
            v["OrderLine"][0]["DeliveryMethod"]["DeliveryMethodId"] = json!(method);
            v["OrderLine"][0].as_object_mut().unwrap().remove("PickupLocationId");
        });
        assert_eq!(error_field(create(&req)), "OrderLine[0].PickupLocationId", "{method}");
    }
    let ok = sample_with(|v| v["OrderLine"] = json!([pickup_line("1", 1)]));
    let order = create(&ok).unwrap();
    assert_eq!(line0(&order).pickup_location_id.as_ref().map(|l| l.as_str()), Some("S1"));
    assert_eq!(line0(&order).ship_to, None);
}

#[test]
fn when_email_line_has_no_address_should_accept() {
    let req = sample_with(|v| {
        v["OrderLine"] = json!([{
            "OrderLineId": "1", "ItemId": "GIFT", "Quantity": 1, "UnitPrice": 25,
            "DeliveryMethod": {"DeliveryMethodId": "Email"}
        }]);
    });
    assert!(create(&req).is_ok());
}

#[test]
fn when_quantity_detail_is_all_open_should_accept_it_without_zero_rows() {
    let req = sample_with(|v| {
        v["OrderLine"][0]["Quantity"] = json!(3);
        v["OrderLine"][0]["QuantityDetail"] =
            json!([{"StatusId": "1000.000", "Quantity": 3}, {"StatusId": 3000, "Quantity": 0}]);
    });
    let order = create(&req).unwrap();
    assert_eq!(line0(&order).quantities, BTreeMap::from([(Open, 3)]));
}

#[test]
fn when_a_new_line_puts_units_past_open_should_refuse_naming_the_status_row() {
    for status in ["1500", "2000", "3000", "7000", "9000"] {
        let req = sample_with(|v| {
            v["OrderLine"][0]["QuantityDetail"] =
                json!([{"StatusId": "1000", "Quantity": 1}, {"StatusId": status, "Quantity": 1}]);
        });
        let err = create(&req).unwrap_err();
        assert_eq!(err.field(), Some("OrderLine[0].QuantityDetail[1].StatusId"), "{status}");
        assert!(err.to_string().contains(status), "{err}");
    }
}

#[test]
fn when_an_update_sends_back_the_stored_quantity_detail_of_an_allocated_line_should_accept_it() {
    let mut first = create(&request(sample())).unwrap();
    first.lines[0].move_quantity(Open, Allocated, 1).unwrap();
    let req = sample_with(|v| {
        v["OrderLine"][0]["QuantityDetail"] =
            json!([{"StatusId": "1000", "Quantity": 1}, {"StatusId": "2000", "Quantity": 1}]);
        v["OrderLine"][0]["UnitPrice"] = json!(17.5);
    });
    let second = update(&req, &first).unwrap();
    assert_eq!(line0(&second).quantities, BTreeMap::from([(Open, 1), (Allocated, 1)]));
    assert_eq!(line0(&second).unit_price, dec("17.5"));
}

#[test]
fn when_an_update_moves_units_of_an_allocated_line_should_not_be_permitted() {
    let mut first = create(&request(sample())).unwrap();
    first.lines[0].move_quantity(Open, Allocated, 2).unwrap();
    let req = sample_with(|v| v["OrderLine"][0]["QuantityDetail"] = json!([{"StatusId": "1000", "Quantity": 2}]));
    assert!(matches!(update(&req, &first), Err(OmsError::NotPermitted { code: LINE_MOD_NOT_PERMITTED, .. })));
}

#[test]
fn when_a_line_past_open_changes_item_or_return_flag_should_not_be_permitted() {
    type Edit = fn(&mut Value);
    let edits: [(&str, Edit); 2] = [
        ("ItemId", |v| v["OrderLine"][0]["ItemId"] = json!("SKU-9")),
        ("IsReturn", |v| v["OrderLine"][0]["IsReturn"] = json!(true)),
    ];
    for (back_ordered, status) in [(false, "Allocated"), (true, "Back Ordered")] {
        let mut first = create(&request(sample())).unwrap();
        let to = if back_ordered { BackOrdered } else { Allocated };
        first.lines[0].move_quantity(Open, to, 1).unwrap();
        for (field, edit) in edits {
            match update(&sample_with(edit), &first) {
                Err(OmsError::NotPermitted { code, message }) => {
                    assert_eq!(code, LINE_MOD_NOT_PERMITTED);
                    assert!(message.contains(status) && message.contains(field), "{message}");
                }
                other => panic!("{field}: expected NotPermitted, got {other:?}"),
            }
        }
        // A delivery change merges: the order type's configuration decides (service::lifecycle).
        let moved =
            update(&sample_with(|v| v["OrderLine"][0]["DeliveryMethod"]["DeliveryMethodId"] = json!("Email")), &first);
        assert_eq!(moved.unwrap().lines[0].quantity_at(to), 1);
    }
}

#[test]
fn when_an_open_line_changes_item_return_flag_or_delivery_should_accept_it() {
    let first = create(&request(sample())).unwrap();
    let req = sample_with(|v| {
        v["OrderLine"][0]["ItemId"] = json!("SKU-9");
        v["OrderLine"][0]["IsReturn"] = json!(true);
    });
    let second = update(&req, &first).unwrap();
    assert_eq!((line0(&second).item_id.as_str(), line0(&second).is_return), ("SKU-9", true));
}

#[test]
fn when_quantity_detail_does_not_sum_to_quantity_should_refuse_on_the_list() {
    let req = sample_with(|v| {
        v["OrderLine"][0]["QuantityDetail"] = json!([{"StatusId": "1000", "Quantity": 3}]);
    });
    let err = create(&req).unwrap_err();
    assert_eq!(err.field(), Some("OrderLine[0].QuantityDetail"));
    assert!(err.to_string().contains("add up to 3"), "{err}");
}

#[test]
fn when_quantity_detail_row_is_invalid_should_refuse_naming_the_row() {
    let cases = [
        (json!({"StatusId": "1000", "Quantity": -1}), "Quantity"),
        (json!({"StatusId": "1000", "Quantity": 0.5}), "Quantity"),
        (json!({"StatusId": "4000", "Quantity": 2}), "StatusId"),
        (json!({"Quantity": 2}), "StatusId"),
        (json!({"StatusId": "1000"}), "Quantity"),
    ];
    for (row, name) in cases {
        let req = sample_with(|v| v["OrderLine"][0]["QuantityDetail"] = json!([row]));
        assert_eq!(error_field(create(&req)), format!("OrderLine[0].QuantityDetail[0].{name}"));
    }
    let twice = sample_with(|v| {
        v["OrderLine"][0]["QuantityDetail"] = json!([
            {"StatusId": "1000", "Quantity": 1}, {"StatusId": "1000.000", "Quantity": 1}
        ])
    });
    assert_eq!(error_field(create(&twice)), "OrderLine[0].QuantityDetail[1].StatusId");
}

#[test]
fn when_do_not_release_before_is_rfc3339_should_parse_else_refuse() {
    let ok = sample_with(|v| v["DoNotReleaseBefore"] = json!("2025-02-01T10:00:00+02:00"));
    assert_eq!(create(&ok).unwrap().do_not_release_before, Some(Utc.with_ymd_and_hms(2025, 2, 1, 8, 0, 0).unwrap()));
    let bad = sample_with(|v| v["DoNotReleaseBefore"] = json!("tomorrow"));
    assert_eq!(error_field(create(&bad)), "DoNotReleaseBefore");
}

#[test]
fn when_currency_code_is_given_should_be_three_letters_upper_cased() {
    let ok = sample_with(|v| v["CurrencyCode"] = json!("eur"));
    assert_eq!(create(&ok).unwrap().currency_code, "EUR");
    let bad = sample_with(|v| v["CurrencyCode"] = json!("EURO"));
    assert_eq!(error_field(create(&bad)), "CurrencyCode");
}

#[test]
fn when_payment_invoice_and_charges_are_valid_should_keep_them() {
    let req = sample_with(|v| {
        v["Payment"] = json!([{
            "PaymentHeaderId": "P1", "PaymentStatus": {"PaymentStatusId": "Authorized"},
            "PaymentMethod": [{"PaymentMethodId": "PM1", "Amount": 50, "CurrentAuthAmount": 50}]
        }]);
        v["Invoice"] = json!([{
            "InvoiceId": "I1", "InvoiceType": {"InvoiceTypeId": "Shipping"}, "Amount": 39.98,
            "AmountProcessed": 39.98, "PublishStatus": {"PublishStatusId": "Published"}
        }]);
        v["OrderChargeDetail"] = json!([
            {"ChargeDetailId": "C1", "ChargeType": {"ChargeTypeId": "Shipping"}, "ChargeTotal": 5}
        ]);
        v["PaymentStatus"] = json!({"PaymentStatusId": "Paid"});
    });
    let order = create(&req).unwrap();
    let method = &order.payments[0].methods[0];
    assert_eq!(method.amount, dec("50"));
    assert_eq!(method.current_settled_amount, Decimal::ZERO);
    assert_eq!(order.payments[0].payment_status_id.as_deref(), Some("Authorized"));
    assert_eq!(order.invoices[0].invoice_type, InvoiceType::Shipping);
    assert_eq!(order.invoices[0].publish_status, PublishStatus::Published);
    assert_eq!(order.invoices[0].failed_amount, Decimal::ZERO);
    assert_eq!(order.charges[0].charge_total, dec("5"));
    assert_eq!(order.payment_status.as_deref(), Some("Paid"));
}

#[test]
fn when_an_amount_is_negative_should_refuse_naming_it() {
    let cases: [(&str, Value, &str); 4] = [
        (
            "Payment",
            json!([{"PaymentMethod": [{"PaymentMethodId": "PM1", "Amount": 1, "CurrentRefundAmount": -1}]}]),
            "Payment[0].PaymentMethod[0].CurrentRefundAmount",
        ),
        (
            "Invoice",
            json!([{"InvoiceId": "I1", "InvoiceType": {"InvoiceTypeId": "Adjustment"}, "Amount": -3}]),
            "Invoice[0].Amount",
        ),
        (
            "OrderChargeDetail",
            json!([{"ChargeDetailId": "C1", "ChargeType": {"ChargeTypeId": "Discount"}, "ChargeTotal": -2}]),
            "OrderChargeDetail[0].ChargeTotal",
        ),
        (
            "Invoice",
            json!([{"InvoiceId": "I1", "InvoiceType": {"InvoiceTypeId": "Adjustment"}, "Amount": 1, "FailedAmount": -0.5}]),
            "Invoice[0].FailedAmount",
        ),
    ];
    for (key, value, field) in cases {
        let req = sample_with(|v| v[key] = value);
        assert_eq!(error_field(create(&req)), field);
    }
}

#[test]
fn when_invoice_type_or_publish_status_is_unknown_should_refuse_listing_choices() {
    let req = sample_with(|v| {
        v["Invoice"] = json!([{"InvoiceId": "I1", "InvoiceType": {"InvoiceTypeId": "Refund"}, "Amount": 1}]);
    });
    let err = create(&req).unwrap_err();
    assert_eq!(err.field(), Some("Invoice[0].InvoiceType.InvoiceTypeId"));
    assert!(err.to_string().contains("Shipping, Adjustment"), "{err}");
    let req = sample_with(|v| {
        v["Invoice"] = json!([{
            "InvoiceId": "I1", "InvoiceType": {"InvoiceTypeId": "Shipping"}, "Amount": 1,
            "PublishStatus": {"PublishStatusId": "Sent"}
        }]);
    });
    assert_eq!(error_field(create(&req)), "Invoice[0].PublishStatus.PublishStatusId");
}

#[test]
fn when_charge_type_is_missing_should_refuse_naming_it() {
    let req = sample_with(|v| {
        v["OrderChargeDetail"] = json!([{"ChargeDetailId": "C1", "ChargeTotal": 1}]);
    });
    assert_eq!(error_field(create(&req)), "OrderChargeDetail[0].ChargeType.ChargeTypeId");
}

#[test]
fn when_order_is_updated_should_bump_version_and_keep_created() {
    let first = create(&request(sample())).unwrap();
    let second = update(&request(sample()), &first).unwrap();
    assert_eq!(second.version, 2);
    assert_eq!(second.created_timestamp, t(0));
    assert_eq!(second.created_by, user("alice"));
    assert_eq!(second.updated_timestamp, t(5));
    assert_eq!(second.updated_by, user("bob"));
}

#[test]
fn when_update_sends_a_stale_version_should_conflict() {
    let first = create(&request(sample())).unwrap();
    let stale = sample_with(|v| v["Version"] = json!(7));
    assert!(matches!(update(&stale, &first), Err(OmsError::Conflict(_))));
    let current = sample_with(|v| v["Version"] = json!(1));
    assert_eq!(update(&current, &first).unwrap().version, 2);
}

#[test]
fn when_update_omits_a_line_should_keep_it() {
    let req = sample_with(|v| {
        v["OrderLine"] = json!([v["OrderLine"][0].clone(), pickup_line("2", 4)]);
    });
    let mut first = create(&req).unwrap();
    first.lines[1].move_quantity(Open, Allocated, 4).unwrap();
    let second = update(&request(sample()), &first).unwrap();
    assert_eq!(second.lines.len(), 2);
    assert_eq!(second.lines[1], first.lines[1]);
}

#[test]
fn when_update_adds_a_line_should_append_it_open() {
    let first = create(&request(sample())).unwrap();
    let req = sample_with(|v| v["OrderLine"] = json!([pickup_line("9", 2)]));
    let second = update(&req, &first).unwrap();
    let ids: Vec<&str> = second.lines.iter().map(|l| l.order_line_id.as_str()).collect();
    assert_eq!(ids, ["1", "9"]);
    assert_eq!(second.lines[1].quantities, BTreeMap::from([(Open, 2)]));
}

#[test]
fn when_update_keeps_quantity_should_keep_per_status_quantities() {
    let mut first = create(&request(sample())).unwrap();
    first.lines[0].move_quantity(Open, Allocated, 1).unwrap();
    let req = sample_with(|v| v["OrderLine"][0]["UnitPrice"] = json!(10));
    let second = update(&req, &first).unwrap();
    assert_eq!(line0(&second).quantities, BTreeMap::from([(Open, 1), (Allocated, 1)]));
    assert_eq!(line0(&second).unit_price, dec("10"));
}

#[test]
fn when_update_changes_quantity_of_an_open_line_should_reset_it_open() {
    let first = create(&request(sample())).unwrap();
    let req = sample_with(|v| v["OrderLine"][0]["Quantity"] = json!(5));
    let second = update(&req, &first).unwrap();
    assert_eq!(line0(&second).quantities, BTreeMap::from([(Open, 5)]));
}

#[test]
fn when_update_changes_quantity_of_an_allocated_line_should_add_open_units_and_cut_open_ones_first() {
    let mut first = create(&request(sample())).unwrap();
    first.lines[0].move_quantity(Open, Allocated, 1).unwrap();
    let more = update(&sample_with(|v| v["OrderLine"][0]["Quantity"] = json!(5)), &first).unwrap();
    assert_eq!(more.lines[0].quantities, BTreeMap::from([(Open, 4), (Allocated, 1)]));
    let fewer = update(&sample_with(|v| v["OrderLine"][0]["Quantity"] = json!(1)), &first).unwrap();
    assert_eq!(fewer.lines[0].quantities, BTreeMap::from([(Allocated, 1)]), "the open unit goes first");
    first.lines[0].move_quantity(Allocated, Released, 1).unwrap();
    first.lines[0].move_quantity(Open, Fulfilled, 1).unwrap();
    match update(&sample_with(|v| v["OrderLine"][0]["Quantity"] = json!(1)), &first) {
        Err(OmsError::NotPermitted { code, message }) => {
            assert_eq!(code, LINE_MOD_NOT_PERMITTED);
            assert!(message.contains("2 units are released, fulfilled or canceled"), "{message}");
        }
        other => panic!("expected NotPermitted, got {other:?}"),
    }
}

#[test]
fn when_update_cancels_units_through_quantity_detail_should_refuse_naming_the_row() {
    let first = create(&request(sample())).unwrap();
    let req = sample_with(|v| {
        v["OrderLine"][0]["QuantityDetail"] = json!([{"StatusId": "9000", "Quantity": 2}]);
    });
    assert_eq!(error_field(update(&req, &first)), "OrderLine[0].QuantityDetail[0].StatusId");
}

#[test]
fn when_update_omits_header_fields_should_keep_stored_values() {
    let req = sample_with(|v| {
        v["IsImport"] = json!(true);
        v["CurrencyCode"] = json!("EUR");
        v["DoNotReleaseBefore"] = json!("2025-03-01T00:00:00Z");
        v["OrderChargeDetail"] =
            json!([{"ChargeDetailId": "C1", "ChargeType": {"ChargeTypeId": "Shipping"}, "ChargeTotal": 5}]);
    });
    let first = create(&req).unwrap();
    let partial = sample_with(|v| {
        v.as_object_mut().unwrap().remove("IsConfirmed");
        v["OrderLine"] = json!([]);
    });
    let second = update(&partial, &first).unwrap();
    assert!(second.is_confirmed && second.is_import);
    assert_eq!(second.currency_code, "EUR");
    assert_eq!(second.do_not_release_before, first.do_not_release_before);
    assert_eq!(second.charges, first.charges);
    assert_eq!(second.lines, first.lines);
    let cleared = sample_with(|v| v["OrderChargeDetail"] = json!([]));
    assert!(update(&cleared, &first).unwrap().charges.is_empty());
}

#[test]
fn when_previous_order_is_another_order_should_fail_internally() {
    let first = create(&request(sample())).unwrap();
    let other = sample_with(|v| v["OrderId"] = json!("O-2"));
    assert!(matches!(update(&other, &first), Err(OmsError::Internal(_))));
}

#[test]
fn when_line_is_partly_allocated_min_should_be_open_and_max_allocated() {
    let mut order = create(&request(sample())).unwrap();
    order.lines[0].move_quantity(Open, Allocated, 1).unwrap();
    assert_eq!(line0(&order).min_status(), Some(Open));
    assert_eq!(line0(&order).max_status(), Some(Allocated));
    assert_eq!(order.min_status(), Some(Open));
    assert_eq!(order.max_status(), Some(Allocated));
    assert_eq!(order.fulfillment_status_description().as_deref(), Some("Partially Allocated"));
}

#[test]
fn when_all_units_are_canceled_min_and_max_should_be_9000() {
    let mut order = create(&request(sample())).unwrap();
    order.lines[0].move_quantity(Open, Canceled, 2).unwrap();
    assert!(line0(&order).is_canceled());
    assert_eq!(order.min_status(), Some(Canceled));
    assert_eq!(order.max_status(), Some(Canceled));
    assert_eq!(line0(&order).max_status(), Some(Canceled));
}

#[test]
fn when_one_line_is_canceled_order_status_should_follow_the_other_lines() {
    let req = sample_with(|v| {
        v["OrderLine"] = json!([v["OrderLine"][0].clone(), pickup_line("2", 1)]);
    });
    let mut order = create(&req).unwrap();
    order.lines[0].move_quantity(Open, Canceled, 2).unwrap();
    order.lines[1].move_quantity(Open, Released, 1).unwrap();
    assert_eq!(order.min_status(), Some(Released));
    assert_eq!(order.max_status(), Some(Released));
    assert!(!order.lines[1].is_canceled());
}

#[test]
fn when_moving_more_than_is_there_should_refuse_and_change_nothing() {
    let mut order = create(&request(sample())).unwrap();
    let before = order.lines[0].clone();
    assert!(matches!(order.lines[0].move_quantity(Open, Allocated, 3), Err(OmsError::Conflict(_))));
    assert!(order.lines[0].move_quantity(Allocated, Released, 1).is_err());
    assert_eq!(order.lines[0], before);
}

#[test]
fn when_moving_units_should_keep_the_sum_and_drop_empty_statuses() {
    let mut order = create(&request(sample())).unwrap();
    let line = &mut order.lines[0];
    line.move_quantity(Open, Allocated, 2).unwrap();
    assert_eq!(line.quantities, BTreeMap::from([(Allocated, 2)]));
    line.move_quantity(Allocated, Released, 1).unwrap();
    line.move_quantity(Released, Released, 1).unwrap();
    line.move_quantity(Allocated, Fulfilled, 0).unwrap();
    assert_eq!(line.quantity_at(Allocated), 1);
    assert_eq!(line.quantity_at(Released), 1);
    assert_eq!(line.quantity_at(Open), 0);
    assert_eq!(line.quantities.values().sum::<u32>(), line.quantity);
}

#[test]
fn order_total_should_price_live_units_add_charges_and_subtract_discounts() {
    let req = sample_with(|v| {
        v["OrderLine"] = json!([
            v["OrderLine"][0].clone(),
            pickup_line("2", 3),
            {
                "OrderLineId": "R", "ItemId": "SKU-9", "Quantity": 1, "UnitPrice": 100,
                "IsReturn": true, "DeliveryMethod": {"DeliveryMethodId": "Email"}
            }
        ]);
        v["OrderChargeDetail"] = json!([
            {"ChargeDetailId": "S", "ChargeType": {"ChargeTypeId": "Shipping"}, "ChargeTotal": 7.5},
            {"ChargeDetailId": "D", "ChargeType": {"ChargeTypeId": "Discount"}, "ChargeTotal": 2},
            {"ChargeDetailId": "W", "ChargeType": {"ChargeTypeId": "WriteOff"}, "ChargeTotal": 1000}
        ]);
    });
    let mut order = create(&req).unwrap();
    // 2 x 19.99 + 3 x 5 + 7.5 - 2; the return line and the write-off do not count.
    assert_eq!(order.order_total(), dec("60.48"));
    order.lines[1].move_quantity(Open, Canceled, 1).unwrap();
    assert_eq!(order.order_total(), dec("55.48"));
}

#[test]
fn order_total_should_not_go_below_zero() {
    let req = sample_with(|v| {
        v["OrderChargeDetail"] = json!([
            {"ChargeDetailId": "D", "ChargeType": {"ChargeTypeId": "Discount"}, "ChargeTotal": 100}
        ]);
    });
    assert_eq!(create(&req).unwrap().order_total(), Decimal::ZERO);
}

#[test]
fn response_should_be_pascal_case_with_statuses_and_millisecond_timestamps() {
    let req = sample_with(|v| {
        v["OrderLine"] = json!([v["OrderLine"][0].clone(), pickup_line("2", 1)]);
    });
    let mut order = create(&req).unwrap();
    order.lines[0].move_quantity(Open, Allocated, 1).unwrap();
    order.lines[1].move_quantity(Open, Canceled, 1).unwrap();
    let body = serde_json::to_value(order.to_response()).unwrap();
    assert_eq!(body["OrgId"], "acme");
    assert_eq!(body["OrderId"], "O-1");
    assert_eq!(body["Version"], 1);
    assert_eq!(body["OrderType"]["OrderTypeId"], "Web");
    assert_eq!(body["IsConfirmed"], true);
    assert_eq!(body["IsImport"], false);
    assert_eq!(body["DoNotReleaseBefore"], Value::Null);
    assert_eq!(body["CurrencyCode"], "USD");
    assert_eq!(body["OrderTotal"], json!(39.98));
    assert_eq!(body["MinFulfillmentStatusId"], "1000");
    assert_eq!(body["MaxFulfillmentStatusId"], "2000");
    assert_eq!(body["FulfillmentStatus"], "Partially Allocated");
    assert_eq!(body["CreatedTimestamp"], "2025-01-31T12:00:00.000Z");
    assert_eq!(body["UpdatedTimestamp"], "2025-01-31T12:00:00.000Z");
    assert_eq!(body["CreatedBy"], "alice");
    assert_eq!(body["UpdatedBy"], "alice");
    assert_eq!(body["Payment"], json!([]));
    assert_eq!(body["PaymentStatus"], Value::Null);

    let line = &body["OrderLine"][0];
    assert_eq!(line["OrderLineId"], "1");
    assert_eq!(line["ItemId"], "SKU-1");
    assert_eq!(line["Quantity"], 2);
    assert_eq!(line["UnitPrice"], json!(19.99));
    assert_eq!(line["IsReturn"], false);
    assert_eq!(line["DeliveryMethod"]["DeliveryMethodId"], "ShipToAddress");
    assert_eq!(line["ShipToAddress"]["Address"]["Address1"], "1 Main St");
    assert_eq!(line["ShipToAddress"]["Address"]["Latitude"], json!(33.749));
    assert_eq!(line["PickupLocationId"], Value::Null);
    assert_eq!(
        line["QuantityDetail"],
        json!([{"StatusId": "1000", "Quantity": 1}, {"StatusId": "2000", "Quantity": 1}])
    );
    assert_eq!(line["MinFulfillmentStatusId"], "1000");
    assert_eq!(line["MaxFulfillmentStatusId"], "2000");
    assert_eq!(line["IsCancelled"], false);

    let canceled = &body["OrderLine"][1];
    assert_eq!(canceled["IsCancelled"], true);
    assert_eq!(canceled["MinFulfillmentStatusId"], "9000");
    assert_eq!(canceled["PickupLocationId"], "S1");
}

#[test]
fn response_should_nest_payment_invoice_and_charge_ids() {
    let req = sample_with(|v| {
        v["Payment"] = json!([{"PaymentStatus": {"PaymentStatusId": "Authorized"},
            "PaymentMethod": [{"PaymentMethodId": "PM1", "Amount": 5}]}]);
        v["Invoice"] = json!([{"InvoiceId": "I1", "InvoiceType": {"InvoiceTypeId": "adjustment"}, "Amount": 1}]);
        v["OrderChargeDetail"] =
            json!([{"ChargeDetailId": "C1", "ChargeType": {"ChargeTypeId": "Shipping"}, "ChargeTotal": 2}]);
        v["PaymentStatus"] = json!({"PaymentStatusId": "Paid"});
        v["DoNotReleaseBefore"] = json!("2025-02-01T08:00:00.5Z");
    });
    let body = serde_json::to_value(create(&req).unwrap().to_response()).unwrap();
    assert_eq!(body["Payment"][0]["PaymentHeaderId"], Value::Null);
    assert_eq!(body["Payment"][0]["PaymentStatus"]["PaymentStatusId"], "Authorized");
    assert_eq!(body["Payment"][0]["PaymentMethod"][0]["Amount"], json!(5));
    assert_eq!(body["Payment"][0]["PaymentMethod"][0]["CurrentAuthAmount"], json!(0));
    assert_eq!(body["Invoice"][0]["InvoiceType"]["InvoiceTypeId"], "Adjustment");
    assert_eq!(body["Invoice"][0]["PublishStatus"]["PublishStatusId"], "NotPublished");
    assert_eq!(body["OrderChargeDetail"][0]["ChargeType"]["ChargeTypeId"], "Shipping");
    assert_eq!(body["OrderChargeDetail"][0]["ChargeTotal"], json!(2));
    assert_eq!(body["PaymentStatus"]["PaymentStatusId"], "Paid");
    assert_eq!(body["DoNotReleaseBefore"], "2025-02-01T08:00:00.500Z");
    assert_eq!(body["OrderTotal"], json!(41.98));
}

#[test]
fn storage_form_should_round_trip_through_json() {
    let req = sample_with(|v| {
        v["OrderLine"] = json!([v["OrderLine"][0].clone(), pickup_line("2", 3)]);
        v["Payment"] = json!([{"PaymentMethod": [{"PaymentMethodId": "PM1", "Amount": 12.34}]}]);
        v["Invoice"] = json!([{"InvoiceId": "I1", "InvoiceType": {"InvoiceTypeId": "Shipping"}, "Amount": 1}]);
        v["OrderChargeDetail"] =
            json!([{"ChargeDetailId": "C1", "ChargeType": {"ChargeTypeId": "Discount"}, "ChargeTotal": 0.5}]);
        v["DoNotReleaseBefore"] = json!("2025-02-01T08:00:00Z");
    });
    let mut order = create(&req).unwrap();
    order.lines[1].move_quantity(Open, Released, 2).unwrap();
    let stored = serde_json::to_value(&order).unwrap();
    assert_eq!(stored["OrderId"], "O-1");
    assert_eq!(stored["OrderLine"][1]["QuantityByStatus"]["3000"], 2);
    let back: Order = serde_json::from_value(stored).unwrap();
    assert_eq!(back, order);
}

#[test]
fn storage_form_with_an_invalid_id_should_not_load() {
    let order = create(&request(sample())).unwrap();
    let mut stored = serde_json::to_value(&order).unwrap();
    stored["OrderId"] = json!("bad#id");
    assert!(serde_json::from_value::<Order>(stored).is_err());
}

#[test]
fn touch_should_bump_version_and_updated_fields_only() {
    let mut order = create(&request(sample())).unwrap();
    order.touch(&user("allocator"), t(9));
    assert_eq!(order.version, 2);
    assert_eq!(order.updated_timestamp, t(9));
    assert_eq!(order.updated_by, user("allocator"));
    assert_eq!(order.created_by, user("alice"));
    let id = OrderLineId::parse("1").unwrap();
    assert!(order.line(&id).is_some());
    assert!(order.line_mut(&id).is_some());
}
