//! Every key and index value of the single table is built here. Every key starts with
//! the tenant, so one tenant can never address another's items.

use std::sync::OnceLock;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::allocation::AllocationId;
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

/// Sort key of an outbox record, whose partition is its own (`T#t#OUTBOX#<id>`): a put and a
/// delete for every order change would take one tenant-wide partition past its write limit.
pub const OUTBOX_SK: &str = "OUTBOX";

pub fn outbox(t: &TenantId, id: &str) -> Key {
    Key::new(format!("{}#OUTBOX#{id}", tenant(t)), OUTBOX_SK)
}

/// The id of the outbox record at `key`: its partition's last part, or the sort key of a
/// record written when a tenant's records shared one partition (`T#t#OUTBOX`, sort key the id).
pub fn outbox_id(key: &Key) -> &str {
    match key.pk.rsplit_once('#') {
        Some((_, id)) if key.sk == OUTBOX_SK => id,
        _ => &key.sk,
    }
}

/// Where an outbox record that cannot be sent is kept, out of every index: its tenant's dead
/// letters (`T#t#OUTBOX#DEAD`, sort key the record's id), one partition, as they are rare.
pub fn outbox_dead_letter(record: &Key) -> Key {
    let id = outbox_id(record);
    let tenant_outbox = match record.sk == OUTBOX_SK {
        true => record.pk.strip_suffix(id).and_then(|p| p.strip_suffix('#')).unwrap_or(&record.pk),
        false => &record.pk,
    };
    Key::new(format!("{tenant_outbox}#DEAD"), id)
}

fn outbox_index() -> ShardSet {
    ShardSet::new("OUTBOX", shards().outbox_index)
}

/// GSI3 partition (`OUTBOX#07`) that lists the outbox record `id` among undelivered messages of
/// every tenant: one of [`KeyShards::outbox_index`], by the id's hash. GSI3 copies keys only, so
/// an entry costs one write unit however large the message it lists.
pub fn outbox_index_partition(id: &str) -> String {
    outbox_index().of(id)
}

/// Every GSI3 partition of the outbox index, which the relay reads.
pub fn outbox_index_partitions() -> impl Iterator<Item = String> {
    outbox_index().all()
}

/// The GSI1 partitions that listed outbox records before the index moved to GSI3 (GSI1 copies
/// whole items, so each entry cost as much as its message): the one partition every tenant's
/// records once shared, and its shards. The relay still reads them, so a record an older
/// version wrote and never sent is sent after an upgrade.
pub fn legacy_outbox_index_partitions() -> impl Iterator<Item = String> {
    std::iter::once("OUTBOX".to_owned()).chain(outbox_index_partitions())
}

/// Index sort key of an outbox record: oldest first, so the relay can stop at a cutoff time.
pub fn outbox_index_sort(written: DateTime<Utc>, id: &str) -> String {
    format!("{}#{id}", timestamp(written))
}

/// The index sort key bound that selects outbox records written at or before `cutoff`.
pub fn outbox_index_cutoff(cutoff: DateTime<Utc>) -> String {
    timestamp(cutoff)
}

/// FNV-1a: stable across builds, unlike the std hasher.
fn fnv1a(text: &str) -> u32 {
    text.bytes().fold(0x811c_9dc5_u32, |hash, byte| (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193))
}

/// A partition key spread over shards, `<base>#00`, `<base>#01`, ...: a writer picks one by a
/// stable hash of what it writes, a reader reads them all.
struct ShardSet {
    base: String,
    count: u32,
}

impl ShardSet {
    fn new(base: impl Into<String>, count: u32) -> Self {
        Self { base: base.into(), count: count.max(1) }
    }

    /// The shard `text` hashes to.
    fn of(&self, text: &str) -> String {
        format!("{}#{:02}", self.base, fnv1a(text) % self.count)
    }

    /// Every shard.
    fn all(self) -> impl Iterator<Item = String> {
        (0..self.count).map(move |n| format!("{}#{n:02}", self.base))
    }
}

/// The partition that held every change-tracker record of a tenant before they were sharded.
fn change_tracker_legacy(t: &TenantId) -> String {
    format!("{}#OCT", tenant(t))
}

