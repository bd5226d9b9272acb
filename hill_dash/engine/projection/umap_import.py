"""umap-learn and numba, imported lazily, compiled once, cached on disk.

umap-learn compiles its kernels with numba on first use. Importing umap costs seconds and
the web process must stay light (it never fits a map), so nothing imports it at module
level. Three pieces of plumbing live here:

- ``import_umap``: umap imports pynndescent, whose numba kernels carry explicit
  signatures and so compile eagerly when the module loads (11-13 s on two cores with an
  empty cache), although nothing here calls pynndescent (the k-NN graph comes from
  scikit-learn). While pynndescent is imported, ``numba.njit`` drops such signatures, so
  those kernels compile on first call instead (never, here). umap-learn's own kernels keep
  theirs; maps are bit-identical either way (tests/test_umap_import.py).
- ``cache_umap_kernels``: umap-learn compiles some kernels without numba's disk cache
  (``smooth_knn_dist``, ``compute_membership_strengths``, the layout's epoch: 4.2 of the
  4.6 s a warm-up took with a warm cache), so every fresh process compiled them again:
  the job launcher before its first job, each Celery worker, each test worker. They are
  cached like the rest now (the same machine code, so the same maps).
- ``configure_numba_cache``: where numba caches compiled kernels when the package
  directory is not writable.

numba's OpenMP threading layer kills a process that forks after using it, and background
jobs are forked from the job launcher after its warm-up: the fork-safe workqueue layer is
the default unless the environment chose one (set at import, for every entry point).
"""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")

_UMAP_IMPORT_LOCK = threading.Lock()


def import_umap():
    """umap-learn, imported without compiling pynndescent at import time."""
    if "pynndescent" not in sys.modules:
        with _UMAP_IMPORT_LOCK:
            if "pynndescent" not in sys.modules:
                import numba

                eager = numba.njit

                def lazy_njit(*args, **kwargs):
                    if args and not callable(args[0]):  # a signature: compile on first call
                        args = args[1:]
                    kwargs.pop("signature_or_function", None)
                    return eager(*args, **kwargs)

                numba.njit = lazy_njit
                try:
                    import pynndescent  # noqa: F401
                finally:
                    numba.njit = eager
    import umap

    cache_umap_kernels()
    return umap


UMAP_KERNEL_MODULES = ("umap.umap_", "umap.layouts", "umap.utils")  # imported by umap


def cache_umap_kernels() -> None:
    """Turn numba's disk cache on for umap-learn's kernels compiled without it."""
    from numba.core.caching import NullCache
    from numba.core.dispatcher import Dispatcher

    for name in UMAP_KERNEL_MODULES:
        for value in vars(sys.modules[name]).values():
            if isinstance(value, Dispatcher) and isinstance(value._cache, NullCache):
                value.enable_caching()


def configure_numba_cache(path: str | os.PathLike[str]) -> str:
    """Set ``NUMBA_CACHE_DIR`` to ``path`` (created) unless it is set; return the one in use.

    numba reads the variable when it is imported, so call this before importing umap.
    """
    current = os.environ.get("NUMBA_CACHE_DIR")
    if current:
        return current
    Path(path).mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(path)
    return str(path)
