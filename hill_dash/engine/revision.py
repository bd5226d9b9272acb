"""run.json's revision: a compare-and-swap that works between hosts.

`RunStore.update_run` reads run.json at revision r, applies its change and then claims
revision r + 1 by creating `.rev-<r+1>` exclusively (`O_CREAT | O_EXCL`, atomic on a
local disk and on NFSv3+). Exactly one writer of revision r wins; a loser reads again and
re-applies its change. A claim whose writer died before writing run.json is taken over
once it is older than CLAIM_STALE_SECONDS and run.json is still at revision r.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

REVISION_RETRIES = 300  # re-reads before a writer gives up, 0.05 s apart (past a dead claim)
CLAIM_STALE_SECONDS = 10.0  # a claim this old, with run.json not at its revision, is dead


def revision(run: dict) -> int:
    value = run.get("revision", 0)
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def claim_revision(run_dir: Path, wanted: int, current: dict) -> bool:
    """Claim `wanted` (= the revision read + 1); False if another writer has it, or if
    run.json (`current`, read again just now) has moved past the revision read."""
    if revision(current) != wanted - 1:
        return False
    marker = _marker(run_dir, wanted)
    for _ in range(2):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return True
        except FileExistsError:
            if not _stale(marker):
                return False
            marker.unlink(missing_ok=True)  # its writer died before writing run.json
    return False


def release_revision(run_dir: Path, older: int) -> None:
    """Remove the claim of a revision that run.json has moved past."""
    _marker(run_dir, older).unlink(missing_ok=True)


def _marker(run_dir: Path, rev: int) -> Path:
    return run_dir / f".rev-{rev}"


def _stale(marker: Path) -> bool:
    try:
        return time.time() - marker.stat().st_mtime > CLAIM_STALE_SECONDS
    except FileNotFoundError:
        return True
