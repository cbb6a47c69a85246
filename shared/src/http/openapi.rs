//! The OpenAPI 3.1 document of every HTTP route of the catalog, built from the catalog (method,
//! path, permission, headers) and from the request and response types the handlers use.

use utoipa::ToSchema;
use utoipa::openapi::path::{Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HttpMethod, InfoBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required,
    ResponseBuilder, Responses,
};

use serde_json::{Value, json};

use crate::catalog::{self, Route};
use crate::domain::allocation::{Allocation, AllocationEventRequest, ReallocateRequest, UpdateAllocationRequest};
use crate::domain::inventory::SupplyRequest;
use crate::domain::job::JobExecutionView;
use crate::domain::lifecycle::config::{OrderTypeConfig, OrderTypeConfigRequest};
use crate::domain::lifecycle::messages::{MessageTemplate, MessageTemplateRequest};
use crate::domain::location::{LocationResponse, UpsertLocationRequest};
use crate::domain::order::SaveOrderRequest;
use crate::domain::order_view::OrderResponse;
use crate::http::allocation::{ExplainResponse, ReallocateResponse, ReconcileRequest};
use crate::http::envelope::{self, ErrorDetail, ManhattanError, ManhattanOk};
use crate::http::inventory::{AvailabilityResponse, SupplyResponse};
use crate::http::lifecycle::{ReleaseOrderRequest, ReleaseResponse};
use crate::service::allocation::{AllocationSettings, QueryRequest, SettingsRequest};
use crate::service::jobs::{ResultsPage, SearchRequest, StatusRequest};
use crate::service::lifecycle::cancel::CancelOrderRequest;
use crate::service::lifecycle::config::OrderTypeView;
use crate::service::mass_allocate::{MassActionAccepted, MassActionRequest};
use crate::service::reconcile::ReconcileReport;
use crate::service::schedules::TriggerRequest;
use crate::service::stock::{ShardCountRequest, StockShardsResponse};
use crate::service::troubleshooting::{LogLevelRequest, LoggerLevel};

/// Name of the bearer JWT security scheme every operation requires.
pub const SECURITY_SCHEME: &str = "bearerAuth";
/// The header that carries an idempotency key, as documented.
pub const IDEMPOTENCY_HEADER: &str = "Idempotency-Key";

/// The documented example of an allocation id.
const EXAMPLE_ALLOCATION_ID: &str = "633f216c68f1b4456659161c";

/// Named component schemas, collected while the operations refer to them.
#[derive(Default)]
struct Schemas(Vec<(String, RefOr<Schema>)>);

impl Schemas {
    /// A reference to `T`'s schema, registering it and every schema it refers to.
    fn of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let name = T::name().into_owned();
        self.named::<T>(&name)
    }

    /// As [`Schemas::of`] under a name of our own (for the generic envelope).
    fn named<T: ToSchema>(&mut self, name: &str) -> RefOr<Schema> {
        if !self.0.iter().any(|(known, _)| known == name) {
            self.0.push((name.to_owned(), T::schema()));
            T::schemas(&mut self.0);
        }
        Ref::from_schema_name(name).into()
    }

    fn list_of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        ArrayBuilder::new().items(self.of::<T>()).build().into()
    }

    /// Manhattan's envelope with `data` of type `T`, named `<name>Envelope`.
    fn envelope<T: ToSchema>(&mut self, name: &str) -> RefOr<Schema> {
        self.of::<T>();
        self.named::<ManhattanOk<T>>(&format!("{name}Envelope"))
    }
}

