//! The item store on DynamoDB: one table, `PK`/`SK` strings, GSI1 and GSI2 projecting all.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{Credentials, Region};
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, Put, ReturnValue, ScalarAttributeType, TableStatus,
    TransactWriteItem,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::embedded::check_transaction;
use crate::ports::{
    self, Condition, Index, Item, ItemStore, Key, PK, Page, Query, SK, SkRange, StoreError, Update, WriteOp,
};

type AttributeMap = HashMap<String, AttributeValue>;

/// BatchGetItem reads at most this many keys per call.
const BATCH_GET_MAX: usize = 100;
/// Rounds of retrying unprocessed keys before giving up.
const BATCH_GET_RETRIES: u32 = 6;

#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self { client, table: table.into() }
    }
}

/// A client for a local emulator (moto, DynamoDB Local) with dummy credentials.
pub fn client_for_endpoint(endpoint: &str) -> Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version_latest()
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "static"))
        .endpoint_url(endpoint)
        .build();
    Client::from_conf(config)
}

/// The key attributes of the table and its indexes, all strings.
pub fn attribute_definitions() -> anyhow::Result<Vec<AttributeDefinition>> {
    let names = [PK, SK].into_iter().chain(Index::ALL.into_iter().flat_map(|i| [i.pk_attr(), i.sk_attr()]));
    names
        .map(|name| {
            Ok(AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()?)
        })
        .collect()
}

fn key_element(name: &str, key_type: KeyType) -> anyhow::Result<KeySchemaElement> {
    Ok(KeySchemaElement::builder().attribute_name(name).key_type(key_type).build()?)
}

/// The table's global secondary indexes, each with the projection [`Index::projection`] names
/// (the SAM template declares the same; a test compares them).
pub fn global_secondary_indexes() -> anyhow::Result<Vec<GlobalSecondaryIndex>> {
    Index::ALL
        .into_iter()
        .map(|index| {
            Ok(GlobalSecondaryIndex::builder()
                .index_name(index.name())
                .key_schema(key_element(index.pk_attr(), KeyType::Hash)?)
                .key_schema(key_element(index.sk_attr(), KeyType::Range)?)
                .projection(Projection::builder().projection_type(projection_type(index.projection())).build())
                .build()?)
        })
        .collect()
}

