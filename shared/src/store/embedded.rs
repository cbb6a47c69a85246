//! The item store on SQLite: the local backend and the test double of DynamoDB.
//!
//! Every write reads the current item, checks its condition in Rust and writes, as one atomic
//! write of the database's writer (a savepoint of a group commit, see [`crate::sqlite`]), so
//! guards are atomic even with another process on the same file. Reads run on the read pool.

use std::collections::BTreeSet;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::{Connection, OptionalExtension, params, params_from_iter};
use serde_json::Value;

use crate::ports::{
    Condition, Index, Item, ItemStore, Key, MAX_TRANSACTION_ITEMS, PK, Page, Query, SK, SkRange, StoreError, Update,
    WriteOp,
};
use crate::sqlite::SqliteDb;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    body TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    gsi2pk TEXT,
    gsi2sk TEXT,
    gsi3pk TEXT,
    gsi3sk TEXT,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
";

/// The indexes, created after [`upgrade`] gave a file from before GSI3 its columns.
const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi2 ON items (gsi2pk, gsi2sk, pk, sk) WHERE gsi2pk IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_gsi3 ON items (gsi3pk, gsi3sk, pk, sk) WHERE gsi3pk IS NOT NULL;
";

/// Brings a database written by an older version up to the schema: adds the columns of GSI3
/// and fills them from the items that already carry its attributes (none did before).
fn upgrade(conn: &Connection) -> anyhow::Result<()> {
    let columns: Vec<String> = conn
        .prepare("SELECT name FROM pragma_table_info('items')")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    if !columns.iter().any(|c| c == "gsi3pk") {
        conn.execute_batch(
            "ALTER TABLE items ADD COLUMN gsi3pk TEXT;
             ALTER TABLE items ADD COLUMN gsi3sk TEXT;
             UPDATE items SET gsi3pk = json_extract(body, '$.GSI3PK'), gsi3sk = json_extract(body, '$.GSI3SK')
              WHERE json_extract(body, '$.GSI3PK') IS NOT NULL AND json_extract(body, '$.GSI3SK') IS NOT NULL;",
        )?;
    }
    Ok(())
}

#[derive(Debug, Clone)]
pub struct EmbeddedStore {
    db: SqliteDb,
}

impl EmbeddedStore {
    /// Opens the store on `db`, creating its table and indexes if absent.
    pub fn new(db: SqliteDb) -> anyhow::Result<Self> {
        let schema_db = db.clone();
        // SqliteDb is async-only: a private runtime on its own thread works from sync and async callers alike.
        let created = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread().build()?.block_on(schema_db.write(|conn| {
                conn.execute_batch(SCHEMA)?;
                upgrade(conn)?;
                Ok(conn.execute_batch(INDEXES)?)
            }))
        })
        .join();
        created.map_err(|_| anyhow::anyhow!("creating the item store schema panicked"))??;
        Ok(Self { db })
    }

    /// Runs `f` as one atomic write; a `StoreError` raised inside comes back as is, anything
    /// else (SQLite busy, I/O) is `Unavailable`.
    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    {
        self.db.write(f).await.map_err(store_error)
    }

    /// Runs `f` on a read connection, errors mapped as for [`Self::write`].
    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> anyhow::Result<T> + Send + 'static,
    {
        self.db.read(f).await.map_err(store_error)
    }
}

fn store_error(err: anyhow::Error) -> StoreError {
    match err.downcast::<StoreError>() {
        Ok(store_error) => store_error,
        Err(other) => StoreError::Unavailable(format!("{other:#}")),
    }
}

/// Runs `f` in one read snapshot (a savepoint: a transaction of its own on a read connection,
/// nested in the group's on the writer).
fn snapshot<T>(conn: &Connection, f: impl FnOnce(&Connection) -> anyhow::Result<T>) -> anyhow::Result<T> {
    conn.prepare_cached("SAVEPOINT snapshot")?.execute([])?;
    let result = f(conn);
    if result.is_err() {
        conn.prepare_cached("ROLLBACK TO snapshot")?.execute([])?;
    }
    conn.prepare_cached("RELEASE snapshot")?.execute([])?;
    result
}

/// What a write does to its item once its condition holds.
enum Outcome {
    /// `replaces`: the item exists with the same index entries, so only its body changes (and
    /// no index page is written). `body`: the item as JSON when the caller serialized it.
    Save {
        item: Item,
        replaces: bool,
        body: Option<String>,
    },
    Delete,
    Nothing,
}

