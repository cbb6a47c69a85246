//! What the allocation endpoints accept: the demand event, the versioned update (with item
//! scratches and shipments) and the reallocation (whole allocations, items, or line quantities).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, Type};

use super::{Allocation, AllocationId, AllocationStatus, AllocationType, AuditLog, AuditType, Recipient, Taken};
use crate::domain::ids::{ItemId, LocationId, OrderId, OrderLineId, UserId};
use crate::domain::limits;
use crate::domain::order::SaveOrderRequest;
use crate::domain::sourcing::Strategy;
use crate::error::OmsError;

/// `source` of the audit entries an update writes.
pub const UPDATE_SOURCE: &str = "PUT /allocation/{allocationId}";

/// Order events the allocation endpoint accepts (the seed's `detailType` enum).
pub const DEMAND_EVENTS: &[&str] = &["ORDER_CREATED", "PICKUP_CREATED", "BACKORDER_CREATE"];
/// Events of the documented enum that create no demand: refused with 400.
pub const OTHER_EVENTS: &[&str] = &[
    "SHIPMENT_CREATED",
    "PICKUP_COMPLETED",
    "BOPIS_REMINDER_EMAIL",
    "BACKORDER_30_DAYS_CONSENT_TO_DELAY_EMAIL",
    "BACKORDER_53_DAYS_CONSENT_TO_DELAY_EMAIL",
    "BACKORDER_CANCEL",
    "BACKORDER_AUTH_DECLINE",
    "ORDER_CANCELLATION_EMAIL_WEBCSC_ORDER_ITEM_CANCEL",
    "ORDER_CANCELLATION_EMAIL_WEBCSC_ORDER_CANCEL",
    "ORDER_CANCELLATION_EMAIL_LOCATE_ORDER_ITEM_CANCEL",
    "RETURN_NOTIFICATION_EMAIL",
    "REFUND_NOTIFICATION_EMAIL",
    "APPEASEMENT_NOTIFICATION_EMAIL",
    "BACKORDER_AUTH_DECLINE_EMAIL",
    "INVOICE_POSTING",
];

/// `POST /allocation/` body: `{detailType, detail: {orderId} | {order: <Save Order body>}}`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllocationEventRequest {
    /// A demand event; the seed's other events create no demand and are refused.
    #[schema(schema_with = detail_type_schema, required = true)]
    pub detail_type: Option<String>,
    #[schema(value_type = AllocationEventDetail, required = true)]
    pub detail: Option<AllocationEventDetail>,
}

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllocationEventDetail {
    /// A stored order to allocate; or send `order`.
    #[schema(value_type = Option<OrderId>)]
    pub order_id: Option<String>,
    /// A whole order (Save Order's shape), saved in the same transaction as its allocation.
    pub order: Option<SaveOrderRequest>,
    /// Overrides the tenant's strategy for this request.
    #[schema(value_type = Option<Strategy>)]
    pub strategy: Option<String>,
}

impl AllocationEventRequest {
    /// Checks the event type: demand events pass; the seed's sample `ORDER_CREATE` is read as
    /// `ORDER_CREATED`; the other documented events and unknown ones are refused.
    pub fn check_event(&self) -> Result<(), OmsError> {
        let Some(kind) = self.detail_type.as_deref().map(str::trim) else {
            return Err(OmsError::validation("detailType", "is required, e.g. ORDER_CREATED"));
        };
        if DEMAND_EVENTS.contains(&kind) || kind == "ORDER_CREATE" {
            return Ok(());
        }
        if OTHER_EVENTS.contains(&kind) {
            return Err(OmsError::validation(
                "detailType",
                format!("{kind} creates no demand and is not allocated; send one of {}", DEMAND_EVENTS.join(", ")),
            ));
        }
        Err(OmsError::validation(
            "detailType",
            format!("unknown event {kind:?}; send one of {}", DEMAND_EVENTS.join(", ")),
        ))
    }
}

