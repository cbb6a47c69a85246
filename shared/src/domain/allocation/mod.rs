//! Allocation documents (seed 001, fabric allocation service 2.0.0): one per ship-from
//! location of an order, holding the units reserved there. camelCase JSON as documented.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use serde_json::json;

use crate::domain::ids::{ItemId, LocationId, OrderId, UserId};
use crate::domain::limits;
use crate::error::OmsError;

mod audit;
mod item;
mod recipient;
mod requests;
#[cfg(test)]
mod tests;

pub use audit::{AuditLog, AuditType, UpdatedField};
pub use item::{AllocationItem, ItemStatus, Taken};
pub use recipient::{PersonName, Phone, Recipient, RecipientPhoneType};
pub use requests::*;

/// A 24-character lower-case hex id, like the documented `633f216c68f1b4456659161c`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "String", into = "String")]
pub struct AllocationId(String);

impl AllocationId {
    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        let value = value.trim();
        if value.len() != 24 || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(OmsError::validation(
                field,
                format!("must be a 24-character hexadecimal allocation id, got {value:?}"),
            ));
        }
        Ok(Self(value.to_ascii_lowercase()))
    }

    /// Derives an id from a ULID: 4 bytes of seconds then 8 random bytes, so ids sort by time.
    pub fn from_ulid(ulid: &str) -> Result<Self, OmsError> {
        let ulid = ulid::Ulid::from_string(ulid).map_err(|e| OmsError::Internal(anyhow::anyhow!("bad ulid: {e}")))?;
        let seconds = (ulid.timestamp_ms() / 1000) as u32;
        let random = ulid.random() as u64;
        Ok(Self(format!("{seconds:08x}{random:016x}")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for AllocationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AllocationId {
    type Error = OmsError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse_at("allocationId", &value)
    }
}

impl From<AllocationId> for String {
    fn from(id: AllocationId) -> String {
        id.0
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AllocationStatus {
    Allocated,
    PendingDrop,
    PendingPick,
    Shipped,
    PartiallyShipped,
    Reallocated,
    Cancelled,
    PartiallyCancelled,
}

impl AllocationStatus {
    pub const ALL: [AllocationStatus; 8] = [
        Self::Allocated,
        Self::PendingDrop,
        Self::PendingPick,
        Self::Shipped,
        Self::PartiallyShipped,
        Self::Reallocated,
        Self::Cancelled,
        Self::PartiallyCancelled,
    ];

    /// A live allocation holds reserved stock; cancelled and reallocated ones hold none.
    pub fn is_live(self) -> bool {
        !matches!(self, Self::Cancelled | Self::Reallocated)
    }

    pub fn id(self) -> &'static str {
        match self {
            Self::Allocated => "ALLOCATED",
            Self::PendingDrop => "PENDING_DROP",
            Self::PendingPick => "PENDING_PICK",
            Self::Shipped => "SHIPPED",
            Self::PartiallyShipped => "PARTIALLY_SHIPPED",
            Self::Reallocated => "REALLOCATED",
            Self::Cancelled => "CANCELLED",
            Self::PartiallyCancelled => "PARTIALLY_CANCELLED",
        }
    }

    pub fn parse_at(field: &str, value: &str) -> Result<Self, OmsError> {
        Self::ALL.into_iter().find(|s| s.id().eq_ignore_ascii_case(value.trim())).ok_or_else(|| {
            let names: Vec<&str> = Self::ALL.iter().map(|s| s.id()).collect();
            OmsError::validation(field, format!("must be one of {}, got {value:?}", names.join(", ")))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AllocationType {
    Allocated,
    Scratched,
    Returned,
}

/// An allocation document. Its serde form is both the stored and the documented form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Allocation {
    pub allocation_id: AllocationId,
    pub version: u64,
    /// The order this allocation serves (the reallocate request's `orderNumber`).
    pub order_number: OrderId,
    pub allocation_request_id: Option<String>,
    pub allocation_num: Option<String>,
    pub parent_allocation_id: Option<AllocationId>,
    #[serde(rename = "sentToPPSDate")]
    pub sent_to_pps_date: Option<DateTime<Utc>>,
    pub allocation_date: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(rename = "type")]
    pub allocation_type: AllocationType,
    /// The location this allocation was moved from (a location id; the seed shows a number).
    pub previous_allocation_location_num: Option<String>,
    pub po_number: Option<String>,
    pub items_type: Option<String>,
    pub order_sub_type: Option<String>,
    pub vendor_id: Option<String>,
    pub ship_date: Option<DateTime<Utc>>,
    pub ship_type: Option<String>,
    pub ship_method: Option<String>,
    pub ship_to_id: Option<String>,
    pub status_code: AllocationStatus,
    pub location_num: LocationId,
    pub location_type: String,
    pub ship_to_address: Option<Value>,
    #[serde(default, deserialize_with = "recipient::read_recipients")]
    pub recipient: Vec<Recipient>,
    pub items: Vec<AllocationItem>,
    /// The most recent entries, oldest first (at most `limits::MAX_AUDIT_LOGS`).
    #[serde(default, deserialize_with = "audit::read_logs")]
    pub audit_logs: Vec<AuditLog>,
    /// Set while a change too large for one transaction (a cancel or reallocation of many
    /// lines) holds this document: the id of its journal. Absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_operation: Option<String>,
}

impl Allocation {
    /// Units held at the location over all items (u64: many items of large quantities exceed
    /// u32). What is shipped, scratched, moved or cancelled is no longer held.
    pub fn units(&self) -> u64 {
        self.items.iter().map(|i| u64::from(i.held())).sum()
    }

    /// Units of each item held by this allocation, item by item.
    pub fn units_by_item(&self) -> std::collections::BTreeMap<ItemId, u64> {
        let mut units = std::collections::BTreeMap::new();
        for item in &self.items {
            *units.entry(item.item_id.clone()).or_insert(0) += u64::from(item.held());
        }
        units
    }

    /// Brings a document as stored to today's shape: lines numbered 1..n in order where a
    /// document from before numbered none, the order on each item, the units of an ended
    /// document counted as cancelled or moved, and every item's status from its counts.
    pub fn normalize(&mut self) {
        let mut last = self.items.iter().map(|i| i.allocation_line_number).max().unwrap_or(0);
        let ended = match self.status_code {
            AllocationStatus::Cancelled => Some(Taken::Cancelled),
            AllocationStatus::Reallocated => Some(Taken::Reallocated),
            _ => None,
        };
        for item in &mut self.items {
            if item.allocation_line_number == 0 {
                last += 1;
                item.allocation_line_number = last;
            }
            item.order_id.get_or_insert_with(|| self.order_number.clone());
            item.sku.get_or_insert_with(|| item.item_id.to_string());
            if let Some(how) = ended {
                let held = item.held();
                let _ = item.take(held, how);
            }
            item.settle();
        }
    }

    /// The number the next line added to this allocation gets.
    pub fn next_line_number(&self) -> u32 {
        self.items.iter().map(|i| i.allocation_line_number).max().unwrap_or(0) + 1
    }

    pub fn item(&self, line_number: u32) -> Option<&AllocationItem> {
        self.items.iter().find(|i| i.allocation_line_number == line_number)
    }

    pub fn item_mut(&mut self, line_number: u32) -> Option<&mut AllocationItem> {
        self.items.iter_mut().find(|i| i.allocation_line_number == line_number)
    }

    /// Appends the entries of one change: numbered by the version the change makes, the
    /// oldest entries dropped beyond the most kept.
    pub fn record(&mut self, entries: impl IntoIterator<Item = AuditLog>) {
        let prefix = format!("{}-{}-", self.allocation_id, self.version);
        let first = self.audit_logs.iter().filter(|e| e.audit_id.starts_with(&prefix)).count() + 1;
        for (n, mut entry) in entries.into_iter().enumerate() {
            entry.audit_id = format!("{prefix}{}", first + n);
            self.audit_logs.push(entry);
        }
        let over = self.audit_logs.len().saturating_sub(limits::MAX_AUDIT_LOGS);
        self.audit_logs.drain(..over);
    }

    /// The document after a change at `now`: next version, the change's entries appended.
    pub fn changed(&self, entries: Vec<AuditLog>, now: DateTime<Utc>) -> Allocation {
        let mut next = self.clone();
        next.version += 1;
        next.updated_at = now;
        next.record(entries);
        next
    }

    /// Ends the allocation (cancelled or reallocated): every held unit counts as cancelled or
    /// moved, and one entry records the status change.
    pub fn retired(&self, status: AllocationStatus, user: &UserId, now: DateTime<Utc>, source: &str) -> Allocation {
        let (kind, how) = match status {
            AllocationStatus::Reallocated => (AuditType::Reallocate, Taken::Reallocated),
            _ => (AuditType::Cancel, Taken::Cancelled),
        };
        let mut entry = AuditLog::new(kind, user, now, source);
        entry.changed("statusCode", json!(self.status_code), json!(status));
        entry.quantity = u32::try_from(self.units()).ok();
        let mut next = self.changed(vec![entry], now);
        for item in &mut next.items {
            let held = item.held();
            let _ = item.take(held, how);
        }
        next.status_code = status;
        next
    }

    /// The status the items say once units left: SHIPPED when every unit not scratched or
    /// moved has shipped, PARTIALLY_SHIPPED while some shipped and some are held; otherwise
    /// unchanged. `type` becomes SCRATCHED when every unit is scratched.
    pub fn settle_status(&mut self) {
        let shipped: u64 = self.items.iter().map(|i| u64::from(i.shipped_quantity)).sum();
        let scratched: u64 = self.items.iter().map(|i| u64::from(i.scratch_quantity)).sum();
        let total: u64 = self.items.iter().map(|i| u64::from(i.quantity)).sum();
        if shipped > 0 && self.status_code.is_live() {
            self.status_code =
                if self.units() == 0 { AllocationStatus::Shipped } else { AllocationStatus::PartiallyShipped };
        }
        if total > 0 && scratched == total {
            self.allocation_type = AllocationType::Scratched;
        }
    }
}