/// The index attributes of an item, to tell whether a write moves it in any index.
fn index_attrs(item: &Item) -> [Option<&Value>; 6] {
    let [a, b, c] = Index::ALL;
    [a.pk_attr(), a.sk_attr(), b.pk_attr(), b.sk_attr(), c.pk_attr(), c.sk_attr()].map(|name| item.get(name))
}

fn invalid(message: impl Into<String>) -> anyhow::Error {
    StoreError::Invalid(message.into()).into()
}

/// Checks what DynamoDB refuses before running a transaction: too many writes, a key twice.
pub(crate) fn check_transaction(writes: &[WriteOp]) -> Result<(), StoreError> {
    if writes.len() > MAX_TRANSACTION_ITEMS {
        return Err(StoreError::Invalid(format!(
            "a transaction holds at most {MAX_TRANSACTION_ITEMS} writes, got {}",
            writes.len()
        )));
    }
    let mut seen = BTreeSet::new();
    for write in writes {
        let key = write.key().ok_or_else(|| StoreError::Invalid("an item needs string PK and SK".into()))?;
        if !seen.insert(key.clone()) {
            return Err(StoreError::Invalid(format!("the transaction writes {key:?} more than once")));
        }
    }
    Ok(())
}

fn condition_of(op: &WriteOp) -> Option<&Condition> {
    match op {
        WriteOp::Put { condition, .. } | WriteOp::Update { condition, .. } | WriteOp::Delete { condition, .. } => {
            condition.as_ref()
        }
        WriteOp::Check { condition, .. } => Some(condition),
    }
}

fn holds(condition: &Condition, item: Option<&Item>) -> bool {
    let attr = |name: &str| item.and_then(|item| item.get(name));
    match condition {
        Condition::NotExists => item.is_none(),
        Condition::Exists => item.is_some(),
        Condition::Equals(name, value) => attr(name) == Some(value),
        Condition::AtLeast(name, min) => match attr(name) {
            Some(Value::Number(n)) => {
                n.as_i64().map_or_else(|| n.as_f64().is_some_and(|f| f >= *min as f64), |n| n >= *min)
            }
            _ => false,
        },
        Condition::All(conditions) => conditions.iter().all(|c| holds(c, item)),
    }
}

/// SET, then ADD, then REMOVE, refusing what DynamoDB refuses (key attributes, overlapping paths).
fn apply_update(key: &Key, current: Option<Item>, update: Update) -> anyhow::Result<Item> {
    let mut touched = BTreeSet::new();
    let names = update.set.iter().map(|(a, _)| a).chain(update.add.iter().map(|(a, _)| a)).chain(&update.remove);
    for name in names {
        if name == PK || name == SK {
            return Err(invalid(format!("cannot update key attribute {name}")));
        }
        if !touched.insert(name.as_str()) {
            return Err(invalid(format!("two document paths overlap: {name}")));
        }
    }
    let mut item = current.unwrap_or_else(|| key_item(key));
    for (name, value) in update.set {
        item.insert(name, value);
    }
    for (name, delta) in update.add {
        let current = match item.get(&name) {
            None => 0,
            Some(value) => value.as_i64().ok_or_else(|| invalid(format!("ADD on non-integer attribute {name}")))?,
        };
        let sum = current.checked_add(delta).ok_or_else(|| invalid(format!("ADD overflows attribute {name}")))?;
        item.insert(name, Value::from(sum));
    }
    for name in update.remove {
        item.remove(&name);
    }
    Ok(item)
}

fn key_item(key: &Key) -> Item {
    let mut item = Item::new();
    item.insert(PK.into(), Value::from(key.pk.clone()));
    item.insert(SK.into(), Value::from(key.sk.clone()));
    item
}

fn outcome(op: WriteOp, key: &Key, current: Option<Item>, body: Option<String>) -> anyhow::Result<Outcome> {
    let replaces =
        |current: &Option<Item>, next: &Item| current.as_ref().is_some_and(|c| index_attrs(c) == index_attrs(next));
    Ok(match op {
        WriteOp::Put { item, .. } => Outcome::Save { replaces: replaces(&current, &item), item, body },
        WriteOp::Update { update, .. } => {
            let existed = current.as_ref().map(|c| index_attrs(c).map(|v| v.cloned()));
            let item = apply_update(key, current, update)?;
            let replaces = existed.is_some_and(|before| before == index_attrs(&item).map(|v| v.cloned()));
            Outcome::Save { item, replaces, body: None }
        }
        WriteOp::Delete { .. } => Outcome::Delete,
        WriteOp::Check { .. } => Outcome::Nothing,
    })
}