/// What the catalog does not say about a route: its summary, body and success responses.
struct RouteDoc {
    summary: &'static str,
    description: &'static str,
    /// The request body schema and whether a body is required.
    request: Option<(RefOr<Schema>, bool)>,
    /// A request body for the demo tenant's data (`oms-local` loads it).
    example: Option<Value>,
    success: Vec<(u16, &'static str, RefOr<Schema>)>,
    /// Whether the route can answer 404 (an id in the path, or a search that finds nothing).
    not_found: bool,
    /// Whether the route can answer 409 besides an Idempotency-Key in use (a stale version).
    conflict: bool,
}

fn route_doc(function: &str, s: &mut Schemas) -> Option<RouteDoc> {
    let doc = match function {
        "order-save" => RouteDoc {
            summary: "Save Order",
            description: "Creates the order or updates it (lines merge by OrderLineId; a Version must equal the stored one).",
            request: Some((s.of::<SaveOrderRequest>(), true)),
            example: Some(
                json!({"OrderId": "O-2001", "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": true, "OrderLine": [{"OrderLineId": "1", "ItemId": "SKU-1", "Quantity": 1, "UnitPrice": 19.99, "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"}, "ShipToAddress": {"Address": {"Address1": "1 Main St", "City": "Atlanta", "State": "GA", "PostalCode": "30303", "Country": "US", "Latitude": 33.749, "Longitude": -84.388}}}]}),
            ),
            success: vec![(200, "The order as saved", s.envelope::<OrderResponse>("Order"))],
            not_found: false,
            conflict: true,
        },
        "order-get" => RouteDoc {
            summary: "Get Order",
            description: "The order with its lines, statuses, payments, invoices and charges.",
            request: None,
            example: None,
            success: vec![(200, "The order", s.envelope::<OrderResponse>("Order"))],
            not_found: true,
            conflict: false,
        },
        "location-put" => RouteDoc {
            summary: "Create or replace a location",
            description: "Name, Type, Latitude and Longitude are required; a Version must equal the stored one.",
            request: Some((s.of::<UpsertLocationRequest>(), true)),
            example: Some(
                json!({"Name": "Midtown Atlanta store", "Type": "Store", "Latitude": 33.7838, "Longitude": -84.383, "Priority": 50}),
            ),
            success: vec![(200, "The location as saved", s.envelope::<LocationResponse>("Location"))],
            not_found: false,
            conflict: true,
        },
        "location-get" => RouteDoc {
            summary: "Get a location",
            description: "A DC or store with its coordinates, priority and capabilities.",
            request: None,
            example: None,
            success: vec![(200, "The location", s.envelope::<LocationResponse>("Location"))],
            not_found: true,
            conflict: false,
        },
        "supply-post" => RouteDoc {
            summary: "Sync or adjust supply",
            description: "Sets (Sync) or changes (Adjust) on-hand stock of up to 100 rows, all or none.",
            request: Some((s.of::<SupplyRequest>(), true)),
            example: Some(
                json!({"Mode": "Adjust", "Supply": [{"LocationId": "DC-ATL", "ItemId": "SKU-1", "Quantity": 5}]}),
            ),
            success: vec![(200, "Every row as it stands after the update", s.envelope::<SupplyResponse>("Supply"))],
            not_found: false,
            conflict: true,
        },
        "availability-get" => RouteDoc {
            summary: "Availability of an item",
            description: "On hand, reserved, safety stock and available units at every location.",
            request: None,
            example: None,
            success: vec![(200, "The item's stock by location", s.envelope::<AvailabilityResponse>("Availability"))],
            not_found: false,
            conflict: false,
        },
        "stock-shards-put" => RouteDoc {
            summary: "Shard an item's stock",
            description: "Sets how many rows (shards, 1 to 64) keep the item's stock at every location, so that more reservations per second fit; the stock is spread over the new shards in the same transaction (no unit lost, reservations kept). Availability still shows the sums.",
            request: Some((s.of::<ShardCountRequest>(), true)),
            example: Some(json!({"ShardCount": 8})),
            success: vec![(
                200,
                "The item's stock in its new shards",
                s.envelope::<StockShardsResponse>("StockShards"),
            )],
            not_found: false,
            conflict: true,
        },
        "stock-shards-get" => RouteDoc {
            summary: "Stock shards of an item",
            description: "How many shards keep the item's stock, and each shard at every location.",
            request: None,
            example: None,
            success: vec![(
                200,
                "The item's stock by location and shard",
                s.envelope::<StockShardsResponse>("StockShards"),
            )],
            not_found: false,
            conflict: false,
        },
        "allocation-create" => RouteDoc {
            summary: "Allocate an order",
            description: "Allocates an order event's outstanding units to locations. Documented as `POST /allocation/`: the trailing-slash form is answered too.",
            request: Some((s.of::<AllocationEventRequest>(), true)),
            example: Some(json!({"detailType": "ORDER_CREATED", "detail": {"orderId": "O-1001"}})),
            success: vec![
                (200, "Every unit is allocated: the allocations created", s.list_of::<Allocation>()),
                (206, "Some units are back ordered: the allocations created", s.list_of::<Allocation>()),
            ],
            not_found: true,
            conflict: true,
        },
        "allocation-get" => RouteDoc {
            summary: "Get an allocation",
            description: "One allocation document by its 24-character hexadecimal id.",
            request: None,
            example: None,
            success: vec![(200, "The allocation", s.of::<Allocation>())],
            not_found: true,
            conflict: false,
        },
        "allocation-update" => RouteDoc {
            summary: "Update an allocation",
            description: "Changes fields that move no stock, recording each change in auditLogs.",
            request: Some((s.of::<UpdateAllocationRequest>(), true)),
            example: Some(json!({"allocationId": EXAMPLE_ALLOCATION_ID, "shipMethod": "GROUND"})),
            success: vec![(200, "The allocation as updated", s.of::<Allocation>())],
            not_found: true,
            conflict: true,
        },
        "allocation-query" => RouteDoc {
            summary: "Query allocations",
            description: "The tenant's allocations matching `filters`, sorted and paged; an empty body takes the defaults.",
            request: Some((s.of::<QueryRequest>(), false)),
            example: Some(
                json!({"limit": 10, "offset": 0, "sortBy": "updatedAt", "sortDirection": "desc", "filters": {"orderNumber": "O-1001"}}),
            ),
            success: vec![(200, "The page of matching allocations", s.list_of::<Allocation>())],
            not_found: true,
            conflict: false,
        },
        "allocation-reallocate" => RouteDoc {
            summary: "Reallocate",
            description: "Moves allocations (or an order's) to another location, or re-plans them elsewhere.",
            request: Some((s.of::<ReallocateRequest>(), true)),
            example: Some(
                json!({"orderNumber": "O-1001", "channel": "web", "tenant": "demo", "id": [EXAMPLE_ALLOCATION_ID], "documentType": "ALLOCATION", "locationNum": "DC-DFW"}),
            ),
            success: vec![(200, "The allocations created", s.of::<ReallocateResponse>())],
            not_found: true,
            conflict: true,
        },
        "allocation-cancel" => RouteDoc {
            summary: "Cancel allocations",
            description: "Cancels comma-separated allocation ids, releasing the stock they reserved.",
            request: None,
            example: None,
            success: vec![(200, "The cancelled allocations", s.list_of::<Allocation>())],
            not_found: true,
            conflict: true,
        },
        "allocation-explain" => RouteDoc {
            summary: "Explain an order's allocation",
            description: "Per line: the units held, and for the units waiting, every candidate location with why it was chosen or excluded.",
            request: None,
            example: None,
            success: vec![(200, "The explanation", s.of::<ExplainResponse>())],
            not_found: true,
            conflict: false,
        },
        "allocation-reconcile" => RouteDoc {
            summary: "Reconcile reservations",
            description: "Recomputes every stock row's reserved units from the live allocations; repairs drift when asked.",
            request: Some((s.of::<ReconcileRequest>(), false)),
            example: Some(json!({"repair": false})),
            success: vec![(200, "The rows checked and the drift found", s.of::<ReconcileReport>())],
            not_found: false,
            conflict: true,
        },
        "allocation-settings-get" => RouteDoc {
            summary: "Get allocation settings",
            description: "The tenant's allocation strategy.",
            request: None,
            example: None,
            success: vec![(200, "The settings", s.of::<AllocationSettings>())],
            not_found: false,
            conflict: false,
        },
        "allocation-settings-put" => RouteDoc {
            summary: "Change allocation settings",
            description: "Sets the tenant's allocation strategy; a version must equal the stored one.",
            request: Some((s.of::<SettingsRequest>(), true)),
            example: Some(json!({"strategy": "nearest"})),
            success: vec![(200, "The settings as saved", s.of::<AllocationSettings>())],
            not_found: false,
            conflict: true,
        },
        "order-mass-action" => RouteDoc {
            summary: "Mass action (mass allocate)",
            description: "Starts an asynchronous job that allocates every order the Query selects (the search query language: AND, OR, parentheses, =, !=, <, <=, >, >=, IN (...), on MaxFulfillmentStatusId, MinFulfillmentStatusId, OrderId, OrderTypeId, IsConfirmed, CreatedTimestamp, UpdatedTimestamp, DoNotReleaseBefore, ...). One InProgress mass action per tenant: another is refused with 409 naming it. DryRun runs the job without reserving anything; Strategy overrides the tenant's for this run.",
            request: Some((s.of::<MassActionRequest>(), true)),
            example: Some(
                json!({"Query": "((MaxFulfillmentStatusId=1500 AND MinFulfillmentStatusId=1500) OR (MaxFulfillmentStatusId=1000 AND MinFulfillmentStatusId=1000))", "MassAction": "Allocate"}),
            ),
            success: vec![(
                200,
                "The job was recorded: its JobScheduleId",
                s.envelope::<MassActionAccepted>("MassAction"),
            )],
            not_found: false,
            conflict: true,
        },
        "job-execution-search" => RouteDoc {
            summary: "Search job executions",
            description: "Job executions (mass actions, scheduled jobs' runs) matching the Query (e.g. JobTypeId=orderMassActionJob, JobScheduleId=js...), sorted and paged.",
            request: Some((s.of::<SearchRequest>(), false)),
            example: Some(
                json!({"Query": "JobTypeId=orderMassActionJob", "Sort": [{"attribute": "CreatedTimestamp", "direction": "desc"}]}),
            ),
            success: vec![(200, "The matching executions", {
                s.of::<JobExecutionView>();
                s.named::<ManhattanOk<Vec<JobExecutionView>>>("JobExecutionsEnvelope")
            })],
            not_found: false,
            conflict: false,
        },
        "job-execution-abort" => RouteDoc {
            summary: "Abort a job execution",
            description: "Sets an InProgress job's Status to aborted (the only status that can be set): chunks not yet processed stay unprocessed, and a new mass action is accepted. The id is the URL-encoded UniqueJobId; PUT and POST both work.",
            request: Some((s.of::<StatusRequest>(), true)),
            example: Some(json!({"Status": "aborted"})),
            success: vec![(200, "The execution as aborted", s.envelope::<JobExecutionView>("JobExecution"))],
            not_found: true,
            conflict: true,
        },
        "job-execution-trigger" => RouteDoc {
            summary: "Run a scheduled job now",
            description: "Runs one pass of the scheduled job for the caller's tenant and answers its job execution (JobTypeId milestoneSchedulerJob, MilestonePass with OrdersChecked, EventsRaised, OrdersReleased). The milestone scheduler checks the orders whose milestone check is due: marks late milestones, raises monitoring events once per order and rule, and releases orders whose DoNotReleaseBefore has passed. A pass stops starting checks after 20 s; what is left stays due.",
            request: Some((s.of::<TriggerRequest>(), true)),
            example: Some(json!({"JobScheduleId": "milestoneScheduler"})),
            success: vec![(200, "The pass, recorded", s.envelope::<JobExecutionView>("JobExecution"))],
            not_found: false,
            conflict: false,
        },
        "job-execution-results" => RouteDoc {
            summary: "Per-order results of a job",
            description: "Each order the job processed, with its outcome (allocated, partial, notAllocated, failed) and, when not fully allocated, the reasons line by line. Paged: pass the answer's NextCursor as `cursor`; `limit` 1 to 1,000 (default 100).",
            request: None,
            example: None,
            success: vec![(200, "A page of results", s.envelope::<ResultsPage>("JobResults"))],
            not_found: true,
            conflict: false,
        },
        "component-log-level" => RouteDoc {
            summary: "Set a component log level",
            description: "Stores the level of a logger for the tenant, for every function: the allocation logger (com.manh.cp.app.logging.logger.allocation.OrderAllocationLogger) at TRACE or DEBUG writes one JSON log line per allocation decision with every candidate location and reason; INFO turns it off.",
            request: Some((s.of::<LogLevelRequest>(), true)),
            example: Some(
                json!({"loggerName": "com.manh.cp.app.logging.logger.allocation.OrderAllocationLogger", "logLevel": "TRACE"}),
            ),
            success: vec![(200, "The level as stored", s.envelope::<LoggerLevel>("LogLevel"))],
            not_found: false,
            conflict: false,
        },
        other => return lifecycle_route_doc(other, s),
    };
    Some(doc)
}

