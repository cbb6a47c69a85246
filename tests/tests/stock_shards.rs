//! A hot item's stock kept in shards (`/inventory/api/item/{ItemId}/stockShards`), on both
//! backends: setting the count spreads the stock without losing a unit, readers see the sums,
//! reservations and releases go to shards that can take them, and no shard is oversold.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::http::{Method, StatusCode};
use common::{TestApp, location};
use oms_core::deps::Deps;
use oms_core::domain::ids::{ItemId, LocationId, TenantId};
use oms_core::ports::{ItemStore, StoreError, Update, WriteOp};
use serde_json::{Value, json};

const SUPPLY: &str = "/inventory/api/supply";

fn shards_path(item: &str) -> String {
    format!("/inventory/api/item/{item}/stockShards")
}

fn availability_path(item: &str) -> String {
    format!("/inventory/api/availability/itemId/{item}")
}

async fn dc(app: &TestApp, id: &str) {
    let put = app.put(&format!("/inventory/api/location/{id}"), &location(id, "DC", 33.64, -84.43)).await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.body);
}

async fn supply(app: &TestApp, mode: &str, rows: &[(&str, &str, i64)]) -> common::Reply {
    let rows: Vec<Value> = rows.iter().map(|(l, i, q)| json!({"LocationId": l, "ItemId": i, "Quantity": q})).collect();
    app.post(SUPPLY, &json!({"Mode": mode, "Supply": rows})).await
}

async fn set_shards(app: &TestApp, item: &str, count: u32) -> common::Reply {
    let reply = app.put(&shards_path(item), &json!({"ShardCount": count})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.data()["ShardCount"], count);
    reply
}

/// The shards of `item` at `location` as the API shows them.
async fn shards_at(app: &TestApp, item: &str, location: &str) -> Vec<Value> {
    let reply = app.get(&shards_path(item)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let locations = reply.data()["Locations"].as_array().unwrap();
    let at = locations.iter().find(|l| l["LocationId"] == location).unwrap_or_else(|| panic!("{}", reply.body));
    at["Shards"].as_array().unwrap().clone()
}

fn sum(shards: &[Value], field: &str) -> i64 {
    shards.iter().map(|s| s[field].as_i64().unwrap()).sum()
}

/// Every shard can still be promised from: no shard is oversold, none reserves below zero.
fn assert_no_shard_oversold(shards: &[Value]) {
    for shard in shards {
        assert!(shard["Available"].as_i64().unwrap() >= 0, "oversold shard: {shard}");
        assert!(shard["Reserved"].as_i64().unwrap() >= 0, "negative reservation: {shard}");
    }
}

async fn order(app: &TestApp, id: &str, item: &str, quantity: i64) {
    let mut order = common::sample_order(id);
    order["OrderLine"][0]["ItemId"] = json!(item);
    order["OrderLine"][0]["Quantity"] = json!(quantity);
    let saved = app.post("/order/api/order/order", &order).await;
    assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
}

/// Allocates order `id`; the allocation ids created.
async fn allocate(app: &TestApp, id: &str) -> Vec<String> {
    let event = json!({"detailType": "ORDER_CREATED", "detail": {"orderId": id}});
    let reply = app.fabric(Method::POST, "/allocation/", Some(&event)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body.as_array().unwrap().iter().map(|d| d["allocationId"].as_str().unwrap().to_owned()).collect()
}

async fn assert_zero_drift(app: &TestApp) {
    let reconcile = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({}))).await;
    assert_eq!(reconcile.status, StatusCode::OK, "{}", reconcile.body);
    assert_eq!(reconcile.body["drift"], json!([]), "{}", reconcile.body);
}

/// Passes everything through until the `fail_from`-th transaction: from there the store is gone.
struct DiesMidway {
    inner: Arc<dyn ItemStore>,
    transactions: AtomicUsize,
    fail_from: usize,
}

