#!/usr/bin/env bash
# Proves every function answers its sample event (events/<name>.json) the way Lambda would call
# it: `cargo lambda watch` emulates the Lambda control plane on 127.0.0.1 and `cargo lambda invoke`
# sends each event. Offline, on the embedded store in a temp dir (TABLE_NAME unset).
# Fails when an invocation errors, an HTTP response is not a 2xx, or an SQS batch reports failures.
# Allocation ids are generated: the id allocation-create returns (and later the one reallocate
# returns) replaces the placeholder id of the sample events, in copies outside the workspace.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

# Writes go to the state order: the GETs read what the PUT/POSTs created; the consumer and the
# relay run last, over what the HTTP functions enqueued.
ORDER=(
    location-put location-get supply-post availability-get stock-shards-put stock-shards-get order-save order-get
    allocation-settings-put allocation-settings-get allocation-create allocation-get allocation-update
    allocation-query allocation-explain allocation-reconcile allocation-reallocate allocation-cancel
    component-log-level order-mass-action mass-allocate-planner mass-allocate-worker job-execution-search
    job-execution-results job-execution-abort order-type-put order-type-get order-type-list message-template-put
    message-template-get message-template-list order-cancel order-release order-releases-get job-execution-trigger
    change-tracker-consumer order-pipeline outbox-relay milestone-scheduler
)
# The allocation id in the sample events; these events get the real id substituted.
PLACEHOLDER_ALLOCATION_ID=633f216c68f1b4456659161c
NEEDS_ALLOCATION_ID=" allocation-get allocation-update allocation-reallocate allocation-cancel "
# The job id in the sample events; the events after order-mass-action get the id it returns,
# and the abort event the UniqueJobId that job-execution-search returns.
PLACEHOLDER_JOB_ID=js17952000000000000000001
PLACEHOLDER_UNIQUE_JOB_ID="demo::X::orderMassActionJob::$PLACEHOLDER_JOB_ID::order::26-11-24 01:00:00::ADHOC"
NEEDS_JOB_ID=" mass-allocate-planner mass-allocate-worker job-execution-search job-execution-results job-execution-abort "

# cargo-lambda and the zig it ships come from the project's venv.
if [[ ! -x .venv/bin/cargo-lambda ]]; then
    [[ -x .venv/bin/python ]] || python3 -m venv .venv
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "cargo-lambda==${CARGO_LAMBDA_VERSION:-1.9.2}"
fi
export PATH="$ROOT/.venv/bin:$PATH"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Everything this script writes lives outside the workspace: watch rebuilds on changes in it.
WORK_DIR=$(mktemp -d -t oms-invoke.XXXXXX)
export OMS_DATA_DIR="$WORK_DIR/data"
mkdir -p "$OMS_DATA_DIR"
export OMS_LOG_FORMAT=text
# No TABLE_NAME: the embedded store. No OMS_JWT_SECRET: trust the authorizer claims in the events.
unset TABLE_NAME CHANGE_TRACKER_QUEUE_URL MASS_ALLOCATE_PLAN_QUEUE_URL MASS_ALLOCATE_CHUNK_QUEUE_URL \
    ORDER_PIPELINE_QUEUE_URL RELEASE_QUEUE_URL ORDER_EVENTS_QUEUE_URL NOTIFICATIONS_QUEUE_URL OMS_JWT_SECRET
WATCH_LOG="$WORK_DIR/watch.log"
WATCH_PID=

