//! `spawn_app` for integration tests: every test gets its own isolated state, on the
//! embedded store (in memory) or on DynamoDB + SQS (a fresh table and queues in the emulator).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use oms_core::deps::Deps;
use oms_core::domain::ids::{TenantId, UserId};
use oms_core::http::auth::{AuthMode, LocalJwt};
use oms_core::http::{AppState, router};
use oms_core::ports::{
    Condition, Item, ItemStore, Key, MessageQueue, Page, Query, QueueName, StoreError, Update, WriteOp,
};
use oms_core::queue::sqs::{SqsQueue, create_queue_with_dlq};
use oms_core::sqlite::SqliteDb;
use oms_core::store::dynamodb::{DynamoStore, create_table};
use serde_json::Value;
use tower::ServiceExt;

pub const SECRET: &str = "integration-test-secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    Dynamo,
}

/// The emulator endpoint, or `None` (the caller skips) unless the emulator is required.
pub fn emulator_endpoint() -> Option<String> {
    match std::env::var("OMS_TEST_DYNAMODB_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => Some(endpoint),
        _ if std::env::var("OMS_REQUIRE_EMULATOR").as_deref() == Ok("1") => {
            panic!("OMS_REQUIRE_EMULATOR=1 but OMS_TEST_DYNAMODB_ENDPOINT is not set: run scripts/test.sh")
        }
        _ => {
            eprintln!("skipped: OMS_TEST_DYNAMODB_ENDPOINT not set");
            None
        }
    }
}

/// Fresh ports on `backend`; `None` when the DynamoDB emulator is not configured.
pub async fn fresh_ports(backend: Backend) -> Option<(Arc<dyn ItemStore>, Arc<dyn MessageQueue>)> {
    match backend {
        Backend::Embedded => {
            let deps = Deps::embedded(SqliteDb::in_memory().expect("in-memory sqlite")).expect("embedded deps");
            Some((deps.store, deps.queue))
        }
        Backend::Dynamo => {
            let endpoint = emulator_endpoint()?;
            let sqs_endpoint = std::env::var("OMS_TEST_SQS_ENDPOINT").unwrap_or_else(|_| endpoint.clone());
            let suffix = ulid::Ulid::new().to_string().to_lowercase();
            let dynamo = oms_core::store::dynamodb::client_for_endpoint(&endpoint);
            let table = format!("oms-test-{suffix}");
            create_table(&dynamo, &table).await.expect("create table in the emulator");
            let sqs = oms_core::queue::sqs::client_for_endpoint(&sqs_endpoint);
            let mut urls = HashMap::new();
            for name in QueueName::ALL {
                let url = create_queue_with_dlq(&sqs, &format!("oms-{}-{suffix}", name.as_str()))
                    .await
                    .expect("create queue in the emulator");
                urls.insert(name, url);
            }
            let queue = SqsQueue::new(sqs, urls);
            Some((Arc::new(DynamoStore::new(dynamo, table)), Arc::new(queue)))
        }
    }
}

pub struct TestApp {
    pub deps: Deps,
    pub router: Router,
    pub jwt: LocalJwt,
    pub backend: Backend,
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    let (store, queue) = fresh_ports(backend).await?;
    Some(app_on(Deps::with(store, queue, None), backend))
}

pub fn app_on(deps: Deps, backend: Backend) -> TestApp {
    let jwt = LocalJwt::new(SECRET);
    let state = Arc::new(AppState { deps: deps.clone(), auth: AuthMode::Local(jwt.clone()) });
    TestApp { deps, router: router(state, None), jwt, backend }
}

/// A clock the test moves: time only passes when the test says so.
pub struct TestClock(std::sync::Mutex<chrono::DateTime<chrono::Utc>>);

impl TestClock {
    pub fn new() -> Arc<Self> {
        Arc::new(Self(std::sync::Mutex::new(chrono::Utc::now())))
    }
    pub fn advance(&self, by: chrono::TimeDelta) {
        *self.0.lock().unwrap() += by;
    }
}

impl oms_core::ports::Clock for TestClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().unwrap()
    }
}

/// The same app (same store and queue) on a clock the test moves.
pub fn with_clock(app: TestApp) -> (TestApp, Arc<TestClock>) {
    let clock = TestClock::new();
    let mut deps = app.deps;
    deps.clock = clock.clone();
    (app_on(deps, app.backend), clock)
}