/// `PUT /allocation/{allocationId}` body. Fields left out (or null) keep their stored values;
/// read-only fields a client sends back (`allocationDate`, `updatedAt`, `auditLogs`, ...) are
/// ignored.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdateAllocationRequest {
    /// Must equal the path's id.
    #[schema(value_type = String, required = true, pattern = "^[0-9a-fA-F]{24}$")]
    pub allocation_id: Option<String>,
    pub version: Option<u64>,
    pub allocation_request_id: Option<String>,
    pub allocation_num: Option<String>,
    #[schema(pattern = "^[0-9a-fA-F]{24}$")]
    pub parent_allocation_id: Option<String>,
    #[serde(rename = "sentToPPSDate")]
    pub sent_to_pps_date: Option<DateTime<Utc>>,
    #[serde(rename = "type")]
    pub allocation_type: Option<AllocationType>,
    pub po_number: Option<String>,
    #[schema(schema_with = items_type_schema)]
    pub items_type: Option<String>,
    #[schema(schema_with = order_sub_type_schema)]
    pub order_sub_type: Option<String>,
    pub vendor_id: Option<String>,
    pub ship_date: Option<DateTime<Utc>>,
    pub ship_type: Option<String>,
    pub ship_method: Option<String>,
    pub ship_to_id: Option<String>,
    /// Live statuses only: CANCELLED and REALLOCATED come from cancel and reallocate.
    /// SHIPPED ships every unit still held, all of which must be released (else 409);
    /// PARTIALLY_SHIPPED needs `items[].shippedQuantity`, at most the units released.
    #[schema(value_type = Option<AllocationStatus>)]
    pub status_code: Option<String>,
    /// Must equal the stored location: moving goes through reallocate.
    #[schema(value_type = Option<LocationId>)]
    pub location_num: Option<String>,
    pub ship_to_address: Option<Value>,
    pub recipient: Option<Vec<Recipient>>,
    /// Changes to items, each named by `allocationLineNumber` (or by `orderLineId` when one
    /// item has it). Items left out are unchanged.
    pub items: Option<Vec<ItemUpdate>>,
}

/// A change to one item of an allocation.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ItemUpdate {
    pub allocation_line_number: Option<u32>,
    /// `lineId` is accepted too (deprecated: it goes in the next release).
    #[serde(alias = "lineId")]
    #[schema(value_type = Option<OrderLineId>)]
    pub order_line_id: Option<String>,
    /// When sent, must equal the stored quantity: units change through cancel and reallocate.
    pub quantity: Option<u32>,
    /// Units shipped so far; only grows, by at most the units held.
    pub shipped_quantity: Option<u32>,
    /// Units the location cannot fulfil, so far; only grows, by at most the units held. The
    /// units scratched now are released here and allocated elsewhere or back ordered.
    pub scratch_quantity: Option<u32>,
    /// Required when `scratchQuantity` grows.
    pub scratched_reason_code: Option<String>,
    pub reship_reason_code: Option<String>,
    pub estimated_delivery_date: Option<DateTime<Utc>>,
    pub channel_id: Option<String>,
    pub segment: Option<String>,
    pub vendor_id: Option<String>,
    pub title: Option<String>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub weight: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub cost: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0)]
    pub price: Option<Decimal>,
    #[schema(value_type = Option<Object>)]
    pub attributes: Option<Map<String, Value>>,
    pub uom: Option<String>,
}

/// An update applied to a document: the next document (its version bumped and its audit
/// entries appended when anything changed), and the units it scratched and shipped, by
/// allocation line number, whose stock and order the caller moves in the same transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedUpdate {
    pub next: Allocation,
    pub scratched: Vec<(u32, u32)>,
    pub shipped: Vec<(u32, u32)>,
}

const ITEMS_TYPES: &[&str] = &["WEB_SHIP", "POS", "WEB"];
/// Most recipients one allocation keeps.
const MAX_RECIPIENTS: usize = 20;
const ORDER_SUB_TYPES: &[&str] = &["IOS", "ANDROID", "INTERNATIONAL", "BORDERFREE"];
/// The document types reallocate accepts (`SHIPMENT`, also documented, is refused).
const DOCUMENT_TYPES: &[&str] = &["ALLOCATION", "ORDER", "ALLOCATION ORDER"];
/// Largest weight, cost or price of an item.
const MAX_ITEM_AMOUNT: i64 = 1_000_000_000_000;

