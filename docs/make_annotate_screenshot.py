"""The Loop page's Annotate tools (docs/screenshots/loop-annotate.png), 1400 × 900.

    .venv/bin/python docs/make_annotate_screenshot.py

A digits run (PCA) with chunk 0 and one chunk that excluded thirty 9s (greyed on the
map); then a lassoed cluster of 0s with Relabel to 6 chosen: the preview shows the new
colours before Apply.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from selenium.webdriver.support.ui import Select  # noqa: E402

from docs.make_loop_screenshots import open_loop, shot  # noqa: E402
from docs.make_screenshots import browser  # noqa: E402
from hill_dash.session import Session  # noqa: E402
from tests.browser.conftest import LiveApp  # noqa: E402
from tests.browser.helpers import lasso  # noqa: E402
from tests.browser.test_annotate import _cluster_polygon  # noqa: E402


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    app = LiveApp(tmp / "data", tmp / "numba")
    try:
        s = Session.new("digits", projection="pca", epochs=3, data_dir=app.data_dir)
        s.exclude(s.select_class(9)[:30])
        s.train_chunk()
        d = browser()
        d.set_window_size(1400, 900)
        open_loop(d, app.url, s.run_id)
        zeros = s.select_class(0)
        lasso(d, "latent-graph", _cluster_polygon(d, zeros, 0.07))
        time.sleep(2)
        d.execute_script(
            "document.querySelector(\"#edit-tool input[value='relabel'] + label\").click()"
        )
        Select(d.find_element("id", "relabel-class")).select_by_value("6")
        time.sleep(3)
        shot(d, "loop-annotate")
        d.quit()
    finally:
        app.stop()


if __name__ == "__main__":
    main()
