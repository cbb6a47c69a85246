//! The milestone scheduler on the embedded store (a database file, as the local server keeps
//! it): ORDERS orders (default 100,000) of which DUE (default 10,000) have a late Confirmed
//! milestone with a ConfirmationDue rule. Prints one pass over the due ones (time, checks/s,
//! events raised) beside passes with nothing due, before and after (the fixed cost), and checks
//! that every due order was checked and raised its event once.
//!
//! `cargo bench -p local --bench milestone_scheduler` (ORDERS=n, DUE=n to change the counts,
//! CONCURRENCY=n the checks in flight; default the scheduler's).

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use oms_core::deps::Deps;
use oms_core::domain::caller::Caller;
use oms_core::domain::ids::{TenantId, UserId};
use oms_core::domain::job::MilestonePass;
use oms_core::domain::lifecycle::config::OrderTypeConfigRequest;
use oms_core::domain::lifecycle::milestones;
use oms_core::domain::order::{Order, SaveOrderRequest};
use oms_core::ports::{Clock, Condition, MAX_TRANSACTION_ITEMS, WriteOp};
use oms_core::service::lifecycle::config;
use oms_core::service::milestones::scheduler::{self, Limits};
use oms_core::service::{milestones as monitoring, orders};
use oms_core::sqlite::SqliteDb;
use serde_json::json;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TENANT: &str = "bench";
const ORDER_TYPE: &str = "Web";

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The bench's clock: moved between passes.
struct BenchClock(Mutex<DateTime<Utc>>);

impl Clock for BenchClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }
}

fn order_body(id: &str) -> serde_json::Value {
    json!({"OrderId": id, "OrderType": {"OrderTypeId": ORDER_TYPE}, "IsConfirmed": false,
           "OrderLine": [{"OrderLineId": "1", "ItemId": "SKU-1", "Quantity": 1, "UnitPrice": 10,
               "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
               "ShipToAddress": {"Address": {"Address1": "1 Main St", "City": "Atlanta", "Country": "US"}}}]})
}

/// Writes `count` unconfirmed orders created at `created`, each with its milestones evaluated
/// and its milestone check listed, as Save Order leaves them (100 writes per transaction).
async fn seed(deps: &Deps, prefix: &str, count: usize, created: DateTime<Utc>) {
    let tenant = TenantId::parse(TENANT).unwrap();
    let user = UserId::parse("bench").unwrap();
    let config = config::config_for(deps, &tenant, ORDER_TYPE).await.unwrap();
    let mut writes = Vec::with_capacity(MAX_TRANSACTION_ITEMS);
    for n in 0..count {
        let req: SaveOrderRequest = serde_json::from_value(order_body(&format!("{prefix}{n}"))).unwrap();
        let mut order = Order::from_request(&req, &tenant, &user, created, None).unwrap();
        milestones::evaluate(&config, &mut order, created);
        writes.extend(monitoring::check_write(&tenant, None, &order));
        writes.push(WriteOp::Put {
            item: orders::order_item(&tenant, &order).unwrap(),
            condition: Some(Condition::NotExists),
        });
        if writes.len() + 2 > MAX_TRANSACTION_ITEMS {
            deps.store.transact(std::mem::take(&mut writes)).await.unwrap();
        }
    }
    if !writes.is_empty() {
        deps.store.transact(writes).await.unwrap();
    }
}

async fn timed_pass(deps: &Deps, tenant: &TenantId) -> (MilestonePass, std::time::Duration) {
    let started = Instant::now();
    let concurrency = env_count("CONCURRENCY", Limits::default().concurrency);
    let limits = Limits { max_orders: usize::MAX, max_time: std::time::Duration::from_secs(3600), concurrency };
    let pass = scheduler::run_pass(deps, tenant, limits).await.unwrap();
    (pass, started.elapsed())
}