/// A string schema listing the accepted values.
fn string_enum<'a>(values: impl IntoIterator<Item = &'a str>) -> Object {
    ObjectBuilder::new().schema_type(Type::String).enum_values(Some(values)).build()
}

fn detail_type_schema() -> Object {
    string_enum(DEMAND_EVENTS.iter().copied().chain(["ORDER_CREATE"]))
}

fn items_type_schema() -> Object {
    string_enum(ITEMS_TYPES.iter().copied())
}

fn order_sub_type_schema() -> Object {
    string_enum(ORDER_SUB_TYPES.iter().copied())
}

fn document_type_schema() -> Object {
    string_enum(DOCUMENT_TYPES.iter().copied())
}

fn reallocate_ids_schema() -> Schema {
    let id = || ObjectBuilder::new().schema_type(Type::String).min_length(Some(1));
    Schema::OneOf(
        OneOfBuilder::new()
            .item(id())
            .item(ArrayBuilder::new().items(id()).min_items(Some(1)).max_items(Some(25)))
            .build(),
    )
}

fn check_optional_text(field: &str, value: &Option<String>) -> Result<(), OmsError> {
    match value {
        Some(value) => limits::check_text(field, value),
        None => Ok(()),
    }
}

fn check_amount(field: &str, value: Option<Decimal>) -> Result<(), OmsError> {
    match value {
        Some(v) if v < Decimal::ZERO => Err(OmsError::validation(field, format!("must not be negative, got {v}"))),
        Some(v) if v > Decimal::from(MAX_ITEM_AMOUNT) => {
            Err(OmsError::validation(field, format!("must be at most {MAX_ITEM_AMOUNT}")))
        }
        _ => Ok(()),
    }
}

impl UpdateAllocationRequest {
    /// Free text and free-form JSON within what both stores keep (see `limits`).
    fn check_bounds(&self) -> Result<(), OmsError> {
        let texts = [
            ("allocationRequestId", &self.allocation_request_id),
            ("allocationNum", &self.allocation_num),
            ("poNumber", &self.po_number),
            ("vendorId", &self.vendor_id),
            ("shipType", &self.ship_type),
            ("shipMethod", &self.ship_method),
            ("shipToId", &self.ship_to_id),
        ];
        for (field, value) in texts {
            check_optional_text(field, value)?;
        }
        if let Some(address) = &self.ship_to_address {
            limits::check_free_form("shipToAddress", address)?;
        }
        if let Some(recipients) = &self.recipient {
            limits::check_count("recipient", recipients.len(), MAX_RECIPIENTS)?;
            for (i, r) in recipients.iter().enumerate() {
                let f = |name: &str| format!("recipient[{i}].{name}");
                if let Some(name) = &r.name {
                    check_optional_text(&f("name.first"), &name.first)?;
                    check_optional_text(&f("name.middle"), &name.middle)?;
                    check_optional_text(&f("name.last"), &name.last)?;
                }
                check_optional_text(&f("email"), &r.email)?;
                if let Some(phone) = &r.phone {
                    check_optional_text(&f("phone.number"), &phone.number)?;
                }
            }
        }
        for (i, item) in self.items.iter().flatten().enumerate() {
            let f = |name: &str| format!("items[{i}].{name}");
            let texts = [
                ("scratchedReasonCode", &item.scratched_reason_code),
                ("reshipReasonCode", &item.reship_reason_code),
                ("channelId", &item.channel_id),
                ("segment", &item.segment),
                ("vendorId", &item.vendor_id),
                ("title", &item.title),
                ("uom", &item.uom),
            ];
            for (field, value) in texts {
                check_optional_text(&f(field), value)?;
            }
            check_amount(&f("weight"), item.weight)?;
            check_amount(&f("cost"), item.cost)?;
            check_amount(&f("price"), item.price)?;
            if let Some(attributes) = &item.attributes {
                limits::check_free_form(&f("attributes"), &Value::Object(attributes.clone()))?;
            }
        }
        Ok(())
    }

