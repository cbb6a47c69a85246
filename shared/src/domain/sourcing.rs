//! Source selection: which locations ship (or hand over) each order line, given what every
//! location can still promise. Pure: no I/O, no clock, no randomness; the same inputs always give
//! the same plan. [`plan`] decides; [`explain`] replays that decision for a person to read.
//!
//! Every tie is broken by location id in the end, so neither the order of `locations` nor the
//! order the [`Availability`] was filled in changes the plan (a location id listed twice counts
//! once, its first entry).

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::ids::{ItemId, LocationId, OrderLineId};
use super::location::{EARTH_RADIUS_KM, Location};
use super::order::DeliveryMethod;
use crate::error::OmsError;

/// How to choose among the locations that could serve a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", try_from = "String")]
pub enum Strategy {
    /// Closest to the destination first, then priority, then location id.
    #[default]
    Nearest,
    /// Lowest priority number first, then distance, then location id.
    Priority,
    /// As few ship-from locations for the whole order as possible (see [`plan`]).
    FewestShipments,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [Strategy::Nearest, Strategy::Priority, Strategy::FewestShipments];

    /// Parses `nearest`, `priority` or `fewestShipments` (also `fewest-shipments`), any case.
    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        if value.eq_ignore_ascii_case("fewest-shipments") {
            return Ok(Strategy::FewestShipments);
        }
        Self::ALL.into_iter().find(|s| s.id().eq_ignore_ascii_case(value)).ok_or_else(|| {
            OmsError::validation(
                field,
                format!("unknown strategy \"{value}\"; expected one of nearest, priority, fewestShipments"),
            )
        })
    }

    /// The strategy as the API spells it.
    pub fn id(self) -> &'static str {
        match self {
            Strategy::Nearest => "nearest",
            Strategy::Priority => "priority",
            Strategy::FewestShipments => "fewestShipments",
        }
    }
}

impl TryFrom<String> for Strategy {
    type Error = OmsError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_at("strategy", &value)
    }
}

impl std::fmt::Display for Strategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// What one order line still needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Demand {
    pub line_id: OrderLineId,
    pub item_id: ItemId,
    pub quantity: u32,
    pub delivery: DeliveryMethod,
    /// `(latitude, longitude)` of the ship-to address, when known.
    pub destination: Option<(f64, f64)>,
    /// The store of a `ShipToStore` or `PickUpAtStore` line.
    pub pickup_location: Option<LocationId>,
}

/// Units that can still be promised at each location for each item: on hand - reserved - safety
/// (may be <= 0). Setting a (location, item) again replaces its units.
///
/// Built once per order from the stock rows read for its items, so building is cheap: location
/// and item ids are copied into one buffer each and interned (no allocation per row), and each
/// item's rows are chained so the planner reads only the items it needs.
#[derive(Clone, Default)]
pub struct Availability {
    locations: Interner,
    items: Interner,
    /// Every `set`, oldest first; a later entry for the same key supersedes an earlier one.
    entries: Vec<Entry>,
    /// Per interned item, its newest entry + 1 (0: none); entries of one item chain via `prev`.
    newest: Vec<u32>,
}

#[derive(Clone, Copy)]
struct Entry {
    item: u32,
    location: u32,
    units: i64,
    /// The item's previous entry + 1 (0: none).
    prev: u32,
}

impl Availability {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records the units `location` can promise for `item`, replacing any earlier figure.
    pub fn set(&mut self, location: &LocationId, item: &ItemId, units: i64) {
        // Rows come item by item, so the item is usually the previous entry's.
        let item = match self.entries.last() {
            Some(last) if same_id(self.items.get(last.item as usize), item.as_str()) => last.item as usize,
            _ => self.items.intern(item.as_str()),
        };
        if item == self.newest.len() {
            self.newest.push(0);
        }
        let location = self.locations.intern(location.as_str());
        let index = u32::try_from(self.entries.len() + 1).expect("fewer than 2^32 stock entries");
        let prev = std::mem::replace(&mut self.newest[item], index);
        self.entries.push(Entry { item: item as u32, location: location as u32, units, prev });
    }

    /// Makes room for `entries` more entries, at as many new locations, so filling it with them
    /// does not reallocate.
    pub fn reserve(&mut self, entries: usize) {
        self.entries.reserve(entries);
        self.locations.reserve(entries);
    }

    /// The units set for (`location`, `item`), if any.
    pub fn get(&self, location: &LocationId, item: &ItemId) -> Option<i64> {
        let location = self.locations.find(location.as_str())?;
        let item = self.items.find(item.as_str())?;
        self.of_item(item).find(|&(l, _)| l == location).map(|(_, units)| units)
    }

    /// Every current (location, item, units), in the order they were last set. For inspection:
    /// each entry walks its item's chain.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str, i64)> + '_ {
        self.entries.iter().enumerate().filter_map(|(index, entry)| {
            let newest = self.of_item_entries(entry.item as usize).find(|&(_, e)| e.location == entry.location);
            (newest.map(|(at, _)| at) == Some(index)).then(|| {
                (self.locations.get(entry.location as usize), self.items.get(entry.item as usize), entry.units)
            })
        })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// `(location, units)` of the interned `item`, newest first (superseded entries included:
    /// the first one seen for a location is its current figure).
    fn of_item(&self, item: usize) -> impl Iterator<Item = (usize, i64)> + '_ {
        self.of_item_entries(item).map(|(_, entry)| (entry.location as usize, entry.units))
    }

    fn of_item_entries(&self, item: usize) -> impl Iterator<Item = (usize, &Entry)> + '_ {
        let mut next = self.newest.get(item).copied().unwrap_or(0);
        std::iter::from_fn(move || {
            let at = next.checked_sub(1)? as usize;
            let entry = &self.entries[at];
            next = entry.prev;
            Some((at, entry))
        })
    }
}

