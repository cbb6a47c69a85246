use chrono::Utc;
use serde_json::{Value, json};

use super::*;
use crate::domain::ids::OrderLineId;

fn item(line: &str, number: u32, quantity: u32) -> AllocationItem {
    let mut item: AllocationItem =
        serde_json::from_value(json!({"orderLineId": line, "itemId": "SKU-1", "quantity": quantity})).unwrap();
    item.allocation_line_number = number;
    item
}

fn allocation() -> Allocation {
    let now = Utc::now();
    let mut doc = Allocation {
        allocation_id: AllocationId::parse_at("id", "62ff5c0bec0aed3c86202c32").unwrap(),
        version: 1,
        order_number: OrderId::parse("O-1").unwrap(),
        allocation_request_id: None,
        allocation_num: None,
        parent_allocation_id: None,
        sent_to_pps_date: None,
        allocation_date: now,
        updated_at: now,
        allocation_type: AllocationType::Allocated,
        previous_allocation_location_num: None,
        po_number: None,
        items_type: None,
        order_sub_type: None,
        vendor_id: None,
        ship_date: None,
        ship_type: Some("SHIP_TO_ADDRESS".into()),
        ship_method: None,
        ship_to_id: None,
        status_code: AllocationStatus::Allocated,
        location_num: LocationId::parse("DC-1").unwrap(),
        location_type: "DC".into(),
        ship_to_address: None,
        recipient: vec![],
        items: vec![item("1", 1, 2), item("2", 2, 3)],
        audit_logs: vec![],
        pending_operation: None,
    };
    doc.normalize();
    doc
}

fn request(body: Value) -> UpdateAllocationRequest {
    serde_json::from_value(body).unwrap()
}

fn user() -> UserId {
    UserId::parse("alice").unwrap()
}

#[test]
fn when_items_add_up_beyond_u32_units_should_count_them_exactly() {
    let mut doc = allocation();
    let one = doc.items[0].clone();
    doc.items = (0..3).map(|_| AllocationItem { quantity: u32::MAX, ..one.clone() }).collect();
    assert_eq!(doc.units(), 3 * u64::from(u32::MAX));
    assert_eq!(doc.units_by_item().get(&one.item_id), Some(&(3 * u64::from(u32::MAX))));
}

#[test]
fn when_a_document_from_before_is_read_should_number_its_lines_and_count_an_ended_ones_units() {
    let mut doc: Allocation = serde_json::from_value(json!({
        "allocationId": "62ff5c0bec0aed3c86202c32", "version": 3, "orderNumber": "O-9",
        "allocationDate": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z", "type": "ALLOCATED",
        "statusCode": "CANCELLED", "locationNum": "DC-1", "locationType": "DC",
        "recipient": [{"free": "form"}, "not an object"],
        "items": [{"lineId": "1", "itemId": "A", "quantity": 2}, {"lineId": "2", "itemId": "B", "quantity": 1}],
        "auditLogs": [{"updatedAt": "2026-01-01T00:00:00Z", "updatedBy": "bob", "field": "statusCode",
            "oldValue": "ALLOCATED", "newValue": "CANCELLED"}]
    }))
    .unwrap();
    doc.normalize();
    let numbers: Vec<u32> = doc.items.iter().map(|i| i.allocation_line_number).collect();
    assert_eq!(numbers, [1, 2]);
    assert_eq!(doc.units(), 0, "a cancelled document holds nothing");
    assert!(doc.items.iter().all(|i| i.item_status == ItemStatus::Cancelled));
    assert_eq!(doc.items[0].order_id.as_ref().map(OrderId::as_str), Some("O-9"));
    assert_eq!(doc.recipient.len(), 1, "a free-form entry reads as an empty recipient, a non-object is left out");
    let log = &doc.audit_logs[0];
    assert_eq!((log.audit_type, log.employee_id.as_str()), (AuditType::Update, "bob"));
    assert_eq!(log.updated_fields[0].field_name, "statusCode");
    assert_eq!(log.updated_fields[0].field_original_value, json!("ALLOCATED"));
}

#[test]
fn when_an_id_is_not_24_hex_characters_should_refuse_naming_the_field() {
    assert_eq!(AllocationId::parse_at("allocationId", "abc").unwrap_err().field(), Some("allocationId"));
    assert!(AllocationId::parse_at("allocationId", "62ff5c0bec0aed3c86202c3z").is_err());
    assert!(AllocationId::parse_at("allocationId", "62FF5C0BEC0AED3C86202C32").is_ok());
}

