"""The runner's envelope: machine facts, strict-JSON cleaning and the resumable run of one
experiment (its summary cached under a key of its settings, the JSON file written beside)."""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import platform
import time
from pathlib import Path
from typing import Callable

import numpy as np

from .._fs import ensure_writable_folder
from ..cache import DiskCache, make_key
from ..progress import progress_bar

DEFAULT_OUT = "results"
RESULTS_VERSION = 3          # bump when the summary format or an experiment's recipe changes
PAPER = ("Lin, Li, Wu, 'Exploring Neural Network Landscapes: Star-Shaped and Geodesic "
         "Connectivity', arXiv 2404.06391 (v1)")
WALL_TIME_NOTE = ("seconds spent computing this summary on the machine below; minima, centers and "
                  "sweep points already in the disk cache were read, not recomputed (fresh-cache "
                  "timings: docs/reproduction.md)")
Progress = Callable[[float, str], None]


def machine_info() -> dict:
    """CPU model, core count, threads, torch/python versions, GPU (if any) and load average."""
    import torch
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "platform": platform.platform(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def clean(obj):
    """JSON-safe copy: numpy scalars/arrays and tensors to Python, NaN/inf to None, tuples to lists."""
    if isinstance(obj, dict):
        return {str(k): clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return clean(obj.tolist())
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if hasattr(obj, "detach") and hasattr(obj, "cpu"):          # a torch tensor
        return clean(obj.detach().cpu().numpy())
    return obj


def part(progress: Progress, lo: float, hi: float, prefix: str = "") -> Progress:
    """Map a sub-task's fraction in [0, 1] onto [lo, hi] of the parent bar."""
    return lambda f, m="": progress(lo + (hi - lo) * min(max(f, 0.0), 1.0),
                                    f"{prefix}{m}" if prefix else m)


def summary_key(name: str, settings: dict) -> str:
    """The cache key of an experiment's finished summary."""
    return make_key("reproduce", {"name": name, "version": RESULTS_VERSION, "settings": clean(settings)})


def check_out_dir(out_dir) -> Path | None:
    """The results folder, created and tested for writing before any work starts."""
    if out_dir is None:
        return None
    out = Path(out_dir)
    try:
        ensure_writable_folder(out)
    except OSError as exc:
        raise OSError(f"The results folder {out} cannot be written ({exc.strerror or exc}); choose "
                      "another one with --out-dir.") from None
    return out


def run_envelope(name: str, body: dict, compute: Callable[[Progress], dict], *, out_dir, quiet: bool,
                 refresh: bool, threads: int | None = 1, cache: DiskCache | None = None) -> dict:
    """Run ``compute`` (or load its cached summary), wrap it in the envelope, write the JSON file.

    ``body`` holds what is known before computing (settings, unstated settings, the paper's
    numbers); the summary is cached under a key of ``body["settings"]``, so an interrupted or
    repeated run resumes. ``threads`` sets torch's intra-op threads for the run (restored
    afterwards): on two shared cores one thread made a training step 9x (MNIST FNN) to 50x (toy
    nets) faster than two. None leaves torch's setting alone.
    """
    import torch
    out = check_out_dir(out_dir)
    previous = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(int(threads))
    try:
        cache = cache or DiskCache()
        key = summary_key(name, body["settings"])
        progress = progress_bar(name, quiet)
        entry = None if refresh else cache.load("reproduce", key)
        if entry is None:
            start = time.perf_counter()
            started = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
            record = {"body": clean({**body, "results": compute(progress)}),
                      "compute_wall_time_s": round(time.perf_counter() - start, 2),
                      "date": started, "machine": machine_info()}
            cache.save("reproduce", key, record, {})
            from_cache = False
        else:
            record, from_cache = entry.meta, True
            progress(1.0, "summary loaded from the cache")
    finally:
        torch.set_num_threads(previous)
    result = {"experiment": name, "paper": PAPER, **record["body"],
              "wall_time_s": record["compute_wall_time_s"], "wall_time_note": WALL_TIME_NOTE,
              "date": record["date"], "machine": record["machine"], "from_cache": from_cache,
              "cache_key": key, "results_version": RESULTS_VERSION}
    if out is not None:
        (out / f"{name}.json").write_text(json.dumps(clean(result), indent=1, allow_nan=False) + "\n")
    return result
