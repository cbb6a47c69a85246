//! What a change of an order sets off, as its order type's configuration says: the
//! modification rules that refuse it, the fulfillment services that move its units, its audit
//! entry, and what is published (the order, its lines, emails and texts, the pipeline's next
//! step). Every route that changes an order runs its change through [`apply`] before writing,
//! and writes the [`Effects`] in the same transaction (outbox records).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::deps::Deps;
use crate::domain::ids::{OrderId, OrderLineId, TenantId};
use crate::domain::lifecycle::config::OrderTypeConfig;
use crate::domain::lifecycle::diff::{self, ModEvent};
use crate::domain::lifecycle::messages::{self, Channel};
use crate::domain::lifecycle::milestones;
use crate::domain::lifecycle::{ModLevel, ModType, Service};
use crate::domain::order::{Order, OrderLine};
use crate::domain::order_view::OrderResponse;
use crate::domain::status::FulfillmentStatus;
use crate::error::{LINE_MOD_NOT_PERMITTED, ORDER_MOD_NOT_PERMITTED, OmsError, OmsResult};
use crate::ports::{QueueName, WriteOp};
use crate::service::outbox::{self, OutboxMessage};

use super::config;

/// Largest published message body: SQS takes 256 KB; a larger order is published without its
/// lines (`Truncated: true`), and consumers read it with Get Order.
const MAX_PUBLISHED_BYTES: usize = 200_000;

/// Whether the services that move units (ChangeStatus, ReevaluatePipeline, CancelReservation)
/// run: for changes people make (Save Order, cancel); not inside allocation, release and
/// shipping, which move units themselves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Units {
    Move,
    Keep,
}

/// The order pipeline's message: run the next step of these orders (allocate what is open,
/// then release what is allocated, where allowed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PipelineMessage {
    pub tenant: TenantId,
    pub order_ids: Vec<OrderId>,
    /// Allocate back ordered units too (after ChangeStatus or ReevaluatePipeline).
    #[serde(default)]
    pub reallocate: bool,
    /// De-duplication id: the order and version that asked.
    pub message_id: String,
}

/// What a change sets off, to be written with it.
#[derive(Debug, Default)]
pub struct Effects {
    pub events: Vec<ModEvent>,
    /// Bodies to publish: (queue, JSON body).
    pub published: Vec<(QueueName, String)>,
    /// The pipeline step to run next, if any (kept apart so a batch can send one message).
    pub pipeline: Option<PipelineMessage>,
    /// The order's milestone check moved (or went): its write.
    pub check: Option<WriteOp>,
}

impl Effects {
    /// What joins the change's transaction: the outbox records of everything it publishes, and
    /// the order's milestone check when it moved; with the messages to send once committed.
    pub fn into_writes(self, deps: &Deps, tenant: &TenantId) -> (Vec<WriteOp>, Vec<OutboxMessage>) {
        let now = deps.clock.now();
        let mut bodies = self.published;
        if let Some(pipeline) = self.pipeline {
            bodies.push((QueueName::OrderPipeline, outbox::body(&pipeline)));
        }
        let (mut writes, messages): (Vec<WriteOp>, Vec<OutboxMessage>) =
            bodies.into_iter().map(|(queue, body)| outbox::record(deps, tenant, queue, body, now)).unzip();
        writes.extend(self.check);
        (writes, messages)
    }

    pub fn mod_type_ids(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.mod_type.id()).collect()
    }
}

