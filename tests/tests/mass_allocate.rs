//! Mass allocate and the job scheduler API (seed 000), on both backends: the massAction
//! envelope, one InProgress job per tenant, the plan -> chunk chain through the queues with
//! its counters, per-order results with reasons, abort, redelivery, dry runs, and the
//! allocation troubleshooting log level.

mod common;

use axum::http::{Method, StatusCode};
use common::{TestApp, drain_queues, location};
use oms_core::domain::ids::TenantId;
use oms_core::jobs::batch::SqsMessageIn;
use oms_core::jobs::dispatch;
use oms_core::ports::QueueName;
use oms_core::service::backlog;
use serde_json::{Value, json};

const MASS_ACTION: &str = "/order/api/order/order/massAction";
const SEARCH: &str = "/scheduler/api/scheduler/jobExecution/search";
/// The seed's sample query, exactly as printed.
const SEED_QUERY: &str = "((MaxFulfillmentStatusId=1500 AND MinFulfillmentStatusId=1500) OR (MaxFulfillmentStatusId=1000 AND MinFulfillmentStatusId=1000) OR (MaxFulfillmentStatusId=1500 AND MinFulfillmentStatusId<1500) OR (MaxFulfillmentStatusId=2000 AND MinFulfillmentStatusId<2000) OR (MaxFulfillmentStatusId=3000 AND MinFulfillmentStatusId<3000))";

/// Atlanta and Dallas DCs with the given units of SKU-1 and SKU-2.
async fn network(app: &TestApp, stock: &[(&str, &str, i64)]) {
    for (id, name, lat, lon) in [("DC-ATL", "Atlanta DC", 33.64, -84.43), ("DC-DFW", "Dallas DC", 32.90, -97.04)] {
        let reply = app.put(&format!("/inventory/api/location/{id}"), &location(name, "DC", lat, lon)).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let rows: Vec<Value> =
        stock.iter().map(|(loc, item, qty)| json!({"LocationId": loc, "ItemId": item, "Quantity": qty})).collect();
    let supply = app.post("/inventory/api/supply", &json!({"Mode": "Sync", "Supply": rows})).await;
    assert_eq!(supply.status, StatusCode::OK, "{}", supply.body);
}

/// Saves an order shipped to Atlanta with `lines` of (item, quantity).
async fn save(app: &TestApp, id: &str, order_type: &str, lines: &[(&str, u32)]) {
    let lines: Vec<Value> = lines
        .iter()
        .enumerate()
        .map(|(n, (item, qty))| json!({"OrderLineId": (n + 1).to_string(), "ItemId": item, "Quantity": qty, "UnitPrice": 5,
            "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
            "ShipToAddress": {"Address": {"Address1": "1 Main St", "City": "Atlanta", "Country": "US", "Latitude": 33.749, "Longitude": -84.388}}}))
        .collect();
    let body =
        json!({"OrderId": id, "OrderType": {"OrderTypeId": order_type}, "IsConfirmed": true, "OrderLine": lines});
    let reply = app.post("/order/api/order/order", &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
}

async fn start(app: &TestApp, body: Value) -> String {
    let reply = app.post(MASS_ACTION, &body).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.data()["JobScheduleId"].as_str().unwrap().to_owned()
}

async fn job(app: &TestApp, id: &str) -> Value {
    let reply = app.post(SEARCH, &json!({"Query": format!("JobScheduleId={id}")})).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.data().as_array().map(Vec::len), Some(1), "{}", reply.body);
    reply.data()[0].clone()
}

/// Every result of the job, following the cursor `page` at a time.
async fn results(app: &TestApp, id: &str, page: usize) -> Vec<Value> {
    let mut all = Vec::new();
    let mut cursor = String::new();
    loop {
        let path =
            format!("/scheduler/api/scheduler/jobExecution/jobScheduleId/{id}/results?limit={page}&cursor={cursor}");
        let reply = app.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        all.extend(reply.data()["Results"].as_array().unwrap().iter().cloned());
        match reply.data()["NextCursor"].as_str() {
            Some(next) => cursor = next.to_owned(),
            None => return all,
        }
    }
}

fn outcome_of<'a>(results: &'a [Value], order: &str) -> &'a Value {
    results.iter().find(|r| r["orderId"] == order).unwrap_or_else(|| panic!("no result for {order}"))
}

