//! Order type configurations and message templates: stored per tenant, validated when saved,
//! read on every change of an order of that type.

use serde::Serialize;

use crate::deps::Deps;
use crate::domain::caller::Caller;
use crate::domain::ids::TenantId;
use crate::domain::lifecycle::config::{OrderTypeConfig, OrderTypeConfigRequest, default_config};
use crate::domain::lifecycle::messages::{
    self, Channel, MessageTemplate, MessageTemplateRequest, base_template, base_templates,
};
use crate::error::{OmsError, OmsResult};
use crate::keys;
use crate::ports::{Condition, Key, Query, SkRange, StoreError};
use crate::service::commit;
use crate::store::{self, entity};

/// An order type's configuration as the API answers it: stored, or the built-in default.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase")]
pub struct OrderTypeView {
    #[serde(flatten)]
    pub config: OrderTypeConfig,
    /// True when the order type has no configuration of its own and uses the built-in one.
    pub is_default: bool,
}

/// The configuration orders of `order_type_id` follow: the stored one, else the default.
pub async fn config_for(deps: &Deps, tenant: &TenantId, order_type_id: &str) -> OmsResult<OrderTypeConfig> {
    Ok(stored_config(deps, tenant, order_type_id).await?.unwrap_or_else(|| default_config(order_type_id)))
}

async fn stored_config(deps: &Deps, tenant: &TenantId, order_type_id: &str) -> OmsResult<Option<OrderTypeConfig>> {
    match deps.store.get(&keys::order_type(tenant, order_type_id)).await? {
        Some(item) => Ok(Some(entity::from_item(item, &[])?)),
        None => Ok(None),
    }
}

/// `GET /order/api/order/orderType/{OrderTypeId}`.
pub async fn get_order_type(deps: &Deps, tenant: &TenantId, order_type_id: &str) -> OmsResult<OrderTypeView> {
    let id = order_type_id.trim();
    if id.is_empty() {
        return Err(OmsError::validation("OrderTypeId", "must not be blank"));
    }
    Ok(match stored_config(deps, tenant, id).await? {
        Some(config) => OrderTypeView { config, is_default: false },
        None => OrderTypeView { config: default_config(id), is_default: true },
    })
}

/// `GET /order/api/order/orderType`: every configured order type, by id.
pub async fn list_order_types(deps: &Deps, tenant: &TenantId) -> OmsResult<Vec<OrderTypeConfig>> {
    let query = Query::partition(keys::order_config_partition(tenant))
        .sk(SkRange::BeginsWith(keys::ORDER_TYPE_PREFIX.to_owned()));
    store::query_all(deps.store.as_ref(), query).await?.into_iter().map(|item| entity::from_item(item, &[])).collect()
}

/// `PUT /order/api/order/orderType/{OrderTypeId}`: validates and stores the configuration. A
/// `Version` must equal the stored one; the email and text messages it names must exist.
pub async fn put_order_type(
    deps: &Deps,
    caller: &Caller,
    order_type_id: &str,
    req: &OrderTypeConfigRequest,
) -> OmsResult<OrderTypeConfig> {
    let (mut config, sent_version) = req.parse(order_type_id)?;
    for (i, rule) in config.mod_types.iter().enumerate() {
        for (channel, ids, list) in [
            (Channel::Email, &rule.email_messages, "EmailMessages"),
            (Channel::Text, &rule.text_messages, "TextMessages"),
        ] {
            for (j, id) in ids.iter().enumerate() {
                if template(deps, &caller.tenant, channel, id).await?.is_none() {
                    return Err(OmsError::validation(
                        format!("ModTypes[{i}].{list}[{j}]"),
                        format!(
                            "no {} message template {id}; save it first with PUT /order/api/order/messageTemplate/{id}",
                            channel.id()
                        ),
                    ));
                }
            }
        }
    }
    let stored = stored_config(deps, &caller.tenant, &config.order_type_id).await?;
    let current = stored.as_ref().map_or(0, |c| c.version);
    if let Some(sent) = sent_version
        && sent != current
    {
        return Err(OmsError::Conflict(format!(
            "order type {} is at version {current}, not {sent}; read it again and retry",
            config.order_type_id
        )));
    }
    config.version = current + 1;
    config.updated_timestamp = Some(deps.clock.now());
    config.updated_by = Some(caller.user.to_string());
    let key = keys::order_type(&caller.tenant, &config.order_type_id);
    put_next_version(deps, &key, &config, current, &format!("order type {}", config.order_type_id)).await?;
    Ok(config)
}

