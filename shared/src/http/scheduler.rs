//! Mass actions and the job scheduler API (seed 000) and the component log level, in
//! Manhattan's envelope.

use std::collections::HashMap;

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{OriginalUri, Path, Query, State};
use axum::response::Response;
use serde::Serialize;

use crate::error::OmsResult;
use crate::http::SharedState;
use crate::http::auth::Caller;
use crate::http::body::parse_json;
use crate::http::envelope::manhattan_reply;
use crate::service::jobs::{self, SearchRequest, StatusRequest};
use crate::service::mass_allocate::{self, MassActionRequest};
use crate::service::schedules::{self, TriggerRequest};
use crate::service::troubleshooting::{self, LogLevelRequest};

/// The seed's message when a mass action is accepted.
pub const MASS_ACTION_RECEIVED: &str = "Order Mass Action Request Received";

fn reply<T: Serialize>(result: OmsResult<T>, message: &str, path: &str) -> Response {
    manhattan_reply(result, |_| message.to_owned(), path)
}

/// `POST /order/api/order/order/massAction`.
pub async fn mass_action(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let result = async {
        let req: MassActionRequest = parse_json(&body)?;
        mass_allocate::start(&state.deps, &caller, &req).await
    }
    .await;
    reply(result, MASS_ACTION_RECEIVED, uri.path())
}

/// `POST /scheduler/api/scheduler/jobExecution/search`.
pub async fn search(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let result = async {
        let req: SearchRequest = parse_json(&body)?;
        jobs::search(&state.deps, &caller.tenant, &req).await
    }
    .await;
    let message = match &result {
        Ok(found) => format!("{} job executions found", found.len()),
        Err(_) => String::new(),
    };
    reply(result, &message, uri.path())
}

/// `PUT` (or `POST`) `/scheduler/api/scheduler/jobExecution/uniqueJobId/{uniqueJobId}`.
pub async fn set_status(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    Path(unique_job_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = async {
        let req: StatusRequest = parse_json(&body)?;
        jobs::set_status(&state.deps, &caller, &unique_job_id, &req).await
    }
    .await;
    reply(result, "Job execution aborted", uri.path())
}

/// `POST /scheduler/api/scheduler/jobExecution/trigger`.
pub async fn trigger(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let result = async {
        let req: TriggerRequest = parse_json(&body)?;
        schedules::trigger(&state.deps, &caller, &req).await
    }
    .await;
    manhattan_reply(result, |job| format!("Job {} ran: {}", job.job_schedule_id, job.display_status), uri.path())
}

/// `GET /scheduler/api/scheduler/jobExecution/jobScheduleId/{jobScheduleId}/results`.
pub async fn results(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    Path(job_schedule_id): Path<String>,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    let limit = params.get("limit").map(String::as_str);
    let cursor = params.get("cursor").map(String::as_str);
    let result = jobs::results(&state.deps, &caller.tenant, &job_schedule_id, limit, cursor).await;
    reply(result, "Job execution results", uri.path())
}

/// `POST /order/component/logLevel`.
pub async fn log_level(
    State(state): State<SharedState>,
    Extension(caller): Extension<Caller>,
    OriginalUri(uri): OriginalUri,
    body: Bytes,
) -> Response {
    let result = async {
        let req: LogLevelRequest = parse_json(&body)?;
        troubleshooting::set_level(&state.deps, &caller, &req).await
    }
    .await;
    reply(result, "Log level updated", uri.path())
}