impl FromIterator<((LocationId, ItemId), i64)> for Availability {
    fn from_iter<I: IntoIterator<Item = ((LocationId, ItemId), i64)>>(iter: I) -> Self {
        let mut availability = Availability::new();
        for ((location, item), units) in iter {
            availability.set(&location, &item, units);
        }
        availability
    }
}

impl std::fmt::Debug for Availability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter().map(|(location, item, units)| ((location, item), units))).finish()
    }
}

/// Distinct ids numbered in the order first seen, stored back to back in one string.
#[derive(Clone, Default)]
struct Interner {
    text: String,
    /// Where each id ends in `text` (it starts where the previous one ends).
    ends: Vec<usize>,
    hashes: Vec<u64>,
    /// Open addressing, linear probing: id number + 1, 0 for empty; a power of two long.
    table: Vec<u32>,
}

impl Interner {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn get(&self, n: usize) -> &str {
        let start = if n == 0 { 0 } else { self.ends[n - 1] };
        &self.text[start..self.ends[n]]
    }

    fn find(&self, id: &str) -> Option<usize> {
        self.find_hashed(id, hash_id(id))
    }

    fn find_hashed(&self, id: &str, hash: u64) -> Option<usize> {
        if self.table.is_empty() {
            return None;
        }
        let mask = self.table.len() - 1;
        let mut at = bucket(hash, mask);
        loop {
            let n = self.table[at].checked_sub(1)? as usize;
            if self.hashes[n] == hash && same_id(self.get(n), id) {
                return Some(n);
            }
            at = (at + 1) & mask;
        }
    }

    /// The number of `id`, numbering it if new.
    fn intern(&mut self, id: &str) -> usize {
        let hash = hash_id(id);
        if let Some(n) = self.find_hashed(id, hash) {
            return n;
        }
        let n = self.len();
        if (n + 1) * 2 > self.table.len() {
            self.rebuild((self.table.len() * 2).max(16));
        }
        self.text.push_str(id);
        self.ends.push(self.text.len());
        self.hashes.push(hash);
        self.place(n, hash);
        n
    }

    /// Room for `more` ids (of about 8 bytes) without reallocating or rebuilding the table.
    fn reserve(&mut self, more: usize) {
        self.text.reserve(more * 8);
        self.ends.reserve(more);
        self.hashes.reserve(more);
        let size = ((self.len() + more) * 2).next_power_of_two().max(16);
        if size > self.table.len() {
            self.rebuild(size);
        }
    }

    /// A table of `size` slots (a power of two) holding every id.
    fn rebuild(&mut self, size: usize) {
        self.table.clear();
        self.table.resize(size, 0);
        for n in 0..self.len() {
            self.place(n, self.hashes[n]);
        }
    }

    fn place(&mut self, n: usize, hash: u64) {
        let mask = self.table.len() - 1;
        let mut at = bucket(hash, mask);
        while self.table[at] != 0 {
            at = (at + 1) & mask;
        }
        self.table[at] = u32::try_from(n + 1).expect("fewer than 2^32 ids");
    }
}

/// A fast hash of a short id (FxHash-style, 8 bytes per step); not meant to resist crafted keys.
fn hash_id(id: &str) -> u64 {
    const K: u64 = 0xf135_7aea_2e62_a9c5;
    let step = |hash: u64, word: u64| (hash.rotate_left(26) ^ word).wrapping_mul(K);
    let bytes = id.as_bytes();
    let mut chunks = bytes.chunks_exact(8);
    let mut hash = step(0, bytes.len() as u64);
    for chunk in &mut chunks {
        hash = step(hash, u64::from_le_bytes(chunk.try_into().expect("8 bytes")));
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // Byte by byte: a copy into a buffer would call memcpy, slower for so few bytes.
        let word = rest.iter().rev().fold(0_u64, |word, &byte| (word << 8) | u64::from(byte));
        hash = step(hash, word);
    }
    hash
}

/// `a == b`, without a call to memcmp for ids of up to 16 bytes (most are).
fn same_id(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    if a.len() > 16 {
        return a == b;
    }
    let word = |bytes: &[u8]| bytes.iter().rev().fold(0_u64, |word, &byte| (word << 8) | u64::from(byte));
    let split = a.len().min(8);
    word(&a[..split]) == word(&b[..split]) && word(&a[split..]) == word(&b[split..])
}

/// The table position of `hash` (`mask` is the table length - 1): its top bits, the only ones
/// the last multiplication mixes with every byte of the id.
fn bucket(hash: u64, mask: usize) -> usize {
    (hash >> (64 - mask.count_ones())) as usize & mask
}

/// Units of one line taken from one location.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Pick {
    pub location_id: LocationId,
    pub quantity: u32,
}

/// How one line is served: its picks in the order they were chosen, and the units nobody has.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinePlan {
    pub line_id: OrderLineId,
    pub item_id: ItemId,
    pub picks: Vec<Pick>,
    pub back_ordered: u32,
}

impl LinePlan {
    /// Units picked for this line: at most the line's quantity, so u32 holds it.
    pub fn allocated(&self) -> u32 {
        self.picks.iter().map(|p| p.quantity).sum()
    }
}

/// One [`LinePlan`] per demand, in the demands' order.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub lines: Vec<LinePlan>,
}

impl Plan {
    /// Units picked over all lines (u64: many lines of large quantities exceed u32).
    pub fn allocated(&self) -> u64 {
        self.lines.iter().map(|l| u64::from(l.allocated())).sum()
    }

    /// Units no location could serve, over all lines.
    pub fn back_ordered(&self) -> u64 {
        self.lines.iter().map(|l| u64::from(l.back_ordered)).sum()
    }

    /// The distinct ship-from locations: one shipment (or hand-over) each.
    pub fn locations(&self) -> BTreeSet<LocationId> {
        self.lines.iter().flat_map(|l| l.picks.iter().map(|p| p.location_id.clone())).collect()
    }
}

