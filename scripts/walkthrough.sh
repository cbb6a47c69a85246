#!/usr/bin/env bash
# The README's walkthrough, runnable and checked: allocate a demo order to its nearest stocked
# DC, allocate another partially and explain why, move one unit of a line and cancel, and see availability
# return to where it started. Then mass allocate: load a backlog, allocate it with the seed's query
# and watch the job, read its per-order results, abort a second job, and compare two dry runs.
# Then the order lifecycle: configure an order type, confirm an order and see it allocated and
# released, have an address change refused, ship it, and read what was published. Then order
# monitoring: an order held back by a remorse period and released by the milestone scheduler, and
# a late confirmation that raises ConfirmationDue.
# Needs the local server (cargo run -p local) with its demo data; the backlog is written with
# `oms-local backlog` into the server's data folder (OMS_DATA_DIR, default ./.oms).
#
#   export TOKEN=$(cargo run -q -p local -- mint-token)
#   scripts/walkthrough.sh [BASE_URL]          # default http://127.0.0.1:3000
#   OMS_LOCAL=path/to/oms-local ...             # default: cargo run -q -p local --
set -euo pipefail

BASE=${1:-${OMS_URL:-http://127.0.0.1:3000}}
: "${TOKEN:?set TOKEN: export TOKEN=\$(cargo run -q -p local -- mint-token)}"
BODY=$(mktemp)
trap 'rm -f "$BODY"' EXIT

# req METHOD PATH [JSON]: the body goes to $BODY, the status to $STATUS.
req() {
    local args=(-s -o "$BODY" -w '%{http_code}' -X "$1" "$BASE$2" -H "Authorization: Bearer $TOKEN"
        -H 'x-site-context: {"account":"demo"}' -H 'content-type: application/json')
    [[ $# -ge 3 ]] && args+=(-d "$3")
    STATUS=$(curl "${args[@]}")
}
# field PYTHON_EXPR: evaluates the expression on the last body, bound to `d`.
field() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($1)" "$BODY"; }
expect() {
    if [[ "$STATUS" != "$1" ]]; then
        echo "FAILED: expected HTTP $1, got $STATUS: $(cat "$BODY")" >&2
        exit 1
    fi
}
check() {
    if [[ "$1" != "$2" ]]; then
        echo "FAILED: $3: expected $2, got $1" >&2
        exit 1
    fi
}
availability() {
    req GET "/inventory/api/availability/itemId/$1"
    expect 200
    field "' '.join(f\"{r['LocationId']}:{r['Reserved']}/{r['Available']}\" for r in d['data']['Locations'])"
}

echo "1. availability before (location:reserved/available)"
sku1_before=$(availability SKU-1)
sku2_before=$(availability SKU-2)
echo "   SKU-1 $sku1_before"
echo "   SKU-2 $sku2_before"

echo "2. allocate O-1001 (2 x SKU-1 to Atlanta): the nearest stocked DC is DC-ATL"
req POST /allocation/ '{"detailType": "ORDER_CREATED", "detail": {"orderId": "O-1001"}}'
expect 200
allocation=$(field "d[0]['allocationId']")
check "$(field "d[0]['locationNum']")" DC-ATL "O-1001 ships from"
echo "   allocation $allocation at DC-ATL; SKU-1 $(availability SKU-1)"

echo "3. allocate O-1002 (12 x SKU-2 to New York, only 10 promisable): 206 partial"
req POST /allocation/ '{"detailType": "ORDER_CREATED", "detail": {"orderId": "O-1002"}}'
expect 206
partial=$(field "','.join(a['allocationId'] for a in d)")
echo "   allocations $partial"
req GET /allocation/explain/O-1002
expect 200
echo "   explanation: $(field "'; '.join(f\"line {l['lineId']} ({l['itemId']}): {l['allocated']} allocated, {l['backOrdered']} back ordered\" + (': ' + ', '.join(l['suggestions']) if l['suggestions'] else '') for l in d['lines'])")"
check "$(field "any('short' in s for l in d['lines'] for s in l['suggestions'])")" True "the explanation names a shortfall"

echo "4. move one of the two units of $allocation's line 1 to DC-DFW (the line keeps the other)"
req PUT /allocation/reallocate "{\"orderNumber\": \"O-1001\", \"channel\": \"web\", \"tenant\": \"demo\", \"id\": [\"$allocation\"], \"documentType\": \"ALLOCATION\", \"locationNum\": \"DC-DFW\", \"items\": [{\"allocationLineNumber\": 1, \"lineItemId\": \"1\", \"quantity\": 1}]}"
expect 200
moved=$(field "d['allocations'][0]['allocationId']")
check "$(field "d['allocations'][0]['previousAllocationLocationNum']")" DC-ATL "previous location"
check "$(field "d['allocations'][0]['items'][0]['parentAllocationLineNumber']")" 1 "the moved line's parent line"
echo "   $(field "d['message']")"
req GET "/allocation/$allocation"
expect 200
check "$(field "d['items'][0]['itemStatus']")" PARTIALLY_ALLOCATED "the source line"
echo "   $allocation line 1: $(field "d['items'][0]['itemStatus']"), audit: $(field "d['auditLogs'][-1]['auditType'] + ' by ' + d['auditLogs'][-1]['employeeId'] + ': ' + d['auditLogs'][-1]['note']")"
echo "   SKU-1 $(availability SKU-1)"

echo "5. cancel $allocation, $moved and O-1002's allocations"
req PUT "/allocation/cancel/$allocation,$moved,$partial"
expect 200
check "$(field "sorted(set(a['statusCode'] for a in d))")" "['CANCELLED']" "status after cancel"

echo "6. availability is back where it started"
sku1_after=$(availability SKU-1)
sku2_after=$(availability SKU-2)
echo "   SKU-1 $sku1_after"
echo "   SKU-2 $sku2_after"
check "$sku1_after" "$sku1_before" "SKU-1 availability"
check "$sku2_after" "$sku2_before" "SKU-2 availability"

echo "7. reconciliation finds no drift"
req POST /allocation/reconcile '{"repair": false}'
expect 200
check "$(field "len(d['drift'])")" 0 "drifting stock rows"

# The seed's sample query (mass allocate), exactly as printed.
SEED_QUERY='((MaxFulfillmentStatusId=1500 AND MinFulfillmentStatusId=1500) OR (MaxFulfillmentStatusId=1000 AND MinFulfillmentStatusId=1000) OR (MaxFulfillmentStatusId=1500 AND MinFulfillmentStatusId<1500) OR (MaxFulfillmentStatusId=2000 AND MinFulfillmentStatusId<2000) OR (MaxFulfillmentStatusId=3000 AND MinFulfillmentStatusId<3000))'
read -r -a OMS_LOCAL_CMD <<<"${OMS_LOCAL:-cargo run -q -p local --}"
backlog() {
    "${OMS_LOCAL_CMD[@]}" backlog --orders "$1" --prefix "$2" --locations 50 --items 100
}
mass_action() {
    req POST /order/api/order/order/massAction "$1"
}
# job ID: the job's execution, from job search, in $BODY.
job() {
    req POST /scheduler/api/scheduler/jobExecution/search "{\"Query\": \"JobScheduleId=$1\"}"
    expect 200
}
# wait_for ID: polls job search until the job ends, printing its progress.
wait_for() {
    for _ in $(seq 1 600); do
        job "$1"
        echo "   $(field "d['data'][0]['Status'] + ': ' + d['data'][0]['DisplayStatus']")"
        [[ "$(field "d['data'][0]['Status']")" != InProgress ]] && return 0
        sleep 1
    done
    echo "FAILED: job $1 did not end in 10 minutes" >&2
    exit 1
}
summary() {
    field "(lambda j, s: f\"{j['TotalMsgCount']} orders, {j['SuccessMsgCount']} fully allocated, {j['FailureMsgCount']} not; {s['UnitsAllocated']} units, {s['Shipments']} shipments, mean {s['MeanDistanceKm']} km\")(d['data'][0], d['data'][0]['AllocationSummary'])"
}

echo "8. load a backlog of 1,500 open orders (50 locations, 100 items)"
echo "   $(backlog 1500 BL-)"

echo "9. mass allocate with the seed's query; a second request is refused while it runs"
mass_action "{\"Query\": \"$SEED_QUERY\", \"MassAction\": \"Allocate\"}"
expect 200
check "$(field "d['message']")" "Order Mass Action Request Received" "the massAction message"
first=$(field "d['data']['JobScheduleId']")
echo "   JobScheduleId $first"
mass_action '{"Query": "OrderId=O-1003", "MassAction": "Allocate"}'
if [[ "$STATUS" == 409 ]]; then
    echo "   a second massAction: 409, $(field "d['message']")"
else
    echo "   a second massAction: $STATUS (the first job had already completed)"
fi
wait_for "$first"
check "$(field "d['data'][0]['Status']")" completed "the first job"
echo "   $(summary)"

echo "10. its per-order results: outcomes, and why an order was not fully allocated"
RESULTS=$(mktemp)
trap 'rm -f "$BODY" "$RESULTS"' EXIT
echo '[]' >"$RESULTS"
cursor=
while :; do
    req GET "/scheduler/api/scheduler/jobExecution/jobScheduleId/$first/results?limit=1000&cursor=$cursor"
    expect 200
    python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); r += json.load(open(sys.argv[2]))["data"]["Results"]; json.dump(r, open(sys.argv[1], "w"))' "$RESULTS" "$BODY"
    cursor=$(field "d['data']['NextCursor'] or ''")
    [[ -z "$cursor" ]] && break
done
cp "$RESULTS" "$BODY"
echo "   $(field "', '.join(f'{k}: {v}' for k, v in sorted(__import__('collections').Counter(r['outcome'] for r in d).items()))")"
check "$(field "len(d)")" "$(job "$first" >/dev/null; field "d['data'][0]['TotalMsgCount']")" "one result per order"
cp "$RESULTS" "$BODY"
check "$(field "next(r['outcome'] for r in d if r['orderId'] == 'O-1002')")" partial "O-1002 (12 x SKU-2, 10 promisable)"
echo "   O-1002: $(field "next(r['reasons'][0] for r in d if r['orderId'] == 'O-1002')")"

echo "11. a second job over 3,000 more orders, aborted at once: the rest stays open"
echo "   $(backlog 3000 BM-)"
mass_action '{"Query": "MaxFulfillmentStatusId=1000", "MassAction": "Allocate"}'
expect 200
second=$(field "d['data']['JobScheduleId']")
job "$second"
unique=$(field "d['data'][0]['UniqueJobId']")
encoded=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$unique")
req PUT "/scheduler/api/scheduler/jobExecution/uniqueJobId/$encoded" '{"Status": "aborted"}'
expect 200
check "$(field "d['data']['Status']")" aborted "the second job"
sleep 2
job "$second"
echo "   $second aborted: $(summary)"

echo "12. two dry runs over what is still open: nearest, then fewestShipments (nothing is reserved)"
for strategy in nearest fewestShipments; do
    mass_action "{\"Query\": \"MaxFulfillmentStatusId=1000\", \"MassAction\": \"Allocate\", \"DryRun\": true, \"Strategy\": \"$strategy\"}"
    expect 200
    dry=$(field "d['data']['JobScheduleId']")
    wait_for "$dry" >/dev/null
    check "$(field "d['data'][0]['AllocationSummary']['DryRun']")" True "a dry run"
    echo "   $strategy: $(summary)"
done

echo "13. reconciliation still finds no drift"
req POST /allocation/reconcile '{"repair": false}'
expect 200
check "$(field "len(d['drift'])")" 0 "drifting stock rows"
# The order lifecycle (seed 003).
LC='{"OrderId": "LC-1", "OrderType": {"OrderTypeId": "Web"}, "IsConfirmed": CONFIRMED, "OrderLine": [{"OrderLineId": "1", "ItemId": "SKU-1", "Quantity": 1, "UnitPrice": 19.99, "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"}, "ShipToAddress": {"Address": {"Address1": "ADDRESS", "City": "Atlanta", "Country": "US", "Latitude": 33.749, "Longitude": -84.388}}}]}'
lc_order() { local body=${LC/CONFIRMED/$1}; echo "${body/ADDRESS/$2}"; }

echo "14. configure order type Web: confirming runs the pipeline, an address change re-allocates until release"
req PUT /order/api/order/orderType/Web '{"Description": "Web orders", "ModTypes": [
  {"ModTypeId": "ConfirmOrder", "Services": ["ResubmitPipeline", "PublishOrder"], "TextMessages": ["OrderConfirmation"]},
  {"ModTypeId": "UpdateShipToAddress", "Services": ["ChangeStatus", "PublishOrderLine"], "ChangeStatusId": "1000", "RestrictFromStatus": "3000"},
  {"ModTypeId": "AllocateLine", "Services": ["ResubmitPipeline"]},
  {"ModTypeId": "ShipLine", "Services": ["PublishOrderLine"], "EmailMessages": ["ShipConfirmation"], "TextMessages": ["ShipConfirmation"]}]}'
expect 200
echo "   $(field "d['message']")"
req PUT /order/api/order/orderType/Web '{"ModTypes": [{"ModTypeId": "UpdateShipToAddress", "Services": ["ChangeStatus", "ReevaluatePipeline"]}]}'
expect 400
echo "   ChangeStatus with ReevaluatePipeline: 400, $(field "d['errors'][0]['field']")"

echo "15. save LC-1, then confirm it: the pipeline allocates and releases it"
req POST /order/api/order/order "$(lc_order false '1 Main St')"
expect 200
req POST /order/api/order/order "$(lc_order true '1 Main St')"
expect 200
check "$(field "d['data']['OrderAudit'][-1]['ModTypes'][0]['ModTypeId']")" ConfirmOrder "the confirmation's mod type"
for _ in $(seq 1 100); do
    req GET /order/api/order/order/orderId/LC-1
    [[ "$(field "d['data']['MaxFulfillmentStatusId']")" == 3000 ]] && break
    sleep 0.2
done
check "$(field "d['data']['FulfillmentStatus']")" Released "LC-1 after the pipeline"
echo "   audit: $(field "' -> '.join(m['ModTypeId'] for a in d['data']['OrderAudit'] for m in a['ModTypes'])")"
req GET /order/api/order/release/orderId/LC-1
expect 200
check "$(field "len(d['data']['Release'])")" 1 "release documents"
echo "   release $(field "d['data']['Release'][0]['ReleaseId'] + ' to ' + d['data']['Release'][0]['ShipFromLocationId']")"

echo "16. change LC-1's address once released: refused, nothing written"
req POST /order/api/order/order "$(lc_order true '9 Peachtree St')"
expect 400
check "$(field "d['errors'][0]['code']")" ord::10008 "the error code"
echo "   $(field "d['message']")"

echo "17. ship it: on hand and reserved drop, the order is fulfilled"
req POST /allocation/query '{"filters": {"orderNumber": "LC-1"}}'
expect 200
lc_allocation=$(field "d[0]['allocationId']")
req PUT "/allocation/$lc_allocation" "{\"allocationId\": \"$lc_allocation\", \"statusCode\": \"SHIPPED\"}"
expect 200
req GET /order/api/order/order/orderId/LC-1
check "$(field "d['data']['FulfillmentStatus']")" Fulfilled "LC-1 after shipping"

echo "18. read what was published (the local server keeps outbound queues readable)"
for queue in release order-events notifications; do
    req GET "/local/queues/$queue?limit=1000"
    expect 200
    echo "   $queue: $(field "', '.join(m['Body'].get('MessageType') or m['Body'].get('TemplateId') or m['Body']['MessageId'] for m in d['Messages'] if 'LC-1' in json.dumps(m['Body']))")"
done
req GET "/local/queues/notifications?limit=1000"
check "$(field "any(m['Body'].get('TemplateId') == 'ShipConfirmation' and m['Body']['OrderId'] == 'LC-1' for m in d['Messages'])")" True "a ship confirmation for LC-1"
req GET "/local/queues/release?limit=1000"
check "$(field "any(m['Body']['MessageId'] == 'LC-1-R1' for m in d['Messages'])")" True "LC-1's release document"
req GET "/local/queues/order-events?limit=1000"
check "$(field "[m['Body']['ModTypes'] for m in d['Messages'] if m['Body']['OrderId'] == 'LC-1']")" "[['ConfirmOrder'], ['ShipLine']]" "LC-1's published order and lines"

# Milestones and the milestone scheduler (seed 003, order monitoring).
MS='{"OrderId": "ID", "OrderType": {"OrderTypeId": "Remorse"}, "IsConfirmed": CONFIRMED, "OrderLine": [{"OrderLineId": "1", "ItemId": "SKU-1", "Quantity": 1, "UnitPrice": 19.99, "DeliveryMethod": {"DeliveryMethodId": "ShipToAddress"}, "ShipToAddress": {"Address": {"Address1": "1 Main St", "City": "Atlanta", "Country": "US", "Latitude": 33.749, "Longitude": -84.388}}}]}'
ms_order() { local body=${MS/ID/$1}; echo "${body/CONFIRMED/$2}"; }
trigger() {
    req POST /scheduler/api/scheduler/jobExecution/trigger '{"JobScheduleId": "milestoneScheduler"}'
    expect 200
    echo "   scheduler pass: $(field "', '.join(f'{k} {v}' for k, v in d['data']['MilestonePass'].items() if k != 'More')")"
}

echo "19. configure order type Remorse: confirm at once or ConfirmationDue is raised a second later; release 1 minute after confirmation (a remorse period)"
req PUT /order/api/order/orderType/Remorse '{"Description": "Web orders with a remorse period", "ModTypes": [
  {"ModTypeId": "AllocateLine", "Services": ["ResubmitPipeline"]}],
  "Milestones": [{"MilestoneId": "Confirmed", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 0},
                 {"MilestoneId": "Released", "ExpectedAfterMilestone": "Confirmed", "ExpectedMinutes": 1, "RestrictByDate": true},
                 {"MilestoneId": "Shipped", "ExpectedAfterMilestone": "Released", "ExpectedMinutes": 1440}],
  "MonitoringRules": [{"RuleId": "late-confirmation", "MilestoneId": "Confirmed", "EventName": "ConfirmationDue", "When": "After", "OffsetSeconds": 1}]}'
