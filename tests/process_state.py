"""The process-wide state a test can change and the next test would inherit.

`snapshot()` records it, `restore()` puts it back; `tests/conftest.py` does both around
every test, so no test can turn another one red by the order they run in (issue 19: a
test that left `torch.set_num_threads(1)` behind changed the numbers of the next file).
Covered: torch's intra-op thread count, the native thread pools' limits (OpenBLAS, OpenMP,
MKL via threadpoolctl), environment variables, the working directory, and the global
random generators of Python, NumPy and torch.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import threadpool_info, threadpool_limits


@dataclass
class ProcessState:
    torch_threads: int
    pool_limits: dict[str, int]  # threadpoolctl: user_api → num_threads
    environ: dict[str, str]
    cwd: str
    python_rng: object
    numpy_rng: tuple
    torch_rng: torch.Tensor


def snapshot() -> ProcessState:
    return ProcessState(
        torch_threads=torch.get_num_threads(),
        pool_limits=_pool_limits(),
        environ=dict(os.environ),
        cwd=os.getcwd(),
        python_rng=random.getstate(),
        numpy_rng=np.random.get_state(),
        torch_rng=torch.random.get_rng_state(),
    )


def restore(state: ProcessState) -> list[str]:
    """Put `state` back; returns what had changed (for a test's message)."""
    changed = []
    if torch.get_num_threads() != state.torch_threads:
        changed.append(f"torch threads {torch.get_num_threads()} (was {state.torch_threads})")
        torch.set_num_threads(state.torch_threads)
    limits = _pool_limits()
    if limits != state.pool_limits:
        changed.append(f"thread-pool limits {limits} (were {state.pool_limits})")
        for api, n in state.pool_limits.items():
            threadpool_limits(limits=n, user_api=api)
    if dict(os.environ) != state.environ:
        added = sorted(set(os.environ) - set(state.environ))
        altered = sorted(k for k in state.environ if os.environ.get(k) != state.environ[k])
        changed.append(f"environment (added {added}, changed or removed {altered})")
        os.environ.clear()
        os.environ.update(state.environ)
    if os.getcwd() != state.cwd:
        changed.append(f"working directory {os.getcwd()} (was {state.cwd})")
        os.chdir(state.cwd)
    random.setstate(state.python_rng)
    np.random.set_state(state.numpy_rng)
    torch.random.set_rng_state(state.torch_rng)
    return changed


def _pool_limits() -> dict[str, int]:
    limits: dict[str, int] = {}
    for pool in threadpool_info():
        api = pool["user_api"]
        limits[api] = min(limits.get(api, pool["num_threads"]), pool["num_threads"])
    return limits
