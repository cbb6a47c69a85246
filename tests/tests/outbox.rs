//! The outbox relay over the sharded outbox index, on both backends.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::TestApp;
use oms_core::domain::ids::TenantId;
use oms_core::keys;
use oms_core::ports::{Index, QueueName, WriteOp};
use oms_core::service::outbox::{self, OutboxMessage, RelayReport};
use serde_json::json;

const TENANTS: [&str; 6] = ["demo", "acme", "globex", "initech", "umbrella", "hooli"];

/// Records a message for each body, written a second ago (older than no grace at all).
fn records(app: &TestApp, tenant: &str, bodies: impl IntoIterator<Item = String>) -> Vec<(WriteOp, OutboxMessage)> {
    let tenant = TenantId::parse(tenant).unwrap();
    let written = chrono::Utc::now() - chrono::TimeDelta::seconds(1);
    bodies.into_iter().map(|body| outbox::record(&app.deps, &tenant, QueueName::ChangeTracker, body, written)).collect()
}

/// Receives and acknowledges every message in the change tracker queue; their bodies.
async fn drain(app: &TestApp) -> BTreeSet<String> {
    let mut bodies = BTreeSet::new();
    loop {
        let messages = app.deps.queue.receive(QueueName::ChangeTracker, 10, Duration::from_secs(30)).await.unwrap();
        if messages.is_empty() {
            return bodies;
        }
        let handles: Vec<String> = messages.iter().map(|m| m.receipt_handle.clone()).collect();
        app.deps.queue.ack(QueueName::ChangeTracker, &handles).await.unwrap();
        bodies.extend(messages.into_iter().map(|m| m.body));
    }
}

async fn relay(app: &TestApp) -> RelayReport {
    outbox::relay_pending(&app.deps, Duration::ZERO, 1000).await.unwrap()
}

on_both_backends! {
    when_records_of_several_tenants_are_spread_over_shards_should_relay_every_one => |app| {
        let mut writes = Vec::new();
        let mut expected = BTreeSet::new();
        for tenant in TENANTS {
            let bodies: Vec<String> = (0..4).map(|i| json!({"tenant": tenant, "n": i}).to_string()).collect();
            expected.extend(bodies.clone());
            writes.extend(records(&app, tenant, bodies));
        }
        let keys: Vec<_> = writes.iter().map(|(_, message)| message.key.clone()).collect();
        app.deps.store.transact(writes.into_iter().map(|(write, _)| write).collect()).await.unwrap();
        let mut shards = BTreeSet::new();
        for key in &keys {
            let item = app.deps.store.get(key).await.unwrap().unwrap();
            let shard = item[Index::Gsi3.pk_attr()].as_str().unwrap().to_owned();
            assert!(keys::outbox_index_partitions().any(|p| p == shard), "{shard} is not an outbox shard");
            shards.insert(shard);
        }
        assert!(shards.len() >= 4, "24 records should land in several shards, got {shards:?}");
        assert_eq!(outbox::pending(&app.deps).await.unwrap(), 24);

        assert_eq!(relay(&app).await, RelayReport { delivered: 24, failed: 0, dead_lettered: 0 });
        assert_eq!(outbox::pending(&app.deps).await.unwrap(), 0);
        assert_eq!(drain(&app).await, expected);
    }

    when_an_outbox_record_is_unreadable_should_move_it_to_the_dead_letter_key_once => |app| {
        let mut written = records(&app, "acme", ["{}".to_owned(), "{}".to_owned(), "{\"ok\":true}".to_owned()]);
        // One record without a body, one for a queue that does not exist.
        for ((write, _), (attribute, value)) in written.iter_mut().zip([("body", None), ("queue", Some("nowhere"))]) {
            let WriteOp::Put { item, .. } = write else { unreachable!() };
            match value {
                None => item.remove(attribute),
                Some(value) => item.insert(attribute.into(), value.into()),
            };
        }
        let keys: Vec<_> = written.iter().map(|(_, message)| message.key.clone()).collect();
        app.deps.store.transact(written.into_iter().map(|(write, _)| write).collect()).await.unwrap();

        assert_eq!(relay(&app).await, RelayReport { delivered: 1, failed: 0, dead_lettered: 2 });
        for key in &keys[..2] {
            assert_eq!(app.deps.store.get(key).await.unwrap(), None, "the original is deleted");
            let dead = app.deps.store.get(&keys::outbox_dead_letter(key)).await.unwrap().expect("a dead-letter copy");
            assert!(!dead.contains_key(Index::Gsi3.pk_attr()), "the copy is out of the outbox index: {dead:?}");
            assert!(dead["deadLetterReason"].as_str().is_some(), "{dead:?}");
        }
        assert_eq!(relay(&app).await, RelayReport::default(), "a second run does not see them");
        assert_eq!(outbox::pending(&app.deps).await.unwrap(), 0);
        assert_eq!(drain(&app).await, BTreeSet::from(["{\"ok\":true}".to_owned()]));
    }
}
