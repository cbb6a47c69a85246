//! Reconciliation reads stock rows and allocations through eventually consistent indexes; a
//! repair must not act on what a lagging index shows. Both backends.

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::http::{Method, StatusCode};
use common::{Backend, TestApp, TestClock, location};
use oms_core::deps::Deps;
use oms_core::domain::ids::{ItemId, LocationId, TenantId};
use oms_core::ports::{Condition, Index, Item, ItemStore, Key, Page, Query, StoreError, Update, WriteOp};
use oms_core::service::reconcile::SETTLE_WINDOW;
use serde_json::{Value, json};

/// Serves queries of one index as it stood when `freeze` was called, for every item written
/// since: DynamoDB's indexes are eventually consistent, the emulator's and SQLite's are not.
struct LaggingIndex {
    inner: Arc<dyn ItemStore>,
    index: Index,
    /// While frozen: each item written since, as it was before (`None`: it did not exist).
    before: Mutex<Option<HashMap<Key, Option<Item>>>>,
}

impl LaggingIndex {
    fn freeze(&self) {
        *self.before.lock().unwrap() = Some(HashMap::new());
    }
    fn catch_up(&self) {
        *self.before.lock().unwrap() = None;
    }
    async fn remember(&self, keys: impl IntoIterator<Item = Key>) -> Result<(), StoreError> {
        if self.before.lock().unwrap().is_none() {
            return Ok(());
        }
        for key in keys {
            let seen = self.before.lock().unwrap().as_ref().is_some_and(|b| b.contains_key(&key));
            if !seen {
                let item = self.inner.get(&key).await?;
                if let Some(before) = self.before.lock().unwrap().as_mut() {
                    before.insert(key, item);
                }
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl common::Intercept for LaggingIndex {
    fn inner(&self) -> &dyn ItemStore {
        self.inner.as_ref()
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        self.remember(Key::of(&item)).await?;
        self.inner.put(item, condition).await
    }
    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError> {
        self.remember([key.clone()]).await?;
        self.inner.update(key, update, condition).await
    }
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        self.remember([key.clone()]).await?;
        self.inner.delete(key, condition).await
    }
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        self.remember(writes.iter().filter_map(WriteOp::key)).await?;
        self.inner.transact(writes).await
    }
    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        let first_page = query.cursor.is_none();
        let lagging = query.index == Some(self.index);
        let (pk, attr) = (query.pk.clone(), self.index.pk_attr());
        let mut page = self.inner.query(query).await?;
        let before = self.before.lock().unwrap().clone();
        if let (true, Some(before)) = (lagging, before) {
            page.items.retain(|item| Key::of(item).is_none_or(|key| !before.contains_key(&key)));
            if first_page {
                let stale =
                    before.into_values().flatten().filter(|item| item.get(attr) == Some(&Value::from(pk.clone())));
                page.items.extend(stale);
            }
        }
        Ok(page)
    }
}

struct Setup {
    app: TestApp,
    store: Arc<common::Intercepted<LaggingIndex>>,
    clock: Arc<TestClock>,
}

/// An app whose `index` can be made to lag, on a clock the test moves; SKU-1 at DC-ATL.
async fn setup(backend: Backend, index: Index) -> Option<Setup> {
    let (inner, queue) = common::fresh_ports(backend).await?;
    let store = Arc::new(common::Intercepted(LaggingIndex { inner, index, before: Mutex::new(None) }));
    let clock = TestClock::new();
    let mut deps = Deps::with(store.clone(), queue, None);
    deps.clock = clock.clone();
    let app = common::app_on(deps, backend);
    let put = app.put("/inventory/api/location/DC-ATL", &location("Atlanta DC", "DC", 33.64, -84.43)).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
    let supply = json!({"Mode": "Sync", "Supply": [{"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": 10}]});
    assert_eq!(app.post("/inventory/api/supply", &supply).await.status, StatusCode::OK);
    Some(Setup { app, store, clock })
}

/// Saves and allocates an order of `units` of SKU-1; the allocation id.
async fn allocate(app: &TestApp, order_id: &str, units: u32) -> String {
    let mut order = common::sample_order(order_id);
    order["OrderLine"][0]["Quantity"] = json!(units);
    assert_eq!(app.post("/order/api/order/order", &order).await.status, StatusCode::OK);
    let event = json!({"detailType": "ORDER_CREATED", "detail": {"orderId": order_id}});
    let reply = app.fabric(Method::POST, "/allocation/", Some(&event)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body[0]["allocationId"].as_str().unwrap().to_owned()
}

async fn reconcile(app: &TestApp, repair: bool) -> Value {
    let reply = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({"repair": repair}))).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body
}

