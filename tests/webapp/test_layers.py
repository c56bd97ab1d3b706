"""The Mini App's place in the layers, and what its page may contain under its Content-Security-Policy."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEBAPP = ROOT / "bot" / "webapp"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_wiring_imports_handlers() -> None:
    for path in (ROOT / "bot").rglob("*.py"):
        if path.relative_to(ROOT).as_posix() in ("bot/app.py", "bot/cli.py"):
            continue
        found = {n for n in _imports(path) if n == "handlers" or n.startswith("handlers.")}
        assert not found, f"{path.relative_to(ROOT)} imports {found}"


def test_modules_are_small_and_names_unique() -> None:
    for path in WEBAPP.glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, path.name
    ours = [p.stem for base in ("bot", "handlers", "storage") for p in (ROOT / base).rglob("*.py")]
    clashes = {n for n in ours if ours.count(n) > 1 and n not in ("__init__", "__main__", "env")}
    assert not {p.stem for p in WEBAPP.glob("*.py")} & clashes, clashes


def test_page_has_no_inline_script_or_style() -> None:
    for path in (WEBAPP / "templates").glob("*.html"):
        page = path.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline <script>"
        assert "<style" not in page and " style=" not in page and not re.search(r"\son[a-z]+=", page)
    script = (WEBAPP / "static" / "app.js").read_text(encoding="utf-8")
    assert "innerHTML" not in script and "eval(" not in script and "new Function" not in script
