#!/usr/bin/env bash
# Crash safety, the long run, on a release build: the intake crash test of
# tests/crash.rs (200 cycles of concurrent clients + SIGKILL + restart; CI
# runs 30 on a debug build), then tests/crash_delivery.rs (the same with
# delivery to receiver simulators running too; CI runs 20).
#
# Usage: scripts/crash-test.sh [CYCLES] [WHICH]   (default 200, "both";
#        WHICH = intake | delivery | both)
# Env:   OVERGANG_CRASH_SEED=0x...            replay a run's random choices
#        CARGO_TARGET_DIR                     as usual
# Prints the per-cycle lines and the summary line (cycles, acknowledged,
# verified, lost, stored-but-unacknowledged, seed, duration), the commit and
# the machine, for docs/RELIABILITY.md.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cycles="${1:-200}"
cd "$here"

cargo test --release -q -p overgang --test crash --test crash_delivery --no-run
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo ' (with local changes)')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
start=$(date +%s)
which="${2:-both}"
if [ "$which" = intake ] || [ "$which" = both ]; then
  OVERGANG_CRASH_CYCLES="$cycles" cargo test --release -p overgang --test crash -- --nocapture
fi
if [ "$which" = delivery ] || [ "$which" = both ]; then
  OVERGANG_CRASH_DELIVERY_CYCLES="$cycles" cargo test --release -p overgang --test crash_delivery -- --nocapture
fi
echo "wall clock: $(( $(date +%s) - start )) s"
