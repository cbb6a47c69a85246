//! One contract for the item store, run against the embedded (SQLite) store and DynamoDB.
//!
//! The DynamoDB half needs an emulator at `OMS_TEST_DYNAMODB_ENDPOINT` (e.g. moto_server);
//! without it those tests are skipped, unless `OMS_REQUIRE_EMULATOR=1` makes them fail.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::join_all;
use oms_core::ports::{Condition, Index, Item, ItemStore, Key, Page, Query, SkRange, StoreError, Update, WriteOp};
use oms_core::sqlite::SqliteDb;
use oms_core::store::dynamodb::{DynamoStore, client_for_endpoint, create_table};
use oms_core::store::embedded::EmbeddedStore;
use serde_json::{Value, json};

type Store = Arc<dyn ItemStore>;

fn item(pk: &str, sk: &str, attrs: Value) -> Item {
    let mut item = match attrs {
        Value::Object(map) => map,
        _ => Item::new(),
    };
    item.insert("PK".into(), pk.into());
    item.insert("SK".into(), sk.into());
    item
}

fn sks(items: &[Item]) -> Vec<String> {
    items.iter().map(|item| item["SK"].as_str().unwrap_or_default().to_string()).collect()
}

async fn put_all(store: &Store, items: Vec<Item>) {
    for result in join_all(items.into_iter().map(|item| store.put(item, None))).await {
        result.unwrap();
    }
}

async fn sks_of(store: &Store, query: Query) -> Vec<String> {
    sks(&store.query(query).await.unwrap().items)
}

/// Follows the cursor to the end, checking that only the last page is short.
async fn all_pages(store: &Store, query: Query, limit: usize) -> Vec<Item> {
    let mut items = Vec::new();
    let mut cursor = None;
    for _ in 0..100 {
        let Page { items: page, cursor: next } = store.query(query.clone().limit(limit).cursor(cursor)).await.unwrap();
        assert!(page.len() <= limit, "a page holds at most the limit");
        if page.len() < limit {
            assert!(next.is_none(), "a short page is the last one");
        }
        items.extend(page);
        match next {
            Some(next) => cursor = Some(next),
            None => return items,
        }
    }
    panic!("pagination did not end");
}

fn embedded_store() -> Store {
    Arc::new(EmbeddedStore::new(SqliteDb::in_memory().unwrap()).unwrap())
}

fn embedded_file_store() -> (std::path::PathBuf, Store) {
    let dir = std::env::temp_dir().join(format!("oms-store-contract-{}", ulid::Ulid::new()));
    let store = EmbeddedStore::new(SqliteDb::open(&dir.join("oms.db")).unwrap()).unwrap();
    (dir, Arc::new(store))
}

/// A uniquely named DynamoDB table on the emulator, deleted by `finish`.
struct TestTable {
    client: aws_sdk_dynamodb::Client,
    name: String,
}

impl TestTable {
    async fn create() -> Option<Self> {
        let endpoint = match std::env::var("OMS_TEST_DYNAMODB_ENDPOINT") {
            Ok(endpoint) if !endpoint.is_empty() => endpoint,
            _ if std::env::var("OMS_REQUIRE_EMULATOR").as_deref() == Ok("1") => {
                panic!("OMS_REQUIRE_EMULATOR=1 but OMS_TEST_DYNAMODB_ENDPOINT is not set (e.g. http://127.0.0.1:5000)")
            }
            _ => {
                println!("skipped: OMS_TEST_DYNAMODB_ENDPOINT not set");
                return None;
            }
        };
        let client = client_for_endpoint(&endpoint);
        let name = format!("oms-contract-{}", ulid::Ulid::new().to_string().to_lowercase());
        create_table(&client, &name).await.unwrap();
        Some(Self { client, name })
    }

    fn store(&self) -> Store {
        Arc::new(DynamoStore::new(self.client.clone(), self.name.clone()))
    }

    async fn finish(self) {
        self.client.delete_table().table_name(&self.name).send().await.unwrap();
    }
}

/// Emits each contract test once per backend.
macro_rules! contract {
    ($($name:ident),+ $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::embedded_store()).await;
                }
            )+
        }
        /// On a file: reads on the read pool, writes group-committed and fsync'd.
        mod embedded_file {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (dir, store) = super::embedded_file_store();
                    super::$name(store).await;
                    std::fs::remove_dir_all(dir).ok();
                }
            )+
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(table) = super::TestTable::create().await else { return };
                    super::$name(table.store()).await;
                    table.finish().await;
                }
            )+
        }
    };
}

