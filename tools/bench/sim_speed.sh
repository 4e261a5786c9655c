#!/usr/bin/env bash
# Simulation speed and peak memory of the fast engine and the clocked SystemC model (issue 10):
# full-width ResNet18 on tpu_ws32, the array from 8x8 to 128x128, 1..8 samples with 1 and 2 jobs.
# Prints markdown tables for docs/benchmarks.md.
#   tools/bench/sim_speed.sh [BUILD_DIR] [EXTRA --set/flags for every run...]
set -euo pipefail
B=${1:-build}
shift || true
EXTRA=("$@")
E="$B/eatsim"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# run LABEL ARGS...: one `eatsim sim`, its own per-sample timing, wall time and peak RSS.
run() {
  local label=$1
  shift
  /usr/bin/time -f "%e %M" -o "$T/time" "$E" sim "$@" "${EXTRA[@]}" >/dev/null 2>"$T/err" || {
    cat "$T/err" >&2
    exit 1
  }
  local per wall rss
  per=$(sed -n 's/.*(\([0-9.]*\) ms per sample.*/\1/p' "$T/err")
  read -r wall rss <"$T/time"
  echo "| $label | $per | $wall | $((rss / 1024)) |"
  echo "$per" >"$T/last"
}

echo "### ResNet18 (full width), tpu_ws32, one sample, one thread"
echo "| fidelity | ms per sample | process wall s | peak RSS MiB |"
echo "|---|---|---|---|"
run "fast" --hw tpu_ws32 --model resnet18
f=$(cat "$T/last")
run "cycle (SystemC)" --hw tpu_ws32 --model resnet18 --fidelity cycle
c=$(cat "$T/last")
run "step (plain-C++ per clock)" --hw tpu_ws32 --model resnet18 --fidelity step
echo
echo "cycle / fast = $(awk -v c="$c" -v f="$f" 'BEGIN{printf "%.0f", c/f}')x"
echo

echo "### Array size (ResNet18 full width, tpu_ws32 with array.rows = array.cols = N)"
echo "| N | fidelity | ms per sample | process wall s | peak RSS MiB |"
echo "|---|---|---|---|---|"
for n in 8 16 32 64 128; do
  for fid in fast cycle; do
    run "$n | $fid" --hw tpu_ws32 --model resnet18 --fidelity $fid --set array.rows=$n --set array.cols=$n
  done
done
echo

echo "### Sample count (synthetic full-width ResNet18 trace, tpu_ws32)"
"$E" trace synth resnet18 --out "$T/trace" -n 8 --density 0.6..0.2 >/dev/null
echo "| samples | fidelity | jobs | ms per sample | process wall s | peak RSS MiB |"
echo "|---|---|---|---|---|---|"
for n in 1 2 4 8; do
  for fid in fast cycle; do
    for j in 1 2; do
      [ "$n" = 1 ] && [ "$j" = 2 ] && continue
      run "$n | $fid | $j" --hw tpu_ws32 --trace "$T/trace" --samples $n --fidelity $fid --jobs $j
    done
  done
done
