#!/usr/bin/env bash
# Draws the samples of a soak run (tests/soak.rs, scripts/soak.sh) as one
# PNG with four panels: intake latency (p50, p99 per interval), the
# gateway's resident memory, the store's size on disk, and the delivery
# queue (queued + in flight). Needs gnuplot (Debian: gnuplot-nox).
#
# Usage: scripts/plot-soak.sh SOAK.csv OUT.png [TITLE]
set -euo pipefail
CSV=${1:?usage: plot-soak.sh SOAK.csv OUT.png [TITLE]}
PNG=${2:?usage: plot-soak.sh SOAK.csv OUT.png [TITLE]}
TITLE=${3:-soak}
command -v gnuplot >/dev/null || { echo "plot-soak: gnuplot is missing (apt-get install gnuplot-nox)" >&2; exit 2; }
gnuplot <<GP
set datafile separator ","
set terminal pngcairo size 1200,900 font "DejaVu Sans,10" noenhanced
set output "$PNG"
set multiplot layout 2,2 title "Overgang soak: $TITLE"
set grid
set key top left
set xlabel "minutes"
set ylabel "ms"
set title "Intake latency per interval"
plot "$CSV" using (\$1/60):4 skip 1 with lines lw 2 title "p50", \
     "" using (\$1/60):5 skip 1 with lines lw 2 title "p99"
set ylabel "MB"
set yrange [0:*]
set title "Gateway memory (resident)"
plot "$CSV" using (\$1/60):7 skip 1 with lines lw 2 title "RSS", \
     "" using (\$1/60):8 skip 1 with lines lw 1 dt 2 title "peak RSS"
set title "Store on disk (database + WAL)"
plot "$CSV" using (\$1/60):9 skip 1 with lines lw 2 title "store MB (all files)", \
     "" using (\$1/60):13 skip 1 with lines lw 1 title "of which write-ahead log"
set ylabel "deliveries"
set title "Delivery queue"
plot "$CSV" using (\$1/60):10 skip 1 with lines lw 2 title "queued", \
     "" using (\$1/60):11 skip 1 with lines lw 2 title "in flight"
unset multiplot
GP
echo "plot-soak: wrote $PNG"
