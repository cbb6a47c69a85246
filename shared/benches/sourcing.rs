//! Throughput of the source-selection engine on a realistic network:
//! `cargo bench -p oms-core --bench sourcing`.
//!
//! 100 locations across the continental US, 10,000 items, most locations stocking a few
//! thousand of them; orders of 1-5 lines shipping to random US points. Every order gets its own
//! `Availability` holding only its items, as the service builds it from what it read, and the
//! figures are given both for `plan` alone and for building that map plus `plan`.
//!
//! Stock rows name their location by its position in the location list, so the ids read while
//! building a map are in cache, as a freshly read row's are: the figure measures building the
//! map, not fetching 260,000 scattered strings from memory. Time is this thread's CPU time when
//! Linux reports it (`/proc/thread-self/schedstat`), so other processes sharing the cores do not
//! skew the figures; wall time otherwise.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use oms_core::domain::ids::{ItemId, LocationId, OrderLineId};
use oms_core::domain::location::{Location, LocationType};
use oms_core::domain::order::DeliveryMethod;
use oms_core::domain::sourcing::{Availability, Demand, Plan, Strategy, plan};
use rand::rngs::StdRng;
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};

const LOCATIONS: usize = 100;
const DCS: usize = 20;
const ITEMS: usize = 10_000;
const ORDERS: usize = 20_000;
const WARM_UP_ORDERS: usize = 2_000;
/// Least measured time per strategy and per measure.
const MIN_MEASURE: Duration = Duration::from_secs(1);
/// Throughput goals on one core, order lines per second: planning alone, and building each
/// order's `Availability` plus planning.
const PLAN_ONLY_GOAL: f64 = 1_000_000.0;
const WITH_MAP_GOAL: f64 = 400_000.0;
/// Continental US bounding box, degrees.
const LATITUDES: std::ops::Range<f64> = 25.0..49.0;
const LONGITUDES: std::ops::Range<f64> = -124.0..-67.0;

/// Every location's promisable units per item, as the store would return them for one item;
/// each row's location is a position in the location list.
type StockTable = HashMap<ItemId, Vec<(usize, i64)>>;
/// Orders timed between two readings of the clock: enough to make reading it negligible, few
/// enough that the maps built for a batch before timing `plan` alone are still in cache.
const BATCH: usize = 64;

fn main() {
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(0x0005_0c1e);
    let locations = build_locations(&mut rng);
    let items: Vec<ItemId> =
        (0..ITEMS).map(|n| ItemId::parse(&format!("SKU-{n:05}")).expect("valid item id")).collect();
    let table = build_stock(&mut rng, &locations, &items);
    let orders = build_orders(&mut rng, &items);
    let built = started.elapsed();

    let rows: usize = table.values().map(Vec::len).sum();
    let lines: usize = orders.iter().map(Vec::len).sum();
    let inactive = locations.iter().filter(|l| !l.active).count();
    println!(
        "inputs: {LOCATIONS} locations ({DCS} DCs, {} stores, {inactive} inactive), {} items, {} stock rows \
         ({:.1} locations per item), {} orders ({} lines); built in {:.1} ms",
        LOCATIONS - DCS,
        group(ITEMS as f64),
        group(rows as f64),
        rows as f64 / ITEMS as f64,
        group(ORDERS as f64),
        group(lines as f64),
        built.as_secs_f64() * 1e3,
    );

    println!("time: {}", if cpu_time().is_some() { "this thread's CPU time" } else { "wall time" });
    let mut baseline: Option<(f64, f64)> = None;
    for strategy in Strategy::ALL {
        let only = measure_plan_only(strategy, &orders, &locations, &table);
        let with_map = measure_with_map(strategy, &orders, &locations, &table);
        let (base_only, base_map) = *baseline.get_or_insert((only.us_per_line(), with_map.us_per_line()));
        println!(
            "{:<16} plan only: {:>9} lines/s {:>9} orders/s {:>6.2} µs/line {:>5.2}x nearest | \
             with map: {:>9} lines/s {:>9} orders/s {:>6.2} µs/line {:>5.2}x nearest | \
             {:.2} locations/order, {:.1}% of units allocated",
            strategy.id(),
            group(only.lines_per_s()),
            group(only.orders_per_s()),
            only.us_per_line(),
            only.us_per_line() / base_only,
            group(with_map.lines_per_s()),
            group(with_map.orders_per_s()),
            with_map.us_per_line(),
            with_map.us_per_line() / base_map,
            only.shipments as f64 / only.orders as f64,
            100.0 * only.allocated as f64 / only.units as f64,
        );
        println!(
            "{:<16} goal vs measured: plan only {} lines/s (goal {}) {:.2}x goal | with map {} lines/s (goal {}) \
             {:.2}x goal",
            "",
            millions(only.lines_per_s()),
            millions(PLAN_ONLY_GOAL),
            only.lines_per_s() / PLAN_ONLY_GOAL,
            millions(with_map.lines_per_s()),
            millions(WITH_MAP_GOAL),
            with_map.lines_per_s() / WITH_MAP_GOAL,
        );
    }
}

