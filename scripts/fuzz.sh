#!/usr/bin/env bash
# Coverage-guided fuzzing with cargo-fuzz (libFuzzer): docs/RELIABILITY.md,
# "Fuzzing". Builds the targets of fuzz/ (address sanitizer), seeds each
# target's corpus, runs each target for SECONDS and fails on any crash.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS defaults to 60; TARGETs to all five (parse schema rules apprec
# intake). Seeds, copied at run time into fuzz/corpus/<target>/ (never
# committed): the official examples in ../shared/standards/examples/*/, the
# project's own fictitious messages (schemas/examples, tests/rules/fixtures)
# and small hostile inputs written here (a DTD, entities, deep nesting, an
# ISO-8859-1 declaration, a byte order mark, ...). What libFuzzer adds to a
# corpus stays there for the next run.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`) and nightly flags:
# on the stable toolchain RUSTC_BOOTSTRAP=1, which this script sets.
#
# Environment: FUZZ_LOG_DIR (default fuzz/logs/<time>, git-ignored),
# FUZZ_JOBS_NICE (nice level of the fuzzing processes, default 0),
# FUZZ_SANITIZER (default address; none is faster to build and run),
# FUZZ_CODEGEN_UNITS (codegen units of the build; cargo-fuzz's default is 1,
# the fastest fuzzers; 16 built no faster here: 12 min 37 s against 13 min
# 5 s on a shared 2-core machine).
#
# Prints one line per target in the form of the table in
# docs/RELIABILITY.md, and exits non-zero if any target crashed, leaked,
# timed out or ran out of memory (the artifact is in fuzz/artifacts/<target>/;
# minimise it with `cargo fuzz tmin <target> <artifact>`).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(parse schema rules apprec intake)
SANITIZER=${FUZZ_SANITIZER:-address}
NICE=${FUZZ_JOBS_NICE:-0}
BUILD=(-s "$SANITIZER")
[ -z "${FUZZ_CODEGEN_UNITS:-}" ] || BUILD+=(--codegen-units "$FUZZ_CODEGEN_UNITS")
LOG_DIR=${FUZZ_LOG_DIR:-$ROOT/fuzz/logs/$(date -u +%Y%m%dT%H%M%SZ)}
EXAMPLES=../shared/standards/examples
export RUSTC_BOOTSTRAP=1

[ -d "$EXAMPLES" ] || { echo "fuzz: missing $EXAMPLES (the public standards beside the repository)" >&2; exit 2; }
command -v cargo-fuzz >/dev/null 2>&1 || { echo "fuzz: cargo-fuzz is missing: cargo install cargo-fuzz --locked" >&2; exit 2; }
mkdir -p "$LOG_DIR"

# The hostile seeds, written once per run into a scratch folder.
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/overgang-fuzz.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
H=$SCRATCH/hostile
mkdir -p "$H"
printf '<?xml version="1.0"?>\n<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n<MsgHead>&lol2;</MsgHead>\n' >"$H/dtd-entities.xml"
printf '<?xml version="1.0"?>\n<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<r>&x;</r>\n' >"$H/dtd-external.xml"
{ for _ in $(seq 150); do printf '<a>'; done; printf 'x'; for _ in $(seq 150); do printf '</a>'; done; } >"$H/deep.xml"
printf '<?xml version="1.0" encoding="ISO-8859-1"?>\n<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24"><MsgInfo><MsgId>\xe6\xf8\xe5</MsgId></MsgInfo></MsgHead>\n' >"$H/latin1.xml"
printf '\xef\xbb\xbf<?xml version="1.0" encoding="UTF-8"?>\r\n<r a="1"\r\n b="&#xe5;&amp;&lt;">\xc3\xa6\r</r>\r\n' >"$H/bom-crlf.xml"
printf '\xff\xfe<\x00r\x00/\x00>\x00' >"$H/utf16.xml"
printf '<?xml version="1.0" encoding="UTF-16"?><r/>' >"$H/utf16-declared.xml"
printf '<r><![CDATA[<not>&markup;]]><!-- c --><?pi data?>&#0;&#x110000;&#xD800;</r>' >"$H/charrefs.xml"
printf '<p:r xmlns:p="urn:p"><q:s/></p:r><r xmlns:xml="urn:nope" a="1" a="2"></s>' >"$H/namespaces.xml"
{ printf '<r'; for i in $(seq 300); do printf ' a%d="%d"' "$i" "$i"; done; printf '/>'; } >"$H/attributes.xml"
printf '<r>\x00\xc3\x28\xed\xa0\x80</r>' >"$H/bad-bytes.xml"
printf '   \n\t ' >"$H/blank.xml"
printf 'text before<r/>after' >"$H/text-around.xml"
printf '<MsgHead xmlns="http://www.kith.no/xmlstds/msghead/2006-05-24" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><MsgInfo><Type V="PLO_INNLAGT" DN="x"/><MIGversion>v1.2 2006-05-24</MIGversion><GenDate>2024-05-01T10:31:07</GenDate><MsgId>1</MsgId><Sender><Organisation><OrganisationName>A</OrganisationName><Ident><Id>1</Id><TypeId V="HER" S="2.16.578.1.12.4.1.1.9051" DN="HER-id"/></Ident></Organisation></Sender><Receiver><Organisation><OrganisationName>B</OrganisationName><Ident><Id>2</Id><TypeId V="HER" S="2.16.578.1.12.4.1.1.9051" DN="HER-id"/></Ident></Organisation></Receiver></MsgInfo><Document><RefDoc><MsgType V="XML" DN="XML-instans"/><Content/></RefDoc></Document></MsgHead>' >"$H/envelope-minimal.xml"
# Over the intake target's 32 KiB body limit (its 413 answer).
BIG=$SCRATCH/big
mkdir -p "$BIG"
{ printf '<r>'; head -c 34000 /dev/zero | tr '\0' 'x'; printf '</r>'; } >"$BIG/over-limit.xml"

