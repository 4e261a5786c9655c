#!/usr/bin/python3
"""Issue 6 benchmark: in one run on this machine, times (a) PyTorch training the kuangliu-style
ResNet18, standard and with the EAT penalty via hooks; (b) eatsim on the same model, batch and
threads, standard and EAT (reference and relu selections); (c) the net's convolutions alone as oneDNN
primitives (the ceiling). Each configuration runs in its own process (peak RSS per process).
PyTorch runs in four configurations — as installed, with glibc kept from returning memory to the
system (MALLOC_MMAP_THRESHOLD_/TRIM_THRESHOLD_/TOP_PAD_), channels_last, and both — and eatsim's
ratios are against the fastest of them (each reported).
Where the CPU has bf16 instructions (unless --no-bf16), the same rounds also run eatsim
--precision bf16 (standard and EAT) and PyTorch's bf16 autocast (as installed and at its best: glibc
memory kept + channels_last), and the bf16 convolution ceiling, with the ratios issue 25 asks for.
    /usr/bin/python3 tools/bench/trainer_vs_pytorch.py [--build build] [--width 1] [--batch 128]
        [--threads 2] [--warmup 1] [--steps 3] [--rounds 2] [--conv winograd|direct] [--no-bf16]
"""
import argparse
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


# glibc kept from returning freed memory to the system: PyTorch's allocator otherwise pays for
# page faults on every step here.
MALLOC_KEPT = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "17179869184",
               "MALLOC_TOP_PAD_": "1073741824"}


def run(cmd, threads, extra_env=None):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), **(extra_env or {}))
    out = subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def merge(rs):
    """One configuration's rounds: median step wall time, mean CPU time per step, the largest RSS,
    the first round's profile."""
    steps = sorted(t for r in rs for t in r["steps_wall_s"])
    mid = len(steps) // 2
    med = steps[mid] if len(steps) % 2 else 0.5 * (steps[mid - 1] + steps[mid])
    out = dict(rs[0])
    out["wall_s"] = med
    out["cpu_s"] = sum(r["cpu_s"] for r in rs) / len(rs)
    out["peak_rss_mb"] = max(r["peak_rss_mb"] for r in rs)
    out["steps_wall_s"] = [t for r in rs for t in r["steps_wall_s"]]
    return out


def cpu_has_bf16():
    return "avx512_bf16" in open("/proc/cpuinfo").read() or "amx_bf16" in open("/proc/cpuinfo").read()


