//! Milestones and monitoring (seed 003, "Order Monitoring"): when an order reaches each
//! milestone, when it was expected to, and the monitoring events raised when it is late.
//!
//! [`evaluate`] is pure: it reads the order, its order type's configuration and the time, and
//! updates the order's milestones, its monitoring events, its `DoNotReleaseBefore` (Restrict By
//! Date) and the time it must be checked again. Every change of an order runs it before writing,
//! and the milestone scheduler runs it on the orders whose check is due.

use chrono::{DateTime, Duration, SubsecRound, Utc};
use serde::{Deserialize, Serialize};

use super::config::{Milestone, OrderTypeConfig, When};
use crate::domain::order::Order;
use crate::domain::status::FulfillmentStatus;

/// Most monitoring events an order keeps (one per rule; rules renamed over time add more).
pub const MAX_MONITORING_EVENTS: usize = 64;

/// Where an order stands against one milestone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum MilestoneStatus {
    /// Not met; not yet expected (or no expected time is configured or known yet).
    Pending,
    /// Not met, and its expected time has passed.
    Late,
    /// Met by its expected time (or met with no expected time).
    Met,
    /// Met after its expected time.
    MetLate,
    /// Never met: every unit of the order was canceled first.
    Canceled,
}

/// One milestone of one order: `OrderMilestone` on Get Order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OrderMilestone {
    pub milestone_id: Milestone,
    /// When the milestone is expected: its configured minutes after the milestone it counts
    /// from, set once that one is met.
    pub expected_time: Option<DateTime<Utc>>,
    /// When the order first met it.
    pub actual_time: Option<DateTime<Utc>>,
    pub status: MilestoneStatus,
}

/// A monitoring rule's event, raised once per order and rule: `MonitoringEvent` on Get Order,
/// and a message on the `order-events` queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MonitoringEvent {
    pub rule_id: String,
    pub milestone_id: Milestone,
    pub event_name: String,
    /// The milestone's expected time the rule counted from.
    pub expected_time: DateTime<Utc>,
    pub raised_at: DateTime<Utc>,
}

/// What [`evaluate`] changed.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Evaluation {
    /// Events raised now, to publish.
    pub raised: Vec<MonitoringEvent>,
    /// Whether the order changed at all (milestones, events, DoNotReleaseBefore, next check).
    pub changed: bool,
}

/// Every unit of the order is canceled: no milestone is left to meet.
fn is_canceled(order: &Order) -> bool {
    order.min_status() == Some(FulfillmentStatus::Canceled)
}

/// Whether the order meets `milestone` now (the seed's definitions, which cannot be changed).
pub fn reached(order: &Order, milestone: Milestone) -> bool {
    let at_least = |status: FulfillmentStatus| {
        !is_canceled(order) && order.min_status().is_some_and(|min| min.code() >= status.code())
    };
    match milestone {
        Milestone::Created => true,
        Milestone::Confirmed => order.is_confirmed,
        Milestone::Allocated => at_least(FulfillmentStatus::Allocated),
        Milestone::Released => at_least(FulfillmentStatus::Released),
        Milestone::Fulfilled => at_least(FulfillmentStatus::Fulfilled),
    }
}

/// A milestone's status at `now`. Under Restrict By Date the expected time is the earliest the
/// milestone may happen (a remorse period), not a deadline: it is never late for it.
fn status_of(entry: &OrderMilestone, restricted: bool, canceled: bool, now: DateTime<Utc>) -> MilestoneStatus {
    match (entry.actual_time, entry.expected_time) {
        (Some(actual), Some(expected)) if actual > expected && !restricted => MilestoneStatus::MetLate,
        (Some(_), _) => MilestoneStatus::Met,
        (None, _) if canceled => MilestoneStatus::Canceled,
        (None, Some(expected)) if now >= expected && !restricted => MilestoneStatus::Late,
        (None, _) => MilestoneStatus::Pending,
    }
}

/// When a rule fires: its offset after or before the expected time.
fn fire_time(expected: DateTime<Utc>, when: When, offset_seconds: u64) -> DateTime<Utc> {
    let offset = Duration::seconds(i64::try_from(offset_seconds).unwrap_or(i64::MAX / 1_000_000));
    match when {
        When::After => expected + offset,
        When::Before => expected - offset,
    }
}

