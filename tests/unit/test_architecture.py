"""Imports run one way through the house (DESIGN.md §3), and nothing reaches into another package's privates.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``): the tiers above the kernel, each importing
only downward (``bench`` → ``province_center`` → ``city_aggregator`` → ``county_node`` → ``sync_agent`` |
``security`` | ``migrations`` → ``federation``, the three in the middle independent of each other), the demo above
the province's own code, and no cycle between sibling modules or packages anywhere. ``make lint`` runs the same
contracts with ``lint-imports``.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("federation", "county_node", "city_aggregator", "province_center", "sync_agent", "security", "migrations")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the packages found first on the path at ``root`` (a copy shadows the installed ones)."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_import_contracts_are_kept() -> None:
    done = _lint_imports(REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout, done.stdout


@pytest.fixture(scope="module")
def house_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped packages and the contracts, copied, so a test can break them without touching the checkout."""
    root = tmp_path_factory.mktemp("house")
    for package in (*PACKAGES, "bench"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.mark.parametrize(
    ("module", "line", "expected"),
    [
        # the kernel reaching up into a tier: the cycle of old (federation.storage → sync_agent) and worse
        ("federation/timeutil.py", "import county_node.bootstrap", "federation is not allowed to import county_node"),
        # a lower tier reaching up
        ("county_node/standards_validation.py", "import city_aggregator", "county_node is not allowed to import"),
        # the sync agent importing a tier (it is handed its appliers instead)
        ("sync_agent/backoff.py", "import province_center", "sync_agent is not allowed to import province_center"),
        # a circle inside one package
        ("federation/identities.py", "import federation.config", "No cycles are allowed in federation"),
    ],
)
def test_an_upward_import_or_a_cycle_breaks_a_contract(house_copy: Path, module: str, line: str, expected: str) -> None:
    path = house_copy / module
    original = path.read_text(encoding="utf-8")
    path.write_text(original + f"\n{line}  # added by the test\n", encoding="utf-8")
    try:
        done = _lint_imports(house_copy)
    finally:
        path.write_text(original, encoding="utf-8")
    assert done.returncode != 0, done.stdout
    assert expected in done.stdout, done.stdout


def _private_imports(path: Path, package: str) -> list[str]:
    """``from X import _name`` where X lies outside ``package`` (the importer's own top-level package)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            top = node.module.split(".")[0]
            if top in PACKAGES and top != package:
                found += [
                    f"{path.relative_to(REPO)}:{node.lineno} {node.module}.{a.name}"
                    for a in node.names
                    if a.name.startswith("_") and not a.name.startswith("__")
                ]
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [
                f"{path.relative_to(REPO)}:{node.lineno} {name}"
                for name in names
                if name.split(".")[0] in PACKAGES
                and name.split(".")[0] != package
                and any(part.startswith("_") and not part.startswith("__") for part in name.split("."))
            ]
    return found


def test_no_package_imports_another_packages_private_names() -> None:
    offences = [
        hit
        for package in (*PACKAGES, "bench")
        for path in sorted((REPO / package).rglob("*.py"))
        if "/wire/" not in str(path)
        for hit in _private_imports(path, package)
    ]
    assert offences == [], "private names of another package imported:\n" + "\n".join(offences)


def _module_cycles(graph: Any, modules: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root) & modules)))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child) & modules))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    cycles.append(sorted(component))
    return cycles


def test_no_module_imports_itself_through_others() -> None:
    """No circle of modules anywhere — the two of old (county bootstrap ↔ orders, standards ↔ scoring rules)
    included — counting imports made only for type checking too."""
    import grimp

    graph = grimp.build_graph(*PACKAGES, "bench", exclude_type_checking_imports=False)
    modules = {m for m in graph.modules if m.split(".")[0] in {*PACKAGES, "bench"}}
    cycles = _module_cycles(graph, modules)
    assert cycles == [], "import cycles: " + "; ".join(" ↔ ".join(c) for c in cycles)


def test_the_cycle_check_finds_a_cycle() -> None:
    """The check above is not vacuous: a graph with a circle of three modules is reported."""
    import grimp

    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")):
        graph.add_import(importer=a, imported=b)
    assert _module_cycles(graph, set(graph.modules)) == [["p.a", "p.b", "p.c"]]
