"""PyTorch peer of bench_bsnn.c (run with Debian's /usr/bin/python3).

    bench_torch.py NET THREADS MIN_TIME BATCH...

Same nets, losses and data sizes as bsnn: wide 784-1024-1024-10 ReLU with
softmax cross-entropy on class indices, tiny 2-8-8-1 tanh with MSE; plain SGD
(lr 0.01, no momentum). One step is zero_grad(set_to_none=True), forward,
loss, backward, optimizer.step(). Prints one JSON object per batch, and a
first "meta" line naming the BLAS library really mapped into the process.
"""
import json
import os
import sys
import time

import torch


def reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def mapped_blas():
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            base = os.path.basename(path)
            if base.startswith(("libblas", "libblis", "libopenblas", "libmkl", "libdnnl")):
                libs.add(os.path.realpath(path))
    return sorted(libs)


def make(net):
    nn = torch.nn
    if net == "wide":
        model = nn.Sequential(nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                              nn.Linear(1024, 10))
        return model, nn.CrossEntropyLoss(), 784
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 1))
    return model, nn.MSELoss(), 2


def bench(net, batch, threads, min_time):
    reset_peak_rss()
    torch.manual_seed(1)
    model, lossf, n_in = make(net)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.rand(batch, n_in)
    y = torch.randint(0, 10, (batch,)) if net == "wide" else torch.rand(batch, 1) * 2 - 1

    def step():
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(x), y)
        loss.backward()
        opt.step()
        return loss

    for _ in range(3):
        step()
    steps, chunk = 0, 1
    t0 = time.perf_counter()
    while True:
        for _ in range(chunk):
            loss = step()
        steps += chunk
        el = time.perf_counter() - t0
        if el >= min_time:
            break
        if el < min_time / 8:
            chunk *= 2
    rec = {"impl": "pytorch", "net": net, "batch": batch, "threads": threads,
           "us_per_step": el / steps * 1e6, "steps": steps, "allocs_per_step": None,
           "peak_rss_bytes": peak_rss(), "loss": float(loss)}
    print(json.dumps(rec), flush=True)


def main():
    net, threads, min_time = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    torch.set_num_threads(threads)
    cfg = torch.__config__.show()
    blas_info = [p for p in cfg.replace(",", "\n").split("\n") if "BLAS_INFO" in p]
    batches = [int(b) for b in sys.argv[4:]]
    bench(net, batches[0], threads, 0.01)  # load the BLAS before asking where it is
    print(json.dumps({"meta": "pytorch", "version": torch.__version__,
                      "threads": torch.get_num_threads(), "blas_info": [b.strip() for b in blas_info],
                      "blas_mapped": mapped_blas()}), flush=True)
    for b in batches:
        bench(net, b, threads, min_time)


if __name__ == "__main__":
    main()
