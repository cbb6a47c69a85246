//! The OpenAPI document must describe exactly the routes of the catalog, each with the bearer
//! security scheme, its documented headers and the error bodies of its API family.

use std::collections::BTreeSet;

use oms_core::catalog;
use oms_core::http::openapi::{self, IDEMPOTENCY_HEADER, SECURITY_SCHEME};
use serde_json::Value;

fn document() -> Value {
    serde_json::to_value(openapi::document()).unwrap()
}

fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if ["get", "put", "post", "delete", "patch", "head", "options", "trace"].contains(&method.as_str()) {
                ops.push((method.to_uppercase(), path.clone(), op));
            }
        }
    }
    ops
}

fn header_params(op: &Value) -> Vec<(String, bool)> {
    op["parameters"]
        .as_array()
        .map(|params| {
            params
                .iter()
                .filter(|p| p["in"] == "header")
                .map(|p| (p["name"].as_str().unwrap().to_string(), p["required"] == true))
                .collect()
        })
        .unwrap_or_default()
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(reference) => {
            let name = reference.trim_start_matches("#/components/schemas/");
            &doc["components"]["schemas"][name]
        }
        None => schema,
    }
}

#[test]
fn when_the_document_is_built_should_have_exactly_the_catalog_routes() {
    let doc = document();
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true), "{}", doc["openapi"]);
    let documented: BTreeSet<(String, String)> = operations(&doc).into_iter().map(|(m, p, _)| (m, p)).collect();
    let catalog: BTreeSet<(String, String)> =
        catalog::routes().flat_map(|(_, r)| r.methods().map(move |m| (m.to_string(), r.path.to_string()))).collect();
    let missing: Vec<_> = catalog.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&catalog).collect();
    assert!(missing.is_empty(), "catalog routes missing from the document: {missing:?}");
    assert!(extra.is_empty(), "documented routes the catalog does not have: {extra:?}");
}

#[test]
fn when_the_document_is_built_should_require_the_bearer_scheme_on_every_operation() {
    let doc = document();
    let scheme = &doc["components"]["securitySchemes"][SECURITY_SCHEME];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert_eq!(scheme["bearerFormat"], "JWT");
    for (method, path, op) in operations(&doc) {
        let declared = op["security"]
            .as_array()
            .is_some_and(|reqs| reqs.iter().any(|r| r.as_object().is_some_and(|o| o.contains_key(SECURITY_SCHEME))));
        assert!(declared, "{method} {path} does not declare {SECURITY_SCHEME}");
    }
}

#[test]
fn when_a_route_is_mutating_should_declare_an_optional_idempotency_key() {
    let doc = document();
    for (_, route) in catalog::routes() {
        let op = &doc["paths"][route.path][route.method.to_lowercase()];
        let headers = header_params(op);
        let key = headers.iter().find(|(name, _)| name == IDEMPOTENCY_HEADER);
        if route.mutating {
            assert_eq!(key, Some(&(IDEMPOTENCY_HEADER.to_string(), false)), "{} {}", route.method, route.path);
        } else {
            assert_eq!(key, None, "{} {} does not honour {IDEMPOTENCY_HEADER}", route.method, route.path);
        }
    }
}

#[test]
fn when_a_route_is_documented_should_note_its_permission_headers_and_error_bodies() {
    let doc = document();
    for (_, route) in catalog::routes() {
        let op = &doc["paths"][route.path][route.method.to_lowercase()];
        let label = format!("{} {}", route.method, route.path);
        assert!(op["summary"].is_string(), "{label}: no summary, so no route documentation in http::openapi");
        assert!(op["description"].as_str().unwrap().contains(route.permission), "{label}: permission not noted");
        let headers = header_params(op);
        assert!(headers.contains(&("x-vol-tenant".into(), false)), "{label}");
        assert!(headers.contains(&("SelectedOrganization".into(), false)), "{label}");
        assert!(headers.contains(&("x-request-id".into(), false)), "{label}");
        let site_context = headers.iter().find(|(name, _)| name == "x-site-context");
        if route.site_context_required {
            assert_eq!(site_context, Some(&("x-site-context".into(), true)), "{label}");
        }
        let path_params: Vec<&str> = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        let in_template: Vec<&str> =
            route.path.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect();
        assert_eq!(path_params, in_template, "{label}");

        let responses = op["responses"].as_object().unwrap();
        assert!(responses.keys().any(|s| s.starts_with('2')), "{label}: no success response");
        for status in ["400", "401", "403", "500", "503"] {
            assert!(responses.contains_key(status), "{label}: {status} not documented");
        }
        let manhattan = oms_core::http::envelope::is_manhattan_path(route.path);
        let error = resolve(&doc, &responses["400"]["content"]["application/json"]["schema"]);
        let keys: BTreeSet<&str> = error["properties"].as_object().unwrap().keys().map(String::as_str).collect();
        let expected: BTreeSet<&str> = if manhattan {
            [
                "success",
                "header",
                "data",
                "messageKey",
                "message",
                "errors",
                "exceptions",
                "messages",
                "rootCause",
                "requestUri",
                "statusCode",
            ]
            .into()
        } else {
            ["code", "field", "message"].into()
        };
        assert_eq!(keys, expected, "{label}: error body");
        for (status, response) in responses {
            let schema = &response["content"]["application/json"]["schema"];
            assert!(schema.is_object(), "{label}: {status} has no JSON schema");
        }
    }
}

#[test]
fn when_a_route_takes_a_body_should_document_its_request_type() {
    let doc = document();
    let bodies = [
        ("/order/api/order/order", "SaveOrderRequest"),
        ("/inventory/api/supply", "SupplyRequest"),
        ("/inventory/api/location/{LocationId}", "UpsertLocationRequest"),
        ("/allocation", "AllocationEventRequest"),
        ("/allocation/{allocationId}", "UpdateAllocationRequest"),
        ("/allocation/reallocate", "ReallocateRequest"),
        ("/allocation/query", "QueryRequest"),
        ("/allocation/settings", "SettingsRequest"),
    ];
    for (path, schema) in bodies {
        let item = doc["paths"][path].as_object().unwrap();
        let found = item.values().any(|op| {
            op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
                == format!("#/components/schemas/{schema}").as_str()
        });
        assert!(found, "{path}: request body {schema} not documented");
        assert!(doc["components"]["schemas"][schema].is_object(), "{schema} not in components");
    }
}
