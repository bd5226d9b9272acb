"""Browser tests: the real app in a subprocess, driven by dash[testing]'s Browser in Chromium.

Debian's chromium + chromium-driver must be installed (.ci/run does it). Outside CI the
tests are skipped when they are missing; in CI (CI=true) their absence is a failure.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
HAVE_BROWSER = bool(CHROMIUM and shutil.which("chromedriver"))

if not HAVE_BROWSER and not os.environ.get("CI"):
    pytest.skip("chromium / chromedriver not installed", allow_module_level=True)
if CHROMIUM:
    os.environ.setdefault("DASH_TEST_CHROMEPATH", CHROMIUM)


def pytest_setup_options():
    from selenium.webdriver.chrome.options import Options

    options = Options()
    for arg in (
        "--headless=new",
        "--window-size=1400,900",
        "--enable-unsafe-swiftshader",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ):
        options.add_argument(arg)
    return options


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveApp:
    """`python app.py` in a subprocess on a free port with its own data directory.

    `warm_up`: the job launcher compiles UMAP at start (as `make run` does). It costs about
    8 s of CPU per start, so only the tests whose jobs fit a UMAP map ask for it; the rest
    draw PCA maps.
    """

    def __init__(
        self,
        data_dir: Path,
        numba_cache: Path,
        extra_env: dict | None = None,
        warm_up: bool = False,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        env = (
            os.environ
            | {
                "PYTHONPATH": str(ROOT),
                "NUMBA_CACHE_DIR": str(numba_cache),
                "HILL_DASH_WARMUP": "1" if warm_up else "0",
            }
            | (extra_env or {})
        )
        self.log = open(data_dir.parent / f"app-{self.port}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "app.py"),
                "--port",
                str(self.port),
                "--data-dir",
                str(data_dir),
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends forked jobs too
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app exited: {self.read_log()}")
            try:
                urllib.request.urlopen(self.url, timeout=2).read()
                return
            except OSError:
                time.sleep(0.3)
        raise RuntimeError(f"app did not start: {self.read_log()}")

    def read_log(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text()[-4000:]

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)  # background jobs left in the group
        self.log.close()


@pytest.fixture(scope="session")
def numba_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("numba-cache")


@pytest.fixture
def live_app(tmp_path, numba_cache):
    app = LiveApp(tmp_path / "data", numba_cache)
    yield app
    app.stop()


@pytest.fixture
def browser(dash_br, live_app):
    dash_br.server_url = live_app.url
    return dash_br


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failed browser test shows the tail of the app's log (tracebacks of 500s, jobs)."""
    outcome = yield
    report = outcome.get_result()
    app = item.funcargs.get("live_app") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(app, LiveApp) and not app.log.closed:
        report.sections.append(("app log (tail)", app.read_log()))