/// Why a location cannot give anything to a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Exclusion {
    Inactive,
    CannotShip,
    CannotPickup,
    NotThePickupStore,
    NoStock,
}

/// The decision of [`plan`], line by line, with every location considered.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    pub strategy: Strategy,
    pub lines: Vec<LineExplanation>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LineExplanation {
    pub line_id: OrderLineId,
    pub item_id: ItemId,
    pub quantity: u32,
    pub allocated: u32,
    pub back_ordered: u32,
    /// Chosen locations in pick order, then the other eligible ones, then the excluded ones.
    pub candidates: Vec<CandidateExplanation>,
    /// For a back-ordered line, at most 3 changes that would serve more of it, smallest first.
    pub suggestions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CandidateExplanation {
    pub location_id: LocationId,
    /// Kilometres to the line's destination; `None` when the destination is unknown.
    pub distance_km: Option<f64>,
    /// Units the location could promise before this order (the availability passed in).
    pub available: i64,
    pub priority: u32,
    /// Units given to this line.
    pub chosen: u32,
    pub excluded: Option<Exclusion>,
    pub reason: String,
}

/// Plans every demand, in the order given, with `strategy`; returns one line plan per demand.
///
/// Lines of the same item share stock: each pick is subtracted from a working copy of
/// `availability`, so no unit is promised twice. Units nothing can serve are back-ordered.
///
/// * [`Strategy::Nearest`] / [`Strategy::Priority`]: each line takes what it can from its
///   eligible locations ranked by distance (unknown last), priority, id — or priority, distance,
///   id — and may split across several of them.
/// * [`Strategy::FewestShipments`]: `PickUpAtStore` lines are served first, from their store
///   (their only source). The other lines are served together: the location covering the most
///   still-unserved units is taken (ties: mean distance to the destinations of the lines it
///   serves, then priority, then id), gives what it can to each line in order, and this repeats
///   until no location can add anything. When one location holds everything, it covers all
///   units and is therefore picked alone. Beyond one location the choice is greedy, because the
///   true minimum number of locations is set cover, which is NP-hard. That is good enough here:
///   the common case (one location has it all) is exact, greedy is the classic set-cover
///   approximation (within a logarithmic factor of the optimum, and orders have a handful of
///   lines, so the worst case is an extra shipment or two), and each round costs
///   O(locations x lines) where an exact search grows exponentially with the locations.
pub fn plan(demands: &[Demand], locations: &[Location], availability: &Availability, strategy: Strategy) -> Plan {
    let mut planner = Planner::new(demands, locations, availability);
    match strategy {
        Strategy::Nearest | Strategy::Priority => {
            for line in 0..demands.len() {
                planner.serve_ranked(strategy, line);
            }
        }
        Strategy::FewestShipments => {
            let (pickups, shipped): (Vec<usize>, Vec<usize>) =
                (0..demands.len()).partition(|&i| demands[i].delivery == DeliveryMethod::PickUpAtStore);
            for line in pickups {
                planner.serve_ranked(strategy, line);
            }
            planner.serve_by_cover(&shipped);
        }
    }
    let Planner { mut lines, remaining, .. } = planner;
    for (line, rest) in lines.iter_mut().zip(remaining) {
        line.back_ordered = rest;
    }
    Plan { lines }
}

/// Explains what [`plan`] decides for these inputs (it calls `plan`, so the two never disagree):
/// for each line, every location with its distance, stock, priority, units given and why, plus
/// suggestions when the line is back-ordered.
pub fn explain(
    demands: &[Demand],
    locations: &[Location],
    availability: &Availability,
    strategy: Strategy,
) -> Explanation {
    let decided = plan(demands, locations, availability, strategy);
    let index = Index::new(demands, locations, availability);
    // Units taken per (item, location) by the whole plan, to tell what is left afterwards.
    let mut taken = vec![0_i64; index.stock.len()];
    for (line, planned) in decided.lines.iter().enumerate() {
        for pick in &planned.picks {
            if let Some(&loc) = index.by_id.get(pick.location_id.as_str()) {
                taken[index.slot(line, loc)] += i64::from(pick.quantity);
            }
        }
    }
    let lines = demands
        .iter()
        .zip(&decided.lines)
        .enumerate()
        .map(|(line, (demand, planned))| {
            let context = LineContext { index: &index, strategy, line, demand, planned, taken: &taken };
            LineExplanation {
                line_id: demand.line_id.clone(),
                item_id: demand.item_id.clone(),
                quantity: demand.quantity,
                allocated: planned.allocated(),
                back_ordered: planned.back_ordered,
                candidates: context.candidates(),
                suggestions: context.suggestions(locations, availability),
            }
        })
        .collect();
    Explanation { strategy, lines }
}

// ---------------------------------------------------------------------------------------------
// The explanation's index: every listed location (not only the stocked ones), items and stock.
// ---------------------------------------------------------------------------------------------

struct Index<'a> {
    demands: &'a [Demand],
    /// Distinct locations, first entry of each id.
    locations: Vec<&'a Location>,
    by_id: HashMap<&'a str, usize>,
    /// Per demand, its item's row in `stock`.
    line_item: Vec<usize>,
    /// Per demand, the point distances are measured to.
    destinations: Vec<Option<(f64, f64)>>,
    /// `items x locations`, row per distinct item; `None` when the availability has no entry.
    stock: Vec<Option<i64>>,
}

