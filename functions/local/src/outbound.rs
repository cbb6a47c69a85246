//! `GET /local/queues/{name}`: what the system published on an outbound queue (release,
//! order-events, notifications), which a warehouse, a marketing or a messaging system would
//! consume in AWS. The caller's token decides the tenant: only its messages are shown, the
//! newest `limit` (default 100), oldest first. The messages stay in the queue.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use oms_core::http::SharedState;
use oms_core::http::auth::authenticate;
use oms_core::ports::QueueName;
use serde_json::{Value, json};

/// Most messages one read answers.
const MAX_MESSAGES: usize = 1000;

fn refuse(status: StatusCode, message: String) -> Response {
    (status, Json(json!({"success": false, "message": message}))).into_response()
}

pub async fn read_queue(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let now = chrono::Utc::now().timestamp();
    let caller = match authenticate(&state.auth, &headers, &axum::http::Extensions::new(), now) {
        Ok(caller) => caller,
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, e.public_message()),
    };
    let outbound: Vec<&str> = QueueName::ALL.iter().filter(|q| q.is_outbound()).map(|q| q.as_str()).collect();
    let Some(queue) = QueueName::parse(&name).filter(|q| q.is_outbound()) else {
        return refuse(StatusCode::NOT_FOUND, format!("no outbound queue {name}; these are: {}", outbound.join(", ")));
    };
    let limit = match params.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=MAX_MESSAGES).contains(&n) => n,
        Some(_) => {
            return refuse(StatusCode::BAD_REQUEST, format!("limit must be a whole number from 1 to {MAX_MESSAGES}"));
        }
    };
    let Some(embedded) = state.deps.embedded_queue.as_ref() else {
        return refuse(StatusCode::NOT_FOUND, "queues are SQS queues here: read them with the AWS tools".into());
    };
    let peeked = match embedded.peek(queue, caller.tenant.as_str(), limit).await {
        Ok(messages) => messages,
        Err(e) => {
            tracing::error!(error = %e, "reading the embedded queue failed");
            return refuse(StatusCode::SERVICE_UNAVAILABLE, "the queue cannot be read now".into());
        }
    };
    let messages: Vec<Value> = peeked
        .into_iter()
        .map(|m| {
            let body: Value = serde_json::from_str(&m.body).unwrap_or(Value::Null);
            json!({"MessageId": m.message_id, "SentAt": m.sent_at.to_rfc3339(), "Body": body})
        })
        .collect();
    Json(json!({"Queue": queue.as_str(), "Count": messages.len(), "Messages": messages})).into_response()
}