/// Creates the table with its indexes (if absent) and waits until it is ACTIVE.
pub async fn create_table(client: &Client, table: &str) -> anyhow::Result<()> {
    let request = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element(PK, KeyType::Hash)?)
        .key_schema(key_element(SK, KeyType::Range)?)
        .set_attribute_definitions(Some(attribute_definitions()?))
        .set_global_secondary_indexes(Some(global_secondary_indexes()?));
    if let Err(err) = request.send().await {
        // An existing table is fine: wait for it like for a new one.
        if !matches!(err.as_service_error(), Some(CreateTableError::ResourceInUseException(_))) {
            anyhow::bail!("creating table {table}: {}", DisplayErrorContext(&err));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|err| anyhow::anyhow!("describing table {table}: {}", DisplayErrorContext(&err)))?;
        if described.table.and_then(|t| t.table_status) == Some(TableStatus::Active) {
            return Ok(());
        }
        if Instant::now() > deadline {
            anyhow::bail!("table {table} did not become ACTIVE");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn projection_type(projection: ports::Projection) -> ProjectionType {
    match projection {
        ports::Projection::All => ProjectionType::All,
        ports::Projection::KeysOnly => ProjectionType::KeysOnly,
    }
}

fn invalid(err: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(err.to_string())
}

/// Maps an SDK error: conditions and validation by their code, everything else is retryable.
fn store_error<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let message = DisplayErrorContext(&err).to_string();
    match &err {
        SdkError::ConstructionFailure(_) => StoreError::Invalid(message),
        SdkError::ServiceError(_) => match err.code() {
            Some("ConditionalCheckFailedException") => StoreError::ConditionFailed,
            Some("ValidationException" | "SerializationException") => StoreError::Invalid(message),
            _ => StoreError::Unavailable(message),
        },
        _ => StoreError::Unavailable(message),
    }
}

fn transaction_error(
    err: SdkError<TransactWriteItemsError, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> StoreError {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() else {
        return store_error(err);
    };
    let reasons = cancelled.cancellation_reasons();
    let failed: Vec<usize> = reasons
        .iter()
        .enumerate()
        .filter(|(_, reason)| reason.code() == Some("ConditionalCheckFailed"))
        .map(|(index, _)| index)
        .collect();
    if !failed.is_empty() {
        StoreError::TransactionCanceled { failed }
    } else if reasons.iter().any(|reason| reason.code() == Some("TransactionConflict")) {
        StoreError::TransactionConflict
    } else if reasons.iter().any(|reason| reason.code() == Some("ValidationError")) {
        invalid(DisplayErrorContext(&err))
    } else {
        // ThrottlingError and the like: another try may succeed.
        StoreError::Unavailable(DisplayErrorContext(&err).to_string())
    }
}

fn to_attributes(item: Item) -> Result<AttributeMap, StoreError> {
    item.iter().map(|(name, value)| Ok((name.clone(), to_attribute(value)?))).collect()
}

fn from_attributes(attributes: AttributeMap) -> Result<Item, StoreError> {
    attributes.into_iter().map(|(name, value)| Ok((name, from_attribute(value)?))).collect()
}

/// JSON to an attribute value. Numbers keep their exact digits (serde_json's arbitrary
/// precision), which is why items are not converted through serde_dynamo: it reads numbers
/// through f64 and would turn 19.999999999999999999 into 20.
fn to_attribute(value: &Value) -> Result<AttributeValue, StoreError> {
    Ok(match value {
        Value::Null => AttributeValue::Null(true),
        Value::Bool(b) => AttributeValue::Bool(*b),
        Value::Number(n) => AttributeValue::N(plain_number(&n.to_string())),
        Value::String(s) => AttributeValue::S(s.clone()),
        Value::Array(values) => AttributeValue::L(values.iter().map(to_attribute).collect::<Result<_, _>>()?),
        Value::Object(map) => AttributeValue::M(to_attributes(map.clone())?),
    })
}

/// DynamoDB numbers are plain decimals: exponent notation is written out when it fits a decimal.
fn plain_number(text: &str) -> String {
    if text.contains(['e', 'E'])
        && let Ok(decimal) = rust_decimal::Decimal::from_scientific(text)
    {
        return decimal.normalize().to_string();
    }
    text.to_owned()
}

fn from_attribute(value: AttributeValue) -> Result<Value, StoreError> {
    let unreadable = |what: String| StoreError::Unavailable(format!("unreadable item: {what}"));
    Ok(match value {
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Bool(b) => Value::Bool(b),
        AttributeValue::N(n) => Value::Number(n.parse().map_err(|e| unreadable(format!("number {n:?}: {e}")))?),
        AttributeValue::S(s) => Value::String(s),
        AttributeValue::L(values) => Value::Array(values.into_iter().map(from_attribute).collect::<Result<_, _>>()?),
        AttributeValue::M(map) => Value::Object(from_attributes(map)?),
        other => return Err(unreadable(format!("unsupported attribute type {other:?}"))),
    })
}

fn key_attributes(key: &Key) -> AttributeMap {
    HashMap::from([
        (PK.to_string(), AttributeValue::S(key.pk.clone())),
        (SK.to_string(), AttributeValue::S(key.sk.clone())),
    ])
}

/// Placeholders for attribute names and values of one expression set.
#[derive(Default)]
struct Expr {
    names: HashMap<String, String>,
    values: AttributeMap,
}

impl Expr {
    fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#n{}", self.names.len());
        self.names.insert(placeholder.clone(), attr.to_string());
        placeholder
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    fn json(&mut self, value: &Value) -> Result<String, StoreError> {
        Ok(self.value(to_attribute(value)?))
    }

    fn condition(&mut self, condition: &Condition) -> Result<String, StoreError> {
        Ok(match condition {
            Condition::NotExists => format!("attribute_not_exists({})", self.name(PK)),
            Condition::Exists => format!("attribute_exists({})", self.name(PK)),
            Condition::Equals(attr, value) => format!("{} = {}", self.name(attr), self.json(value)?),
            // The type test first: moto fails with a 500 comparing a string to a number.
            Condition::AtLeast(attr, min) => {
                let name = self.name(attr);
                let number = self.value(AttributeValue::S("N".into()));
                let min = self.value(AttributeValue::N(min.to_string()));
                format!("attribute_type({name}, {number}) AND {name} >= {min}")
            }
            // DynamoDB has no literal `true`: an empty conjunction becomes a tautology.
            Condition::All(all) if all.is_empty() => {
                let pk = self.name(PK);
                format!("attribute_exists({pk}) OR attribute_not_exists({pk})")
            }
            Condition::All(all) => {
                let mut parts = Vec::with_capacity(all.len());
                for condition in all {
                    parts.push(format!("({})", self.condition(condition)?));
                }
                parts.join(" AND ")
            }
        })
    }

    fn optional_condition(&mut self, condition: Option<&Condition>) -> Result<Option<String>, StoreError> {
        condition.map(|c| self.condition(c)).transpose()
    }

    /// `SET .. ADD .. REMOVE ..`, or `None` when the update changes nothing.
    fn update(&mut self, update: &Update) -> Result<Option<String>, StoreError> {
        let mut clauses = Vec::new();
        let mut set = Vec::new();
        for (attr, value) in &update.set {
            set.push(format!("{} = {}", self.name(attr), self.json(value)?));
        }
        let mut add = Vec::new();
        for (attr, delta) in &update.add {
            add.push(format!("{} {}", self.name(attr), self.value(AttributeValue::N(delta.to_string()))));
        }
        let remove: Vec<String> = update.remove.iter().map(|attr| self.name(attr)).collect();
        for (verb, parts) in [("SET", set), ("ADD", add), ("REMOVE", remove)] {
            if !parts.is_empty() {
                clauses.push(format!("{verb} {}", parts.join(", ")));
            }
        }
        Ok((!clauses.is_empty()).then(|| clauses.join(" ")))
    }

    /// The placeholder maps, `None` when empty (DynamoDB refuses empty maps).
    fn into_maps(self) -> (Option<HashMap<String, String>>, Option<AttributeMap>) {
        ((!self.names.is_empty()).then_some(self.names), (!self.values.is_empty()).then_some(self.values))
    }
}

fn encode_cursor(key: AttributeMap) -> Result<String, StoreError> {
    let strings = key
        .into_iter()
        .map(|(name, value)| match value {
            AttributeValue::S(s) => Ok((name, s)),
            other => Err(StoreError::Unavailable(format!("non-string key attribute {name}: {other:?}"))),
        })
        .collect::<Result<BTreeMap<String, String>, StoreError>>()?;
    let json = serde_json::to_vec(&strings).map_err(|err| StoreError::Unavailable(err.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor(cursor: &str) -> Result<AttributeMap, StoreError> {
    let strings: HashMap<String, String> = URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| invalid("malformed query cursor"))?;
    Ok(strings.into_iter().map(|(name, value)| (name, AttributeValue::S(value))).collect())
}

impl DynamoStore {
    fn transact_item(&self, op: WriteOp) -> Result<TransactWriteItem, StoreError> {
        let mut expr = Expr::default();
        let item = match op {
            WriteOp::Put { item, condition } => {
                let condition = expr.optional_condition(condition.as_ref())?;
                let (names, values) = expr.into_maps();
                let put = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_attributes(item)?))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(invalid)?;
                TransactWriteItem::builder().put(put)
            }
            WriteOp::Update { key, update, condition } => {
                let update_expression = expr
                    .update(&update)?
                    .ok_or_else(|| invalid("an update in a transaction needs at least one change"))?;
                let condition = expr.optional_condition(condition.as_ref())?;
                let (names, values) = expr.into_maps();
                let update = aws_sdk_dynamodb::types::Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    .update_expression(update_expression)
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(invalid)?;
                TransactWriteItem::builder().update(update)
            }
            WriteOp::Delete { key, condition } => {
                let condition = expr.optional_condition(condition.as_ref())?;
                let (names, values) = expr.into_maps();
                let delete = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    .set_condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(invalid)?;
                TransactWriteItem::builder().delete(delete)
            }
            WriteOp::Check { key, condition } => {
                let condition = expr.condition(&condition)?;
                let (names, values) = expr.into_maps();
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    .condition_expression(condition)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(invalid)?;
                TransactWriteItem::builder().condition_check(check)
            }
        };
        Ok(item.build())
    }
}

#[async_trait]
impl ItemStore for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        output.item.map(from_attributes).transpose()
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        // BatchGetItem refuses a key twice in one call.
        let keys: Vec<&Key> = keys.iter().collect::<BTreeSet<_>>().into_iter().collect();
        let mut items = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let mut pending: Vec<AttributeMap> = chunk.iter().map(|key| key_attributes(key)).collect();
            let mut attempt = 0;
            while !pending.is_empty() {
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(pending))
                    .consistent_read(true)
                    .build()
                    .map_err(invalid)?;
                let output = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(store_error)?;
                for item in output.responses.and_then(|mut r| r.remove(&self.table)).unwrap_or_default() {
                    items.push(from_attributes(item)?);
                }
                pending =
                    output.unprocessed_keys.and_then(|mut u| u.remove(&self.table)).map(|k| k.keys).unwrap_or_default();
                if !pending.is_empty() {
                    attempt += 1;
                    if attempt > BATCH_GET_RETRIES {
                        return Err(StoreError::Unavailable(format!("{} keys stayed unprocessed", pending.len())));
                    }
                    tokio::time::sleep(Duration::from_millis(25 << attempt)).await;
                }
            }
        }
        Ok(items)
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let mut expr = Expr::default();
        let condition = expr.optional_condition(condition.as_ref())?;
        let (names, values) = expr.into_maps();
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_attributes(item)?))
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError> {
        let mut expr = Expr::default();
        let update_expression = expr.update(&update)?;
        let condition = expr.optional_condition(condition.as_ref())?;
        let (names, values) = expr.into_maps();
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .set_update_expression(update_expression)
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(store_error)?;
        let attributes = output.attributes.filter(|a| !a.is_empty()).unwrap_or_else(|| key_attributes(key));
        from_attributes(attributes)
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let mut expr = Expr::default();
        let condition = expr.optional_condition(condition.as_ref())?;
        let (names, values) = expr.into_maps();
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .set_condition_expression(condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        check_transaction(&writes)?;
        if writes.is_empty() {
            // TransactWriteItems refuses an empty list; nothing to write is a success.
            return Ok(());
        }
        let items = writes.into_iter().map(|op| self.transact_item(op)).collect::<Result<Vec<_>, _>>()?;
        self.client.transact_write_items().set_transact_items(Some(items)).send().await.map_err(transaction_error)?;
        Ok(())
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        let (pk_attr, sk_attr) = match query.index {
            None => (PK, SK),
            Some(index) => (index.pk_attr(), index.sk_attr()),
        };
        let mut expr = Expr::default();
        let mut key_condition = format!("{} = {}", expr.name(pk_attr), expr.value(AttributeValue::S(query.pk)));
        let sk_condition = match query.sk {
            SkRange::All => None,
            SkRange::Eq(v) => Some(format!("{} = {}", expr.name(sk_attr), expr.value(AttributeValue::S(v)))),
            SkRange::BeginsWith(v) => {
                Some(format!("begins_with({}, {})", expr.name(sk_attr), expr.value(AttributeValue::S(v))))
            }
            SkRange::Between(low, high) => Some(format!(
                "{} BETWEEN {} AND {}",
                expr.name(sk_attr),
                expr.value(AttributeValue::S(low)),
                expr.value(AttributeValue::S(high))
            )),
            SkRange::Ge(v) => Some(format!("{} >= {}", expr.name(sk_attr), expr.value(AttributeValue::S(v)))),
            SkRange::Le(v) => Some(format!("{} <= {}", expr.name(sk_attr), expr.value(AttributeValue::S(v)))),
        };
        if let Some(sk_condition) = sk_condition {
            key_condition = format!("{key_condition} AND {sk_condition}");
        }
        let limit = query
            .limit
            .map(|limit| {
                i32::try_from(limit).ok().filter(|l| *l > 0).ok_or_else(|| invalid("limit must be 1..=i32::MAX"))
            })
            .transpose()?;
        let start = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let (names, values) = expr.into_maps();
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(query.index.map(|index| index.name().to_string()))
            .key_condition_expression(key_condition)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .set_limit(limit)
            .scan_index_forward(query.ascending)
            .set_exclusive_start_key(start)
            // Global secondary indexes only offer eventually consistent reads.
            .consistent_read(query.index.is_none() && !query.eventually_consistent)
            .send()
            .await
            .map_err(store_error)?;
        let items = output.items.unwrap_or_default().into_iter().map(from_attributes).collect::<Result<_, _>>()?;
        let cursor = output.last_evaluated_key.filter(|key| !key.is_empty()).map(encode_cursor).transpose()?;
        Ok(Page { items, cursor })
    }
}
