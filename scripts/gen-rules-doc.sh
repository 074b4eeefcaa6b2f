#!/usr/bin/env bash
# Rewrites the rule reference in docs/RULES.md — the lines between
# "<!-- BEGIN GENERATED RULES -->" and "<!-- END GENERATED RULES -->" — from
# the default catalogue (config/rules/*.toml), with
# `overgang rules list --format markdown`. Everything outside the markers is
# left as it is. Run it after changing a rule file and commit the result;
# the test tests/rules_doc.rs fails while the two disagree.
#
# Usage: scripts/gen-rules-doc.sh
# Env:   CARGO_TARGET_DIR is honoured, as cargo does.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
cd "$here"
doc=docs/RULES.md
begin='<!-- BEGIN GENERATED RULES -->'
end='<!-- END GENERATED RULES -->'

[ -f "$doc" ] || { echo "missing $doc" >&2; exit 1; }
b=$(grep -nxF -- "$begin" "$doc" | cut -d: -f1 || true)
e=$(grep -nxF -- "$end" "$doc" | cut -d: -f1 || true)
if [ "$(printf '%s\n' "$b" | grep -c .)" -ne 1 ] || [ "$(printf '%s\n' "$e" | grep -c .)" -ne 1 ] || [ "$b" -ge "$e" ]; then
  echo "$doc must have the line '$begin' once, followed later by the line '$end' once" >&2
  exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cargo run --quiet -p overgang -- rules list --format markdown > "$tmp/generated.md"

awk -v gen="$tmp/generated.md" -v b="$begin" -v e="$end" '
  $0 == b { print; while ((getline line < gen) > 0) print line; skip = 1; next }
  $0 == e { skip = 0 }
  !skip { print }
' "$doc" > "$tmp/doc.md"
cat "$tmp/doc.md" > "$doc"
echo "rewrote the rule reference in $doc (rules: $(grep -c "^#### " "$tmp/generated.md"))"
