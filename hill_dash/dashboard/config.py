"""Settings of the dashboard process, from flags or environment variables.

Background jobs (forked, or on Celery workers) read the same settings from the
environment, so `export_env` writes them back before the app starts.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from hill_dash.engine.store import default_data_dir


@dataclass
class AppConfig:
    host: str = "127.0.0.1"  # loopback unless told otherwise
    port: int = 8050
    # run store root: HILL_DASH_DATA_DIR, else ~/.hill_dash (store.default_data_dir)
    data_dir: Path = field(default_factory=default_data_dir)
    data_file: str | None = None  # a user's .npz/.csv to start on instead of digits
    redis_url: str | None = None  # Celery + Redis when set, DiskCache otherwise
    debug: bool = False
    projection_warmup: bool = True  # compile UMAP's numba code at start-up

    @classmethod
    def from_env(cls) -> AppConfig:
        env = os.environ
        return cls(
            host=env.get("HILL_DASH_HOST", "127.0.0.1"),
            port=int(env.get("HILL_DASH_PORT", "8050")),
            data_dir=default_data_dir(),
            data_file=env.get("HILL_DASH_DATA_FILE") or None,
            redis_url=env.get("HILL_DASH_REDIS_URL") or None,
            projection_warmup=env.get("HILL_DASH_WARMUP", "1") != "0",
        )

    def export_env(self) -> None:
        os.environ["HILL_DASH_DATA_DIR"] = str(self.data_dir)
        os.environ.setdefault("NUMBA_CACHE_DIR", str(Path(self.data_dir) / "cache" / "numba"))
        if self.data_file:
            os.environ["HILL_DASH_DATA_FILE"] = str(self.data_file)
        if self.redis_url:
            os.environ["HILL_DASH_REDIS_URL"] = self.redis_url


def data_dir() -> Path:
    """The run store root as the current process sees it (web process or job)."""
    return default_data_dir()


def start_dataset() -> str:
    """What a new run starts on when the person has not chosen: the data file, else digits."""
    return os.environ.get("HILL_DASH_DATA_FILE") or "digits"


def jobs_on_workers() -> bool:
    """Whether background jobs run on Celery workers (a Redis URL is configured)."""
    return bool(os.environ.get("HILL_DASH_REDIS_URL"))