impl<'a> Index<'a> {
    fn new(demands: &'a [Demand], all_locations: &'a [Location], availability: &Availability) -> Self {
        let mut by_id: HashMap<&str, usize> = HashMap::with_capacity(all_locations.len());
        let mut locations = Vec::with_capacity(all_locations.len());
        for location in all_locations {
            if !by_id.contains_key(location.location_id.as_str()) {
                by_id.insert(location.location_id.as_str(), locations.len());
                locations.push(location);
            }
        }
        // Orders have a handful of lines, so a linear scan beats hashing the item ids.
        let mut items: Vec<&ItemId> = Vec::new();
        let line_item = demands
            .iter()
            .map(|d| {
                items.iter().position(|i| **i == d.item_id).unwrap_or_else(|| {
                    items.push(&d.item_id);
                    items.len() - 1
                })
            })
            .collect();
        let width = locations.len();
        let mut stock = vec![None; items.len() * width];
        for (item, item_id) in items.iter().enumerate() {
            let Some(interned) = availability.items.find(item_id.as_str()) else { continue };
            // Newest first: the first figure seen for a location is its current one.
            for (location, units) in availability.of_item(interned) {
                if let Some(&loc) = by_id.get(availability.locations.get(location)) {
                    stock[item * width + loc].get_or_insert(units);
                }
            }
        }
        let destinations = demands
            .iter()
            .map(|d| match d.delivery {
                DeliveryMethod::ShipToStore => d
                    .pickup_location
                    .as_ref()
                    .and_then(|id| by_id.get(id.as_str()))
                    .map(|&loc| locations[loc].coordinates()),
                DeliveryMethod::ShipToAddress | DeliveryMethod::PickUpAtStore | DeliveryMethod::Email => d.destination,
            })
            .collect();
        Index { demands, locations, by_id, line_item, destinations, stock }
    }

    /// Position of (this line's item, location) in `stock`.
    fn slot(&self, line: usize, loc: usize) -> usize {
        self.line_item[line] * self.locations.len() + loc
    }

    fn distance(&self, line: usize, loc: usize) -> Option<f64> {
        self.destinations[line].map(|point| self.locations[loc].distance_km_to(point))
    }

    fn ineligible(&self, line: usize, loc: usize) -> Option<Exclusion> {
        flag_exclusion(&self.demands[line], self.locations[loc])
    }

    /// The strategy's ranking of two locations for one line.
    fn rank(&self, strategy: Strategy, a: (usize, Option<f64>), b: (usize, Option<f64>)) -> Ordering {
        let (la, lb) = (self.locations[a.0], self.locations[b.0]);
        let by_distance = || cmp_distance(a.1, b.1);
        let by_priority = || la.priority.cmp(&lb.priority);
        let first = match strategy {
            Strategy::Priority => by_priority().then_with(by_distance),
            Strategy::Nearest | Strategy::FewestShipments => by_distance().then_with(by_priority),
        };
        first.then_with(|| la.location_id.cmp(&lb.location_id))
    }
}

/// Why `location` cannot serve `demand` whatever its stock, if it cannot.
fn flag_exclusion(demand: &Demand, location: &Location) -> Option<Exclusion> {
    match demand.delivery {
        DeliveryMethod::PickUpAtStore => {
            if demand.pickup_location.as_ref() != Some(&location.location_id) {
                Some(Exclusion::NotThePickupStore)
            } else if !location.active {
                Some(Exclusion::Inactive)
            } else if !location.can_pickup {
                Some(Exclusion::CannotPickup)
            } else {
                None
            }
        }
        DeliveryMethod::ShipToAddress | DeliveryMethod::ShipToStore | DeliveryMethod::Email => {
            if !location.active {
                Some(Exclusion::Inactive)
            } else if !location.can_ship {
                Some(Exclusion::CannotShip)
            } else {
                None
            }
        }
    }
}

/// The one flag keeping `location` from serving `demand`, when flipping it alone would do.
fn sole_flag_blocker(demand: &Demand, location: &Location) -> Option<Exclusion> {
    let (service_flag, missing_service) = match demand.delivery {
        DeliveryMethod::PickUpAtStore => {
            if demand.pickup_location.as_ref() != Some(&location.location_id) {
                return None;
            }
            (location.can_pickup, Exclusion::CannotPickup)
        }
        DeliveryMethod::ShipToAddress | DeliveryMethod::ShipToStore | DeliveryMethod::Email => {
            (location.can_ship, Exclusion::CannotShip)
        }
    };
    match (location.active, service_flag) {
        (false, true) => Some(Exclusion::Inactive),
        (true, false) => Some(missing_service),
        _ => None,
    }
}

/// `"1 unit"`, `"2 units"`.
fn units(n: i64) -> String {
    if n == 1 { "1 unit".to_owned() } else { format!("{n} units") }
}

/// Ascending distance; an unknown distance sorts after every known one.
fn cmp_distance(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

// ---------------------------------------------------------------------------------------------
// The planner: the order's items, the stocked locations and the distances laid out in vectors
// indexed by small integers, allocated once per order; deciding then does no hashing, no string
// work and no allocation, and computes each distance at most once, only where it can matter.
// ---------------------------------------------------------------------------------------------

const UNSET: usize = usize::MAX;

/// A location that holds stock of an item of the order: one per location id of the
/// availability (numbered as it interns them), tied to that id's first entry in `locations`.
#[derive(Clone, Copy)]
struct Site {
    /// Position in `locations`; `UNSET` when no location has this id (it serves nothing).
    loc: usize,
    /// Active and can ship.
    ships: bool,
    /// Active and offers pickup.
    hands_over: bool,
    priority: u32,
    at: Point,
}

struct Planner<'a> {
    demands: &'a [Demand],
    locations: &'a [Location],
    sites: Vec<Site>,
    /// Per line, its item's row in `left`.
    line_item: Vec<usize>,
    /// Per line, its destination's row in `km`, or `UNSET` when unknown.
    line_destination: Vec<usize>,
    /// Per `PickUpAtStore` line, the site of its store (`UNSET`: none has stock).
    line_store: Vec<usize>,
    /// The order's distinct destinations, and the same as [`Point`]s.
    destinations: Vec<(f64, f64)>,
    points: Vec<Point>,
    /// `destinations x sites` kilometres, each computed when first needed (NaN until then).
    km: Vec<f64>,
    /// `items x sites`: units still promisable (0 where the availability has no entry).
    left: Vec<i64>,
    remaining: Vec<u32>,
    lines: Vec<LinePlan>,
    /// Reused by each line: its candidate sites with the floor of their distance.
    candidates: Vec<(Option<f64>, usize)>,
}

