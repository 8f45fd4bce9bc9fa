#!/usr/bin/python3
"""Golden trajectories from PyTorch itself, for tests/test_golden.c.

usage: /usr/bin/python3 tests/golden/make_torch_golden.py [OUTDIR]
       (Debian's python3-torch; OUTDIR defaults to this script's folder)

Trains, in float64, every update rule of bsnn (at PyTorch's defaults and with
other hyperparameters) on three small nets, at batch sizes 1, 3 and 16, for
25 steps each, and writes one text file per net. Everything the C test needs
is in the files: the data, the initial parameters and the batches are made
here from numpy's legacy RandomState with fixed seeds (a stream numpy keeps
stable), rounded to float32 so that bsnn (which trains in float) starts from
exactly the same numbers; only the arithmetic differs.

File format, version 1 (one record per line, fields separated by spaces,
numbers as Python's repr of a float64; lines starting with '#' are comments):
  bsnn-golden 1
  net NAME
  inputs N_IN
  layer dense N_OUT | layer act sigmoid|tanh|relu     (in order)
  loss mse_mean|softmax_ce       (bsnn_loss; softmax_ce with class indices)
  samples N TARGET_COLUMNS
  x V...                         (N lines, N_IN values each)
  y V...                         (N lines, TARGET_COLUMNS values each)
  params COUNT V...              (bsnn's order: per dense layer W [in][out]
                                  row-major, then b [out])
  batches BATCH STEPS            (then STEPS lines "b I..." of row indices)
  run rule=NAME batch=BATCH [KEY=VALUE...]
  loss V...                      (STEPS values: the batch's mean loss before
                                  each update)
  final COUNT V...               (the parameters after STEPS updates)
A run's keys: lr momentum beta1 beta2 eps rho weight_decay momentum_decay
(bsnn_opt_param names; a key left out means bsnn's default, which the run
also left at PyTorch's default), decay_scope=all|weights (AdamW),
l2=V (PyTorch's weight_decay on the dense weights only: bsnn's
BSNN_LAYER_L2), lr_gamma=G (the rate of update t is lr * G^(t-1), set before
each step). The comment line before each run shows the PyTorch call.
"""
import math
import os
import sys

import numpy as np
import torch

FORMAT_VERSION = 1
STEPS = 25
BATCHES = (1, 3, 16)
N_SAMPLES = 40

torch.set_default_dtype(torch.float64)
torch.use_deterministic_algorithms(True)


def f32(a):
    """Round to float32 and back: bsnn reads exactly these values."""
    return np.asarray(a, dtype=np.float32).astype(np.float64)


# ---- the nets -------------------------------------------------------------

