use super::explanation::flag_exclusion;
use super::planner::Point;
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
    Demand { delivery, destination: None, pickup_location: Some(loc_id(store)), ..ship(line, item, quantity, ATLANTA) }
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
    let rows: Vec<(&str, &str, i64)> =
        locations.iter().flat_map(|l| [(l.location_id.as_str(), "A", 5), (l.location_id.as_str(), "B", 5)]).collect();
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
    assert_eq!(picks(&nearest), vec![vec![p("DC-ATL", 2)], vec![p("DC-ATL", 1), p("DC-DAL", 1)], vec![p("DC-DAL", 1)]]);
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
        // The same stock set in the reverse order; the plan must not care.
        let entries: Vec<(&str, &str, i64)> = availability.iter().collect();
        let mut rebuilt = Availability::new();
        for &(location, item, units) in entries.iter().rev() {
            rebuilt.set(&loc_id(location), &ItemId::parse(item).unwrap(), units);
        }
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
        large.set(&loc_id("DC-ATL"), &ItemId::parse(&format!("OTHER-{n}")).unwrap(), 7);
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
        let picked: Vec<(String, u32)> = line.picks.iter().map(|p| (p.location_id.to_string(), p.quantity)).collect();
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
    let availability =
        stock(&[("DC-1", "SKU", 3), ("DC-2", "SKU", 0), ("DC-3", "SKU", 1), ("ST-4", "SKU", 5), ("DC-5", "SKU", -1)]);
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
    assert_eq!(explained.lines[0].suggestions, ["location DC-1 is 2 units short", "location DC-5 is 3 units short"]);
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
                availability.set(&location.location_id, &ItemId::parse(item).unwrap(), units);
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
                availability.get(location, item).unwrap_or(0) - taken.get(&key).copied().unwrap_or(0)
            };
            for ((location, item), units) in &taken {
                assert!(*units <= availability.get(location, item).unwrap_or(0).max(0));
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
                let have = availability.get(&location.location_id, item).unwrap_or(0);
                need <= have - used_by_pickups(&location.location_id, item)
            })
    });
    if one_suffices {
        let used: BTreeSet<&LocationId> =
            shipped.iter().flat_map(|&i| decided.lines[i].picks.iter().map(|p| &p.location_id)).collect();
        assert!(used.len() <= 1, "{context}: {used:?}");
    }
}

#[test]
fn when_stock_is_set_twice_for_a_location_and_item_should_keep_the_last_units() {
    let (atl, dal) = (loc_id("DC-ATL"), loc_id("DC-DAL"));
    let (a, b) = (ItemId::parse("A").unwrap(), ItemId::parse("B").unwrap());
    let mut availability = Availability::new();
    assert!(availability.is_empty());
    availability.set(&atl, &a, 5);
    availability.set(&dal, &a, 2);
    availability.set(&atl, &b, 1);
    availability.set(&atl, &a, -1);
    assert_eq!(availability.get(&atl, &a), Some(-1));
    assert_eq!(availability.get(&dal, &a), Some(2));
    assert_eq!(availability.get(&dal, &b), None);
    let entries: Vec<(&str, &str, i64)> = availability.iter().collect();
    assert_eq!(entries, [("DC-DAL", "A", 2), ("DC-ATL", "B", 1), ("DC-ATL", "A", -1)]);
    let locations = [dc("DC-ATL", ATLANTA), dc("DC-DAL", DALLAS)];
    let decided = plan(&[ship("1", "A", 3, ATLANTA)], &locations, &availability, Strategy::Nearest);
    assert_eq!(picks(&decided), vec![vec![p("DC-DAL", 2)]]);
}

// -----------------------------------------------------------------------------------------
// The planner against the reference planner, on random inputs.
// -----------------------------------------------------------------------------------------