def loadavg():
    return open("/proc/loadavg").read().split()[:3]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2, help="runs of every configuration, interleaved")
    ap.add_argument("--conv-reps", type=int, default=3)
    ap.add_argument("--conv", choices=("winograd", "direct"), default="winograd",
                    help="eatsim's convolution algorithm (eatsim train --conv; winograd is its default)")
    ap.add_argument("--no-bf16", action="store_true", help="leave out the bf16 configurations")
    a = ap.parse_args()
    bf16 = not a.no_bf16 and cpu_has_bf16()
    b, w, T = a.batch, a.width, a.threads
    print(f"ResNet18 (kuangliu) width {w:g}, batch {b}, fp32, {T} threads; warm-up {a.warmup}, "
          f"timed steps {a.steps} x {a.rounds} rounds (median); eatsim convolutions {a.conv}; load average at start {' '.join(loadavg())}")
    torch = [sys.executable, os.path.join(HERE, "torch_step.py")]
    step = [os.path.join(a.build, "bench_step"), "resnet18", str(w), str(b)]
    fast = ["fast"] if a.conv == "winograd" else []
    configs = {
        "pytorch std": torch + [str(w), str(b), str(T), "0", str(a.warmup), str(a.steps)],
        "pytorch std malloc-kept": torch + [str(w), str(b), str(T), "0", str(a.warmup), str(a.steps)],
        "pytorch std channels_last": torch + [str(w), str(b), str(T), "0", str(a.warmup), str(a.steps),
                                              "channels_last"],
        "pytorch std both": torch + [str(w), str(b), str(T), "0", str(a.warmup), str(a.steps), "channels_last"],
        "pytorch EAT (hooks)": torch + [str(w), str(b), str(T), "1", str(a.warmup), str(a.steps)],
    }
    envs = {"pytorch std malloc-kept": MALLOC_KEPT, "pytorch std both": MALLOC_KEPT}
    for name, lam, sel in (("eatsim std", 0, "reference"), ("eatsim EAT reference", 1, "reference"),
                           ("eatsim EAT relu", 1, "relu")):
        configs[name] = step + [str(lam), sel, str(a.warmup), str(a.steps)] + fast
    if bf16:
        common = torch + [str(w), str(b), str(T), "0", str(a.warmup), str(a.steps)]
        configs["pytorch bf16 autocast"] = common + ["bf16"]
        configs["pytorch bf16 autocast both"] = common + ["channels_last", "bf16"]
        envs["pytorch bf16 autocast both"] = MALLOC_KEPT
        for name, lam, sel in (("eatsim bf16 std", 0, "reference"), ("eatsim bf16 EAT reference", 1, "reference"),
                               ("eatsim bf16 EAT relu", 1, "relu")):
            configs[name] = step + [str(lam), sel, str(a.warmup), str(a.steps), "bf16"]
    # Rounds run every configuration in turn, so a slow spell of a shared machine hits all of them;
    # each configuration's step time is the median over all its timed steps.
    runs = {k: [] for k in configs}
    for _ in range(a.rounds):
        for k, cmd in configs.items():
            runs[k].append(run(cmd, T, envs.get(k)))
    res = {k: merge(v) for k, v in runs.items()}
    conv = run([os.path.join(a.build, "bench_conv"), "resnet18", str(w), str(b), str(a.conv_reps)] + fast, T)
    conv16 = run([os.path.join(a.build, "bench_conv"), "resnet18", str(w), str(b), str(a.conv_reps), "bf16"],
                 T) if bf16 else None
    load_end = loadavg()

    gflop_img = (conv["fwd_gflop"] + conv["bwd_data_gflop"] + conv["bwd_w_gflop"]) / b  # convs only
    print(f"\nconvolution FLOPs per training image: {gflop_img:.2f} GFLOP (fwd + bwd-data + bwd-weights)")
    print(f"\n{'configuration':24} {'wall s/step':>11} {'img/s':>7} {'GFLOP/s':>8} {'CPU s/step':>10} "
          f"{'img/CPU-s':>9} {'peak RSS MB':>11}")
    for k, r in res.items():
        print(f"{k:24} {r['wall_s']:11.3f} {b / r['wall_s']:7.1f} {gflop_img * b / r['wall_s']:8.1f} "
              f"{r['cpu_s']:10.3f} {b / r['cpu_s']:9.1f} {r['peak_rss_mb']:11.0f}")
    ceil = conv["fwd_s"] + conv["bwd_data_s"] + conv["bwd_w_s"]
    for tag, c in (("", conv), (" bf16", conv16)):
        if not c:
            continue
        cs = c["fwd_s"] + c["bwd_data_s"] + c["bwd_w_s"]
        print(f"{'conv-only ceiling' + tag:24} {cs:11.3f} {b / cs:7.1f} {gflop_img * b / cs:8.1f}")
        for p in ("fwd", "bwd_data", "bwd_w"):
            print(f"  {p:22} {c[p + '_s']:11.3f} s  {c[p + '_gflop'] / c[p + '_s']:7.1f} GFLOP/s")

    es = res["eatsim std"]
    variants = [k for k in res if k.startswith("pytorch std")]
    best = min(variants, key=lambda k: res[k]["wall_s"])
    pt = res[best]
    print("\nPyTorch configurations (eatsim std throughput / each):")
    for k in variants:
        print(f"  {k:28} {res[k]['wall_s']:7.3f} s/step   eatsim {res[k]['wall_s'] / es['wall_s']:.2f}x")
    print(f"\nratios against PyTorch's fastest configuration here, '{best}' (wall; CPU time in brackets)")
    print(f"  eatsim std / PyTorch std throughput:   {pt['wall_s'] / es['wall_s']:.2f}x "
          f"[{pt['cpu_s'] / es['cpu_s']:.2f}x]")
    for k in ("eatsim EAT reference", "eatsim EAT relu"):
        print(f"  {k} / PyTorch std throughput: {pt['wall_s'] / res[k]['wall_s']:.2f}x "
              f"[{pt['cpu_s'] / res[k]['cpu_s']:.2f}x]")
    pe = res["pytorch EAT (hooks)"]
    print(f"  EAT step / standard step: PyTorch hooks {pe['wall_s'] / res['pytorch std']['wall_s']:.2f}x "
          f"[{pe['cpu_s'] / res['pytorch std']['cpu_s']:.2f}x]", end="")
    for k, tag in (("eatsim EAT reference", "reference"), ("eatsim EAT relu", "relu")):
        print(f", eatsim {tag} {res[k]['wall_s'] / es['wall_s']:.2f}x [{res[k]['cpu_s'] / es['cpu_s']:.2f}x]",
              end="")
    print(f"\n  eatsim std step / conv-only ceiling: {es['wall_s'] / ceil:.2f}x")
    print(f"  peak RSS eatsim std / PyTorch std: {es['peak_rss_mb'] / pt['peak_rss_mb']:.2f}")

    print("\neatsim time by layer type (one profiled step, wall s; a stream wait after each layer)")
    keys = sorted({k for n in ("eatsim std", "eatsim EAT reference", "eatsim EAT relu") for k in res[n]["profile"]},
                  key=lambda k: -res["eatsim std"]["profile"].get(k, 0))
    print(f"  {'layer type':14} {'std':>8} {'EAT ref':>8} {'EAT relu':>8}")
    for k in keys:
        print(f"  {k:14}" + "".join(f" {res[n]['profile'].get(k, 0):8.3f}"
                                    for n in ("eatsim std", "eatsim EAT reference", "eatsim EAT relu")))
    print(f"  {'total step':14}" + "".join(f" {res[n]['profile_step_s']:8.3f}"
                                          for n in ("eatsim std", "eatsim EAT reference", "eatsim EAT relu")))
    if bf16:
        report_bf16(res, conv16, pt, best)
    print(f"\nload average at end {' '.join(load_end)}; torch {pt['torch']}")
    print("per-step wall times: " + "; ".join(f"{k} " + ",".join(f"{t:.2f}" for t in r["steps_wall_s"])
                                              for k, r in res.items()))