/// Every partition of a tenant's change-tracker records: the legacy one and the shards. Each
/// is sorted by time; readers merge them.
pub fn change_tracker_partitions(t: &TenantId) -> impl Iterator<Item = String> {
    std::iter::once(change_tracker_legacy(t)).chain(change_tracker_shards(t).all())
}

fn change_tracker_shards(t: &TenantId) -> ShardSet {
    ShardSet::new(change_tracker_legacy(t), shards().change_tracker)
}

/// A change-tracker record, in the shard (`T#t#OCT#07`) its order hashes to: one order's
/// changes stay in order in one partition, and a single "now" does not take every write.
pub fn change_tracker(t: &TenantId, time: DateTime<Utc>, order: &OrderId, change_id: &str) -> Key {
    let sort = format!("{}#{}#{change_id}", timestamp(time), order.as_str());
    Key::new(change_tracker_shards(t).of(order.as_str()), sort)
}

/// Sortable UTC timestamp used inside sort keys.
pub fn timestamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Marker written once the demo data has been loaded.
pub fn demo_marker(t: &TenantId) -> Key {
    Key::new(format!("{}#META", tenant(t)), "DEMO")
}

pub fn allocation(t: &TenantId, id: &AllocationId) -> Key {
    Key::new(format!("{}#ALLOC#{}", tenant(t), id.as_str()), "ALLOC")
}

/// GSI1 partition that listed every allocation of a tenant, sorted by `updatedAt`, before the
/// listing moved to the sharded keys-only [`allocation_listing`]. Documents not written since
/// are still there, so readers read it too.
pub fn allocations_by_update(t: &TenantId) -> String {
    format!("{}#ALLOC", tenant(t))
}

/// GSI3 (keys only) entry that lists an allocation among its tenant's: partition
/// `T#t#ALLOC#07` by the id's hash, sort key the id. Neither changes when the document does,
/// so only its creation writes the index.
pub fn allocation_listing(t: &TenantId, id: &AllocationId) -> (String, String) {
    (allocation_listing_shards(t).of(id.as_str()), id.as_str().to_owned())
}

/// Every GSI3 partition that lists a tenant's allocations.
pub fn allocation_listing_partitions(t: &TenantId) -> impl Iterator<Item = String> {
    allocation_listing_shards(t).all()
}

fn allocation_listing_shards(t: &TenantId) -> ShardSet {
    ShardSet::new(allocations_by_update(t), shards().allocation_listing)
}

/// GSI2 partition of one order's allocations.
pub fn allocations_of_order(t: &TenantId, order: &OrderId) -> String {
    format!("{}#ORDERALLOC#{}", tenant(t), order.as_str())
}

/// GSI2 partition that listed every stock row of a tenant before the listing was sharded.
fn stock_rows(t: &TenantId) -> String {
    format!("{}#STOCK", tenant(t))
}

/// Shards of the GSI2 stock listing of the previous key design.
const LEGACY_STOCK_INDEX_SHARDS: u32 = 16;

/// Every GSI2 partition that listed stock rows before the listing moved to GSI3: rows not
/// written since (reservations do not move them) are still there, so reconcile reads them too.
pub fn legacy_stock_rows_partitions(t: &TenantId) -> impl Iterator<Item = String> {
    std::iter::once(stock_rows(t)).chain(ShardSet::new(stock_rows(t), LEGACY_STOCK_INDEX_SHARDS).all())
}

/// GSI3 (keys only) partition (`T#t#STOCK#07`) that lists one stock shard row, by the hash of
/// item, location and shard. The index holds keys only and a reservation changes none, so
/// only a row's creation writes the index.
pub fn stock_rows_partition(t: &TenantId, item: &ItemId, location: &LocationId, shard: u32) -> String {
    stock_listing_shards(t).of(&format!("{item}#{location}#{shard}"))
}

/// Every GSI3 partition that lists the tenant's stock rows.
pub fn stock_rows_partitions(t: &TenantId) -> impl Iterator<Item = String> {
    stock_listing_shards(t).all()
}

fn stock_listing_shards(t: &TenantId) -> ShardSet {
    ShardSet::new(stock_rows(t), shards().stock_listing)
}