/// Units of each status of an order's line, e.g. `{"2000": 3}`.
async fn statuses(app: &TestApp, order: &str, line: usize) -> Value {
    let reply = app.get(&format!("/order/api/order/order/orderId/{order}")).await;
    let detail = reply.data()["OrderLine"][line]["QuantityDetail"].as_array().cloned().unwrap_or_default();
    Value::Object(detail.iter().map(|q| (q["StatusId"].as_str().unwrap().to_owned(), q["Quantity"].clone())).collect())
}

/// (onHand, reserved) of `item` at `location`.
async fn stock(app: &TestApp, item: &str, location: &str) -> (i64, i64) {
    app.stock(item, location).await
}

/// 600 generated open orders of 40 items at 10 locations (three chunks), with `percent` of
/// their demand in stock.
async fn load_backlog(app: &TestApp, prefix: &str, percent: u32) {
    let spec = backlog::BacklogSpec {
        tenant: TenantId::parse("demo").unwrap(),
        orders: 600,
        locations: 10,
        items: 40,
        prefix: prefix.into(),
        stock_percent: percent,
    };
    backlog::load(&app.deps, &spec).await.unwrap();
}

async fn assert_no_drift(app: &TestApp) {
    let report = app.fabric(Method::POST, "/allocation/reconcile", Some(&json!({}))).await;
    assert_eq!(report.status, StatusCode::OK, "{}", report.body);
    assert_eq!(report.body["drift"], json!([]), "{}", report.body);
}

/// A backlog: O-1 fits, O-2 fits in part (SKU-2 is short), O-3's item is stocked nowhere, and
/// O-4 is allocated already (status 2000, which the seed's query does not select).
async fn backlog(app: &TestApp) {
    network(app, &[("DC-ATL", "SKU-1", 10), ("DC-DFW", "SKU-2", 1)]).await;
    save(app, "O-1", "Web", &[("SKU-1", 2)]).await;
    save(app, "O-2", "Web", &[("SKU-1", 1), ("SKU-2", 3)]).await;
    save(app, "O-3", "Store", &[("SKU-9", 1)]).await;
    save(app, "O-4", "Web", &[("SKU-1", 1)]).await;
    let allocated = app
        .fabric(
            Method::POST,
            "/allocation/",
            Some(&json!({"detailType": "ORDER_CREATED", "detail": {"orderId": "O-4"}})),
        )
        .await;
    assert_eq!(allocated.status, StatusCode::OK, "{}", allocated.body);
}

/// Delivers `body` to the consumer of `queue` as a Lambda would (a redelivery: count 2).
async fn deliver(app: &TestApp, queue: QueueName, body: &Value) {
    let message = SqsMessageIn { message_id: "m-1".into(), body: body.to_string(), receive_count: 2 };
    dispatch::consume_one(&app.deps, queue, message).await.expect("the message is processed");
}

