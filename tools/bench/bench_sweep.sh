#!/usr/bin/env bash
# Sweep throughput: a 500-point grid over a full-width ResNet18 trace (synthetic, 1 sample, ReLU
# density 0.3 in channel runs) on the skipping preset, with 1 and with 2 jobs.
#   tools/bench/bench_sweep.sh [BUILD_DIR]
set -euo pipefail
B=$(realpath "${1:-build}")/eatsim
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
$B trace synth resnet18 --samples 1 --density 0.3 --cluster channel --seed 3 --out trace >/dev/null
cat > grid.yaml <<'YAML'
name: grid500
base: cnvlutin_ws16
params:
  array.rows: [8, 16, 32, 64]
  array.cols: [8, 16, 32, 64, 128]
  sparsity.skip.lookahead: [1, 2, 4, 8, 16]
  sparsity.skip.fifo_depth: [1, 2, 4, 8, 16]
traces:
  - {name: syn30, path: trace}
YAML
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for j in 1 2; do
  rm -rf out$j
  s=$(date +%s.%N)
  /usr/bin/time -f "%U %S" -o t$j $B sweep grid.yaml -q --jobs $j --out out$j > /dev/null
  e=$(date +%s.%N)
  n=$(($(wc -l < out$j/results.csv) - 1))
  read u sy < t$j
  echo "jobs $j: $n points in $(echo "$e - $s" | bc) s wall ($(echo "$u + $sy" | bc) s CPU): $(echo "scale=1; $n / ($e - $s)" | bc) points/s"
  eval "wall$j=$(echo "$e - $s" | bc)"
done
cmp -s out1/results.csv out2/results.csv && echo "results.csv identical for 1 and 2 jobs"
echo "speed-up with 2 jobs: $(echo "scale=2; $wall1 / $wall2" | bc)"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
