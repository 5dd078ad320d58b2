"""Migrations mean the same thing whatever the live code becomes: they import
none of it (a helper they need is frozen inside them)."""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

VERSIONS = Path(__file__).resolve().parents[2] / "callcenter" / "db" / "migrations" / "versions"
MIGRATIONS = sorted(VERSIONS.glob("*.py"))


def imported_modules(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
    return found


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"migration_{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_there_are_migrations():
    assert len(MIGRATIONS) >= 7


@pytest.mark.parametrize("path", MIGRATIONS, ids=lambda p: p.stem)
def test_a_migration_imports_no_live_code(path: Path):
    live = [m for m in imported_modules(path) if m == "callcenter" or m.startswith("callcenter.")]
    assert live == [], f"{path.name} imports {live}: copy what it needs into it"


def test_0006s_frozen_search_terms():
    (path,) = VERSIONS.glob("0006_*.py")
    terms = load(path)._terms
    assert terms("小区停水 Water 12345") == ["小区", "区停", "停水", "water", "12345"]
    assert terms("水") == ["水"]
    assert terms("") == []
