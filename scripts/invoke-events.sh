#!/usr/bin/env bash
# Proves every function answers its sample event (events/<name>.json) the way Lambda would call
# it: `cargo lambda watch` emulates the Lambda control plane on 127.0.0.1 and `cargo lambda invoke`
# sends each event. Offline, on the embedded store in a temp dir (TABLE_NAME unset).
# Fails when an invocation errors, an HTTP response is a 5xx, or an SQS batch reports failures.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

# Writes go to the state order: the GETs read what the PUT/POSTs created; the consumer and the
# relay run last, over what the HTTP functions enqueued.
ORDER=(location-put location-get supply-post availability-get order-save order-get change-tracker-consumer outbox-relay)

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
unset TABLE_NAME CHANGE_TRACKER_QUEUE_URL OMS_JWT_SECRET
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

# Prints the outcome of one response; exits non-zero for a 5xx or a reported batch failure.
judge() {
    python3 -c '
import json, sys
try:
    response = json.loads(sys.stdin.read())
except ValueError:
    response = None
if isinstance(response, dict) and "statusCode" in response:
    status = int(response["statusCode"])
    print(status)
    sys.exit(1 if status >= 500 else 0)
if isinstance(response, dict) and "batchItemFailures" in response:
    failures = response["batchItemFailures"] or []
    print(f"ok, {len(failures)} batch item failures")
    sys.exit(1 if failures else 0)
print("ok")
'
}

passed=0
failed=0
for name in "${events[@]}"; do
    if ! response=$(cargo lambda invoke "$name" --data-file "events/$name.json" -A 127.0.0.1 -P "$PORT" -o json 2>"$WORK_DIR/invoke.err"); then
        printf '  %-26s invocation failed\n' "$name"
        sed 's/^/    /' "$WORK_DIR/invoke.err" >&2
        failed=$((failed + 1))
        continue
    fi
    if outcome=$(judge <<<"$response"); then
        printf '  %-26s %s\n' "$name" "$outcome"
        passed=$((passed + 1))
    else
        printf '  %-26s %s\n' "$name" "$outcome"
        printf '    %s\n' "$response" >&2
        failed=$((failed + 1))
    fi
done

if ((failed > 0)); then
    echo "function log (cargo lambda watch):" >&2
    tail -n 100 "$WATCH_LOG" >&2
fi
echo "invocations: $passed passed, $failed failed"
((failed == 0))
