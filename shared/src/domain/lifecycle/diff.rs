//! Which modification types a change made: the stored order compared with the order to store.
//! Every path that changes an order (Save Order, cancel, allocation, release, ship) derives its
//! mod types here, so the configuration sees one vocabulary whatever the route.

use std::collections::BTreeMap;

use super::{ModLevel, ModType};
use crate::domain::ids::OrderLineId;
use crate::domain::order::{AuditModType, HoldStatus, MAX_AUDIT_LINE_IDS, Order, OrderLine};
use crate::domain::status::FulfillmentStatus;

/// One modification type that occurred; a line-level type names the lines it touched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModEvent {
    pub mod_type: ModType,
    pub lines: Vec<OrderLineId>,
}

impl ModEvent {
    pub fn level(&self) -> ModLevel {
        self.mod_type.level()
    }
}

/// The mod types from `before` (absent for a new order) to `after`, in [`ModType`] order.
///
/// - New order: CreateOrder, plus ConfirmOrder when it arrives confirmed, ApplyHold when it
///   arrives held, AddPayment when it arrives with payments.
/// - ConfirmOrder: IsConfirmed turned true. UpdateOrderAttributes: order type, currency,
///   DoNotReleaseBefore, charges, pickup persons, payment status or IsImport changed.
///   AddPayment / UpdateInvoice: the payments / invoices differ. ApplyHold: a hold type became
///   applied; ResolveHold: an applied one was resolved. CancelOrder: every line is now canceled
///   and was not before (then CancelOrderLine is not named as well).
/// - Per line: AddOrderLine (new line on an existing order), UpdateLineQuantity, UpdateShipToAddress,
///   UpdateDeliveryMethod (method or pickup location), UpdateLinePrice, CancelOrderLine (more units
///   canceled), AllocateLine (more units allocated), ReleaseLine (more released), ShipLine (more
///   fulfilled).
pub fn derive(before: Option<&Order>, after: &Order) -> Vec<ModEvent> {
    let mut found: BTreeMap<ModType, Vec<OrderLineId>> = BTreeMap::new();
    let mut order_level = |m: ModType| {
        found.entry(m).or_default();
    };
    let Some(before) = before else {
        order_level(ModType::CreateOrder);
        if after.is_confirmed {
            order_level(ModType::ConfirmOrder);
        }
        if after.is_on_hold() {
            order_level(ModType::ApplyHold);
        }
        if !after.payments.is_empty() {
            order_level(ModType::AddPayment);
        }
        return collect(found);
    };
    if after.is_confirmed && !before.is_confirmed {
        order_level(ModType::ConfirmOrder);
    }
    let attributes_changed = before.order_type_id != after.order_type_id
        || before.currency_code != after.currency_code
        || before.do_not_release_before != after.do_not_release_before
        || before.charges != after.charges
        || before.pickup_persons != after.pickup_persons
        || before.payment_status != after.payment_status
        || before.is_import != after.is_import;
    if attributes_changed {
        order_level(ModType::UpdateOrderAttributes);
    }
    if before.payments != after.payments {
        order_level(ModType::AddPayment);
    }
    if before.invoices != after.invoices {
        order_level(ModType::UpdateInvoice);
    }
    let applied = |order: &Order, id: &str| {
        order.holds.iter().any(|h| h.hold_type_id == id && h.status_id == HoldStatus::Applied)
    };
    for hold in &after.holds {
        match hold.status_id {
            HoldStatus::Applied if !applied(before, &hold.hold_type_id) => order_level(ModType::ApplyHold),
            HoldStatus::Resolved if applied(before, &hold.hold_type_id) => order_level(ModType::ResolveHold),
            _ => {}
        }
    }
    let whole_order_canceled = all_canceled(after) && !all_canceled(before);
    if whole_order_canceled {
        order_level(ModType::CancelOrder);
    }
    for line in &after.lines {
        let mut line_level = |m: ModType| found.entry(m).or_default().push(line.order_line_id.clone());
        let Some(old) = before.line(&line.order_line_id) else {
            line_level(ModType::AddOrderLine);
            continue;
        };
        if old.quantity != line.quantity {
            line_level(ModType::UpdateLineQuantity);
        }
        if old.ship_to != line.ship_to {
            line_level(ModType::UpdateShipToAddress);
        }
        if old.delivery_method != line.delivery_method || old.pickup_location_id != line.pickup_location_id {
            line_level(ModType::UpdateDeliveryMethod);
        }
        if old.unit_price != line.unit_price {
            line_level(ModType::UpdateLinePrice);
        }
        let grew = |status: FulfillmentStatus| line.quantity_at(status) > old.quantity_at(status);
        if grew(FulfillmentStatus::Canceled) && !whole_order_canceled {
            line_level(ModType::CancelOrderLine);
        }
        if grew(FulfillmentStatus::Allocated) {
            line_level(ModType::AllocateLine);
        }
        if grew(FulfillmentStatus::Released) {
            line_level(ModType::ReleaseLine);
        }
        if grew(FulfillmentStatus::Fulfilled) {
            line_level(ModType::ShipLine);
        }
    }
    collect(found)
}

