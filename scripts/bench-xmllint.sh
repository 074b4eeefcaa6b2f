#!/usr/bin/env bash
# Measures libxml2 (xmllint) schema validation over the 22 official PLO v1.6
# examples, in ONE process per run, so the figure is comparable with the
# criterion bench `cargo bench -p overgang-validate --bench corpus`.
#
# Method: hyperfine times `xmllint --noout --nonet --schema all.xsd` over
#   (a) the corpus once (22 files), and
#   (b) the corpus repeated REPEAT times on one command line (22*REPEAT files).
# The schema load/compile cost and process start are the same in both, so the
# marginal cost of one message is (t_b - t_a) / (22 * (REPEAT - 1)).
# xmllint is single-threaded: figures are per core.
#
# With OVERGANG=path/to/check_files (the example in crates/validate, built with
# `cargo build --release -p overgang-validate --example check_files`), the same
# four commands are timed for Overgang's parse + schema-level validation in the
# same hyperfine run, interleaved with xmllint's, and the ratio is printed.
#
# Usage: scripts/bench-xmllint.sh [REPEAT]    (default 40)
# Env:   STANDARDS=path/to/shared/standards   (default: ../shared/standards next to the repo)
#        RUNS=10                              (hyperfine runs per command)
#        OVERGANG=path/to/check_files         (optional, see above)
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
standards="${STANDARDS:-$here/../shared/standards}"
repeat="${1:-40}"
runs="${RUNS:-10}"
xsd="$standards/xsd/all.xsd"
dir="$standards/examples/plo-1.6"

command -v xmllint >/dev/null || { echo "xmllint is missing (apt-get install libxml2-utils)" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine is missing" >&2; exit 1; }
command -v python3 >/dev/null || { echo "python3 is missing" >&2; exit 1; }
[ -f "$xsd" ] || { echo "missing $xsd" >&2; exit 1; }
[ "$repeat" -ge 2 ] || { echo "REPEAT must be at least 2" >&2; exit 1; }

cd "$dir"
mapfile -t files < <(ls -1 *.xml | sort)
[ "${#files[@]}" -eq 22 ] || { echo "expected 22 examples in $dir, found ${#files[@]}" >&2; exit 1; }
bytes=$(cat "${files[@]}" | wc -c)

# Every file must validate, or the timing means nothing.
if ! xmllint --noout --nonet --schema "$xsd" "${files[@]}" 2>/dev/null; then
  echo "the corpus does not validate with xmllint" >&2; exit 1
fi

many=()
for _ in $(seq "$repeat"); do many+=("${files[@]}"); done

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
printf '%s\n' "${files[@]}" > "$tmp/one.args"
printf '%s\n' "${many[@]}" > "$tmp/many.args"

cmds=(
  -n "xmllint x1 (22 msgs)" "xargs -a $tmp/one.args xmllint --noout --nonet --schema $xsd"
  -n "xmllint x$repeat ($((22 * repeat)) msgs)" "xargs -a $tmp/many.args xmllint --noout --nonet --schema $xsd"
)
if [ -n "${OVERGANG:-}" ]; then
  [ -x "$OVERGANG" ] || { echo "OVERGANG=$OVERGANG is not an executable" >&2; exit 1; }
  "$OVERGANG" "${files[@]}" >/dev/null || { echo "Overgang finds the corpus invalid" >&2; exit 1; }
  cmds+=(
    -n "overgang x1 (22 msgs)" "xargs -a $tmp/one.args $OVERGANG"
    -n "overgang x$repeat ($((22 * repeat)) msgs)" "xargs -a $tmp/many.args $OVERGANG"
  )
fi
hyperfine --warmup 2 --runs "$runs" --style basic --export-json "$tmp/h.json" "${cmds[@]}" \
  >&2


# xargs must not split the long list over several xmllint processes:
# check that the argument list fits in one invocation.
if [ "$(xargs -a "$tmp/many.args" -r echo | wc -l)" -ne 1 ]; then
  echo "warning: xargs split the command line; the x$repeat figure includes extra process starts" >&2
fi

python3 - "$tmp/h.json" "$bytes" "$repeat" <<'PY'
import json, sys
h = json.load(open(sys.argv[1]))
total_bytes, repeat = int(sys.argv[2]), int(sys.argv[3])
res = h["results"]
n = 22 * (repeat - 1)
avg_bytes = total_bytes / 22
print(f"corpus: 22 messages, {total_bytes} bytes ({avg_bytes:.0f} bytes/message)")
per = {}
for name, (one, many) in (("xmllint", res[0:2]), ("overgang", res[2:4])):
    if not many:
        continue
    t1, tn = one["mean"], many["mean"]
    per_msg = (tn - t1) / n
    # The fastest runs: on a shared machine the minimum is the steadier figure.
    best = (many["min"] - one["min"]) / n
    per[name] = (per_msg, best)
    fixed = t1 - 22 * per_msg
    print(f"{name}: x1 {t1*1e3:.2f} ms ± {one['stddev']*1e3:.2f}, x{repeat} {tn*1e3:.2f} ms ± {many['stddev']*1e3:.2f}")
    print(f"{name}: fixed cost (process start + schema load/compile): {fixed*1e3:.2f} ms")
    print(f"{name}: marginal per message: {per_msg*1e6:.1f} µs (from the fastest runs: {best*1e6:.1f} µs), {1/per_msg:,.0f} msgs/s, {avg_bytes/per_msg/1e6:.2f} MB/s (one core)")
    print(f"{name}: one process per message (naive): {1/(fixed+per_msg):,.0f} msgs/s")
if len(per) == 2:
    print(f"ratio xmllint / overgang per message: {per['xmllint'][0]/per['overgang'][0]:.1f}x (means), {per['xmllint'][1]/per['overgang'][1]:.1f}x (fastest runs)")
PY