expect 200
req PUT /order/api/order/orderType/Remorse '{"Milestones": [{"MilestoneId": "Allocated", "ExpectedAfterMilestone": "Created", "ExpectedMinutes": 5, "RestrictByDate": true}]}'
expect 400
echo "   RestrictByDate on Allocated: 400, $(field "d['errors'][0]['field']")"

echo "20. save MS-1 confirmed and allocate it: it is held back until its DoNotReleaseBefore"
req POST /order/api/order/order "$(ms_order MS-1 true)"
expect 200
release_at=$(field "d['data']['DoNotReleaseBefore']")
echo "   DoNotReleaseBefore $release_at (confirmed + 1 minute)"
req POST /allocation/ '{"detailType": "ORDER_CREATED", "detail": {"orderId": "MS-1"}}'
expect 200
req POST /order/api/order/order/release '{"OrderId": "MS-1"}'
expect 409
echo "   release now: 409, $(field "d['message']")"
req GET /order/api/order/order/orderId/MS-1
check "$(field "d['data']['FulfillmentStatus']")" Allocated "MS-1 during its remorse period"

echo "21. save MS-2 unconfirmed: a second after Confirmed was expected, the scheduler raises ConfirmationDue once"
req POST /order/api/order/order "$(ms_order MS-2 false)"
expect 200
sleep 2
trigger
trigger
req GET /order/api/order/order/orderId/MS-2
check "$(field "[e['EventName'] for e in d['data']['MonitoringEvent']]")" "['ConfirmationDue']" "MS-2's monitoring events"
echo "   milestones: $(field "', '.join(m['MilestoneId'] + ' ' + m['Status'] for m in d['data']['OrderMilestone'])")"
req GET "/local/queues/order-events?limit=1000"
check "$(field "[m['Body']['EventName'] for m in d['Messages'] if m['Body'].get('MessageType') == 'MonitoringEvent' and m['Body']['OrderId'] == 'MS-2']")" "['ConfirmationDue']" "published monitoring events"

