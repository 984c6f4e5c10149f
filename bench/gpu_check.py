"""The prepared GPU check: everything that needs CUDA, in one call, recorded in the docs.

On a CUDA machine (``bash bench/gpu_check.sh``, under 8 minutes on one H100-class GPU):

1. the CUDA tests (``tests/test_cuda.py``: device placement, the engine against a naive
   loop on CUDA, BatchNorm recompute on CUDA, mixed precision where offered);
2. the engine benchmark on CUDA: the teacher-student plane (``bench_engine`` case B, 41 x 41
   points, m = 256, 4,000 samples) by the batched engine against a point-by-point loop
   (target: 20x or more);
3. training and center-finding throughput of VGG16 and ResNet18 (BatchNorm, width 64) on
   CIFAR-10 batches of 200: ms per Adam step, images/s, ms per center step (B_t = 3);
4. one reduced Table 1 CIFAR-10 VGG16 column (5 minima on the 4,000 offline images, both
   center recipes shortened, 11 points per piece), beside the paper's numbers.

Each part's figures are written as soon as it ends into ``docs/benchmarks.md`` and
``docs/reproduction.md``, between markers named by the GPU
(``<!-- gpu_check:benchmarks:<gpu> -->`` ... ``<!-- /gpu_check:benchmarks:<gpu> -->``), so a
run cut short keeps what it measured; a rerun replaces its own block only. The raw figures
also go to ``results/gpu_check-<gpu>.json``.

Without CUDA (and without ``--device cpu``) it prints one line and exits 0.
``--device cpu --dry-run`` shrinks every part (tiny widths, few steps) to check the script
itself on a CPU in about a minute; its blocks are named ``cpu-dry-run``.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

NO_CUDA = ("gpu_check: no CUDA on this machine (torch.cuda.is_available() is False); nothing "
           "was run. Run `bash bench/gpu_check.sh` on a GPU machine.")


# --------------------------------------------------------------------------- helpers
def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "gpu"


def sync(dev: torch.device) -> None:
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def write_block(path: Path, block: str, key: str, body: str) -> None:
    """Replace (or append) the block ``<!-- gpu_check:<block>:<key> -->`` of a markdown file."""
    begin, end = f"<!-- gpu_check:{block}:{key} -->", f"<!-- /gpu_check:{block}:{key} -->"
    new = f"{begin}\n{body.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else ""
    if begin in text and end in text:
        text = re.sub(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", lambda _: new, text,
                      flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + new
    path.write_text(text)


def machine(dev: torch.device) -> dict:
    info = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "torch": torch.__version__, "python": platform.python_version(),
            "device": str(dev), "threads": torch.get_num_threads()}
    if dev.type == "cuda":
        p = torch.cuda.get_device_properties(dev)
        info.update(gpu=torch.cuda.get_device_name(dev), cuda=torch.version.cuda,
                    gpu_memory_gib=round(p.total_memory / 2 ** 30, 1),
                    cudnn=torch.backends.cudnn.version())
    cpu = platform.processor() or "unknown CPU"
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in
                   Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info["cpu"] = cpu
    return info


# --------------------------------------------------------------------------- 1. tests
def run_tests(args) -> dict:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/test_cuda.py"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=args.test_timeout)
    lines = [s for s in r.stdout.splitlines() if s.strip()]
    skips = [s for s in lines if s.startswith("SKIPPED")]
    return {"command": " ".join(cmd[2:]), "returncode": r.returncode,
            "summary": lines[-1] if lines else r.stderr[-300:], "skipped": skips,
            "failures": [s for s in lines if s.startswith(("FAILED", "ERROR"))],
            "wall_s": time.perf_counter() - t0}


# --------------------------------------------------------------------------- 2. engine
def engine_bench(args, dev) -> dict:
    import bench_engine as be
    case = next(c for c in be.case_specs(args.dry_run) if c["name"] == "B")
    if args.dry_run:                     # untrained seeds on 500 samples
        case = {**case, "data": dataclasses.replace(case["data"], n_train=500)}
    t0 = time.perf_counter()
    row = be.bench_case(case, argparse.Namespace(init=args.dry_run, repeats=1 if args.dry_run else 3),
                        dev)
    eng, naive = (be.med(row["times"][n]["wall"]) for n in ("engine", "naive"))
    return {"case": case["title"], "points": row["K"], "D": row["D"], "n": row["n"],
            "batched_s": eng, "point_by_point_s": naive, "speedup": naive / eng,
            "max_rel_diff": row["diff"][("engine", "naive")], "strategy": row["info"],
            "target": 20.0, "wall_s": time.perf_counter() - t0}


# --------------------------------------------------------------------------- 3. throughput
def throughput(args, dev) -> list[dict]:
    from landscape_core.center import CenterSpec, find_center
    from landscape_core.config import preset
    from landscape_core.data import load_dataset
    from landscape_core.models import build_model, count_parameters
    from landscape_core.params import flatten
    rows = []
    for name in ("cifar-vgg16", "cifar-resnet18"):
        exp = preset(name)
        batch, steps, width = (16, 3, 4) if args.dry_run else (200, 30, exp.model.width)
        exp = exp.replace(**{"model.width": width, "data.n_train": 4 * batch if args.dry_run else 2000})
        ds = load_dataset(exp.data)
        X, y = ds.X_train.to(dev), ds.y_train.to(dev)
        model = build_model(exp.model, 0).to(dev).train()
        opt = torch.optim.Adam(model.parameters(), lr=exp.train.lr)
        g = torch.Generator().manual_seed(0)

        def step():
            idx = torch.randint(0, X.shape[0], (batch,), generator=g).to(dev)
            loss = torch.nn.functional.cross_entropy(model(X[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        for _ in range(3):                       # warm-up (cuDNN autotuning, allocations)
            step()
        sync(dev)
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync(dev)
        train_ms = 1e3 * (time.perf_counter() - t0) / steps
        feet = [flatten(build_model(exp.model, s)) for s in range(3)]
        kw = dict(model=build_model(exp.model, 0), X=ds.X_train, y=ds.y_train, device=dev)
        find_center(feet, spec=CenterSpec.fast(steps=2, batch_size=batch), **kw)      # warm-up
        sync(dev)
        c = find_center(feet, spec=CenterSpec.fast(steps=steps, batch_size=batch), **kw)
        center_ms = 1e3 * c.wall_time / c.n_steps
        rows.append({"model": f"{name} ({exp.model.variant}, width {width}, BatchNorm)",
                     "D": count_parameters(model), "batch": batch, "steps": steps,
                     "train_step_ms": train_ms, "train_images_per_s": batch / train_ms * 1e3,
                     "center_step_ms": center_ms, "center_over_train": center_ms / train_ms})
    return rows


# --------------------------------------------------------------------------- 4. Table 1 column
def table1_column(args, dev) -> dict:
    from landscape_core import DiskCache, paper
    from landscape_core.config import preset, spec_dict
    from landscape_core.reproduce import tables
    from landscape_core.reproduce.plans import CenterChoice
    if args.dry_run:
        exp, _ = tables.table_experiment("cifar-vgg16", True)
        centers = {r: CenterChoice(r.split("-")[0], {"steps": 3}) for r in ("paper-recipe", "fast-recipe")}
        s = {"n_points": 3}
    else:
        exp = preset("cifar-vgg16").replace(**{"data.n_train": 4000, "data.n_test": 1000,
                                               "train.epochs": args.minima_epochs})
        centers = {r: CenterChoice(r.split("-")[0], {"epochs": args.center_epochs})
                   for r in ("paper-recipe", "fast-recipe")}
        s = {"n_points": 11}
    cache = DiskCache(args.cache_dir) if args.cache_dir else DiskCache()
    t0 = time.perf_counter()
    last = [0.0]

    def progress(f, msg):
        if time.perf_counter() - last[0] > 20:
            last[0] = time.perf_counter()
            print(f"  table1 {100 * f:5.1f}%  {msg}", flush=True)
    out = tables.table1(s, centers, dev, progress, cache, setting="cifar-vgg16", quick=args.dry_run,
                        exp=exp)
    return {"experiment": spec_dict(exp), "n_points": s["n_points"],
            "centers": {k: c.record()["label"] for k, c in centers.items()},
            "paper": paper.TABLE1["CIFAR-10 VGG16"], "result": out,
            "wall_s": time.perf_counter() - t0}


# --------------------------------------------------------------------------- reports
def bench_md(key: str, info: dict, res: dict) -> str:
    head = (f"### GPU check: {info.get('gpu', 'CPU dry run (--device cpu --dry-run, shrunk)')}\n\n"
            f"`bash bench/gpu_check.sh` on {info['date']}: {info.get('gpu', info['cpu'])}"
            f"{', CUDA ' + str(info['cuda']) if info.get('cuda') else ''}, torch {info['torch']}, "
            f"{info['threads']} CPU threads.\n")
    parts = [head]
    t = res.get("tests")
    if t:
        parts.append(f"- CUDA tests (`{t['command']}`): {t['summary']}"
                     + "".join(f"\n  - {s}" for s in t["skipped"] + t["failures"]))
    e = res.get("engine")
    if e:
        parts.append(f"- Engine, {e['case']}, {e['points']} points on {e['n']} samples: batched "
                     f"{e['batched_s'] * 1e3:.1f} ms, point-by-point loop {e['point_by_point_s'] * 1e3:.1f} ms: "
                     f"**{e['speedup']:.1f}x** (target {e['target']:.0f}x), largest relative difference "
                     f"{e['max_rel_diff']:.1e}.")
    rows = res.get("throughput")
    if rows:
        parts.append("\n| model | D | batch | training step | images/s | center step (B_t = 3) | center / training |\n"
                     "|---|---|---|---|---|---|---|\n" + "\n".join(
                         f"| {r['model']} | {r['D']:,} | {r['batch']} | {r['train_step_ms']:.1f} ms | "
                         f"{r['train_images_per_s']:,.0f} | {r['center_step_ms']:.1f} ms | "
                         f"{r['center_over_train']:.2f}x |" for r in rows))
    parts.append(f"\nParts' wall times: " + ", ".join(f"{k} {v:.0f} s" for k, v in res["wall"].items()))
    return "\n".join(parts) + "\n"


def repro_md(key: str, info: dict, res: dict) -> str:
    col = res.get("table1")
    if not col:
        return f"### GPU check ({key}): the reduced Table 1 column did not run\n"
    e = col["experiment"]
    out = col["result"]
    accs = [m["train_acc"] for m in out["minima"]]
    lines = [f"### Table 1, CIFAR-10 VGG16, reduced column (GPU check: "
             f"{info.get('gpu', 'CPU dry run, shrunk')}, {info['date']})\n",
             f"{len(accs)} minima of VGG16 (width {e['model']['width']}, BatchNorm) on "
             f"{e['data']['n_train']} CIFAR-10 training images, Adam lr {e['train']['lr']:g}, batch "
             f"{e['train']['batch_size']}, up to {e['train']['epochs']} epochs: train accuracy "
             f"{min(accs):.2%}-{max(accs):.2%}. Paths: {col['n_points']} points per piece, "
             f"BatchNorm statistics recomputed at every point. Wall time {col['wall_s']:.0f} s.\n",
             "| recipe | segment max loss | fold max loss | segment min acc | fold min acc |",
             "|---|---|---|---|---|",
             "| paper | " + " | ".join(f"{col['paper'][k]:.4g}" for k in
                                       ("segment_max_loss", "fold_max_loss", "segment_min_acc",
                                        "fold_min_acc")) + " |"]
    for rname, rec in out["recipes"].items():
        ours = {r["key"]: r["ours"] for r in rec["comparison"]}
        lines.append(f"| ours, {rec['center_recipe']} | " + " | ".join(
            f"{ours[k]:.4g}" for k in ("segment_max_loss", "fold_max_loss", "segment_min_acc",
                                       "fold_min_acc")) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cuda", choices=("cuda", "cpu"))
    p.add_argument("--dry-run", action="store_true", help="shrink every part (checks the script)")
    p.add_argument("--docs-dir", type=Path, default=ROOT / "docs")
    p.add_argument("--results-dir", type=Path, default=ROOT / "results")
    p.add_argument("--cache-dir", type=Path, help="disk cache of the Table 1 column (default: cache/)")
    p.add_argument("--skip-tests", action="store_true")
    p.add_argument("--skip-bench", action="store_true", help="skip the engine and throughput parts")
    p.add_argument("--skip-table", action="store_true")
    p.add_argument("--test-timeout", type=int, default=180)
    p.add_argument("--minima-epochs", type=int, default=30)
    p.add_argument("--center-epochs", type=int, default=40)
    args = p.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(NO_CUDA)
        return 0
    dev = torch.device(args.device)
    if dev.type == "cuda":
        torch.backends.cudnn.benchmark = True
    info = machine(dev)
    key = slug(info["gpu"]) if dev.type == "cuda" else "cpu-dry-run" if args.dry_run else "cpu"
    res: dict = {"machine": info, "wall": {}}
    bench_doc, repro_doc = args.docs_dir / "benchmarks.md", args.docs_dir / "reproduction.md"
    args.results_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.results_dir / f"gpu_check-{key}.json"
    parts = [("tests", run_tests, args.skip_tests), ("engine", engine_bench, args.skip_bench),
             ("throughput", throughput, args.skip_bench), ("table1", table1_column, args.skip_table)]
    status = 0
    for name, fn, skip in parts:
        if skip:
            continue
        print(f"gpu_check [{key}]: {name} ...", flush=True)
        t0 = time.perf_counter()
        try:
            res[name] = fn(args, dev) if name != "tests" else fn(args)
        except Exception as exc:          # record and go on: one call must bring back the rest
            res.setdefault("errors", {})[name] = f"{type(exc).__name__}: {exc}"
            print(f"gpu_check [{key}]: {name} failed: {type(exc).__name__}: {exc}", flush=True)
            status = 1
        res["wall"][name] = time.perf_counter() - t0
        if name != "table1":
            write_block(bench_doc, "benchmarks", key, bench_md(key, info, res))
        else:
            write_block(repro_doc, "reproduction", key, repro_md(key, info, res))
        from landscape_core.reproduce.envelope import clean
        json_path.write_text(json.dumps(clean(res), indent=1))
        print(f"gpu_check [{key}]: {name} done in {res['wall'][name]:.0f} s", flush=True)
    if res.get("tests", {}).get("returncode", 0) not in (0, 5):
        status = 1
    print(f"gpu_check [{key}]: wrote {bench_doc}, {repro_doc} and {json_path}")
    return status


if __name__ == "__main__":
    sys.exit(main())
