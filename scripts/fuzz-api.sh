#!/usr/bin/env bash
# Fuzzes every operation of the OpenAPI document a running OMS server publishes, with
# schemathesis: generated and boundary requests, each response checked for a 5xx, a status the
# document does not list, a wrong content type and a body that does not match its schema.
# Needs a token with every permission for the demo tenant; the seed keeps runs reproducible.
#
#   export TOKEN=$(cargo run -q -p local -- mint-token)
#   scripts/fuzz-api.sh http://127.0.0.1:3000
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)

BASE=${1:?usage: scripts/fuzz-api.sh BASE_URL}
BASE=${BASE%/}
: "${TOKEN:?set TOKEN: export TOKEN=\$(cargo run -q -p local -- mint-token)}"
SEED=${FUZZ_SEED:-20261123}
# Test cases per operation and phase: bounds the run to about a minute and a half. One worker
# keeps the run, and so its figures, the same for the same seed.
MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES:-100}
SCHEMATHESIS=${SCHEMATHESIS:-$ROOT/.venv/bin/schemathesis}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance

# schemathesis keeps a cache in its working directory: a scratch one keeps runs independent.
WORK=$(mktemp -d -t oms-fuzz.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
REPORT="$WORK/report.json"

status=0
(
    cd "$WORK"
    "$SCHEMATHESIS" run "$BASE/openapi.json" \
        --url "$BASE" \
        --header "Authorization: Bearer $TOKEN" \
        --header 'x-site-context: {"account":"demo"}' \
        --header 'x-vol-tenant: demo' \
        --header 'SelectedOrganization: demo' \
        --checks "$CHECKS" \
        --seed "$SEED" \
        --max-examples "$MAX_EXAMPLES" \
        --generation-database none \
        --workers 1 \
        --no-color \
        --report json \
        --report-json-path "$REPORT"
) || status=$?

echo
if [[ -f "$REPORT" ]]; then
    python3 - "$REPORT" "$SEED" "$MAX_EXAMPLES" <<'PY'
import json, sys
report = json.load(open(sys.argv[1]))
ops = report.get("operations") or {}
cases = report["test_cases"]
errors = sum(e["count"] for e in report["errors"])
print(f"fuzz: {ops.get('tested', 0)} of {ops.get('selected', 0)} operations, {cases['generated']} test cases, "
      f"{cases['with_failures']} failures ({cases['unique_failures']} unique), {errors} errors "
      f"(seed {sys.argv[2]}, at most {sys.argv[3]} examples per operation and phase)")
PY
else
    echo "fuzz: schemathesis wrote no report (exit $status)"
    [[ $status -ne 0 ]] || status=1
fi
exit "$status"
