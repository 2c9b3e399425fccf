"""What every `postatlas` command imports before its work: the parser and the nightly flows stay off heavy libraries."""

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


def test_the_ingest_and_curate_flows_import_no_torch_or_sklearn() -> None:
    """Both run on every night; scikit-learn is for fitting the language model only, torch for the models."""
    code = ("import sys; import flows.ingest, flows.curate; "
            "print(','.join(m for m in ('torch', 'sklearn') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == ""