#[test]
fn when_ids_derive_from_ulids_should_be_24_hex_and_distinct() {
    let a = AllocationId::from_ulid(&ulid::Ulid::new().to_string()).unwrap();
    let b = AllocationId::from_ulid(&ulid::Ulid::new().to_string()).unwrap();
    assert_eq!(a.as_str().len(), 24);
    assert_ne!(a, b);
    assert!(AllocationId::parse_at("x", a.as_str()).is_ok());
}

#[test]
fn when_event_is_order_created_or_the_samples_order_create_should_pass() {
    for kind in ["ORDER_CREATED", "ORDER_CREATE", "BACKORDER_CREATE"] {
        let req = AllocationEventRequest { detail_type: Some(kind.into()), detail: None };
        assert!(req.check_event().is_ok(), "{kind}");
    }
}

#[test]
fn when_event_creates_no_demand_should_refuse_naming_detail_type() {
    for kind in ["INVOICE_POSTING", "NOT_AN_EVENT"] {
        let req = AllocationEventRequest { detail_type: Some(kind.into()), detail: None };
        assert_eq!(req.check_event().unwrap_err().field(), Some("detailType"));
    }
}

#[test]
fn when_update_changes_fields_should_bump_version_and_audit_them_in_one_entry() {
    let current = allocation();
    let next = request(json!({"allocationId": current.allocation_id, "version": 1, "allocationNum": "X-1", "statusCode": "PENDING_PICK", "itemsType": "WEB_SHIP"}))
        .apply(&current, &user(), Utc::now())
        .unwrap()
        .next;
    assert_eq!(next.version, 2);
    assert_eq!(next.status_code, AllocationStatus::PendingPick);
    assert_eq!(next.audit_logs.len(), 1);
    let entry = &next.audit_logs[0];
    assert_eq!(entry.audit_id, format!("{}-2-1", current.allocation_id));
    assert_eq!((entry.audit_type, entry.employee_id.as_str()), (AuditType::Update, "alice"));
    let fields: Vec<&str> = entry.updated_fields.iter().map(|f| f.field_name.as_str()).collect();
    assert_eq!(fields, ["allocationNum", "itemsType", "statusCode"]);
    assert_eq!(entry.attributes["statusCode"], json!("PENDING_PICK"));
    assert_eq!(entry.payment_token, None);
}

#[test]
fn when_update_carries_a_stale_version_should_conflict() {
    let current = allocation();
    let err = request(json!({"allocationId": current.allocation_id, "version": 7}))
        .apply(&current, &user(), Utc::now())
        .unwrap_err();
    assert!(matches!(err, OmsError::Conflict(_)));
}

#[test]
fn when_update_moves_stock_other_than_by_scratch_or_ship_should_point_to_the_endpoint_that_does() {
    let current = allocation();
    let moved = request(json!({"allocationId": current.allocation_id, "locationNum": "DC-9"}));
    assert_eq!(moved.apply(&current, &user(), Utc::now()).unwrap_err().field(), Some("locationNum"));
    let cancelled = request(json!({"allocationId": current.allocation_id, "statusCode": "CANCELLED"}));
    assert_eq!(cancelled.apply(&current, &user(), Utc::now()).unwrap_err().field(), Some("statusCode"));
    let items = request(json!({"allocationId": current.allocation_id, "items": [{"lineId": "1", "quantity": 1}]}));
    assert_eq!(items.apply(&current, &user(), Utc::now()).unwrap_err().field(), Some("items[0].quantity"));
}

#[test]
fn when_update_changes_nothing_should_keep_the_version() {
    let current = allocation();
    let whole = serde_json::to_value(&current).unwrap();
    let next = request(whole).apply(&current, &user(), Utc::now()).unwrap();
    assert_eq!(next.next, current, "a document sent back as read changes nothing");
    assert!(next.scratched.is_empty() && next.shipped.is_empty());
}

#[test]
fn when_an_item_is_scratched_should_take_its_units_and_audit_the_reason() {
    let current = allocation();
    let applied = request(json!({"allocationId": current.allocation_id,
        "items": [{"allocationLineNumber": 2, "scratchQuantity": 2, "scratchedReasonCode": "DAMAGED"}]}))
    .apply(&current, &user(), Utc::now())
    .unwrap();
    assert_eq!(applied.scratched, [(2, 2)]);
    let line = applied.next.item(2).unwrap();
    assert_eq!((line.held(), line.item_status), (1, ItemStatus::PartiallyAllocated));
    let entry = applied.next.audit_logs.last().unwrap();
    assert_eq!(
        (entry.audit_type, entry.quantity, entry.reason_code.as_deref()),
        (AuditType::Scratch, Some(2), Some("DAMAGED"))
    );
    assert_eq!(entry.line_item_number, Some(2));
    assert_eq!(entry.line_item_id, Some(OrderLineId::parse("2").unwrap()));
}

