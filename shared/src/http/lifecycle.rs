//! The order lifecycle routes (seed 003) in Manhattan's envelope: order types, message
//! templates, cancel and release.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::domain::ids::OrderId;
use crate::domain::lifecycle::config::OrderTypeConfigRequest;
use crate::domain::lifecycle::messages::MessageTemplateRequest;
use crate::error::OmsError;
use crate::http::SharedState;
use crate::http::auth::Caller;
use crate::http::body::parse_json;
use crate::http::envelope::manhattan_reply;
use crate::service::lifecycle::cancel::{self, CancelOrderRequest};
use crate::service::lifecycle::config;
use crate::service::lifecycle::release::{self, Release, Released};

/// `PUT /order/api/order/orderType/{OrderTypeId}`.
pub async fn put_order_type(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let result = async {
        let req: OrderTypeConfigRequest = parse_json(&body)?;
        config::put_order_type(&state.deps, &caller, &id, &req).await
    }
    .await;
    manhattan_reply(result, |c| format!("Order type {} saved at version {}", c.order_type_id, c.version), uri.path())
}

/// `GET /order/api/order/orderType/{OrderTypeId}`: the stored configuration, or the built-in
/// default (`IsDefault: true`).
pub async fn get_order_type(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
) -> Response {
    let result = config::get_order_type(&state.deps, &caller.tenant, &id).await;
    manhattan_reply(
        result,
        |v| {
            if v.is_default {
                format!("Order type {} has no configuration of its own: the default applies", v.config.order_type_id)
            } else {
                format!("Order type {} found", v.config.order_type_id)
            }
        },
        uri.path(),
    )
}

/// `GET /order/api/order/orderType`.
pub async fn list_order_types(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let result = config::list_order_types(&state.deps, &caller.tenant).await;
    manhattan_reply(result, |all| format!("{} order types configured", all.len()), uri.path())
}

/// `PUT /order/api/order/messageTemplate/{TemplateId}`.
pub async fn put_template(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let result = async {
        let req: MessageTemplateRequest = parse_json(&body)?;
        config::put_template(&state.deps, &caller.tenant, &id, &req).await
    }
    .await;
    manhattan_reply(
        result,
        |t| format!("Message template {} saved at version {}", t.template_id, t.version),
        uri.path(),
    )
}

/// `GET /order/api/order/messageTemplate/{TemplateId}`.
pub async fn get_template(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
) -> Response {
    let result = config::get_template(&state.deps, &caller.tenant, &id).await;
    manhattan_reply(result, |t| format!("Message template {} found", t.template_id), uri.path())
}

/// `GET /order/api/order/messageTemplate`.
pub async fn list_templates(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let result = config::list_templates(&state.deps, &caller.tenant).await;
    manhattan_reply(result, |all| format!("{} message templates", all.len()), uri.path())
}

/// `POST /order/api/order/order/cancel`: answers the order as canceled.
pub async fn cancel_order(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let result = async {
        let req: CancelOrderRequest = parse_json(&body)?;
        cancel::cancel_order(&state.deps, &caller, &req).await.map(|o| o.to_response())
    }
    .await;
    manhattan_reply(result, |o| format!("Order {} canceled as requested", o.order_id), uri.path())
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ReleaseOrderRequest {
    #[schema(value_type = String, required = true)]
    pub order_id: Option<String>,
}

/// What a release answers: the release documents it wrote.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ReleaseResponse {
    #[schema(value_type = String)]
    pub order_id: OrderId,
    pub release: Vec<Release>,
}

/// `POST /order/api/order/order/release`: 409 naming why when the order may not be released
/// (not confirmed, on hold, DoNotReleaseBefore ahead).
pub async fn release_order(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let result = async {
        let req: ReleaseOrderRequest = parse_json(&body)?;
        let id = req.order_id.as_deref().ok_or_else(|| OmsError::validation("OrderId", "is required"))?;
        let order_id = OrderId::parse_at("OrderId", id)?;
        match release::release_order(&state.deps, &caller.tenant, &caller.user, &order_id).await? {
            Released::Done(release) => Ok(ReleaseResponse { order_id, release }),
            Released::Blocked(why) => Err(OmsError::Conflict(format!("{why}: nothing was released"))),
        }
    }
    .await;
    manhattan_reply(
        result,
        |r| match r.release.len() {
            0 => format!("Order {}: nothing allocated is waiting for release", r.order_id),
            n => format!("Order {} released to {n} locations", r.order_id),
        },
        uri.path(),
    )
}

/// `GET /order/api/order/release/orderId/{orderId}`: the order's release documents.
pub async fn releases_of_order(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    Path(id): Path<String>,
) -> Response {
    let result = async {
        let order = crate::service::orders::get_order(&state.deps, &caller.tenant, &id).await?;
        let release = release::releases_of(&state.deps, &caller.tenant, &order.order_id).await?;
        Ok(ReleaseResponse { order_id: order.order_id, release })
    }
    .await;
    manhattan_reply(result, |r| format!("{} releases of order {}", r.release.len(), r.order_id), uri.path())
}