fn print_pass(what: &str, pass: &MilestonePass, took: std::time::Duration) {
    let checks = pass.orders_checked as f64 / took.as_secs_f64().max(1e-9);
    println!(
        "{what:<44} {:>8.1} ms  {:>6} checked  {:>6} events  {:>10.0} checks/s",
        took.as_secs_f64() * 1000.0,
        pass.orders_checked,
        pass.events_raised,
        checks
    );
}

#[tokio::main]
async fn main() {
    let orders_count = env_count("ORDERS", 100_000);
    let due = env_count("DUE", 10_000).min(orders_count);
    let dir = std::env::temp_dir().join(format!("oms-milestone-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let t0: DateTime<Utc> = "2026-03-02T09:00:00Z".parse().unwrap();
    let clock = Arc::new(BenchClock(Mutex::new(t0)));
    let mut deps = Deps::embedded(SqliteDb::open(&dir.join("oms.db")).unwrap()).unwrap();
    deps.clock = clock.clone();
    let tenant = TenantId::parse(TENANT).unwrap();
    let caller = Caller::for_job(tenant.clone(), UserId::parse("bench").unwrap());
    let rules: OrderTypeConfigRequest = serde_json::from_value(json!({
        "Milestones": [{"MilestoneId": "Confirmed", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 60},
                       {"MilestoneId": "Allocated", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 180}],
        "MonitoringRules": [{"RuleId": "R1", "MilestoneId": "Confirmed", "EventName": "ConfirmationDue", "When": "After", "OffsetSeconds": 1}]
    }))
    .unwrap();
    config::put_order_type(&deps, &caller, ORDER_TYPE, &rules).await.unwrap();

    let started = Instant::now();
    // Due orders were created 30 minutes before the first pass, the others 4 hours after it: their
    // checks (Confirmed expected 60 minutes after creation) stay ahead of every pass below.
    seed(&deps, "DUE-", due, t0 - Duration::minutes(30)).await;
    seed(&deps, "NEW-", orders_count - due, t0 + Duration::hours(4)).await;
    println!(
        "milestone scheduler, embedded store (file): {orders_count} orders, {due} due; seeded in {:.1?}",
        started.elapsed()
    );

    let (idle, idle_took) = timed_pass(&deps, &tenant).await;
    print_pass("pass with nothing due (fixed cost)", &idle, idle_took);
    assert_eq!(idle.orders_checked, 0);

    // 45 minutes on: the due orders' Confirmed (expected 15 minutes ago) is late by more than the
    // rule's second.
    *clock.0.lock().unwrap() = t0 + Duration::minutes(45);
    let (busy, busy_took) = timed_pass(&deps, &tenant).await;
    print_pass(&format!("pass with {due} due"), &busy, busy_took);
    assert_eq!((busy.orders_checked, busy.events_raised, busy.failed), (due as i64, due as i64, 0));

    let (after, after_took) = timed_pass(&deps, &tenant).await;
    print_pass("pass right after (nothing due again)", &after, after_took);
    assert_eq!(after.orders_checked, 0, "every check moved past now");

    // 3 hours on: the due orders' Allocated (expected 180 minutes after creation) is late too;
    // no rule watches it, so each check only marks the milestone Late and moves the check on.
    *clock.0.lock().unwrap() = t0 + Duration::minutes(151);
    let (late, late_took) = timed_pass(&deps, &tenant).await;
    print_pass(&format!("pass with {due} due, no event (Allocated late)"), &late, late_took);
    assert_eq!((late.orders_checked, late.events_raised, late.failed), (due as i64, 0, 0));

    let checks = busy.orders_checked as f64 / busy_took.as_secs_f64();
    let plain = late.orders_checked as f64 / late_took.as_secs_f64();
    println!(
        "goal >= 20,000 due checks/s: {checks:.0} checks/s raising an event each ({:.2}x the goal), {plain:.0} checks/s marking a milestone late ({:.2}x); goal nothing-due pass < 50 ms: {:.1} ms ({:.2}x under)",
        checks / 20_000.0,
        plain / 20_000.0,
        idle_took.as_secs_f64() * 1000.0,
        50.0 / (idle_took.as_secs_f64() * 1000.0).max(1e-9)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
