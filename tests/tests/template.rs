//! The SAM template, the function crates and the sample events must agree with the catalog
//! (`oms_core::catalog`), which is the one list of deployed functions and their triggers.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use oms_core::catalog::{self, FunctionSpec, Trigger};
use oms_core::ports::{Index, MAX_RECEIVE_COUNT, QueueName};
use oms_core::store::dynamodb;
use serde_json::{Map, Value, json};

fn workspace_root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).to_path_buf()
}

/// CloudFormation short tags (`!Ref X`, `!GetAtt A.B`, `!Sub ...`) as their long JSON forms,
/// so the rest of the test reads plain JSON.
fn cfn_to_json(value: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).expect("a YAML number is a JSON number"),
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(cfn_to_json).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_yaml::to_string(&other).expect("a YAML key prints").trim().to_owned(),
                    };
                    (key, cfn_to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let inner = cfn_to_json(tagged.value);
            match (tag, inner) {
                ("Ref", inner) => json!({ "Ref": inner }),
                ("GetAtt", Value::String(s)) => {
                    let (resource, attribute) = s.split_once('.').unwrap_or((s.as_str(), ""));
                    json!({ "Fn::GetAtt": [resource, attribute] })
                }
                (other, inner) => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

struct Template {
    doc: Value,
}

impl Template {
    fn load() -> Self {
        let path = workspace_root().join("infra/template.yaml");
        let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        let yaml: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display()));
        Self { doc: cfn_to_json(yaml) }
    }

    fn resources(&self) -> &Map<String, Value> {
        self.doc["Resources"].as_object().expect("the template has Resources")
    }

    fn resources_of_type<'a>(&'a self, ty: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.resources().iter().filter(move |(_, r)| r["Type"] == ty)
    }

    fn functions(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.resources_of_type("AWS::Serverless::Function")
    }

    /// The function resource built from the binary `name`, with its logical id.
    fn function_by_binary(&self, name: &str) -> Option<(&String, &Value)> {
        self.functions().find(|(_, r)| r["Metadata"]["BuildProperties"]["Binary"] == name)
    }

    /// A function property, falling back to `Globals.Function`.
    fn function_property<'a>(&'a self, resource: &'a Value, property: &str) -> &'a Value {
        match &resource["Properties"][property] {
            Value::Null => &self.doc["Globals"]["Function"][property],
            value => value,
        }
    }

    fn events<'a>(&self, resource: &'a Value) -> impl Iterator<Item = (&'a String, &'a Value)> {
        resource["Properties"]["Events"].as_object().into_iter().flatten()
    }
}

fn pascal_case(kebab: &str) -> String {
    kebab
        .split('-')
        .map(|word| {
            let mut chars = word.chars();
            chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
        })
        .collect()
}

/// The logical id of the queue resource for a named queue: `change-tracker` -> `ChangeTrackerQueue`.
fn queue_resource_id(queue: QueueName) -> String {
    format!("{}Queue", pascal_case(queue.as_str()))
}

/// Whether a value is `!Ref id` or `!GetAtt id.<attribute>`.
fn refers_to(value: &Value, id: &str) -> bool {
    value["Ref"] == id || value["Fn::GetAtt"][0] == id
}

/// The referenced resource of `!Ref id` or `!GetAtt id.X`.
fn referenced_id(value: &Value) -> Option<&str> {
    value["Ref"].as_str().or_else(|| value["Fn::GetAtt"][0].as_str())
}

/// `name` from the `[package]` table of a Cargo.toml (enough TOML for a manifest we write).
fn package_name(manifest: &str) -> Option<String> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[package]";
        } else if in_package
            && let Some((key, value)) = line.split_once('=')
            && key.trim() == "name"
        {
            return Some(value.trim().trim_matches('"').to_owned());
        }
    }
    None
}

fn sample_event(name: &str) -> Result<Value, String> {
    let path = workspace_root().join("events").join(format!("{name}.json"));
    let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not JSON: {e}", path.display()))
}

fn fail_with(problems: Vec<String>) {
    assert!(problems.is_empty(), "\n{}\n", problems.join("\n"));
}

