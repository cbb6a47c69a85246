//! A plain planner kept as the specification of [`super::plan`]: the same algorithm written
//! for clarity, over a `HashMap` availability, recomputing distances wherever it needs them.
//! The property test in `tests` requires both to decide exactly the same plans.
#![allow(dead_code)]

use std::cmp::Ordering;
use std::collections::HashMap;

use super::{Demand, Exclusion, LinePlan, Pick, Plan, Strategy};
use crate::domain::ids::{ItemId, LocationId};
use crate::domain::location::Location;
use crate::domain::order::DeliveryMethod;

/// Units that can still be promised at a location for an item, as the map the planner took.
pub type Availability = HashMap<(LocationId, ItemId), i64>;

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
