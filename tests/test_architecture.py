"""Import rules, checked on the source with ``ast``.

The layers, outermost first; none imports from a layer above it (all share ``app.errors``,
``app.db``, ``app.config`` and the like):

- The two front doors, ``app/api`` (JSON) and ``app/views`` (pages), are routes only. They never
  import each other, and never build SQL: queries live in the domain packages.
- The domain packages (``app/accounts``, ``app/health``, ``app/ingest``...) hold the queries and
  rules of one domain each. They never import a front door, nor what wires the front doors up
  (``app.main``, ``app.routes``, ``app.cli``): they compose emails through ``app.rendering`` and
  ``app.i18n``, never through the web layer.
- Underneath, the tables (``app/models``), the pure formulas (``app/scoring``) and the shared types
  (``app/types.py``) import no domain package and no front door. ``app/scoring`` is pure: it
  imports nothing of the app but ``app.types``, and nothing outside the standard library but
  the numerical libraries (numpy, scikit-learn: computation, no I/O), so it can be tested
  with plain values and reused anywhere.

And across all of ``app``:

- The API's request and response models are defined in the domain packages, not in ``app/api``.
- The module import graph has no cycle: neither among the imports that run when a module is
  imported (module level, class bodies), nor once the imports deferred into functions (or behind
  ``TYPE_CHECKING``) are added. A package's ``__init__`` importing from its own modules (a
  re-export) is an edge like any other; Python's implicit import of a module's parent package is
  not counted.
- The app uses a lifespan, never ``@app.on_event``.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydantic import BaseModel

APP = Path(__file__).resolve().parent.parent / "app"
QUERY_BUILDERS = frozenset({"select", "text", "insert", "update", "delete"})
SQL_PACKAGES = ("sqlalchemy", "sqlmodel")
SESSION_QUERY_METHODS = frozenset({"exec", "execute", "query", "scalar", "scalars"})

FRONT_DOORS = ("app.api", "app.views")
#: What includes the front doors' routes, or calls the domain from a terminal.
WIRING = ("app.main", "app.routes", "app.cli")
DOMAIN_PACKAGES = (
    "app.accounts",
    "app.analytics",
    "app.auth",
    "app.demo",
    "app.email",
    "app.expansion",
    "app.health",
    "app.imports",
    "app.ingest",
    "app.interactions",
    "app.jobs",
    "app.lifecycle",
    "app.plans",
    "app.priorities",
    "app.reports",
    "app.usage",
)
LOWER_LAYERS = ("app.models", "app.scoring", "app.types")
#: What pure scoring may import besides the standard library.
NUMERICAL = ("numpy", "sklearn")


@dataclass(frozen=True)
class Import:
    module: str  # absolute module imported from, e.g. "sqlmodel" or "app.accounts.service"
    name: str | None  # the name imported from it (``from m import name``), or None
    line: int
    deferred: bool = False  # inside a function or behind TYPE_CHECKING: not run at import time


def module_name(path: Path) -> str:
    parts = list(path.relative_to(APP.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> Iterable[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement, with whether it is deferred (not run when the module is imported)."""
    todo: list[tuple[ast.AST, bool]] = [(tree, False)]
    while todo:
        node, deferred = todo.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, deferred
        elif isinstance(node, ast.If) and _is_type_checking(node):
            todo += [(n, True) for n in node.body] + [(n, deferred) for n in node.orelse]
        else:
            inside = deferred or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            todo += [(child, inside) for child in ast.iter_child_nodes(node)]


def imports_of(source: str, module: str, *, is_package: bool = False) -> list[Import]:
    """Every import in ``source``, relative ones resolved against ``module``."""
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node, deferred in _import_nodes(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, None, node.lineno, deferred) for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            found += [Import(base, alias.name, node.lineno, deferred) for alias in node.names]
    return sorted(found, key=lambda imp: (imp.line, imp.module, imp.name or ""))


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _within_any(module: str, packages: Iterable[str]) -> bool:
    return any(_within(module, p) for p in packages)


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
        for node in ast.walk(tree)
        if isinstance(node, ast.Import)
        for alias in node.names
        if alias.name.split(".")[0] in sql_aliases
    }
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in QUERY_BUILDERS
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
        ):
            findings.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in SESSION_QUERY_METHODS
            and isinstance(node.func.value, ast.Name)
            and "session" in node.func.value.id
        ):
            findings.append(f"line {node.lineno}: {node.func.value.id}.{node.func.attr}(...)")
    return findings


