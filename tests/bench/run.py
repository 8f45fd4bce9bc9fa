"""bsnn's benchmark: bsnn, PyTorch and FANN interleaved, the machine they ran
on, the real Fashion-MNIST run and the issue's targets (make bench).

    /usr/bin/python3 tests/bench/run.py BINDIR [--quick] [--only steps|fashion]
                                               [--data DIR] [--out results.jsonl]

Each repeat probes the machine (FMA peak, BLIS's configuration, a 1024^3
product), then runs, for each thread count (1, 2) and net, every program one
after the other in a rotating order, so that load from other processes falls
on all of them alike. PyTorch runs as installed and, on CPUs with AVX-512F,
again with BLIS's AVX-512 configuration forced for its process
(BLIS_ARCH_TYPE, verified); the same forced configuration times the
GEMM-only reference. Every program gets BLIS_NUM_THREADS and OMP_NUM_THREADS
for the thread count (and sets its own library's count). Medians over
repeats go to Markdown tables on stdout; every row, the machine record and
the targets go to the JSONL file.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FULL = {"wide": [1, 8, 32, 256, 1024], "tiny": [1, 10, 30, 256]}
QUICK = {"wide": [1, 32, 256], "tiny": [1, 256]}
WIDTHS = {"wide": [784, 1024, 1024, 10], "tiny": [2, 8, 8, 1]}
THREADS = (1, 2)
# FANN has no BLAS: a wide step at batch 256 takes seconds, so it is timed
# only where that stays affordable.
FANN_WIDE_MAX = 32
# Time outside GEMM is measured from this batch up (bench_bsnn.c agrees).
OUTSIDE_MIN_BATCH = 256
FASHION_EPOCHS = {"full": 3, "quick": 1}
FASHION_SEEDS = {"full": [1, 2, 3], "quick": [1]}


# ---- running programs -------------------------------------------------------
def base_env(threads):
    env = dict(os.environ, BLIS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads))
    env.pop("BLIS_ARCH_TYPE", None)  # "as installed" means BLIS's own choice
    return env


def run(cmd, env, label=None):
    """Run a bench program; its JSON lines, and BLIS_ARCH_DEBUG's lines of stderr."""
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    debug = [l.strip() for l in p.stderr.splitlines() if l.startswith("libblis:")]
    if p.returncode != 0:
        sys.stderr.write("bench: %s failed:\n%s\n" % (" ".join(cmd), p.stderr))
        return [], debug
    recs = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
    if label:
        for r in recs:
            if r.get("impl") == "pytorch":
                r["impl"] = label
    return recs, debug


def blis_selected(debug):
    for line in debug:
        m = re.search(r"selecting sub-configuration '(\w+)'", line)
        if m:
            return m.group(1)
    return None


# ---- the machine --------------------------------------------------------------
def lscpu():
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    info = dict(l.split(":", 1) for l in out.splitlines() if ":" in l)
    flags = info.get("Flags", "").split()
    return {"model": info.get("Model name", "?").strip(), "cpus": info.get("CPU(s)", "?").strip(),
            "flags": {f: f in flags for f in ("avx2", "fma", "avx512f")}}


def probe(bindir, forced):
    """bench_machine as installed (with the FMA peak) and, when BLIS has an
    skx configuration and the CPU AVX-512F, with it forced. Returns the
    records and the environment additions of the forced configuration."""
    exe = os.path.join(bindir, "bench_machine")
    env = dict(base_env(1), BLIS_ARCH_DEBUG="1")
    recs, debug = run([exe, "--peak"], env)
    if not recs:
        sys.exit("bench: bench_machine failed")
    inst = dict(recs[0], blis_debug=debug)
    out = {"installed": inst}
    if forced is None and inst["avx512f"] and inst["blis_skx_id"] >= 0:
        forced = {"BLIS_ARCH_TYPE": str(inst["blis_skx_id"])}
    if forced:
        recs, debug = run([exe], dict(env, **forced))
        ok = recs and recs[0]["blis_arch"] == "skx" and blis_selected(debug) == "skx"
        if ok:
            out["skx"] = dict(recs[0], blis_debug=debug, env=forced)
        else:
            sys.stderr.write("bench: %s did not select skx (%s); PyTorch runs as installed only\n"
                             % (forced, debug))
            forced = {}
    return out, forced or {}


