"""`postatlas ingest pan-authors` on real PAN 2019 author files: posts, accounts, user labels, reruns."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.cli import main
from tests.helpers import counts_add_up, query

pytestmark = pytest.mark.integration


def test_pan_folder_with_and_without_truth(home: Path, tmp_path: Path, shared_data: Path, prefect_server) -> None:
    source = shared_data / "pan19-bots" / "en"
    truth = dict(line.split(":::", 1) for line in (source / "truth.txt").read_text().splitlines())
    files = sorted(source.glob("*.xml"))[:6]
    labelled, unlabelled = tmp_path / "labelled", tmp_path / "unlabelled"
    labelled.mkdir()
    unlabelled.mkdir()
    for file in files[:4]:
        shutil.copy(file, labelled)
    for file in files[4:]:
        shutil.copy(file, unlabelled)
    (labelled / "truth.txt").write_text("".join(f"{f.stem}:::{truth[f.stem]}\n" for f in files[:4]))
    (unlabelled / "broken.xml").write_text("<author><documents><document>cut short")

    assert main(["ingest", "pan-authors", str(labelled), str(unlabelled)]) == 0
    documents = sum(f.read_text().count("<document>") for f in files)
    assert query(home, "SELECT count(*), count(DISTINCT author_id) FROM posts WHERE platform = 'pan'") == [
        (documents, 6)]
    expected = sorted((f"pan:{f.stem}", "bots", truth[f.stem].split(":::")[0]) for f in files[:4])
    assert query(home, "SELECT user_id, task, label FROM user_labels WHERE task = 'bots' ORDER BY 1") == expected
    assert query(home, "SELECT native_id FROM users ORDER BY 1") == sorted((f.stem,) for f in files)
    assert query(home, "SELECT reason FROM quarantine") == [("malformed_xml",)]
    assert counts_add_up(home) == []
    before = query(home, "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM user_labels)")
    assert main(["ingest", "pan-authors", str(labelled), str(unlabelled)]) == 0
    assert query(home, "SELECT (SELECT count(*) FROM posts), (SELECT count(*) FROM user_labels)") == before
