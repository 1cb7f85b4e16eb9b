"""The layers stay layers: web -> core <- scheduler, core -> model, and nothing points back
(the web layer does not import the scheduler either: it starts worker processes by path).

Two checks: every import statement in each package's files (so a lazy import inside a
function counts too), and a fresh interpreter that imports the whole core and the worker and
must not have loaded any web framework along the way.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# package folder -> modules it must never import (prefix match on the dotted name)
FORBIDDEN = {
    "app/core": ("starlette", "uvicorn", "python_multipart", "jinja2", "app.web", "scheduler"),
    "model": ("app", "scheduler", "starlette"),
    "scheduler": ("app.web", "starlette", "uvicorn", "jinja2"),
    # The web server starts worker processes (app/web/supervisor.py) by their script's path;
    # it never imports the worker's code.
    "app/web": ("scheduler",),
}
WEB_FRAMEWORKS = ("starlette", "uvicorn", "python_multipart", "jinja2")


def imported_names(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append((node.lineno, node.module))
            # "from app import web" names the module app.web
            names += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return names


def forbidden_imports(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    found = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for line, name in imported_names(path):
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden):
                found.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    return found


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_no_import_points_back_up(folder: str) -> None:
    assert forbidden_imports(folder, FORBIDDEN[folder]) == []


def test_the_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    # A check that cannot fail is no check: a core-like file with a lazy Starlette import.
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from starlette.requests import Request\n    return Request\n")
    assert ("starlette.requests" in [name for _, name in imported_names(bad)])


def test_core_and_worker_load_no_web_framework() -> None:
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for folder in ("app/core", "scheduler")
        for p in (ROOT / folder).rglob("*.py")
        if p.name != "__init__.py"
    )
    assert "app.core.jobs.queue" in modules and "scheduler.worker" in modules
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {WEB_FRAMEWORKS!r})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == []
