"""No machine paths in the repository: commands, benchmarks and tests work from any clone."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# absolute paths of one machine: a home, a work tree, a fixed temp file or directory
MACHINE_PATH = re.compile(r"(?<![\w.~-])/(?:work|home|Users|root|tmp)/[\w.-]")
NOT_PATHS = {".gitignore"}  # its "/tmp/" means the repository's own tmp/ directory


def tracked_text_files() -> list[Path]:
    if not shutil.which("git") or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    names = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    out = []
    for name in names:
        path = ROOT / name
        if name in NOT_PATHS or not path.is_file():
            continue
        data = path.read_bytes()
        if b"\0" not in data[:4096]:  # text, not a PNG or an npz
            out.append(path)
    return out


def test_no_file_names_a_path_of_one_machine():
    hits = []
    for path in tracked_text_files():
        for no, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if MACHINE_PATH.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{no}: {line.strip()[:100]}")
    assert hits == []


def test_the_pattern_sees_machine_paths_and_spares_others():
    slash = "/"  # the examples are built, so this file passes its own scan
    assert MACHINE_PATH.search(f"cd {slash}work/main   # the repository")
    assert MACHINE_PATH.search(f'save_screenshot("{slash}tmp/click-failed.png")')
    assert MACHINE_PATH.search(f"data_dir='{slash}home/ana/data'")
    for fine in ("docs/study/digits", "HILL_DASH_DATA_DIR=/shared/hill_dash", "~/.hill_dash"):
        assert not MACHINE_PATH.search(fine), fine


# A design file outside the repository does not exist in a clone: docs/design.md is the
# design.
OUTSIDE_DESIGN = re.compile(r"\.\./shared|DESIGN(?:\.md)? ?§|DESIGN\.md")
STILL_POINTING: set[str] = set()


def test_no_pointer_to_a_design_file_outside_the_repository():
    found = {
        path.relative_to(ROOT).as_posix()
        for path in tracked_text_files()
        if path.name != "test_no_machine_paths.py"
        and OUTSIDE_DESIGN.search(path.read_text(errors="replace"))
    }
    assert found == STILL_POINTING
    assert (ROOT / "docs" / "design.md").is_file()
