#!/bin/sh
# docs/results.md, "Sparse features: standard vs EAT-like traces": synthetic ResNet18 traces at the
# ReLU densities of standard training (0.5) and EAT (0.1), simulated on every preset with its
# sparsity features on, next to the sponge ratio of the same traces.
#   tools/results_sparse.sh [BUILD_DIR] [OUT_DIR]
set -e
B=${1:-build}
O=${2:-/tmp/eatsim-results-sparse}
mkdir -p "$O"
E="$B/eatsim"
for t in st:0.5 eat:0.1; do
  name=${t%%:*}; d=${t#*:}
  "$E" trace synth resnet18 --out "$O/r18_$name" --samples 4 --density "$d" --seed 1 --force >/dev/null
  "$E" energy "$O/r18_$name" | grep 'ratio (whole)' | sed "s/^/$name sponge /"
done
WS="--set sparsity.gate=true --set sparsity.skip.enabled=true --set sparsity.skip.group=4 --set sparsity.skip.fifo_depth=4 --set sparsity.skip.lookahead=4"
OS="--set sparsity.gate=true --set sparsity.skip.enabled=true --set sparsity.skip.group=4 --set sparsity.skip.fifo_depth=1"
for name in st eat; do
  "$E" sim --hw cnvlutin_ws16 --trace "$O/r18_$name" --out "$O/cnvlutin_ws16-$name" >/dev/null
  "$E" sim --hw tpu_ws32 --trace "$O/r18_$name" $WS --set sparsity.skip.acc_ports=8 --out "$O/tpu_ws32-$name" >/dev/null
  "$E" sim --hw eyeriss_os16 --trace "$O/r18_$name" $OS --set sparsity.skip.weight_feeds=3 --out "$O/eyeriss_os16-$name" >/dev/null
  "$E" sim --hw dense_fp32 --trace "$O/r18_$name" $OS --set sparsity.skip.weight_feeds=8 --out "$O/dense_fp32-$name" >/dev/null
done
/usr/bin/python3 - "$O" <<'PY'
import csv, sys
o = sys.argv[1]
def rows(p): return {r["layer"]: r for r in csv.DictReader(open(f"{o}/{p}.csv"))}
print("| preset | ST energy ratio | ST speed-up | EAT energy ratio | EAT speed-up | EAT/ST energy | ST/EAT cycles |")
print("|---|---|---|---|---|---|---|")
for hw in ["cnvlutin_ws16", "tpu_ws32", "eyeriss_os16", "dense_fp32"]:
    s, e = rows(f"{hw}-st")["total"], rows(f"{hw}-eat")["total"]
    f = lambda r, k: float(r[k])
    print(f"| {hw} | {f(s,'energy_ratio'):.3f} | {f(s,'speedup'):.3f} | {f(e,'energy_ratio'):.3f} | {f(e,'speedup'):.3f} "
          f"| {f(e,'energy_pj')/f(s,'energy_pj'):.3f} | {f(s,'cycles')/f(e,'cycles'):.3f} |")
print()
print("Per layer on cnvlutin_ws16 (conv/linear rows):")
print()
print("| layer | ST ratio | ST speed-up | EAT ratio | EAT speed-up | EAT act density | EAT zero G-slices | EAT ideal-skip cycles / cycles |")
print("|---|---|---|---|---|---|---|---|")
s, e = rows("cnvlutin_ws16-st"), rows("cnvlutin_ws16-eat")
for k in s:
    if s[k]["kind"] not in ("conv", "linear", "total"): continue
    a, b = s[k], e[k]
    print(f"| {k} | {float(a['energy_ratio']):.3f} | {float(a['speedup']):.3f} | {float(b['energy_ratio']):.3f} | "
          f"{float(b['speedup']):.3f} | {float(b['act_density']):.3f} | {float(b['zero_gslice_frac']):.3f} | "
          f"{float(b['ideal_skip_cycles'])/float(b['cycles']):.3f} |")
PY
