//! Supply updates (sync and adjust) and the stock level of one item at one location.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::ids::{ItemId, LocationId};
use crate::error::OmsError;

/// Most rows one supply request may carry.
pub const MAX_SUPPLY_ROWS: usize = 100;
/// Largest absolute quantity (and safety stock) of one supply row; keeps sums far from overflow.
pub const MAX_SUPPLY_QUANTITY: i64 = 1_000_000_000;

/// How a supply row changes the on-hand quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum SupplyMode {
    /// The quantity is the new on-hand count (a stock count from the source system).
    Sync,
    /// The quantity is added to on hand (negative removes).
    Adjust,
}

impl SupplyMode {
    pub const ALL: [SupplyMode; 2] = [SupplyMode::Sync, SupplyMode::Adjust];

    pub fn id(self) -> &'static str {
        match self {
            SupplyMode::Sync => "Sync",
            SupplyMode::Adjust => "Adjust",
        }
    }

    /// Parses `"Sync"` or `"Adjust"` case-insensitively; the error (on `Mode`) lists both.
    pub fn parse(value: &str) -> Result<Self, OmsError> {
        Self::ALL.into_iter().find(|m| m.id().eq_ignore_ascii_case(value)).ok_or_else(|| {
            OmsError::validation("Mode", format!("unknown mode \"{value}\"; expected one of Sync, Adjust"))
        })
    }
}

/// The body of `POST /inventory/api/supply`; unknown fields are ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SupplyRequest {
    /// Any case.
    #[schema(value_type = SupplyMode, required = true)]
    pub mode: Option<String>,
    #[schema(value_type = Vec<SupplyRowRequest>, required = true, min_items = 1, max_items = 100)]
    pub supply: Option<Vec<SupplyRowRequest>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SupplyRowRequest {
    /// A location created with PUT /inventory/api/location/{LocationId}.
    #[schema(value_type = LocationId, required = true)]
    pub location_id: Option<String>,
    #[schema(value_type = ItemId, required = true)]
    pub item_id: Option<String>,
    /// A whole JSON number: Sync >= 0, Adjust any sign.
    #[schema(value_type = f64, required = true, minimum = -1000000000, maximum = 1000000000, multiple_of = 1)]
    pub quantity: Option<serde_json::Number>,
    /// A whole JSON number >= 0; left out means "keep the current safety stock".
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000, multiple_of = 1)]
    pub safety_stock: Option<serde_json::Number>,
}

/// One valid supply row. `row` is its index in the request, for error paths.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupplyLine {
    pub row: usize,
    pub mode: SupplyMode,
    pub location_id: LocationId,
    pub item_id: ItemId,
    pub quantity: i64,
    pub safety_stock: Option<u32>,
}

impl SupplyLine {
    /// The JSON path of one of this row's fields, e.g. `Supply[2].Quantity`.
    pub fn field(&self, name: &str) -> String {
        format!("Supply[{}].{name}", self.row)
    }
}

impl SupplyRequest {
    /// Checks every row and returns the first error, named by its JSON path.
    pub fn parse(&self) -> Result<Vec<SupplyLine>, OmsError> {
        let mode = match self.mode.as_deref() {
            Some(value) => SupplyMode::parse(value)?,
            None => {
                return Err(OmsError::validation("Mode", "is required; expected one of Sync, Adjust"));
            }
        };
        let rows = self.supply.as_deref().unwrap_or_default();
        if rows.is_empty() {
            return Err(OmsError::validation("Supply", "at least one row is required"));
        }
        if rows.len() > MAX_SUPPLY_ROWS {
            return Err(OmsError::validation(
                "Supply",
                format!("at most {MAX_SUPPLY_ROWS} rows per request, got {}", rows.len()),
            ));
        }
        let mut lines = Vec::with_capacity(rows.len());
        let mut seen: HashMap<(LocationId, ItemId), usize> = HashMap::new();
        for (row, request) in rows.iter().enumerate() {
            let line = request.parse(row, mode)?;
            let key = (line.location_id.clone(), line.item_id.clone());
            if let Some(first) = seen.insert(key, row) {
                return Err(OmsError::validation(
                    format!("Supply[{row}]"),
                    format!(
                        "repeats LocationId \"{}\" and ItemId \"{}\" of Supply[{first}]; send each pair once",
                        line.location_id, line.item_id
                    ),
                ));
            }
            lines.push(line);
        }
        Ok(lines)
    }
}