def on_event_uses(source: str) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and node.attr in {"on_event", "add_event_handler"}
    ]


def import_graph(
    imports: Mapping[str, list[Import]],
    *,
    deferred: bool = False,
) -> dict[str, set[str]]:
    """Module -> the app modules it imports, among ``imports``' keys (the modules of the graph).

    ``from p import m`` is an edge to the module ``p.m`` when there is one, else to ``p`` (a
    package's ``__init__``, whose own imports are its edges); ``import p.m`` is an edge to
    ``p.m``. With ``deferred``, the imports not run at import time are edges too.
    """
    graph: dict[str, set[str]] = {module: set() for module in imports}
    for module, found in imports.items():
        for imp in found:
            if imp.deferred and not deferred:
                continue
            target = f"{imp.module}.{imp.name}" if imp.name else imp.module
            if target not in imports:
                target = imp.module
                while target and target not in imports:
                    target = target.rpartition(".")[0]
            if target and target != module:
                graph[module].add(target)
    return graph


def cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: its strongly connected components of more than one module
    (Tarjan's algorithm), each as its sorted modules; every module of one reaches every other."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return sorted(components)


def closed_path(graph: Mapping[str, set[str]], component: list[str]) -> list[str]:
    """The shortest path from the component's first module back to itself, inside it."""
    start, members = component[0], set(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & members):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"{component} is not strongly connected")


def pydantic_models_defined_in(module: types.ModuleType) -> list[str]:
    """The pydantic model classes ``module`` defines itself (not the ones it imports, nor a generic
    model parametrised there such as ``Page[AccountPublic]``, which pydantic names in the module
    that wrote it)."""
    return sorted(
        name
        for name, value in vars(module).items()
        if inspect.isclass(value)
        and issubclass(value, BaseModel)
        and value.__module__ == module.__name__
        and value.__pydantic_generic_metadata__["origin"] is None
    )


def sources(package: str) -> list[tuple[str, Path]]:
    """The modules of a package (or the one module) with their files."""
    root = APP.joinpath(*package.split(".")[1:])
    if not root.is_dir():
        return [(package, root.with_suffix(".py"))]
    return [(module_name(p), p) for p in sorted(root.rglob("*.py"))]


def _params(*packages: str) -> list[object]:
    return [pytest.param(m, p, id=m) for pkg in packages for m, p in sources(pkg)]


def _imports(module: str, path: Path) -> list[Import]:
    return imports_of(path.read_text(), module, is_package=path.name == "__init__.py")


def _all_imports() -> dict[str, list[Import]]:
    return {module: _imports(module, path) for module, path in sources("app")}


def _report(graph: Mapping[str, set[str]], found: list[list[str]]) -> str:
    """Each cycle: its shortest loop through its first module, then every module in it."""
    return "\n".join(
        " -> ".join(closed_path(graph, component)) + f"  (the cycle holds {', '.join(component)})"
        for component in found
    )


# -- the rules, over the real source -----------------------------------------------------------


def test_the_packages_exist() -> None:
    for package in (*FRONT_DOORS, *DOMAIN_PACKAGES, "app.models", "app.scoring"):
        assert (APP.joinpath(*package.split(".")[1:]) / "__init__.py").exists(), package
    assert (APP / "types.py").exists()


def test_every_package_has_its_layer() -> None:
    """A new package must be placed: a front door, a domain package or a lower layer."""
    packages = {module_name(p.parent / "__init__.py") for p in APP.rglob("__init__.py")} - {"app"}
    placed = (*FRONT_DOORS, *DOMAIN_PACKAGES, *LOWER_LAYERS, *WIRING)

    assert {p for p in packages if not _within_any(p, placed)} == set()


