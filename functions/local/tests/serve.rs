//! The local server as a user runs it: demo data served, Ctrl-C stops it cleanly, and a
//! restart keeps what was written.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use support::{free_port, mint, request, start, temp_dir};

fn interrupt(mut child: Child) -> String {
    let pid = child.id().to_string();
    assert!(Command::new("kill").args(["-INT", &pid]).status().unwrap().success());
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "the server exited with {status}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "the server did not stop within 20 s of Ctrl-C");
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut logs = String::new();
    child.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
    child.stdout.take().unwrap().read_to_string(&mut logs).unwrap();
    logs
}

/// Change-tracker records of the demo tenant, read from the server's database file.
fn tracker_records(data: &Path) -> usize {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let db = oms_core::sqlite::SqliteDb::open(&data.join(oms_core::deps::DB_FILE)).unwrap();
        let deps = oms_core::deps::Deps::embedded(db).unwrap();
        let tenant = oms_core::domain::ids::TenantId::parse("demo").unwrap();
        oms_core::service::change_tracker::list(&deps, &tenant, chrono::Utc::now(), 100).await.unwrap().len()
    })
}

#[test]
fn when_started_should_serve_demo_data_and_refuse_calls_without_a_token() {
    let data = temp_dir();
    let port = free_port();
    let server = start(&data, port);
    let token = mint(&data);
    let (status, body) = request(port, "GET", "/inventory/api/availability/itemId/SKU-1", Some(&token), None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("DC-ATL"), "{body}");
    let (status, body) = request(port, "GET", "/order/api/order/order/orderId/O-1001", Some(&token), None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(request(port, "GET", "/order/api/order/order/orderId/O-1001", None, None).unwrap().0, 401);
    interrupt(server);
    std::fs::remove_dir_all(data).ok();
}

#[test]
fn when_restarted_after_ctrl_c_should_keep_the_data_and_drain_the_change_tracker() {
    let data = temp_dir();
    let port = free_port();
    let server = start(&data, port);
    let token = mint(&data);
    let location = r#"{"Name":"Kept DC","Type":"DC","Latitude":45.0,"Longitude":-93.0}"#;
    let (status, body) = request(port, "PUT", "/inventory/api/location/DC-KEPT", Some(&token), Some(location)).unwrap();
    assert_eq!(status, 200, "{body}");
    // The three demo orders' change-tracker messages go through the embedded queue to the consumer.
    let started = Instant::now();
    while tracker_records(&data) < 3 {
        assert!(started.elapsed() < Duration::from_secs(20), "the change tracker was not drained");
        std::thread::sleep(Duration::from_millis(100));
    }
    let logs = interrupt(server);
    assert!(logs.contains("stopped cleanly"), "{logs}");

    let port = free_port();
    let server = start(&data, port);
    let (status, body) = request(port, "GET", "/inventory/api/location/DC-KEPT", Some(&token), None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Kept DC"));
    interrupt(server);
    std::fs::remove_dir_all(data).ok();
}

#[test]
fn when_an_order_is_published_the_outbound_queue_should_show_it_to_its_tenant_only() {
    let data = temp_dir();
    let port = free_port();
    let server = start(&data, port);
    let token = mint(&data);
    let order = r#"{"OrderId": "Q-1", "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true, "OrderLine": [{"OrderLineId": "1", "ItemId": "SKU-1", "Quantity": 1, "UnitPrice": 5, "DeliveryMethod": {"DeliveryMethodId": "Email"}}]}"#;
    let (status, body) = request(port, "POST", "/order/api/order/order", Some(&token), Some(order)).unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = request(port, "GET", "/local/queues/order-events?limit=5", Some(&token), None).unwrap();
    assert_eq!(status, 200, "{body}");
    let read: serde_json::Value = serde_json::from_str(&body).unwrap();
    let last = &read["Messages"].as_array().unwrap().last().unwrap()["Body"];
    assert_eq!((last["OrderId"].as_str(), last["MessageType"].as_str()), (Some("Q-1"), Some("Order")), "{body}");
    let again = request(port, "GET", "/local/queues/order-events", Some(&token), None).unwrap().1;
    assert!(again.contains("Q-1"), "reading leaves the messages in the queue: {again}");
    let other = Command::new(support::BIN)
        .args(["mint-token", "--tenant", "acme"])
        .env("OMS_DATA_DIR", &data)
        .env_remove("OMS_JWT_SECRET")
        .output()
        .unwrap();
    let acme = String::from_utf8(other.stdout).unwrap().trim().to_string();
    let (status, body) = request(port, "GET", "/local/queues/order-events", Some(&acme), None).unwrap();
    assert_eq!((status, body.contains("Q-1")), (200, false), "{body}");
    assert_eq!(request(port, "GET", "/local/queues/change-tracker", Some(&token), None).unwrap().0, 404);
    assert_eq!(request(port, "GET", "/local/queues/order-events", None, None).unwrap().0, 401);
    interrupt(server);
    std::fs::remove_dir_all(data).ok();
}

#[test]
fn when_started_should_serve_the_openapi_document_and_its_page_without_a_token() {
    let data = temp_dir();
    let port = free_port();
    let server = start(&data, port);
    let (status, body) = request(port, "GET", "/openapi.json", None, None).unwrap();
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    assert!(doc["paths"]["/order/api/order/order"]["post"].is_object());
    let (status, body) = request(port, "GET", "/docs/", None, None).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("swagger-ui"), "{body}");
    interrupt(server);
    std::fs::remove_dir_all(data).ok();
}
