//! Where moved units go. A reallocation or a scratch takes units out of allocation lines; the
//! placer plans them at other locations and puts them in the order's live allocation there
//! when it has one, else in a new allocation, each new line naming the line it came from.

use std::collections::{BTreeMap, HashMap};

use super::{
    Allocation, AllocationId, Deps, Location, LocationId, OmsError, OmsResult, Order, OrderId, Rewrite, TenantId,
    allocations_of_order, new_document,
};
use crate::domain::allocation::{AuditLog, AuditType};
use crate::domain::ids::{OrderLineId, UserId};
use crate::domain::order::DeliveryMethod;
use crate::domain::sourcing::{self, Availability, Demand, Strategy};

/// Units of one line of a touched document to place elsewhere.
#[derive(Debug, Clone)]
pub(super) struct Moving {
    pub source: AllocationId,
    pub line_number: u32,
    pub units: u32,
    pub reason: Option<String>,
}

/// A document the change rewrites: as read, as it will be written, and the audit entries its
/// change appends (written with the next version).
struct Touched {
    read: Allocation,
    next: Allocation,
    entries: Vec<AuditLog>,
}

pub(super) struct Placer<'a> {
    deps: &'a Deps,
    tenant: &'a TenantId,
    user: &'a UserId,
    /// `source` of the audit entries.
    source: &'static str,
    request_id: String,
    locations: &'a [Location],
    by_id: HashMap<LocationId, &'a Location>,
    /// What each location can still promise; lowered by every placement.
    availability: Availability,
    strategy: Strategy,
    touched: BTreeMap<AllocationId, Touched>,
    /// The live allocations of each order, read once.
    of_order: HashMap<OrderId, Vec<Allocation>>,
    created: Vec<Allocation>,
}

