"""Import rules, checked on the source with ``ast``.

- ``app/scoring`` is pure: it imports nothing from the rest of the app (nor outside the standard
  library), so it can be tested with plain values and reused anywhere.
- The two front doors, ``app/api`` and ``app/views``, never import each other, and never build
  SQL: queries live in ``app/services``; the services never import either front door.
- The app uses a lifespan, never ``@app.on_event``.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"
QUERY_BUILDERS = frozenset({"select", "text", "insert", "update", "delete"})
SQL_PACKAGES = ("sqlalchemy", "sqlmodel")
SESSION_QUERY_METHODS = frozenset({"exec", "execute", "query", "scalar", "scalars"})


@dataclass(frozen=True)
class Import:
    module: str  # absolute module imported from, e.g. "sqlmodel" or "app.accounts.service"
    name: str | None  # the name imported from it (``from m import name``), or None
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(source: str, module: str, *, is_package: bool = False) -> list[Import]:
    """Every import in ``source``, relative ones resolved against ``module``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, None, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found += [Import(base, alias.name, node.lineno) for alias in node.names]
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def app_dependencies(imports: list[Import]) -> set[str]:
    """The app modules these imports reach (``from app import views`` reaches app.views)."""
    reached = set()
    for imp in imports:
        if not _within(imp.module, "app"):
            continue
        reached.add(imp.module)
        if imp.name:
            reached.add(f"{imp.module}.{imp.name}")
    return reached


def sql_building(source: str, imports: list[Import]) -> list[str]:
    """Query builders imported or used, and session query calls, as readable findings."""
    findings = []
    sql_aliases = set()
    for imp in imports:
        top = imp.module.split(".")[0]
        if top not in SQL_PACKAGES:
            continue
        if imp.name in QUERY_BUILDERS:
            findings.append(f"line {imp.line}: from {imp.module} import {imp.name}")
        if imp.name is None:
            sql_aliases.add(imp.module.split(".")[0])
    tree = ast.parse(source)
    aliases = {
        alias.asname or alias.name.split(".")[0]
        for node in ast.walk(tree) if isinstance(node, ast.Import)
        for alias in node.names if alias.name.split(".")[0] in sql_aliases
    }
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr in QUERY_BUILDERS
                and isinstance(node.value, ast.Name) and node.value.id in aliases):
            findings.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in SESSION_QUERY_METHODS
                and isinstance(node.func.value, ast.Name) and "session" in node.func.value.id):
            findings.append(f"line {node.lineno}: {node.func.value.id}.{node.func.attr}(...)")
    return findings


def on_event_uses(source: str) -> list[int]:
    return [
        node.lineno for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr in {"on_event", "add_event_handler"}
    ]


def sources(package: str) -> list[tuple[str, Path]]:
    root = APP.joinpath(*package.split(".")[1:])
    return [(module_name(p), p) for p in sorted(root.rglob("*.py"))]


def _params(*packages: str) -> list[object]:
    return [pytest.param(m, p, id=m) for pkg in packages for m, p in sources(pkg)]


def _imports(module: str, path: Path) -> list[Import]:
    return imports_of(path.read_text(), module, is_package=path.name == "__init__.py")


# -- the rules, over the real source -----------------------------------------------------------


def test_the_packages_exist() -> None:
    for package in ("app.scoring", "app.api", "app.views"):
        assert (APP.joinpath(*package.split(".")[1:]) / "__init__.py").exists(), package


@pytest.mark.parametrize(("module", "path"), _params("app.scoring"))
def test_scoring_imports_nothing_from_the_app(module: str, path: Path) -> None:
    reached = app_dependencies(_imports(module, path))

    assert {m for m in reached if not _within(m, "app.scoring")} == set()


@pytest.mark.parametrize(("module", "path"), _params("app.scoring"))
def test_scoring_uses_only_the_standard_library(module: str, path: Path) -> None:
    outside = {
        imp.module for imp in _imports(module, path)
        if not _within(imp.module, "app.scoring")
        and imp.module.split(".")[0] not in sys.stdlib_module_names
    }

    assert outside == set()


@pytest.mark.parametrize(("module", "path"), _params("app.api"))
def test_api_does_not_import_views(module: str, path: Path) -> None:
    assert {m for m in app_dependencies(_imports(module, path)) if _within(m, "app.views")} == set()


@pytest.mark.parametrize(("module", "path"), _params("app.services", "app.scoring"))
def test_services_do_not_import_the_front_doors(module: str, path: Path) -> None:
    """Services are below both front doors: they compose emails through ``app.rendering`` and
    ``app.i18n``, never through the web layer."""
    reached = {m for m in app_dependencies(_imports(module, path))
               if _within(m, "app.views") or _within(m, "app.api")}
    assert reached == set()


@pytest.mark.parametrize(("module", "path"), _params("app.views"))
def test_views_do_not_import_api(module: str, path: Path) -> None:
    assert {m for m in app_dependencies(_imports(module, path)) if _within(m, "app.api")} == set()


@pytest.mark.parametrize(("module", "path"), _params("app.api", "app.views"))
def test_front_doors_build_no_sql(module: str, path: Path) -> None:
    assert sql_building(path.read_text(), _imports(module, path)) == []


@pytest.mark.parametrize(("module", "path"), _params("app"))
def test_no_on_event_handlers(module: str, path: Path) -> None:
    assert on_event_uses(path.read_text()) == []


# -- the checks themselves catch what they claim to --------------------------------------------


@pytest.mark.parametrize(
    ("source", "module", "reached"),
    [
        ("from app.views import ops", "app.api.accounts", {"app.views", "app.views.ops"}),
        ("import app.views.ops", "app.api.accounts", {"app.views.ops"}),
        ("from app import views", "app.api.accounts", {"app", "app.views"}),
        ("from ..views import ops", "app.api.accounts", {"app.views", "app.views.ops"}),
        ("from . import common", "app.api.accounts", {"app.api", "app.api.common"}),
        ("from .health import x", "app.scoring.backtest", {"app.scoring.health",
                                                           "app.scoring.health.x"}),
        ("import json", "app.scoring.health", set()),
    ],
)
def test_imports_are_resolved(source: str, module: str, reached: set[str]) -> None:
    assert app_dependencies(imports_of(source, module)) == reached


def test_relative_import_from_a_package_init_resolves_inside_it() -> None:
    imports = imports_of("from . import accounts", "app.api", is_package=True)

    assert app_dependencies(imports) == {"app.api", "app.api.accounts"}


@pytest.mark.parametrize(
    "source",
    [
        "from sqlmodel import select",
        "from sqlalchemy import text, func",
        "from sqlalchemy.sql import expression, delete",
        "import sqlalchemy as sa\nq = sa.select(1)",
        "import sqlmodel\nq = sqlmodel.update(1)",
        "def f(session):\n    return session.exec(q)",
        "def f(db_session):\n    return db_session.execute(q)",
    ],
)
def test_sql_building_is_detected(source: str) -> None:
    assert sql_building(source, imports_of(source, "app.api.x")) != []


@pytest.mark.parametrize(
    "source",
    [
        "from sqlmodel import Session",
        "from sqlalchemy.exc import OperationalError",
        "from app.services import accounts as svc\nsvc.list_accounts(session)",
    ],
)
def test_allowed_imports_are_not_flagged(source: str) -> None:
    assert sql_building(source, imports_of(source, "app.api.x")) == []


def test_on_event_is_detected() -> None:
    source = "@app.on_event('startup')\ndef start():\n    pass\n"

    assert on_event_uses(source) == [1]
