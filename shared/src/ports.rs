//! Small ports the services depend on. The embedded adapters are the test doubles.
//!
//! The item store is DynamoDB-shaped: one table, items addressed by `PK` + `SK`, three global
//! secondary indexes (`GSI1PK`/`GSI1SK` ... `GSI3PK`/`GSI3SK`) that an item joins by carrying
//! those attributes; each projects what [`Index::projection`] says. Items are JSON objects;
//! numbers that are counted atomically are integers.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// A stored item: a JSON object that carries its own `PK` and `SK` attributes.
pub type Item = Map<String, Value>;

pub const PK: &str = "PK";
pub const SK: &str = "SK";

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }

    /// The key of an item, if it carries string `PK` and `SK` attributes.
    pub fn of(item: &Item) -> Option<Key> {
        Some(Key::new(item.get(PK)?.as_str()?, item.get(SK)?.as_str()?))
    }
}

/// The secondary indexes of the table. Their key attribute names are fixed here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Index {
    /// Whole items: where earlier versions listed outbox records and allocations. Nothing writes
    /// it now; readers still look there, so an upgrade needs no migration.
    Gsi1,
    Gsi2,
    /// Listings (every stock row, every allocation of a tenant): keys only, under keys that an
    /// item keeps for life, so only its creation writes the index.
    Gsi3,
}

impl Index {
    pub const ALL: [Index; 3] = [Index::Gsi1, Index::Gsi2, Index::Gsi3];

    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1",
            Index::Gsi2 => "GSI2",
            Index::Gsi3 => "GSI3",
        }
    }
    pub fn pk_attr(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1PK",
            Index::Gsi2 => "GSI2PK",
            Index::Gsi3 => "GSI3PK",
        }
    }
    pub fn sk_attr(self) -> &'static str {
        match self {
            Index::Gsi1 => "GSI1SK",
            Index::Gsi2 => "GSI2SK",
            Index::Gsi3 => "GSI3SK",
        }
    }
    /// Which attributes the index copies from the table: what a query on it returns, and which
    /// updates of an item also write its index entry (DynamoDB writes the entry only when one
    /// of them, or the index key, changes).
    pub fn projection(self) -> Projection {
        match self {
            Index::Gsi1 | Index::Gsi2 => Projection::All,
            Index::Gsi3 => Projection::KeysOnly,
        }
    }
}

/// The attributes an index copies from the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Projection {
    /// Every attribute: a query returns whole items, and any change of an item writes the index.
    All,
    /// The table key and the index key only: a query returns keys (read the items after), and
    /// an item's entry is written only when it joins, leaves or moves within the index.
    KeysOnly,
}

impl Projection {
    /// What an index with this projection keeps of `item`: a query on `index` returns that.
    pub fn apply(self, index: Index, mut item: Item) -> Item {
        if self == Projection::KeysOnly {
            item.retain(|name, _| [PK, SK, index.pk_attr(), index.sk_attr()].contains(&name.as_str()));
        }
        item
    }

    /// The `ProjectionType` DynamoDB and the SAM template call it.
    pub fn dynamodb_name(self) -> &'static str {
        match self {
            Projection::All => "ALL",
            Projection::KeysOnly => "KEYS_ONLY",
        }
    }
}

/// A guard evaluated atomically with the write it protects.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// No item with this key exists.
    NotExists,
    /// An item with this key exists.
    Exists,
    /// The attribute exists and equals the value (strings, integers, booleans).
    Equals(String, Value),
    /// The attribute exists, is a number, and is >= the integer.
    AtLeast(String, i64),
    /// Every condition holds.
    All(Vec<Condition>),
}

impl Condition {
    pub fn version_is(version: u64) -> Self {
        Condition::Equals("version".into(), Value::from(version))
    }
}

/// An update of one item: SET attributes, then ADD integers (creating them at 0 when absent).
/// The item is created when it does not exist (like DynamoDB's UpdateItem) unless the
/// condition forbids it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Update {
    pub set: Vec<(String, Value)>,
    pub add: Vec<(String, i64)>,
    /// Attributes to remove.
    pub remove: Vec<String>,
}

