//! The order as Get and Save Order return it: PascalCase, statuses as ids, timestamps with
//! milliseconds. These types are both what the handlers serialize and the OpenAPI schema.

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde::Serialize;
use utoipa::ToSchema;

use super::ids::{ItemId, LocationId, OrderId, OrderLineId, TenantId, UserId};
use super::lifecycle::milestones::{MonitoringEvent, OrderMilestone};
use super::order::{
    Address, ChargeDetail, Hold, Invoice, Order, OrderAudit, OrderLine, Payment, PaymentMethod, PickupPerson,
};
use super::status::FulfillmentStatus;

fn timestamp_millis(ts: &DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// An order as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OrderResponse {
    pub org_id: TenantId,
    pub order_id: OrderId,
    pub version: u64,
    pub order_type: OrderTypeView,
    pub is_confirmed: bool,
    pub is_import: bool,
    /// RFC 3339 with milliseconds.
    pub do_not_release_before: Option<String>,
    pub currency_code: String,
    /// Lines (less canceled units) times unit price, plus charges, less discounts.
    pub order_total: Decimal,
    /// Fulfillment status id, e.g. `"1000"`.
    pub min_fulfillment_status_id: Option<&'static str>,
    pub max_fulfillment_status_id: Option<&'static str>,
    /// E.g. `"Allocated"` or `"Partially Allocated"`.
    pub fulfillment_status: Option<String>,
    pub order_line: Vec<OrderLineView>,
    pub payment: Vec<PaymentView>,
    pub invoice: Vec<InvoiceView>,
    pub order_charge_detail: Vec<ChargeDetailView>,
    /// Who may collect the pickup lines.
    pub pickup_person: Vec<PickupPerson>,
    pub payment_status: Option<PaymentStatusView>,
    /// Holds applied and resolved; an applied one stops release.
    pub hold: Vec<Hold>,
    /// The most recent changes, oldest first: who, when, and the modification types.
    pub order_audit: Vec<OrderAudit>,
    /// Each milestone (Created, Confirmed, Allocated, Released, Fulfilled): when it is expected,
    /// when it was met, and whether on time.
    pub order_milestone: Vec<OrderMilestone>,
    /// The monitoring events raised for the order, once per rule, oldest first.
    pub monitoring_event: Vec<MonitoringEvent>,
    /// RFC 3339 with milliseconds.
    pub created_timestamp: String,
    /// RFC 3339 with milliseconds.
    pub updated_timestamp: String,
    pub created_by: UserId,
    pub updated_by: UserId,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OrderTypeView {
    pub order_type_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OrderLineView {
    pub order_line_id: OrderLineId,
    pub item_id: ItemId,
    pub quantity: u32,
    pub unit_price: Decimal,
    pub item_description: Option<String>,
    #[serde(rename = "UOM")]
    pub uom: Option<String>,
    pub is_return: bool,
    pub delivery_method: DeliveryMethodView,
    pub ship_to_address: Option<ShipToAddressView>,
    pub pickup_location_id: Option<LocationId>,
    /// Units per fulfillment status, statuses with no units left out.
    pub quantity_detail: Vec<QuantityDetailView>,
    pub min_fulfillment_status_id: Option<&'static str>,
    pub max_fulfillment_status_id: Option<&'static str>,
    pub is_cancelled: bool,
    /// Why units of the line were canceled.
    pub cancel_reason_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DeliveryMethodView {
    /// ShipToAddress, ShipToStore, PickUpAtStore or Email.
    pub delivery_method_id: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ShipToAddressView {
    pub address: Address,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct QuantityDetailView {
    /// Fulfillment status id, e.g. `"2000"`.
    pub status_id: &'static str,
    pub quantity: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PaymentView {
    pub payment_header_id: Option<String>,
    pub payment_status: Option<PaymentStatusView>,
    pub payment_method: Vec<PaymentMethodView>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PaymentStatusView {
    pub payment_status_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PaymentMethodView {
    pub payment_method_id: String,
    pub amount: Decimal,
    pub current_auth_amount: Decimal,
    pub current_settled_amount: Decimal,
    pub current_refund_amount: Decimal,
    pub current_failed_amount: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct InvoiceView {
    pub invoice_id: String,
    pub invoice_type: InvoiceTypeView,
    pub amount: Decimal,
    pub amount_processed: Decimal,
    pub failed_amount: Decimal,
    pub publish_status: PublishStatusView,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct InvoiceTypeView {
    /// Shipping or Adjustment.
    pub invoice_type_id: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PublishStatusView {
    /// Published, ReadyForPublishing or NotPublished.
    pub publish_status_id: &'static str,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ChargeDetailView {
    pub charge_detail_id: String,
    pub charge_type: ChargeTypeView,
    pub charge_total: Decimal,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ChargeTypeView {
    pub charge_type_id: String,
}

impl Order {
    /// The order as Get/Save Order return it (PascalCase, timestamps with milliseconds).
    pub fn to_response(&self) -> OrderResponse {
        OrderResponse {
            org_id: self.org_id.clone(),
            order_id: self.order_id.clone(),
            version: self.version,
            order_type: OrderTypeView { order_type_id: self.order_type_id.clone() },
            is_confirmed: self.is_confirmed,
            is_import: self.is_import,
            do_not_release_before: self.do_not_release_before.as_ref().map(timestamp_millis),
            currency_code: self.currency_code.clone(),
            order_total: self.order_total(),
            min_fulfillment_status_id: self.min_status().map(FulfillmentStatus::id),
            max_fulfillment_status_id: self.max_status().map(FulfillmentStatus::id),
            fulfillment_status: self.fulfillment_status_description(),
            order_line: self.lines.iter().map(line_view).collect(),
            payment: self.payments.iter().map(payment_view).collect(),
            invoice: self.invoices.iter().map(invoice_view).collect(),
            order_charge_detail: self.charges.iter().map(charge_view).collect(),
            pickup_person: self.pickup_persons.clone(),
            payment_status: self.payment_status.clone().map(|id| PaymentStatusView { payment_status_id: id }),
            hold: self.holds.clone(),
            order_audit: self.audits.clone(),
            order_milestone: self.milestones.clone(),
            monitoring_event: self.monitoring_events.clone(),
            created_timestamp: timestamp_millis(&self.created_timestamp),
            updated_timestamp: timestamp_millis(&self.updated_timestamp),
            created_by: self.created_by.clone(),
            updated_by: self.updated_by.clone(),
        }
    }
}

fn line_view(line: &OrderLine) -> OrderLineView {
    OrderLineView {
        order_line_id: line.order_line_id.clone(),
        item_id: line.item_id.clone(),
        quantity: line.quantity,
        unit_price: line.unit_price,
        item_description: line.item_description.clone(),
        uom: line.uom.clone(),
        is_return: line.is_return,
        delivery_method: DeliveryMethodView { delivery_method_id: line.delivery_method.id() },
        ship_to_address: line.ship_to.clone().map(|address| ShipToAddressView { address }),
        pickup_location_id: line.pickup_location_id.clone(),
        quantity_detail: line
            .quantities
            .iter()
            .filter(|(_, q)| **q > 0)
            .map(|(s, q)| QuantityDetailView { status_id: s.id(), quantity: *q })
            .collect(),
        min_fulfillment_status_id: line.min_status().map(FulfillmentStatus::id),
        max_fulfillment_status_id: line.max_status().map(FulfillmentStatus::id),
        is_cancelled: line.is_canceled(),
        cancel_reason_id: line.cancel_reason_id.clone(),
    }
}

fn payment_view(p: &Payment) -> PaymentView {
    PaymentView {
        payment_header_id: p.payment_header_id.clone(),
        payment_status: p.payment_status_id.clone().map(|id| PaymentStatusView { payment_status_id: id }),
        payment_method: p.methods.iter().map(payment_method_view).collect(),
    }
}

fn payment_method_view(m: &PaymentMethod) -> PaymentMethodView {
    PaymentMethodView {
        payment_method_id: m.payment_method_id.clone(),
        amount: m.amount,
        current_auth_amount: m.current_auth_amount,
        current_settled_amount: m.current_settled_amount,
        current_refund_amount: m.current_refund_amount,
        current_failed_amount: m.current_failed_amount,
    }
}

fn invoice_view(i: &Invoice) -> InvoiceView {
    InvoiceView {
        invoice_id: i.invoice_id.clone(),
        invoice_type: InvoiceTypeView { invoice_type_id: i.invoice_type.id() },
        amount: i.amount,
        amount_processed: i.amount_processed,
        failed_amount: i.failed_amount,
        publish_status: PublishStatusView { publish_status_id: i.publish_status.id() },
    }
}

fn charge_view(c: &ChargeDetail) -> ChargeDetailView {
    ChargeDetailView {
        charge_detail_id: c.charge_detail_id.clone(),
        charge_type: ChargeTypeView { charge_type_id: c.charge_type_id.clone() },
        charge_total: c.charge_total,
    }
}
