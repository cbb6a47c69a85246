//! Stock shards: a hot item's stock at a location split over several rows, each reserved on
//! its own, so that more reservations per second fit than one row takes. Pure arithmetic: how
//! a total spreads over shards, and which shards a reservation or a release goes to.

use serde_json::Value;

use super::inventory::StockLevel;
use crate::error::OmsError;

/// Most shards one item may have at a location (a change of the count rewrites them all in one
/// transaction, beside the other locations' shards).
pub const MAX_SHARDS: u32 = 64;

/// The number of shards of an item's stock at every location: 1 (one row) to [`MAX_SHARDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ShardCount(u32);

impl ShardCount {
    pub const ONE: ShardCount = ShardCount(1);

    /// A whole JSON number from 1 to [`MAX_SHARDS`] (8.0 counts as 8); the error names `field`.
    pub fn parse_at(field: &str, value: Option<&Value>) -> Result<ShardCount, OmsError> {
        let range = || format!("must be a whole number from 1 to {MAX_SHARDS}");
        let number = match value {
            None | Some(Value::Null) => return Err(OmsError::validation(field, format!("is required; {}", range()))),
            Some(Value::Number(n)) => n,
            Some(other) => return Err(OmsError::validation(field, format!("{}, got {other}", range()))),
        };
        let whole =
            number.as_u64().or_else(|| number.as_f64().filter(|v| v.fract() == 0.0 && *v >= 0.0).map(|v| v as u64));
        match whole.and_then(|n| u32::try_from(n).ok()) {
            Some(n) if (1..=MAX_SHARDS).contains(&n) => Ok(ShardCount(n)),
            _ => Err(OmsError::validation(field, format!("{}, got {number}", range()))),
        }
    }

    /// The stored count, read leniently: out of range reads as the nearest valid count.
    pub fn from_stored(n: u64) -> ShardCount {
        ShardCount(u32::try_from(n).unwrap_or(MAX_SHARDS).clamp(1, MAX_SHARDS))
    }

    pub fn get(self) -> u32 {
        self.0
    }

    /// Every shard number, 0 first.
    pub fn shards(self) -> std::ops::Range<u32> {
        0..self.0
    }
}

/// `total` (not negative) in `parts` near-equal whole parts, the larger ones first.
pub fn split(total: i64, parts: usize) -> Vec<i64> {
    if parts == 0 {
        return Vec::new();
    }
    let n = i64::try_from(parts).unwrap_or(i64::MAX);
    let (each, rest) = (total.div_euclid(n), total.rem_euclid(n));
    (0..n).map(|i| each + i64::from(i < rest)).collect()
}

/// The shard levels that hold `on_hand` and `safety_stock` in total, each shard keeping the
/// units it has reserved (`reserved[k]`): safety stock is split evenly, and on hand covers each
/// shard's reservations and safety stock first, then the rest is split evenly, so every shard
/// can promise about the same number of units. When the total is short of what the shards
/// need, the shortfall is spread evenly too, no shard going below zero on hand.
pub fn spread(reserved: &[i64], on_hand: i64, safety_stock: i64) -> Vec<StockLevel> {
    let safety = split(safety_stock.max(0), reserved.len());
    let need: Vec<i64> = reserved.iter().zip(&safety).map(|(r, s)| (r + s).max(0)).collect();
    let needed: i64 = need.iter().sum();
    let on_hand = on_hand.max(0);
    let mut held = need.clone();
    if on_hand >= needed {
        for (h, extra) in held.iter_mut().zip(split(on_hand - needed, reserved.len())) {
            *h += extra;
        }
    } else {
        // Take the shortfall off the shards that hold units, evenly, a round at a time.
        let mut short = needed - on_hand;
        while short > 0 {
            let holders = held.iter().filter(|h| **h > 0).count();
            let share = (short / i64::try_from(holders.max(1)).unwrap_or(1)).max(1);
            for h in held.iter_mut().filter(|h| **h > 0) {
                let take = share.min(*h).min(short);
                *h -= take;
                short -= take;
            }
        }
    }
    reserved
        .iter()
        .zip(safety)
        .zip(held)
        .map(|((reserved, safety_stock), on_hand)| StockLevel { on_hand, reserved: *reserved, safety_stock })
        .collect()
}

/// One shard as a reservation sees it: its `available` (on hand less reserved and safety
/// stock, negative after a count below its reservations) and its `reserved` units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardLevel {
    pub shard: u32,
    pub available: i64,
    pub reserved: i64,
}