pub const ALL_PERMISSIONS: &[&str] = &[
    "api::order::read",
    "api::order::write",
    "api::inventory::read",
    "api::inventory::write",
    "api::allocation::read",
    "api::allocation::write",
    "api::allocation::admin",
    "api::order::transaction::admin",
    "api::order::config::admin",
    "api::order::config::read",
    "api::scheduler::read",
    "api::scheduler::admin",
];

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The `data` of a Manhattan envelope.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }
    pub fn message(&self) -> &str {
        self.body["message"].as_str().unwrap_or_default()
    }
    pub fn error_field(&self) -> Option<&str> {
        self.body["errors"][0]["field"].as_str()
    }
}

impl TestApp {
    /// A token valid at the app's clock (which a test may have moved).
    pub fn token(&self, tenant: &str, permissions: &[&str]) -> String {
        let now = self.deps.clock.now().timestamp();
        self.jwt
            .mint(&TenantId::parse(tenant).unwrap(), &UserId::parse("tester").unwrap(), permissions, now, 600)
            .unwrap()
    }

    pub fn demo_token(&self) -> String {
        self.token("demo", ALL_PERMISSIONS)
    }

    /// Sends a request through the router (as the local server and the Lambdas do).
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(path).header("content-type", "application/json");
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Body::from(body.unwrap_or_default().to_owned())).unwrap();
        let response = self.router.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).unwrap_or(Value::Null) };
        Reply { status, headers, body }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, Some(&self.demo_token()), &[], None).await
    }
    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, Some(&self.demo_token()), &[], Some(&body.to_string())).await
    }
    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, Some(&self.demo_token()), &[], Some(&body.to_string())).await
    }

    /// Get Order's `data`; the call must answer 200.
    pub async fn order(&self, id: &str) -> Value {
        let reply = self.get(&format!("/order/api/order/order/orderId/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.data().clone()
    }

    /// Save Order's `data`; the call must answer 200.
    pub async fn saved_order(&self, body: &Value) -> Value {
        let reply = self.post("/order/api/order/order", body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        reply.data().clone()
    }

    /// Stores an order type's configuration; the call must answer 200.
    pub async fn configure_order_type(&self, order_type: &str, config: Value) {
        let reply = self.put(&format!("/order/api/order/orderType/{order_type}"), &config).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }

    /// (onHand, reserved) of `item` at `location`, from its availability.
    pub async fn stock(&self, item: &str, location: &str) -> (i64, i64) {
        let reply = self.get(&format!("/inventory/api/availability/itemId/{item}")).await;
        let rows = reply.data()["Locations"].as_array().cloned().unwrap_or_default();
        rows.iter()
            .find(|r| r["LocationId"] == location)
            .map_or((0, 0), |r| (r["OnHand"].as_i64().unwrap(), r["Reserved"].as_i64().unwrap()))
    }

    /// A call to the fabric-style allocation API: tenant in `x-site-context`.
    pub async fn fabric(&self, method: Method, path: &str, body: Option<&Value>) -> Reply {
        let body = body.map(Value::to_string);
        let site = r#"{"account":"demo","channel":12}"#;
        self.send(method, path, Some(&self.demo_token()), &[("x-site-context", site)], body.as_deref()).await
    }

    /// Allocates every order at once (`POST /allocation/` per order, all in flight together):
    /// how many were allocated in full (200), in part (206) and gave up (409), and how long it
    /// took. Any other status fails the test.
    pub async fn allocate_concurrently(&self, order_ids: &[String]) -> (usize, usize, usize, std::time::Duration) {
        let started = std::time::Instant::now();
        let events: Vec<Value> = order_ids
            .iter()
            .map(|id| serde_json::json!({"detailType": "ORDER_CREATED", "detail": {"orderId": id}}))
            .collect();
        let calls = events.iter().map(|event| self.fabric(Method::POST, "/allocation/", Some(event)));
        let replies = futures::future::join_all(calls).await;
        let elapsed = started.elapsed();
        let count = |status: StatusCode| replies.iter().filter(|r| r.status == status).count();
        let (full, partial, conflict) =
            (count(StatusCode::OK), count(StatusCode::PARTIAL_CONTENT), count(StatusCode::CONFLICT));
        assert_eq!(
            full + partial + conflict,
            order_ids.len(),
            "unexpected statuses: {:?}",
            replies.iter().map(|r| (r.status, r.body.clone())).collect::<Vec<_>>()
        );
        (full, partial, conflict, elapsed)
    }
}

/// Runs the consumers of every queue until all are empty (at most `rounds` receives), as the
/// local server's drain does; returns the messages delivered.
pub async fn drain_queues(deps: &Deps, rounds: usize) -> usize {
    use oms_core::jobs::{batch, dispatch};
    let mut delivered = 0;
    for _ in 0..rounds {
        let mut round = 0;
        for name in QueueName::ALL.into_iter().filter(|q| !q.is_outbound()) {
            let report = batch::drain_once(deps.queue.as_ref(), name, std::time::Duration::from_secs(30), |message| {
                let deps = deps.clone();
                async move { dispatch::consume_one(&deps, name, message).await }
            })
            .await
            .expect("drain the queue");
            assert_eq!(report.failed, 0, "messages of {} failed", name.as_str());
            round += report.delivered;
        }
        if round == 0 {
            return delivered;
        }
        delivered += round;
    }
    delivered
}

/// Every message on an outbound queue (release, order-events, notifications), taken off it, as
/// JSON, oldest first.
pub async fn outbound(deps: &Deps, queue: QueueName) -> Vec<Value> {
    let mut all = Vec::new();
    loop {
        let batch = deps.queue.receive(queue, 10, std::time::Duration::from_secs(300)).await.expect("receive");
        if batch.is_empty() {
            return all;
        }
        let handles: Vec<String> = batch.iter().map(|m| m.receipt_handle.clone()).collect();
        deps.queue.ack(queue, &handles).await.expect("ack");
        all.extend(batch.into_iter().map(|m| serde_json::from_str::<Value>(&m.body).expect("a JSON body")));
    }
}

/// Releases the order (it must be confirmed and not held), as the pipeline does after
/// allocation: what a warehouse needs before it ships.
pub async fn release(app: &TestApp, order_id: &str) -> Reply {
    let reply = app.post("/order/api/order/order/release", &serde_json::json!({"OrderId": order_id})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply
}

/// The order of the seed's Save Order example.
pub fn sample_order(id: &str) -> Value {
    serde_json::json!({"OrderId": id, "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true, "OrderLine": [{"OrderLineId": "1", "ItemId": "SKU-1", "Quantity": 2, "UnitPrice": 19.99, "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"}, "ShipToAddress": {"Address": {"Address1": "1 Main St", "City": "Atlanta", "State": "GA", "PostalCode": "30303", "Country": "US", "Latitude": 33.749, "Longitude": -84.388}}}]})
}

pub fn location(name: &str, kind: &str, lat: f64, lon: f64) -> Value {
    serde_json::json!({"Name": name, "Type": kind, "Latitude": lat, "Longitude": lon, "Priority": 10, "CanShip": true, "Active": true})
}

/// Runs `$body` (an async block using `app: TestApp`) once per backend, as `embedded` and `dynamodb` tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident => |$app:ident| $body:block)*) => {
        mod embedded {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let $app = common::spawn_app(common::Backend::Embedded).await.unwrap();
                    $body
                }
            )*
        }
        mod dynamodb {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some($app) = common::spawn_app(common::Backend::Dynamo).await else { return };
                    $body
                }
            )*
        }
    };
}

