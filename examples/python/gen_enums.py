#!/usr/bin/env python3
"""Generate bsnn/_enums.py (the package's IntEnums) from include/bsnn.h.

usage: gen_enums.py [HEADER] [OUT]        write OUT (default: stdout)
       gen_enums.py --check [HEADER] [OUT] exit 1 with a diff when OUT differs

`make python-enums` runs it; the package's tests fail when the committed
module differs from what this script makes of the header, so the enums can
never drift from the C values. Every C enum needs a line in ENUMS below (its
Python name, the prefix its members lose, and whether it is a flag set): an
enum the table does not know is an error, so a new header enum is a
deliberate addition here, and member names stay stable when values are
added.
"""
import difflib
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_HEADER = os.path.join(HERE, "..", "..", "include", "bsnn.h")
DEFAULT_OUT = os.path.join(HERE, "bsnn", "_enums.py")

# C enum -> (Python class, prefix stripped from member names, flag set?)
# ActivationKind, not Activation: bsnn.Activation is the layer class.
ENUMS = {
    "bsnn_status": ("Status", "BSNN_", False),
    "bsnn_bound_flag": ("BoundFlag", "BSNN_BOUND_", True),
    "bsnn_gemm_kernel": ("GemmKernel", "BSNN_GEMM_", False),
    "bsnn_layer_kind": ("LayerKind", "BSNN_LAYER_", False),
    "bsnn_activation": ("ActivationKind", "BSNN_ACT_", False),
    "bsnn_init": ("Init", "BSNN_INIT_", False),
    "bsnn_layer_param": ("LayerParam", "BSNN_LAYER_", False),
    "bsnn_optimizer_kind": ("OptimizerKind", "BSNN_", False),
    "bsnn_opt_param": ("OptParam", "BSNN_OPT_", False),
    "bsnn_opt_variant": ("OptVariant", "BSNN_VARIANT_", False),
    "bsnn_decay_scope": ("DecayScope", "BSNN_DECAY_", False),
    "bsnn_playground": ("Playground", "BSNN_PG_", False),
    "bsnn_pg_flag": ("PlaygroundFlag", "BSNN_PG_", True),
    "bsnn_feature": ("Feature", "BSNN_FEAT_", True),
    "bsnn_sched_param": ("SchedParam", "BSNN_SCHED_", False),
    "bsnn_batch_schedule": ("BatchSchedule", "BSNN_BATCH_", False),
    "bsnn_lr_schedule": ("LrSchedule", "BSNN_LR_", False),
    "bsnn_lr_scaling": ("LrScaling", "BSNN_SCALE_", False),
    "bsnn_hist_field": ("HistField", "BSNN_HIST_", False),
    "bsnn_loss": ("Loss", "BSNN_LOSS_", False),
    "bsnn_model_param": ("ModelParam", "BSNN_MODEL_", False),
    "bsnn_stat": ("Stat", "BSNN_STAT_", False),
    "bsnn_event": ("Event", "BSNN_EVENT_", False),
    "bsnn_search_param": ("SearchParam", "BSNN_SEARCH_", False),
    "bsnn_search_budget": ("SearchBudget", "BSNN_BUDGET_", False),
    "bsnn_search_metric": ("SearchMetric", "BSNN_METRIC_", False),
    "bsnn_search_col": ("SearchCol", "BSNN_SEARCH_COL_", False),
    "bsnn_noise_route": ("NoiseRoute", "BSNN_NOISE_", False),
    "bsnn_noise_field": ("NoiseField", "BSNN_NOISE_", False),
    "bsnn_search_rule": ("SearchRule", "BSNN_RULE_", False),
}

# Plain #define numbers the package needs.
DEFINES = ("BSNN_VERSION_MAJOR", "BSNN_VERSION_MINOR", "BSNN_VERSION_PATCH", "BSNN_MAX_RANK")

ENUM_RE = re.compile(r"typedef\s+enum\s+(\w+)\s*\{(.*?)\}\s*(\w+)\s*;", re.S)
TOKEN_RE = re.compile(r"(/\*.*?\*/)|(BSNN_\w+)\s*=\s*(-?\d+)\s*,?|(\S)", re.S)


