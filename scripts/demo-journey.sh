#!/usr/bin/env bash
# A patient journey for the discharge-ready board (docs/FLOW.md), posted to
# a running demo gateway:
#
#   cargo run --release -p overgang -- serve --config config/demo.toml --demo
#   scripts/demo-journey.sh
#
# Built from the official PLO v1.6 examples (../shared/standards) with their
# dates rewritten relative to today (Norwegian time) and fresh MsgIds:
#
#   - LOG_INNLAGT: Roland Gundersen admitted to St. Olavs hospital 6 days
#     ago; Alvdal kommune (municipality 3428) sends no admission report;
#   - LOG_UTSKRIVNINGSKLAR: declared ready for discharge 3 days ago; the
#     municipality does not answer;
#   - and, for the nurse's derived baseline: Line Danser's admission report
#     twice, first with its functional assessment dated 60 days ago (an
#     earlier stay), then dated today without habitual levels. Log in as
#     sykepleier / demo-sykepleier and open the newer one: the functional
#     profile shows the habitual levels derived from the earlier report,
#     marked "utledet", with its date and a link to it.
#
# Then log in at http://127.0.0.1:8080/ui/ as koordinator / demo-koordinator:
# "Utskrivningsklare" shows the patient with the days waiting and the
# municipality's liability, "Forsinkede meldinger" the missing admission
# report and answer (the demo's flow rules, config/flow-demo.toml, count
# those deadlines from the dates in the notices).
#
# Env: OVERGANG_URL (default http://127.0.0.1:8080), OVERGANG_TOKEN (default
#      demo-ehr-token), OVERGANG_EXAMPLES (default
#      ../shared/standards/examples/plo-1.6 beside the repository),
#      ADMITTED_DAYS_AGO (6), READY_DAYS_AGO (3).
# Running it again posts the same patient again: the notices join the same
# stay, and the second ready notice opens a second row.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
url="${OVERGANG_URL:-http://127.0.0.1:8080}"
token="${OVERGANG_TOKEN:-demo-ehr-token}"
examples="${OVERGANG_EXAMPLES:-$here/../shared/standards/examples/plo-1.6}"
admitted_ago="${ADMITTED_DAYS_AGO:-6}"
ready_ago="${READY_DAYS_AGO:-3}"

if [ ! -d "$examples" ]; then
  echo "demo-journey: the official examples are not at $examples (set OVERGANG_EXAMPLES)" >&2
  exit 2
fi

day() { TZ=Europe/Oslo date -d "-$1 days" +%F; }
no_date() { TZ=Europe/Oslo date -d "-$1 days" +%d.%m.%Y; }
uuid() {
  if [ -r /proc/sys/kernel/random/uuid ]; then cat /proc/sys/kernel/random/uuid; else uuidgen | tr 'A-Z' 'a-z'; fi
}

admitted="$(day "$admitted_ago")"
ready="$(day "$ready_ago")"

# The example with its dates moved (admission 2018-01-29, ready 2018-01-31)
# and a new MsgId, posted as demo-ehr; prints the gateway's answer.
post() {
  local file="$examples/$1" id
  id="$(uuid)"
  sed -e "s/2018-01-29/$admitted/g" \
      -e "s/29\.01\.2018/$(no_date "$admitted_ago")/g" \
      -e "s/2018-01-31/$ready/g" \
      -e "s/31\.01\.2018/$(no_date "$ready_ago")/g" \
      -e "s|<MsgId>[^<]*</MsgId>|<MsgId>$id</MsgId>|" "$file" |
    curl -sS --fail-with-body -X POST "$url/api/v1/messages" \
      -H "Authorization: Bearer $token" \
      -H "Content-Type: application/xml" \
      -H "Accept: application/json" \
      --data-binary @- >/dev/null
  echo "posted $1 (MsgId $id)"
}

echo "admitted $admitted, ready for discharge $ready"
post Pasientlogistikk_Innlagt_pasient_v1-6_Ny.xml
post Pasientlogistikk_Utskrivningsklar_pasient_v1-6_Ny.xml

# The derived baseline: the same admission report, its assessment first
# dated 60 days ago, then today.
report() {
  local id
  id="$(uuid)"
  sed -e "s/Funksjonsvurdering gjort 22\.01\.18\./Funksjonsvurdering gjort $(no_date "$1")./" \
      -e "s|<MsgId>[^<]*</MsgId>|<MsgId>$id</MsgId>|" "$examples/Innleggelsesrapport_v1-6_Ny.xml" |
    curl -sS --fail-with-body -X POST "$url/api/v1/messages" \
      -H "Authorization: Bearer $token" \
      -H "Content-Type: application/xml" \
      -H "Accept: application/json" \
      --data-binary @- >/dev/null
  echo "posted Innleggelsesrapport_v1-6_Ny.xml, assessment of $(no_date "$1") (MsgId $id)"
}
report 60
sleep 1
report 0

echo
echo "The board of Alvdal kommune (3428):"
curl -sS "$url/api/v1/flow/board?municipality=3428&format=csv" -H "Authorization: Bearer $token"
echo
echo "Open $url/ui/flow as koordinator / demo-koordinator, and the newest"
echo "Innleggelsesrapport on $url/ui/worklist as sykepleier / demo-sykepleier."
