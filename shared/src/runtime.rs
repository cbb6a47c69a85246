//! What every function's `main` calls: config, logs, clients built once, then the runtime.

use std::sync::Arc;

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{Error, LambdaEvent, service_fn};

use crate::catalog::{self, Trigger};
use crate::config::Config;
use crate::deps::Deps;
use crate::http::auth::{AuthMode, LocalJwt};
use crate::http::{self, AppState};
use crate::jobs::dispatch;
use crate::telemetry;

/// The local secret when one is configured (local runs); else trust the JWT authorizer.
pub fn auth_mode(config: &Config) -> AuthMode {
    match &config.jwt_secret {
        Some(secret) => AuthMode::Local(LocalJwt::new(secret)),
        None => AuthMode::Authorizer,
    }
}

/// Runs the catalog function `name` as a Lambda.
pub async fn run_function(name: &'static str) -> Result<(), Error> {
    let spec = catalog::function(name).ok_or_else(|| format!("{name} is not in the function catalog"))?;
    let config = Config::from_env()?;
    telemetry::init(config.log_format);
    let deps = Deps::from_config(&config).await?;
    match spec.trigger {
        Trigger::Http(_) => {
            let state = Arc::new(AppState { deps, auth: auth_mode(&config) });
            lambda_http::run(http::router(state, Some(&[name]))).await
        }
        Trigger::Queue(queue) => {
            let deps = &deps;
            lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| async move {
                Ok::<_, Error>(dispatch::consume(deps, queue, event.payload).await)
            }))
            .await
        }
        Trigger::Schedule(_) => {
            let deps = &deps;
            lambda_runtime::run(service_fn(move |_event: LambdaEvent<serde_json::Value>| async move {
                let report = dispatch::run_schedule(deps, name).await?;
                tracing::info!(?report, "scheduled run done");
                Ok::<_, Error>(report)
            }))
            .await
        }
    }
}
