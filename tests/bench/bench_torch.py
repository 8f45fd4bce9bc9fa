"""PyTorch peer of bench_bsnn.c and bench_fashion.c (Debian's /usr/bin/python3).

    bench_torch.py NET THREADS MIN_TIME BATCH...
    bench_torch.py fashion DATADIR EPOCHS SEED

Steps: the same nets, losses and data sizes as bsnn: wide 784-1024-1024-10
ReLU with softmax cross-entropy on class indices, tiny 2-8-8-1 tanh with
MSELoss; plain SGD (lr 0.01, no momentum). One step is
zero_grad(set_to_none=True), forward, loss, backward, optimizer.step().
Prints one JSON object per batch, and a first "meta" line naming the BLAS
library really mapped into the process.

fashion: the real run of bench_fashion.c on the same uncompressed IDX files
(784-256-128-10 ReLU, Kaiming/He uniform weights for ReLU, zero biases,
CrossEntropyLoss on class indices, Adam lr 1e-3, batch 64 with the partial
last batch kept, a new random order each epoch, one thread,
torch.set_flush_denormal(True)); prints one JSON object with the training
wall time and the test accuracy.
"""
import json
import os
import re
import struct
import sys
import time

import numpy as np
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


def bench(net, batch, threads, min_time, report=True):
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
    if report:
        print(json.dumps(rec), flush=True)


def load_idx(path, images):
    """An IDX file as bsnn_dataset_load_idx reads it: bytes scaled by 1/255 in
    double, then rounded to float; labels as int64 class indices."""
    with open(path, "rb") as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">%dI" % dims, data[4:4 + 4 * dims])
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape[0], -1)
    if images:
        return torch.from_numpy((arr.astype(np.float64) * (1.0 / 255.0)).astype(np.float32))
    return torch.from_numpy(arr[:, 0].astype(np.int64))


def fashion(datadir, epochs, seed):
    torch.set_num_threads(1)
    flush = torch.set_flush_denormal(True)
    torch.manual_seed(seed)
    part = lambda name, images: load_idx(os.path.join(datadir, name), images)
    xtr, ytr = part("train-images-idx3-ubyte", True), part("train-labels-idx1-ubyte", False)
    xte, yte = part("t10k-images-idx3-ubyte", True), part("t10k-labels-idx1-ubyte", False)
    nn = torch.nn
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    for layer in model:
        if isinstance(layer, nn.Linear):
            nn.init.kaiming_uniform_(layer.weight, nonlinearity="relu")  # U(+-sqrt(6/fan_in))
            nn.init.zeros_(layer.bias)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    lossf = nn.CrossEntropyLoss()
    reset_peak_rss()
    n, steps = xtr.shape[0], 0
    t0 = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(n)
        for i in range(0, n, 64):
            idx = order[i:i + 64]
            opt.zero_grad(set_to_none=True)
            lossf(model(xtr[idx]), ytr[idx]).backward()
            opt.step()
            steps += 1
    sec = time.perf_counter() - t0
    with torch.no_grad():
        out = model(xte)
        acc = float((out.argmax(1) == yte).float().mean())
        test_loss = float(lossf(out, yte))
    print(json.dumps({"impl": "pytorch", "net": "fashion", "threads": 1, "epochs": epochs,
                      "train_seconds": sec, "steps": steps, "test_accuracy": acc,
                      "test_loss": test_loss, "flush_denormal": flush,
                      "peak_rss_bytes": peak_rss(), "blas_mapped": mapped_blas()}), flush=True)


def main():
    if sys.argv[1] == "fashion":
        return fashion(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    net, threads, min_time = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    torch.set_num_threads(threads)
    cfg = torch.__config__.show()
    blas_info = re.findall(r"BLAS_INFO=[^,\s]+", cfg)
    batches = [int(b) for b in sys.argv[4:]]
    bench(net, batches[0], threads, 0.01, False)  # load the BLAS before asking where it is
    print(json.dumps({"meta": "pytorch", "version": torch.__version__,
                      "threads": torch.get_num_threads(), "blas_info": blas_info,
                      "blas_mapped": mapped_blas()}), flush=True)
    for b in batches:
        bench(net, b, threads, min_time)


if __name__ == "__main__":
    main()
