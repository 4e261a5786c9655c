#!/usr/bin/env bash
# Regenerates every golden report of traces/reference/ into a scratch directory (JSON and CSV) and
# compares them byte for byte with the committed goldens, or with an earlier run's directory:
#   tools/report_identity.sh [BUILD_DIR] [--save DIR | --against DIR]
# A behaviour-neutral change to the simulator or its reports leaves every byte in place.
set -euo pipefail
cd "$(dirname "$0")/.."
B=${1:-build}/eatsim
MODE=${2:-}
ARG=${3:-}
R=traces/reference
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
for t in "$R"/traces/*; do
  for hw in $(cat "$R/presets.txt"); do
    $B sim --hw "$hw" --trace "$t" --out "$W/$(basename "$t")-$hw" >/dev/null 2>&1
  done
done
case "$MODE" in
  --save) rm -rf "$ARG"; cp -r "$W" "$ARG"; echo "saved $(ls "$W" | wc -l) reports in $ARG" ;;
  --against) diff -r "$ARG" "$W" && echo "identical: $(ls "$W" | wc -l) reports" ;;
  *)
    bad=0
    for g in "$R"/goldens/*.json; do
      cmp -s "$g" "$W/$(basename "$g")" || { echo "differs: $g"; bad=1; }
    done
    [ $bad = 0 ] && echo "identical: $(ls "$R"/goldens/*.json | wc -l) golden reports"
    exit $bad ;;
esac