# ---- the step benchmarks -------------------------------------------------------
def step_commands(bindir, net, threads, min_time, batches, forced):
    """(label, command, environment) of each program for one net and thread count."""
    args = [net, str(threads), "%g" % min_time]
    env = base_env(threads)
    bsnn = os.path.join(bindir, "bench_bsnn")
    torch = ["/usr/bin/python3", os.path.join(HERE, "bench_torch.py")] + args + [str(b) for b in batches]
    fann_b = [b for b in batches if net != "wide" or b <= FANN_WIDE_MAX]
    cmds = [("bsnn", [bsnn] + args + [str(b) for b in batches], env),
            ("pytorch", torch, dict(env, BLIS_ARCH_DEBUG="1")),
            ("fann", [os.path.join(bindir, "bench_fann")] + args + [str(b) for b in fann_b], env)]
    if forced:
        cmds.append(("pytorch-skx", torch, dict(env, BLIS_ARCH_DEBUG="1", **forced)))
        big = [str(b) for b in batches if net == "wide" and b >= OUTSIDE_MIN_BATCH]
        if big:
            cmds.append(("gemm-skx", [bsnn, "--gemm-only"] + args + big, dict(env, **forced)))
    return cmds


def collect(bindir, quick, want_steps, want_fashion, datadir):
    sets = QUICK if quick else FULL
    repeats = 3 if quick else 5
    times = {"wide": 0.15 if quick else 0.4, "tiny": 0.05 if quick else 0.2}
    samples, probes, torch_meta, fashion = {}, [], {}, []
    forced = None
    for rep in range(repeats if want_steps else 1):
        pr, forced = probe(bindir, forced)
        probes.append(pr)
        for threads in THREADS if want_steps else ():
            for net, batches in sets.items():
                cmds = step_commands(bindir, net, threads, times[net], batches, forced)
                k = rep % len(cmds)
                for label, cmd, env in cmds[k:] + cmds[:k]:
                    recs, debug = run(cmd, env, label if label.startswith("pytorch") else None)
                    if label.startswith("pytorch"):
                        torch_meta.setdefault(label, {})["blis"] = blis_selected(debug)
                    for rec in recs:
                        if "meta" in rec:
                            torch_meta.setdefault(label, {}).update(rec)
                            continue
                        key = (rec["impl"], rec["net"], rec["batch"], rec["threads"])
                        samples.setdefault(key, []).append(rec)
        sys.stderr.write("bench: repeat %d/%d done\n" % (rep + 1, repeats))
    if want_fashion:
        fashion = collect_fashion(bindir, quick, datadir, forced)
    return samples, probes, torch_meta, fashion


def collect_fashion(bindir, quick, datadir, forced):
    mode = "quick" if quick else "full"
    epochs = str(FASHION_EPOCHS[mode])
    env = base_env(1)
    exe = os.path.join(bindir, "bench_fashion")
    torch = ["/usr/bin/python3", os.path.join(HERE, "bench_torch.py"), "fashion", datadir, epochs]
    recs = []
    for i, seed in enumerate(FASHION_SEEDS[mode]):
        cmds = [("bsnn", [exe, datadir, epochs, str(seed), "default"], env, None),
                ("bsnn-host-ftz", [exe, datadir, epochs, str(seed), "host-ftz"], env, None),
                ("bsnn-no-flush", [exe, datadir, epochs, str(seed), "no-flush"], env, None),
                ("pytorch", torch + [str(seed)], dict(env, BLIS_ARCH_DEBUG="1"), "pytorch")]
        if forced:
            cmds.append(("pytorch-skx", torch + [str(seed)], dict(env, BLIS_ARCH_DEBUG="1", **forced),
                         "pytorch-skx"))
        k = i % len(cmds)
        for _, cmd, e, label in cmds[k:] + cmds[:k]:
            out, debug = run(cmd, e, label)
            for r in out:
                r["seed"], r["blis"] = seed, blis_selected(debug)
            recs += out
        sys.stderr.write("bench: fashion seed %d done\n" % seed)
    return recs