#[test]
fn when_every_unit_is_scratched_the_type_should_become_scratched() {
    let current = allocation();
    let applied = request(json!({"allocationId": current.allocation_id, "items": [
        {"allocationLineNumber": 1, "scratchQuantity": 2, "scratchedReasonCode": "LOST"},
        {"orderLineId": "2", "scratchQuantity": 3, "scratchedReasonCode": "LOST"}]}))
    .apply(&current, &user(), Utc::now())
    .unwrap();
    assert_eq!(applied.next.allocation_type, AllocationType::Scratched);
    assert!(applied.next.items.iter().all(|i| i.item_status == ItemStatus::Scratched));
}

#[test]
fn when_a_scratch_is_bad_should_refuse_naming_the_item_field() {
    let current = allocation();
    let id = current.allocation_id.clone();
    for (items, field) in [
        (
            json!([{"allocationLineNumber": 1, "scratchQuantity": 3, "scratchedReasonCode": "X"}]),
            "items[0].scratchQuantity",
        ),
        (json!([{"allocationLineNumber": 1, "scratchQuantity": 1}]), "items[0].scratchedReasonCode"),
        (
            json!([{"allocationLineNumber": 9, "scratchQuantity": 1, "scratchedReasonCode": "X"}]),
            "items[0].allocationLineNumber",
        ),
        (json!([{"allocationLineNumber": 1, "orderLineId": "2"}]), "items[0].orderLineId"),
        (json!([{"allocationLineNumber": 1}, {"orderLineId": "1"}]), "items[1].allocationLineNumber"),
        (json!([{"title": "no line named"}]), "items[0].allocationLineNumber"),
    ] {
        let err =
            request(json!({"allocationId": id, "items": items})).apply(&current, &user(), Utc::now()).unwrap_err();
        assert_eq!(err.field(), Some(field), "{items}: {err}");
    }
    let mut scratched = current.clone();
    scratched.items[0].take(1, Taken::Scratched).unwrap();
    let back = request(json!({"allocationId": id, "items": [{"allocationLineNumber": 1, "scratchQuantity": 0}]}));
    assert_eq!(back.apply(&scratched, &user(), Utc::now()).unwrap_err().field(), Some("items[0].scratchQuantity"));
}

/// The allocation with every held unit released to its location (only released units ship).
fn released(mut doc: Allocation) -> Allocation {
    for item in &mut doc.items {
        item.released_quantity = item.held();
    }
    doc
}

#[test]
fn when_status_becomes_shipped_every_held_unit_should_ship() {
    let unreleased = allocation();
    let refused = request(json!({"allocationId": unreleased.allocation_id, "statusCode": "SHIPPED"}))
        .apply(&unreleased, &user(), Utc::now())
        .unwrap_err();
    assert!(matches!(refused, OmsError::Conflict(_)), "only released units ship: {refused}");
    let current = released(allocation());
    let applied = request(json!({"allocationId": current.allocation_id, "statusCode": "SHIPPED"}))
        .apply(&current, &user(), Utc::now())
        .unwrap();
    assert_eq!(applied.shipped, [(1, 2), (2, 3)]);
    assert_eq!(applied.next.status_code, AllocationStatus::Shipped);
    assert_eq!(applied.next.units(), 0);
    let ships = applied.next.audit_logs.iter().filter(|e| e.audit_type == AuditType::Ship).count();
    assert_eq!(ships, 2);
}