/// The order lifecycle routes (seed 003).
fn lifecycle_route_doc(function: &str, s: &mut Schemas) -> Option<RouteDoc> {
    let doc = match function {
        "order-cancel" => RouteDoc {
            summary: "Cancel order units",
            description: "Cancels the listed quantities (status 9000), or every unit of the order when no line is listed. Open, back ordered and allocated units can be canceled (in that order), and the reservations of allocated ones are released in the same transaction; released or fulfilled units cannot (ord::10008). The order type's rules and services for CancelOrderLine / CancelOrder apply.",
            request: Some((s.of::<CancelOrderRequest>(), true)),
            example: Some(
                json!({"OrderId": "O-1001", "CancelReasonId": "CustomerRequest", "OrderLine": [{"OrderLineId": "1", "Quantity": 1}]}),
            ),
            success: vec![(200, "The order as canceled", s.envelope::<OrderResponse>("Order"))],
            not_found: true,
            conflict: true,
        },
        "order-release" => RouteDoc {
            summary: "Release an order",
            description: "Releases every allocated unit of a confirmed order with no applied hold and no DoNotReleaseBefore ahead (409 naming why otherwise): one release document per ship-from location, published on the outbound release queue. Releasing again releases only what was allocated since.",
            request: Some((s.of::<ReleaseOrderRequest>(), true)),
            example: Some(json!({"OrderId": "O-1001"})),
            success: vec![(200, "The release documents written", s.envelope::<ReleaseResponse>("Release"))],
            not_found: true,
            conflict: true,
        },
        "order-releases-get" => RouteDoc {
            summary: "Release documents of an order",
            description: "Every release document of the order, oldest first.",
            request: None,
            example: None,
            success: vec![(200, "The order's releases", s.envelope::<ReleaseResponse>("Release"))],
            not_found: true,
            conflict: false,
        },
        "order-type-put" => RouteDoc {
            summary: "Configure an order type",
            description: "Stores the order type's configuration: per modification type the services it runs (ChangeStatus, ReevaluatePipeline, ResubmitPipeline, CancelReservation, PublishOrder, PublishOrderLine, pricing services), the email and text messages it publishes and its modification rules (RestrictPostConfirmation, RestrictFromStatus, RestrictFromReturnStatus); the milestones and monitoring rules. Validated whole; a Version must equal the stored one.",
            request: Some((s.of::<OrderTypeConfigRequest>(), true)),
            example: Some(
                json!({"Description": "Web orders", "ModTypes": [{"ModTypeId": "ConfirmOrder", "Services": ["ResubmitPipeline", "PublishOrder"], "TextMessages": ["OrderConfirmation"]}, {"ModTypeId": "UpdateShipToAddress", "Services": ["ChangeStatus", "PublishOrderLine"], "ChangeStatusId": "1000", "RestrictFromStatus": "3000"}, {"ModTypeId": "AllocateLine", "Services": ["ResubmitPipeline"]}], "Milestones": [{"MilestoneId": "Confirmed", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 60}]}),
            ),
            success: vec![(200, "The configuration as stored", s.envelope::<OrderTypeConfig>("OrderType"))],
            not_found: false,
            conflict: true,
        },
        "order-type-get" => RouteDoc {
            summary: "Get an order type's configuration",
            description: "The stored configuration, or the built-in default (IsDefault true) when the order type has none.",
            request: None,
            example: None,
            success: vec![(200, "The configuration", s.envelope::<OrderTypeView>("OrderTypeView"))],
            not_found: false,
            conflict: false,
        },
        "order-type-list" => RouteDoc {
            summary: "List configured order types",
            description: "Every order type with a configuration of its own.",
            request: None,
            example: None,
            success: vec![(200, "The configurations", {
                s.of::<OrderTypeConfig>();
                s.named::<ManhattanOk<Vec<OrderTypeConfig>>>("OrderTypesEnvelope")
            })],
            not_found: false,
            conflict: false,
        },
        "message-template-put" => RouteDoc {
            summary: "Save a custom message template",
            description: "An email (Subject and Body) or text (Body) template, rendered with the order (Order, Lines, ModTypes, Tenant) when a mod type publishes it. Refused when it does not render against a sample order; the base templates cannot be changed.",
            request: Some((s.of::<MessageTemplateRequest>(), true)),
            example: Some(json!({"Channel": "Text", "Body": "Order {{ Order.OrderId }} is on its way."})),
            success: vec![(200, "The template as stored", s.envelope::<MessageTemplate>("MessageTemplate"))],
            not_found: false,
            conflict: true,
        },
        "message-template-get" => RouteDoc {
            summary: "Get a message template",
            description: "A base template or one of the tenant's own.",
            request: None,
            example: None,
            success: vec![(200, "The template", s.envelope::<MessageTemplate>("MessageTemplate"))],
            not_found: true,
            conflict: false,
        },
        "message-template-list" => RouteDoc {
            summary: "List message templates",
            description: "The base templates, then the tenant's own.",
            request: None,
            example: None,
            success: vec![(200, "The templates", {
                s.of::<MessageTemplate>();
                s.named::<ManhattanOk<Vec<MessageTemplate>>>("MessageTemplatesEnvelope")
            })],
            not_found: false,
            conflict: false,
        },
        _ => return None,
    };
    Some(doc)
}

