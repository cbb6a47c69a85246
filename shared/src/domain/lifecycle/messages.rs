//! Message templates that the PublishEmail / PublishText services render.
//!
//! A template is minijinja source rendered as plain text (no auto-escaping) with strict
//! undefined behaviour: naming a value that does not exist is an error, not an empty string. The
//! context a template sees is a JSON object:
//!
//! | Key        | Value                                                                        |
//! |------------|------------------------------------------------------------------------------|
//! | `Order`    | the order as Get Order returns it (PascalCase: `OrderId`, `OrderLine`, ...)  |
//! | `ModTypes` | the ids of the modification types of the change, e.g. `["ShipLine"]`         |
//! | `Lines`    | the order lines the change touched, shaped as the `Order.OrderLine` entries  |
//! | `Tenant`   | the tenant (organization) id, a string                                        |
//!
//! Besides minijinja's built-in filters, `money` formats a number with two decimals.
//!
//! Base templates (the seed's out-of-the-box message types) cannot be changed or deleted;
//! custom templates are saved under other ids, and are checked when saved: they must compile
//! and render against [`sample_context`].

use std::collections::BTreeMap;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::domain::order::one_of;
use crate::error::OmsError;

/// Longest template id, in characters.
pub const MAX_TEMPLATE_ID_CHARS: usize = 64;
/// Longest template body, in characters.
pub const MAX_BODY_CHARS: usize = 8000;
/// Longest email subject (the template source), in characters.
pub const MAX_SUBJECT_CHARS: usize = 256;
/// Longest rendered subject or body, in bytes; rendering stops there and fails.
pub const MAX_RENDERED_BYTES: usize = 64 * 1024;
/// Instructions one render may execute (minijinja fuel): bounds loops over large orders.
pub const RENDER_FUEL: u64 = 50_000;

/// How a message reaches the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Channel {
    Email,
    Text,
}

impl Channel {
    pub const ALL: [Channel; 2] = [Channel::Email, Channel::Text];

    pub fn id(self) -> &'static str {
        match self {
            Channel::Email => "Email",
            Channel::Text => "Text",
        }
    }

    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        one_of(field, value, &Self::ALL, |c| c.id())
    }
}

/// A message template: minijinja source for the subject (emails only) and the body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MessageTemplate {
    pub template_id: String,
    pub channel: Channel,
    /// Emails only.
    pub subject: Option<String>,
    pub body: String,
    pub version: u64,
    /// A built-in template, which cannot be changed or deleted.
    #[serde(default)]
    pub is_base: bool,
}

/// A message as rendered for one order change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct RenderedMessage {
    pub subject: Option<String>,
    pub body: String,
}

/// What saving a custom template accepts; the id comes from the path.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct MessageTemplateRequest {
    /// Email or Text, any case.
    #[schema(value_type = Channel, required = true)]
    pub channel: Option<String>,
    /// Required for emails, refused for texts. Minijinja source.
    pub subject: Option<String>,
    /// Minijinja source, at most 8000 characters.
    #[schema(required = true)]
    pub body: Option<String>,
    /// When given on an update, must equal the stored version (optimistic concurrency).
    pub version: Option<u64>,
}

impl MessageTemplateRequest {
    /// Validates the request into a custom template named `template_id`.
    ///
    /// The result's `version` is the `Version` the client sent (0 when absent): the service
    /// layer compares it with the stored version (reading `self.version` to tell "absent" from
    /// 0) and stores the next one. `is_base` is always false.
    pub fn parse(&self, template_id: &str) -> Result<MessageTemplate, OmsError> {
        let template_id = check_template_id("TemplateId", template_id)?;
        if is_base_id(&template_id) {
            return Err(OmsError::validation(
                "TemplateId",
                format!(
                    "{template_id} is a base template; base templates cannot be changed; save yours under another id"
                ),
            ));
        }
        let Some(channel) = self.channel.as_deref() else {
            return Err(OmsError::validation("Channel", "is required: Email or Text"));
        };
        let channel = Channel::parse_at("Channel", channel.trim())?;
        let subject = match (channel, self.subject.as_deref()) {
            (Channel::Email, None) => return Err(OmsError::validation("Subject", "is required for an email template")),
            (Channel::Email, Some(s)) => Some(check_source("Subject", s, MAX_SUBJECT_CHARS)?),
            (Channel::Text, None) => None,
            (Channel::Text, Some(_)) => {
                return Err(OmsError::validation("Subject", "a text message has no subject; leave it out"));
            }
        };
        let Some(body) = self.body.as_deref() else {
            return Err(OmsError::validation("Body", "is required"));
        };
        let body = check_source("Body", body, MAX_BODY_CHARS)?;
        let template =
            MessageTemplate { template_id, channel, subject, body, version: self.version.unwrap_or(0), is_base: false };
        check_renders(&template)?;
        Ok(template)
    }
}

