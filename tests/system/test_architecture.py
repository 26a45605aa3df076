"""The shape of the code (DEVELOPERS.md "Layout", issue 9): no import cycles, services depend on
contracts and the platform but not on each other, domain code has no framework imports, bench
does not import tests, and one composition root starts and stops the background tasks."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from insats.bootstrap import build
from services.lifecycle.store import StoreConfig
from services.platform.clock import Clock

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contracts", "services", "insats")
# eventsourcing is not among them: its `Aggregate` is the domain's chosen aggregate style.
FRAMEWORKS = ("fastapi", "starlette", "pydantic", "psycopg", "sqlite3", "typer", "jinja2")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def first_party_modules() -> dict[str, Path]:
    return {
        module_name(path): path for package in PACKAGES for path in (ROOT / package).rglob("*.py")
    }


MODULES = frozenset(first_party_modules())


def imports_of(path: Path) -> Iterator[str]:
    """Every module `path` imports, at the top or deferred inside a function or under
    TYPE_CHECKING: a deferred import hides a cycle, it does not remove it."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module_name(path) if path.name == "__init__.py" else module_name(path.parent)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names = [f"{base}.{alias.name}" for alias in node.names]
            # `from package import submodule` depends on the submodule; `from module import
            # name` on the module.
            submodules = [name for name in names if name in MODULES]
            yield from submodules if submodules else [base]


def import_graph() -> dict[str, set[str]]:
    return {
        name: {target for target in imports_of(path) if target in MODULES} - {name}
        for name, path in first_party_modules().items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_cycles() -> None:
    assert cycles(import_graph()) == []


def test_a_service_imports_contracts_and_the_platform_but_no_other_service() -> None:
    crossing = []
    for name, targets in import_graph().items():
        parts = name.split(".")
        if parts[0] != "services" or len(parts) < 2 or parts[1] == "platform":
            continue
        for target in targets:
            other = target.split(".")
            if other[0] == "services" and other[1] not in (parts[1], "platform"):
                crossing.append(f"{name} -> {target}")
            if other[0] == "insats":
                crossing.append(f"{name} -> {target}")
    assert crossing == []


def test_domain_code_has_no_framework_imports() -> None:
    domain = [
        *(ROOT / "services" / "lifecycle" / "domain").rglob("*.py"),
        ROOT / "contracts" / "journey.py",
    ]
    found = [
        f"{module_name(path)} -> {target}"
        for path in domain
        for target in imports_of(path)
        if target.split(".")[0] in FRAMEWORKS
    ]
    assert found == []


def test_bench_does_not_import_tests() -> None:
    found = [
        f"{path.name} -> {target}"
        for path in (ROOT / "bench").rglob("*.py")
        for target in imports_of(path)
        if target.split(".")[0] == "tests"
    ]
    assert found == []


def test_the_csv_export_does_not_load_matplotlib() -> None:
    code = (
        "import sys\n"
        "from services.statistics.export import render_csv\n"
        "import services.statistics.service\n"
        "render_csv({'group_by': 'insats', 'groups': {}}, {})\n"
        "print('matplotlib' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@pytest.fixture
def sqlite_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StoreConfig:
    monkeypatch.setenv("INSATS_PERSON_KEY", "ab" * 32)
    return StoreConfig(sqlite_file=tmp_path / "insats.db")


def test_one_clock_reaches_every_part_of_the_service(sqlite_config: StoreConfig) -> None:
    day = date(2031, 5, 17)
    container = build(sqlite_config, clock=Clock.fixed(day))
    try:
        assert container.lifecycle.today() == day
        assert container.alerts.today() == day
        assert container.statistics.today() == day
        assert container.payments.today() == day
        assert container.scheduler.today() == day
    finally:
        container.close()


def test_the_container_starts_and_stops_its_background_tasks(sqlite_config: StoreConfig) -> None:
    container = build(sqlite_config, clock=Clock.fixed(date(2031, 5, 17)))
    try:
        assert [task.name for task in container.background_tasks] == [
            "feed",
            "merkle-log",
            "alerts-daily-scan",
            "daily-checkpoint",
        ]
        container.start()
        assert all(task.running for task in container.background_tasks)  # type: ignore[attr-defined]
        container.stop()
        assert not any(task.running for task in container.background_tasks)  # type: ignore[attr-defined]
    finally:
        container.close()
