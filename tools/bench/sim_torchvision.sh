#!/usr/bin/env bash
# Simulation speed on torchvision networks at 224x224 (issue 21): resnet50 and mobilenet_v2 with
# random weights (tools/torch2trace.py --torchvision), cnvlutin_ws16 dense (sparsity off) and with
# its zero-skipping, fast engine single-threaded and the clocked SystemC model; trace size per
# sample. Prints a markdown table for docs/benchmarks.md.
#   tools/bench/sim_torchvision.sh [BUILD_DIR] [SAMPLES]
set -euo pipefail
B=${1:-build}
N=${2:-4}
E="$B/eatsim"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
DENSE=(--set sparsity.gate=false --set sparsity.skip.enabled=false --set sparsity.compress.format=none)

# run ARGS...: one `eatsim sim`; prints its own ms per sample and the process wall time.
run() {
  /usr/bin/time -f "%e" -o "$T/time" "$E" sim "$@" >/dev/null 2>"$T/err" || {
    cat "$T/err" >&2
    exit 1
  }
  echo "$(sed -n 's/.*(\([0-9.]*\) ms per sample.*/\1/p' "$T/err") | $(cat "$T/time")"
}

echo "| network | mode | samples | ms per sample | process wall s |"
echo "|---|---|---|---|---|"
for m in resnet50 mobilenet_v2; do
  EATSIM="$E" /usr/bin/python3 tools/torch2trace.py --torchvision $m --random-inputs "$N" --input-size 224 \
    --dtype float16 --out "$T/$m" >/dev/null
  echo "| $m | fast, dense | $N | $(run --hw cnvlutin_ws16 --trace "$T/$m" --samples "$N" "${DENSE[@]}") |"
  echo "| $m | fast, skip | $N | $(run --hw cnvlutin_ws16 --trace "$T/$m" --samples "$N") |"
  echo "| $m | cycle, dense | 1 | $(run --hw cnvlutin_ws16 --trace "$T/$m" --samples 1 --fidelity cycle "${DENSE[@]}") |"
  echo "| $m | cycle, skip | 1 | $(run --hw cnvlutin_ws16 --trace "$T/$m" --samples 1 --fidelity cycle) |"
  params=$(du -cb "$T/$m"/param.* | tail -1 | cut -f1)
  total=$(du -cb "$T/$m"/* | tail -1 | cut -f1)
  echo "trace size $m: $(( (total - params) / N / 1024 / 1024 )) MiB of float16 activations per sample, $(( params / 1024 / 1024 )) MiB of float32 weights" >&2
done