echo "22. once MS-1's DoNotReleaseBefore has passed, the scheduler releases it"
wait_s=$(python3 -c "import sys, datetime as t; at = t.datetime.fromisoformat(sys.argv[1].replace('Z', '+00:00')); print(max(0, (at - t.datetime.now(t.timezone.utc)).total_seconds() + 1))" "$release_at")
echo "   waiting ${wait_s%.*} s for the remorse period to end"
sleep "$wait_s"
trigger
req GET /order/api/order/order/orderId/MS-1
check "$(field "d['data']['FulfillmentStatus']")" Released "MS-1 after its remorse period"
echo "   milestones: $(field "', '.join(m['MilestoneId'] + ' ' + m['Status'] for m in d['data']['OrderMilestone'])")"
req GET /order/api/order/release/orderId/MS-1
check "$(field "len(d['data']['Release'])")" 1 "MS-1's release documents"
req POST /scheduler/api/scheduler/jobExecution/search '{"Query": "JobTypeId=milestoneSchedulerJob", "Sort": [{"attribute": "CreatedTimestamp", "direction": "desc"}]}'
expect 200
echo "   job search: $(field "len(d['data'])") milestone scheduler passes recorded; latest: $(field "d['data'][0]['DisplayStatus']")"

echo "23. reconciliation still finds no drift"
req POST /allocation/reconcile '{"repair": false}'
expect 200
check "$(field "len(d['drift'])")" 0 "drifting stock rows"
echo "walkthrough: 23 steps passed"
