//! The canonical order: the loose Save Order request, its parsing into a valid [`Order`],
//! and the merge with the stored order on update (the response view is in `order_view`).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ids::{ItemId, LocationId, OrderId, OrderLineId, TenantId, UserId};
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

// ---------------------------------------------------------------------------------------------
// Request side: what Save Order accepts. Everything is optional so that `parse` can name what is
// missing; unknown fields (Created*, Updated*, ...) are ignored by serde.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SaveOrderRequest {
    #[schema(value_type = OrderId, required = true)]
    pub order_id: Option<String>,
    /// When given on an update, must equal the stored version (optimistic concurrency).
    pub version: Option<u64>,
    #[schema(value_type = OrderTypeRequest, required = true)]
    pub order_type: Option<OrderTypeRequest>,
    pub is_confirmed: Option<bool>,
    pub is_import: Option<bool>,
    /// RFC 3339 date-time.
    #[schema(format = DateTime)]
    pub do_not_release_before: Option<String>,
    #[schema(pattern = "^[A-Za-z]{3}$")]
    pub currency_code: Option<String>,
    pub order_line: Option<Vec<OrderLineRequest>>,
    pub payment: Option<Vec<PaymentRequest>>,
    pub invoice: Option<Vec<InvoiceRequest>>,
    pub order_charge_detail: Option<Vec<ChargeDetailRequest>>,
    pub payment_status: Option<PaymentStatusRequest>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OrderTypeRequest {
    #[schema(value_type = Code, required = true)]
    pub order_type_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OrderLineRequest {
    #[schema(value_type = OrderLineId, required = true)]
    pub order_line_id: Option<String>,
    #[schema(value_type = ItemId, required = true)]
    pub item_id: Option<String>,
    /// A JSON number; must be whole (2 or 2.0), > 0 and <= 1 000 000.
    #[schema(value_type = f64, required = true, minimum = 1, maximum = 1000000, multiple_of = 1)]
    pub quantity: Option<serde_json::Number>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = f64, required = true, minimum = 0, maximum = 1000000000000_f64)]
    pub unit_price: Option<Decimal>,
    pub is_return: Option<bool>,
    #[schema(value_type = DeliveryMethodRequest, required = true)]
    pub delivery_method: Option<DeliveryMethodRequest>,
    pub ship_to_address: Option<ShipToAddressRequest>,
    #[schema(value_type = Option<LocationId>)]
    pub pickup_location_id: Option<String>,
    pub quantity_detail: Option<Vec<QuantityDetailRequest>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DeliveryMethodRequest {
    /// Any case.
    #[schema(value_type = DeliveryMethod, required = true)]
    pub delivery_method_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ShipToAddressRequest {
    #[schema(value_type = AddressRequest, required = true)]
    pub address: Option<AddressRequest>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AddressRequest {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    #[schema(value_type = Text, required = true)]
    pub address1: Option<String>,
    pub address2: Option<String>,
    #[schema(value_type = Text, required = true)]
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    #[schema(value_type = Text, required = true)]
    pub country: Option<String>,
    /// Sent together with Longitude, or neither.
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct QuantityDetailRequest {
    /// `"1000"`, `"1000.000"` or a number.
    pub status_id: Option<Value>,
    #[schema(value_type = Option<f64>)]
    pub quantity: Option<serde_json::Number>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PaymentRequest {
    pub payment_header_id: Option<String>,
    pub payment_status: Option<PaymentStatusRequest>,
    pub payment_method: Option<Vec<PaymentMethodRequest>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PaymentStatusRequest {
    #[schema(value_type = Code, required = true)]
    pub payment_status_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PaymentMethodRequest {
    #[schema(value_type = Code, required = true)]
    pub payment_method_id: Option<String>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = f64, required = true, minimum = 0, maximum = 1000000000000_f64)]
    pub amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub current_auth_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub current_settled_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub current_refund_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub current_failed_amount: Option<Decimal>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct InvoiceRequest {
    #[schema(value_type = Code, required = true)]
    pub invoice_id: Option<String>,
    #[schema(value_type = InvoiceTypeRequest, required = true)]
    pub invoice_type: Option<InvoiceTypeRequest>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = f64, required = true, minimum = 0, maximum = 1000000000000_f64)]
    pub amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub amount_processed: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub failed_amount: Option<Decimal>,
    pub publish_status: Option<PublishStatusRequest>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct InvoiceTypeRequest {
    /// Any case.
    #[schema(value_type = InvoiceType, required = true)]
    pub invoice_type_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PublishStatusRequest {
    /// Any case; NotPublished when left out.
    #[schema(value_type = Option<PublishStatus>)]
    pub publish_status_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ChargeDetailRequest {
    #[schema(value_type = Code, required = true)]
    pub charge_detail_id: Option<String>,
    #[schema(value_type = ChargeTypeRequest, required = true)]
    pub charge_type: Option<ChargeTypeRequest>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = f64, required = true, minimum = 0, maximum = 1000000000000_f64)]
    pub charge_total: Option<Decimal>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ChargeTypeRequest {
    #[schema(value_type = Code, required = true)]
    pub charge_type_id: Option<String>,
}

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

/// A postal address; `latitude` and `longitude` are both set or both absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Address {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
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
    pub is_return: bool,
    pub delivery_method: DeliveryMethod,
    #[serde(rename = "ShipToAddress")]
    pub ship_to: Option<Address>,
    pub pickup_location_id: Option<LocationId>,
    /// Units per fulfillment status.
    #[serde(rename = "QuantityByStatus")]
    pub quantities: BTreeMap<FulfillmentStatus, u32>,
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
    pub payment_status: Option<String>,
    pub created_timestamp: DateTime<Utc>,
    pub updated_timestamp: DateTime<Utc>,
    pub created_by: UserId,
    pub updated_by: UserId,
}

// ---------------------------------------------------------------------------------------------
// Parsing: request -> draft (shape and values valid, nothing merged yet).
// ---------------------------------------------------------------------------------------------

/// A Save Order request whose every value is valid. Fields that are `None` were not sent; on an
/// update they keep the stored value.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderDraft {
    pub order_id: OrderId,
    pub version: Option<u64>,
    pub order_type_id: String,
    pub is_confirmed: Option<bool>,
    pub is_import: Option<bool>,
    pub do_not_release_before: Option<DateTime<Utc>>,
    pub currency_code: Option<String>,
    pub lines: Vec<LineDraft>,
    pub payments: Option<Vec<Payment>>,
    pub invoices: Option<Vec<Invoice>>,
    pub charges: Option<Vec<ChargeDetail>>,
    pub payment_status: Option<String>,
}

/// A valid request line; `quantity_detail` is `None` when the client sent none.
#[derive(Debug, Clone, PartialEq)]
pub struct LineDraft {
    /// Where the line sits in the request, e.g. `OrderLine[2]`, to name its fields in errors.
    pub path: String,
    pub order_line_id: OrderLineId,
    pub item_id: ItemId,
    pub quantity: u32,
    pub unit_price: Decimal,
    pub is_return: bool,
    pub delivery_method: DeliveryMethod,
    pub ship_to: Option<Address>,
    pub pickup_location_id: Option<LocationId>,
    pub quantity_detail: Option<QuantityDetail>,
}

/// A line's `QuantityDetail` as sent: units per status, and the row that gave each status.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityDetail {
    pub quantities: BTreeMap<FulfillmentStatus, u32>,
    pub rows: BTreeMap<FulfillmentStatus, usize>,
}

impl SaveOrderRequest {
    /// Checks every value and returns the first error, named by its JSON path.
    pub fn parse(&self) -> Result<OrderDraft, OmsError> {
        let order_id = OrderId::parse_at("OrderId", required("OrderId", &self.order_id)?)?;
        let order_type_id =
            code("OrderType.OrderTypeId", self.order_type.as_ref().and_then(|t| t.order_type_id.as_ref()))?;
        let do_not_release_before =
            self.do_not_release_before.as_deref().map(|v| parse_timestamp("DoNotReleaseBefore", v)).transpose()?;
        let currency_code = self.currency_code.as_deref().map(|v| parse_currency("CurrencyCode", v)).transpose()?;

        let requested_lines = self.order_line.as_deref().unwrap_or_default();
        limits::check_count("OrderLine", requested_lines.len(), limits::MAX_ORDER_LINES)?;
        limits::check_count("Payment", self.payment.as_ref().map_or(0, Vec::len), limits::MAX_ORDER_ENTRIES)?;
        limits::check_count("Invoice", self.invoice.as_ref().map_or(0, Vec::len), limits::MAX_ORDER_ENTRIES)?;
        let charges = self.order_charge_detail.as_ref().map_or(0, Vec::len);
        limits::check_count("OrderChargeDetail", charges, limits::MAX_ORDER_ENTRIES)?;
        let mut lines = Vec::with_capacity(requested_lines.len());
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, line) in requested_lines.iter().enumerate() {
            let draft = line.parse(&format!("OrderLine[{i}]"))?;
            if let Some(first) = seen.get(draft.order_line_id.as_str()) {
                return Err(OmsError::validation(
                    format!("OrderLine[{i}].OrderLineId"),
                    format!(
                        "duplicates OrderLine[{first}].OrderLineId \"{}\"; line ids must be unique within the order",
                        draft.order_line_id
                    ),
                ));
            }
            // Keyed by the request's own string so the map can borrow it.
            if let Some(id) = line.order_line_id.as_deref() {
                seen.insert(id, i);
            }
            lines.push(draft);
        }

        let payments = self
            .payment
            .as_ref()
            .map(|list| {
                list.iter().enumerate().map(|(i, p)| p.parse(&format!("Payment[{i}]"))).collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let invoices = self
            .invoice
            .as_ref()
            .map(|list| {
                list.iter()
                    .enumerate()
                    .map(|(i, inv)| inv.parse(&format!("Invoice[{i}]")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let charges = self
            .order_charge_detail
            .as_ref()
            .map(|list| {
                list.iter()
                    .enumerate()
                    .map(|(i, c)| c.parse(&format!("OrderChargeDetail[{i}]")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let payment_status = self
            .payment_status
            .as_ref()
            .map(|s| code("PaymentStatus.PaymentStatusId", s.payment_status_id.as_ref()))
            .transpose()?;

        Ok(OrderDraft {
            order_id,
            version: self.version,
            order_type_id,
            is_confirmed: self.is_confirmed,
            is_import: self.is_import,
            do_not_release_before,
            currency_code,
            lines,
            payments,
            invoices,
            charges,
            payment_status,
        })
    }
}

impl OrderLineRequest {
    /// Parses the line found at `path` (e.g. `OrderLine[1]`).
    pub fn parse(&self, path: &str) -> Result<LineDraft, OmsError> {
        let f = |name: &str| format!("{path}.{name}");
        let order_line_id =
            OrderLineId::parse_at(&f("OrderLineId"), required(&f("OrderLineId"), &self.order_line_id)?)?;
        let item_id = ItemId::parse_at(&f("ItemId"), required(&f("ItemId"), &self.item_id)?)?;
        let quantity = whole_number(&f("Quantity"), required(&f("Quantity"), &self.quantity)?, 1, MAX_LINE_QUANTITY)?;
        let unit_price = amount(&f("UnitPrice"), self.unit_price)?;
        let method_field = f("DeliveryMethod.DeliveryMethodId");
        let method_id = self.delivery_method.as_ref().and_then(|m| m.delivery_method_id.as_deref());
        let delivery_method = match method_id {
            Some(id) => DeliveryMethod::parse_at(&method_field, id)?,
            None => {
                return Err(OmsError::validation(
                    method_field,
                    format!("is required; {}", expected_list(&DeliveryMethod::ALL, |m| m.id())),
                ));
            }
        };

        let ship_field = f("ShipToAddress");
        let ship_to = match &self.ship_to_address {
            Some(s) => Some(parse_address(&format!("{ship_field}.Address"), s.address.as_ref())?),
            None if delivery_method == DeliveryMethod::ShipToAddress => {
                return Err(OmsError::validation(ship_field, "is required when DeliveryMethodId is ShipToAddress"));
            }
            None => None,
        };

        let pickup_field = f("PickupLocationId");
        let pickup_location_id = match self.pickup_location_id.as_deref() {
            Some(id) => Some(LocationId::parse_at(&pickup_field, id)?),
            None if delivery_method.needs_pickup_location() => {
                return Err(OmsError::validation(
                    pickup_field,
                    format!("is required when DeliveryMethodId is {}", delivery_method.id()),
                ));
            }
            None => None,
        };

        let quantity_detail = match self.quantity_detail.as_deref() {
            // An empty list says nothing about statuses: treat it as not sent.
            None | Some([]) => None,
            Some(rows) => Some(parse_quantity_detail(&f("QuantityDetail"), rows, quantity)?),
        };

        Ok(LineDraft {
            path: path.to_owned(),
            order_line_id,
            item_id,
            quantity,
            unit_price,
            is_return: self.is_return.unwrap_or(false),
            delivery_method,
            ship_to,
            pickup_location_id,
            quantity_detail,
        })
    }
}

fn parse_address(path: &str, address: Option<&AddressRequest>) -> Result<Address, OmsError> {
    let Some(a) = address else {
        return Err(OmsError::validation(path, "is required"));
    };
    let f = |name: &str| format!("{path}.{name}");
    let address1 = text(&f("Address1"), a.address1.as_ref())?;
    let city = text(&f("City"), a.city.as_ref())?;
    let country = text(&f("Country"), a.country.as_ref())?;
    let (latitude, longitude) = match (a.latitude, a.longitude) {
        (Some(lat), Some(lon)) => {
            check_latitude(&f("Latitude"), lat)?;
            check_longitude(&f("Longitude"), lon)?;
            (Some(lat), Some(lon))
        }
        (None, None) => (None, None),
        (Some(_), None) => {
            return Err(OmsError::validation(f("Longitude"), "is required when Latitude is given"));
        }
        (None, Some(_)) => {
            return Err(OmsError::validation(f("Latitude"), "is required when Longitude is given"));
        }
    };
    Ok(Address {
        first_name: optional_text(&f("FirstName"), a.first_name.as_ref())?,
        last_name: optional_text(&f("LastName"), a.last_name.as_ref())?,
        address1,
        address2: optional_text(&f("Address2"), a.address2.as_ref())?,
        city,
        state: optional_text(&f("State"), a.state.as_ref())?,
        postal_code: optional_text(&f("PostalCode"), a.postal_code.as_ref())?,
        country,
        latitude,
        longitude,
    })
}

fn parse_quantity_detail(
    path: &str,
    rows: &[QuantityDetailRequest],
    line_quantity: u32,
) -> Result<QuantityDetail, OmsError> {
    let mut quantities = BTreeMap::new();
    let mut positions = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut total: u64 = 0;
    for (j, row) in rows.iter().enumerate() {
        let status_field = format!("{path}[{j}].StatusId");
        let status = FulfillmentStatus::parse_json(&status_field, required(&status_field, &row.status_id)?)?;
        if !seen.insert(status) {
            return Err(OmsError::validation(status_field, format!("status {status} appears more than once")));
        }
        let qty_field = format!("{path}[{j}].Quantity");
        let qty = whole_number(&qty_field, required(&qty_field, &row.quantity)?, 0, MAX_LINE_QUANTITY)?;
        total += u64::from(qty);
        if qty > 0 {
            quantities.insert(status, qty);
            positions.insert(status, j);
        }
    }
    if total != u64::from(line_quantity) {
        return Err(OmsError::validation(
            path,
            format!("quantities add up to {total} but the line Quantity is {line_quantity}"),
        ));
    }
    Ok(QuantityDetail { quantities, rows: positions })
}

impl PaymentRequest {
    pub fn parse(&self, path: &str) -> Result<Payment, OmsError> {
        let f = |name: &str| format!("{path}.{name}");
        let payment_header_id = optional_code(&f("PaymentHeaderId"), self.payment_header_id.as_ref())?;
        let payment_status_id = self
            .payment_status
            .as_ref()
            .map(|s| code(&f("PaymentStatus.PaymentStatusId"), s.payment_status_id.as_ref()))
            .transpose()?;
        let methods = self
            .payment_method
            .as_deref()
            .map(|methods| {
                limits::check_count(&f("PaymentMethod"), methods.len(), limits::MAX_PAYMENT_METHODS).map(|()| methods)
            })
            .transpose()?
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(k, m)| m.parse(&f(&format!("PaymentMethod[{k}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Payment { payment_header_id, payment_status_id, methods })
    }
}

impl PaymentMethodRequest {
    pub fn parse(&self, path: &str) -> Result<PaymentMethod, OmsError> {
        let f = |name: &str| format!("{path}.{name}");
        Ok(PaymentMethod {
            payment_method_id: code(&f("PaymentMethodId"), self.payment_method_id.as_ref())?,
            amount: amount(&f("Amount"), self.amount)?,
            current_auth_amount: amount_or_zero(&f("CurrentAuthAmount"), self.current_auth_amount)?,
            current_settled_amount: amount_or_zero(&f("CurrentSettledAmount"), self.current_settled_amount)?,
            current_refund_amount: amount_or_zero(&f("CurrentRefundAmount"), self.current_refund_amount)?,
            current_failed_amount: amount_or_zero(&f("CurrentFailedAmount"), self.current_failed_amount)?,
        })
    }
}

impl InvoiceRequest {
    pub fn parse(&self, path: &str) -> Result<Invoice, OmsError> {
        let f = |name: &str| format!("{path}.{name}");
        let invoice_id = code(&f("InvoiceId"), self.invoice_id.as_ref())?;
        let type_field = f("InvoiceType.InvoiceTypeId");
        let type_id = self.invoice_type.as_ref().and_then(|t| t.invoice_type_id.as_deref());
        let invoice_type = match type_id {
            Some(id) => InvoiceType::parse_at(&type_field, id)?,
            None => {
                return Err(OmsError::validation(
                    type_field,
                    format!("is required; {}", expected_list(&InvoiceType::ALL, |t| t.id())),
                ));
            }
        };
        let publish_status = match self.publish_status.as_ref().and_then(|s| s.publish_status_id.as_deref()) {
            Some(id) => PublishStatus::parse_at(&f("PublishStatus.PublishStatusId"), id)?,
            None => PublishStatus::NotPublished,
        };
        Ok(Invoice {
            invoice_id,
            invoice_type,
            amount: amount(&f("Amount"), self.amount)?,
            amount_processed: amount_or_zero(&f("AmountProcessed"), self.amount_processed)?,
            failed_amount: amount_or_zero(&f("FailedAmount"), self.failed_amount)?,
            publish_status,
        })
    }
}

impl ChargeDetailRequest {
    pub fn parse(&self, path: &str) -> Result<ChargeDetail, OmsError> {
        let f = |name: &str| format!("{path}.{name}");
        Ok(ChargeDetail {
            charge_detail_id: code(&f("ChargeDetailId"), self.charge_detail_id.as_ref())?,
            charge_type_id: code(
                &f("ChargeType.ChargeTypeId"),
                self.charge_type.as_ref().and_then(|t| t.charge_type_id.as_ref()),
            )?,
            charge_total: amount(&f("ChargeTotal"), self.charge_total)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Field helpers. Each returns a validation error naming `field`.
// ---------------------------------------------------------------------------------------------

fn required<'a, T>(field: &str, value: &'a Option<T>) -> Result<&'a T, OmsError> {
    value.as_ref().ok_or_else(|| OmsError::validation(field, "is required"))
}

/// Required free text: not blank, no control characters, bounded length.
fn text(field: &str, value: Option<&String>) -> Result<String, OmsError> {
    bounded_text(field, value, MAX_TEXT_CHARS)
}

/// Required code-like text (ids of payments, types): as [`text`] but at most 64 characters.
fn code(field: &str, value: Option<&String>) -> Result<String, OmsError> {
    bounded_text(field, value, MAX_CODE_CHARS)
}

fn bounded_text(field: &str, value: Option<&String>, max: usize) -> Result<String, OmsError> {
    let Some(value) = value else {
        return Err(OmsError::validation(field, "is required"));
    };
    if value.trim().is_empty() {
        return Err(OmsError::validation(field, "must not be blank"));
    }
    if value.chars().count() > max {
        return Err(OmsError::validation(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(OmsError::validation(field, "must not contain control characters"));
    }
    Ok(value.clone())
}

/// Optional free text; an empty string counts as absent, as Manhattan payloads often send "".
fn optional_text(field: &str, value: Option<&String>) -> Result<Option<String>, OmsError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => text(field, Some(v)).map(Some),
    }
}

fn optional_code(field: &str, value: Option<&String>) -> Result<Option<String>, OmsError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => code(field, Some(v)).map(Some),
    }
}

/// A required money amount in [0, MAX_AMOUNT].
fn amount(field: &str, value: Option<Decimal>) -> Result<Decimal, OmsError> {
    let Some(value) = value else {
        return Err(OmsError::validation(field, "is required"));
    };
    if value < Decimal::ZERO {
        return Err(OmsError::validation(field, format!("must not be negative, got {value}")));
    }
    if value > Decimal::from(MAX_AMOUNT) {
        return Err(OmsError::validation(field, format!("must be at most {MAX_AMOUNT}")));
    }
    Ok(value)
}

fn amount_or_zero(field: &str, value: Option<Decimal>) -> Result<Decimal, OmsError> {
    amount(field, Some(value.unwrap_or(Decimal::ZERO)))
}

/// A JSON number that must be a whole number in [min, max]; 2.0 counts as 2.
fn whole_number(field: &str, value: &serde_json::Number, min: u64, max: u64) -> Result<u32, OmsError> {
    let whole: i128 = if let Some(v) = value.as_u64() {
        i128::from(v)
    } else if let Some(v) = value.as_i64() {
        i128::from(v)
    } else {
        let v = value.as_f64().unwrap_or(f64::NAN);
        if v.fract() != 0.0 {
            return Err(OmsError::validation(field, format!("must be a whole number, got {value}")));
        }
        // Whole floats beyond i128 are out of range either way; saturate.
        v as i128
    };
    if whole < i128::from(min) {
        let message = if min == 0 {
            format!("must not be negative, got {value}")
        } else if min == 1 {
            format!("must be greater than 0, got {value}")
        } else {
            format!("must be at least {min}, got {value}")
        };
        return Err(OmsError::validation(field, message));
    }
    if whole > i128::from(max) {
        return Err(OmsError::validation(field, format!("must be at most {max}, got {value}")));
    }
    u32::try_from(whole).map_err(|_| OmsError::validation(field, format!("must be at most {}, got {value}", u32::MAX)))
}

fn parse_timestamp(field: &str, value: &str) -> Result<DateTime<Utc>, OmsError> {
    DateTime::parse_from_rfc3339(value).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        OmsError::validation(
            field,
            format!("must be an RFC 3339 date-time such as 2025-01-31T12:00:00Z, got \"{value}\""),
        )
    })
}

/// Three ASCII letters, stored upper-case.
fn parse_currency(field: &str, value: &str) -> Result<String, OmsError> {
    if value.len() == 3 && value.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(value.to_ascii_uppercase())
    } else {
        Err(OmsError::validation(field, format!("must be a three-letter ISO 4217 code such as USD, got \"{value}\"")))
    }
}

fn expected_list<T: Copy>(all: &[T], id: impl Fn(T) -> &'static str) -> String {
    let ids: Vec<&str> = all.iter().map(|v| id(*v)).collect();
    format!("expected one of {}", ids.join(", "))
}

/// Case-insensitive match against a closed list; the error lists the accepted ids.
fn one_of<T: Copy>(field: &str, value: &str, all: &[T], id: impl Fn(T) -> &'static str) -> Result<T, OmsError> {
    all.iter()
        .copied()
        .find(|v| id(*v).eq_ignore_ascii_case(value))
        .ok_or_else(|| OmsError::validation(field, format!("unknown value \"{value}\"; {}", expected_list(all, id))))
}

// ---------------------------------------------------------------------------------------------
// Building and merging.
// ---------------------------------------------------------------------------------------------

impl Order {
    /// Parses `req` and builds the order to store.
    ///
    /// - New order (`previous` is `None`): version 1, created = updated = `now`/`user`.
    /// - Update: version = previous + 1; created_* kept, updated_* = `now`/`user`. A `Version`
    ///   in the request must equal the stored one (else `Conflict`). Header fields the request
    ///   leaves out (IsConfirmed, IsImport, DoNotReleaseBefore, CurrencyCode, Payment, Invoice,
    ///   OrderChargeDetail, PaymentStatus) keep their stored values; lists that are sent replace
    ///   the stored lists.
    /// - Lines merge by OrderLineId: stored lines the request omits are kept unchanged; new lines
    ///   are appended. A line without QuantityDetail starts all Open; an existing one keeps its
    ///   per-status quantities while its Quantity is unchanged, and may change Quantity only
    ///   while every unit is Open (else `NotPermitted` ord::10008).
    /// - The resulting order must have at least one line.
    ///
    /// Created/Updated timestamps and users in the payload are never read.
    pub fn from_request(
        req: &SaveOrderRequest,
        tenant: &TenantId,
        user: &UserId,
        now: DateTime<Utc>,
        previous: Option<&Order>,
    ) -> Result<Order, OmsError> {
        Self::from_draft(req.parse()?, tenant, user, now, previous)
    }

    /// As [`Order::from_request`], for a request already parsed.
    pub fn from_draft(
        draft: OrderDraft,
        tenant: &TenantId,
        user: &UserId,
        now: DateTime<Utc>,
        previous: Option<&Order>,
    ) -> Result<Order, OmsError> {
        if let Some(prev) = previous {
            if prev.order_id != draft.order_id || prev.org_id != *tenant {
                return Err(OmsError::Internal(anyhow::anyhow!(
                    "order {}/{} merged with stored order {}/{}",
                    tenant,
                    draft.order_id,
                    prev.org_id,
                    prev.order_id
                )));
            }
            if let Some(sent) = draft.version
                && sent != prev.version
            {
                return Err(OmsError::Conflict(format!(
                    "Order {} is at version {}, not {sent}; read it again and retry",
                    prev.order_id, prev.version
                )));
            }
        }

        let lines = merge_lines(draft.lines, previous.map(|p| p.lines.as_slice()))?;
        if lines.len() > limits::MAX_ORDER_LINES {
            return Err(OmsError::validation(
                "OrderLine",
                format!(
                    "the order would hold {} lines with the stored ones; at most {} are accepted",
                    lines.len(),
                    limits::MAX_ORDER_LINES
                ),
            ));
        }
        if lines.is_empty() {
            return Err(OmsError::validation("OrderLine", "at least one order line is required"));
        }

        Ok(Order {
            org_id: tenant.clone(),
            order_id: draft.order_id,
            version: previous.map_or(1, |p| p.version + 1),
            order_type_id: draft.order_type_id,
            is_confirmed: draft.is_confirmed.or(previous.map(|p| p.is_confirmed)).unwrap_or(false),
            is_import: draft.is_import.or(previous.map(|p| p.is_import)).unwrap_or(false),
            do_not_release_before: draft
                .do_not_release_before
                .or_else(|| previous.and_then(|p| p.do_not_release_before)),
            currency_code: draft
                .currency_code
                .or_else(|| previous.map(|p| p.currency_code.clone()))
                .unwrap_or_else(|| DEFAULT_CURRENCY.to_owned()),
            lines,
            payments: draft.payments.or_else(|| previous.map(|p| p.payments.clone())).unwrap_or_default(),
            invoices: draft.invoices.or_else(|| previous.map(|p| p.invoices.clone())).unwrap_or_default(),
            charges: draft.charges.or_else(|| previous.map(|p| p.charges.clone())).unwrap_or_default(),
            payment_status: draft.payment_status.or_else(|| previous.and_then(|p| p.payment_status.clone())),
            created_timestamp: previous.map_or(now, |p| p.created_timestamp),
            updated_timestamp: now,
            created_by: previous.map_or_else(|| user.clone(), |p| p.created_by.clone()),
            updated_by: user.clone(),
        })
    }

    /// Records a change made by the system (e.g. allocation): bumps version and updated_*.
    pub fn touch(&mut self, user: &UserId, now: DateTime<Utc>) {
        self.version += 1;
        self.updated_timestamp = now;
        self.updated_by = user.clone();
    }

    pub fn line(&self, id: &OrderLineId) -> Option<&OrderLine> {
        self.lines.iter().find(|l| l.order_line_id == *id)
    }

    pub fn line_mut(&mut self, id: &OrderLineId) -> Option<&mut OrderLine> {
        self.lines.iter_mut().find(|l| l.order_line_id == *id)
    }

    /// Minimum status over all units of all lines; see [`min_max_status`].
    pub fn min_status(&self) -> Option<FulfillmentStatus> {
        self.status_range().map(|(min, _)| min)
    }

    /// Maximum status over all units of all lines; see [`min_max_status`].
    pub fn max_status(&self) -> Option<FulfillmentStatus> {
        self.status_range().map(|(_, max)| max)
    }

    fn status_range(&self) -> Option<(FulfillmentStatus, FulfillmentStatus)> {
        min_max_status(self.lines.iter().flat_map(|l| l.quantities.iter().map(|(s, q)| (*s, *q))))
    }

    /// The order total, kept simple:
    /// `sum over non-return lines of (Quantity - canceled units) * UnitPrice`
    /// `+ ChargeTotal of every charge that is neither Discount nor WriteOff`
    /// `- ChargeTotal of Discount charges`, floored at zero. WriteOff charges only settle the
    /// order summary and never change what the customer owes. Tax is not modelled.
    pub fn order_total(&self) -> Decimal {
        let lines = self.lines.iter().filter(|l| !l.is_return).fold(Decimal::ZERO, |sum, l| {
            sum.saturating_add(Decimal::from(l.billable_quantity()).saturating_mul(l.unit_price))
        });
        let total = self.charges.iter().fold(lines, |sum, c| {
            if c.is_discount() {
                sum.saturating_sub(c.charge_total)
            } else if c.is_write_off() {
                sum
            } else {
                sum.saturating_add(c.charge_total)
            }
        });
        total.max(Decimal::ZERO)
    }

    /// A description of where the order is: the status name when all counted units agree,
    /// else "Partially <max status>" (e.g. "Partially Allocated").
    pub fn fulfillment_status_description(&self) -> Option<String> {
        let (min, max) = self.status_range()?;
        Some(if min == max { max.description().to_owned() } else { format!("Partially {}", max.description()) })
    }
}

/// Merges request lines into the stored ones by id: stored order first, new lines appended.
fn merge_lines(drafts: Vec<LineDraft>, previous: Option<&[OrderLine]>) -> Result<Vec<OrderLine>, OmsError> {
    let previous = previous.unwrap_or_default();
    let mut by_id: HashMap<OrderLineId, LineDraft> = HashMap::with_capacity(drafts.len());
    let mut new_ids = Vec::new();
    for draft in drafts {
        if !previous.iter().any(|p| p.order_line_id == draft.order_line_id) {
            new_ids.push(draft.order_line_id.clone());
        }
        by_id.insert(draft.order_line_id.clone(), draft);
    }
    let mut lines = Vec::with_capacity(previous.len() + new_ids.len());
    for prev in previous {
        match by_id.remove(&prev.order_line_id) {
            Some(draft) => lines.push(build_line(draft, Some(prev))?),
            None => lines.push(prev.clone()),
        }
    }
    for id in new_ids {
        if let Some(draft) = by_id.remove(&id) {
            lines.push(build_line(draft, None)?);
        }
    }
    Ok(lines)
}

/// The line Save Order stores for `draft`. Save Order owns no status past Open: new units start
/// Open, units past Open keep their status, and a line with units past Open keeps its quantity,
/// item, return flag, delivery method and pickup location (their reservations depend on them).
fn build_line(draft: LineDraft, previous: Option<&OrderLine>) -> Result<OrderLine, OmsError> {
    let committed = previous.filter(|p| p.quantities.keys().any(|s| *s != FulfillmentStatus::Open));
    if let Some(prev) = committed {
        let changed = [
            ("ItemId", prev.item_id != draft.item_id),
            ("IsReturn", prev.is_return != draft.is_return),
            ("DeliveryMethod", prev.delivery_method != draft.delivery_method),
            ("PickupLocationId", prev.pickup_location_id != draft.pickup_location_id),
            ("Quantity", prev.quantity != draft.quantity),
        ];
        if let Some((field, _)) = changed.iter().find(|(_, changed)| *changed) {
            return Err(not_permitted_past_open(prev, &format!("{field} cannot change while units are past Open")));
        }
    }
    let quantities = match previous {
        Some(prev) if prev.quantity == draft.quantity => prev.quantities.clone(),
        _ => BTreeMap::from([(FulfillmentStatus::Open, draft.quantity)]),
    };
    if let Some(detail) = &draft.quantity_detail
        && detail.quantities != quantities
    {
        if let Some(prev) = committed {
            return Err(not_permitted_past_open(
                prev,
                "QuantityDetail changes only through allocation, release, shipping and cancel",
            ));
        }
        let (status, row) = detail
            .rows
            .iter()
            .find(|(status, _)| **status != FulfillmentStatus::Open)
            .map_or((FulfillmentStatus::Open, 0), |(status, row)| (*status, *row));
        return Err(OmsError::validation(
            format!("{}.QuantityDetail[{row}].StatusId", draft.path),
            format!(
                "Save Order cannot put units in status {status} ({}): new units start Open (1000), and only allocation, release, shipping and cancel move them",
                status.description()
            ),
        ));
    }
    Ok(OrderLine {
        order_line_id: draft.order_line_id,
        item_id: draft.item_id,
        quantity: draft.quantity,
        unit_price: draft.unit_price,
        is_return: draft.is_return,
        delivery_method: draft.delivery_method,
        ship_to: draft.ship_to,
        pickup_location_id: draft.pickup_location_id,
        quantities,
    })
}

/// ord::10008 for a line whose units are past Open, named by its furthest status.
fn not_permitted_past_open(line: &OrderLine, why: &str) -> OmsError {
    let status = line.max_status().unwrap_or(FulfillmentStatus::Open).description();
    OmsError::NotPermitted {
        code: LINE_MOD_NOT_PERMITTED,
        message: format!(
            "The requested order line modification is not permitted at status {status}: line {}: {why}",
            line.order_line_id
        ),
    }
}

#[cfg(test)]
mod tests {
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
    fn when_a_line_past_open_changes_item_return_flag_delivery_or_pickup_store_should_not_be_permitted() {
        type Edit = fn(&mut Value);
        let edits: [(&str, Edit); 4] = [
            ("ItemId", |v| v["OrderLine"][0]["ItemId"] = json!("SKU-9")),
            ("IsReturn", |v| v["OrderLine"][0]["IsReturn"] = json!(true)),
            ("DeliveryMethod", |v| v["OrderLine"][0]["DeliveryMethod"]["DeliveryMethodId"] = json!("Email")),
            ("PickupLocationId", |v| v["OrderLine"][0]["PickupLocationId"] = json!("S1")),
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
        assert_eq!(
            create(&ok).unwrap().do_not_release_before,
            Some(Utc.with_ymd_and_hms(2025, 2, 1, 8, 0, 0).unwrap())
        );
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
    fn when_update_changes_quantity_of_an_allocated_line_should_not_be_permitted() {
        let mut first = create(&request(sample())).unwrap();
        first.lines[0].move_quantity(Open, Allocated, 1).unwrap();
        let req = sample_with(|v| v["OrderLine"][0]["Quantity"] = json!(5));
        match update(&req, &first) {
            Err(OmsError::NotPermitted { code, message }) => {
                assert_eq!(code, LINE_MOD_NOT_PERMITTED);
                assert!(
                    message.starts_with("The requested order line modification is not permitted at status Allocated"),
                    "{message}"
                );
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
}