contract!(
    when_item_is_put_get_should_return_it_with_its_types_intact,
    when_item_is_absent_get_should_return_none,
    when_item_is_put_again_put_should_replace_all_its_attributes,
    when_item_is_deleted_get_should_return_none,
    when_item_is_absent_delete_without_condition_should_succeed,
    when_some_keys_are_absent_or_repeated_batch_get_should_return_each_existing_item_once,
    when_more_than_100_keys_are_asked_batch_get_should_return_every_item,
    when_item_exists_put_with_not_exists_should_fail_with_condition_failed,
    when_item_is_absent_put_with_not_exists_should_create_it,
    when_item_is_absent_put_with_exists_should_fail_with_condition_failed,
    when_version_matches_put_with_equals_should_replace_the_item,
    when_version_differs_put_with_equals_should_fail_with_condition_failed,
    when_equals_compares_strings_and_booleans_only_exact_values_should_match,
    when_one_part_fails_all_should_fail_and_when_every_part_holds_all_should_pass,
    when_all_is_empty_the_condition_should_hold,
    when_item_is_absent_update_with_exists_should_fail_and_create_nothing,
    when_item_is_absent_update_with_not_exists_should_create_it,
    when_value_is_below_at_least_update_should_fail_with_condition_failed,
    when_attribute_is_missing_or_not_a_number_at_least_should_fail,
    when_version_differs_delete_with_equals_should_fail_and_keep_the_item,
    when_item_is_absent_delete_with_exists_should_fail_with_condition_failed,
    when_condition_holds_delete_should_remove_the_item,
    when_item_is_absent_update_should_create_it_with_its_key_and_add_from_zero,
    when_item_exists_update_should_set_add_remove_and_return_the_new_item,
    when_attribute_is_not_numeric_add_should_fail_with_invalid,
    when_20_reservations_race_for_10_units_exactly_10_should_succeed_and_leave_0,
    when_40_transfers_race_for_25_units_exactly_25_should_commit_and_keep_the_total,
    when_all_conditions_hold_transact_should_apply_every_write,
    when_conditions_fail_transact_should_write_nothing_and_report_their_indexes,
    when_transaction_has_100_writes_transact_should_apply_them_all,
    when_transaction_has_101_writes_transact_should_fail_with_invalid,
    when_transaction_repeats_a_key_transact_should_fail_with_invalid,
    when_partition_is_queried_each_sk_range_should_select_in_byte_order,
    when_query_is_descending_items_should_come_in_reverse_order,
    when_25_items_are_paged_every_item_should_come_exactly_once,
    when_gsi1_is_queried_only_items_with_gsi1_attributes_should_appear_by_gsi1sk,
    when_gsi2_is_queried_sk_range_should_apply_to_gsi2sk,
    when_update_removes_gsi_attributes_item_should_leave_the_index,
    when_partitions_share_a_prefix_query_should_return_only_its_own_partition,
    when_cursor_is_malformed_query_should_fail_with_invalid,
    when_a_keys_only_index_is_queried_should_return_only_the_table_and_index_keys,
    when_a_keys_only_listing_is_paged_every_item_should_come_exactly_once,
);

async fn when_item_is_put_get_should_return_it_with_its_types_intact(store: Store) {
    let stored = item(
        "ORDER#1",
        "HEADER",
        json!({
            "name": "widget", "count": 42, "negative": -7, "big": i64::MAX, "price": 12.5,
            "flag": true, "nothing": null, "tags": ["a", "b"], "nested": {"qty": 3, "label": "x"},
            "empty_list": [], "empty_map": {}, "empty_string": ""
        }),
    );
    store.put(stored.clone(), None).await.unwrap();

    let read = store.get(&Key::new("ORDER#1", "HEADER")).await.unwrap().unwrap();

    assert_eq!(read, stored);
    assert!(read["count"].is_i64() && read["nested"]["qty"].is_i64(), "integers stay integers: {read:?}");
}

async fn when_item_is_absent_get_should_return_none(store: Store) {
    assert_eq!(store.get(&Key::new("ORDER#1", "HEADER")).await.unwrap(), None);
}

async fn when_item_is_put_again_put_should_replace_all_its_attributes(store: Store) {
    store.put(item("P", "S", json!({"a": 1, "b": 2})), None).await.unwrap();
    store.put(item("P", "S", json!({"c": 3})), None).await.unwrap();

    assert_eq!(store.get(&Key::new("P", "S")).await.unwrap(), Some(item("P", "S", json!({"c": 3}))));
}

async fn when_item_is_deleted_get_should_return_none(store: Store) {
    store.put(item("P", "S", json!({})), None).await.unwrap();

    store.delete(&Key::new("P", "S"), None).await.unwrap();

    assert_eq!(store.get(&Key::new("P", "S")).await.unwrap(), None);
}

async fn when_item_is_absent_delete_without_condition_should_succeed(store: Store) {
    store.delete(&Key::new("P", "S"), None).await.unwrap();
}

async fn when_some_keys_are_absent_or_repeated_batch_get_should_return_each_existing_item_once(store: Store) {
    put_all(&store, vec![item("P", "1", json!({"n": 1})), item("P", "2", json!({"n": 2}))]).await;
    let keys = [Key::new("P", "1"), Key::new("P", "2"), Key::new("P", "3"), Key::new("P", "1")];

    let mut found = sks(&store.batch_get(&keys).await.unwrap());
    found.sort();

    assert_eq!(found, ["1", "2"]);
    assert!(store.batch_get(&[]).await.unwrap().is_empty());
}