# ---- summaries -------------------------------------------------------------------
def summarise(samples):
    rows = {}
    for key, recs in samples.items():
        us = [r["us_per_step"] for r in recs]
        med = statistics.median(us)
        row = {"impl": key[0], "net": key[1], "batch": key[2], "threads": key[3],
               "samples_per_s": key[2] * 1e6 / med, "us_per_step": med, "min": min(us),
               "max": max(us), "repeats": len(us),
               "peak_rss_bytes": max(r.get("peak_rss_bytes") or 0 for r in recs) or None}
        for f in ("allocs_per_step", "snapshot_bytes_per_step"):
            vals = [r.get(f) for r in recs if r.get(f) is not None]
            row[f] = max(vals) if vals else None
        if "mode" in recs[0]:
            row["mode"] = recs[0]["mode"]
        if "ok" in recs[0]:
            row["ok"] = all(r["ok"] for r in recs)
        rows[key] = row
    return rows


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def machine_summary(probes, cpu):
    inst = probes[0]["installed"]
    m = {"record": "machine", "cpu": cpu["model"], "cpus": cpu["cpus"], "flags": cpu["flags"],
         "fma_width": inst.get("fma_width"),
         "fma_peak_gflops": med(p["installed"].get("fma_peak_gflops") for p in probes),
         "fma_peak_runs": [p["installed"].get("fma_peak_gflops") for p in probes],
         "bsnn_version": inst["bsnn_version"], "bsnn_gemm_kernel": inst["bsnn_gemm_kernel"],
         "blis": {}}
    for cfg in ("installed", "skx"):
        got = [p[cfg] for p in probes if cfg in p]
        if not got:
            continue
        g = got[0]
        m["blis"][cfg] = {k: g[k] for k in ("blis_version", "blis_openmp", "blis_arch",
                                            "blis_arch_id", "blis_sgemm_blocks",
                                            "blis_sup_thresh", "blis_debug")}
        m["blis"][cfg]["env"] = g.get("env", {})
        m["blis"][cfg]["sgemm_1024_gflops"] = med(x["blis_sgemm_1024_gflops"] for x in got)
        m["blis"][cfg]["bsnn_forward_1024_gflops"] = med(x["bsnn_forward_1024_gflops"] for x in got)
    return m


def step_flops(net, batch):
    """FLOPs of one training step's products (2 per multiply-add): forward and
    weight gradient of every dense layer, input gradient of all but the first."""
    w = WIDTHS[net]
    macs = [w[i] * w[i + 1] for i in range(3)]
    return 2.0 * batch * (2 * sum(macs) + sum(macs[1:]))


def pt_best(rows, net, b, t):
    cands = [rows.get((impl, net, b, t)) for impl in ("pytorch", "pytorch-skx")]
    cands = [c for c in cands if c]
    return min(cands, key=lambda r: r["us_per_step"]) if cands else None


def gemm_ref(rows, b, t):
    """The GEMM-only reference: the fastest BLIS configuration's median."""
    cands = [r for k, r in rows.items() if k[0].startswith("blis-gemm-") and k[1:] == ("wide", b, t)]
    return min(cands, key=lambda r: r["us_per_step"]) if cands else None


# ---- printing ----------------------------------------------------------------------
def fmt_rate(v):
    if v is None:
        return "-"
    if v >= 1e6:
        return "%.2fM" % (v / 1e6)
    if v >= 1e4:
        return "%.0fk" % (v / 1e3)
    return "%.0f" % v


def num(v):
    return "-" if v is None else "%.0f" % v if abs(v) >= 100 else "%.3g" % v


def fmt_us(r):
    return "-" if r is None else "%s (%s-%s)" % (num(r["us_per_step"]), num(r["min"]), num(r["max"]))


def rate(r):
    return r["samples_per_s"] if r else None


def ratio(a, b):
    return a["samples_per_s"] / b["samples_per_s"] if a and b else None


def fx(v):
    return "-" if v is None else "%.2fx" % v


def mb(r):
    return "%.0f" % (r["peak_rss_bytes"] / 2**20) if r and r.get("peak_rss_bytes") else "-"