fn all_canceled(order: &Order) -> bool {
    !order.lines.is_empty() && order.lines.iter().all(OrderLine::is_canceled)
}

fn collect(found: BTreeMap<ModType, Vec<OrderLineId>>) -> Vec<ModEvent> {
    found.into_iter().map(|(mod_type, lines)| ModEvent { mod_type, lines }).collect()
}

/// The events as the order's audit trail records them.
pub fn audit_entries(events: &[ModEvent]) -> Vec<AuditModType> {
    events
        .iter()
        .map(|e| AuditModType {
            mod_type_id: e.mod_type.id().to_owned(),
            order_line_ids: e.lines.iter().take(MAX_AUDIT_LINE_IDS).cloned().collect(),
            line_count: e.lines.len(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use serde_json::json;

    use super::*;
    use crate::domain::ids::{TenantId, UserId};
    use crate::domain::order::SaveOrderRequest;

    fn order(body: serde_json::Value, previous: Option<&Order>) -> Order {
        let req: SaveOrderRequest = serde_json::from_value(body).unwrap();
        let now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        Order::from_request(&req, &TenantId::parse("t1").unwrap(), &UserId::parse("u1").unwrap(), now, previous)
            .unwrap()
    }

    fn line(id: &str, qty: u32, city: &str) -> serde_json::Value {
        json!({"OrderLineId": id, "ItemId": "SKU1", "Quantity": qty, "UnitPrice": 5,
               "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
               "ShipToAddress": {"Address": {"Address1": "1 Main", "City": city, "Country": "US"}}})
    }

    fn names(events: &[ModEvent]) -> Vec<&'static str> {
        events.iter().map(|e| e.mod_type.id()).collect()
    }

    #[test]
    fn when_a_confirmed_held_order_is_created_should_name_create_confirm_and_hold() {
        let created = order(
            json!({"OrderId": "O1", "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true,
                   "Hold": [{"HoldTypeId": "Fraud"}], "OrderLine": [line("1", 2, "Austin")]}),
            None,
        );
        assert_eq!(names(&derive(None, &created)), ["CreateOrder", "ConfirmOrder", "ApplyHold"]);
    }

    #[test]
    fn when_lines_change_should_name_each_line_level_type_with_its_lines() {
        let before = order(
            json!({"OrderId": "O1", "OrderType": {"OrderTypeId": "Web"},
                   "OrderLine": [line("1", 2, "Austin"), line("2", 1, "Austin")]}),
            None,
        );
        let after = order(
            json!({"OrderId": "O1", "OrderType": {"OrderTypeId": "Web"},
                   "OrderLine": [line("1", 3, "Austin"), line("2", 1, "Dallas"), line("3", 1, "Austin")]}),
            Some(&before),
        );
        let events = derive(Some(&before), &after);
        assert_eq!(names(&events), ["AddOrderLine", "UpdateLineQuantity", "UpdateShipToAddress"]);
        assert_eq!(events[0].lines[0].as_str(), "3");
        assert_eq!(events[1].lines[0].as_str(), "1");
        assert_eq!(events[2].lines[0].as_str(), "2");
    }

    #[test]
    fn when_units_move_should_name_allocate_release_ship_and_cancel() {
        let before = order(
            json!({"OrderId": "O1", "OrderType": {"OrderTypeId": "Web"}, "OrderLine": [line("1", 4, "Austin")]}),
            None,
        );
        let mut after = before.clone();
        let l = after.line_mut(&OrderLineId::parse_at("x", "1").unwrap()).unwrap();
        l.move_quantity(FulfillmentStatus::Open, FulfillmentStatus::Allocated, 1).unwrap();
        l.move_quantity(FulfillmentStatus::Open, FulfillmentStatus::Released, 1).unwrap();
        l.move_quantity(FulfillmentStatus::Open, FulfillmentStatus::Fulfilled, 1).unwrap();
        l.move_quantity(FulfillmentStatus::Open, FulfillmentStatus::Canceled, 1).unwrap();
        assert_eq!(
            names(&derive(Some(&before), &after)),
            ["CancelOrderLine", "AllocateLine", "ReleaseLine", "ShipLine"]
        );
    }

    #[test]
    fn when_every_line_is_canceled_should_name_cancel_order_only() {
        let before = order(
            json!({"OrderId": "O1", "OrderType": {"OrderTypeId": "Web"}, "OrderLine": [line("1", 2, "Austin")]}),
            None,
        );
        let mut after = before.clone();
        after.lines[0].move_quantity(FulfillmentStatus::Open, FulfillmentStatus::Canceled, 2).unwrap();
        assert_eq!(names(&derive(Some(&before), &after)), ["CancelOrder"]);
    }

    #[test]
    fn when_a_hold_is_resolved_and_the_order_confirmed_should_name_both() {
        let before = order(
            json!({"OrderId": "O1", "OrderType": {"OrderTypeId": "Web"}, "Hold": [{"HoldTypeId": "Fraud"}],
                   "OrderLine": [line("1", 2, "Austin")]}),
            None,
        );
        let after = order(
            json!({"OrderId": "O1", "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true,
                   "Hold": [{"HoldTypeId": "Fraud", "StatusId": "Resolved", "ResolveReasonId": "Verified"}]}),
            Some(&before),
        );
        assert_eq!(names(&derive(Some(&before), &after)), ["ConfirmOrder", "ResolveHold"]);
        assert!(!after.is_on_hold());
    }

    #[test]
    fn when_a_type_touches_many_lines_the_audit_should_name_the_first_and_count_them_all() {
        let lines: Vec<serde_json::Value> = (1..=30).map(|n| line(&n.to_string(), 1, "Austin")).collect();
        let before = order(json!({"OrderId": "O1", "OrderType": {"OrderTypeId": "Web"}, "OrderLine": lines}), None);
        let mut after = before.clone();
        for l in &mut after.lines {
            l.move_quantity(FulfillmentStatus::Open, FulfillmentStatus::Allocated, 1).unwrap();
        }
        let audit = audit_entries(&derive(Some(&before), &after));
        assert_eq!((audit[0].order_line_ids.len(), audit[0].line_count), (MAX_AUDIT_LINE_IDS, 30));
    }

    #[test]
    fn when_nothing_changes_should_name_nothing() {
        let before = order(
            json!({"OrderId": "O1", "OrderType": {"OrderTypeId": "Web"}, "OrderLine": [line("1", 2, "Austin")]}),
            None,
        );
        let after = order(json!({"OrderId": "O1", "OrderType": {"OrderTypeId": "Web"}}), Some(&before));
        assert!(derive(Some(&before), &after).is_empty());
    }
}
