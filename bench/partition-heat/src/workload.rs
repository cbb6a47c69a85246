//! The workload: one tenant's order changes at a fixed rate, through the real services, on the
//! embedded in-memory store wrapped by a [`HeatRecorder`], on a clock that only moves when the
//! driver moves it (nothing sleeps).
//!
//! Setup (not recorded): locations, a catalog with supply at a few locations per item. Then each
//! change picks an [`Operation`] from a weighted mix, runs it, delivers the change-tracker
//! messages it queued through the queue consumer, and once per simulated second runs the outbox
//! relay. New operations are added to [`Operation`], [`Operation::ALL`] and the mix.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use futures::FutureExt;
use oms_core::deps::Deps;
use oms_core::domain::allocation::{
    Allocation, AllocationEventRequest, AllocationItem, ReallocateRequest, UpdateAllocationRequest,
};
use oms_core::domain::caller::Caller;
use oms_core::domain::ids::{OrderId, TenantId, UserId};
use oms_core::domain::inventory::SupplyRequest;
use oms_core::domain::location::UpsertLocationRequest;
use oms_core::domain::order::SaveOrderRequest;
use oms_core::error::OmsError;
use oms_core::jobs::{batch, dispatch};
use oms_core::ports::{Clock, IdSource, QueueName};
use oms_core::service::lifecycle::{self, cancel::CancelOrderRequest};
use oms_core::service::stock::ShardCountRequest;
use oms_core::service::{allocation, inventory, mass_allocate, orders};
use oms_core::sqlite::SqliteDb;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::recorder::{HeatConfig, HeatRecorder};

/// The tenant whose changes are simulated.
pub const TENANT: &str = "heat";

/// A clock the driver moves; time stands still in between.
pub struct SimClock(Mutex<DateTime<Utc>>);

impl SimClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }
    pub fn set(&self, at: DateTime<Utc>) {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = at;
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Ids as the services make them (ULIDs: the time in milliseconds, then 80 random bits), from the
/// simulated clock and a seeded generator, so a run with the same seed hashes the same ids to
/// the same shards: the heat of sharded keys is then the same on every run.
pub struct SeededIds {
    clock: Arc<SimClock>,
    rng: Mutex<StdRng>,
}

impl SeededIds {
    pub fn new(clock: Arc<SimClock>, seed: u64) -> Self {
        Self { clock, rng: Mutex::new(StdRng::seed_from_u64(seed)) }
    }
}

impl IdSource for SeededIds {
    fn new_id(&self) -> String {
        let random: u128 = self.rng.lock().unwrap_or_else(std::sync::PoisonError::into_inner).random();
        let millis = u64::try_from(self.clock.now().timestamp_millis()).unwrap_or_default();
        ulid::Ulid::from_parts(millis, random).to_string()
    }
}

/// One kind of order change the mix can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    /// Save Order of a new order (1-4 lines, popular items more often).
    SaveNewOrder,
    /// Save Order again of a saved order (a changed price).
    ResaveOrder,
    /// Allocate a saved order, as the order-created event does (`POST /allocation/`).
    Allocate,
    /// Reallocate an allocated order's allocations elsewhere (`PUT /allocation/reallocate`).
    Reallocate,
    /// Cancel an allocated order's allocations (`PUT /allocation/cancel/{ids}`).
    CancelAllocation,
    /// A supply sync of a few items at their locations (`POST /inventory/api/supply`).
    SupplySync,
    /// Move one unit of one allocation line elsewhere (`PUT /allocation/reallocate` with items).
    MoveLine,
    /// Scratch one unit of one allocation line (`PUT /allocation/{id}` with `scratchQuantity`).
    ScratchItem,
    /// Ship one unit of one allocation line (`PUT /allocation/{id}` with `shippedQuantity`).
    ShipItem,
    /// A mass allocate job over up to 20 waiting orders (`POST .../massAction` with
    /// `OrderId IN (...)`): the job record and lock, its plan and its chunk, drained at once.
    MassAllocate,
    /// Cancel one unit of an order's first line (`POST /order/api/order/order/cancel`): its
    /// reservation released with it when the unit was allocated.
    CancelOrderUnit,
    /// Save Order with a new ship-to city (UpdateShipToAddress: the default configuration drops
    /// the line to Open, releases its reservations and the pipeline allocates it again).
    ChangeAddress,
}

