#!/usr/bin/env bash
# Regenerates the committed reference traces and golden reports in traces/reference/ — on purpose
# only: oneDNN's kernels can differ across CPUs, so CI never runs this; it checks against them.
#   tools/regen_reference.sh [--goldens-only] [BUILD_DIR]   (then review `git diff --stat traces/reference`)
# --goldens-only keeps the committed traces and rewrites the goldens: for a change of the simulator's
# model, whose effect the golden diff then shows.
set -euo pipefail
cd "$(dirname "$0")/.."
ONLY_GOLDENS=0
if [ "${1:-}" = "--goldens-only" ]; then
  ONLY_GOLDENS=1
  shift
fi
B=${1:-build}/eatsim
R=traces/reference
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
rm -rf "$R"/goldens
mkdir -p "$R"/goldens
if [ $ONLY_GOLDENS = 0 ]; then
rm -rf "$R"/traces
mkdir -p "$R"/traces

# Traces from our own trainer: smallcnn, standard and EAT, a short deterministic run (1 thread,
# direct convolutions as when the committed traces were made).
for lam in 0 2; do
  $B train --model smallcnn --width 2 --train-limit 4096 --test-limit 1000 --batch 128 --epochs 2 --threads 1 -q --conv direct \
    --schedule cosine --lambda $lam --penalty-layers relu --out "$W/run-$lam" >/dev/null
done
$B trace export "$W/run-0" --samples 2 --dtype float16 --out "$R/traces/smallcnn-st" >/dev/null
$B trace export "$W/run-2" --samples 2 --dtype float16 --out "$R/traces/smallcnn-eat" >/dev/null
# Synthetic traces: a small ResNet at the paper's densities, zeros clustered along channels.
$B trace synth resnet8 --width 0.25 --in-channels 1 --input-size 28 --samples 2 --density 0.5 --cluster channel \
  --dtype float16 --seed 11 --out "$R/traces/resnet8-syn50" >/dev/null
$B trace synth resnet8 --width 0.25 --in-channels 1 --input-size 28 --samples 2 --density 0.1 --cluster channel \
  --dtype float16 --seed 12 --out "$R/traces/resnet8-syn10" >/dev/null

fi

# Goldens: every reference trace on every preset named here.
for t in "$R"/traces/*; do
  for hw in $(cat "$R/presets.txt"); do
    $B sim --hw "$hw" --trace "$t" --out "$R/goldens/$(basename "$t")-$hw" >/dev/null 2>&1
    rm -f "$R/goldens/$(basename "$t")-$hw.csv"
  done
done
du -sh "$R"