/// Applies `config` to the change from `before` to `after`:
/// 1. the modification rules of every mod type people make refuse it (ord::10007 order level,
///    ord::10008 line level) before anything is written;
/// 2. with [`Units::Move`], ChangeStatus / ReevaluatePipeline / CancelReservation move the
///    units of the lines concerned on `after`;
/// 3. a delivery method cannot change under units still allocated for the old one;
/// 4. `after` records the audit entry (`source`, mod types, lines);
/// 5. the order (PublishOrder) or the modified lines (PublishOrderLine) are published once,
///    emails and texts rendered, and the pipeline asked to go on (ResubmitPipeline, and after
///    ChangeStatus / ReevaluatePipeline to allocate again). Pricing services are logged as not
///    built yet.
pub async fn apply(
    deps: &Deps,
    config: &OrderTypeConfig,
    before: Option<&Order>,
    after: &mut Order,
    units: Units,
    source: &str,
) -> OmsResult<Effects> {
    let events = diff::derive(before, after);
    if events.is_empty() {
        return Ok(Effects::default());
    }
    if let Some(before) = before {
        check_rules(config, before, &events)?;
    }
    let reallocate = match units {
        Units::Move => move_units(config, after, &events),
        Units::Keep => false,
    };
    check_delivery_changes(config, after, &events)?;
    after.record_audit(source, diff::audit_entries(&events));

    let tenant = after.org_id.clone();
    // Milestones first, so that what is published shows them; met at the time of the change.
    let at = after.updated_timestamp;
    let evaluation = milestones::evaluate(config, after, at);
    let check = crate::service::milestones::check_write(&tenant, before, after);
    let mod_types: Vec<&str> = events.iter().map(|e| e.mod_type.id()).collect();
    let mut published: Vec<(QueueName, String)> = evaluation
        .raised
        .iter()
        .map(|event| (QueueName::OrderEvents, crate::service::milestones::event_body(&tenant, &after.order_id, event)))
        .collect();
    let configured: Vec<(&ModEvent, &crate::domain::lifecycle::config::ModTypeRule)> =
        events.iter().filter_map(|e| config.rule(e.mod_type).map(|r| (e, r))).collect();
    let with = |service: Service| configured.iter().filter(move |(_, r)| r.services.contains(&service));

    for (event, rule) in &configured {
        for service in rule.services.iter().filter(|s| s.is_pricing()) {
            tracing::info!(
                order_id = %after.order_id,
                mod_type = event.mod_type.id(),
                service = service.id(),
                "selling service not built yet: no-op (prices, charges and taxes stay as the order carries them)"
            );
        }
    }

    let after: &Order = after;
    let id_of = |kind: &str| format!("{}-v{}-{kind}", after.order_id, after.version);
    let mut wanted: Vec<(Channel, &str)> = Vec::new();
    for (_, rule) in &configured {
        let named = rule.email_messages.iter().map(|id| (Channel::Email, id.as_str()));
        for entry in named.chain(rule.text_messages.iter().map(|id| (Channel::Text, id.as_str()))) {
            if !wanted.contains(&entry) {
                wanted.push(entry);
            }
        }
    }
    let publish_order = with(Service::PublishOrder).next().is_some();
    let publish_lines = with(Service::PublishOrderLine).next().is_some();
    // The order as Get Order renders it, for what is published and rendered: built once.
    let view = (publish_order || publish_lines || !wanted.is_empty()).then(|| after.to_response());
    if let Some(view) = view.as_ref().filter(|_| publish_order) {
        let body = order_message(&id_of("order"), "Order", &tenant, after, view, &mod_types, None);
        published.push((QueueName::OrderEvents, body));
    } else if let Some(view) = view.as_ref().filter(|_| publish_lines) {
        let lines = touched_lines(after, with(Service::PublishOrderLine).map(|(e, _)| *e));
        let body = order_message(&id_of("lines"), "OrderLine", &tenant, after, view, &mod_types, Some(&lines));
        published.push((QueueName::OrderEvents, body));
    }

    if let Some(view) = view.as_ref().filter(|_| !wanted.is_empty()) {
        let lines = touched_lines(after, events.iter());
        let context = message_context(&tenant, view, &mod_types, &lines);
        for (channel, id) in wanted {
            let Some(template) = config::template(deps, &tenant, channel, id).await? else {
                tracing::warn!(order_id = %after.order_id, template = id, "message template is gone; not sent");
                continue;
            };
            match messages::render(&template, &context) {
                Ok(rendered) => {
                    let kind = format!("{}-{id}", channel.id().to_ascii_lowercase());
                    let body = json!({
                        "MessageId": id_of(&kind),
                        "Tenant": tenant,
                        "OrderId": after.order_id,
                        "Channel": channel,
                        "TemplateId": id,
                        "ModTypes": mod_types,
                        "Subject": rendered.subject,
                        "Body": rendered.body,
                    });
                    published.push((QueueName::Notifications, body.to_string()));
                }
                Err(e) => {
                    tracing::warn!(order_id = %after.order_id, template = id, error = %e, "message did not render; not sent")
                }
            }
        }
    }

    let resubmit = with(Service::ResubmitPipeline).next().is_some();
    let pipeline = (resubmit || reallocate).then(|| PipelineMessage {
        tenant: tenant.clone(),
        order_ids: vec![after.order_id.clone()],
        reallocate,
        message_id: id_of("pipeline"),
    });
    Ok(Effects { events, published, pipeline, check })
}