def parse_members(cname, body):
    """(name, value, comment) for each member of an enum body. A member's
    comment is the /* ... */ that starts on its line after it (continuation
    lines included); comments on lines of their own are dropped."""
    members = []
    last_line = None
    for tok in TOKEN_RE.finditer(body):
        comment, name, value, other = tok.groups()
        line = body.count("\n", 0, tok.start())
        if other is not None:
            raise SystemExit("gen_enums: %s: cannot parse %r" % (cname, body[tok.start():][:40]))
        if name is not None:
            members.append([name, int(value), ""])
            last_line = line
        elif line == last_line and not members[-1][2]:
            members[-1][2] = " ".join(comment[2:-2].split())
    return [tuple(m) for m in members]


def parse_header(text):
    enums = []
    for m in ENUM_RE.finditer(text):
        tag, body, name = m.group(1), m.group(2), m.group(3)
        if tag != name:
            raise SystemExit("gen_enums: typedef enum %s ... %s: names differ" % (tag, name))
        enums.append((name, parse_members(name, body)))
    defines = {}
    for d in DEFINES:
        dm = re.search(r"^#define\s+%s\s+(-?\d+)\s*$" % d, text, re.M)
        if not dm:
            raise SystemExit("gen_enums: #define %s not found" % d)
        defines[d] = int(dm.group(1))
    return enums, defines


def render(enums, defines):
    known = set(ENUMS)
    seen = {name for name, _ in enums}
    if seen - known:
        raise SystemExit("gen_enums: header enums not in the ENUMS table: %s (add them)"
                         % ", ".join(sorted(seen - known)))
    if known - seen:
        raise SystemExit("gen_enums: ENUMS names enums the header lacks: %s"
                         % ", ".join(sorted(known - seen)))
    out = ['"""bsnn\'s enums and version, generated from include/bsnn.h by',
           "examples/python/gen_enums.py (make python-enums). Do not edit: the",
           'package\'s tests fail when this file and the header disagree."""',
           "from enum import IntEnum, IntFlag", "",
           "# The header this package was generated from (and written for).",
           "HEADER_VERSION = (%d, %d, %d)" % (defines["BSNN_VERSION_MAJOR"],
                                            defines["BSNN_VERSION_MINOR"],
                                            defines["BSNN_VERSION_PATCH"]),
           "MAX_RANK = %d" % defines["BSNN_MAX_RANK"]]
    for cname, members in enums:
        pyname, prefix, is_flag = ENUMS[cname]
        out += ["", "", "class %s(%s):" % (pyname, "IntFlag" if is_flag else "IntEnum"),
                '    """%s (include/bsnn.h)."""' % cname, ""]
        for cmember, value, comment in members:
            if not cmember.startswith(prefix) or len(cmember) == len(prefix):
                raise SystemExit("gen_enums: %s: member %s lacks the prefix %s"
                                 % (cname, cmember, prefix))
            short = cmember[len(prefix):]
            line = "    %s = %d" % (short, value)
            if comment:
                line += "  # " + comment
            out.append(line)
    out += ["", "", "# C enum name -> Python class, for tools and tests.", "C_NAMES = {"]
    out += ["    %r: %s," % (cname, ENUMS[cname][0]) for cname, _ in enums]
    out.append("}")
    return "\n".join(out) + "\n"


def generate(header_path=DEFAULT_HEADER):
    with open(header_path, encoding="utf-8") as f:
        enums, defines = parse_header(f.read())
    return render(enums, defines)


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    header = args[0] if args else DEFAULT_HEADER
    out = args[1] if len(args) > 1 else (DEFAULT_OUT if check else None)
    text = generate(header)
    if check:
        with open(out, encoding="utf-8") as f:
            current = f.read()
        if current != text:
            sys.stdout.writelines(difflib.unified_diff(
                current.splitlines(True), text.splitlines(True), out, "from " + header))
            print("gen_enums: %s is stale: run make python-enums" % out)
            return 1
        return 0
    if out is None:
        sys.stdout.write(text)
    else:
        with open(out + ".tmp", "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(out + ".tmp", out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
