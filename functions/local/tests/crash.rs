//! Durability of the group commit: the local server killed with SIGKILL under 32 concurrent
//! allocation clients keeps every allocation it acknowledged, holds nothing half-written, and
//! its stock reservations equal its allocations after a restart.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{free_port, mint, request_with, start_with, temp_dir};

const CLIENTS: usize = 32;
const ORDERS: usize = 480;
const ITEMS: usize = 12;
/// Acknowledged allocations to wait for before the kill: the rest are in flight or not sent.
const ACKS_BEFORE_KILL: usize = 60;
const SITE: &str = "x-site-context: {\"account\":\"demo\"}\r\n";

struct Server {
    port: u16,
    token: String,
}

impl Server {
    fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Option<(u16, Value)> {
        let body = body.map(Value::to_string);
        let (status, text) = request_with(self.port, method, path, Some(&self.token), SITE, body.as_deref())?;
        Some((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    fn ok(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let (status, body) = self.call(method, path, body).expect("the server answers");
        assert!(status == 200 || status == 201, "{method} {path}: {status} {body}");
        body
    }
}

fn order(n: usize) -> Value {
    let lines: Vec<Value> = (0..1 + n % 3)
        .map(|l| {
            json!({"OrderLineId": format!("{l}"), "ItemId": format!("SKU-{}", (n * 7 + l * 5) % ITEMS),
                "Quantity": 1 + l, "UnitPrice": 4.5, "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
                "ShipToAddress": {"Address": {"Address1": "1 Main St", "City": "X", "Country": "US",
                    "Latitude": 30.0 + (n % 15) as f64, "Longitude": -120.0 + (n % 40) as f64}}})
        })
        .collect();
    json!({"OrderId": format!("K-{n}"), "OrderType": {"OrderTypeId": "Web"}, "OrderLine": lines})
}

fn ordered_units(n: usize) -> i64 {
    (0..1 + n % 3).map(|l| 1 + l as i64).sum()
}

/// Runs `work(n)` for n in 0..total on `threads` threads.
fn in_parallel(threads: usize, total: usize, work: impl Fn(usize) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= total {
                        break;
                    }
                    work(n);
                }
            });
        }
    });
}

fn set_up(server: &Server) {
    for d in 0..5 {
        let body = json!({"Name": format!("DC {d}"), "Type": "DC", "Latitude": 30.0 + d as f64 * 3.0,
            "Longitude": -120.0 + d as f64 * 10.0});
        server.ok("PUT", &format!("/inventory/api/location/DC-{d}"), Some(&body));
    }
    let rows: Vec<Value> = (0..ITEMS)
        .flat_map(|i| {
            (0..5).map(
                move |d| json!({"LocationId": format!("DC-{d}"), "ItemId": format!("SKU-{i}"), "Quantity": 100_000}),
            )
        })
        .collect();
    server.ok("POST", "/inventory/api/supply", Some(&json!({"Mode": "Sync", "Supply": rows})));
    in_parallel(8, ORDERS, |n| {
        server.ok("POST", "/order/api/order/order", Some(&order(n)));
    });
}

/// Units of the order's lines that the order itself shows as allocated (status 2000).
fn allocated_on_order(server: &Server, n: usize) -> i64 {
    let body = server.ok("GET", &format!("/order/api/order/order/orderId/K-{n}"), None);
    let lines = body["data"]["OrderLine"].as_array().expect("order lines").clone();
    lines
        .iter()
        .flat_map(|line| line["QuantityDetail"].as_array().cloned().unwrap_or_default())
        .filter(|detail| detail["StatusId"] == "2000")
        .map(|detail| detail["Quantity"].as_i64().unwrap())
        .sum()
}

/// Units the allocation documents of the order hold.
fn allocated_in_documents(server: &Server, n: usize) -> i64 {
    let body = server.ok("GET", &format!("/allocation/explain/K-{n}"), None);
    body["lines"].as_array().expect("explained lines").iter().map(|line| line["allocated"].as_i64().unwrap()).sum()
}

#[test]
fn when_killed_under_allocation_load_should_keep_every_acknowledged_allocation_and_no_drift() {
    let data = temp_dir();
    let port = free_port();
    let mut child = start_with(&data, port, &["serve", "--no-demo"]);
    let server = Server { port, token: mint(&data) };
    set_up(&server);

    // 32 clients allocate every order; the server is killed once enough were acknowledged.
    let acknowledged: Mutex<BTreeMap<usize, Vec<String>>> = Mutex::new(BTreeMap::new());
    let killed = AtomicBool::new(false);
    let next = AtomicUsize::new(0);
    let pid = child.id().to_string();
    std::thread::scope(|scope| {
        for _ in 0..CLIENTS {
            scope.spawn(|| {
                while !killed.load(Ordering::Acquire) {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= ORDERS {
                        break;
                    }
                    let event = json!({"detailType": "ORDER_CREATED", "detail": {"orderId": format!("K-{n}")}});
                    let Some((status, body)) = server.call("POST", "/allocation/", Some(&event)) else { break };
                    assert_eq!(status, 200, "K-{n}: {body}");
                    let ids = body.as_array().unwrap().iter().map(|d| d["allocationId"].as_str().unwrap().to_owned());
                    acknowledged.lock().unwrap().insert(n, ids.collect());
                }
            });
        }
        let started = Instant::now();
        while acknowledged.lock().unwrap().len() < ACKS_BEFORE_KILL {
            assert!(started.elapsed() < Duration::from_secs(120), "allocations were not acknowledged");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(Command::new("kill").args(["-KILL", &pid]).status().unwrap().success());
        killed.store(true, Ordering::Release);
    });
    child.wait().unwrap();
    let acknowledged = acknowledged.into_inner().unwrap();
    assert!(acknowledged.len() < ORDERS, "the kill came after every allocation: nothing was in flight");

    let port = free_port();
    let mut child = start_with(&data, port, &["serve", "--no-demo"]);
    let server = Server { port, token: server.token };
    let mut allocated_orders = BTreeSet::new();
    for n in 0..ORDERS {
        let on_order = allocated_on_order(&server, n);
        let in_documents = allocated_in_documents(&server, n);
        assert_eq!(on_order, in_documents, "K-{n}: the order and its allocation documents disagree");
        assert!(on_order == 0 || on_order == ordered_units(n), "K-{n} is half allocated: {on_order} units");
        if on_order > 0 {
            allocated_orders.insert(n);
        }
        if let Some(ids) = acknowledged.get(&n) {
            assert_eq!(on_order, ordered_units(n), "K-{n} was acknowledged but is not allocated after the restart");
            for id in ids {
                server.ok("GET", &format!("/allocation/{id}"), None);
            }
        }
    }
    let report = server.ok("POST", "/allocation/reconcile", Some(&json!({"repair": false})));
    assert_eq!(report["drift"], json!([]), "{report}");
    assert!(report["liveAllocations"].as_u64().unwrap() as usize >= allocated_orders.len(), "{report}");
    println!(
        "{} acknowledged before the kill, {} allocated after the restart (acknowledged or committed in flight)",
        acknowledged.len(),
        allocated_orders.len()
    );
    child.kill().ok();
    child.wait().ok();
    std::fs::remove_dir_all(data).ok();
}