/// `1234567.8` -> `"1.23M"`.
fn millions(value: f64) -> String {
    format!("{:.2}M", value / 1e6)
}

#[derive(Default)]
struct Run {
    elapsed: Duration,
    orders: u64,
    lines: u64,
    units: u64,
    allocated: u64,
    shipments: u64,
}

impl Run {
    fn count(&mut self, batch: &[Vec<Demand>], plans: impl Iterator<Item = Plan>) {
        for (order, decided) in batch.iter().zip(plans) {
            self.orders += 1;
            self.lines += order.len() as u64;
            self.units += order.iter().map(|d| u64::from(d.quantity)).sum::<u64>();
            self.allocated += decided.allocated();
            self.shipments += decided.locations().len() as u64;
            black_box(decided);
        }
    }

    fn lines_per_s(&self) -> f64 {
        self.lines as f64 / self.elapsed.as_secs_f64()
    }
    fn orders_per_s(&self) -> f64 {
        self.orders as f64 / self.elapsed.as_secs_f64()
    }
    fn us_per_line(&self) -> f64 {
        self.elapsed.as_secs_f64() * 1e6 / self.lines as f64
    }
}

/// Times `plan` alone: each batch's maps are built before the clock starts.
fn measure_plan_only(strategy: Strategy, orders: &[Vec<Demand>], locations: &[Location], table: &StockTable) -> Run {
    warm_up(strategy, orders, locations, table);
    let mut run = Run::default();
    let mut plans = Vec::with_capacity(BATCH);
    for batch in orders.chunks(BATCH).cycle() {
        let maps: Vec<Availability> = batch.iter().map(|order| order_availability(order, locations, table)).collect();
        let start = clock();
        for (order, availability) in batch.iter().zip(&maps) {
            plans.push(plan(black_box(order), locations, availability, strategy));
        }
        run.elapsed += clock().saturating_sub(start);
        run.count(batch, plans.drain(..));
        if run.elapsed >= MIN_MEASURE && run.orders >= orders.len() as u64 {
            break;
        }
    }
    run
}

/// Times building each order's map plus `plan`.
fn measure_with_map(strategy: Strategy, orders: &[Vec<Demand>], locations: &[Location], table: &StockTable) -> Run {
    warm_up(strategy, orders, locations, table);
    let mut run = Run::default();
    let mut plans = Vec::with_capacity(BATCH);
    for batch in orders.chunks(BATCH).cycle() {
        let start = clock();
        for order in batch {
            let availability = order_availability(black_box(order), locations, table);
            plans.push(plan(order, locations, &availability, strategy));
        }
        run.elapsed += clock().saturating_sub(start);
        run.count(batch, plans.drain(..));
        if run.elapsed >= MIN_MEASURE && run.orders >= orders.len() as u64 {
            break;
        }
    }
    run
}