/// GSI3 sort key of a stock shard row.
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

/// Every partition of a tenant's journals (changes too large for one transaction, while they
/// run): a reader of them all queries each.
pub fn journal_partitions(t: &TenantId) -> impl Iterator<Item = String> {
    journal_shards(t).all()
}

fn journal_shards(t: &TenantId) -> ShardSet {
    ShardSet::new(format!("{}#JOURNAL", tenant(t)), shards().journals)
}

/// A journal, in the partition its id hashes to: a large change rewrites its journal at every
/// step, and one partition for a tenant's journals would cap them together.
pub fn journal(t: &TenantId, id: &str) -> Key {
    Key::new(journal_shards(t).of(id), id)
}

/// GSI3 (keys only) partition (`T#t#ORDERS#1000-1500#07`) that lists an order among those
/// whose units span `bucket` (its min and max fulfillment status, see
/// [`order_status_bucket`]), by the order id's hash. Mass allocation and order search read the
/// buckets their query can match: an index, never a scan. Only a change of bucket writes it.
pub fn orders_by_status_partition(t: &TenantId, bucket: &str, order: &OrderId) -> String {
    orders_by_status_shards(t, bucket).of(order.as_str())
}

/// Every GSI3 partition of one status bucket.
pub fn orders_by_status_partitions(t: &TenantId, bucket: &str) -> impl Iterator<Item = String> {
    orders_by_status_shards(t, bucket).all()
}

fn orders_by_status_shards(t: &TenantId, bucket: &str) -> ShardSet {
    ShardSet::new(format!("{}#ORDERS#{bucket}", tenant(t)), shards().order_status)
}

/// The status bucket of an order whose units span `min..=max` (`"1000-1500"`), or of an order
/// with no units (`"none"`).
pub fn order_status_bucket(range: Option<(u32, u32)>) -> String {
    match range {
        Some((min, max)) => format!("{min}-{max}"),
        None => "none".to_owned(),
    }
}

/// GSI3 sort key of an order in its status bucket: oldest first.
pub fn orders_by_status_sort(created: DateTime<Utc>, order: &OrderId) -> String {
    format!("{}#{}", timestamp(created), order.as_str())
}

/// The partition of a tenant's order lifecycle configuration: order types and message
/// templates, read whole by their listings (a handful of small items).
pub fn order_config_partition(t: &TenantId) -> String {
    format!("{}#ORDER_CONFIG", tenant(t))
}

/// Sort-key prefix of order type configurations in [`order_config_partition`].
pub const ORDER_TYPE_PREFIX: &str = "ORDER_TYPE#";
/// Sort-key prefix of message templates in [`order_config_partition`].
pub const MESSAGE_TEMPLATE_PREFIX: &str = "MESSAGE_TEMPLATE#";

/// An order type's configuration (modification types and rules, milestones, monitoring).
pub fn order_type(t: &TenantId, order_type_id: &str) -> Key {
    Key::new(order_config_partition(t), format!("{ORDER_TYPE_PREFIX}{order_type_id}"))
}

/// A custom message template of PublishEmail / PublishText.
pub fn message_template(t: &TenantId, template_id: &str) -> Key {
    Key::new(order_config_partition(t), format!("{MESSAGE_TEMPLATE_PREFIX}{template_id}"))
}

/// The partition of an order's release documents (one per release to a location).
pub fn releases_partition(t: &TenantId, order: &OrderId) -> String {
    format!("{}#RELEASES#{}", tenant(t), order.as_str())
}

/// A release document of an order: numbered per order, so a repeated release finds its own.
pub fn release(t: &TenantId, order: &OrderId, release_id: &str) -> Key {
    Key::new(releases_partition(t, order), release_id.to_owned())
}

/// A job execution (a mass action, a scheduled job's run): its own partition, since its
/// counters are updated as the job's chunks finish.
pub fn job(t: &TenantId, job_schedule_id: &str) -> Key {
    Key::new(format!("{}#JOB#{job_schedule_id}", tenant(t)), "JOB")
}

