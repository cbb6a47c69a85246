//! Order type configuration: per modification type the services it triggers, the messages it
//! publishes and the rules restricting it; the milestones an order is expected to reach in time;
//! and the monitoring rules raising events around those expected times.
//!
//! The stored form is the serde form (PascalCase). [`OrderTypeConfigRequest`] is what
//! `PUT /order/api/order/orderType/{OrderTypeId}` accepts; its `parse` validates it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::messages::check_template_id;
use super::{ModType, Service};
use crate::domain::order::one_of;
use crate::domain::status::FulfillmentStatus;
use crate::error::OmsError;

pub const MAX_ORDER_TYPE_ID_CHARS: usize = 64;
pub const MAX_DESCRIPTION_CHARS: usize = 256;
pub const MAX_MOD_TYPES: usize = 32;
pub const MAX_MILESTONES: usize = 8;
pub const MAX_MONITORING_RULES: usize = 32;
/// Most email (and, separately, text) messages one modification type publishes.
pub const MAX_MESSAGES: usize = 10;
pub const MAX_RULE_ID_CHARS: usize = 64;
pub const MAX_EVENT_NAME_CHARS: usize = 64;
/// One year, the longest expected time or monitoring offset.
pub const MAX_MINUTES: u64 = 525_600;
pub const MAX_OFFSET_SECONDS: u64 = MAX_MINUTES * 60;

/// The configuration of one order type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OrderTypeConfig {
    pub order_type_id: String,
    pub description: Option<String>,
    #[serde(default)]
    pub mod_types: Vec<ModTypeRule>,
    #[serde(default)]
    pub milestones: Vec<MilestoneRule>,
    #[serde(default)]
    pub monitoring_rules: Vec<MonitoringRule>,
    pub version: u64,
    pub updated_timestamp: Option<DateTime<Utc>>,
    pub updated_by: Option<String>,
}

impl OrderTypeConfig {
    /// The rule of a modification type; `None` means it triggers nothing and is not restricted.
    pub fn rule(&self, m: ModType) -> Option<&ModTypeRule> {
        self.mod_types.iter().find(|r| r.mod_type_id == m)
    }

    /// The expected time of a milestone, when one is configured.
    pub fn milestone(&self, m: Milestone) -> Option<&MilestoneRule> {
        self.milestones.iter().find(|r| r.milestone_id == m)
    }
}

/// What one modification type triggers, and when it is not permitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ModTypeRule {
    pub mod_type_id: ModType,
    #[serde(default)]
    pub services: Vec<Service>,
    /// Email template ids published (PublishEmail).
    #[serde(default)]
    pub email_messages: Vec<String>,
    /// Text template ids published (PublishText).
    #[serde(default)]
    pub text_messages: Vec<String>,
    /// Not permitted once the order is confirmed.
    #[serde(default)]
    pub restrict_post_confirmation: bool,
    /// Not permitted once the order's (or line's) maximum fulfillment status reaches this one.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub restrict_from_status: Option<FulfillmentStatus>,
    /// Not permitted once the maximum return status reaches this one.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub restrict_from_return_status: Option<FulfillmentStatus>,
    /// Status ChangeStatus drops quantity to (below 2000); default Open
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub change_status_id: Option<FulfillmentStatus>,
}

impl ModTypeRule {
    fn new(mod_type_id: ModType, services: &[Service]) -> Self {
        ModTypeRule {
            mod_type_id,
            services: services.to_vec(),
            email_messages: Vec::new(),
            text_messages: Vec::new(),
            restrict_post_confirmation: false,
            restrict_from_status: None,
            restrict_from_return_status: None,
            change_status_id: None,
        }
    }
}

/// A significant point of the order lifecycle (the seed's out-of-the-box definitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Milestone {
    /// The order exists: where the clock starts; not configurable.
    Created,
    /// IsConfirmed is true.
    Confirmed,
    /// Minimum fulfillment status ≥ 2000.
    Allocated,
    /// Minimum fulfillment status ≥ 3000.
    Released,
    /// Minimum fulfillment status ≥ 7000 (the seed's diagram calls it Shipped).
    #[serde(alias = "Shipped")]
    Fulfilled,
}