impl Operation {
    pub const ALL: [Operation; 12] = [
        Operation::SaveNewOrder,
        Operation::ResaveOrder,
        Operation::Allocate,
        Operation::Reallocate,
        Operation::CancelAllocation,
        Operation::SupplySync,
        Operation::MoveLine,
        Operation::ScratchItem,
        Operation::ShipItem,
        Operation::MassAllocate,
        Operation::CancelOrderUnit,
        Operation::ChangeAddress,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Operation::SaveNewOrder => "save new order",
            Operation::ResaveOrder => "re-save order",
            Operation::Allocate => "allocate order",
            Operation::Reallocate => "reallocate",
            Operation::CancelAllocation => "cancel allocation",
            Operation::SupplySync => "supply sync",
            Operation::MoveLine => "move a line's unit",
            Operation::ScratchItem => "scratch an item",
            Operation::ShipItem => "ship an item",
            Operation::MassAllocate => "mass allocate 20 orders",
            Operation::CancelOrderUnit => "cancel an order unit",
            Operation::ChangeAddress => "change a ship-to address",
        }
    }

    /// The default mix, in percent.
    pub fn default_mix() -> Vec<(Operation, u32)> {
        vec![
            (Operation::SaveNewOrder, 40),
            (Operation::ResaveOrder, 10),
            (Operation::Allocate, 29),
            (Operation::Reallocate, 3),
            (Operation::CancelAllocation, 4),
            (Operation::SupplySync, 5),
            (Operation::MoveLine, 2),
            (Operation::ScratchItem, 2),
            (Operation::ShipItem, 2),
            (Operation::MassAllocate, 1),
            (Operation::CancelOrderUnit, 1),
            (Operation::ChangeAddress, 1),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct WorkloadConfig {
    /// Order changes per simulated second.
    pub rate: f64,
    /// Simulated seconds of changes.
    pub seconds: f64,
    pub seed: u64,
    /// Items in the catalog.
    pub items: usize,
    /// Locations that stock each item.
    pub locations_per_item: usize,
    /// Zipf exponent of item popularity.
    pub zipf_s: f64,
    /// (operation, weight).
    pub mix: Vec<(Operation, u32)>,
    pub heat: HeatConfig,
    /// The most popular items whose stock is sharded before the run, as an operator does for
    /// hot items (`PUT /inventory/api/item/{ItemId}/stockShards`), and their shard count.
    pub hot_items: usize,
    pub hot_item_shards: u32,
}

impl Default for WorkloadConfig {
    fn default() -> Self {
        Self {
            rate: 10_000.0,
            seconds: 3.0,
            seed: 42,
            items: 2_000,
            locations_per_item: 4,
            zipf_s: 1.0,
            mix: Operation::default_mix(),
            heat: HeatConfig::default(),
            hot_items: 0,
            hot_item_shards: 1,
        }
    }
}

/// What the runs of one operation kind did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpStats {
    /// Picked and run.
    pub ran: u64,
    /// Ran and returned an error (by kind, see [`error_kind`]).
    pub failed: BTreeMap<String, u64>,
    /// Picked but nothing to run it on yet (no saved or allocated order).
    pub skipped: u64,
}

#[derive(Debug, Clone, Default)]
pub struct RunStats {
    pub ops: BTreeMap<Operation, OpStats>,
    /// Change-tracker messages delivered to the consumer.
    pub messages_consumed: u64,
    pub messages_failed: u64,
    pub relay_runs: u64,
    /// Orders the milestone scheduler checked (it runs every simulated second) and events raised.
    pub milestone_checks: i64,
    pub monitoring_events: i64,
    /// Panics and errors other than refusals (store, internal): each one's first message.
    pub serious: Vec<String>,
}

/// A finished run: the recorder holds its heat.
pub struct RunOutcome {
    pub recorder: Arc<HeatRecorder>,
    pub stats: RunStats,
    pub config: WorkloadConfig,
    /// Simulated time of the first change (a whole second).
    pub start: DateTime<Utc>,
    /// Changes run.
    pub changes: u64,
}

/// A short label of an error: refusals are expected, store and internal errors are not.
pub fn error_kind(error: &OmsError) -> &'static str {
    match error {
        OmsError::Validation { .. } | OmsError::BadRequest(_) => "validation",
        OmsError::NotFound { .. } => "not found",
        OmsError::Conflict(_) => "conflict",
        OmsError::NotPermitted { .. } => "not permitted",
        OmsError::Unauthorized(_) | OmsError::Forbidden(_) => "forbidden",
        OmsError::Unavailable(_) => "store unavailable",
        OmsError::Internal(_) => "internal",
    }
}