/// ord::10007 / ord::10008 for the first mod type a rule restricts at the order's state.
fn check_rules(config: &OrderTypeConfig, before: &Order, events: &[ModEvent]) -> OmsResult<()> {
    for event in events.iter().filter(|e| !e.mod_type.is_system()) {
        let Some(rule) = config.rule(event.mod_type) else { continue };
        let name = event.mod_type.id();
        let refused = |why: String, status: Option<FulfillmentStatus>, line: Option<&OrderLine>| {
            let status = status.map_or("Created", FulfillmentStatus::description);
            match line {
                Some(line) => OmsError::NotPermitted {
                    code: LINE_MOD_NOT_PERMITTED,
                    message: format!(
                        "The requested order line modification is not permitted at status {status}: line {}: {why}",
                        line.order_line_id
                    ),
                },
                None => OmsError::NotPermitted {
                    code: ORDER_MOD_NOT_PERMITTED,
                    message: format!("The requested order modification is not permitted at status {status}: {why}"),
                },
            }
        };
        let by = format!("order type {}", config.order_type_id);
        match event.level() {
            ModLevel::Order => {
                if rule.restrict_post_confirmation && before.is_confirmed {
                    return Err(refused(
                        format!("{name} is not permitted once the order is confirmed ({by})"),
                        before.max_status(),
                        None,
                    ));
                }
                let sale_max = max_status(before.lines.iter().filter(|l| !l.is_return));
                if let (Some(limit), Some(max)) = (rule.restrict_from_status, sale_max)
                    && max >= limit
                {
                    return Err(refused(format!("{name} is restricted from status {limit} ({by})"), Some(max), None));
                }
                let return_max = max_status(before.lines.iter().filter(|l| l.is_return));
                if let (Some(limit), Some(max)) = (rule.restrict_from_return_status, return_max)
                    && max >= limit
                {
                    return Err(refused(
                        format!("{name} is restricted once returns reach status {limit} ({by})"),
                        Some(max),
                        None,
                    ));
                }
            }
            ModLevel::Line => {
                for line in event.lines.iter().filter_map(|id| before.line(id)) {
                    let max = line.max_status();
                    if rule.restrict_post_confirmation && before.is_confirmed {
                        return Err(refused(
                            format!("{name} is not permitted once the order is confirmed ({by})"),
                            max,
                            Some(line),
                        ));
                    }
                    let limit =
                        if line.is_return { rule.restrict_from_return_status } else { rule.restrict_from_status };
                    if let (Some(limit), Some(max)) = (limit, max)
                        && max >= limit
                    {
                        return Err(refused(
                            format!("{name} is restricted from status {limit} ({by})"),
                            Some(max),
                            Some(line),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}

fn max_status<'a>(lines: impl Iterator<Item = &'a OrderLine>) -> Option<FulfillmentStatus> {
    lines.filter_map(OrderLine::max_status).max()
}

/// Runs ChangeStatus, ReevaluatePipeline and CancelReservation on the lines their mod types
/// concern (all sale lines for an order-level type). True when the units must be allocated
/// again. Units released to a location stay there: only allocated (and back ordered) ones move.
/// The reservations of units that leave Allocated are released with the change's write.
fn move_units(config: &OrderTypeConfig, after: &mut Order, events: &[ModEvent]) -> bool {
    let mut reallocate = false;
    for event in events.iter().filter(|e| !e.mod_type.is_system()) {
        let Some(rule) = config.rule(event.mod_type) else { continue };
        let lines: Vec<OrderLineId> = match event.level() {
            ModLevel::Line => event.lines.clone(),
            ModLevel::Order => after.lines.iter().map(|l| l.order_line_id.clone()).collect(),
        };
        let restart = if rule.services.contains(&Service::ChangeStatus) {
            Some(rule.change_status_id.unwrap_or(FulfillmentStatus::Open))
        } else if rule.services.contains(&Service::ReevaluatePipeline) {
            Some(FulfillmentStatus::Open)
        } else {
            None
        };
        // Canceled units release their reservations whatever the configuration: every reserved
        // unit belongs to a live allocation line. So on cancel, CancelReservation is implied.
        let is_cancel = matches!(event.mod_type, ModType::CancelOrder | ModType::CancelOrderLine);
        let drop_reservation = rule.services.contains(&Service::CancelReservation) && !is_cancel;
        for id in &lines {
            let Some(line) = after.line_mut(id) else { continue };
            if line.is_return {
                continue;
            }
            if let Some(target) = restart {
                reallocate = true;
                for from in [FulfillmentStatus::Allocated, FulfillmentStatus::BackOrdered] {
                    let units = line.quantity_at(from);
                    // Moving exactly what is there cannot fail.
                    let _ = line.move_quantity(from, target, units);
                }
            } else if drop_reservation {
                let units = line.quantity_at(FulfillmentStatus::Allocated);
                let _ = line.move_quantity(FulfillmentStatus::Allocated, FulfillmentStatus::Open, units);
            }
        }
    }
    reallocate
}

/// A line whose delivery method changed cannot keep units allocated or released for the old
/// one: ord::10008 unless its configuration restarted them.
fn check_delivery_changes(config: &OrderTypeConfig, after: &Order, events: &[ModEvent]) -> OmsResult<()> {
    let Some(event) = events.iter().find(|e| e.mod_type == ModType::UpdateDeliveryMethod) else { return Ok(()) };
    for line in event.lines.iter().filter_map(|id| after.line(id)) {
        let placed = line.quantity_at(FulfillmentStatus::Allocated)
            + line.quantity_at(FulfillmentStatus::Released)
            + line.quantity_at(FulfillmentStatus::Fulfilled);
        if placed > 0 {
            let status = line.max_status().map_or("Created", FulfillmentStatus::description);
            return Err(OmsError::NotPermitted {
                code: LINE_MOD_NOT_PERMITTED,
                message: format!(
                    "The requested order line modification is not permitted at status {status}: line {}: DeliveryMethod cannot change while {placed} units are allocated, released or fulfilled for the old one (order type {} restarts allocated units when UpdateDeliveryMethod runs ChangeStatus or ReevaluatePipeline)",
                    line.order_line_id, config.order_type_id
                ),
            });
        }
    }
    Ok(())
}

/// The lines the events touched; an order-level event touches every line.
fn touched_lines<'a>(order: &Order, events: impl Iterator<Item = &'a ModEvent>) -> BTreeSet<OrderLineId> {
    let mut lines = BTreeSet::new();
    for event in events {
        match event.level() {
            ModLevel::Line => lines.extend(event.lines.iter().cloned()),
            ModLevel::Order => lines.extend(order.lines.iter().map(|l| l.order_line_id.clone())),
        }
    }
    lines
}

/// A published order: the whole order, or only `lines` of it.
fn order_message(
    id: &str,
    kind: &str,
    tenant: &TenantId,
    order: &Order,
    view: &OrderResponse,
    mod_types: &[&str],
    lines: Option<&BTreeSet<OrderLineId>>,
) -> String {
    let view = match lines {
        Some(lines) => {
            let mut some = view.clone();
            some.order_line.retain(|l| lines.contains(&l.order_line_id));
            serde_json::to_value(some)
        }
        None => serde_json::to_value(view),
    }
    .unwrap_or(Value::Null);
    let mut body = json!({
        "MessageId": id,
        "MessageType": kind,
        "Tenant": tenant,
        "OrderId": order.order_id,
        "Version": order.version,
        "ModTypes": mod_types,
        "Order": view,
    });
    let mut text = body.to_string();
    if text.len() > MAX_PUBLISHED_BYTES {
        body["Order"]["OrderLine"] = Value::Array(Vec::new());
        body["Truncated"] = Value::Bool(true);
        text = body.to_string();
    }
    text
}

/// What message templates render against: the order as Get Order answers it, the lines the
/// change touched, the mod types and the tenant.
fn message_context(
    tenant: &TenantId,
    view: &OrderResponse,
    mod_types: &[&str],
    lines: &BTreeSet<OrderLineId>,
) -> Value {
    let touched: Vec<_> = view.order_line.iter().filter(|l| lines.contains(&l.order_line_id)).cloned().collect();
    json!({"Tenant": tenant, "ModTypes": mod_types, "Lines": touched, "Order": view})
}