@pytest.mark.parametrize(("module", "path"), _params("app.scoring"))
def test_scoring_imports_nothing_of_the_app_but_the_types(module: str, path: Path) -> None:
    reached = app_dependencies(_imports(module, path))

    assert {m for m in reached if not _within_any(m, ("app.scoring", "app.types"))} == set()


@pytest.mark.parametrize(("module", "path"), _params("app.scoring"))
def test_scoring_uses_only_the_standard_library(module: str, path: Path) -> None:
    """Besides the standard library, only the numerical libraries (no I/O of their own): the
    calibration fits its regressions with scikit-learn rather than a hand-written optimiser."""
    outside = {
        imp.module
        for imp in _imports(module, path)
        if not _within_any(imp.module, ("app.scoring", "app.types", *NUMERICAL))
        and imp.module.split(".")[0] not in sys.stdlib_module_names
    }

    assert outside == set()


@pytest.mark.parametrize(("module", "path"), _params("app.api"))
def test_api_does_not_import_views(module: str, path: Path) -> None:
    assert {m for m in app_dependencies(_imports(module, path)) if _within(m, "app.views")} == set()


@pytest.mark.parametrize(("module", "path"), _params("app.views"))
def test_views_do_not_import_api(module: str, path: Path) -> None:
    assert {m for m in app_dependencies(_imports(module, path)) if _within(m, "app.api")} == set()


@pytest.mark.parametrize(("module", "path"), _params(*DOMAIN_PACKAGES))
def test_domain_packages_do_not_import_the_front_doors(module: str, path: Path) -> None:
    reached = app_dependencies(_imports(module, path))

    assert {m for m in reached if _within_any(m, (*FRONT_DOORS, *WIRING))} == set()


@pytest.mark.parametrize(("module", "path"), _params(*LOWER_LAYERS))
def test_lower_layers_import_no_domain_package_nor_front_door(module: str, path: Path) -> None:
    reached = app_dependencies(_imports(module, path))

    assert {m for m in reached if _within_any(m, (*FRONT_DOORS, *WIRING, *DOMAIN_PACKAGES))} == set()


@pytest.mark.parametrize(("module", "path"), _params(*FRONT_DOORS))
def test_front_doors_build_no_sql(module: str, path: Path) -> None:
    assert sql_building(path.read_text(), _imports(module, path)) == []


def test_the_api_defines_no_pydantic_model() -> None:
    defined = {
        module: found
        for module, _ in sources("app.api")
        if (found := pydantic_models_defined_in(importlib.import_module(module)))
    }

    assert defined == {}


def test_no_import_cycle_at_import_time() -> None:
    graph = import_graph(_all_imports())
    found = cycles(graph)

    print(_report(graph, found))
    assert found == [], "import cycles at import time:\n" + _report(graph, found)


def test_no_import_cycle_with_the_imports_deferred_into_functions() -> None:
    imports = _all_imports()
    deferred = [
        f"{module}:{imp.line} {imp.module}" + (f".{imp.name}" if imp.name else "")
        for module, found in sorted(imports.items())
        for imp in found
        if imp.deferred and _within(imp.module, "app")
    ]
    graph = import_graph(imports, deferred=True)
    found = cycles(graph)

    print("deferred imports:\n" + "\n".join(deferred))
    print(_report(graph, found))
    assert found == [], "import cycles once deferred imports count:\n" + _report(graph, found)


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
        ("from .health import x", "app.scoring.backtest", {"app.scoring.health", "app.scoring.health.x"}),
        ("import json", "app.scoring.health", set()),
    ],
)
def test_imports_are_resolved(source: str, module: str, reached: set[str]) -> None:
    assert app_dependencies(imports_of(source, module)) == reached


def test_relative_import_from_a_package_init_resolves_inside_it() -> None:
    imports = imports_of("from . import accounts", "app.api", is_package=True)

    assert app_dependencies(imports) == {"app.api", "app.api.accounts"}


