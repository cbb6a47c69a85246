//! The real-shaped events in `events/` drive the functions' handlers, as Lambda would.

use std::sync::Arc;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::SqsEvent;
use axum::body::Body;
use axum::http::StatusCode;
use http_body_util::BodyExt;
use oms_core::catalog::{self, Trigger};
use oms_core::deps::Deps;
use oms_core::domain::ids::TenantId;
use oms_core::domain::inventory::SupplyRequest;
use oms_core::domain::location::UpsertLocationRequest;
use oms_core::http::auth::AuthMode;
use oms_core::http::{AppState, router};
use oms_core::jobs::dispatch;
use oms_core::ports::QueueName;
use oms_core::service::{change_tracker, inventory};
use oms_core::sqlite::SqliteDb;
use serde_json::{Value, json};
use tower::ServiceExt;

/// HTTP events in the order a walkthrough needs them (the GETs read what the PUT/POSTs made).
/// The allocation events name the placeholder id below; the walkthrough swaps in the real one.
const HTTP_EVENTS: &[(&str, &str)] = &[
    ("location-put", include_str!("../../events/location-put.json")),
    ("location-get", include_str!("../../events/location-get.json")),
    ("supply-post", include_str!("../../events/supply-post.json")),
    ("availability-get", include_str!("../../events/availability-get.json")),
    ("stock-shards-put", include_str!("../../events/stock-shards-put.json")),
    ("stock-shards-get", include_str!("../../events/stock-shards-get.json")),
    ("order-save", include_str!("../../events/order-save.json")),
    ("order-get", include_str!("../../events/order-get.json")),
    ("allocation-settings-put", include_str!("../../events/allocation-settings-put.json")),
    ("allocation-settings-get", include_str!("../../events/allocation-settings-get.json")),
    ("allocation-create", include_str!("../../events/allocation-create.json")),
    ("allocation-get", include_str!("../../events/allocation-get.json")),
    ("allocation-update", include_str!("../../events/allocation-update.json")),
    ("allocation-query", include_str!("../../events/allocation-query.json")),
    ("allocation-explain", include_str!("../../events/allocation-explain.json")),
    ("allocation-reconcile", include_str!("../../events/allocation-reconcile.json")),
    ("allocation-reallocate", include_str!("../../events/allocation-reallocate.json")),
    ("allocation-cancel", include_str!("../../events/allocation-cancel.json")),
];

/// The allocation id the sample events carry (allocation ids are generated, so a walkthrough
/// substitutes the id allocation-create, and later reallocate, returned).
const PLACEHOLDER_ALLOCATION_ID: &str = "633f216c68f1b4456659161c";

/// Whether a function's route is a fabric-style one (plain JSON, no Manhattan envelope).
fn is_fabric(function: &str) -> bool {
    matches!(catalog::function(function).map(|f| f.trigger), Some(Trigger::Http(route)) if route.site_context_required)
}

/// The Dallas DC with SKU-1 stock, the target of the reallocate event.
async fn stock_dallas(deps: &Deps) {
    let tenant = TenantId::parse("demo").unwrap();
    let location: UpsertLocationRequest = serde_json::from_value(json!({"Name": "Dallas DC", "Type": "DC",
        "Latitude": 32.90, "Longitude": -97.04, "Priority": 20, "CanShip": true, "CanPickup": false, "Active": true}))
    .unwrap();
    inventory::upsert_location(deps, &tenant, "DC-DFW", &location).await.unwrap();
    let supply: SupplyRequest = serde_json::from_value(
        json!({"Mode": "Sync", "Supply": [{"LocationId": "DC-DFW", "ItemId": "SKU-1", "Quantity": 40, "SafetyStock": 2}]}),
    )
    .unwrap();
    inventory::apply_supply(deps, &tenant, &supply).await.unwrap();
}

fn deps() -> Deps {
    Deps::embedded(SqliteDb::in_memory().unwrap()).unwrap()
}

