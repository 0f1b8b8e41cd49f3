#!/usr/bin/env bash
# The Pexip door's load run. Verdict on this directory's configuration
# (1,000 VMRs in a table, 100 rules, the VMR rule last) is measured beside
# three baselines, all on core 0 with wrk on core 1:
#   express  the seed's Express example (../express-baseline/server.js),
#   hello    a plain net/http handler answering ~100 bytes,
#   nginx    one nginx worker answering a constant 100 bytes (a floor for
#            what any server reaches on the machine).
# For each number of connections in CONNS, after a warm-up, wrk goes round
# the servers three times (DURATION seconds each) and prints req/s, p50 and
# p99 per run, then the medians. A baseline whose tool is missing (node,
# nginx) is left out with a note. Everything stays on 127.0.0.1 and every
# run is bounded in time. Needs wrk, and curl.
set -euo pipefail
cd "$(dirname "$0")/../../.."
DURATION=${DURATION:-10}
CONNS=${CONNS:-64 16 1}
tmp=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

go build -o "$tmp/verdict" ./cmd/verdict
go build -o "$tmp/hello" ./gateway/internal/benchupstream
sed -e 's/127.0.0.1:3000/127.0.0.1:9300/; s/127.0.0.1:9421/127.0.0.1:9301/' \
  examples/pexip/load/verdict.yaml > examples/pexip/load/.run.yaml
trap 'cleanup; rm -f examples/pexip/load/.run.yaml' EXIT

Q='protocol=sip&call_direction=dial_in&bandwidth=0&vendor=Cisco%2FCE&registered=False&trigger=invite&remote_display_name=Alice&remote_alias=sip%3Aalice%40example.com&remote_address=10.44.151.5&remote_port=58435&call_tag=&idp_uuid=&location=London&node_ip=10.144.101.21&version_id=35&pseudo_version_id=77683.0.0'
declare -A url
names=()

GOMAXPROCS=1 taskset -c 0 "$tmp/verdict" serve --config examples/pexip/load/.run.yaml 2>"$tmp/verdict.log" & pids+=($!)
url[verdict]="http://127.0.0.1:9300/policy/v1/service/configuration?$Q&local_alias=sip%3Aroom-0789%40example.com"
names+=(verdict)
GOMAXPROCS=1 taskset -c 0 "$tmp/hello" -addr 127.0.0.1:9302 & pids+=($!)
url[hello]=http://127.0.0.1:9302/
names+=(hello)

if command -v node >/dev/null && command -v npm >/dev/null; then
  cp examples/pexip/express-baseline/server.js "$tmp/"
  if (cd "$tmp" && npm install --silent --no-audit --no-fund express >/dev/null 2>&1); then
    (cd "$tmp" && PORT=9303 exec taskset -c 0 node server.js) >/dev/null 2>&1 & pids+=($!)
    url[express]="http://127.0.0.1:9303/policy/v1/service/configuration?$Q&local_alias=my-vmr-conference"
    names+=(express)
  else
    echo "note: npm install express failed; no Express baseline"
  fi
else
  echo "note: node is not installed; no Express baseline"
fi

if command -v nginx >/dev/null; then
  mkdir -p "$tmp/nginx/logs"
  cat > "$tmp/nginx/nginx.conf" <<CONF
worker_processes 1;
daemon off;
error_log $tmp/nginx/logs/error.log;
pid $tmp/nginx/nginx.pid;
events { worker_connections 1024; }
http {
  access_log off;
  server {
    listen 127.0.0.1:9304;
    location / { default_type application/json; return 200 '$(printf '%100s' '' | tr ' ' x)'; }
  }
}
CONF
  taskset -c 0 nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" & pids+=($!)
  url[nginx]=http://127.0.0.1:9304/
  names+=(nginx)
else
  echo "note: nginx is not installed; no nginx floor"
fi

for n in "${names[@]}"; do
  for _ in $(seq 100); do curl -sf -o /dev/null "${url[$n]}" && break; sleep 0.1; done
done
echo "check: $(curl -s "${url[verdict]}" | head -c 100)"

wrk1() { taskset -c 1 wrk -t1 -c"$1" -d"$2"s --latency "$3"; }
for c in $CONNS; do
  for n in "${names[@]}"; do wrk1 "$c" 2 "${url[$n]}" >/dev/null; done
  for i in 1 2 3; do
    for n in "${names[@]}"; do wrk1 "$c" "$DURATION" "${url[$n]}" > "$tmp/$n.$c.$i"; done
  done
  for n in "${names[@]}"; do
    for i in 1 2 3; do
      awk -v n="$n" -v c="$c" '/Requests\/sec/ {r=$2} $1=="50%" {p50=$2} $1=="99%" {p99=$2}
        /Non-2xx|Socket errors/ {e=e" "$0} END {print n, "c" c, r " req/s", "p50", p50, "p99", p99, e}' "$tmp/$n.$c.$i"
    done
  done
  median() { awk '/Requests\/sec/ {print $2}' "$tmp/$1.$c".? | sort -n | sed -n 2p; }
  # The median of a latency percentile over the three runs, in ms.
  pmedian() {
    awk -v q="$2" '$1==q {v=$2; u=1
        if (v ~ /us$/) u=0.001; else if (v ~ /ms$/) u=1; else if (v ~ /s$/) u=1000
        sub(/[a-z]+$/, "", v); printf "%.3f\n", v*u}' "$tmp/$1.$c".? | sort -n | sed -n 2p
  }
  line="median at $c connections:"
  for n in "${names[@]}"; do line="$line $n $(median "$n")"; done
  echo "$line"
  for n in "${names[@]}"; do
    echo "median $n c$c: $(median "$n") req/s, p50 $(pmedian "$n" 50%) ms, p99 $(pmedian "$n" 99%) ms"
  done
  if [[ -n ${url[express]:-} ]]; then
    echo "verdict / express at $c connections: $(awk -v v="$(median verdict)" -v e="$(median express)" 'BEGIN {printf "%.2f", v/e}')"
  fi
done
