//! `Idempotency-Key`: one effect per key whatever happens between the claim, the commit and
//! the recorded response. Both backends.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::http::{Method, StatusCode};
use common::{TestApp, sample_order};
use oms_core::deps::Deps;
use oms_core::ports::{Condition, Item, ItemStore, Key, StoreError, Update, WriteOp};
use serde_json::{Value, json};

const SAVE: &str = "/order/api/order/order";
const ADDRESS2: usize = 256;
const FIRST_NAME: usize = 48;

async fn save_with_key(app: &TestApp, key: &str, body: &Value) -> common::Reply {
    let token = app.demo_token();
    app.send(Method::POST, SAVE, Some(&token), &[("idempotency-key", key)], Some(&body.to_string())).await
}

async fn order_version(app: &TestApp, id: &str) -> Value {
    app.get(&format!("/order/api/order/order/orderId/{id}")).await.data()["Version"].clone()
}

fn replayed(reply: &common::Reply) -> bool {
    reply.headers.get("idempotent-replayed").is_some()
}

/// Passes everything through but what a test switches off: recording responses (`done`),
/// releasing claims, or committing orders.
#[derive(Default)]
struct Switches {
    fail_recording: AtomicBool,
    fail_release: AtomicBool,
    fail_order_commits: AtomicBool,
}

struct Switched {
    inner: Arc<dyn ItemStore>,
    switches: Arc<Switches>,
}

fn unavailable() -> StoreError {
    StoreError::Unavailable("switched off by the test".into())
}

#[async_trait::async_trait]
impl common::Intercept for Switched {
    fn inner(&self) -> &dyn ItemStore {
        self.inner.as_ref()
    }

    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError> {
        let records_done = key.pk.contains("#IDEM#") && update.set.iter().any(|(a, v)| a == "state" && v == "done");
        if records_done && self.switches.fail_recording.load(Ordering::SeqCst) {
            return Err(unavailable());
        }
        self.inner.update(key, update, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        if key.pk.contains("#IDEM#") && self.switches.fail_release.load(Ordering::SeqCst) {
            return Err(unavailable());
        }
        self.inner.delete(key, condition).await
    }
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        let writes_order = writes.iter().any(|w| w.key().is_some_and(|k| k.sk == "ORDER"));
        if writes_order && self.switches.fail_order_commits.load(Ordering::SeqCst) {
            return Err(unavailable());
        }
        self.inner.transact(writes).await
    }
}

/// The app on a switchable store and a clock the test moves.
fn switchable(app: TestApp) -> (TestApp, Arc<Switches>, Arc<common::TestClock>) {
    let (app, clock) = common::with_clock(app);
    let switches = Arc::new(Switches::default());
    let store = Arc::new(common::Intercepted(Switched { inner: app.deps.store.clone(), switches: switches.clone() }));
    let app = common::app_on(Deps { store, ..app.deps.clone() }, app.backend);
    (app, switches, clock)
}