fn load(conn: &Connection, key: &Key) -> anyhow::Result<Option<Item>> {
    let body: Option<String> = conn
        .prepare_cached("SELECT body FROM items WHERE pk = ?1 AND sk = ?2")?
        .query_row(params![key.pk, key.sk], |row| row.get(0))
        .optional()?;
    Ok(body.map(|body| serde_json::from_str(&body)).transpose()?)
}

/// A key attribute: absent, or a non-empty string (DynamoDB refuses anything else).
fn key_attr<'a>(item: &'a Item, name: &str) -> anyhow::Result<Option<&'a str>> {
    match item.get(name) {
        None => Ok(None),
        Some(Value::String(s)) if !s.is_empty() => Ok(Some(s)),
        Some(_) => Err(invalid(format!("key attribute {name} must be a non-empty string"))),
    }
}

/// The item's position in an index: both attributes present, or not in the index.
fn index_key(item: &Item, index: Index) -> anyhow::Result<(Option<&str>, Option<&str>)> {
    match (key_attr(item, index.pk_attr())?, key_attr(item, index.sk_attr())?) {
        (Some(pk), Some(sk)) => Ok((Some(pk), Some(sk))),
        _ => Ok((None, None)),
    }
}

fn store(conn: &Connection, key: &Key, outcome: &Outcome) -> anyhow::Result<()> {
    match outcome {
        Outcome::Save { item, replaces: true, body } => {
            // Same row, same index entries: rewrite the body alone.
            let body = match body {
                Some(body) => std::borrow::Cow::Borrowed(body.as_str()),
                None => std::borrow::Cow::Owned(serde_json::to_string(item)?),
            };
            conn.prepare_cached("UPDATE items SET body = ?3 WHERE pk = ?1 AND sk = ?2")?
                .execute(params![key.pk, key.sk, body])?;
        }
        Outcome::Save { item, replaces: false, body } => {
            let (g1pk, g1sk) = index_key(item, Index::Gsi1)?;
            let (g2pk, g2sk) = index_key(item, Index::Gsi2)?;
            let (g3pk, g3sk) = index_key(item, Index::Gsi3)?;
            conn.prepare_cached(
                "INSERT OR REPLACE INTO items (pk, sk, body, gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                key.pk,
                key.sk,
                match body {
                    Some(body) => std::borrow::Cow::Borrowed(body.as_str()),
                    None => std::borrow::Cow::Owned(serde_json::to_string(item)?),
                },
                g1pk,
                g1sk,
                g2pk,
                g2sk,
                g3pk,
                g3sk
            ])?;
        }
        Outcome::Delete => {
            conn.prepare_cached("DELETE FROM items WHERE pk = ?1 AND sk = ?2")?.execute(params![key.pk, key.sk])?;
        }
        Outcome::Nothing => {}
    }
    Ok(())
}

/// The key of a write, which DynamoDB requires to be made of non-empty strings.
fn checked_key(op: &WriteOp) -> anyhow::Result<Key> {
    match op.key() {
        Some(key) if !key.pk.is_empty() && !key.sk.is_empty() => Ok(key),
        _ => Err(invalid("a key needs non-empty string PK and SK")),
    }
}

/// A write made ready off the writer thread: a put's item is serialized by its caller, so the
/// one writer thread spends its time in SQLite, not in JSON.
struct Prepared {
    op: WriteOp,
    body: Option<String>,
}

fn prepare(op: WriteOp) -> anyhow::Result<Prepared> {
    let body = match &op {
        WriteOp::Put { item, .. } => Some(serde_json::to_string(item)?),
        _ => None,
    };
    Ok(Prepared { op, body })
}

/// The attributes a condition reads.
fn condition_attrs<'a>(condition: &'a Condition, attrs: &mut Vec<&'a str>) {
    match condition {
        Condition::NotExists | Condition::Exists => {}
        Condition::Equals(name, _) | Condition::AtLeast(name, _) => attrs.push(name),
        Condition::All(conditions) => conditions.iter().for_each(|c| condition_attrs(c, attrs)),
    }
}

