//! Keys spread over shards, read back whole: the change tracker merged by time, and records the
//! previous key design left in its single partitions still read, on both backends.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use chrono::{DateTime, TimeDelta, Utc};
use common::sample_order;
use oms_core::domain::allocation::AllocationId;
use oms_core::domain::ids::{OrderId, TenantId};
use oms_core::keys;
use oms_core::ports::{Index, Item, Key, QueueName, WriteOp};
use oms_core::service::change_tracker::{self, ChangeTrackerMessage};
use oms_core::service::outbox::{self, OutboxMessage, RelayReport};
use serde_json::json;

fn tenant() -> TenantId {
    TenantId::parse("demo").unwrap()
}

/// A change of `order` made `seconds_ago` before `now` (one instant per test, so that a slow
/// backend does not move the boundaries it checks).
fn change(order: &str, now: DateTime<Utc>, seconds_ago: i64) -> ChangeTrackerMessage {
    ChangeTrackerMessage {
        tenant: tenant(),
        order_id: OrderId::parse(order).unwrap(),
        change_id: format!("C-{order}-{seconds_ago}"),
        time: now - TimeDelta::seconds(seconds_ago),
    }
}

fn order_ids(records: &[Item]) -> Vec<&str> {
    records.iter().map(|r| r["OrderId"].as_str().unwrap_or_default()).collect()
}

/// A change-tracker outbox record with `body`, written 5 s ago, listed in GSI1 (whole items)
/// under its GSI3 shard and sort key, as versions before the keys-only listing wrote it.
fn listed_in_gsi1(app: &common::TestApp, body: &str) -> (Item, OutboxMessage) {
    let written = Utc::now() - TimeDelta::seconds(5);
    let (write, message) = outbox::record(&app.deps, &tenant(), QueueName::ChangeTracker, body.into(), written);
    let WriteOp::Put { mut item, .. } = write else { unreachable!() };
    let pk = item.remove(Index::Gsi3.pk_attr()).unwrap();
    let sk = item.remove(Index::Gsi3.sk_attr()).unwrap();
    item.insert(Index::Gsi1.pk_attr().into(), pk);
    item.insert(Index::Gsi1.sk_attr().into(), sk);
    (item, message)
}

/// Runs the relay once, then reads what reached the change-tracker queue.
async fn relay_and_receive(app: &common::TestApp) -> (RelayReport, Vec<String>) {
    let report = outbox::relay_pending(&app.deps, Duration::ZERO, 100).await.unwrap();
    let received = app.deps.queue.receive(QueueName::ChangeTracker, 10, Duration::from_secs(30)).await.unwrap();
    (report, received.into_iter().map(|m| m.body).collect())
}