    /// Applies the update to `current`. Header and item fields are recorded in one UPDATE
    /// entry; each line scratched or shipped gets a SCRATCH or SHIP entry. Stock-moving changes
    /// other than those are refused: the location goes through reallocate, the units through
    /// cancel, and CANCELLED/REALLOCATED only come from those endpoints.
    pub fn apply(&self, current: &Allocation, user: &UserId, now: DateTime<Utc>) -> Result<AppliedUpdate, OmsError> {
        let path_id = current.allocation_id.as_str();
        match self.allocation_id.as_deref() {
            None => return Err(OmsError::validation("allocationId", "is required")),
            Some(id) if !id.eq_ignore_ascii_case(path_id) => {
                return Err(OmsError::validation("allocationId", format!("{id} does not match the path's {path_id}")));
            }
            Some(_) => {}
        }
        if let Some(version) = self.version
            && version != current.version
        {
            return Err(OmsError::Conflict(format!(
                "allocation {path_id} is at version {}, not {version}; get it again and retry",
                current.version
            )));
        }
        if let Some(location) = &self.location_num
            && location != current.location_num.as_str()
        {
            return Err(OmsError::validation(
                "locationNum",
                "moving an allocation moves its reserved stock: use PUT /allocation/reallocate",
            ));
        }
        self.check_bounds()?;
        let mut next = current.clone();
        let mut update = AuditLog::new(AuditType::Update, user, now, UPDATE_SOURCE);
        set(&mut update, "allocationRequestId", &self.allocation_request_id, &mut next.allocation_request_id);
        set(&mut update, "allocationNum", &self.allocation_num, &mut next.allocation_num);
        set(&mut update, "sentToPPSDate", &self.sent_to_pps_date, &mut next.sent_to_pps_date);
        set(&mut update, "poNumber", &self.po_number, &mut next.po_number);
        set(&mut update, "vendorId", &self.vendor_id, &mut next.vendor_id);
        set(&mut update, "shipDate", &self.ship_date, &mut next.ship_date);
        set(&mut update, "shipType", &self.ship_type, &mut next.ship_type);
        set(&mut update, "shipMethod", &self.ship_method, &mut next.ship_method);
        set(&mut update, "shipToId", &self.ship_to_id, &mut next.ship_to_id);
        set(&mut update, "shipToAddress", &self.ship_to_address, &mut next.ship_to_address);
        if let Some(value) = &self.items_type {
            let upper = value.to_ascii_uppercase();
            if !ITEMS_TYPES.contains(&upper.as_str()) {
                return Err(OmsError::validation("itemsType", format!("must be one of {}", ITEMS_TYPES.join(", "))));
            }
            update.changed("itemsType", json!(next.items_type), json!(upper));
            next.items_type = Some(upper);
        }
        if let Some(value) = &self.order_sub_type {
            // The enum says "Borderfree", the sample "BORDERFREE": both are accepted.
            let upper = value.to_ascii_uppercase();
            if !ORDER_SUB_TYPES.contains(&upper.as_str()) {
                return Err(OmsError::validation(
                    "orderSubType",
                    "must be one of IOS, Android, International, Borderfree",
                ));
            }
            update.changed("orderSubType", json!(next.order_sub_type), json!(value));
            next.order_sub_type = Some(value.clone());
        }
        if let Some(value) = &self.parent_allocation_id {
            let parent = AllocationId::parse_at("parentAllocationId", value)?;
            update.changed("parentAllocationId", json!(next.parent_allocation_id), json!(parent));
            next.parent_allocation_id = Some(parent);
        }
        if let Some(kind) = self.allocation_type {
            update.changed("type", json!(next.allocation_type), json!(kind));
            next.allocation_type = kind;
        }
        if let Some(recipient) = &self.recipient {
            update.changed("recipient", json!(next.recipient), json!(recipient));
            next.recipient = recipient.clone();
        }
        let status = self.status_code.as_deref().map(|s| AllocationStatus::parse_at("statusCode", s)).transpose()?;
        if let Some(status) = status {
            if !current.status_code.is_live() && status != current.status_code {
                return Err(OmsError::Conflict(format!(
                    "allocation {path_id} is {}; it can no longer change status",
                    current.status_code.id()
                )));
            }
            if status != current.status_code && !status.is_live() {
                return Err(OmsError::validation(
                    "statusCode",
                    format!(
                        "{} releases stock: use PUT /allocation/cancel/{{allocationIds}} or /allocation/reallocate",
                        status.id()
                    ),
                ));
            }
        }
        let mut entries = Vec::new();
        let (mut scratched, mut shipped) = (Vec::new(), Vec::new());
        let lines = self.resolve_lines(current)?;
        for (i, (item, number)) in self.items.iter().flatten().zip(lines).enumerate() {
            let f = |name: &str| format!("items[{i}].{name}");
            let stored =
                next.item_mut(number).ok_or_else(|| OmsError::validation(f("allocationLineNumber"), "unknown line"))?;
            if let Some(quantity) = item.quantity
                && quantity != stored.quantity
            {
                return Err(OmsError::validation(
                    f("quantity"),
                    format!(
                        "line {number} holds {} units; the allocated units change through PUT /allocation/cancel/{{allocationIds}} or /allocation/reallocate",
                        stored.quantity
                    ),
                ));
            }
            let name = |field: &str| format!("items[{number}].{field}");
            set(&mut update, &name("reshipReasonCode"), &item.reship_reason_code, &mut stored.reship_reason_code);
            set(
                &mut update,
                &name("estimatedDeliveryDate"),
                &item.estimated_delivery_date,
                &mut stored.estimated_delivery_date,
            );
            set(&mut update, &name("channelId"), &item.channel_id, &mut stored.channel_id);
            set(&mut update, &name("segment"), &item.segment, &mut stored.segment);
            set(&mut update, &name("vendorId"), &item.vendor_id, &mut stored.vendor_id);
            set(&mut update, &name("title"), &item.title, &mut stored.title);
            set(&mut update, &name("weight"), &item.weight, &mut stored.weight);
            set(&mut update, &name("cost"), &item.cost, &mut stored.cost);
            set(&mut update, &name("price"), &item.price, &mut stored.price);
            set(&mut update, &name("uom"), &item.uom, &mut stored.uom);
            if let Some(attributes) = &item.attributes {
                update.changed(&format!("items[{number}].attributes"), json!(stored.attributes), json!(attributes));
                stored.attributes = attributes.clone();
            }
            if let Some(total) = item.scratch_quantity {
                let units = growth(&f("scratchQuantity"), "scratched", stored.scratch_quantity, total)?;
                if units > 0 {
                    let Some(reason) = item.scratched_reason_code.as_deref().filter(|r| !r.trim().is_empty()) else {
                        return Err(OmsError::validation(
                            f("scratchedReasonCode"),
                            "is required when units are scratched",
                        ));
                    };
                    stored.take(units, Taken::Scratched).map_err(|held| {
                        OmsError::validation(
                            f("scratchQuantity"),
                            format!("line {number} holds {held} units; {units} more cannot be scratched"),
                        )
                    })?;
                    stored.scratched_reason_code = Some(reason.to_owned());
                    entries.push(
                        AuditLog::new(AuditType::Scratch, user, now, UPDATE_SOURCE)
                            .for_item(stored, units)
                            .reason(Some(reason)),
                    );
                    scratched.push((number, units));
                }
            }
            if let Some(total) = item.shipped_quantity {
                let units = growth(&f("shippedQuantity"), "shipped", stored.shipped_quantity, total)?;
                if units > 0 {
                    stored.take(units, Taken::Shipped).map_err(|released| {
                        OmsError::Conflict(format!(
                            "items[{i}].shippedQuantity: line {number} has {released} units released to the location; {units} more cannot ship (only released units ship: release the order first)"
                        ))
                    })?;
                    entries.push(AuditLog::new(AuditType::Ship, user, now, UPDATE_SOURCE).for_item(stored, units));
                    shipped.push((number, units));
                }
            }
        }
        match status {
            Some(AllocationStatus::Shipped) => {
                if let Some(stored) = next.items.iter().find(|i| i.unreleased() > 0) {
                    return Err(OmsError::Conflict(format!(
                        "statusCode SHIPPED: line {} holds {} units not released to the location yet; only released units ship (release the order first, or ship the released units with PARTIALLY_SHIPPED)",
                        stored.allocation_line_number,
                        stored.unreleased()
                    )));
                }
                for stored in &mut next.items {
                    let units = stored.held();
                    if units > 0 {
                        let _ = stored.take(units, Taken::Shipped);
                        entries.push(AuditLog::new(AuditType::Ship, user, now, UPDATE_SOURCE).for_item(stored, units));
                        shipped.push((stored.allocation_line_number, units));
                    }
                }
            }
            Some(AllocationStatus::PartiallyShipped) if shipped.is_empty() && next.units() == current.units() => {
                return Err(OmsError::validation(
                    "statusCode",
                    "PARTIALLY_SHIPPED needs the units shipped: send items[].shippedQuantity",
                ));
            }
            Some(status) => {
                update.changed("statusCode", json!(next.status_code), json!(status));
                next.status_code = status;
            }
            None => {}
        }
        let before = (next.status_code, next.allocation_type);
        next.settle_status();
        if (next.status_code, next.allocation_type) != before {
            if next.status_code != before.0 {
                update.changed("statusCode", json!(before.0), json!(next.status_code));
            }
            if next.allocation_type != before.1 {
                update.changed("type", json!(before.1), json!(next.allocation_type));
            }
        }
        if !update.updated_fields.is_empty() {
            entries.insert(0, update);
        }
        if entries.is_empty() {
            return Ok(AppliedUpdate { next: current.clone(), scratched, shipped });
        }
        Ok(AppliedUpdate { next: next.changed(entries, now), scratched, shipped })
    }