impl Milestone {
    pub const ALL: [Milestone; 5] =
        [Milestone::Created, Milestone::Confirmed, Milestone::Allocated, Milestone::Released, Milestone::Fulfilled];

    pub fn id(self) -> &'static str {
        match self {
            Milestone::Created => "Created",
            Milestone::Confirmed => "Confirmed",
            Milestone::Allocated => "Allocated",
            Milestone::Released => "Released",
            Milestone::Fulfilled => "Fulfilled",
        }
    }

    /// Any case; `Shipped` is read as Fulfilled.
    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        if value.eq_ignore_ascii_case("Shipped") {
            return Ok(Milestone::Fulfilled);
        }
        one_of(field, value, &Self::ALL, |m| m.id())
    }
}

/// When a milestone is expected: `expected_minutes` after another one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MilestoneRule {
    pub milestone_id: Milestone,
    pub expected_after_milestone: Milestone,
    pub expected_minutes: u32,
    /// Released only: the order is not released before the expected time (DoNotReleaseBefore).
    #[serde(default)]
    pub restrict_by_date: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum When {
    Before,
    After,
}

impl When {
    pub const ALL: [When; 2] = [When::Before, When::After];

    pub fn id(self) -> &'static str {
        match self {
            When::Before => "Before",
            When::After => "After",
        }
    }
}

/// Raises `event_name` `offset_seconds` before or after a milestone's expected time, if the
/// milestone is not met by then.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MonitoringRule {
    pub rule_id: String,
    pub milestone_id: Milestone,
    pub event_name: String,
    pub when: When,
    pub offset_seconds: u64,
}

// ---------------------------------------------------------------------------------------------
// Request side.
// ---------------------------------------------------------------------------------------------

/// What `PUT /order/api/order/orderType/{OrderTypeId}` accepts. Everything is optional so that
/// `parse` can name what is missing; unknown fields (OrderTypeId, Updated*) are ignored, so the
/// stored form can be sent back as it is.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OrderTypeConfigRequest {
    pub description: Option<String>,
    pub mod_types: Option<Vec<ModTypeRequest>>,
    pub milestones: Option<Vec<MilestoneRequest>>,
    pub monitoring_rules: Option<Vec<MonitoringRuleRequest>>,
    /// When given on an update, must equal the stored version (optimistic concurrency).
    pub version: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ModTypeRequest {
    #[schema(value_type = ModType, required = true)]
    pub mod_type_id: Option<String>,
    #[schema(value_type = Option<Vec<Service>>)]
    pub services: Option<Vec<String>>,
    pub email_messages: Option<Vec<String>>,
    pub text_messages: Option<Vec<String>>,
    pub restrict_post_confirmation: Option<bool>,
    /// A fulfillment status id, e.g. `"3000"`.
    #[schema(value_type = Option<String>)]
    pub restrict_from_status: Option<serde_json::Value>,
    #[schema(value_type = Option<String>)]
    pub restrict_from_return_status: Option<serde_json::Value>,
    /// Below 2000 (Open or BackOrdered); needs ChangeStatus in Services.
    #[schema(value_type = Option<String>)]
    pub change_status_id: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MilestoneRequest {
    #[schema(value_type = Milestone, required = true)]
    pub milestone_id: Option<String>,
    #[schema(value_type = Milestone, required = true)]
    pub expected_after_milestone: Option<String>,
    #[schema(value_type = u32, required = true, minimum = 0, maximum = 525600)]
    pub expected_minutes: Option<serde_json::Number>,
    pub restrict_by_date: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MonitoringRuleRequest {
    #[schema(required = true)]
    pub rule_id: Option<String>,
    #[schema(value_type = Milestone, required = true)]
    pub milestone_id: Option<String>,
    #[schema(required = true)]
    pub event_name: Option<String>,
    #[schema(value_type = When, required = true)]
    pub when: Option<String>,
    /// Exactly one of OffsetMinutes and OffsetSeconds.
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 525600)]
    pub offset_minutes: Option<serde_json::Number>,
    #[schema(value_type = Option<u64>, minimum = 0, maximum = 31536000)]
    pub offset_seconds: Option<serde_json::Number>,
}

