//! An order whose allocation needs more than 100 writes is written in chunks; when a later
//! chunk fails, the chunks already written are undone and nothing drifts. Both backends.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{Method, StatusCode};
use common::{Backend, location};
use oms_core::deps::Deps;
use oms_core::ports::{Item, ItemStore, Key, StoreError, Update, WriteOp};
use serde_json::{Value, json};

/// Passes everything through, but cancels the `fail_at`-th transaction once: the interaction
/// under test is the compensation of the chunks written before it.
struct FailOneTransaction {
    inner: Arc<dyn ItemStore>,
    seen: AtomicUsize,
    fail_at: usize,
}

#[async_trait::async_trait]
impl common::Intercept for FailOneTransaction {
    fn inner(&self) -> &dyn ItemStore {
        self.inner.as_ref()
    }

    async fn update(
        &self,
        key: &Key,
        update: Update,
        condition: Option<oms_core::ports::Condition>,
    ) -> Result<Item, StoreError> {
        self.inner.update(key, update, condition).await
    }
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.fail_at {
            return Err(StoreError::TransactionCanceled { failed: vec![0] });
        }
        self.inner.transact(writes).await
    }
}

/// 60 items, one unit of each at DC-A and at DC-B; an order for two of each splits every line
/// across both: 120 reservations + 2 documents + the order + its change message.
async fn when_allocation_needs_more_than_100_writes(backend: Backend, fail_chunk: bool) {
    let Some((store, queue)) = common::fresh_ports(backend).await else { return };
    let setup = common::app_on(Deps::with(store.clone(), queue.clone(), None), backend);
    for (id, lat, lon) in [("DC-A", 33.6, -84.4), ("DC-B", 32.9, -97.0)] {
        assert_eq!(
            setup.put(&format!("/inventory/api/location/{id}"), &location(id, "DC", lat, lon)).await.status,
            StatusCode::OK
        );
    }
    for dc in ["DC-A", "DC-B"] {
        let rows: Vec<Value> =
            (0..60).map(|i| json!({"LocationId": dc, "ItemId": format!("SKU-{i}"), "Quantity": 1})).collect();
        assert_eq!(
            setup.post("/inventory/api/supply", &json!({"Mode": "Sync", "Supply": rows})).await.status,
            StatusCode::OK
        );
    }
    let lines: Vec<Value> = (0..60)
        .map(|i| json!({"OrderLineId": format!("{i}"), "ItemId": format!("SKU-{i}"), "Quantity": 2, "UnitPrice": 1,
            "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
            "ShipToAddress": {"Address": {"Address1": "1 Main St", "City": "Atlanta", "Country": "US", "Latitude": 33.7, "Longitude": -84.4}}}))
        .collect();
    let order = json!({"OrderId": "BIG-1", "OrderType": {"OrderTypeId": "Web"}, "OrderLine": lines});
    assert_eq!(setup.post("/order/api/order/order", &order).await.status, StatusCode::OK);

    // The allocation's first attempt writes chunk 1 of 2, then chunk 2 is refused.
    let store: Arc<dyn ItemStore> = if fail_chunk {
        Arc::new(common::Intercepted(FailOneTransaction { inner: store, seen: AtomicUsize::new(0), fail_at: 2 }))
    } else {
        store
    };
    let app = common::app_on(Deps::with(store, queue, None), backend);
    let reply = app
        .fabric(
            Method::POST,
            "/allocation/",
            Some(&json!({"detailType": "ORDER_CREATED", "detail": {"orderId": "BIG-1"}})),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let docs = reply.body.as_array().unwrap();
    assert_eq!(docs.len(), 2);
    let units: u64 =
        docs.iter().flat_map(|d| d["items"].as_array().unwrap()).map(|i| i["quantity"].as_u64().unwrap()).sum();
    assert_eq!(units, 120);
    let drift = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({}))).await;
    assert_eq!(drift.body["drift"], json!([]), "compensation left drift behind");
    assert_eq!(drift.body["liveAllocations"], 2, "the undone attempt's documents must be gone");
    for i in [0, 59] {
        let availability = app.get(&format!("/inventory/api/availability/itemId/SKU-{i}")).await;
        let reserved: i64 =
            availability.data()["Locations"].as_array().unwrap().iter().map(|r| r["Reserved"].as_i64().unwrap()).sum();
        assert_eq!(reserved, 2);
    }
}

#[tokio::test]
async fn embedded_when_an_allocation_needs_124_writes_should_write_them_in_chunks() {
    when_allocation_needs_more_than_100_writes(Backend::Embedded, false).await;
}

#[tokio::test]
async fn embedded_when_a_later_chunk_fails_should_undo_the_earlier_ones_and_retry() {
    when_allocation_needs_more_than_100_writes(Backend::Embedded, true).await;
}

#[tokio::test]
async fn dynamodb_when_an_allocation_needs_124_writes_should_write_them_in_chunks() {
    when_allocation_needs_more_than_100_writes(Backend::Dynamo, false).await;
}

#[tokio::test]
async fn dynamodb_when_a_later_chunk_fails_should_undo_the_earlier_ones_and_retry() {
    when_allocation_needs_more_than_100_writes(Backend::Dynamo, true).await;
}
