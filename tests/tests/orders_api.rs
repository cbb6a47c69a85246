//! Save Order / Get Order through the router, on both backends.

mod common;

use std::time::Duration;

use axum::http::{Method, StatusCode};
use common::{TestApp, sample_order};
use oms_core::domain::ids::TenantId;
use oms_core::jobs::batch::{local_queue_arn, received_to_sqs_event};
use oms_core::jobs::dispatch;
use oms_core::ports::QueueName;
use oms_core::service::{change_tracker, outbox};
use serde_json::{Value, json};

const SAVE: &str = "/order/api/order/order";

fn get_path(id: &str) -> String {
    format!("/order/api/order/order/orderId/{id}")
}

/// Drains the change tracker queue through the consumer, as the Lambda or the local server would.
async fn drain_change_tracker(app: &TestApp) -> usize {
    let mut delivered = 0;
    loop {
        let messages = app.deps.queue.receive(QueueName::ChangeTracker, 10, Duration::from_secs(30)).await.unwrap();
        if messages.is_empty() {
            return delivered;
        }
        let event = received_to_sqs_event(&messages, &local_queue_arn(QueueName::ChangeTracker));
        let response = dispatch::consume(&app.deps, QueueName::ChangeTracker, event).await;
        assert!(response.batch_item_failures.is_empty(), "consumer failed: {:?}", response.batch_item_failures);
        let receipts: Vec<String> = messages.iter().map(|m| m.receipt_handle.clone()).collect();
        app.deps.queue.ack(QueueName::ChangeTracker, &receipts).await.unwrap();
        delivered += messages.len();
    }
}

async fn tracker_records(app: &TestApp, tenant: &str) -> Vec<Value> {
    let until = chrono::Utc::now() + chrono::Duration::seconds(5);
    change_tracker::list(&app.deps, &TenantId::parse(tenant).unwrap(), until, 100)
        .await
        .unwrap()
        .into_iter()
        .map(Value::Object)
        .collect()
}