/// A template id: 1 to 64 characters of `[A-Za-z0-9_-]`. Returns it unchanged.
pub fn check_template_id(field: &str, value: &str) -> Result<String, OmsError> {
    if value.is_empty() {
        return Err(OmsError::validation(field, "must not be empty"));
    }
    if value.chars().count() > MAX_TEMPLATE_ID_CHARS {
        return Err(OmsError::validation(field, format!("must be at most {MAX_TEMPLATE_ID_CHARS} characters")));
    }
    if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(OmsError::validation(
            field,
            format!("\"{value}\" is not a template id; use letters, digits, '_' and '-'"),
        ));
    }
    Ok(value.to_string())
}

fn check_source(field: &str, value: &str, max: usize) -> Result<String, OmsError> {
    if value.trim().is_empty() {
        return Err(OmsError::validation(field, "must not be blank"));
    }
    if value.chars().count() > max {
        return Err(OmsError::validation(field, format!("must be at most {max} characters")));
    }
    if field == "Subject" && value.chars().any(char::is_control) {
        return Err(OmsError::validation(field, "must be one line without control characters"));
    }
    Ok(value.to_string())
}

/// Compiles subject and body and renders them against the sample order.
fn check_renders(template: &MessageTemplate) -> Result<(), OmsError> {
    let env = environment();
    let context = to_minijinja(&sample_context());
    let parts = [("Subject", template.subject.as_deref()), ("Body", Some(template.body.as_str()))];
    for (field, source) in parts {
        let Some(source) = source else { continue };
        render_source(&env, field, source, &context).map_err(|failure| {
            let message = match failure {
                Failure::Render(m) => format!("does not render against the sample order: {m}"),
                Failure::TooLong => format!("{} for the sample order", Failure::TooLong),
                compile => compile.to_string(),
            };
            OmsError::validation(field, message)
        })?;
    }
    Ok(())
}

/// Why a subject or body did not render.
enum Failure {
    Compile(String),
    Render(String),
    TooLong,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Compile(m) => write!(f, "does not compile: {m}"),
            Failure::Render(m) => f.write_str(m),
            Failure::TooLong => write!(f, "renders more than {MAX_RENDERED_BYTES} bytes"),
        }
    }
}

/// An output that refuses to grow past [`MAX_RENDERED_BYTES`], so a runaway template stops
/// instead of filling memory.
#[derive(Default)]
struct BoundedOutput {
    buf: Vec<u8>,
    overflowed: bool,
}

impl std::io::Write for BoundedOutput {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + data.len() > MAX_RENDERED_BYTES {
            self.overflowed = true;
            return Err(std::io::Error::other("rendered message too long"));
        }
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn render_source(env: &Environment, name: &str, source: &str, context: &minijinja::Value) -> Result<String, Failure> {
    let template = env.template_from_named_str(name, source).map_err(|e| Failure::Compile(describe(&e, source)))?;
    let mut out = BoundedOutput::default();
    match template.render_captured_to(context, &mut out) {
        Ok(_) => Ok(String::from_utf8_lossy(&out.buf).into_owned()),
        Err(_) if out.overflowed => Err(Failure::TooLong),
        Err(e) => Err(Failure::Render(describe(&e, source))),
    }
}

/// The minijinja error with its line and the source it points at.
fn describe(err: &minijinja::Error, source: &str) -> String {
    let mut message = err.kind().to_string();
    if let Some(detail) = err.detail() {
        message.push_str(": ");
        message.push_str(detail);
    }
    if let Some(line) = err.line() {
        message.push_str(&format!(" at line {line}"));
    }
    if let Some(snippet) = err.range().and_then(|r| source.get(r)) {
        let snippet: String = snippet.chars().take(80).collect();
        message.push_str(&format!(" (`{snippet}`)"));
    }
    message
}

/// The environment of one render: plain text, strict undefined, bounded fuel.
fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_fuel(Some(RENDER_FUEL));
    env.add_filter("money", |value: f64| format!("{value:.2}"));
    env
}

