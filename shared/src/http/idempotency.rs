//! `Idempotency-Key` on mutating routes: a request with the same key has the same effect once.
//!
//! A claim record is written before the work runs (`pending`, with a random `attempt`); the
//! work runs under that claim (see `service::commit`), so the transaction that commits its
//! effect also marks the claim `committed`. Then the response is recorded (`done`) and replays
//! return it. Whatever fails in between, a later request with the key knows what happened:
//! - `done`: replay the recorded response;
//! - `committed` without a response (it could not be recorded): the effect happened, never run
//!   again; answer 409 saying so;
//! - `pending` and still locked: another request is running it, 409 retry;
//! - `pending` past its lock: the attempt died before committing; take the claim over (the old
//!   attempt can no longer commit: its marker names the old attempt).
//!
//! Answers that invite a retry (409, 5xx) are not recorded when nothing committed: the claim is
//! released and the retry runs. Large responses are recorded in parts.

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
use crate::service::commit::{self, ATTEMPT, COMMITTED, CommitMarker, STATE};
use crate::store::entity;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// Largest request body handled.
pub const MAX_BODY: usize = 1 << 20;
/// Largest response recorded: Lambda's own response limit.
const MAX_RESPONSE: usize = 6 << 20;
/// Recorded response bodies are split into items of at most this many bytes.
pub const PART_BYTES: usize = 100_000;
/// How long a claim keeps other requests with the same key waiting before one may take over.
const LOCK_MS: i64 = 30_000;
/// Stored responses are kept a day (DynamoDB TTL removes them in AWS).
const KEEP_SECONDS: i64 = 24 * 3600;
/// Tries to record a response when the store fails.
const RECORD_TRIES: usize = 4;

const PENDING: &str = "pending";
const DONE: &str = "done";

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
    Run(String),
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

    let attempt = match claim(deps, &record, &print).await? {
        Claim::Replay(response) => return Ok(response),
        Claim::Run(attempt) => attempt,
    };
    let marker = CommitMarker { record: record.clone(), attempt: attempt.clone() };
    let response = commit::scope(marker, next.run(Request::from_parts(parts, Body::from(bytes)))).await;
    let (mut head, body) = response.into_parts();
    let bytes = match to_bytes(body, MAX_RESPONSE).await {
        Ok(bytes) => bytes,
        Err(e) => {
            // The effect may have committed: the claim stays, and says so if it did.
            return Err(OmsError::Internal(anyhow::anyhow!("reading the response: {e}")));
        }
    };
    let retryable = head.status.is_server_error() || head.status == StatusCode::CONFLICT;
    if !(retryable && release(deps, &record, &attempt).await) {
        let content_type = head
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/json")
            .to_owned();
        record_response(deps, &record, &attempt, head.status, &content_type, &bytes).await;
    }
    head.headers.remove(axum::http::header::CONTENT_LENGTH);
    Ok(Response::from_parts(head, Body::from(bytes)))
}

/// Deletes the claim when nothing committed under it, so that a retry runs. False when the
/// effect committed (the answer is then final) or the claim is no longer this attempt's.
async fn release(deps: &Deps, record: &Key, attempt: &str) -> bool {
    let mine = Condition::All(vec![
        Condition::Equals(ATTEMPT.into(), Value::from(attempt)),
        Condition::Equals(STATE.into(), Value::from(PENDING)),
    ]);
    match deps.store.delete(record, Some(mine)).await {
        Ok(()) => true,
        Err(StoreError::ConditionFailed) => false,
        Err(e) => {
            // The claim stays pending: it expires and a retry takes it over, which is safe
            // because nothing committed under it.
            tracing::warn!(error = %e, "could not release an idempotency claim");
            true
        }
    }
}

fn text_parts(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut parts = Vec::new();
    let mut rest: &str = &text;
    while rest.len() > PART_BYTES {
        let mut cut = PART_BYTES;
        while !rest.is_char_boundary(cut) {
            cut -= 1;
        }
        parts.push(rest[..cut].to_owned());
        rest = &rest[cut..];
    }
    parts.push(rest.to_owned());
    parts
}