fn is_serious(error: &OmsError) -> bool {
    matches!(error, OmsError::Unavailable(_) | OmsError::Internal(_))
}

/// Item popularity: index k (0-based) with weight 1/(k+1)^s.
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let mut cdf: Vec<f64> = (1..=n)
            .map(|k| {
                total += 1.0 / (k as f64).powf(s);
                total
            })
            .collect();
        cdf.iter_mut().for_each(|c| *c /= total);
        Self { cdf }
    }
    fn sample(&self, rng: &mut StdRng) -> usize {
        let u: f64 = rng.random();
        self.cdf.partition_point(|c| *c < u).min(self.cdf.len() - 1)
    }
}

/// (city, state, latitude, longitude): DCs in the first eight, two stores in each.
const CITIES: &[(&str, &str, f64, f64)] = &[
    ("ATL", "GA", 33.749, -84.388),
    ("DFW", "TX", 32.7767, -96.797),
    ("EWR", "NJ", 40.7357, -74.1724),
    ("ONT", "CA", 34.0633, -117.6509),
    ("ORD", "IL", 41.8781, -87.6298),
    ("SEA", "WA", 47.6062, -122.3321),
    ("DEN", "CO", 39.7392, -104.9903),
    ("MCO", "FL", 28.5383, -81.3792),
    ("BOS", "MA", 42.3601, -71.0589),
    ("PHX", "AZ", 33.4484, -112.074),
    ("MSP", "MN", 44.9778, -93.265),
    ("DTW", "MI", 42.3314, -83.0458),
    ("CLT", "NC", 35.2271, -80.8431),
    ("SLC", "UT", 40.7608, -111.891),
    ("PDX", "OR", 45.5152, -122.6784),
    ("BNA", "TN", 36.1627, -86.7816),
];
const DC_CITIES: usize = 8;

fn item_id(n: usize) -> String {
    format!("SKU-{n:05}")
}

/// A saved order the driver remembers.
struct OrderSpec {
    id: String,
    lines: Vec<(usize, u32)>,
    city: usize,
    revision: u32,
    /// Confirmed orders are released once allocated; the others wait (payment pending).
    confirmed: bool,
}

impl OrderSpec {
    fn request(&self) -> Value {
        let (city, state, lat, lon) = CITIES[self.city];
        let address = json!({"Address": {"FirstName": "Heat", "LastName": "Customer", "Address1": "1 Main St",
            "City": city, "State": state, "PostalCode": "10001", "Country": "US", "Latitude": lat, "Longitude": lon}});
        let lines: Vec<Value> = self
            .lines
            .iter()
            .enumerate()
            .map(|(n, (item, qty))| {
                json!({"OrderLineId": (n + 1).to_string(), "ItemId": item_id(*item), "Quantity": qty,
                    "UnitPrice": 10.0 + f64::from(self.revision), "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"},
                    "ShipToAddress": address})
            })
            .collect();
        json!({"OrderId": self.id, "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": self.confirmed, "OrderLine": lines})
    }
}

