//! Validation of the order type configuration request, one rule per test.

use serde_json::{Value, json};

use super::*;

fn parse(body: Value) -> Result<(OrderTypeConfig, Option<u64>), OmsError> {
    serde_json::from_value::<OrderTypeConfigRequest>(body).unwrap().parse("Web")
}

/// The field path and message of the error `body` is refused with.
fn refused(body: Value) -> (String, String) {
    let err = parse(body).unwrap_err();
    (err.field().unwrap().to_string(), err.to_string())
}

fn field(body: Value) -> String {
    refused(body).0
}

fn one_mod_type(rule: Value) -> Value {
    json!({ "ModTypes": [rule] })
}

fn milestones(list: Value) -> Value {
    json!({ "Milestones": list })
}

fn monitor(rule: Value) -> Value {
    let mut full = json!({ "RuleId": "R1", "MilestoneId": "Confirmed", "EventName": "ConfirmationDue",
                           "When": "After", "OffsetSeconds": 1 });
    full.as_object_mut().unwrap().extend(rule.as_object().unwrap().clone());
    full.as_object_mut().unwrap().retain(|_, v| !v.is_null());
    json!({ "Milestones": [{ "MilestoneId": "Confirmed", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 60 }],
            "MonitoringRules": [full] })
}

#[test]
fn default_config_round_trips_through_parse() {
    let config = default_config("Web");
    let stored = serde_json::to_value(&config).unwrap();
    let (parsed, version) = parse(stored).unwrap();
    assert_eq!(parsed, config);
    assert_eq!(version, Some(0));
}

#[test]
fn default_config_follows_the_seed() {
    let config = default_config("Web");
    let ship_to = config.rule(ModType::UpdateShipToAddress).unwrap();
    assert_eq!(ship_to.services, vec![Service::ChangeStatus, Service::PublishOrderLine]);
    assert_eq!(ship_to.change_status_id, Some(FulfillmentStatus::Open));
    assert_eq!(ship_to.restrict_from_status, Some(FulfillmentStatus::Released));
    assert_eq!(config.rule(ModType::ShipLine).unwrap().email_messages, vec!["ShipConfirmation"]);
    assert!(config.rule(ModType::UpdateLinePrice).is_none());
    assert_eq!(config.milestone(Milestone::Released).unwrap().expected_after_milestone, Milestone::Confirmed);
    assert_eq!(config.milestone(Milestone::Fulfilled).unwrap().expected_minutes, 1440);
    assert!(config.milestone(Milestone::Created).is_none());
}

#[test]
fn the_stored_form_is_pascal_case_with_status_ids() {
    let stored = serde_json::to_value(default_config("Web")).unwrap();
    assert_eq!(stored["ModTypes"][2]["RestrictFromStatus"], json!("3000"));
    assert_eq!(stored["ModTypes"][2]["ChangeStatusId"], json!("1000"));
    assert_eq!(stored["Milestones"][3]["MilestoneId"], json!("Fulfilled"));
    let back: OrderTypeConfig = serde_json::from_value(stored).unwrap();
    assert_eq!(back, default_config("Web"));
}

#[test]
fn an_empty_request_is_an_empty_configuration_and_the_version_passes_through() {
    let (config, version) = parse(json!({ "Version": 7 })).unwrap();
    assert!(config.mod_types.is_empty() && config.milestones.is_empty() && config.monitoring_rules.is_empty());
    assert_eq!((config.order_type_id.as_str(), config.version, version), ("Web", 0, Some(7)));
}

#[test]
fn when_order_type_id_is_blank_too_long_or_has_control_chars_should_refuse_at_order_type_id() {
    for id in ["", "  ", "a\tb", &"x".repeat(65)] {
        let err = OrderTypeConfigRequest::default().parse(id).unwrap_err();
        assert_eq!(err.field(), Some("OrderTypeId"), "{id:?}");
    }
    assert!(OrderTypeConfigRequest::default().parse(&"x".repeat(64)).is_ok());
}

#[test]
fn when_description_is_too_long_should_refuse_at_description() {
    assert_eq!(field(json!({ "Description": "d".repeat(257) })), "Description");
    assert!(parse(json!({ "Description": "d".repeat(256) })).is_ok());
}

#[test]
fn when_mod_type_id_is_missing_or_unknown_should_refuse_listing_the_accepted_ids() {
    assert_eq!(field(one_mod_type(json!({ "Services": [] }))), "ModTypes[0].ModTypeId");
    let (path, message) = refused(one_mod_type(json!({ "ModTypeId": "Teleport" })));
    assert_eq!(path, "ModTypes[0].ModTypeId");
    assert!(message.contains("CreateOrder") && message.contains("ShipLine"), "{message}");
}

