"""Run the bsnn / PyTorch / FANN benchmark interleaved and summarise it.

    /usr/bin/python3 tests/bench/run.py BINDIR [--quick] [--out results.jsonl]

Each repeat runs, for each thread count (1 and 2) and net, the three
programs one after the other in a rotating order, so that load from other
processes on the machine falls on every implementation alike. Every program
gets BLIS_NUM_THREADS and OMP_NUM_THREADS for the thread count (and sets its
own library's count). Medians over repeats, with min and max, go to a
Markdown table on stdout and to one JSON object per (impl, net, batch,
threads) in the output file.
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FULL = {"wide": [1, 8, 32, 256, 1024], "tiny": [1, 10, 30, 256]}
QUICK = {"wide": [1, 32, 256], "tiny": [1, 30]}
# FANN has no BLAS: a wide step at batch 256 takes seconds, so it is timed
# only where that stays affordable.
FANN_WIDE_MAX = 32


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        for line in out.splitlines():
            if line.startswith("Model name:"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def run(cmd, threads):
    env = dict(os.environ, BLIS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.stderr.write("bench: %s failed:\n%s\n" % (" ".join(cmd), p.stderr))
        return []
    return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]


def commands(bindir, net, threads, min_time, batches):
    fann_b = [b for b in batches if net != "wide" or b <= FANN_WIDE_MAX]
    args = [net, str(threads), str(min_time)]
    return {
        "bsnn": [os.path.join(bindir, "bench_bsnn")] + args + [str(b) for b in batches],
        "pytorch": ["/usr/bin/python3", os.path.join(HERE, "bench_torch.py")] + args
        + [str(b) for b in batches],
        "fann": [os.path.join(bindir, "bench_fann")] + args + [str(b) for b in fann_b],
    }


def collect(bindir, quick):
    sets = QUICK if quick else FULL
    repeats = 3 if quick else 5
    times = {"wide": 0.15 if quick else 0.4, "tiny": 0.05 if quick else 0.2}
    samples, meta = {}, {}
    order = ["bsnn", "pytorch", "fann"]
    for rep in range(repeats):
        for threads in (1, 2):
            for net, batches in sets.items():
                cmds = commands(bindir, net, threads, times[net], batches)
                rot = order[rep % 3:] + order[:rep % 3]
                for impl in rot:
                    for rec in run(cmds[impl], threads):
                        if "meta" in rec:
                            meta[rec["meta"]] = rec
                            continue
                        key = (rec["impl"], rec["net"], rec["batch"], rec["threads"])
                        samples.setdefault(key, []).append(rec)
        sys.stderr.write("bench: repeat %d/%d done\n" % (rep + 1, repeats))
    return samples, meta


def summarise(samples):
    rows = {}
    for key, recs in samples.items():
        us = [r["us_per_step"] for r in recs]
        batch = key[2]
        med = statistics.median(us)
        rss = max(r.get("peak_rss_bytes") or 0 for r in recs)
        allocs = [r.get("allocs_per_step") for r in recs]
        rows[key] = {
            "impl": key[0], "net": key[1], "batch": batch, "threads": key[3],
            "samples_per_s": batch * 1e6 / med, "us_per_step": med,
            "min": min(us), "max": max(us), "repeats": len(us),
            "allocs_per_step": None if allocs[0] is None else max(allocs),
            "peak_rss_bytes": rss or None,
        }
        if "mode" in recs[0]:
            rows[key]["mode"] = recs[0]["mode"]
        if "ok" in recs[0]:
            rows[key]["ok"] = all(r["ok"] for r in recs)
    return rows


def fmt_rate(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e4:
        return "%.0fk" % (v / 1e3)
    return "%.0f" % v


def num(v):
    return "%.0f" % v if v >= 100 else "%.3g" % v


def fmt_us(r):
    if r is None:
        return "-"
    return "%s (%s-%s)" % (num(r["us_per_step"]), num(r["min"]), num(r["max"]))


def table(rows, sets):
    out = []
    out.append("| net | batch | thr | bsnn samples/s | PyTorch samples/s | FANN samples/s "
               "| bsnn/PyTorch | bsnn/FANN | bsnn us/step (min-max) | PyTorch us/step "
               "| FANN us/step | GEMM-only us | outside GEMM | allocs/step | peak RSS bsnn / PyTorch / FANN (MB) |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for net, batches in sets.items():
        for threads in (1, 2):
            for b in batches:
                g = lambda impl: rows.get((impl, net, b, threads))
                bs, pt, fa, gm = g("bsnn"), g("pytorch"), g("fann"), g("blis-gemm")
                rate = lambda r: r["samples_per_s"] if r else None
                ratio = lambda o: "%.2fx" % (bs["samples_per_s"] / o["samples_per_s"]) if bs and o else "-"
                outside = "-"
                if bs and gm:
                    outside = "%.0f%%" % (100.0 * max(0.0, 1.0 - gm["us_per_step"] / bs["us_per_step"]))
                mb = lambda r: "%.0f" % (r["peak_rss_bytes"] / 2**20) if r and r["peak_rss_bytes"] else "-"
                out.append("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s |" % (
                    net, b, threads, fmt_rate(rate(bs)), fmt_rate(rate(pt)), fmt_rate(rate(fa)),
                    ratio(pt), ratio(fa), fmt_us(bs), fmt_us(pt), fmt_us(fa),
                    num(gm["us_per_step"]) if gm else "-", outside,
                    "%g" % bs["allocs_per_step"] if bs else "-", mb(bs), mb(pt), mb(fa)))
    return "\n".join(out)


def targets(rows, sets):
    """The issue's targets, checked on this run's medians."""
    def rate(impl, net, b, t):
        r = rows.get((impl, net, b, t))
        return r["samples_per_s"] if r else None

    checks = []

    def ratio(label, a, b, goal):
        if a is None or b is None:
            checks.append("- %s: not measured in this run" % label)
            return
        v = a / b
        checks.append("- %s: **%.2fx** (target >= %gx) %s" % (label, v, goal, "met" if v >= goal else "NOT met"))

    for b, goal in ((256, 1.25), (1024, 1.25), (8, 1.5), (32, 1.5)):
        if b not in sets["wide"]:
            continue
        for t in (1, 2):
            ratio("wide b=%d, %d thread%s: bsnn / PyTorch" % (b, t, "s" if t > 1 else ""),
                  rate("bsnn", "wide", b, t), rate("pytorch", "wide", b, t), goal)
    ratio("wide b=1, 1 thread: bsnn / PyTorch", rate("bsnn", "wide", 1, 1), rate("pytorch", "wide", 1, 1), 4)
    ratio("wide b=1, 1 thread: bsnn / FANN incremental", rate("bsnn", "wide", 1, 1), rate("fann", "wide", 1, 1), 5)
    ratio("tiny b=1: bsnn / FANN incremental", rate("bsnn", "tiny", 1, 1), rate("fann", "tiny", 1, 1), 1.5)
    ratio("tiny b=1: bsnn / PyTorch", rate("bsnn", "tiny", 1, 1), rate("pytorch", "tiny", 1, 1), 600)
    for b in (10, 30):
        if b in sets["tiny"]:
            ratio("tiny b=%d: bsnn / FANN full batch" % b, rate("bsnn", "tiny", b, 1), rate("fann", "tiny", b, 1), 2.5)
            ratio("tiny b=%d: bsnn / PyTorch" % b, rate("bsnn", "tiny", b, 1), rate("pytorch", "tiny", b, 1), 30)
    if 256 in sets["tiny"]:
        ratio("tiny b=256: bsnn / FANN full batch", rate("bsnn", "tiny", 256, 1), rate("fann", "tiny", 256, 1), 3)
    if 256 in sets["wide"]:
        ratio("wide b=256: bsnn 2 threads / 1 thread", rate("bsnn", "wide", 256, 2), rate("bsnn", "wide", 256, 1), 1.7)
    allocs = [r["allocs_per_step"] for r in rows.values() if r["impl"] == "bsnn"]
    checks.append("- heap allocations per steady-state bsnn step: **%g** (target 0) %s" % (
        max(allocs), "met" if max(allocs) == 0 else "NOT met"))
    return "\n".join(checks)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bindir")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(HERE, "results.jsonl"))
    a = ap.parse_args()
    t0 = time.time()
    samples, meta = collect(a.bindir, a.quick)
    rows = summarise(samples)
    sets = QUICK if a.quick else FULL
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    with open(a.out, "w") as f:
        for key in sorted(rows):
            rec = dict(rows[key], machine=cpu_model(), date=stamp, quick=a.quick)
            f.write(json.dumps(rec) + "\n")
    tm = meta.get("pytorch", {})
    print("## bsnn vs PyTorch vs FANN (%s, %s%s)" % (cpu_model(), stamp, ", QUICK" if a.quick else ""))
    print()
    print("Medians of %d interleaved repeats; samples/s = batch / median step time. "
          "Ratios are from this run." % (3 if a.quick else 5))
    print("bsnn: BLIS %s (libblis, OpenMP). PyTorch %s: %s, BLAS mapped: %s. "
          "FANN 2.2 floatfann: own loops, no BLAS, single-threaded (batch 1 = incremental, "
          "batch > 1 = one FANN_TRAIN_BATCH epoch)." % (
              os.path.realpath("/usr/lib/x86_64-linux-gnu/libblis.so.4"),
              tm.get("version", "?"), ", ".join(tm.get("blas_info", [])),
              ", ".join(tm.get("blas_mapped", []))))
    print()
    print(table(rows, sets))
    print()
    print("Targets of the performance issue, on this run:")
    print()
    print(targets(rows, sets))
    print()
    print("(%d s; raw data in %s)" % (time.time() - t0, a.out))
    bad = [k for k, r in rows.items() if r["impl"] == "bsnn" and (r.get("allocs_per_step") or not r.get("ok", True))]
    if bad:
        print("bench: bsnn allocated or failed during steps in %s" % bad)
        sys.exit(1)


if __name__ == "__main__":
    main()
