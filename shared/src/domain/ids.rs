//! Identifier newtypes. Each one can only be built through `parse`, so holding one proves it is valid.

use std::fmt;

use serde::{Deserialize, Serialize, Serializer};

use crate::error::OmsError;

/// Longest business identifier (order, line, item, location, tenant), in characters.
pub const MAX_ID_CHARS: usize = 64;
/// Longest user identifier, in characters: token subjects can be long.
pub const MAX_USER_ID_CHARS: usize = 256;

/// The order, line, item and location id rules as a regular expression (for the OpenAPI
/// document): no `#`, no control characters, no outer whitespace.
pub const KEY_ID_PATTERN: &str = r"^[^#\s\x00-\x1f\x7f-\x9f]([^#\x00-\x1f\x7f-\x9f]*[^#\s\x00-\x1f\x7f-\x9f])?$";
/// The tenant id rules as a regular expression.
pub const TENANT_ID_PATTERN: &str = "^[A-Za-z0-9_-]+$";
/// The user id rules as a regular expression: no control characters.
pub const USER_ID_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]+$";

/// The rules shared by order, line, item and location ids: store keys join ids with `#`.
fn check_key_id(field: &str, value: &str) -> Result<(), OmsError> {
    check_length(field, value, MAX_ID_CHARS)?;
    check_no_control(field, value)?;
    if value.contains('#') {
        return Err(OmsError::validation(field, "must not contain '#'"));
    }
    if value.trim() != value {
        return Err(OmsError::validation(field, "must not start or end with whitespace"));
    }
    Ok(())
}

fn check_length(field: &str, value: &str, max: usize) -> Result<(), OmsError> {
    if value.is_empty() {
        return Err(OmsError::validation(field, "must not be empty"));
    }
    if value.chars().count() > max {
        return Err(OmsError::validation(field, format!("must be at most {max} characters")));
    }
    Ok(())
}

fn check_no_control(field: &str, value: &str) -> Result<(), OmsError> {
    if value.chars().any(char::is_control) {
        return Err(OmsError::validation(field, "must not contain control characters"));
    }
    Ok(())
}

fn check_tenant_id(field: &str, value: &str) -> Result<(), OmsError> {
    check_length(field, value, MAX_ID_CHARS)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    if !value.chars().all(allowed) {
        return Err(OmsError::validation(field, "may contain only letters, digits, '_' and '-'"));
    }
    Ok(())
}

fn check_user_id(field: &str, value: &str) -> Result<(), OmsError> {
    check_length(field, value, MAX_USER_ID_CHARS)?;
    check_no_control(field, value)
}

/// Declares a string newtype whose only constructors go through `$check`.
macro_rules! id_type {
    ($(#[doc = $doc:literal])* $name:ident, $field:literal, $check:path, max = $max:expr, pattern = $pattern:expr) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        /// The OpenAPI schema states the rules `$check` enforces.
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some(concat!($($doc),*).trim()))
                    .min_length(Some(1))
                    .max_length(Some($max))
                    .pattern(Some($pattern))
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl $name {
            /// The JSON field this id is named by when no path is given.
            pub const FIELD: &'static str = $field;

            /// Parses a value sent as the field `FIELD`.
            pub fn parse(value: &str) -> Result<Self, OmsError> {
                Self::parse_at(Self::FIELD, value)
            }

            /// Parses a value sent at the JSON path `field` (e.g. `OrderLine[1].ItemId`).
            pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
                $check(field, value)?;
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = OmsError;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                $check(Self::FIELD, &value)?;
                Ok(Self(value))
            }
        }

        impl TryFrom<&str> for $name {
            type Error = OmsError;

            fn try_from(value: &str) -> Result<Self, Self::Error> {
                Self::parse(value)
            }
        }

        impl std::str::FromStr for $name {
            type Err = OmsError;

            fn from_str(value: &str) -> Result<Self, Self::Err> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }
    };
}

id_type!(
    /// The organization (tenant) that owns every record: 1-64 of `[A-Za-z0-9_-]`.
    TenantId,
    "OrgId",
    check_tenant_id,
    max = MAX_ID_CHARS, pattern = TENANT_ID_PATTERN
);
id_type!(
    /// An order id: 1-64 characters, no control characters, no `#`, no outer whitespace.
    OrderId,
    "OrderId",
    check_key_id,
    max = MAX_ID_CHARS, pattern = KEY_ID_PATTERN
);
id_type!(
    /// An order line id, unique within its order; same rules as [`OrderId`].
    OrderLineId,
    "OrderLineId",
    check_key_id,
    max = MAX_ID_CHARS, pattern = KEY_ID_PATTERN
);
id_type!(
    /// An item (SKU) id; same rules as [`OrderId`].
    ItemId,
    "ItemId",
    check_key_id,
    max = MAX_ID_CHARS, pattern = KEY_ID_PATTERN
);
id_type!(
    /// A location (DC or store) id; same rules as [`OrderId`].
    LocationId,
    "LocationId",
    check_key_id,
    max = MAX_ID_CHARS, pattern = KEY_ID_PATTERN
);
id_type!(
    /// The authenticated caller: 1-256 characters, no control characters.
    UserId,
    "UserId",
    check_user_id,
    max = MAX_USER_ID_CHARS, pattern = USER_ID_PATTERN
);

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(err: OmsError) -> String {
        err.field().unwrap_or("<none>").to_owned()
    }

    #[test]
    fn when_order_id_is_valid_should_keep_it_verbatim() {
        let id = OrderId::parse("O-1 a").unwrap();
        assert_eq!(id.as_str(), "O-1 a");
        assert_eq!(id.to_string(), "O-1 a");
    }

    #[test]
    fn when_order_id_is_empty_should_refuse_naming_the_field() {
        let err = OrderId::parse("").unwrap_err();
        assert_eq!(field_of(err), "OrderId");
    }

    #[test]
    fn when_id_has_64_chars_should_accept_and_65_should_refuse() {
        assert!(ItemId::parse(&"é".repeat(64)).is_ok());
        let err = ItemId::parse(&"a".repeat(65)).unwrap_err();
        assert!(err.to_string().contains("at most 64"), "{err}");
    }

    #[test]
    fn when_id_contains_hash_should_refuse_because_keys_use_it() {
        let err = LocationId::parse("DC#1").unwrap_err();
        assert!(err.to_string().contains("'#'"), "{err}");
    }

    #[test]
    fn when_id_contains_control_character_should_refuse() {
        assert!(OrderLineId::parse("a\nb").is_err());
        assert!(OrderLineId::parse("a\u{7f}b").is_err());
    }

    #[test]
    fn when_id_has_leading_or_trailing_whitespace_should_refuse_not_trim() {
        for value in [" O-1", "O-1 ", "\tO-1"] {
            assert!(OrderId::parse(value).is_err(), "{value:?}");
        }
    }

    #[test]
    fn when_parsed_at_a_path_should_name_that_path() {
        let err = ItemId::parse_at("OrderLine[1].ItemId", "").unwrap_err();
        assert_eq!(field_of(err), "OrderLine[1].ItemId");
    }

    #[test]
    fn when_tenant_has_only_allowed_characters_should_accept_any_case() {
        assert!(TenantId::parse("Acme_Retail-01").is_ok());
    }

    #[test]
    fn when_tenant_has_other_characters_should_refuse() {
        for value in ["acme retail", "acme.retail", "acme#1", "", "ü"] {
            let err = TenantId::parse(value).unwrap_err();
            assert_eq!(field_of(err), "OrgId", "{value:?}");
        }
        assert!(TenantId::parse(&"a".repeat(65)).is_err());
    }

    #[test]
    fn when_user_id_is_up_to_256_chars_should_accept() {
        assert!(UserId::parse(&"u".repeat(256)).is_ok());
        assert!(UserId::parse("user@example.com#x").is_ok());
        assert!(UserId::parse(&"u".repeat(257)).is_err());
        assert!(UserId::parse("").is_err());
    }

    #[test]
    fn when_serialized_should_be_a_plain_string() {
        let id = OrderId::parse("O-1").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"O-1\"");
    }

    #[test]
    fn when_deserialized_should_go_through_parse() {
        let ok: OrderId = serde_json::from_str("\"O-1\"").unwrap();
        assert_eq!(ok.as_str(), "O-1");
        let err = serde_json::from_str::<OrderId>("\"O#1\"").unwrap_err();
        assert!(err.to_string().contains("'#'"), "{err}");
        assert!(serde_json::from_str::<TenantId>("\"a b\"").is_err());
    }
}
