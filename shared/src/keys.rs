//! Every key and index value of the single table is built here. Every key starts with
//! the tenant, so one tenant can never address another's items.

use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::ids::{ItemId, LocationId, OrderId, TenantId};
use crate::ports::Key;

fn tenant(t: &TenantId) -> String {
    format!("T#{}", t.as_str())
}

pub fn order(t: &TenantId, id: &OrderId) -> Key {
    Key::new(format!("{}#ORDER#{}", tenant(t), id.as_str()), "ORDER")
}

pub fn locations_partition(t: &TenantId) -> String {
    format!("{}#LOC", tenant(t))
}

pub fn location(t: &TenantId, id: &LocationId) -> Key {
    Key::new(locations_partition(t), id.as_str())
}

/// Stock of one item: one partition per item, one row per location, so availability of an
/// unsharded item is a single query (a sharded item's shard 0, see [`stock_shard_partition`]).
pub fn stock_partition(t: &TenantId, item: &ItemId) -> String {
    format!("{}#STOCK#{}", tenant(t), item.as_str())
}

pub fn stock(t: &TenantId, item: &ItemId, location: &LocationId) -> Key {
    Key::new(stock_partition(t, item), location.as_str())
}

/// Partition of shard `shard` of an item's stock. Shard 0 is the item's own partition (the
/// row an unsharded item has always had); shard k > 0 gets a partition of its own
/// (`...#STOCK#SKU-1#S3`), so DynamoDB can spread a hot item's shards over its partitions.
/// Ids cannot contain `#`, so no item's partition looks like another's shard.
pub fn stock_shard_partition(t: &TenantId, item: &ItemId, shard: u32) -> String {
    match shard {
        0 => stock_partition(t, item),
        k => format!("{}#S{k}", stock_partition(t, item)),
    }
}

/// Shard `shard` of the stock of `item` at `location`; shard 0 is [`stock`].
pub fn stock_shard(t: &TenantId, item: &ItemId, location: &LocationId, shard: u32) -> Key {
    Key::new(stock_shard_partition(t, item, shard), location.as_str())
}

/// How many shards an item's stock has at every location. It sits in shard 0's partition under a
/// sort key no location id can take (ids cannot contain `#`), and is absent for one shard.
pub fn stock_shard_count(t: &TenantId, item: &ItemId) -> Key {
    Key::new(stock_partition(t, item), STOCK_SHARD_COUNT_SK)
}

/// Sort key of [`stock_shard_count`], which readers of the stock partition skip.
pub const STOCK_SHARD_COUNT_SK: &str = "#SHARDS";

pub fn idempotency(t: &TenantId, route: &str, key: &str) -> Key {
    Key::new(format!("{}#IDEM#{route}#{key}", tenant(t)), "IDEM")
}

/// Part `n` of a large recorded response, beside its idempotency record.
pub fn idempotency_part(record: &Key, n: usize) -> Key {
    Key::new(record.pk.clone(), format!("PART#{n:05}"))
}

pub fn outbox(t: &TenantId, id: &str) -> Key {
    Key::new(format!("{}#OUTBOX", tenant(t)), id)
}

/// Where an outbox record that cannot be sent is kept: its tenant's, out of every index.
pub fn outbox_dead_letter(record: &Key) -> Key {
    Key::new(format!("{}#DEAD", record.pk), record.sk.clone())
}

/// Shards of the outbox index: every tenant's undelivered messages in one partition would make
/// it the hottest partition of the table.
pub const OUTBOX_SHARDS: u32 = 16;

fn outbox_shard(shard: u32) -> String {
    format!("OUTBOX#{shard:02}")
}

/// GSI1 partition (`OUTBOX#07`) that lists the outbox record `id` among undelivered messages of
/// every tenant, chosen by FNV-1a of the id: stable across builds, unlike the std hasher.
pub fn outbox_index_partition(id: &str) -> String {
    outbox_shard(fnv1a(id) % OUTBOX_SHARDS)
}

/// FNV-1a: stable across builds, unlike the std hasher.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

