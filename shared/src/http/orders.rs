//! Save Order / Get Order in Manhattan's envelope.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::http::StatusCode;
use axum::response::Response;

use crate::domain::order::SaveOrderRequest;
use crate::http::SharedState;
use crate::http::auth::Caller;
use crate::http::body::parse_json;
use crate::http::envelope::{manhattan_error, manhattan_ok};
use crate::service::orders;

pub async fn save_order(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let result = async {
        let req: SaveOrderRequest = parse_json(&body)?;
        orders::save_order(&state.deps, &caller, &req).await
    }
    .await;
    match result {
        Ok(saved) => {
            let verb = if saved.created { "created" } else { "updated" };
            let message = format!("Order {} {verb}", saved.order.order_id);
            manhattan_ok(StatusCode::OK, saved.order.to_response(), &message, uri.path())
        }
        Err(err) => manhattan_error(&err, uri.path()),
    }
}

pub async fn get_order(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    Path(order_id): Path<String>,
) -> Response {
    match orders::get_order(&state.deps, &caller.tenant, &order_id).await {
        Ok(order) => manhattan_ok(StatusCode::OK, order.to_response(), "Order found", uri.path()),
        Err(err) => manhattan_error(&err, uri.path()),
    }
}