/// Records the response under the claim (in parts when large), retrying a failing store. If
/// it cannot, the claim keeps what it knows: committed or not.
async fn record_response(
    deps: &Deps,
    record: &Key,
    attempt: &str,
    status: StatusCode,
    content_type: &str,
    bytes: &[u8],
) {
    let parts = text_parts(bytes);
    let mine = Condition::Equals(ATTEMPT.into(), Value::from(attempt));
    for tries in 0..RECORD_TRIES {
        let result = async {
            if parts.len() > 1 {
                for (n, part) in parts.iter().enumerate() {
                    let mut item = entity::item_at(&keys::idempotency_part(record, n), &[]);
                    item.insert("body".into(), part.clone().into());
                    item.insert("ttl".into(), json!(deps.clock.now().timestamp() + KEEP_SECONDS));
                    deps.store.put(item, None).await?;
                }
            }
            let mut done = Update::new()
                .set(STATE, DONE)
                .set("status", status.as_u16())
                .set("contentType", content_type)
                .set("parts", parts.len());
            if parts.len() == 1 {
                done = done.set("body", parts[0].clone());
            }
            deps.store.update(record, done, Some(mine.clone())).await.map(|_| ())
        }
        .await;
        match result {
            Ok(()) => return,
            Err(StoreError::ConditionFailed) => {
                tracing::warn!("the idempotency claim was taken over; this response is not recorded");
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, tries, "could not record the response of an idempotent request");
                crate::service::backoff(tries).await;
            }
        }
    }
}

async fn claim(deps: &Deps, record: &Key, print: &str) -> Result<Claim, OmsError> {
    for _ in 0..3 {
        let now_ms = deps.clock.now().timestamp_millis();
        let attempt = deps.ids.new_id();
        let mut item = entity::item_at(record, &[]);
        item.insert(STATE.into(), PENDING.into());
        item.insert("fingerprint".into(), print.into());
        item.insert(ATTEMPT.into(), attempt.clone().into());
        item.insert("lockedUntil".into(), json!(now_ms + LOCK_MS));
        item.insert("ttl".into(), json!(now_ms / 1000 + KEEP_SECONDS));
        match deps.store.put(item, Some(Condition::NotExists)).await {
            Ok(()) => return Ok(Claim::Run(attempt)),
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
        let state = existing.get(STATE).and_then(Value::as_str).unwrap_or_default();
        if state == DONE {
            return Ok(Claim::Replay(stored_response(deps, record, &existing).await?));
        }
        let locked_until = existing.get("lockedUntil").and_then(Value::as_i64).unwrap_or(0);
        if locked_until > now_ms {
            return Err(OmsError::Conflict(
                "a request with this Idempotency-Key is still being processed; retry shortly".into(),
            ));
        }
        if state == COMMITTED {
            return Err(OmsError::Conflict(
                "a request with this Idempotency-Key was applied, but its response could not be recorded; read the resource to see the result".into(),
            ));
        }
        // The first attempt died before committing: take its claim over, unless someone else just did.
        let previous = existing.get(ATTEMPT).cloned().unwrap_or(Value::Null);
        let take_over = Update::new().set(ATTEMPT, attempt.clone()).set("lockedUntil", json!(now_ms + LOCK_MS));
        let guard = Condition::All(vec![
            Condition::Equals(ATTEMPT.into(), previous),
            Condition::Equals(STATE.into(), PENDING.into()),
        ]);
        match deps.store.update(record, take_over, Some(guard)).await {
            Ok(_) => return Ok(Claim::Run(attempt)),
            Err(StoreError::ConditionFailed) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(OmsError::Conflict("a request with this Idempotency-Key is still being processed; retry shortly".into()))
}

async fn stored_response(deps: &Deps, record: &Key, stored: &Item) -> Result<Response, OmsError> {
    let status = stored
        .get("status")
        .and_then(Value::as_u64)
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    let parts = stored.get("parts").and_then(Value::as_u64).unwrap_or(1) as usize;
    let body = if parts > 1 {
        let keys: Vec<Key> = (0..parts).map(|n| keys::idempotency_part(record, n)).collect();
        let mut found: Vec<(String, String)> = deps
            .store
            .batch_get(&keys)
            .await?
            .into_iter()
            .filter_map(|item| {
                let sk = item.get(crate::ports::SK)?.as_str()?.to_owned();
                Some((sk, item.get("body")?.as_str()?.to_owned()))
            })
            .collect();
        if found.len() != parts {
            return Err(OmsError::Internal(anyhow::anyhow!("a recorded response lost some of its {parts} parts")));
        }
        found.sort();
        found.into_iter().map(|(_, body)| body).collect()
    } else {
        stored.get("body").and_then(Value::as_str).unwrap_or_default().to_owned()
    };
    let content_type = stored.get("contentType").and_then(Value::as_str).unwrap_or("application/json").to_owned();
    Response::builder()
        .status(status)
        .header(axum::http::header::CONTENT_TYPE, content_type)
        .header(REPLAYED_HEADER, "true")
        .body(Body::from(body))
        .map_err(|e| OmsError::Internal(anyhow::anyhow!("rebuilding a stored response: {e}")))
}
