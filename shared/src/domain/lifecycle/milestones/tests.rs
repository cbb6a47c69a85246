use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::domain::ids::{TenantId, UserId};
use crate::domain::lifecycle::config::{MilestoneRule, MonitoringRule, default_config};
use crate::domain::order::SaveOrderRequest;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
}

fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

fn order(confirmed: bool) -> Order {
    let req: SaveOrderRequest = serde_json::from_value(json!({
        "OrderId": "O1", "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": confirmed,
        "OrderLine": [{"OrderLineId": "1", "ItemId": "SKU1", "Quantity": 2, "UnitPrice": 5,
                       "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
                       "ShipToAddress": {"Address": {"Address1": "1 Main", "City": "Austin", "Country": "US"}}}]
    }))
    .unwrap();
    Order::from_request(&req, &TenantId::parse("t1").unwrap(), &UserId::parse("u1").unwrap(), t0(), None).unwrap()
}

fn rule(id: &str, milestone: Milestone, when: When, offset_seconds: u64) -> MonitoringRule {
    MonitoringRule {
        rule_id: id.into(),
        milestone_id: milestone,
        event_name: format!("{id}Event"),
        when,
        offset_seconds,
    }
}

fn config(rules: Vec<MonitoringRule>) -> OrderTypeConfig {
    OrderTypeConfig { monitoring_rules: rules, ..default_config("Web") }
}

fn entry(order: &Order, m: Milestone) -> &OrderMilestone {
    order.milestones.iter().find(|e| e.milestone_id == m).unwrap()
}

fn move_all(order: &mut Order, from: FulfillmentStatus, to: FulfillmentStatus) {
    for line in &mut order.lines {
        let qty = line.quantity_at(from);
        line.move_quantity(from, to, qty).unwrap();
    }
}

#[test]
fn when_an_order_is_created_should_meet_created_and_expect_confirmed_and_allocated_from_it() {
    let mut o = order(false);
    let eval = evaluate(&config(vec![]), &mut o, t0());
    assert!(eval.changed && eval.raised.is_empty());
    assert_eq!(entry(&o, Milestone::Created).actual_time, Some(t0()));
    assert_eq!(entry(&o, Milestone::Created).status, MilestoneStatus::Met);
    assert_eq!(entry(&o, Milestone::Confirmed).expected_time, Some(t0() + minutes(60)));
    assert_eq!(entry(&o, Milestone::Allocated).expected_time, Some(t0() + minutes(180)));
    // Released counts from Confirmed, which is not met: no expected time yet.
    assert_eq!(entry(&o, Milestone::Released).expected_time, None);
    assert_eq!(o.milestone_check_at, Some(t0() + minutes(60)));
}

#[test]
fn when_a_milestone_is_met_should_expect_the_next_from_its_actual_time() {
    let mut o = order(false);
    let c = config(vec![]);
    evaluate(&c, &mut o, t0());
    o.is_confirmed = true;
    evaluate(&c, &mut o, t0() + minutes(10));
    assert_eq!(entry(&o, Milestone::Confirmed).actual_time, Some(t0() + minutes(10)));
    assert_eq!(entry(&o, Milestone::Confirmed).status, MilestoneStatus::Met);
    assert_eq!(entry(&o, Milestone::Released).expected_time, Some(t0() + minutes(250)));
    move_all(&mut o, FulfillmentStatus::Open, FulfillmentStatus::Allocated);
    evaluate(&c, &mut o, t0() + minutes(20));
    move_all(&mut o, FulfillmentStatus::Allocated, FulfillmentStatus::Released);
    evaluate(&c, &mut o, t0() + minutes(30));
    assert_eq!(entry(&o, Milestone::Fulfilled).expected_time, Some(t0() + minutes(30 + 1440)));
    move_all(&mut o, FulfillmentStatus::Released, FulfillmentStatus::Fulfilled);
    evaluate(&c, &mut o, t0() + minutes(40));
    assert!(o.milestones.iter().all(|e| e.status == MilestoneStatus::Met), "{:?}", o.milestones);
    assert_eq!(o.milestone_check_at, None, "nothing left to watch");
}

#[test]
fn when_the_expected_time_passes_unmet_should_turn_late_and_then_met_late() {
    let mut o = order(false);
    let c = config(vec![]);
    evaluate(&c, &mut o, t0());
    let eval = evaluate(&c, &mut o, t0() + minutes(60));
    assert!(eval.changed);
    assert_eq!(entry(&o, Milestone::Confirmed).status, MilestoneStatus::Late);
    assert_eq!(o.milestone_check_at, Some(t0() + minutes(180)), "next: Allocated's expected time");
    o.is_confirmed = true;
    evaluate(&c, &mut o, t0() + minutes(61));
    assert_eq!(entry(&o, Milestone::Confirmed).status, MilestoneStatus::MetLate);
}

#[test]
fn when_an_after_rule_comes_due_unmet_should_raise_its_event_once() {
    let mut o = order(false);
    let c = config(vec![rule("ConfirmationDue", Milestone::Confirmed, When::After, 1)]);
    evaluate(&c, &mut o, t0());
    assert!(evaluate(&c, &mut o, t0() + minutes(60)).raised.is_empty(), "1 second after is not yet");
    assert_eq!(o.milestone_check_at, Some(t0() + minutes(60) + Duration::seconds(1)));
    let eval = evaluate(&c, &mut o, t0() + minutes(60) + Duration::seconds(1));
    assert_eq!(eval.raised.len(), 1);
    assert_eq!(eval.raised[0].event_name, "ConfirmationDueEvent");
    assert_eq!(eval.raised[0].expected_time, t0() + minutes(60));
    assert!(evaluate(&c, &mut o, t0() + minutes(90)).raised.is_empty(), "raised once");
    o.is_confirmed = true;
    evaluate(&c, &mut o, t0() + minutes(91));
    assert_eq!(o.monitoring_events.len(), 1, "a milestone met later does not un-raise it");
}