fn string_schema(min_length: Option<usize>, max_length: Option<usize>, pattern: Option<&str>) -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(min_length)
        .max_length(max_length)
        .pattern(pattern)
        .build()
        .into()
}

fn header(name: &str, required: bool, description: &str, schema: Schema) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(if required { Required::True } else { Required::False })
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// The path parameters (`{name}` segments) and the documented headers of a route.
fn parameters(route: &Route) -> Vec<Parameter> {
    let mut params: Vec<Parameter> = route
        .path
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
        .map(|name| {
            ParameterBuilder::new()
                .name(name)
                .parameter_in(ParameterIn::Path)
                .required(Required::True)
                .description(Some(path_param_description(name)))
                .schema(Some(path_param_schema(name)))
                .example(Some(path_param_example(name)))
                .build()
        })
        .collect();
    // The fabric-style routes name the tenant in x-site-context; the others do not document it.
    if route.site_context_required {
        params.push(header(
            "x-site-context",
            true,
            "JSON naming the tenant, e.g. {\"account\": \"demo\"}; must name the token's tenant.",
            string_schema(Some(1), None, None),
        ));
    }
    params.push(header(
        "x-vol-tenant",
        false,
        "The tenant; must equal the token's tenant when sent.",
        string_schema(None, None, None),
    ));
    params.push(header(
        "SelectedOrganization",
        false,
        "Manhattan's organization; must equal the token's tenant when sent.",
        string_schema(None, None, None),
    ));
    if route.mutating {
        params.push(header(
            IDEMPOTENCY_HEADER,
            false,
            "Replays the first response to a request with the same key (kept a day) instead of running it again.",
            string_schema(Some(1), Some(255), Some("^[!-~]+$")),
        ));
    }
    params.push(header(
        "x-request-id",
        false,
        "Correlates logs; echoed back in the response's x-request-id.",
        string_schema(None, None, None),
    ));
    params
}