/// GSI3 (keys only) entry that lists a job execution among its tenant's, newest last: the
/// partition `T#t#JOBS`, the sort key its creation time and id. It never changes.
pub fn job_listing(t: &TenantId, created: DateTime<Utc>, job_schedule_id: &str) -> (String, String) {
    (jobs_partition(t), format!("{}#{job_schedule_id}", timestamp(created)))
}

/// The GSI3 partition that lists a tenant's job executions.
pub fn jobs_partition(t: &TenantId) -> String {
    format!("{}#JOBS", tenant(t))
}

/// Held while a tenant's mass action job is InProgress: created with the job (only if absent),
/// deleted when the job completes or is aborted, so two requests cannot both start one.
pub fn mass_action_lock(t: &TenantId) -> Key {
    Key::new(format!("{}#META", tenant(t)), "MASS_ACTION_LOCK")
}

/// Shards of one job's per-order results: a job writes one result per order at thousands a
/// second, more than one partition takes.
const JOB_RESULT_SHARDS: u32 = 16;

fn job_result_shards(t: &TenantId, job_schedule_id: &str) -> ShardSet {
    ShardSet::new(format!("{}#JOBRESULT#{job_schedule_id}", tenant(t)), JOB_RESULT_SHARDS)
}

/// Sort-key prefix of per-order results (chunk markers share the partitions).
pub const JOB_RESULT_PREFIX: &str = "O#";

/// The result of one order in a job, in the shard its id hashes to.
pub fn job_result(t: &TenantId, job_schedule_id: &str, order: &OrderId) -> Key {
    Key::new(job_result_shards(t, job_schedule_id).of(order.as_str()), format!("{JOB_RESULT_PREFIX}{order}"))
}

/// Every partition of a job's results, in a fixed order (a results cursor names one).
pub fn job_result_partitions(t: &TenantId, job_schedule_id: &str) -> Vec<String> {
    job_result_shards(t, job_schedule_id).all().collect()
}

/// Marks a job's chunk as counted into the job's counters, so a redelivered chunk adds nothing.
pub fn job_chunk(t: &TenantId, job_schedule_id: &str, chunk: &str) -> Key {
    Key::new(job_result_shards(t, job_schedule_id).of(chunk), format!("C#{chunk}"))
}

/// Partition of a dry run's simulated stock of one item: one row per location, the units the
/// run may still take there.
pub fn job_simulated_stock_partition(t: &TenantId, job_schedule_id: &str, item: &ItemId) -> String {
    format!("{}#JOBSIM#{job_schedule_id}#{}", tenant(t), item.as_str())
}

pub fn job_simulated_stock(t: &TenantId, job_schedule_id: &str, item: &ItemId, location: &LocationId) -> Key {
    Key::new(job_simulated_stock_partition(t, job_schedule_id, item), location.as_str())
}

/// Sort key of an order's milestone check, beside the order in its partition.
pub const MILESTONE_CHECK_SK: &str = "MILESTONE_CHECK";

/// An order's milestone check: an item beside the order that exists while something of the
/// order is due (`MilestoneCheckAt`), listed by due time in [`milestone_due_partition`].
pub fn milestone_check(t: &TenantId, order: &OrderId) -> Key {
    Key::new(self::order(t, order).pk, MILESTONE_CHECK_SK)
}

/// GSI3 (keys only) partition (`T#t#MSDUE#07`) that lists an order's milestone check by due
/// time, by the order id's hash: one minute's checks spread over every shard, and the milestone
/// scheduler reads each shard up to now. Only a change of due time writes it.
pub fn milestone_due_partition(t: &TenantId, order: &OrderId) -> String {
    milestone_due_shards(t).of(order.as_str())
}

/// Every GSI3 partition of a tenant's milestone checks.
pub fn milestone_due_partitions(t: &TenantId) -> impl Iterator<Item = String> {
    milestone_due_shards(t).all()
}

fn milestone_due_shards(t: &TenantId) -> ShardSet {
    ShardSet::new(format!("{}#MSDUE", tenant(t)), shards().milestone_due)
}

/// GSI3 sort key of a milestone check: its due time, then the order id.
pub fn milestone_due_sort(due: DateTime<Utc>, order: &OrderId) -> String {
    format!("{}#{}", timestamp(due), order.as_str())
}

