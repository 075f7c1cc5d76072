#!/usr/bin/env bash
# Stream on versus off, with the drift between runs taken out: each variant
# runs on a fresh server and data directory, the variants alternate, and
# every round runs all of them. wrk (Debian package `wrk`), 16 connections,
# one wrk thread, durable storage in buffered mode.
#
# Usage: bench/stream-ab.sh put|update SECONDS ROUNDS VARIANT...
# A variant is VIEW (off, KEYS_ONLY, NEW_IMAGE, OLD_IMAGE, NEW_AND_OLD_IMAGES)
# or BINARY:VIEW to compare two builds. `put` writes 1 KB items with fresh
# keys (bench/put.lua); `update` first writes items for a second, then ADDs
# to 1,000 of them (bench/update.lua). Examples:
#   bench/stream-ab.sh put 10 3 off KEYS_ONLY NEW_IMAGE NEW_AND_OLD_IMAGES
#   bench/stream-ab.sh update 10 2 /tmp/old/tidepool:NEW_IMAGE target/dist/tidepool:NEW_IMAGE
set -euo pipefail
CALLER=$PWD
cd "$(dirname "$0")/.."
OP=$1 DUR=$2 ROUNDS=$3
shift 3
case $OP in put | update) ;; *) echo "the operation is put or update, not $OP" >&2; exit 2 ;; esac
PORT=${BENCH_PORT:-8766}
URL="http://127.0.0.1:$PORT/"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
cargo build --profile dist --quiet
call() { curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-amz-json-1.0' \
  -H "X-Amz-Target: DynamoDB_20120810.$1" --data "$2" "$URL"; }
PID= DATA=
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  if [ -n "$DATA" ]; then rm -rf "$DATA"; fi
}
trap cleanup EXIT
if [ "$(call ListTables '{}' 2>/dev/null)" = 200 ]; then
  echo "something already serves port $PORT; set BENCH_PORT" >&2
  exit 1
fi
for round in $(seq 1 "$ROUNDS"); do
  for variant in "$@"; do
    BIN=$PWD/target/dist/tidepool VIEW=$variant
    if [[ $variant == *:* ]]; then
      BIN=${variant%:*} VIEW=${variant##*:}
      [[ $BIN == /* ]] || BIN=$CALLER/$BIN
    fi
    DATA=$(mktemp -d)
    RUST_LOG=warn "$BIN" serve --port "$PORT" --data-dir "$DATA" >/dev/null 2>&1 &
    PID=$!
    until [ "$(call ListTables '{}' 2>/dev/null)" = 200 ]; do
      kill -0 "$PID" 2>/dev/null || { echo "$BIN did not start" >&2; exit 1; }
      sleep 0.01
    done
    spec=""
    [ "$VIEW" != off ] && spec=',"StreamSpecification":{"StreamEnabled":true,"StreamViewType":"'$VIEW'"}'
    status=$(call CreateTable '{"TableName":"bench","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}],"AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"BillingMode":"PAY_PER_REQUEST"'"$spec"'}')
    [ "$status" = 200 ] || { echo "CreateTable for $variant answered $status" >&2; exit 1; }
    script=put.lua
    if [ "$OP" = update ]; then
      wrk -t1 -c1 -d1s -s bench/put.lua "$URL" >/dev/null
      script=update.lua
    fi
    out=$(wrk -t1 -c16 -d"${DUR}s" -s "bench/$script" "$URL")
    # wrk counts non-2xx answers itself (the scripts' own count stays in
    # their request threads).
    if grep -q 'Non-2xx' <<<"$out"; then echo "$variant: $(grep 'Non-2xx' <<<"$out")" >&2; exit 1; fi
    echo "round $round  $OP  $variant  $(awk '/Requests\/sec/{print $2}' <<<"$out")/s"
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
    rm -rf "$DATA"; DATA=
  done
done