#[async_trait::async_trait]
impl common::Intercept for DiesMidway {
    fn inner(&self) -> &dyn ItemStore {
        self.inner.as_ref()
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        if self.transactions.fetch_add(1, Ordering::SeqCst) + 1 >= self.fail_from {
            return Err(StoreError::Unavailable("the store went away".into()));
        }
        self.inner.transact(writes).await
    }
}

/// Before the resharding's transaction commits (the first one that writes a shard count), runs
/// a cancel through a store that dies right after the cancel's journal claims its documents.
struct CancelFirst {
    inner: Arc<dyn ItemStore>,
    cancel: tokio::sync::Mutex<Option<(TestApp, String)>>,
}

#[async_trait::async_trait]
impl common::Intercept for CancelFirst {
    fn inner(&self) -> &dyn ItemStore {
        self.inner.as_ref()
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        let reshards = writes.iter().any(|w| {
            matches!(w, WriteOp::Put { item, .. } if item.get("SK").and_then(Value::as_str) == Some(oms_core::keys::STOCK_SHARD_COUNT_SK))
        });
        if reshards && let Some((app, path)) = self.cancel.lock().await.take() {
            let died = app.fabric(Method::PUT, &path, None).await;
            assert_eq!(died.status, StatusCode::SERVICE_UNAVAILABLE, "{}", died.body);
        }
        self.inner.transact(writes).await
    }
}

/// O-1: 64 units of SKU-1 and of SKU-2 (64 shards, one unit each) allocated at DC-1; cancelling
/// it releases 128 shards, too many for one transaction, so the cancel goes through a journal.
async fn two_sharded_lines(app: &TestApp) -> Vec<String> {
    dc(app, "DC-1").await;
    assert_eq!(supply(app, "Sync", &[("DC-1", "SKU-1", 64), ("DC-1", "SKU-2", 64)]).await.status, StatusCode::OK);
    set_shards(app, "SKU-1", 64).await;
    set_shards(app, "SKU-2", 64).await;
    let mut both = common::sample_order("O-1");
    let mut second = both["OrderLine"][0].clone();
    both["OrderLine"][0]["Quantity"] = json!(64);
    second["OrderLineId"] = json!("2");
    second["ItemId"] = json!("SKU-2");
    second["Quantity"] = json!(64);
    both["OrderLine"].as_array_mut().unwrap().push(second);
    assert_eq!(app.post("/order/api/order/order", &both).await.status, StatusCode::OK);
    let ids = allocate(app, "O-1").await;
    assert_eq!(sum(&shards_at(app, "SKU-1", "DC-1").await, "Reserved"), 64);
    ids
}

fn tenant() -> TenantId {
    TenantId::parse("demo").unwrap()
}

