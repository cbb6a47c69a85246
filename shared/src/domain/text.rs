//! The schemas of free-text request values, as the order parser checks them (not blank, no
//! control characters, bounded length). Only the OpenAPI document names these types.

use std::borrow::Cow;

use utoipa::openapi::schema::{Schema, Type};
use utoipa::openapi::{ObjectBuilder, RefOr};
use utoipa::{PartialSchema, ToSchema};

use super::order::{MAX_CODE_CHARS, MAX_TEXT_CHARS};

/// Not blank and no control characters, as a regular expression.
pub const TEXT_PATTERN: &str = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$";

fn text_schema(description: &str, max: usize) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(TEXT_PATTERN))
        .into()
}

/// Free text such as a name or an address line.
pub struct Text;

impl PartialSchema for Text {
    fn schema() -> RefOr<Schema> {
        text_schema("Free text: not blank, no control characters.", MAX_TEXT_CHARS)
    }
}

impl ToSchema for Text {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Text")
    }
}

/// A code-like value such as an order type or a payment method id.
pub struct Code;

impl PartialSchema for Code {
    fn schema() -> RefOr<Schema> {
        text_schema("A code: not blank, no control characters.", MAX_CODE_CHARS)
    }
}

impl ToSchema for Code {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Code")
    }
}
