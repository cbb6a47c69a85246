//! Who receives an allocation's units, in fabric's `OrderPickup` shape, filled from the order:
//! the ship-to address's person for shipped lines, the order's pickup persons for pickup lines.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::order::{Address, Order, OrderLine, PhoneType, PickupPerson, PickupType};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    pub name: Option<PersonName>,
    pub email: Option<String>,
    pub phone: Option<Phone>,
    #[schema(value_type = Option<String>, example = "Primary")]
    pub pickup_type: Option<PickupType>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PersonName {
    pub first: Option<String>,
    pub middle: Option<String>,
    pub last: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecipientPhoneType {
    Mobile,
    Home,
    Business,
}

impl From<PhoneType> for RecipientPhoneType {
    fn from(kind: PhoneType) -> Self {
        match kind {
            PhoneType::Mobile => RecipientPhoneType::Mobile,
            PhoneType::Home => RecipientPhoneType::Home,
            PhoneType::Business => RecipientPhoneType::Business,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Phone {
    pub number: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<RecipientPhoneType>,
}

/// A name, or `None` when every part is unknown.
fn name(first: &Option<String>, middle: &Option<String>, last: &Option<String>) -> Option<PersonName> {
    (first.is_some() || middle.is_some() || last.is_some()).then(|| PersonName {
        first: first.clone(),
        middle: middle.clone(),
        last: last.clone(),
    })
}

fn phone(number: &Option<String>, kind: Option<PhoneType>) -> Option<Phone> {
    number.as_ref().map(|n| Phone { number: Some(n.clone()), kind: kind.map(Into::into) })
}

impl Recipient {
    fn of_address(a: &Address) -> Option<Recipient> {
        let recipient = Recipient {
            name: name(&a.first_name, &a.middle_name, &a.last_name),
            email: a.email.clone(),
            phone: phone(&a.phone, a.phone_type),
            pickup_type: Some(PickupType::Primary),
        };
        (recipient.name.is_some() || recipient.email.is_some() || recipient.phone.is_some()).then_some(recipient)
    }

    fn of_pickup_person(p: &PickupPerson) -> Recipient {
        Recipient {
            name: name(&p.first_name, &p.middle_name, &p.last_name),
            email: p.email.clone(),
            phone: phone(&p.phone, p.phone_type),
            pickup_type: Some(p.pickup_type),
        }
    }

    /// The recipients of units of `line`: its pickup persons (Primary first) when it is picked
    /// up at a store, else the person its ship-to address names.
    pub fn of_line(order: &Order, line: &OrderLine) -> Vec<Recipient> {
        if line.delivery_method.needs_pickup_location() && !order.pickup_persons.is_empty() {
            let mut persons: Vec<&PickupPerson> = order.pickup_persons.iter().collect();
            persons.sort_by_key(|p| p.pickup_type != PickupType::Primary);
            return persons.into_iter().map(Recipient::of_pickup_person).collect();
        }
        line.ship_to.as_ref().and_then(Recipient::of_address).into_iter().collect()
    }
}

/// Reads stored recipients; entries a client stored free-form before they were typed, and
/// that do not fit the shape, are left out rather than failing the document.
pub(super) fn read_recipients<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<Recipient>, D::Error> {
    let stored: Vec<Value> = Vec::deserialize(deserializer)?;
    Ok(stored.into_iter().filter_map(|v| serde_json::from_value(v).ok()).collect())
}
