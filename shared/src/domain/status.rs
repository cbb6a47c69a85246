//! Fulfillment statuses of order line units, and the min/max status rule.

use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::OmsError;

/// Where a unit of an order line is in the fulfillment lifecycle, ordered by its code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FulfillmentStatus {
    Open,
    BackOrdered,
    Allocated,
    Released,
    Fulfilled,
    Canceled,
}

impl FulfillmentStatus {
    /// Every status, in lifecycle (code) order.
    pub const ALL: [FulfillmentStatus; 6] = [
        FulfillmentStatus::Open,
        FulfillmentStatus::BackOrdered,
        FulfillmentStatus::Allocated,
        FulfillmentStatus::Released,
        FulfillmentStatus::Fulfilled,
        FulfillmentStatus::Canceled,
    ];

    pub fn code(self) -> u32 {
        match self {
            FulfillmentStatus::Open => 1000,
            FulfillmentStatus::BackOrdered => 1500,
            FulfillmentStatus::Allocated => 2000,
            FulfillmentStatus::Released => 3000,
            FulfillmentStatus::Fulfilled => 7000,
            FulfillmentStatus::Canceled => 9000,
        }
    }

    /// The status id as the API spells it: `"1000"`.
    pub fn id(self) -> &'static str {
        match self {
            FulfillmentStatus::Open => "1000",
            FulfillmentStatus::BackOrdered => "1500",
            FulfillmentStatus::Allocated => "2000",
            FulfillmentStatus::Released => "3000",
            FulfillmentStatus::Fulfilled => "7000",
            FulfillmentStatus::Canceled => "9000",
        }
    }

    pub fn description(self) -> &'static str {
        match self {
            FulfillmentStatus::Open => "Open",
            FulfillmentStatus::BackOrdered => "Back Ordered",
            FulfillmentStatus::Allocated => "Allocated",
            FulfillmentStatus::Released => "Released",
            FulfillmentStatus::Fulfilled => "Fulfilled",
            FulfillmentStatus::Canceled => "Canceled",
        }
    }

    pub fn from_code(code: u32) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.code() == code)
    }

    /// Reads `"1000"` or `"1000.000"` (Manhattan writes both); anything else is `None`.
    pub fn from_id(value: &str) -> Option<Self> {
        let (whole, fraction) = match value.split_once('.') {
            // "1000." has a point but no decimals: not a form anyone writes.
            Some((_, "")) => return None,
            Some(parts) => parts,
            None => (value, "0"),
        };
        if whole.is_empty() || !fraction.bytes().all(|b| b == b'0') {
            return None;
        }
        if !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        whole.parse().ok().and_then(Self::from_code)
    }

    /// Parses a status id sent at the JSON path `field`.
    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        Self::from_id(value).ok_or_else(|| Self::unknown(field, value))
    }

    /// Parses a status sent as a JSON string (`"1000"`) or number (`1000`, `1000.0`).
    pub fn parse_json(field: &str, value: &serde_json::Value) -> Result<Self, OmsError> {
        match value {
            serde_json::Value::String(s) => Self::parse_at(field, s),
            serde_json::Value::Number(n) => Self::from_number(n).ok_or_else(|| Self::unknown(field, &n.to_string())),
            other => Err(Self::unknown(field, &other.to_string())),
        }
    }

    fn from_number(n: &serde_json::Number) -> Option<Self> {
        if let Some(code) = n.as_u64() {
            return u32::try_from(code).ok().and_then(Self::from_code);
        }
        let value = n.as_f64()?;
        // A whole float such as 1000.0 names the same status; fractions name none.
        if value.fract() != 0.0 || !(0.0..=f64::from(u32::MAX)).contains(&value) {
            return None;
        }
        Self::from_code(value as u32)
    }

    fn unknown(field: &str, value: &str) -> OmsError {
        let known: Vec<String> = Self::ALL.iter().map(|s| format!("{} ({})", s.id(), s.description())).collect();
        OmsError::validation(field, format!("unknown fulfillment status {value}; expected one of {}", known.join(", ")))
    }
}

impl fmt::Display for FulfillmentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl std::str::FromStr for FulfillmentStatus {
    type Err = OmsError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        Self::parse_at("StatusId", value)
    }
}

impl Serialize for FulfillmentStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.id())
    }
}

impl<'de> Deserialize<'de> for FulfillmentStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StatusVisitor)
    }
}

struct StatusVisitor;

impl Visitor<'_> for StatusVisitor {
    type Value = FulfillmentStatus;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a fulfillment status id such as \"1000\" or 1000")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        FulfillmentStatus::from_id(value).ok_or_else(|| E::invalid_value(de::Unexpected::Str(value), &self))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Self::Value, E> {
        u32::try_from(value)
            .ok()
            .and_then(FulfillmentStatus::from_code)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(value), &self))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Self::Value, E> {
        u32::try_from(value)
            .ok()
            .and_then(FulfillmentStatus::from_code)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Signed(value), &self))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Self::Value, E> {
        serde_json::Number::from_f64(value)
            .as_ref()
            .and_then(FulfillmentStatus::from_number)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Float(value), &self))
    }
}