impl Update {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set(mut self, attr: impl Into<String>, value: impl Into<Value>) -> Self {
        self.set.push((attr.into(), value.into()));
        self
    }
    pub fn add(mut self, attr: impl Into<String>, delta: i64) -> Self {
        self.add.push((attr.into(), delta));
        self
    }
    pub fn remove(mut self, attr: impl Into<String>) -> Self {
        self.remove.push(attr.into());
        self
    }
}

/// One write of a transaction (or a single conditional write).
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put {
        item: Item,
        condition: Option<Condition>,
    },
    Update {
        key: Key,
        update: Update,
        condition: Option<Condition>,
    },
    Delete {
        key: Key,
        condition: Option<Condition>,
    },
    /// Writes nothing; fails the transaction when the condition does not hold.
    Check {
        key: Key,
        condition: Condition,
    },
}

impl WriteOp {
    pub fn key(&self) -> Option<Key> {
        match self {
            WriteOp::Put { item, .. } => Key::of(item),
            WriteOp::Update { key, .. } | WriteOp::Delete { key, .. } | WriteOp::Check { key, .. } => Some(key.clone()),
        }
    }
}

/// Which part of a partition a query reads, by sort key.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SkRange {
    #[default]
    All,
    Eq(String),
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
    Ge(String),
    Le(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// `None` reads the table; otherwise the index, whose partition/sort attributes are used.
    pub index: Option<Index>,
    pub pk: String,
    pub sk: SkRange,
    pub limit: Option<usize>,
    /// Opaque cursor returned by the previous page.
    pub cursor: Option<String>,
    pub ascending: bool,
    /// Table reads are consistent unless this is set (an index read never is): half the read
    /// capacity, for readers whose writes are guarded anyway.
    pub eventually_consistent: bool,
}

impl Query {
    pub fn partition(pk: impl Into<String>) -> Self {
        Self {
            index: None,
            pk: pk.into(),
            sk: SkRange::All,
            limit: None,
            cursor: None,
            ascending: true,
            eventually_consistent: false,
        }
    }
    pub fn on(mut self, index: Index) -> Self {
        self.index = Some(index);
        self
    }
    pub fn sk(mut self, sk: SkRange) -> Self {
        self.sk = sk;
        self
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit);
        self
    }
    pub fn cursor(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
    pub fn descending(mut self) -> Self {
        self.ascending = false;
        self
    }
    pub fn eventually_consistent(mut self) -> Self {
        self.eventually_consistent = true;
        self
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Page {
    pub items: Vec<Item>,
    /// Present when more items may follow.
    pub cursor: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("condition failed")]
    ConditionFailed,
    /// A transaction was cancelled; `failed` lists the indexes of the writes whose
    /// condition did not hold.
    #[error("transaction cancelled (writes {failed:?} failed their conditions)")]
    TransactionCanceled { failed: Vec<usize> },
    /// A transaction met another one on the same items (DynamoDB's TransactionConflict):
    /// nothing was written; read again and retry.
    #[error("transaction conflicted with a concurrent one")]
    TransactionConflict,
    #[error("invalid request to the store: {0}")]
    Invalid(String),
    /// The backend is unreachable, throttled or failed; the call may be retried.
    #[error("store unavailable: {0}")]
    Unavailable(String),
}

pub const MAX_TRANSACTION_ITEMS: usize = 100;

#[async_trait]
pub trait ItemStore: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;
    /// Items that exist, in no particular order.
    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError>;
    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError>;
    /// Applies the update and returns the item as it is afterwards.
    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError>;
    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError>;
    /// All or nothing, at most [`MAX_TRANSACTION_ITEMS`] writes, each key at most once.
    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError>;
    async fn query(&self, query: Query) -> Result<Page, StoreError>;
}

/// The named queues of the system. Each has a dead-letter queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueueName {
    ChangeTracker,
    /// Mass allocate: one message per page of matching orders to plan into chunks.
    MassAllocatePlan,
    /// Mass allocate: one message per chunk of orders to allocate.
    MassAllocateChunk,
    /// The order pipeline: run an order's next step (allocate what is open, release what is
    /// allocated) after a change whose configuration says so.
    OrderPipeline,
    /// Outbound: release documents, for the warehouse and store systems of the ship-from
    /// locations.
    Release,
    /// Outbound: published orders and order lines (PublishOrder, PublishOrderLine).
    OrderEvents,
    /// Outbound: rendered emails and texts (PublishEmail, PublishText).
    Notifications,
}

