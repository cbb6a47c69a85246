//! Item store adapters.
pub mod dynamodb;
pub mod embedded;
pub mod entity;

use crate::ports::{Item, ItemStore, Key, Query, StoreError};

/// Every item the query matches, following the cursor page after page.
pub async fn query_all(store: &dyn ItemStore, query: Query) -> Result<Vec<Item>, StoreError> {
    let mut items = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.query(query.clone().cursor(cursor)).await?;
        let more = page.cursor.is_some() && !page.items.is_empty();
        items.extend(page.items);
        match page.cursor {
            Some(next) if more => cursor = Some(next),
            _ => return Ok(items),
        }
    }
}

/// Every item of every query, the queries run concurrently: a listing sharded over partitions.
pub async fn query_every(
    store: &dyn ItemStore,
    queries: impl IntoIterator<Item = Query>,
) -> Result<Vec<Item>, StoreError> {
    let pages = futures::future::join_all(queries.into_iter().map(|query| query_all(store, query))).await;
    let mut items = Vec::new();
    for page in pages {
        items.extend(page?);
    }
    Ok(items)
}

/// The whole items the listings (index queries, keys-only or not) name, read consistently once
/// every listing is read: an item listed twice comes once, one deleted since not at all.
pub async fn read_listed(
    store: &dyn ItemStore,
    listings: impl IntoIterator<Item = Query>,
) -> Result<Vec<Item>, StoreError> {
    let listed = query_every(store, listings).await?;
    let keys: Vec<Key> = listed.iter().filter_map(Key::of).collect();
    store.batch_get(&keys).await
}