on_both_backends! {
    when_changes_of_many_orders_land_in_different_shards_list_should_merge_them_oldest_first_up_to_the_limit => |app| {
        // 40 orders, each changed once, the first oldest: their orders hash to many shards.
        let now = Utc::now();
        for n in 0..40 {
            change_tracker::record_change(&app.deps, &change(&format!("O-{n:02}"), now, 100 - n)).await.unwrap();
        }
        let shards: std::collections::BTreeSet<String> =
            (0..40).map(|n| keys::change_tracker(&tenant(), now, &OrderId::parse(&format!("O-{n:02}")).unwrap(), "x").pk).collect();
        assert!(shards.len() > 10, "40 orders should spread over many shards: {shards:?}");

        let first = change_tracker::list(&app.deps, &tenant(), now, 15).await.unwrap();

        let expected: Vec<String> = (0..15).map(|n| format!("O-{n:02}")).collect();
        assert_eq!(order_ids(&first), expected);
        let until = now - TimeDelta::seconds(70);
        assert_eq!(change_tracker::list(&app.deps, &tenant(), until, 100).await.unwrap().len(), 31, "changes up to 70 s ago");
    }

    when_a_tracker_record_sits_in_the_tenants_single_partition_of_before_list_should_still_return_it => |app| {
        let now = Utc::now();
        change_tracker::record_change(&app.deps, &change("O-NEW", now, 5)).await.unwrap();
        let legacy = keys::change_tracker_partitions(&tenant()).next().unwrap();
        assert_eq!(legacy, "T#demo#OCT");
        let old = change("O-OLD", now, 50);
        let mut item = Item::new();
        item.insert("PK".into(), legacy.into());
        item.insert("SK".into(), format!("{}#O-OLD#{}", keys::timestamp(old.time), old.change_id).into());
        item.insert("OrderId".into(), "O-OLD".into());
        app.deps.store.put(item, None).await.unwrap();

        let records = change_tracker::list(&app.deps, &tenant(), now, 10).await.unwrap();

        assert_eq!(order_ids(&records), ["O-OLD", "O-NEW"]);
    }

    when_an_outbox_record_sits_in_the_tenants_single_partition_of_before_the_relay_should_deliver_and_delete_it => |app| {
        let (mut item, message) = listed_in_gsi1(&app, "{\"old\":true}");
        // As the previous design wrote it: one partition per tenant, the id as sort key, in the
        // outbox index's one partition.
        let id = keys::outbox_id(&message.key).to_owned();
        let old_key = Key::new("T#demo#OUTBOX", id.clone());
        item.insert("PK".into(), old_key.pk.clone().into());
        item.insert("SK".into(), old_key.sk.clone().into());
        item.insert(Index::Gsi1.pk_attr().into(), "OUTBOX".into());
        app.deps.store.put(item, None).await.unwrap();
        assert_eq!(outbox::pending(&app.deps).await.unwrap(), 1);

        let (report, received) = relay_and_receive(&app).await;

        assert_eq!(report, RelayReport { delivered: 1, failed: 0, dead_lettered: 0 });
        assert_eq!(app.deps.store.get(&old_key).await.unwrap(), None);
        assert_eq!(received, ["{\"old\":true}"]);
    }

    when_an_outbox_record_is_listed_in_a_gsi1_shard_as_before_the_relay_should_deliver_and_delete_it => |app| {
        // As the previous design listed it: in GSI1 (whole items), in one of the same shards.
        let (item, message) = listed_in_gsi1(&app, "{\"gsi1\":true}");
        app.deps.store.put(item, None).await.unwrap();
        assert_eq!(outbox::pending(&app.deps).await.unwrap(), 1);

        let (report, received) = relay_and_receive(&app).await;

        assert_eq!(report, RelayReport { delivered: 1, failed: 0, dead_lettered: 0 });
        assert_eq!(app.deps.store.get(&message.key).await.unwrap(), None);
        assert_eq!(outbox::pending(&app.deps).await.unwrap(), 0);
        assert_eq!(received, ["{\"gsi1\":true}"]);
    }

    when_an_allocation_is_still_listed_where_the_previous_design_listed_it_query_should_find_it => |app| {
        app.put("/inventory/api/location/DC-ATL", &common::location("Atlanta DC", "DC", 33.64, -84.43)).await;
        let supply = json!({"Mode": "Sync", "Supply": [{"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": 10}]});
        assert_eq!(app.post("/inventory/api/supply", &supply).await.status, StatusCode::OK);
        let mut ids = Vec::new();
        for order in ["O-1", "O-2"] {
            assert_eq!(app.post("/order/api/order/order", &sample_order(order)).await.status, StatusCode::OK);
            let event = json!({"detailType": "ORDER_CREATED", "detail": {"orderId": order}});
            let reply = app.fabric(Method::POST, "/allocation/", Some(&event)).await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
            ids.push(reply.body[0]["allocationId"].as_str().unwrap().to_owned());
        }
        // O-1's allocation as the previous design stored it: in GSI1, not in the keys-only listing.
        let key = keys::allocation(&tenant(), &AllocationId::parse_at("id", &ids[0]).unwrap());
        let mut item = app.deps.store.get(&key).await.unwrap().unwrap();
        item.remove("GSI3PK");
        item.remove("GSI3SK");
        item.insert("GSI1PK".into(), keys::allocations_by_update(&tenant()).into());
        item.insert("GSI1SK".into(), "2026-01-01T00:00:00.000Z#old".into());
        app.deps.store.put(item, None).await.unwrap();

        let reply = app.fabric(Method::POST, "/allocation/query", Some(&json!({"sortBy": "allocationId", "sortDirection": "asc"}))).await;

        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let mut found: Vec<String> = reply.body.as_array().unwrap().iter().map(|d| d["allocationId"].as_str().unwrap().to_owned()).collect();
        found.sort();
        let mut expected = ids.clone();
        expected.sort();
        assert_eq!(found, expected, "each allocation once: {}", reply.body);
    }
}