const ALLOCATION_ID_PATTERN: &str = "^[0-9a-fA-F]{24}$";
const ALLOCATION_IDS_PATTERN: &str = "^[0-9a-fA-F]{24}(,[0-9a-fA-F]{24})*$";

fn path_param_schema(name: &str) -> Schema {
    match name {
        "uniqueJobId" => string_schema(Some(1), Some(512), None),
        "jobScheduleId" => string_schema(Some(3), Some(64), Some("^js[0-9]+$")),
        "allocationId" => string_schema(Some(24), Some(24), Some(ALLOCATION_ID_PATTERN)),
        "allocationIds" => string_schema(Some(24), None, Some(ALLOCATION_IDS_PATTERN)),
        _ => string_schema(Some(1), Some(crate::domain::ids::MAX_ID_CHARS), Some(crate::domain::ids::KEY_ID_PATTERN)),
    }
}

/// Ids of the demo tenant's data.
fn path_param_example(name: &str) -> Value {
    json!(match name {
        "allocationId" | "allocationIds" => EXAMPLE_ALLOCATION_ID,
        "orderId" => "O-1001",
        "LocationId" => "DC-ATL",
        "ItemId" => "SKU-1",
        "uniqueJobId" => "demo::X::orderMassActionJob::js17952000000000000000001::order::26-11-24 01:00:00::ADHOC",
        "jobScheduleId" => "js17952000000000000000001",
        "OrderTypeId" => "Web",
        "TemplateId" => "DeliveryUpdate",
        _ => "1",
    })
}