cleanup() {
    if [[ -n "$WATCH_PID" ]]; then
        # watch runs cargo, which runs the functions: end the whole process group.
        kill -TERM -- "-$WATCH_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 -- "-$WATCH_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL -- "-$WATCH_PID" 2>/dev/null || true
        wait "$WATCH_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

events=()
for name in "${ORDER[@]}"; do
    if [[ ! -f "events/$name.json" ]]; then
        echo "missing sample event events/$name.json" >&2
        exit 1
    fi
    events+=("$name")
done
# Sample events added later than this list run after it, by name.
for file in events/*.json; do
    name=$(basename "$file" .json)
    [[ " ${ORDER[*]} " == *" $name "* ]] || events+=("$name")
done

# Build the functions before watch starts, so that no invocation waits for a compile.
build_args=()
for name in "${events[@]}"; do build_args+=(--bin "$name"); done
echo "building ${#events[@]} functions"
cargo build --quiet "${build_args[@]}"

PORT=$(free_port)
# setsid: watch leads its own process group, which cleanup ends as a whole.
setsid cargo lambda watch --ignore-changes --quiet -A 127.0.0.1 -P "$PORT" \
    --env-var "OMS_DATA_DIR=$OMS_DATA_DIR" --env-var "OMS_LOG_FORMAT=text" >"$WATCH_LOG" 2>&1 &
WATCH_PID=$!

if ! python3 - "http://127.0.0.1:$PORT/" "$WATCH_PID" <<'PY'
import os, sys, time, urllib.error, urllib.request
url, pid = sys.argv[1], int(sys.argv[2])
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)  # watch exited
    try:
        urllib.request.urlopen(url, timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)  # any HTTP answer means the server is up
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PY
then
    echo "cargo lambda watch did not answer on 127.0.0.1:$PORT:" >&2
    cat "$WATCH_LOG" >&2
    exit 1
fi

# Prints the outcome of one response: its status, or the batch failures. Exits non-zero for an HTTP
# status other than a 2xx (or other than $1 when given) or a reported batch failure.
judge() {
    python3 -c '
import json, sys
expected = int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1] else None
try:
    response = json.loads(sys.stdin.read())
except ValueError:
    response = None
if isinstance(response, dict) and "statusCode" in response:
    status = int(response["statusCode"])
    print(status)
    ok = status == expected if expected is not None else 200 <= status < 300
    sys.exit(0 if ok else 1)
if isinstance(response, dict) and "batchItemFailures" in response:
    failures = response["batchItemFailures"] or []
    print(f"ok, {len(failures)} batch item failures")
    sys.exit(1 if failures else 0)
print("ok")
' "$@"
}

# Prints the string at a dotted path (e.g. 0.allocationId) of an HTTP response's JSON body.
body_field() {
    python3 -c '
import base64, json, sys
response = json.loads(sys.stdin.read())
body = response.get("body") or ""
if response.get("isBase64Encoded"):
    body = base64.b64decode(body).decode()
value = json.loads(body)
for part in sys.argv[1].split("."):
    value = value[int(part)] if isinstance(value, list) else value[part]
if not isinstance(value, str) or not value:
    sys.exit(1)
print(value)
' "$1"
}

# Copies of location-put and supply-post for the Dallas DC, the target of the reallocate event.
dallas_events() {
    python3 - "$WORK_DIR" <<'PY'
import json, sys
out = sys.argv[1]
def body_of(event, body):
    event["body"] = json.dumps(body, separators=(",", ":"))
    event["headers"]["content-length"] = str(len(event["body"].encode()))
location = json.load(open("events/location-put.json"))
location["rawPath"] = location["requestContext"]["http"]["path"] = "/inventory/api/location/DC-DFW"
location["pathParameters"] = {"LocationId": "DC-DFW"}
body = json.loads(location["body"])
body.update({"Name": "Dallas DC", "Latitude": 32.90, "Longitude": -97.04, "Priority": 20})
body_of(location, body)
json.dump(location, open(f"{out}/location-put-dfw.json", "w"), indent=2)
supply = json.load(open("events/supply-post.json"))
body = json.loads(supply["body"])
for row in body["Supply"]:
    row["LocationId"] = "DC-DFW"
body_of(supply, body)
json.dump(supply, open(f"{out}/supply-post-dfw.json", "w"), indent=2)
PY
}

passed=0
failed=0
RESPONSE=

# invoke LABEL FUNCTION DATA_FILE [EXPECTED_STATUS]: one invocation, one line of output.
invoke() {
    local label=$1 name=$2 data=$3 expected=${4:-} outcome
    RESPONSE=
    if ! RESPONSE=$(cargo lambda invoke "$name" --data-file "$data" -A 127.0.0.1 -P "$PORT" -o json 2>"$WORK_DIR/invoke.err"); then
        printf '  %-34s invocation failed\n' "$label"
        sed 's/^/    /' "$WORK_DIR/invoke.err" >&2
        failed=$((failed + 1))
        return 1
    fi
    if outcome=$(judge "$expected" <<<"$RESPONSE"); then
        printf '  %-34s %s\n' "$label" "$outcome"
        passed=$((passed + 1))
    else
        printf '  %-34s %s%s\n' "$label" "$outcome" "${expected:+ (expected $expected)}"
        printf '    %s\n' "$RESPONSE" >&2
        failed=$((failed + 1))
        return 1
    fi
}

# The events after a job id substitution: the job id, and the UniqueJobId in raw and encoded form.
job_events() {
    python3 - "events/$1.json" "$2" "$PLACEHOLDER_JOB_ID" "$job_id" "$PLACEHOLDER_UNIQUE_JOB_ID" "$unique_job_id" <<'PY'
import sys, urllib.parse
source, target, old_id, new_id, old_unique, new_unique = sys.argv[1:7]
text = open(source).read()
if new_unique:
    text = text.replace(urllib.parse.quote(old_unique), urllib.parse.quote(new_unique)).replace(old_unique, new_unique)
open(target, "w").write(text.replace(old_id, new_id))
PY
}

allocation_id=
job_id=
unique_job_id=
for name in "${events[@]}"; do
    data="events/$name.json"
    if [[ "$NEEDS_JOB_ID" == *" $name "* ]]; then
        if [[ -z "$job_id" ]]; then
            printf '  %-34s skipped: no job id from order-mass-action\n' "$name"
            failed=$((failed + 1))
            continue
        fi
        data="$WORK_DIR/$name.json"
        job_events "$name" "$data"
    fi
    if [[ "$NEEDS_ALLOCATION_ID" == *" $name "* ]]; then
        if [[ -z "$allocation_id" ]]; then
            printf '  %-34s skipped: no allocation id from allocation-create\n' "$name"
            failed=$((failed + 1))
            continue
        fi
        data="$WORK_DIR/$name.json"
        sed "s/$PLACEHOLDER_ALLOCATION_ID/$allocation_id/g" "events/$name.json" >"$data"
    fi
    case "$name" in
        allocation-create)
            # Every unit is in stock at DC-ATL: all allocated is a 200 (a 206 is a partial).
            if invoke "$name" "$name" "$data" 200; then
                if allocation_id=$(body_field 0.allocationId <<<"$RESPONSE"); then
                    printf '  %-34s allocationId %s\n' "" "$allocation_id"
                else
                    echo "    allocation-create returned no allocation id: $RESPONSE" >&2
                    allocation_id=
                fi
            fi
            ;;
        allocation-reallocate)
            # The target DC-DFW must exist and hold the units.
            dallas_events
            invoke "location-put (DC-DFW)" location-put "$WORK_DIR/location-put-dfw.json" || true
            invoke "supply-post (SKU-1 at DC-DFW)" supply-post "$WORK_DIR/supply-post-dfw.json" || true
            # Reallocate moves the allocation: cancel the new one it returns.
            if invoke "$name" "$name" "$data"; then
                if allocation_id=$(body_field allocations.0.allocationId <<<"$RESPONSE"); then
                    printf '  %-34s new allocationId %s\n' "" "$allocation_id"
                else
                    echo "    allocation-reallocate returned no new allocation id: $RESPONSE" >&2
                fi
            fi
            ;;
        order-mass-action)
            if invoke "$name" "$name" "$data" 200; then
                if job_id=$(body_field data.JobScheduleId <<<"$RESPONSE"); then
                    printf '  %-34s JobScheduleId %s\n' "" "$job_id"
                else
                    echo "    order-mass-action returned no JobScheduleId: $RESPONSE" >&2
                    job_id=
                fi
            fi
            ;;
        job-execution-search)
            if invoke "$name" "$name" "$data" 200; then
                unique_job_id=$(body_field data.0.UniqueJobId <<<"$RESPONSE") || unique_job_id=
                printf '  %-34s %s\n' "" "$(body_field data.0.Status <<<"$RESPONSE" || echo "no job found")"
            fi
            ;;
        job-execution-abort)
            # The worker event processed the job's only order, which completed it: nothing to abort.
            invoke "$name (completed job)" "$name" "$data" 409 || true
            ;;
        *)
            invoke "$name" "$name" "$data" || true
            ;;
    esac
done

if ((failed > 0)); then
    echo "function log (cargo lambda watch):" >&2
    tail -n 100 "$WATCH_LOG" >&2
fi
echo "invocations: $passed passed, $failed failed"
((failed == 0))