/// A store that passes every call to `inner()` except those a test overrides: the wrappers
/// that inject failures, lag or rivals implement only what they change (see [`Intercepted`]).
#[async_trait::async_trait]
pub trait Intercept: Send + Sync {
    fn inner(&self) -> &dyn ItemStore;
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.inner().get(key).await
    }
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        self.inner().batch_get(keys).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.inner().put(item, condition).await
    }
    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError> {
        self.inner().update(key, update, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        self.inner().delete(key, condition).await
    }
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        self.inner().transact(writes).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.inner().query(query).await
    }
}

/// The item store of an [`Intercept`]; derefs to it, so a test keeps its switches at hand.
pub struct Intercepted<T>(pub T);

impl<T> std::ops::Deref for Intercepted<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

#[async_trait::async_trait]
impl<T: Intercept> ItemStore for Intercepted<T> {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        Intercept::get(&self.0, key).await
    }
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        Intercept::batch_get(&self.0, keys).await
    }
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        Intercept::put(&self.0, item, condition).await
    }
    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError> {
        Intercept::update(&self.0, key, update, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        Intercept::delete(&self.0, key, condition).await
    }
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        Intercept::transact(&self.0, writes).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        Intercept::query(&self.0, query).await
    }
}

/// What a test's logs wrote, kept in memory.
#[derive(Clone, Default)]
pub struct CapturedLogs(pub Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for CapturedLogs {
    type Writer = CapturedLogs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Runs `work` with the Lambda (JSON) log format going to memory; returns the lines it wrote.
/// The capture is the calling thread's: use it from a current-thread test.
pub async fn capture_logs<F: std::future::Future>(work: F) -> (Vec<Value>, F::Output) {
    let captured = CapturedLogs::default();
    let subscriber = oms_core::telemetry::subscriber(oms_core::config::LogFormat::Json, captured.clone());
    let guard = tracing::subscriber::set_default(subscriber);
    let output = work.await;
    drop(guard);
    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    (lines, output)
}