impl<'a> Planner<'a> {
    fn new(demands: &'a [Demand], locations: &'a [Location], availability: &Availability) -> Self {
        let width = availability.locations.len();
        // Each availability location to its first entry in `locations`.
        let unlisted = Site { loc: UNSET, ships: false, hands_over: false, priority: 0, at: Point::new((0.0, 0.0)) };
        let mut sites = vec![unlisted; width];
        let mut tied = 0;
        for (loc, location) in locations.iter().enumerate() {
            if tied == width {
                break;
            }
            if let Some(site) = availability.locations.find(location.location_id.as_str())
                && sites[site].loc == UNSET
            {
                sites[site] = Site {
                    loc,
                    ships: location.active && location.can_ship,
                    hands_over: location.active && location.can_pickup,
                    priority: location.priority,
                    at: Point::new(location.coordinates()),
                };
                tied += 1;
            }
        }
        // Orders have a handful of lines, so a linear scan beats hashing the item ids.
        let mut items: Vec<&ItemId> = Vec::new();
        let line_item = demands
            .iter()
            .map(|d| {
                items.iter().position(|i| same_id(i.as_str(), d.item_id.as_str())).unwrap_or_else(|| {
                    items.push(&d.item_id);
                    items.len() - 1
                })
            })
            .collect();
        // `i64::MIN` marks a slot not yet set; it then reads as 0, and so does a figure of
        // `i64::MIN` itself: at or below 0, either gives nothing.
        let mut left: Vec<i64> = vec![i64::MIN; items.len() * width];
        for (row, item) in items.iter().enumerate() {
            let Some(item) = availability.items.find(item.as_str()) else { continue };
            // Newest first: the first figure seen for a location is its current one.
            for (site, units) in availability.of_item(item) {
                let slot = &mut left[row * width + site];
                if *slot == i64::MIN {
                    *slot = units;
                }
            }
        }
        for slot in &mut left {
            if *slot == i64::MIN {
                *slot = 0;
            }
        }
        let mut destinations: Vec<(f64, f64)> = Vec::new();
        let line_destination = demands
            .iter()
            .map(|d| {
                let point = match d.delivery {
                    DeliveryMethod::ShipToStore => d
                        .pickup_location
                        .as_ref()
                        .and_then(|id| locations.iter().find(|l| l.location_id == *id))
                        .map(Location::coordinates),
                    DeliveryMethod::ShipToAddress | DeliveryMethod::PickUpAtStore | DeliveryMethod::Email => {
                        d.destination
                    }
                };
                point.map_or(UNSET, |p| {
                    let same = |q: &(f64, f64)| q.0.to_bits() == p.0.to_bits() && q.1.to_bits() == p.1.to_bits();
                    destinations.iter().position(same).unwrap_or_else(|| {
                        destinations.push(p);
                        destinations.len() - 1
                    })
                })
            })
            .collect();
        let line_store = demands
            .iter()
            .map(|d| match (d.delivery, &d.pickup_location) {
                (DeliveryMethod::PickUpAtStore, Some(id)) => availability.locations.find(id.as_str()).unwrap_or(UNSET),
                _ => UNSET,
            })
            .collect();
        let lines = demands
            .iter()
            .map(|d| LinePlan {
                line_id: d.line_id.clone(),
                item_id: d.item_id.clone(),
                picks: Vec::new(),
                back_ordered: 0,
            })
            .collect();
        Planner {
            demands,
            locations,
            sites,
            line_item,
            line_destination,
            line_store,
            km: vec![f64::NAN; destinations.len() * width],
            points: destinations.iter().map(|&p| Point::new(p)).collect(),
            destinations,
            left,
            remaining: demands.iter().map(|d| d.quantity).collect(),
            lines,
            candidates: Vec::new(),
        }
    }

    /// Position of (this line's item, site) in `left`.
    fn slot(&self, line: usize, site: usize) -> usize {
        self.line_item[line] * self.sites.len() + site
    }

    fn eligible(&self, line: usize, site: usize) -> bool {
        match self.demands[line].delivery {
            DeliveryMethod::PickUpAtStore => self.line_store[line] == site && self.sites[site].hands_over,
            DeliveryMethod::ShipToAddress | DeliveryMethod::ShipToStore | DeliveryMethod::Email => {
                self.sites[site].ships
            }
        }
    }

    /// Kilometres from `site` to the line's destination, computed once per destination.
    fn distance(&mut self, line: usize, site: usize) -> Option<f64> {
        let destination = self.line_destination[line];
        if destination == UNSET {
            return None;
        }
        let at = destination * self.sites.len() + site;
        if self.km[at].is_nan() {
            self.km[at] = self.locations[self.sites[site].loc].distance_km_to(self.destinations[destination]);
        }
        Some(self.km[at])
    }

    /// At most the kilometres `distance` returns, without trigonometry.
    fn distance_floor(&self, line: usize, site: usize) -> Option<f64> {
        let destination = self.line_destination[line];
        (destination != UNSET).then(|| self.sites[site].at.km_floor(&self.points[destination]))
    }

    fn id(&self, site: usize) -> &str {
        self.locations[self.sites[site].loc].location_id.as_str()
    }

