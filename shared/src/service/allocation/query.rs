//! `POST /allocation/query` and `GET /allocation/explain/{orderId}`: reading allocations.

use std::collections::BTreeSet;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Allocation, Deps, Index, ItemId, OmsError, OmsResult, Order, OrderId, Query, TenantId, all_allocation_items,
    demands, inventory, keys, live_allocations_of_order, orders, query_all, read_allocation, read_availability,
    settings,
};
use crate::domain::sourcing::{self, Explanation};

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueryRequest {
    /// 10 when left out.
    #[schema(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    #[schema(minimum = 0)]
    pub offset: Option<i64>,
    /// `updatedAt` when left out.
    #[schema(schema_with = sort_by_schema)]
    pub sort_by: Option<String>,
    /// `desc` when left out; any case.
    #[schema(schema_with = sort_direction_schema)]
    pub sort_direction: Option<String>,
    /// Fields an allocation must have, shaped like an allocation (e.g. `{"orderNumber": "O-1"}`).
    #[schema(value_type = Option<Object>)]
    pub filters: Option<Value>,
}

fn sort_by_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(SORTABLE.iter().copied()))
        .build()
}

fn sort_direction_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(["asc", "desc"]))
        .build()
}

const SORTABLE: &[&str] = &["updatedAt", "allocationDate", "allocationId", "locationNum", "statusCode", "orderNumber"];
const MAX_LIMIT: i64 = 100;

/// True when `doc` has every field of `filter` (objects match recursively, arrays match
/// when some element matches each filter element).
fn matches(doc: &Value, filter: &Value) -> bool {
    match (doc, filter) {
        (_, Value::Object(fields)) => fields.iter().all(|(k, f)| doc.get(k).is_some_and(|d| matches(d, f))),
        (Value::Array(elements), Value::Array(wanted)) => wanted.iter().all(|w| elements.iter().any(|e| matches(e, w))),
        (Value::Array(elements), wanted) => elements.iter().any(|e| matches(e, wanted)),
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::String(a), Value::Number(b)) | (Value::Number(b), Value::String(a)) => *a == b.to_string(),
        (a, b) => a == b,
    }
}

/// `POST /allocation/query`: the tenant's allocations matching `filters`, from the tenant's
/// index partitions (by order when `filters.orderNumber` is given), never a table scan.
pub async fn query(deps: &Deps, tenant: &TenantId, req: &QueryRequest) -> OmsResult<Vec<Allocation>> {
    let limit = req.limit.unwrap_or(10);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(OmsError::validation("limit", format!("must be between 1 and {MAX_LIMIT}")));
    }
    let offset = req.offset.unwrap_or(0);
    if offset < 0 {
        return Err(OmsError::validation("offset", "must be 0 or more"));
    }
    let sort_by = req.sort_by.as_deref().unwrap_or("updatedAt");
    if !SORTABLE.contains(&sort_by) {
        return Err(OmsError::validation("sortBy", format!("must be one of {}", SORTABLE.join(", "))));
    }
    let descending = match req.sort_direction.as_deref().unwrap_or("desc") {
        d if d.eq_ignore_ascii_case("desc") => true,
        d if d.eq_ignore_ascii_case("asc") => false,
        other => return Err(OmsError::validation("sortDirection", format!("must be asc or desc, got {other:?}"))),
    };
    let filters = match &req.filters {
        None => json!({}),
        Some(f @ Value::Object(_)) => {
            crate::domain::limits::check_free_form("filters", f)?;
            f.clone()
        }
        Some(_) => return Err(OmsError::validation("filters", "must be an object shaped like an allocation")),
    };
    let items = match filters.get("orderNumber").and_then(Value::as_str) {
        Some(order) => {
            let of_order = keys::allocations_of_order(tenant, &OrderId::parse_at("filters.orderNumber", order)?);
            query_all(deps, Query::partition(of_order).on(Index::Gsi2)).await?
        }
        None => all_allocation_items(deps, tenant).await?,
    };
    let mut docs: Vec<(Value, Allocation)> = Vec::new();
    for item in items {
        let doc = read_allocation(item)?;
        let value = serde_json::to_value(&doc).map_err(|e| OmsError::Internal(e.into()))?;
        if matches(&value, &filters) {
            docs.push((value, doc));
        }
    }
    docs.sort_by(|(a, _), (b, _)| {
        let key = |v: &Value| v.get(sort_by).map(|x| x.to_string()).unwrap_or_default();
        let order = key(a).cmp(&key(b)).then_with(|| key_id(a).cmp(&key_id(b)));
        if descending { order.reverse() } else { order }
    });
    let page: Vec<Allocation> = docs.into_iter().skip(offset as usize).take(limit as usize).map(|(_, d)| d).collect();
    if page.is_empty() {
        return Err(OmsError::not_found("no allocation matches the filters"));
    }
    Ok(page)
}

fn key_id(v: &Value) -> String {
    v.get("allocationId").and_then(Value::as_str).unwrap_or_default().to_owned()
}

// ------------------------------------------------------------------------------------------
// Explain
// ------------------------------------------------------------------------------------------

/// Why each outstanding unit of an order goes (or would go) where it does.
pub async fn explain(
    deps: &Deps,
    tenant: &TenantId,
    order_id: &str,
) -> OmsResult<(Order, Explanation, Vec<Allocation>)> {
    let order_id = OrderId::parse_at("orderId", order_id)?;
    let order = orders::load_order(deps, tenant, &order_id)
        .await?
        .ok_or_else(|| OmsError::order_not_found(order_id.as_str()))?;
    let demands = demands(&order);
    let items: BTreeSet<ItemId> = demands.iter().map(|d| d.item_id.clone()).collect();
    let (availability, _, _) = read_availability(deps, tenant, &items).await?;
    let locations = inventory::list_locations(deps, tenant).await?;
    let strategy = settings(deps, tenant).await?.strategy;
    let explanation = sourcing::explain(&demands, &locations, &availability, strategy);
    let live = live_allocations_of_order(deps, tenant, &order_id).await?;
    Ok((order, explanation, live))
}
