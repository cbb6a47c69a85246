//! Response envelopes. Manhattan's routes (orders, inventory) wrap data in
//! `{success, header, data, messageKey, message, errors, exceptions, messages, rootCause, requestUri, statusCode}`;
//! the other families answer errors as plain `{code, field, message}`. The types here are both
//! what is serialized and the OpenAPI schemas of those bodies.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

use crate::error::{OmsError, OmsResult};

fn status_name(status: StatusCode) -> String {
    status.canonical_reason().unwrap_or("UNKNOWN").to_uppercase().replace([' ', '-'], "_")
}

/// Manhattan's envelope around the `data` of a successful response.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManhattanOk<T> {
    /// Always true.
    pub success: bool,
    /// Always null.
    pub header: Option<Value>,
    pub data: T,
    /// Always null.
    pub message_key: Option<String>,
    pub message: String,
    /// Always empty.
    pub errors: Vec<ErrorDetail>,
    /// Always empty.
    pub exceptions: Vec<Value>,
    pub messages: Messages,
    /// Always null.
    pub root_cause: Option<Value>,
    /// The path of the request.
    pub request_uri: String,
    /// The HTTP status as a name, e.g. `OK`.
    pub status_code: String,
}

/// Manhattan's envelope of an error: no data, the error in `errors` and `messages`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManhattanError {
    /// Always false.
    pub success: bool,
    /// Always null.
    pub header: Option<Value>,
    /// Always null.
    pub data: Option<Value>,
    /// The documented error code (e.g. `ord::10006`), when there is one.
    pub message_key: Option<&'static str>,
    pub message: String,
    /// Exactly one entry.
    pub errors: Vec<ErrorDetail>,
    /// Always empty.
    pub exceptions: Vec<Value>,
    pub messages: Messages,
    /// Always null.
    pub root_cause: Option<Value>,
    /// The path of the request.
    pub request_uri: String,
    /// The HTTP status as a name, e.g. `BAD_REQUEST`.
    pub status_code: String,
}

/// An error: the plain body of the allocation routes, and each entry of Manhattan's `errors`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// The documented error code (e.g. `ord::10006`), when there is one.
    pub code: Option<&'static str>,
    /// The request field at fault, as the client sent it (e.g. `OrderLine[1].Quantity`).
    pub field: Option<String>,
    pub message: String,
}

/// Manhattan's `messages`: `{"Message": [...], "Size": n}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct Messages {
    pub message: Vec<MessageDetail>,
    pub size: usize,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MessageDetail {
    /// Always `Error`.
    #[serde(rename = "Type")]
    pub message_type: &'static str,
    pub code: Option<&'static str>,
    pub description: String,
}

impl ErrorDetail {
    fn of(err: &OmsError) -> Self {
        ErrorDetail { code: err.code(), field: err.field().map(str::to_owned), message: err.public_message() }
    }
}

pub fn manhattan_ok<T: Serialize>(status: StatusCode, data: T, message: &str, uri: &str) -> Response {
    let body = ManhattanOk {
        success: true,
        header: None,
        data,
        message_key: None,
        message: message.to_owned(),
        errors: Vec::new(),
        exceptions: Vec::new(),
        messages: Messages { message: Vec::new(), size: 0 },
        root_cause: None,
        request_uri: uri.to_owned(),
        status_code: status_name(status),
    };
    (status, Json(body)).into_response()
}

/// A use case's result in Manhattan's envelope: 200 with `data` and the message `message` makes
/// of it, or the error.
pub fn manhattan_reply<T: Serialize>(result: OmsResult<T>, message: impl FnOnce(&T) -> String, uri: &str) -> Response {
    match result {
        Ok(data) => {
            let message = message(&data);
            manhattan_ok(StatusCode::OK, data, &message, uri)
        }
        Err(err) => manhattan_error(&err, uri),
    }
}

pub fn manhattan_error(err: &OmsError, uri: &str) -> Response {
    let status = err.status_code();
    log_server_error(err, status);
    let detail = ErrorDetail::of(err);
    let body = ManhattanError {
        success: false,
        header: None,
        data: None,
        message_key: err.code(),
        message: detail.message.clone(),
        messages: Messages {
            message: vec![MessageDetail {
                message_type: "Error",
                code: err.code(),
                description: detail.message.clone(),
            }],
            size: 1,
        },
        errors: vec![detail],
        exceptions: Vec::new(),
        root_cause: None,
        request_uri: uri.to_owned(),
        status_code: status_name(status),
    };
    (status, Json(body)).into_response()
}

/// Plain JSON error for the non-Manhattan families: `{"code", "field", "message"}`.
pub fn plain_error(err: &OmsError) -> Response {
    let status = err.status_code();
    log_server_error(err, status);
    (status, Json(ErrorDetail::of(err))).into_response()
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
    if is_manhattan_path(path) { manhattan_error(err, path) } else { plain_error(err) }
}

/// Whether a path belongs to a family that answers in Manhattan's envelope.
pub fn is_manhattan_path(path: &str) -> bool {
    path.starts_with("/order/") || path.starts_with("/inventory/") || path.starts_with("/scheduler/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    async fn body_of(response: Response) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn when_an_error_is_rendered_in_the_manhattan_envelope_should_keep_every_key_in_order() {
        let err = OmsError::order_not_found("O-1");
        let body = body_of(manhattan_error(&err, "/order/api/order/order/orderId/O-1")).await;
        let message = "The request cannot be completed because the order ID O-1 does not exist";
        let expected = format!(
            r#"{{"success":false,"header":null,"data":null,"messageKey":"ord::10006","message":"{message}","errors":[{{"code":"ord::10006","field":null,"message":"{message}"}}],"exceptions":[],"messages":{{"Message":[{{"Type":"Error","Code":"ord::10006","Description":"{message}"}}],"Size":1}},"rootCause":null,"requestUri":"/order/api/order/order/orderId/O-1","statusCode":"NOT_FOUND"}}"#
        );
        assert_eq!(body, expected);
    }

    #[tokio::test]
    async fn when_data_is_wrapped_in_the_manhattan_envelope_should_keep_every_key_in_order() {
        let body = body_of(manhattan_ok(StatusCode::OK, serde_json::json!({"A": 1}), "done", "/x")).await;
        assert_eq!(
            body,
            r#"{"success":true,"header":null,"data":{"A":1},"messageKey":null,"message":"done","errors":[],"exceptions":[],"messages":{"Message":[],"Size":0},"rootCause":null,"requestUri":"/x","statusCode":"OK"}"#
        );
    }

    #[tokio::test]
    async fn when_a_plain_error_names_a_field_should_be_code_field_message() {
        let body = body_of(plain_error(&OmsError::validation("limit", "must be between 1 and 100"))).await;
        assert_eq!(body, r#"{"code":null,"field":"limit","message":"limit: must be between 1 and 100"}"#);
    }
}
