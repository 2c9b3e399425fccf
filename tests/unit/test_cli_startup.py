"""Every `postatlas` command builds the whole parser first: doing so must not import the heavy libraries."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_building_the_parser_imports_no_torch_sklearn_or_prefect() -> None:
    code = ("import sys; from flows.cli import build_parser; build_parser(); "
            "print(','.join(m for m in ('torch', 'sklearn', 'prefect', 'duckdb') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""
