"""Provenance of a study: the commit it ran on, and the log of every invocation.

A study's study.json records the commit it ran on (`git_state`: commit, branch, whether
the tree was clean); the CLI appends each `fair-study` and `scenario-study` call to
docs/study/log.csv (`log_invocation`; `command_line` spells a fair-study call) before
the study runs.
"""

from __future__ import annotations

import csv
import shlex
import subprocess
from datetime import UTC, datetime
from pathlib import Path


def git_state(where: Path | None = None) -> dict:
    """{commit, branch, clean}: clean = no tracked file outside docs/study differs from
    the commit (the code and docs a study runs on)."""
    where = Path(where or Path(__file__).resolve().parents[2])

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(where), *args], capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
            # the study's own outputs (docs/study: log.csv, study.json files) do not count
            "clean": git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/study")
            == "",
        }
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "branch": None, "clean": None}


LOG_FIELDS = ("time", "command", "commit", "clean", "out")


def log_invocation(log_csv: Path, command: str, git: dict, out: str) -> None:
    """Append one row to docs/study/log.csv (made with its header when missing)."""
    log_csv = Path(log_csv)
    log_csv.parent.mkdir(parents=True, exist_ok=True)
    new = not log_csv.exists()
    with log_csv.open("a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(LOG_FIELDS)
        w.writerow(
            [
                datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                command,
                git.get("commit"),
                git.get("clean"),
                out,
            ]
        )


def command_line(argv: list[str]) -> str:
    return "python -m hill_dash " + " ".join(shlex.quote(a) for a in argv)
