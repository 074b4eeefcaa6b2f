#!/usr/bin/env bash
# End-to-end delivery benchmark on loopback: starts `overgang serve --demo`
# (release build, demo configuration and registry, simulated receivers that
# answer with AppRecs, a fresh store in a temporary folder), posts example
# messages at a fixed rate with `overgang-load --rate`, waits for the queues
# to drain, and prints, from the gateway's own delivery statistics:
#
# - delivery throughput: receivers' AppRecs stored per second over the run;
# - latency from a message's arrival at the gateway to its receiver's AppRec
#   being stored (p50, p90, p99, max). This includes intake (validation and
#   the durable commit before the sender's answer), so it is an upper bound
#   of "intake answer → receiver acknowledgement".
#
#   scripts/bench-delivery.sh [RATE] [SECONDS] [CLIENTS]
#
# Environment: CARGO_TARGET_DIR (default target), PORT (default 18282), RUNS
# (default 1). The simulated receivers listen on the demo registry's ports
# 9101-9106. Only ever targets 127.0.0.1; stops the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-500}
T=${2:-20}
C=${3:-32}
PORT=${PORT:-18282}
RUNS=${RUNS:-1}
PATIENTS=${PATIENTS:-1000}
TARGET=${CARGO_TARGET_DIR:-target}
EXAMPLES=../shared/standards/examples/plo-1.6/
[ -d "$EXAMPLES" ] || { echo "missing $EXAMPLES (the public standards beside the repository)" >&2; exit 2; }
cargo build --release -q -p overgang -p overgang-load
BIN=$TARGET/release/overgang
LOAD=$TARGET/release/overgang-load
DATA=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
URL="http://127.0.0.1:$PORT"
OPS="Authorization: Bearer demo-ops-token"

stats() { # $1 = since (RFC 3339)
  curl -s -H "$OPS" "$URL/api/v1/deliveries/stats?since=$1"
}

for run in $(seq "$RUNS"); do
  rm -rf "$DATA/store"
  OVERGANG_LOG__LEVEL=warn "$BIN" serve --config config/demo.toml --demo \
    --listen "127.0.0.1:$PORT" --data "$DATA/store" > "$DATA/out" 2> "$DATA/err" &
  SERVER=$!
  for _ in $(seq 100); do grep -q "listening" "$DATA/out" 2>/dev/null && break; sleep 0.1; done
  # Warm up (connections, caches), then measure from a fresh mark.
  "$LOAD" --url "$URL" --token demo-ehr-token --concurrency "$C" --rate "$RATE" \
    --patients "$PATIENTS" --duration 3s "$EXAMPLES" > /dev/null 2>&1 || true
  sleep 1
  since=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
  t0=$(date +%s.%N)
  load=$("$LOAD" --url "$URL" --token demo-ehr-token --concurrency "$C" --rate "$RATE" \
    --patients "$PATIENTS" --duration "${T}s" --format json "$EXAMPLES")
  # Wait (at most 60 s) until nothing is queued or in flight.
  for _ in $(seq 600); do
    s=$(stats "$since")
    python3 -c 'import json,sys; b=json.loads(sys.argv[1])["by_state"]; sys.exit(0 if b.get("queued",0)+b.get("in_flight",0)==0 else 1)' "$s" && break
    sleep 0.1
  done
  t1=$(date +%s.%N)
  s=$(stats "$since")
  kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=
  python3 - "$load" "$s" "$t0" "$t1" "$RATE" "$C" <<'PY'
import json, sys
load = json.loads(sys.argv[1]); st = json.loads(sys.argv[2])
t0, t1 = float(sys.argv[3]), float(sys.argv[4])
lat = st.get("arrival_to_apprec_ms") or {}
by = st["by_state"]
print(f"rate={sys.argv[5]}/s clients={sys.argv[6]}  intake: {load['throughput_ack_per_s']:.0f} ack/s "
      f"p50 {load['latency_ms']['p50']:.1f} p99 {load['latency_ms']['p99']:.1f} ms failed {load['failed']}")
print(f"  delivery: {st['answered']} AppRecs in {t1 - t0:.1f} s = {st['answered'] / (t1 - t0):.0f}/s; "
      f"arrival -> AppRec stored: p50 {lat.get('p50')} p90 {lat.get('p90')} p99 {lat.get('p99')} max {lat.get('max')} ms")
print(f"  deliveries by state (all time): {json.dumps(by, sort_keys=True)}")
PY
done