    /// Whether the strategy ranks `a` before `b` for `line` (ids are distinct, so one is first).
    fn ranks_before(&mut self, strategy: Strategy, line: usize, a: usize, b: usize) -> bool {
        let by_priority = self.sites[a].priority.cmp(&self.sites[b].priority);
        let first = match strategy {
            Strategy::Priority if by_priority.is_ne() => by_priority,
            Strategy::Priority => cmp_distance(self.distance(line, a), self.distance(line, b)),
            Strategy::Nearest | Strategy::FewestShipments => {
                cmp_distance(self.distance(line, a), self.distance(line, b)).then(by_priority)
            }
        };
        first.then_with(|| self.id(a).cmp(self.id(b))).is_lt()
    }

    /// Gives `line` `units` from `site`, keeping the stock left and the line's need in step.
    fn take(&mut self, line: usize, site: usize, units: u32) {
        let slot = self.slot(line, site);
        self.left[slot] -= i64::from(units);
        self.remaining[line] -= units;
        let location_id = self.locations[self.sites[site].loc].location_id.clone();
        self.lines[line].picks.push(Pick { location_id, quantity: units });
    }

    /// Units `line` can take from `site` now: its remaining need capped by the stock left there.
    fn giveable(&self, line: usize, site: usize) -> u32 {
        let stock = self.left[self.slot(line, site)].max(0);
        // Bounded by `remaining`, so it fits a u32.
        u32::try_from(stock.min(i64::from(self.remaining[line]))).unwrap_or(0)
    }

    /// Serves one line from its eligible stocked sites in the strategy's ranking: the best one
    /// gives what it can, then the best of the rest, until the line is served or none is left
    /// (a site that gave without serving the line in full has nothing left for it).
    fn serve_ranked(&mut self, strategy: Strategy, line: usize) {
        if self.remaining[line] == 0 {
            return;
        }
        let mut candidates = std::mem::take(&mut self.candidates);
        candidates.clear();
        for site in 0..self.sites.len() {
            if self.left[self.slot(line, site)] > 0 && self.eligible(line, site) {
                // Priority ranks by distance only among equals, and measures those.
                let floor = if strategy == Strategy::Priority { None } else { self.distance_floor(line, site) };
                candidates.push((floor, site));
            }
        }
        while self.remaining[line] > 0 {
            let best = match strategy {
                Strategy::Priority => self.first_by_priority(line, &candidates),
                Strategy::Nearest | Strategy::FewestShipments => self.nearest(line, &candidates),
            };
            let Some(site) = best else { break };
            let units = self.giveable(line, site);
            self.take(line, site, units);
        }
        self.candidates = candidates;
    }

    /// The nearest of `candidates` with stock left for `line` (then priority, then id). The one
    /// with the least distance floor is measured first; after it, only those whose floor does
    /// not exceed the best distance so far can be nearer, so only their distances are computed.
    fn nearest(&mut self, line: usize, candidates: &[(Option<f64>, usize)]) -> Option<usize> {
        let mut lowest: Option<(Option<f64>, usize)> = None;
        for &(floor, site) in candidates {
            if self.left[self.slot(line, site)] > 0 && lowest.is_none_or(|(f, _)| cmp_distance(floor, f).is_lt()) {
                lowest = Some((floor, site));
            }
        }
        let (_, first) = lowest?;
        let mut best = (first, self.distance(line, first));
        for &(floor, site) in candidates {
            if site == first || self.left[self.slot(line, site)] <= 0 {
                continue;
            }
            if let ((_, Some(best_km)), Some(floor)) = (best, floor)
                && floor > best_km
            {
                continue;
            }
            let km = self.distance(line, site);
            let (b, b_km) = best;
            if cmp_distance(km, b_km)
                .then(self.sites[site].priority.cmp(&self.sites[b].priority))
                .then_with(|| self.id(site).cmp(self.id(b)))
                .is_lt()
            {
                best = (site, km);
            }
        }
        Some(best.0)
    }

    /// The first of `candidates` with stock left for `line` by priority, then distance, then id.
    fn first_by_priority(&mut self, line: usize, candidates: &[(Option<f64>, usize)]) -> Option<usize> {
        let mut best = UNSET;
        for &(_, site) in candidates {
            if self.left[self.slot(line, site)] > 0
                && (best == UNSET || self.ranks_before(Strategy::Priority, line, site, best))
            {
                best = site;
            }
        }
        (best != UNSET).then_some(best)
    }

    /// Greedy cover of the `open` lines, none of them picked up (see [`plan`]).
    fn serve_by_cover(&mut self, open: &[usize]) {
        let items = self.left.len() / self.sites.len().max(1);
        // Reused across sites and rounds: simulated stock per item, the lines a site would
        // serve, the sites giving the most units with the floor of their mean distance.
        let mut simulated = vec![0_i64; items];
        let mut served: Vec<usize> = Vec::with_capacity(open.len());
        let mut tied: Vec<(Option<f64>, usize)> = Vec::new();
        loop {
            let mut most = 0_u64;
            tied.clear();
            for site in 0..self.sites.len() {
                if !self.sites[site].ships {
                    continue;
                }
                let units = self.simulate(open, site, &mut simulated, &mut served);
                if units == 0 || units < most {
                    continue;
                }
                if units > most {
                    most = units;
                    tied.clear();
                }
                tied.push((self.mean_distance_floor(&served, site), site));
            }
            if most == 0 {
                break;
            }
            // Least mean distance (unknown last), then priority, then id. Sorted by floor, the
            // sites whose floor exceeds the best mean found so far cannot beat it.
            tied.sort_unstable_by(|a, b| cmp_distance(a.0, b.0));
            let mut best: Option<(usize, Option<f64>)> = None;
            for &(floor, site) in &tied {
                match (best, floor) {
                    (Some((_, Some(best_km))), Some(floor)) if floor > best_km => break,
                    (Some((_, Some(_))), None) => break,
                    _ => {}
                }
                self.simulate(open, site, &mut simulated, &mut served);
                let mean_km = self.mean_distance(&served, site);
                let before = |(b, b_km): (usize, Option<f64>)| {
                    cmp_distance(mean_km, b_km)
                        .then(self.sites[site].priority.cmp(&self.sites[b].priority))
                        .then_with(|| self.id(site).cmp(self.id(b)))
                        .is_lt()
                };
                if best.is_none_or(before) {
                    best = Some((site, mean_km));
                }
            }
            let Some((chosen, _)) = best else { break };
            for &line in open {
                let units = self.giveable(line, chosen);
                if units > 0 {
                    self.take(line, chosen, units);
                }
            }
        }
    }

