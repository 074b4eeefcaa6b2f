#!/usr/bin/env bash
# Intake and delivery throughput with 1, 2 and 3 gateway nodes on one
# PostgreSQL database against one node on the embedded SQLite store, on
# 127.0.0.1 (docs/PERFORMANCE.md, "Several nodes on PostgreSQL (issue 9)").
#
#   scripts/bench-nodes.sh [SECONDS] [CLIENTS] [DRAIN_SECONDS]
#
# For each configuration (CONFIGS, default "sqlite:1 postgres:1 postgres:2
# postgres:3"): a fresh store (a new temporary folder, or a new database on
# the server named by OVERGANG_TEST_PG, default
# postgres://postgres@127.0.0.1:5432/postgres, dropped afterwards) and the
# release `overgang serve --config config/demo.toml` once per node (ports
# 18381-18383, node ids bench-node-N). Two phases, so that each figure is
# its stage's alone:
#
# 1. intake: the nodes with delivery off; one `overgang-load` per node,
#    CLIENTS/N clients each (default 24 in all), posting the official
#    examples as fast as they are answered for SECONDS (default 20, after a
#    2 s warm-up), 1000 synthetic patients. The figure: the sum of the
#    durably acknowledged messages per second (201/422) of all generators.
# 2. delivery: six `overgang simulate receiver` processes on the demo
#    registry's ports 9101-9106 answering every message with an AppRec at
#    once, and the same nodes started again with delivery on, draining the
#    backlog of phase 1. The figure: receivers' AppRecs stored (`answered`
#    of /api/v1/deliveries/stats, all nodes together) per second, from the
#    nodes' start until nothing is queued or in flight, or DRAIN_SECONDS
#    (default 30) have passed.
#
# RATE=N posts at N messages/s in all instead of as fast as answered (a
# smoke test of the script, not a measurement).
#
# The 1-minute load average (/proc/loadavg) is read at the start and end
# of each phase and printed beside its figures: other work on the machine
# takes the same cores. Needs psql, curl and python3. Only ever targets
# 127.0.0.1; stops every process it started, by its pid.
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-20}
C=${2:-24}
D=${3:-30}
PG=${OVERGANG_TEST_PG:-postgres://postgres@127.0.0.1:5432/postgres}
TARGET=${CARGO_TARGET_DIR:-target}
CONFIGS=${CONFIGS:-"sqlite:1 postgres:1 postgres:2 postgres:3"}
EXAMPLES=../shared/standards/examples/plo-1.6/
[ -d "$EXAMPLES" ] || { echo "missing $EXAMPLES (the public standards beside the repository)" >&2; exit 2; }
command -v psql >/dev/null || { echo "psql (postgresql-client) is needed" >&2; exit 2; }
psql "$PG" -qAt -c 'SELECT 1' >/dev/null || { echo "PostgreSQL at $PG does not answer" >&2; exit 2; }
if [ -z "${NO_BUILD:-}" ]; then cargo build --release -q -p overgang -p overgang-load; fi
BIN=$TARGET/release/overgang
LOAD=$TARGET/release/overgang-load
for port in 9101 9102 9103 9104 9105 9106; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "port $port is taken: the demo registry's receivers need 9101-9106" >&2; exit 2
  fi
done

WORK=$(mktemp -d)
PIDS=()
GW_PIDS=()
DB=
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
  if [ -n "$DB" ]; then psql "$PG" -qAt -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true; DB=; fi
}
trap 'stop_nodes; cleanup; rm -rf "$WORK"' EXIT
OPS="Authorization: Bearer demo-ops-token"
loadavg() { cut -d' ' -f1 /proc/loadavg; }
db_url() { echo "${PG%/*}/$1"; }

# The receivers, shared by every node of a run.
start_sims() {
  for port in 9101 9102 9103 9104 9105 9106; do
    extra=()
    [ "$port" = 9105 ] && extra=(--require-token-file config/registry/demo-secrets/solvik-tildeling.token)
    "$BIN" simulate receiver --listen "127.0.0.1:$port" --behaviour ok "${extra[@]}" \
      > "$WORK/sim-$port.out" 2> "$WORK/sim-$port.err" &
    PIDS+=($!)
  done
  for port in 9101 9102 9103 9104 9105 9106; do
    for _ in $(seq 100); do grep -q listening "$WORK/sim-$port.out" 2>/dev/null && break; sleep 0.1; done
  done
}

RESULTS=$WORK/results
: > "$RESULTS"

# Starts `nodes` gateways for run `run` with extra environment "$@";
# their URLs in URLS.
start_nodes() {
  URLS=()
  for n in $(seq "$nodes"); do
    port=$((18380 + n))
    : > "$WORK/gw-$run-$n.out"
    env "${env_common[@]}" "$@" OVERGANG_STORE__NODE_ID="bench-node-$n" \
      "$BIN" serve --config config/demo.toml --listen "127.0.0.1:$port" --data "$WORK/data-$run" \
      > "$WORK/gw-$run-$n.out" 2>> "$WORK/gw-$run-$n.err" &
    GW_PIDS+=($!)
    for _ in $(seq 300); do grep -q listening "$WORK/gw-$run-$n.out" 2>/dev/null && break; sleep 0.1; done
    grep -q listening "$WORK/gw-$run-$n.out" || { echo "node $n did not start:"; cat "$WORK/gw-$run-$n.err"; exit 1; }
    URLS+=("http://127.0.0.1:$port")
  done
}
stop_nodes() {
  for p in "${GW_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${GW_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  GW_PIDS=()
}
open_deliveries() { # $1 = stats JSON
  python3 -c 'import json,sys; b=json.loads(sys.argv[1])["by_state"]; print(b.get("queued",0)+b.get("in_flight",0))' "$1"
}