fn warm_up(strategy: Strategy, orders: &[Vec<Demand>], locations: &[Location], table: &StockTable) {
    for order in orders.iter().take(WARM_UP_ORDERS) {
        black_box(plan(order, locations, &order_availability(order, locations, table), strategy));
    }
}

/// This thread's CPU time, when Linux reports it.
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok().map(Duration::from_nanos)
}

/// The time figures are measured in: CPU time if available, else wall time.
fn clock() -> Duration {
    static START: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    cpu_time().unwrap_or_else(|| START.get_or_init(Instant::now).elapsed())
}

/// The availability the service would pass for this order: its items' rows only.
fn order_availability(order: &[Demand], locations: &[Location], table: &StockTable) -> Availability {
    let mut availability = Availability::new();
    for (n, demand) in order.iter().enumerate() {
        // An item on two lines is read once.
        if order[..n].iter().any(|d| d.item_id == demand.item_id) {
            continue;
        }
        let rows = table.get(&demand.item_id).map_or(&[][..], Vec::as_slice);
        availability.reserve(rows.len());
        for &(location, units) in rows {
            availability.set(&locations[location].location_id, &demand.item_id, units);
        }
    }
    availability
}

fn build_locations(rng: &mut StdRng) -> Vec<Location> {
    let now = chrono::Utc::now();
    (0..LOCATIONS)
        .map(|n| {
            let is_dc = n < DCS;
            let id = if is_dc { format!("DC-{n:03}") } else { format!("ST-{n:03}") };
            Location {
                location_id: LocationId::parse(&id).expect("valid location id"),
                name: id,
                location_type: if is_dc { LocationType::Dc } else { LocationType::Store },
                latitude: rng.random_range(LATITUDES),
                longitude: rng.random_range(LONGITUDES),
                priority: if is_dc { rng.random_range(1..=5) * 10 } else { 100 },
                can_ship: is_dc || rng.random_bool(0.7),
                can_pickup: !is_dc,
                active: rng.random_bool(0.92),
                version: 1,
                updated_timestamp: now,
            }
        })
        .collect()
}

/// DCs stock 4,000-6,000 items, stores 1,000-3,000; a few rows are zero or oversold.
fn build_stock(rng: &mut StdRng, locations: &[Location], items: &[ItemId]) -> StockTable {
    let mut table: StockTable = HashMap::with_capacity(items.len());
    for (position, location) in locations.iter().enumerate() {
        let count = match location.location_type {
            LocationType::Dc => rng.random_range(4_000..=6_000),
            LocationType::Store => rng.random_range(1_000..=3_000),
        };
        for item in sample(rng, items.len(), count) {
            let units = if rng.random_bool(0.05) { rng.random_range(-2..=0) } else { rng.random_range(1..=50) };
            table.entry(items[item].clone()).or_default().push((position, units));
        }
    }
    table
}

/// 1-5 lines of random items, 1-3 units each, all shipping to one random US point.
fn build_orders(rng: &mut StdRng, items: &[ItemId]) -> Vec<Vec<Demand>> {
    (0..ORDERS)
        .map(|_| {
            let destination = (rng.random_range(LATITUDES), rng.random_range(LONGITUDES));
            (1..=rng.random_range(1..=5))
                .map(|line| Demand {
                    line_id: OrderLineId::parse(&line.to_string()).expect("valid line id"),
                    item_id: items[rng.random_range(0..items.len())].clone(),
                    quantity: rng.random_range(1..=3),
                    delivery: DeliveryMethod::ShipToAddress,
                    destination: Some(destination),
                    pickup_location: None,
                })
                .collect()
        })
        .collect()
}

/// `1234567.8` -> `"1,234,568"`.
fn group(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (n, c) in digits.chars().enumerate() {
        if n > 0 && (digits.len() - n) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
