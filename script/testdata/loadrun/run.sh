#!/usr/bin/env bash
# The Lua load run: the benchmark upstream and two gateways share core 0
# (GOMAXPROCS=1), one with the builtin headers policy and one with a Lua
# policy doing the same edits; wrk runs on core 1. After a warm-up, wrk
# goes round the upstream directly and the two gateways, three runs of
# each, and prints the medians and the Lua gateway's throughput as a share
# of the builtin one's. Every run is bounded (DURATION seconds) and stays
# on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../../.."
DURATION=${DURATION:-10}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/verdict" ./cmd/verdict
go build -o "$tmp/benchupstream" ./gateway/internal/benchupstream

GOMAXPROCS=1 taskset -c 0 "$tmp/benchupstream" -addr 127.0.0.1:9192 & pids+=($!)
GOMAXPROCS=1 taskset -c 0 "$tmp/verdict" serve --config script/testdata/loadrun/gateway-headers.yaml --log-level warn & pids+=($!)
GOMAXPROCS=1 taskset -c 0 "$tmp/verdict" serve --config script/testdata/loadrun/gateway-lua.yaml --log-level warn & pids+=($!)
for port in 8192 8193; do
  for _ in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:$port/x && break; sleep 0.1; done
done
echo "check: $(curl -s -D - -o /dev/null http://127.0.0.1:8193/x | tr -d '\r' | grep -iE '^(HTTP|x-served-by)' | tr '\n' ' ')"

wrk1() { taskset -c 1 wrk -t1 -c64 -d"$1"s --latency "$2"; }
for u in http://127.0.0.1:9192/x http://127.0.0.1:8192/x http://127.0.0.1:8193/x; do wrk1 2 "$u" >/dev/null; done
for i in 1 2 3; do
  wrk1 "$DURATION" http://127.0.0.1:9192/x > "$tmp/direct$i"
  wrk1 "$DURATION" http://127.0.0.1:8192/x > "$tmp/headers$i"
  wrk1 "$DURATION" http://127.0.0.1:8193/x > "$tmp/lua$i"
done

for name in direct headers lua; do
  for f in "$tmp/$name"?; do
    echo "$name $(awk '/Requests\/sec/ {rps=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2} END {print rps " req/s p50 " p50 " p99 " p99}' "$f") $(grep -E 'Non-2xx|Socket errors' "$f" | tr '\n' ' ' || true)"
  done
done
median() { awk '/Requests\/sec/ {print $2}' "$@" | sort -n | sed -n 2p; }
d=$(median "$tmp"/direct?); h=$(median "$tmp"/headers?); l=$(median "$tmp"/lua?)
echo "median direct $d req/s, headers $h req/s, lua $l req/s: lua $(awk -v l="$l" -v h="$h" 'BEGIN {printf "%.3f", l/h}') of headers, $(awk -v l="$l" -v h="$h" 'BEGIN {printf "%.1f", (1/l-1/h)*1e6}') µs more per request"
