//! Typed configuration from the environment. Picks DynamoDB/SQS or the embedded store.

use std::path::PathBuf;

use crate::keys::KeyShards;

/// Where state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file and queue in `data_dir` (the default: nothing else to install).
    Embedded { data_dir: PathBuf },
    /// DynamoDB table and SQS queues (queue URLs come from `<QUEUE>_QUEUE_URL` variables).
    Aws { table: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Json,
    Text,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub backend: Backend,
    pub log_format: LogFormat,
    /// HS256 secret for locally signed tokens. Unset in AWS, where the API Gateway JWT
    /// authorizer has verified the token and the functions read its claims.
    pub jwt_secret: Option<String>,
    /// How many partitions each sharded key spreads over (`OMS_SHARDS_*`, see `keys::KeyShards`).
    pub key_shards: KeyShards,
}

pub const DEFAULT_DATA_DIR: &str = ".oms";

impl Config {
    pub fn from_env() -> anyhow::Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let non_empty = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let backend = match non_empty("TABLE_NAME") {
            Some(table) => Backend::Aws { table },
            None => Backend::Embedded {
                data_dir: PathBuf::from(non_empty("OMS_DATA_DIR").unwrap_or_else(|| DEFAULT_DATA_DIR.into())),
            },
        };
        let log_format = match non_empty("OMS_LOG_FORMAT").as_deref() {
            Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => anyhow::bail!("OMS_LOG_FORMAT must be json or text, not {other:?}"),
            // In Lambda, CloudWatch wants one JSON object a line; on a laptop, people read text.
            None if non_empty("AWS_LAMBDA_FUNCTION_NAME").is_some() => LogFormat::Json,
            None => LogFormat::Text,
        };
        let jwt_secret = non_empty("OMS_JWT_SECRET");
        if let Some(secret) = &jwt_secret {
            anyhow::ensure!(secret.len() >= 16, "OMS_JWT_SECRET must be at least 16 characters");
        }
        let key_shards = KeyShards::from_lookup(&lookup)?;
        Ok(Self { backend, log_format, jwt_secret, key_shards })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> anyhow::Result<Config> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn when_no_table_is_configured_should_use_the_embedded_store_in_dot_oms() {
        let cfg = config(&[]).unwrap();
        assert_eq!(cfg.backend, Backend::Embedded { data_dir: PathBuf::from(".oms") });
        assert_eq!(cfg.log_format, LogFormat::Text);
    }

    #[test]
    fn when_table_name_is_set_should_use_dynamodb() {
        let cfg = config(&[("TABLE_NAME", "oms"), ("AWS_LAMBDA_FUNCTION_NAME", "f")]).unwrap();
        assert_eq!(cfg.backend, Backend::Aws { table: "oms".into() });
        assert_eq!(cfg.log_format, LogFormat::Json);
    }

    #[test]
    fn when_log_format_is_unknown_should_fail_naming_the_variable() {
        let err = config(&[("OMS_LOG_FORMAT", "xml")]).unwrap_err();
        assert!(err.to_string().contains("OMS_LOG_FORMAT"));
    }

    #[test]
    fn when_jwt_secret_is_short_should_fail() {
        assert!(config(&[("OMS_JWT_SECRET", "short")]).is_err());
    }
}
