//! Milestones, monitoring rules and the milestone scheduler (seed 003, "Order Monitoring"), on
//! both backends. Time is the test's clock, moved, never slept; the scheduler runs through
//! `jobExecution/trigger` (and its scheduled tick), as an operator or EventBridge would.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{Method, StatusCode};
use chrono::{DateTime, Duration, Utc};
use common::{Intercept, Intercepted, TestApp, TestClock, drain_queues, location, outbound};
use oms_core::deps::Deps;
use oms_core::jobs::dispatch;
use oms_core::ports::{ItemStore, QueueName, StoreError, WriteOp};
use serde_json::{Value, json};

const TRIGGER: &str = "/scheduler/api/scheduler/jobExecution/trigger";

async fn network(app: &TestApp, units: i64) {
    let reply = app.put("/inventory/api/location/DC-ATL", &location("Atlanta DC", "DC", 33.64, -84.43)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let rows = json!([{"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": units}]);
    let supply = app.post("/inventory/api/supply", &json!({"Mode": "Sync", "Supply": rows})).await;
    assert_eq!(supply.status, StatusCode::OK, "{}", supply.body);
}

fn order(id: &str, order_type: &str, confirmed: bool) -> Value {
    json!({"OrderId": id, "OrderType": {"OrderTypeId": order_type}, "IsConfirmed": confirmed,
           "OrderLine": [{"OrderLineId": "1", "ItemId": "SKU-1", "Quantity": 1, "UnitPrice": 10,
               "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
               "ShipToAddress": {"Address": {"Address1": "1 Main St", "City": "Atlanta", "Country": "US",
                   "Latitude": 33.749, "Longitude": -84.388}}}]})
}

/// One pass of the milestone scheduler through the API: its MilestonePass.
async fn trigger(app: &TestApp) -> Value {
    let reply = app.post(TRIGGER, &json!({"JobScheduleId": "milestoneScheduler"})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.data()["JobTypeId"], "milestoneSchedulerJob", "{}", reply.body);
    reply.data()["MilestonePass"].clone()
}

fn counts(pass: &Value) -> (i64, i64, i64) {
    let n = |field: &str| pass[field].as_i64().unwrap_or_else(|| panic!("{field} in {pass}"));
    (n("OrdersChecked"), n("EventsRaised"), n("OrdersReleased"))
}

fn milestone<'a>(order: &'a Value, id: &str) -> &'a Value {
    order["OrderMilestone"].as_array().unwrap().iter().find(|m| m["MilestoneId"] == id).unwrap()
}

fn time(value: &Value) -> DateTime<Utc> {
    value.as_str().unwrap_or_else(|| panic!("a timestamp, not {value}")).parse().unwrap()
}

/// The monitoring events published on `order-events` (taken off the queue).
async fn monitoring_events(deps: &Deps) -> Vec<Value> {
    outbound(deps, QueueName::OrderEvents).await.into_iter().filter(|m| m["MessageType"] == "MonitoringEvent").collect()
}

/// The order type of the seed's example: ConfirmationDue 1 second after Confirmed is expected.
async fn confirmation_due(app: &TestApp) {
    app.configure_order_type("Web", json!({
        "Milestones": [{"MilestoneId": "Confirmed", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 60}],
        "MonitoringRules": [{"RuleId": "R1", "MilestoneId": "Confirmed", "EventName": "ConfirmationDue", "When": "After", "OffsetSeconds": 1}]
    }))
    .await;
}

/// An order type whose Released milestone holds release 180 minutes after confirmation.
async fn remorse(app: &TestApp) {
    app.configure_order_type("Remorse", json!({
        "ModTypes": [{"ModTypeId": "AllocateLine", "Services": ["ResubmitPipeline"]}],
        "Milestones": [{"MilestoneId": "Released", "ExpectedAfterMilestone": "Confirmed", "ExpectedMinutes": 180, "RestrictByDate": true}]
    }))
    .await;
}

