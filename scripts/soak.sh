#!/usr/bin/env bash
# Soak: the gateway at a steady rate through intake and delivery for a long
# time (default one hour at 200 messages/s), on a release build, on
# 127.0.0.1 only: tests/soak.rs with its bounds raised. Writes the samples
# (every 10 s: intake latency, memory, store size, queues) to a CSV file and
# draws them with scripts/plot-soak.sh.
#
# Usage: scripts/soak.sh [SECONDS] [RATE] [OUT_DIR]
#        (default 3600, 200, target/soak-<UTC date>)
# Prints the samples and the summary line for docs/RELIABILITY.md; the
# test fails (and so does this script) if a request is not answered 201,
# a message is not acknowledged by its receiver once, or memory goes over
# its bounds.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-3600}
RATE=${2:-200}
OUT=${3:-${CARGO_TARGET_DIR:-target}/soak-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
cargo test --release -q -p overgang --test soak --no-run
echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . || echo ' (with local changes)')"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
OVERGANG_SOAK_SECS="$SECS" OVERGANG_SOAK_RATE="$RATE" OVERGANG_SOAK_SAMPLE_SECS=10 \
  OVERGANG_SOAK_CSV="$OUT/soak.csv" \
  cargo test --release -q -p overgang --test soak -- --nocapture 2>&1 | tee "$OUT/soak.log"
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
scripts/plot-soak.sh "$OUT/soak.csv" "$OUT/soak.png" "$RATE msg/s for $SECS s"
echo "samples: $OUT/soak.csv; plot: $OUT/soak.png"