    /// The allocation line number each sent item names, in the order sent.
    fn resolve_lines(&self, current: &Allocation) -> Result<Vec<u32>, OmsError> {
        let mut numbers = Vec::new();
        let mut seen = BTreeSet::new();
        for (i, item) in self.items.iter().flatten().enumerate() {
            let number = match (item.allocation_line_number, item.order_line_id.as_deref()) {
                (Some(number), line) => {
                    let stored = current.item(number).ok_or_else(|| {
                        OmsError::validation(
                            format!("items[{i}].allocationLineNumber"),
                            format!("allocation {} has no line {number}", current.allocation_id),
                        )
                    })?;
                    if let Some(line) = line
                        && line != stored.order_line_id.as_str()
                    {
                        return Err(OmsError::validation(
                            format!("items[{i}].orderLineId"),
                            format!("line {number} serves order line {}, not {line}", stored.order_line_id),
                        ));
                    }
                    number
                }
                (None, Some(line)) => {
                    let matching: Vec<u32> = current
                        .items
                        .iter()
                        .filter(|s| s.order_line_id.as_str() == line)
                        .map(|s| s.allocation_line_number)
                        .collect();
                    match matching.as_slice() {
                        [one] => *one,
                        [] => {
                            return Err(OmsError::validation(
                                format!("items[{i}].orderLineId"),
                                format!("allocation {} holds no units of order line {line}", current.allocation_id),
                            ));
                        }
                        _ => {
                            return Err(OmsError::validation(
                                format!("items[{i}].allocationLineNumber"),
                                format!("order line {line} has several lines here: name one by allocationLineNumber"),
                            ));
                        }
                    }
                }
                (None, None) => {
                    return Err(OmsError::validation(
                        format!("items[{i}].allocationLineNumber"),
                        "is required to name the item (or orderLineId)",
                    ));
                }
            };
            if !seen.insert(number) {
                return Err(OmsError::validation(
                    format!("items[{i}].allocationLineNumber"),
                    format!("line {number} is named twice"),
                ));
            }
            numbers.push(number);
        }
        Ok(numbers)
    }
}

