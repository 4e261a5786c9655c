"""One process, one configuration: PyTorch SGD training steps of the kuangliu-style ResNet18 (batch,
width, threads as given), standard or with the EAT penalty computed like the public reference code
(forward hooks on every leaf module: sum(x²/(x²+σ))/numel per call, summed, / calls, × λ).
Prints one JSON line. Run with /usr/bin/python3 (Debian's torch); driven by trainer_vs_pytorch.py.
    torch_step.py WIDTH BATCH THREADS LAMBDA WARMUP STEPS [channels_last] [bf16]
bf16: the forward and the loss under torch.autocast("cpu", dtype=torch.bfloat16), PyTorch's mixed
precision (convolutions and linear layers in bf16, weights and optimizer fp32).
"""
import json
import os
import resource
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from kuangliu_models import build  # noqa: E402


def main():
    width, batch, threads = float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    lam, warmup, steps = float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    sigma = 1e-4
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = build("resnet18", width=width)
    cl, bf16 = "channels_last" in sys.argv[7:], "bf16" in sys.argv[7:]
    if cl:
        net = net.to(memory_format=torch.channels_last)
    net.train()
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    x = torch.randn(batch, 3, 32, 32)
    if cl:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 10, (batch,))
    acts = []
    if lam > 0:
        for m in net.modules():
            if len(list(m.children())) == 0:
                m.register_forward_hook(lambda mod, inp, out: acts.append(out))

    def step():
        acts.clear()
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            loss = F.cross_entropy(net(x), y)
            if lam > 0:
                pen = sum((a * a / (a * a + sigma)).sum() / a.numel() for a in acts) / len(acts)
                loss = loss + lam * pen
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()
    walls = []
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(steps):
        ts = time.perf_counter()
        step()
        walls.append(time.perf_counter() - ts)
    wall, cpu = (time.perf_counter() - t0) / steps, (time.process_time() - c0) / steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "steps_wall_s": walls, "peak_rss_mb": rss,
                      "torch": torch.__version__}))


if __name__ == "__main__":
    main()