/// The driver's state between changes.
struct Driver {
    deps: Deps,
    caller: Caller,
    rng: StdRng,
    zipf: Zipf,
    mix: Vec<(Operation, u32)>,
    /// Locations that stock each item.
    stocked_at: Vec<Vec<String>>,
    orders: Vec<OrderSpec>,
    /// Saved orders waiting for allocation (indexes into `orders`).
    to_allocate: VecDeque<usize>,
    /// Allocated orders and their live allocation ids.
    allocated: Vec<(usize, Vec<String>)>,
    stats: RunStats,
}

fn from_json<T: serde::de::DeserializeOwned>(value: Value) -> anyhow::Result<T> {
    Ok(serde_json::from_value(value)?)
}

fn live_ids(allocations: &[Allocation]) -> Vec<String> {
    allocations.iter().filter(|a| a.status_code.is_live()).map(|a| a.allocation_id.to_string()).collect()
}

impl Driver {
    async fn setup(&mut self, items: usize, per_item: usize) -> anyhow::Result<()> {
        let tenant = self.caller.tenant.clone();
        let mut dcs = Vec::new();
        let mut stores = Vec::new();
        for (n, (city, _, lat, lon)) in CITIES.iter().enumerate() {
            let mut sites = vec![
                (format!("ST-{city}-1"), "Store", lat + 0.01, *lon),
                (format!("ST-{city}-2"), "Store", lat - 0.01, *lon),
            ];
            if n < DC_CITIES {
                sites.push((format!("DC-{city}"), "DC", *lat, *lon));
            }
            for (id, kind, lat, lon) in sites {
                let req: UpsertLocationRequest = from_json(json!({"Name": id, "Type": kind, "Latitude": lat,
                    "Longitude": lon, "Priority": if kind == "DC" { 10 } else { 50 }, "CanShip": true, "Active": true}))?;
                inventory::upsert_location(&self.deps, &tenant, &id, &req).await?;
                if kind == "DC" { dcs.push(id) } else { stores.push(id) }
            }
        }
        let mut rows = Vec::new();
        for item in 0..items {
            let mut sites = BTreeSet::new();
            while sites.len() < per_item.min(dcs.len() + stores.len()) {
                let site = if sites.len() % 2 == 0 {
                    dcs[self.rng.random_range(0..dcs.len())].clone()
                } else {
                    stores[self.rng.random_range(0..stores.len())].clone()
                };
                sites.insert(site);
            }
            for site in &sites {
                rows.push(json!({"LocationId": site, "ItemId": item_id(item), "Quantity": 100_000, "SafetyStock": 0}));
            }
            self.stocked_at.push(sites.into_iter().collect());
        }
        for chunk in rows.chunks(100) {
            let req: SupplyRequest = from_json(json!({"Mode": "Sync", "Supply": chunk}))?;
            inventory::apply_supply(&self.deps, &tenant, &req).await?;
        }
        self.configure_order_type().await?;
        self.drain().await;
        Ok(())
    }

    fn pick(&mut self) -> Operation {
        let total: u32 = self.mix.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.random_range(0..total.max(1));
        for (op, weight) in &self.mix {
            if roll < *weight {
                return *op;
            }
            roll -= weight;
        }
        Operation::SaveNewOrder
    }