/// Sets `stored` to what was sent, if anything, recording the change under `name`.
fn set<T: Clone + serde::Serialize>(audit: &mut AuditLog, name: &str, sent: &Option<T>, stored: &mut Option<T>) {
    if let Some(value) = sent {
        audit.changed(name, json!(stored), json!(value));
        *stored = Some(value.clone());
    }
}

/// How much a running count grows to `total`; it never shrinks.
fn growth(field: &str, what: &str, stored: u32, total: u32) -> Result<u32, OmsError> {
    total.checked_sub(stored).ok_or_else(|| {
        OmsError::validation(field, format!("{stored} units are already {what}; the count cannot go back to {total}"))
    })
}

/// `PUT /allocation/reallocate` body. The seed's schema makes `id` an array and its sample a
/// string: both are accepted.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReallocateRequest {
    #[schema(value_type = Option<OrderId>)]
    pub order_number: Option<String>,
    #[schema(value_type = String, required = true, pattern = r"\S")]
    pub channel: Option<String>,
    #[schema(value_type = String, required = true, pattern = r"\S")]
    pub tenant: Option<String>,
    /// Allocation ids (documentType ALLOCATION) or order ids (ORDER): one, or a list of 1 to 25.
    #[schema(schema_with = reallocate_ids_schema, required = true)]
    pub id: Option<Value>,
    #[schema(schema_with = document_type_schema, required = true)]
    pub document_type: Option<String>,
    /// What to move: line quantities (`allocationLineNumber`, `lineItemId`, `quantity`), or
    /// whole items (`itemId` or `sku`). Every unit held when left out.
    pub items: Option<Vec<ReallocateItem>>,
    /// Ours: the location to move to. Without it the units are re-planned elsewhere.
    #[schema(value_type = Option<LocationId>)]
    pub location_num: Option<String>,
    /// Ours: why the units move, recorded as `reallocationReasonCode` on the new lines.
    pub reallocation_reason_code: Option<String>,
}