#[test]
fn when_some_units_ship_the_status_should_be_partially_shipped_and_shipping_more_than_held_conflicts() {
    let current = released(allocation());
    let applied = request(
        json!({"allocationId": current.allocation_id, "items": [{"allocationLineNumber": 2, "shippedQuantity": 1}]}),
    )
    .apply(&current, &user(), Utc::now())
    .unwrap();
    assert_eq!(applied.next.status_code, AllocationStatus::PartiallyShipped);
    assert_eq!(applied.next.item(2).unwrap().item_status, ItemStatus::PartiallyShipped);
    let too_many = request(
        json!({"allocationId": current.allocation_id, "items": [{"allocationLineNumber": 2, "shippedQuantity": 4}]}),
    )
    .apply(&current, &user(), Utc::now())
    .unwrap_err();
    assert!(matches!(too_many, OmsError::Conflict(_)), "{too_many}");
    let nothing = request(json!({"allocationId": current.allocation_id, "statusCode": "PARTIALLY_SHIPPED"}));
    assert_eq!(nothing.apply(&current, &user(), Utc::now()).unwrap_err().field(), Some("statusCode"));
}

#[test]
fn when_the_audit_trail_is_full_the_oldest_entries_should_go() {
    let mut doc = allocation();
    for n in 0..(limits::MAX_AUDIT_LOGS + 5) {
        doc = request(json!({"allocationId": doc.allocation_id, "allocationNum": format!("N-{n}")}))
            .apply(&doc, &user(), Utc::now())
            .unwrap()
            .next;
    }
    assert_eq!(doc.audit_logs.len(), limits::MAX_AUDIT_LOGS);
    assert_eq!(
        doc.audit_logs.last().unwrap().attributes["allocationNum"],
        json!(format!("N-{}", limits::MAX_AUDIT_LOGS + 4))
    );
}

#[test]
fn when_retired_every_held_unit_should_count_as_cancelled_in_one_entry() {
    let doc = allocation();
    let next = doc.retired(AllocationStatus::Cancelled, &user(), Utc::now(), "test");
    assert_eq!(next.units(), 0);
    assert_eq!(next.version, 2);
    assert!(next.items.iter().all(|i| i.item_status == ItemStatus::Cancelled && i.cancelled_quantity == i.quantity));
    assert_eq!(next.audit_logs.len(), 1);
    assert_eq!((next.audit_logs[0].audit_type, next.audit_logs[0].quantity), (AuditType::Cancel, Some(5)));
}

#[test]
fn when_reallocate_id_is_a_string_or_an_array_should_accept_both() {
    let one: ReallocateRequest = serde_json::from_value(
        json!({"channel": "web", "tenant": "demo", "id": "62ff5c0bec0aed3c86202c32", "documentType": "ALLOCATION"}),
    )
    .unwrap();
    assert_eq!(one.targets().unwrap().1.len(), 1);
    let many: ReallocateRequest =
        serde_json::from_value(json!({"channel": "web", "tenant": "demo", "id": ["a", "b"], "documentType": "ORDER"}))
            .unwrap();
    assert_eq!(many.targets().unwrap(), (DocumentType::Order, vec!["a".to_string(), "b".to_string()]));
    let missing: ReallocateRequest =
        serde_json::from_value(json!({"tenant": "demo", "id": "x", "documentType": "ORDER"})).unwrap();
    assert_eq!(missing.targets().unwrap_err().field(), Some("channel"));
}

#[test]
fn when_reallocate_items_name_lines_should_select_those_quantities() {
    let req: ReallocateRequest = serde_json::from_value(json!({"items": [
        {"allocationLineNumber": 2, "lineItemId": "2", "quantity": 1},
        {"allocationLineNumber": 1}]}))
    .unwrap();
    let Selection::Lines(lines) = req.selection().unwrap() else { panic!("lines expected") };
    assert_eq!(lines.len(), 2);
    assert_eq!((lines[0].line_number, lines[0].quantity), (2, Some(1)));
    assert_eq!(lines[1].quantity, None);
    let by_item: ReallocateRequest = serde_json::from_value(json!({"items": [{"sku": "SKU-1"}]})).unwrap();
    assert_eq!(by_item.selection().unwrap(), Selection::Items(vec![ItemId::parse("SKU-1").unwrap()]));
    for (items, field) in [
        (json!([{"allocationLineNumber": 1}, {"itemId": "SKU-1"}]), "items[1].allocationLineNumber"),
        (json!([{"itemId": "SKU-1"}, {"allocationLineNumber": 1}]), "items[1].allocationLineNumber"),
        (json!([{"allocationLineNumber": 1, "quantity": 0}]), "items[0].quantity"),
        (json!([{"allocationLineNumber": 0}]), "items[0].allocationLineNumber"),
        (json!([]), "items"),
    ] {
        let req: ReallocateRequest = serde_json::from_value(json!({"items": items})).unwrap();
        assert_eq!(req.selection().unwrap_err().field(), Some(field), "{items}");
    }
}