on_both_backends! {
    when_the_seed_query_is_sent_should_answer_the_seed_envelope_and_allocate_the_backlog => |app| {
        backlog(&app).await;
        let reply = app.post(MASS_ACTION, &json!({"Query": SEED_QUERY, "MassAction": "Allocate"})).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["success"], true);
        assert_eq!(reply.body["message"], "Order Mass Action Request Received");
        assert_eq!(reply.body["statusCode"], "OK");
        assert_eq!(reply.data()["Messages"], Value::Null);
        assert_eq!(reply.data()["MassAction"], "Allocate");
        let id = reply.data()["JobScheduleId"].as_str().unwrap().to_owned();
        assert!(id.starts_with("js") && id.len() == 25 && id[2..].bytes().all(|b| b.is_ascii_digit()), "{id}");

        let running = job(&app, &id).await;
        assert_eq!(running["Status"], "InProgress");
        drain_queues(&app.deps, 50).await;

        let done = job(&app, &id).await;
        assert_eq!(done["Status"], "completed", "{done}");
        assert_eq!(done["TotalMsgCount"], 3, "O-4 is allocated already: {done}");
        assert_eq!(done["SuccessMsgCount"], 1);
        assert_eq!(done["FailureMsgCount"], 2);
        assert_eq!(done["IncompleteMsgCount"], 0);
        assert_eq!(done["CompletionPercentage"], 100);
        assert_eq!(done["JobTypeId"], "orderMassActionJob");
        assert_eq!(done["Component"], "order");
        assert_eq!(done["StatusMonitorLevel"], "CHUNK");
        assert_eq!(done["JobOrganization"], "demo");
        assert_eq!(done["User"], "tester");
        let unique = done["UniqueJobId"].as_str().unwrap();
        assert!(unique.starts_with(&format!("demo::X::orderMassActionJob::{id}::order::")) && unique.ends_with("::ADHOC"), "{unique}");
        assert_eq!(done["AllocationSummary"]["UnitsAllocated"], 4, "{done}");

        let results = results(&app, &id, 2).await;
        assert_eq!(results.len(), 3);
        assert_eq!(outcome_of(&results, "O-1")["outcome"], "allocated");
        assert_eq!(outcome_of(&results, "O-2")["outcome"], "partial");
        assert_eq!(outcome_of(&results, "O-3")["outcome"], "notAllocated");
        let why = outcome_of(&results, "O-3")["reasons"].to_string();
        assert!(why.contains("SKU-9"), "the reason names the item: {why}");
        assert!(!outcome_of(&results, "O-2")["reasons"].as_array().unwrap().is_empty());

        // Confirmed orders: the default configuration releases what was allocated (ResubmitPipeline
        // after AllocateLine), through the pipeline queue the drain ran.
        assert_eq!(statuses(&app, "O-1", 0).await, json!({"3000": 2}));
        assert_eq!(statuses(&app, "O-2", 1).await, json!({"1500": 2, "3000": 1}));
        assert_eq!(stock(&app, "SKU-1", "DC-ATL").await, (10, 4));
        assert_eq!(stock(&app, "SKU-2", "DC-DFW").await, (1, 1));
        assert_no_drift(&app).await;

        // A finished job no longer blocks the next one.
        start(&app, json!({"Query": "OrderId=O-3", "MassAction": "Allocate"})).await;
    }

    when_a_job_is_in_progress_should_refuse_another_with_409_naming_it_until_it_is_aborted => |app| {
        backlog(&app).await;
        let first = start(&app, json!({"Query": SEED_QUERY, "MassAction": "Allocate"})).await;
        let refused = app.post(MASS_ACTION, &json!({"Query": "OrderId=O-1", "MassAction": "Allocate"})).await;
        assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.body);
        assert!(refused.message().contains(&first), "{}", refused.body);

        // Aborted before the planner ran: nothing is allocated, and a new job is accepted.
        let unique = job(&app, &first).await["UniqueJobId"].as_str().unwrap().to_owned();
        let path = format!("/scheduler/api/scheduler/jobExecution/uniqueJobId/{}", unique.replace(' ', "%20"));
        let aborted = app.send(Method::POST, &path, Some(&app.demo_token()), &[], Some(r#"{"Status": "aborted"}"#)).await;
        assert_eq!(aborted.status, StatusCode::OK, "{}", aborted.body);
        assert_eq!(aborted.data()["Status"], "aborted");
        drain_queues(&app.deps, 50).await;
        let ended = job(&app, &first).await;
        assert_eq!(ended["Status"], "aborted");
        assert_eq!(ended["SuccessMsgCount"], 0);
        assert_eq!(statuses(&app, "O-1", 0).await, json!({"1000": 2}));
        let again = app.put(&path, &json!({"Status": "aborted"})).await;
        assert_eq!(again.status, StatusCode::CONFLICT, "{}", again.body);
        start(&app, json!({"Query": "OrderId=O-1", "MassAction": "Allocate"})).await;
        assert_no_drift(&app).await;
    }

    when_two_requests_arrive_together_should_start_exactly_one_job => |app| {
        backlog(&app).await;
        let body = json!({"Query": SEED_QUERY, "MassAction": "Allocate"});
        let replies = futures::future::join_all((0..6).map(|_| app.post(MASS_ACTION, &body))).await;
        let accepted = replies.iter().filter(|r| r.status == StatusCode::OK).count();
        let refused = replies.iter().filter(|r| r.status == StatusCode::CONFLICT).count();
        assert_eq!((accepted, refused), (1, 5), "{:?}", replies.iter().map(|r| &r.body).collect::<Vec<_>>());
        let jobs = app.post(SEARCH, &json!({"Query": "JobTypeId=orderMassActionJob"})).await;
        assert_eq!(jobs.data().as_array().unwrap().len(), 1);
    }

    when_plan_and_chunk_messages_are_delivered_again_should_change_nothing_twice => |app| {
        backlog(&app).await;
        let id = start(&app, json!({"Query": SEED_QUERY, "MassAction": "Allocate"})).await;
        let plan = json!({"tenant": "demo", "jobScheduleId": id, "page": 0, "cursor": null});
        deliver(&app, QueueName::MassAllocatePlan, &plan).await;
        deliver(&app, QueueName::MassAllocatePlan, &plan).await;
        let chunk = json!({"tenant": "demo", "jobScheduleId": id, "chunk": "p00000-c00", "orders": ["O-1", "O-2", "O-3"]});
        deliver(&app, QueueName::MassAllocateChunk, &chunk).await;
        deliver(&app, QueueName::MassAllocateChunk, &chunk).await;
        drain_queues(&app.deps, 50).await;
        deliver(&app, QueueName::MassAllocateChunk, &chunk).await;
        let done = job(&app, &id).await;
        assert_eq!(done["Status"], "completed", "{done}");
        assert_eq!((done["TotalMsgCount"].clone(), done["SuccessMsgCount"].clone(), done["FailureMsgCount"].clone()), (json!(3), json!(1), json!(2)));
        assert_eq!(done["TotalPageCount"], 1);
        assert_eq!(done["PostedPageCount"], 1);
        assert_eq!(stock(&app, "SKU-1", "DC-ATL").await, (10, 4));
        assert_eq!(results(&app, &id, 100).await.len(), 3);
        assert_no_drift(&app).await;
    }

    when_a_dry_run_compares_strategies_should_reserve_nothing_and_report_shipments_and_distance => |app| {
        // SKU-1 and SKU-2 both at Dallas; only SKU-1 at Atlanta, nearer the customer.
        network(&app, &[("DC-ATL", "SKU-1", 10), ("DC-DFW", "SKU-1", 10), ("DC-DFW", "SKU-2", 10)]).await;
        for n in 0..4 {
            save(&app, &format!("D-{n}"), "Web", &[("SKU-1", 1), ("SKU-2", 1)]).await;
        }
        let mut summaries = Vec::new();
        for strategy in ["nearest", "fewestShipments"] {
            let id = start(&app, json!({"Query": "MinFulfillmentStatusId=1000", "MassAction": "Allocate", "DryRun": true, "Strategy": strategy})).await;
            drain_queues(&app.deps, 50).await;
            let done = job(&app, &id).await;
            assert_eq!(done["Status"], "completed", "{done}");
            assert_eq!(done["AllocationSummary"]["DryRun"], true);
            assert_eq!(done["AllocationSummary"]["OrdersFullyAllocated"], 4, "{done}");
            let results = results(&app, &id, 10).await;
            assert!(results.iter().all(|r| r["outcome"] == "allocated"), "{results:?}");
            summaries.push(done["AllocationSummary"].clone());
        }
        // Nearest splits each order (Atlanta for SKU-1), fewest shipments ships it whole from Dallas.
        assert_eq!(summaries[0]["Shipments"], 8, "{summaries:?}");
        assert_eq!(summaries[1]["Shipments"], 4, "{summaries:?}");
        assert!(summaries[0]["MeanDistanceKm"].as_f64().unwrap() < summaries[1]["MeanDistanceKm"].as_f64().unwrap());
        assert_eq!(stock(&app, "SKU-1", "DC-DFW").await, (10, 0));
        assert_eq!(statuses(&app, "D-0", 0).await, json!({"1000": 1}));
        assert_no_drift(&app).await;
    }

}

