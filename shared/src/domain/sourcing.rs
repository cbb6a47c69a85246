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
mod tests;