    /// Units `site` would give the open lines served in order; `served` gets the lines that
    /// would get some. Lines of the same item draw on the same simulated stock.
    fn simulate(&self, open: &[usize], site: usize, simulated: &mut [i64], served: &mut Vec<usize>) -> u64 {
        let width = self.sites.len();
        for (item, stock) in simulated.iter_mut().enumerate() {
            *stock = self.left[item * width + site];
        }
        served.clear();
        let mut units = 0_u64;
        for &line in open {
            let need = self.remaining[line];
            if need == 0 {
                continue;
            }
            let stock = &mut simulated[self.line_item[line]];
            let give = (*stock).max(0).min(i64::from(need));
            if give > 0 {
                *stock -= give;
                units += give.unsigned_abs();
                served.push(line);
            }
        }
        units
    }

    /// Mean distance from `site` to the known destinations of `served`; `None` when none is known.
    fn mean_distance(&mut self, served: &[usize], site: usize) -> Option<f64> {
        let mut known = 0_usize;
        let sum: f64 = served.iter().filter_map(|&line| self.distance(line, site)).inspect(|_| known += 1).sum();
        (known > 0).then(|| sum / known as f64)
    }

    /// At most what `mean_distance` returns (a mean of floors).
    fn mean_distance_floor(&self, served: &[usize], site: usize) -> Option<f64> {
        let mut known = 0_usize;
        let sum: f64 = served.iter().filter_map(|&line| self.distance_floor(line, site)).inspect(|_| known += 1).sum();
        (known > 0).then(|| sum / known as f64)
    }
}

/// A point in radians, with a lower bound of its latitude's cosine, to bound distances cheaply.
#[derive(Clone, Copy)]
struct Point {
    latitude: f64,
    longitude: f64,
    cos_floor: f64,
    /// Latitude within +-90 and longitude within +-180 degrees: the bound holds.
    valid: bool,
}

impl Point {
    fn new((latitude, longitude): (f64, f64)) -> Self {
        let (lat, lon) = (latitude.to_radians(), longitude.to_radians());
        // Taylor series of the cosine cut after a negative term: below it while |x| <= pi/2.
        let (x2, x4, x6) = (lat * lat, lat.powi(4), lat.powi(6));
        Point {
            latitude: lat,
            longitude: lon,
            cos_floor: (1.0 - x2 / 2.0 + x4 / 24.0 - x6 / 720.0).max(0.0),
            valid: latitude.abs() <= 90.0 && longitude.abs() <= 180.0,
        }
    }

    /// A lower bound of `great_circle_km` between the two points, with no trigonometry: the
    /// haversine with sin(x) >= x - x^3/6 on [0, pi/2], the cosine floors, asin(y) >= y, and a
    /// margin (1 ppm + 1 mm) far above the rounding of either computation.
    fn km_floor(&self, other: &Point) -> f64 {
        if !(self.valid && other.valid) {
            return f64::NEG_INFINITY;
        }
        let sin_floor = |x: f64| (x - x * x * x / 6.0).max(0.0);
        let half_dlat = (self.latitude - other.latitude).abs() / 2.0;
        let dlon = (self.longitude - other.longitude).abs();
        // sin^2(dlon / 2) repeats every 2 pi and mirrors about pi.
        let half_dlon = dlon.min(2.0 * std::f64::consts::PI - dlon).max(0.0) / 2.0;
        let h = sin_floor(half_dlat).powi(2) + self.cos_floor * other.cos_floor * sin_floor(half_dlon).powi(2);
        2.0 * EARTH_RADIUS_KM * h.sqrt().min(1.0) * (1.0 - 1e-6) - 1e-6
    }
}

// ---------------------------------------------------------------------------------------------
// Explanation.
// ---------------------------------------------------------------------------------------------

/// One location as seen by one line, before it becomes a [`CandidateExplanation`].
struct Row {
    loc: usize,
    distance_km: Option<f64>,
    /// Position among the line's picks, when chosen.
    pick: Option<usize>,
    excluded: Option<Exclusion>,
}

struct LineContext<'i, 'a> {
    index: &'i Index<'a>,
    strategy: Strategy,
    line: usize,
    demand: &'i Demand,
    planned: &'i LinePlan,
    taken: &'i [i64],
}

impl LineContext<'_, '_> {
    fn available(&self, loc: usize) -> i64 {
        self.index.stock[self.index.slot(self.line, loc)].unwrap_or(0)
    }

    /// Stock at `loc` after the whole plan (may be negative when it started so).
    fn left_after(&self, loc: usize) -> i64 {
        self.available(loc) - self.taken[self.index.slot(self.line, loc)]
    }

    fn exclusion(&self, loc: usize) -> Option<Exclusion> {
        self.index.ineligible(self.line, loc).or_else(|| (self.available(loc) <= 0).then_some(Exclusion::NoStock))
    }

