//! `POST /order/api/order/order/cancel`: cancels units of an order (status 9000). Open, back
//! ordered and allocated units can be canceled, in that order; released or fulfilled ones
//! cannot (ord::10008). The reservations of canceled allocated units are released in the same
//! transaction, and the order type's rules and services apply (CancelOrderLine, CancelOrder).

use serde::Deserialize;

use crate::deps::Deps;
use crate::domain::caller::Caller;
use crate::domain::ids::{OrderId, OrderLineId};
use crate::domain::order::{MAX_CODE_CHARS, MAX_LINE_QUANTITY, Order, OrderLine, whole_number};
use crate::domain::status::FulfillmentStatus;
use crate::error::{LINE_MOD_NOT_PERMITTED, OmsError, OmsResult};
use crate::service::allocation::write_order_change;
use crate::service::orders;
use crate::store::entity;

use super::effects::Units;

pub const CANCEL_SOURCE: &str = "POST /order/api/order/order/cancel";
const ATTEMPTS: usize = 8;

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CancelOrderRequest {
    #[schema(value_type = String, required = true)]
    pub order_id: Option<String>,
    /// Why the units are canceled, e.g. `CustomerRequest`.
    #[schema(value_type = String, required = true)]
    pub cancel_reason_id: Option<String>,
    /// The lines and quantities to cancel; left out: every unit of the order that can be.
    pub order_line: Option<Vec<CancelLineRequest>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct CancelLineRequest {
    #[schema(value_type = String, required = true)]
    pub order_line_id: Option<String>,
    /// Units to cancel (whole, > 0); left out: every unit of the line that can be.
    #[schema(value_type = Option<u32>, minimum = 1)]
    pub quantity: Option<serde_json::Number>,
}

/// What to cancel: per line (by its index in the request, for errors), the units or all.
struct Parsed {
    order_id: OrderId,
    reason: String,
    lines: Option<Vec<(usize, OrderLineId, Option<u32>)>>,
}

impl CancelOrderRequest {
    fn parse(&self) -> OmsResult<Parsed> {
        let order_id = OrderId::parse_at("OrderId", self.order_id.as_deref().ok_or_else(|| required("OrderId"))?)?;
        let reason = self.cancel_reason_id.as_deref().map(str::trim).unwrap_or_default();
        if reason.is_empty() {
            return Err(required("CancelReasonId"));
        }
        if reason.chars().count() > MAX_CODE_CHARS || reason.chars().any(char::is_control) {
            return Err(OmsError::validation(
                "CancelReasonId",
                format!("must be at most {MAX_CODE_CHARS} characters without control characters"),
            ));
        }
        let lines = match &self.order_line {
            None => None,
            Some(list) if list.is_empty() => None,
            Some(list) => {
                crate::domain::limits::check_count("OrderLine", list.len(), crate::domain::limits::MAX_ORDER_LINES)?;
                let mut parsed: Vec<(usize, OrderLineId, Option<u32>)> = Vec::new();
                for (i, line) in list.iter().enumerate() {
                    let field = format!("OrderLine[{i}].OrderLineId");
                    let id =
                        OrderLineId::parse_at(&field, line.order_line_id.as_deref().ok_or_else(|| required(&field))?)?;
                    if parsed.iter().any(|(_, seen, _)| *seen == id) {
                        return Err(OmsError::validation(field, format!("line {id} is named twice")));
                    }
                    let quantity = match &line.quantity {
                        None => None,
                        Some(n) => Some(whole_number(&format!("OrderLine[{i}].Quantity"), n, 1, MAX_LINE_QUANTITY)?),
                    };
                    parsed.push((i, id, quantity));
                }
                Some(parsed)
            }
        };
        Ok(Parsed { order_id, reason: reason.to_owned(), lines })
    }
}

fn required(field: &str) -> OmsError {
    OmsError::validation(field, "is required")
}

/// Units of a line that can still be canceled: open, back ordered and allocated.
fn cancelable(line: &OrderLine) -> u32 {
    [FulfillmentStatus::Open, FulfillmentStatus::BackOrdered, FulfillmentStatus::Allocated]
        .iter()
        .map(|s| line.quantity_at(*s))
        .sum()
}

/// Moves `units` of the line to Canceled: open first, then back ordered, then allocated.
fn cancel_units(line: &mut OrderLine, mut units: u32, reason: &str) -> OmsResult<()> {
    for from in [FulfillmentStatus::Open, FulfillmentStatus::BackOrdered, FulfillmentStatus::Allocated] {
        let n = units.min(line.quantity_at(from));
        line.move_quantity(from, FulfillmentStatus::Canceled, n)?;
        units -= n;
    }
    line.cancel_reason_id = Some(reason.to_owned());
    Ok(())
}

fn not_cancelable(line: &OrderLine, asked: u32) -> OmsError {
    let status = line.max_status().map_or("Created", FulfillmentStatus::description);
    let past = line.quantity_at(FulfillmentStatus::Released) + line.quantity_at(FulfillmentStatus::Fulfilled);
    OmsError::NotPermitted {
        code: LINE_MOD_NOT_PERMITTED,
        message: format!(
            "The requested order line modification is not permitted at status {status}: line {}: {asked} units cannot be canceled; {} can ({past} are released or fulfilled)",
            line.order_line_id,
            cancelable(line)
        ),
    }
}

/// The order with the requested units canceled.
fn canceled(order: &Order, req: &Parsed) -> OmsResult<Order> {
    let mut next = order.clone();
    match &req.lines {
        None => {
            for line in &mut next.lines {
                let live = line.quantity - line.quantity_at(FulfillmentStatus::Canceled);
                if live > cancelable(line) {
                    return Err(not_cancelable(line, live));
                }
                if live > 0 {
                    cancel_units(line, live, &req.reason)?;
                }
            }
        }
        Some(lines) => {
            for (i, id, quantity) in lines {
                let line = next.line_mut(id).ok_or_else(|| {
                    OmsError::validation(
                        format!("OrderLine[{i}].OrderLineId"),
                        format!("order {} has no line {id}", order.order_id),
                    )
                })?;
                let units = quantity.unwrap_or_else(|| cancelable(line));
                if units > cancelable(line) || units == 0 {
                    return Err(not_cancelable(line, units.max(1)));
                }
                cancel_units(line, units, &req.reason)?;
            }
        }
    }
    if next == *order {
        return Err(OmsError::Conflict(format!("order {}: nothing left to cancel", order.order_id)));
    }
    Ok(next)
}

pub async fn cancel_order(deps: &Deps, caller: &Caller, req: &CancelOrderRequest) -> OmsResult<Order> {
    let req = req.parse()?;
    let tenant = &caller.tenant;
    for attempt in 0..ATTEMPTS {
        let order = orders::load_order(deps, tenant, &req.order_id)
            .await?
            .ok_or_else(|| OmsError::order_not_found(req.order_id.as_str()))?;
        let mut next = canceled(&order, &req)?;
        next.touch(&caller.user, deps.clock.now());
        let recorded = super::record_change(deps, Some(&order), &mut next, Units::Move, CANCEL_SOURCE).await?;
        let item = orders::order_item(tenant, &next)?;
        entity::check_item_size(&item, &format!("order {}", next.order_id), "OrderLine")?;
        if write_order_change(
            deps,
            tenant,
            &caller.user,
            Some(&order),
            &next,
            CANCEL_SOURCE,
            recorded.writes,
            recorded.messages,
        )
        .await?
        {
            return Ok(next);
        }
        crate::service::backoff(attempt).await;
    }
    Err(OmsError::Conflict(format!("order {} kept changing while it was canceled; retry", req.order_id)))
}
