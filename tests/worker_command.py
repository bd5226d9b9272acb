"""The README's Celery worker command, read from the README itself.

The scale-out tests start workers with exactly this command (the `celery` script
next to the running Python, i.e. `.venv/bin/celery`), so a README that documents
a command that does not work fails the tests.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = ".venv/bin/"


def readme_worker_command() -> tuple[list[str], list[str]]:
    """(names of the environment variables it sets, argv) of the README's worker line."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Scale out", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    lines = [ln for b in blocks for ln in b.replace("\\\n", " ").splitlines()]
    (line,) = [ln for ln in lines if " worker" in ln and "celery" in ln]
    words = shlex.split(line)
    names = []
    while re.match(r"^[A-Z_]+=", words[0]):
        names.append(words.pop(0).split("=", 1)[0])
    return names, words


def worker_argv_and_env(values: dict[str, str], extra_env: dict[str, str] | None = None):
    """The README's command with this test's values for its variables: (argv, env).

    Nothing else is added to the command; the environment only gains the variables the
    README sets (and `extra_env`, for isolation such as numba's cache), and loses
    PYTHONPATH, which the README does not set.
    """
    names, argv = readme_worker_command()
    assert sorted(names) == sorted(values), (names, sorted(values))
    assert argv[0] == VENV_BIN + "celery", argv
    argv = [str(Path(sys.executable).parent / "celery"), *argv[1:]]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return argv, env | values | (extra_env or {})
