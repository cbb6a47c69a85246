//! HTTP: the routes table wired to handlers, authentication, idempotency, envelopes.

pub mod allocation;
pub mod auth;
pub mod body;
pub mod envelope;
pub mod idempotency;
pub mod inventory;
pub mod lifecycle;
pub mod openapi;
pub mod orders;
pub mod scheduler;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get, post, put};
use tracing::Instrument;

use crate::catalog::{self, Route};
use crate::deps::Deps;
use crate::error::OmsError;
use auth::{AuthMode, authenticate, check_tenant_headers};

pub struct AppState {
    pub deps: Deps,
    pub auth: AuthMode,
}

pub type SharedState = Arc<AppState>;

/// The handler of each HTTP function of the catalog.
fn handler_for(function: &str) -> Option<MethodRouter<SharedState>> {
    Some(match function {
        "order-save" => post(orders::save_order),
        "order-get" => get(orders::get_order),
        "location-put" => put(inventory::upsert_location),
        "location-get" => get(inventory::get_location),
        "supply-post" => post(inventory::post_supply),
        "availability-get" => get(inventory::get_availability),
        "stock-shards-put" => put(inventory::put_stock_shards),
        "stock-shards-get" => get(inventory::get_stock_shards),
        "allocation-create" => post(allocation::create),
        "allocation-get" => get(allocation::get),
        "allocation-update" => put(allocation::update),
        "allocation-query" => post(allocation::query),
        "allocation-reallocate" => put(allocation::reallocate),
        "allocation-cancel" => put(allocation::cancel),
        "allocation-explain" => get(allocation::explain),
        "allocation-reconcile" => post(allocation::reconcile),
        "allocation-settings-get" => get(allocation::get_settings),
        "allocation-settings-put" => put(allocation::put_settings),
        "order-mass-action" => post(scheduler::mass_action),
        "job-execution-search" => post(scheduler::search),
        // The seed's abort is documented with either method.
        "job-execution-abort" => put(scheduler::set_status).post(scheduler::set_status),
        "job-execution-results" => get(scheduler::results),
        "job-execution-trigger" => post(scheduler::trigger),
        "component-log-level" => post(scheduler::log_level),
        "order-cancel" => post(lifecycle::cancel_order),
        "order-release" => post(lifecycle::release_order),
        "order-releases-get" => get(lifecycle::releases_of_order),
        "order-type-put" => put(lifecycle::put_order_type),
        "order-type-get" => get(lifecycle::get_order_type),
        "order-type-list" => get(lifecycle::list_order_types),
        "message-template-put" => put(lifecycle::put_template),
        "message-template-get" => get(lifecycle::get_template),
        "message-template-list" => get(lifecycle::list_templates),
        _ => return None,
    })
}

/// The routes of `functions` (every HTTP function of the catalog when `None`).
pub fn router(state: SharedState, functions: Option<&[&str]>) -> Router {
    let mut router = Router::new();
    for (name, route) in catalog::routes() {
        if functions.is_some_and(|only| !only.contains(&name)) {
            continue;
        }
        let Some(handler) = handler_for(name) else {
            tracing::error!(function = name, "no handler is wired for this catalog route");
            continue;
        };
        let guard = RouteGuard { state: state.clone(), function: name, route };
        let handler = handler.route_layer(from_fn_with_state(guard, guard_route));
        // A trailing slash names the same route (the seeds document `POST /allocation/`).
        router = router.route(&format!("{}/", route.path), handler.clone()).route(route.path, handler);
    }
    router.fallback(unknown_route).layer(from_fn(request_span)).with_state(state)
}

/// True when every HTTP function of the catalog has a handler (checked by a test).
pub fn every_route_has_a_handler() -> Result<(), Vec<&'static str>> {
    let missing: Vec<_> = catalog::routes().map(|(name, _)| name).filter(|name| handler_for(name).is_none()).collect();
    if missing.is_empty() { Ok(()) } else { Err(missing) }
}

#[derive(Clone)]
struct RouteGuard {
    state: SharedState,
    function: &'static str,
    route: Route,
}

/// Authentication, tenant headers, permission and idempotency, before the handler runs.
async fn guard_route(State(guard): State<RouteGuard>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    match guarded(&guard, req, next).await {
        Ok(response) => response,
        Err(err) => envelope::error_for_path(&err, &path),
    }
}

async fn guarded(guard: &RouteGuard, mut req: Request, next: Next) -> Result<Response, OmsError> {
    let now = guard.state.deps.clock.now().timestamp();
    let caller = authenticate(&guard.state.auth, req.headers(), req.extensions(), now)?;
    if guard.route.site_context_required && !req.headers().contains_key("x-site-context") {
        return Err(OmsError::validation("x-site-context", "header is required: {\"account\": \"<tenant>\"}"));
    }
    check_tenant_headers(req.headers(), &caller)?;
    caller.require(guard.route.permission)?;
    tracing::Span::current().record("tenant", caller.tenant.as_str());
    req.extensions_mut().insert(caller.clone());
    match req.headers().get(idempotency::HEADER).cloned() {
        Some(key) if guard.route.mutating => {
            idempotency::replay_or_run(&guard.state.deps, &caller, guard.function, &key, req, next).await
        }
        _ => Ok(next.run(req).await),
    }
}

async fn unknown_route(req: Request) -> Response {
    let path = req.uri().path().to_owned();
    let err = OmsError::not_found(format!("no route {} {path}", req.method()));
    envelope::error_for_path(&err, &path)
}

/// One span per request carrying its id: the Lambda request id in AWS, else `x-request-id`
/// or a new id. The id is echoed back in `x-request-id`.
async fn request_span(req: Request, next: Next) -> Response {
    let request_id = req
        .extensions()
        .get::<lambda_runtime::Context>()
        .map(|ctx| ctx.request_id.clone())
        .or_else(|| req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).map(str::to_owned))
        .unwrap_or_else(|| ulid::Ulid::new().to_string());
    let span = tracing::info_span!("request", request_id = %request_id, method = %req.method(), path = %req.uri().path(), tenant = tracing::field::Empty);
    let started = std::time::Instant::now();
    let mut response = next.run(req).instrument(span.clone()).await;
    span.in_scope(|| {
        tracing::info!(
            status = response.status().as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "handled"
        )
    });
    if let Ok(value) = request_id.parse() {
        response.headers_mut().insert("x-request-id", value);
    }
    response
}

/// Liveness for the local server and benchmarks: no auth, no I/O.
pub async fn health() -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok"}))
}
