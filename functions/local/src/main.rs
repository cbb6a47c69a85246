//! The local server: every route of the template, the queue consumers and the schedules in
//! one process on 127.0.0.1, on the embedded store unless `TABLE_NAME` is set.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use oms_core::catalog::{self, Trigger, permission};
use oms_core::config::{Backend, Config};
use oms_core::deps::Deps;
use oms_core::domain::ids::{TenantId, UserId};
use oms_core::http::auth::{AuthMode, LocalJwt};
use oms_core::http::{self, AppState};
use oms_core::jobs::{batch, dispatch};
use oms_core::ports::QueueName;
use oms_core::service::{backlog, demo};
use oms_core::telemetry;
use tokio::sync::watch;

mod outbound;

#[derive(Parser)]
#[command(name = "oms-local", about = "Run the OMS locally, or mint a token for it")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve every route on OMS_ADDR (default 127.0.0.1:3000) with data in OMS_DATA_DIR (default ./.oms).
    Serve {
        /// Do not load the demo tenant's locations, stock and orders.
        #[arg(long)]
        no_demo: bool,
    },
    /// Generate a backlog of open orders (with locations and stock) to mass allocate, into the
    /// data folder; the server may be running.
    Backlog {
        #[arg(long, default_value = "demo")]
        tenant: String,
        #[arg(long, default_value_t = 10_000)]
        orders: usize,
        #[arg(long, default_value_t = 100)]
        locations: usize,
        #[arg(long, default_value_t = 200)]
        items: usize,
        /// Order ids are <prefix><n>.
        #[arg(long, default_value = "BL-")]
        prefix: String,
        /// Stock as a percentage of each item's demand.
        #[arg(long, default_value_t = 97)]
        stock_percent: u32,
    },
    /// Print a token signed with the local secret.
    MintToken {
        #[arg(long, default_value = "demo")]
        tenant: String,
        #[arg(long, default_value = "demo-user")]
        user: String,
        /// Space-separated permissions; default: all of them.
        #[arg(long)]
        scope: Option<String>,
        #[arg(long, default_value_t = 24)]
        ttl_hours: i64,
    },
}

const SECRET_FILE: &str = "jwt-secret";

/// mimalloc: allocation-heavy request handling (JSON items) spends a fifth of its time in the
/// system allocator otherwise.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = Config::from_env()?;
    match cli.command.unwrap_or(Command::Serve { no_demo: false }) {
        Command::Serve { no_demo } => serve(config, !no_demo).await,
        Command::Backlog { tenant, orders, locations, items, prefix, stock_percent } => {
            let deps = Deps::from_config(&config).await?;
            let spec = backlog::BacklogSpec {
                tenant: TenantId::parse(&tenant)?,
                orders,
                locations,
                items,
                prefix,
                stock_percent,
            };
            let started = std::time::Instant::now();
            let report = backlog::load(&deps, &spec).await?;
            println!(
                "backlog for tenant {tenant}: {} orders ({} units), {locations} locations, {} stock rows, in {:.1?}",
                report.orders,
                report.units,
                report.stock_rows,
                started.elapsed()
            );
            Ok(())
        }
        Command::MintToken { tenant, user, scope, ttl_hours } => {
            let jwt = LocalJwt::new(&local_secret(&config)?);
            let all: Vec<&str> = permission::ALL.iter().map(|(name, _)| *name).collect();
            let scope = scope.unwrap_or_else(|| all.join(" "));
            let permissions: Vec<&str> = scope.split_whitespace().collect();
            let token = jwt.mint(
                &TenantId::parse(&tenant)?,
                &UserId::parse(&user)?,
                &permissions,
                chrono::Utc::now().timestamp(),
                ttl_hours * 3600,
            )?;
            println!("{token}");
            Ok(())
        }
    }
}

fn data_dir(config: &Config) -> PathBuf {
    match &config.backend {
        Backend::Embedded { data_dir } => data_dir.clone(),
        Backend::Aws { .. } => PathBuf::from(oms_core::config::DEFAULT_DATA_DIR),
    }
}

