"""Shared helpers of the benchmarks: the machine, medians, and where results go.

Every benchmark prints one JSON object and writes it to bench/results/<name>.json;
docs/benchmarks.md quotes those files.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def machine() -> dict:
    """CPU model, cores, load average and versions: the context of every figure."""
    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "load_avg_1m": os.getloadavg()[0],
    }
    try:
        import torch

        info |= {"torch": torch.__version__, "torch_threads": torch.get_num_threads()}
    except ImportError:
        pass
    return info


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def summary(xs: list[float]) -> dict:
    """Median, min, max and all runs (seconds or ratios)."""
    return {
        "median": median(xs),
        "min": min(xs),
        "max": max(xs),
        "runs": len(xs),
        "values": [round(x, 6) for x in xs],
    }


def flat_dataset(name: str, X: np.ndarray, y: np.ndarray, class_names: list[str]):
    """A flat-feature Dataset split 70 / 15 / 15 in row order (train / val / test)."""
    from hill_dash.engine.data import Dataset

    a, b = int(0.7 * len(y)), int(0.85 * len(y))
    return Dataset(name, "flat", X[:a], y[:a], X[a:b], y[a:b], X[b:], y[b:], class_names)


def write_result(name: str, result: dict) -> Path:
    """Print the result as JSON and store it as bench/results/<name>.json."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "benchmark": name,
        "command": "python " + " ".join(sys.argv),
        "machine": machine(),
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    } | result
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))
    return path
