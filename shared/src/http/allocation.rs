//! The allocation service API (seed 001): plain camelCase JSON, tenant in `x-site-context`.

use axum::Extension;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::allocation::{
    Allocation, AllocationEventRequest, AllocationId, ReallocateRequest, UpdateAllocationRequest,
};
use crate::domain::ids::{ItemId, LocationId, OrderId, OrderLineId};
use crate::domain::sourcing::{CandidateExplanation, Strategy};
use crate::error::OmsError;
use crate::http::SharedState;
use crate::http::auth::Caller;
use crate::http::body::parse_json;
use crate::http::envelope::plain_error;
use crate::service::allocation::{self, QueryRequest, SettingsRequest};
use crate::service::reconcile;

fn reply<T: Serialize>(result: Result<(StatusCode, T), OmsError>) -> Response {
    match result {
        Ok((status, body)) => (status, Json(body)).into_response(),
        Err(err) => plain_error(&err),
    }
}

/// The body of `POST /allocation/reconcile`; an empty body reports without repairing.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize, ToSchema)]
pub struct ReconcileRequest {
    /// Set the drifting rows right (default false: only report).
    pub repair: Option<bool>,
}

/// The body of `PUT /allocation/reallocate`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ReallocateResponse {
    /// `Reallocation process completed Successfully with !! allocation Ids [...]`.
    pub message: String,
    /// The allocations that received the moved units: new ones, and the order's allocations
    /// at the new locations that the units joined.
    pub allocations: Vec<Allocation>,
}

/// The body of `GET /allocation/explain/{orderId}`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExplainResponse {
    pub order_id: OrderId,
    /// The tenant's strategy the explanation replays.
    pub strategy: Strategy,
    /// Every line of the order but returns.
    pub lines: Vec<ExplainLine>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExplainLine {
    pub line_id: OrderLineId,
    pub item_id: ItemId,
    pub quantity: u32,
    /// Units the order's live allocations hold for this line.
    pub allocated: u64,
    pub allocations: Vec<HeldUnits>,
    /// Units still waiting for stock.
    pub waiting: u32,
    /// Of the waiting units, those a new allocation would place now.
    pub allocatable_now: u32,
    pub back_ordered: u32,
    /// Chosen locations in pick order, then the other eligible ones, then the excluded ones.
    pub candidates: Vec<CandidateExplanation>,
    /// At most 3 changes that would serve more of the line, smallest first.
    pub suggestions: Vec<String>,
}

/// Units of one line held by one live allocation.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HeldUnits {
    pub allocation_id: AllocationId,
    pub location_num: LocationId,
    pub quantity: u32,
}

/// 200 when every unit is allocated, 206 when some are back ordered.
pub async fn create(State(state): State<SharedState>, Extension(caller): Extension<Caller>, body: Bytes) -> Response {
    reply(
        async {
            let req: AllocationEventRequest = parse_json(&body)?;
            let outcome = allocation::allocate_from_event(&state.deps, &caller, &req).await?;
            let status = if outcome.back_ordered == 0 { StatusCode::OK } else { StatusCode::PARTIAL_CONTENT };
            Ok((status, outcome.allocations))
        }
        .await,
    )
}

pub async fn get(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    reply(async { Ok((StatusCode::OK, allocation::get_allocation(&state.deps, &caller.tenant, &id).await?)) }.await)
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
            Ok((StatusCode::OK, allocation::update(&state.deps, &caller, &id, &req).await?))
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
            Ok((StatusCode::OK, allocation::query(&state.deps, &caller.tenant, &req).await?))
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
            Ok((StatusCode::OK, ReallocateResponse { message, allocations: created }))
        }
        .await,
    )
}

pub async fn cancel(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    Path(ids): Path<String>,
) -> Response {
    reply(async { Ok((StatusCode::OK, allocation::cancel(&state.deps, &caller, &ids).await?)) }.await)
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
                let held: Vec<HeldUnits> = live
                    .iter()
                    .flat_map(|a| {
                        a.items.iter().filter(|i| i.order_line_id == line.order_line_id && i.held() > 0).map(move |i| {
                            HeldUnits {
                                allocation_id: a.allocation_id.clone(),
                                location_num: a.location_num.clone(),
                                quantity: i.held(),
                            }
                        })
                    })
                    .collect();
                let allocated: u64 = held.iter().map(|h| u64::from(h.quantity)).sum();
                let waiting = explanation.lines.iter().find(|e| e.line_id == line.order_line_id);
                lines.push(ExplainLine {
                    line_id: line.order_line_id.clone(),
                    item_id: line.item_id.clone(),
                    quantity: line.quantity,
                    allocated,
                    allocations: held,
                    waiting: waiting.map_or(0, |w| w.quantity),
                    allocatable_now: waiting.map_or(0, |w| w.allocated),
                    back_ordered: waiting.map_or(0, |w| w.back_ordered),
                    candidates: waiting.map(|w| w.candidates.clone()).unwrap_or_default(),
                    suggestions: waiting.map(|w| w.suggestions.clone()).unwrap_or_default(),
                });
            }
            Ok((StatusCode::OK, ExplainResponse { order_id: order.order_id, strategy: explanation.strategy, lines }))
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
                parse_json::<ReconcileRequest>(&body)?.repair.unwrap_or(false)
            };
            Ok((StatusCode::OK, reconcile::reconcile(&state.deps, &caller.tenant, repair).await?))
        }
        .await,
    )
}

pub async fn get_settings(State(state): State<SharedState>, Extension(caller): Extension<Caller>) -> Response {
    reply(async { Ok((StatusCode::OK, allocation::settings(&state.deps, &caller.tenant).await?)) }.await)
}

pub async fn put_settings(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    body: Bytes,
) -> Response {
    reply(
        async {
            let req: SettingsRequest = parse_json(&body)?;
            Ok((StatusCode::OK, allocation::put_settings(&state.deps, &caller.tenant, &req).await?))
        }
        .await,
    )
}
