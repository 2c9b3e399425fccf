"""Fixtures shared by the integration tests."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest

from flows.cli import main
from tests.helpers import DEMO_POSTS, DEMO_SEED


@pytest.fixture(scope="session")
def demo_home(tmp_path_factory: pytest.TempPathFactory, prefect_server) -> Path:
    """A home after `postatlas demo` (every reader, curate, fusion training, clustering, the reports); tests that
    change it put it back."""
    home = tmp_path_factory.mktemp("demo")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("POSTATLAS_HOME", str(home))
        output = io.StringIO()
        with contextlib.redirect_stdout(output):
            assert main(["demo", "--posts", str(DEMO_POSTS), "--seed", str(DEMO_SEED)]) == 0
    (home / "demo-output.txt").write_text(output.getvalue(), encoding="utf-8")
    return home
