//! Building the order to store from a draft and the stored order: lines merge by id, and
//! Save Order owns no status past Open.

use super::*;

// ---------------------------------------------------------------------------------------------
// Building and merging.
// ---------------------------------------------------------------------------------------------

impl Order {
    /// Parses `req` and builds the order to store.
    ///
    /// - New order (`previous` is `None`): version 1, created = updated = `now`/`user`.
    /// - Update: version = previous + 1; created_* kept, updated_* = `now`/`user`. A `Version`
    ///   in the request must equal the stored one (else `Conflict`). Header fields the request
    ///   leaves out (IsConfirmed, IsImport, DoNotReleaseBefore, CurrencyCode, Payment, Invoice,
    ///   OrderChargeDetail, PickupPerson, PaymentStatus) keep their stored values; lists that are sent replace
    ///   the stored lists.
    /// - Lines merge by OrderLineId: stored lines the request omits are kept unchanged; new lines
    ///   are appended. A line without QuantityDetail starts all Open; an existing one keeps its
    ///   per-status quantities while its Quantity is unchanged, and may change Quantity only
    ///   while every unit is Open (else `NotPermitted` ord::10008).
    /// - The resulting order must have at least one line.
    ///
    /// Created/Updated timestamps and users in the payload are never read.
    pub fn from_request(
        req: &SaveOrderRequest,
        tenant: &TenantId,
        user: &UserId,
        now: DateTime<Utc>,
        previous: Option<&Order>,
    ) -> Result<Order, OmsError> {
        Self::from_draft(req.parse()?, tenant, user, now, previous)
    }

    /// As [`Order::from_request`], for a request already parsed.
    pub fn from_draft(
        draft: OrderDraft,
        tenant: &TenantId,
        user: &UserId,
        now: DateTime<Utc>,
        previous: Option<&Order>,
    ) -> Result<Order, OmsError> {
        if let Some(prev) = previous {
            if prev.order_id != draft.order_id || prev.org_id != *tenant {
                return Err(OmsError::Internal(anyhow::anyhow!(
                    "order {}/{} merged with stored order {}/{}",
                    tenant,
                    draft.order_id,
                    prev.org_id,
                    prev.order_id
                )));
            }
            if let Some(sent) = draft.version
                && sent != prev.version
            {
                return Err(OmsError::Conflict(format!(
                    "Order {} is at version {}, not {sent}; read it again and retry",
                    prev.order_id, prev.version
                )));
            }
        }

        let lines = merge_lines(draft.lines, previous.map(|p| p.lines.as_slice()))?;
        if lines.len() > limits::MAX_ORDER_LINES {
            return Err(OmsError::validation(
                "OrderLine",
                format!(
                    "the order would hold {} lines with the stored ones; at most {} are accepted",
                    lines.len(),
                    limits::MAX_ORDER_LINES
                ),
            ));
        }
        if lines.is_empty() {
            return Err(OmsError::validation("OrderLine", "at least one order line is required"));
        }

        Ok(Order {
            org_id: tenant.clone(),
            order_id: draft.order_id,
            version: previous.map_or(1, |p| p.version + 1),
            order_type_id: draft.order_type_id,
            is_confirmed: draft.is_confirmed.or(previous.map(|p| p.is_confirmed)).unwrap_or(false),
            is_import: draft.is_import.or(previous.map(|p| p.is_import)).unwrap_or(false),
            do_not_release_before: draft
                .do_not_release_before
                .or_else(|| previous.and_then(|p| p.do_not_release_before)),
            currency_code: draft
                .currency_code
                .or_else(|| previous.map(|p| p.currency_code.clone()))
                .unwrap_or_else(|| DEFAULT_CURRENCY.to_owned()),
            lines,
            payments: draft.payments.or_else(|| previous.map(|p| p.payments.clone())).unwrap_or_default(),
            invoices: draft.invoices.or_else(|| previous.map(|p| p.invoices.clone())).unwrap_or_default(),
            charges: draft.charges.or_else(|| previous.map(|p| p.charges.clone())).unwrap_or_default(),
            pickup_persons: draft
                .pickup_persons
                .or_else(|| previous.map(|p| p.pickup_persons.clone()))
                .unwrap_or_default(),
            payment_status: draft.payment_status.or_else(|| previous.and_then(|p| p.payment_status.clone())),
            holds: merge_holds(draft.holds, previous.map_or(&[][..], |p| p.holds.as_slice()), user, now)?,
            audits: previous.map(|p| p.audits.clone()).unwrap_or_default(),
            release_count: previous.map_or(0, |p| p.release_count),
            milestones: previous.map(|p| p.milestones.clone()).unwrap_or_default(),
            monitoring_events: previous.map(|p| p.monitoring_events.clone()).unwrap_or_default(),
            milestone_check_at: previous.and_then(|p| p.milestone_check_at),
            created_timestamp: previous.map_or(now, |p| p.created_timestamp),
            updated_timestamp: now,
            created_by: previous.map_or_else(|| user.clone(), |p| p.created_by.clone()),
            updated_by: user.clone(),
        })
    }

