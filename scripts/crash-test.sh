#!/usr/bin/env bash
# Crash safety, the long run: the crash test of tests/crash.rs on a release
# build with 200 cycles of concurrent clients + SIGKILL + restart (CI runs
# the default 30 cycles on a debug build).
#
# Usage: scripts/crash-test.sh [CYCLES]       (default 200)
# Env:   OVERGANG_CRASH_SEED=0x...            replay a run's random choices
#        CARGO_TARGET_DIR                     as usual
# Prints the per-cycle lines and the summary line (cycles, acknowledged,
# verified, lost, stored-but-unacknowledged, seed, duration), the commit and
# the machine, for docs/RELIABILITY.md.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cycles="${1:-200}"
cd "$here"

cargo build --release -p overgang --tests
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo ' (with local changes)')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
start=$(date +%s)
OVERGANG_CRASH_CYCLES="$cycles" cargo test --release -p overgang --test crash -- --nocapture
echo "wall clock: $(( $(date +%s) - start )) s"
