//! Domain entities to and from items: the entity's JSON plus its key and version attributes.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::domain::limits;
use crate::error::OmsError;
use crate::ports::{Index, Item, Key, PK, SK};

/// Attribute that optimistic concurrency conditions test (see `Condition::version_is`).
pub const VERSION: &str = "version";

/// The attributes that list an item in `index` under partition `pk`, ordered by `sk`.
pub fn index_entry(index: Index, pk: String, sk: String) -> [(&'static str, Value); 2] {
    [(index.pk_attr(), pk.into()), (index.sk_attr(), sk.into())]
}

/// An item at `key` listed in the indexes `extra` names; the caller adds its own attributes.
pub fn item_at(key: &Key, extra: &[(&str, Value)]) -> Item {
    let mut item = Item::new();
    set_key(&mut item, key);
    for (name, value) in extra {
        item.insert((*name).into(), value.clone());
    }
    item
}

/// `item` moved to `key` and out of every index, every other attribute kept.
pub fn moved_out_of_indexes(mut item: Item, key: &Key) -> Item {
    for index in Index::ALL {
        item.remove(index.pk_attr());
        item.remove(index.sk_attr());
    }
    set_key(&mut item, key);
    item
}

fn set_key(item: &mut Item, key: &Key) {
    item.insert(PK.into(), key.pk.clone().into());
    item.insert(SK.into(), key.sk.clone().into());
}

/// The item for `entity` at `key`, carrying `version` and any index attributes in `extra`.
pub fn to_item<T: Serialize>(key: &Key, entity: &T, version: u64, extra: &[(&str, Value)]) -> Result<Item, OmsError> {
    let Value::Object(mut item) = serde_json::to_value(entity).map_err(|e| OmsError::Internal(e.into()))? else {
        return Err(OmsError::Internal(anyhow::anyhow!("entity at {key:?} is not a JSON object")));
    };
    set_key(&mut item, key);
    item.insert(VERSION.into(), version.into());
    for (name, value) in extra {
        item.insert((*name).into(), value.clone());
    }
    Ok(item)
}

/// The entity stored in `item`; key attributes are dropped (an entity may keep `version`).
pub fn from_item<T: DeserializeOwned>(mut item: Item, extra: &[&str]) -> Result<T, OmsError> {
    for name in [PK, SK].iter().chain(extra) {
        item.remove(*name);
    }
    serde_json::from_value(Value::Object(item))
        .map_err(|e| OmsError::Internal(anyhow::anyhow!("a stored item no longer reads as its entity: {e}")))
}

/// Refuses an item too large to store (DynamoDB's limit is 400 KB) with a 400 on `field`, the
/// part of the request that makes it grow; `what` names the entity in the message.
pub fn check_item_size(item: &Item, what: &str, field: &str) -> Result<(), OmsError> {
    let size = serde_json::to_string(item).map_or(usize::MAX, |s| s.len());
    if size > limits::MAX_ITEM_BYTES {
        return Err(OmsError::validation(
            field,
            format!("{what} would take {size} bytes when stored; at most {} are accepted", limits::MAX_ITEM_BYTES),
        ));
    }
    Ok(())
}

/// The version attribute of a stored item (0 when absent).
pub fn version_of(item: &Item) -> u64 {
    item.get(VERSION).and_then(Value::as_u64).unwrap_or(0)
}