/// An item of a reallocation, as fabric's collection sends it.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReallocateItem {
    pub allocation_line_number: Option<u32>,
    /// The order line of that allocation line (checked when sent).
    #[schema(value_type = Option<OrderLineId>)]
    pub line_item_id: Option<String>,
    /// Units to move; every unit the line holds when left out.
    #[schema(minimum = 1)]
    pub quantity: Option<u32>,
    /// Ours: which allocation the line belongs to, when `id` names several.
    #[schema(pattern = "^[0-9a-fA-F]{24}$")]
    pub allocation_id: Option<String>,
    /// Moves every unit of this item (with `sku` as another name for it) instead of a line.
    #[schema(value_type = Option<ItemId>)]
    pub item_id: Option<String>,
    pub sku: Option<String>,
    /// Overrides the request's reason for this line.
    pub reallocation_reason_code: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentType {
    Allocation,
    Order,
}

/// Units of one allocation line a reallocation moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePick {
    /// Where the line was named, e.g. `items[2]`.
    pub field: String,
    pub allocation_id: Option<AllocationId>,
    pub line_number: u32,
    pub line_item_id: Option<OrderLineId>,
    /// Every unit held when `None`.
    pub quantity: Option<u32>,
    pub reason: Option<String>,
}

/// What a reallocation moves out of its source allocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every unit held.
    All,
    /// Every unit held of these items.
    Items(Vec<ItemId>),
    /// Quantities of single lines.
    Lines(Vec<LinePick>),
}

