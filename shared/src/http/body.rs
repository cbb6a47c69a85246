//! JSON request bodies, parsed so that an error names the field the client sent.

use serde::de::DeserializeOwned;

use crate::error::OmsError;

pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, OmsError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(OmsError::BadRequest("the request body is empty; expected a JSON object".into()));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        if path == "." || inner.is_syntax() || inner.is_eof() {
            OmsError::BadRequest(format!("the request body is not valid JSON: {inner}"))
        } else {
            OmsError::validation(path, strip_position(&inner.to_string()))
        }
    })?;
    de.end().map_err(|e| OmsError::BadRequest(format!("the request body has trailing characters: {e}")))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 42"; the field path says more to a client.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    #[allow(dead_code)]
    struct Line {
        quantity: u32,
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "PascalCase")]
    #[allow(dead_code)]
    struct Order {
        order_line: Vec<Line>,
    }

    #[test]
    fn when_a_nested_field_has_the_wrong_type_should_name_its_path() {
        let err = parse_json::<Order>(br#"{"OrderLine":[{"Quantity":1},{"Quantity":"two"}]}"#).unwrap_err();
        assert_eq!(err.field(), Some("OrderLine[1].Quantity"));
        assert!(!err.to_string().contains("line 1 column"));
    }

    #[test]
    fn when_body_is_not_json_should_be_a_bad_request() {
        assert!(matches!(parse_json::<Order>(b"{not json"), Err(OmsError::BadRequest(_))));
        assert!(matches!(parse_json::<Order>(b""), Err(OmsError::BadRequest(_))));
    }
}