fn path_param_description(name: &str) -> &'static str {
    match name {
        "allocationId" => "A 24-character hexadecimal allocation id.",
        "allocationIds" => "Comma-separated allocation ids.",
        "orderId" => "The order id.",
        "LocationId" => "The location id.",
        "ItemId" => "The item (SKU) id.",
        "uniqueJobId" => "A job execution's UniqueJobId, URL-encoded.",
        "OrderTypeId" => "The order type id.",
        "TemplateId" => "The message template id.",
        "jobScheduleId" => "A job's JobScheduleId (js and digits).",
        _ => "An id.",
    }
}

fn json_response(description: &str, schema: RefOr<Schema>) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content("application/json", ContentBuilder::new().schema(Some(schema)).build())
        .build()
}

/// Every error status a route can answer, with why.
fn error_statuses(route: &Route, doc: Option<&RouteDoc>) -> Vec<(u16, &'static str)> {
    let mut statuses = vec![(400, "A field, the body or a header is invalid; `field` names it")];
    statuses.push((401, "No valid bearer token"));
    statuses.push((403, "The token lacks the route's permission, or a tenant header names another tenant"));
    if doc.is_none_or(|d| d.not_found) {
        statuses.push((404, "Not found"));
    }
    if route.mutating || doc.is_none_or(|d| d.conflict) {
        statuses.push((409, "A stale version, a concurrent change, or an Idempotency-Key still in use"));
    }
    statuses.push((500, "An internal error; the details are in the logs under the request id"));
    statuses.push((503, "A dependency (store, queue) is unreachable; safe to retry (ord::10002)"));
    statuses
}

