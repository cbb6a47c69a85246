//! Modification types (what changed on an order) and the services a change can trigger.

use serde::{Deserialize, Serialize};

use crate::domain::order::one_of;
use crate::error::OmsError;

/// Whether a modification type concerns the order as a whole or single order lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ModLevel {
    Order,
    Line,
}

/// A kind of change to an order. Order-level types come first, then line-level ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum ModType {
    CreateOrder,
    ConfirmOrder,
    UpdateOrderAttributes,
    AddPayment,
    UpdateInvoice,
    ApplyHold,
    ResolveHold,
    CancelOrder,
    AddOrderLine,
    UpdateLineQuantity,
    UpdateShipToAddress,
    UpdateDeliveryMethod,
    UpdateLinePrice,
    CancelOrderLine,
    AllocateLine,
    ReleaseLine,
    ShipLine,
}

impl ModType {
    pub const ALL: [ModType; 17] = [
        ModType::CreateOrder,
        ModType::ConfirmOrder,
        ModType::UpdateOrderAttributes,
        ModType::AddPayment,
        ModType::UpdateInvoice,
        ModType::ApplyHold,
        ModType::ResolveHold,
        ModType::CancelOrder,
        ModType::AddOrderLine,
        ModType::UpdateLineQuantity,
        ModType::UpdateShipToAddress,
        ModType::UpdateDeliveryMethod,
        ModType::UpdateLinePrice,
        ModType::CancelOrderLine,
        ModType::AllocateLine,
        ModType::ReleaseLine,
        ModType::ShipLine,
    ];

    /// The id as the API spells it: the variant name.
    pub fn id(self) -> &'static str {
        match self {
            ModType::CreateOrder => "CreateOrder",
            ModType::ConfirmOrder => "ConfirmOrder",
            ModType::UpdateOrderAttributes => "UpdateOrderAttributes",
            ModType::AddPayment => "AddPayment",
            ModType::UpdateInvoice => "UpdateInvoice",
            ModType::ApplyHold => "ApplyHold",
            ModType::ResolveHold => "ResolveHold",
            ModType::CancelOrder => "CancelOrder",
            ModType::AddOrderLine => "AddOrderLine",
            ModType::UpdateLineQuantity => "UpdateLineQuantity",
            ModType::UpdateShipToAddress => "UpdateShipToAddress",
            ModType::UpdateDeliveryMethod => "UpdateDeliveryMethod",
            ModType::UpdateLinePrice => "UpdateLinePrice",
            ModType::CancelOrderLine => "CancelOrderLine",
            ModType::AllocateLine => "AllocateLine",
            ModType::ReleaseLine => "ReleaseLine",
            ModType::ShipLine => "ShipLine",
        }
    }

    pub fn level(self) -> ModLevel {
        match self {
            ModType::CreateOrder
            | ModType::ConfirmOrder
            | ModType::UpdateOrderAttributes
            | ModType::AddPayment
            | ModType::UpdateInvoice
            | ModType::ApplyHold
            | ModType::ResolveHold
            | ModType::CancelOrder => ModLevel::Order,
            ModType::AddOrderLine
            | ModType::UpdateLineQuantity
            | ModType::UpdateShipToAddress
            | ModType::UpdateDeliveryMethod
            | ModType::UpdateLinePrice
            | ModType::CancelOrderLine
            | ModType::AllocateLine
            | ModType::ReleaseLine
            | ModType::ShipLine => ModLevel::Line,
        }
    }

    /// A move the system makes (allocation, release, shipment): modification rules do not apply
    /// to it, and it cannot be configured to move units again.
    pub fn is_system(self) -> bool {
        matches!(self, ModType::AllocateLine | ModType::ReleaseLine | ModType::ShipLine)
    }

    /// Parses a ModTypeId case-insensitively; the error lists the accepted ids.
    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        one_of(field, value, &Self::ALL, |m| m.id())
    }
}

/// A service a modification type can trigger (the seed's pricing, fulfillment and publishing
/// services). PublishEmail / PublishText are configured as message lists, not services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Service {
    CalculatePrice,
    ReevaluatePromotions,
    CalculateCharges,
    CalculateReturnFees,
    CalculateTaxes,
    ChangeStatus,
    ReevaluatePipeline,
    ResubmitPipeline,
    CancelReservation,
    PublishOrder,
    PublishOrderLine,
}

