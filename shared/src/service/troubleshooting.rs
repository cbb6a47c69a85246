//! Functional logs for allocation troubleshooting (seed 000): `POST /order/component/logLevel`
//! stores a logger's level for the tenant, so every function (each Lambda, the local server)
//! reads it; at TRACE or DEBUG each allocation decision is logged as one JSON line with every
//! candidate location and why it was or was not chosen.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::deps::Deps;
use crate::domain::caller::Caller;
use crate::domain::ids::{OrderId, TenantId};
use crate::domain::order::one_of;
use crate::domain::sourcing::Explanation;
use crate::error::{OmsError, OmsResult};
use crate::keys;
use crate::ports::Condition;
use crate::service::commit;
use crate::store::entity;

/// The allocation logger, as the seed names it.
pub const ALLOCATION_LOGGER: &str = "com.manh.cp.app.logging.logger.allocation.OrderAllocationLogger";
/// The loggers whose level can be set.
const LOGGERS: [&str; 1] = [ALLOCATION_LOGGER];
/// The tracing target of decision lines, so `RUST_LOG` can route them too.
pub const DECISION_TARGET: &str = "OrderAllocationLogger";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    const ALL: [LogLevel; 5] = [LogLevel::Trace, LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error];

    fn id(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
        }
    }

    /// Decision lines are written at TRACE and DEBUG.
    fn logs_decisions(self) -> bool {
        matches!(self, LogLevel::Trace | LogLevel::Debug)
    }
}

/// The body of `POST /order/component/logLevel`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogLevelRequest {
    /// `com.manh.cp.app.logging.logger.allocation.OrderAllocationLogger`.
    pub logger_name: Option<String>,
    /// `TRACE` or `DEBUG` log every allocation decision; `INFO`, `WARN` or `ERROR` stop it.
    pub log_level: Option<String>,
}

/// A logger's stored level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LoggerLevel {
    pub logger_name: String,
    pub log_level: LogLevel,
    pub updated_by: String,
    pub updated_timestamp: chrono::DateTime<chrono::Utc>,
}

/// `POST /order/component/logLevel`.
pub async fn set_level(deps: &Deps, caller: &Caller, req: &LogLevelRequest) -> OmsResult<LoggerLevel> {
    let name = req.logger_name.as_deref().map(str::trim).unwrap_or_default();
    let logger = LOGGERS.iter().find(|l| **l == name).ok_or_else(|| {
        OmsError::validation("loggerName", format!("unknown logger {name:?}; expected one of {}", LOGGERS.join(", ")))
    })?;
    let level = match req.log_level.as_deref() {
        Some(text) => one_of("logLevel", text.trim(), &LogLevel::ALL, |l| l.id())?,
        None => return Err(OmsError::validation("logLevel", "is required: TRACE, DEBUG, INFO, WARN or ERROR")),
    };
    let stored = LoggerLevel {
        logger_name: (*logger).to_owned(),
        log_level: level,
        updated_by: caller.user.as_str().to_owned(),
        updated_timestamp: deps.clock.now(),
    };
    let item = entity::to_item(&keys::log_level(&caller.tenant, logger), &stored, 1, &[])?;
    commit::put(deps, item, None::<Condition>).await?;
    tracing::info!(logger, level = level.id(), "log level changed");
    Ok(stored)
}

/// Whether the tenant's allocation decisions are to be logged (one read of the stored level).
pub async fn allocation_trace_enabled(deps: &Deps, tenant: &TenantId) -> OmsResult<bool> {
    let Some(item) = deps.store.get(&keys::log_level(tenant, ALLOCATION_LOGGER)).await? else { return Ok(false) };
    let level: LoggerLevel = entity::from_item(item, &[entity::VERSION])?;
    Ok(level.log_level.logs_decisions())
}

/// Logs one allocation decision: the order, what decided it (`context`: a request, a job) and
/// the explanation with every candidate and reason, as one JSON value.
pub fn log_decision(tenant: &TenantId, context: &str, order: &OrderId, explanation: &Explanation) {
    let decision = serde_json::to_string(explanation).unwrap_or_else(|_| Value::Null.to_string());
    tracing::info!(
        target: DECISION_TARGET,
        tenant = tenant.as_str(),
        context,
        order_id = order.as_str(),
        decision = %decision,
        "allocation decision"
    );
}