run=0
for cfg in $CONFIGS; do
  kind=${cfg%%:*}; nodes=${cfg##*:}; run=$((run + 1))
  GW_PIDS=()
  env_common=(OVERGANG_LOG__LEVEL=warn)
  if [ "$kind" = postgres ]; then
    DB=overgang_bench_$$_$run
    psql "$PG" -qAt -c "CREATE DATABASE $DB" >/dev/null
    env_common+=(OVERGANG_STORE__KIND=postgres "OVERGANG_STORE__URL=$(db_url "$DB")")
  fi

  # Phase 1, intake: delivery off, so the figure is intake's alone.
  start_nodes OVERGANG_DELIVERY__ENABLED=false
  per=$(( C / nodes )); [ "$per" -ge 1 ] || per=1
  rate=()
  [ -n "${RATE:-}" ] && rate=(--rate "$(( RATE / nodes > 0 ? RATE / nodes : 1 ))")
  la_i0=$(loadavg)
  lpids=()
  for i in "${!URLS[@]}"; do
    "$LOAD" --url "${URLS[$i]}" --token demo-ehr-token --concurrency "$per" --warmup 2s "${rate[@]}" \
      --duration "${T}s" --patients 1000 --format json "$EXAMPLES" > "$WORK/load-$run-$i.json" 2> "$WORK/load-$run-$i.err" &
    lpids+=($!)
  done
  for p in "${lpids[@]}"; do wait "$p" || true; done
  la_i1=$(loadavg)
  stop_nodes

  # Phase 2, delivery: the same nodes with delivery on drain the backlog
  # phase 1 left, for at most D seconds, to receivers that answer at once.
  start_sims
  la_d0=$(loadavg)
  since=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
  t0=$(date +%s.%N)
  start_nodes
  end=$(python3 -c "print($t0 + $D)")
  while :; do
    s=$(curl -s -H "$OPS" "${URLS[0]}/api/v1/deliveries/stats?since=$since")
    [ "$(open_deliveries "$s")" = 0 ] && break
    python3 -c "import sys,time; sys.exit(0 if time.time() < $end else 1)" || break
    sleep 0.2
  done
  t1=$(date +%s.%N)
  s=$(curl -s -H "$OPS" "${URLS[0]}/api/v1/deliveries/stats?since=$since")
  la_d1=$(loadavg)
  python3 - "$kind" "$nodes" "$per" "$s" "$t0" "$t1" "$la_i0" "$la_i1" "$la_d0" "$la_d1" "$WORK/load-$run-"*.json >> "$RESULTS" <<'PY'
import json, sys
kind, nodes, per, stats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
t0, t1 = float(sys.argv[5]), float(sys.argv[6])
la = sys.argv[7:11]
loads = [json.load(open(p)) for p in sys.argv[11:]]
by = stats["by_state"]
print(json.dumps({
    "store": kind, "nodes": nodes, "clients": per * nodes,
    "intake_ack_s": round(sum(l["throughput_ack_per_s"] for l in loads)),
    # Warm-up included: every message the nodes took, to compare with the AppRecs.
    "intake_acked": sum(l["acknowledged"] + l.get("warmup_requests", 0) for l in loads),
    "intake_p99_ms": round(max(l["latency_ms"]["p99"] for l in loads), 1),
    "intake_failed": sum(l["failed"] for l in loads),
    "delivery_apprec_s": round(stats["answered"] / (t1 - t0)),
    "answered": stats["answered"], "delivery_s": round(t1 - t0, 1),
    "open_at_end": by.get("queued", 0) + by.get("in_flight", 0),
    "dead_letters": by.get("dead_letter", 0),
    "load_intake": f"{la[0]} → {la[1]}", "load_delivery": f"{la[2]} → {la[3]}",
}))
PY
  tail -1 "$RESULTS" >&2
  stop_nodes
  cleanup
done

python3 - "$RESULTS" "$T" "$D" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"\nintake {sys.argv[2]} s per configuration (delivery off), then delivery of that backlog for at most {sys.argv[3]} s; release build, 127.0.0.1, {os.cpu_count()} cores")
h = ("| store | nodes | clients | intake (acked/s) | taken (with warm-up) | intake p99 (ms) | failed | load avg (intake) "
     "| delivery (AppRecs/s) | AppRecs | in (s) | still open | dead letters | load avg (delivery) |")
print(h)
print("|" + "---|" * (h.count("|") - 1))
for r in rows:
    print(f"| {r['store']} | {r['nodes']} | {r['clients']} | {r['intake_ack_s']} | {r['intake_acked']} | {r['intake_p99_ms']} | "
          f"{r['intake_failed']} | {r['load_intake']} | {r['delivery_apprec_s']} | {r['answered']} | {r['delivery_s']} | "
          f"{r['open_at_end']} | {r['dead_letters']} | {r['load_delivery']} |")
PY