/// Receives and handles every visible message of `queue` once.
async fn drain_one(app: &TestApp, queue: QueueName) {
    let report =
        oms_core::jobs::batch::drain_once(app.deps.queue.as_ref(), queue, std::time::Duration::from_secs(30), |m| {
            let deps = app.deps.clone();
            async move { dispatch::consume_one(&deps, queue, m).await }
        })
        .await
        .unwrap();
    assert!(report.delivered > 0 && report.failed == 0, "{report:?}");
}

/// Handles exactly one message of `queue`; the others stay visible in the queue.
async fn drain_one_message(app: &TestApp, queue: QueueName) {
    let mut messages = app.deps.queue.receive(queue, 1, std::time::Duration::from_secs(30)).await.unwrap();
    let first = messages.pop().expect("a message is waiting");
    let message = SqsMessageIn { message_id: first.message_id.clone(), body: first.body.clone(), receive_count: 1 };
    dispatch::consume_one(&app.deps, queue, message).await.expect("the chunk is processed");
    app.deps.queue.ack(queue, &[first.receipt_handle]).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_work_is_aborted_between_chunks_should_leave_the_rest_unallocated_and_keep_the_counts() {
    // Embedded only: the same code runs on DynamoDB in the tests above, and chunks of hundreds
    // of orders take minutes on the emulator.
    let app = common::spawn_app(common::Backend::Embedded).await.unwrap();
    // 600 open orders with stock for all of them: three chunks of at most 250.
    load_backlog(&app, "B-", 100).await;
    let id = start(&app, json!({"Query": "MaxFulfillmentStatusId=1000", "MassAction": "Allocate"})).await;
    drain_one(&app, QueueName::MassAllocatePlan).await;
    drain_one_message(&app, QueueName::MassAllocateChunk).await;
    let unique = job(&app, &id).await["UniqueJobId"].as_str().unwrap().to_owned();
    let path = format!("/scheduler/api/scheduler/jobExecution/uniqueJobId/{}", unique.replace(' ', "%20"));
    assert_eq!(app.put(&path, &json!({"Status": "aborted"})).await.status, StatusCode::OK);
    drain_queues(&app.deps, 50).await;
    let ended = job(&app, &id).await;
    assert_eq!(ended["Status"], "aborted", "{ended}");
    assert_eq!(ended["TotalMsgCount"], 600);
    assert_eq!(ended["SuccessMsgCount"], 250, "{ended}");
    assert_eq!(ended["IncompleteMsgCount"], 350);
    assert_eq!(ended["PostedPageCount"], 1);
    assert_eq!(results(&app, &id, 1000).await.len(), 250);
    let open = app.post(SEARCH, &json!({})).await;
    assert_eq!(open.status, StatusCode::OK);
    assert_no_drift(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_a_dry_run_backlog_exceeds_the_stock_should_count_each_unit_once_across_chunks() {
    // Embedded only: the same code runs on DynamoDB in the tests above, and chunks of hundreds
    // of orders take minutes on the emulator.
    let app = common::spawn_app(common::Backend::Embedded).await.unwrap();
    // 600 orders (three chunks) wanting twice the stock there is.
    load_backlog(&app, "S-", 50).await;
    let mut on_hand = 0;
    for item in 0..40 {
        let reply = app.get(&format!("/inventory/api/availability/itemId/BSKU-{item:04}")).await;
        for row in reply.data()["Locations"].as_array().unwrap() {
            on_hand += row["OnHand"].as_i64().unwrap();
            assert_eq!(row["Reserved"], 0);
        }
    }
    let id =
        start(&app, json!({"Query": "MaxFulfillmentStatusId=1000", "MassAction": "Allocate", "DryRun": true})).await;
    drain_queues(&app.deps, 50).await;
    let done = job(&app, &id).await;
    assert_eq!(done["TotalPageCount"], 3, "{done}");
    // Every unit in stock is promised once, whichever chunk reached it first; none twice.
    assert_eq!(done["AllocationSummary"]["UnitsAllocated"], on_hand, "{done}");
    assert!(done["AllocationSummary"]["OrdersNotAllocated"].as_i64().unwrap() > 0, "{done}");
    let reply = app.get("/inventory/api/availability/itemId/BSKU-0000").await;
    assert!(reply.data()["Locations"].as_array().unwrap().iter().all(|r| r["Reserved"] == 0), "{}", reply.body);
}

#[tokio::test]
async fn when_the_query_is_missing_empty_or_malformed_should_refuse_with_400_naming_the_position() {
    let app = common::spawn_app(common::Backend::Embedded).await.unwrap();
    let empty = app.post(MASS_ACTION, &json!({"Query": "  ", "MassAction": "Allocate"})).await;
    assert_eq!(empty.status, StatusCode::BAD_REQUEST);
    assert_eq!(empty.error_field(), Some("Query"));
    let missing = app.post(MASS_ACTION, &json!({"MassAction": "Allocate"})).await;
    assert_eq!(missing.status, StatusCode::BAD_REQUEST);
    let unknown = app.post(MASS_ACTION, &json!({"Query": "Colour=red", "MassAction": "Allocate"})).await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);
    assert!(
        unknown.message().contains("position 1") && unknown.message().contains("MaxFulfillmentStatusId"),
        "{}",
        unknown.body
    );
    let syntax = app.post(MASS_ACTION, &json!({"Query": "(OrderId=O-1", "MassAction": "Allocate"})).await;
    assert_eq!(syntax.status, StatusCode::BAD_REQUEST);
    assert!(syntax.message().contains("position 13") && syntax.message().contains("')'"), "{}", syntax.body);
    let action = app.post(MASS_ACTION, &json!({"Query": "OrderId=O-1", "MassAction": "Release"})).await;
    assert_eq!(action.status, StatusCode::BAD_REQUEST);
    assert_eq!(action.error_field(), Some("MassAction"));
    let strategy =
        app.post(MASS_ACTION, &json!({"Query": "OrderId=O-1", "MassAction": "Allocate", "Strategy": "cheapest"})).await;
    assert_eq!(strategy.status, StatusCode::BAD_REQUEST);
    assert_eq!(strategy.error_field(), Some("Strategy"));
    // Nothing was started by any of them.
    let jobs = app.post(SEARCH, &json!({"Query": "JobTypeId=orderMassActionJob"})).await;
    assert_eq!(jobs.data(), &json!([]));
}

#[tokio::test]
async fn when_the_token_lacks_the_permission_should_refuse_with_403() {
    let app = common::spawn_app(common::Backend::Embedded).await.unwrap();
    let token = app.token("demo", &["api::order::write", "api::scheduler::read"]);
    let body = json!({"Query": "OrderId=O-1", "MassAction": "Allocate"}).to_string();
    let reply = app.send(Method::POST, MASS_ACTION, Some(&token), &[], Some(&body)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(reply.message().contains("api::order::transaction::admin"), "{}", reply.body);
    let abort = app
        .send(Method::PUT, "/scheduler/api/scheduler/jobExecution/uniqueJobId/x", Some(&token), &[], Some("{}"))
        .await;
    assert_eq!(abort.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn when_jobs_are_searched_should_filter_by_the_query_and_sort_newest_first() {
    let app = common::spawn_app(common::Backend::Embedded).await.unwrap();
    network(&app, &[("DC-ATL", "SKU-1", 10)]).await;
    save(&app, "O-1", "Web", &[("SKU-1", 1)]).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(start(&app, json!({"Query": "OrderId=O-1", "MassAction": "Allocate", "DryRun": true})).await);
        drain_queues(&app.deps, 20).await;
    }
    let reply = app
        .post(SEARCH, &json!({"Query": "JobTypeId=orderMassActionJob", "Sort": [{"attribute": "CreatedTimestamp", "direction": "desc"}]}))
        .await;
    let found: Vec<&str> =
        reply.data().as_array().unwrap().iter().map(|j| j["JobScheduleId"].as_str().unwrap()).collect();
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(found, newest_first);
    let completed = app
        .post(
            SEARCH,
            &json!({"Query": "Status=completed AND JobScheduleId IN (" .to_owned() + &ids[0] + ", " + &ids[2] + ")"}),
        )
        .await;
    assert_eq!(completed.data().as_array().unwrap().len(), 2, "{}", completed.body);
    let paged = app.post(SEARCH, &json!({"Query": "JobTypeId=orderMassActionJob", "Size": 1, "Page": 2, "Sort": [{"attribute": "CreatedTimestamp", "direction": "desc"}]})).await;
    assert_eq!(paged.data()[0]["JobScheduleId"], ids[0]);
    let bad = app.post(SEARCH, &json!({"Query": "JobTypeId=", "Sort": []})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad_sort = app.post(SEARCH, &json!({"Sort": [{"attribute": "Colour"}]})).await;
    assert_eq!(bad_sort.error_field(), Some("Sort[0].attribute"));
}

#[tokio::test]
async fn when_the_allocation_logger_is_at_trace_should_log_each_decision_with_its_candidates() {
    let app = common::spawn_app(common::Backend::Embedded).await.unwrap();
    network(&app, &[("DC-ATL", "SKU-1", 10)]).await;
    save(&app, "O-1", "Web", &[("SKU-1", 1)]).await;
    let logger = "com.manh.cp.app.logging.logger.allocation.OrderAllocationLogger";
    let unknown = app.post("/order/component/logLevel", &json!({"loggerName": "x.y", "logLevel": "TRACE"})).await;
    assert_eq!(unknown.error_field(), Some("loggerName"));
    let level = app.post("/order/component/logLevel", &json!({"loggerName": logger, "logLevel": "LOUD"})).await;
    assert_eq!(level.error_field(), Some("logLevel"));
    let on = app.post("/order/component/logLevel", &json!({"loggerName": logger, "logLevel": "TRACE"})).await;
    assert_eq!(on.status, StatusCode::OK, "{}", on.body);

    let (lines, ()) = common::capture_logs(async {
        let id = start(&app, json!({"Query": "OrderId=O-1", "MassAction": "Allocate"})).await;
        drain_queues(&app.deps, 20).await;
        assert_eq!(job(&app, &id).await["SuccessMsgCount"], 1);
    })
    .await;
    let decisions: Vec<&Value> = lines.iter().filter(|l| l["fields"]["message"] == "allocation decision").collect();
    assert_eq!(decisions.len(), 1, "{lines:?}");
    assert_eq!(decisions[0]["fields"]["order_id"], "O-1");
    let decision: Value = serde_json::from_str(decisions[0]["fields"]["decision"].as_str().unwrap()).unwrap();
    assert_eq!(decision["lines"][0]["candidates"][0]["locationId"], "DC-ATL", "{decision}");

    let off = app.post("/order/component/logLevel", &json!({"loggerName": logger, "logLevel": "INFO"})).await;
    assert_eq!(off.status, StatusCode::OK);
    save(&app, "O-2", "Web", &[("SKU-1", 1)]).await;
    let (lines, ()) = common::capture_logs(async {
        let reply = app
            .fabric(
                Method::POST,
                "/allocation/",
                Some(&json!({"detailType": "ORDER_CREATED", "detail": {"orderId": "O-2"}})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
    })
    .await;
    assert!(lines.iter().all(|l| l["fields"]["message"] != "allocation decision"), "{lines:?}");
}
