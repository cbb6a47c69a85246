//! Mass allocate survives a crash: the local server killed with SIGKILL in the middle of a
//! 20,000-order job resumes it from the durable queue after a restart and completes it; no
//! order is allocated twice, reconcile finds no drift, and the job's counters equal its
//! per-order results.

mod support;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use oms_core::domain::ids::{OrderId, TenantId};
use oms_core::domain::job::OrderOutcome;
use oms_core::domain::status::FulfillmentStatus;
use serde_json::{Value, json};
use support::{BIN, free_port, mint, request_with, start_with_env, temp_dir};

const ORDERS: usize = 20_000;
/// Orders processed before the kill: the job is well under way, far from done.
const PROCESSED_BEFORE_KILL: i64 = 3_000;
/// Messages the killed server had received come back after this (the default is 30 s).
const ENV: &[(&str, &str)] = &[("OMS_QUEUE_VISIBILITY_SECONDS", "20"), ("RUST_LOG", "warn")];

fn call(port: u16, token: &str, method: &str, path: &str, body: &Value) -> Value {
    let site = "x-site-context: {\"account\":\"demo\"}\r\n";
    let (status, text) =
        request_with(port, method, path, Some(token), site, Some(&body.to_string())).expect("the server answers");
    assert_eq!(status, 200, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap()
}

fn job(port: u16, token: &str, id: &str) -> Value {
    let body = json!({"Query": format!("JobScheduleId={id}")});
    call(port, token, "POST", "/scheduler/api/scheduler/jobExecution/search", &body)["data"][0].clone()
}

fn processed(job: &Value) -> i64 {
    job["SuccessMsgCount"].as_i64().unwrap() + job["FailureMsgCount"].as_i64().unwrap()
}

/// Reads the server's database after it stopped: reconcile, each order's allocated units
/// against its live allocation documents, and the job's results by outcome.
fn check_store(data: &Path, job_id: &str) -> HashMap<OrderOutcome, i64> {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db = oms_core::sqlite::SqliteDb::open(&data.join(oms_core::deps::DB_FILE)).unwrap();
        let deps = oms_core::deps::Deps::embedded(db).unwrap();
        let tenant = TenantId::parse("demo").unwrap();
        // Reconcile, as POST /allocation/reconcile does (in process: 20,000 orders take a while).
        let report = oms_core::service::reconcile::reconcile(&deps, &tenant, false).await.unwrap();
        assert!(report.drift.is_empty(), "reservations drift from the allocations: {:?}", report.drift);
        let results = oms_core::service::jobs::all_results(&deps, &tenant, job_id).await.unwrap();
        assert_eq!(results.len(), ORDERS, "one result per order");
        let mut by_outcome = HashMap::new();
        for result in &results {
            *by_outcome.entry(result.outcome).or_insert(0) += 1;
        }
        for n in 0..ORDERS {
            let id = OrderId::parse_at("orderId", &format!("BL-{n:06}")).unwrap();
            let order = oms_core::service::orders::load_order(&deps, &tenant, &id).await.unwrap().unwrap();
            // Allocated and released units (the pipeline releases confirmed orders) are held.
            let on_order: u64 = order
                .lines
                .iter()
                .map(|l| {
                    u64::from(l.quantity_at(FulfillmentStatus::Allocated) + l.quantity_at(FulfillmentStatus::Released))
                })
                .sum();
            let docs = oms_core::service::allocation::allocations_of_order(&deps, &tenant, &id).await.unwrap();
            let held: u64 = docs.iter().filter(|d| d.status_code.is_live()).map(|d| d.units()).sum();
            assert_eq!(on_order, held, "{id}: the order and its allocation documents disagree");
            let ordered: u64 = order.lines.iter().map(|l| u64::from(l.quantity)).sum();
            assert!(held <= ordered, "{id}: {held} units held for {ordered} ordered");
        }
        by_outcome
    })
}

#[test]
fn when_killed_in_the_middle_of_a_mass_allocation_should_resume_and_allocate_each_order_once() {
    let data = temp_dir();
    let out = Command::new(BIN)
        .args(["backlog", "--orders", &ORDERS.to_string(), "--locations", "100", "--items", "200"])
        .env("OMS_DATA_DIR", &data)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let port = free_port();
    let mut child = start_with_env(&data, port, &["serve", "--no-demo"], ENV);
    let token = mint(&data);
    let started = Instant::now();
    let body = json!({"Query": "MaxFulfillmentStatusId=1000", "MassAction": "Allocate"});
    let reply = call(port, &token, "POST", "/order/api/order/order/massAction", &body);
    let id = reply["data"]["JobScheduleId"].as_str().unwrap().to_owned();
    let before_kill = loop {
        let now = job(port, &token, &id);
        assert_eq!(now["Status"], "InProgress", "the job ended before the kill: {now}");
        if processed(&now) >= PROCESSED_BEFORE_KILL {
            break now;
        }
        assert!(started.elapsed() < Duration::from_secs(300), "the job made no progress: {now}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap().success());
    child.wait().unwrap();
    let killed_at = started.elapsed();

    let port = free_port();
    let mut child = start_with_env(&data, port, &["serve", "--no-demo"], ENV);
    let restarted = Instant::now();
    let done = loop {
        let now = job(port, &token, &id);
        if now["Status"] != "InProgress" {
            break now;
        }
        assert!(restarted.elapsed() < Duration::from_secs(600), "the job did not complete after the restart: {now}");
        std::thread::sleep(Duration::from_millis(250));
    };
    assert_eq!(done["Status"], "completed", "{done}");
    assert_eq!(done["TotalMsgCount"], ORDERS, "{done}");
    assert_eq!(processed(&done), ORDERS as i64, "{done}");
    child.kill().ok();
    child.wait().ok();

    let outcomes = check_store(&data, &id);
    let success = outcomes.get(&OrderOutcome::Allocated).copied().unwrap_or(0);
    assert_eq!(done["SuccessMsgCount"], success, "{done} vs results {outcomes:?}");
    assert_eq!(done["FailureMsgCount"], ORDERS as i64 - success, "{done} vs results {outcomes:?}");
    println!(
        "killed after {killed_at:.1?} with {} of {ORDERS} orders processed; the restarted server completed the job in {:.1?}: {} allocated, {} not fully ({outcomes:?})",
        processed(&before_kill),
        restarted.elapsed(),
        done["SuccessMsgCount"],
        done["FailureMsgCount"]
    );
    std::fs::remove_dir_all(data).ok();
}