async fn when_more_than_100_keys_are_asked_batch_get_should_return_every_item(store: Store) {
    put_all(&store, (0..150).map(|i| item("P", &format!("{i:03}"), json!({"n": i}))).collect()).await;
    let keys: Vec<Key> = (0..160).map(|i| Key::new("P", format!("{i:03}"))).collect();

    let found: BTreeSet<String> = sks(&store.batch_get(&keys).await.unwrap()).into_iter().collect();

    assert_eq!(found, (0..150).map(|i| format!("{i:03}")).collect::<BTreeSet<_>>());
}

async fn when_item_exists_put_with_not_exists_should_fail_with_condition_failed(store: Store) {
    store.put(item("P", "S", json!({"v": 1})), None).await.unwrap();

    let err = store.put(item("P", "S", json!({"v": 2})), Some(Condition::NotExists)).await.unwrap_err();

    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert_eq!(store.get(&Key::new("P", "S")).await.unwrap(), Some(item("P", "S", json!({"v": 1}))));
}

async fn when_item_is_absent_put_with_not_exists_should_create_it(store: Store) {
    store.put(item("P", "S", json!({"v": 1})), Some(Condition::NotExists)).await.unwrap();

    assert_eq!(store.get(&Key::new("P", "S")).await.unwrap(), Some(item("P", "S", json!({"v": 1}))));
}

async fn when_item_is_absent_put_with_exists_should_fail_with_condition_failed(store: Store) {
    let err = store.put(item("P", "S", json!({})), Some(Condition::Exists)).await.unwrap_err();

    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert_eq!(store.get(&Key::new("P", "S")).await.unwrap(), None);
}

async fn when_version_matches_put_with_equals_should_replace_the_item(store: Store) {
    store.put(item("P", "S", json!({"version": 3})), None).await.unwrap();

    store.put(item("P", "S", json!({"version": 4})), Some(Condition::version_is(3))).await.unwrap();

    assert_eq!(store.get(&Key::new("P", "S")).await.unwrap(), Some(item("P", "S", json!({"version": 4}))));
}

async fn when_version_differs_put_with_equals_should_fail_with_condition_failed(store: Store) {
    store.put(item("P", "S", json!({"version": 3})), None).await.unwrap();

    let stale = store.put(item("P", "S", json!({"version": 3})), Some(Condition::version_is(2))).await;
    let missing = store.put(item("P", "T", json!({"version": 1})), Some(Condition::version_is(0))).await;

    assert!(matches!(stale, Err(StoreError::ConditionFailed)), "{stale:?}");
    assert!(matches!(missing, Err(StoreError::ConditionFailed)), "{missing:?}");
    assert_eq!(store.get(&Key::new("P", "T")).await.unwrap(), None);
}

async fn when_equals_compares_strings_and_booleans_only_exact_values_should_match(store: Store) {
    store.put(item("P", "S", json!({"status": "OPEN", "active": true})), None).await.unwrap();
    let key = Key::new("P", "S");
    let touch = |condition: Condition| store.update(&key, Update::new().add("touched", 1), Some(condition));

    touch(Condition::Equals("status".into(), json!("OPEN"))).await.unwrap();
    touch(Condition::Equals("active".into(), json!(true))).await.unwrap();
    for wrong in [json!("open"), json!("OPEN "), json!(1)] {
        let err = touch(Condition::Equals("status".into(), wrong)).await.unwrap_err();
        assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    }
    let err = touch(Condition::Equals("active".into(), json!(false))).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");

    assert_eq!(store.get(&key).await.unwrap().unwrap()["touched"], json!(2));
}

async fn when_one_part_fails_all_should_fail_and_when_every_part_holds_all_should_pass(store: Store) {
    store.put(item("P", "S", json!({"version": 1, "available": 5})), None).await.unwrap();
    let key = Key::new("P", "S");
    let all = |version: u64, at_least: i64| {
        Condition::All(vec![
            Condition::Exists,
            Condition::version_is(version),
            Condition::AtLeast("available".into(), at_least),
        ])
    };

    let err = store.update(&key, Update::new().set("version", 2), Some(all(1, 6))).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    let err = store.delete(&key, Some(all(0, 5))).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");

    let updated = store.update(&key, Update::new().set("version", 2), Some(all(1, 5))).await.unwrap();
    assert_eq!(updated["version"], json!(2));
    store.put(item("P", "S", json!({"version": 3})), Some(all(2, 0))).await.unwrap();
    assert_eq!(store.get(&key).await.unwrap().unwrap()["version"], json!(3));
}

async fn when_all_is_empty_the_condition_should_hold(store: Store) {
    store.put(item("P", "S", json!({})), Some(Condition::All(vec![]))).await.unwrap();
    store
        .transact(vec![WriteOp::Check { key: Key::new("P", "absent"), condition: Condition::All(vec![]) }])
        .await
        .unwrap();

    assert!(store.get(&Key::new("P", "S")).await.unwrap().is_some());
}

async fn when_item_is_absent_update_with_exists_should_fail_and_create_nothing(store: Store) {
    let key = Key::new("P", "S");

    let err = store.update(&key, Update::new().set("a", 1), Some(Condition::Exists)).await.unwrap_err();

    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert_eq!(store.get(&key).await.unwrap(), None);
}