/// Brings the order's milestones up to `now` under `config`:
/// 1. a milestone met for the first time gets `now` as its actual time (Created: the order's
///    creation); a milestone once met stays met;
/// 2. a milestone whose configured `ExpectedAfterMilestone` is met gets its expected time, once;
///    with Restrict By Date (Released) the order's `DoNotReleaseBefore` becomes at least that;
/// 3. each monitoring rule whose time has come (`OffsetSeconds` after or before the expected
///    time) raises its event if the milestone was not met by then: once per order and rule;
/// 4. `MilestoneCheckAt` becomes the earliest time something is due next: an expected time
///    (the milestone turns Late), a rule's time, or the `DoNotReleaseBefore` of an order not yet
///    released. `None` when nothing is left to watch.
pub fn evaluate(config: &OrderTypeConfig, order: &mut Order, now: DateTime<Utc>) -> Evaluation {
    // Milliseconds, as Get Order shows every time.
    let now = now.trunc_subsecs(3);
    let before_dates = (order.do_not_release_before, order.milestone_check_at);
    let canceled = is_canceled(order);

    let mut entries: Vec<OrderMilestone> = Milestone::ALL
        .iter()
        .map(|m| {
            order.milestones.iter().find(|e| e.milestone_id == *m).cloned().unwrap_or(OrderMilestone {
                milestone_id: *m,
                expected_time: None,
                actual_time: None,
                status: MilestoneStatus::Pending,
            })
        })
        .collect();
    for entry in &mut entries {
        if entry.actual_time.is_none() && reached(order, entry.milestone_id) {
            entry.actual_time = Some(match entry.milestone_id {
                Milestone::Created => order.created_timestamp.trunc_subsecs(3),
                _ => now,
            });
        }
    }
    let actual = |entries: &[OrderMilestone], m: Milestone| entries.iter().find(|e| e.milestone_id == m)?.actual_time;
    for rule in &config.milestones {
        let Some(from) = actual(&entries, rule.expected_after_milestone) else { continue };
        let Some(entry) = entries.iter_mut().find(|e| e.milestone_id == rule.milestone_id) else { continue };
        if entry.expected_time.is_some() {
            continue;
        }
        let expected = from + Duration::minutes(i64::from(rule.expected_minutes));
        entry.expected_time = Some(expected);
        if rule.restrict_by_date && entry.actual_time.is_none() {
            order.do_not_release_before = Some(order.do_not_release_before.map_or(expected, |at| at.max(expected)));
        }
    }
    for entry in &mut entries {
        let restricted = config.milestone(entry.milestone_id).is_some_and(|r| r.restrict_by_date);
        entry.status = status_of(entry, restricted, canceled, now);
    }

    let mut raised = Vec::new();
    let mut next: Option<DateTime<Utc>> = None;
    let mut due = |at: DateTime<Utc>| next = Some(next.map_or(at, |n| n.min(at)));
    for rule in &config.monitoring_rules {
        if order.monitoring_events.iter().any(|e| e.rule_id == rule.rule_id) {
            continue;
        }
        let Some(entry) = entries.iter().find(|e| e.milestone_id == rule.milestone_id) else { continue };
        let Some(expected) = entry.expected_time else { continue };
        let fire = fire_time(expected, rule.when, rule.offset_seconds);
        let unmet_at_fire = match entry.actual_time {
            None => !canceled,
            Some(actual) => actual > fire,
        };
        if !unmet_at_fire {
            continue;
        }
        if now >= fire {
            raised.push(MonitoringEvent {
                rule_id: rule.rule_id.clone(),
                milestone_id: rule.milestone_id,
                event_name: rule.event_name.clone(),
                expected_time: expected,
                raised_at: now,
            });
        } else if entry.actual_time.is_none() {
            due(fire);
        }
    }
    if !canceled {
        for entry in entries.iter().filter(|e| e.status == MilestoneStatus::Pending) {
            let restricted = config.milestone(entry.milestone_id).is_some_and(|r| r.restrict_by_date);
            if let Some(expected) = entry.expected_time.filter(|_| !restricted) {
                due(expected);
            }
        }
        let released = entries.iter().any(|e| e.milestone_id == Milestone::Released && e.actual_time.is_some());
        if let Some(at) = order.do_not_release_before.filter(|at| *at > now && !released) {
            due(at);
        }
    }

    order.milestone_check_at = next;
    let changed = !raised.is_empty()
        || order.milestones != entries
        || (order.do_not_release_before, order.milestone_check_at) != before_dates;
    order.milestones = entries;
    order.monitoring_events.extend(raised.iter().cloned());
    let over = order.monitoring_events.len().saturating_sub(MAX_MONITORING_EVENTS);
    order.monitoring_events.drain(..over);
    Evaluation { raised, changed }
}

#[cfg(test)]
mod tests;