    /// Whether a hold that stops the order is applied.
    pub fn is_on_hold(&self) -> bool {
        self.holds.iter().any(|h| h.status_id == HoldStatus::Applied)
    }

    /// Appends the audit entry of the change that wrote this version, dropping the oldest beyond
    /// the most kept.
    pub fn record_audit(&mut self, source: &str, mod_types: Vec<AuditModType>) {
        self.audits.push(OrderAudit {
            version: self.version,
            updated_by: self.updated_by.clone(),
            updated_timestamp: self.updated_timestamp,
            source: source.to_owned(),
            mod_types,
        });
        let over = self.audits.len().saturating_sub(limits::MAX_ORDER_AUDITS);
        self.audits.drain(..over);
    }

    /// Records a change made by the system (e.g. allocation): bumps version and updated_*.
    pub fn touch(&mut self, user: &UserId, now: DateTime<Utc>) {
        self.version += 1;
        self.updated_timestamp = now;
        self.updated_by = user.clone();
    }

    pub fn line(&self, id: &OrderLineId) -> Option<&OrderLine> {
        self.lines.iter().find(|l| l.order_line_id == *id)
    }

    pub fn line_mut(&mut self, id: &OrderLineId) -> Option<&mut OrderLine> {
        self.lines.iter_mut().find(|l| l.order_line_id == *id)
    }

    /// Minimum status over all units of all lines; see [`min_max_status`].
    pub fn min_status(&self) -> Option<FulfillmentStatus> {
        self.status_range().map(|(min, _)| min)
    }

    /// Maximum status over all units of all lines; see [`min_max_status`].
    pub fn max_status(&self) -> Option<FulfillmentStatus> {
        self.status_range().map(|(_, max)| max)
    }

    /// The minimum and maximum status over all units of all lines; see [`min_max_status`].
    pub fn status_range(&self) -> Option<(FulfillmentStatus, FulfillmentStatus)> {
        min_max_status(self.lines.iter().flat_map(|l| l.quantities.iter().map(|(s, q)| (*s, *q))))
    }

    /// The order total, kept simple:
    /// `sum over non-return lines of (Quantity - canceled units) * UnitPrice`
    /// `+ ChargeTotal of every charge that is neither Discount nor WriteOff`
    /// `- ChargeTotal of Discount charges`, floored at zero. WriteOff charges only settle the
    /// order summary and never change what the customer owes. Tax is not modelled.
    pub fn order_total(&self) -> Decimal {
        let lines = self.lines.iter().filter(|l| !l.is_return).fold(Decimal::ZERO, |sum, l| {
            sum.saturating_add(Decimal::from(l.billable_quantity()).saturating_mul(l.unit_price))
        });
        let total = self.charges.iter().fold(lines, |sum, c| {
            if c.is_discount() {
                sum.saturating_sub(c.charge_total)
            } else if c.is_write_off() {
                sum
            } else {
                sum.saturating_add(c.charge_total)
            }
        });
        total.max(Decimal::ZERO)
    }