async fn when_item_is_absent_update_with_not_exists_should_create_it(store: Store) {
    let key = Key::new("P", "S");

    let created = store.update(&key, Update::new().set("a", 1), Some(Condition::NotExists)).await.unwrap();
    let again = store.update(&key, Update::new().set("a", 2), Some(Condition::NotExists)).await;

    assert_eq!(created, item("P", "S", json!({"a": 1})));
    assert!(matches!(again, Err(StoreError::ConditionFailed)), "{again:?}");
    assert_eq!(store.get(&key).await.unwrap(), Some(created));
}

async fn when_value_is_below_at_least_update_should_fail_with_condition_failed(store: Store) {
    store.put(item("SKU#1", "NODE#A", json!({"available": 3})), None).await.unwrap();
    let key = Key::new("SKU#1", "NODE#A");
    let reserve = |q: i64| {
        store.update(&key, Update::new().add("available", -q), Some(Condition::AtLeast("available".into(), q)))
    };

    let err = reserve(4).await.unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert_eq!(reserve(3).await.unwrap()["available"], json!(0));
    assert!(matches!(reserve(1).await, Err(StoreError::ConditionFailed)));
    assert_eq!(store.get(&key).await.unwrap().unwrap()["available"], json!(0));
}

async fn when_attribute_is_missing_or_not_a_number_at_least_should_fail(store: Store) {
    store.put(item("P", "S", json!({"text": "10"})), None).await.unwrap();
    let key = Key::new("P", "S");

    for attr in ["text", "missing"] {
        let err =
            store.update(&key, Update::new().set("x", 1), Some(Condition::AtLeast(attr.into(), 0))).await.unwrap_err();
        assert!(matches!(err, StoreError::ConditionFailed), "{attr}: {err:?}");
    }
    let absent =
        store.update(&Key::new("P", "T"), Update::new().set("x", 1), Some(Condition::AtLeast("n".into(), 0))).await;
    assert!(matches!(absent, Err(StoreError::ConditionFailed)), "{absent:?}");
}

async fn when_version_differs_delete_with_equals_should_fail_and_keep_the_item(store: Store) {
    store.put(item("P", "S", json!({"version": 2})), None).await.unwrap();
    let key = Key::new("P", "S");

    let err = store.delete(&key, Some(Condition::version_is(1))).await.unwrap_err();

    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
    assert!(store.get(&key).await.unwrap().is_some());
}

async fn when_item_is_absent_delete_with_exists_should_fail_with_condition_failed(store: Store) {
    let err = store.delete(&Key::new("P", "S"), Some(Condition::Exists)).await.unwrap_err();

    assert!(matches!(err, StoreError::ConditionFailed), "{err:?}");
}

async fn when_condition_holds_delete_should_remove_the_item(store: Store) {
    put_all(&store, vec![item("P", "1", json!({"version": 2})), item("P", "2", json!({}))]).await;

    store.delete(&Key::new("P", "1"), Some(Condition::version_is(2))).await.unwrap();
    store.delete(&Key::new("P", "2"), Some(Condition::Exists)).await.unwrap();
    store.delete(&Key::new("P", "3"), Some(Condition::NotExists)).await.unwrap();

    assert!(store.batch_get(&[Key::new("P", "1"), Key::new("P", "2")]).await.unwrap().is_empty());
}

async fn when_item_is_absent_update_should_create_it_with_its_key_and_add_from_zero(store: Store) {
    let key = Key::new("SKU#1", "NODE#A");

    let created =
        store.update(&key, Update::new().add("available", 5).add("reserved", -2).set("sku", "1"), None).await.unwrap();

    let expected = item("SKU#1", "NODE#A", json!({"available": 5, "reserved": -2, "sku": "1"}));
    assert_eq!(created, expected);
    assert_eq!(store.get(&key).await.unwrap(), Some(expected));
}

async fn when_item_exists_update_should_set_add_remove_and_return_the_new_item(store: Store) {
    store.put(item("P", "S", json!({"status": "OPEN", "count": 2, "note": "x", "keep": true})), None).await.unwrap();
    let key = Key::new("P", "S");

    let updated = store
        .update(
            &key,
            Update::new().set("status", "CLOSED").set("lines", json!([{"qty": 1}])).add("count", 3).remove("note"),
            None,
        )
        .await
        .unwrap();

    let expected = item("P", "S", json!({"status": "CLOSED", "lines": [{"qty": 1}], "count": 5, "keep": true}));
    assert_eq!(updated, expected);
    assert_eq!(store.get(&key).await.unwrap(), Some(expected));
}

async fn when_attribute_is_not_numeric_add_should_fail_with_invalid(store: Store) {
    store.put(item("P", "S", json!({"status": "OPEN"})), None).await.unwrap();
    let key = Key::new("P", "S");

    let err = store.update(&key, Update::new().add("status", 1), None).await.unwrap_err();

    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(store.get(&key).await.unwrap(), Some(item("P", "S", json!({"status": "OPEN"}))));
}

