#!/usr/bin/env bash
# HTTP benchmark of the real server: PutItem (1 KB, stream off and on),
# GetItem, Query (10-item pages), UpdateItem (ADD) and a synchronous Lambda
# Invoke of a trivial component, with wrk (Debian package `wrk`), durable
# storage in buffered mode. Also cold start, idle RSS and reopen time.
#
# Usage: bench/run.sh [seconds-per-op] [connections] [wrk-threads]
# To measure a peer with the same scripts, set BENCH_SERVER_CMD to a command
# that serves DynamoDB on $BENCH_PORT (default 8765), for example
#   BENCH_SERVER_CMD='npx dynalite --port 8765' bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONN=${2:-16}
THREADS=${3:-1}
PORT=${BENCH_PORT:-8765}
URL="http://127.0.0.1:$PORT/"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
[ -n "${BENCH_SERVER_CMD:-}" ] || cargo build --profile dist --quiet
BIN=./target/dist/tidepool
DATA=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$DATA"; }
trap cleanup EXIT

AUTH='AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0'
call() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-amz-json-1.0' -H "Authorization: $AUTH" -H 'X-Amz-Date: 20260101T000000Z' \
  -H "X-Amz-Target: DynamoDB_20120810.$1" --data "$2" "$URL"; }

start_server() {
  local t0 t1
  t0=$(date +%s%N)
  if [ -n "${BENCH_SERVER_CMD:-}" ]; then
    $BENCH_SERVER_CMD >/dev/null 2>&1 &
  else
    RUST_LOG=warn $BIN serve --port "$PORT" --data-dir "$DATA" >/dev/null 2>&1 &
  fi
  PID=$!
  until [ "$(call ListTables '{}' 2>/dev/null)" = 200 ]; do sleep 0.001; done
  t1=$(date +%s%N)
  echo "start to first successful ListTables: $(( (t1 - t0) / 1000000 )) ms"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }

run() { # name script
  local before after hz
  hz=$(getconf CLK_TCK)
  before=$(cpu_ticks)
  echo "== $1 ($CONN connections, $THREADS wrk thread(s), ${DUR}s)"
  wrk -t"$THREADS" -c"$CONN" -d"${DUR}s" --latency -s "bench/$2" "$URL" | grep -E 'Requests/sec|50%|99%|non-200|Socket errors'
  after=$(cpu_ticks)
  echo "server CPU: $(awk -v a="$after" -v b="$before" -v hz="$hz" -v d="$DUR" 'BEGIN{printf "%.0f%% of one core", (a-b)/hz/d*100}')"
}

table() { # name [stream view]
  local spec=""
  [ -n "${2:-}" ] && spec=',"StreamSpecification":{"StreamEnabled":true,"StreamViewType":"'$2'"}'
  call CreateTable '{"TableName":"'$1'","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST"'"$spec"'}' >/dev/null
}

# A fresh server and data directory, so each PutItem variant starts from the
# same state (a previous run's flushes and compactions would weigh on it).
fresh_server() {
  if [ -n "$PID" ]; then kill "$PID"; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$DATA"; DATA=$(mktemp -d)
  start_server >/dev/null
}

start_server
echo "idle RSS: $(awk '/VmRSS/{print $2, $3}' /proc/$PID/status)"
if [ -z "${BENCH_SERVER_CMD:-}" ]; then
  # Stream off, on (two views), and off again: each on a fresh server.
  table bench
  run "PutItem, stream off" put.lua
  fresh_server; table kbench KEYS_ONLY
  BENCH_TABLE=kbench run "PutItem, stream on (KEYS_ONLY)" put.lua
  fresh_server; table sbench NEW_AND_OLD_IMAGES
  BENCH_TABLE=sbench run "PutItem, stream on (NEW_AND_OLD_IMAGES)" put.lua
  fresh_server
fi
# The table the reads and updates use, filled by this PutItem run.
table bench
call CreateTable '{"TableName":"qbench","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"},{"AttributeName":"sk","KeyType":"RANGE"}],"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"},{"AttributeName":"sk","AttributeType":"N"}],"BillingMode":"PAY_PER_REQUEST"}' >/dev/null
for p in $(seq 0 99); do
  for half in 0 1; do
    reqs=""
    for s in $(seq $((half * 5)) $((half * 5 + 4))); do
      reqs="$reqs{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"q$p\"},\"sk\":{\"N\":\"$s\"},\"data\":{\"S\":\"$(printf 'y%.0s' $(seq 1 100))\"}}}},"
    done
    call BatchWriteItem "{\"RequestItems\":{\"qbench\":[${reqs%,}]}}" >/dev/null
  done
done

run PutItem put.lua
run GetItem get.lua
run Query query.lua
run UpdateItem update.lua
if [ -z "${BENCH_SERVER_CMD:-}" ]; then
  # The trivial `echo` component, created with CreateFunction (raw .wasm as ZipFile).
  cargo build --release --quiet --target wasm32-wasip2 --manifest-path examples/Cargo.toml --target-dir target/wasm-examples
  WASM=$(base64 -w0 target/wasm-examples/wasm32-wasip2/release/echo.wasm)
  printf '{"FunctionName":"echo","Runtime":"wasm32-wasip2","Role":"arn:aws:iam::000000000000:role/x","Handler":"echo.wasm","Code":{"ZipFile":"%s"}}' "$WASM" \
    | curl -s -o /dev/null -H 'Content-Type: application/json' --data @- "${URL}2015-03-31/functions"
  run "Invoke (RequestResponse), echo" invoke.lua
fi
CONN=1 run "GetItem, 1 connection" get.lua

echo "== GetItem p50 at 1 connection is the 50% line above"
COUNT=$(curl -s -H 'Content-Type: application/x-amz-json-1.0' -H "Authorization: $AUTH" -H 'X-Amz-Date: 20260101T000000Z' -H 'X-Amz-Target: DynamoDB_20120810.DescribeTable' \
  --data '{"TableName":"bench"}' "$URL" | sed -E 's/.*"ItemCount":([0-9]+).*/\1/')
echo "items in bench table: $COUNT"
[ -n "${BENCH_SERVER_CMD:-}" ] && exit 0
kill "$PID"; wait "$PID" 2>/dev/null || true
echo "== reopen with $COUNT items"
start_server
