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

mod availability;
mod explanation;
mod planner;

pub use availability::Availability;
use explanation::{Index, LineContext};
use planner::Planner;

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

/// Ascending distance; an unknown distance sorts after every known one.
fn cmp_distance(a: Option<f64>, b: Option<f64>) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    }
}

#[cfg(test)]
mod reference;
#[cfg(test)]
mod tests;