/// The GSI3 sort key bound that selects checks due at or before `now` (`~` sorts after `#`).
pub fn milestone_due_cutoff(now: DateTime<Utc>) -> String {
    format!("{}~", timestamp(now))
}

/// The order id in a milestone check's GSI3 sort key.
pub fn milestone_due_order(sort: &str) -> Option<&str> {
    sort.split_once('#').map(|(_, order)| order).filter(|id| !id.is_empty())
}

/// The partition that lists every tenant with scheduled work (its milestone checks, its job
/// schedules): what a scheduled Lambda reads to know whose work to run. It is written once per
/// tenant and process, so it is never hot.
pub const SCHEDULED_TENANTS_PK: &str = "SCHEDULED_TENANTS";

/// A tenant's entry in [`SCHEDULED_TENANTS_PK`] (sort key: the tenant id).
pub fn scheduled_tenant(t: &TenantId) -> Key {
    Key::new(SCHEDULED_TENANTS_PK, t.as_str())
}

/// A stored log level of one logger for a tenant (read by every function).
pub fn log_level(t: &TenantId, logger: &str) -> Key {
    Key::new(format!("{}#META", tenant(t)), format!("LOGLEVEL#{logger}"))
}

/// How many partitions each sharded key is spread over. Writers pick a shard by hash; readers
/// read every shard, so a count may be raised (readers then see the old shards and the new)
/// but never lowered: records in the shards above the new count would no longer be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyShards {
    /// GSI3 partitions listing undelivered outbox records, shared by every tenant: each order
    /// change writes its record's entry and deletes it (`OMS_SHARDS_OUTBOX_INDEX`).
    pub outbox_index: u32,
    /// Base partitions of one tenant's change-tracker records (`OMS_SHARDS_CHANGE_TRACKER`).
    pub change_tracker: u32,
    /// GSI3 partitions listing one tenant's allocations (`OMS_SHARDS_ALLOCATION_LISTING`).
    pub allocation_listing: u32,
    /// GSI3 partitions listing one tenant's stock rows (`OMS_SHARDS_STOCK_LISTING`).
    pub stock_listing: u32,
    /// Base partitions of one tenant's journals (`OMS_SHARDS_JOURNALS`).
    pub journals: u32,
    /// GSI3 partitions of each order status bucket of one tenant (`OMS_SHARDS_ORDER_STATUS`).
    pub order_status: u32,
    /// GSI3 partitions of one tenant's milestone checks by due time (`OMS_SHARDS_MILESTONE_DUE`).
    pub milestone_due: u32,
}

impl KeyShards {
    /// Counts that keep one tenant at 10,000 order changes a second under every partition's
    /// limit (README, "Scaling on DynamoDB"; `cargo run -p partition-heat` prints the figures).
    pub const DEFAULT: KeyShards = KeyShards {
        outbox_index: 256,
        change_tracker: 32,
        allocation_listing: 32,
        stock_listing: 16,
        journals: 16,
        order_status: 32,
        milestone_due: 64,
    };

    /// The environment variables that set the counts, each with the count it sets.
    fn variables(&mut self) -> [(&'static str, &mut u32); 7] {
        [
            ("OMS_SHARDS_OUTBOX_INDEX", &mut self.outbox_index),
            ("OMS_SHARDS_CHANGE_TRACKER", &mut self.change_tracker),
            ("OMS_SHARDS_ALLOCATION_LISTING", &mut self.allocation_listing),
            ("OMS_SHARDS_STOCK_LISTING", &mut self.stock_listing),
            ("OMS_SHARDS_JOURNALS", &mut self.journals),
            ("OMS_SHARDS_ORDER_STATUS", &mut self.order_status),
            ("OMS_SHARDS_MILESTONE_DUE", &mut self.milestone_due),
        ]
    }

    /// The counts the environment sets, the defaults for the others. A count is a whole number
    /// from its default (fewer would hide records already written) to 1,000.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<Self> {
        let mut shards = Self::DEFAULT;
        for (name, count) in shards.variables() {
            let Some(text) = lookup(name).filter(|v| !v.trim().is_empty()) else { continue };
            let least = *count;
            match text.trim().parse::<u32>() {
                Ok(n) if (least..=1000).contains(&n) => *count = n,
                _ => anyhow::bail!("{name} must be a whole number from {least} to 1000, not {text:?}"),
            }
        }
        Ok(shards)
    }
}

