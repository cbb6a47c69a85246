//! The request side: what Save Order accepts, and its parsing into a draft whose every value is
//! valid. Everything is optional in the request so that `parse` can name what is missing.

use super::*;

// ---------------------------------------------------------------------------------------------
// Request side: what Save Order accepts. Everything is optional so that `parse` can name what is
// missing; unknown fields (Created*, Updated*, ...) are ignored by serde.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct SaveOrderRequest {
    #[schema(value_type = OrderId, required = true)]
    pub order_id: Option<String>,
    /// When given on an update, must equal the stored version (optimistic concurrency).
    pub version: Option<u64>,
    #[schema(value_type = OrderTypeRequest, required = true)]
    pub order_type: Option<OrderTypeRequest>,
    pub is_confirmed: Option<bool>,
    pub is_import: Option<bool>,
    /// RFC 3339 date-time.
    #[schema(format = DateTime)]
    pub do_not_release_before: Option<String>,
    #[schema(pattern = "^[A-Za-z]{3}$")]
    pub currency_code: Option<String>,
    pub order_line: Option<Vec<OrderLineRequest>>,
    pub payment: Option<Vec<PaymentRequest>>,
    pub invoice: Option<Vec<InvoiceRequest>>,
    pub order_charge_detail: Option<Vec<ChargeDetailRequest>>,
    /// Who may collect the pickup lines; replaces the stored list when sent.
    pub pickup_person: Option<Vec<PickupPersonRequest>>,
    pub payment_status: Option<PaymentStatusRequest>,
    /// Holds to apply or resolve, by HoldTypeId; stored holds the request leaves out are kept.
    pub hold: Option<Vec<HoldRequest>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct HoldRequest {
    #[schema(value_type = Code, required = true)]
    pub hold_type_id: Option<String>,
    /// Applied or Resolved, any case; Applied when left out.
    #[schema(value_type = Option<HoldStatus>)]
    pub status_id: Option<String>,
    pub resolve_reason_id: Option<String>,
}

