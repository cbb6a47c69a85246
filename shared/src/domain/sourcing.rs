//! Source selection: which locations ship (or hand over) each order line, given what every
//! location can still promise. Pure: no I/O, no clock, no randomness; the same inputs always give
//! the same plan. [`plan`] decides; [`explain`] replays that decision for a person to read.
//!
//! Every tie is broken by location id in the end, and nothing is decided by iterating a
//! `HashMap`, so neither the map's hash seed nor the order of `locations` changes the plan (a
//! location id listed twice counts once, its first entry).

use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

use serde::{Deserialize, Serialize};

use super::ids::{ItemId, LocationId, OrderLineId};
use super::location::Location;
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

/// Units that can still be promised at a location for an item: on hand - reserved - safety (may be <= 0).
pub type Availability = HashMap<(LocationId, ItemId), i64>;

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
    let index = Index::new(demands, locations, availability);
    let mut left: Vec<i64> = index.stock.iter().map(|s| s.unwrap_or(0)).collect();
    let mut lines: Vec<LinePlan> = demands
        .iter()
        .map(|d| LinePlan {
            line_id: d.line_id.clone(),
            item_id: d.item_id.clone(),
            picks: Vec::new(),
            back_ordered: 0,
        })
        .collect();
    let mut remaining: Vec<u32> = demands.iter().map(|d| d.quantity).collect();
    match strategy {
        Strategy::Nearest | Strategy::Priority => {
            for line in 0..demands.len() {
                serve_ranked(&index, strategy, line, &mut left, &mut remaining, &mut lines);
            }
        }
        Strategy::FewestShipments => {
            let (pickups, shipped): (Vec<usize>, Vec<usize>) =
                (0..demands.len()).partition(|&i| demands[i].delivery == DeliveryMethod::PickUpAtStore);
            for line in pickups {
                serve_ranked(&index, strategy, line, &mut left, &mut remaining, &mut lines);
            }
            serve_by_cover(&index, &shipped, &mut left, &mut remaining, &mut lines);
        }
    }
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
// The index: locations, items and stock laid out in vectors so planning does no string hashing.
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
        if availability.len() <= stock.len() {
            // The usual case, a map of just the order's items: one pass, no key clones. The
            // order of the pass is irrelevant: each entry lands in its own slot.
            for ((location_id, item_id), &units) in availability {
                if let (Some(&loc), Some(item)) =
                    (by_id.get(location_id.as_str()), items.iter().position(|i| *i == item_id))
                {
                    stock[item * width + loc] = Some(units);
                }
            }
        } else {
            // A larger map (a whole stock table): look up only the slots we need.
            for (item, item_id) in items.iter().enumerate() {
                for (loc, location) in locations.iter().enumerate() {
                    let key = (location.location_id.clone(), (*item_id).clone());
                    stock[item * width + loc] = availability.get(&key).copied();
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

/// Gives `line` `units` from `loc`, keeping the working stock and the line's need in step.
fn take(
    index: &Index<'_>,
    line: usize,
    loc: usize,
    units: u32,
    left: &mut [i64],
    remaining: &mut [u32],
    lines: &mut [LinePlan],
) {
    left[index.slot(line, loc)] -= i64::from(units);
    remaining[line] -= units;
    lines[line].picks.push(Pick { location_id: index.locations[loc].location_id.clone(), quantity: units });
}

/// Units `line` can take from `loc` now: its remaining need capped by the stock left there.
fn giveable(index: &Index<'_>, line: usize, loc: usize, left: &[i64], remaining: &[u32]) -> u32 {
    let stock = left[index.slot(line, loc)].max(0);
    // Bounded by `remaining`, so it fits a u32.
    u32::try_from(stock.min(i64::from(remaining[line]))).unwrap_or(0)
}

/// Serves one line from its eligible stocked locations in the strategy's ranking.
fn serve_ranked(
    index: &Index<'_>,
    strategy: Strategy,
    line: usize,
    left: &mut [i64],
    remaining: &mut [u32],
    lines: &mut [LinePlan],
) {
    if remaining[line] == 0 {
        return;
    }
    let mut candidates: Vec<(usize, Option<f64>)> = (0..index.locations.len())
        .filter(|&loc| left[index.slot(line, loc)] > 0 && index.ineligible(line, loc).is_none())
        .map(|loc| (loc, index.distance(line, loc)))
        .collect();
    candidates.sort_by(|&a, &b| index.rank(strategy, a, b));
    for (loc, _) in candidates {
        let units = giveable(index, line, loc, left, remaining);
        if units > 0 {
            take(index, line, loc, units, left, remaining, lines);
        }
        if remaining[line] == 0 {
            break;
        }
    }
}

/// What one location would give the open lines now, and how far it is from them on average.
struct Cover {
    loc: usize,
    units: u64,
    mean_km: Option<f64>,
}

/// Greedy cover of the `open` lines (see [`plan`]).
fn serve_by_cover(index: &Index<'_>, open: &[usize], left: &mut [i64], remaining: &mut [u32], lines: &mut [LinePlan]) {
    // Simulated stock per open line's slot, reused across locations and rounds.
    let mut scratch: Vec<(usize, i64)> = Vec::with_capacity(open.len());
    loop {
        let mut best: Option<Cover> = None;
        for loc in 0..index.locations.len() {
            let (units, served) = simulate(index, open, loc, left, remaining, &mut scratch);
            if units == 0 || best.as_ref().is_some_and(|b| units < b.units) {
                continue;
            }
            let candidate = Cover { loc, units, mean_km: mean_distance(index, &served, loc) };
            if best.as_ref().is_none_or(|b| better_cover(index, &candidate, b)) {
                best = Some(candidate);
            }
        }
        let Some(chosen) = best else { break };
        for &line in open {
            if index.ineligible(line, chosen.loc).is_none() {
                let units = giveable(index, line, chosen.loc, left, remaining);
                if units > 0 {
                    take(index, line, chosen.loc, units, left, remaining, lines);
                }
            }
        }
    }
}

/// Units `loc` would give the open lines served in order, and the lines that would get some.
fn simulate(
    index: &Index<'_>,
    open: &[usize],
    loc: usize,
    left: &[i64],
    remaining: &[u32],
    scratch: &mut Vec<(usize, i64)>,
) -> (u64, Vec<usize>) {
    scratch.clear();
    let mut units = 0_u64;
    let mut served = Vec::new();
    for &line in open {
        if remaining[line] == 0 || index.ineligible(line, loc).is_some() {
            continue;
        }
        let slot = index.slot(line, loc);
        // Lines of the same item draw on the same simulated stock.
        let stock = match scratch.iter_mut().find(|(s, _)| *s == slot) {
            Some((_, stock)) => stock,
            None => {
                scratch.push((slot, left[slot]));
                let last = scratch.len() - 1;
                &mut scratch[last].1
            }
        };
        let give = (*stock).max(0).min(i64::from(remaining[line]));
        if give > 0 {
            *stock -= give;
            units += give.unsigned_abs();
            served.push(line);
        }
    }
    (units, served)
}

/// Mean distance from `loc` to the known destinations of `served`; `None` when none is known.
fn mean_distance(index: &Index<'_>, served: &[usize], loc: usize) -> Option<f64> {
    let known: Vec<f64> = served.iter().filter_map(|&line| index.distance(line, loc)).collect();
    (!known.is_empty()).then(|| known.iter().sum::<f64>() / known.len() as f64)
}

fn better_cover(index: &Index<'_>, a: &Cover, b: &Cover) -> bool {
    let (la, lb) = (index.locations[a.loc], index.locations[b.loc]);
    b.units
        .cmp(&a.units)
        .then_with(|| cmp_distance(a.mean_km, b.mean_km))
        .then_with(|| la.priority.cmp(&lb.priority))
        .then_with(|| la.location_id.cmp(&lb.location_id))
        .is_lt()
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
mod tests {
    use super::*;

    #[test]
    fn when_plan_lines_add_up_beyond_u32_should_count_them_exactly() {
        let line = |id: &str| LinePlan {
            line_id: OrderLineId::parse(id).unwrap(),
            item_id: ItemId::parse("SKU-1").unwrap(),
            picks: vec![Pick { location_id: LocationId::parse("DC-1").unwrap(), quantity: u32::MAX }],
            back_ordered: u32::MAX,
        };
        let plan = Plan { lines: vec![line("1"), line("2")] };
        assert_eq!(plan.allocated(), 2 * u64::from(u32::MAX));
        assert_eq!(plan.back_ordered(), 2 * u64::from(u32::MAX));
    }
    use crate::domain::location::LocationType;
    use chrono::{TimeZone, Utc};
    use rand::rngs::StdRng;
    use rand::seq::SliceRandom;
    use rand::{Rng, SeedableRng};
    use serde_json::json;

    const ATLANTA: (f64, f64) = (33.749, -84.388);
    const DALLAS: (f64, f64) = (32.7767, -96.797);
    const CHICAGO: (f64, f64) = (41.8781, -87.6298);
    const LOS_ANGELES: (f64, f64) = (34.0522, -118.2437);
    const ALL_STRATEGIES: [Strategy; 3] = Strategy::ALL;

    fn loc_id(id: &str) -> LocationId {
        LocationId::parse(id).unwrap()
    }

    fn dc(id: &str, at: (f64, f64)) -> Location {
        Location {
            location_id: loc_id(id),
            name: id.to_owned(),
            location_type: LocationType::Dc,
            latitude: at.0,
            longitude: at.1,
            priority: 100,
            can_ship: true,
            can_pickup: false,
            active: true,
            version: 1,
            updated_timestamp: Utc.with_ymd_and_hms(2025, 1, 31, 12, 0, 0).unwrap(),
        }
    }

    fn store(id: &str, at: (f64, f64)) -> Location {
        Location { location_type: LocationType::Store, can_pickup: true, ..dc(id, at) }
    }

    fn with(mut location: Location, edit: impl FnOnce(&mut Location)) -> Location {
        edit(&mut location);
        location
    }

    fn ship(line: &str, item: &str, quantity: u32, to: (f64, f64)) -> Demand {
        Demand {
            line_id: OrderLineId::parse(line).unwrap(),
            item_id: ItemId::parse(item).unwrap(),
            quantity,
            delivery: DeliveryMethod::ShipToAddress,
            destination: Some(to),
            pickup_location: None,
        }
    }

    fn at_store(line: &str, item: &str, quantity: u32, delivery: DeliveryMethod, store: &str) -> Demand {
        Demand {
            delivery,
            destination: None,
            pickup_location: Some(loc_id(store)),
            ..ship(line, item, quantity, ATLANTA)
        }
    }

    fn stock(rows: &[(&str, &str, i64)]) -> Availability {
        rows.iter().map(|&(l, i, q)| ((loc_id(l), ItemId::parse(i).unwrap()), q)).collect()
    }

    /// Each line's picks as `(location, units)`.
    fn picks(plan: &Plan) -> Vec<Vec<(String, u32)>> {
        plan.lines.iter().map(|l| l.picks.iter().map(|p| (p.location_id.to_string(), p.quantity)).collect()).collect()
    }

    fn ids(plan: &Plan) -> Vec<String> {
        plan.locations().into_iter().map(LocationId::into_string).collect()
    }

    fn p(location: &str, units: u32) -> (String, u32) {
        (location.to_owned(), units)
    }

    #[test]
    fn when_stock_is_short_should_allocate_partially_and_back_order_the_rest() {
        let locations = [dc("DC-1", ATLANTA), dc("DC-2", DALLAS)];
        let availability = stock(&[("DC-1", "SKU", 3), ("DC-2", "SKU", 0)]);
        for strategy in ALL_STRATEGIES {
            let plan = plan(&[ship("1", "SKU", 5, ATLANTA)], &locations, &availability, strategy);
            assert_eq!(picks(&plan), vec![vec![p("DC-1", 3)]], "{strategy}");
            assert_eq!((plan.allocated(), plan.back_ordered()), (3, 2));
            assert_eq!(plan.lines[0].back_ordered, 2);
        }
    }

    #[test]
    fn when_order_ships_to_atlanta_should_pick_the_atlanta_dc_over_dallas() {
        let locations = [dc("DC-DAL", DALLAS), dc("DC-ATL", ATLANTA)];
        let availability = stock(&[("DC-DAL", "SKU", 10), ("DC-ATL", "SKU", 10)]);
        let plan = plan(&[ship("1", "SKU", 2, ATLANTA)], &locations, &availability, Strategy::Nearest);
        assert_eq!(picks(&plan), vec![vec![p("DC-ATL", 2)]]);
        assert_eq!(plan.back_ordered(), 0);
    }

    #[test]
    fn when_nearest_location_is_short_should_split_to_the_next_nearest() {
        let locations = [dc("DC-LA", LOS_ANGELES), dc("DC-DAL", DALLAS), dc("DC-ATL", ATLANTA)];
        let availability = stock(&[("DC-LA", "SKU", 10), ("DC-DAL", "SKU", 2), ("DC-ATL", "SKU", 3)]);
        let plan = plan(&[ship("1", "SKU", 7, ATLANTA)], &locations, &availability, Strategy::Nearest);
        assert_eq!(picks(&plan), vec![vec![p("DC-ATL", 3), p("DC-DAL", 2), p("DC-LA", 2)]]);
    }

    #[test]
    fn when_destination_is_unknown_should_rank_by_priority_then_id() {
        let locations = [dc("DC-B", ATLANTA), with(dc("DC-C", DALLAS), |l| l.priority = 5), dc("DC-A", CHICAGO)];
        let availability = stock(&[("DC-A", "SKU", 1), ("DC-B", "SKU", 1), ("DC-C", "SKU", 1)]);
        let mut line = ship("1", "SKU", 3, ATLANTA);
        line.destination = None;
        let plan = plan(&[line], &locations, &availability, Strategy::Nearest);
        assert_eq!(picks(&plan), vec![vec![p("DC-C", 1), p("DC-A", 1), p("DC-B", 1)]]);
    }

    #[test]
    fn when_strategy_is_priority_should_prefer_the_lowest_priority_number_even_if_farther() {
        let locations = [
            with(dc("DC-ATL", ATLANTA), |l| l.priority = 50),
            with(dc("DC-LA", LOS_ANGELES), |l| l.priority = 10),
            with(dc("DC-DAL", DALLAS), |l| l.priority = 10),
        ];
        let availability = stock(&[("DC-ATL", "SKU", 9), ("DC-LA", "SKU", 2), ("DC-DAL", "SKU", 2)]);
        let line = [ship("1", "SKU", 5, ATLANTA)];
        // Equal priorities fall back to distance: Dallas before Los Angeles.
        let plan_p = plan(&line, &locations, &availability, Strategy::Priority);
        assert_eq!(picks(&plan_p), vec![vec![p("DC-DAL", 2), p("DC-LA", 2), p("DC-ATL", 1)]]);
        let plan_n = plan(&line, &locations, &availability, Strategy::Nearest);
        assert_eq!(picks(&plan_n), vec![vec![p("DC-ATL", 5)]]);
    }

    #[test]
    fn when_one_location_has_every_line_should_ship_all_from_it_even_if_farther() {
        let locations = [dc("DC-ATL", ATLANTA), dc("DC-DAL", DALLAS)];
        let availability = stock(&[("DC-ATL", "A", 5), ("DC-DAL", "A", 5), ("DC-DAL", "B", 5)]);
        let lines = [ship("1", "A", 2, ATLANTA), ship("2", "B", 1, ATLANTA)];
        let nearest = plan(&lines, &locations, &availability, Strategy::Nearest);
        assert_eq!(ids(&nearest), ["DC-ATL", "DC-DAL"]);
        let fewest = plan(&lines, &locations, &availability, Strategy::FewestShipments);
        assert_eq!(picks(&fewest), vec![vec![p("DC-DAL", 2)], vec![p("DC-DAL", 1)]]);
    }

    #[test]
    fn when_several_locations_have_everything_should_take_the_nearest_on_average() {
        let locations = [dc("DC-LA", LOS_ANGELES), dc("DC-CHI", CHICAGO), dc("DC-DAL", DALLAS)];
        let rows: Vec<(&str, &str, i64)> = locations
            .iter()
            .flat_map(|l| [(l.location_id.as_str(), "A", 5), (l.location_id.as_str(), "B", 5)])
            .collect();
        // One line near Chicago, one near Atlanta: Chicago is nearer on average than Dallas.
        let lines = [ship("1", "A", 1, (41.0, -88.0)), ship("2", "B", 1, ATLANTA)];
        let plan = plan(&lines, &locations, &stock(&rows), Strategy::FewestShipments);
        assert_eq!(ids(&plan), ["DC-CHI"]);
    }

    #[test]
    fn when_no_single_location_has_everything_should_cover_greedily() {
        let locations = [dc("DC-ATL", ATLANTA), dc("DC-LA", LOS_ANGELES), dc("DC-CHI", CHICAGO)];
        let availability = stock(&[("DC-ATL", "A", 5), ("DC-LA", "A", 5), ("DC-LA", "B", 5), ("DC-CHI", "C", 5)]);
        let lines = [ship("1", "A", 1, ATLANTA), ship("2", "B", 1, ATLANTA), ship("3", "C", 1, ATLANTA)];
        assert_eq!(ids(&plan(&lines, &locations, &availability, Strategy::Nearest)).len(), 3);
        let fewest = plan(&lines, &locations, &availability, Strategy::FewestShipments);
        assert_eq!(picks(&fewest), vec![vec![p("DC-LA", 1)], vec![p("DC-LA", 1)], vec![p("DC-CHI", 1)]]);
        assert_eq!(fewest.back_ordered(), 0);
    }

    #[test]
    fn when_greedy_cover_runs_out_should_back_order_what_nothing_covers() {
        let locations = [dc("DC-ATL", ATLANTA), dc("DC-DAL", DALLAS)];
        let availability = stock(&[("DC-ATL", "A", 2), ("DC-DAL", "A", 1), ("DC-DAL", "B", 1)]);
        let lines = [ship("1", "A", 4, ATLANTA), ship("2", "B", 3, ATLANTA), ship("3", "C", 1, ATLANTA)];
        let fewest = plan(&lines, &locations, &availability, Strategy::FewestShipments);
        // Atlanta covers 2 units, Dallas 2: the tie goes to the nearer one on average, Atlanta.
        assert_eq!(picks(&fewest), vec![vec![p("DC-ATL", 2), p("DC-DAL", 1)], vec![p("DC-DAL", 1)], vec![]]);
        assert_eq!(fewest.lines.iter().map(|l| l.back_ordered).collect::<Vec<_>>(), [1, 2, 1]);
    }

    #[test]
    fn when_location_is_inactive_or_cannot_ship_should_not_ship_from_it() {
        let locations = [
            with(dc("DC-INACTIVE", ATLANTA), |l| l.active = false),
            with(store("ST-NOSHIP", ATLANTA), |l| l.can_ship = false),
            dc("DC-DAL", DALLAS),
        ];
        let availability = stock(&[("DC-INACTIVE", "SKU", 9), ("ST-NOSHIP", "SKU", 9), ("DC-DAL", "SKU", 1)]);
        for strategy in ALL_STRATEGIES {
            let plan = plan(&[ship("1", "SKU", 3, ATLANTA)], &locations, &availability, strategy);
            assert_eq!(picks(&plan), vec![vec![p("DC-DAL", 1)]], "{strategy}");
            assert_eq!(plan.back_ordered(), 2);
        }
    }

    #[test]
    fn when_line_is_picked_up_at_a_store_should_take_only_that_store_and_only_if_it_offers_pickup() {
        let locations =
            [dc("DC-ATL", ATLANTA), store("ST-1", DALLAS), with(store("ST-2", DALLAS), |l| l.can_pickup = false)];
        let availability = stock(&[("DC-ATL", "SKU", 9), ("ST-1", "SKU", 1), ("ST-2", "SKU", 9)]);
        for strategy in ALL_STRATEGIES {
            let lines = [
                at_store("1", "SKU", 2, DeliveryMethod::PickUpAtStore, "ST-1"),
                at_store("2", "SKU", 2, DeliveryMethod::PickUpAtStore, "ST-2"),
                at_store("3", "SKU", 1, DeliveryMethod::PickUpAtStore, "NOWHERE"),
            ];
            let plan = plan(&lines, &locations, &availability, strategy);
            assert_eq!(picks(&plan), vec![vec![p("ST-1", 1)], vec![], vec![]], "{strategy}");
            assert_eq!(plan.lines.iter().map(|l| l.back_ordered).collect::<Vec<_>>(), [1, 2, 1]);
        }
        let inactive = [with(store("ST-1", DALLAS), |l| l.active = false)];
        let line = [at_store("1", "SKU", 1, DeliveryMethod::PickUpAtStore, "ST-1")];
        assert_eq!(plan(&line, &inactive, &availability, Strategy::Nearest).allocated(), 0);
    }

    #[test]
    fn when_line_ships_to_a_store_should_measure_distance_to_that_store() {
        let locations = [dc("DC-ATL", ATLANTA), dc("DC-DAL", DALLAS), store("ST-DAL", (32.8, -96.8))];
        let availability = stock(&[("DC-ATL", "SKU", 9), ("DC-DAL", "SKU", 9)]);
        let line = at_store("1", "SKU", 2, DeliveryMethod::ShipToStore, "ST-DAL");
        let plan_store = plan(std::slice::from_ref(&line), &locations, &availability, Strategy::Nearest);
        assert_eq!(picks(&plan_store), vec![vec![p("DC-DAL", 2)]]);
        // An unknown store leaves the distance unknown: priority then id decide.
        let unknown = Demand { pickup_location: Some(loc_id("ST-GONE")), ..line };
        let plan_unknown = plan(&[unknown], &locations, &availability, Strategy::Nearest);
        assert_eq!(picks(&plan_unknown), vec![vec![p("DC-ATL", 2)]]);
    }

    #[test]
    fn when_two_lines_share_an_item_should_not_promise_a_unit_twice() {
        let locations = [dc("DC-ATL", ATLANTA), dc("DC-DAL", DALLAS)];
        let availability = stock(&[("DC-ATL", "SKU", 3), ("DC-DAL", "SKU", 2)]);
        let lines = [ship("1", "SKU", 2, ATLANTA), ship("2", "SKU", 2, ATLANTA), ship("3", "SKU", 2, ATLANTA)];
        for strategy in ALL_STRATEGIES {
            let plan = plan(&lines, &locations, &availability, strategy);
            assert_eq!(plan.allocated(), 5, "{strategy}");
            assert_eq!(plan.back_ordered(), 1, "{strategy}");
        }
        let nearest = plan(&lines, &locations, &availability, Strategy::Nearest);
        assert_eq!(
            picks(&nearest),
            vec![vec![p("DC-ATL", 2)], vec![p("DC-ATL", 1), p("DC-DAL", 1)], vec![p("DC-DAL", 1)]]
        );
    }

    #[test]
    fn when_locations_tie_should_break_by_id_whatever_the_input_order() {
        let a = dc("DC-A", ATLANTA);
        let b = dc("DC-B", ATLANTA);
        let availability = stock(&[("DC-A", "X", 1), ("DC-B", "X", 1), ("DC-A", "Y", 1), ("DC-B", "Y", 1)]);
        let lines = [ship("1", "X", 1, DALLAS), ship("2", "Y", 1, DALLAS)];
        for strategy in ALL_STRATEGIES {
            let forward = plan(&lines, &[a.clone(), b.clone()], &availability, strategy);
            let backward = plan(&lines, &[b.clone(), a.clone()], &availability, strategy);
            // A new map has a new hash seed, so another iteration order; the plan must not care.
            let rebuilt: Availability = availability.iter().map(|(k, v)| (k.clone(), *v)).collect();
            assert_eq!(forward, backward, "{strategy}");
            assert_eq!(forward, plan(&lines, &[a.clone(), b.clone()], &rebuilt, strategy));
            assert_eq!(ids(&forward), ["DC-A"], "{strategy}");
        }
    }

    #[test]
    fn when_a_location_is_listed_twice_should_count_it_once() {
        let locations = [dc("DC-A", ATLANTA), dc("DC-A", ATLANTA)];
        let plan = plan(&[ship("1", "X", 5, ATLANTA)], &locations, &stock(&[("DC-A", "X", 2)]), Strategy::Nearest);
        assert_eq!(picks(&plan), vec![vec![p("DC-A", 2)]]);
    }

    #[test]
    fn when_availability_holds_other_items_too_should_plan_the_same() {
        let locations = [dc("DC-ATL", ATLANTA), dc("DC-DAL", DALLAS)];
        let small = stock(&[("DC-ATL", "A", 1), ("DC-DAL", "A", 4)]);
        let mut large = small.clone();
        for n in 0..50 {
            large.insert((loc_id("DC-ATL"), ItemId::parse(&format!("OTHER-{n}")).unwrap()), 7);
        }
        let lines = [ship("1", "A", 3, ATLANTA)];
        assert_eq!(
            plan(&lines, &locations, &small, Strategy::Nearest),
            plan(&lines, &locations, &large, Strategy::Nearest)
        );
    }

    #[test]
    fn when_there_is_no_demand_should_plan_nothing() {
        let locations = [dc("DC-ATL", ATLANTA)];
        let availability = stock(&[("DC-ATL", "A", 1)]);
        for strategy in ALL_STRATEGIES {
            assert_eq!(plan(&[], &locations, &availability, strategy), Plan::default());
            let zero = plan(&[ship("1", "A", 0, ATLANTA)], &locations, &availability, strategy);
            assert_eq!((zero.lines.len(), zero.allocated(), zero.back_ordered()), (1, 0, 0));
            assert!(zero.locations().is_empty());
            assert!(explain(&[], &locations, &availability, strategy).lines.is_empty());
        }
    }

    #[test]
    fn explain_should_report_the_same_units_as_plan() {
        let locations = [
            dc("DC-ATL", ATLANTA),
            dc("DC-DAL", DALLAS),
            with(dc("DC-CHI", CHICAGO), |l| l.active = false),
            store("ST-1", (33.8, -84.4)),
        ];
        let availability = stock(&[("DC-ATL", "A", 1), ("DC-DAL", "A", 3), ("DC-CHI", "A", 5), ("ST-1", "B", 1)]);
        let lines = [
            ship("1", "A", 2, ATLANTA),
            at_store("2", "B", 1, DeliveryMethod::PickUpAtStore, "ST-1"),
            ship("3", "A", 4, ATLANTA),
        ];
        for strategy in ALL_STRATEGIES {
            let decided = plan(&lines, &locations, &availability, strategy);
            let explained = explain(&lines, &locations, &availability, strategy);
            assert_chosen_match(&decided, &explained);
            assert_eq!(explained.strategy, strategy);
        }
        let explained = explain(&lines, &locations, &availability, Strategy::Nearest);
        let first = &explained.lines[0].candidates;
        assert_eq!(first[0].location_id.as_str(), "DC-ATL");
        assert!(first[0].reason.starts_with("allocated 1 of 2 units"), "{}", first[0].reason);
        let chicago = first.iter().find(|c| c.location_id.as_str() == "DC-CHI").unwrap();
        assert_eq!((chicago.excluded, chicago.chosen, chicago.available), (Some(Exclusion::Inactive), 0, 5));
        let store_row = first.iter().find(|c| c.location_id.as_str() == "ST-1").unwrap();
        assert_eq!(store_row.excluded, Some(Exclusion::NoStock));
        let pickup = &explained.lines[1].candidates;
        assert_eq!(pickup.iter().filter(|c| c.excluded == Some(Exclusion::NotThePickupStore)).count(), 3);
        // Line 3 finds Atlanta emptied by line 1.
        let third = &explained.lines[2].candidates;
        let atlanta = third.iter().find(|c| c.location_id.as_str() == "DC-ATL").unwrap();
        assert_eq!(atlanta.reason, "its 1 units went to other lines of this order");
    }

    fn assert_chosen_match(decided: &Plan, explained: &Explanation) {
        assert_eq!(decided.lines.len(), explained.lines.len());
        for (line, why) in decided.lines.iter().zip(&explained.lines) {
            assert_eq!((line.allocated(), line.back_ordered), (why.allocated, why.back_ordered));
            assert_eq!(why.allocated + why.back_ordered, why.quantity);
            let chosen: Vec<(String, u32)> =
                why.candidates.iter().filter(|c| c.chosen > 0).map(|c| (c.location_id.to_string(), c.chosen)).collect();
            let picked: Vec<(String, u32)> =
                line.picks.iter().map(|p| (p.location_id.to_string(), p.quantity)).collect();
            assert_eq!(chosen, picked);
            assert!(why.suggestions.len() <= 3);
            assert!(why.suggestions.is_empty() || line.back_ordered > 0, "suggestions for a served line");
        }
    }

    #[test]
    fn when_line_is_back_ordered_should_suggest_the_smallest_changes_first() {
        let locations = [
            dc("DC-1", DALLAS),
            dc("DC-2", ATLANTA),
            with(dc("DC-3", CHICAGO), |l| l.active = false),
            with(store("ST-4", LOS_ANGELES), |l| l.can_ship = false),
            dc("DC-5", CHICAGO),
        ];
        let availability = stock(&[
            ("DC-1", "SKU", 3),
            ("DC-2", "SKU", 0),
            ("DC-3", "SKU", 1),
            ("ST-4", "SKU", 5),
            ("DC-5", "SKU", -1),
        ]);
        let lines = [ship("1", "SKU", 5, ATLANTA)];
        let explained = explain(&lines, &locations, &availability, Strategy::Nearest);
        assert_eq!(explained.lines[0].back_ordered, 2);
        assert_eq!(
            explained.lines[0].suggestions,
            [
                "location ST-4 cannot ship; enabling shipping would allocate 2 units",
                "location DC-2 is 2 units short",
                "location DC-1 is 2 units short",
            ]
        );
        // Without the store, the negative DC comes after the drained ones and the partial fix last.
        let fewer = &locations[..3];
        let explained = explain(&lines, fewer, &availability, Strategy::Nearest);
        assert_eq!(
            explained.lines[0].suggestions,
            [
                "location DC-2 is 2 units short",
                "location DC-1 is 2 units short",
                "location DC-3 is inactive; activating it would allocate 1 unit",
            ]
        );
        let with_negative = [locations[0].clone(), locations[4].clone()];
        let explained = explain(&lines, &with_negative, &availability, Strategy::Nearest);
        assert_eq!(
            explained.lines[0].suggestions,
            ["location DC-1 is 2 units short", "location DC-5 is 3 units short"]
        );
    }

    #[test]
    fn when_no_location_ever_had_the_item_should_say_so() {
        let locations = [dc("DC-1", DALLAS)];
        let explained = explain(&[ship("1", "GHOST", 1, ATLANTA)], &locations, &stock(&[]), Strategy::Nearest);
        assert_eq!(explained.lines[0].suggestions, ["no location stocks item GHOST"]);
        let served = explain(&[ship("1", "A", 1, ATLANTA)], &locations, &stock(&[("DC-1", "A", 1)]), Strategy::Nearest);
        assert!(served.lines[0].suggestions.is_empty());
    }

    #[test]
    fn explanation_should_serialize_as_camel_case_json() {
        let locations = [dc("DC-1", DALLAS)];
        let explained =
            explain(&[ship("1", "A", 2, ATLANTA)], &locations, &stock(&[("DC-1", "A", 0)]), Strategy::FewestShipments);
        let value = serde_json::to_value(&explained).unwrap();
        assert_eq!(value["strategy"], "fewestShipments");
        let line = &value["lines"][0];
        assert_eq!((line["lineId"].clone(), line["backOrdered"].clone()), (json!("1"), json!(2)));
        let candidate = &line["candidates"][0];
        assert_eq!(candidate["locationId"], "DC-1");
        assert_eq!(candidate["excluded"], "noStock");
        assert!(candidate["distanceKm"].as_f64().unwrap() > 1000.0);
        assert_eq!(line["suggestions"][0], "location DC-1 is 2 units short");
    }

    #[test]
    fn strategy_should_parse_any_case_and_spell_itself_in_camel_case() {
        for (value, expected) in [
            ("nearest", Strategy::Nearest),
            ("NEAREST", Strategy::Nearest),
            ("Priority", Strategy::Priority),
            ("fewestShipments", Strategy::FewestShipments),
            ("FewestShipments", Strategy::FewestShipments),
            ("fewest-shipments", Strategy::FewestShipments),
            ("FEWEST-SHIPMENTS", Strategy::FewestShipments),
        ] {
            assert_eq!(Strategy::parse_at("strategy", value).unwrap(), expected, "{value}");
        }
        let err = Strategy::parse_at("query.strategy", "cheapest").unwrap_err();
        assert_eq!(err.field(), Some("query.strategy"));
        assert!(err.to_string().contains("nearest, priority, fewestShipments"), "{err}");
        assert_eq!(Strategy::default(), Strategy::Nearest);
        for strategy in Strategy::ALL {
            assert_eq!(serde_json::to_value(strategy).unwrap(), strategy.id());
            assert_eq!(serde_json::from_value::<Strategy>(json!(strategy.id())).unwrap(), strategy);
        }
        assert!(serde_json::from_value::<Strategy>(json!("cheapest")).is_err());
    }

    // -----------------------------------------------------------------------------------------
    // Property-style check over random inputs.
    // -----------------------------------------------------------------------------------------

    fn random_case(rng: &mut StdRng) -> (Vec<Demand>, Vec<Location>, Availability) {
        let location_count = rng.random_range(1..=8);
        // Few distinct points and priorities, so ties are common.
        let points = [ATLANTA, DALLAS, CHICAGO, (33.8, -84.4)];
        let locations: Vec<Location> = (0..location_count)
            .map(|n| {
                let at = points[rng.random_range(0..points.len())];
                let base = if rng.random_bool(0.5) { dc(&format!("L{n}"), at) } else { store(&format!("L{n}"), at) };
                with(base, |l| {
                    l.priority = rng.random_range(1..=3);
                    l.active = rng.random_bool(0.85);
                    l.can_ship = rng.random_bool(0.8);
                    l.can_pickup = rng.random_bool(0.6);
                })
            })
            .collect();
        let items = ["A", "B", "C", "D"];
        let mut availability = Availability::new();
        for location in &locations {
            for item in items {
                if rng.random_bool(0.7) {
                    let units = rng.random_range(-3..=10);
                    availability.insert((location.location_id.clone(), ItemId::parse(item).unwrap()), units);
                }
            }
        }
        let demands = (0..rng.random_range(0..=6))
            .map(|n| {
                let delivery = DeliveryMethod::ALL[rng.random_range(0..DeliveryMethod::ALL.len())];
                let pickup = match rng.random_range(0..5) {
                    0 => None,
                    1 => Some(loc_id("NOWHERE")),
                    _ => Some(locations[rng.random_range(0..locations.len())].location_id.clone()),
                };
                Demand {
                    line_id: OrderLineId::parse(&format!("{n}")).unwrap(),
                    item_id: ItemId::parse(items[rng.random_range(0..items.len())]).unwrap(),
                    quantity: rng.random_range(0..=8),
                    delivery,
                    destination: rng.random_bool(0.8).then(|| points[rng.random_range(0..points.len())]),
                    pickup_location: pickup,
                }
            })
            .collect();
        (demands, locations, availability)
    }

    #[test]
    fn for_random_inputs_plans_should_be_complete_within_stock_eligible_maximal_and_repeatable() {
        let mut rng = StdRng::seed_from_u64(0x5eed_50c1);
        for case in 0..500 {
            let (demands, locations, availability) = random_case(&mut rng);
            for strategy in ALL_STRATEGIES {
                let context = format!("case {case}, {strategy}");
                let decided = plan(&demands, &locations, &availability, strategy);
                assert_eq!(decided.lines.len(), demands.len(), "{context}");
                let mut taken: HashMap<(LocationId, ItemId), i64> = HashMap::new();
                for (line, demand) in decided.lines.iter().zip(&demands) {
                    assert_eq!((&line.line_id, &line.item_id), (&demand.line_id, &demand.item_id), "{context}");
                    assert_eq!(line.allocated() + line.back_ordered, demand.quantity, "{context}");
                    for pick in &line.picks {
                        assert!(pick.quantity > 0, "{context}");
                        let location = locations.iter().find(|l| l.location_id == pick.location_id).unwrap();
                        assert_eq!(flag_exclusion(demand, location), None, "{context}: ineligible pick");
                        *taken.entry((pick.location_id.clone(), demand.item_id.clone())).or_default() +=
                            i64::from(pick.quantity);
                    }
                }
                let left = |location: &LocationId, item: &ItemId| {
                    let key = (location.clone(), item.clone());
                    availability.get(&key).copied().unwrap_or(0) - taken.get(&key).copied().unwrap_or(0)
                };
                for ((location, item), units) in &taken {
                    assert!(*units <= availability.get(&(location.clone(), item.clone())).copied().unwrap_or(0).max(0));
                }
                // Maximal: a back-ordered line has no eligible location with stock left.
                for (line, demand) in decided.lines.iter().zip(&demands) {
                    if line.back_ordered > 0 {
                        for location in locations.iter().filter(|l| flag_exclusion(demand, l).is_none()) {
                            assert!(left(&location.location_id, &demand.item_id) <= 0, "{context}: not maximal");
                        }
                    }
                }
                assert_eq!(decided, plan(&demands, &locations, &availability, strategy), "{context}");
                let mut shuffled = locations.clone();
                shuffled.shuffle(&mut rng);
                assert_eq!(decided, plan(&demands, &shuffled, &availability, strategy), "{context}: order matters");
                assert_chosen_match(&decided, &explain(&demands, &locations, &availability, strategy));
                if strategy == Strategy::FewestShipments {
                    assert_single_location_when_possible(&demands, &locations, &availability, &decided, &context);
                }
            }
        }
    }

    /// If, after the pickup lines, one location can serve every other line in full, only it ships.
    fn assert_single_location_when_possible(
        demands: &[Demand],
        locations: &[Location],
        availability: &Availability,
        decided: &Plan,
        context: &str,
    ) {
        let shipped: Vec<usize> =
            (0..demands.len()).filter(|&i| demands[i].delivery != DeliveryMethod::PickUpAtStore).collect();
        let used_by_pickups = |location: &LocationId, item: &ItemId| -> i64 {
            (0..demands.len())
                .filter(|&i| demands[i].delivery == DeliveryMethod::PickUpAtStore && demands[i].item_id == *item)
                .flat_map(|i| decided.lines[i].picks.iter())
                .filter(|p| p.location_id == *location)
                .map(|p| i64::from(p.quantity))
                .sum()
        };
        let one_suffices = locations.iter().any(|location| {
            flag_exclusion(&ship("x", "A", 1, ATLANTA), location).is_none()
                && shipped.iter().all(|&i| {
                    let item = &demands[i].item_id;
                    let need: i64 = shipped
                        .iter()
                        .filter(|&&j| demands[j].item_id == *item)
                        .map(|&j| i64::from(demands[j].quantity))
                        .sum();
                    let have = availability.get(&(location.location_id.clone(), item.clone())).copied().unwrap_or(0);
                    need <= have - used_by_pickups(&location.location_id, item)
                })
        });
        if one_suffices {
            let used: BTreeSet<&LocationId> =
                shipped.iter().flat_map(|&i| decided.lines[i].picks.iter().map(|p| &p.location_id)).collect();
            assert!(used.len() <= 1, "{context}: {used:?}");
        }
    }
}
