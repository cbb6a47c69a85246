//! The items of an allocation document, in fabric's published `AllocationItem` shape: what
//! each order line holds at the location, and what became of the units it was allocated.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;

use crate::domain::ids::{ItemId, OrderId, OrderLineId};
use crate::domain::order::{Order, OrderLine};

/// What an item's units are now, from its counts (never set on its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ItemStatus {
    /// Every unit is held here.
    #[default]
    Allocated,
    /// Some units are held here; the others were scratched, moved or cancelled.
    PartiallyAllocated,
    Shipped,
    /// Some units shipped; the others are held, scratched, moved or cancelled.
    PartiallyShipped,
    /// No unit is held: they were scratched (re-planned elsewhere or back ordered).
    Scratched,
    /// No unit is held: they were moved to another allocation.
    Reallocated,
    /// No unit is held: the allocation was cancelled.
    Cancelled,
}

/// Where units leave an item's holding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Shipped,
    Scratched,
    Reallocated,
    Cancelled,
}

/// One item of an allocation. `quantity` is what the line was allocated here; the units held
/// now are `quantity` less those shipped, scratched, reallocated and cancelled. Values we do
/// not know are `null`, never missing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AllocationItem {
    /// 1..n within the allocation, in the order items were added; never reused.
    #[serde(default)]
    pub allocation_line_number: u32,
    pub item_id: ItemId,
    pub quantity: u32,
    /// The item id (we keep one identifier per item).
    pub sku: Option<String>,
    /// The order line these units serve (`lineId` in documents written before).
    #[serde(alias = "lineId")]
    pub order_line_id: OrderLineId,
    #[schema(value_type = String)]
    pub order_id: Option<OrderId>,
    pub order_date: Option<DateTime<Utc>>,
    pub estimated_delivery_date: Option<DateTime<Utc>>,
    /// The line of the allocation these units were moved from.
    pub parent_allocation_line_number: Option<u32>,
    /// The request that moved these units here.
    pub reallocation_request_id: Option<String>,
    #[serde(default)]
    pub shipped_quantity: u32,
    #[serde(default)]
    pub scratch_quantity: u32,
    pub scratched_reason_code: Option<String>,
    pub reship_reason_code: Option<String>,
    pub reallocation_reason_code: Option<String>,
    pub channel_id: Option<String>,
    pub segment: Option<String>,
    pub vendor_id: Option<String>,
    /// The order line's `ItemDescription`.
    pub title: Option<String>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>)]
    pub weight: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>)]
    pub cost: Option<Decimal>,
    /// The order line's unit price.
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>)]
    pub price: Option<Decimal>,
    #[serde(default)]
    pub item_status: ItemStatus,
    /// Free-form attributes of the client's.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub attributes: Map<String, Value>,
    pub uom: Option<String>,
    /// Ours: units moved to another allocation by a reallocation.
    #[serde(default)]
    pub reallocated_quantity: u32,
    /// Ours: units released when the allocation was cancelled.
    #[serde(default)]
    pub cancelled_quantity: u32,
    /// Ours: held units released to the location (sent on a release document) and not yet
    /// shipped. Only these can ship; they cannot be moved to another location.
    #[serde(default)]
    pub released_quantity: u32,
}

impl AllocationItem {
    /// `quantity` units of `line` of `order`, numbered `number` within their allocation.
    pub fn for_line(number: u32, order: &Order, line: &OrderLine, quantity: u32) -> AllocationItem {
        AllocationItem {
            allocation_line_number: number,
            item_id: line.item_id.clone(),
            quantity,
            sku: Some(line.item_id.to_string()),
            order_line_id: line.order_line_id.clone(),
            order_id: Some(order.order_id.clone()),
            order_date: Some(order.created_timestamp),
            estimated_delivery_date: None,
            parent_allocation_line_number: None,
            reallocation_request_id: None,
            shipped_quantity: 0,
            scratch_quantity: 0,
            scratched_reason_code: None,
            reship_reason_code: None,
            reallocation_reason_code: None,
            channel_id: None,
            segment: None,
            vendor_id: None,
            title: line.item_description.clone(),
            weight: None,
            cost: None,
            price: Some(line.unit_price),
            item_status: ItemStatus::Allocated,
            attributes: Map::new(),
            uom: line.uom.clone(),
            reallocated_quantity: 0,
            cancelled_quantity: 0,
            released_quantity: 0,
        }
    }

