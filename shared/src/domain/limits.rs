//! Bounds on what a caller can send, checked before anything is written, so that both stores
//! accept every write we make (DynamoDB refuses an item over 400 KB, a number beyond 38 digits
//! or outside 1e-130..1e126, and nesting deeper than 32 levels) and answer the same 400.

use serde_json::Value;

use crate::error::OmsError;

/// Most lines one order may hold.
pub const MAX_ORDER_LINES: usize = 500;
/// Most payments, invoices or charges one order may hold, each.
pub const MAX_ORDER_ENTRIES: usize = 100;
/// Most payment methods of one payment.
pub const MAX_PAYMENT_METHODS: usize = 20;
/// Most audit log entries one allocation keeps.
pub const MAX_AUDIT_LOGS: usize = 100;
/// Most audit entries one order keeps (the oldest are dropped).
pub const MAX_ORDER_AUDITS: usize = 20;
/// Most hold types one order may carry.
pub const MAX_ORDER_HOLDS: usize = 20;
/// Largest stored item, in bytes of its JSON form (DynamoDB's limit is 400 KB).
pub const MAX_ITEM_BYTES: usize = 350_000;
/// Largest free-form JSON value (an address, a recipient), in bytes of its JSON form.
pub const MAX_FREE_FORM_BYTES: usize = 16_384;
/// Deepest nesting of a free-form JSON value.
pub const MAX_FREE_FORM_DEPTH: usize = 16;
/// Longest free-text value of an allocation document (poNumber, shipMethod, ...).
pub const MAX_TEXT_CHARS: usize = 256;
/// Most significant digits of a number DynamoDB stores.
const MAX_NUMBER_DIGITS: usize = 38;
/// Decimal exponents DynamoDB stores: magnitudes from 1e-130 to below 1e126.
const NUMBER_EXPONENTS: std::ops::RangeInclusive<i64> = -130..=125;

/// At most `max` entries in the list at `field`.
pub fn check_count(field: &str, count: usize, max: usize) -> Result<(), OmsError> {
    if count > max {
        return Err(OmsError::validation(field, format!("holds {count} entries; at most {max} are accepted")));
    }
    Ok(())
}

/// Free text of at most [`MAX_TEXT_CHARS`] characters without control characters.
pub fn check_text(field: &str, value: &str) -> Result<(), OmsError> {
    if value.chars().count() > MAX_TEXT_CHARS {
        return Err(OmsError::validation(field, format!("must be at most {MAX_TEXT_CHARS} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(OmsError::validation(field, "must not contain control characters"));
    }
    Ok(())
}

/// A free-form JSON value that both stores can keep: bounded size and depth, numbers DynamoDB
/// can represent, no empty object keys. Errors name the path inside the value.
pub fn check_free_form(field: &str, value: &Value) -> Result<(), OmsError> {
    let size = serde_json::to_string(value).map_or(usize::MAX, |s| s.len());
    if size > MAX_FREE_FORM_BYTES {
        return Err(OmsError::validation(
            field,
            format!("is {size} bytes of JSON; at most {MAX_FREE_FORM_BYTES} are accepted"),
        ));
    }
    check_node(field, value, 1)
}

fn check_node(path: &str, value: &Value, depth: usize) -> Result<(), OmsError> {
    if depth > MAX_FREE_FORM_DEPTH {
        return Err(OmsError::validation(path, format!("nests deeper than {MAX_FREE_FORM_DEPTH} levels")));
    }
    match value {
        Value::Number(n) => check_number(path, &n.to_string()),
        Value::String(s) if s.chars().any(|c| c == '\0') => {
            Err(OmsError::validation(path, "must not contain NUL characters"))
        }
        Value::Array(values) => {
            values.iter().enumerate().try_for_each(|(i, v)| check_node(&format!("{path}[{i}]"), v, depth + 1))
        }
        Value::Object(map) => map.iter().try_for_each(|(key, v)| {
            if key.is_empty() {
                return Err(OmsError::validation(path, "must not have an empty key"));
            }
            check_node(&format!("{path}.{key}"), v, depth + 1)
        }),
        _ => Ok(()),
    }
}

/// A JSON number's text within DynamoDB's precision and range.
fn check_number(path: &str, text: &str) -> Result<(), OmsError> {
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(i) => (&text[..i], text[i + 1..].parse::<i64>().unwrap_or(i64::MAX)),
        None => (text, 0),
    };
    let mantissa = mantissa.trim_start_matches('-');
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = format!("{whole}{fraction}");
    let significant = digits.trim_start_matches('0');
    if significant.is_empty() {
        return Ok(()); // zero
    }
    let leading_zeros = digits.len() - significant.len();
    let significant_digits = significant.trim_end_matches('0').len();
    // The decimal exponent of the first significant digit.
    let magnitude = exponent.saturating_add(whole.len() as i64 - 1 - leading_zeros as i64);
    if significant_digits > MAX_NUMBER_DIGITS || !NUMBER_EXPONENTS.contains(&magnitude) {
        return Err(OmsError::validation(
            path,
            format!(
                "number {text} cannot be stored: at most {MAX_NUMBER_DIGITS} significant digits, magnitude from 1e-130 to below 1e126"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn field_of(value: Value) -> Option<String> {
        check_free_form("recipient", &value).err().map(|e| e.field().unwrap_or_default().to_owned())
    }

    #[test]
    fn when_free_form_json_holds_ordinary_values_should_accept_it() {
        assert_eq!(field_of(json!({"name": "Ann", "phone": ["+1 555"], "floor": 3, "lat": -12.5, "zero": 0.0})), None);
        assert_eq!(
            field_of(serde_json::from_str("[1e125, 1e-130, 12345678901234567890123456789012345678]").unwrap()),
            None
        );
    }

    #[test]
    fn when_a_number_is_beyond_what_dynamodb_stores_should_refuse_naming_its_path() {
        for text in ["1e200", "1e126", "1e-131", "1.000000000000000000000000000000000000001", "-9e999"] {
            let value: Value = serde_json::from_str(&format!(r#"{{"a": [1, {text}]}}"#)).unwrap();
            assert_eq!(field_of(value), Some("recipient.a[1]".to_owned()), "{text}");
        }
    }

    #[test]
    fn when_free_form_json_is_too_big_too_deep_or_has_an_empty_key_should_refuse() {
        assert_eq!(field_of(json!({"note": "x".repeat(MAX_FREE_FORM_BYTES)})), Some("recipient".to_owned()));
        let mut deep = json!(1);
        for _ in 0..MAX_FREE_FORM_DEPTH {
            deep = json!([deep]);
        }
        assert!(field_of(deep).is_some());
        assert_eq!(field_of(json!({"a": {"": 1}})), Some("recipient.a".to_owned()));
    }
}