impl SupplyRowRequest {
    /// Parses the row at index `row` of a request in `mode`.
    pub fn parse(&self, row: usize, mode: SupplyMode) -> Result<SupplyLine, OmsError> {
        let f = |name: &str| format!("Supply[{row}].{name}");
        let location_id = match self.location_id.as_deref() {
            Some(v) => LocationId::parse_at(&f("LocationId"), v)?,
            None => return Err(OmsError::validation(f("LocationId"), "is required")),
        };
        let item_id = match self.item_id.as_deref() {
            Some(v) => ItemId::parse_at(&f("ItemId"), v)?,
            None => return Err(OmsError::validation(f("ItemId"), "is required")),
        };
        let quantity = match &self.quantity {
            Some(n) => whole_number(&f("Quantity"), n)?,
            None => return Err(OmsError::validation(f("Quantity"), "is required")),
        };
        if mode == SupplyMode::Sync && quantity < 0 {
            return Err(OmsError::validation(
                f("Quantity"),
                format!("must not be negative when Mode is Sync, got {quantity}"),
            ));
        }
        let safety_stock = match &self.safety_stock {
            None => None,
            Some(n) => {
                let field = f("SafetyStock");
                let value = whole_number(&field, n)?;
                let value = u32::try_from(value)
                    .map_err(|_| OmsError::validation(&field, format!("must not be negative, got {value}")))?;
                Some(value)
            }
        };
        Ok(SupplyLine { row, mode, location_id, item_id, quantity, safety_stock })
    }
}

/// A whole JSON number within ±MAX_SUPPLY_QUANTITY; 5.0 counts as 5.
fn whole_number(field: &str, value: &serde_json::Number) -> Result<i64, OmsError> {
    let out_of_range = || {
        OmsError::validation(
            field,
            format!("must be between -{MAX_SUPPLY_QUANTITY} and {MAX_SUPPLY_QUANTITY}, got {value}"),
        )
    };
    let whole = if let Some(v) = value.as_i64() {
        v
    } else if value.is_u64() {
        return Err(out_of_range());
    } else {
        let v = value.as_f64().unwrap_or(f64::NAN);
        if v.fract() != 0.0 {
            return Err(OmsError::validation(field, format!("must be a whole number, got {value}")));
        }
        if v.abs() > MAX_SUPPLY_QUANTITY as f64 {
            return Err(out_of_range());
        }
        // In range and whole, so the cast is exact.
        v as i64
    };
    if whole.abs() > MAX_SUPPLY_QUANTITY {
        return Err(out_of_range());
    }
    Ok(whole)
}

/// The stock of one item at one location.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StockLevel {
    /// Units physically there.
    pub on_hand: i64,
    /// Units promised to allocated orders.
    pub reserved: i64,
    /// Units kept back from promising.
    pub safety_stock: i64,
}

impl StockLevel {
    /// Units that can still be promised: `max(0, on_hand - reserved - safety_stock)`.
    pub fn available(&self) -> i64 {
        self.on_hand.saturating_sub(self.reserved).saturating_sub(self.safety_stock).max(0)
    }

    /// `on_hand - reserved - safety_stock`, negative when fewer units are there than promised
    /// and kept back: what a stock row stores as `available` and reservations are checked against.
    pub fn raw_available(&self) -> i64 {
        self.on_hand.saturating_sub(self.reserved).saturating_sub(self.safety_stock)
    }