    /// Held units not released to the location yet.
    pub fn unreleased(&self) -> u32 {
        self.held().saturating_sub(self.released_quantity)
    }

    /// Units held at the allocation's location now.
    pub fn held(&self) -> u32 {
        let gone = u64::from(self.shipped_quantity)
            + u64::from(self.scratch_quantity)
            + u64::from(self.reallocated_quantity)
            + u64::from(self.cancelled_quantity);
        u32::try_from(u64::from(self.quantity).saturating_sub(gone)).unwrap_or(0)
    }

    /// The status the counts say.
    pub fn status(&self) -> ItemStatus {
        let held = self.held();
        if self.quantity > 0 && self.shipped_quantity == self.quantity {
            ItemStatus::Shipped
        } else if self.shipped_quantity > 0 {
            ItemStatus::PartiallyShipped
        } else if held == self.quantity {
            ItemStatus::Allocated
        } else if held > 0 {
            ItemStatus::PartiallyAllocated
        } else if self.cancelled_quantity > 0 {
            ItemStatus::Cancelled
        } else if self.scratch_quantity > 0 {
            ItemStatus::Scratched
        } else {
            ItemStatus::Reallocated
        }
    }

    /// Sets `item_status` from the counts.
    pub fn settle(&mut self) {
        self.item_status = self.status();
    }

    /// Takes `units` out of the holding. `Err(n)` when fewer than `units` can be taken that
    /// way: only released units ship, only unreleased ones move to another allocation, and
    /// scratching or cancelling takes unreleased units first.
    pub fn take(&mut self, units: u32, how: Taken) -> Result<(), u32> {
        let takeable = match how {
            Taken::Shipped => self.released_quantity.min(self.held()),
            Taken::Reallocated => self.unreleased(),
            Taken::Scratched | Taken::Cancelled => self.held(),
        };
        if units > takeable {
            return Err(takeable);
        }
        if how == Taken::Shipped {
            self.released_quantity -= units;
        }
        let count = match how {
            Taken::Shipped => &mut self.shipped_quantity,
            Taken::Scratched => &mut self.scratch_quantity,
            Taken::Reallocated => &mut self.reallocated_quantity,
            Taken::Cancelled => &mut self.cancelled_quantity,
        };
        *count += units;
        self.released_quantity = self.released_quantity.min(self.held());
        self.settle();
        Ok(())
    }

