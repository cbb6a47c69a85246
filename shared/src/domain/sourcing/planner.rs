//! The planner behind [`super::plan`]: the order's items, the stocked locations and the
//! distances laid out in vectors indexed by small integers, allocated once per order; deciding
//! then does no hashing, no string work and no allocation, and computes each distance at most
//! once, only where it can matter.

use super::availability::same_id;
use super::*;

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

pub(super) struct Planner<'a> {
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
    pub(super) remaining: Vec<u32>,
    pub(super) lines: Vec<LinePlan>,
    /// Reused by each line: its candidate sites with the floor of their distance.
    candidates: Vec<(Option<f64>, usize)>,
}

impl<'a> Planner<'a> {
    pub(super) fn new(demands: &'a [Demand], locations: &'a [Location], availability: &Availability) -> Self {
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
    pub(super) fn serve_ranked(&mut self, strategy: Strategy, line: usize) {
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
    pub(super) fn serve_by_cover(&mut self, open: &[usize]) {
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
pub(super) struct Point {
    latitude: f64,
    longitude: f64,
    cos_floor: f64,
    /// Latitude within +-90 and longitude within +-180 degrees: the bound holds.
    valid: bool,
}

impl Point {
    pub(super) fn new((latitude, longitude): (f64, f64)) -> Self {
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
    pub(super) fn km_floor(&self, other: &Point) -> f64 {
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
