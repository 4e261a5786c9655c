#!/usr/bin/env bash
# Regenerates every golden report of traces/reference/ into a scratch directory (JSON and CSV) and
# compares them with the committed goldens (every value of the JSON document, exactly), or byte for
# byte with an earlier run's directory (--save it before a change, --against it after):
#   tools/report_identity.sh [BUILD_DIR] [--save DIR | --against DIR]
# A behaviour-neutral change to the simulator or its reports leaves every value in place.
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
    /usr/bin/python3 - "$R/goldens" "$W" <<'PY'
import json, os, sys
gold, new = sys.argv[1], sys.argv[2]
names = sorted(f for f in os.listdir(gold) if f.endswith('.json'))
bad = [f for f in names if json.load(open(os.path.join(gold, f))) != json.load(open(os.path.join(new, f)))]
for f in bad: print('differs:', f)
print(f'same values: {len(names) - len(bad)} of {len(names)} golden reports')
sys.exit(1 if bad else 0)
PY
    ;;
esac
