//! Item store adapters.
pub mod dynamodb;
pub mod embedded;
pub mod entity;

use crate::ports::{Item, ItemStore, Query, StoreError};

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
