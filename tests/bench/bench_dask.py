"""Curate's partition tasks on a local Dask cluster of 1 vs 2 workers (docs/SCALING.md).

Run: ``.venv/bin/python tests/bench/bench_dask.py [--posts 10000]``. Posts: real TweetLID texts through
`ingest table`; curate with the langdetect detector (nothing cached for it, so every post is detected in the
partition tasks). Times are whole `postatlas curate --dask local:N --partitions 4` commands, startup included.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from tests.bench.corpus import SHARED_DATA  # noqa: E402

CLI = [sys.executable, "-m", "flows.cli"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--posts", type=int, default=10_000)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="postatlas-bench-dask-"))
    env = {**os.environ, "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
           "PREFECT_HOME": str(work / "prefect"), "POSTATLAS_HOME": str(work / "base")}
    lines = (SHARED_DATA / "tweetlid" / "train_complete_clean.txt").read_text(encoding="utf-8").splitlines()
    sample = work / "posts.tsv"
    sample.write_text("\n".join(lines[: args.posts]) + "\n", encoding="utf-8")
    subprocess.run([*CLI, "ingest", "table", str(sample), "--platform", "twitter", "--columns", "id,user,lang,text",
                    "--map", "id=id", "--map", "text=text", "--map", "author=user"], env=env, check=True,
                   capture_output=True)
    print("| workers | posts | curate s (langdetect, 4 partitions) |\n|---|---|---|")
    for workers in (1, 2):
        home = work / f"home-{workers}"
        shutil.copytree(work / "base", home)
        start = time.perf_counter()
        subprocess.run([*CLI, "curate", "--detector", "langdetect", "--dask", f"local:{workers}", "--partitions", "4"],
                       env={**env, "POSTATLAS_HOME": str(home)}, check=True, capture_output=True)
        print(f"| {workers} | {min(args.posts, len(lines)):,} | {time.perf_counter() - start:.1f} |", flush=True)
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
