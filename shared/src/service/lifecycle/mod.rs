//! The order lifecycle (seed 003): order type configurations and message templates, the
//! effects every change of an order sets off, cancel, release, and the order pipeline that runs
//! an order's next step when its configuration asks for it.

pub mod cancel;
pub mod config;
pub mod effects;
pub mod release;

use crate::deps::Deps;
use crate::domain::caller::Caller;
use crate::domain::ids::UserId;
use crate::domain::order::Order;
use crate::domain::status::FulfillmentStatus;
use crate::error::{OmsError, OmsResult};
use crate::ports::WriteOp;
use crate::service::outbox::OutboxMessage;
use crate::service::{allocation, change_tracker, orders};

pub use effects::{Effects, PipelineMessage, Units};
pub use release::{Release, Released, release_order};

/// What commits with a change of an order, besides the order itself: its outbox records, the
/// change-tracker record first, then what its order type's configuration publishes.
pub(crate) struct Recorded {
    pub writes: Vec<WriteOp>,
    pub messages: Vec<OutboxMessage>,
    /// The modification types the change made.
    pub mod_types: Vec<&'static str>,
}

/// Runs the change from `before` to `after` through the configuration of `after`'s order type
/// ([`effects::apply`]: rules, services, the audit entry on `after`) and records what it sets
/// off, with the change-tracker record.
pub(crate) async fn record_change(
    deps: &Deps,
    before: Option<&Order>,
    after: &mut Order,
    units: Units,
    source: &str,
) -> OmsResult<Recorded> {
    let tenant = after.org_id.clone();
    crate::service::milestones::register_tenant(deps, &tenant).await?;
    let config = config::config_for(deps, &tenant, &after.order_type_id).await?;
    let effects = effects::apply(deps, &config, before, after, units, source).await?;
    let mod_types = effects.mod_type_ids();
    let (tracker, message) = change_tracker::outbox_record(deps, &tenant, &after.order_id);
    let (published, sent) = effects.into_writes(deps, &tenant);
    Ok(Recorded {
        writes: std::iter::once(tracker).chain(published).collect(),
        messages: std::iter::once(message).chain(sent).collect(),
        mod_types,
    })
}

/// The user the pipeline's changes are recorded under.
pub const PIPELINE_USER: &str = "order-pipeline";

/// Runs the next step of each order of the message: allocates open units (and back ordered
/// ones when asked to allocate again), then releases what is allocated if the order may be
/// released. Repeating a message does nothing more: allocated units are not allocated twice,
/// released ones not released twice. An order that no longer exists, or whose items are not
/// stocked anywhere, is skipped with a log line; a conflict fails the message so it is retried.
pub async fn run_pipeline(deps: &Deps, message: &PipelineMessage) -> OmsResult<()> {
    let user = UserId::parse_at("user", PIPELINE_USER)?;
    let caller = Caller::for_job(message.tenant.clone(), user.clone());
    for order_id in &message.order_ids {
        let Some(order) = orders::load_order(deps, &message.tenant, order_id).await? else {
            tracing::info!(order_id = %order_id, "pipeline: order is gone; skipped");
            continue;
        };
        let waiting = order.lines.iter().filter(|l| !l.is_return).any(|l| {
            l.quantity_at(FulfillmentStatus::Open) > 0
                || (message.reallocate && l.quantity_at(FulfillmentStatus::BackOrdered) > 0)
        });
        if waiting {
            match allocation::allocate_order(deps, &caller, order_id, None).await {
                Ok(outcome) => {
                    tracing::info!(order_id = %order_id, allocated = outcome.allocated, back_ordered = outcome.back_ordered, "pipeline: allocated")
                }
                Err(OmsError::NotFound { message, .. } | OmsError::Validation { message, .. }) => {
                    tracing::warn!(order_id = %order_id, %message, "pipeline: not allocated");
                }
                Err(e) => return Err(e),
            }
        }
        match release_order(deps, &message.tenant, &user, order_id).await? {
            Released::Done(releases) => {
                tracing::info!(order_id = %order_id, releases = releases.len(), "pipeline: released")
            }
            Released::Blocked(why) => tracing::info!(order_id = %order_id, %why, "pipeline: not released"),
        }
    }
    Ok(())
}
