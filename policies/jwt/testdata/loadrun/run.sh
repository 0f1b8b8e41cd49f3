#!/usr/bin/env bash
# Load run of the jwt, jwt_claim_check and routing policies: the benchmark
# upstream and the gateway share core 0 (GOMAXPROCS=1), wrk runs on core 1.
# After a warm-up, wrk alternates between the service whose chain is
# [apicast] and the one whose chain is [jwt, jwt_claim_check, routing,
# apicast], three runs of each, and prints the ratio of the medians. Every
# run is bounded (DURATION seconds) and stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../../../.."
DURATION=${DURATION:-10}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/verdict" ./cmd/verdict
go build -o "$tmp/benchupstream" ./gateway/internal/benchupstream
GOMAXPROCS=1 taskset -c 0 "$tmp/benchupstream" -addr 127.0.0.1:9192 & pids+=($!)
GOMAXPROCS=1 taskset -c 0 "$tmp/verdict" serve --config policies/jwt/testdata/loadrun/gateway.yaml --log-level warn & pids+=($!)
url=http://127.0.0.1:8191/api/items
for _ in $(seq 300); do curl -s -o /dev/null -H "Host: plain.test" "$url" && break; sleep 0.1; done

# An HS256 token for the jwt service, valid for a day.
token=$(python3 - <<'PY'
import base64, hashlib, hmac, json, time
b = lambda d: base64.urlsafe_b64encode(d).rstrip(b"=").decode()
h = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
c = b(json.dumps({"sub": "alice", "aud": "orders", "iss": "https://idp.test", "roles": ["reader"], "plan": "gold", "exp": int(time.time()) + 86400}).encode())
s = b(hmac.new(b"load-run-shared-secret", (h + "." + c).encode(), hashlib.sha256).digest())
print(h + "." + c + "." + s)
PY
)
echo "check: plain $(curl -s -o /dev/null -w '%{http_code}' -H 'Host: plain.test' $url)," \
  "jwt $(curl -s -o /dev/null -w '%{http_code}' -H 'Host: jwt.test' -H "Authorization: Bearer $token" $url)," \
  "jwt without token $(curl -s -o /dev/null -w '%{http_code}' -H 'Host: jwt.test' $url)"

wrk1() { taskset -c 1 wrk -t1 -c64 -d"$1"s --latency "${@:3}" "$2"; }
wrk1 2 "$url" -H "Host: plain.test" >/dev/null
wrk1 2 "$url" -H "Host: jwt.test" -H "Authorization: Bearer $token" >/dev/null
for i in 1 2 3; do
  wrk1 "$DURATION" "$url" -H "Host: plain.test" > "$tmp/plain$i"
  wrk1 "$DURATION" "$url" -H "Host: jwt.test" -H "Authorization: Bearer $token" > "$tmp/jwt$i"
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
summary apicast "$tmp"/plain?
summary jwt-chain "$tmp"/jwt?
median() { awk '/Requests\/sec/ {print $2}' "$@" | sort -n | sed -n 2p; }
p=$(median "$tmp"/plain?); j=$(median "$tmp"/jwt?)
echo "median [apicast] $p req/s, [jwt, jwt_claim_check, routing, apicast] $j req/s: ratio $(awk -v j="$j" -v p="$p" 'BEGIN {printf "%.3f", j/p}')"
