"""HILL Dash: the dashboard. `python app.py` serves it on http://127.0.0.1:8050.

Flags (or environment variables): --host (HILL_DASH_HOST), --port
(HILL_DASH_PORT), --data-dir (HILL_DASH_DATA_DIR), --data-file
(HILL_DASH_DATA_FILE: a .npz/.csv to start on instead of digits), --redis-url
(HILL_DASH_REDIS_URL: run chunks on Celery workers, see README).

Celery workers import this module: `celery -A app:celery_app worker`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, dcc, html

from hill_dash.dashboard.config import AppConfig
from hill_dash.dashboard.fork_safety import keep_openmp_single_threaded
from hill_dash.dashboard.jobs import make_manager
from hill_dash.dashboard.launcher import LauncherManager, launcher_status_path
from hill_dash.dashboard.uploads import UPLOAD_LIMIT_BYTES

THEME_KEY = "theme-store"  # the dcc.Store's id is its localStorage key

# Before the first paint: the colour mode this browser chose last time (no light flash).
EARLY_THEME = (
    f"<script>try{{var t=JSON.parse(localStorage.getItem('{THEME_KEY}'));"
    "if(t==='dark'){document.documentElement.setAttribute('data-bs-theme','dark');"
    "document.documentElement.setAttribute('data-ag-theme-mode','dark');}}catch(e){}</script>"
)


def navbar() -> dbc.NavbarSimple:
    links = [
        dbc.NavItem(dbc.NavLink("Loop", href="/", active="exact")),
        dbc.NavItem(dbc.NavLink("Compare", href="/compare", active="exact")),
        dbc.NavItem(dbc.NavLink("Runs", href="/runs", active="exact")),
        dbc.NavItem(dbc.NavLink("Data", href="/data", active="exact")),
        dbc.NavItem(
            dbc.Switch(
                id="theme-switch",
                label="Dark",
                value=False,
                className="ms-3 mt-2 mb-0 text-white",
                label_class_name="text-white",
            )
        ),
    ]
    return dbc.NavbarSimple(
        links,
        brand="HILL Dash · human in the latent loop",
        color="primary",
        dark=True,
        fluid=True,
        className="mb-2",
    )


def forget_page_modules() -> None:
    """Let Dash import the pages and their helper modules (`pages/_*.py`) afresh.

    Their `@callback`s register when a module runs. Dash re-runs the page modules for every
    app, but a helper module a page imports is cached in `sys.modules`, so a second app in
    the same process (the tests make many) would lose every callback the helpers hold.
    """
    for name in [m for m in sys.modules if m == "pages" or m.startswith("pages.")]:
        del sys.modules[name]


def create_app(config: AppConfig) -> dash.Dash:
    """The Dash app with pages, theme, background manager and app-level stores."""
    config.export_env()  # background jobs (forked or on workers) read the same settings
    keep_openmp_single_threaded()
    forget_page_modules()
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(Path(__file__).parent / "pages"),
        # Bootswatch Flatly is served from assets/ (no CDN: the app works offline).
        external_stylesheets=[],
        background_callback_manager=make_manager(config.data_dir, config.redis_url),
        suppress_callback_exceptions=True,
        title="HILL Dash",
    )
    app.index_string = app.index_string.replace("{%metas%}", "{%metas%}" + EARLY_THEME, 1)
    # The switch and the stored choice kept in step; <html> carries the mode for Bootstrap
    # (data-bs-theme) and AG Grid (data-ag-theme-mode). Figures read the store themselves.
    app.clientside_callback(
        """
        function (dark, stored) {
            const ctx = window.dash_clientside.callback_context;
            const trig = ctx.triggered.length ? ctx.triggered[0].prop_id : '';
            const theme = trig.startsWith('theme-switch')
                ? (dark ? 'dark' : 'light') : (stored === 'dark' ? 'dark' : 'light');
            document.documentElement.setAttribute('data-bs-theme', theme);
            document.documentElement.setAttribute('data-ag-theme-mode', theme);
            const nu = window.dash_clientside.no_update;
            const darkOut = (theme === 'dark') === dark ? nu : theme === 'dark';
            return [darkOut, theme === stored ? nu : theme];
        }
        """,
        Output("theme-switch", "value"),
        Output(THEME_KEY, "data"),
        Input("theme-switch", "value"),
        Input(THEME_KEY, "data"),
    )

    # an upload travels base64-encoded in a JSON callback request: 4/3 of the file, plus slack
    app.server.config["MAX_CONTENT_LENGTH"] = UPLOAD_LIMIT_BYTES * 4 // 3 + 2**20
    app.layout = html.Div(
        [
            navbar(),
            # Cross-page state lives in the browser, per tab: which run, and a version that
            # changes whenever the run's store changed (panels re-read on it).
            dcc.Store(id="run-id", storage_type="session"),
            dcc.Store(id="run-version", data=0),
            # light or dark, remembered per browser (navbar switch, see EARLY_THEME)
            dcc.Store(id=THEME_KEY, storage_type="local"),
            dbc.Container(dash.page_container, fluid=True),
        ]
    )
    return app


def start_job_launcher(app: dash.Dash, config: AppConfig) -> None:
    """Fork the process that starts background jobs, while this one is single-threaded.

    It compiles UMAP's numba code once, so every chunk's map update starts warm.
    Celery workers need none: they are their own processes.
    """
    manager = app._background_manager
    if config.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        return  # --debug: this is the reloader's watcher; the served child starts its own
    if isinstance(manager, LauncherManager):
        manager.start_launcher(config.projection_warmup, launcher_status_path(config.data_dir))


def parse_args(argv: list[str] | None) -> AppConfig:
    env = AppConfig.from_env()
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default=env.host)
    p.add_argument("--port", type=int, default=env.port)
    p.add_argument("--data-dir", default=str(env.data_dir))
    p.add_argument("--data-file", default=env.data_file)
    p.add_argument("--redis-url", default=env.redis_url)
    p.add_argument("--debug", action="store_true", help="Dash dev tools (never on a shared host)")
    a = p.parse_args(argv)
    return AppConfig(
        host=a.host,
        port=a.port,
        data_dir=Path(a.data_dir).expanduser(),
        data_file=a.data_file,
        redis_url=a.redis_url,
        debug=a.debug,
        projection_warmup=env.projection_warmup,  # HILL_DASH_WARMUP=0: no UMAP warm-up
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    app = create_app(config)
    start_job_launcher(app, config)
    print(
        f"HILL Dash on http://{config.host}:{config.port}  (runs in {config.data_dir})",
        file=sys.stderr,
    )
    app.run(host=config.host, port=config.port, debug=config.debug)
    return 0


def __getattr__(name: str):
    """`celery -A app:celery_app worker` asks for `celery_app`: only then is the app built,
    so its background callbacks register as the worker's tasks (a plain `import app`, as
    `python -m hill_dash serve` does, builds nothing and registers nothing twice)."""
    if name != "celery_app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    # The `celery` script puts the working directory on sys.path only while it imports
    # this module, and asks for `celery_app` after that: keep the repository root there,
    # or building the app cannot import `pages`.
    root = str(Path(__file__).resolve().parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    config = AppConfig.from_env()
    if not config.redis_url:
        raise RuntimeError("a Celery worker needs HILL_DASH_REDIS_URL (see README)")
    global celery_app
    celery_app = create_app(config)._background_manager.handle
    return celery_app


if __name__ == "__main__":
    sys.exit(main())
