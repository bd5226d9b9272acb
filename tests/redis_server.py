"""A throw-away redis-server on loopback for the scale-out tests: no persistence, gone
with the tests."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REDIS = shutil.which("redis-server")


def skip_without_redis() -> None:
    """Skip the calling module where redis-server is missing, except on CI (it must run)."""
    if not REDIS and not os.environ.get("CI"):
        pytest.skip("redis-server not installed", allow_module_level=True)


@contextlib.contextmanager
def redis_server(log_dir: Path) -> Iterator[str]:
    """Start redis-server on a free port of 127.0.0.1; yields its URL once it answers a ping."""
    import redis

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    with open(log_dir / "redis.log", "w") as log:
        proc = subprocess.Popen(
            [REDIS, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            client = redis.Redis(port=port)
            deadline = time.time() + 20
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if proc.poll() is not None or time.time() > deadline:
                        raise RuntimeError("redis-server did not start") from None
                    time.sleep(0.1)
            client.close()
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