/// The shards a change of `delta` units goes to, as (shard, delta) pairs. `start` (any number;
/// taken modulo the shard count) is where the search begins, so concurrent writers spread over
/// the shards. A reservation takes one shard that has every unit, else several, the fullest
/// first; `None` when the shards together do not have the units. A release gives back to one
/// shard that holds that many reserved units, else to several, those holding most first; units
/// no shard holds (drift, repaired by reconciliation) go to the starting shard.
pub fn pick(shards: &[ShardLevel], start: usize, delta: i64) -> Option<Vec<(u32, i64)>> {
    if delta == 0 {
        return Some(Vec::new());
    }
    let rotated: Vec<&ShardLevel> =
        (0..shards.len()).map(|i| &shards[(start.wrapping_add(i)) % shards.len().max(1)]).collect();
    let units = delta.abs();
    let room = |s: &ShardLevel| if delta > 0 { s.available } else { s.reserved };
    if let Some(one) = rotated.iter().find(|s| room(s) >= units) {
        return Some(vec![(one.shard, delta)]);
    }
    let mut fullest = rotated.clone();
    // Stable: equally full shards keep their rotated order.
    fullest.sort_by_key(|s| std::cmp::Reverse(room(s)));
    let mut left = units;
    let mut moves = Vec::new();
    for shard in fullest {
        if left == 0 || room(shard) <= 0 {
            break;
        }
        let take = room(shard).min(left);
        moves.push((shard.shard, delta.signum() * take));
        left -= take;
    }
    if left > 0 {
        if delta > 0 {
            return None;
        }
        let first = rotated.first().map_or(0, |s| s.shard);
        match moves.iter_mut().find(|(shard, _)| *shard == first) {
            Some((_, d)) => *d -= left,
            None => moves.push((first, -left)),
        }
    }
    Some(moves)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn level(shard: u32, available: i64, reserved: i64) -> ShardLevel {
        ShardLevel { shard, available, reserved }
    }

    #[test]
    fn when_a_shard_count_is_out_of_range_or_not_a_number_should_refuse_naming_the_field() {
        for bad in [json!(0), json!(65), json!(-1), json!(2.5), json!("8"), json!(null), json!([8]), json!(1e20)] {
            let err = ShardCount::parse_at("ShardCount", Some(&bad)).unwrap_err();
            assert_eq!(err.field(), Some("ShardCount"), "{bad}");
        }
        assert_eq!(ShardCount::parse_at("ShardCount", None).unwrap_err().field(), Some("ShardCount"));
        assert_eq!(ShardCount::parse_at("ShardCount", Some(&json!(8.0))).unwrap().get(), 8);
        assert_eq!(ShardCount::parse_at("ShardCount", Some(&json!(64))).unwrap().get(), 64);
        assert_eq!(ShardCount::parse_at("ShardCount", Some(&json!(1))).unwrap(), ShardCount::ONE);
    }

    #[test]
    fn when_a_total_is_split_should_lose_no_unit_and_differ_by_at_most_one() {
        assert_eq!(split(10, 4), vec![3, 3, 2, 2]);
        assert_eq!(split(3, 8).iter().sum::<i64>(), 3);
        assert_eq!(split(0, 2), vec![0, 0]);
        assert_eq!(split(5, 1), vec![5]);
    }

    #[test]
    fn when_stock_is_spread_should_cover_each_shards_reservations_and_even_out_what_is_available() {
        let levels = spread(&[5, 0, 1, 0], 30, 4);
        assert_eq!(levels.iter().map(|l| l.on_hand).sum::<i64>(), 30);
        assert_eq!(levels.iter().map(|l| l.safety_stock).sum::<i64>(), 4);
        assert_eq!(levels.iter().map(|l| l.reserved).collect::<Vec<_>>(), vec![5, 0, 1, 0]);
        let available: Vec<i64> = levels.iter().map(|l| l.on_hand - l.reserved - l.safety_stock).collect();
        assert_eq!(available, vec![5, 5, 5, 5]);
    }

    #[test]
    fn when_stock_is_short_of_the_reservations_should_spread_the_shortfall_and_keep_on_hand_whole() {
        let levels = spread(&[6, 6, 0], 7, 0);
        assert_eq!(levels.iter().map(|l| l.on_hand).sum::<i64>(), 7);
        assert!(levels.iter().all(|l| l.on_hand >= 0 && l.on_hand - l.reserved <= 0), "{levels:?}");
        let zero = spread(&[3, 3], 0, 2);
        assert!(zero.iter().all(|l| l.on_hand == 0), "{zero:?}");
    }

    #[test]
    fn when_one_shard_has_the_units_a_reservation_should_take_only_that_shard_from_the_start() {
        let shards = [level(0, 5, 0), level(1, 5, 0), level(2, 1, 0)];
        assert_eq!(pick(&shards, 1, 3), Some(vec![(1, 3)]));
        assert_eq!(pick(&shards, 2, 3), Some(vec![(0, 3)]), "shard 2 is short, the next one has them");
        assert_eq!(pick(&shards, 7, 2), Some(vec![(1, 2)]), "the start wraps around");
    }

    #[test]
    fn when_a_line_is_larger_than_any_shard_should_take_several_fullest_first_or_none() {
        let shards = [level(0, 2, 0), level(1, 4, 0), level(2, -3, 0), level(3, 3, 0)];
        assert_eq!(pick(&shards, 0, 8), Some(vec![(1, 4), (3, 3), (0, 1)]));
        assert_eq!(pick(&shards, 0, 10), None, "9 units are there, not 10");
    }

    #[test]
    fn when_units_are_released_should_go_to_shards_that_hold_them() {
        let shards = [level(0, 0, 1), level(1, 0, 4), level(2, 0, 2)];
        assert_eq!(pick(&shards, 0, -3), Some(vec![(1, -3)]));
        assert_eq!(pick(&shards, 0, -6), Some(vec![(1, -4), (2, -2)]));
        // More than every shard holds (drift): the rest goes to the starting shard.
        let mut moves = pick(&shards, 2, -9).unwrap();
        moves.sort();
        assert_eq!(moves, vec![(0, -1), (1, -4), (2, -4)]);
        assert_eq!(pick(&[], 0, -2), Some(vec![(0, -2)]));
        assert_eq!(pick(&[], 0, 2), None);
    }
}
