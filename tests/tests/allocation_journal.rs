//! Allocation changes too large for one transaction go through a journal: documents are claimed
//! before any stock moves, every chunk applies once, and a journal left by a dead request is
//! finished by whoever meets it after its lease. Both backends.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::http::{Method, StatusCode};
use common::{TestApp, location};
use oms_core::deps::Deps;
use oms_core::ports::{ItemStore, Key, Query, StoreError, Update, WriteOp};
use serde_json::{Value, json};

const LINES: usize = 150;

/// Passes everything through; transactions from the `fail_from`-th on answer Unavailable
/// (the store went away mid-change), and the first claim may lose stock to a rival first.
struct Faulty {
    inner: Arc<dyn ItemStore>,
    transactions: AtomicUsize,
    fail_from: usize,
    /// (stock key, units) taken by a rival just before the first journal claim commits.
    rival: std::sync::Mutex<Option<(Key, i64)>>,
    rival_done: AtomicBool,
    /// Set when a stock row is seen reserving fewer than 0 units after a transaction.
    went_negative: AtomicBool,
}

impl Faulty {
    fn new(inner: Arc<dyn ItemStore>, fail_from: usize, rival: Option<(Key, i64)>) -> Self {
        Self {
            inner,
            transactions: AtomicUsize::new(0),
            fail_from,
            rival: std::sync::Mutex::new(rival),
            rival_done: AtomicBool::new(false),
            went_negative: AtomicBool::new(false),
        }
    }
}

#[async_trait::async_trait]
impl common::Intercept for Faulty {
    fn inner(&self) -> &dyn ItemStore {
        self.inner.as_ref()
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        let claims_journal = writes.iter().any(
            |w| matches!(w, WriteOp::Put { item, .. } if Key::of(item).is_some_and(|k| k.pk.contains("#JOURNAL#"))),
        );
        let rival = self.rival.lock().unwrap().clone();
        if claims_journal
            && let Some((key, units)) = rival
            && !self.rival_done.swap(true, Ordering::SeqCst)
        {
            let take = Update::new().add("onHand", -units).add("available", -units);
            self.inner.update(&key, take, None).await?;
        }
        if self.transactions.fetch_add(1, Ordering::SeqCst) + 1 >= self.fail_from {
            return Err(StoreError::Unavailable("the store went away".into()));
        }
        let stock: Vec<Key> = writes
            .iter()
            .filter_map(|w| match w {
                WriteOp::Update { key, .. } if key.pk.contains("#STOCK#") => Some(key.clone()),
                _ => None,
            })
            .collect();
        self.inner.transact(writes).await?;
        for row in self.inner.batch_get(&stock).await? {
            if row.get("reserved").and_then(Value::as_i64).unwrap_or(0) < 0 {
                self.went_negative.store(true, Ordering::SeqCst);
            }
        }
        Ok(())
    }
}

fn sku(i: usize) -> String {
    format!("SKU-{i:03}")
}