impl<'a> Placer<'a> {
    pub fn new(
        deps: &'a Deps,
        tenant: &'a TenantId,
        user: &'a UserId,
        source: &'static str,
        locations: &'a [Location],
        availability: Availability,
        strategy: Strategy,
    ) -> Placer<'a> {
        Placer {
            deps,
            tenant,
            user,
            source,
            request_id: deps.ids.new_id(),
            by_id: locations.iter().map(|l| (l.location_id.clone(), l)).collect(),
            locations,
            availability,
            strategy,
            touched: BTreeMap::new(),
            of_order: HashMap::new(),
            created: Vec::new(),
        }
    }

    /// Adds a document the change rewrites: `next` is what it becomes so far (its version
    /// bumped already when the caller made its change).
    pub fn touch(&mut self, read: Allocation, next: Allocation) {
        self.touched.entry(read.allocation_id.clone()).or_insert(Touched { read, next, entries: Vec::new() });
    }

    /// The touched document `id` as it will be written, with the entries its change appends.
    pub fn document_mut(&mut self, id: &AllocationId) -> Option<(&mut Allocation, &mut Vec<AuditLog>)> {
        self.touched.get_mut(id).map(|t| (&mut t.next, &mut t.entries))
    }

    /// Places `moving` units of `order`: all at `target`, or at the best other locations. Units
    /// no location can take are back ordered when `back_order` allows it (returned per order
    /// line); otherwise nothing is placed and the answer is 409.
    pub async fn place(
        &mut self,
        order: &Order,
        moving: &[Moving],
        target: Option<&LocationId>,
        back_order: bool,
    ) -> OmsResult<Vec<(OrderLineId, u32)>> {
        let target = match target {
            Some(id) => Some(
                self.by_id
                    .get(id)
                    .copied()
                    .ok_or_else(|| OmsError::validation("locationNum", format!("location {id} does not exist")))?,
            ),
            None => None,
        };
        // One plan per location the units leave: each excludes its own location.
        let mut by_location: BTreeMap<LocationId, Vec<&Moving>> = BTreeMap::new();
        for m in moving {
            let from = &self.source_of(m)?.location_num;
            by_location.entry(from.clone()).or_default().push(m);
        }
        let mut back_ordered = Vec::new();
        for (from, group) in by_location {
            if let Some(target) = target
                && target.location_id == from
            {
                let id = &group[0].source;
                return Err(OmsError::validation("locationNum", format!("allocation {id} is already at {from}")));
            }
            let demands = group.iter().map(|m| self.demand(order, m)).collect::<OmsResult<Vec<Demand>>>()?;
            let candidates: Vec<Location> = match target {
                Some(target) => vec![target.clone()],
                None => self.locations.iter().filter(|l| l.location_id != from).cloned().collect(),
            };
            let plan = sourcing::plan(&demands, &candidates, &self.availability, self.strategy);
            if !back_order && plan.back_ordered() > 0 {
                let short: Vec<String> = plan
                    .lines
                    .iter()
                    .filter(|l| l.back_ordered > 0)
                    .map(|l| format!("{} units of {}", l.back_ordered, l.item_id))
                    .collect();
                let place =
                    target.map_or_else(|| "no other location".to_string(), |t| format!("location {}", t.location_id));
                return Err(OmsError::Conflict(format!(
                    "{place} can take {} of allocation {}; nothing was moved",
                    short.join(", "),
                    group[0].source
                )));
            }
            for (m, line) in group.iter().zip(&plan.lines) {
                for pick in &line.picks {
                    let left = self.availability.get(&pick.location_id, &line.item_id).unwrap_or(0);
                    self.availability.set(&pick.location_id, &line.item_id, left - i64::from(pick.quantity));
                    self.put(order, m, &pick.location_id, pick.quantity).await?;
                }
                if line.back_ordered > 0 {
                    back_ordered.push((line.line_id.clone(), line.back_ordered));
                    self.note(m, format!("{} units back ordered", line.back_ordered));
                }
            }
        }
        Ok(back_ordered)
    }

    fn source_of(&self, m: &Moving) -> OmsResult<&Allocation> {
        self.touched
            .get(&m.source)
            .map(|t| &t.read)
            .ok_or_else(|| OmsError::Internal(anyhow::anyhow!("moving units of untouched allocation {}", m.source)))
    }

    fn demand(&self, order: &Order, m: &Moving) -> OmsResult<Demand> {
        let item = self.source_of(m)?.item(m.line_number).ok_or_else(|| {
            OmsError::Internal(anyhow::anyhow!("allocation {} has no line {}", m.source, m.line_number))
        })?;
        let line = order.line(&item.order_line_id);
        Ok(Demand {
            line_id: item.order_line_id.clone(),
            item_id: item.item_id.clone(),
            quantity: m.units,
            delivery: line.map_or(DeliveryMethod::ShipToAddress, |l| l.delivery_method),
            destination: line.and_then(|l| l.ship_to.as_ref()).and_then(|a| a.coordinates()),
            pickup_location: line.and_then(|l| l.pickup_location_id.clone()),
        })
    }

    /// Puts `units` of the moving line in the order's allocation at `location`.
    async fn put(&mut self, order: &Order, m: &Moving, location: &LocationId, units: u32) -> OmsResult<()> {
        let source = self.source_of(m)?.clone();
        let Some(from) = source.item(m.line_number).cloned() else { return Ok(()) };
        let request = self.request_id.clone();
        let reason = m.reason.as_deref();
        let now = self.deps.clock.now();
        let destination = self.destination(order, location).await?;
        let into = match destination {
            Destination::Touched(id) => {
                let t = self.touched.get_mut(&id).expect("a touched document");
                let item = from.moved(t.next.next_line_number(), units, Some(&request), reason);
                t.entries.push(
                    AuditLog::new(AuditType::Reallocate, self.user, now, self.source)
                        .for_item(&item, units)
                        .reason(reason)
                        .note(format!("moved in from allocation {} line {}", m.source, m.line_number)),
                );
                t.next.items.push(item);
                id
            }
            Destination::Created(index) => {
                let doc = &mut self.created[index];
                let item = from.moved(doc.next_line_number(), units, Some(&request), reason);
                doc.items.push(item);
                doc.allocation_id.clone()
            }
            Destination::New => {
                let line = order.line(&from.order_line_id);
                let mut doc = new_document(self.deps, order, line, location, &self.by_id, Some(&source))?;
                doc.items.push(from.moved(1, units, Some(&request), reason));
                let id = doc.allocation_id.clone();
                self.created.push(doc);
                id
            }
        };
        self.note(m, format!("{units} units moved to allocation {into} at {location}"));
        Ok(())
    }

    /// Adds `note` to the entry that took the moving units out of their line.
    fn note(&mut self, m: &Moving, note: String) {
        let Some(t) = self.touched.get_mut(&m.source) else { return };
        let prefix = format!("{}-{}-", t.next.allocation_id, t.next.version);
        let bumped = t.next.version != t.read.version;
        let entries = t
            .entries
            .iter_mut()
            .chain(t.next.audit_logs.iter_mut().filter(|e| bumped && e.audit_id.starts_with(&prefix)));
        let taken = entries.filter(|e| matches!(e.audit_type, AuditType::Reallocate | AuditType::Scratch)).find(|e| {
            e.line_item_number == Some(m.line_number) && e.note.as_deref().is_none_or(|n| !n.starts_with("moved in"))
        });
        if let Some(entry) = taken {
            entry.note = Some(match entry.note.take() {
                Some(before) => format!("{before}; {note}"),
                None => note,
            });
        }
    }

    /// The allocation of `order` at `location` that takes moved units.
    async fn destination(&mut self, order: &Order, location: &LocationId) -> OmsResult<Destination> {
        let takes = |doc: &Allocation| {
            doc.order_number == order.order_id
                && &doc.location_num == location
                && doc.status_code.is_live()
                && doc.pending_operation.is_none()
                && doc.allocation_type == crate::domain::allocation::AllocationType::Allocated
        };
        if let Some((id, _)) = self.touched.iter().find(|(_, t)| takes(&t.next)) {
            return Ok(Destination::Touched(id.clone()));
        }
        if let Some(index) = self.created.iter().position(&takes) {
            return Ok(Destination::Created(index));
        }
        if !self.of_order.contains_key(&order.order_id) {
            let live = allocations_of_order(self.deps, self.tenant, &order.order_id).await?;
            self.of_order.insert(order.order_id.clone(), live);
        }
        let existing = self.of_order[&order.order_id].iter().find(|d| takes(d)).cloned();
        if let Some(doc) = existing {
            let id = doc.allocation_id.clone();
            self.touch(doc.clone(), doc);
            return Ok(Destination::Touched(id));
        }
        Ok(Destination::New)
    }

    /// The documents to write: each touched one that changed at its next version, with its
    /// entries; a document whose units were moved out, left holding nothing it did not ship, is
    /// REALLOCATED. And the new ones.
    pub fn finish(self) -> (Vec<Rewrite>, Vec<Allocation>) {
        let now = self.deps.clock.now();
        let mut rewrites = Vec::new();
        for (_, mut t) in self.touched {
            let moved_out = t.next.items.iter().any(|i| {
                t.read.item(i.allocation_line_number).is_some_and(|r| i.reallocated_quantity > r.reallocated_quantity)
            });
            let shipped: u32 = t.next.items.iter().map(|i| i.shipped_quantity).sum();
            if moved_out && t.next.units() == 0 && shipped == 0 && t.next.status_code.is_live() {
                let status = crate::domain::allocation::AllocationStatus::Reallocated;
                if let Some(first) = t.entries.first_mut() {
                    first.changed("statusCode", serde_json::json!(t.next.status_code), serde_json::json!(status));
                }
                t.next.status_code = status;
            }
            if t.next.version == t.read.version {
                if t.next == t.read && t.entries.is_empty() {
                    continue;
                }
                t.next = t.next.changed(t.entries, now);
            } else if !t.entries.is_empty() {
                t.next.record(t.entries);
            }
            rewrites.push(Rewrite { read: t.read, next: t.next });
        }
        (rewrites, self.created)
    }
}

enum Destination {
    Touched(AllocationId),
    Created(usize),
    New,
}
