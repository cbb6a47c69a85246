//! Allocation documents (seed 001, fabric allocation service 2.0.0): one per ship-from
//! location of an order, holding the units reserved there. camelCase JSON as documented.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ArrayBuilder, Object, ObjectBuilder, OneOfBuilder, Schema, Type};

use crate::domain::ids::{ItemId, LocationId, OrderId, OrderLineId, UserId};
use crate::domain::limits;
use crate::domain::order::SaveOrderRequest;
use crate::domain::sourcing::Strategy;
use crate::error::OmsError;

/// A 24-character lower-case hex id, like the documented `633f216c68f1b4456659161c`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct AllocationId(String);

impl AllocationId {
    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        let value = value.trim();
        if value.len() != 24 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(OmsError::validation(
                field,
                format!("must be a 24-character hexadecimal allocation id, got {value:?}"),
            ));
        }
        Ok(Self(value.to_ascii_lowercase()))
    }

    /// Derives an id from a ULID: 4 bytes of seconds then 8 random bytes, so ids sort by time.
    pub fn from_ulid(ulid: &str) -> Result<Self, OmsError> {
        let ulid = ulid::Ulid::from_string(ulid).map_err(|e| OmsError::Internal(anyhow::anyhow!("bad ulid: {e}")))?;
        let seconds = (ulid.timestamp_ms() / 1000) as u32;
        let random = ulid.random() as u64;
        Ok(Self(format!("{seconds:08x}{random:016x}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AllocationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AllocationId {
    type Error = OmsError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_at("allocationId", &value)
    }
}

impl From<AllocationId> for String {
    fn from(id: AllocationId) -> String {
        id.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AllocationStatus {
    Allocated,
    PendingDrop,
    PendingPick,
    Shipped,
    PartiallyShipped,
    Reallocated,
    Cancelled,
    PartiallyCancelled,
}

impl AllocationStatus {
    pub const ALL: [AllocationStatus; 8] = [
        Self::Allocated,
        Self::PendingDrop,
        Self::PendingPick,
        Self::Shipped,
        Self::PartiallyShipped,
        Self::Reallocated,
        Self::Cancelled,
        Self::PartiallyCancelled,
    ];

    /// A live allocation holds reserved stock; cancelled and reallocated ones hold none.
    pub fn is_live(self) -> bool {
        !matches!(self, Self::Cancelled | Self::Reallocated)
    }

    pub fn id(self) -> &'static str {
        match self {
            Self::Allocated => "ALLOCATED",
            Self::PendingDrop => "PENDING_DROP",
            Self::PendingPick => "PENDING_PICK",
            Self::Shipped => "SHIPPED",
            Self::PartiallyShipped => "PARTIALLY_SHIPPED",
            Self::Reallocated => "REALLOCATED",
            Self::Cancelled => "CANCELLED",
            Self::PartiallyCancelled => "PARTIALLY_CANCELLED",
        }
    }

    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        Self::ALL.into_iter().find(|s| s.id().eq_ignore_ascii_case(value.trim())).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|s| s.id()).collect();
            OmsError::validation(field, format!("must be one of {}, got {value:?}", names.join(", ")))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AllocationType {
    Allocated,
    Scratched,
    Returned,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllocationItem {
    pub line_id: OrderLineId,
    pub item_id: ItemId,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLog {
    pub updated_at: DateTime<Utc>,
    pub updated_by: UserId,
    pub field: String,
    pub old_value: Value,
    pub new_value: Value,
}

/// An allocation document. Its serde form is both the stored and the documented form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Allocation {
    pub allocation_id: AllocationId,
    pub version: u64,
    /// The order this allocation serves (the reallocate request's `orderNumber`).
    pub order_number: OrderId,
    pub allocation_request_id: Option<String>,
    pub allocation_num: Option<String>,
    pub parent_allocation_id: Option<AllocationId>,
    #[serde(rename = "sentToPPSDate")]
    pub sent_to_pps_date: Option<DateTime<Utc>>,
    pub allocation_date: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub allocation_type: AllocationType,
    /// The location this allocation was moved from (a location id; the seed shows a number).
    pub previous_allocation_location_num: Option<String>,
    pub po_number: Option<String>,
    pub items_type: Option<String>,
    pub order_sub_type: Option<String>,
    pub vendor_id: Option<String>,
    pub ship_date: Option<DateTime<Utc>>,
    pub ship_type: Option<String>,
    pub ship_method: Option<String>,
    pub ship_to_id: Option<String>,
    pub status_code: AllocationStatus,
    pub location_num: LocationId,
    pub location_type: String,
    pub ship_to_address: Option<Value>,
    #[serde(default)]
    pub recipient: Vec<Value>,
    pub items: Vec<AllocationItem>,
    #[serde(default)]
    pub audit_logs: Vec<AuditLog>,
    /// Set while a change too large for one transaction (a cancel or reallocation of many
    /// lines) holds this document: the id of its journal. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_operation: Option<String>,
}

impl Allocation {
    /// Units held over all items (u64: many items of large quantities exceed u32).
    pub fn units(&self) -> u64 {
        self.items.iter().map(|i| u64::from(i.quantity)).sum()
    }

    /// Units of each item held by this allocation, item by item.
    pub fn units_by_item(&self) -> std::collections::BTreeMap<ItemId, u64> {
        let mut units = std::collections::BTreeMap::new();
        for item in &self.items {
            *units.entry(item.item_id.clone()).or_insert(0) += u64::from(item.quantity);
        }
        units
    }
}

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

/// `PUT /allocation/{allocationId}` body. Fields left out keep their stored values.
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
    #[schema(value_type = Option<AllocationStatus>)]
    pub status_code: Option<String>,
    /// Must equal the stored location: moving goes through reallocate.
    #[schema(value_type = Option<LocationId>)]
    pub location_num: Option<String>,
    pub ship_to_address: Option<Value>,
    pub recipient: Option<Vec<Value>>,
    pub items: Option<Vec<AllocationItem>>,
}

const ITEMS_TYPES: &[&str] = &["WEB_SHIP", "POS", "WEB"];
/// Most recipients one allocation keeps.
const MAX_RECIPIENTS: usize = 20;
const ORDER_SUB_TYPES: &[&str] = &["IOS", "ANDROID", "INTERNATIONAL", "BORDERFREE"];
/// The document types reallocate accepts (`SHIPMENT`, also documented, is refused).
const DOCUMENT_TYPES: &[&str] = &["ALLOCATION", "ORDER", "ALLOCATION ORDER"];

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
            if let Some(value) = value {
                limits::check_text(field, value)?;
            }
        }
        if let Some(address) = &self.ship_to_address {
            limits::check_free_form("shipToAddress", address)?;
        }
        if let Some(recipients) = &self.recipient {
            limits::check_count("recipient", recipients.len(), MAX_RECIPIENTS)?;
            for (i, recipient) in recipients.iter().enumerate() {
                limits::check_free_form(&format!("recipient[{i}]"), recipient)?;
            }
        }
        Ok(())
    }

    /// Applies the update to `current`, recording each changed field in `auditLogs`.
    /// Stock-moving changes are refused: the location goes through reallocate, the units
    /// through cancel, and CANCELLED/REALLOCATED only come from those endpoints.
    pub fn apply(&self, current: &Allocation, user: &UserId, now: DateTime<Utc>) -> Result<Allocation, OmsError> {
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
        if let Some(items) = &self.items
            && items != &current.items
        {
            return Err(OmsError::validation(
                "items",
                "changing the allocated units changes reservations: use PUT /allocation/cancel/{allocationIds} or reallocate",
            ));
        }
        let mut next = current.clone();
        let mut audit = Vec::new();
        let change = |audit: &mut Vec<AuditLog>, field: &str, old: Value, new: Value| {
            if old != new {
                audit.push(AuditLog {
                    updated_at: now,
                    updated_by: user.clone(),
                    field: field.into(),
                    old_value: old,
                    new_value: new,
                });
            }
        };
        macro_rules! set {
            ($field:ident, $name:literal) => {
                if let Some(value) = &self.$field {
                    change(&mut audit, $name, serde_json::json!(next.$field), serde_json::json!(value));
                    next.$field = Some(value.clone());
                }
            };
        }
        self.check_bounds()?;
        set!(allocation_request_id, "allocationRequestId");
        set!(allocation_num, "allocationNum");
        set!(sent_to_pps_date, "sentToPPSDate");
        set!(po_number, "poNumber");
        set!(vendor_id, "vendorId");
        set!(ship_date, "shipDate");
        set!(ship_type, "shipType");
        set!(ship_method, "shipMethod");
        set!(ship_to_id, "shipToId");
        set!(ship_to_address, "shipToAddress");
        if let Some(value) = &self.items_type {
            let upper = value.to_ascii_uppercase();
            if !ITEMS_TYPES.contains(&upper.as_str()) {
                return Err(OmsError::validation("itemsType", format!("must be one of {}", ITEMS_TYPES.join(", "))));
            }
            change(&mut audit, "itemsType", serde_json::json!(next.items_type), serde_json::json!(upper));
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
            change(&mut audit, "orderSubType", serde_json::json!(next.order_sub_type), serde_json::json!(value));
            next.order_sub_type = Some(value.clone());
        }
        if let Some(value) = &self.parent_allocation_id {
            let parent = AllocationId::parse_at("parentAllocationId", value)?;
            change(
                &mut audit,
                "parentAllocationId",
                serde_json::json!(next.parent_allocation_id),
                serde_json::json!(parent),
            );
            next.parent_allocation_id = Some(parent);
        }
        if let Some(kind) = self.allocation_type {
            change(&mut audit, "type", serde_json::json!(next.allocation_type), serde_json::json!(kind));
            next.allocation_type = kind;
        }
        if let Some(recipient) = &self.recipient {
            change(&mut audit, "recipient", serde_json::json!(next.recipient), serde_json::json!(recipient));
            next.recipient = recipient.clone();
        }
        if let Some(status) = &self.status_code {
            let status = AllocationStatus::parse_at("statusCode", status)?;
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
            change(&mut audit, "statusCode", serde_json::json!(next.status_code), serde_json::json!(status));
            next.status_code = status;
        }
        if !audit.is_empty() && next.audit_logs.len() + audit.len() > limits::MAX_AUDIT_LOGS {
            return Err(OmsError::validation(
                "auditLogs",
                format!(
                    "allocation {path_id} already keeps {} audit log entries; at most {} are kept, so it takes no more changes",
                    next.audit_logs.len(),
                    limits::MAX_AUDIT_LOGS
                ),
            ));
        }
        if !audit.is_empty() {
            next.version += 1;
            next.updated_at = now;
            next.audit_logs.extend(audit);
        }
        Ok(next)
    }
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
    /// Items to move (by `itemId` or `sku`); all of the allocation's items when absent.
    pub items: Option<Vec<Value>>,
    /// Ours: the location to move to. Without it the units are re-planned elsewhere.
    #[schema(value_type = Option<LocationId>)]
    pub location_num: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentType {
    Allocation,
    Order,
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

    /// The item ids to move, if the request limits them.
    pub fn item_filter(&self) -> Result<Option<Vec<ItemId>>, OmsError> {
        let Some(items) = &self.items else { return Ok(None) };
        let mut ids = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let id = item.get("itemId").or_else(|| item.get("sku")).and_then(Value::as_str);
            let id = id.ok_or_else(|| OmsError::validation(format!("items[{i}].itemId"), "is required"))?;
            ids.push(ItemId::parse_at(&format!("items[{i}].itemId"), id)?);
        }
        Ok(Some(ids))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allocation() -> Allocation {
        let now = Utc::now();
        Allocation {
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
            items: vec![AllocationItem {
                line_id: OrderLineId::parse("1").unwrap(),
                item_id: ItemId::parse("SKU-1").unwrap(),
                quantity: 2,
            }],
            audit_logs: vec![],
            pending_operation: None,
        }
    }

    #[test]
    fn when_items_add_up_beyond_u32_units_should_count_them_exactly() {
        let mut doc = allocation();
        let item = doc.items[0].clone();
        doc.items = (0..3).map(|_| AllocationItem { quantity: u32::MAX, ..item.clone() }).collect();
        assert_eq!(doc.units(), 3 * u64::from(u32::MAX));
        assert_eq!(doc.units_by_item().get(&item.item_id), Some(&(3 * u64::from(u32::MAX))));
    }

    fn request(body: Value) -> UpdateAllocationRequest {
        serde_json::from_value(body).unwrap()
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
    fn when_update_changes_fields_should_bump_version_and_audit_each_change() {
        let current = allocation();
        let user = UserId::parse("alice").unwrap();
        let next = request(serde_json::json!({"allocationId": current.allocation_id, "version": 1, "allocationNum": "X-1", "statusCode": "PENDING_PICK", "itemsType": "WEB_SHIP"}))
            .apply(&current, &user, Utc::now())
            .unwrap();
        assert_eq!(next.version, 2);
        assert_eq!(next.status_code, AllocationStatus::PendingPick);
        let fields: Vec<&str> = next.audit_logs.iter().map(|a| a.field.as_str()).collect();
        assert_eq!(fields, ["allocationNum", "itemsType", "statusCode"]);
    }

    #[test]
    fn when_update_carries_a_stale_version_should_conflict() {
        let current = allocation();
        let err = request(serde_json::json!({"allocationId": current.allocation_id, "version": 7}))
            .apply(&current, &UserId::parse("u").unwrap(), Utc::now())
            .unwrap_err();
        assert!(matches!(err, OmsError::Conflict(_)));
    }

    #[test]
    fn when_update_moves_stock_should_point_to_the_endpoint_that_does() {
        let current = allocation();
        let user = UserId::parse("u").unwrap();
        let moved = request(serde_json::json!({"allocationId": current.allocation_id, "locationNum": "DC-9"}));
        assert_eq!(moved.apply(&current, &user, Utc::now()).unwrap_err().field(), Some("locationNum"));
        let cancelled = request(serde_json::json!({"allocationId": current.allocation_id, "statusCode": "CANCELLED"}));
        assert_eq!(cancelled.apply(&current, &user, Utc::now()).unwrap_err().field(), Some("statusCode"));
        let items = request(
            serde_json::json!({"allocationId": current.allocation_id, "items": [{"lineId": "1", "itemId": "SKU-1", "quantity": 1}]}),
        );
        assert_eq!(items.apply(&current, &user, Utc::now()).unwrap_err().field(), Some("items"));
    }

    #[test]
    fn when_update_changes_nothing_should_keep_the_version() {
        let current = allocation();
        let next =
            request(serde_json::json!({"allocationId": current.allocation_id, "version": 1, "locationNum": "DC-1"}))
                .apply(&current, &UserId::parse("u").unwrap(), Utc::now())
                .unwrap();
        assert_eq!(next, current);
    }

    #[test]
    fn when_reallocate_id_is_a_string_or_an_array_should_accept_both() {
        let one: ReallocateRequest = serde_json::from_value(serde_json::json!({"channel": "web", "tenant": "demo", "id": "62ff5c0bec0aed3c86202c32", "documentType": "ALLOCATION"})).unwrap();
        assert_eq!(one.targets().unwrap().1.len(), 1);
        let many: ReallocateRequest = serde_json::from_value(
            serde_json::json!({"channel": "web", "tenant": "demo", "id": ["a", "b"], "documentType": "ORDER"}),
        )
        .unwrap();
        assert_eq!(many.targets().unwrap(), (DocumentType::Order, vec!["a".to_string(), "b".to_string()]));
        let missing: ReallocateRequest =
            serde_json::from_value(serde_json::json!({"tenant": "demo", "id": "x", "documentType": "ORDER"})).unwrap();
        assert_eq!(missing.targets().unwrap_err().field(), Some("channel"));
    }
}