impl OrderTypeConfigRequest {
    /// Validates the request for the order type `order_type_id`.
    ///
    /// Returns the configuration with `version` 0 and no `updated_*` (the service layer sets
    /// them when it stores it), and the `Version` the client sent, if any.
    pub fn parse(&self, order_type_id: &str) -> Result<(OrderTypeConfig, Option<u64>), OmsError> {
        let order_type_id = required_text("OrderTypeId", Some(order_type_id), MAX_ORDER_TYPE_ID_CHARS)?;
        let description = match self.description.as_deref() {
            None | Some("") => None,
            Some(d) if d.chars().count() > MAX_DESCRIPTION_CHARS => {
                return Err(OmsError::validation(
                    "Description",
                    format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
                ));
            }
            Some(d) => Some(d.to_string()),
        };
        let mod_types = self.mod_types.as_deref().unwrap_or_default();
        check_count("ModTypes", mod_types.len(), MAX_MOD_TYPES)?;
        let mut rules: Vec<ModTypeRule> = Vec::with_capacity(mod_types.len());
        for (i, request) in mod_types.iter().enumerate() {
            let rule = parse_mod_type(&format!("ModTypes[{i}]"), request)?;
            if rules.iter().any(|r| r.mod_type_id == rule.mod_type_id) {
                return Err(OmsError::validation(
                    format!("ModTypes[{i}].ModTypeId"),
                    format!("{} is listed twice", rule.mod_type_id.id()),
                ));
            }
            rules.push(rule);
        }
        let milestones = parse_milestones(self.milestones.as_deref().unwrap_or_default())?;
        let requests = self.monitoring_rules.as_deref().unwrap_or_default();
        check_count("MonitoringRules", requests.len(), MAX_MONITORING_RULES)?;
        let mut monitoring_rules: Vec<MonitoringRule> = Vec::with_capacity(requests.len());
        for (i, request) in requests.iter().enumerate() {
            let rule = parse_monitoring_rule(&format!("MonitoringRules[{i}]"), request, &milestones)?;
            if monitoring_rules.iter().any(|r| r.rule_id == rule.rule_id) {
                return Err(OmsError::validation(
                    format!("MonitoringRules[{i}].RuleId"),
                    format!("{} is listed twice", rule.rule_id),
                ));
            }
            monitoring_rules.push(rule);
        }
        let config = OrderTypeConfig {
            order_type_id,
            description,
            mod_types: rules,
            milestones,
            monitoring_rules,
            version: 0,
            updated_timestamp: None,
            updated_by: None,
        };
        Ok((config, self.version))
    }
}

/// Services that move units; a system move (allocation, release, shipment) cannot trigger them.
const MOVING_SERVICES: [Service; 3] = [Service::ChangeStatus, Service::ReevaluatePipeline, Service::CancelReservation];