impl QueueName {
    pub const ALL: [QueueName; 7] = [
        QueueName::ChangeTracker,
        QueueName::MassAllocatePlan,
        QueueName::MassAllocateChunk,
        QueueName::OrderPipeline,
        QueueName::Release,
        QueueName::OrderEvents,
        QueueName::Notifications,
    ];

    /// Whether another system consumes the queue (we only send to it); the local server lets a
    /// user read these instead of draining them.
    pub fn is_outbound(self) -> bool {
        matches!(self, QueueName::Release | QueueName::OrderEvents | QueueName::Notifications)
    }

    /// Parses a queue's name as [`QueueName::as_str`] spells it.
    pub fn parse(name: &str) -> Option<QueueName> {
        Self::ALL.into_iter().find(|q| q.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            QueueName::ChangeTracker => "change-tracker",
            QueueName::MassAllocatePlan => "mass-allocate-plan",
            QueueName::MassAllocateChunk => "mass-allocate-chunk",
            QueueName::OrderPipeline => "order-pipeline",
            QueueName::Release => "release",
            QueueName::OrderEvents => "order-events",
            QueueName::Notifications => "notifications",
        }
    }
    /// Environment variable that holds the SQS URL of the queue in AWS.
    pub fn url_env(self) -> &'static str {
        match self {
            QueueName::ChangeTracker => "CHANGE_TRACKER_QUEUE_URL",
            QueueName::MassAllocatePlan => "MASS_ALLOCATE_PLAN_QUEUE_URL",
            QueueName::MassAllocateChunk => "MASS_ALLOCATE_CHUNK_QUEUE_URL",
            QueueName::OrderPipeline => "ORDER_PIPELINE_QUEUE_URL",
            QueueName::Release => "RELEASE_QUEUE_URL",
            QueueName::OrderEvents => "ORDER_EVENTS_QUEUE_URL",
            QueueName::Notifications => "NOTIFICATIONS_QUEUE_URL",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingMessage {
    /// Unique within one batch; used to report which messages failed to send.
    pub id: String,
    pub body: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
    /// 1 on first delivery.
    pub receive_count: u32,
    pub sent_at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("messages {0:?} were not sent")]
    NotSent(Vec<String>),
    #[error("invalid request to the queue: {0}")]
    Invalid(String),
    #[error("queue unavailable: {0}")]
    Unavailable(String),
}

pub const MAX_SEND_BATCH: usize = 10;

#[async_trait]
pub trait MessageQueue: Send + Sync {
    /// Sends up to any number of messages (the adapter splits them into batches of
    /// [`MAX_SEND_BATCH`]). Fails with the ids that were not sent.
    async fn send(&self, queue: QueueName, messages: Vec<OutgoingMessage>) -> Result<(), QueueError>;
    /// Receives up to `max` visible messages and hides them for `visibility`. A message
    /// received more than the queue's max receive count moves to its dead-letter queue instead.
    async fn receive(
        &self,
        queue: QueueName,
        max: usize,
        visibility: Duration,
    ) -> Result<Vec<ReceivedMessage>, QueueError>;
    /// Deletes received messages.
    async fn ack(&self, queue: QueueName, receipt_handles: &[String]) -> Result<(), QueueError>;
    /// Number of messages (visible or in flight) in the queue's dead-letter queue.
    async fn dead_letter_count(&self, queue: QueueName) -> Result<usize, QueueError>;
}

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

pub trait IdSource: Send + Sync {
    /// A new unique, time-ordered id (26 characters, Crockford base32).
    fn new_id(&self) -> String;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct UlidSource;

impl IdSource for UlidSource {
    fn new_id(&self) -> String {
        ulid::Ulid::new().to_string()
    }
}

/// How many times a message is delivered before it moves to the dead-letter queue.
pub const MAX_RECEIVE_COUNT: u32 = 5;