/// A valid hold entry of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct HoldDraft {
    pub path: String,
    pub hold_type_id: String,
    pub status: HoldStatus,
    pub resolve_reason_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PickupPersonRequest {
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Mobile, Home or Business, any case.
    #[schema(value_type = Option<PhoneType>)]
    pub phone_type: Option<String>,
    /// Primary or Alternate, any case. Left out: the first such person is Primary unless
    /// another is declared Primary; the others Alternate. At most one is Primary.
    #[schema(value_type = Option<PickupType>)]
    pub pickup_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OrderTypeRequest {
    #[schema(value_type = Code, required = true)]
    pub order_type_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OrderLineRequest {
    #[schema(value_type = OrderLineId, required = true)]
    pub order_line_id: Option<String>,
    #[schema(value_type = ItemId, required = true)]
    pub item_id: Option<String>,
    /// A JSON number; must be whole (2 or 2.0), > 0 and <= 1 000 000.
    #[schema(value_type = f64, required = true, minimum = 1, maximum = 1000000, multiple_of = 1)]
    pub quantity: Option<serde_json::Number>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = f64, required = true, minimum = 0, maximum = 1000000000000_f64)]
    pub unit_price: Option<Decimal>,
    /// The item's title; shown as `title` on allocation documents.
    pub item_description: Option<String>,
    /// Unit of measure, e.g. `EACH`.
    #[serde(rename = "UOM")]
    pub uom: Option<String>,
    pub is_return: Option<bool>,
    #[schema(value_type = DeliveryMethodRequest, required = true)]
    pub delivery_method: Option<DeliveryMethodRequest>,
    pub ship_to_address: Option<ShipToAddressRequest>,
    #[schema(value_type = Option<LocationId>)]
    pub pickup_location_id: Option<String>,
    pub quantity_detail: Option<Vec<QuantityDetailRequest>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct DeliveryMethodRequest {
    /// Any case.
    #[schema(value_type = DeliveryMethod, required = true)]
    pub delivery_method_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ShipToAddressRequest {
    #[schema(value_type = AddressRequest, required = true)]
    pub address: Option<AddressRequest>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct AddressRequest {
    pub first_name: Option<String>,
    pub middle_name: Option<String>,
    pub last_name: Option<String>,
    /// The recipient's email address.
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Mobile, Home or Business, any case.
    #[schema(value_type = Option<PhoneType>)]
    pub phone_type: Option<String>,
    #[schema(value_type = Text, required = true)]
    pub address1: Option<String>,
    pub address2: Option<String>,
    #[schema(value_type = Text, required = true)]
    pub city: Option<String>,
    pub state: Option<String>,
    pub postal_code: Option<String>,
    #[schema(value_type = Text, required = true)]
    pub country: Option<String>,
    /// Sent together with Longitude, or neither.
    #[schema(minimum = -90, maximum = 90)]
    pub latitude: Option<f64>,
    #[schema(minimum = -180, maximum = 180)]
    pub longitude: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct QuantityDetailRequest {
    /// `"1000"`, `"1000.000"` or a number.
    pub status_id: Option<Value>,
    #[schema(value_type = Option<f64>)]
    pub quantity: Option<serde_json::Number>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PaymentRequest {
    pub payment_header_id: Option<String>,
    pub payment_status: Option<PaymentStatusRequest>,
    pub payment_method: Option<Vec<PaymentMethodRequest>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PaymentStatusRequest {
    #[schema(value_type = Code, required = true)]
    pub payment_status_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PaymentMethodRequest {
    #[schema(value_type = Code, required = true)]
    pub payment_method_id: Option<String>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = f64, required = true, minimum = 0, maximum = 1000000000000_f64)]
    pub amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub current_auth_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub current_settled_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub current_refund_amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub current_failed_amount: Option<Decimal>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct InvoiceRequest {
    #[schema(value_type = Code, required = true)]
    pub invoice_id: Option<String>,
    #[schema(value_type = InvoiceTypeRequest, required = true)]
    pub invoice_type: Option<InvoiceTypeRequest>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = f64, required = true, minimum = 0, maximum = 1000000000000_f64)]
    pub amount: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub amount_processed: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = Option<f64>, minimum = 0, maximum = 1000000000000_f64)]
    pub failed_amount: Option<Decimal>,
    pub publish_status: Option<PublishStatusRequest>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct InvoiceTypeRequest {
    /// Any case.
    #[schema(value_type = InvoiceType, required = true)]
    pub invoice_type_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct PublishStatusRequest {
    /// Any case; NotPublished when left out.
    #[schema(value_type = Option<PublishStatus>)]
    pub publish_status_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ChargeDetailRequest {
    #[schema(value_type = Code, required = true)]
    pub charge_detail_id: Option<String>,
    #[schema(value_type = ChargeTypeRequest, required = true)]
    pub charge_type: Option<ChargeTypeRequest>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    #[schema(value_type = f64, required = true, minimum = 0, maximum = 1000000000000_f64)]
    pub charge_total: Option<Decimal>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct ChargeTypeRequest {
    #[schema(value_type = Code, required = true)]
    pub charge_type_id: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// Parsing: request -> draft (shape and values valid, nothing merged yet).
// ---------------------------------------------------------------------------------------------

/// A Save Order request whose every value is valid. Fields that are `None` were not sent; on an
/// update they keep the stored value.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderDraft {
    pub order_id: OrderId,
    pub version: Option<u64>,
    pub order_type_id: String,
    pub is_confirmed: Option<bool>,
    pub is_import: Option<bool>,
    pub do_not_release_before: Option<DateTime<Utc>>,
    pub currency_code: Option<String>,
    pub lines: Vec<LineDraft>,
    pub payments: Option<Vec<Payment>>,
    pub invoices: Option<Vec<Invoice>>,
    pub charges: Option<Vec<ChargeDetail>>,
    pub pickup_persons: Option<Vec<PickupPerson>>,
    pub payment_status: Option<String>,
    pub holds: Vec<HoldDraft>,
}

/// A valid request line; `quantity_detail` is `None` when the client sent none.
#[derive(Debug, Clone, PartialEq)]
pub struct LineDraft {
    /// Where the line sits in the request, e.g. `OrderLine[2]`, to name its fields in errors.
    pub path: String,
    pub order_line_id: OrderLineId,
    pub item_id: ItemId,
    pub quantity: u32,
    pub unit_price: Decimal,
    pub item_description: Option<String>,
    pub uom: Option<String>,
    pub is_return: bool,
    pub delivery_method: DeliveryMethod,
    pub ship_to: Option<Address>,
    pub pickup_location_id: Option<LocationId>,
    pub quantity_detail: Option<QuantityDetail>,
}

/// A line's `QuantityDetail` as sent: units per status, and the row that gave each status.
#[derive(Debug, Clone, PartialEq)]
pub struct QuantityDetail {
    pub quantities: BTreeMap<FulfillmentStatus, u32>,
    pub rows: BTreeMap<FulfillmentStatus, usize>,
}

impl SaveOrderRequest {
    /// Checks every value and returns the first error, named by its JSON path.
    pub fn parse(&self) -> Result<OrderDraft, OmsError> {
        let order_id = OrderId::parse_at("OrderId", required("OrderId", &self.order_id)?)?;
        let order_type_id =
            code("OrderType.OrderTypeId", self.order_type.as_ref().and_then(|t| t.order_type_id.as_ref()))?;
        let do_not_release_before =
            self.do_not_release_before.as_deref().map(|v| parse_timestamp("DoNotReleaseBefore", v)).transpose()?;
        let currency_code = self.currency_code.as_deref().map(|v| parse_currency("CurrencyCode", v)).transpose()?;

        let requested_lines = self.order_line.as_deref().unwrap_or_default();
        limits::check_count("OrderLine", requested_lines.len(), limits::MAX_ORDER_LINES)?;
        limits::check_count("Payment", self.payment.as_ref().map_or(0, Vec::len), limits::MAX_ORDER_ENTRIES)?;
        limits::check_count("Invoice", self.invoice.as_ref().map_or(0, Vec::len), limits::MAX_ORDER_ENTRIES)?;
        let charges = self.order_charge_detail.as_ref().map_or(0, Vec::len);
        limits::check_count("OrderChargeDetail", charges, limits::MAX_ORDER_ENTRIES)?;
        let mut lines = Vec::with_capacity(requested_lines.len());
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (i, line) in requested_lines.iter().enumerate() {
            let draft = line.parse(&format!("OrderLine[{i}]"))?;
            if let Some(first) = seen.get(draft.order_line_id.as_str()) {
                return Err(OmsError::validation(
                    format!("OrderLine[{i}].OrderLineId"),
                    format!(
                        "duplicates OrderLine[{first}].OrderLineId \"{}\"; line ids must be unique within the order",
                        draft.order_line_id
                    ),
                ));
            }
            // Keyed by the request's own string so the map can borrow it.
            if let Some(id) = line.order_line_id.as_deref() {
                seen.insert(id, i);
            }
            lines.push(draft);
        }

        let payments = self
            .payment
            .as_ref()
            .map(|list| {
                list.iter().enumerate().map(|(i, p)| p.parse(&format!("Payment[{i}]"))).collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let invoices = self
            .invoice
            .as_ref()
            .map(|list| {
                list.iter()
                    .enumerate()
                    .map(|(i, inv)| inv.parse(&format!("Invoice[{i}]")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let charges = self
            .order_charge_detail
            .as_ref()
            .map(|list| {
                list.iter()
                    .enumerate()
                    .map(|(i, c)| c.parse(&format!("OrderChargeDetail[{i}]")))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let payment_status = self
            .payment_status
            .as_ref()
            .map(|s| code("PaymentStatus.PaymentStatusId", s.payment_status_id.as_ref()))
            .transpose()?;
        let pickup_persons = self.pickup_person.as_deref().map(parse_pickup_persons).transpose()?;
        let holds = parse_holds(self.hold.as_deref().unwrap_or_default())?;

        Ok(OrderDraft {
            order_id,
            version: self.version,
            order_type_id,
            is_confirmed: self.is_confirmed,
            is_import: self.is_import,
            do_not_release_before,
            currency_code,
            lines,
            payments,
            invoices,
            charges,
            pickup_persons,
            payment_status,
            holds,
        })
    }
}

fn parse_holds(holds: &[HoldRequest]) -> Result<Vec<HoldDraft>, OmsError> {
    limits::check_count("Hold", holds.len(), limits::MAX_ORDER_HOLDS)?;
    let mut drafts: Vec<HoldDraft> = Vec::with_capacity(holds.len());
    for (i, hold) in holds.iter().enumerate() {
        let path = format!("Hold[{i}]");
        let hold_type_id = code(&format!("{path}.HoldTypeId"), hold.hold_type_id.as_ref())?;
        if let Some(first) = drafts.iter().position(|d| d.hold_type_id == hold_type_id) {
            return Err(OmsError::validation(
                format!("{path}.HoldTypeId"),
                format!("duplicates Hold[{first}].HoldTypeId \"{hold_type_id}\"; send each hold type once"),
            ));
        }
        let status = match hold.status_id.as_deref() {
            Some(s) => HoldStatus::parse_at(&format!("{path}.StatusId"), s)?,
            None => HoldStatus::Applied,
        };
        let resolve_reason_id = optional_code(&format!("{path}.ResolveReasonId"), hold.resolve_reason_id.as_ref())?;
        drafts.push(HoldDraft { path, hold_type_id, status, resolve_reason_id });
    }
    Ok(drafts)
}

impl OrderLineRequest {
    /// Parses the line found at `path` (e.g. `OrderLine[1]`).
    pub fn parse(&self, path: &str) -> Result<LineDraft, OmsError> {
        let f = |name: &str| format!("{path}.{name}");
        let order_line_id =
            OrderLineId::parse_at(&f("OrderLineId"), required(&f("OrderLineId"), &self.order_line_id)?)?;
        let item_id = ItemId::parse_at(&f("ItemId"), required(&f("ItemId"), &self.item_id)?)?;
        let quantity = whole_number(&f("Quantity"), required(&f("Quantity"), &self.quantity)?, 1, MAX_LINE_QUANTITY)?;
        let unit_price = amount(&f("UnitPrice"), self.unit_price)?;
        let method_field = f("DeliveryMethod.DeliveryMethodId");
        let method_id = self.delivery_method.as_ref().and_then(|m| m.delivery_method_id.as_deref());
        let delivery_method = match method_id {
            Some(id) => DeliveryMethod::parse_at(&method_field, id)?,
            None => {
                return Err(OmsError::validation(
                    method_field,
                    format!("is required; {}", expected_list(&DeliveryMethod::ALL, |m| m.id())),
                ));
            }
        };

        let ship_field = f("ShipToAddress");
        let ship_to = match &self.ship_to_address {
            Some(s) => Some(parse_address(&format!("{ship_field}.Address"), s.address.as_ref())?),
            None if delivery_method == DeliveryMethod::ShipToAddress => {
                return Err(OmsError::validation(ship_field, "is required when DeliveryMethodId is ShipToAddress"));
            }
            None => None,
        };

        let pickup_field = f("PickupLocationId");
        let pickup_location_id = match self.pickup_location_id.as_deref() {
            Some(id) => Some(LocationId::parse_at(&pickup_field, id)?),
            None if delivery_method.needs_pickup_location() => {
                return Err(OmsError::validation(
                    pickup_field,
                    format!("is required when DeliveryMethodId is {}", delivery_method.id()),
                ));
            }
            None => None,
        };

        let quantity_detail = match self.quantity_detail.as_deref() {
            // An empty list says nothing about statuses: treat it as not sent.
            None | Some([]) => None,
            Some(rows) => Some(parse_quantity_detail(&f("QuantityDetail"), rows, quantity)?),
        };

        Ok(LineDraft {
            path: path.to_owned(),
            order_line_id,
            item_id,
            quantity,
            unit_price,
            item_description: optional_text(&f("ItemDescription"), self.item_description.as_ref())?,
            uom: optional_code(&f("UOM"), self.uom.as_ref())?,
            is_return: self.is_return.unwrap_or(false),
            delivery_method,
            ship_to,
            pickup_location_id,
            quantity_detail,
        })
    }
}

fn parse_address(path: &str, address: Option<&AddressRequest>) -> Result<Address, OmsError> {
    let Some(a) = address else {
        return Err(OmsError::validation(path, "is required"));
    };
    let f = |name: &str| format!("{path}.{name}");
    let address1 = text(&f("Address1"), a.address1.as_ref())?;
    let city = text(&f("City"), a.city.as_ref())?;
    let country = text(&f("Country"), a.country.as_ref())?;
    let (latitude, longitude) = match (a.latitude, a.longitude) {
        (Some(lat), Some(lon)) => {
            check_latitude(&f("Latitude"), lat)?;
            check_longitude(&f("Longitude"), lon)?;
            (Some(lat), Some(lon))
        }
        (None, None) => (None, None),
        (Some(_), None) => {
            return Err(OmsError::validation(f("Longitude"), "is required when Latitude is given"));
        }
        (None, Some(_)) => {
            return Err(OmsError::validation(f("Latitude"), "is required when Longitude is given"));
        }
    };
    Ok(Address {
        first_name: optional_text(&f("FirstName"), a.first_name.as_ref())?,
        middle_name: optional_text(&f("MiddleName"), a.middle_name.as_ref())?,
        last_name: optional_text(&f("LastName"), a.last_name.as_ref())?,
        email: optional_email(&f("Email"), a.email.as_ref())?,
        phone: optional_code(&f("Phone"), a.phone.as_ref())?,
        phone_type: a.phone_type.as_deref().map(|t| PhoneType::parse_at(&f("PhoneType"), t)).transpose()?,
        address1,
        address2: optional_text(&f("Address2"), a.address2.as_ref())?,
        city,
        state: optional_text(&f("State"), a.state.as_ref())?,
        postal_code: optional_text(&f("PostalCode"), a.postal_code.as_ref())?,
        country,
        latitude,
        longitude,
    })
}

/// Most pickup persons one order names.
const MAX_PICKUP_PERSONS: usize = 10;

fn parse_pickup_persons(persons: &[PickupPersonRequest]) -> Result<Vec<PickupPerson>, OmsError> {
    limits::check_count("PickupPerson", persons.len(), MAX_PICKUP_PERSONS)?;
    let mut parsed: Vec<PickupPerson> = Vec::with_capacity(persons.len());
    // The first person whose type is left out is Primary, unless another one is declared so.
    let declared = persons.iter().any(|p| p.pickup_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("Primary")));
    let default_primary = if declared { None } else { persons.iter().position(|p| p.pickup_type.is_none()) };
    for (i, p) in persons.iter().enumerate() {
        let f = |name: &str| format!("PickupPerson[{i}].{name}");
        let pickup_type = match p.pickup_type.as_deref() {
            Some(t) => PickupType::parse_at(&f("PickupType"), t)?,
            None if default_primary == Some(i) => PickupType::Primary,
            None => PickupType::Alternate,
        };
        if pickup_type == PickupType::Primary
            && let Some(first) = parsed.iter().position(|q| q.pickup_type == PickupType::Primary)
        {
            return Err(OmsError::validation(
                f("PickupType"),
                format!("PickupPerson[{first}] is already the Primary person; the others are Alternate"),
            ));
        }
        let person = PickupPerson {
            first_name: optional_text(&f("FirstName"), p.first_name.as_ref())?,
            middle_name: optional_text(&f("MiddleName"), p.middle_name.as_ref())?,
            last_name: optional_text(&f("LastName"), p.last_name.as_ref())?,
            email: optional_email(&f("Email"), p.email.as_ref())?,
            phone: optional_code(&f("Phone"), p.phone.as_ref())?,
            phone_type: p.phone_type.as_deref().map(|t| PhoneType::parse_at(&f("PhoneType"), t)).transpose()?,
            pickup_type,
        };
        if person.first_name.is_none() && person.last_name.is_none() && person.email.is_none() && person.phone.is_none()
        {
            return Err(OmsError::validation(
                format!("PickupPerson[{i}]"),
                "names nobody: send at least one of FirstName, LastName, Email, Phone",
            ));
        }
        parsed.push(person);
    }
    Ok(parsed)
}

/// An optional email address: one `@` with text on both sides, no spaces.
fn optional_email(field: &str, value: Option<&String>) -> Result<Option<String>, OmsError> {
    let Some(email) = optional_text(field, value)? else { return Ok(None) };
    let well_formed = match email.split_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
        None => false,
    };
    if !well_formed || email.chars().any(char::is_whitespace) {
        return Err(OmsError::validation(
            field,
            format!("must be an email address such as jane@example.com, got \"{email}\""),
        ));
    }
    Ok(Some(email))
}

fn parse_quantity_detail(
    path: &str,
    rows: &[QuantityDetailRequest],
    line_quantity: u32,
) -> Result<QuantityDetail, OmsError> {
    let mut quantities = BTreeMap::new();
    let mut positions = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut total: u64 = 0;
    for (j, row) in rows.iter().enumerate() {
        let status_field = format!("{path}[{j}].StatusId");
        let status = FulfillmentStatus::parse_json(&status_field, required(&status_field, &row.status_id)?)?;
        if !seen.insert(status) {
            return Err(OmsError::validation(status_field, format!("status {status} appears more than once")));
        }
        let qty_field = format!("{path}[{j}].Quantity");
        let qty = whole_number(&qty_field, required(&qty_field, &row.quantity)?, 0, MAX_LINE_QUANTITY)?;
        total += u64::from(qty);
        if qty > 0 {
            quantities.insert(status, qty);
            positions.insert(status, j);
        }
    }
    if total != u64::from(line_quantity) {
        return Err(OmsError::validation(
            path,
            format!("quantities add up to {total} but the line Quantity is {line_quantity}"),
        ));
    }
    Ok(QuantityDetail { quantities, rows: positions })
}

impl PaymentRequest {
    pub fn parse(&self, path: &str) -> Result<Payment, OmsError> {
        let f = |name: &str| format!("{path}.{name}");
        let payment_header_id = optional_code(&f("PaymentHeaderId"), self.payment_header_id.as_ref())?;
        let payment_status_id = self
            .payment_status
            .as_ref()
            .map(|s| code(&f("PaymentStatus.PaymentStatusId"), s.payment_status_id.as_ref()))
            .transpose()?;
        let methods = self
            .payment_method
            .as_deref()
            .map(|methods| {
                limits::check_count(&f("PaymentMethod"), methods.len(), limits::MAX_PAYMENT_METHODS).map(|()| methods)
            })
            .transpose()?
            .unwrap_or_default()
            .iter()
            .enumerate()
            .map(|(k, m)| m.parse(&f(&format!("PaymentMethod[{k}]"))))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Payment { payment_header_id, payment_status_id, methods })
    }
}

impl PaymentMethodRequest {
    pub fn parse(&self, path: &str) -> Result<PaymentMethod, OmsError> {
        let f = |name: &str| format!("{path}.{name}");
        Ok(PaymentMethod {
            payment_method_id: code(&f("PaymentMethodId"), self.payment_method_id.as_ref())?,
            amount: amount(&f("Amount"), self.amount)?,
            current_auth_amount: amount_or_zero(&f("CurrentAuthAmount"), self.current_auth_amount)?,
            current_settled_amount: amount_or_zero(&f("CurrentSettledAmount"), self.current_settled_amount)?,
            current_refund_amount: amount_or_zero(&f("CurrentRefundAmount"), self.current_refund_amount)?,
            current_failed_amount: amount_or_zero(&f("CurrentFailedAmount"), self.current_failed_amount)?,
        })
    }
}

impl InvoiceRequest {
    pub fn parse(&self, path: &str) -> Result<Invoice, OmsError> {
        let f = |name: &str| format!("{path}.{name}");
        let invoice_id = code(&f("InvoiceId"), self.invoice_id.as_ref())?;
        let type_field = f("InvoiceType.InvoiceTypeId");
        let type_id = self.invoice_type.as_ref().and_then(|t| t.invoice_type_id.as_deref());
        let invoice_type = match type_id {
            Some(id) => InvoiceType::parse_at(&type_field, id)?,
            None => {
                return Err(OmsError::validation(
                    type_field,
                    format!("is required; {}", expected_list(&InvoiceType::ALL, |t| t.id())),
                ));
            }
        };
        let publish_status = match self.publish_status.as_ref().and_then(|s| s.publish_status_id.as_deref()) {
            Some(id) => PublishStatus::parse_at(&f("PublishStatus.PublishStatusId"), id)?,
            None => PublishStatus::NotPublished,
        };
        Ok(Invoice {
            invoice_id,
            invoice_type,
            amount: amount(&f("Amount"), self.amount)?,
            amount_processed: amount_or_zero(&f("AmountProcessed"), self.amount_processed)?,
            failed_amount: amount_or_zero(&f("FailedAmount"), self.failed_amount)?,
            publish_status,
        })
    }
}

impl ChargeDetailRequest {
    pub fn parse(&self, path: &str) -> Result<ChargeDetail, OmsError> {
        let f = |name: &str| format!("{path}.{name}");
        Ok(ChargeDetail {
            charge_detail_id: code(&f("ChargeDetailId"), self.charge_detail_id.as_ref())?,
            charge_type_id: code(
                &f("ChargeType.ChargeTypeId"),
                self.charge_type.as_ref().and_then(|t| t.charge_type_id.as_ref()),
            )?,
            charge_total: amount(&f("ChargeTotal"), self.charge_total)?,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Field helpers. Each returns a validation error naming `field`.
// ---------------------------------------------------------------------------------------------

fn required<'a, T>(field: &str, value: &'a Option<T>) -> Result<&'a T, OmsError> {
    value.as_ref().ok_or_else(|| OmsError::validation(field, "is required"))
}

/// Required free text: not blank, no control characters, bounded length.
fn text(field: &str, value: Option<&String>) -> Result<String, OmsError> {
    bounded_text(field, value, MAX_TEXT_CHARS)
}

/// Required code-like text (ids of payments, types): as [`text`] but at most 64 characters.
fn code(field: &str, value: Option<&String>) -> Result<String, OmsError> {
    bounded_text(field, value, MAX_CODE_CHARS)
}

pub(crate) fn bounded_text(field: &str, value: Option<&String>, max: usize) -> Result<String, OmsError> {
    let Some(value) = value else {
        return Err(OmsError::validation(field, "is required"));
    };
    if value.trim().is_empty() {
        return Err(OmsError::validation(field, "must not be blank"));
    }
    if value.chars().count() > max {
        return Err(OmsError::validation(field, format!("must be at most {max} characters")));
    }
    if value.chars().any(char::is_control) {
        return Err(OmsError::validation(field, "must not contain control characters"));
    }
    Ok(value.clone())
}

/// Optional free text; an empty string counts as absent, as Manhattan payloads often send "".
fn optional_text(field: &str, value: Option<&String>) -> Result<Option<String>, OmsError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => text(field, Some(v)).map(Some),
    }
}

fn optional_code(field: &str, value: Option<&String>) -> Result<Option<String>, OmsError> {
    match value {
        None => Ok(None),
        Some(v) if v.is_empty() => Ok(None),
        Some(v) => code(field, Some(v)).map(Some),
    }
}

/// A required money amount in [0, MAX_AMOUNT].
fn amount(field: &str, value: Option<Decimal>) -> Result<Decimal, OmsError> {
    let Some(value) = value else {
        return Err(OmsError::validation(field, "is required"));
    };
    if value < Decimal::ZERO {
        return Err(OmsError::validation(field, format!("must not be negative, got {value}")));
    }
    if value > Decimal::from(MAX_AMOUNT) {
        return Err(OmsError::validation(field, format!("must be at most {MAX_AMOUNT}")));
    }
    Ok(value)
}

fn amount_or_zero(field: &str, value: Option<Decimal>) -> Result<Decimal, OmsError> {
    amount(field, Some(value.unwrap_or(Decimal::ZERO)))
}

/// A JSON number that must be a whole number in [min, max]; 2.0 counts as 2.
pub(crate) fn whole_number(field: &str, value: &serde_json::Number, min: u64, max: u64) -> Result<u32, OmsError> {
    let whole: i128 = if let Some(v) = value.as_u64() {
        i128::from(v)
    } else if let Some(v) = value.as_i64() {
        i128::from(v)
    } else {
        let v = value.as_f64().unwrap_or(f64::NAN);
        if v.fract() != 0.0 {
            return Err(OmsError::validation(field, format!("must be a whole number, got {value}")));
        }
        // Whole floats beyond i128 are out of range either way; saturate.
        v as i128
    };
    if whole < i128::from(min) {
        let message = if min == 0 {
            format!("must not be negative, got {value}")
        } else if min == 1 {
            format!("must be greater than 0, got {value}")
        } else {
            format!("must be at least {min}, got {value}")
        };
        return Err(OmsError::validation(field, message));
    }
    if whole > i128::from(max) {
        return Err(OmsError::validation(field, format!("must be at most {max}, got {value}")));
    }
    u32::try_from(whole).map_err(|_| OmsError::validation(field, format!("must be at most {}, got {value}", u32::MAX)))
}

fn parse_timestamp(field: &str, value: &str) -> Result<DateTime<Utc>, OmsError> {
    DateTime::parse_from_rfc3339(value).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        OmsError::validation(
            field,
            format!("must be an RFC 3339 date-time such as 2025-01-31T12:00:00Z, got \"{value}\""),
        )
    })
}

/// Three ASCII letters, stored upper-case.
fn parse_currency(field: &str, value: &str) -> Result<String, OmsError> {
    if value.len() == 3 && value.bytes().all(|b| b.is_ascii_alphabetic()) {
        Ok(value.to_ascii_uppercase())
    } else {
        Err(OmsError::validation(field, format!("must be a three-letter ISO 4217 code such as USD, got \"{value}\"")))
    }
}

fn expected_list<T: Copy>(all: &[T], id: impl Fn(T) -> &'static str) -> String {
    let ids: Vec<&str> = all.iter().map(|v| id(*v)).collect();
    format!("expected one of {}", ids.join(", "))
}

/// Case-insensitive match against a closed list; the error lists the accepted ids.
pub(crate) fn one_of<T: Copy>(
    field: &str,
    value: &str,
    all: &[T],
    id: impl Fn(T) -> &'static str,
) -> Result<T, OmsError> {
    all.iter()
        .copied()
        .find(|v| id(*v).eq_ignore_ascii_case(value))
        .ok_or_else(|| OmsError::validation(field, format!("unknown value \"{value}\"; {}", expected_list(all, id))))
}
