//! The canonical order: its lines, statuses, payments, invoices and charges. The Save Order
//! request and its parsing are in `request`, the merge with the stored order in `merge`, the
//! response view in `order_view`.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ids::{ItemId, LocationId, OrderId, OrderLineId, TenantId, UserId};
use super::lifecycle::milestones::{MonitoringEvent, OrderMilestone};
use super::limits;
use super::location::{check_latitude, check_longitude};
use super::status::{FulfillmentStatus, min_max_status};
use super::text::{Code, Text};
use crate::error::{LINE_MOD_NOT_PERMITTED, OmsError};

/// Largest quantity of one order line.
pub const MAX_LINE_QUANTITY: u64 = 1_000_000;
/// Largest money amount accepted anywhere on an order; keeps every total far from overflow.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;
/// Currency used when an order names none.
pub const DEFAULT_CURRENCY: &str = "USD";

/// Longest free-text value (names, address lines) in characters.
pub const MAX_TEXT_CHARS: usize = 256;
/// Longest code-like value (order type, charge type, payment ids) in characters.
pub const MAX_CODE_CHARS: usize = 64;

mod merge;
mod request;
#[cfg(test)]
mod tests;

pub use request::*;
pub(crate) use request::{bounded_text, one_of, whole_number};

// ---------------------------------------------------------------------------------------------
// Domain side.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum DeliveryMethod {
    ShipToAddress,
    ShipToStore,
    PickUpAtStore,
    Email,
}

impl DeliveryMethod {
    pub const ALL: [DeliveryMethod; 4] = [
        DeliveryMethod::ShipToAddress,
        DeliveryMethod::ShipToStore,
        DeliveryMethod::PickUpAtStore,
        DeliveryMethod::Email,
    ];

    pub fn id(self) -> &'static str {
        match self {
            DeliveryMethod::ShipToAddress => "ShipToAddress",
            DeliveryMethod::ShipToStore => "ShipToStore",
            DeliveryMethod::PickUpAtStore => "PickUpAtStore",
            DeliveryMethod::Email => "Email",
        }
    }

    /// Whether the line is handed over at a store, which `PickupLocationId` then names.
    pub fn needs_pickup_location(self) -> bool {
        matches!(self, DeliveryMethod::ShipToStore | DeliveryMethod::PickUpAtStore)
    }

    /// Parses a DeliveryMethodId case-insensitively; the error lists the accepted ids.
    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        one_of(field, value, &Self::ALL, |m| m.id())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum InvoiceType {
    Shipping,
    Adjustment,
}

impl InvoiceType {
    pub const ALL: [InvoiceType; 2] = [InvoiceType::Shipping, InvoiceType::Adjustment];

    pub fn id(self) -> &'static str {
        match self {
            InvoiceType::Shipping => "Shipping",
            InvoiceType::Adjustment => "Adjustment",
        }
    }

    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        one_of(field, value, &Self::ALL, |t| t.id())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum PublishStatus {
    Published,
    ReadyForPublishing,
    NotPublished,
}

impl PublishStatus {
    pub const ALL: [PublishStatus; 3] =
        [PublishStatus::Published, PublishStatus::ReadyForPublishing, PublishStatus::NotPublished];

    pub fn id(self) -> &'static str {
        match self {
            PublishStatus::Published => "Published",
            PublishStatus::ReadyForPublishing => "ReadyForPublishing",
            PublishStatus::NotPublished => "NotPublished",
        }
    }

    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        one_of(field, value, &Self::ALL, |s| s.id())
    }
}

/// The kind of a phone number (fabric's `MOBILE`, `HOME`, `BUSINESS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum PhoneType {
    Mobile,
    Home,
    Business,
}

impl PhoneType {
    pub const ALL: [PhoneType; 3] = [PhoneType::Mobile, PhoneType::Home, PhoneType::Business];

    pub fn id(self) -> &'static str {
        match self {
            PhoneType::Mobile => "Mobile",
            PhoneType::Home => "Home",
            PhoneType::Business => "Business",
        }
    }

    /// Any case: `Mobile`, `MOBILE` and `mobile` are the same type.
    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        one_of(field, value, &Self::ALL, |t| t.id())
    }
}

/// Who collects a pickup: the primary person, or an alternate the customer named.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum PickupType {
    Primary,
    Alternate,
}

impl PickupType {
    pub const ALL: [PickupType; 2] = [PickupType::Primary, PickupType::Alternate];