/// What a write needs of the item it replaces: all of it for an update (which changes it), only
/// its index entries and the attributes its condition reads for the others (no JSON parsed).
fn current_for(conn: &Connection, key: &Key, op: &WriteOp) -> anyhow::Result<Option<Item>> {
    if matches!(op, WriteOp::Update { .. }) {
        return load(conn, key);
    }
    let mut attrs = Vec::new();
    if let Some(condition) = condition_of(op) {
        condition_attrs(condition, &mut attrs);
    }
    let mut sql = "SELECT gsi1pk, gsi1sk, gsi2pk, gsi2sk, gsi3pk, gsi3sk".to_owned();
    for n in 0..attrs.len() {
        sql += &format!(", json_type(body, ?{a}), json_extract(body, ?{a})", a = n + 3);
    }
    sql += " FROM items WHERE pk = ?1 AND sk = ?2";
    let paths: Vec<String> = attrs.iter().map(|a| format!("$.\"{a}\"")).collect();
    let mut args: Vec<&dyn rusqlite::ToSql> = vec![&key.pk, &key.sk];
    args.extend(paths.iter().map(|p| p as &dyn rusqlite::ToSql));
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(args.as_slice())?;
    let Some(row) = rows.next()? else { return Ok(None) };
    let mut item = key_item(key);
    let [a, b, c] = Index::ALL;
    for (n, name) in [a.pk_attr(), a.sk_attr(), b.pk_attr(), b.sk_attr(), c.pk_attr(), c.sk_attr()].iter().enumerate() {
        if let Some(value) = row.get::<_, Option<String>>(n)? {
            item.insert((*name).into(), Value::String(value));
        }
    }
    for (n, name) in attrs.iter().enumerate() {
        let kind: Option<String> = row.get(6 + 2 * n)?;
        let value = match kind.as_deref() {
            None => continue,
            Some("null") => Value::Null,
            Some("true") => Value::Bool(true),
            Some("false") => Value::Bool(false),
            Some("integer") => Value::from(row.get::<_, i64>(7 + 2 * n)?),
            Some("real") => serde_json::Number::from_f64(row.get(7 + 2 * n)?).map_or(Value::Null, Value::Number),
            Some("text") => Value::String(row.get(7 + 2 * n)?),
            Some(_) => serde_json::from_str(&row.get::<_, String>(7 + 2 * n)?)?,
        };
        item.insert((*name).into(), value);
    }
    Ok(Some(item))
}

/// One conditional write (atomic: it runs as one write of the writer).
fn write_one(conn: &Connection, write: Prepared) -> anyhow::Result<Outcome> {
    let Prepared { op, body } = write;
    let key = checked_key(&op)?;
    let current = current_for(conn, &key, &op)?;
    if !condition_of(&op).is_none_or(|c| holds(c, current.as_ref())) {
        return Err(StoreError::ConditionFailed.into());
    }
    let outcome = outcome(op, &key, current, body)?;
    store(conn, &key, &outcome)?;
    Ok(outcome)
}

fn encode_cursor(position: &[String]) -> anyhow::Result<String> {
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(position)?))
}

fn decode_cursor(cursor: &str, len: usize) -> anyhow::Result<Vec<String>> {
    let position: Option<Vec<String>> =
        URL_SAFE_NO_PAD.decode(cursor).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
    position.filter(|p| p.len() == len).ok_or_else(|| invalid("malformed query cursor"))
}

fn run_query(conn: &Connection, query: Query) -> anyhow::Result<Page> {
    let (pk_col, sk_col) = match query.index {
        None => ("pk", "sk"),
        Some(Index::Gsi1) => ("gsi1pk", "gsi1sk"),
        Some(Index::Gsi2) => ("gsi2pk", "gsi2sk"),
        Some(Index::Gsi3) => ("gsi3pk", "gsi3sk"),
    };
    // The order of the rows: the sort key, then the table key to break ties in an index.
    let order: &[&str] = if query.index.is_some() { &[sk_col, "pk", "sk"] } else { &["sk"] };
    // A keys-only index returns keys: read the key columns, not the body.
    let keys_only = query.index.is_some_and(|index| index.projection() == crate::ports::Projection::KeysOnly);
    let first = if keys_only { "NULL" } else { "body" };
    let mut sql =
        format!("SELECT {first}, pk, sk, {pk_col}, {sk_col}, {} FROM items WHERE {pk_col} = ?", order.join(", "));
    let mut args = vec![query.pk];
    match query.sk {
        SkRange::All => {}
        SkRange::Eq(v) => {
            sql += &format!(" AND {sk_col} = ?");
            args.push(v);
        }
        SkRange::BeginsWith(prefix) => {
            sql += &format!(" AND {sk_col} >= ? AND substr({sk_col}, 1, length(?)) = ?");
            args.extend([prefix.clone(), prefix.clone(), prefix]);
        }
        SkRange::Between(low, high) => {
            sql += &format!(" AND {sk_col} BETWEEN ? AND ?");
            args.extend([low, high]);
        }
        SkRange::Ge(v) => {
            sql += &format!(" AND {sk_col} >= ?");
            args.push(v);
        }
        SkRange::Le(v) => {
            sql += &format!(" AND {sk_col} <= ?");
            args.push(v);
        }
    }
    let (after, direction) = if query.ascending { (">", "ASC") } else { ("<", "DESC") };
    if let Some(cursor) = &query.cursor {
        let marks = vec!["?"; order.len()].join(", ");
        sql += &format!(" AND ({}) {after} ({marks})", order.join(", "));
        args.extend(decode_cursor(cursor, order.len())?);
    }
    let order_by: Vec<String> = order.iter().map(|col| format!("{col} {direction}")).collect();
    sql += &format!(" ORDER BY {}", order_by.join(", "));
    if let Some(limit) = query.limit {
        if limit == 0 {
            return Err(invalid("limit must be at least 1"));
        }
        // One row more than asked tells whether another page follows.
        sql += &format!(" LIMIT {}", limit.saturating_add(1));
    }

    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    let mut items = Vec::new();
    let mut last = Vec::new();
    let mut more = false;
    while let Some(row) = rows.next()? {
        if query.limit.is_some_and(|limit| items.len() == limit) {
            more = true;
            break;
        }
        let item = match (query.index, keys_only) {
            (Some(index), true) => {
                let mut item = Item::new();
                for (n, name) in [PK, SK, index.pk_attr(), index.sk_attr()].into_iter().enumerate() {
                    item.insert(name.into(), Value::String(row.get(1 + n)?));
                }
                item
            }
            (Some(index), false) => index.projection().apply(index, serde_json::from_str(&row.get::<_, String>(0)?)?),
            (None, _) => serde_json::from_str(&row.get::<_, String>(0)?)?,
        };
        items.push(item);
        last = (5..5 + order.len()).map(|i| row.get(i)).collect::<Result<_, _>>()?;
    }
    let cursor = if more { Some(encode_cursor(&last)?) } else { None };
    Ok(Page { items, cursor })
}