/// DC-A (near Atlanta) and DC-B (Dallas), each with 5 units of 150 items, and an order of 150
/// lines of 2 units allocated to DC-A: one allocation document of 150 items.
async fn big_allocation(app: &TestApp) -> (String, Value) {
    for (id, lat, lon) in [("DC-A", 33.6, -84.4), ("DC-B", 32.9, -97.0)] {
        let put = app.put(&format!("/inventory/api/location/{id}"), &location(id, "DC", lat, lon)).await;
        assert_eq!(put.status, StatusCode::OK);
        for part in [0..100, 100..LINES] {
            let rows: Vec<Value> = part.map(|i| json!({"LocationId": id, "ItemId": sku(i), "Quantity": 5})).collect();
            let supply = app.post("/inventory/api/supply", &json!({"Mode": "Sync", "Supply": rows})).await;
            assert_eq!(supply.status, StatusCode::OK, "{}", supply.body);
        }
    }
    let lines: Vec<Value> = (0..LINES)
        .map(|i| json!({"OrderLineId": format!("{i}"), "ItemId": sku(i), "Quantity": 2, "UnitPrice": 1,
            "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
            "ShipToAddress": {"Address": {"Address1": "1 Main St", "City": "Atlanta", "Country": "US", "Latitude": 33.7, "Longitude": -84.4}}}))
        .collect();
    let order = json!({"OrderId": "BIG-1", "OrderType": {"OrderTypeId": "Web"}, "OrderLine": lines});
    assert_eq!(app.post("/order/api/order/order", &order).await.status, StatusCode::OK);
    let event = json!({"detailType": "ORDER_CREATED", "detail": {"orderId": "BIG-1"}});
    let reply = app.fabric(Method::POST, "/allocation/", Some(&event)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let docs = reply.body.as_array().unwrap();
    assert_eq!(docs.len(), 1, "one DC serves every line");
    assert_eq!(docs[0]["items"].as_array().map(Vec::len), Some(LINES));
    (docs[0]["allocationId"].as_str().unwrap().to_owned(), docs[0].clone())
}

/// Reserved units of every item at `dc`, in item order (reads the tenant's stock row listing).
async fn reserved_at(app: &TestApp, dc: &str) -> Vec<i64> {
    let tenant = oms_core::domain::ids::TenantId::parse("demo").unwrap();
    let listings =
        oms_core::keys::stock_rows_partitions(&tenant).map(|p| Query::partition(p).on(oms_core::ports::Index::Gsi3));
    let rows = oms_core::store::read_listed(app.deps.store.as_ref(), listings).await.unwrap();
    let mut reserved: Vec<(String, i64)> = rows
        .iter()
        .filter(|r| r["LocationId"] == dc)
        .map(|r| (r["ItemId"].as_str().unwrap().to_owned(), r["reserved"].as_i64().unwrap_or(0)))
        .collect();
    reserved.sort();
    reserved.into_iter().map(|(_, units)| units).collect()
}

async fn open_units(app: &TestApp) -> Vec<Value> {
    let order = app.get("/order/api/order/order/orderId/BIG-1").await;
    order.data()["OrderLine"].as_array().unwrap().iter().map(|l| l["QuantityDetail"].clone()).collect()
}

async fn assert_no_drift(app: &TestApp) {
    let report = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({}))).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(report.body["drift"], json!([]), "{}", report.body);
}

fn status_changes(doc: &Value) -> usize {
    let changes_status =
        |l: &&Value| l["updatedFields"].as_array().is_some_and(|f| f.iter().any(|f| f["fieldName"] == "statusCode"));
    doc["auditLogs"].as_array().map_or(0, |logs| logs.iter().filter(changes_status).count())
}

