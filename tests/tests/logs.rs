//! Logs are JSON lines in Lambda, with the request id on every line a request writes.

use std::sync::Arc;

use axum::body::Body;
use oms_core::config::LogFormat;
use oms_core::deps::Deps;
use oms_core::http::auth::AuthMode;
use oms_core::http::{AppState, router};
use oms_core::sqlite::SqliteDb;
use serde_json::Value;
use tower::ServiceExt;

mod common;

#[tokio::test]
async fn when_a_lambda_request_is_handled_should_log_json_lines_carrying_its_request_id() {
    let captured = common::CapturedLogs::default();
    let _guard = tracing::subscriber::set_default(oms_core::telemetry::subscriber(LogFormat::Json, captured.clone()));
    let deps = Deps::embedded(SqliteDb::in_memory().unwrap()).unwrap();
    let state = Arc::new(AppState { deps, auth: AuthMode::Authorizer });
    let mut request = lambda_http::request::from_str(include_str!("../../events/order-get.json")).unwrap();
    let mut context = lambda_runtime::Context::default();
    context.request_id = "lambda-request-7".into();
    request.extensions_mut().insert(context);
    let response = router(state, Some(&["order-get"])).oneshot(request.map(|b| Body::from(b.to_vec()))).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-request-id"], "lambda-request-7");

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<Value> =
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    assert!(lines.len() >= 2, "expected the refusal and the request summary: {text}");
    for line in &lines {
        assert_eq!(line["span"]["request_id"], "lambda-request-7", "{line}");
        assert_eq!(line["span"]["tenant"], "demo", "{line}");
    }
    assert!(lines.iter().any(|l| l["fields"]["status"] == 404), "{text}");
}
