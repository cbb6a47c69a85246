//! The local server as a user runs it: demo data served, Ctrl-C stops it cleanly, and a
//! restart keeps what was written.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_oms-local");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start(data: &Path, port: u16) -> Child {
    let child = Command::new(BIN)
        .env("OMS_DATA_DIR", data)
        .env("OMS_ADDR", format!("127.0.0.1:{port}"))
        .env_remove("TABLE_NAME")
        .env_remove("OMS_JWT_SECRET")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while request(port, "GET", "/health", None, None).is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "the local server did not answer in 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    child
}

/// A minimal HTTP/1.1 client: (status, body).
fn request(port: u16, method: &str, path: &str, token: Option<&str>, body: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let body = body.unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(body.as_bytes()).ok()?;
    let mut raw = String::new();
    stream.read_to_string(&mut raw).ok()?;
    let status = raw.split_whitespace().nth(1)?.parse().ok()?;
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

fn mint(data: &Path) -> String {
    let out =
        Command::new(BIN).arg("mint-token").env("OMS_DATA_DIR", data).env_remove("OMS_JWT_SECRET").output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

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

fn temp_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("oms-local-test-{}-{}", std::process::id(), free_port()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
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