on_both_backends! {
    when_two_cancels_of_a_150_line_allocation_race_should_release_it_exactly_once => |app| {
        let (id, _) = big_allocation(&app).await;
        assert_eq!(reserved_at(&app, "DC-A").await, vec![2; LINES]);
        let watch = Arc::new(common::Intercepted(Faulty::new(app.deps.store.clone(), usize::MAX, None)));
        let watched = common::app_on(Deps { store: watch.clone(), ..app.deps.clone() }, app.backend);
        let path = format!("/allocation/cancel/{id}");
        let (first, second) =
            tokio::join!(watched.fabric(Method::PUT, &path, None), watched.fabric(Method::PUT, &path, None));
        assert!(!watch.went_negative.load(Ordering::SeqCst), "a row was released twice, if only for a moment");
        let statuses = [first.status, second.status];
        assert!(statuses.contains(&StatusCode::OK), "{statuses:?}: {} / {}", first.body, second.body);
        for reply in [&first, &second] {
            assert!(matches!(reply.status, StatusCode::OK | StatusCode::CONFLICT), "{}", reply.body);
        }
        assert_eq!(reserved_at(&app, "DC-A").await, vec![0; LINES], "released exactly once");
        let doc = app.fabric(Method::GET, &format!("/allocation/{id}"), None).await.body;
        assert_eq!(doc["statusCode"], "CANCELLED");
        assert_eq!(status_changes(&doc), 1);
        assert!(doc.get("pendingOperation").is_none());
        assert!(open_units(&app).await.iter().all(|d| *d == json!([{"StatusId": "1000", "Quantity": 2}])));
        assert_no_drift(&app).await;
    }

    when_a_cancel_dies_midway_should_be_finished_once_its_lease_has_passed => |app| {
        let (id, _) = big_allocation(&app).await;
        let (app, clock) = common::with_clock(app);
        // Claim and the first chunk of releases commit; then the store goes away.
        let faulty = Arc::new(common::Intercepted(Faulty::new(app.deps.store.clone(), 3, None)));
        let dying = common::app_on(Deps { store: faulty, ..app.deps.clone() }, app.backend);
        let path = format!("/allocation/cancel/{id}");
        let died = dying.fabric(Method::PUT, &path, None).await;
        assert_eq!(died.status, StatusCode::SERVICE_UNAVAILABLE, "{}", died.body);
        let held = app.fabric(Method::GET, &format!("/allocation/{id}"), None).await.body;
        assert!(held["pendingOperation"].is_string(), "{held}");
        let released = reserved_at(&app, "DC-A").await.iter().filter(|r| **r == 0).count();
        assert_eq!(released, 99, "the first chunk was released, the rest not yet");

        // Within the lease the journal still belongs to its request: others wait, then 409.
        let busy = app.fabric(Method::PUT, &path, None).await;
        assert_eq!(busy.status, StatusCode::CONFLICT, "{}", busy.body);

        clock.advance(chrono::TimeDelta::seconds(120));
        let repaired = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({"repair": true}))).await;
        assert_eq!(repaired.status, StatusCode::OK, "{}", repaired.body);
        assert_eq!(reserved_at(&app, "DC-A").await, vec![0; LINES], "released exactly once");
        let doc = app.fabric(Method::GET, &format!("/allocation/{id}"), None).await.body;
        assert_eq!(doc["statusCode"], "CANCELLED");
        assert!(doc.get("pendingOperation").is_none());
        assert!(open_units(&app).await.iter().all(|d| *d == json!([{"StatusId": "1000", "Quantity": 2}])));
        let again = app.fabric(Method::PUT, &path, None).await;
        assert_eq!(again.status, StatusCode::OK);
        assert_eq!(status_changes(&again.body[0]), 1);
        assert_no_drift(&app).await;
    }

    when_a_150_line_reallocation_loses_stock_midway_should_roll_back_and_move_nothing => |app| {
        let (id, _) = big_allocation(&app).await;
        // A rival takes DC-B's units of the last item between planning and reserving.
        let last = oms_core::keys::stock(
            &oms_core::domain::ids::TenantId::parse("demo").unwrap(),
            &oms_core::domain::ids::ItemId::parse(&sku(LINES - 1)).unwrap(),
            &oms_core::domain::ids::LocationId::parse("DC-B").unwrap(),
        );
        let racing = Arc::new(common::Intercepted(Faulty::new(app.deps.store.clone(), usize::MAX, Some((last, 5)))));
        let raced = common::app_on(Deps { store: racing, ..app.deps.clone() }, app.backend);
        let body = json!({"channel": "web", "tenant": "demo", "documentType": "ALLOCATION", "id": [id], "locationNum": "DC-B"});
        let refused = raced.fabric(Method::PUT, "/allocation/reallocate", Some(&body)).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
        assert_eq!(reserved_at(&app, "DC-A").await, vec![2; LINES]);
        assert_eq!(reserved_at(&app, "DC-B").await, vec![0; LINES]);
        let doc = app.fabric(Method::GET, &format!("/allocation/{id}"), None).await.body;
        assert_eq!(doc["statusCode"], "ALLOCATED");
        assert!(doc.get("pendingOperation").is_none(), "{doc}");
        assert_no_drift(&app).await;
    }

    when_a_150_line_allocation_moves_one_unit_of_every_line_should_journal_it_and_keep_the_rest_in_place => |app| {
        let (id, _) = big_allocation(&app).await;
        let items: Vec<Value> = (1..=LINES).map(|n| json!({"allocationLineNumber": n, "quantity": 1})).collect();
        let body = json!({"channel": "web", "tenant": "demo", "documentType": "ALLOCATION", "id": [id], "locationNum": "DC-B", "items": items});
        let moved = app.fabric(Method::PUT, "/allocation/reallocate", Some(&body)).await;
        assert_eq!(moved.status, StatusCode::OK, "{}", moved.body);
        let received = moved.body["allocations"].as_array().unwrap();
        assert_eq!(received.len(), 1);
        assert_eq!(received[0]["items"].as_array().map(Vec::len), Some(LINES));
        assert_eq!(reserved_at(&app, "DC-A").await, vec![1; LINES]);
        assert_eq!(reserved_at(&app, "DC-B").await, vec![1; LINES]);
        let doc = app.fabric(Method::GET, &format!("/allocation/{id}"), None).await.body;
        assert_eq!(doc["statusCode"], "ALLOCATED", "one unit of every line stays");
        assert!(doc["items"].as_array().unwrap().iter().all(|i| i["itemStatus"] == "PARTIALLY_ALLOCATED" && i["reallocatedQuantity"] == 1));
        assert_eq!(doc["version"], 3, "the journal's claim, then its finish writing the planned document once");
        assert!(doc.get("pendingOperation").is_none(), "{doc}");
        assert_no_drift(&app).await;
    }
}
