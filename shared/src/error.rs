//! The one error type of the core. Each API family renders it in its own envelope.

use axum::http::StatusCode;

use crate::ports::{QueueError, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum OmsError {
    /// A request field is missing or invalid; `field` names it as the client sent it.
    #[error("{field}: {message}")]
    Validation { field: String, message: String },
    /// The request as a whole cannot be understood (not JSON, wrong content).
    #[error("{0}")]
    BadRequest(String),
    #[error("{message}")]
    NotFound { code: Option<&'static str>, message: String },
    /// A stale version, a duplicate, or a request that races another.
    #[error("{0}")]
    Conflict(String),
    /// A modification the order's status does not permit (ord::10007 / ord::10008).
    #[error("{message}")]
    NotPermitted { code: &'static str, message: String },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    /// A dependency (the store, the queue) is unreachable; safe to retry.
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub type OmsResult<T> = Result<T, OmsError>;

pub const ORDER_NOT_FOUND: &str = "ord::10006";
pub const DEPENDENCY_DOWN: &str = "ord::10002";
pub const ORDER_MOD_NOT_PERMITTED: &str = "ord::10007";
pub const LINE_MOD_NOT_PERMITTED: &str = "ord::10008";

impl OmsError {
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        OmsError::Validation { field: field.into(), message: message.into() }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        OmsError::NotFound { code: None, message: message.into() }
    }
    pub fn order_not_found(order_id: &str) -> Self {
        OmsError::NotFound {
            code: Some(ORDER_NOT_FOUND),
            message: format!("The request cannot be completed because the order ID {order_id} does not exist"),
        }
    }

    /// The same error with its field named from `prefix` (e.g. `detail.order`), for a request
    /// nested inside another one.
    pub fn nested_in(self, prefix: &str) -> Self {
        match self {
            OmsError::Validation { field, message } => {
                OmsError::Validation { field: format!("{prefix}.{field}"), message }
            }
            other => other,
        }
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            OmsError::Validation { .. } | OmsError::BadRequest(_) => StatusCode::BAD_REQUEST,
            OmsError::NotFound { .. } => StatusCode::NOT_FOUND,
            OmsError::Conflict(_) => StatusCode::CONFLICT,
            OmsError::NotPermitted { .. } => StatusCode::BAD_REQUEST,
            OmsError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            OmsError::Forbidden(_) => StatusCode::FORBIDDEN,
            OmsError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            OmsError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The documented error code, where the sources define one.
    pub fn code(&self) -> Option<&'static str> {
        match self {
            OmsError::NotFound { code, .. } => *code,
            OmsError::NotPermitted { code, .. } => Some(code),
            OmsError::Unavailable(_) => Some(DEPENDENCY_DOWN),
            _ => None,
        }
    }

    /// What a client may see: 5xx details stay in the logs.
    pub fn public_message(&self) -> String {
        match self {
            OmsError::Internal(_) => "internal error; see the logs for the request id".into(),
            OmsError::Unavailable(_) => {
                "Order cannot be processed because connectivity cannot be established with a dependent component".into()
            }
            other => other.to_string(),
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            OmsError::Validation { field, .. } => Some(field),
            _ => None,
        }
    }
}

impl From<StoreError> for OmsError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unavailable(m) => OmsError::Unavailable(format!("store: {m}")),
            other => OmsError::Internal(anyhow::Error::new(other)),
        }
    }
}

impl From<QueueError> for OmsError {
    fn from(err: QueueError) -> Self {
        match err {
            QueueError::Unavailable(m) => OmsError::Unavailable(format!("queue: {m}")),
            other => OmsError::Internal(anyhow::Error::new(other)),
        }
    }
}