def make_net(name, seed, n_in, hidden, act, n_out, out_act, loss):
    rs = np.random.RandomState(seed)
    x = f32(rs.uniform(-1.5, 1.5, size=(N_SAMPLES, n_in)))
    mix = rs.normal(size=(n_in, n_out))
    if loss == "softmax_ce":
        y = np.argmax(x @ mix + 0.3 * rs.normal(size=(N_SAMPLES, n_out)), axis=1)
        y = y.astype(np.float64).reshape(-1, 1)
    elif out_act == "sigmoid":
        y = f32(1.0 / (1.0 + np.exp(-(x @ mix))))
    else:
        y = f32(np.sin(x @ mix))
    # PyTorch's nn.Linear initialisation range, from this generator.
    sizes = [(n_in, hidden), (hidden, n_out)]
    params = []
    for fan_in, fan_out in sizes:
        bound = 1.0 / math.sqrt(fan_in)
        w = f32(rs.uniform(-bound, bound, size=(fan_in, fan_out)))  # bsnn's [in][out]
        b = f32(rs.uniform(-bound, bound, size=fan_out))
        params.append((w, b))
    layers = [("dense", hidden), ("act", act), ("dense", n_out)]
    if out_act != "linear":
        layers.append(("act", out_act))
    batches = {}
    for bs in BATCHES:
        order = np.concatenate([rs.permutation(N_SAMPLES) for _ in range(bs * STEPS // N_SAMPLES + 1)])
        batches[bs] = [order[s * bs:(s + 1) * bs].tolist() for s in range(STEPS)]
    return dict(name=name, n_in=n_in, layers=layers, loss=loss, x=x, y=y, params=params,
                batches=batches)


NETS = [
    make_net("sigmoid_mse", 11, 3, 5, "sigmoid", 2, "sigmoid", "mse_mean"),
    make_net("tanh_mse", 12, 4, 6, "tanh", 3, "linear", "mse_mean"),
    make_net("relu_ce", 13, 4, 8, "relu", 3, "linear", "softmax_ce"),
]

ACTS = {"sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh, "relu": torch.nn.ReLU}


def torch_model(net):
    mods, fan_in, k = [], net["n_in"], 0
    for kind, arg in net["layers"]:
        if kind == "dense":
            lin = torch.nn.Linear(fan_in, arg)
            w, b = net["params"][k]
            with torch.no_grad():
                lin.weight.copy_(torch.tensor(w.T))  # torch stores [out][in]
                lin.bias.copy_(torch.tensor(b))
            mods.append(lin)
            fan_in, k = arg, k + 1
        else:
            mods.append(ACTS[arg]())
    return torch.nn.Sequential(*mods)


def flat_params(model):
    out = []
    for mod in model:
        if isinstance(mod, torch.nn.Linear):
            out.extend(mod.weight.detach().numpy().T.reshape(-1).tolist())
            out.extend(mod.bias.detach().numpy().tolist())
    return out


# ---- the runs ----------------------------------------------------------------

# (rule, bsnn keys). Keys absent: bsnn's default = PyTorch's default.
RUNS = [
    ("sgd", {}),
    ("sgd", {"lr": 0.5}),
    ("sgd", {"lr": 0.2, "l2": 0.05}),
    ("momentum", {}),
    ("momentum", {"lr": 0.05, "momentum": 0.5}),
    ("momentum", {"lr": 0.1, "momentum": 0.9, "lr_gamma": 0.85}),
    ("nesterov", {}),
    ("nesterov", {"lr": 0.05, "momentum": 0.7, "l2": 0.02}),
    ("nesterov", {"lr": 0.1, "momentum": 0.9, "lr_gamma": 0.85}),
    ("adagrad", {}),
    ("adagrad", {"lr": 0.1, "eps": 1e-3}),
    ("adagrad", {"lr": 0.05, "l2": 0.05, "lr_gamma": 0.9}),
    ("adadelta", {}),
    ("adadelta", {"lr": 0.5, "rho": 0.8, "eps": 1e-3}),
    ("rmsprop", {}),
    ("rmsprop", {"lr": 0.003, "rho": 0.9, "eps": 1e-4}),
    ("rmsprop", {"lr": 0.002, "l2": 0.05}),
    ("adam", {}),
    ("adam", {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-4}),
    ("adam", {"lr": 0.01, "l2": 0.05, "lr_gamma": 0.9}),
    ("adamax", {}),
    ("adamax", {"lr": 0.01, "beta1": 0.8, "beta2": 0.95, "eps": 1e-2}),
    ("nadam", {}),
    ("nadam", {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "eps": 1e-4, "momentum_decay": 0.02}),
    ("amsgrad", {}),
    ("amsgrad", {"lr": 0.01, "beta1": 0.8, "beta2": 0.95, "eps": 1e-4}),
    ("adamw", {}),
    ("adamw", {"lr": 0.01, "beta1": 0.85, "weight_decay": 0.5}),
    ("adamw", {"lr": 0.01, "weight_decay": 0.5, "decay_scope": "weights"}),
    ("adamw", {"lr": 0.02, "weight_decay": 0.3, "lr_gamma": 0.9}),
]

# bsnn's defaults where PyTorch has none (SGD's lr is required; momentum is
# 0 in torch's SGD). Every other default is PyTorch's own.
BSNN_ONLY_DEFAULTS = {"sgd": {"lr": 0.01}, "momentum": {"lr": 0.01, "momentum": 0.9},
                      "nesterov": {"lr": 0.01, "momentum": 0.9}}


def torch_optimizer(rule, keys, groups):
    k = dict(BSNN_ONLY_DEFAULTS.get(rule, {}))
    k.update({n: v for n, v in keys.items() if n not in ("l2", "lr_gamma", "decay_scope")})
    args = {}
    for name in ("lr", "eps", "weight_decay", "momentum_decay"):
        if name in k:
            args[name] = k[name]
    if "beta1" in k or "beta2" in k:
        args["betas"] = (k.get("beta1", 0.9), k.get("beta2", 0.999))
    if "rho" in k:
        args["alpha" if rule == "rmsprop" else "rho"] = k["rho"]
    if "momentum" in k:
        args["momentum"] = k["momentum"]
    opt = torch.optim
    table = {
        "sgd": (opt.SGD, {}), "momentum": (opt.SGD, {}), "nesterov": (opt.SGD, {"nesterov": True}),
        "adagrad": (opt.Adagrad, {}), "adadelta": (opt.Adadelta, {}), "rmsprop": (opt.RMSprop, {}),
        "adam": (opt.Adam, {}), "adamax": (opt.Adamax, {}),
        # 1.13's default single-tensor NAdam multiplies mu_t twice into the
        # next step's product (fixed in PyTorch 2.0, pytorch/pytorch#92699);
        # its foreach path, like every later PyTorch, computes Dozat's rule.
        "nadam": (opt.NAdam, {"foreach": True}),
        "amsgrad": (opt.Adam, {"amsgrad": True}), "adamw": (opt.AdamW, {}),
    }
    cls, extra = table[rule]
    args.update(extra)
    if rule == "adamw" and keys.get("decay_scope") == "weights":
        wd = args.pop("weight_decay", 0.01)
        groups = [{"params": groups[0]["params"], "weight_decay": wd},
                  {"params": groups[1]["params"], "weight_decay": 0.0}]
    call = "torch.optim.%s(%s)" % (cls.__name__, ", ".join("%s=%r" % kv for kv in args.items()))
    return cls(groups, **args), call


def train(net, rule, keys, bs):
    model = torch_model(net)
    weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    biases = [m.bias for m in model if isinstance(m, torch.nn.Linear)]
    groups = [{"params": weights, "weight_decay": keys.get("l2", 0.0)} if "l2" in keys
              else {"params": weights},
              {"params": biases}]
    opt, call = torch_optimizer(rule, keys, groups)
    if "l2" in keys:
        call += "  [weight_decay=%r on the weights' group only]" % keys["l2"]
    x = torch.tensor(net["x"])
    if net["loss"] == "softmax_ce":
        y = torch.tensor(net["y"][:, 0].astype(np.int64))
        loss_fn = torch.nn.CrossEntropyLoss()
    else:
        y = torch.tensor(net["y"])
        loss_fn = torch.nn.MSELoss()
    base_lr = [g["lr"] for g in opt.param_groups]
    losses = []
    for t, rows in enumerate(net["batches"][bs], start=1):
        if "lr_gamma" in keys:
            for g, lr in zip(opt.param_groups, base_lr):
                g["lr"] = lr * keys["lr_gamma"] ** (t - 1)
        opt.zero_grad()
        idx = torch.tensor(rows)
        loss = loss_fn(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses, flat_params(model), call


# ---- output -----------------------------------------------------------------

def nums(values):
    return " ".join(repr(float(v)) for v in values)


def write_net(net, path):
    lines = ["bsnn-golden %d" % FORMAT_VERSION,
             "# Generated by tests/golden/make_torch_golden.py (torch %s, float64); do not edit."
             % torch.__version__,
             "net " + net["name"], "inputs %d" % net["n_in"]]
    lines += ["layer %s %s" % (k, a) for k, a in net["layers"]]
    lines.append("loss " + net["loss"])
    lines.append("samples %d %d" % (len(net["x"]), net["y"].shape[1]))
    lines += ["x " + nums(r) for r in net["x"]]
    lines += ["y " + nums(r) for r in net["y"]]
    init = [v for w, b in net["params"] for v in list(w.reshape(-1)) + list(b)]
    lines.append("params %d %s" % (len(init), nums(init)))
    for bs in BATCHES:
        lines.append("batches %d %d" % (bs, STEPS))
        lines += ["b " + " ".join(str(i) for i in rows) for rows in net["batches"][bs]]
    for rule, keys in RUNS:
        for bs in BATCHES:
            losses, final, call = train(net, rule, keys, bs)
            lines.append("# " + call)
            fields = ["rule=" + rule, "batch=%d" % bs]
            fields += ["%s=%s" % (k, v if isinstance(v, str) else repr(float(v)))
                       for k, v in keys.items()]
            lines.append("run " + " ".join(fields))
            lines.append("loss " + nums(losses))
            lines.append("final %d %s" % (len(final), nums(final)))
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out, exist_ok=True)
    for net in NETS:
        write_net(net, os.path.join(out, net["name"] + ".txt"))


if __name__ == "__main__":
    main()