/// Every GSI1 partition of the outbox index: the relay reads them all.
pub fn outbox_index_partitions() -> impl Iterator<Item = String> {
    (0..OUTBOX_SHARDS).map(outbox_shard)
}

/// GSI1 sort key of an outbox record: oldest first, so the relay can stop at a cutoff time.
pub fn outbox_index_sort(written: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", timestamp(written))
}

/// The GSI1 sort key bound that selects outbox records written at or before `cutoff`.
pub fn outbox_index_cutoff(cutoff: DateTime<Utc>) -> String {
    timestamp(cutoff)
}

pub fn change_tracker_partition(t: &TenantId) -> String {
    format!("{}#OCT", tenant(t))
}

pub fn change_tracker(t: &TenantId, time: DateTime<Utc>, order: &OrderId, change_id: &str) -> Key {
    Key::new(change_tracker_partition(t), format!("{}#{}#{change_id}", timestamp(time), order.as_str()))
}

/// Sortable UTC timestamp used inside sort keys.
pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Marker written once the demo data has been loaded.
pub fn demo_marker(t: &TenantId) -> Key {
    Key::new(format!("{}#META", tenant(t)), "DEMO")
}

pub fn allocation(t: &TenantId, id: &crate::domain::allocation::AllocationId) -> Key {
    Key::new(format!("{}#ALLOC#{}", tenant(t), id.as_str()), "ALLOC")
}

/// GSI1 partition of a tenant's allocations, sorted by `updatedAt` (the query endpoint).
pub fn allocations_by_update(t: &TenantId) -> String {
    format!("{}#ALLOC", tenant(t))
}

/// GSI2 partition of one order's allocations.
pub fn allocations_of_order(t: &TenantId, order: &OrderId) -> String {
    format!("{}#ORDERALLOC#{}", tenant(t), order.as_str())
}

/// GSI2 partition that listed every stock row of a tenant before the listing was sharded: rows
/// written since only reservations touched them are still listed here (reconcile reads it too).
pub fn stock_rows(t: &TenantId) -> String {
    format!("{}#STOCK", tenant(t))
}

/// Shards of the stock-row listing (GSI2) of a tenant. The index projects every attribute, so
/// each reservation also writes the row's index entry: one index partition for all of a
/// tenant's stock would cap every item's reservations together at one partition's write rate.
pub const STOCK_INDEX_SHARDS: u32 = 16;

/// GSI2 partition (`T#t#STOCK#07`) that lists one stock shard row, by FNV-1a of item, location
/// and shard, so the shards of a hot item land in different index partitions.
pub fn stock_rows_partition(t: &TenantId, item: &ItemId, location: &LocationId, shard: u32) -> String {
    let text = format!("{item}#{location}#{shard}");
    format!("{}#{:02}", stock_rows(t), fnv1a(&text) % STOCK_INDEX_SHARDS)
}

/// Every GSI2 partition that lists the tenant's stock rows, the unsharded one included.
pub fn stock_rows_partitions(t: &TenantId) -> impl Iterator<Item = String> {
    let base = stock_rows(t);
    std::iter::once(base.clone()).chain((0..STOCK_INDEX_SHARDS).map(move |n| format!("{base}#{n:02}")))
}

/// GSI2 sort key of a stock shard row.
pub fn stock_rows_sort(item: &ItemId, location: &LocationId, shard: u32) -> String {
    match shard {
        0 => format!("{item}#{location}"),
        k => format!("{item}#{location}#S{k}"),
    }
}

/// Allocation settings of a tenant (strategy).
pub fn allocation_settings(t: &TenantId) -> Key {
    Key::new(format!("{}#META", tenant(t)), "ALLOCATION_SETTINGS")
}

/// Partition of a tenant's journals: changes too large for one transaction, while they run.
pub fn journals(t: &TenantId) -> String {
    format!("{}#JOURNAL", tenant(t))
}

pub fn journal(t: &TenantId, id: &str) -> Key {
    Key::new(journals(t), id)
}
