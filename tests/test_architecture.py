"""The folders are the plan: imports flow pages → dashboard → engine and study → engine.

Read from the source (every import statement, module level or inside a function), so a
new module that breaks the plan fails here before anyone has to notice it in review.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "hill_dash"

# what each layer may not import (prefixes of dotted module names)
FORBIDDEN = {
    "hill_dash.engine": (
        "dash",
        "plotly",
        "dash_bootstrap_components",
        "flask",
        "pages",
        "hill_dash.dashboard",
        "hill_dash.study",
        "hill_dash.session",
        "hill_dash.cli",
    ),
    "hill_dash.study": (
        "dash",
        "plotly",
        "dash_bootstrap_components",
        "pages",
        "hill_dash.dashboard",
        "hill_dash.cli",
    ),
    "hill_dash.dashboard": ("pages", "hill_dash.study", "hill_dash.cli"),
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, own: str | None = None) -> set[str]:
    """Dotted names this file imports (`from a import b` gives a and a.b)."""
    tree = ast.parse(path.read_text(), str(path))
    own = own or module_name(path)
    package = own if path.name == "__init__.py" else own.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            out.add(base)
            out.update(f"{base}.{alias.name}" for alias in node.names)
    return out


def local_modules() -> dict[str, Path]:
    files = [*PACKAGE.rglob("*.py"), ROOT / "app.py", *(ROOT / "pages").glob("*.py")]
    return {module_name(p): p for p in files}


def offences(modules: dict[str, Path]) -> list[str]:
    out = []
    for name, path in modules.items():
        for layer, banned in FORBIDDEN.items():
            if name == layer or name.startswith(layer + "."):
                for imported in sorted(imports_of(path, name)):
                    if any(imported == b or imported.startswith(b + ".") for b in banned):
                        out.append(f"{name} imports {imported}")
    return out


def test_every_layer_imports_only_downwards():
    assert offences(local_modules()) == []


def test_no_import_circles():
    modules = local_modules()
    graph = {
        name: {m for m in imports_of(path) if m in modules and m != name}
        for name, path in modules.items()
    }
    # a package's __init__ is not an edge source for its submodules' own imports
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    assert cycles == []


def test_the_check_sees_forbidden_imports(tmp_path):
    """The check can fail: an engine module importing plotly or (relatively) the dashboard."""
    fake = tmp_path / "fake.py"
    fake.write_text("import plotly.graph_objects as go\nfrom ..dashboard import views\n")
    assert offences({"hill_dash.engine.fake": fake}) == [
        "hill_dash.engine.fake imports hill_dash.dashboard",
        "hill_dash.engine.fake imports hill_dash.dashboard.views",
        "hill_dash.engine.fake imports plotly.graph_objects",
    ]


def test_the_public_api_is_at_the_top():
    import hill_dash
    from hill_dash.session import Session

    assert hill_dash.Session is Session