#[test]
fn when_a_mod_type_is_listed_twice_should_refuse_at_the_second() {
    let body = json!({ "ModTypes": [{ "ModTypeId": "ShipLine" }, { "ModTypeId": "CreateOrder" }, { "ModTypeId": "shipline" }] });
    assert_eq!(field(body), "ModTypes[2].ModTypeId");
}

#[test]
fn when_a_service_is_unknown_should_refuse_at_its_index() {
    let body = one_mod_type(json!({ "ModTypeId": "CreateOrder", "Services": ["PublishOrder", "Fax"] }));
    assert_eq!(field(body), "ModTypes[0].Services[1]");
}

#[test]
fn duplicate_services_and_messages_collapse() {
    let body = one_mod_type(json!({ "ModTypeId": "ShipLine", "Services": ["PublishOrderLine", "publishorderline"],
                                    "EmailMessages": ["A", "A", "B"], "TextMessages": ["T", "T"] }));
    let (config, _) = parse(body).unwrap();
    let rule = config.rule(ModType::ShipLine).unwrap();
    assert_eq!(rule.services, vec![Service::PublishOrderLine]);
    assert_eq!(
        (rule.email_messages.clone(), rule.text_messages.clone()),
        (vec!["A".into(), "B".into()], vec!["T".into()])
    );
}

#[test]
fn when_change_status_and_reevaluate_pipeline_are_both_set_should_refuse_naming_services() {
    let body =
        one_mod_type(json!({ "ModTypeId": "UpdateShipToAddress", "Services": ["ChangeStatus", "ReevaluatePipeline"] }));
    let (path, message) = refused(body);
    assert_eq!(path, "ModTypes[0].Services");
    assert!(message.contains("the seed forbids both"), "{message}");
}

#[test]
fn when_a_system_mod_type_moves_units_should_refuse_at_the_service() {
    for mod_type in ["AllocateLine", "ReleaseLine", "ShipLine"] {
        for service in ["ChangeStatus", "ReevaluatePipeline", "CancelReservation"] {
            let body = one_mod_type(json!({ "ModTypeId": mod_type, "Services": ["PublishOrderLine", service] }));
            assert_eq!(field(body), "ModTypes[0].Services[1]", "{mod_type} {service}");
        }
    }
    assert!(parse(one_mod_type(json!({ "ModTypeId": "CancelOrderLine", "Services": ["CancelReservation"] }))).is_ok());
}

#[test]
fn when_a_system_mod_type_has_modification_rules_should_refuse_naming_the_rule() {
    let cases = [
        (json!({ "ModTypeId": "ShipLine", "RestrictPostConfirmation": true }), "ModTypes[0].RestrictPostConfirmation"),
        (json!({ "ModTypeId": "AllocateLine", "RestrictFromStatus": "3000" }), "ModTypes[0].RestrictFromStatus"),
        (
            json!({ "ModTypeId": "ReleaseLine", "RestrictFromReturnStatus": 1000 }),
            "ModTypes[0].RestrictFromReturnStatus",
        ),
    ];
    for (rule, path) in cases {
        assert_eq!(field(one_mod_type(rule)), path);
    }
    assert!(parse(one_mod_type(json!({ "ModTypeId": "ShipLine", "RestrictPostConfirmation": false }))).is_ok());
}

#[test]
fn when_a_status_is_not_a_fulfillment_status_should_refuse_naming_the_field() {
    for (name, value) in [("RestrictFromStatus", json!("2500")), ("RestrictFromReturnStatus", json!(true))] {
        let body = one_mod_type(json!({ "ModTypeId": "CancelOrder", name: value }));
        assert_eq!(field(body), format!("ModTypes[0].{name}"));
    }
    let body = one_mod_type(
        json!({ "ModTypeId": "UpdateShipToAddress", "Services": ["ChangeStatus"], "ChangeStatusId": "abc" }),
    );
    assert_eq!(field(body), "ModTypes[0].ChangeStatusId");
}

#[test]
fn statuses_are_read_from_strings_and_numbers() {
    let body = one_mod_type(
        json!({ "ModTypeId": "CancelOrder", "RestrictFromStatus": 2000.0, "RestrictFromReturnStatus": "7000.000" }),
    );
    let (config, _) = parse(body).unwrap();
    let rule = config.rule(ModType::CancelOrder).unwrap();
    assert_eq!(rule.restrict_from_status, Some(FulfillmentStatus::Allocated));
    assert_eq!(rule.restrict_from_return_status, Some(FulfillmentStatus::Fulfilled));
}

