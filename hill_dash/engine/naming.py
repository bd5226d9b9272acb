"""One name per thing on the public surface.

The lineage that never sees an edit is "unguided" in the API, the CSV exports and the CLI,
and "the unguided lineage" in the dashboard's prose. run.json keeps its historical key
"twin" (old runs must load), so records read from the store are renamed on the way out.
"""

from __future__ import annotations

STORED, PUBLIC = "twin", "unguided"


def public(value):
    """A stored record in the public vocabulary: every key "twin" becomes "unguided"."""
    if isinstance(value, dict):
        return {(PUBLIC if k == STORED else k): public(v) for k, v in value.items()}
    if isinstance(value, list):
        return [public(v) for v in value]
    return value