    pub fn id(self) -> &'static str {
        match self {
            PickupType::Primary => "Primary",
            PickupType::Alternate => "Alternate",
        }
    }

    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        one_of(field, value, &Self::ALL, |t| t.id())
    }
}

/// A person who may collect the order's pickup lines.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PickupPerson {
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub phone_type: Option<PhoneType>,
    pub pickup_type: PickupType,
}

/// A postal address with its recipient's contact; `latitude` and `longitude` are both set or
/// both absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Address {
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_type: Option<PhoneType>,
    pub address1: String,
    pub address2: Option<String>,
    pub city: String,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    pub country: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

impl Address {
    /// `(latitude, longitude)` when the address is geocoded.
    pub fn coordinates(&self) -> Option<(f64, f64)> {
        Some((self.latitude?, self.longitude?))
    }
}

/// One order line. Invariant: `quantities` holds only non-zero counts and they sum to `quantity`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OrderLine {
    pub order_line_id: OrderLineId,
    pub item_id: ItemId,
    pub quantity: u32,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub unit_price: Decimal,
    /// The item's title as the customer saw it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_description: Option<String>,
    /// Unit of measure, e.g. `EACH`.
    #[serde(default, rename = "UOM", skip_serializing_if = "Option::is_none")]
    pub uom: Option<String>,
    pub is_return: bool,
    pub delivery_method: DeliveryMethod,
    #[serde(rename = "ShipToAddress")]
    pub ship_to: Option<Address>,
    pub pickup_location_id: Option<LocationId>,
    /// Units per fulfillment status.
    #[serde(rename = "QuantityByStatus")]
    pub quantities: BTreeMap<FulfillmentStatus, u32>,
    /// Why units of the line were canceled (the last cancel's reason).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_reason_id: Option<String>,
}

impl OrderLine {
    /// Units of this line at `status`.
    pub fn quantity_at(&self, status: FulfillmentStatus) -> u32 {
        self.quantities.get(&status).copied().unwrap_or(0)
    }

    /// See [`min_max_status`] for the rule.
    pub fn min_status(&self) -> Option<FulfillmentStatus> {
        self.status_range().map(|(min, _)| min)
    }

    /// See [`min_max_status`] for the rule.
    pub fn max_status(&self) -> Option<FulfillmentStatus> {
        self.status_range().map(|(_, max)| max)
    }

    fn status_range(&self) -> Option<(FulfillmentStatus, FulfillmentStatus)> {
        min_max_status(self.quantities.iter().map(|(s, q)| (*s, *q)))
    }

    /// Every unit of the line is canceled (9000).
    pub fn is_canceled(&self) -> bool {
        self.quantity > 0 && self.quantity_at(FulfillmentStatus::Canceled) == self.quantity
    }

    /// Moves `qty` units from status `from` to status `to`, refusing to move more than are there.
    pub fn move_quantity(&mut self, from: FulfillmentStatus, to: FulfillmentStatus, qty: u32) -> Result<(), OmsError> {
        let available = self.quantity_at(from);
        if qty > available {
            return Err(OmsError::Conflict(format!(
                "cannot move {qty} units of order line {} from status {from} to {to}: only {available} at {from}",
                self.order_line_id
            )));
        }
        if qty == 0 || from == to {
            return Ok(());
        }
        let left = available - qty;
        if left == 0 {
            self.quantities.remove(&from);
        } else {
            self.quantities.insert(from, left);
        }
        *self.quantities.entry(to).or_insert(0) += qty;
        Ok(())
    }

