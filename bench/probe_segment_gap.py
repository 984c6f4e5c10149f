"""Cheap probes of Table 1's direct-segment gap (MNIST FNN 784-500-300-10).

The paper reports a mean min train accuracy of 68.09% (mean max train loss 1.25) along the
direct segments between its Adam minima; ours keep 83-93%. Each probe trains a few minima on
a subset under one change from a baseline and measures the straight segment between every
pair, so one probe takes well under a minute on one CPU core. It asks which unstated choice
moves the segment barrier.

Baseline: inputs standardised (mean 0.1307, std 0.3081, as ``landscape_core`` loads MNIST),
PyTorch default init, ReLU, Adam lr 1e-3 constant, batch 200, no weight decay. Each minimum
gets its own seed for both init and data order. Runs on the first ``--n-train`` training
images for ``--epochs`` epochs. Every segment has ``--n-points`` evenly spaced points (ends
included) and is evaluated on those training images and on the 10,000 test images. The
barrier is the paper's: the mean over pairs of the max loss and min accuracy along the segment.

    OMP_NUM_THREADS=1 python bench/probe_segment_gap.py                 # every probe
    OMP_NUM_THREADS=1 python bench/probe_segment_gap.py --probes baseline input-01
"""
from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from landscape_core.config import DataSpec  # noqa: E402
from landscape_core.data import load_dataset  # noqa: E402

MEAN, STD = 0.1307, 0.3081

BASE = dict(inputs="standardised", init_scale=1.0, act="relu", lr=1e-3, schedule="constant",
            batch=200, epochs=None, weight_decay=0.0, shared_init=False)

# name -> (what it changes, changes to BASE)
PROBES = {
    "baseline": ("standardised inputs, default init, ReLU, Adam 1e-3 constant, batch 200", {}),
    "input-01": ("inputs in [0, 1] (torchvision ToTensor, no Normalize)", {"inputs": "01"}),
    "input-255": ("raw pixels in [0, 255] (no scaling at all)", {"inputs": "255"}),
    "init-x2": ("init scaled x2", {"init_scale": 2.0}),
    "init-x0.5": ("init scaled x0.5", {"init_scale": 0.5}),
    "cosine": ("lr cosine decay to 0 (from 1e-3)", {"schedule": "cosine"}),
    "lr-1e-2": ("Adam lr 1e-2 constant", {"lr": 1e-2}),
    "epochs/4": ("a quarter of the epochs", {"epochs_factor": 0.25}),
    "epochs-x3": ("three times the epochs", {"epochs_factor": 3.0}),
    "batch-50": ("batch 50 (4x the steps)", {"batch": 50}),
    "tanh": ("tanh activation", {"act": "tanh"}),
    "sigmoid": ("sigmoid activation", {"act": "sigmoid"}),
    "wd-1e-4": ("weight decay 1e-4 (Adam, L2)", {"weight_decay": 1e-4}),
    "same-init": ("all minima share the init of seed 0; only the data order differs",
                  {"shared_init": True}),
}

ACTS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def make_model(cfg, seed):
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 500), ACTS[cfg["act"]](),
                          nn.Linear(500, 300), ACTS[cfg["act"]](), nn.Linear(300, 10))
    if cfg["init_scale"] != 1.0:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(cfg["init_scale"])
    return model


def scale_inputs(x_std, how):
    if how == "standardised":
        return x_std
    x01 = x_std * STD + MEAN
    return x01 if how == "01" else x01 * 255.0


def train(cfg, seed, X, y, epochs):
    model = make_model(cfg, 0 if cfg["shared_init"] else seed)
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    n, bs = len(X), cfg["batch"]
    steps = epochs * math.ceil(n / bs)
    sched = (torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps) if cfg["schedule"] == "cosine"
             else None)
    g = torch.Generator().manual_seed(1000 + seed)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g)
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = F.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if sched is not None:
                sched.step()
    return torch.nn.utils.parameters_to_vector(model.parameters()).detach().clone()


@torch.no_grad()
def evaluate(model, theta, X, y, chunk=10000):
    torch.nn.utils.vector_to_parameters(theta, model.parameters())
    loss, correct = 0.0, 0
    for i in range(0, len(X), chunk):
        out = model(X[i:i + chunk])
        loss += float(F.cross_entropy(out, y[i:i + chunk], reduction="sum"))
        correct += int((out.argmax(1) == y[i:i + chunk]).sum())
    return loss / len(X), correct / len(X)