/// The minimum and maximum fulfillment status over units given as `(status, quantity)` pairs.
///
/// The rule (Manhattan's Min/MaxFulfillmentStatus):
/// - only pairs with a quantity greater than zero count;
/// - canceled units (9000) are ignored while any other unit remains, so a line with one unit
///   canceled and one allocated is `(2000, 2000)`;
/// - when every counted unit is canceled, both are 9000;
/// - when no unit counts at all, there is no status: `None`.
pub fn min_max_status<I>(units: I) -> Option<(FulfillmentStatus, FulfillmentStatus)>
where
    I: IntoIterator<Item = (FulfillmentStatus, u32)>,
{
    let mut live: Option<(FulfillmentStatus, FulfillmentStatus)> = None;
    let mut any_canceled = false;
    for (status, quantity) in units {
        if quantity == 0 {
            continue;
        }
        if status == FulfillmentStatus::Canceled {
            any_canceled = true;
            continue;
        }
        live = Some(match live {
            None => (status, status),
            Some((min, max)) => (min.min(status), max.max(status)),
        });
    }
    match live {
        Some(range) => Some(range),
        None if any_canceled => Some((FulfillmentStatus::Canceled, FulfillmentStatus::Canceled)),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::FulfillmentStatus::*;
    use super::*;

    #[test]
    fn codes_ids_and_descriptions_should_match_the_lifecycle() {
        let codes: Vec<u32> = FulfillmentStatus::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(codes, [1000, 1500, 2000, 3000, 7000, 9000]);
        for status in FulfillmentStatus::ALL {
            assert_eq!(status.id(), status.code().to_string());
            assert!(!status.description().is_empty());
        }
        assert_eq!(Allocated.description(), "Allocated");
    }

    #[test]
    fn ordering_should_follow_the_codes() {
        let mut sorted = FulfillmentStatus::ALL;
        sorted.sort_by_key(|s| std::cmp::Reverse(*s));
        sorted.sort();
        assert_eq!(sorted, FulfillmentStatus::ALL);
        assert!(Open < BackOrdered && Released < Fulfilled && Fulfilled < Canceled);
    }

    #[test]
    fn when_id_has_zero_decimals_should_parse() {
        assert_eq!(FulfillmentStatus::from_id("1000"), Some(Open));
        assert_eq!(FulfillmentStatus::from_id("2000.000"), Some(Allocated));
        assert_eq!(FulfillmentStatus::from_id("1500.0"), Some(BackOrdered));
        assert_eq!(FulfillmentStatus::from_id("3000."), None);
    }

    #[test]
    fn when_id_is_unknown_or_malformed_should_refuse_naming_the_field() {
        for value in ["", "4000", "1000.5", "+1000", " 1000", "abc", ".000", "1e3"] {
            let err = FulfillmentStatus::parse_at("OrderLine[0].QuantityDetail[1].StatusId", value).unwrap_err();
            assert_eq!(err.field(), Some("OrderLine[0].QuantityDetail[1].StatusId"), "{value:?}");
        }
    }

    #[test]
    fn when_status_is_a_json_number_should_parse() {
        let json = serde_json::json!([1000, 2000.0, "7000", "9000.000"]);
        let parsed: Vec<FulfillmentStatus> = serde_json::from_value(json).unwrap();
        assert_eq!(parsed, [Open, Allocated, Fulfilled, Canceled]);
        assert!(serde_json::from_str::<FulfillmentStatus>("2000.5").is_err());
        assert!(serde_json::from_str::<FulfillmentStatus>("-1000").is_err());
        assert!(serde_json::from_str::<FulfillmentStatus>("true").is_err());
    }

    #[test]
    fn when_parsing_a_json_value_should_accept_strings_and_numbers() {
        let f = "StatusId";
        assert_eq!(FulfillmentStatus::parse_json(f, &serde_json::json!("3000")).unwrap(), Released);
        assert_eq!(FulfillmentStatus::parse_json(f, &serde_json::json!(3000.0)).unwrap(), Released);
        let err = FulfillmentStatus::parse_json(f, &serde_json::json!(null)).unwrap_err();
        assert!(err.to_string().contains("1000 (Open)"), "{err}");
    }

    #[test]
    fn when_serialized_should_be_the_string_id() {
        assert_eq!(serde_json::to_string(&Allocated).unwrap(), "\"2000\"");
        let map = std::collections::BTreeMap::from([(Open, 1u32), (Canceled, 2)]);
        let text = serde_json::to_string(&map).unwrap();
        assert_eq!(text, r#"{"1000":1,"9000":2}"#);
        let back: std::collections::BTreeMap<FulfillmentStatus, u32> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, map);
    }

    #[test]
    fn when_nothing_has_quantity_min_and_max_should_be_none() {
        assert_eq!(min_max_status([]), None);
        assert_eq!(min_max_status([(Open, 0), (Canceled, 0)]), None);
    }

    #[test]
    fn when_all_units_are_canceled_min_and_max_should_be_9000() {
        assert_eq!(min_max_status([(Canceled, 3)]), Some((Canceled, Canceled)));
    }

    #[test]
    fn when_some_units_are_canceled_they_should_be_ignored() {
        assert_eq!(min_max_status([(Canceled, 3), (Allocated, 1)]), Some((Allocated, Allocated)));
    }

    #[test]
    fn when_line_is_partly_allocated_min_should_be_open_and_max_allocated() {
        assert_eq!(min_max_status([(Open, 1), (Allocated, 2)]), Some((Open, Allocated)));
    }

    #[test]
    fn when_a_status_has_zero_quantity_it_should_not_count() {
        assert_eq!(min_max_status([(Open, 0), (Released, 2), (Fulfilled, 0)]), Some((Released, Released)));
    }
}
