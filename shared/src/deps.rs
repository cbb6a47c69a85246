//! The ports a service needs, built once per process (cold start) and shared.

use std::sync::Arc;

use crate::config::{Backend, Config};
use crate::ports::{Clock, IdSource, ItemStore, MessageQueue, SystemClock, UlidSource};
use crate::queue::{embedded::EmbeddedQueue, sqs::SqsQueue};
use crate::sqlite::SqliteDb;
use crate::store::{dynamodb::DynamoStore, embedded::EmbeddedStore};

#[derive(Clone)]
pub struct Deps {
    pub store: Arc<dyn ItemStore>,
    pub queue: Arc<dyn MessageQueue>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    /// Present on the embedded backend (the local server drains its queues).
    pub embedded_queue: Option<Arc<EmbeddedQueue>>,
}

/// The embedded database file inside a data folder.
pub const DB_FILE: &str = "oms.db";

impl Deps {
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        match &config.backend {
            Backend::Embedded { data_dir } => Self::embedded(SqliteDb::open(&data_dir.join(DB_FILE))?),
            Backend::Aws { table } => {
                let sdk = aws_config::load_from_env().await;
                let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone());
                let queue = SqsQueue::from_env(aws_sdk_sqs::Client::new(&sdk))?;
                Ok(Self::with(Arc::new(store), Arc::new(queue), None))
            }
        }
    }

    /// Store and queue in one SQLite database (a file, or in memory for tests).
    pub fn embedded(db: SqliteDb) -> anyhow::Result<Self> {
        let store = Arc::new(EmbeddedStore::new(db.clone())?);
        let queue = Arc::new(EmbeddedQueue::new(db)?);
        Ok(Self::with(store, queue.clone(), Some(queue)))
    }

    pub fn with(
        store: Arc<dyn ItemStore>,
        queue: Arc<dyn MessageQueue>,
        embedded_queue: Option<Arc<EmbeddedQueue>>,
    ) -> Self {
        Self { store, queue, clock: Arc::new(SystemClock), ids: Arc::new(UlidSource), embedded_queue }
    }
}