/// Converts JSON to a minijinja value directly: serde_json's `arbitrary_precision` numbers
/// would otherwise reach templates as maps. Whole numbers become integers, others floats.
fn to_minijinja(value: &Value) -> minijinja::Value {
    match value {
        Value::Null => minijinja::Value::from(()),
        Value::Bool(b) => minijinja::Value::from(*b),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                minijinja::Value::from(i)
            } else if let Some(u) = n.as_u64() {
                minijinja::Value::from(u)
            } else {
                minijinja::Value::from(n.as_f64().unwrap_or(f64::NAN))
            }
        }
        Value::String(s) => minijinja::Value::from(s.as_str()),
        Value::Array(items) => minijinja::Value::from(items.iter().map(to_minijinja).collect::<Vec<_>>()),
        Value::Object(map) => minijinja::Value::from(
            map.iter().map(|(k, v)| (k.clone(), to_minijinja(v))).collect::<BTreeMap<String, minijinja::Value>>(),
        ),
    }
}

/// Renders a template against a context (see the module documentation for its keys).
///
/// The error is minijinja's, with its line, e.g. a field this order lacks.
pub fn render(template: &MessageTemplate, context: &Value) -> Result<RenderedMessage, String> {
    let env = environment();
    let context = to_minijinja(context);
    let render_one = |name: &str, source: &str| {
        render_source(&env, name, source, &context)
            .map_err(|failure| format!("{} {name}: {failure}", template.template_id))
    };
    let subject = match template.subject.as_deref() {
        // A subject is one line: data with line breaks must not add mail headers.
        Some(source) => Some(
            render_one("Subject", source)?
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect::<String>()
                .trim()
                .to_string(),
        ),
        None => None,
    };
    let body = render_one("Body", &template.body)?;
    Ok(RenderedMessage { subject, body })
}

const BASE_EMAILS: [(&str, &str, &str); 3] = [
    (
        "ShipConfirmation",
        "Your order {{ Order.OrderId }} has shipped",
        "Good news: items from your order {{ Order.OrderId }} are on their way.\n\
         \n\
         {% for l in Lines %}- {{ l.ItemDescription or l.ItemId }} x{{ l.Quantity }}\n\
         {% endfor %}\n\
         Order total: {{ Order.OrderTotal|money }} {{ Order.CurrencyCode }}\n",
    ),
    (
        "ReturnConfirmationNonReceipt",
        "Your return for order {{ Order.OrderId }} is confirmed",
        "We have processed your return for order {{ Order.OrderId }}. \
         There is no need to send these items back:\n\
         \n\
         {% for l in Lines %}- {{ l.ItemDescription or l.ItemId }} x{{ l.Quantity }}\n\
         {% endfor %}\n\
         Your refund follows on your original payment method.\n",
    ),
    (
        "ReceiptExpectedReturnConfirmation",
        "Your return for order {{ Order.OrderId }}: please send the items",
        "We have registered your return for order {{ Order.OrderId }}. \
         Please send these items back; your refund follows once we receive them:\n\
         \n\
         {% for l in Lines %}- {{ l.ItemDescription or l.ItemId }} x{{ l.Quantity }}\n\
         {% endfor %}",
    ),
];