    fn candidates(&self) -> Vec<CandidateExplanation> {
        let index = self.index;
        let pick_position = |loc: usize| {
            let id = &index.locations[loc].location_id;
            self.planned.picks.iter().position(|p| p.location_id == *id)
        };
        let mut rows: Vec<Row> = (0..index.locations.len())
            .map(|loc| Row {
                loc,
                distance_km: index.distance(self.line, loc),
                pick: pick_position(loc),
                excluded: self.exclusion(loc),
            })
            .collect();
        // Chosen in pick order, then eligible, then excluded; each group in the strategy's ranking.
        let group = |row: &Row| match (row.pick, row.excluded) {
            (Some(p), _) => (0, p),
            (None, None) => (1, 0),
            (None, Some(_)) => (2, 0),
        };
        rows.sort_by(|a, b| {
            group(a)
                .cmp(&group(b))
                .then_with(|| index.rank(self.strategy, (a.loc, a.distance_km), (b.loc, b.distance_km)))
        });
        rows.into_iter()
            .map(|Row { loc, distance_km, pick, excluded }| {
                let location = index.locations[loc];
                let chosen = pick.map_or(0, |p| self.planned.picks[p].quantity);
                CandidateExplanation {
                    location_id: location.location_id.clone(),
                    distance_km,
                    available: self.available(loc),
                    priority: location.priority,
                    chosen,
                    excluded,
                    reason: self.reason(loc, pick, chosen, excluded),
                }
            })
            .collect()
    }

    fn reason(&self, loc: usize, pick: Option<usize>, chosen: u32, excluded: Option<Exclusion>) -> String {
        match excluded {
            Some(Exclusion::Inactive) => "inactive".to_owned(),
            Some(Exclusion::CannotShip) => "cannot ship".to_owned(),
            Some(Exclusion::CannotPickup) => "does not offer pickup".to_owned(),
            Some(Exclusion::NotThePickupStore) => match &self.demand.pickup_location {
                Some(store) => format!("the line is picked up at {store}"),
                None => "the line names no pickup store".to_owned(),
            },
            Some(Exclusion::NoStock) => format!("no stock ({} available)", self.available(loc)),
            None => match pick {
                Some(p) => {
                    let why = match (self.strategy, self.demand.delivery) {
                        (_, DeliveryMethod::PickUpAtStore) => "the pickup store".to_owned(),
                        (Strategy::Nearest, _) => format!("choice {} by distance", p + 1),
                        (Strategy::Priority, _) => format!("choice {} by priority", p + 1),
                        (Strategy::FewestShipments, _) => format!("shipment {} of the fewest-shipments set", p + 1),
                    };
                    format!("allocated {chosen} of {} units: {why}", self.demand.quantity)
                }
                None if self.left_after(loc) <= 0 => {
                    format!("its {} units went to other lines of this order", self.available(loc))
                }
                None => match self.strategy {
                    Strategy::Nearest => "not needed: nearer locations covered the line".to_owned(),
                    Strategy::Priority => "not needed: higher-priority locations covered the line".to_owned(),
                    Strategy::FewestShipments => {
                        "not needed: the order ships from fewer locations without it".to_owned()
                    }
                },
            },
        }
    }

    /// Up to 3 changes that would serve more of a back-ordered line, ordered by the units the
    /// line would still be short after the change, then the units to add, distance and id.
    fn suggestions(&self, locations: &[Location], availability: &Availability) -> Vec<String> {
        let short = self.planned.back_ordered;
        if short == 0 {
            return Vec::new();
        }
        let index = self.index;
        if (0..index.locations.len()).all(|loc| index.stock[index.slot(self.line, loc)].is_none()) {
            return vec![format!("no location stocks item {}", self.demand.item_id)];
        }
        // (still short, units to add, distance, location, text)
        let mut found: Vec<(u32, i64, Option<f64>, &LocationId, String)> = Vec::new();
        for loc in 0..index.locations.len() {
            let location = index.locations[loc];
            let id = &location.location_id;
            let distance = index.distance(self.line, loc);
            let left = self.left_after(loc);
            if index.ineligible(self.line, loc).is_none() {
                let missing = i64::from(short) - left;
                if missing > 0 {
                    found.push((0, missing, distance, id, format!("location {id} is {} short", units(missing))));
                }
            } else if left > 0
                && let Some(blocker) = sole_flag_blocker(self.demand, location)
            {
                let gained = self.allocated_if_flipped(locations, availability, location, blocker);
                if gained > 0 {
                    let text = match blocker {
                        Exclusion::Inactive => format!("location {id} is inactive; activating it would allocate"),
                        Exclusion::CannotShip => format!("location {id} cannot ship; enabling shipping would allocate"),
                        _ => format!("location {id} does not offer pickup; enabling pickup would allocate"),
                    };
                    found.push((
                        short.saturating_sub(gained),
                        0,
                        distance,
                        id,
                        format!("{text} {}", units(i64::from(gained))),
                    ));
                }
            }
        }
        found.sort_by(|a, b| {
            a.0.cmp(&b.0).then(a.1.cmp(&b.1)).then_with(|| cmp_distance(a.2, b.2)).then_with(|| a.3.cmp(b.3))
        });
        found.into_iter().take(3).map(|(.., text)| text).collect()
    }

    /// Extra units this line would get if `blocker` were lifted at `location`: a re-plan, so the
    /// figure is what `plan` would really do, not an estimate.
    fn allocated_if_flipped(
        &self,
        locations: &[Location],
        availability: &Availability,
        location: &Location,
        blocker: Exclusion,
    ) -> u32 {
        let changed: Vec<Location> = locations
            .iter()
            .map(|l| {
                let mut l = l.clone();
                if l.location_id == location.location_id {
                    match blocker {
                        Exclusion::Inactive => l.active = true,
                        Exclusion::CannotShip => l.can_ship = true,
                        _ => l.can_pickup = true,
                    }
                }
                l
            })
            .collect();
        let replanned = plan(self.index.demands, &changed, availability, self.strategy);
        replanned.lines.get(self.line).map_or(0, |l| l.allocated().saturating_sub(self.planned.allocated()))
    }
}

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