/// Random orders against random networks, with the same stock as both availabilities: location
/// ids drawn from a small pool (so some are listed twice and some stocked but not listed), few
/// points and priorities (so ties are common), stock that may be zero, negative or set twice.
fn random_network_case(rng: &mut StdRng) -> (Vec<Demand>, Vec<Location>, Availability, reference::Availability) {
    let pool: Vec<String> = (0..rng.random_range(1..=14)).map(|n| format!("L{n:02}")).collect();
    let points = [ATLANTA, DALLAS, CHICAGO, LOS_ANGELES, (33.8, -84.4)];
    let point = |rng: &mut StdRng| {
        if rng.random_bool(0.8) {
            points[rng.random_range(0..points.len())]
        } else {
            (rng.random_range(25.0..49.0), rng.random_range(-124.0..-67.0))
        }
    };
    let locations: Vec<Location> = (0..rng.random_range(0..=pool.len() + 2))
        .map(|_| {
            let id = &pool[rng.random_range(0..pool.len())];
            let at = point(rng);
            let base = if rng.random_bool(0.5) { dc(id, at) } else { store(id, at) };
            with(base, |l| {
                l.priority = rng.random_range(1..=3);
                l.active = rng.random_bool(0.8);
                l.can_ship = rng.random_bool(0.75);
                l.can_pickup = rng.random_bool(0.6);
            })
        })
        .collect();
    let items = ["A", "B", "C", "D", "E"];
    let mut availability = Availability::new();
    let mut map = reference::Availability::new();
    for _ in 0..rng.random_range(0..=40) {
        let location = loc_id(&pool[rng.random_range(0..pool.len())]);
        let item = ItemId::parse(items[rng.random_range(0..items.len())]).unwrap();
        let units = rng.random_range(-3..=10);
        availability.set(&location, &item, units);
        map.insert((location, item), units);
    }
    let demands = (0..rng.random_range(0..=7))
        .map(|n| {
            let delivery = DeliveryMethod::ALL[rng.random_range(0..DeliveryMethod::ALL.len())];
            let pickup_location = match rng.random_range(0..6) {
                0 => None,
                1 => Some(loc_id("NOWHERE")),
                _ => Some(loc_id(&pool[rng.random_range(0..pool.len())])),
            };
            Demand {
                line_id: OrderLineId::parse(&format!("{n}")).unwrap(),
                item_id: ItemId::parse(items[rng.random_range(0..items.len())]).unwrap(),
                quantity: rng.random_range(0..=9),
                delivery,
                destination: rng.random_bool(0.85).then(|| point(rng)),
                pickup_location,
            }
        })
        .collect();
    (demands, locations, availability, map)
}

const REFERENCE_CASES: u64 = 20_000;

#[test]
fn when_planning_random_orders_should_match_the_reference_planner() {
    let mut rng = StdRng::seed_from_u64(0x0005_0c1e_f00d);
    for case in 0..REFERENCE_CASES {
        let (demands, locations, availability, map) = random_network_case(&mut rng);
        for strategy in ALL_STRATEGIES {
            assert_eq!(
                plan(&demands, &locations, &availability, strategy),
                reference::plan(&demands, &locations, &map, strategy),
                "case {case}, {strategy}: {demands:#?} {locations:#?} {availability:?}"
            );
        }
    }
}

#[test]
fn distance_floors_should_never_exceed_the_distance() {
    let mut rng = StdRng::seed_from_u64(0xf100_0001);
    let point = |rng: &mut StdRng| match rng.random_range(0..4) {
        0 => (rng.random_range(-90.0..=90.0), rng.random_range(-180.0..=180.0)),
        1 => ([-90.0, 90.0, 0.0][rng.random_range(0..3)], [-180.0, 180.0, 0.0][rng.random_range(0..3)]),
        _ => (rng.random_range(25.0..49.0), rng.random_range(-124.0..-67.0)),
    };
    for _ in 0..200_000 {
        let a = point(&mut rng);
        let b = match rng.random_range(0..3) {
            0 => point(&mut rng),
            1 => a,
            _ => {
                let step = 10f64.powi(rng.random_range(-12..0));
                (
                    (a.0 + step * rng.random_range(-1.0..1.0)).clamp(-90.0, 90.0),
                    a.1 + step * rng.random_range(-1.0..1.0),
                )
            }
        };
        let km = crate::domain::location::great_circle_km(a, b);
        let floor = Point::new(a).km_floor(&Point::new(b));
        assert!(floor <= km, "{a:?} {b:?}: floor {floor} above {km}");
        // Tight where orders are: mid latitudes, up to a few hundred kilometres.
        if a.0.abs().max(b.0.abs()) <= 60.0 && b.1.abs() <= 180.0 && km <= 1000.0 {
            assert!(floor >= km * 0.99 - 0.01, "{a:?} {b:?}: floor {floor} too loose for {km}");
        }
    }
}