const BASE_TEXTS: [(&str, &str); 3] = [
    (
        "OrderConfirmation",
        "Thank you! Order {{ Order.OrderId }} is confirmed: {{ Order.OrderLine|length }} line(s), \
         total {{ Order.OrderTotal|money }} {{ Order.CurrencyCode }}.",
    ),
    (
        "ShipConfirmation",
        "Good news: items from order {{ Order.OrderId }} have shipped: \
         {% for l in Lines %}{{ l.ItemId }} x{{ l.Quantity }}{% if not loop.last %}, {% endif %}{% endfor %}.",
    ),
    (
        "ReadyForPickupNotification",
        "Items from order {{ Order.OrderId }} are ready for pickup: \
         {% for l in Lines %}{{ l.ItemId }} x{{ l.Quantity }}\
         {% if l.PickupLocationId %} at store {{ l.PickupLocationId }}{% endif %}\
         {% if not loop.last %}, {% endif %}{% endfor %}.",
    ),
];

/// The built-in templates: emails ShipConfirmation, ReturnConfirmationNonReceipt,
/// ReceiptExpectedReturnConfirmation; texts OrderConfirmation, ShipConfirmation,
/// ReadyForPickupNotification. All at version 1.
pub fn base_templates() -> Vec<MessageTemplate> {
    let emails = BASE_EMAILS.iter().map(|(id, subject, body)| MessageTemplate {
        template_id: (*id).to_string(),
        channel: Channel::Email,
        subject: Some((*subject).to_string()),
        body: (*body).to_string(),
        version: 1,
        is_base: true,
    });
    let texts = BASE_TEXTS.iter().map(|(id, body)| MessageTemplate {
        template_id: (*id).to_string(),
        channel: Channel::Text,
        subject: None,
        body: (*body).to_string(),
        version: 1,
        is_base: true,
    });
    emails.chain(texts).collect()
}

/// The base template of that channel and id (exact id), if any.
pub fn base_template(channel: Channel, id: &str) -> Option<MessageTemplate> {
    base_templates().into_iter().find(|t| t.channel == channel && t.template_id == id)
}

/// Whether `id` names a base template of either channel, in any case.
pub fn is_base_id(id: &str) -> bool {
    BASE_EMAILS.iter().map(|t| t.0).chain(BASE_TEXTS.iter().map(|t| t.0)).any(|b| b.eq_ignore_ascii_case(id))
}

