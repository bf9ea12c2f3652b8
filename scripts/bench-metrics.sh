#!/usr/bin/env bash
# The cost of a Prometheus scrape of `pacer up` (the whole process: ingest, 2 workers, the control plane) under
# a steady load, against GET /healthz on the same server in the same run as the reference. Prints the body
# size, the series count and the median and p90 of 50 requests of each. Usage: scripts/bench-metrics.sh [load]
set -euo pipefail
cd "$(dirname "$0")/.."
LOAD="${1:-2000}"
cargo build --release --locked -q
STATE="$(mktemp -d)"
cleanup() { [ -n "${UP:-}" ] && kill -INT "$UP" 2>/dev/null && wait "$UP" 2>/dev/null || true; rm -rf "$STATE"; }
trap cleanup EXIT
./target/release/pacer up --no-console --state-dir "$STATE" --http-port 0 --control-port 0 \
  --broker-storage memory --load "$LOAD" >"$STATE/up.out" 2>"$STATE/up.log" &
UP=$!
for _ in $(seq 120); do grep -q "^  metrics " "$STATE/up.out" 2>/dev/null && break; sleep 1; done
METRICS=$(awk '/^  metrics /{print $2}' "$STATE/up.out")
BASE=${METRICS%/metrics}
sleep 20
times() { for _ in $(seq 50); do curl -s -o /dev/null -w '%{time_total}\n' "$1"; done | sort -n; }
pct() { awk -v p="$1" '{v[NR]=$1} END {i=int(NR*p); if (i<1) i=1; printf "%.2f", v[i]*1000}'; }
M=$(times "$METRICS"); H=$(times "$BASE/healthz")
BYTES=$(curl -s "$METRICS" | wc -c); SERIES=$(curl -s "$METRICS" | grep -vc '^#')
echo "load $LOAD events/s; /metrics: $BYTES bytes, $SERIES series"
echo "GET /metrics  p50 $(echo "$M" | pct 0.5) ms  p90 $(echo "$M" | pct 0.9) ms"
echo "GET /healthz  p50 $(echo "$H" | pct 0.5) ms  p90 $(echo "$H" | pct 0.9) ms"
