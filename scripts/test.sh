#!/usr/bin/env bash
# The project's one test command (.ci/run calls it): formatting, lints, the test suite against
# both store backends (the DynamoDB/SQS one on a local moto server), the SAM template checks,
# every function invoked with its sample event, the README walkthrough, and every route fuzzed
# with schemathesis against its OpenAPI document. Works on a fresh clone that has only the
# Rust toolchain and python3: the Python tools go into ./.venv, pinned.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Pinned tool versions (keep in step with what the project is tested with).
MOTO_VERSION=5.2.5
CFN_LINT_VERSION=1.58.0
SAM_CLI_VERSION=1.170.0
SCHEMATHESIS_VERSION=4.32.5
export CARGO_LAMBDA_VERSION=1.9.2 # read by scripts/invoke-events.sh

step() { printf '\n==> %s\n' "$*"; }

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# ---------------------------------------------------------------- tools

step "tools: .venv (moto $MOTO_VERSION, cfn-lint $CFN_LINT_VERSION, aws-sam-cli $SAM_CLI_VERSION, cargo-lambda $CARGO_LAMBDA_VERSION, schemathesis $SCHEMATHESIS_VERSION)"
if [[ ! -x .venv/bin/python ]]; then
    python3 -m venv .venv
fi
requirements=("moto[server]==$MOTO_VERSION" "cfn-lint==$CFN_LINT_VERSION" "aws-sam-cli==$SAM_CLI_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION" "schemathesis==$SCHEMATHESIS_VERSION")
# A stamp of the pins skips pip entirely when nothing changed since the last install.
stamp=.venv/.oms-test-tools
if [[ "$(cat "$stamp" 2>/dev/null || true)" != "${requirements[*]}" ]] ||
    [[ ! -x .venv/bin/moto_server || ! -x .venv/bin/cfn-lint || ! -x .venv/bin/sam || ! -x .venv/bin/cargo-lambda ]] ||
    [[ ! -x .venv/bin/schemathesis ]]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check "${requirements[@]}"
    printf '%s' "${requirements[*]}" >"$stamp"
fi
if command -v rustup >/dev/null; then
    cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
    cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
fi

# ---------------------------------------------------------------- emulator

MOTO_PORT=$(free_port)
MOTO_URL="http://127.0.0.1:$MOTO_PORT"
MOTO_LOG=$(mktemp -t oms-moto.XXXXXX.log)
TEST_LOG=$(mktemp -t oms-tests.XXXXXX.log)
MOTO_PID=

cleanup() {
    if [[ -n "$MOTO_PID" ]]; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
    fi
    rm -f "$MOTO_LOG" "$TEST_LOG"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "emulator: moto (scripts/emulator.py, one request at a time) on $MOTO_URL"
.venv/bin/python scripts/emulator.py 127.0.0.1 "$MOTO_PORT" >"$MOTO_LOG" 2>&1 &
MOTO_PID=$!
# Any HTTP answer (even an error status) means the server is up.
if ! .venv/bin/python - "$MOTO_URL" <<'PY'
import sys, time, urllib.error, urllib.request
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        urllib.request.urlopen(sys.argv[1] + "/moto-api/", timeout=2)
        sys.exit(0)
    except urllib.error.HTTPError:
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PY
then
    echo "moto_server did not answer on $MOTO_URL:" >&2
    cat "$MOTO_LOG" >&2
    exit 1
fi

export OMS_TEST_DYNAMODB_ENDPOINT="$MOTO_URL"
export OMS_TEST_SQS_ENDPOINT="$MOTO_URL"
export OMS_REQUIRE_EMULATOR=1
export AWS_EC2_METADATA_DISABLED=true
# The emulator takes any credentials; fixed fake ones keep a developer's real ones out of tests.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE TABLE_NAME CHANGE_TRACKER_QUEUE_URL

# ---------------------------------------------------------------- checks

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

if cargo nextest --version >/dev/null 2>&1; then
    step "cargo nextest run --workspace --no-fail-fast"
    cargo nextest run --workspace --no-fail-fast 2>&1 | tee "$TEST_LOG"
    # "Summary [ 12.3s] 57 tests run: 57 passed, 2 skipped"
    passed=$(sed -nE 's/.* tests? run: ([0-9]+) passed.*/\1/p' "$TEST_LOG" | tail -n 1)
else
    step "cargo test --workspace (cargo-nextest not installed)"
    cargo test --workspace --no-fail-fast 2>&1 | tee "$TEST_LOG"
    # One "test result: ok. N passed; ..." line per test binary.
    passed=$(sed -nE 's/^test result: ok\. ([0-9]+) passed.*/\1/p' "$TEST_LOG" | awk '{ n += $1 } END { print n + 0 }')
fi

step "cfn-lint infra/template.yaml"
.venv/bin/cfn-lint infra/template.yaml

step "sam validate --lint -t infra/template.yaml"
SAM_CLI_TELEMETRY=0 .venv/bin/sam validate --lint -t infra/template.yaml

step "scripts/invoke-events.sh (cargo lambda invoke, embedded store)"
scripts/invoke-events.sh

# A fresh local server (debug build) on a free port with its own data folder:
# sets SERVER_DIR, SERVER_URL and SERVER_PID, and TOKEN (every permission, tenant demo).
start_local_server() {
    SERVER_DIR=$(mktemp -d -t oms-local.XXXXXX)
    local port
    port=$(free_port)
    SERVER_URL="http://127.0.0.1:$port"
    env -u OMS_JWT_SECRET OMS_DATA_DIR="$SERVER_DIR" OMS_ADDR="127.0.0.1:$port" "${CARGO_TARGET_DIR:-target}/debug/oms-local" \
        >"$SERVER_DIR/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        curl -s -o /dev/null "$SERVER_URL/health" && break
        sleep 0.1
    done
    TOKEN=$(env -u OMS_JWT_SECRET OMS_DATA_DIR="$SERVER_DIR" "${CARGO_TARGET_DIR:-target}/debug/oms-local" mint-token)
}

# Stops the server; on failure ($1 non-zero) prints its log first.
stop_local_server() {
    kill -INT "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    if [[ $1 -ne 0 ]]; then
        cat "$SERVER_DIR/server.log" >&2
    fi
    rm -rf "$SERVER_DIR"
}

cargo build -q -p local

step "scripts/walkthrough.sh (the README walkthrough against a fresh local server)"
start_local_server
walk_status=0
OMS_DATA_DIR=$SERVER_DIR OMS_LOCAL="${CARGO_TARGET_DIR:-target}/debug/oms-local" TOKEN=$TOKEN \
    scripts/walkthrough.sh "$SERVER_URL" || walk_status=$?
stop_local_server $walk_status
[[ $walk_status -eq 0 ]]

step "scripts/fuzz-api.sh (schemathesis on every route of /openapi.json, against a fresh local server)"
start_local_server
fuzz_status=0
TOKEN=$TOKEN scripts/fuzz-api.sh "$SERVER_URL" || fuzz_status=$?
stop_local_server $fuzz_status
[[ $fuzz_status -eq 0 ]]

echo
echo "${passed:-0} passed, 0 failed"