    /// Units that still count towards the order total: all but the canceled ones.
    fn billable_quantity(&self) -> u32 {
        self.quantity.saturating_sub(self.quantity_at(FulfillmentStatus::Canceled))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Payment {
    pub payment_header_id: Option<String>,
    pub payment_status_id: Option<String>,
    #[serde(rename = "PaymentMethod")]
    pub methods: Vec<PaymentMethod>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PaymentMethod {
    pub payment_method_id: String,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub amount: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub current_auth_amount: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub current_settled_amount: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub current_refund_amount: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub current_failed_amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Invoice {
    pub invoice_id: String,
    pub invoice_type: InvoiceType,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub amount: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub amount_processed: Decimal,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub failed_amount: Decimal,
    pub publish_status: PublishStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ChargeDetail {
    pub charge_detail_id: String,
    /// Free text such as `Shipping`, `Discount` or `WriteOff`.
    pub charge_type_id: String,
    #[serde(with = "rust_decimal::serde::arbitrary_precision")]
    pub charge_total: Decimal,
}

impl ChargeDetail {
    pub fn is_discount(&self) -> bool {
        self.charge_type_id.eq_ignore_ascii_case("Discount")
    }

    pub fn is_write_off(&self) -> bool {
        self.charge_type_id.eq_ignore_ascii_case("WriteOff")
    }
}

/// Whether a hold stops the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum HoldStatus {
    Applied,
    Resolved,
}

impl HoldStatus {
    pub const ALL: [HoldStatus; 2] = [HoldStatus::Applied, HoldStatus::Resolved];

    pub fn id(self) -> &'static str {
        match self {
            HoldStatus::Applied => "Applied",
            HoldStatus::Resolved => "Resolved",
        }
    }

    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        one_of(field, value, &Self::ALL, |s| s.id())
    }
}

/// A hold on the order (fraud check, payment review, ...): while one is applied, nothing of the
/// order is released. One entry per hold type; re-applying a resolved type applies it again.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Hold {
    pub hold_type_id: String,
    pub status_id: HoldStatus,
    pub resolve_reason_id: Option<String>,
    pub applied_timestamp: DateTime<Utc>,
    pub applied_by: UserId,
    pub resolved_timestamp: Option<DateTime<Utc>>,
    pub resolved_by: Option<UserId>,
}

/// One change of the order as its audit trail keeps it: who, when, through which route, and the
/// modification types that occurred (a line-level type names its lines).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OrderAudit {
    /// The order version the change wrote.
    pub version: u64,
    pub updated_by: UserId,
    pub updated_timestamp: DateTime<Utc>,
    /// What made the change, e.g. `POST /order/api/order/order`.
    pub source: String,
    pub mod_types: Vec<AuditModType>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AuditModType {
    pub mod_type_id: String,
    /// The lines a line-level type touched (the first [`MAX_AUDIT_LINE_IDS`]); empty for an
    /// order-level type.
    #[schema(value_type = Vec<String>)]
    pub order_line_ids: Vec<OrderLineId>,
    /// How many lines the type touched, all of them counted.
    #[serde(default)]
    pub line_count: usize,
}

/// Most line ids one audit entry names per mod type, so that 20 entries of a 500-line order
/// stay small.
pub const MAX_AUDIT_LINE_IDS: usize = 20;

/// A valid order. Its serde form (PascalCase) is the storage form; [`Order::to_response`]
/// (in `order_view`) is what clients see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Order {
    pub org_id: TenantId,
    pub order_id: OrderId,
    pub version: u64,
    pub order_type_id: String,
    pub is_confirmed: bool,
    pub is_import: bool,
    pub do_not_release_before: Option<DateTime<Utc>>,
    pub currency_code: String,
    #[serde(rename = "OrderLine")]
    pub lines: Vec<OrderLine>,
    #[serde(rename = "Payment", default)]
    pub payments: Vec<Payment>,
    #[serde(rename = "Invoice", default)]
    pub invoices: Vec<Invoice>,
    #[serde(rename = "OrderChargeDetail", default)]
    pub charges: Vec<ChargeDetail>,
    /// Who may collect the pickup lines, the primary person first.
    #[serde(rename = "PickupPerson", default, skip_serializing_if = "Vec::is_empty")]
    pub pickup_persons: Vec<PickupPerson>,
    pub payment_status: Option<String>,
    /// Holds applied and resolved, by hold type.
    #[serde(rename = "Hold", default, skip_serializing_if = "Vec::is_empty")]
    pub holds: Vec<Hold>,
    /// The most recent changes, oldest first (at most `limits::MAX_ORDER_AUDITS`).
    #[serde(rename = "OrderAudit", default, skip_serializing_if = "Vec::is_empty")]
    pub audits: Vec<OrderAudit>,
    /// Release documents written for the order so far; numbers the next one.
    #[serde(default)]
    pub release_count: u32,
    /// Where the order stands against each milestone (see `lifecycle::milestones`).
    #[serde(rename = "OrderMilestone", default, skip_serializing_if = "Vec::is_empty")]
    pub milestones: Vec<OrderMilestone>,
    /// Monitoring events raised for the order, oldest first, one per rule.
    #[serde(rename = "MonitoringEvent", default, skip_serializing_if = "Vec::is_empty")]
    pub monitoring_events: Vec<MonitoringEvent>,
    /// When the milestone scheduler must look at the order next; mirrored by its due-index entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub milestone_check_at: Option<DateTime<Utc>>,
    pub created_timestamp: DateTime<Utc>,
    pub updated_timestamp: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
}