/// The stored stock row of SKU-1 at DC-ATL, every attribute.
async fn stock_row(app: &TestApp) -> Item {
    let tenant = TenantId::parse("demo").unwrap();
    let key = oms_core::keys::stock(&tenant, &ItemId::parse("SKU-1").unwrap(), &LocationId::parse("DC-ATL").unwrap());
    app.deps.store.get(&key).await.unwrap().unwrap()
}

async fn when_the_allocation_index_misses_a_new_allocation(backend: Backend) {
    let Some(Setup { app, store, clock }) = setup(backend, Index::Gsi3).await else { return };
    allocate(&app, "O-1", 2).await;
    store.freeze();
    allocate(&app, "O-2", 3).await;
    // A supply rewrites the row; it must keep when the reservations last changed.
    let more = json!({"Mode": "Adjust", "Supply": [{"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": 1}]});
    assert_eq!(app.post("/inventory/api/supply", &more).await.status, StatusCode::OK);
    let before = stock_row(&app).await;
    assert_eq!(before["reserved"], 5);

    // The index shows 2 units allocated against 5 reserved: the 3 units of O-2 are not drift.
    let report = reconcile(&app, true).await;
    assert_eq!(report["drift"][0]["drift"], 3, "{report}");
    assert_eq!(report["drift"][0]["repaired"], false, "{report}");
    assert!(report["drift"][0]["reason"].as_str().unwrap().contains("settle window"), "{report}");
    assert_eq!(report["repaired"], 0);
    assert_eq!(stock_row(&app).await, before, "a repair from a lagging index changed the stock row");

    // Once the index shows everything, nothing drifts; a real drift is still repaired.
    clock.advance(SETTLE_WINDOW * 2);
    store.catch_up();
    assert_eq!(reconcile(&app, true).await["drift"], json!([]));
    let key = Key::of(&before).unwrap();
    app.deps.store.update(&key, Update::new().add("reserved", 4).add("available", -4), None).await.unwrap();
    let report = reconcile(&app, true).await;
    assert_eq!(
        report["drift"],
        json!([{"locationId": "DC-ATL", "itemId": "SKU-1", "reserved": 9, "expected": 5, "drift": 4, "repaired": true}])
    );
    let after = stock_row(&app).await;
    assert_eq!((after["reserved"].clone(), after["available"].clone()), (json!(5), json!(6)));
}

async fn when_the_allocation_listing_lags_a_cancel(backend: Backend) {
    let Some(Setup { app, store, clock: _ }) = setup(backend, Index::Gsi3).await else { return };
    allocate(&app, "O-1", 2).await;
    let cancelled = allocate(&app, "O-2", 3).await;
    store.freeze();
    let cancel = app.fabric(Method::PUT, &format!("/allocation/cancel/{cancelled}"), None).await;
    assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.body);
    let before = stock_row(&app).await;
    assert_eq!(before["reserved"], 2);

    // The listing holds keys only: reconcile reads the documents themselves, cancel included.
    let report = reconcile(&app, true).await;
    assert_eq!(report["drift"], json!([]), "{report}");
    assert_eq!(report["liveAllocations"], 1, "{report}");
    assert_eq!(stock_row(&app).await, before);
    store.catch_up();
    assert_eq!(reconcile(&app, true).await["drift"], json!([]));
}

#[tokio::test]
async fn embedded_when_the_allocation_index_misses_a_new_allocation_should_repair_nothing_until_it_settles() {
    when_the_allocation_index_misses_a_new_allocation(Backend::Embedded).await;
}

#[tokio::test]
async fn dynamodb_when_the_allocation_index_misses_a_new_allocation_should_repair_nothing_until_it_settles() {
    when_the_allocation_index_misses_a_new_allocation(Backend::Dynamo).await;
}

#[tokio::test]
async fn embedded_when_the_allocation_listing_lags_a_cancel_should_read_the_cancel_and_find_no_drift() {
    when_the_allocation_listing_lags_a_cancel(Backend::Embedded).await;
}

#[tokio::test]
async fn dynamodb_when_the_allocation_listing_lags_a_cancel_should_read_the_cancel_and_find_no_drift() {
    when_the_allocation_listing_lags_a_cancel(Backend::Dynamo).await;
}
