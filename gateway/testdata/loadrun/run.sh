#!/usr/bin/env bash
# The gateway's load run: the benchmark upstream, a minimal
# httputil.ReverseProxy and the gateway share core 0 (each with
# GOMAXPROCS=1), wrk runs on core 1. After a warm-up, wrk goes round the
# upstream directly, the ReverseProxy and the gateway, three runs of each,
# and the ratios of the medians to direct are printed. Every run is bounded
# (DURATION seconds) and stays on 127.0.0.1. The gateway runs with the
# garbage collector target `verdict serve` picks unless GATEWAY_GOGC is set.
set -euo pipefail
cd "$(dirname "$0")/../../.."
DURATION=${DURATION:-10}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/verdict" ./cmd/verdict
go build -o "$tmp/benchupstream" ./gateway/internal/benchupstream

GOMAXPROCS=1 taskset -c 0 "$tmp/benchupstream" -addr 127.0.0.1:9190 & pids+=($!)
GOMAXPROCS=1 taskset -c 0 "$tmp/benchupstream" -addr 127.0.0.1:9191 -reverse-proxy http://127.0.0.1:9190 & pids+=($!)
GOMAXPROCS=1 GOGC=${GATEWAY_GOGC:-} taskset -c 0 "$tmp/verdict" serve --config gateway/testdata/loadrun/gateway.yaml --log-level warn & pids+=($!)
for _ in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:8190/v2/x && break; sleep 0.1; done

direct=http://127.0.0.1:9190/api/items
through=http://127.0.0.1:8190/v2/items
rproxy=http://127.0.0.1:9191/api/items
hdr="Origin: https://app.example.com"
echo "check: $(curl -s -D - -H "$hdr" $through | tr -d '\r' | grep -iE '^(HTTP|x-served-by|access-control-allow-origin)' | tr '\n' ' ')"

wrk1() { taskset -c 1 wrk -t1 -c64 -d"$1"s --latency -H "$hdr" "$2"; }
wrk1 2 "$direct" >/dev/null
wrk1 2 "$rproxy" >/dev/null
wrk1 2 "$through" >/dev/null

for i in 1 2 3; do
  wrk1 "$DURATION" "$direct" > "$tmp/direct$i"
  wrk1 "$DURATION" "$rproxy" > "$tmp/rproxy$i"
  wrk1 "$DURATION" "$through" > "$tmp/gateway$i"
done

summary() { # name files...
  local name=$1; shift
  for f in "$@"; do
    rps=$(awk '/Requests\/sec/ {print $2}' "$f")
    p50=$(awk '$1=="50%" {print $2}' "$f")
    p99=$(awk '$1=="99%" {print $2}' "$f")
    errs=$(grep -E 'Non-2xx|Socket errors' "$f" | tr '\n' ' ' || true)
    echo "$name $rps req/s p50 $p50 p99 $p99 $errs"
  done
}
summary direct "$tmp"/direct?
summary reverseproxy "$tmp"/rproxy?
summary gateway "$tmp"/gateway?
median() { awk '/Requests\/sec/ {print $2}' "$@" | sort -n | sed -n 2p; }
d=$(median "$tmp"/direct?); p=$(median "$tmp"/rproxy?); g=$(median "$tmp"/gateway?)
echo "median direct $d req/s, reverseproxy $p req/s ($(awk -v g="$p" -v d="$d" 'BEGIN {printf "%.3f", g/d}') of direct), gateway $g req/s ($(awk -v g="$g" -v d="$d" 'BEGIN {printf "%.3f", g/d}') of direct)"