#[test]
fn template_http_routes_should_equal_the_catalog_routes_exactly() {
    let template = Template::load();
    let mut in_template = BTreeSet::new();
    let mut problems = Vec::new();
    for (id, resource) in template.functions() {
        let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or(id.as_str());
        for (event_name, event) in template.events(resource) {
            if event["Type"] != "HttpApi" {
                continue;
            }
            let properties = &event["Properties"];
            if !refers_to(&properties["ApiId"], "HttpApi") {
                problems.push(format!("{id}.Events.{event_name}: ApiId is not !Ref HttpApi"));
            }
            let method = properties["Method"].as_str().unwrap_or("<none>").to_ascii_uppercase();
            let path = properties["Path"].as_str().unwrap_or("<none>").to_owned();
            in_template.insert((binary.to_owned(), method, path));
        }
    }
    let in_catalog: BTreeSet<_> = catalog::routes()
        .flat_map(|(name, route)| {
            route.methods().map(move |method| (name.to_owned(), method.to_owned(), route.path.to_owned()))
        })
        .collect();

    for missing in in_catalog.difference(&in_template) {
        problems.push(format!("catalog route missing from the template: {missing:?}"));
    }
    for extra in in_template.difference(&in_catalog) {
        problems.push(format!("template route not in the catalog: {extra:?}"));
    }
    fail_with(problems);
}

#[test]
fn http_api_should_authorize_every_route_with_the_jwt_authorizer_by_default() {
    let template = Template::load();
    let api = &template.resources()["HttpApi"];
    assert_eq!(api["Type"], "AWS::Serverless::HttpApi");
    let auth = &api["Properties"]["Auth"];
    let default = auth["DefaultAuthorizer"].as_str().expect("HttpApi has a DefaultAuthorizer");
    let authorizer = &auth["Authorizers"][default];
    assert_eq!(authorizer["IdentitySource"], "$request.header.Authorization");
    assert!(refers_to(&authorizer["JwtConfiguration"]["issuer"], "JwtIssuer"), "issuer is !Ref JwtIssuer");
    assert!(refers_to(&authorizer["JwtConfiguration"]["audience"], "JwtAudience"), "audience is !Ref JwtAudience");
}

#[test]
fn every_catalog_function_should_be_built_from_its_own_crate_at_the_workspace_root() {
    let template = Template::load();
    let root = workspace_root();
    let mut problems = Vec::new();
    for spec in catalog::FUNCTIONS {
        let Some((id, resource)) = template.function_by_binary(spec.name) else {
            problems.push(format!("{}: no function resource with Metadata.BuildProperties.Binary", spec.name));
            continue;
        };
        let expected_id = format!("{}Function", pascal_case(spec.name));
        if *id != expected_id {
            problems.push(format!("{}: resource is {id}, expected {expected_id}", spec.name));
        }
        if resource["Metadata"]["BuildMethod"] != "rust-cargolambda" {
            problems.push(format!("{id}: Metadata.BuildMethod is not rust-cargolambda"));
        }
        // CodeUri is relative to the template (infra/): it must name the workspace root.
        match template.function_property(resource, "CodeUri").as_str() {
            Some(code_uri) => {
                let dir = root.join("infra").join(code_uri);
                let same = dir.canonicalize().ok() == root.canonicalize().ok();
                if !same {
                    problems.push(format!("{id}: CodeUri {code_uri:?} is not the workspace root"));
                }
            }
            None => problems.push(format!("{id}: no CodeUri")),
        }
        if !resource["Properties"]["FunctionName"].is_null() {
            problems.push(format!("{id}: sets FunctionName (let CloudFormation name it)"));
        }
        let manifest = root.join("functions").join(spec.name).join("Cargo.toml");
        match fs::read_to_string(&manifest) {
            Ok(text) => match package_name(&text) {
                Some(package) if package == spec.name => {}
                other => problems.push(format!("{}: package name is {other:?}", manifest.display())),
            },
            Err(e) => problems.push(format!("{}: {e}", manifest.display())),
        }
    }
    fail_with(problems);
}

