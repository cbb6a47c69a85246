//! The allocation endpoint and Get Order over HTTP on the local server's router and embedded
//! store (a file in WAL mode, `synchronous=FULL`, as `cargo run -p local` uses), with 32
//! concurrent keep-alive clients, beside the no-op `/health` route measured in the same run.
//!
//! `cargo bench -p local --bench allocate_http` (ORDERS=n to change the order count).

use std::sync::Arc;
use std::time::Instant;

use oms_core::deps::{DB_FILE, Deps};
use oms_core::domain::ids::{TenantId, UserId};
use oms_core::http::auth::{AuthMode, LocalJwt};
use oms_core::http::{AppState, health, router};
use serde_json::json;
use support::{CLIENTS, Client, measure, print};

mod support;

/// The local server's allocator, as in `oms-local`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let orders: usize = std::env::var("ORDERS").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
    let dir = std::env::temp_dir().join(format!("oms-bench-{}", std::process::id()));
    let db = oms_core::sqlite::SqliteDb::open(&dir.join(DB_FILE)).unwrap();
    let deps = Deps::embedded(db.clone()).unwrap();
    let jwt = LocalJwt::new("benchmark-secret-0123456789");
    let permissions = [
        "api::order::write",
        "api::order::read",
        "api::inventory::write",
        "api::allocation::write",
        "api::allocation::read",
    ];
    let token = jwt
        .mint(
            &TenantId::parse("bench").unwrap(),
            &UserId::parse("bench").unwrap(),
            &permissions,
            chrono::Utc::now().timestamp(),
            3600,
        )
        .unwrap();
    let state = Arc::new(AppState { deps, auth: AuthMode::Local(jwt) });
    let app = router(state, None).route("/health", axum::routing::get(health));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    // 20 DCs across the US with ample stock of 50 items, so every order allocates in full.
    let setup_started = Instant::now();
    let mut setup = Client::connect(port, &token).await;
    for d in 0..20 {
        let body = json!({"Name": format!("DC {d}"), "Type": "DC", "Latitude": 30.0 + (d % 5) as f64 * 3.0, "Longitude": -120.0 + (d / 5) as f64 * 10.0, "Priority": d});
        assert_eq!(setup.call("PUT", &format!("/inventory/api/location/DC-{d:02}"), &body.to_string()).await, 200);
    }
    for item in 0..50 {
        let rows: Vec<_> = (0..20)
            .map(
                |d| json!({"LocationId": format!("DC-{d:02}"), "ItemId": format!("SKU-{item}"), "Quantity": 1_000_000}),
            )
            .collect();
        assert_eq!(
            setup.call("POST", "/inventory/api/supply", &json!({"Mode": "Sync", "Supply": rows}).to_string()).await,
            200
        );
    }
    let saves = measure(port, &token, orders, |mut client, work| async move {
        let mut latencies = Vec::with_capacity(work.len());
        for o in work {
            let lines: Vec<_> = (0..(1 + o % 3))
                .map(|l| json!({"OrderLineId": format!("{l}"), "ItemId": format!("SKU-{}", (o * 7 + l * 13) % 50), "Quantity": 1 + l, "UnitPrice": 9.5,
                    "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
                    "ShipToAddress": {"Address": {"Address1": "1 Main St", "City": "X", "Country": "US", "Latitude": 30.0 + (o % 15) as f64, "Longitude": -120.0 + (o % 40) as f64}}}))
                .collect();
            let order = json!({"OrderId": format!("B-{o}"), "OrderType": {"OrderTypeId": "Web"}, "OrderLine": lines});
            let started = Instant::now();
            assert_eq!(client.call("POST", "/order/api/order/order", &order.to_string()).await, 200);
            latencies.push(started.elapsed());
        }
        latencies
    })
    .await;
    println!("setup: 20 locations, 50 items x 20 stock rows, {orders} orders saved in {:.2?}", setup_started.elapsed());

    let noop = measure(port, &token, orders * 5, |mut client, work| async move {
        let mut latencies = Vec::with_capacity(work.len());
        for _ in work {
            let started = Instant::now();
            assert_eq!(client.call("GET", "/health", "").await, 200);
            latencies.push(started.elapsed());
        }
        latencies
    })
    .await;
    let reads = measure(port, &token, orders * 3, move |mut client, work| async move {
        let mut latencies = Vec::with_capacity(work.len());
        for n in work {
            let path = format!("/order/api/order/order/orderId/B-{}", n % orders);
            let started = Instant::now();
            assert_eq!(client.call("GET", &path, "").await, 200);
            latencies.push(started.elapsed());
        }
        latencies
    })
    .await;
    let before_allocation = db.writer_stats();
    let allocate = measure(port, &token, orders, |mut client, work| async move {
        let mut latencies = Vec::with_capacity(work.len());
        for o in work {
            let body = format!("{{\"detailType\":\"ORDER_CREATED\",\"detail\":{{\"orderId\":\"B-{o}\"}}}}");
            let started = Instant::now();
            let status = client.call("POST", "/allocation/", &body).await;
            assert_eq!(status, 200, "order B-{o}");
            latencies.push(started.elapsed());
        }
        latencies
    })
    .await;
    let writer = db.writer_stats();
    let (writes, groups) = (writer.writes - before_allocation.writes, writer.groups - before_allocation.groups);
    println!("{CLIENTS} concurrent keep-alive clients, embedded store (SQLite WAL, synchronous=FULL, group commit)");
    print("GET /health (no-op)", &noop);
    print("POST /order/api/order/order", &saves);
    print("GET .../orderId/{id}", &reads);
    print("POST /allocation/ (orders)", &allocate);
    for (name, figures) in [("order save", &saves), ("get order", &reads), ("allocation", &allocate)] {
        println!(
            "ratio {name}/no-op: p50 {:.1}x, p99 {:.1}x, throughput {:.3}x",
            figures.p50.as_secs_f64() / noop.p50.as_secs_f64(),
            figures.p99.as_secs_f64() / noop.p99.as_secs_f64(),
            figures.per_second() / noop.per_second()
        );
    }
    println!(
        "allocation: {writes} store writes in {groups} group commits ({:.1} writes per fsync)",
        writes as f64 / groups.max(1) as f64
    );
    println!(
        "goals: allocation {:.0}/s of 3,000/s ({:.2}x), p99 {:.1} ms of 25 ms; get order {:.0}/s of 30,000/s ({:.2}x), p99 {:.1} ms of 5 ms",
        allocate.per_second(),
        allocate.per_second() / 3000.0,
        allocate.p99.as_secs_f64() * 1e3,
        reads.per_second(),
        reads.per_second() / 30_000.0,
        reads.p99.as_secs_f64() * 1e3,
    );
    std::fs::remove_dir_all(dir).ok();
}