/// Runs one API Gateway v2 event through the function's own router (authorizer mode).
async fn invoke_http(deps: &Deps, function: &'static str, event: &str) -> (StatusCode, Value) {
    let request = lambda_http::request::from_str(event).expect("event parses as an API Gateway request");
    let request = request.map(|body| Body::from(body.to_vec()));
    let state = Arc::new(AppState { deps: deps.clone(), auth: AuthMode::Authorizer });
    let response = router(state, Some(&[function])).oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

#[tokio::test]
async fn when_each_http_event_is_invoked_in_order_should_succeed_with_the_authorizer_claims() {
    let deps = deps();
    let mut allocation_id: Option<String> = None;
    for (function, event) in HTTP_EVENTS {
        if *function == "allocation-reallocate" {
            stock_dallas(&deps).await;
        }
        let event = match &allocation_id {
            Some(id) => event.replace(PLACEHOLDER_ALLOCATION_ID, id),
            None => (*event).to_owned(),
        };
        let (status, body) = invoke_http(&deps, function, &event).await;
        if !is_fabric(function) {
            assert_eq!(status, StatusCode::OK, "{function}: {body}");
            assert_eq!(body["success"], true, "{function}");
            continue;
        }
        assert!(status.is_success(), "{function}: {status} {body}");
        match *function {
            "allocation-create" => {
                assert_eq!(status, StatusCode::OK, "every unit is in stock: {body}");
                assert_eq!(body[0]["locationNum"], "DC-ATL", "{body}");
                allocation_id = Some(body[0]["allocationId"].as_str().expect("an allocation id").to_owned());
            }
            "allocation-get" => assert_eq!(body["allocationId"].as_str(), allocation_id.as_deref(), "{body}"),
            "allocation-update" => {
                assert_eq!(body["statusCode"], "PENDING_PICK", "{body}");
                assert_eq!(body["items"][0]["title"], "Blue mug, 12 oz", "{body}");
                assert_eq!(body["recipient"][0]["email"], "ada@example.com", "{body}");
            }
            "allocation-query" => assert_eq!(body[0]["allocationId"].as_str(), allocation_id.as_deref(), "{body}"),
            "allocation-reallocate" => {
                let moved = &body["allocations"][0];
                assert_eq!(moved["locationNum"], "DC-DFW", "{body}");
                assert_eq!(moved["items"][0]["quantity"], 1, "one unit of the line moved: {body}");
                assert_eq!(moved["items"][0]["parentAllocationLineNumber"], 1, "{body}");
                // The old allocation keeps the other unit: cancel the new one.
                allocation_id = Some(moved["allocationId"].as_str().expect("the new allocation id").to_owned());
            }
            "allocation-cancel" => assert_eq!(body[0]["statusCode"], "CANCELLED", "{body}"),
            _ => {}
        }
    }
    let order_get = HTTP_EVENTS.iter().find(|(name, _)| *name == "order-get").unwrap().1;
    let (_, order) = invoke_http(&deps, "order-get", order_get).await;
    assert_eq!(order["data"]["OrgId"], "demo");
    assert_eq!(order["data"]["CreatedBy"], "demo-user");
}

#[tokio::test]
async fn when_an_event_has_no_authorizer_claims_should_answer_401() {
    let mut event: Value = serde_json::from_str(include_str!("../../events/order-get.json")).unwrap();
    event["requestContext"].as_object_mut().unwrap().remove("authorizer");
    let (status, _) = invoke_http(&deps(), "order-get", &event.to_string()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn when_a_function_router_gets_another_functions_route_should_answer_404() {
    let (status, _) = invoke_http(&deps(), "order-get", include_str!("../../events/order-save.json")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn when_the_claims_lack_the_routes_permission_should_answer_403() {
    let mut event: Value = serde_json::from_str(include_str!("../../events/order-save.json")).unwrap();
    event["requestContext"]["authorizer"]["jwt"]["claims"]["scope"] = "api::order::read".into();
    let (status, _) = invoke_http(&deps(), "order-save", &event.to_string()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn when_the_sqs_event_is_consumed_should_record_both_changes_and_report_no_failure() {
    let deps = deps();
    let event: SqsEvent = serde_json::from_str(include_str!("../../events/change-tracker-consumer.json")).unwrap();
    let response = dispatch::consume(&deps, QueueName::ChangeTracker, event.clone()).await;
    assert!(response.batch_item_failures.is_empty());
    // A redelivery of the same batch changes nothing.
    dispatch::consume(&deps, QueueName::ChangeTracker, event).await;
    let records = change_tracker::list(&deps, &TenantId::parse("demo").unwrap(), chrono::Utc::now(), 10).await.unwrap();
    let orders: Vec<&str> = records.iter().map(|r| r["OrderId"].as_str().unwrap()).collect();
    assert_eq!(orders, ["O-1001", "O-1002"]);
}

#[tokio::test]
async fn when_an_sqs_record_is_not_a_change_message_should_report_only_that_record() {
    let mut event: SqsEvent = serde_json::from_str(include_str!("../../events/change-tracker-consumer.json")).unwrap();
    event.records[1].body = Some("{\"not\": \"a change\"}".into());
    let poison = event.records[1].message_id.clone().unwrap();
    let response = dispatch::consume(&deps(), QueueName::ChangeTracker, event).await;
    let failed: Vec<&str> = response.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
    assert_eq!(failed, [poison.as_str()]);
}

#[tokio::test]
async fn when_the_scheduled_event_fires_should_run_the_outbox_relay() {
    let event: EventBridgeEvent<Value> = serde_json::from_str(include_str!("../../events/outbox-relay.json")).unwrap();
    assert_eq!(event.detail_type, "Scheduled Event");
    let report = dispatch::run_schedule(&deps(), "outbox-relay").await.unwrap();
    assert_eq!((report.delivered, report.failed), (0, 0));
}

#[test]
fn when_the_catalog_is_wired_every_http_function_should_have_a_handler_and_every_job_a_runner() {
    assert_eq!(oms_core::http::every_route_has_a_handler(), Ok(()));
    for spec in catalog::FUNCTIONS {
        if let Trigger::Schedule(expression) = spec.trigger {
            assert!(dispatch::rate_period(expression).is_some(), "{}: local server cannot run {expression}", spec.name);
        }
    }
}