#[test]
fn template_should_declare_no_function_missing_from_the_catalog() {
    let template = Template::load();
    let extra: Vec<String> = template
        .functions()
        .filter(|(_, resource)| {
            let binary = resource["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap_or_default();
            catalog::function(binary).is_none()
        })
        .map(|(id, _)| format!("{id} is not a catalog function"))
        .collect();
    fail_with(extra);
}

#[test]
fn queue_functions_should_consume_their_queue_and_report_batch_item_failures() {
    let template = Template::load();
    let mut problems = Vec::new();
    let queue_functions = catalog::FUNCTIONS.iter().filter_map(|f| match f.trigger {
        Trigger::Queue(queue) => Some((f.name, queue)),
        _ => None,
    });
    for (name, queue) in queue_functions {
        let Some((id, resource)) = template.function_by_binary(name) else {
            problems.push(format!("{name}: no function resource"));
            continue;
        };
        let sqs_events: Vec<_> = template.events(resource).filter(|(_, e)| e["Type"] == "SQS").collect();
        if sqs_events.is_empty() {
            problems.push(format!("{id}: no SQS event"));
        }
        for (event_name, event) in sqs_events {
            let properties = &event["Properties"];
            if !refers_to(&properties["Queue"], &queue_resource_id(queue)) {
                problems.push(format!("{id}.Events.{event_name}: Queue is not {}", queue_resource_id(queue)));
            }
            let reports = properties["FunctionResponseTypes"]
                .as_array()
                .is_some_and(|types| types.iter().any(|t| t == "ReportBatchItemFailures"));
            if !reports {
                problems.push(format!("{id}.Events.{event_name}: no ReportBatchItemFailures"));
            }
        }
    }
    fail_with(problems);
}

#[test]
fn scheduled_functions_should_run_on_the_catalog_schedule() {
    let template = Template::load();
    let mut problems = Vec::new();
    let scheduled = catalog::FUNCTIONS.iter().filter_map(|f| match f.trigger {
        Trigger::Schedule(expression) => Some((f.name, expression)),
        _ => None,
    });
    for (name, expression) in scheduled {
        let Some((id, resource)) = template.function_by_binary(name) else {
            problems.push(format!("{name}: no function resource"));
            continue;
        };
        let on_schedule = template.events(resource).any(|(_, e)| {
            (e["Type"] == "Schedule" || e["Type"] == "ScheduleV2") && e["Properties"]["Schedule"] == expression
        });
        if !on_schedule {
            problems.push(format!("{id}: no Schedule event with {expression:?}"));
        }
    }
    fail_with(problems);
}

#[test]
fn every_sqs_queue_should_redrive_to_a_dead_letter_queue_in_the_template() {
    let template = Template::load();
    let queues: BTreeMap<&String, &Value> = template.resources_of_type("AWS::SQS::Queue").collect();
    let dead_letter_queues: BTreeSet<&str> = queues
        .values()
        .filter_map(|q| referenced_id(&q["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]))
        .collect();
    let mut problems = Vec::new();
    for (id, queue) in &queues {
        if dead_letter_queues.contains(id.as_str()) {
            continue;
        }
        let redrive = &queue["Properties"]["RedrivePolicy"];
        match referenced_id(&redrive["deadLetterTargetArn"]) {
            Some(dlq) if queues.contains_key(&dlq.to_owned()) => {}
            other => problems.push(format!("{id}: RedrivePolicy.deadLetterTargetArn refers to {other:?}")),
        }
        if redrive["maxReceiveCount"] != MAX_RECEIVE_COUNT {
            problems
                .push(format!("{id}: maxReceiveCount is {}, expected {MAX_RECEIVE_COUNT}", redrive["maxReceiveCount"]));
        }
    }
    for queue in QueueName::ALL {
        if !queues.contains_key(&queue_resource_id(queue)) {
            problems.push(format!("queue {} has no {} resource", queue.as_str(), queue_resource_id(queue)));
        }
    }
    fail_with(problems);
}

#[test]
fn every_function_should_see_the_table_and_queue_urls_in_its_environment() {
    let template = Template::load();
    let variables = &template.doc["Globals"]["Function"]["Environment"]["Variables"];
    assert!(refers_to(&variables["TABLE_NAME"], "Table"), "Globals: TABLE_NAME is !Ref Table");
    for queue in QueueName::ALL {
        assert!(
            refers_to(&variables[queue.url_env()], &queue_resource_id(queue)),
            "Globals: {} is !Ref {}",
            queue.url_env(),
            queue_resource_id(queue)
        );
    }
}

#[test]
fn table_should_have_the_keys_indexes_and_projections_that_create_table_creates() {
    let template = Template::load();
    let table = &template.resources()["Table"]["Properties"];
    let key_of = |schema: &Value| -> Vec<(String, String)> {
        schema
            .as_array()
            .into_iter()
            .flatten()
            .map(|k| (k["AttributeName"].as_str().unwrap_or("").into(), k["KeyType"].as_str().unwrap_or("").into()))
            .collect()
    };
    assert_eq!(key_of(&table["KeySchema"]), [("PK".into(), "HASH".into()), ("SK".into(), "RANGE".into())]);

    // What the store's create_table sends, in the template's terms.
    let created: BTreeMap<String, (Vec<(String, String)>, String)> = dynamodb::global_secondary_indexes()
        .expect("index definitions build")
        .into_iter()
        .map(|gsi| {
            let schema =
                gsi.key_schema().iter().map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned()));
            let projection = gsi.projection().and_then(|p| p.projection_type()).map(|t| t.as_str().to_owned());
            (gsi.index_name().to_owned(), (schema.collect(), projection.unwrap_or_default()))
        })
        .collect();
    let declared: BTreeMap<String, (Vec<(String, String)>, String)> = table["GlobalSecondaryIndexes"]
        .as_array()
        .expect("the table declares its indexes")
        .iter()
        .map(|gsi| {
            let projection = gsi["Projection"]["ProjectionType"].as_str().unwrap_or_default().to_owned();
            (gsi["IndexName"].as_str().unwrap_or_default().to_owned(), (key_of(&gsi["KeySchema"]), projection))
        })
        .collect();
    assert_eq!(declared, created, "the template's indexes (left) and create_table's (right)");
    assert_eq!(created.len(), Index::ALL.len());
    for index in Index::ALL {
        assert_eq!(created[index.name()].1, index.projection().dynamodb_name(), "projection of {}", index.name());
    }

    let created_attributes: BTreeSet<(String, String)> = dynamodb::attribute_definitions()
        .expect("attribute definitions build")
        .iter()
        .map(|a| (a.attribute_name().to_owned(), a.attribute_type().as_str().to_owned()))
        .collect();
    let declared_attributes: BTreeSet<(String, String)> = table["AttributeDefinitions"]
        .as_array()
        .expect("the table declares its attributes")
        .iter()
        .map(|a| {
            (
                a["AttributeName"].as_str().unwrap_or_default().into(),
                a["AttributeType"].as_str().unwrap_or_default().into(),
            )
        })
        .collect();
    assert_eq!(declared_attributes, created_attributes);
}

fn route_key_of(spec: &FunctionSpec) -> Option<String> {
    match spec.trigger {
        Trigger::Http(route) => Some(format!("{} {}", route.method, route.path)),
        _ => None,
    }
}

#[test]
fn every_catalog_function_should_have_a_sample_event_that_parses_as_json() {
    let problems: Vec<String> = catalog::FUNCTIONS.iter().filter_map(|spec| sample_event(spec.name).err()).collect();
    fail_with(problems);
}

#[test]
fn http_sample_events_should_carry_the_catalog_route_key_and_parse_as_api_gateway_v2_requests() {
    let mut problems = Vec::new();
    for spec in catalog::FUNCTIONS {
        let Some(route_key) = route_key_of(spec) else { continue };
        let event = match sample_event(spec.name) {
            Ok(event) => event,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        if event["routeKey"] != route_key.as_str() {
            problems
                .push(format!("events/{}.json: routeKey is {}, expected {route_key:?}", spec.name, event["routeKey"]));
        }
        if event["requestContext"]["routeKey"] != route_key.as_str() {
            problems.push(format!("events/{}.json: requestContext.routeKey is not {route_key:?}", spec.name));
        }
        if let Err(e) = serde_json::from_value::<ApiGatewayV2httpRequest>(event) {
            problems.push(format!("events/{}.json is not an API Gateway v2 request: {e}", spec.name));
        }
    }
    fail_with(problems);
}

#[test]
fn scheduled_sample_events_should_parse_as_eventbridge_scheduled_events() {
    let mut problems = Vec::new();
    for spec in catalog::FUNCTIONS.iter().filter(|f| matches!(f.trigger, Trigger::Schedule(_))) {
        match sample_event(spec.name).map(serde_json::from_value::<EventBridgeEvent>) {
            Ok(Ok(event)) if event.detail_type == "Scheduled Event" && event.source == "aws.events" => {}
            Ok(Ok(event)) => problems.push(format!(
                "events/{}.json: {} from {}, expected a Scheduled Event from aws.events",
                spec.name, event.detail_type, event.source
            )),
            Ok(Err(e)) => problems.push(format!("events/{}.json is not an EventBridge event: {e}", spec.name)),
            Err(e) => problems.push(e),
        }
    }
    fail_with(problems);
}
