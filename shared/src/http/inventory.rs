//! Locations, supply and availability, in Manhattan's envelope and PascalCase.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ids::ItemId;
use crate::domain::inventory::SupplyRequest;
use crate::domain::location::UpsertLocationRequest;
use crate::error::OmsError;
use crate::http::SharedState;
use crate::http::auth::Caller;
use crate::http::body::parse_json;
use crate::http::envelope::{manhattan_error, manhattan_ok};
use crate::service::inventory::{self, StockRowResponse};
use crate::service::stock::{self, ShardCountRequest};

/// The `data` of `POST /inventory/api/supply`: every row as it stands after the update.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SupplyResponse {
    pub supply: Vec<StockRowResponse>,
}

/// The `data` of `GET /inventory/api/availability/itemId/{ItemId}`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AvailabilityResponse {
    pub item_id: ItemId,
    /// Sum of `Available` over the locations.
    pub total_available: i64,
    /// One row per location that has stock of the item, in location id order.
    pub locations: Vec<StockRowResponse>,
}

pub async fn upsert_location(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    Path(location_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = async {
        let req: UpsertLocationRequest = parse_json(&body)?;
        inventory::upsert_location(&state.deps, &caller.tenant, &location_id, &req).await
    }
    .await;
    match result {
        Ok((location, created)) => {
            let verb = if created { "created" } else { "updated" };
            manhattan_ok(StatusCode::OK, location.to_response(), &format!("Location {location_id} {verb}"), uri.path())
        }
        Err(err) => manhattan_error(&err, uri.path()),
    }
}

pub async fn get_location(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    Path(location_id): Path<String>,
) -> Response {
    match inventory::get_location(&state.deps, &caller.tenant, &location_id).await {
        Ok(location) => manhattan_ok(StatusCode::OK, location.to_response(), "Location found", uri.path()),
        Err(err) => manhattan_error(&err, uri.path()),
    }
}

pub async fn post_supply(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let result = async {
        let req: SupplyRequest = parse_json(&body)?;
        inventory::apply_supply(&state.deps, &caller.tenant, &req).await
    }
    .await;
    match result {
        Ok(rows) => {
            let data = SupplyResponse { supply: rows.iter().map(|r| r.to_response()).collect() };
            manhattan_ok(StatusCode::OK, data, &format!("{} supply rows applied", rows.len()), uri.path())
        }
        Err(err) => manhattan_error(&err, uri.path()),
    }
}

pub async fn get_availability(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    Path(item_id): Path<String>,
) -> Response {
    match inventory::availability(&state.deps, &caller.tenant, &item_id).await {
        Ok((item, rows)) => {
            let total: i64 = rows.iter().map(|r| r.level.available()).sum();
            let data = AvailabilityResponse {
                item_id: item,
                total_available: total,
                locations: rows.iter().map(|r| r.to_response()).collect(),
            };
            manhattan_ok(StatusCode::OK, data, "Availability found", uri.path())
        }
        Err(err) => manhattan_error(&err, uri.path()),
    }
}

pub async fn put_stock_shards(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    Path(item_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = async {
        // A struct also reads from an array (`[8]`): only an object is the documented body.
        let req = match parse_json::<serde_json::Value>(&body)? {
            serde_json::Value::Object(fields) => ShardCountRequest { shard_count: fields.get("ShardCount").cloned() },
            _ => {
                return Err(OmsError::BadRequest("the request body must be a JSON object: {\"ShardCount\": 8}".into()));
            }
        };
        stock::set_shards(&state.deps, &caller.tenant, &item_id, &req).await
    }
    .await;
    match result {
        Ok(shards) => {
            let message = format!("Stock of {item_id} kept in {} shards", shards.shard_count);
            manhattan_ok(StatusCode::OK, shards, &message, uri.path())
        }
        Err(err) => manhattan_error(&err, uri.path()),
    }
}

pub async fn get_stock_shards(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    Path(item_id): Path<String>,
) -> Response {
    match stock::get_shards(&state.deps, &caller.tenant, &item_id).await {
        Ok(shards) => manhattan_ok(StatusCode::OK, shards, "Stock shards found", uri.path()),
        Err(err) => manhattan_error(&err, uri.path()),
    }
}