/// OMS_JWT_SECRET, else the secret kept in the data folder, else a new one stored there.
fn local_secret(config: &Config) -> anyhow::Result<String> {
    if let Some(secret) = &config.jwt_secret {
        return Ok(secret.clone());
    }
    let dir = data_dir(config);
    let path = dir.join(SECRET_FILE);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_string());
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let secret: String = (0..32).map(|_| format!("{:02x}", rand::random::<u8>())).collect();
    write_private(&path, &secret)?;
    Ok(secret)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    std::fs::write(path, contents).with_context(|| format!("writing {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

async fn serve(config: Config, load_demo: bool) -> anyhow::Result<()> {
    telemetry::init(config.log_format);
    let addr: SocketAddr = std::env::var("OMS_ADDR")
        .unwrap_or_else(|_| "127.0.0.1:3000".into())
        .parse()
        .context("OMS_ADDR must be host:port")?;
    let secret = local_secret(&config)?;
    let deps = Deps::from_config(&config).await?;
    if load_demo {
        let loaded = demo::load(&deps).await?;
        if loaded {
            tracing::info!("demo data loaded for tenant demo");
        }
    }
    let jwt = LocalJwt::new(&secret);
    let all: Vec<&str> = permission::ALL.iter().map(|(name, _)| *name).collect();
    let demo_token = jwt.mint(
        &TenantId::parse(demo::TENANT)?,
        &UserId::parse("demo-user")?,
        &all,
        chrono::Utc::now().timestamp(),
        30 * 24 * 3600,
    )?;

    let state = Arc::new(AppState { deps: deps.clone(), auth: AuthMode::Local(jwt) });
    // The API's own description and a browsable page of it, without a token like /health.
    let docs = utoipa_swagger_ui::SwaggerUi::new("/docs").url("/openapi.json", http::openapi::document());
    let app = http::router(state.clone(), None)
        .route("/health", axum::routing::get(http::health))
        .route("/local/queues/{name}", axum::routing::get(outbound::read_queue).with_state(state))
        .merge(docs);
    let listener = tokio::net::TcpListener::bind(addr).await.with_context(|| format!("binding {addr}"))?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let visibility = queue_visibility()?;
    if let Some(queue) = deps.embedded_queue.clone() {
        // Outbound queues are read by other systems (here: GET /local/queues/{name}).
        for name in QueueName::ALL.into_iter().filter(|q| !q.is_outbound()) {
            tasks.push(tokio::spawn(drain_forever(deps.clone(), queue.clone(), name, visibility, stop_rx.clone())));
        }
    }
    for spec in catalog::FUNCTIONS {
        if let Trigger::Schedule(expression) = spec.trigger {
            let period = dispatch::rate_period(expression)
                .with_context(|| format!("{}: unsupported schedule {expression}", spec.name))?;
            tasks.push(tokio::spawn(schedule_forever(deps.clone(), spec.name, period, stop_rx.clone())));
        }
    }

    let backend = match &config.backend {
        Backend::Embedded { data_dir } => format!("embedded store in {}", data_dir.display()),
        Backend::Aws { table } => format!("DynamoDB table {table}"),
    };
    println!("OMS listening on http://{addr} ({backend})");
    println!("demo token (tenant demo, every permission, 30 days):\nexport TOKEN={demo_token}");
    println!("try: curl -s http://{addr}/inventory/api/availability/itemId/SKU-1 -H \"Authorization: Bearer $TOKEN\"");
    println!("API documentation: http://{addr}/docs (OpenAPI document: http://{addr}/openapi.json)");

    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    let _ = stop_tx.send(true);
    for task in tasks {
        let _ = task.await;
    }
    tracing::info!("stopped cleanly");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = terminate => {} }
    tracing::info!("shutting down");
}

/// How long a received message stays hidden before it is delivered again (after a crash, the
/// messages a killed server had received come back after this): `OMS_QUEUE_VISIBILITY_SECONDS`,
/// default 30, like the SQS queues' 6 x the consumer's timeout.
fn queue_visibility() -> anyhow::Result<Duration> {
    match std::env::var("OMS_QUEUE_VISIBILITY_SECONDS") {
        Ok(text) if !text.trim().is_empty() => match text.trim().parse::<u64>() {
            Ok(seconds) if (1..=43_200).contains(&seconds) => Ok(Duration::from_secs(seconds)),
            _ => anyhow::bail!("OMS_QUEUE_VISIBILITY_SECONDS must be a whole number of seconds from 1 to 43200"),
        },
        _ => Ok(Duration::from_secs(30)),
    }
}

/// Feeds the embedded queue into the same batch handler the SQS Lambda runs.
async fn drain_forever(
    deps: Deps,
    queue: Arc<oms_core::queue::embedded::EmbeddedQueue>,
    name: QueueName,
    visibility: Duration,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        let report = batch::drain_once(queue.as_ref(), name, visibility, |message| {
            let deps = deps.clone();
            async move { dispatch::consume_one(&deps, name, message).await }
        })
        .await;
        let idle = match report {
            Ok(report) => report.delivered == 0,
            Err(e) => {
                tracing::warn!(error = %e, queue = name.as_str(), "draining the embedded queue failed");
                true
            }
        };
        if idle {
            tokio::select! { _ = tokio::time::sleep(Duration::from_millis(200)) => {}, _ = stop.changed() => {} }
        }
    }
}

async fn schedule_forever(deps: Deps, function: &'static str, period: Duration, mut stop: watch::Receiver<bool>) {
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        match dispatch::run_schedule(&deps, function).await {
            Ok(report) if report.delivered + report.failed + report.dead_lettered > 0 => {
                tracing::info!(?report, "scheduled run")
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, function, "scheduled run failed"),
        }
    }
}