async fn allocate(app: &TestApp, id: &str) {
    let event = json!({"detailType": "ORDER_CREATED", "detail": {"orderId": id}});
    let reply = app.fabric(Method::POST, "/allocation/", Some(&event)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    drain_queues(&app.deps, 10).await;
}

async fn releases(app: &TestApp, id: &str) -> usize {
    let reply = app.get(&format!("/order/api/order/release/orderId/{id}")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.data()["Release"].as_array().map_or(0, Vec::len)
}

/// A store that dies (every write refused as unavailable) after `writes_left` transactions.
struct Dying {
    inner: Arc<dyn ItemStore>,
    writes_left: AtomicUsize,
}

#[async_trait::async_trait]
impl Intercept for Dying {
    fn inner(&self) -> &dyn ItemStore {
        self.inner.as_ref()
    }
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        let left = self.writes_left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        match left {
            Ok(_) => self.inner.transact(writes).await,
            Err(_) => Err(StoreError::Unavailable("the process died".into())),
        }
    }
}

fn clocked(app: TestApp) -> (TestApp, Arc<TestClock>) {
    common::with_clock(app)
}

on_both_backends! {
    when_an_order_is_saved_get_order_should_show_its_milestones_and_expected_times => |app| {
        let (app, _clock) = clocked(app);
        let saved = app.saved_order(&order("MS-1", "Web", false)).await;
        let created = time(&saved["CreatedTimestamp"]);
        let order = app.order("MS-1").await;
        let ids: Vec<&str> = order["OrderMilestone"].as_array().unwrap().iter().map(|m| m["MilestoneId"].as_str().unwrap()).collect();
        assert_eq!(ids, ["Created", "Confirmed", "Allocated", "Released", "Fulfilled"]);
        assert_eq!(milestone(&order, "Created")["Status"], "Met");
        // The default configuration: Confirmed 60 and Allocated 180 minutes after Created.
        assert_eq!(time(&milestone(&order, "Confirmed")["ExpectedTime"]), created + Duration::minutes(60));
        assert_eq!(time(&milestone(&order, "Allocated")["ExpectedTime"]), created + Duration::minutes(180));
        assert_eq!(milestone(&order, "Released")["ExpectedTime"], Value::Null, "counts from Confirmed, not met yet");
        assert_eq!(milestone(&order, "Confirmed")["Status"], "Pending");
        // Met by the change itself, at the change's time: on time even when expected at once.
        app.configure_order_type("Instant", json!({"Milestones": [{"MilestoneId": "Confirmed", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 0}]})).await;
        app.saved_order(&super::order("MS-1B", "Instant", true)).await;
        let instant = app.order("MS-1B").await;
        assert_eq!(milestone(&instant, "Confirmed")["Status"], "Met", "{instant}");
        assert_eq!(milestone(&instant, "Confirmed")["ActualTime"], milestone(&instant, "Created")["ActualTime"]);
    }

    when_confirmation_is_late_the_scheduler_should_raise_confirmation_due_once_at_the_right_time => |app| {
        let (app, clock) = clocked(app);
        confirmation_due(&app).await;
        app.saved_order(&order("MS-2", "Web", false)).await;
        assert_eq!(counts(&trigger(&app).await), (0, 0, 0), "nothing is due yet");
        clock.advance(Duration::minutes(60));
        let pass = trigger(&app).await;
        assert_eq!(counts(&pass), (1, 0, 0), "Confirmed turns Late; the rule waits 1 second more: {pass}");
        assert_eq!(milestone(&app.order("MS-2").await, "Confirmed")["Status"], "Late");
        clock.advance(Duration::seconds(1));
        assert_eq!(counts(&trigger(&app).await), (1, 1, 0));
        assert_eq!(counts(&trigger(&app).await), (0, 0, 0), "raised once; nothing is due any more");

        let order = app.order("MS-2").await;
        let events = order["MonitoringEvent"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{order}");
        assert_eq!((events[0]["RuleId"].as_str(), events[0]["EventName"].as_str()), (Some("R1"), Some("ConfirmationDue")));
        let published = monitoring_events(&app.deps).await;
        assert_eq!(published.len(), 1, "{published:?}");
        assert_eq!(published[0]["OrderId"], "MS-2");
        assert_eq!(published[0]["EventName"], "ConfirmationDue");
        assert_eq!(published[0]["MilestoneId"], "Confirmed");
        assert_eq!(time(&published[0]["ExpectedTime"]), time(&milestone(&order, "Confirmed")["ExpectedTime"]));

        // Confirmed late: the milestone is met late, and the event stays raised.
        app.saved_order(&json!({"OrderId": "MS-2", "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true})).await;
        let order = app.order("MS-2").await;
        assert_eq!(milestone(&order, "Confirmed")["Status"], "MetLate");
        assert_eq!(order["MonitoringEvent"].as_array().unwrap().len(), 1);
        assert!(monitoring_events(&app.deps).await.is_empty());
    }

    when_an_order_is_confirmed_in_time_the_after_rule_should_never_fire => |app| {
        let (app, clock) = clocked(app);
        confirmation_due(&app).await;
        app.saved_order(&order("MS-3", "Web", false)).await;
        clock.advance(Duration::minutes(59));
        app.saved_order(&json!({"OrderId": "MS-3", "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true})).await;
        clock.advance(Duration::days(2));
        trigger(&app).await;
        let order = app.order("MS-3").await;
        assert_eq!(milestone(&order, "Confirmed")["Status"], "Met");
        assert_eq!(order["MonitoringEvent"], json!([]));
        assert!(monitoring_events(&app.deps).await.is_empty());
    }

    when_a_before_rule_is_configured_should_raise_it_that_long_before_the_expected_time => |app| {
        let (app, clock) = clocked(app);
        network(&app, 5).await;
        app.configure_order_type("Web", json!({
            "ModTypes": [{"ModTypeId": "AllocateLine", "Services": ["ResubmitPipeline"]}],
            "Milestones": [{"MilestoneId": "Shipped", "ExpectedAfterMilestone": "Released", "ExpectedMinutes": 1440}],
            "MonitoringRules": [{"RuleId": "B6", "MilestoneId": "Shipped", "EventName": "Before6Hours", "When": "Before", "OffsetMinutes": 360}]
        }))
        .await;
        app.saved_order(&order("MS-4", "Web", true)).await;
        allocate(&app, "MS-4").await;
        let order = app.order("MS-4").await;
        assert_eq!(order["MinFulfillmentStatusId"], "3000", "the pipeline released it: {order}");
        let expected = time(&milestone(&order, "Fulfilled")["ExpectedTime"]);
        clock.advance(Duration::minutes(1440 - 361));
        assert_eq!(counts(&trigger(&app).await).1, 0, "a minute early");
        clock.advance(Duration::minutes(1));
        assert_eq!(counts(&trigger(&app).await), (1, 1, 0));
        let published = monitoring_events(&app.deps).await;
        assert_eq!(published.len(), 1);
        assert_eq!(published[0]["EventName"], "Before6Hours");
        assert_eq!(time(&published[0]["ExpectedTime"]), expected);
        assert_eq!(time(&published[0]["RaisedAt"]), expected - Duration::hours(6));
    }

    when_released_restricts_by_date_release_should_wait_and_the_scheduler_release_after => |app| {
        let (app, clock) = clocked(app);
        network(&app, 5).await;
        remorse(&app).await;
        let saved = app.saved_order(&order("MS-5", "Remorse", true)).await;
        let confirmed = time(&saved["UpdatedTimestamp"]);
        assert_eq!(time(&saved["DoNotReleaseBefore"]), confirmed + Duration::minutes(180), "{saved}");
        allocate(&app, "MS-5").await;
        assert_eq!(app.order("MS-5").await["MinFulfillmentStatusId"], "2000", "held back by the remorse period");
        let refused = app.post("/order/api/order/order/release", &json!({"OrderId": "MS-5"})).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
        clock.advance(Duration::minutes(179));
        assert_eq!(counts(&trigger(&app).await), (0, 0, 0));
        assert_eq!(releases(&app, "MS-5").await, 0);
        clock.advance(Duration::minutes(1));
        assert_eq!(counts(&trigger(&app).await), (1, 0, 1));
        let order = app.order("MS-5").await;
        assert_eq!(order["MinFulfillmentStatusId"], "3000");
        assert_eq!(milestone(&order, "Released")["Status"], "Met", "the remorse period is not a deadline");
        assert_eq!(releases(&app, "MS-5").await, 1);
        assert_eq!(counts(&trigger(&app).await), (0, 0, 0), "released once");
        assert_eq!(releases(&app, "MS-5").await, 1);
    }

    when_an_order_carries_do_not_release_before_the_scheduler_should_honour_it => |app| {
        let (app, clock) = clocked(app);
        network(&app, 5).await;
        app.configure_order_type("Web", json!({"ModTypes": [{"ModTypeId": "AllocateLine", "Services": ["ResubmitPipeline"]}]})).await;
        let at = clock_now(&clock) + Duration::hours(2);
        let mut body = order("MS-6", "Web", true);
        body["DoNotReleaseBefore"] = json!(at.to_rfc3339());
        app.saved_order(&body).await;
        allocate(&app, "MS-6").await;
        assert_eq!(app.order("MS-6").await["MinFulfillmentStatusId"], "2000");
        clock.advance(Duration::hours(2));
        assert_eq!(counts(&trigger(&app).await).2, 1);
        assert_eq!(app.order("MS-6").await["MinFulfillmentStatusId"], "3000");
    }

    when_a_held_order_passes_its_date_the_scheduler_should_not_release_it => |app| {
        let (app, clock) = clocked(app);
        network(&app, 5).await;
        remorse(&app).await;
        let mut body = order("MS-7", "Remorse", true);
        body["Hold"] = json!([{"HoldTypeId": "Fraud"}]);
        app.saved_order(&body).await;
        allocate(&app, "MS-7").await;
        clock.advance(Duration::minutes(181));
        assert_eq!(counts(&trigger(&app).await), (1, 0, 0), "checked, not released");
        assert_eq!(app.order("MS-7").await["MinFulfillmentStatusId"], "2000");
        assert_eq!(counts(&trigger(&app).await), (0, 0, 0), "not checked every minute while held");
    }

    when_a_pass_dies_midway_a_rerun_should_raise_and_release_nothing_twice => |app| {
        let (app, clock) = clocked(app);
        network(&app, 20).await;
        confirmation_due(&app).await;
        remorse(&app).await;
        for n in 0..6 {
            app.saved_order(&order(&format!("LATE-{n}"), "Web", false)).await;
            app.saved_order(&order(&format!("HELD-{n}"), "Remorse", true)).await;
            allocate(&app, &format!("HELD-{n}")).await;
        }
        clock.advance(Duration::minutes(181));
        // The process dies after a few writes, in the middle of checks and releases.
        let dying = Arc::new(Intercepted(Dying { inner: app.deps.store.clone(), writes_left: AtomicUsize::new(5) }));
        let crashed = common::app_on(Deps { store: dying, ..app.deps.clone() }, app.backend);
        let reply = crashed.post(TRIGGER, &json!({"JobScheduleId": "milestoneScheduler"})).await;
        assert!(reply.status == StatusCode::OK || reply.status.is_server_error(), "{}", reply.body);
        let first = if reply.status == StatusCode::OK { counts(&reply.data()["MilestonePass"]) } else { (0, 0, 0) };
        // The rerun does the rest; another finds nothing.
        let second = counts(&trigger(&app).await);
        assert_eq!(counts(&trigger(&app).await), (0, 0, 0));
        eprintln!("(checked, raised, released): the pass that died {first:?}, the rerun {second:?}");
        assert!(first.0 > 0 && first.0 < 12, "the first pass died midway: {first:?}");
        for n in 0..6 {
            let late = app.order(&format!("LATE-{n}")).await;
            assert_eq!(late["MonitoringEvent"].as_array().unwrap().len(), 1, "LATE-{n}: {late}");
            assert_eq!(releases(&app, &format!("HELD-{n}")).await, 1, "HELD-{n}");
            assert_eq!(app.order(&format!("HELD-{n}")).await["MinFulfillmentStatusId"], "3000");
        }
        let published = monitoring_events(&app.deps).await;
        assert_eq!(published.len(), 6, "each event published once: {published:?}");
        assert_eq!(first.1 + second.1, 6, "six events raised over both passes: {first:?} {second:?}");
        let report = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({}))).await;
        assert_eq!(report.body["drift"], json!([]), "{}", report.body);
    }

    when_the_scheduled_tick_runs_should_check_every_tenants_due_orders_and_record_each_pass => |app| {
        let (app, clock) = clocked(app);
        confirmation_due(&app).await;
        app.saved_order(&order("MS-8", "Web", false)).await;
        let other = app.token("other", common::ALL_PERMISSIONS);
        let body = order("OT-1", "Web", false).to_string();
        let reply = app.send(Method::POST, "/order/api/order/order", Some(&other), &[], Some(&body)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let idle = dispatch::run_schedule(&app.deps, "milestone-scheduler").await.unwrap();
        assert_eq!(idle.delivered, 0);
        clock.advance(Duration::minutes(61));
        let report = dispatch::run_schedule(&app.deps, "milestone-scheduler").await.unwrap();
        assert_eq!(report.delivered, 2, "both tenants' orders: {report:?}");
        assert_eq!(report.milestones.unwrap().events_raised, 1, "only demo's type has the rule");

        // Each tenant finds its own pass (and not the idle tick) through job search.
        let search = json!({"Query": "JobTypeId=milestoneSchedulerJob"});
        let found = app.post("/scheduler/api/scheduler/jobExecution/search", &search).await;
        let runs = found.data().as_array().unwrap().clone();
        assert_eq!(runs.len(), 1, "{}", found.body);
        assert_eq!(runs[0]["JobScheduleId"], "milestoneScheduler");
        assert_eq!(runs[0]["Status"], "completed");
        assert_eq!((runs[0]["TotalMsgCount"].as_i64(), runs[0]["MilestonePass"]["EventsRaised"].as_i64()), (Some(1), Some(1)));
        let by_schedule = app.post("/scheduler/api/scheduler/jobExecution/search", &json!({"Query": "JobScheduleId=milestoneScheduler"})).await;
        assert_eq!(by_schedule.data().as_array().unwrap().len(), 1, "{}", by_schedule.body);
        let other = app.token("other", common::ALL_PERMISSIONS);
        let theirs = app.send(Method::POST, "/scheduler/api/scheduler/jobExecution/search", Some(&other), &[], Some(&search.to_string())).await;
        assert_eq!(theirs.data().as_array().unwrap().len(), 1, "{}", theirs.body);
        assert_eq!(theirs.data()[0]["MilestonePass"]["EventsRaised"], 0);
    }

    when_a_check_is_listed_earlier_than_its_order_says_the_scheduler_should_put_it_back_in_step => |app| {
        let (app, _clock) = clocked(app);
        app.saved_order(&order("MS-9", "Web", false)).await;
        let tenant = oms_core::domain::ids::TenantId::parse("demo").unwrap();
        let id = oms_core::domain::ids::OrderId::parse_at("OrderId", "MS-9").unwrap();
        let mut stale = oms_core::service::orders::load_order(&app.deps, &tenant, &id).await.unwrap().unwrap();
        let due = stale.milestone_check_at.expect("Confirmed is watched");
        stale.milestone_check_at = Some(due - Duration::hours(2));
        app.deps.store.transact(vec![oms_core::service::milestones::check_entry(&tenant, &stale)]).await.unwrap();
        assert_eq!(counts(&trigger(&app).await), (1, 0, 0), "the lagging entry is checked");
        let order = app.order("MS-9").await;
        assert_eq!(milestone(&order, "Confirmed")["Status"], "Pending", "nothing was due: {order}");
        assert_eq!(counts(&trigger(&app).await), (0, 0, 0), "listed at the order's own time again");
    }

    when_a_pass_reaches_its_limit_the_next_should_go_on_where_it_stopped => |app| {
        use oms_core::service::milestones::scheduler::{Limits, run_pass};
        let (app, clock) = clocked(app);
        confirmation_due(&app).await;
        for n in 0..5 {
            app.saved_order(&order(&format!("LIM-{n}"), "Web", false)).await;
        }
        clock.advance(Duration::minutes(61));
        let tenant = oms_core::domain::ids::TenantId::parse("demo").unwrap();
        let limits = Limits { max_orders: 2, ..Limits::default() };
        let mut passes = Vec::new();
        for _ in 0..4 {
            let pass = run_pass(&app.deps, &tenant, limits).await.unwrap();
            passes.push((pass.orders_checked, pass.events_raised, pass.more));
        }
        assert_eq!(passes, [(2, 2, true), (2, 2, true), (1, 1, false), (0, 0, false)]);
        assert_eq!(monitoring_events(&app.deps).await.len(), 5, "each order's event once");
    }

    when_the_trigger_is_asked_badly_should_refuse_naming_the_field => |app| {
        for (body, field) in [(json!({}), "JobScheduleId"), (json!({"JobScheduleId": "nightlyBackup"}), "JobScheduleId")] {
            let reply = app.post(TRIGGER, &body).await;
            assert_eq!((reply.status, reply.error_field()), (StatusCode::BAD_REQUEST, Some(field)), "{}", reply.body);
        }
        let reader = app.token("demo", &["api::scheduler::read"]);
        let body = json!({"JobScheduleId": "milestoneScheduler"}).to_string();
        let reply = app.send(Method::POST, TRIGGER, Some(&reader), &[], Some(&body)).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{}", reply.body);
        let restricted = json!({"Milestones": [{"MilestoneId": "Allocated", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 10, "RestrictByDate": true}]});
        let reply = app.put("/order/api/order/orderType/Web", &restricted).await;
        assert_eq!((reply.status, reply.error_field()), (StatusCode::BAD_REQUEST, Some("Milestones[0].RestrictByDate")), "{}", reply.body);
    }
}

fn clock_now(clock: &TestClock) -> DateTime<Utc> {
    use oms_core::ports::Clock;
    clock.now()
}