    /// A description of where the order is: the status name when all counted units agree,
    /// else "Partially <max status>" (e.g. "Partially Allocated").
    pub fn fulfillment_status_description(&self) -> Option<String> {
        let (min, max) = self.status_range()?;
        Some(if min == max { max.description().to_owned() } else { format!("Partially {}", max.description()) })
    }
}

/// Merges request lines into the stored ones by id: stored order first, new lines appended.
fn merge_lines(drafts: Vec<LineDraft>, previous: Option<&[OrderLine]>) -> Result<Vec<OrderLine>, OmsError> {
    let previous = previous.unwrap_or_default();
    let mut by_id: HashMap<OrderLineId, LineDraft> = HashMap::with_capacity(drafts.len());
    let mut new_ids = Vec::new();
    for draft in drafts {
        if !previous.iter().any(|p| p.order_line_id == draft.order_line_id) {
            new_ids.push(draft.order_line_id.clone());
        }
        by_id.insert(draft.order_line_id.clone(), draft);
    }
    let mut lines = Vec::with_capacity(previous.len() + new_ids.len());
    for prev in previous {
        match by_id.remove(&prev.order_line_id) {
            Some(draft) => lines.push(build_line(draft, Some(prev))?),
            None => lines.push(prev.clone()),
        }
    }
    for id in new_ids {
        if let Some(draft) = by_id.remove(&id) {
            lines.push(build_line(draft, None)?);
        }
    }
    Ok(lines)
}

/// The line Save Order stores for `draft`. Save Order owns no status past Open: new units start
/// Open and units past Open keep their status. A line with units past Open keeps its item and
/// return flag; a quantity cut takes Open units first, then back ordered, then allocated ones
/// (their reservations are released with the change), never released, fulfilled or canceled
/// ones. Whether a delivery method or address may change past Open is the order type
/// configuration's call (see `service::lifecycle`).
fn build_line(draft: LineDraft, previous: Option<&OrderLine>) -> Result<OrderLine, OmsError> {
    let committed = previous.filter(|p| p.quantities.keys().any(|s| *s != FulfillmentStatus::Open));
    if let Some(prev) = committed {
        let changed = [("ItemId", prev.item_id != draft.item_id), ("IsReturn", prev.is_return != draft.is_return)];
        if let Some((field, _)) = changed.iter().find(|(_, changed)| *changed) {
            return Err(not_permitted_past_open(prev, &format!("{field} cannot change while units are past Open")));
        }
    }
    let quantities = match previous {
        Some(prev) => resized(prev, draft.quantity)?,
        None => BTreeMap::from([(FulfillmentStatus::Open, draft.quantity)]),
    };
    if let Some(detail) = &draft.quantity_detail
        && detail.quantities != quantities
    {
        if let Some(prev) = committed {
            return Err(not_permitted_past_open(
                prev,
                "QuantityDetail changes only through allocation, release, shipping and cancel",
            ));
        }
        let (status, row) = detail
            .rows
            .iter()
            .find(|(status, _)| **status != FulfillmentStatus::Open)
            .map_or((FulfillmentStatus::Open, 0), |(status, row)| (*status, *row));
        return Err(OmsError::validation(
            format!("{}.QuantityDetail[{row}].StatusId", draft.path),
            format!(
                "Save Order cannot put units in status {status} ({}): new units start Open (1000), and only allocation, release, shipping and cancel move them",
                status.description()
            ),
        ));
    }
    Ok(OrderLine {
        order_line_id: draft.order_line_id,
        item_id: draft.item_id,
        quantity: draft.quantity,
        unit_price: draft.unit_price,
        item_description: draft.item_description,
        uom: draft.uom,
        is_return: draft.is_return,
        delivery_method: draft.delivery_method,
        ship_to: draft.ship_to,
        pickup_location_id: draft.pickup_location_id,
        quantities,
        cancel_reason_id: previous.and_then(|p| p.cancel_reason_id.clone()),
    })
}

