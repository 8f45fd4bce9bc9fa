"""Plot samples/s against batch size from results.jsonl (make bench-plot).

    /usr/bin/python3 tests/bench/plot.py results.jsonl out.svg

One panel per net (wide 784-1024-1024-10, tiny 2-8-8-1), log-log axes, a
line per implementation and thread count (bsnn with plain SGD, PyTorch as
installed and with BLIS's AVX-512 configuration forced, FANN); bars from the
min and max of the repeats.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

STYLE = {"bsnn": ("tab:blue", "o"), "pytorch": ("tab:orange", "s"),
         "pytorch-skx": ("tab:red", "D"), "fann": ("tab:green", "^")}
LABEL = {"bsnn": "bsnn", "pytorch": "PyTorch (BLIS as installed)",
         "pytorch-skx": "PyTorch (BLIS skx forced)", "fann": "FANN"}


def main():
    src, out = sys.argv[1], sys.argv[2]
    rows = [json.loads(l) for l in open(src) if l.strip()]
    rows = [r for r in rows if "samples_per_s" in r]  # the step rows
    machine = rows[0].get("machine", "") if rows else ""
    date = rows[0].get("date", "") if rows else ""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax, net, title in ((axes[0], "wide", "wide 784-1024-1024-10 (ReLU, softmax CE)"),
                           (axes[1], "tiny", "tiny 2-8-8-1 (tanh, MSE)")):
        for impl in STYLE:
            # FANN is single-threaded: its 2-thread runs only repeat the 1-thread ones.
            for threads, ls in ((1, "-"), (2, "--")) if impl != "fann" else ((1, "-"),):
                pts = sorted((r["batch"], r) for r in rows
                             if r["impl"] == impl and r["net"] == net and r["threads"] == threads)
                if not pts:
                    continue
                xs = [b for b, _ in pts]
                ys = [r["samples_per_s"] for _, r in pts]
                lo = [y - b * 1e6 / r["max"] for (b, r), y in zip(pts, ys)]
                hi = [b * 1e6 / r["min"] - y for (b, r), y in zip(pts, ys)]
                color, marker = STYLE[impl]
                ax.errorbar(xs, ys, yerr=[lo, hi], color=color, marker=marker, ls=ls, capsize=2,
                            label="%s, %d thread%s" % (LABEL[impl], threads, "s" if threads > 1 else ""))
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("batch size")
        ax.set_ylabel("training samples / s")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("Training throughput, medians of interleaved repeats (%s, %s)" % (machine, date),
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(out, format="svg")


if __name__ == "__main__":
    main()
