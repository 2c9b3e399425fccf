"""The layering of docs/ARCHITECTURE.md, checked on every import statement (lazy ones inside functions too).

flows -> tasks -> (storage, models); the command line (flows/cli/) is the only part of flows that reads the
warehouse; models and storage never import upwards; the pure normalizers and filters never touch the database.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("flows", "tasks", "storage", "models", "deployments")


def _imports(path: Path) -> set[str]:
    """Every module (or ``module.name`` for from-imports) ``path`` imports, wherever the statement sits."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def _modules(folder: str) -> list[Path]:
    return sorted((REPO / folder).rglob("*.py"))


def _violations(folder: str, forbidden: tuple[str, ...], allowed: tuple[str, ...] = (),
                skip: tuple[str, ...] = ()) -> list[str]:
    """``file: module`` for each import under ``folder`` of a ``forbidden`` prefix that no ``allowed`` prefix admits."""
    def matches(name: str, prefixes: tuple[str, ...]) -> bool:
        return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)

    bad = []
    for path in _modules(folder):
        relative = path.relative_to(REPO).as_posix()
        if any(relative.startswith(prefix) for prefix in skip):
            continue
        for name in sorted(_imports(path)):
            if matches(name, forbidden) and not matches(name, allowed):
                bad.append(f"{relative}: {name}")
    return bad


def test_the_walker_sees_lazy_imports(tmp_path: Path) -> None:
    module = tmp_path / "lazy.py"
    module.write_text("def f():\n    from storage.warehouse import writer\n    import duckdb\n")
    assert _imports(module) == {"storage.warehouse.writer", "duckdb"}


@pytest.mark.parametrize("folder, forbidden", [
    ("models", ("storage", "tasks", "flows", "deployments", "prefect", "prefect_dask", "duckdb")),
    ("storage", ("models", "tasks", "flows", "deployments", "prefect", "prefect_dask")),
    ("tasks", ("flows", "deployments")),
])
def test_dependencies_point_one_way(folder: str, forbidden: tuple[str, ...]) -> None:
    assert _violations(folder, forbidden) == []


def test_flows_only_compose_tasks() -> None:
    """Flow modules reach data through tasks: no database, no Arrow, no storage beyond the home object."""
    assert _violations("flows", ("duckdb", "pyarrow", "storage", "torch", "sklearn"), allowed=("storage.home",),
                       skip=("flows/cli/",)) == []


def _warehouse_names(path: Path) -> set[str]:
    """What ``path`` uses of storage.warehouse: imported names and ``warehouse.<name>`` attributes."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
             and node.module == "storage.warehouse" for alias in node.names}
    names |= {node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
              and isinstance(node.value, ast.Name) and node.value.id == "warehouse"}
    return names


def test_the_command_line_only_reads() -> None:
    """The CLI reads through named queries and a read-only connection; every write goes through a flow run."""
    assert _violations("flows/cli", ("duckdb", "pyarrow", "storage", "torch"),
                       allowed=("storage.home", "storage.queries", "storage.readers.ReaderError",
                                "storage.warehouse")) == []
    used = set().union(*(_warehouse_names(path) for path in _modules("flows/cli")))
    assert used <= {"reader", "analyst_reader", "status", "WarehouseBusy", "WarehouseError"}


PURE_TASKS = ("tasks/normalize", "tasks/filters")
POST_MODEL = ("storage.records", "storage.encoding")  # leaf modules: dataclasses and byte decoding, no I/O


def test_pure_tasks_touch_no_files_and_no_database() -> None:
    """Normalizers and filters take and return values; of storage they know only the post model."""
    for folder in PURE_TASKS:
        assert _violations(folder, ("storage", "duckdb", "prefect", "tasks.ingest", "tasks.curate_run"),
                           allowed=POST_MODEL) == []
    demo = [path for path in _modules("tasks/demo") if path.name != "run.py"]  # run.py is the demo's glue
    assert [f"{path.name}: {name}" for path in demo for name in _imports(path)
            if name.split(".")[0] in ("storage", "duckdb", "prefect", "models")] == []


def test_the_post_model_is_a_leaf() -> None:
    """storage.records and storage.encoding import nothing of the project, so pure code may share them."""
    for module in POST_MODEL:
        path = REPO / (module.replace(".", "/") + ".py")
        assert {name for name in _imports(path) if name.split(".")[0] in PACKAGES} == set()