    /// Runs one operation: `None` when it had nothing to work on.
    async fn run(&mut self, op: Operation) -> Option<Result<(), OmsError>> {
        let deps = self.deps.clone();
        let caller = self.caller.clone();
        match op {
            Operation::SaveNewOrder => {
                let lines = (0..self.rng.random_range(1..=4))
                    .map(|_| (self.zipf.sample(&mut self.rng), self.rng.random_range(1..=3)))
                    .collect::<BTreeMap<usize, u32>>()
                    .into_iter()
                    .collect();
                let spec = OrderSpec {
                    id: format!("HO-{:07}", self.orders.len() + 1),
                    lines,
                    city: self.rng.random_range(0..CITIES.len()),
                    revision: 0,
                    confirmed: self.rng.random_bool(0.5),
                };
                let result = save(&deps, &caller, &spec).await;
                if result.is_ok() {
                    self.to_allocate.push_back(self.orders.len());
                }
                self.orders.push(spec);
                Some(result)
            }
            Operation::ResaveOrder => {
                if self.orders.is_empty() {
                    return None;
                }
                let n = self.rng.random_range(0..self.orders.len());
                self.orders[n].revision += 1;
                Some(save(&deps, &caller, &self.orders[n]).await)
            }
            Operation::Allocate => {
                let n = self.to_allocate.pop_front()?;
                let event = json!({"detailType": "ORDER_CREATED", "detail": {"orderId": self.orders[n].id}});
                let req: AllocationEventRequest = from_json(event).ok()?;
                let result = allocation::allocate_from_event(&deps, &caller, &req).await;
                Some(result.map(|outcome| {
                    let ids = live_ids(&outcome.allocations);
                    if !ids.is_empty() {
                        self.allocated.push((n, ids));
                    }
                }))
            }
            Operation::Reallocate => {
                if self.allocated.is_empty() {
                    return None;
                }
                let slot = self.rng.random_range(0..self.allocated.len());
                let order = self.orders[self.allocated[slot].0].id.clone();
                let req: ReallocateRequest = from_json(json!({"orderNumber": order, "channel": "12", "tenant": TENANT,
                    "id": [order], "documentType": "ORDER"}))
                .ok()?;
                let result = allocation::reallocate(&deps, &caller, &req).await;
                Some(result.map(|docs| {
                    let ids = live_ids(&docs);
                    if !ids.is_empty() {
                        self.allocated[slot].1 = ids;
                    }
                }))
            }
            Operation::CancelAllocation => {
                if self.allocated.is_empty() {
                    return None;
                }
                let slot = self.rng.random_range(0..self.allocated.len());
                let (n, ids) = self.allocated.swap_remove(slot);
                let result = allocation::cancel(&deps, &caller, &ids.join(",")).await;
                // The cancelled units are open again: the order can be allocated again.
                self.to_allocate.push_back(n);
                Some(result.map(|_| ()))
            }
            Operation::SupplySync => {
                let mut rows = Vec::new();
                // An inventory feed covers the catalog in turn, whatever sells: items uniformly.
                for _ in 0..3 {
                    let item = self.rng.random_range(0..self.stocked_at.len());
                    for site in &self.stocked_at[item] {
                        let quantity = 100_000 + self.rng.random_range(0..100);
                        rows.push(json!({"LocationId": site, "ItemId": item_id(item), "Quantity": quantity}));
                    }
                }
                rows.sort_by_key(|row| (row["ItemId"].to_string(), row["LocationId"].to_string()));
                rows.dedup_by_key(|row| (row["ItemId"].to_string(), row["LocationId"].to_string()));
                let req: SupplyRequest = from_json(json!({"Mode": "Sync", "Supply": rows})).ok()?;
                Some(inventory::apply_supply(&deps, &caller.tenant, &req).await.map(|_| ()))
            }
            Operation::MoveLine => {
                let (slot, doc, line, _) =
                    self.held_unit(|i| i.reallocated_quantity, AllocationItem::unreleased).await?;
                let req: ReallocateRequest = from_json(json!({"orderNumber": doc.order_number, "channel": "12",
                    "tenant": TENANT, "id": doc.allocation_id, "documentType": "ALLOCATION",
                    "items": [{"allocationLineNumber": line, "quantity": 1}]}))
                .ok()?;
                let result = allocation::reallocate(&deps, &caller, &req).await.map(|_| ());
                self.refresh(slot).await;
                Some(result)
            }
            Operation::MassAllocate => self.mass_allocate().await,
            Operation::CancelOrderUnit => {
                if self.orders.is_empty() {
                    return None;
                }
                let n = self.rng.random_range(0..self.orders.len());
                let req: CancelOrderRequest = from_json(json!({"OrderId": self.orders[n].id,
                    "CancelReasonId": "CustomerRequest", "OrderLine": [{"OrderLineId": "1", "Quantity": 1}]}))
                .ok()?;
                Some(lifecycle::cancel::cancel_order(&deps, &caller, &req).await.map(|_| ()))
            }
            Operation::ChangeAddress => {
                if self.orders.is_empty() {
                    return None;
                }
                let n = self.rng.random_range(0..self.orders.len());
                self.orders[n].city = (self.orders[n].city + 1) % CITIES.len();
                Some(save(&deps, &caller, &self.orders[n]).await)
            }
            Operation::ScratchItem | Operation::ShipItem => {
                let (field, count, extra): (_, fn(&AllocationItem) -> u32, _) = match op {
                    Operation::ScratchItem => {
                        ("scratchQuantity", |i| i.scratch_quantity, json!({"scratchedReasonCode": "DAMAGED"}))
                    }
                    _ => ("shippedQuantity", |i| i.shipped_quantity, json!({})),
                };
                // Only released units ship (the pipeline released what was allocated).
                let takeable: fn(&AllocationItem) -> u32 = match op {
                    Operation::ShipItem => |i| i.released_quantity,
                    _ => AllocationItem::held,
                };
                let (slot, doc, line, count) = self.held_unit(count, takeable).await?;
                let mut item = json!({"allocationLineNumber": line, field: count + 1});
                if let (Some(item), Some(extra)) = (item.as_object_mut(), extra.as_object()) {
                    item.extend(extra.clone());
                }
                let req: UpdateAllocationRequest =
                    from_json(json!({"allocationId": doc.allocation_id, "items": [item]})).ok()?;
                let result = allocation::update(&deps, &caller, doc.allocation_id.as_str(), &req).await.map(|_| ());
                self.refresh(slot).await;
                Some(result)
            }
        }
    }

