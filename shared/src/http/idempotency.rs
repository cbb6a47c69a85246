//! `Idempotency-Key` on mutating routes: the first response is stored under the tenant and
//! the key; a replay returns it and writes nothing. A claim written before the work runs
//! keeps two concurrent requests with one key from both running.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::deps::Deps;
use crate::error::OmsError;
use crate::http::auth::Caller;
use crate::keys;
use crate::ports::{Condition, Item, Key, StoreError, Update};

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Largest request or response body handled.
pub const MAX_BODY: usize = 1 << 20;
/// How long a claim keeps other requests with the same key waiting before one may take over.
const LOCK_MS: i64 = 30_000;
/// Stored responses are kept a day (DynamoDB TTL removes them in AWS).
const KEEP_SECONDS: i64 = 24 * 3600;

fn parse_key(value: &HeaderValue) -> Result<String, OmsError> {
    let key = value.to_str().unwrap_or_default();
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(OmsError::validation("Idempotency-Key", "must be 1 to 255 visible ASCII characters"));
    }
    Ok(key.to_string())
}

fn fingerprint(method: &str, uri: &str, body: &[u8]) -> String {
    let mut hash = Sha256::new();
    hash.update(method.as_bytes());
    hash.update([0]);
    hash.update(uri.as_bytes());
    hash.update([0]);
    hash.update(body);
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

enum Claim {
    Run,
    Replay(Response),
}

pub async fn replay_or_run(
    deps: &Deps,
    caller: &Caller,
    route: &str,
    header: &HeaderValue,
    req: Request,
    next: Next,
) -> Result<Response, OmsError> {
    let key = parse_key(header)?;
    let (parts, body) = req.into_parts();
    let bytes = to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| OmsError::BadRequest(format!("the request body is larger than {MAX_BODY} bytes")))?;
    let print = fingerprint(parts.method.as_str(), &parts.uri.to_string(), &bytes);
    let record = keys::idempotency(&caller.tenant, route, &key);

    if let Claim::Replay(response) = claim(deps, &record, &print).await? {
        return Ok(response);
    }
    let response = next.run(Request::from_parts(parts, Body::from(bytes))).await;
    let (mut head, body) = response.into_parts();
    let bytes =
        to_bytes(body, MAX_BODY).await.map_err(|e| OmsError::Internal(anyhow::anyhow!("reading the response: {e}")))?;
    if head.status.is_server_error() {
        // Nothing was decided: let a retry with the same key run again.
        if let Err(e) = deps.store.delete(&record, Some(Condition::Equals("fingerprint".into(), print.into()))).await {
            tracing::warn!(error = %e, "could not release an idempotency claim");
        }
    } else {
        let content_type = head
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json");
        let done = Update::new()
            .set("state", "done")
            .set("status", head.status.as_u16())
            .set("contentType", content_type)
            .set("body", String::from_utf8_lossy(&bytes).into_owned());
        if let Err(e) =
            deps.store.update(&record, done, Some(Condition::Equals("fingerprint".into(), print.into()))).await
        {
            tracing::warn!(error = %e, "could not store the response of an idempotent request");
        }
    }
    head.headers.remove(axum::http::header::CONTENT_LENGTH);
    Ok(Response::from_parts(head, Body::from(bytes)))
}

async fn claim(deps: &Deps, record: &Key, print: &str) -> Result<Claim, OmsError> {
    for _ in 0..3 {
        let now_ms = deps.clock.now().timestamp_millis();
        let mut item = Item::new();
        item.insert("PK".into(), record.pk.clone().into());
        item.insert("SK".into(), record.sk.clone().into());
        item.insert("state".into(), "pending".into());
        item.insert("fingerprint".into(), print.into());
        item.insert("lockedUntil".into(), json!(now_ms + LOCK_MS));
        item.insert("ttl".into(), json!(now_ms / 1000 + KEEP_SECONDS));
        match deps.store.put(item, Some(Condition::NotExists)).await {
            Ok(()) => return Ok(Claim::Run),
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(existing) = deps.store.get(record).await? else { continue };
        if existing.get("fingerprint").and_then(Value::as_str) != Some(print) {
            return Err(OmsError::validation(
                "Idempotency-Key",
                "was already used for a different request; use a new key",
            ));
        }
        if existing.get("state").and_then(Value::as_str) == Some("done") {
            return Ok(Claim::Replay(stored_response(&existing)?));
        }
        let locked_until = existing.get("lockedUntil").and_then(Value::as_i64).unwrap_or(0);
        if locked_until > now_ms {
            return Err(OmsError::Conflict(
                "a request with this Idempotency-Key is still being processed; retry shortly".into(),
            ));
        }
        // The first attempt died mid-way: take its claim over, unless someone else just did.
        let take_over = Update::new().set("lockedUntil", json!(now_ms + LOCK_MS));
        match deps
            .store
            .update(record, take_over, Some(Condition::Equals("lockedUntil".into(), json!(locked_until))))
            .await
        {
            Ok(_) => return Ok(Claim::Run),
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(OmsError::Conflict("a request with this Idempotency-Key is still being processed; retry shortly".into()))
}

fn stored_response(record: &Item) -> Result<Response, OmsError> {
    let status = record
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    let body = record.get("body").and_then(Value::as_str).unwrap_or_default().to_owned();
    let content_type = record.get("contentType").and_then(Value::as_str).unwrap_or("application/json").to_owned();
    Response::builder()
        .status(status)
        .header(axum::http::header::CONTENT_TYPE, content_type)
        .header(REPLAYED_HEADER, "true")
        .body(Body::from(body))
        .map_err(|e| OmsError::Internal(anyhow::anyhow!("rebuilding a stored response: {e}")))
}
