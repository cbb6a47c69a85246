#!/usr/bin/env bash
# The README's walkthrough, runnable and checked: allocate a demo order to its nearest stocked
# DC, allocate another partially and explain why, move one unit of a line and cancel, and see availability
# return to where it started. Needs the local server (cargo run -p local) with its demo data.
#
#   export TOKEN=$(cargo run -q -p local -- mint-token)
#   scripts/walkthrough.sh [BASE_URL]          # default http://127.0.0.1:3000
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
echo "walkthrough: 7 steps passed"