    /// Mass allocates up to 20 waiting orders in one job, as an operator's "Allocate All" of a
    /// short list does, and delivers its plan and chunk messages.
    async fn mass_allocate(&mut self) -> Option<Result<(), OmsError>> {
        let picked: Vec<usize> = (0..20).map_while(|_| self.to_allocate.pop_front()).collect();
        if picked.is_empty() {
            return None;
        }
        let ids: Vec<&str> = picked.iter().map(|n| self.orders[*n].id.as_str()).collect();
        let req = mass_allocate::MassActionRequest {
            query: Some(format!("OrderId IN ({}) AND MaxFulfillmentStatusId=1000", ids.join(", "))),
            mass_action: Some("Allocate".into()),
            ..Default::default()
        };
        if let Err(e) = mass_allocate::start(&self.deps, &self.caller, &req).await {
            self.to_allocate.extend(picked);
            return Some(Err(e));
        }
        for queue in [QueueName::MassAllocatePlan, QueueName::MassAllocateChunk] {
            self.drain_queue(queue).await;
        }
        for n in picked {
            let order = OrderId::parse(&self.orders[n].id).expect("a generated order id");
            if let Ok(docs) = allocation::allocations_of_order(&self.deps, &self.caller.tenant, &order).await {
                let ids = live_ids(&docs);
                if !ids.is_empty() {
                    self.allocated.push((n, ids));
                }
            }
        }
        Some(Ok(()))
    }

