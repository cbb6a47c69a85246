//! The ports a service needs, built once per process (cold start) and shared.

use std::sync::Arc;

use aws_config::BehaviorVersion;
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Connector, ConnectorBuilder};
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;

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
    /// Tenants this process has listed among those with scheduled work.
    pub registered: crate::service::milestones::Registered,
}

/// The embedded database file inside a data folder.
pub const DB_FILE: &str = "oms.db";

impl Deps {
    pub async fn from_config(config: &Config) -> anyhow::Result<Self> {
        anyhow::ensure!(
            crate::keys::use_shards(config.key_shards),
            "the key shard counts were already set to {:?}",
            crate::keys::shards()
        );
        match &config.backend {
            Backend::Embedded { data_dir } => Self::embedded(SqliteDb::open(&data_dir.join(DB_FILE))?),
            Backend::Aws { table } => {
                // `load_from_env`, with one HTTPS client for every SDK client (see `https_client`).
                let sdk = aws_config::defaults(BehaviorVersion::latest()).http_client(https_client()).load().await;
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
        Self {
            store,
            queue,
            clock: Arc::new(SystemClock),
            ids: Arc::new(UlidSource),
            embedded_queue,
            registered: Default::default(),
        }
    }
}

/// The SDK's default HTTPS client (hyper 1, rustls on aws-lc, proxy settings from the environment),
/// except that it builds its TLS connector, which reads and parses the system's root certificates,
/// on the first request. The SDK's own default builds one when each SDK client is constructed (and
/// throws it away), then again on the first request: most of the Lambda init time of a function
/// on DynamoDB (`cargo bench -p lambda-init-bench`).
pub fn https_client() -> SharedHttpClient {
    https_client_with(|settings, components| {
        let mut builder = ConnectorBuilder::default().tls_provider(tls::Provider::Rustls(CryptoMode::AwsLc));
        builder.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            builder.set_sleep_impl(components.sleep_impl());
        }
        builder.set_proxy_config(Some(ProxyConfig::from_env()));
        builder.build()
    })
}

fn https_client_with<F>(connector: F) -> SharedHttpClient
where
    F: Fn(Option<&HttpConnectorSettings>, Option<&RuntimeComponents>) -> Connector + Send + Sync + 'static,
{
    SharedHttpClient::new(ConnectOnFirstRequest(
        aws_smithy_http_client::Builder::new().build_with_connector_fn(connector),
    ))
}

/// An HTTP client that skips its inner client's construction-time check (which builds a connector).
#[derive(Debug)]
struct ConnectOnFirstRequest(SharedHttpClient);

impl HttpClient for ConnectOnFirstRequest {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn dynamodb_client(http: SharedHttpClient) -> aws_sdk_dynamodb::Client {
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version_latest()
            .region(aws_sdk_dynamodb::config::Region::new("us-east-1"))
            .http_client(http)
            .build();
        aws_sdk_dynamodb::Client::from_conf(config)
    }

    #[test]
    fn when_sdk_clients_are_built_should_not_build_a_connector_before_the_first_request() {
        let built = Arc::new(AtomicUsize::new(0));
        let counter = built.clone();
        let http = https_client_with(move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            Connector::builder().build_http()
        });
        let _dynamodb = dynamodb_client(http.clone());
        let _again = dynamodb_client(http);
        assert_eq!(built.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn when_the_sdk_default_client_is_built_should_build_a_connector_at_once() {
        // What `ConnectOnFirstRequest` avoids (if the SDK stops doing it, the wrapper can go).
        let built = Arc::new(AtomicUsize::new(0));
        let counter = built.clone();
        let http = aws_smithy_http_client::Builder::new().build_with_connector_fn(move |_, _| {
            counter.fetch_add(1, Ordering::SeqCst);
            Connector::builder().build_http()
        });
        let _dynamodb = dynamodb_client(http);
        assert_eq!(built.load(Ordering::SeqCst), 1);
    }
}
