#!/usr/bin/env bash
# Intake and delivery throughput with 1, 2 and 3 gateway nodes on one
# PostgreSQL database against one node on the embedded SQLite store, on
# 127.0.0.1 (docs/PERFORMANCE.md, "Several nodes on PostgreSQL (issue 9)").
#
#   scripts/bench-nodes.sh [SECONDS] [CLIENTS]
#
# For each configuration (sqlite:1, postgres:1, postgres:2, postgres:3):
# a fresh store (a new temporary folder, or a new database on the server
# named by OVERGANG_TEST_PG, default postgres://postgres@127.0.0.1:5432/postgres,
# dropped afterwards), the release `overgang serve` with config/demo.toml
# (delivery on) once per node, and six `overgang simulate receiver`
# processes on the demo registry's ports 9101-9106 answering every message
# with an AppRec at once (behaviour ok), shared by all nodes. Then:
#
# - intake: one `overgang-load` per node, CLIENTS/N clients each, posting
#   as fast as they are answered for SECONDS (after a 2 s warm-up), with
#   1000 synthetic patients; the figure is the sum of the durably
#   acknowledged messages per second (201/422) of all load generators;
# - delivery: the receivers' AppRecs stored (`answered` of
#   /api/v1/deliveries/stats, all nodes) from the start of the load until
#   nothing is queued or in flight any more (at most 120 s after the load),
#   divided by that time: the sustained rate at which the nodes together
#   get messages acknowledged by receivers, while intake competes for the
#   machine during the load.
#
# The load average (1 min, /proc/loadavg) is read before and after each
# configuration and printed beside its figures: other work on the machine
# takes the same cores. Needs psql, curl and python3. Only ever targets
# 127.0.0.1; stops every process it started (by its pid).
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-20}
C=${2:-24}
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
DB=
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  PIDS=()
  if [ -n "$DB" ]; then psql "$PG" -qAt -c "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null || true; DB=; fi
}
trap 'cleanup; rm -rf "$WORK"' EXIT
OPS="Authorization: Bearer demo-ops-token"
loadavg() { cut -d' ' -f1 /proc/loadavg; }
db_url() { echo "${PG%/*}/$1"; }

# The receivers, shared by every run.
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
run=0
for cfg in $CONFIGS; do
  kind=${cfg%%:*}; nodes=${cfg##*:}; run=$((run + 1))
  start_sims
  env_common=(OVERGANG_LOG__LEVEL=warn)
  if [ "$kind" = postgres ]; then
    DB=overgang_bench_$$_$run
    psql "$PG" -qAt -c "CREATE DATABASE $DB" >/dev/null
    env_common+=(OVERGANG_STORE__KIND=postgres "OVERGANG_STORE__URL=$(db_url "$DB")")
  fi
  urls=()
  for n in $(seq "$nodes"); do
    port=$((18380 + n))
    env "${env_common[@]}" OVERGANG_STORE__NODE_ID="bench-node-$n" \
      "$BIN" serve --config config/demo.toml --listen "127.0.0.1:$port" --data "$WORK/data-$run" \
      > "$WORK/gw-$run-$n.out" 2> "$WORK/gw-$run-$n.err" &
    PIDS+=($!)
    for _ in $(seq 300); do grep -q listening "$WORK/gw-$run-$n.out" 2>/dev/null && break; sleep 0.1; done
    grep -q listening "$WORK/gw-$run-$n.out" || { echo "node $n did not start:"; cat "$WORK/gw-$run-$n.err"; exit 1; }
    urls+=("http://127.0.0.1:$port")
  done
  per=$(( C / nodes )); [ "$per" -ge 1 ] || per=1
  la0=$(loadavg)
  since=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
  t0=$(date +%s.%N)
  lpids=()
  for i in "${!urls[@]}"; do
    "$LOAD" --url "${urls[$i]}" --token demo-ehr-token --concurrency "$per" --warmup 2s \
      --duration "${T}s" --patients 1000 --format json "$EXAMPLES" > "$WORK/load-$run-$i.json" 2> "$WORK/load-$run-$i.err" &
    lpids+=($!)
  done
  for p in "${lpids[@]}"; do wait "$p" || true; done
  t_load=$(date +%s.%N)
  la1=$(loadavg)
  # Until nothing is queued or in flight (at most 120 s).
  for _ in $(seq 1200); do
    s=$(curl -s -H "$OPS" "${urls[0]}/api/v1/deliveries/stats?since=$since")
    python3 -c 'import json,sys; b=json.loads(sys.argv[1])["by_state"]; sys.exit(0 if b.get("queued",0)+b.get("in_flight",0)==0 else 1)' "$s" && break
    sleep 0.1
  done
  t1=$(date +%s.%N)
  la2=$(loadavg)
  s=$(curl -s -H "$OPS" "${urls[0]}/api/v1/deliveries/stats?since=$since")
  python3 - "$kind" "$nodes" "$per" "$s" "$t0" "$t_load" "$t1" "$la0" "$la1" "$la2" "$WORK/load-$run-"*.json >> "$RESULTS" <<'PY'
import json, sys
kind, nodes, per, stats = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), json.loads(sys.argv[4])
t0, tl, t1 = map(float, sys.argv[5:8])
la = sys.argv[8:11]
loads = [json.load(open(p)) for p in sys.argv[11:]]
ack = sum(l["throughput_ack_per_s"] for l in loads)
failed = sum(l["failed"] for l in loads)
p99 = max(l["latency_ms"]["p99"] for l in loads)
by = stats["by_state"]
open_ = by.get("queued", 0) + by.get("in_flight", 0)
print(json.dumps({
    "store": kind, "nodes": nodes, "clients": per * nodes,
    "intake_ack_s": round(ack), "intake_p99_ms": round(p99, 1), "intake_failed": failed,
    "delivery_apprec_s": round(stats["answered"] / (t1 - t0)),
    "answered": stats["answered"], "drain_s": round(t1 - tl, 1), "open_at_end": open_,
    "dead_letters": by.get("dead_letter", 0),
    "load_before": la[0], "load_during": la[1], "load_after": la[2],
}))
PY
  tail -1 "$RESULTS" >&2
  cleanup
done

python3 - "$RESULTS" "$T" <<'PY'
import json, os, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print(f"\n{sys.argv[2]} s of load per configuration, release build, 127.0.0.1, {os.cpu_count()} cores")
h = "| store | nodes | clients | intake (acked/s) | intake p99 (ms) | delivery (AppRecs/s) | AppRecs | drain after load (s) | open at end | dead letters | load avg before / end of load / end |"
print(h)
print("|" + "---|" * (h.count("|") - 1))
for r in rows:
    print(f"| {r['store']} | {r['nodes']} | {r['clients']} | {r['intake_ack_s']} | {r['intake_p99_ms']} | "
          f"{r['delivery_apprec_s']} | {r['answered']} | {r['drain_s']} | {r['open_at_end']} | {r['dead_letters']} | "
          f"{r['load_before']} / {r['load_during']} / {r['load_after']} |")
PY