    /// One unit of a line of an allocated order that `takeable` says has units: (slot,
    /// allocation, line number, that line's `count`).
    async fn held_unit(
        &mut self,
        count: fn(&AllocationItem) -> u32,
        takeable: fn(&AllocationItem) -> u32,
    ) -> Option<(usize, Allocation, u32, u32)> {
        if self.allocated.is_empty() {
            return None;
        }
        let slot = self.rng.random_range(0..self.allocated.len());
        let ids = self.allocated[slot].1.clone();
        let id = &ids[self.rng.random_range(0..ids.len())];
        let doc = allocation::get_allocation(&self.deps, &self.caller.tenant, id).await.ok()?;
        let line = doc.items.iter().find(|i| takeable(i) > 0)?;
        let (number, count) = (line.allocation_line_number, count(line));
        Some((slot, doc, number, count))
    }

    /// The order's allocations that hold units now, after a change moved some.
    async fn refresh(&mut self, slot: usize) {
        let order = OrderId::parse(&self.orders[self.allocated[slot].0].id).expect("a generated order id");
        if let Ok(docs) = allocation::allocations_of_order(&self.deps, &self.caller.tenant, &order).await {
            let ids: Vec<String> = docs
                .iter()
                .filter(|d| d.status_code.is_live() && d.units() > 0)
                .map(|d| d.allocation_id.to_string())
                .collect();
            if ids.is_empty() {
                self.allocated.swap_remove(slot);
            } else {
                self.allocated[slot].1 = ids;
            }
        }
    }

    /// Delivers every queued change-tracker message through the queue consumer.
    async fn drain(&mut self) {
        self.drain_queue(QueueName::ChangeTracker).await;
        // The pipeline releases what was allocated, as in production (confirmed orders).
        self.drain_queue(QueueName::OrderPipeline).await;
    }

    /// Delivers every message queued on `queue` through its consumer.
    async fn drain_queue(&mut self, queue: QueueName) {
        let deps = self.deps.clone();
        loop {
            let report = batch::drain_once(deps.queue.as_ref(), queue, Duration::from_secs(30), |m| {
                let deps = deps.clone();
                async move { dispatch::consume_one(&deps, queue, m).await }
            })
            .await;
            match report {
                Ok(report) if report.delivered == 0 => return,
                Ok(report) => {
                    self.stats.messages_consumed += (report.delivered - report.failed) as u64;
                    self.stats.messages_failed += report.failed as u64;
                    if report.failed == report.delivered {
                        return;
                    }
                }
                Err(e) => {
                    self.stats.serious.push(format!("draining the {} queue: {e:#}", queue.as_str()));
                    return;
                }
            }
        }
    }

    async fn relay(&mut self) {
        self.stats.relay_runs += 1;
        if let Err(e) = dispatch::run_schedule(&self.deps, "outbox-relay").await {
            self.stats.serious.push(format!("outbox relay: {e:#}"));
        }
        match dispatch::run_schedule(&self.deps, "milestone-scheduler").await {
            Ok(report) => {
                let pass = report.milestones.unwrap_or_default();
                self.stats.milestone_checks += pass.orders_checked;
                self.stats.monitoring_events += pass.events_raised;
                if pass.failed > 0 {
                    self.stats.serious.push(format!("milestone scheduler: {} checks failed", pass.failed));
                }
            }
            Err(e) => self.stats.serious.push(format!("milestone scheduler: {e:#}")),
        }
    }

    /// The order type every order of the run has: the default configuration, except that
    /// Confirmed is expected at once and ConfirmationDue is raised a second later, so the
    /// milestone scheduler (run every simulated second) checks every unconfirmed order once.
    async fn configure_order_type(&self) -> anyhow::Result<()> {
        let mut config = serde_json::to_value(oms_core::domain::lifecycle::config::default_config("Web"))?;
        config["Milestones"][0] =
            json!({"MilestoneId": "Confirmed", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 0});
        config["MonitoringRules"] = json!([{"RuleId": "R1", "MilestoneId": "Confirmed", "EventName": "ConfirmationDue", "When": "After", "OffsetSeconds": 1}]);
        let req = serde_json::from_value(config)?;
        lifecycle::config::put_order_type(&self.deps, &self.caller, "Web", &req).await?;
        Ok(())
    }
}