/// The stored line's units for a new quantity: more units start Open; fewer take Open units
/// first, then back ordered, then allocated ones.
fn resized(prev: &OrderLine, quantity: u32) -> Result<BTreeMap<FulfillmentStatus, u32>, OmsError> {
    let mut line = prev.clone();
    if quantity >= prev.quantity {
        *line.quantities.entry(FulfillmentStatus::Open).or_insert(0) += quantity - prev.quantity;
        line.quantities.retain(|_, q| *q > 0);
        return Ok(line.quantities);
    }
    let mut cut = prev.quantity - quantity;
    for status in [FulfillmentStatus::Open, FulfillmentStatus::BackOrdered, FulfillmentStatus::Allocated] {
        let units = cut.min(line.quantity_at(status));
        if units > 0 {
            let left = line.quantity_at(status) - units;
            if left == 0 {
                line.quantities.remove(&status);
            } else {
                line.quantities.insert(status, left);
            }
            cut -= units;
        }
    }
    if cut > 0 {
        return Err(not_permitted_past_open(
            prev,
            &format!(
                "Quantity cannot drop to {quantity}: {} units are released, fulfilled or canceled",
                prev.quantity_at(FulfillmentStatus::Released)
                    + prev.quantity_at(FulfillmentStatus::Fulfilled)
                    + prev.quantity_at(FulfillmentStatus::Canceled)
            ),
        ));
    }
    Ok(line.quantities)
}

/// Stored holds with the request's applied or resolved: a new or re-applied hold is stamped
/// applied now, a resolved one resolved now; resolving a hold that is not applied is refused.
fn merge_holds(
    drafts: Vec<HoldDraft>,
    previous: &[Hold],
    user: &UserId,
    now: DateTime<Utc>,
) -> Result<Vec<Hold>, OmsError> {
    let applied = |hold_type_id: String| Hold {
        hold_type_id,
        status_id: HoldStatus::Applied,
        resolve_reason_id: None,
        applied_timestamp: now,
        applied_by: user.clone(),
        resolved_timestamp: None,
        resolved_by: None,
    };
    let mut holds = previous.to_vec();
    for draft in drafts {
        let stored = holds.iter_mut().find(|h| h.hold_type_id == draft.hold_type_id);
        match (stored, draft.status) {
            (Some(h), HoldStatus::Applied) if h.status_id == HoldStatus::Applied => {}
            (Some(h), HoldStatus::Applied) => *h = applied(draft.hold_type_id),
            (Some(h), HoldStatus::Resolved) if h.status_id == HoldStatus::Resolved => {}
            (Some(h), HoldStatus::Resolved) => {
                h.status_id = HoldStatus::Resolved;
                h.resolve_reason_id = draft.resolve_reason_id;
                h.resolved_timestamp = Some(now);
                h.resolved_by = Some(user.clone());
            }
            (None, HoldStatus::Applied) => holds.push(applied(draft.hold_type_id)),
            (None, HoldStatus::Resolved) => {
                return Err(OmsError::validation(
                    format!("{}.StatusId", draft.path),
                    format!("no hold of type {} is applied to the order, so none can be resolved", draft.hold_type_id),
                ));
            }
        }
    }
    limits::check_count("Hold", holds.len(), limits::MAX_ORDER_HOLDS)?;
    Ok(holds)
}

/// ord::10008 for a line whose units are past Open, named by its furthest status.
fn not_permitted_past_open(line: &OrderLine, why: &str) -> OmsError {
    let status = line.max_status().unwrap_or(FulfillmentStatus::Open).description();
    OmsError::NotPermitted {
        code: LINE_MOD_NOT_PERMITTED,
        message: format!(
            "The requested order line modification is not permitted at status {status}: line {}: {why}",
            line.order_line_id
        ),
    }
}
