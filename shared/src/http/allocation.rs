//! The allocation service API (seed 001): plain camelCase JSON, tenant in `x-site-context`.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::domain::allocation::{AllocationEventRequest, ReallocateRequest, UpdateAllocationRequest};
use crate::error::OmsError;
use crate::http::SharedState;
use crate::http::auth::Caller;
use crate::http::body::parse_json;
use crate::http::envelope::plain_error;
use crate::service::allocation::{self, QueryRequest, SettingsRequest};
use crate::service::reconcile;

fn reply(result: Result<(StatusCode, Value), OmsError>) -> Response {
    match result {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(err) => plain_error(&err),
    }
}

fn to_json(value: &impl serde::Serialize) -> Result<Value, OmsError> {
    serde_json::to_value(value).map_err(|e| OmsError::Internal(e.into()))
}

/// 200 when every unit is allocated, 206 when some are back ordered.
pub async fn create(State(state): State<SharedState>, Extension(caller): Extension<Caller>, body: Bytes) -> Response {
    reply(
        async {
            let req: AllocationEventRequest = parse_json(&body)?;
            let outcome = allocation::allocate_from_event(&state.deps, &caller, &req).await?;
            let status = if outcome.back_ordered == 0 { StatusCode::OK } else { StatusCode::PARTIAL_CONTENT };
            Ok((status, to_json(&outcome.allocations)?))
        }
        .await,
    )
}

pub async fn get(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    reply(
        async { Ok((StatusCode::OK, to_json(&allocation::get_allocation(&state.deps, &caller.tenant, &id).await?)?)) }
            .await,
    )
}

pub async fn update(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    reply(
        async {
            let req: UpdateAllocationRequest = parse_json(&body)?;
            Ok((StatusCode::OK, to_json(&allocation::update(&state.deps, &caller, &id, &req).await?)?))
        }
        .await,
    )
}

pub async fn query(State(state): State<SharedState>, Extension(caller): Extension<Caller>, body: Bytes) -> Response {
    reply(
        async {
            // The documented defaults apply to an empty body too.
            let req: QueryRequest =
                if body.iter().all(u8::is_ascii_whitespace) { QueryRequest::default() } else { parse_json(&body)? };
            Ok((StatusCode::OK, to_json(&allocation::query(&state.deps, &caller.tenant, &req).await?)?))
        }
        .await,
    )
}

pub async fn reallocate(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    reply(
        async {
            let req: ReallocateRequest = parse_json(&body)?;
            let created = allocation::reallocate(&state.deps, &caller, &req).await?;
            let ids: Vec<&str> = created.iter().map(|a| a.allocation_id.as_str()).collect();
            let message =
                format!("Reallocation process completed Successfully with !! allocation Ids [{}]", ids.join(", "));
            Ok((StatusCode::OK, json!({"message": message, "allocations": to_json(&created)?})))
        }
        .await,
    )
}

pub async fn cancel(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(ids): Path<String>,
) -> Response {
    reply(async { Ok((StatusCode::OK, to_json(&allocation::cancel(&state.deps, &caller, &ids).await?)?)) }.await)
}

/// Every line of the order: the units its live allocations hold, and for the units still
/// waiting, each candidate location with why it was chosen or excluded and the smallest
/// change that would allocate them.
pub async fn explain(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(order_id): Path<String>,
) -> Response {
    reply(
        async {
            let (order, explanation, live) = allocation::explain(&state.deps, &caller.tenant, &order_id).await?;
            let mut lines = Vec::new();
            for line in order.lines.iter().filter(|l| !l.is_return) {
                let held: Vec<Value> = live
                    .iter()
                    .flat_map(|a| {
                        a.items.iter().filter(|i| i.line_id == line.order_line_id).map(move |i| {
                            json!({"allocationId": a.allocation_id, "locationNum": a.location_num, "quantity": i.quantity})
                        })
                    })
                    .collect();
                let allocated: u64 = held.iter().filter_map(|h| h["quantity"].as_u64()).sum();
                let waiting = explanation.lines.iter().find(|e| e.line_id == line.order_line_id);
                lines.push(json!({
                    "lineId": line.order_line_id,
                    "itemId": line.item_id,
                    "quantity": line.quantity,
                    "allocated": allocated,
                    "allocations": held,
                    "waiting": waiting.map_or(0, |w| w.quantity),
                    "allocatableNow": waiting.map_or(0, |w| w.allocated),
                    "backOrdered": waiting.map_or(0, |w| w.back_ordered),
                    "candidates": waiting.map(|w| to_json(&w.candidates)).transpose()?.unwrap_or_else(|| json!([])),
                    "suggestions": waiting.map(|w| to_json(&w.suggestions)).transpose()?.unwrap_or_else(|| json!([])),
                }));
            }
            Ok((StatusCode::OK, json!({"orderId": order.order_id, "strategy": explanation.strategy, "lines": lines})))
        }
        .await,
    )
}

pub async fn reconcile(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    reply(
        async {
            let repair = if body.iter().all(u8::is_ascii_whitespace) {
                false
            } else {
                let req: Value = parse_json(&body)?;
                match req.get("repair") {
                    None | Some(Value::Null) => false,
                    Some(Value::Bool(b)) => *b,
                    Some(_) => return Err(OmsError::validation("repair", "must be true or false")),
                }
            };
            Ok((StatusCode::OK, to_json(&reconcile::reconcile(&state.deps, &caller.tenant, repair).await?)?))
        }
        .await,
    )
}

pub async fn get_settings(State(state): State<SharedState>, Extension(caller): Extension<Caller>) -> Response {
    reply(async { Ok((StatusCode::OK, to_json(&allocation::settings(&state.deps, &caller.tenant).await?)?)) }.await)
}

pub async fn put_settings(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    reply(
        async {
            let req: SettingsRequest = parse_json(&body)?;
            Ok((StatusCode::OK, to_json(&allocation::put_settings(&state.deps, &caller.tenant, &req).await?)?))
        }
        .await,
    )
}