async fn when_20_reservations_race_for_10_units_exactly_10_should_succeed_and_leave_0(store: Store) {
    let key = Key::new("SKU#1", "NODE#A");
    store.put(item("SKU#1", "NODE#A", json!({"available": 10})), None).await.unwrap();

    let reservations = (0..20).map(|_| {
        let (store, key) = (store.clone(), key.clone());
        tokio::spawn(async move {
            store
                .update(&key, Update::new().add("available", -1), Some(Condition::AtLeast("available".into(), 1)))
                .await
        })
    });
    let mut succeeded = 0;
    for outcome in join_all(reservations).await {
        match outcome.unwrap() {
            Ok(_) => succeeded += 1,
            Err(StoreError::ConditionFailed) => {}
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }

    assert_eq!(succeeded, 10);
    assert_eq!(store.get(&key).await.unwrap().unwrap()["available"], json!(0));
}

async fn when_40_transfers_race_for_25_units_exactly_25_should_commit_and_keep_the_total(store: Store) {
    let (from, to) = (Key::new("SKU#2", "NODE#A"), Key::new("SKU#2", "NODE#B"));
    put_all(&store, vec![item("SKU#2", "NODE#A", json!({"n": 25})), item("SKU#2", "NODE#B", json!({"n": 0}))]).await;

    let transfers = (0..40).map(|_| {
        let (store, from, to) = (store.clone(), from.clone(), to.clone());
        tokio::spawn(async move {
            loop {
                let writes = vec![
                    WriteOp::Update {
                        key: from.clone(),
                        update: Update::new().add("n", -1),
                        condition: Some(Condition::AtLeast("n".into(), 1)),
                    },
                    WriteOp::Update { key: to.clone(), update: Update::new().add("n", 1), condition: None },
                ];
                match store.transact(writes).await {
                    // DynamoDB refuses a transaction that overlaps another in flight: try again.
                    Err(StoreError::TransactionConflict) => tokio::task::yield_now().await,
                    outcome => return outcome,
                }
            }
        })
    });
    let mut committed = 0;
    for outcome in join_all(transfers).await {
        match outcome.unwrap() {
            Ok(()) => committed += 1,
            Err(StoreError::TransactionCanceled { failed }) => assert_eq!(failed, vec![0]),
            Err(other) => panic!("unexpected error: {other:?}"),
        }
    }

    assert_eq!(committed, 25);
    assert_eq!(store.get(&from).await.unwrap().unwrap()["n"], json!(0));
    assert_eq!(store.get(&to).await.unwrap().unwrap()["n"], json!(25));
}

async fn when_all_conditions_hold_transact_should_apply_every_write(store: Store) {
    put_all(
        &store,
        vec![
            item("P", "update", json!({"n": 1, "version": 1})),
            item("P", "delete", json!({})),
            item("P", "check", json!({})),
        ],
    )
    .await;

    store
        .transact(vec![
            WriteOp::Put { item: item("P", "put", json!({"n": 0})), condition: Some(Condition::NotExists) },
            WriteOp::Update {
                key: Key::new("P", "update"),
                update: Update::new().add("n", 1).add("version", 1),
                condition: Some(Condition::version_is(1)),
            },
            WriteOp::Delete { key: Key::new("P", "delete"), condition: Some(Condition::Exists) },
            WriteOp::Check { key: Key::new("P", "check"), condition: Condition::Exists },
        ])
        .await
        .unwrap();

    let found = store.query(Query::partition("P")).await.unwrap().items;
    assert_eq!(
        found,
        vec![
            item("P", "check", json!({})),
            item("P", "put", json!({"n": 0})),
            item("P", "update", json!({"n": 2, "version": 2}))
        ]
    );
}

async fn when_conditions_fail_transact_should_write_nothing_and_report_their_indexes(store: Store) {
    put_all(&store, vec![item("P", "taken", json!({})), item("P", "stock", json!({"available": 1}))]).await;
    let before = store.query(Query::partition("P")).await.unwrap().items;

    let err = store
        .transact(vec![
            WriteOp::Put { item: item("P", "new", json!({})), condition: Some(Condition::NotExists) },
            WriteOp::Put { item: item("P", "taken", json!({"x": 1})), condition: Some(Condition::NotExists) },
            WriteOp::Update { key: Key::new("P", "counter"), update: Update::new().add("n", 1), condition: None },
            WriteOp::Update {
                key: Key::new("P", "stock"),
                update: Update::new().add("available", -2),
                condition: Some(Condition::AtLeast("available".into(), 2)),
            },
            WriteOp::Delete { key: Key::new("P", "absent"), condition: None },
        ])
        .await
        .unwrap_err();

    match err {
        StoreError::TransactionCanceled { failed } => assert_eq!(failed, [1, 3]),
        other => panic!("expected TransactionCanceled, got {other:?}"),
    }
    assert_eq!(store.query(Query::partition("P")).await.unwrap().items, before);

    let err = store.transact(vec![WriteOp::Check { key: Key::new("P", "absent"), condition: Condition::Exists }]).await;
    assert!(matches!(err, Err(StoreError::TransactionCanceled { ref failed }) if *failed == [0]), "{err:?}");
}

async fn when_transaction_has_100_writes_transact_should_apply_them_all(store: Store) {
    let writes = (0..100)
        .map(|i| WriteOp::Put {
            item: item("P", &format!("{i:03}"), json!({"n": i})),
            condition: Some(Condition::NotExists),
        })
        .collect();

    store.transact(writes).await.unwrap();

    assert_eq!(store.query(Query::partition("P")).await.unwrap().items.len(), 100);
}

async fn when_transaction_has_101_writes_transact_should_fail_with_invalid(store: Store) {
    let writes =
        (0..101).map(|i| WriteOp::Put { item: item("P", &format!("{i:03}"), json!({})), condition: None }).collect();

    let err = store.transact(writes).await.unwrap_err();

    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert!(store.query(Query::partition("P")).await.unwrap().items.is_empty());
}

async fn when_transaction_repeats_a_key_transact_should_fail_with_invalid(store: Store) {
    let err = store
        .transact(vec![
            WriteOp::Put { item: item("P", "S", json!({})), condition: None },
            WriteOp::Update { key: Key::new("P", "S"), update: Update::new().add("n", 1), condition: None },
        ])
        .await
        .unwrap_err();

    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
    assert_eq!(store.get(&Key::new("P", "S")).await.unwrap(), None);
}

async fn when_partition_is_queried_each_sk_range_should_select_in_byte_order(store: Store) {
    // Byte order: upper case before lower case, ASCII before multi-byte UTF-8.
    let keys = ["LINE#001", "LINE#002", "LINE#010", "LINE#a", "LINE#é", "LINEX", "HEADER", "Z"];
    put_all(&store, keys.iter().map(|sk| item("ORDER#1", sk, json!({}))).collect()).await;
    let q = || Query::partition("ORDER#1");
    let s = |v: &str| v.to_string();

    assert_eq!(
        sks_of(&store, q()).await,
        ["HEADER", "LINE#001", "LINE#002", "LINE#010", "LINE#a", "LINE#é", "LINEX", "Z"]
    );
    assert_eq!(sks_of(&store, q().sk(SkRange::Eq(s("LINE#002")))).await, ["LINE#002"]);
    assert_eq!(sks_of(&store, q().sk(SkRange::Eq(s("LINE#")))).await, Vec::<String>::new());
    assert_eq!(
        sks_of(&store, q().sk(SkRange::BeginsWith(s("LINE#")))).await,
        ["LINE#001", "LINE#002", "LINE#010", "LINE#a", "LINE#é"]
    );
    assert_eq!(
        sks_of(&store, q().sk(SkRange::Between(s("LINE#002"), s("LINE#a")))).await,
        ["LINE#002", "LINE#010", "LINE#a"]
    );
    assert_eq!(sks_of(&store, q().sk(SkRange::Ge(s("LINE#a")))).await, ["LINE#a", "LINE#é", "LINEX", "Z"]);
    assert_eq!(sks_of(&store, q().sk(SkRange::Le(s("LINE#002")))).await, ["HEADER", "LINE#001", "LINE#002"]);
    assert!(sks_of(&store, Query::partition("ORDER#2")).await.is_empty());
}

async fn when_query_is_descending_items_should_come_in_reverse_order(store: Store) {
    put_all(&store, ["A", "B", "C", "D"].iter().map(|sk| item("P", sk, json!({}))).collect()).await;

    assert_eq!(sks_of(&store, Query::partition("P").descending()).await, ["D", "C", "B", "A"]);
    assert_eq!(
        sks_of(&store, Query::partition("P").sk(SkRange::Between("B".into(), "C".into())).descending()).await,
        ["C", "B"]
    );
    assert_eq!(sks_of(&store, Query::partition("P").descending().limit(2)).await, ["D", "C"]);
}

async fn when_25_items_are_paged_every_item_should_come_exactly_once(store: Store) {
    let items: Vec<Item> = (0..25)
        .map(|i| item("P", &format!("{i:02}"), json!({"GSI1PK": "ALL", "GSI1SK": format!("{:02}", 24 - i)})))
        .collect();
    put_all(&store, items).await;
    let ascending: Vec<String> = (0..25).map(|i| format!("{i:02}")).collect();
    let descending: Vec<String> = ascending.iter().rev().cloned().collect();

    for limit in [1, 7, 5, 25, 30] {
        assert_eq!(sks(&all_pages(&store, Query::partition("P"), limit).await), ascending, "limit {limit}");
    }
    assert_eq!(sks(&all_pages(&store, Query::partition("P").descending(), 10).await), descending);
    assert_eq!(sks(&all_pages(&store, Query::partition("ALL").on(Index::Gsi1), 4).await), descending);
    assert_eq!(
        sks(&all_pages(&store, Query::partition("P").sk(SkRange::Between("05".into(), "19".into())), 4).await),
        ascending[5..20]
    );
}

async fn when_gsi1_is_queried_only_items_with_gsi1_attributes_should_appear_by_gsi1sk(store: Store) {
    put_all(
        &store,
        vec![
            item("ORDER#1", "HEADER", json!({"GSI1PK": "STATUS#OPEN", "GSI1SK": "2024-03-01"})),
            item("ORDER#2", "HEADER", json!({"GSI1PK": "STATUS#OPEN", "GSI1SK": "2024-01-15"})),
            item("ORDER#3", "HEADER", json!({"GSI1PK": "STATUS#CLOSED", "GSI1SK": "2024-02-01"})),
            item("ORDER#4", "HEADER", json!({"GSI1PK": "STATUS#OPEN"})),
            item("ORDER#5", "HEADER", json!({"GSI2PK": "STATUS#OPEN", "GSI2SK": "2024-01-01"})),
            item("ORDER#6", "HEADER", json!({})),
        ],
    )
    .await;
    let pks =
        |page: Page| page.items.iter().map(|i| i["PK"].as_str().unwrap_or_default().to_string()).collect::<Vec<_>>();
    let open = Query::partition("STATUS#OPEN").on(Index::Gsi1);

    assert_eq!(pks(store.query(open.clone()).await.unwrap()), ["ORDER#2", "ORDER#1"]);
    assert_eq!(pks(store.query(open.clone().descending()).await.unwrap()), ["ORDER#1", "ORDER#2"]);
    assert_eq!(pks(store.query(open.sk(SkRange::Ge("2024-02".into()))).await.unwrap()), ["ORDER#1"]);
    let page = store.query(Query::partition("STATUS#CLOSED").on(Index::Gsi1)).await.unwrap();
    assert_eq!(page.items, vec![item("ORDER#3", "HEADER", json!({"GSI1PK": "STATUS#CLOSED", "GSI1SK": "2024-02-01"}))]);
}

async fn when_gsi2_is_queried_sk_range_should_apply_to_gsi2sk(store: Store) {
    put_all(
        &store,
        vec![
            item("SKU#1", "NODE#A", json!({"GSI2PK": "NODE#A", "GSI2SK": "SKU#1"})),
            item("SKU#2", "NODE#A", json!({"GSI2PK": "NODE#A", "GSI2SK": "SKU#2"})),
            item("SKU#3", "NODE#A", json!({"GSI2PK": "NODE#A", "GSI2SK": "OTHER#3"})),
            item("SKU#4", "NODE#A", json!({"GSI1PK": "NODE#A", "GSI1SK": "SKU#4"})),
            item("NODE#A", "SKU#5", json!({})),
        ],
    )
    .await;
    let node = || Query::partition("NODE#A").on(Index::Gsi2);
    let pks =
        |items: Vec<Item>| items.iter().map(|i| i["PK"].as_str().unwrap_or_default().to_string()).collect::<Vec<_>>();

    assert_eq!(pks(store.query(node()).await.unwrap().items), ["SKU#3", "SKU#1", "SKU#2"]);
    assert_eq!(
        pks(store.query(node().sk(SkRange::BeginsWith("SKU#".into()))).await.unwrap().items),
        ["SKU#1", "SKU#2"]
    );
    assert_eq!(pks(store.query(node().sk(SkRange::Eq("SKU#2".into()))).await.unwrap().items), ["SKU#2"]);
    assert_eq!(pks(store.query(node().sk(SkRange::Le("SKU#1".into()))).await.unwrap().items), ["SKU#3", "SKU#1"]);
}

async fn when_update_removes_gsi_attributes_item_should_leave_the_index(store: Store) {
    let key = Key::new("ORDER#1", "HEADER");
    store.update(&key, Update::new().set("GSI1PK", "STATUS#OPEN").set("GSI1SK", "1"), None).await.unwrap();
    let open = || Query::partition("STATUS#OPEN").on(Index::Gsi1);
    assert_eq!(store.query(open()).await.unwrap().items.len(), 1);

    store.update(&key, Update::new().remove("GSI1PK").remove("GSI1SK"), None).await.unwrap();

    assert!(store.query(open()).await.unwrap().items.is_empty());
}

async fn when_partitions_share_a_prefix_query_should_return_only_its_own_partition(store: Store) {
    put_all(
        &store,
        vec![
            item("TENANT#1#ORDER#1", "HEADER", json!({"GSI1PK": "TENANT#1#OPEN", "GSI1SK": "a"})),
            item("TENANT#10#ORDER#1", "HEADER", json!({"GSI1PK": "TENANT#10#OPEN", "GSI1SK": "a"})),
            item("TENANT#1", "HEADER", json!({"GSI1PK": "TENANT#1", "GSI1SK": "a"})),
            item("TENANT#10", "HEADER", json!({"GSI1PK": "TENANT#10", "GSI1SK": "a"})),
        ],
    )
    .await;

    for pk in ["TENANT#1", "TENANT#1#ORDER#1"] {
        let items = store.query(Query::partition(pk)).await.unwrap().items;
        assert!(items.len() == 1 && items[0]["PK"] == pk, "{pk}: {items:?}");
    }
    for gsi_pk in ["TENANT#1", "TENANT#1#OPEN"] {
        let items = store.query(Query::partition(gsi_pk).on(Index::Gsi1)).await.unwrap().items;
        assert!(items.len() == 1 && items[0]["GSI1PK"] == gsi_pk, "{gsi_pk}: {items:?}");
    }
}

async fn when_a_keys_only_index_is_queried_should_return_only_the_table_and_index_keys(store: Store) {
    let listed = json!({"GSI3PK": "LIST#1", "GSI3SK": "b", "GSI1PK": "G", "GSI1SK": "1", "onHand": 5, "name": "x"});
    put_all(&store, vec![item("ROW#1", "A", listed), item("ROW#2", "A", json!({"GSI3PK": "LIST#1", "GSI3SK": "a"}))])
        .await;
    // An update of attributes the index does not project leaves the entry as it was.
    store.update(&Key::new("ROW#1", "A"), Update::new().add("onHand", 2), None).await.unwrap();

    let items = store.query(Query::partition("LIST#1").on(Index::Gsi3)).await.unwrap().items;

    let keys_only = |pk: &str, sk: &str| item(pk, "A", json!({"GSI3PK": "LIST#1", "GSI3SK": sk}));
    assert_eq!(items, vec![keys_only("ROW#2", "a"), keys_only("ROW#1", "b")]);
    assert_eq!(store.get(&Key::new("ROW#1", "A")).await.unwrap().unwrap()["onHand"], 7, "the table keeps everything");
}

async fn when_a_keys_only_listing_is_paged_every_item_should_come_exactly_once(store: Store) {
    let rows = (0..7).map(|n| item(&format!("ROW#{n}"), "A", json!({"GSI3PK": "LIST", "GSI3SK": format!("{n:02}")})));
    put_all(&store, rows.collect()).await;

    let listed = all_pages(&store, Query::partition("LIST").on(Index::Gsi3).descending(), 3).await;

    let pks: Vec<&str> = listed.iter().map(|i| i["PK"].as_str().unwrap_or_default()).collect();
    assert_eq!(pks, ["ROW#6", "ROW#5", "ROW#4", "ROW#3", "ROW#2", "ROW#1", "ROW#0"]);
    assert!(listed.iter().all(|i| i.len() == 4), "keys only: {listed:?}");
}

async fn when_cursor_is_malformed_query_should_fail_with_invalid(store: Store) {
    let err = store.query(Query::partition("P").limit(5).cursor(Some("not a cursor!".into()))).await.unwrap_err();

    assert!(matches!(err, StoreError::Invalid(_)), "{err:?}");
}

#[tokio::test]
async fn when_a_file_from_before_gsi3_is_opened_embedded_store_should_add_the_index_and_list_its_items() {
    let dir = std::env::temp_dir().join(format!("oms-store-contract-{}", ulid::Ulid::new()));
    let path = dir.join("oms.db");
    std::fs::create_dir_all(&dir).unwrap();
    {
        // The schema as it was, with an item that already carries GSI3 attributes.
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE items (pk TEXT NOT NULL, sk TEXT NOT NULL, body TEXT NOT NULL, gsi1pk TEXT, gsi1sk TEXT,
                gsi2pk TEXT, gsi2sk TEXT, PRIMARY KEY (pk, sk)) WITHOUT ROWID;
             INSERT INTO items (pk, sk, body) VALUES
                ('P', 'S', '{\"PK\":\"P\",\"SK\":\"S\",\"GSI3PK\":\"L\",\"GSI3SK\":\"1\",\"n\":1}');",
        )
        .unwrap();
    }

    let store = EmbeddedStore::new(SqliteDb::open(&path).unwrap()).unwrap();

    let listed = store.query(Query::partition("L").on(Index::Gsi3)).await.unwrap().items;
    assert_eq!(listed, vec![item("P", "S", json!({"GSI3PK": "L", "GSI3SK": "1"}))]);
    store.put(item("Q", "S", json!({"GSI3PK": "L", "GSI3SK": "2"})), None).await.unwrap();
    assert_eq!(store.query(Query::partition("L").on(Index::Gsi3)).await.unwrap().items.len(), 2);
    drop(store);
    let reopened = EmbeddedStore::new(SqliteDb::open(&path).unwrap()).unwrap();
    assert_eq!(reopened.query(Query::partition("L").on(Index::Gsi3)).await.unwrap().items.len(), 2);
    drop(reopened);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn when_file_is_reopened_embedded_store_should_find_its_items() {
    let dir = std::env::temp_dir().join(format!("oms-store-contract-{}", ulid::Ulid::new()));
    let path = dir.join("oms.db");
    {
        let store = EmbeddedStore::new(SqliteDb::open(&path).unwrap()).unwrap();
        store.put(item("P", "S", json!({"n": 1, "GSI1PK": "G", "GSI1SK": "1"})), None).await.unwrap();
        store.update(&Key::new("P", "S"), Update::new().add("n", 1), None).await.unwrap();
    }

    let reopened = EmbeddedStore::new(SqliteDb::open(&path).unwrap()).unwrap();

    let expected = item("P", "S", json!({"n": 2, "GSI1PK": "G", "GSI1SK": "1"}));
    assert_eq!(reopened.get(&Key::new("P", "S")).await.unwrap(), Some(expected.clone()));
    assert_eq!(reopened.query(Query::partition("G").on(Index::Gsi1)).await.unwrap().items, vec![expected]);
    drop(reopened);
    std::fs::remove_dir_all(&dir).unwrap();
}