    /// A line for `units` of this item at another allocation, numbered `number` there, moved
    /// by request `request` for `reason`.
    pub fn moved(&self, number: u32, units: u32, request: Option<&str>, reason: Option<&str>) -> AllocationItem {
        AllocationItem {
            allocation_line_number: number,
            quantity: units,
            parent_allocation_line_number: Some(self.allocation_line_number),
            reallocation_request_id: request.map(str::to_owned),
            reallocation_reason_code: reason.map(str::to_owned),
            shipped_quantity: 0,
            scratch_quantity: 0,
            scratched_reason_code: None,
            reship_reason_code: None,
            reallocated_quantity: 0,
            cancelled_quantity: 0,
            released_quantity: 0,
            item_status: ItemStatus::Allocated,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(quantity: u32) -> AllocationItem {
        let order: Order = serde_json::from_value(serde_json::json!({
            "OrgId": "t", "OrderId": "O-1", "Version": 1, "OrderTypeId": "Web", "IsConfirmed": true,
            "IsImport": false, "DoNotReleaseBefore": null, "CurrencyCode": "USD", "PaymentStatus": null,
            "OrderLine": [{"OrderLineId": "1", "ItemId": "SKU-1", "Quantity": quantity, "UnitPrice": 12.5,
                "IsReturn": false, "DeliveryMethod": "ShipToAddress", "ShipToAddress": null,
                "PickupLocationId": null, "QuantityByStatus": {"2000": quantity}, "ItemDescription": "Mug"}],
            "CreatedTimestamp": "2026-01-01T00:00:00Z", "UpdatedTimestamp": "2026-01-01T00:00:00Z",
            "CreatedBy": "u", "UpdatedBy": "u"
        }))
        .unwrap();
        AllocationItem::for_line(1, &order, &order.lines[0], quantity)
    }

    #[test]
    fn when_an_item_is_made_from_an_order_line_should_carry_what_the_line_knows() {
        let item = item(3);
        assert_eq!(item.title.as_deref(), Some("Mug"));
        assert_eq!(item.price, Some(Decimal::new(125, 1)));
        assert_eq!(item.sku.as_deref(), Some("SKU-1"));
        assert_eq!(item.order_id.as_ref().map(OrderId::as_str), Some("O-1"));
        assert_eq!(item.status(), ItemStatus::Allocated);
    }

    #[test]
    fn when_units_leave_the_item_its_status_should_follow_the_counts() {
        let mut item = item(4);
        item.take(1, Taken::Scratched).unwrap();
        assert_eq!((item.held(), item.item_status), (3, ItemStatus::PartiallyAllocated));
        assert_eq!(item.take(1, Taken::Shipped), Err(0), "nothing is released yet");
        item.released_quantity = 1;
        item.take(1, Taken::Shipped).unwrap();
        assert_eq!(item.item_status, ItemStatus::PartiallyShipped);
        assert_eq!(item.take(3, Taken::Reallocated), Err(2));
        item.take(2, Taken::Reallocated).unwrap();
        assert_eq!((item.held(), item.item_status), (0, ItemStatus::PartiallyShipped));
        let mut scratched = self::item(2);
        scratched.take(2, Taken::Scratched).unwrap();
        assert_eq!(scratched.item_status, ItemStatus::Scratched);
        let mut shipped = self::item(2);
        shipped.released_quantity = 2;
        shipped.take(2, Taken::Shipped).unwrap();
        assert_eq!(shipped.item_status, ItemStatus::Shipped);
        let mut cancelled = self::item(2);
        cancelled.take(2, Taken::Cancelled).unwrap();
        assert_eq!(cancelled.item_status, ItemStatus::Cancelled);
    }

    #[test]
    fn when_units_move_the_new_line_should_name_its_parent_line_and_reason() {
        let moved = item(5).moved(3, 2, Some("req-1"), Some("DAMAGED"));
        assert_eq!(moved.allocation_line_number, 3);
        assert_eq!(moved.quantity, 2);
        assert_eq!(moved.parent_allocation_line_number, Some(1));
        assert_eq!(moved.reallocation_reason_code.as_deref(), Some("DAMAGED"));
        assert_eq!(moved.held(), 2);
    }

    #[test]
    fn when_a_document_from_before_names_lineid_should_read_it_as_orderlineid() {
        let item: AllocationItem =
            serde_json::from_value(serde_json::json!({"lineId": "7", "itemId": "SKU-1", "quantity": 2})).unwrap();
        assert_eq!(item.order_line_id.as_str(), "7");
        assert_eq!(item.held(), 2);
        let json = serde_json::to_value(&item).unwrap();
        for key in ["orderLineId", "allocationLineNumber", "itemStatus", "estimatedDeliveryDate", "weight", "uom"] {
            assert!(json.as_object().unwrap().contains_key(key), "{key} missing from {json}");
        }
        assert!(json.get("lineId").is_none());
    }
}