fn parse_mod_type(path: &str, request: &ModTypeRequest) -> Result<ModTypeRule, OmsError> {
    let Some(id) = request.mod_type_id.as_deref() else {
        return Err(OmsError::validation(format!("{path}.ModTypeId"), "is required"));
    };
    let mod_type = ModType::parse_at(&format!("{path}.ModTypeId"), id.trim())?;
    let mut services: Vec<Service> = Vec::new();
    for (j, id) in request.services.as_deref().unwrap_or_default().iter().enumerate() {
        let field = format!("{path}.Services[{j}]");
        let service = Service::parse_at(&field, id.trim())?;
        if mod_type.is_system() && MOVING_SERVICES.contains(&service) {
            return Err(OmsError::validation(
                field,
                format!("{} moves units; {} is a system move and cannot restart itself", service.id(), mod_type.id()),
            ));
        }
        if !services.contains(&service) {
            services.push(service);
        }
    }
    if services.contains(&Service::ChangeStatus) && services.contains(&Service::ReevaluatePipeline) {
        return Err(OmsError::validation(
            format!("{path}.Services"),
            "ChangeStatus and ReevaluatePipeline cannot both be enabled; the seed forbids both",
        ));
    }
    if mod_type.is_system() {
        let rule_fields = [
            ("RestrictPostConfirmation", request.restrict_post_confirmation == Some(true)),
            ("RestrictFromStatus", request.restrict_from_status.is_some()),
            ("RestrictFromReturnStatus", request.restrict_from_return_status.is_some()),
        ];
        if let Some((name, _)) = rule_fields.iter().find(|(_, set)| *set) {
            return Err(OmsError::validation(
                format!("{path}.{name}"),
                format!("{} is a system move; modification rules apply to what users change", mod_type.id()),
            ));
        }
    }
    let status = |name: &str, value: Option<&serde_json::Value>| {
        value.map(|v| FulfillmentStatus::parse_json(&format!("{path}.{name}"), v)).transpose()
    };
    let restrict_from_status = status("RestrictFromStatus", request.restrict_from_status.as_ref())?;
    let restrict_from_return_status = status("RestrictFromReturnStatus", request.restrict_from_return_status.as_ref())?;
    let change_status_id = status("ChangeStatusId", request.change_status_id.as_ref())?;
    if let Some(change) = change_status_id {
        let field = format!("{path}.ChangeStatusId");
        if change >= FulfillmentStatus::Allocated {
            return Err(OmsError::validation(
                field,
                format!(
                    "must be a status before allocation (below 2000): {} or {}, got {}",
                    FulfillmentStatus::Open.id(),
                    FulfillmentStatus::BackOrdered.id(),
                    change.id()
                ),
            ));
        }
        if !services.contains(&Service::ChangeStatus) {
            return Err(OmsError::validation(field, "applies only when Services includes ChangeStatus"));
        }
    }
    Ok(ModTypeRule {
        mod_type_id: mod_type,
        services,
        email_messages: message_ids(&format!("{path}.EmailMessages"), request.email_messages.as_deref())?,
        text_messages: message_ids(&format!("{path}.TextMessages"), request.text_messages.as_deref())?,
        restrict_post_confirmation: request.restrict_post_confirmation.unwrap_or(false),
        restrict_from_status,
        restrict_from_return_status,
        change_status_id,
    })
}

/// Template ids, duplicates collapsed, at most [`MAX_MESSAGES`].
fn message_ids(path: &str, ids: Option<&[String]>) -> Result<Vec<String>, OmsError> {
    let mut out: Vec<String> = Vec::new();
    for (j, id) in ids.unwrap_or_default().iter().enumerate() {
        let id = check_template_id(&format!("{path}[{j}]"), id)?;
        if !out.contains(&id) {
            out.push(id);
            if out.len() > MAX_MESSAGES {
                return Err(OmsError::validation(path, format!("at most {MAX_MESSAGES} distinct template ids")));
            }
        }
    }
    Ok(out)
}

fn parse_milestones(requests: &[MilestoneRequest]) -> Result<Vec<MilestoneRule>, OmsError> {
    check_count("Milestones", requests.len(), MAX_MILESTONES)?;
    let mut rules: Vec<MilestoneRule> = Vec::with_capacity(requests.len());
    for (i, request) in requests.iter().enumerate() {
        let path = format!("Milestones[{i}]");
        let field = format!("{path}.MilestoneId");
        let Some(id) = request.milestone_id.as_deref() else {
            return Err(OmsError::validation(field, "is required"));
        };
        let milestone = Milestone::parse_at(&field, id.trim())?;
        if milestone == Milestone::Created {
            return Err(OmsError::validation(
                field,
                "Created is where the clock starts and has no expected time; configure Confirmed, Allocated, Released or Fulfilled",
            ));
        }
        if rules.iter().any(|r| r.milestone_id == milestone) {
            return Err(OmsError::validation(field, format!("{} is listed twice", milestone.id())));
        }
        let field = format!("{path}.ExpectedAfterMilestone");
        let Some(after) = request.expected_after_milestone.as_deref() else {
            return Err(OmsError::validation(field, "is required"));
        };
        let after = Milestone::parse_at(&field, after.trim())?;
        if after == milestone {
            return Err(OmsError::validation(field, format!("{} cannot be expected after itself", milestone.id())));
        }
        let field = format!("{path}.ExpectedMinutes");
        let Some(minutes) = request.expected_minutes.as_ref() else {
            return Err(OmsError::validation(field, "is required"));
        };
        let expected_minutes = whole_number(&field, minutes, MAX_MINUTES)? as u32;
        let restrict_by_date = request.restrict_by_date.unwrap_or(false);
        if restrict_by_date && milestone != Milestone::Released {
            return Err(OmsError::validation(
                format!("{path}.RestrictByDate"),
                "only the Released milestone can restrict by date",
            ));
        }
        rules.push(MilestoneRule {
            milestone_id: milestone,
            expected_after_milestone: after,
            expected_minutes,
            restrict_by_date,
        });
    }
    // Each milestone names one predecessor, so following them from any milestone either ends
    // (at Created or an unconfigured one) or loops; a loop through it comes back within five steps.
    for (i, rule) in rules.iter().enumerate() {
        let mut chain = vec![rule.milestone_id];
        let mut current = rule.expected_after_milestone;
        while let Some(next) = rules.iter().find(|r| r.milestone_id == current) {
            chain.push(current);
            if chain.len() > Milestone::ALL.len() {
                // A cycle that does not pass through this milestone: its members report it.
                break;
            }
            if current == rule.milestone_id {
                let names: Vec<&str> = chain.iter().map(|m| m.id()).collect();
                return Err(OmsError::validation(
                    format!("Milestones[{i}].ExpectedAfterMilestone"),
                    format!("{} is expected after itself: {}", rule.milestone_id.id(), names.join(" after ")),
                ));
            }
            current = next.expected_after_milestone;
        }
    }
    Ok(rules)
}