impl Service {
    pub const ALL: [Service; 11] = [
        Service::CalculatePrice,
        Service::ReevaluatePromotions,
        Service::CalculateCharges,
        Service::CalculateReturnFees,
        Service::CalculateTaxes,
        Service::ChangeStatus,
        Service::ReevaluatePipeline,
        Service::ResubmitPipeline,
        Service::CancelReservation,
        Service::PublishOrder,
        Service::PublishOrderLine,
    ];

    pub fn id(self) -> &'static str {
        match self {
            Service::CalculatePrice => "CalculatePrice",
            Service::ReevaluatePromotions => "ReevaluatePromotions",
            Service::CalculateCharges => "CalculateCharges",
            Service::CalculateReturnFees => "CalculateReturnFees",
            Service::CalculateTaxes => "CalculateTaxes",
            Service::ChangeStatus => "ChangeStatus",
            Service::ReevaluatePipeline => "ReevaluatePipeline",
            Service::ResubmitPipeline => "ResubmitPipeline",
            Service::CancelReservation => "CancelReservation",
            Service::PublishOrder => "PublishOrder",
            Service::PublishOrderLine => "PublishOrderLine",
        }
    }

    /// The selling services: price, promotions, S&H charges, return fees and taxes.
    pub fn is_pricing(self) -> bool {
        matches!(
            self,
            Service::CalculatePrice
                | Service::ReevaluatePromotions
                | Service::CalculateCharges
                | Service::CalculateReturnFees
                | Service::CalculateTaxes
        )
    }

    /// Parses a service id case-insensitively; the error lists the accepted ids.
    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        one_of(field, value, &Self::ALL, |s| s.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mod_type_id_is_its_variant_name_and_its_serde_form() {
        for m in ModType::ALL {
            assert_eq!(format!("{m:?}"), m.id());
            assert_eq!(serde_json::to_value(m).unwrap(), serde_json::json!(m.id()));
            assert_eq!(ModType::parse_at("ModTypeId", m.id()).unwrap(), m);
        }
    }

    #[test]
    fn mod_types_parse_case_insensitively() {
        assert_eq!(ModType::parse_at("ModTypeId", "shipline").unwrap(), ModType::ShipLine);
        assert_eq!(ModType::parse_at("ModTypeId", "CREATEORDER").unwrap(), ModType::CreateOrder);
    }

    #[test]
    fn when_a_mod_type_is_unknown_should_refuse_listing_the_accepted_ids() {
        let err = ModType::parse_at("ModTypes[0].ModTypeId", "Teleport").unwrap_err();
        assert_eq!(err.field(), Some("ModTypes[0].ModTypeId"));
        let message = err.to_string();
        assert!(message.contains("Teleport") && message.contains("UpdateShipToAddress"), "{message}");
    }

    #[test]
    fn order_level_types_come_before_line_level_ones() {
        let first_line = ModType::ALL.iter().position(|m| m.level() == ModLevel::Line).unwrap();
        assert_eq!(ModType::ALL[first_line], ModType::AddOrderLine);
        assert!(ModType::ALL[..first_line].iter().all(|m| m.level() == ModLevel::Order));
        assert!(ModType::ALL[first_line..].iter().all(|m| m.level() == ModLevel::Line));
        assert!(ModType::ALL.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn only_allocate_release_and_ship_are_system_moves() {
        let system: Vec<ModType> = ModType::ALL.into_iter().filter(|m| m.is_system()).collect();
        assert_eq!(system, vec![ModType::AllocateLine, ModType::ReleaseLine, ModType::ShipLine]);
    }

    #[test]
    fn every_service_id_round_trips_and_parses_case_insensitively() {
        for s in Service::ALL {
            assert_eq!(format!("{s:?}"), s.id());
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.id()));
            assert_eq!(Service::parse_at("Services[0]", &s.id().to_lowercase()).unwrap(), s);
        }
        assert_eq!(Service::parse_at("Services[0]", "Fax").unwrap_err().field(), Some("Services[0]"));
    }

    #[test]
    fn the_five_selling_services_are_pricing() {
        let pricing: Vec<Service> = Service::ALL.into_iter().filter(|s| s.is_pricing()).collect();
        assert_eq!(
            pricing,
            vec![
                Service::CalculatePrice,
                Service::ReevaluatePromotions,
                Service::CalculateCharges,
                Service::CalculateReturnFees,
                Service::CalculateTaxes
            ]
        );
    }
}