fn operation(name: &str, route: &Route, s: &mut Schemas) -> Operation {
    let doc = route_doc(name, s);
    let error_schema =
        if envelope::is_manhattan_path(route.path) { s.of::<ManhattanError>() } else { s.of::<ErrorDetail>() };
    let mut responses = Responses::new();
    match &doc {
        Some(doc) => {
            for (status, description, schema) in &doc.success {
                responses.responses.insert(status.to_string(), json_response(description, schema.clone()).into());
            }
        }
        None => {
            responses
                .responses
                .insert("200".into(), json_response("Success", ObjectBuilder::new().build().into()).into());
        }
    }
    for (status, description) in error_statuses(route, doc.as_ref()) {
        responses.responses.insert(status.to_string(), json_response(description, error_schema.clone()).into());
    }
    let mut description = format!("Requires the permission `{}`.", route.permission);
    if let Some(doc) = &doc {
        description = format!("{} {description}", doc.description);
    }
    if route.mutating {
        description.push_str(&format!(" Honours `{IDEMPOTENCY_HEADER}`."));
    }
    let example = doc.as_ref().and_then(|d| d.example.clone());
    let request_body = doc.as_ref().and_then(|d| d.request.clone()).map(|(schema, required)| {
        RequestBodyBuilder::new()
            .content("application/json", ContentBuilder::new().schema(Some(schema)).example(example).build())
            .required(Some(if required { Required::True } else { Required::False }))
            .build()
    });
    OperationBuilder::new()
        .operation_id(Some(name))
        .summary(doc.as_ref().map(|d| d.summary))
        .description(Some(description))
        .tag(tag_of(route.path))
        .parameters(Some(parameters(route)))
        .request_body(request_body)
        .responses(responses)
        .security(SecurityRequirement::new(SECURITY_SCHEME, Vec::<String>::new()))
        .build()
}