fn parse_monitoring_rule(
    path: &str,
    request: &MonitoringRuleRequest,
    milestones: &[MilestoneRule],
) -> Result<MonitoringRule, OmsError> {
    let rule_id = required_text(&format!("{path}.RuleId"), request.rule_id.as_deref(), MAX_RULE_ID_CHARS)?;
    let field = format!("{path}.MilestoneId");
    let Some(id) = request.milestone_id.as_deref() else {
        return Err(OmsError::validation(field, "is required"));
    };
    let milestone_id = Milestone::parse_at(&field, id.trim())?;
    if !milestones.iter().any(|m| m.milestone_id == milestone_id) {
        return Err(OmsError::validation(
            field,
            format!("milestone {} has no expected time configured; add it to Milestones first", milestone_id.id()),
        ));
    }
    let event_name = required_text(&format!("{path}.EventName"), request.event_name.as_deref(), MAX_EVENT_NAME_CHARS)?;
    let field = format!("{path}.When");
    let Some(when) = request.when.as_deref() else {
        return Err(OmsError::validation(field, "is required: Before or After"));
    };
    let when = one_of(&field, when.trim(), &When::ALL, |w| w.id())?;
    let offset_seconds = match (&request.offset_minutes, &request.offset_seconds) {
        (Some(_), Some(_)) => {
            return Err(OmsError::validation(
                format!("{path}.OffsetSeconds"),
                "send either OffsetMinutes or OffsetSeconds, not both",
            ));
        }
        (None, None) => {
            return Err(OmsError::validation(
                format!("{path}.OffsetMinutes"),
                "OffsetMinutes or OffsetSeconds is required",
            ));
        }
        (Some(minutes), None) => whole_number(&format!("{path}.OffsetMinutes"), minutes, MAX_MINUTES)? * 60,
        (None, Some(seconds)) => whole_number(&format!("{path}.OffsetSeconds"), seconds, MAX_OFFSET_SECONDS)?,
    };
    Ok(MonitoringRule { rule_id, milestone_id, event_name, when, offset_seconds })
}

use crate::domain::limits::check_count;

/// Required text: not blank, at most `max` characters, no control characters.
fn required_text(field: &str, value: Option<&str>, max: usize) -> Result<String, OmsError> {
    crate::domain::order::bounded_text(field, value.map(str::to_owned).as_ref(), max)
}

/// A JSON number that must be whole (2.0 counts as 2) and in `0..=max`.
fn whole_number(field: &str, value: &serde_json::Number, max: u64) -> Result<u64, OmsError> {
    crate::domain::order::whole_number(field, value, 0, max).map(u64::from)
}