/// The context custom templates are checked against when saved: a confirmed order with a
/// shipped ship-to-address line and an allocated pick-up-at-store line, one resolved hold, a
/// payment, an invoice and a charge. `Lines` holds both lines, so a template looping over them
/// meets both shapes (a pickup line has no `ShipToAddress`).
pub fn sample_context() -> Value {
    let ship_line = json!({
        "OrderLineId": "1",
        "ItemId": "SKU-1001",
        "Quantity": 2,
        "UnitPrice": 19.99,
        "ItemDescription": "Trail running shoe",
        "UOM": "EACH",
        "IsReturn": false,
        "DeliveryMethod": { "DeliveryMethodId": "ShipToAddress" },
        "ShipToAddress": { "Address": {
            "FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.com", "Phone": "+15555550100",
            "PhoneType": "Mobile", "Address1": "1 Main Street", "Address2": null, "City": "Atlanta",
            "State": "GA", "PostalCode": "30303", "Country": "US", "Latitude": null, "Longitude": null
        } },
        "PickupLocationId": null,
        "QuantityDetail": [ { "StatusId": "7000", "Quantity": 2 } ],
        "MinFulfillmentStatusId": "7000",
        "MaxFulfillmentStatusId": "7000",
        "IsCancelled": false
    });
    let pickup_line = json!({
        "OrderLineId": "2",
        "ItemId": "SKU-2002",
        "Quantity": 1,
        "UnitPrice": 25.5,
        "ItemDescription": null,
        "UOM": "EACH",
        "IsReturn": false,
        "DeliveryMethod": { "DeliveryMethodId": "PickUpAtStore" },
        "ShipToAddress": null,
        "PickupLocationId": "STORE-12",
        "QuantityDetail": [ { "StatusId": "2000", "Quantity": 1 } ],
        "MinFulfillmentStatusId": "2000",
        "MaxFulfillmentStatusId": "2000",
        "IsCancelled": false
    });
    let order = json!({
        "OrgId": "sample-tenant",
        "OrderId": "SAMPLE-0001",
        "Version": 4,
        "OrderType": { "OrderTypeId": "Web" },
        "IsConfirmed": true,
        "IsImport": false,
        "DoNotReleaseBefore": null,
        "CurrencyCode": "USD",
        "OrderTotal": 70.47,
        "MinFulfillmentStatusId": "2000",
        "MaxFulfillmentStatusId": "7000",
        "FulfillmentStatus": "Partially Fulfilled",
        "OrderLine": [ship_line, pickup_line],
        "Payment": [ {
            "PaymentHeaderId": "PH-1",
            "PaymentStatus": { "PaymentStatusId": "Authorized" },
            "PaymentMethod": [ {
                "PaymentMethodId": "PM-1", "Amount": 70.47, "CurrentAuthAmount": 70.47,
                "CurrentSettledAmount": 0, "CurrentRefundAmount": 0, "CurrentFailedAmount": 0
            } ]
        } ],
        "Invoice": [ {
            "InvoiceId": "INV-1", "InvoiceType": { "InvoiceTypeId": "Shipping" }, "Amount": 44.97,
            "AmountProcessed": 0, "FailedAmount": 0, "PublishStatus": { "PublishStatusId": "ReadyForPublishing" }
        } ],
        "OrderChargeDetail": [ {
            "ChargeDetailId": "CH-1", "ChargeType": { "ChargeTypeId": "Shipping" }, "ChargeTotal": 4.99
        } ],
        "PickupPerson": [ {
            "FirstName": "Charles", "MiddleName": null, "LastName": "Babbage", "Email": null,
            "Phone": "+15555550101", "PhoneType": "Mobile", "PickupType": "Alternate"
        } ],
        "PaymentStatus": { "PaymentStatusId": "Authorized" },
        "Hold": [ {
            "HoldTypeId": "FraudCheck", "StatusId": "Resolved", "ResolveReasonId": "Verified",
            "AppliedTimestamp": "2025-01-31T12:00:00.000Z", "AppliedBy": "fraud-service",
            "ResolvedTimestamp": "2025-01-31T12:20:00.000Z", "ResolvedBy": "agent-7"
        } ],
        "OrderAudit": [ {
            "Version": 4, "UpdatedBy": "wms", "UpdatedTimestamp": "2025-02-01T09:30:00.000Z",
            "Source": "POST /order/api/order/order",
            "ModTypes": [ { "ModTypeId": "ShipLine", "OrderLineIds": ["1"] } ]
        } ],
        "CreatedTimestamp": "2025-01-31T11:58:00.000Z",
        "UpdatedTimestamp": "2025-02-01T09:30:00.000Z",
        "CreatedBy": "web-checkout",
        "UpdatedBy": "wms"
    });
    let lines = order["OrderLine"].clone();
    json!({ "Order": order, "ModTypes": ["ShipLine"], "Lines": lines, "Tenant": "sample-tenant" })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(channel: &str, subject: Option<&str>, body: &str) -> MessageTemplateRequest {
        MessageTemplateRequest {
            channel: Some(channel.into()),
            subject: subject.map(Into::into),
            body: Some(body.into()),
            version: None,
        }
    }

    fn field_of(result: Result<MessageTemplate, OmsError>) -> String {
        result.unwrap_err().field().unwrap().to_string()
    }

    #[test]
    fn every_base_template_renders_against_the_sample_context() {
        let templates = base_templates();
        assert_eq!(templates.len(), 6);
        for t in templates {
            let rendered = render(&t, &sample_context()).unwrap_or_else(|e| panic!("{}: {e}", t.template_id));
            assert!(rendered.body.contains("SAMPLE-0001"), "{}: {}", t.template_id, rendered.body);
            assert_eq!(rendered.subject.is_some(), t.channel == Channel::Email);
            assert!(t.is_base);
        }
    }

    #[test]
    fn ship_confirmation_text_names_the_order_and_the_lines() {
        let t = base_template(Channel::Text, "ShipConfirmation").unwrap();
        let rendered = render(&t, &sample_context()).unwrap();
        assert_eq!(rendered.body, "Good news: items from order SAMPLE-0001 have shipped: SKU-1001 x2, SKU-2002 x1.");
    }

    #[test]
    fn ship_confirmation_email_includes_the_order_id_in_subject_and_body() {
        let t = base_template(Channel::Email, "ShipConfirmation").unwrap();
        let rendered = render(&t, &sample_context()).unwrap();
        assert_eq!(rendered.subject.as_deref(), Some("Your order SAMPLE-0001 has shipped"));
        assert!(rendered.body.contains("- Trail running shoe x2\n"), "{}", rendered.body);
        assert!(rendered.body.contains("- SKU-2002 x1\n"), "{}", rendered.body);
        assert!(rendered.body.contains("Order total: 70.47 USD"), "{}", rendered.body);
    }

    #[test]
    fn base_template_is_found_per_channel() {
        assert!(base_template(Channel::Email, "ReturnConfirmationNonReceipt").is_some());
        assert!(base_template(Channel::Text, "ReturnConfirmationNonReceipt").is_none());
        assert!(base_template(Channel::Text, "ReadyForPickupNotification").is_some());
    }

    #[test]
    fn a_valid_custom_text_template_is_accepted() {
        let t = request("text", None, "Order {{ Order.OrderId }}: {{ ModTypes|join(', ') }} for {{ Tenant }}")
            .parse("MyText")
            .unwrap();
        assert_eq!((t.template_id.as_str(), t.channel, t.is_base, t.version), ("MyText", Channel::Text, false, 0));
        let rendered = render(&t, &sample_context()).unwrap();
        assert_eq!(rendered.body, "Order SAMPLE-0001: ShipLine for sample-tenant");
    }

    #[test]
    fn a_custom_template_keeps_the_sent_version() {
        let mut r = request("Email", Some("Hi"), "Order {{ Order.OrderId }}");
        r.version = Some(3);
        assert_eq!(r.parse("Mine").unwrap().version, 3);
    }

    #[test]
    fn when_a_custom_template_names_an_unknown_field_should_refuse_at_body_with_the_line() {
        let err = request("Text", None, "Hello\n{{ Order.NoSuchField }}").parse("Mine").unwrap_err();
        assert_eq!(err.field(), Some("Body"));
        let message = err.to_string();
        assert!(message.contains("undefined"), "{message}");
        assert!(message.contains("line 2"), "{message}");
    }

    #[test]
    fn when_a_subject_names_an_unknown_field_should_refuse_at_subject() {
        let err = request("Email", Some("{{ Order.Nope }}"), "ok").parse("Mine").unwrap_err();
        assert_eq!(err.field(), Some("Subject"));
    }

    #[test]
    fn when_a_template_does_not_compile_should_refuse_at_body() {
        let err = request("Text", None, "{% for l in Lines %}{{ l.ItemId }}").parse("Mine").unwrap_err();
        assert_eq!(err.field(), Some("Body"));
        assert!(err.to_string().contains("does not compile"), "{err}");
    }

    #[test]
    fn when_a_template_guards_an_absent_value_should_accept() {
        let body = "{% for l in Lines %}{% if l.ShipToAddress %}{{ l.ShipToAddress.Address.City }}{% endif %}\
                    {{ l.Nope|default('-') }}{% endfor %}";
        assert!(request("Text", None, body).parse("Mine").is_ok());
        // Unguarded, the pickup line (no ShipToAddress) makes it fail.
        let unguarded = "{% for l in Lines %}{{ l.ShipToAddress.Address.City }}{% endfor %}";
        assert_eq!(field_of(request("Text", None, unguarded).parse("Mine")), "Body");
    }

    #[test]
    fn when_the_template_id_is_a_base_one_should_refuse_at_template_id() {
        for id in ["ShipConfirmation", "shipconfirmation", "OrderConfirmation", "ReceiptExpectedReturnConfirmation"] {
            let err = request("Email", Some("x"), "y").parse(id).unwrap_err();
            assert_eq!(err.field(), Some("TemplateId"), "{id}");
            assert!(err.to_string().contains("base templates cannot be changed"), "{err}");
        }
        // Base for the other channel only: still refused.
        assert_eq!(field_of(request("Email", Some("x"), "y").parse("ReadyForPickupNotification")), "TemplateId");
    }

    #[test]
    fn when_the_template_id_is_malformed_should_refuse_at_template_id() {
        for id in ["", "has space", "semi;colon", &"x".repeat(65)] {
            assert_eq!(field_of(request("Text", None, "y").parse(id)), "TemplateId", "{id:?}");
        }
        assert!(request("Text", None, "y").parse(&"A-b_9".repeat(12)).is_ok());
    }

    #[test]
    fn when_the_channel_is_missing_or_unknown_should_refuse_at_channel() {
        let mut r = request("Fax", None, "y");
        assert_eq!(field_of(r.parse("Mine")), "Channel");
        r.channel = None;
        assert_eq!(field_of(r.parse("Mine")), "Channel");
    }

    #[test]
    fn when_an_email_has_no_subject_should_refuse_at_subject() {
        assert_eq!(field_of(request("Email", None, "y").parse("Mine")), "Subject");
        assert_eq!(field_of(request("Email", Some("  "), "y").parse("Mine")), "Subject");
        assert_eq!(field_of(request("Email", Some("a\nBcc: x"), "y").parse("Mine")), "Subject");
    }

    #[test]
    fn when_a_text_has_a_subject_should_refuse_at_subject() {
        assert_eq!(field_of(request("Text", Some("Hi"), "y").parse("Mine")), "Subject");
    }

    #[test]
    fn when_the_body_is_missing_blank_or_too_long_should_refuse_at_body() {
        let mut r = request("Text", None, " ");
        assert_eq!(field_of(r.parse("Mine")), "Body");
        r.body = None;
        assert_eq!(field_of(r.parse("Mine")), "Body");
        r.body = Some("x".repeat(MAX_BODY_CHARS + 1));
        assert_eq!(field_of(r.parse("Mine")), "Body");
        r.body = Some("x".repeat(MAX_BODY_CHARS));
        assert!(r.parse("Mine").is_ok());
    }

    #[test]
    fn when_a_template_loops_without_end_should_run_out_of_fuel() {
        let body = "{% for a in range(1000) %}{% for b in range(1000) %}x{% endfor %}{% endfor %}";
        let err = request("Text", None, body).parse("Mine").unwrap_err();
        assert_eq!(err.field(), Some("Body"));
    }

    #[test]
    fn when_a_template_renders_too_much_should_refuse_at_body() {
        let (path, message) = {
            let err = request("Text", None, "{% set s = 'x' * 100000000 %}{{ s }}").parse("Mine").unwrap_err();
            (err.field().unwrap().to_string(), err.to_string())
        };
        assert_eq!(path, "Body");
        assert!(message.contains("renders more than 65536 bytes"), "{message}");
    }

    #[test]
    fn render_reports_a_field_the_order_lacks() {
        let t = request("Text", None, "{{ Order.OrderId }}").parse("Mine").unwrap();
        let err = render(&t, &json!({ "Order": {} })).unwrap_err();
        assert!(err.contains("Mine") && err.contains("undefined"), "{err}");
    }

    #[test]
    fn render_flattens_line_breaks_in_a_subject() {
        let t = MessageTemplate {
            template_id: "Mine".into(),
            channel: Channel::Email,
            subject: Some("Order {{ Order.OrderId }}".into()),
            body: "b".into(),
            version: 1,
            is_base: false,
        };
        let rendered = render(&t, &json!({ "Order": { "OrderId": "A\r\nBcc: x" } })).unwrap();
        assert_eq!(rendered.subject.as_deref(), Some("Order A  Bcc: x"));
    }

    #[test]
    fn numbers_reach_templates_as_numbers_not_maps() {
        let t = request(
            "Text",
            None,
            "{{ Order.Version + 1 }} {{ Order.OrderTotal|money }} {% if Order.OrderTotal > 70 %}over 70{% endif %}",
        )
        .parse("Mine")
        .unwrap();
        assert_eq!(render(&t, &sample_context()).unwrap().body, "5 70.47 over 70");
    }
}