seed() {
  local target=$1 dir=$ROOT/fuzz/corpus/$1 f n=0
  mkdir -p "$dir"
  for f in "$EXAMPLES"/*/*.xml schemas/examples/*.xml tests/rules/fixtures/*.xml "$H"/*; do
    [ -f "$f" ] || continue
    cp "$f" "$dir/seed-$(basename "$(dirname "$f")")-$(basename "$f")"
    n=$((n + 1))
  done
  if [ "$target" = intake ]; then
    cp "$BIG"/* "$dir/"
    n=$((n + 1))
  fi
  echo "$n"
}

echo "fuzz: building the targets (sanitizer $SANITIZER)"
build_started=$(date +%s)
# cargo fuzz build takes one target or all; build all when several are asked.
if [ ${#TARGETS[@]} -eq 1 ]; then
  cargo fuzz build "${BUILD[@]}" "${TARGETS[0]}"
else
  cargo fuzz build "${BUILD[@]}"
fi
echo "fuzz: built in $(($(date +%s) - build_started)) s"

failed=()
rows=()
for t in "${TARGETS[@]}"; do
  seeds=$(seed "$t")
  log=$LOG_DIR/$t.log
  store=$(mktemp -d "$SCRATCH/store-$t.XXXXXX")
  max_len=()
  [ "$t" = intake ] && max_len=(-max_len=40960)
  echo "fuzz: $t for $SECONDS_EACH s ($seeds seeds), log $log"
  started=$(date +%s)
  set +e
  OVERGANG_FUZZ_DIR=$store nice -n "$NICE" cargo fuzz run "${BUILD[@]}" "$t" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb=2048 -timeout=60 \
    -dict="$ROOT/fuzz/xml.dict" -print_final_stats=1 "${max_len[@]}" >"$log" 2>&1
  rc=$?
  set -e
  took=$(($(date +%s) - started))
  rm -rf "$store"
  # The last status line (`#N DONE cov: … ft: … corp: …/… exec/s: …`) and
  # the final statistics.
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([^ ]*\).*/\1/p' <<<"$last")
  if [ "$rc" -eq 0 ]; then
    result="no crash"
  else
    result="FAILED (exit $rc)"
    failed+=("$t")
    grep -E '^(==[0-9]+==|SUMMARY|thread .* panicked|artifact_prefix|Test unit written)' "$log" | head -n 20 >&2 || true
  fi
  rows+=("| $t | ${took} s | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | ${corp:-?} | ${rss:-?} MB | $result |")
done

echo
echo "| target | time | executions | exec/s | cov | ft | corpus (inputs/size) | peak RSS | result |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${rows[@]}"
echo
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (artifacts in fuzz/artifacts/, logs in $LOG_DIR)" >&2
  exit 1
fi
echo "fuzz: no crash in ${TARGETS[*]} (logs in $LOG_DIR)"
