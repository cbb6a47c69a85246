//! Searching orders with the query language (mass allocate's `Query`, the console's search):
//! the attributes a query may name, and which status buckets of the order index it can match.

use chrono::{DateTime, Utc};

use super::order::Order;
use super::query::{AttrType, Expr, Known, Literal, Record, Schema, Truth};
use super::status::FulfillmentStatus;

/// The order attributes a search query may use (names as Get Order spells them).
pub const ORDER_SCHEMA: Schema = Schema::new(&[
    ("MaxFulfillmentStatusId", AttrType::Integer),
    ("MinFulfillmentStatusId", AttrType::Integer),
    ("OrderId", AttrType::Text),
    ("OrderTypeId", AttrType::Text),
    ("OrderType", AttrType::Text),
    ("IsConfirmed", AttrType::Bool),
    ("IsImport", AttrType::Bool),
    ("CurrencyCode", AttrType::Text),
    ("CreatedTimestamp", AttrType::Timestamp),
    ("UpdatedTimestamp", AttrType::Timestamp),
    ("DoNotReleaseBefore", AttrType::Timestamp),
    ("CreatedBy", AttrType::Text),
]);

const MIN_STATUS: &str = "MinFulfillmentStatusId";
const MAX_STATUS: &str = "MaxFulfillmentStatusId";

fn time(t: Option<DateTime<Utc>>) -> Known {
    t.map_or(Known::Null, |t| Known::Value(Literal::Time(t)))
}

impl Record for Order {
    fn value(&self, attribute: &str) -> Known {
        let text = |s: &str| Known::Value(Literal::Text(s.to_owned()));
        let range = self.status_range();
        let status =
            |s: Option<FulfillmentStatus>| s.map_or(Known::Null, |s| Known::Value(Literal::Int(s.code().into())));
        match attribute {
            MIN_STATUS => status(range.map(|(min, _)| min)),
            MAX_STATUS => status(range.map(|(_, max)| max)),
            "OrderId" => text(self.order_id.as_str()),
            "OrderTypeId" | "OrderType" => text(&self.order_type_id),
            "IsConfirmed" => Known::Value(Literal::Bool(self.is_confirmed)),
            "IsImport" => Known::Value(Literal::Bool(self.is_import)),
            "CurrencyCode" => text(&self.currency_code),
            "CreatedTimestamp" => time(Some(self.created_timestamp)),
            "UpdatedTimestamp" => time(Some(self.updated_timestamp)),
            "DoNotReleaseBefore" => time(self.do_not_release_before),
            "CreatedBy" => text(self.created_by.as_str()),
            _ => Known::Unknown,
        }
    }
}

/// An order of which only the status range is known: what an index bucket tells.
struct BucketProbe(Option<(u32, u32)>);

impl Record for BucketProbe {
    fn value(&self, attribute: &str) -> Known {
        match (attribute, self.0) {
            (MIN_STATUS, Some((min, _))) => Known::Value(Literal::Int(min.into())),
            (MAX_STATUS, Some((_, max))) => Known::Value(Literal::Int(max.into())),
            (MIN_STATUS | MAX_STATUS, None) => Known::Null,
            _ => Known::Unknown,
        }
    }
}

/// Every status range an order can have (min <= max; canceled units count only when every
/// unit is, see `min_max_status`), and `None` for an order without units.
pub fn all_status_ranges() -> Vec<Option<(u32, u32)>> {
    let canceled = FulfillmentStatus::Canceled;
    let mut ranges = vec![None];
    for (i, min) in FulfillmentStatus::ALL.iter().enumerate() {
        for max in &FulfillmentStatus::ALL[i..] {
            if *max != canceled || *min == canceled {
                ranges.push(Some((min.code(), max.code())));
            }
        }
    }
    ranges
}

/// The status ranges (index buckets) in which `query` may match an order: the others cannot,
/// whatever the order's other attributes, so a search never reads them.
pub fn ranges_to_search(query: &Expr) -> Vec<Option<(u32, u32)>> {
    all_status_ranges().into_iter().filter(|range| query.eval(&BucketProbe(*range)) != Truth::False).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::query::parse;

    const SEED: &str = "((MaxFulfillmentStatusId=1500 AND MinFulfillmentStatusId=1500) OR (MaxFulfillmentStatusId=1000 AND MinFulfillmentStatusId=1000) OR (MaxFulfillmentStatusId=1500 AND MinFulfillmentStatusId<1500) OR (MaxFulfillmentStatusId=2000 AND MinFulfillmentStatusId<2000) OR (MaxFulfillmentStatusId=3000 AND MinFulfillmentStatusId<3000))";

    #[test]
    fn when_the_seed_query_is_searched_should_read_only_the_buckets_it_can_match() {
        let ranges = ranges_to_search(&parse(SEED, &ORDER_SCHEMA).unwrap());
        assert_eq!(
            ranges,
            vec![
                Some((1000, 1000)),
                Some((1000, 1500)),
                Some((1000, 2000)),
                Some((1000, 3000)),
                Some((1500, 1500)),
                Some((1500, 2000)),
                Some((1500, 3000)),
                Some((2000, 3000)),
            ]
        );
    }

    #[test]
    fn when_a_query_names_no_status_should_read_every_bucket() {
        let ranges = ranges_to_search(&parse("OrderTypeId=Web", &ORDER_SCHEMA).unwrap());
        assert_eq!(ranges, all_status_ranges());
        assert!(ranges.contains(&None) && ranges.contains(&Some((9000, 9000))));
        assert!(!ranges.contains(&Some((1000, 9000))), "canceled units count only when all are");
    }

    #[test]
    fn when_the_status_is_pinned_should_read_one_bucket() {
        let query = parse("MaxFulfillmentStatusId=1000 AND MinFulfillmentStatusId=1000", &ORDER_SCHEMA).unwrap();
        assert_eq!(ranges_to_search(&query), vec![Some((1000, 1000))]);
    }
}