static SHARDS: OnceLock<KeyShards> = OnceLock::new();

/// Installs this process's shard counts (from its configuration) before the first key is built.
/// Counts cannot change once a key was built: the first counts stay, and `false` says so.
pub fn use_shards(shards: KeyShards) -> bool {
    SHARDS.set(shards).is_ok() || SHARDS.get() == Some(&shards)
}

/// The shard counts in use: those installed by [`use_shards`], or the defaults.
pub fn shards() -> KeyShards {
    *SHARDS.get_or_init(|| KeyShards::DEFAULT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_shard_count_is_below_its_default_should_refuse_it_naming_the_variable() {
        let err = KeyShards::from_lookup(|name| (name == "OMS_SHARDS_CHANGE_TRACKER").then(|| "8".into())).unwrap_err();
        assert!(err.to_string().contains("OMS_SHARDS_CHANGE_TRACKER"), "{err}");
    }

    #[test]
    fn when_a_shard_count_is_raised_should_use_it_and_keep_the_other_defaults() {
        let shards = KeyShards::from_lookup(|name| (name == "OMS_SHARDS_OUTBOX_INDEX").then(|| "512".into())).unwrap();
        assert_eq!(shards, KeyShards { outbox_index: 512, ..KeyShards::DEFAULT });
    }

    #[test]
    fn an_outbox_record_and_a_legacy_one_should_both_have_their_id_and_dead_letter_key() {
        let tenant = TenantId::parse("acme").unwrap();
        let record = outbox(&tenant, "01JABC");
        assert_eq!(outbox_id(&record), "01JABC");
        assert_eq!(outbox_dead_letter(&record), Key::new("T#acme#OUTBOX#DEAD", "01JABC"));
        let legacy = Key::new("T#acme#OUTBOX", "01JOLD");
        assert_eq!(outbox_id(&legacy), "01JOLD");
        assert_eq!(outbox_dead_letter(&legacy), Key::new("T#acme#OUTBOX#DEAD", "01JOLD"));
    }

    #[test]
    fn a_records_shard_should_not_change_between_builds() {
        // Records already written are read in the shard their hash named: these must not move.
        let tenant = TenantId::parse("acme").unwrap();
        // The outbox index went from 64 to 256 shards: a record written under 64 sits in a shard
        // below 64, which the relay still reads (it reads every shard below the count).
        assert_eq!(outbox_index_partition("01JABC"), "OUTBOX#112");
        assert!(outbox_index_partitions().any(|p| p == "OUTBOX#48"));
        let order = OrderId::parse_at("orderId", "O-1").unwrap();
        assert_eq!(change_tracker(&tenant, Utc::now(), &order, "c1").pk, "T#acme#OCT#08");
        let (item, location) = (ItemId::parse_at("i", "SKU-1").unwrap(), LocationId::parse_at("l", "DC-1").unwrap());
        assert_eq!(stock_rows_partition(&tenant, &item, &location, 3), "T#acme#STOCK#08");
        assert_eq!(journal(&tenant, "j1").pk, "T#acme#JOURNAL#04");
    }

    #[test]
    fn every_sharded_key_should_land_in_a_partition_its_readers_read() {
        let tenant = TenantId::parse("acme").unwrap();
        let order = OrderId::parse_at("orderId", "O-1").unwrap();
        let tracker = change_tracker(&tenant, Utc::now(), &order, "c1");
        assert!(change_tracker_partitions(&tenant).any(|p| p == tracker.pk));
        let journal_key = journal(&tenant, "j1");
        assert!(journal_partitions(&tenant).any(|p| p == journal_key.pk));
        let (item, location) = (ItemId::parse_at("i", "SKU-1").unwrap(), LocationId::parse_at("l", "DC-1").unwrap());
        let row = stock_rows_partition(&tenant, &item, &location, 3);
        assert!(stock_rows_partitions(&tenant).any(|p| p == row));
        assert!(outbox_index_partitions().any(|p| p == outbox_index_partition("01JABC")));
    }
}
