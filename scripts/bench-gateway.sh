#!/usr/bin/env bash
# Load benchmark of the gateway on loopback: starts `overgang serve` (release
# build, demo configuration, a fresh store in a temporary folder), warms it
# up, runs `overgang-load` against it, and prints throughput, latency and CPU
# time per message (the store's writer thread and the whole server process).
# Runs with group commit on and off unless GROUP_COMMIT=on|off is given.
# Messages are routed (as always) but delivery is off: this measures intake;
# scripts/bench-delivery.sh measures delivery.
#
#   scripts/bench-gateway.sh [CONCURRENCY] [SECONDS]
#
# Environment: CARGO_TARGET_DIR (default target), PORT (default 18181),
# RUNS (default 1, runs per setting), GROUP_COMMIT (on, off, or both).
# Only ever targets 127.0.0.1; stops the server it started.
set -euo pipefail
cd "$(dirname "$0")/.."
C=${1:-64}
T=${2:-10}
PORT=${PORT:-18181}
RUNS=${RUNS:-1}
TARGET=${CARGO_TARGET_DIR:-target}
EXAMPLES=../shared/standards/examples/plo-1.6/
[ -d "$EXAMPLES" ] || { echo "missing $EXAMPLES (the public standards beside the repository)" >&2; exit 2; }
cargo build --release -q -p overgang -p overgang-load
BIN=$TARGET/release/overgang
LOAD=$TARGET/release/overgang-load
HZ=$(getconf CLK_TCK)
DATA=$(mktemp -d)
SERVER=
cleanup() { [ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT

run() { # $1 = true|false (group commit)
  rm -rf "$DATA/store"
  OVERGANG_STORE__GROUP_COMMIT=$1 OVERGANG_LOG__LEVEL=warn OVERGANG_DELIVERY__ENABLED=false \
    "$BIN" serve --config config/demo.toml --listen "127.0.0.1:$PORT" --data "$DATA/store" \
    > "$DATA/out" 2> "$DATA/err" &
  SERVER=$!
  for _ in $(seq 50); do grep -q listening "$DATA/out" 2>/dev/null && break; sleep 0.1; done
  "$LOAD" --url "http://127.0.0.1:$PORT" --token demo-ehr-token --concurrency "$C" \
    --duration 3s "$EXAMPLES" > /dev/null 2>&1 || true
  local writer
  writer=$(grep -lx store-writer /proc/$SERVER/task/*/comm | head -1 | xargs dirname)
  local w0 p0 w1 p1 out
  w0=$(awk '{print $14+$15}' "$writer/stat"); p0=$(awk '{print $14+$15}' /proc/$SERVER/stat)
  out=$("$LOAD" --url "http://127.0.0.1:$PORT" --token demo-ehr-token --concurrency "$C" \
    --duration "${T}s" --format json "$EXAMPLES")
  w1=$(awk '{print $14+$15}' "$writer/stat"); p1=$(awk '{print $14+$15}' /proc/$SERVER/stat)
  kill -TERM "$SERVER"; wait "$SERVER" || true; SERVER=
  python3 - "$out" "$1" "$C" "$((w1-w0))" "$((p1-p0))" "$HZ" <<'PY'
import json, sys
d = json.loads(sys.argv[1]); gc = sys.argv[2]; c = sys.argv[3]
w, p, hz = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
n = max(d["acknowledged"], 1); l = d["latency_ms"]
print(f"group_commit={gc:5} clients={c:>3}  {d['throughput_ack_per_s']:7.0f} ack/s  "
      f"p50 {l['p50']:6.1f}  p95 {l['p95']:6.1f}  p99 {l['p99']:6.1f}  max {l['max']:6.1f} ms  "
      f"failed {d['failed']}  CPU/msg: writer {w*1e6/hz/n:4.0f} us, server {p*1e6/hz/n:4.0f} us")
PY
}

case "${GROUP_COMMIT:-both}" in
  on) settings="true" ;;
  off) settings="false" ;;
  *) settings="true false" ;;
esac
uptime
for gc in $settings; do
  for _ in $(seq "$RUNS"); do run "$gc"; done
done
