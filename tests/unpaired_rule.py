"""The per-class bias rule the paired test replaced, kept only as the tests' baseline.

It treats the guided and the reference accuracies on the *same* validation points as
independent (binomial standard error of a difference) and corrects for nothing. The
tests show what it gets wrong; the product uses `hill_dash.engine.bias`.
"""

from __future__ import annotations

import numpy as np


def bias_flags(guided, twin, counts, touched, z: float = 2.0, floor: float = 0.02) -> list:
    out = []
    for c, (g, u, n) in enumerate(zip(guided, twin, counts, strict=True)):
        if n == 0 or np.isnan(g) or np.isnan(u):
            out.append({"class": c, "delta": None, "se": None, "flag": False, "touched": False})
            continue
        se = float(np.sqrt((g * (1 - g) + u * (1 - u)) / n)) or 1.0 / n
        delta = g - u
        flag = delta < -max(z * se, floor)
        out.append(
            {"class": c, "delta": delta, "se": se, "flag": bool(flag), "touched": c in touched}
        )
    return out