impl ReallocateRequest {
    /// The ids to reallocate and what they name.
    pub fn targets(&self) -> Result<(DocumentType, Vec<String>), OmsError> {
        if self.channel.as_deref().is_none_or(|c| c.trim().is_empty()) {
            return Err(OmsError::validation("channel", "is required"));
        }
        if self.tenant.as_deref().is_none_or(|t| t.trim().is_empty()) {
            return Err(OmsError::validation("tenant", "is required"));
        }
        let kind = match self.document_type.as_deref().map(str::trim) {
            Some("ALLOCATION") => DocumentType::Allocation,
            Some("ORDER") | Some("ALLOCATION ORDER") => DocumentType::Order,
            Some("SHIPMENT") => {
                return Err(OmsError::validation(
                    "documentType",
                    "SHIPMENT documents are not reallocated; send ALLOCATION or ORDER",
                ));
            }
            Some(other) => {
                return Err(OmsError::validation(
                    "documentType",
                    format!("must be ALLOCATION or ORDER, got {other:?}"),
                ));
            }
            None => return Err(OmsError::validation("documentType", "is required: ALLOCATION or ORDER")),
        };
        let ids: Vec<String> = match &self.id {
            Some(Value::String(id)) => vec![id.clone()],
            Some(Value::Array(ids)) => ids
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| OmsError::validation(format!("id[{i}]"), "must be a string"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(OmsError::validation("id", "must be a string or an array of strings")),
            None => return Err(OmsError::validation("id", "is required")),
        };
        if ids.is_empty() {
            return Err(OmsError::validation("id", "must name at least one document"));
        }
        if ids.len() > 25 {
            return Err(OmsError::validation("id", "at most 25 documents per request"));
        }
        Ok((kind, ids))
    }

    /// The reason recorded on the moved lines.
    pub fn reason(&self) -> Result<Option<String>, OmsError> {
        check_optional_text("reallocationReasonCode", &self.reallocation_reason_code)?;
        Ok(self.reallocation_reason_code.clone().filter(|r| !r.trim().is_empty()))
    }

    /// What the request moves. Items name lines (`allocationLineNumber`) or whole items
    /// (`itemId`/`sku`), not both kinds in one request.
    pub fn selection(&self) -> Result<Selection, OmsError> {
        let Some(items) = &self.items else { return Ok(Selection::All) };
        if items.is_empty() {
            return Err(OmsError::validation("items", "names nothing to move; leave it out to move every unit"));
        }
        limits::check_count("items", items.len(), limits::MAX_ORDER_LINES)?;
        let by_line = items[0].allocation_line_number.is_some();
        let mut lines = Vec::new();
        let mut whole = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let field = format!("items[{i}]");
            match (by_line, item.allocation_line_number) {
                (true, Some(number)) => {
                    if number == 0 {
                        return Err(OmsError::validation(format!("{field}.allocationLineNumber"), "starts at 1"));
                    }
                    if item.quantity == Some(0) {
                        return Err(OmsError::validation(format!("{field}.quantity"), "must be greater than 0"));
                    }
                    check_optional_text(&format!("{field}.reallocationReasonCode"), &item.reallocation_reason_code)?;
                    lines.push(LinePick {
                        allocation_id: item
                            .allocation_id
                            .as_deref()
                            .map(|id| AllocationId::parse_at(&format!("{field}.allocationId"), id))
                            .transpose()?,
                        line_number: number,
                        line_item_id: item
                            .line_item_id
                            .as_deref()
                            .map(|id| OrderLineId::parse_at(&format!("{field}.lineItemId"), id))
                            .transpose()?,
                        quantity: item.quantity,
                        reason: item.reallocation_reason_code.clone().filter(|r| !r.trim().is_empty()),
                        field,
                    });
                }
                (true, None) => {
                    return Err(OmsError::validation(
                        format!("{field}.allocationLineNumber"),
                        "is required: items[0] names a line, so every item must",
                    ));
                }
                (false, Some(_)) => {
                    return Err(OmsError::validation(
                        format!("{field}.allocationLineNumber"),
                        "items[0] names a whole item: name lines in every item, or items in every one",
                    ));
                }
                (false, None) => {
                    let id = item.item_id.as_deref().or(item.sku.as_deref()).ok_or_else(|| {
                        OmsError::validation(format!("{field}.allocationLineNumber"), "is required (or itemId)")
                    })?;
                    whole.push(ItemId::parse_at(&format!("{field}.itemId"), id)?);
                }
            }
        }
        Ok(if by_line { Selection::Lines(lines) } else { Selection::Items(whole) })
    }
}