def test_imports_in_functions_and_behind_type_checking_are_deferred() -> None:
    source = (
        "import app.a\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    import app.b\nelse:\n    import app.c\n"
        "class K:\n    import app.d\n    def m(self):\n        import app.e\n"
        "def f():\n    import app.f\n    g = lambda: __import__('x')\n"
        "async def h():\n    from app import g\n"
        "try:\n    import app.h\nexcept ImportError:\n    pass\n"
    )
    deferred = {
        imp.module + (f".{imp.name}" if imp.name else ""): imp.deferred
        for imp in imports_of(source, "app.x")
        if imp.module.startswith("app")
    }

    assert deferred == {
        "app.a": False,
        "app.b": True,
        "app.c": False,
        "app.d": False,
        "app.e": True,
        "app.f": True,
        "app.g": True,
        "app.h": False,
    }


def test_the_graph_counts_package_reexports_and_resolves_names_to_modules() -> None:
    imports = {
        "app.p": imports_of("from app.p.m import X\n", "app.p", is_package=True),
        "app.p.m": [],
        "app.p.n": imports_of("from app.p import m, X\nimport app.p.m.Y\n", "app.p.n"),
        "app.q": imports_of("from app.p import X\nimport os\nfrom app.r import Z\n", "app.q"),
    }

    assert import_graph(imports) == {
        "app.p": {"app.p.m"},
        "app.p.m": set(),
        "app.p.n": {"app.p", "app.p.m"},
        "app.q": {"app.p"},
    }


def test_deferred_edges_count_only_when_asked() -> None:
    imports = {
        "app.a": imports_of("import app.b\n", "app.a"),
        "app.b": imports_of("def f():\n    import app.a\n", "app.b"),
    }

    assert cycles(import_graph(imports)) == []
    assert cycles(import_graph(imports, deferred=True)) == [["app.a", "app.b"]]


@pytest.mark.parametrize(
    ("graph", "found", "paths"),
    [
        ({"a": {"b"}, "b": {"c"}, "c": set()}, [], []),
        ({"a": {"b"}, "b": {"a"}}, [["a", "b"]], [["a", "b", "a"]]),
        (
            {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}},
            [["a", "b", "c"], ["d", "e"]],
            [["a", "b", "c", "a"], ["d", "e", "d"]],
        ),
        ({"a": {"b", "c"}, "b": {"a"}, "c": {"b"}}, [["a", "b", "c"]], [["a", "b", "a"]]),
    ],
)
def test_cycles_are_found_and_shown_as_paths(
    graph: dict[str, set[str]],
    found: list[list[str]],
    paths: list[list[str]],
) -> None:
    assert cycles(graph) == found
    assert [closed_path(graph, component) for component in found] == paths


def test_pydantic_models_are_found_where_they_are_defined(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("app.api.example")
    monkeypatch.setitem(sys.modules, module.__name__, module)  # pydantic names generics there
    exec(  # noqa: S102  (a fixed source, to build a module)
        "from typing import Generic, TypeVar\n"
        "from pydantic import BaseModel\n"
        "T = TypeVar('T')\n"
        "class Out(BaseModel):\n    x: int\n"
        "class Page(BaseModel, Generic[T]):\n    data: list[T]\n"
        "Listed = Page[Out]\n"
        "class Plain:\n    pass\n",
        module.__dict__,
    )
    module.Imported = BaseModel

    # A generic model parametrised here (``Page[Out]``) is a use, not a definition.
    assert pydantic_models_defined_in(module) == ["Out", "Page"]


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
        "from app.accounts import service as svc\nsvc.list_accounts(session)",
    ],
)
def test_allowed_imports_are_not_flagged(source: str) -> None:
    assert sql_building(source, imports_of(source, "app.api.x")) == []


def test_on_event_is_detected() -> None:
    source = "@app.on_event('startup')\ndef start():\n    pass\n"

    assert on_event_uses(source) == [1]