async fn save(deps: &Deps, caller: &Caller, spec: &OrderSpec) -> Result<(), OmsError> {
    let req: SaveOrderRequest = serde_json::from_value(spec.request()).map_err(|e| OmsError::Internal(e.into()))?;
    orders::save_order(deps, caller, &req).await.map(|_| ())
}

/// The simulated time of the first change: a whole second, so buckets line up with the run.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 5, 12, 0, 0).single().unwrap_or_default()
}

/// Sets up the tenant, then runs `config.rate * config.seconds` changes and returns the heat.
/// Fails only when the setup fails; failed changes are counted in the stats.
pub async fn run(config: &WorkloadConfig) -> anyhow::Result<RunOutcome> {
    let start = start_time();
    let clock = Arc::new(SimClock::new(start - TimeDelta::hours(1)));
    let base = Deps::embedded(SqliteDb::in_memory()?)?;
    let recorder = Arc::new(HeatRecorder::new(base.store.clone(), clock.clone(), config.heat));
    let ids = Arc::new(SeededIds::new(clock.clone(), config.seed));
    let deps = Deps { store: recorder.clone(), clock: clock.clone(), ids, ..base };
    let caller = Caller {
        tenant: TenantId::parse(TENANT)?,
        user: UserId::parse("heat-driver")?,
        permissions: oms_core::catalog::permission::ALL.iter().map(|(p, _)| (*p).to_owned()).collect(),
    };
    let mut driver = Driver {
        deps,
        caller,
        rng: StdRng::seed_from_u64(config.seed),
        zipf: Zipf::new(config.items.max(1), config.zipf_s),
        mix: config.mix.clone(),
        stocked_at: Vec::new(),
        orders: Vec::new(),
        to_allocate: VecDeque::new(),
        allocated: Vec::new(),
        stats: RunStats::default(),
    };
    driver.setup(config.items.max(1), config.locations_per_item.max(1)).await?;
    // Item 0 is the most popular (Zipf rank 1), item 1 the next, and so on.
    for item in 0..config.hot_items.min(config.items) {
        let req = ShardCountRequest { shard_count: Some(config.hot_item_shards.into()) };
        oms_core::service::stock::set_shards(&driver.deps, &driver.caller.tenant, &item_id(item), &req).await?;
    }
    driver.stats = RunStats::default();
    recorder.reset();

    let changes = (config.rate * config.seconds).round().max(0.0) as u64;
    let step_ns = 1e9 / config.rate.max(1e-9);
    let mut second = -1i64;
    let mut kinds: BTreeMap<&'static str, String> = BTreeMap::new();
    for i in 0..changes {
        let at = start + TimeDelta::nanoseconds((i as f64 * step_ns).round() as i64);
        clock.set(at);
        let elapsed = (at - start).num_seconds();
        if elapsed != second {
            second = elapsed;
            driver.relay().await;
        }
        let op = driver.pick();
        let outcome = AssertUnwindSafe(driver.run(op)).catch_unwind().await;
        let stats = driver.stats.ops.entry(op).or_default();
        match outcome {
            Ok(None) => stats.skipped += 1,
            Ok(Some(Ok(()))) => stats.ran += 1,
            Ok(Some(Err(e))) => {
                stats.ran += 1;
                let kind = error_kind(&e);
                *stats.failed.entry(kind.to_owned()).or_insert(0) += 1;
                if is_serious(&e) {
                    kinds.entry(kind).or_insert_with(|| format!("{}: {e}", op.name()));
                }
            }
            Err(panic) => {
                stats.ran += 1;
                *stats.failed.entry("panic".to_owned()).or_insert(0) += 1;
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                kinds.entry("panic").or_insert_with(|| format!("{}: panic: {message}", op.name()));
            }
        }
        driver.drain().await;
    }
    let mut stats = driver.stats;
    stats.serious.extend(kinds.into_values());
    Ok(RunOutcome { recorder, stats, config: config.clone(), start, changes })
}
