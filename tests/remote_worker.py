"""A chunk run in a process of its own that calls itself another host, with a slow map fit.

`python -m tests.remote_worker DATA_DIR RUN_ID FIT_SECONDS BEAT_SECONDS`: the process
names itself "worker-elsewhere" (so the test process judges its lock by the heartbeat
alone, as a web process judges a Celery worker on another machine), makes every map fit
`FIT_SECONDS` slower (a 70k-point UMAP fit takes ~120 s and reports no progress), beats
every `BEAT_SECONDS`, and trains the run's next chunk through the real `loop.run_chunk`.
"""

from __future__ import annotations

import socket
import sys
import time


def main(data_dir: str, run_id: str, fit_seconds: float, beat_seconds: float) -> None:
    socket.gethostname = lambda: "worker-elsewhere"
    from hill_dash.engine import lineage, loop
    from hill_dash.engine import run_lock as S
    from hill_dash.engine.store import RunStore

    S.BEAT_SECONDS = beat_seconds
    real_fit = lineage.fit_map

    def slow_fit(*args, **kwargs):
        time.sleep(fit_seconds)
        return real_fit(*args, **kwargs)

    lineage.fit_map = slow_fit
    print("training", flush=True)
    loop.run_chunk(RunStore(data_dir), run_id)
    print("done", flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]))