fn tag_of(path: &str) -> &'static str {
    if path.starts_with("/order/") {
        "orders"
    } else if path.starts_with("/inventory/") {
        "inventory"
    } else if path.starts_with("/scheduler/") {
        "scheduler"
    } else {
        "allocation"
    }
}

fn method_of(method: &str) -> Option<HttpMethod> {
    Some(match method {
        "GET" => HttpMethod::Get,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        "PATCH" => HttpMethod::Patch,
        _ => return None,
    })
}

/// The document: one operation per HTTP route of the catalog.
pub fn document() -> OpenApi {
    let mut schemas = Schemas::default();
    let mut paths = Paths::new();
    for (name, route) in catalog::routes() {
        for (n, verb) in route.methods().enumerate() {
            let Some(method) = method_of(verb) else {
                tracing::error!(function = name, method = verb, "no OpenAPI method for this catalog route");
                continue;
            };
            let mut op = operation(name, &route, &mut schemas);
            if n > 0 {
                // Operation ids are unique: the second method of a route gets its own.
                op.operation_id = Some(format!("{name}-{}", verb.to_ascii_lowercase()));
            }
            paths.add_path_operation(route.path, vec![method], op);
        }
    }
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .bearer_format("JWT")
        .description(Some(
            "A JWT with the claims sub, tenant and scope (space-separated permissions). In AWS the HTTP API's JWT authorizer verifies it; the local server verifies tokens it minted (`oms-local mint-token`).",
        ))
        .build();
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas.0)
        .security_scheme(SECURITY_SCHEME, SecurityScheme::Http(bearer))
        .build();
    let info = InfoBuilder::new()
        .title("OMS")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Order management: Manhattan-style orders and inventory (`/order`, `/inventory`, answered in Manhattan's envelope) and the allocation service (`/allocation`, plain JSON). Idempotency-Key is honoured on mutating routes; replays carry `idempotent-replayed: true`.",
        ))
        .build();
    OpenApiBuilder::new()
        .info(info)
        .paths(paths)
        .components(Some(components))
        .security(Some([SecurityRequirement::new(SECURITY_SCHEME, Vec::<String>::new())]))
        .build()
}
