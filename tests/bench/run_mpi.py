"""bsnn's data-parallel benchmark (make bench-mpi): the wide net trained on
2 ranks x 1 thread (libbsnn_mpi, one allreduce per update) against 1 rank x 2
threads and 1 rank x 1 thread, at global batches 256 and 1024; the
reduction alone (the whole arena, per-layer buckets, buckets started before
the compute); and a projection of the efficiency at 8, 64 and 512 ranks from
the measured compute times and a ring-allreduce cost model.

    /usr/bin/python3 tests/bench/run_mpi.py BINDIR [--quick] [--out results-mpi.jsonl]

The configurations of one repeat run one after the other in a rotating
order, so load from other processes falls on all of them alike; medians over
repeats go to Markdown tables on stdout and every record to the JSONL file.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

BATCHES = [256, 1024]
# local batches whose 1-thread compute time the projection needs (B / P)
COMPUTE_BATCHES = [2, 4, 16, 32, 128, 512]
RANKS = [8, 64, 512]
FLOATS = 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10
# The cost model's network (stated, not measured): a 100 Gb/s link and an
# MPI latency of 5 us per message, typical of InfiniBand EDR or RoCE.
ALPHA = 5e-6
BETA = 12.5e9


def mpirun(np_, bind):
    cmd = ["mpirun", "-np", str(np_), "--bind-to", bind]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def run(cmd, threads):
    env = dict(os.environ, BLIS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if p.returncode != 0:
        sys.stderr.write("bench-mpi: %s failed:\n%s%s\n" % (" ".join(cmd), p.stdout, p.stderr))
        return []
    return [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]


def configs(bindir, min_time):
    exe = os.path.join(bindir, "bench_mpi")
    b = [str(x) for x in BATCHES]
    return [
        ("1 rank x 1 thread", mpirun(1, "none") + [exe, "steps", "1", "%g" % min_time] + b, 1),
        ("1 rank x 2 threads", mpirun(1, "none") + [exe, "steps", "2", "%g" % min_time] + b, 2),
        ("2 ranks x 1 thread", mpirun(2, "core") + [exe, "steps", "1", "%g" % min_time] + b, 1),
        ("compute", mpirun(1, "none") + [exe, "steps", "1", "%g" % (min_time / 3)]
         + [str(x) for x in COMPUTE_BATCHES], 1),
        ("reduction", mpirun(2, "core") + [exe, "buckets", "%g" % min_time, "1024"], 1),
    ]


def collect(bindir, quick):
    repeats, min_time = (2, 0.6) if quick else (5, 1.5)
    samples = {}
    for rep in range(repeats):
        cmds = configs(bindir, min_time)
        k = rep % len(cmds)
        for label, cmd, threads in cmds[k:] + cmds[:k]:
            for r in run(cmd, threads):
                key = ("reduction",) if r["impl"] == "reduction" else (r["ranks"], r["threads"], r["batch"])
                samples.setdefault(key, []).append(r)
    return samples, repeats


def median_record(recs):
    out = dict(recs[0])
    for f in recs[0]:
        if isinstance(recs[0][f], float):
            out[f] = statistics.median(r[f] for r in recs)
    out["repeats"] = len(recs)
    out["ok"] = all(r.get("ok", True) for r in recs)
    return out


def sps(r):
    return r["batch"] / (r["us_per_step"] * 1e-6) if r else None


def fmt(v, spec="%.0f"):
    return "-" if v is None else spec % v


def ring_seconds(p, floats=FLOATS):
    """Ring allreduce of `floats` 4-byte values on p ranks: 2(p-1) messages of
    n/p bytes each way, latency ALPHA each, bandwidth BETA."""
    n = 4.0 * floats
    return 2 * (p - 1) * ALPHA + 2 * (p - 1) / p * n / BETA


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bindir")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join("lib", "bench", "results-mpi.jsonl"))
    a = ap.parse_args()
    t0, load0 = time.time(), os.getloadavg()
    samples, repeats = collect(a.bindir, a.quick)
    rows = {k: median_record(v) for k, v in samples.items()}
    load1 = os.getloadavg()
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    print("## bsnn data-parallel benchmark (%s%s)" % (stamp, ", QUICK" if a.quick else ""))
    print()
    print("Wide net 784-1024-1024-10 (ReLU, softmax CE), plain SGD, bsnn_model_train_step on "
          "each rank's share of the global batch; 2 ranks reduce through libbsnn_mpi (one "
          "MPI_Iallreduce per update, Open MPI %s, shared memory). Medians of %d interleaved "
          "repeats. Load average %.1f at the start, %.1f at the end."
          % (mpi_version(), repeats, load0[0], load1[0]))
    print()
    print("| global batch | configuration | samples/s | us/step | allreduce us/step | "
          "vs 1 rank x 1 thread | efficiency (vs 2 x 1 rank) |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    targets = []
    for b in BATCHES:
        one = rows.get((1, 1, b))
        for label, key in (("1 rank x 1 thread", (1, 1, b)), ("1 rank x 2 threads", (1, 2, b)),
                           ("2 ranks x 1 thread", (2, 1, b))):
            r = rows.get(key)
            speed = sps(r) / sps(one) if r and one else None
            eff = speed / 2 if speed and key != (1, 1, b) else None
            print("| %d | %s | %s | %s | %s | %s | %s |" % (
                b, label, fmt(sps(r)), fmt(r and r["us_per_step"]),
                fmt(r and r.get("reduce_us_per_step") if key[0] > 1 else None),
                fmt(speed, "%.2fx"), fmt(eff and 100 * eff, "%.1f%%")))
        two, thr = rows.get((2, 1, b)), rows.get((1, 2, b))
        eff = sps(two) / (2 * sps(one)) if two and one else None
        vs = sps(two) / sps(thr) if two and thr else None
        if b == 1024:
            targets.append(("2 ranks x 1 thread, global batch 1024: samples/s vs 2 x 1 rank x 1 thread",
                            eff, ">= 90%", eff is not None and eff >= 0.9, "%.1f%%", 100))
            targets.append(("2 ranks x 1 thread vs 1 rank x 2 threads, global batch 1024",
                            vs, "within 10% (>= 0.90x)", vs is not None and vs >= 0.9, "%.3fx", 1))
        else:
            targets.append(("(informative) the same at global batch %d: efficiency" % b,
                            eff, "-", None, "%.1f%%", 100))
            targets.append(("(informative) 2 ranks vs 1 rank x 2 threads at %d" % b,
                            vs, "-", None, "%.3fx", 1))
    print()
    print("Efficiency = samples/s / (2 x the 1-rank, 1-thread figure). The allreduce column is "
          "the time inside libbsnn_mpi's gradient hook per update (the rows/loss allreduce, the "
          "gradient's Iallreduce, the division, and waiting for the slower rank), the largest of "
          "the two ranks.")
    print()
    red = rows.get(("reduction",))
    if red:
        print("### The reduction: one allreduce of the arena, or buckets overlapped with backward")
        print()
        print("| 2 ranks, %d floats (%.2f MB), local batch 512 | us |" % (red["floats"], red["floats"] * 4 / 1e6))
        print("|---|---:|")
        for label, f in (("whole arena, one in-place MPI_Iallreduce", "whole_us"),
                         ("three per-layer buckets, started together", "buckets_us"),
                         ("one step's compute (forward + backward + update, no hook)", "compute_us"),
                         ("compute, then the whole arena", "sequential_us"),
                         ("buckets started, then the compute, then waiting (overlap)", "overlap_us"),
                         ("... of which waiting after the compute", "left_after_compute_us")):
            print("| %s | %s |" % (label, fmt(red[f])))
        saved = red["sequential_us"] - red["overlap_us"]
        whole = red["whole_us"]
        print()
        print("Overlap saved %.0f us per step of a %.0f us reduction (%.0f%%); after the compute "
              "the buckets still needed %.0f us. A non-blocking reduction over shared memory "
              "progresses only inside MPI calls, none of which can run inside bsnn's backward "
              "pass, and with one rank per core no core is free to move the data meanwhile. "
              "Three buckets instead of one reduction: %+.0f us." % (
                  saved, whole, 100 * saved / whole if whole else 0,
                  red["left_after_compute_us"], red["buckets_us"] - whole))
        print()
    print_projection(rows, red)
    print("### Targets (issue 16)")
    print()
    print("| target | measured | goal | |")
    print("|---|---:|---:|---|")
    for label, v, goal, met, spec, scale in targets:
        verdict = "" if met is None and goal == "-" else "met" if met else "**NOT met**"
        print("| %s | %s | %s | %s |" % (label, fmt(v and v * scale, spec), goal, verdict))
    print()
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    with open(a.out, "w") as f:
        f.write(json.dumps({"record": "machine", "date": stamp, "quick": a.quick,
                            "load_start": load0[0], "load_end": load1[0], "mpi": mpi_version(),
                            "alpha_s": ALPHA, "beta_bytes_per_s": BETA}) + "\n")
        for k in sorted(rows, key=str):
            f.write(json.dumps(dict(rows[k], record="mpi", date=stamp, quick=a.quick)) + "\n")
        for label, v, goal, met, spec, scale in targets:
            f.write(json.dumps({"record": "target", "part": "mpi", "target": label, "value": v,
                                "goal": goal, "met": met, "date": stamp}) + "\n")
    print("(%d s; raw data in %s)" % (time.time() - t0, a.out))
    bad = [k for k, r in rows.items() if not r.get("ok", True)]
    if bad:
        sys.exit("bench-mpi: failed steps in %s" % bad)


def compute_us(rows, b):
    r = rows.get((1, 1, b))
    return r["us_per_step"] if r else None


def print_projection(rows, red):
    print("### Projection to more ranks (a model, not a measurement)")
    print()
    print("Step time on P ranks = T_c(B/P) + T_ar(P): T_c(b) the measured 1-thread step at local "
          "batch b on this machine, T_ar(P) = 2(P-1) alpha + 2 (P-1)/P n / beta the ring "
          "allreduce of the n = %.2f MB gradient, with alpha = %g us per message and beta = "
          "%g GB/s per link (a 100 Gb/s network; stated, not measured). Efficiency = "
          "T_c(B) / (P x step time): strong scaling at a fixed global batch B; the weak-scaling "
          "rows keep the local batch b fixed (efficiency = T_c(b) / (T_c(b) + T_ar(P))). The "
          "reduction's own passes over the gradient and any imbalance between ranks are left "
          "out, so these are upper bounds." % (4 * FLOATS / 1e6, ALPHA * 1e6, BETA / 1e9))
    print()
    print("| scaling | B or b | P = 2 (measured here) | P = 8 | P = 64 | P = 512 |")
    print("|---|---:|---:|---:|---:|---:|")
    for b in BATCHES:
        tcb = compute_us(rows, b)
        two, one = rows.get((2, 1, b)), rows.get((1, 1, b))
        cells = ["%.0f%%" % (100 * sps(two) / (2 * sps(one))) if two and one else "-"]
        for p in RANKS:
            local = b // p
            tc = compute_us(rows, local) if b % p == 0 else None
            if local < 1:
                cells.append("n/a (%d rows < %d ranks)" % (b, p))
            elif tc is None or tcb is None:
                cells.append("-")
            else:
                cells.append("%.0f%% (b = %d)" % (100 * tcb / (p * (tc + ring_seconds(p) * 1e6)), local))
        print("| strong, global batch | %d | %s |" % (b, " | ".join(cells)))
    for b in (128, 512):
        tc = compute_us(rows, b)
        cells = ["-"]
        for p in RANKS:
            cells.append("-" if tc is None else "%.0f%%" % (100 * tc / (tc + ring_seconds(p) * 1e6)))
        print("| weak, local batch | %d | %s |" % (b, " | ".join(cells)))
    print()
    print("T_c used (us, 1 thread): %s. T_ar: %s." % (
        ", ".join("b=%d %s" % (b, fmt(compute_us(rows, b))) for b in sorted(set(COMPUTE_BATCHES + BATCHES))),
        ", ".join("P=%d %.0f us" % (p, ring_seconds(p) * 1e6) for p in [2] + RANKS)))
    if red:
        print("Check on this machine: the model with the measured shared-memory reduction (%.0f us "
              "for P = 2) in place of T_ar gives %s at B = 1024, where %s was measured." % (
                  red["whole_us"], model_two(rows, red), measured_two(rows)))
    print()


def model_two(rows, red):
    tcb, tc = compute_us(rows, 1024), compute_us(rows, 512)
    if tcb is None or tc is None:
        return "-"
    return "%.1f%%" % (100 * tcb / (2 * (tc + red["whole_us"])))


def measured_two(rows):
    two, one = rows.get((2, 1, 1024)), rows.get((1, 1, 1024))
    return "%.1f%%" % (100 * sps(two) / (2 * sps(one))) if two and one else "-"


def mpi_version():
    try:
        out = subprocess.run(["mpirun", "--version"], capture_output=True, text=True).stdout
        return out.splitlines()[0].split()[-1]
    except (OSError, IndexError):
        return "?"


if __name__ == "__main__":
    main()