    /// Units promised but not there (after a sync counted fewer): `max(0, reserved - on_hand)`.
    pub fn shortfall(&self) -> i64 {
        self.reserved.saturating_sub(self.on_hand).max(0)
    }

    /// The stock after applying one supply row. Sync sets on hand; Adjust adds to it, refuses to
    /// take it below zero (400) and refuses to remove units below what is reserved (409): only a
    /// count (Sync) may leave reservations without stock behind them. Either sets the safety
    /// stock when the row gives one. Reserved units are never touched here.
    pub fn apply(&self, line: &SupplyLine) -> Result<StockLevel, OmsError> {
        let on_hand = match line.mode {
            SupplyMode::Sync if line.quantity < 0 => {
                return Err(OmsError::validation(
                    line.field("Quantity"),
                    format!("must not be negative when Mode is Sync, got {}", line.quantity),
                ));
            }
            SupplyMode::Sync => line.quantity,
            SupplyMode::Adjust => match self.on_hand.checked_add(line.quantity) {
                Some(total) if total >= 0 && line.quantity < 0 && total < self.reserved => {
                    return Err(OmsError::Conflict(format!(
                        "cannot remove {} units of {} at {}: {} on hand, {} reserved; {} short",
                        line.quantity.unsigned_abs(),
                        line.item_id,
                        line.location_id,
                        self.on_hand,
                        self.reserved,
                        self.reserved - total
                    )));
                }
                Some(total) if total >= 0 => total,
                _ => {
                    return Err(OmsError::validation(
                        line.field("Quantity"),
                        format!(
                            "cannot remove {} units: only {} on hand for item {} at location {}",
                            line.quantity.unsigned_abs(),
                            self.on_hand,
                            line.item_id,
                            line.location_id
                        ),
                    ));
                }
            },
        };
        Ok(StockLevel {
            on_hand,
            reserved: self.reserved,
            safety_stock: line.safety_stock.map_or(self.safety_stock, i64::from),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn request(value: Value) -> SupplyRequest {
        serde_json::from_value(value).unwrap()
    }

    fn row(location: &str, item: &str, quantity: Value) -> Value {
        json!({"LocationId": location, "ItemId": item, "Quantity": quantity})
    }

    fn error_field(result: Result<Vec<SupplyLine>, OmsError>) -> String {
        match result {
            Err(err) => err.field().unwrap_or("<no field>").to_owned(),
            Ok(_) => "<accepted>".to_owned(),
        }
    }

    fn one_line(mode: &str, quantity: i64, safety: Option<u32>) -> SupplyLine {
        let mut value = json!({"Mode": mode, "Supply": [row("DC1", "SKU-1", json!(quantity))]});
        if let Some(s) = safety {
            value["Supply"][0]["SafetyStock"] = json!(s);
        }
        request(value).parse().unwrap().remove(0)
    }

    fn stock(on_hand: i64, reserved: i64, safety_stock: i64) -> StockLevel {
        StockLevel { on_hand, reserved, safety_stock }
    }

    #[test]
    fn when_sync_request_is_valid_should_parse_every_row_in_order() {
        let req = request(json!({
            "Mode": "sync",
            "Supply": [
                row("DC1", "SKU-1", json!(10)),
                {"LocationId": "DC1", "ItemId": "SKU-2", "Quantity": 0, "SafetyStock": 2},
            ]
        }));
        let lines = req.parse().unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].mode, SupplyMode::Sync);
        assert_eq!(lines[0].quantity, 10);
        assert_eq!(lines[0].safety_stock, None);
        assert_eq!(lines[1].row, 1);
        assert_eq!(lines[1].item_id.as_str(), "SKU-2");
        assert_eq!(lines[1].safety_stock, Some(2));
        assert_eq!(lines[1].field("Quantity"), "Supply[1].Quantity");
    }

    #[test]
    fn when_mode_is_missing_or_unknown_should_refuse_on_mode_listing_both() {
        let err = request(json!({"Mode": "Replace", "Supply": [row("DC1", "S", json!(1))]})).parse().unwrap_err();
        assert_eq!(err.field(), Some("Mode"));
        assert!(err.to_string().contains("Sync, Adjust"), "{err}");
        let missing = request(json!({"Supply": [row("DC1", "S", json!(1))]}));
        assert_eq!(error_field(missing.parse()), "Mode");
        assert_eq!(SupplyMode::parse("ADJUST").unwrap(), SupplyMode::Adjust);
    }

    #[test]
    fn when_supply_is_empty_or_missing_should_refuse_on_supply() {
        assert_eq!(error_field(request(json!({"Mode": "Sync", "Supply": []})).parse()), "Supply");
        assert_eq!(error_field(request(json!({"Mode": "Sync"})).parse()), "Supply");
    }

    #[test]
    fn when_supply_has_more_than_100_rows_should_refuse_on_supply() {
        let rows: Vec<Value> = (0..101).map(|i| row("DC1", &format!("SKU-{i}"), json!(1))).collect();
        let err = request(json!({"Mode": "Sync", "Supply": rows})).parse().unwrap_err();
        assert_eq!(err.field(), Some("Supply"));
        assert!(err.to_string().contains("at most 100 rows per request"), "{err}");
        let hundred: Vec<Value> = (0..100).map(|i| row("DC1", &format!("SKU-{i}"), json!(1))).collect();
        assert!(request(json!({"Mode": "Sync", "Supply": hundred})).parse().is_ok());
    }

    #[test]
    fn when_a_location_item_pair_repeats_should_refuse_naming_the_second_row() {
        let req = request(json!({"Mode": "Adjust", "Supply": [
            row("DC1", "SKU-1", json!(1)),
            row("DC2", "SKU-1", json!(1)),
            row("DC1", "SKU-1", json!(2)),
        ]}));
        let err = req.parse().unwrap_err();
        assert_eq!(err.field(), Some("Supply[2]"));
        assert!(err.to_string().contains("Supply[0]"), "{err}");
    }

    #[test]
    fn when_a_row_is_invalid_should_refuse_naming_the_row_and_field() {
        let cases = [
            (json!({"ItemId": "S", "Quantity": 1}), "Supply[1].LocationId"),
            (json!({"LocationId": "DC#1", "ItemId": "S", "Quantity": 1}), "Supply[1].LocationId"),
            (json!({"LocationId": "DC1", "Quantity": 1}), "Supply[1].ItemId"),
            (json!({"LocationId": "DC1", "ItemId": "S"}), "Supply[1].Quantity"),
            (json!({"LocationId": "DC1", "ItemId": "S", "Quantity": 1.5}), "Supply[1].Quantity"),
            (json!({"LocationId": "DC1", "ItemId": "S", "Quantity": -1}), "Supply[1].Quantity"),
            (json!({"LocationId": "DC1", "ItemId": "S", "Quantity": 1, "SafetyStock": -1}), "Supply[1].SafetyStock"),
            (json!({"LocationId": "DC1", "ItemId": "S", "Quantity": 1, "SafetyStock": 0.5}), "Supply[1].SafetyStock"),
        ];
        for (bad, field) in cases {
            let req = request(json!({"Mode": "Sync", "Supply": [row("DC1", "OK", json!(1)), bad]}));
            assert_eq!(error_field(req.parse()), field);
        }
    }

    #[test]
    fn when_quantity_is_huge_should_refuse_as_out_of_range() {
        for huge in [json!(1_000_000_001), json!(u64::MAX), json!(1e20), json!(-1e10)] {
            let req = request(json!({"Mode": "Adjust", "Supply": [row("DC1", "S", huge.clone())]}));
            assert_eq!(error_field(req.parse()), "Supply[0].Quantity", "{huge}");
        }
    }

    #[test]
    fn when_adjust_quantity_is_negative_zero_or_whole_float_should_accept() {
        for (value, expected) in [(json!(-3), -3), (json!(0), 0), (json!(4.0), 4)] {
            let req = request(json!({"Mode": "Adjust", "Supply": [row("DC1", "S", value)]}));
            assert_eq!(req.parse().unwrap()[0].quantity, expected);
        }
    }

    #[test]
    fn available_should_subtract_reserved_and_safety_and_not_go_negative() {
        assert_eq!(stock(10, 3, 2).available(), 5);
        assert_eq!(stock(4, 3, 2).available(), 0);
        assert_eq!(StockLevel::default().available(), 0);
    }

    #[test]
    fn shortfall_should_be_reserved_units_beyond_on_hand() {
        assert_eq!(stock(2, 5, 0).shortfall(), 3);
        assert_eq!(stock(5, 2, 9).shortfall(), 0);
    }

    #[test]
    fn when_sync_is_applied_should_set_on_hand_and_keep_reserved() {
        let after = stock(10, 4, 1).apply(&one_line("Sync", 2, None)).unwrap();
        assert_eq!(after, stock(2, 4, 1));
        assert_eq!(after.shortfall(), 2);
        let with_safety = stock(10, 4, 1).apply(&one_line("Sync", 7, Some(3))).unwrap();
        assert_eq!(with_safety, stock(7, 4, 3));
    }

    #[test]
    fn when_adjust_is_applied_should_add_to_on_hand() {
        let level = stock(5, 1, 0);
        assert_eq!(level.apply(&one_line("Adjust", 3, None)).unwrap(), stock(8, 1, 0));
        assert_eq!(level.apply(&one_line("Adjust", -4, None)).unwrap(), stock(1, 1, 0));
        assert_eq!(level.apply(&one_line("Adjust", 0, Some(2))).unwrap(), stock(5, 1, 2));
    }

    #[test]
    fn when_adjust_would_go_below_zero_should_refuse_saying_how_many_are_on_hand() {
        let mut line = one_line("Adjust", -6, None);
        line.row = 2;
        let err = stock(5, 0, 0).apply(&line).unwrap_err();
        assert_eq!(err.field(), Some("Supply[2].Quantity"));
        assert!(err.to_string().contains("only 5 on hand"), "{err}");
    }

    #[test]
    fn when_adjust_would_leave_fewer_on_hand_than_reserved_should_refuse_as_a_conflict_naming_the_shortfall() {
        let mut line = one_line("Adjust", -5, None);
        line.location_id = LocationId::parse("DC-ATL").unwrap();
        let err = stock(8, 6, 0).apply(&line).unwrap_err();
        assert!(matches!(err, OmsError::Conflict(_)), "{err:?}");
        assert_eq!(err.to_string(), "cannot remove 5 units of SKU-1 at DC-ATL: 8 on hand, 6 reserved; 3 short");
        // Adding to a row already short is allowed: it only narrows the shortfall.
        assert_eq!(stock(2, 6, 0).apply(&one_line("Adjust", 1, None)).unwrap(), stock(3, 6, 0));
        // A count may leave reservations unbacked.
        assert_eq!(stock(8, 6, 0).apply(&one_line("Sync", 3, None)).unwrap().shortfall(), 3);
    }

    #[test]
    fn when_a_sync_line_carries_a_negative_quantity_apply_should_refuse() {
        let mut line = one_line("Sync", 1, None);
        line.quantity = -1;
        assert_eq!(stock(5, 0, 0).apply(&line).unwrap_err().field(), Some("Supply[0].Quantity"));
    }

    #[test]
    fn stock_level_should_serialize_pascal_case() {
        let text = serde_json::to_value(stock(1, 2, 3)).unwrap();
        assert_eq!(text, json!({"OnHand": 1, "Reserved": 2, "SafetyStock": 3}));
    }
}
