//! The audit trail of an allocation document, in fabric's `OrderAuditLog` shape: one entry per
//! update, and one per line for each reallocation, scratch and ship; one for a cancel.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::item::AllocationItem;
use crate::domain::ids::{OrderLineId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AuditType {
    Update,
    Reallocate,
    Scratch,
    Ship,
    Cancel,
    /// Units released to the location on a release document.
    Release,
}

/// A field an update changed, with the value it had.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UpdatedField {
    pub field_name: String,
    pub field_original_value: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditLog {
    /// `<allocationId>-<version>-<n>`: the n-th entry of the change that made that version.
    pub audit_id: String,
    pub audit_type: AuditType,
    /// The order line of the item concerned.
    pub line_item_id: Option<OrderLineId>,
    /// The item's `allocationLineNumber`.
    pub line_item_number: Option<u32>,
    pub sku: Option<String>,
    pub quantity: Option<u32>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>)]
    pub amount: Option<Decimal>,
    /// The user of the token that made the change.
    pub employee_id: UserId,
    pub audit_timestamp: DateTime<Utc>,
    /// The endpoint that made the change, e.g. `PUT /allocation/{allocationId}`.
    pub source: Option<String>,
    pub reason_code: Option<String>,
    pub sub_reason_code: Option<String>,
    pub policy_code: Option<String>,
    pub note: Option<String>,
    pub success: bool,
    pub updated_fields: Vec<UpdatedField>,
    /// The new value of each updated field, by field name.
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    /// Payment audits only; always null here.
    #[schema(value_type = Option<Object>)]
    pub payment_token: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub payment_response: Option<Value>,
}

impl AuditLog {
    /// An entry of `kind` by `user` at `now`, made through `source`.
    pub fn new(kind: AuditType, user: &UserId, now: DateTime<Utc>, source: &str) -> AuditLog {
        AuditLog {
            audit_id: String::new(),
            audit_type: kind,
            line_item_id: None,
            line_item_number: None,
            sku: None,
            quantity: None,
            amount: None,
            employee_id: user.clone(),
            audit_timestamp: now,
            source: Some(source.to_owned()),
            reason_code: None,
            sub_reason_code: None,
            policy_code: None,
            note: None,
            success: true,
            updated_fields: Vec::new(),
            attributes: Map::new(),
            payment_token: None,
            payment_response: None,
        }
    }

    /// The entry concerns `units` of `item`.
    pub fn for_item(mut self, item: &AllocationItem, units: u32) -> AuditLog {
        self.line_item_id = Some(item.order_line_id.clone());
        self.line_item_number = Some(item.allocation_line_number);
        self.sku = item.sku.clone().or_else(|| Some(item.item_id.to_string()));
        self.quantity = Some(units);
        self.amount = item.price.map(|p| p * Decimal::from(units));
        self
    }

    pub fn reason(mut self, code: Option<&str>) -> AuditLog {
        self.reason_code = code.map(str::to_owned);
        self
    }

    pub fn note(mut self, note: String) -> AuditLog {
        self.note = Some(note);
        self
    }

    /// Records that `field` went from `old` to `new`; nothing when they are equal.
    pub fn changed(&mut self, field: &str, old: Value, new: Value) {
        if old != new {
            self.updated_fields.push(UpdatedField { field_name: field.to_owned(), field_original_value: old });
            self.attributes.insert(field.to_owned(), new);
        }
    }
}

/// Reads stored entries: today's shape, or the `{updatedAt, updatedBy, field, oldValue,
/// newValue}` entries documents were written with before (each becomes an UPDATE entry).
pub(super) fn read_logs<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<AuditLog>, D::Error> {
    let stored: Vec<Value> = Vec::deserialize(deserializer)?;
    stored
        .into_iter()
        .enumerate()
        .map(|(i, entry)| {
            if entry.get("auditId").is_some() {
                return serde_json::from_value(entry).map_err(serde::de::Error::custom);
            }
            let legacy: Legacy = serde_json::from_value(entry).map_err(serde::de::Error::custom)?;
            let mut log = AuditLog::new(AuditType::Update, &legacy.updated_by, legacy.updated_at, "legacy");
            log.audit_id = format!("legacy-{}", i + 1);
            log.source = None;
            log.changed(&legacy.field, legacy.old_value, legacy.new_value);
            if log.updated_fields.is_empty() {
                log.updated_fields.push(UpdatedField { field_name: legacy.field, field_original_value: json!(null) });
            }
            Ok(log)
        })
        .collect()
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Legacy {
    updated_at: DateTime<Utc>,
    updated_by: UserId,
    field: String,
    #[serde(default)]
    old_value: Value,
    #[serde(default)]
    new_value: Value,
}