on_both_backends! {
    when_requests_with_one_key_run_at_once_should_have_exactly_one_effect => |app| {
        let body = sample_order("O-IDEM");
        let replies = futures::future::join_all((0..6).map(|_| save_with_key(&app, "same-key", &body))).await;
        let ran = replies.iter().filter(|r| r.status == StatusCode::OK && !replayed(r)).count();
        assert_eq!(ran, 1, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
        for reply in &replies {
            assert!(matches!(reply.status, StatusCode::OK | StatusCode::CONFLICT), "{}", reply.body);
        }
        assert_eq!(order_version(&app, "O-IDEM").await, 1);
        let again = save_with_key(&app, "same-key", &body).await;
        assert_eq!((again.status, replayed(&again)), (StatusCode::OK, true));
        assert_eq!(order_version(&app, "O-IDEM").await, 1);
    }

    when_a_conflict_was_answered_should_run_the_retry_instead_of_replaying_it => |app| {
        let token = app.demo_token();
        let site = r#"{"account":"demo"}"#;
        let stale = json!({"strategy": "priority", "version": 1}).to_string();
        let headers = [("x-site-context", site), ("idempotency-key", "settings-1")];
        let first = app.send(Method::PUT, "/allocation/settings", Some(&token), &headers, Some(&stale)).await;
        assert_eq!(first.status, StatusCode::CONFLICT, "{}", first.body);
        // Meanwhile the settings reach version 1; the same request may now succeed.
        let other = app.fabric(Method::PUT, "/allocation/settings", Some(&json!({"strategy": "nearest"}))).await;
        assert_eq!(other.status, StatusCode::OK);
        let retry = app.send(Method::PUT, "/allocation/settings", Some(&token), &headers, Some(&stale)).await;
        assert_eq!((retry.status, replayed(&retry)), (StatusCode::OK, false), "{}", retry.body);
        assert_eq!(retry.body["strategy"], "priority");
    }

    when_the_response_could_not_be_recorded_should_never_run_the_request_again => |app| {
        let (app, switches, clock) = switchable(app);
        switches.fail_recording.store(true, Ordering::SeqCst);
        let body = sample_order("O-LOST");
        let first = save_with_key(&app, "lost-response", &body).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        switches.fail_recording.store(false, Ordering::SeqCst);
        clock.advance(chrono::TimeDelta::seconds(120));
        let retry = save_with_key(&app, "lost-response", &body).await;
        assert_eq!(retry.status, StatusCode::CONFLICT, "{}", retry.body);
        assert!(retry.message().contains("applied"), "{}", retry.message());
        assert_eq!(order_version(&app, "O-LOST").await, 1, "the order was saved once");
    }

    when_an_attempt_died_before_committing_should_let_a_later_retry_take_over_and_run_once => |app| {
        let (app, switches, clock) = switchable(app);
        switches.fail_order_commits.store(true, Ordering::SeqCst);
        switches.fail_release.store(true, Ordering::SeqCst);
        let body = sample_order("O-DIED");
        let died = save_with_key(&app, "died", &body).await;
        assert_eq!(died.status, StatusCode::SERVICE_UNAVAILABLE, "{}", died.body);
        switches.fail_order_commits.store(false, Ordering::SeqCst);
        switches.fail_release.store(false, Ordering::SeqCst);
        let locked = save_with_key(&app, "died", &body).await;
        assert_eq!(locked.status, StatusCode::CONFLICT, "the claim is still locked: {}", locked.body);
        clock.advance(chrono::TimeDelta::seconds(120));
        let retry = save_with_key(&app, "died", &body).await;
        assert_eq!((retry.status, replayed(&retry)), (StatusCode::OK, false), "{}", retry.body);
        assert_eq!(order_version(&app, "O-DIED").await, 1);
        let replay = save_with_key(&app, "died", &body).await;
        assert_eq!((replay.status, replayed(&replay)), (StatusCode::OK, true));
    }

    when_the_response_is_larger_than_one_item_should_record_it_in_parts_and_replay_it_whole => |app| {
        // Stored, the order stays under the item limit; its response (with the computed
        // fields of every line) is larger than one DynamoDB item.
        let lines: Vec<Value> = (0..500)
            .map(|i| {
                let mut line = sample_order("x")["OrderLine"][0].clone();
                line["OrderLineId"] = json!(format!("{i}"));
                line["ShipToAddress"]["Address"]["Address2"] = json!("S".repeat(ADDRESS2));
                line["ShipToAddress"]["Address"]["FirstName"] = json!("F".repeat(FIRST_NAME));
                line
            })
            .collect();
        let mut body = sample_order("O-LARGE");
        body["OrderLine"] = json!(lines);
        let first = save_with_key(&app, "large", &body).await;
        assert_eq!(first.status, StatusCode::OK, "{}", first.body);
        assert!(first.body.to_string().len() > 400_000);
        let replay = save_with_key(&app, "large", &body).await;
        assert_eq!((replay.status, replayed(&replay)), (StatusCode::OK, true));
        assert_eq!(replay.body, first.body);
        assert_eq!(order_version(&app, "O-LARGE").await, 1);
    }
}
