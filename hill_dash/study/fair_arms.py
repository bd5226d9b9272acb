"""The fair study's arms: which a user gets, which is primary, which are direct.

A module of names only, so the study (`fair`) and its report (`fair_report`) can both
import them without importing each other.
"""

from __future__ import annotations

LATENT_ARMS = ("latent", "latent+kd", "kd-only")
DIRECT_ARMS = ("relabel", "upweight", "dfr", "queue")
ARMS_BY_USER = {
    "inspect-and-pull": (
        "latent",
        "latent+kd",
        "kd-only",
        "relabel",
        "upweight",
        "dfr",
        "random",
        "queue",
    ),
    "group-without-names": ("shape", "pseudo-label", "queue"),
}
PRIMARY_ARM = {"inspect-and-pull": "latent", "group-without-names": "shape"}
# chunk overrides of the arms that train the user's latent edits (the run: λ 1, kd 0)
OVERRIDES = {
    "latent": {},
    "latent+kd": {"kd_weight": 1.0},
    "kd-only": {"lam": 0.0, "anchor": 0.0, "kd_weight": 1.0},
    "shape": {},
    "random": {},
}