#[test]
fn when_change_status_id_is_allocated_or_later_should_refuse_at_change_status_id() {
    let body = |status: &str| {
        one_mod_type(
            json!({ "ModTypeId": "UpdateShipToAddress", "Services": ["ChangeStatus"], "ChangeStatusId": status }),
        )
    };
    assert_eq!(field(body("2000")), "ModTypes[0].ChangeStatusId");
    let (config, _) = parse(body("1500")).unwrap();
    assert_eq!(config.mod_types[0].change_status_id, Some(FulfillmentStatus::BackOrdered));
}

#[test]
fn when_change_status_id_comes_without_change_status_should_refuse_at_change_status_id() {
    let body = one_mod_type(
        json!({ "ModTypeId": "UpdateShipToAddress", "Services": ["PublishOrderLine"], "ChangeStatusId": "1000" }),
    );
    assert_eq!(field(body), "ModTypes[0].ChangeStatusId");
}

#[test]
fn when_a_message_id_is_malformed_should_refuse_at_its_index() {
    for bad in ["", "has space", "ünï", &"x".repeat(65)] {
        let body = one_mod_type(json!({ "ModTypeId": "ShipLine", "TextMessages": ["Ok", bad] }));
        assert_eq!(field(body), "ModTypes[0].TextMessages[1]", "{bad:?}");
    }
}

#[test]
fn when_more_than_ten_distinct_messages_should_refuse_naming_the_list() {
    let eleven: Vec<String> = (0..11).map(|n| format!("M{n}")).collect();
    assert_eq!(
        field(one_mod_type(json!({ "ModTypeId": "ShipLine", "EmailMessages": eleven }))),
        "ModTypes[0].EmailMessages"
    );
    let repeated = vec!["Same"; 20];
    assert!(parse(one_mod_type(json!({ "ModTypeId": "ShipLine", "EmailMessages": repeated }))).is_ok());
}

#[test]
fn when_a_list_is_too_long_should_refuse_naming_the_list() {
    let mod_types: Vec<Value> = (0..33).map(|_| json!({})).collect();
    assert_eq!(field(json!({ "ModTypes": mod_types })), "ModTypes");
    let many: Vec<Value> = (0..9).map(|_| json!({})).collect();
    assert_eq!(field(milestones(json!(many))), "Milestones");
    let rules: Vec<Value> = (0..33).map(|_| json!({})).collect();
    assert_eq!(field(json!({ "MonitoringRules": rules })), "MonitoringRules");
}