#[test]
fn when_the_milestone_is_met_in_time_should_never_raise_the_after_rule() {
    let mut o = order(false);
    let c = config(vec![rule("ConfirmationDue", Milestone::Confirmed, When::After, 1)]);
    evaluate(&c, &mut o, t0());
    o.is_confirmed = true;
    evaluate(&c, &mut o, t0() + minutes(59));
    assert!(evaluate(&c, &mut o, t0() + minutes(600)).raised.is_empty());
    assert!(o.monitoring_events.is_empty());
}

#[test]
fn when_a_before_rule_comes_due_unmet_should_raise_before_the_expected_time() {
    let mut o = order(true);
    let c = config(vec![rule("Before6Hours", Milestone::Fulfilled, When::Before, 6 * 3600)]);
    evaluate(&c, &mut o, t0());
    move_all(&mut o, FulfillmentStatus::Open, FulfillmentStatus::Released);
    evaluate(&c, &mut o, t0() + minutes(10));
    let expected = t0() + minutes(10 + 1440);
    assert_eq!(o.milestone_check_at, Some(expected - Duration::hours(6)));
    assert!(evaluate(&c, &mut o, expected - Duration::hours(7)).raised.is_empty());
    let eval = evaluate(&c, &mut o, expected - Duration::hours(6));
    assert_eq!(eval.raised.iter().map(|e| e.rule_id.as_str()).collect::<Vec<_>>(), ["Before6Hours"]);
}

#[test]
fn when_a_change_meets_the_milestone_after_the_rule_time_should_raise_it_with_that_change() {
    // The scheduler had not run yet: the event is still raised, once, by the change.
    let mut o = order(false);
    let c = config(vec![rule("ConfirmationDue", Milestone::Confirmed, When::After, 60)]);
    evaluate(&c, &mut o, t0());
    o.is_confirmed = true;
    let eval = evaluate(&c, &mut o, t0() + minutes(75));
    assert_eq!(eval.raised.len(), 1);
    assert_eq!(entry(&o, Milestone::Confirmed).status, MilestoneStatus::MetLate);
}

#[test]
fn when_released_restricts_by_date_should_set_do_not_release_before_when_confirmed() {
    let mut c = config(vec![]);
    c.milestones = vec![MilestoneRule {
        milestone_id: Milestone::Released,
        expected_after_milestone: Milestone::Confirmed,
        expected_minutes: 180,
        restrict_by_date: true,
    }];
    let mut o = order(false);
    evaluate(&c, &mut o, t0());
    assert_eq!(o.do_not_release_before, None);
    o.is_confirmed = true;
    evaluate(&c, &mut o, t0() + minutes(5));
    assert_eq!(o.do_not_release_before, Some(t0() + minutes(185)));
    assert_eq!(o.milestone_check_at, Some(t0() + minutes(185)), "the scheduler releases it then");
    // The expected time of a restricted milestone is when it may happen, not a deadline.
    evaluate(&c, &mut o, t0() + minutes(185));
    assert_eq!(entry(&o, Milestone::Released).status, MilestoneStatus::Pending);
    move_all(&mut o, FulfillmentStatus::Open, FulfillmentStatus::Released);
    evaluate(&c, &mut o, t0() + minutes(186));
    assert_eq!(entry(&o, Milestone::Released).status, MilestoneStatus::Met);
}

#[test]
fn when_the_order_already_has_a_later_do_not_release_before_should_keep_it() {
    let mut c = config(vec![]);
    c.milestones[2].restrict_by_date = true; // Released, 240 after Confirmed
    let mut o = order(true);
    o.do_not_release_before = Some(t0() + Duration::days(2));
    evaluate(&c, &mut o, t0());
    assert_eq!(o.do_not_release_before, Some(t0() + Duration::days(2)));
}

#[test]
fn when_every_unit_is_canceled_should_stop_watching_and_raise_nothing() {
    let mut o = order(false);
    let c = config(vec![rule("ConfirmationDue", Milestone::Confirmed, When::After, 1)]);
    evaluate(&c, &mut o, t0());
    move_all(&mut o, FulfillmentStatus::Open, FulfillmentStatus::Canceled);
    let eval = evaluate(&c, &mut o, t0() + minutes(120));
    assert!(eval.raised.is_empty());
    assert_eq!(o.milestone_check_at, None);
    assert_eq!(entry(&o, Milestone::Allocated).status, MilestoneStatus::Canceled);
    assert_eq!(entry(&o, Milestone::Created).status, MilestoneStatus::Met);
}

#[test]
fn when_nothing_changes_evaluating_again_should_report_no_change() {
    let mut o = order(false);
    let c = config(vec![rule("ConfirmationDue", Milestone::Confirmed, When::After, 1)]);
    evaluate(&c, &mut o, t0());
    let eval = evaluate(&c, &mut o, t0() + minutes(1));
    assert_eq!(eval, Evaluation::default());
}