#[async_trait]
impl ItemStore for EmbeddedStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        self.read(move |conn| load(conn, &key)).await
    }

    async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Item>, StoreError> {
        let keys: BTreeSet<Key> = keys.iter().cloned().collect();
        self.read(move |conn| {
            snapshot(conn, |conn| {
                let mut items = Vec::with_capacity(keys.len());
                for key in &keys {
                    items.extend(load(conn, key)?);
                }
                Ok(items)
            })
        })
        .await
    }

    async fn put(&self, item: Item, condition: Option<Condition>) -> Result<(), StoreError> {
        let write = prepare(WriteOp::Put { item, condition }).map_err(store_error)?;
        self.write(move |conn| write_one(conn, write).map(|_| ())).await
    }

    async fn update(&self, key: &Key, update: Update, condition: Option<Condition>) -> Result<Item, StoreError> {
        let write = Prepared { op: WriteOp::Update { key: key.clone(), update, condition }, body: None };
        match self.write(move |conn| write_one(conn, write)).await? {
            Outcome::Save { item, .. } => Ok(item),
            Outcome::Delete | Outcome::Nothing => Err(StoreError::Unavailable("update wrote no item".into())),
        }
    }

    async fn delete(&self, key: &Key, condition: Option<Condition>) -> Result<(), StoreError> {
        let write = Prepared { op: WriteOp::Delete { key: key.clone(), condition }, body: None };
        self.write(move |conn| write_one(conn, write).map(|_| ())).await
    }

    async fn transact(&self, writes: Vec<WriteOp>) -> Result<(), StoreError> {
        check_transaction(&writes)?;
        if writes.iter().any(|w| matches!(w, WriteOp::Update { update, .. } if *update == Update::default())) {
            // DynamoDB requires an update expression on a transaction's Update.
            return Err(StoreError::Invalid("an update in a transaction needs at least one change".into()));
        }
        let writes = writes.into_iter().map(prepare).collect::<anyhow::Result<Vec<_>>>().map_err(store_error)?;
        self.write(move |conn| {
            let mut failed = Vec::new();
            let mut outcomes = Vec::new();
            for (index, Prepared { op, body }) in writes.into_iter().enumerate() {
                let key = checked_key(&op)?;
                let current = current_for(conn, &key, &op)?;
                if condition_of(&op).is_none_or(|c| holds(c, current.as_ref())) {
                    outcomes.push((key.clone(), outcome(op, &key, current, body)?));
                } else {
                    failed.push(index);
                }
            }
            if !failed.is_empty() {
                return Err(StoreError::TransactionCanceled { failed }.into());
            }
            for (key, outcome) in &outcomes {
                store(conn, key, outcome)?;
            }
            Ok(())
        })
        .await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        self.read(move |conn| run_query(conn, query)).await
    }
}
