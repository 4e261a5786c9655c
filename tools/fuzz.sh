#!/usr/bin/env bash
# Runs the libFuzzer targets of tools/fuzz (one per reader eatsim has) for SECONDS each, two at a
# time, seeded from the repository's own files, and prints per target the executions, the edges
# covered and the findings. Builds build-fuzz with clang (-DEATSIM_FUZZ=ON: libraries and targets
# under ASan + UBSan) when needed.
#   tools/fuzz.sh [SECONDS] [TARGET...]      (default 60 s; targets: fuzz_npy fuzz_trace ...)
# Corpora grow in build-fuzz/corpus/TARGET between runs; a crashing input lands in
# build-fuzz/findings/TARGET/ (commit it as a regression test after fixing the cause).
# Exit status 1 when any target found something.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
B=build-fuzz
for p in clang libclang-rt-14-dev libomp-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=" $p"
done
if [[ -n ${missing:-} ]]; then
  echo "fuzz: installing$missing"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
if [[ ! -f $B/Makefile ]]; then
  CC=clang CXX=clang++ cmake -S . -B $B -DEATSIM_FUZZ=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build $B -j "$(nproc)" >/dev/null
targets=("$@")
((${#targets[@]})) || targets=($(cd $B/tools/fuzz && ls fuzz_* | grep -v '\.'))

# Seeds: the repository's own files of each kind.
seed() {  # target, files...
  local t=$1
  shift
  mkdir -p "$B/corpus/$t"
  for f in "$@"; do [[ -f $f ]] && cp "$f" "$B/corpus/$t/seed-$(basename "$(dirname "$f")")-$(basename "$f")"; done
  return 0
}
seed_text() { mkdir -p "$B/corpus/$1"; printf '%b' "$3" >"$B/corpus/$1/$2"; }
seed fuzz_npy traces/reference/traces/smallcnn-st/*.npy
seed fuzz_trace traces/reference/traces/*/trace.yaml
seed fuzz_graph models/*.yaml
seed fuzz_hwconfig hwconfigs/*.yaml
seed_text fuzz_scalesim scale '[general]\nrun_name = r\n\n[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\nIfmapSramSzkB: 64\nFilterSramSzkB: 64\nOfmapSramSzkB: 64\nIfmapOffset: 0\nFilterOffset: 10000000\nOfmapOffset: 20000000\nDataflow : ws\nMemoryBanks: 1\n\n[run_presets]\nInterfaceBandwidth: CALC\n\n%%\nLayer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\nConv1, 16, 16, 3, 3, 4, 8, 1,\nConv2_DP, 9, 9, 3, 3, 2, 1, 2,\n'
seed_text fuzz_scalesim gemm '[general]\nrun_name = g\n[architecture_presets]\nArrayHeight: 4\nArrayWidth: 4\nIfmapSramSzkB: 8\nFilterSramSzkB: 8\nOfmapSramSzkB: 8\nDataflow : os\n[run_presets]\nInterfaceBandwidth: CALC\n%%\nLayer, M, N, K,\nA, 16, 8, 32,\n'
mkdir -p "$B/corpus/fuzz_ert"
"$B/../build/eatsim" hw ert tpu_ws32 >"$B/corpus/fuzz_ert/tpu" 2>/dev/null || true
printf '\n%%%%\nmac=system.eatsim.mac_array:mac_random\n' >>"$B/corpus/fuzz_ert/tpu"
seed fuzz_onnx /usr/share/libonnx-testdata/data/pytorch-converted/test_{Conv2d_depthwise_strided,BatchNorm2d_eval,Linear,MaxPool2d}/model.onnx \
  /usr/share/libonnx-testdata/data/node/test_{conv_with_autopad_same,averagepool_2d_pads,gemm_alpha,clip}/model.onnx
seed_text fuzz_hwconfig with-include.yaml 'include: inc.yaml\nname: x\n#set array.rows=8\n%%\ninclude: tpu_ws32.yaml\n'
seed_text fuzz_sweep grid.yaml 'base: tpu_ws32\nparams:\n  array.rows: [16, 32]\n  array.cols: {from: 8, to: 32, step: 8}\n  sparsity.skip.group: {log2: [1, 16]}\nzip:\n  - {buffers.ifmap.size_kb: [64, 128], buffers.weights.size_kb: [32, 64]}\nconstraints: ["rows * cols <= 1024 and not (group > rows)", "(rows % 16 == 0) or cols / 2 > 4"]\ntraces: [{name: a, path: t}]\n'
mkdir -p "$B/corpus/fuzz_regression"
for g in traces/reference/goldens/smallcnn-st-*.json; do
  { cat "$g"; printf '\n%%%%\ncounters: {rel: 0, abs: 1}\nfloats: {rel: 1e-6}\nmetrics:\n  energy_dram_pj: {rel: 0.01}\n'; } \
    >"$B/corpus/fuzz_regression/$(basename "$g")"
done
seed_text fuzz_checkpoint checkpoint.yaml 'format: eatsim-checkpoint\nversion: 1\nmodel: smallcnn\nparams: {width: 1, in_channels: 1, input_size: 28, classes: 10}\nepoch: 2\ninfo:\n  position: "128"\n  lambda: "0"\n'
seed_text fuzz_datasets idx '\x00\x00\x00\x08\x03\x00\x00\x00\x02\x00\x00\x00\x02\x00\x00\x00\x02\x01\x02\x03\x04\x05\x06\x07\x08\n%%\n\x00\x00\x08\x01\x00\x00\x00\x02\x03\x07'
{ printf '\001\005'; head -c 3072 /dev/zero | tr '\0' '\7'; } >"$B/corpus/fuzz_datasets/cifar"  # one record
seed_text fuzz_datasets gtsrb '\x02Filename;Width;Height;Roi.X1;Roi.Y1;Roi.X2;Roi.Y2;ClassId\n00000.ppm;2;2;0;0;2;2;7\n%%\nP6\n2 2\n255\n\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c'

run_one() {
  local t=$1 len=65536
  [[ $t == fuzz_regression ]] && len=262144
  mkdir -p "$B/findings/$t"
  "$B/tools/fuzz/$t" "$B/corpus/$t" -max_total_time="$SECONDS_EACH" -print_final_stats=1 -timeout=10 \
    -rss_limit_mb=2048 -max_len=$len -artifact_prefix="$B/findings/$t/" >"$B/findings/$t.log" 2>&1 || true
}
echo "fuzz: ${#targets[@]} targets, ${SECONDS_EACH} s each, 2 at a time"
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run_one "${targets[i]}" &
  ((i + 1 < ${#targets[@]})) && run_one "${targets[i + 1]}" &
  wait
done
found=0
printf '%-18s %12s %8s %9s %s\n' target executions edges corpus findings
for t in "${targets[@]}"; do
  log=$B/findings/$t.log
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' | tail -1)
  cov=$(grep -oE '(DONE|pulse|NEW|REDUCE|INITED) +cov: [0-9]+' "$log" | awk '{print $NF}' | tail -1)
  n=$(ls "$B/corpus/$t" | wc -l)
  f=$(ls "$B/findings/$t" | wc -l)
  ((f == 0)) || found=1
  printf '%-18s %12s %8s %9s %s\n' "$t" "${execs:-?}" "${cov:-?}" "$n" "$f"
done
exit $found