def report_bf16(res, conv16, pt, best):
    """Issue 25's ratios: eatsim bf16 against eatsim fp32, PyTorch fp32 at its best and PyTorch's
    bf16 autocast at its best; EAT overhead and memory in bf16."""
    eb, ef = res["eatsim bf16 std"], res["eatsim std"]
    pb_name = min(("pytorch bf16 autocast", "pytorch bf16 autocast both"), key=lambda k: res[k]["wall_s"])
    pb = res[pb_name]
    c16 = conv16["fwd_s"] + conv16["bwd_data_s"] + conv16["bwd_w_s"]
    print("\nbf16 (throughput ratios, wall; CPU time in brackets)")
    print(f"  eatsim bf16 / eatsim fp32:               {ef['wall_s'] / eb['wall_s']:.2f}x "
          f"[{ef['cpu_s'] / eb['cpu_s']:.2f}x]   goal >= 1.5x")
    print(f"  eatsim bf16 / PyTorch fp32 ('{best}'): {pt['wall_s'] / eb['wall_s']:.2f}x "
          f"[{pt['cpu_s'] / eb['cpu_s']:.2f}x]   goal >= 3x")
    print(f"  eatsim bf16 / PyTorch bf16 ('{pb_name}'): {pb['wall_s'] / eb['wall_s']:.2f}x "
          f"[{pb['cpu_s'] / eb['cpu_s']:.2f}x]   goal >= 2x")
    for k in ("eatsim bf16 EAT reference", "eatsim bf16 EAT relu"):
        print(f"  {k} / eatsim bf16 std step: {res[k]['wall_s'] / eb['wall_s']:.2f}x   goal <= 1.10x")
    print(f"  peak RSS eatsim bf16 / PyTorch bf16 ('{pb_name}'): {eb['peak_rss_mb'] / pb['peak_rss_mb']:.2f}"
          f" ({eb['peak_rss_mb']:.0f} / {pb['peak_rss_mb']:.0f} MB)   goal <= 1")
    print(f"  eatsim bf16 step / bf16 conv-only ceiling: {eb['wall_s'] / c16:.2f}x")
    names = ("eatsim bf16 std", "eatsim bf16 EAT reference", "eatsim bf16 EAT relu")
    keys = sorted({k for n in names for k in res[n]["profile"]}, key=lambda k: -eb["profile"].get(k, 0))
    print(f"  {'layer type':14} {'std':>8} {'EAT ref':>8} {'EAT relu':>8}")
    for k in keys:
        print(f"  {k:14}" + "".join(f" {res[n]['profile'].get(k, 0):8.3f}" for n in names))


if __name__ == "__main__":
    main()