on_both_backends! {
    when_the_seed_sample_order_is_saved_should_be_read_back_with_computed_fields => |app| {
        let saved = app.post(SAVE, &sample_order("O-1")).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        assert_eq!(saved.body["success"], true);
        assert_eq!(saved.body["statusCode"], "OK");
        for field in ["success", "header", "data", "messageKey", "message", "errors", "exceptions", "messages", "rootCause", "requestUri", "statusCode"] {
            assert!(saved.body.get(field).is_some(), "envelope lacks {field}");
        }
        let got = app.get(&get_path("O-1")).await;
        assert_eq!(got.status, StatusCode::OK);
        let order = got.data();
        assert_eq!(order["OrderId"], "O-1");
        assert_eq!(order["OrgId"], "demo");
        assert_eq!(order["Version"], 1);
        assert_eq!(order["OrderLine"][0]["QuantityDetail"], json!([{"StatusId": "1000", "Quantity": 2}]));
        assert_eq!(order["MinFulfillmentStatusId"], "1000");
        assert_eq!(order["MaxFulfillmentStatusId"], "1000");
        assert_eq!(order["CreatedBy"], "tester");
    }

    when_payload_sets_created_and_updated_fields_should_ignore_them => |app| {
        let mut order = sample_order("O-2");
        order["CreatedBy"] = json!("mallory");
        order["CreatedTimestamp"] = json!("1999-01-01T00:00:00Z");
        order["UpdatedBy"] = json!("mallory");
        let saved = app.post(SAVE, &order).await;
        assert_eq!(saved.status, StatusCode::OK);
        assert_eq!(saved.data()["CreatedBy"], "tester");
        assert_eq!(saved.data()["UpdatedBy"], "tester");
        assert_ne!(saved.data()["CreatedTimestamp"], "1999-01-01T00:00:00Z");
    }

    when_an_unknown_order_is_read_should_answer_404_with_ord_10006 => |app| {
        let got = app.get(&get_path("NOPE")).await;
        assert_eq!(got.status, StatusCode::NOT_FOUND);
        assert_eq!(got.body["success"], false);
        assert_eq!(got.body["errors"][0]["code"], "ord::10006");
        assert_eq!(got.body["messageKey"], "ord::10006");
    }

    when_an_update_carries_a_stale_version_should_answer_409_and_keep_the_order => |app| {
        app.post(SAVE, &sample_order("O-3")).await;
        let mut update = sample_order("O-3");
        update["Version"] = json!(1);
        update["IsConfirmed"] = json!(false);
        assert_eq!(app.post(SAVE, &update).await.status, StatusCode::OK);
        update["IsConfirmed"] = json!(true);
        let stale = app.post(SAVE, &update).await;
        assert_eq!(stale.status, StatusCode::CONFLICT, "{}", stale.body);
        let got = app.get(&get_path("O-3")).await;
        assert_eq!(got.data()["Version"], 2);
        assert_eq!(got.data()["IsConfirmed"], false);
    }

    when_many_updates_race_without_version_should_lose_none => |app| {
        app.post(SAVE, &sample_order("O-4")).await;
        let token = app.demo_token();
        let updates = (0..8).map(|i| {
            let app = &app;
            let token = token.clone();
            async move {
                let body = json!({"OrderId": "O-4", "OrderType": {"OrderTypeId": "Web"}, "OrderLine": [{"OrderLineId": format!("extra-{i}"), "ItemId": "SKU-2", "Quantity": 1, "UnitPrice": 1, "DeliveryMethod": {"DeliveryMethodId": "Email"}}]});
                app.send(Method::POST, SAVE, Some(&token), &[], Some(&body.to_string())).await.status
            }
        });
        let statuses = futures::future::join_all(updates).await;
        let succeeded = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        assert!(statuses.iter().all(|s| *s == StatusCode::OK || *s == StatusCode::CONFLICT), "{statuses:?}");
        let order = app.get(&get_path("O-4")).await;
        // Every successful update added its line, none was overwritten by another.
        assert_eq!(order.data()["OrderLine"].as_array().unwrap().len(), 1 + succeeded);
        assert_eq!(order.data()["Version"], json!(1 + succeeded));
    }

    when_a_line_quantity_is_fractional_should_answer_400_naming_the_field_and_write_nothing => |app| {
        let mut order = sample_order("O-5");
        order["OrderLine"][0]["Quantity"] = json!(2.5);
        let saved = app.post(SAVE, &order).await;
        assert_eq!(saved.status, StatusCode::BAD_REQUEST);
        assert_eq!(saved.error_field(), Some("OrderLine[0].Quantity"));
        assert_eq!(app.get(&get_path("O-5")).await.status, StatusCode::NOT_FOUND);
        assert_eq!(drain_change_tracker(&app).await, 0);
    }

    when_a_field_has_the_wrong_type_should_answer_400_naming_it => |app| {
        let mut order = sample_order("O-6");
        order["IsConfirmed"] = json!("yes");
        let saved = app.post(SAVE, &order).await;
        assert_eq!(saved.status, StatusCode::BAD_REQUEST);
        assert_eq!(saved.error_field(), Some("IsConfirmed"));
    }

    when_the_body_is_not_json_should_answer_400 => |app| {
        let token = app.demo_token();
        let reply = app.send(Method::POST, SAVE, Some(&token), &[], Some("{\"OrderId\": ")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST);
        assert_eq!(reply.body["success"], false);
    }

    when_an_order_changes_should_record_one_change_tracker_entry_per_change => |app| {
        app.post(SAVE, &sample_order("O-7")).await;
        let mut update = sample_order("O-7");
        update["IsConfirmed"] = json!(false);
        app.post(SAVE, &update).await;
        assert_eq!(drain_change_tracker(&app).await, 2);
        let records = tracker_records(&app, "demo").await;
        assert_eq!(records.len(), 2);
        assert!(records.iter().all(|r| r["OrderId"] == "O-7"));
    }

    when_a_change_tracker_message_is_delivered_twice_should_record_it_once => |app| {
        app.post(SAVE, &sample_order("O-8")).await;
        let messages = app.deps.queue.receive(QueueName::ChangeTracker, 10, Duration::from_secs(30)).await.unwrap();
        assert_eq!(messages.len(), 1);
        let event = received_to_sqs_event(&messages, &local_queue_arn(QueueName::ChangeTracker));
        dispatch::consume(&app.deps, QueueName::ChangeTracker, event.clone()).await;
        dispatch::consume(&app.deps, QueueName::ChangeTracker, event).await;
        assert_eq!(tracker_records(&app, "demo").await.len(), 1);
    }

    when_a_request_is_replayed_with_its_idempotency_key_should_return_the_first_response_and_write_nothing => |app| {
        let token = app.demo_token();
        let body = sample_order("O-9").to_string();
        let first = app.send(Method::POST, SAVE, Some(&token), &[("idempotency-key", "key-1")], Some(&body)).await;
        let replay = app.send(Method::POST, SAVE, Some(&token), &[("idempotency-key", "key-1")], Some(&body)).await;
        assert_eq!(first.status, StatusCode::OK);
        assert_eq!(replay.status, StatusCode::OK);
        assert_eq!(first.body, replay.body);
        assert_eq!(replay.headers.get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
        assert_eq!(app.get(&get_path("O-9")).await.data()["Version"], 1);
        assert_eq!(drain_change_tracker(&app).await, 1);
    }

    when_an_idempotency_key_is_reused_for_another_request_should_answer_400 => |app| {
        let token = app.demo_token();
        app.send(Method::POST, SAVE, Some(&token), &[("idempotency-key", "key-2")], Some(&sample_order("O-10").to_string())).await;
        let other = app.send(Method::POST, SAVE, Some(&token), &[("idempotency-key", "key-2")], Some(&sample_order("O-11").to_string())).await;
        assert_eq!(other.status, StatusCode::BAD_REQUEST);
        assert_eq!(other.error_field(), Some("Idempotency-Key"));
        assert_eq!(app.get(&get_path("O-11")).await.status, StatusCode::NOT_FOUND);
    }

    when_an_idempotent_request_was_refused_should_replay_the_refusal => |app| {
        let token = app.demo_token();
        let mut bad = sample_order("O-12");
        bad["OrderLine"][0]["Quantity"] = json!(0);
        let first = app.send(Method::POST, SAVE, Some(&token), &[("idempotency-key", "key-3")], Some(&bad.to_string())).await;
        let again = app.send(Method::POST, SAVE, Some(&token), &[("idempotency-key", "key-3")], Some(&bad.to_string())).await;
        assert_eq!(first.status, StatusCode::BAD_REQUEST);
        assert_eq!(again.status, StatusCode::BAD_REQUEST);
        assert_eq!(first.body, again.body);
    }

    when_idempotency_keys_of_two_tenants_collide_should_not_share_responses => |app| {
        let demo = app.demo_token();
        let acme = app.token("acme", common::ALL_PERMISSIONS);
        let body = sample_order("O-13").to_string();
        app.send(Method::POST, SAVE, Some(&demo), &[("idempotency-key", "same")], Some(&body)).await;
        let other = app.send(Method::POST, SAVE, Some(&acme), &[("idempotency-key", "same")], Some(&body)).await;
        assert_eq!(other.status, StatusCode::OK);
        assert!(other.headers.get("idempotent-replayed").is_none());
        assert_eq!(other.data()["OrgId"], "acme");
    }

    when_there_is_no_token_should_answer_401 => |app| {
        let reply = app.send(Method::GET, &get_path("O-1"), None, &[], None).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        let forged = app.send(Method::GET, &get_path("O-1"), Some("not.a.token"), &[], None).await;
        assert_eq!(forged.status, StatusCode::UNAUTHORIZED);
    }

    when_the_token_lacks_the_permission_should_answer_403 => |app| {
        let read_only = app.token("demo", &["api::order::read"]);
        let reply = app.send(Method::POST, SAVE, Some(&read_only), &[], Some(&sample_order("O-14").to_string())).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN);
        assert!(reply.message().contains("api::order::write"));
        assert_eq!(app.get(&get_path("O-14")).await.status, StatusCode::NOT_FOUND);
    }

    when_a_tenant_header_disagrees_with_the_token_should_answer_403 => |app| {
        let token = app.demo_token();
        for (header, value) in [("x-vol-tenant", "acme"), ("x-site-context", r#"{"account":"acme"}"#)] {
            let reply = app.send(Method::GET, &get_path("O-1"), Some(&token), &[(header, value)], None).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{header}");
        }
        let agreeing = app.send(Method::GET, &get_path("O-1"), Some(&token), &[("x-vol-tenant", "demo"), ("x-site-context", r#"{"account":"demo"}"#)], None).await;
        assert_eq!(agreeing.status, StatusCode::NOT_FOUND);
    }

    when_another_tenant_reads_an_order_should_find_nothing => |app| {
        app.post(SAVE, &sample_order("O-15")).await;
        let acme = app.token("acme", common::ALL_PERMISSIONS);
        let reply = app.send(Method::GET, &get_path("O-15"), Some(&acme), &[], None).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
        assert_eq!(reply.body["errors"][0]["code"], "ord::10006");
    }

    when_the_queue_is_down_at_save_should_keep_the_change_in_the_outbox_until_relayed => |app| {
        let broken = oms_core::deps::Deps::with(app.deps.store.clone(), std::sync::Arc::new(DownQueue), None);
        let down = common::app_on(broken, app.backend);
        let saved = down.post(SAVE, &sample_order("O-16")).await;
        assert_eq!(saved.status, StatusCode::OK, "the order is committed even when the queue is down");
        // The change-tracker record, and what the default configuration publishes for a new
        // confirmed order: the order (order-events) and the OrderConfirmation text.
        assert_eq!(outbox::pending(&app.deps).await.unwrap(), 3);
        assert_eq!(drain_change_tracker(&app).await, 0);
        let report = outbox::relay_pending(&app.deps, Duration::ZERO, 100).await.unwrap();
        assert_eq!(report.delivered, 3);
        assert_eq!(outbox::pending(&app.deps).await.unwrap(), 0);
        assert_eq!(drain_change_tracker(&app).await, 1);
        assert_eq!(tracker_records(&app, "demo").await.len(), 1);
    }
}

/// A queue that is unreachable: the interaction under test is the outbox's fallback.
struct DownQueue;

#[async_trait::async_trait]
impl oms_core::ports::MessageQueue for DownQueue {
    async fn send(
        &self,
        _: QueueName,
        _: Vec<oms_core::ports::OutgoingMessage>,
    ) -> Result<(), oms_core::ports::QueueError> {
        Err(oms_core::ports::QueueError::Unavailable("down for the test".into()))
    }
    async fn receive(
        &self,
        _: QueueName,
        _: usize,
        _: Duration,
    ) -> Result<Vec<oms_core::ports::ReceivedMessage>, oms_core::ports::QueueError> {
        Err(oms_core::ports::QueueError::Unavailable("down for the test".into()))
    }
    async fn ack(&self, _: QueueName, _: &[String]) -> Result<(), oms_core::ports::QueueError> {
        Err(oms_core::ports::QueueError::Unavailable("down for the test".into()))
    }
    async fn dead_letter_count(&self, _: QueueName) -> Result<usize, oms_core::ports::QueueError> {
        Err(oms_core::ports::QueueError::Unavailable("down for the test".into()))
    }
}
