"""The layering of ARCHITECTURE.md: knowledge/ imports no face; bot/, ingestion/ and api/ import knowledge/
and never each other; only lore/ composes them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("knowledge", "bot", "ingestion", "api", "lore")
ALLOWED = {
    "knowledge": {"knowledge"},
    "bot": {"bot", "knowledge"},
    "ingestion": {"ingestion", "knowledge"},
    "api": {"api", "knowledge"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(PACKAGES)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_a_layer_imports_only_what_it_may(package: str) -> None:
    wrong = {
        str(path.relative_to(ROOT)): sorted(found - ALLOWED[package])
        for path in sorted((ROOT / package).rglob("*.py"))
        if (found := imported_packages(path)) - ALLOWED[package]
    }
    assert wrong == {}


def test_every_subcommand_has_its_coroutine() -> None:
    import importlib

    from lore.cli import build_parser
    from lore.commands import MODULES

    parser = build_parser()
    choices = next(a for a in parser._subparsers._group_actions if a.dest == "command").choices  # type: ignore[union-attr]
    assert set(choices) == set(MODULES)
    for command, module in MODULES.items():
        assert callable(getattr(importlib.import_module(f"lore.commands.{module}"), command))