def print_machine(m, torch_meta, rows):
    f = m["flags"]
    print("CPU: %s, %s CPUs; avx2 %s, fma %s, avx512f %s." % (
        m["cpu"], m["cpus"], *("yes" if f[k] else "no" for k in ("avx2", "fma", "avx512f"))))
    if m["fma_peak_gflops"]:
        print("FMA peak, one core: **%.1f GFLOP/s** (independent %d-bit FMAs; median over the "
              "repeats of each repeat's median of 11 runs: %s)." % (
                  m["fma_peak_gflops"], m["fma_width"],
                  ", ".join("%.0f" % v for v in m["fma_peak_runs"] if v)))
    for cfg, b in m["blis"].items():
        blk = b["blis_sgemm_blocks"]
        print("BLIS %s, %s build, %s: selects **'%s'** (arch id %d; sgemm MRxNR %dx%d, KC %d, "
              "MC %d, NC %d; small-product thresholds %s); 1024^3 sgemm, 1 thread: %.0f GFLOP/s%s." % (
                  b["blis_version"], "OpenMP" if b["blis_openmp"] else "non-OpenMP",
                  "as installed" if cfg == "installed" else "forced with " + " ".join(
                      "%s=%s" % kv for kv in b["env"].items()),
                  b["blis_arch"], b["blis_arch_id"], blk["MR"], blk["NR"], blk["KC"], blk["MC"],
                  blk["NC"], "/".join(str(v) for v in b["blis_sup_thresh"].values()),
                  b["sgemm_1024_gflops"],
                  " (BLIS_ARCH_DEBUG: %s)" % "; ".join(b["blis_debug"]) if b["blis_debug"] else ""))
    print()
    print("GEMM kernels of each implementation:")
    inst = m["blis"]["installed"]
    print("- bsnn %s: kernel query: %s; its BLIS products run under '%s' (no variable set); "
          "1024^3 through bsnn_model_forward (one dense layer, 1 thread): %.0f GFLOP/s." % (
              m["bsnn_version"], m["bsnn_gemm_kernel"] or "none in this version",
              inst["blis_arch"], inst["bsnn_forward_1024_gflops"]))
    for label in ("pytorch", "pytorch-skx"):
        t = torch_meta.get(label)
        if t:
            print("- PyTorch %s (%s): %s; mapped: %s; BLIS in its process selected '%s'." % (
                t.get("version", "?"), "as installed" if label == "pytorch" else "BLIS forced",
                ", ".join(t.get("blas_info", [])), ", ".join(t.get("blas_mapped", [])), t.get("blis")))
    if any(k[0] == "fann" for k in rows):
        print("- FANN 2.2 floatfann: its own scalar loops, no BLAS, single-threaded "
              "(batch 1 = incremental, batch > 1 = one FANN_TRAIN_BATCH epoch).")
    print()