/// Stores `entity` at `key` as the version after `current` (created when `current` is 0),
/// 409 when another write got there first.
async fn put_next_version<T: Serialize>(deps: &Deps, key: &Key, entity: &T, current: u64, what: &str) -> OmsResult<()> {
    let guard = if current == 0 { Condition::NotExists } else { Condition::version_is(current) };
    match commit::put(deps, entity::to_item(key, entity, current + 1, &[])?, Some(guard)).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed) => Err(OmsError::Conflict(format!("{what} changed meanwhile; retry"))),
        Err(e) => Err(e.into()),
    }
}

/// A message template of `channel`: a base one, else the tenant's own.
pub async fn template(
    deps: &Deps,
    tenant: &TenantId,
    channel: Channel,
    id: &str,
) -> OmsResult<Option<MessageTemplate>> {
    if let Some(base) = base_template(channel, id) {
        return Ok(Some(base));
    }
    Ok(stored_template(deps, tenant, id).await?.filter(|t| t.channel == channel))
}

async fn stored_template(deps: &Deps, tenant: &TenantId, id: &str) -> OmsResult<Option<MessageTemplate>> {
    match deps.store.get(&keys::message_template(tenant, id)).await? {
        Some(item) => Ok(Some(entity::from_item(item, &[])?)),
        None => Ok(None),
    }
}

/// `GET /order/api/order/messageTemplate/{TemplateId}`: a base template or the tenant's own.
pub async fn get_template(deps: &Deps, tenant: &TenantId, id: &str) -> OmsResult<MessageTemplate> {
    let id = messages::check_template_id("TemplateId", id)?;
    if let Some(base) = Channel::ALL.into_iter().find_map(|c| base_template(c, &id)) {
        return Ok(base);
    }
    stored_template(deps, tenant, &id).await?.ok_or_else(|| OmsError::not_found(format!("no message template {id}")))
}

/// `GET /order/api/order/messageTemplate`: the base templates, then the tenant's own.
pub async fn list_templates(deps: &Deps, tenant: &TenantId) -> OmsResult<Vec<MessageTemplate>> {
    let query = Query::partition(keys::order_config_partition(tenant))
        .sk(SkRange::BeginsWith(keys::MESSAGE_TEMPLATE_PREFIX.to_owned()));
    let mut all = base_templates();
    for item in store::query_all(deps.store.as_ref(), query).await? {
        all.push(entity::from_item(item, &[])?);
    }
    Ok(all)
}

/// `PUT /order/api/order/messageTemplate/{TemplateId}`: a custom template, refused when it does
/// not render against the sample order (so it cannot fail when sent).
pub async fn put_template(
    deps: &Deps,
    tenant: &TenantId,
    id: &str,
    req: &MessageTemplateRequest,
) -> OmsResult<MessageTemplate> {
    let mut template = req.parse(id)?;
    let stored = stored_template(deps, tenant, &template.template_id).await?;
    let current = stored.as_ref().map_or(0, |t| t.version);
    if let Some(sent) = req.version
        && sent != current
    {
        return Err(OmsError::Conflict(format!(
            "message template {} is at version {current}, not {sent}; read it again and retry",
            template.template_id
        )));
    }
    template.version = current + 1;
    let key = keys::message_template(tenant, &template.template_id);
    put_next_version(deps, &key, &template, current, &format!("message template {}", template.template_id)).await?;
    Ok(template)
}
