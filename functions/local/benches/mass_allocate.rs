//! Mass allocate end to end on the local server (the `oms-local` binary, embedded store and
//! queue): a generated backlog, single-order `POST /allocation/` measured first on part of it
//! with 32 clients, then one massAction over the rest, timed from the request to the job's
//! completion. With `OMS_TEST_DYNAMODB_ENDPOINT` set (scripts/test.sh's emulator), the same job
//! also runs in process against the DynamoDB/SQS emulator on a smaller backlog.
//!
//! `cargo bench -p local --bench mass_allocate` (ORDERS=n, SINGLE=n, DYNAMO_ORDERS=n to change
//! the counts; defaults 100,000, 5,000 and 2,000; ORDERS=0 runs only the emulator part).

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use oms_core::deps::Deps;
use oms_core::domain::caller::Caller;
use oms_core::domain::ids::{TenantId, UserId};
use oms_core::jobs::{batch, dispatch};
use oms_core::ports::QueueName;
use oms_core::service::{backlog, jobs, mass_allocate};
use serde_json::{Value, json};
use support::{Client, measure, print};

mod support;

const BIN: &str = env!("CARGO_BIN_EXE_oms-local");
const TENANT: &str = "bench";

fn env_count(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn run(data: &Path, args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).env("OMS_DATA_DIR", data).env_remove("TABLE_NAME").output().unwrap();
    assert!(out.status.success(), "oms-local {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn serve(data: &Path, port: u16) -> Child {
    let log = std::fs::File::create(data.join("server.log")).unwrap();
    Command::new(BIN)
        .args(["serve", "--no-demo"])
        .env("OMS_DATA_DIR", data)
        .env("OMS_ADDR", format!("127.0.0.1:{port}"))
        .env("RUST_LOG", "warn")
        .env_remove("TABLE_NAME")
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap()
}

async fn json_call(client: &mut Client, method: &str, path: &str, body: &Value) -> (u16, Value) {
    let (status, bytes) = client.call_body(method, path, &body.to_string()).await;
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Polls the job until it ends; returns it.
async fn wait_for_job(client: &mut Client, id: &str) -> Value {
    loop {
        let query = json!({"Query": format!("JobScheduleId={id}")});
        let (status, body) = json_call(client, "POST", "/scheduler/api/scheduler/jobExecution/search", &query).await;
        assert_eq!(status, 200, "{body}");
        let job = body["data"][0].clone();
        if job["Status"] != "InProgress" {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn summary(job: &Value) -> String {
    format!(
        "{} orders: {} fully allocated, {} not fully ({} units allocated, {} shipments, mean {} km)",
        job["TotalMsgCount"],
        job["SuccessMsgCount"],
        job["FailureMsgCount"],
        job["AllocationSummary"]["UnitsAllocated"],
        job["AllocationSummary"]["Shipments"],
        job["AllocationSummary"]["MeanDistanceKm"]
    )
}

async fn embedded(orders: usize, single: usize) {
    let data = std::env::temp_dir().join(format!("oms-mass-bench-{}", std::process::id()));
    std::fs::create_dir_all(&data).unwrap();
    let total = (orders + single).to_string();
    let started = Instant::now();
    let loaded =
        run(&data, &["backlog", "--tenant", TENANT, "--orders", &total, "--locations", "100", "--items", "500"]);
    println!("{} (load {:.1?})", loaded.trim(), started.elapsed());
    let token = run(&data, &["mint-token", "--tenant", TENANT]).trim().to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = serve(&data, port);
    let mut client = loop {
        if let Ok(stream) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            drop(stream);
            break Client::connect(port, &token).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The first `single` orders one request each: the rate mass allocate is compared with.
    let singles = measure(port, &token, single, |mut client, work| async move {
        let mut latencies = Vec::with_capacity(work.len());
        for n in work {
            let body = format!("{{\"detailType\":\"ORDER_CREATED\",\"detail\":{{\"orderId\":\"BL-{n:06}\"}}}}");
            let started = Instant::now();
            let status = client.call("POST", "/allocation/", &body).await;
            assert!(status == 200 || status == 206, "BL-{n:06}: {status}");
            latencies.push(started.elapsed());
        }
        latencies
    })
    .await;

    // The rest (still open: MaxFulfillmentStatusId=1000) in one mass action.
    let started = Instant::now();
    let body = json!({"Query": "MaxFulfillmentStatusId=1000", "MassAction": "Allocate"});
    let (status, reply) = json_call(&mut client, "POST", "/order/api/order/order/massAction", &body).await;
    assert_eq!(status, 200, "{reply}");
    let id = reply["data"]["JobScheduleId"].as_str().unwrap().to_owned();
    let job = wait_for_job(&mut client, &id).await;
    let elapsed = started.elapsed();
    assert_eq!(job["Status"], "completed", "{job}");
    let processed = job["TotalMsgCount"].as_u64().unwrap() as f64;
    let rate = processed / elapsed.as_secs_f64();
    println!("local server, embedded store and queue (release build, {} cores)", available_cores());
    print("POST /allocation/ (single)", &singles);
    println!("mass allocate {id}: {} in {elapsed:.2?}", summary(&job));
    println!(
        "mass allocate {rate:.0} orders/s vs single-order {:.0} orders/s: {:.2}x; goal 100,000 orders in 60 s (1,700/s): {:.2}x",
        singles.per_second(),
        rate / singles.per_second(),
        rate / 1700.0
    );
    server.kill().ok();
    server.wait().ok();
    std::fs::remove_dir_all(&data).ok();
}

fn available_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// The same chain in process on the DynamoDB/SQS emulator: massAction's service, then the
/// consumers of both queues drained until the job ends, as the queue Lambdas would run them.
async fn dynamodb(endpoint: &str, orders: usize) {
    let suffix = format!("{}{}", std::process::id(), chrono::Utc::now().timestamp_millis());
    let dynamo = oms_core::store::dynamodb::client_for_endpoint(endpoint);
    let table = format!("oms-bench-{suffix}");
    oms_core::store::dynamodb::create_table(&dynamo, &table).await.unwrap();
    let sqs = oms_core::queue::sqs::client_for_endpoint(endpoint);
    let mut urls = std::collections::HashMap::new();
    for name in QueueName::ALL {
        let queue = format!("oms-bench-{}-{suffix}", name.as_str());
        urls.insert(name, oms_core::queue::sqs::create_queue_with_dlq(&sqs, &queue).await.unwrap());
    }
    let deps = Deps::with(
        Arc::new(oms_core::store::dynamodb::DynamoStore::new(dynamo, table)),
        Arc::new(oms_core::queue::sqs::SqsQueue::new(sqs, urls)),
        None,
    );
    let tenant = TenantId::parse(TENANT).unwrap();
    let spec = backlog::BacklogSpec {
        tenant: tenant.clone(),
        orders,
        locations: 20,
        items: 50,
        prefix: "BL-".into(),
        stock_percent: 97,
    };
    let started = Instant::now();
    backlog::load(&deps, &spec).await.unwrap();
    println!("emulator backlog: {orders} orders in {:.1?}", started.elapsed());
    let caller = Caller::for_job(tenant.clone(), UserId::parse("bench").unwrap());
    let request = mass_allocate::MassActionRequest {
        query: Some("MaxFulfillmentStatusId=1000".into()),
        mass_action: Some("Allocate".into()),
        ..Default::default()
    };
    let started = Instant::now();
    let accepted = mass_allocate::start(&deps, &caller, &request).await.unwrap();
    let drains = QueueName::ALL.map(|name| {
        let deps = deps.clone();
        tokio::spawn(async move {
            loop {
                let report = batch::drain_once(deps.queue.as_ref(), name, Duration::from_secs(60), |message| {
                    let deps = deps.clone();
                    async move { dispatch::consume_one(&deps, name, message).await }
                })
                .await
                .unwrap();
                if report.delivered == 0 {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        })
    });
    let job = loop {
        let job = jobs::get_job(&deps, &tenant, &accepted.job_schedule_id).await.unwrap();
        if job.status.is_finished() {
            break job;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let elapsed = started.elapsed();
    for drain in drains {
        drain.abort();
    }
    let view = serde_json::to_value(job.view(chrono::Utc::now())).unwrap();
    println!(
        "DynamoDB/SQS emulator (in process, queues drained as the Lambdas would): {} in {elapsed:.2?}",
        summary(&view)
    );
    println!("mass allocate on the emulator: {:.0} orders/s", job.total_msg_count as f64 / elapsed.as_secs_f64());
}

/// The local server's allocator, as in `oms-local`.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    match env_count("ORDERS", 100_000) {
        0 => println!("local server: skipped (ORDERS=0)"),
        orders => embedded(orders, env_count("SINGLE", 5_000)).await,
    }
    match std::env::var("OMS_TEST_DYNAMODB_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => dynamodb(&endpoint, env_count("DYNAMO_ORDERS", 2_000)).await,
        _ => println!("DynamoDB emulator: skipped (OMS_TEST_DYNAMODB_ENDPOINT not set)"),
    }
}