def run_probe(name, args, data):
    what, changes = PROBES[name]
    cfg = {**BASE, **{k: v for k, v in changes.items() if k != "epochs_factor"}}
    epochs = max(1, round(args.epochs * changes.get("epochs_factor", 1.0)))
    Xtr, ytr, Xte, yte = data
    Xtr, Xte = scale_inputs(Xtr, cfg["inputs"]), scale_inputs(Xte, cfg["inputs"])
    t0 = time.perf_counter()
    thetas = [train(cfg, seed, Xtr, ytr, epochs) for seed in range(args.minima)]
    t_train = time.perf_counter() - t0
    model = make_model(cfg, 0)
    ends = [evaluate(model, th, Xtr, ytr) for th in thetas]
    ts = np.linspace(0.0, 1.0, args.n_points)
    pairs = []
    for a, b in itertools.combinations(range(args.minima), 2):
        tr = [evaluate(model, (1 - t) * thetas[a] + t * thetas[b], Xtr, ytr) for t in ts]
        te = [evaluate(model, (1 - t) * thetas[a] + t * thetas[b], Xte, yte) for t in ts]
        pairs.append({"pair": [a, b], "max_train_loss": max(r[0] for r in tr),
                      "min_train_acc": min(r[1] for r in tr), "max_test_loss": max(r[0] for r in te),
                      "min_test_acc": min(r[1] for r in te),
                      "distance": float((thetas[a] - thetas[b]).norm()),
                      "midpoint_train_acc": tr[len(ts) // 2][1]})
    mean = lambda k: float(np.mean([p[k] for p in pairs]))
    return {"probe": name, "change": what, "config": cfg, "epochs": epochs,
            "end_train_loss": float(np.mean([e[0] for e in ends])),
            "end_train_acc": float(np.mean([e[1] for e in ends])),
            "seg_max_train_loss": mean("max_train_loss"), "seg_min_train_acc": mean("min_train_acc"),
            "seg_max_test_loss": mean("max_test_loss"), "seg_min_test_acc": mean("min_test_acc"),
            "distance": mean("distance"), "pairs": pairs,
            "train_s": t_train, "wall_s": time.perf_counter() - t0}


def full_midpoints(cache_dir, out):
    """The 10 direct-segment midpoints of the ``reproduce table1 --full`` minima, read from that
    run's cache (nothing is trained; raises if the minima are not cached yet)."""
    from landscape_core import DiskCache
    from landscape_core.evaluate import evaluators_for
    from landscape_core.models import build_model
    from landscape_core.reproduce import runner
    from landscape_core.training import train_minima
    t0 = time.perf_counter()
    exp = runner.full_experiment("table1", "mnist-fnn")[0]
    cache = DiskCache(cache_dir)
    if len(cache.list("minimum")) < len(exp.seed_list):       # never train here
        raise SystemExit(f"the --full minima are not all in {cache_dir} yet")
    ms = train_minima(exp.model, exp.data, exp.train, seeds=exp.seed_list, device="cpu", cache=cache)
    tr, te = evaluators_for(build_model(exp.model), load_dataset(exp.data), device="cpu")
    pairs = list(itertools.combinations(range(len(ms)), 2))
    pts = torch.stack([0.5 * (ms[a].theta + ms[b].theta) for a, b in pairs])
    r, q = tr.evaluate(pts), te.evaluate(pts)
    res = {"pairs": pairs, "train_loss": [float(v) for v in r.loss],
           "train_acc": [float(v) for v in r.accuracy], "test_loss": [float(v) for v in q.loss],
           "test_acc": [float(v) for v in q.accuracy],
           "feet": [{"seed": m.seed, "train_loss": m.train_loss, "train_acc": m.train_acc,
                     "test_acc": m.test_acc} for m in ms], "wall_s": time.perf_counter() - t0}
    print(f"--full minima ({len(ms)}, all 60k images): direct-segment midpoints keep "
          f"{100 * np.mean(res['train_acc']):.2f}% train accuracy on average "
          f"({100 * min(res['train_acc']):.1f}-{100 * max(res['train_acc']):.1f}%), train loss "
          f"{np.mean(res['train_loss']):.3f}; test accuracy {100 * np.mean(res['test_acc']):.2f}%")
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(res, indent=1, default=float))
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--probes", nargs="+", default=list(PROBES), choices=list(PROBES))
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--minima", type=int, default=3)
    p.add_argument("--n-points", type=int, default=21)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="test-artifacts/probe_segment_gap.json")
    p.add_argument("--full-midpoints", metavar="CACHE_DIR",
                   help="instead of the probes: the direct-segment midpoints of the "
                        "`reproduce table1 --full` minima cached in CACHE_DIR")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.full_midpoints:
        return full_midpoints(args.full_midpoints, args.out)
    d = load_dataset(DataSpec("mnist", n_train=args.n_train))
    data = (d.X_train.reshape(len(d.X_train), -1), d.y_train, d.X_test.reshape(len(d.X_test), -1),
            d.y_test)
    print(f"MNIST FNN 784-500-300-10, first {args.n_train} training images, {args.minima} minima "
          f"({args.minima * (args.minima - 1) // 2} pairs), {args.epochs} epochs unless the probe "
          f"changes it, {args.n_points} points per segment; paper: segment max loss 1.25, min acc 68.09%")
    head = (f"{'probe':<11} {'epochs':>6} {'end acc':>8} {'end loss':>9} {'seg maxL':>8} "
            f"{'seg minAcc':>10} {'test maxL':>9} {'test minAcc':>11} {'|a-b|':>7} {'s':>5}")
    print(head, flush=True)
    rows = []
    for name in args.probes:
        r = run_probe(name, args, data)
        rows.append(r)
        print(f"{name:<11} {r['epochs']:>6} {100 * r['end_train_acc']:>7.2f}% {r['end_train_loss']:>9.2e} "
              f"{r['seg_max_train_loss']:>8.3f} {100 * r['seg_min_train_acc']:>9.2f}% "
              f"{r['seg_max_test_loss']:>9.3f} {100 * r['seg_min_test_acc']:>10.2f}% "
              f"{r['distance']:>7.1f} {r['wall_s']:>5.0f}", flush=True)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))
    return rows


if __name__ == "__main__":
    main()