#[test]
fn when_milestone_id_is_missing_unknown_or_created_should_refuse_at_milestone_id() {
    for id in [Value::Null, json!("Delivered"), json!("Created")] {
        let body =
            milestones(json!([{ "MilestoneId": id, "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 1 }]));
        assert_eq!(field(body), "Milestones[0].MilestoneId", "{id}");
    }
}

#[test]
fn shipped_is_read_as_fulfilled() {
    let body = milestones(
        json!([{ "MilestoneId": "Shipped", "ExpectedAfterMilestone": "released", "ExpectedMinutes": 1440 }]),
    );
    let (config, _) = parse(body).unwrap();
    assert_eq!(config.milestones[0].milestone_id, Milestone::Fulfilled);
    assert_eq!(serde_json::from_value::<Milestone>(json!("Shipped")).unwrap(), Milestone::Fulfilled);
}

#[test]
fn when_a_milestone_is_listed_twice_should_refuse_at_the_second() {
    let body = milestones(json!([
        { "MilestoneId": "Fulfilled", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 1 },
        { "MilestoneId": "Shipped", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 2 }
    ]));
    assert_eq!(field(body), "Milestones[1].MilestoneId");
}

#[test]
fn when_expected_after_milestone_is_missing_unknown_or_itself_should_refuse_at_it() {
    for after in [Value::Null, json!("Later"), json!("Allocated")] {
        let body =
            milestones(json!([{ "MilestoneId": "Allocated", "ExpectedAfterMilestone": after, "ExpectedMinutes": 1 }]));
        assert_eq!(field(body), "Milestones[0].ExpectedAfterMilestone", "{after}");
    }
}

#[test]
fn when_expected_minutes_is_missing_fractional_negative_or_over_a_year_should_refuse_at_it() {
    for minutes in [Value::Null, json!(1.5), json!(-1), json!(525_601)] {
        let body = milestones(
            json!([{ "MilestoneId": "Allocated", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": minutes }]),
        );
        assert_eq!(field(body), "Milestones[0].ExpectedMinutes", "{minutes}");
    }
    let body = milestones(
        json!([{ "MilestoneId": "Allocated", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 525_600.0 }]),
    );
    assert_eq!(parse(body).unwrap().0.milestones[0].expected_minutes, 525_600);
}

#[test]
fn when_restrict_by_date_is_set_on_another_milestone_than_released_should_refuse_at_it() {
    let body = |id: &str| {
        milestones(
            json!([{ "MilestoneId": id, "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 180, "RestrictByDate": true }]),
        )
    };
    assert_eq!(field(body("Allocated")), "Milestones[0].RestrictByDate");
    assert!(parse(body("Released")).unwrap().0.milestones[0].restrict_by_date);
}

#[test]
fn when_milestones_form_a_cycle_should_refuse_naming_the_milestone() {
    let body = milestones(json!([
        { "MilestoneId": "Fulfilled", "ExpectedAfterMilestone": "Released", "ExpectedMinutes": 1 },
        { "MilestoneId": "Released", "ExpectedAfterMilestone": "Allocated", "ExpectedMinutes": 1 },
        { "MilestoneId": "Allocated", "ExpectedAfterMilestone": "Released", "ExpectedMinutes": 1 }
    ]));
    let (path, message) = refused(body);
    assert_eq!(path, "Milestones[1].ExpectedAfterMilestone");
    assert!(message.contains("Released after Allocated after Released"), "{message}");
}

#[test]
fn a_valid_monitoring_rule_is_stored_in_seconds() {
    let (config, _) = parse(monitor(json!({ "When": "before", "OffsetSeconds": null, "OffsetMinutes": 360 }))).unwrap();
    let rule = &config.monitoring_rules[0];
    assert_eq!((rule.when, rule.offset_seconds, rule.milestone_id), (When::Before, 21_600, Milestone::Confirmed));
}

#[test]
fn when_rule_id_is_missing_blank_or_listed_twice_should_refuse_at_rule_id() {
    assert_eq!(field(monitor(json!({ "RuleId": null }))), "MonitoringRules[0].RuleId");
    assert_eq!(field(monitor(json!({ "RuleId": " " }))), "MonitoringRules[0].RuleId");
    let mut body = monitor(json!({}));
    let rule = body["MonitoringRules"][0].clone();
    body["MonitoringRules"].as_array_mut().unwrap().push(rule);
    assert_eq!(field(body), "MonitoringRules[1].RuleId");
}

#[test]
fn when_the_monitored_milestone_has_no_expected_time_should_refuse_at_milestone_id() {
    for id in ["Released", "Created"] {
        let (path, message) = refused(monitor(json!({ "MilestoneId": id })));
        assert_eq!(path, "MonitoringRules[0].MilestoneId");
        assert!(message.contains("no expected time"), "{message}");
    }
    assert_eq!(field(monitor(json!({ "MilestoneId": null }))), "MonitoringRules[0].MilestoneId");
}

#[test]
fn when_event_name_or_when_is_missing_or_invalid_should_refuse_naming_it() {
    assert_eq!(field(monitor(json!({ "EventName": null }))), "MonitoringRules[0].EventName");
    assert_eq!(field(monitor(json!({ "EventName": "e".repeat(65) }))), "MonitoringRules[0].EventName");
    assert_eq!(field(monitor(json!({ "When": null }))), "MonitoringRules[0].When");
    assert_eq!(field(monitor(json!({ "When": "During" }))), "MonitoringRules[0].When");
}

#[test]
fn when_offsets_are_both_missing_or_out_of_range_should_refuse_naming_the_offset() {
    assert_eq!(field(monitor(json!({ "OffsetMinutes": 5 }))), "MonitoringRules[0].OffsetSeconds");
    assert_eq!(field(monitor(json!({ "OffsetSeconds": null }))), "MonitoringRules[0].OffsetMinutes");
    assert_eq!(field(monitor(json!({ "OffsetSeconds": -1 }))), "MonitoringRules[0].OffsetSeconds");
    assert_eq!(field(monitor(json!({ "OffsetSeconds": 31_536_001 }))), "MonitoringRules[0].OffsetSeconds");
    assert_eq!(
        field(monitor(json!({ "OffsetSeconds": null, "OffsetMinutes": 0.5 }))),
        "MonitoringRules[0].OffsetMinutes"
    );
}