def print_wide(rows, sets, peak):
    print("### Wide 784-1024-1024-10 (ReLU, softmax CE), plain SGD")
    print()
    print("| batch | thr | bsnn samples/s | PyTorch installed | PyTorch skx | FANN | bsnn / PT-best "
          "| bsnn / PT-installed | bsnn GFLOP/s | % of FMA peak | 2T/1T | bsnn us/step (min-max) "
          "| PT-best us/step | allocs/step | snapshot B/step | peak RSS bsnn / PT / FANN (MB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in THREADS:
        for b in sets["wide"]:
            g = lambda impl, tt=t: rows.get((impl, "wide", b, tt))
            bs, pi, ps, fa, best = g("bsnn"), g("pytorch"), g("pytorch-skx"), g("fann"), pt_best(rows, "wide", b, t)
            gf = step_flops("wide", b) / bs["us_per_step"] * 1e-3 if bs else None
            pct = "%.0f%%" % (100 * gf / (peak * t)) if gf and peak else "-"
            sc = fx(ratio(bs, g("bsnn", 1))) if t > 1 else ""
            snap = bs.get("snapshot_bytes_per_step") if bs else None
            print("| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s |" % (
                b, t, fmt_rate(rate(bs)), fmt_rate(rate(pi)), fmt_rate(rate(ps)), fmt_rate(rate(fa)),
                fx(ratio(bs, best)), fx(ratio(bs, pi)), num(gf), pct, sc, fmt_us(bs),
                num(best["us_per_step"]) if best else "-",
                "%g" % bs["allocs_per_step"] if bs else "-", "n/a" if snap is None else "%g" % snap,
                mb(bs), mb(best), mb(fa)))
    print()
    print("GFLOP/s counts the products only: %.2f MFLOP per sample (forward and weight gradient "
          "of the three layers, input gradient of the last two); the peak is one core's times the "
          "thread count." % (step_flops("wide", 1) / 1e6))
    print()


def outside(rows, impl, b, t, ref_impl=None):
    """Share of bsnn's step not covered by the GEMM-only time of the fastest
    BLIS configuration (or of ref_impl's)."""
    bs = rows.get((impl, "wide", b, t))
    ref = rows.get((ref_impl, "wide", b, t)) if ref_impl else gemm_ref(rows, b, t)
    return (1.0 - ref["us_per_step"] / bs["us_per_step"]) if bs and ref else None


def print_outside(rows, sets, own):
    big = [b for b in sets["wide"] if b >= OUTSIDE_MIN_BATCH]
    cfgs = sorted({k[0] for k in rows if k[0].startswith("blis-gemm-")})
    if not big or not cfgs:
        return
    own = "blis-gemm-" + own
    print("### Time outside GEMM, wide net")
    print()
    print("| batch | thr | %s | bsnn SGD us | outside (SGD) | bsnn Adam us | outside (Adam) |" % (
        " | ".join("GEMM-only us, BLIS %s" % c[10:] for c in cfgs)))
    print("|---:|---:|%s---:|---:|---:|---:|" % ("---:|" * len(cfgs)))
    pct = lambda v: "-" if v is None else "%.1f%%" % (100 * v)
    for t in THREADS:
        for b in big:
            g = lambda impl: rows.get((impl, "wide", b, t))
            us = lambda impl: num(g(impl)["us_per_step"]) if g(impl) else "-"
            share = lambda impl: "%s (%s)" % (pct(outside(rows, impl, b, t)),
                                              pct(outside(rows, impl, b, t, own)))
            print("| %d | %d | %s | %s | %s | %s | %s |" % (
                b, t, " | ".join(us(c) for c in cfgs), us("bsnn"), share("bsnn"),
                us("bsnn-adam"), share("bsnn-adam")))
    print()
    print("GEMM-only: the eight products of one step (bsnn's shapes, strides and thread count) "
          "through bli_sgemm_ex with a per-call rntm_t, under each BLIS configuration (the "
          "installed one in bench_bsnn's own process, a forced one in a sibling process). "
          "Outside = 1 - GEMM-only / bsnn step, against the fastest configuration (the targets' "
          "reference) and, in brackets, against the one bsnn's own process runs (%s); negative: "
          "bsnn's products beat BLIS's." % own[10:])
    print()


def noise_cost(rows, b, t):
    """Extra time of the per-sample noise statistics on the wide net's Adam
    step (issue 15): bsnn-adam-noise / bsnn-adam - 1."""
    on, off = rows.get(("bsnn-adam-noise", "wide", b, t)), rows.get(("bsnn-adam", "wide", b, t))
    return on["us_per_step"] / off["us_per_step"] - 1.0 if on and off else None


def print_noise(rows, sets):
    big = [b for b in sets["wide"] if b >= 32]
    if not any(rows.get(("bsnn-adam-noise", "wide", b, t)) for b in big for t in THREADS):
        return
    print("### Gradient noise statistics, wide net, Adam")
    print()
    print("| batch | thr | Adam us/step | with the per-sample noise route us/step | extra |")
    print("|---:|---:|---:|---:|---:|")
    for t in THREADS:
        for b in big:
            g = lambda impl: rows.get((impl, "wide", b, t))
            v = noise_cost(rows, b, t)
            print("| %d | %d | %s | %s | %s |" % (
                b, t, fmt_us(g("bsnn-adam")), fmt_us(g("bsnn-adam-noise")),
                "-" if v is None else "%.1f%%" % (100 * v)))
    print()
    print("BSNN_MODEL_NOISE_ROUTE = BSNN_NOISE_PER_SAMPLE: each row's squared gradient norm per "
          "dense layer ((|a_i|^2 + 1) |delta_i|^2), the batch gradient's squared norm and the "
          "estimator's update, every step (docs/scheduler.md).")
    print()


def print_tiny(rows, sets):
    print("### Tiny 2-8-8-1 (tanh, MSE), plain SGD")
    print()
    print("| batch | thr | bsnn samples/s | bsnn us/step (min-max) | FANN samples/s | FANN us/step "
          "| PT-best samples/s | bsnn / FANN | bsnn / PT-best | allocs/step | peak RSS bsnn / PT / FANN (MB) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in THREADS:
        for b in sets["tiny"]:
            g = lambda impl: rows.get((impl, "tiny", b, t))
            bs, fa, best = g("bsnn"), g("fann"), pt_best(rows, "tiny", b, t)
            print("| %d | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s / %s |" % (
                b, t, fmt_rate(rate(bs)), fmt_us(bs), fmt_rate(rate(fa)), fmt_us(fa),
                fmt_rate(rate(best)), fx(ratio(bs, fa)), fx(ratio(bs, best)),
                "%g" % bs["allocs_per_step"] if bs else "-", mb(bs), mb(best), mb(fa)))
    print()


def fashion_rows(recs):
    """Per implementation: median training time, mean accuracy, the runs."""
    out = {}
    for r in recs:
        out.setdefault(r["impl"], []).append(r)
    rows = {}
    for impl, rs in out.items():
        if "unavailable" in rs[0]:
            rows[impl] = {"impl": impl, "unavailable": rs[0]["unavailable"]}
            continue
        secs = [r["train_seconds"] for r in rs]
        rows[impl] = {"impl": impl, "record": "fashion", "epochs": rs[0]["epochs"],
                      "train_seconds": statistics.median(secs), "min": min(secs), "max": max(secs),
                      "test_accuracy": statistics.mean(r["test_accuracy"] for r in rs),
                      "accuracies": [r["test_accuracy"] for r in rs],
                      "seeds": [r["seed"] for r in rs], "blis": rs[0].get("blis"),
                      "allocs_in_training": max(r.get("allocs_in_training", 0) for r in rs),
                      "peak_rss_bytes": max(r.get("peak_rss_bytes") or 0 for r in rs)}
    return rows


def fashion_best(fr):
    cands = [fr[k] for k in ("pytorch", "pytorch-skx") if k in fr and "train_seconds" in fr[k]]
    return min(cands, key=lambda r: r["train_seconds"]) if cands else None


def print_fashion(fr):
    if not fr:
        return
    any_row = next(r for r in fr.values() if "epochs" in r)
    print("### Real run: full Fashion-MNIST, 784-256-128-10 ReLU, Adam 1e-3, batch 64, %d epoch%s, "
          "1 thread" % (any_row["epochs"], "s" if any_row["epochs"] > 1 else ""))
    print()
    print("| run | BLIS config | training s, median (min-max) | test accuracy, mean (per seed) "
          "| heap allocations in training | peak RSS (MB) |")
    print("|---|---|---:|---:|---:|---:|")
    names = {"bsnn": "bsnn (its default)", "bsnn-host-ftz": "bsnn, FTZ/DAZ set in the calling thread",
             "bsnn-no-flush": "bsnn, its subnormal flushing off",
             "pytorch": "PyTorch, set_flush_denormal(True), BLIS as installed",
             "pytorch-skx": "PyTorch, set_flush_denormal(True), BLIS forced"}
    for impl in names:
        r = fr.get(impl)
        if not r:
            continue
        if "unavailable" in r:
            print("| %s | - | not measured: %s | - | - | - |" % (names[impl], r["unavailable"]))
            continue
        print("| %s | %s | %.2f (%.2f-%.2f) | %.2f%% (%s) | %s | %.0f |" % (
            names[impl], r["blis"] or "-", r["train_seconds"], r["min"], r["max"],
            100 * r["test_accuracy"], ", ".join("%.2f" % (100 * a) for a in r["accuracies"]),
            r["allocs_in_training"] if impl.startswith("bsnn") else "-", r["peak_rss_bytes"] / 2**20))
    print()
    print("Seeds %s: bsnn's scheduler order and initialisation, torch.manual_seed; both He/Kaiming "
          "uniform U(+-sqrt(6/fan_in)) weights, zero biases. Training time excludes loading and "
          "evaluation." % ", ".join(str(s) for s in any_row["seeds"]))
    print()


# ---- targets ----------------------------------------------------------------------
def targets(rows, sets, m, fr, quick):
    """Each target of the issue's "Benchmark targets" with this run's figure."""
    out = []
    peak = m["fma_peak_gflops"]

    def add(label, value, goal, met, fmt="%.2fx"):
        out.append({"record": "target", "target": label, "goal": goal,
                    "part": "fashion" if "Fashion" in label else "steps",
                    "measured": None if value is None else fmt % value, "value": value,
                    "met": None if value is None else bool(met(value))})

    for b in (256, 1024):
        bs = rows.get(("bsnn", "wide", b, 1))
        add("wide b=%d, 1 thread: bsnn / PyTorch-best" % b, ratio(bs, pt_best(rows, "wide", b, 1)),
            ">= 1.2x", lambda v: v >= 1.2)
        pct = 100 * step_flops("wide", b) / bs["us_per_step"] * 1e-3 / peak if bs and peak else None
        add("wide b=%d, 1 thread: bsnn %% of FMA peak" % b, pct, ">= 70%", lambda v: v >= 70, "%.0f%%")
        add("wide b=%d, 1 thread: bsnn / PyTorch as installed" % b,
            ratio(bs, rows.get(("pytorch", "wide", b, 1))), ">= 1.8x", lambda v: v >= 1.8)
    bs2 = rows.get(("bsnn", "wide", 256, 2))
    add("wide b=256, 2 threads: bsnn / PyTorch-best", ratio(bs2, pt_best(rows, "wide", 256, 2)),
        ">= 1.2x", lambda v: v >= 1.2)
    add("wide b=256: bsnn 2 threads / 1 thread", ratio(bs2, rows.get(("bsnn", "wide", 256, 1))),
        ">= 1.85x", lambda v: v >= 1.85)
    for b, goal in ((32, 1.5), (1, 2.5)):
        for t in THREADS:
            add("wide b=%d, %d thread%s: bsnn / PyTorch-best" % (b, t, "s" * (t > 1)),
                ratio(rows.get(("bsnn", "wide", b, t)), pt_best(rows, "wide", b, t)),
                ">= %gx" % goal, lambda v, g=goal: v >= g)
    for b in (256, 1024):
        for t in THREADS:
            for impl, rule, lim in (("bsnn", "SGD", 5), ("bsnn-adam", "Adam", 10)):
                v = outside(rows, impl, b, t)
                add("wide b=%d, %d thread%s: time outside GEMM, %s" % (b, t, "s" * (t > 1), rule),
                    None if v is None else 100 * v, "<= %d%%" % lim, lambda v, l=lim: v <= l, "%.1f%%")
    for b in (32, 256, 1024):
        for t in THREADS:
            v = noise_cost(rows, b, t)
            add("wide b=%d, %d thread%s: gradient noise statistics (per-sample route), extra time "
                "of the Adam step" % (b, t, "s" * (t > 1)), None if v is None else 100 * v,
                "<= 5%", lambda v: v <= 5, "%.1f%%")
    t1 = rows.get(("bsnn", "tiny", 1, 1))
    add("tiny b=1, 1 thread: bsnn us per step", t1["us_per_step"] if t1 else None, "<= 0.2 us",
        lambda v: v <= 0.2, "%.3f us")
    add("tiny b=1, 1 thread: bsnn / FANN incremental", ratio(t1, rows.get(("fann", "tiny", 1, 1))),
        ">= 1.5x", lambda v: v >= 1.5)
    t256 = rows.get(("bsnn", "tiny", 256, 1))
    add("tiny b=256, 1 thread: bsnn samples/s", rate(t256) and rate(t256) / 1e6, ">= 40M",
        lambda v: v >= 40, "%.1fM")
    inst = m["blis"]["installed"]["bsnn_forward_1024_gflops"]
    add("1024^3 product through bsnn (bsnn_model_forward), 1 thread", inst, ">= 180 GFLOP/s",
        lambda v: v >= 180, "%.0f GFLOP/s")
    bf, pb = fr.get("bsnn"), fashion_best(fr)
    label = "Fashion-MNIST%s" % (" (QUICK: 1 epoch)" if quick else "")
    ok = bf and pb and "train_seconds" in bf
    add("%s: bsnn training time / PyTorch-best's" % label,
        bf["train_seconds"] / pb["train_seconds"] if ok else None, "<= 0.5x", lambda v: v <= 0.5)
    add("%s: test accuracy, bsnn vs PyTorch-best (difference)" % label,
        100 * abs(bf["test_accuracy"] - pb["test_accuracy"]) if ok else None, "<= 0.5 points",
        lambda v: v <= 0.5, "%.2f points")
    bsnn_rows = [r for r in rows.values() if r["impl"].startswith("bsnn")]
    allocs = [r["allocs_per_step"] for r in bsnn_rows if r.get("allocs_per_step") is not None]
    add("heap allocations per steady-state bsnn step (max over configurations)",
        max(allocs) if allocs else None, "0", lambda v: v == 0, "%g")
    snaps = [r["snapshot_bytes_per_step"] for r in bsnn_rows if r.get("snapshot_bytes_per_step") is not None]
    out.append({"record": "target", "part": "steps",
                "target": "snapshot bytes per step (max over configurations)",
                "goal": "printed", "value": max(snaps) if snaps else None,
                "measured": "%g" % max(snaps) if snaps else "n/a: bsnn has no query yet",
                "met": bool(snaps)})
    rss = [r for r in rows.values() if r["impl"] == "bsnn" and r.get("peak_rss_bytes")]
    big = max(rss, key=lambda r: r["peak_rss_bytes"]) if rss else None
    out.append({"record": "target", "part": "steps", "target": "peak RSS reported", "goal": "printed",
                "value": big["peak_rss_bytes"] if big else None,
                "measured": "bsnn up to %.0f MB (%s b=%d)" % (big["peak_rss_bytes"] / 2**20, big["net"],
                                                             big["batch"]) if big else None,
                "met": bool(big)})
    return out


def print_targets(tg):
    print("### Targets (issue 13, \"Benchmark targets\"; issue 15, the gradient noise statistics)")
    print()
    print("| target | measured | goal | |")
    print("|---|---:|---:|---|")
    for t in tg:
        verdict = "not measured" if t["met"] is None else "met" if t["met"] else "**NOT met**"
        print("| %s | %s | %s | %s |" % (t["target"], t["measured"] or "-", t["goal"], verdict))
    print()


# ---- main -------------------------------------------------------------------------
def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bindir")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=("steps", "fashion"))
    ap.add_argument("--data", help="directory of the uncompressed Fashion-MNIST IDX files")
    ap.add_argument("--out", default=os.path.join(HERE, "results.jsonl"))
    a = ap.parse_args()
    t0, load0 = time.time(), os.getloadavg()
    want_steps, want_fashion = a.only != "fashion", a.only != "steps"
    datadir = a.data or os.path.join(a.bindir, "fashion")
    samples, probes, torch_meta, fashion = collect(a.bindir, a.quick, want_steps, want_fashion, datadir)
    rows, sets = summarise(samples), QUICK if a.quick else FULL
    cpu = lscpu()
    m = machine_summary(probes, cpu)
    fr = fashion_rows(fashion)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    load1 = os.getloadavg()
    print("## bsnn benchmark (%s, %s%s)" % (cpu["model"], stamp, ", QUICK" if a.quick else ""))
    print()
    print("Medians of %d interleaved repeats; samples/s = batch / median step time; ratios from "
          "this run. Load average %.1f at the start, %.1f at the end (the machine's other work "
          "falls on every implementation alike)." % (len(probes), load0[0], load1[0]))
    print()
    print_machine(m, torch_meta, rows)
    if want_steps:
        print_wide(rows, sets, m["fma_peak_gflops"])
        print_outside(rows, sets, m["blis"]["installed"]["blis_arch"])
        print_noise(rows, sets)
        print_tiny(rows, sets)
    print_fashion(fr)
    tg = [t for t in targets(rows, sets, m, fr, a.quick)
          if (want_steps and t["part"] == "steps") or (want_fashion and t["part"] == "fashion")]
    print_targets(tg)
    meta = dict(m, date=stamp, quick=a.quick, load_start=load0[0], load_end=load1[0],
                pytorch=torch_meta)
    with open(a.out, "w") as f:
        f.write(json.dumps(meta) + "\n")
        for key in sorted(rows):
            f.write(json.dumps(dict(rows[key], record="step", machine=cpu["model"], date=stamp,
                                    quick=a.quick)) + "\n")
        for r in fr.values():
            f.write(json.dumps(dict(r, record="fashion", date=stamp, quick=a.quick)) + "\n")
        for t in tg:
            f.write(json.dumps(dict(t, date=stamp, quick=a.quick)) + "\n")
    print("(%d s; raw data in %s)" % (time.time() - t0, a.out))
    bad = [k for k, r in rows.items() if k[0].startswith("bsnn")
           and (r.get("allocs_per_step") or not r.get("ok", True))]
    if bad:
        print("bench: bsnn allocated or failed during steps in %s" % bad)
        sys.exit(1)


if __name__ == "__main__":
    main()
