//! Response envelopes. Manhattan's routes (orders, inventory) wrap data in
//! `{success, header, data, messageKey, message, errors, exceptions, messages, rootCause, requestUri, statusCode}`.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::OmsError;

fn status_name(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("UNKNOWN").to_uppercase().replace([' ', '-'], "_")
}

pub fn manhattan_ok(status: StatusCode, data: Value, message: &str, uri: &str) -> Response {
    let body = json!({
        "success": true,
        "header": null,
        "data": data,
        "messageKey": null,
        "message": message,
        "errors": [],
        "exceptions": [],
        "messages": {"Message": [], "Size": 0},
        "rootCause": null,
        "requestUri": uri,
        "statusCode": status_name(status),
    });
    (status, Json(body)).into_response()
}

pub fn manhattan_error(err: &OmsError, uri: &str) -> Response {
    let status = err.status_code();
    log_server_error(err, status);
    let message = err.public_message();
    let body = json!({
        "success": false,
        "header": null,
        "data": null,
        "messageKey": err.code(),
        "message": message,
        "errors": [{"code": err.code(), "field": err.field(), "message": message}],
        "exceptions": [],
        "messages": {"Message": [{"Type": "Error", "Code": err.code(), "Description": message}], "Size": 1},
        "rootCause": null,
        "requestUri": uri,
        "statusCode": status_name(status),
    });
    (status, Json(body)).into_response()
}

/// Plain JSON error for the non-Manhattan families: `{"code", "field", "message"}`.
pub fn plain_error(err: &OmsError) -> Response {
    let status = err.status_code();
    log_server_error(err, status);
    let body = json!({"code": err.code(), "field": err.field(), "message": err.public_message()});
    (status, Json(body)).into_response()
}

/// 5xx details go to the logs, never to the client.
fn log_server_error(err: &OmsError, status: StatusCode) {
    if status.is_server_error() {
        tracing::error!(error = ?err, "request failed");
    } else {
        tracing::info!(status = status.as_u16(), error = %err, "request refused");
    }
}

/// Renders an error in the envelope of the API family the path belongs to.
pub fn error_for_path(err: &OmsError, path: &str) -> Response {
    if path.starts_with("/order/") || path.starts_with("/inventory/") || path.starts_with("/scheduler/") {
        manhattan_error(err, path)
    } else {
        plain_error(err)
    }
}
