//! What [`super::explain`] reads a plan with: an index of every listed location (not only the
//! stocked ones), the items and their stock, and each line's view of those locations.

use super::*;

pub(super) struct Index<'a> {
    demands: &'a [Demand],
    /// Distinct locations, first entry of each id.
    locations: Vec<&'a Location>,
    pub(super) by_id: HashMap<&'a str, usize>,
    /// Per demand, its item's row in `stock`.
    line_item: Vec<usize>,
    /// Per demand, the point distances are measured to.
    destinations: Vec<Option<(f64, f64)>>,
    /// `items x locations`, row per distinct item; `None` when the availability has no entry.
    pub(super) stock: Vec<Option<i64>>,
}

impl<'a> Index<'a> {
    pub(super) fn new(demands: &'a [Demand], all_locations: &'a [Location], availability: &Availability) -> Self {
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
    pub(super) fn slot(&self, line: usize, loc: usize) -> usize {
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
pub(super) fn flag_exclusion(demand: &Demand, location: &Location) -> Option<Exclusion> {
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

/// One location as seen by one line, before it becomes a [`CandidateExplanation`].
struct Row {
    loc: usize,
    distance_km: Option<f64>,
    /// Position among the line's picks, when chosen.
    pick: Option<usize>,
    excluded: Option<Exclusion>,
}

pub(super) struct LineContext<'i, 'a> {
    pub(super) index: &'i Index<'a>,
    pub(super) strategy: Strategy,
    pub(super) line: usize,
    pub(super) demand: &'i Demand,
    pub(super) planned: &'i LinePlan,
    pub(super) taken: &'i [i64],
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

    pub(super) fn candidates(&self) -> Vec<CandidateExplanation> {
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
    pub(super) fn suggestions(&self, locations: &[Location], availability: &Availability) -> Vec<String> {
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