/// The built-in configuration of an order type that has none of its own.
///
/// | Mod type             | Services                                 | Messages                                      | Restricted from status |
/// |----------------------|------------------------------------------|-----------------------------------------------|------------------------|
/// | CreateOrder          | PublishOrder                             |                                               |                        |
/// | ConfirmOrder         | PublishOrder                             | Text OrderConfirmation                        |                        |
/// | UpdateShipToAddress  | ChangeStatus (to 1000), PublishOrderLine |                                               | 3000                   |
/// | UpdateDeliveryMethod | ReevaluatePipeline, PublishOrderLine     |                                               | 3000                   |
/// | UpdateLineQuantity   | PublishOrderLine                         |                                               | 3000                   |
/// | CancelOrderLine      | CancelReservation, PublishOrderLine      |                                               | 3000                   |
/// | CancelOrder          | CancelReservation, PublishOrder          |                                               | 3000                   |
/// | ApplyHold            |                                          |                                               |                        |
/// | ResolveHold          | ResubmitPipeline                         |                                               |                        |
/// | AllocateLine         | ResubmitPipeline                         |                                               |                        |
/// | ReleaseLine          | PublishOrderLine                         |                                               |                        |
/// | ShipLine             | PublishOrderLine                         | Email ShipConfirmation, Text ShipConfirmation |                        |
///
/// Other modification types trigger nothing and are not restricted.
///
/// | Milestone | Expected after | Minutes |
/// |-----------|----------------|---------|
/// | Confirmed | Created        | 60      |
/// | Allocated | Created        | 180     |
/// | Released  | Confirmed      | 240     |
/// | Fulfilled | Released       | 1440    |
///
/// No milestone restricts by date, and there are no monitoring rules. Version 0.
pub fn default_config(order_type_id: &str) -> OrderTypeConfig {
    use ModType as M;
    use Service as S;
    let released = Some(FulfillmentStatus::Released);
    let mod_types = vec![
        ModTypeRule::new(M::CreateOrder, &[S::PublishOrder]),
        ModTypeRule {
            text_messages: vec!["OrderConfirmation".into()],
            ..ModTypeRule::new(M::ConfirmOrder, &[S::PublishOrder])
        },
        ModTypeRule {
            restrict_from_status: released,
            change_status_id: Some(FulfillmentStatus::Open),
            ..ModTypeRule::new(M::UpdateShipToAddress, &[S::ChangeStatus, S::PublishOrderLine])
        },
        ModTypeRule {
            restrict_from_status: released,
            ..ModTypeRule::new(M::UpdateDeliveryMethod, &[S::ReevaluatePipeline, S::PublishOrderLine])
        },
        ModTypeRule {
            restrict_from_status: released,
            ..ModTypeRule::new(M::UpdateLineQuantity, &[S::PublishOrderLine])
        },
        ModTypeRule {
            restrict_from_status: released,
            ..ModTypeRule::new(M::CancelOrderLine, &[S::CancelReservation, S::PublishOrderLine])
        },
        ModTypeRule {
            restrict_from_status: released,
            ..ModTypeRule::new(M::CancelOrder, &[S::CancelReservation, S::PublishOrder])
        },
        ModTypeRule::new(M::ApplyHold, &[]),
        ModTypeRule::new(M::ResolveHold, &[S::ResubmitPipeline]),
        ModTypeRule::new(M::AllocateLine, &[S::ResubmitPipeline]),
        ModTypeRule::new(M::ReleaseLine, &[S::PublishOrderLine]),
        ModTypeRule {
            email_messages: vec!["ShipConfirmation".into()],
            text_messages: vec!["ShipConfirmation".into()],
            ..ModTypeRule::new(M::ShipLine, &[S::PublishOrderLine])
        },
    ];
    let milestone = |milestone_id, expected_after_milestone, expected_minutes| MilestoneRule {
        milestone_id,
        expected_after_milestone,
        expected_minutes,
        restrict_by_date: false,
    };
    OrderTypeConfig {
        order_type_id: order_type_id.to_string(),
        description: Some("Built-in configuration for order types without their own".into()),
        mod_types,
        milestones: vec![
            milestone(Milestone::Confirmed, Milestone::Created, 60),
            milestone(Milestone::Allocated, Milestone::Created, 180),
            milestone(Milestone::Released, Milestone::Confirmed, 240),
            milestone(Milestone::Fulfilled, Milestone::Released, 1440),
        ],
        monitoring_rules: Vec::new(),
        version: 0,
        updated_timestamp: None,
        updated_by: None,
    }
}

#[cfg(test)]
mod tests;
