"""One lock for reading .npy data, because the web server reads it from many threads.

numpy parses every .npy header with ``ast.literal_eval``. On CPython 3.11 (seen on
3.11.7) two threads building ASTs at the same moment can make one of them fail with
``SystemError: AST constructor recursion depth mismatch`` (python/cpython gh-106905,
gh-95185). The dashboard's request threads read checkpoint maps and data sets
concurrently, and it happened: a map callback answered 500 and the first map never
showed. Every read of .npy data in this package holds `NPY_READ_LOCK`; the reads are
small and cached, so the lock costs nothing measurable.
"""

from __future__ import annotations

import threading

NPY_READ_LOCK = threading.RLock()  # re-entrant: a reader may call another reader