on_both_backends! {
    when_the_shard_count_changes_should_spread_the_stock_over_the_new_shards_losing_no_unit_and_keeping_reservations => |app| {
        dc(&app, "DC-1").await;
        dc(&app, "DC-2").await;
        let sync = app.post(SUPPLY, &json!({"Mode": "Sync", "Supply": [
            {"LocationId": "DC-1", "ItemId": "SKU-1", "Quantity": 40, "SafetyStock": 2},
            {"LocationId": "DC-2", "ItemId": "SKU-1", "Quantity": 10}]})).await;
        assert_eq!(sync.status, StatusCode::OK, "{}", sync.body);
        order(&app, "O-1", "SKU-1", 3).await;
        allocate(&app, "O-1").await;
        let before = app.get(&availability_path("SKU-1")).await;

        let eight = set_shards(&app, "SKU-1", 8).await;
        assert_eq!(eight.data()["Locations"].as_array().unwrap().len(), 2, "{}", eight.body);
        for count in [8, 3, 1, 5] {
            if count != 8 {
                set_shards(&app, "SKU-1", count).await;
            }
            let shards = shards_at(&app, "SKU-1", "DC-1").await;
            assert_eq!(shards.len(), count as usize);
            assert_eq!((sum(&shards, "OnHand"), sum(&shards, "Reserved"), sum(&shards, "SafetyStock")), (40, 3, 2), "{shards:?}");
            assert_no_shard_oversold(&shards);
            let spread: Vec<i64> = shards.iter().map(|s| s["Available"].as_i64().unwrap()).collect();
            assert!(spread.iter().max().unwrap() - spread.iter().min().unwrap() <= 1, "evenly promisable: {spread:?}");
            assert_eq!(sum(&shards_at(&app, "SKU-1", "DC-2").await, "OnHand"), 10);
            let after = app.get(&availability_path("SKU-1")).await;
            assert_eq!(after.data()["TotalAvailable"], before.data()["TotalAvailable"]);
            for (a, b) in after.data()["Locations"].as_array().unwrap().iter().zip(before.data()["Locations"].as_array().unwrap()) {
                for field in ["LocationId", "ItemId", "OnHand", "Reserved", "SafetyStock", "Available", "Shortfall"] {
                    assert_eq!(a[field], b[field], "{field} of {a}");
                }
            }
            assert_zero_drift(&app).await;
        }
        // Shards beyond the count are gone from the table, not only from the answer.
        let (item, dc1) = (ItemId::parse("SKU-1").unwrap(), LocationId::parse("DC-1").unwrap());
        assert!(app.deps.store.get(&oms_core::keys::stock_shard(&tenant(), &item, &dc1, 7)).await.unwrap().is_none());
        assert!(app.deps.store.get(&oms_core::keys::stock_shard(&tenant(), &item, &dc1, 4)).await.unwrap().is_some());
    }

    when_supply_changes_a_sharded_item_should_spread_on_hand_over_the_shards_and_refuse_to_adjust_below_the_reservations => |app| {
        dc(&app, "DC-1").await;
        set_shards(&app, "SKU-1", 4).await;
        assert_eq!(supply(&app, "Sync", &[("DC-1", "SKU-1", 20)]).await.status, StatusCode::OK);
        let shards = shards_at(&app, "SKU-1", "DC-1").await;
        assert_eq!(shards.iter().map(|s| s["OnHand"].as_i64().unwrap()).collect::<Vec<_>>(), vec![5, 5, 5, 5]);
        order(&app, "O-1", "SKU-1", 6).await;
        allocate(&app, "O-1").await;

        let below = supply(&app, "Adjust", &[("DC-1", "SKU-1", -15)]).await;
        assert_eq!(below.status, StatusCode::CONFLICT, "{}", below.body);
        assert_eq!(below.message(), "cannot remove 15 units of SKU-1 at DC-1: 20 on hand, 6 reserved; 1 short");
        assert_eq!(sum(&shards_at(&app, "SKU-1", "DC-1").await, "OnHand"), 20, "nothing was written");

        let down = supply(&app, "Adjust", &[("DC-1", "SKU-1", -10)]).await;
        assert_eq!(down.status, StatusCode::OK, "{}", down.body);
        assert_eq!(down.data()["Supply"][0]["OnHand"], 10, "the answer shows the sums: {}", down.body);
        assert_eq!(down.data()["Supply"][0]["Available"], 4);
        let shards = shards_at(&app, "SKU-1", "DC-1").await;
        assert_eq!((sum(&shards, "OnHand"), sum(&shards, "Reserved")), (10, 6));
        assert_no_shard_oversold(&shards);

        let up = supply(&app, "Adjust", &[("DC-1", "SKU-1", 7)]).await;
        assert_eq!(up.data()["Supply"][0]["OnHand"], 17, "{}", up.body);
        let count = supply(&app, "Sync", &[("DC-1", "SKU-1", 4)]).await;
        assert_eq!(count.status, StatusCode::OK, "only a count may leave reservations unbacked");
        assert_eq!(count.data()["Supply"][0]["Shortfall"], 2);
        let shards = shards_at(&app, "SKU-1", "DC-1").await;
        assert_eq!((sum(&shards, "OnHand"), sum(&shards, "Reserved")), (4, 6));
        assert!(shards.iter().all(|s| s["OnHand"].as_i64().unwrap() >= 0), "{shards:?}");
        assert_zero_drift(&app).await;
    }

    when_a_line_is_larger_than_any_shard_should_reserve_it_over_several_shards => |app| {
        dc(&app, "DC-1").await;
        assert_eq!(supply(&app, "Sync", &[("DC-1", "SKU-1", 16)]).await.status, StatusCode::OK);
        set_shards(&app, "SKU-1", 8).await;
        order(&app, "O-1", "SKU-1", 7).await;
        allocate(&app, "O-1").await;
        let shards = shards_at(&app, "SKU-1", "DC-1").await;
        assert_eq!(sum(&shards, "Reserved"), 7);
        assert!(shards.iter().filter(|s| s["Reserved"].as_i64().unwrap() > 0).count() >= 4, "2 units a shard: {shards:?}");
        assert_no_shard_oversold(&shards);
        // The rest, 9 units over 8 shards, still goes to one order.
        order(&app, "O-2", "SKU-1", 9).await;
        allocate(&app, "O-2").await;
        let shards = shards_at(&app, "SKU-1", "DC-1").await;
        assert_eq!((sum(&shards, "Reserved"), sum(&shards, "Available")), (16, 0), "{shards:?}");
        assert_no_shard_oversold(&shards);
        order(&app, "O-3", "SKU-1", 1).await;
        let none = app.fabric(Method::POST, "/allocation/", Some(&json!({"detailType": "ORDER_CREATED", "detail": {"orderId": "O-3"}}))).await;
        assert_eq!(none.status, StatusCode::PARTIAL_CONTENT, "sold out: {}", none.body);
        assert_zero_drift(&app).await;
    }

    when_an_allocation_of_a_sharded_item_is_cancelled_should_release_every_unit_it_reserved => |app| {
        dc(&app, "DC-1").await;
        assert_eq!(supply(&app, "Sync", &[("DC-1", "SKU-1", 12)]).await.status, StatusCode::OK);
        set_shards(&app, "SKU-1", 4).await;
        order(&app, "O-1", "SKU-1", 5).await;
        let first = allocate(&app, "O-1").await;
        order(&app, "O-2", "SKU-1", 3).await;
        let second = allocate(&app, "O-2").await;
        assert_eq!(app.get(&availability_path("SKU-1")).await.data()["TotalAvailable"], 4);

        let cancel = app.fabric(Method::PUT, &format!("/allocation/cancel/{}", first.join(",")), None).await;
        assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.body);
        let shards = shards_at(&app, "SKU-1", "DC-1").await;
        assert_eq!((sum(&shards, "Reserved"), sum(&shards, "Available")), (3, 9), "{shards:?}");
        assert_no_shard_oversold(&shards);
        assert_zero_drift(&app).await;

        let cancel = app.fabric(Method::PUT, &format!("/allocation/cancel/{}", second.join(",")), None).await;
        assert_eq!(cancel.status, StatusCode::OK, "{}", cancel.body);
        let shards = shards_at(&app, "SKU-1", "DC-1").await;
        assert_eq!((sum(&shards, "Reserved"), sum(&shards, "Available")), (0, 12), "{shards:?}");
        assert_no_shard_oversold(&shards);
        assert_eq!(app.get(&availability_path("SKU-1")).await.data()["TotalAvailable"], 12);
        assert_zero_drift(&app).await;
    }

    when_availability_of_a_sharded_item_is_read_should_show_each_location_as_the_sum_of_its_shards => |app| {
        dc(&app, "DC-1").await;
        dc(&app, "DC-2").await;
        set_shards(&app, "SKU-1", 6).await;
        let sync = app.post(SUPPLY, &json!({"Mode": "Sync", "Supply": [
            {"LocationId": "DC-1", "ItemId": "SKU-1", "Quantity": 25, "SafetyStock": 3},
            {"LocationId": "DC-2", "ItemId": "SKU-1", "Quantity": 7}]})).await;
        assert_eq!(sync.status, StatusCode::OK, "{}", sync.body);
        assert_eq!(shards_at(&app, "SKU-1", "DC-1").await.len(), 6, "supply creates every shard");
        order(&app, "O-1", "SKU-1", 4).await;
        allocate(&app, "O-1").await;
        let availability = app.get(&availability_path("SKU-1")).await;
        assert_eq!(availability.status, StatusCode::OK);
        let rows = availability.data()["Locations"].as_array().unwrap();
        assert_eq!(rows.len(), 2, "one row per location, not per shard: {}", availability.body);
        let dc1 = rows.iter().find(|r| r["LocationId"] == "DC-1").unwrap();
        assert_eq!((dc1["OnHand"].as_i64(), dc1["Reserved"].as_i64(), dc1["SafetyStock"].as_i64(), dc1["Available"].as_i64()), (Some(25), Some(4), Some(3), Some(18)), "{dc1}");
        assert_eq!(availability.data()["TotalAvailable"], 18 + 7);
        let keys: Vec<&String> = dc1.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["LocationId", "ItemId", "OnHand", "Reserved", "SafetyStock", "Available", "Shortfall", "UpdatedTimestamp"]);
    }

    when_the_shard_count_is_not_a_whole_number_from_1_to_64_should_answer_400_naming_it_and_change_nothing => |app| {
        dc(&app, "DC-1").await;
        assert_eq!(supply(&app, "Sync", &[("DC-1", "SKU-1", 5)]).await.status, StatusCode::OK);
        for bad in [json!({"ShardCount": 0}), json!({"ShardCount": 65}), json!({"ShardCount": "eight"}), json!({"ShardCount": 2.5}), json!({"ShardCount": -3}), json!({}), json!({"ShardCount": null})] {
            let reply = app.put(&shards_path("SKU-1"), &bad).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{bad}: {}", reply.body);
            assert_eq!(reply.error_field(), Some("ShardCount"), "{bad}: {}", reply.body);
        }
        let not_json = app.send(Method::PUT, &shards_path("SKU-1"), Some(&app.demo_token()), &[], Some("[8]")).await;
        assert_eq!(not_json.status, StatusCode::BAD_REQUEST, "{}", not_json.body);
        let bad_item = app.put("/inventory/api/item/%20/stockShards", &json!({"ShardCount": 2})).await;
        assert_eq!(bad_item.status, StatusCode::BAD_REQUEST, "{}", bad_item.body);
        assert_eq!(bad_item.error_field(), Some("ItemId"));
        let shards = app.get(&shards_path("SKU-1")).await;
        assert_eq!(shards.data()["ShardCount"], 1, "{}", shards.body);
        assert_eq!(shards.data()["Locations"][0]["Shards"].as_array().map(Vec::len), Some(1));
    }

    when_a_shard_reserves_below_zero_reconcile_should_report_it_and_repair_it_keeping_the_sum => |app| {
        let (app, clock) = common::with_clock(app);
        dc(&app, "DC-1").await;
        assert_eq!(supply(&app, "Sync", &[("DC-1", "SKU-1", 12)]).await.status, StatusCode::OK);
        set_shards(&app, "SKU-1", 3).await;
        order(&app, "O-1", "SKU-1", 3).await;
        allocate(&app, "O-1").await;
        // Move reservations between two shards by hand: the sum stays right, one shard goes below zero.
        let (item, dc1) = (ItemId::parse("SKU-1").unwrap(), LocationId::parse("DC-1").unwrap());
        let shards = shards_at(&app, "SKU-1", "DC-1").await;
        let low = shards.iter().min_by_key(|s| s["Reserved"].as_i64().unwrap()).unwrap()["Shard"].as_u64().unwrap() as u32;
        let high = (low + 1) % 3;
        let low_by = shards[low as usize]["Reserved"].as_i64().unwrap() + 2;
        for (shard, delta) in [(low, -low_by), (high, low_by)] {
            let key = oms_core::keys::stock_shard(&tenant(), &item, &dc1, shard);
            let update = Update::new().add("reserved", delta).add("available", -delta);
            app.deps.store.update(&key, update, None).await.unwrap();
        }
        let seen = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({}))).await;
        let drift = seen.body["drift"].as_array().unwrap();
        assert_eq!(drift.len(), 1, "{}", seen.body);
        assert_eq!((drift[0]["reserved"].as_i64(), drift[0]["expected"].as_i64(), drift[0]["drift"].as_i64()), (Some(3), Some(3), Some(0)));
        assert_eq!(drift[0]["negativeShards"], json!([low]));

        clock.advance(chrono::TimeDelta::seconds(120));
        let repair = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({"repair": true}))).await;
        assert_eq!(repair.body["repaired"], 1, "{}", repair.body);
        let shards = shards_at(&app, "SKU-1", "DC-1").await;
        assert_eq!((sum(&shards, "Reserved"), sum(&shards, "OnHand")), (3, 12));
        assert!(shards.iter().all(|s| s["Reserved"].as_i64().unwrap() >= 0), "{shards:?}");
        assert_zero_drift(&app).await;
    }

    when_a_journaled_cancel_of_a_sharded_item_dies_midway_resharding_should_wait_for_it_and_lose_no_unit => |app| {
        let (app, clock) = common::with_clock(app);
        let ids = two_sharded_lines(&app).await;

        // The claim and the first chunk of releases commit; then the store goes away.
        let dying = Arc::new(common::Intercepted(DiesMidway { inner: app.deps.store.clone(), transactions: AtomicUsize::new(0), fail_from: 3 }));
        let dying = common::app_on(Deps { store: dying, ..app.deps.clone() }, app.backend);
        let path = format!("/allocation/cancel/{}", ids.join(","));
        assert_eq!(dying.fabric(Method::PUT, &path, None).await.status, StatusCode::SERVICE_UNAVAILABLE);
        let busy = app.put(&shards_path("SKU-1"), &json!({"ShardCount": 2})).await;
        assert_eq!(busy.status, StatusCode::CONFLICT, "the journal moves shards that resharding would delete: {}", busy.body);
        assert!(busy.message().contains("large allocation change is moving stock of SKU-1"), "{}", busy.body);
        assert_eq!(app.get(&shards_path("SKU-1")).await.data()["ShardCount"], 64);

        clock.advance(chrono::TimeDelta::seconds(120));
        let repaired = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({"repair": true}))).await;
        assert_eq!(repaired.status, StatusCode::OK, "{}", repaired.body);
        let two = set_shards(&app, "SKU-1", 2).await;
        assert_eq!((two.data()["Locations"][0]["OnHand"].as_i64(), two.data()["Locations"][0]["Reserved"].as_i64()), (Some(64), Some(0)), "{}", two.body);
        for item in ["SKU-1", "SKU-2"] {
            let shards = shards_at(&app, item, "DC-1").await;
            assert_eq!((sum(&shards, "OnHand"), sum(&shards, "Reserved")), (64, 0), "{item}: {shards:?}");
            assert_no_shard_oversold(&shards);
        }
        let doc = app.fabric(Method::GET, &format!("/allocation/{}", ids[0]), None).await.body;
        assert_eq!(doc["statusCode"], "CANCELLED", "{doc}");
        assert_zero_drift(&app).await;
    }

    when_a_journal_claims_its_documents_while_a_resharding_is_under_way_the_resharding_should_wait_for_it => |app| {
        let (app, clock) = common::with_clock(app);
        let ids = two_sharded_lines(&app).await;
        // The cancel's journal claims between the resharding's reads and its commit, then dies.
        let dying = Arc::new(common::Intercepted(DiesMidway { inner: app.deps.store.clone(), transactions: AtomicUsize::new(0), fail_from: 2 }));
        let dying = common::app_on(Deps { store: dying, ..app.deps.clone() }, app.backend);
        let path = format!("/allocation/cancel/{}", ids.join(","));
        let racing = Arc::new(common::Intercepted(CancelFirst { inner: app.deps.store.clone(), cancel: tokio::sync::Mutex::new(Some((dying, path.clone()))) }));
        let racing = common::app_on(Deps { store: racing, ..app.deps.clone() }, app.backend);
        let reshard = racing.put(&shards_path("SKU-1"), &json!({"ShardCount": 2})).await;
        assert_eq!(reshard.status, StatusCode::CONFLICT, "the journal holds the shard count it moves stock for: {}", reshard.body);
        assert_eq!(app.get(&shards_path("SKU-1")).await.data()["ShardCount"], 64);

        clock.advance(chrono::TimeDelta::seconds(120));
        let finished = app.fabric(Method::PUT, &path, None).await;
        assert_eq!(finished.status, StatusCode::OK, "the journal is driven to its end: {}", finished.body);
        assert_eq!(finished.body[0]["statusCode"], "CANCELLED");
        set_shards(&app, "SKU-1", 2).await;
        for item in ["SKU-1", "SKU-2"] {
            let shards = shards_at(&app, item, "DC-1").await;
            assert_eq!((sum(&shards, "OnHand"), sum(&shards, "Reserved")), (64, 0), "{item}: {shards:?}");
            assert_no_shard_oversold(&shards);
        }
        assert_zero_drift(&app).await;
    }

    when_a_stock_row_is_still_listed_where_the_previous_key_design_listed_it_reconcile_should_check_it => |app| {
        dc(&app, "DC-1").await;
        assert_eq!(supply(&app, "Sync", &[("DC-1", "SKU-1", 9)]).await.status, StatusCode::OK);
        // As a row written before the listing moved to GSI3: listed under the tenant's one GSI2 partition.
        let key = oms_core::keys::stock(&tenant(), &ItemId::parse("SKU-1").unwrap(), &LocationId::parse("DC-1").unwrap());
        let unsharded = oms_core::keys::legacy_stock_rows_partitions(&tenant()).next().unwrap();
        let legacy = Update::new()
            .set("GSI2PK", unsharded)
            .set("GSI2SK", "SKU-1#DC-1")
            .remove("GSI3PK")
            .remove("GSI3SK")
            .add("reserved", 2)
            .add("available", -2);
        app.deps.store.update(&key, legacy, None).await.unwrap();
        let report = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({}))).await;
        assert_eq!(report.body["stockRowsChecked"], 1, "{}", report.body);
        assert_eq!(report.body["drift"][0]["drift"], 2, "{}", report.body);
    }

    when_64_allocators_compete_for_one_item_over_8_shards_should_sell_every_unit_once_and_oversell_none => |app| {
        dc(&app, "DC-1").await;
        assert_eq!(supply(&app, "Sync", &[("DC-1", "SKU-HOT", 40)]).await.status, StatusCode::OK);
        set_shards(&app, "SKU-HOT", 8).await;
        let ids: Vec<String> = (0..64).map(|i| format!("F-{i:02}")).collect();
        let mut demanded = 0;
        for (i, id) in ids.iter().enumerate() {
            let quantity = 1 + (i as i64 % 3);
            demanded += quantity;
            order(&app, id, "SKU-HOT", quantity).await;
        }
        assert!(demanded > 40, "demand ({demanded}) exceeds the stock");
        let (full, partial, conflict, elapsed) = app.allocate_concurrently(&ids).await;

        let mut allocated = 0;
        for id in &ids {
            let order = app.get(&format!("/order/api/order/order/orderId/{id}")).await;
            for line in order.data()["OrderLine"].as_array().unwrap() {
                allocated += line["QuantityDetail"].as_array().unwrap().iter().filter(|q| q["StatusId"] == "2000").map(|q| q["Quantity"].as_i64().unwrap()).sum::<i64>();
            }
        }
        let shards = shards_at(&app, "SKU-HOT", "DC-1").await;
        assert_eq!(shards.len(), 8);
        assert_no_shard_oversold(&shards);
        let reserved = sum(&shards, "Reserved");
        assert_eq!(reserved, allocated, "reserved units must equal the units the orders hold");
        assert_eq!(sum(&shards, "OnHand"), 40);
        assert_eq!(reserved, 40, "demand exceeds the stock, so every unit is sold: {shards:?}");
        assert_zero_drift(&app).await;
        println!("{:?}: 64 concurrent allocations over 8 shards in {elapsed:?}: {full} full, {partial} partial, {conflict} gave up; {reserved} of 40 units sold for {demanded} demanded; zero drift", app.backend);
    }
}
