"""Reproduce docs/RESULTS.md (Learning I): paper 003's classifiers on MVSA-Single and TweetEval emotion.

Run: ``.venv/bin/python tests/bench/results_learning.py [--seeds 13,14,15] [--setups default,paper]
[--only mvsa|emotion] [--work DIR]``. Everything goes through the real CLI (`postatlas ingest`, `postatlas train
fusion`) into a scratch POSTATLAS_HOME; the scores are read back from the warehouse's model_evaluations table
and printed as markdown (mean and standard deviation over the seeds, and one row per seed).

Setups: `default` (no encoder flags: pretrained features), `paper` (`--text-encoder bag-max --image-encoder
scratch-cnn`, paper 003 from scratch), `e5` (`--text-encoder e5-small`), `ocr` (`--image-encoder
efficientnet-lite0+ocr`), `minilm+bag` (the previous optional encoder).

MVSA-Single: the 3,020 labelled posts, hashed 70 / 15 / 15 split, every variant, the probe and the ensemble.
TweetEval emotion (text only): the official train file, of which a hashed 15% selects epochs and variants, and the
official validation file as the held-out set (the split is given through a `split` label task, `--split-task
split`).
"""

from __future__ import annotations

import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

from models.split import assign_splits

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT.parent / "shared" / "data"
CLI = [sys.executable, "-m", "flows.cli"]
SETUPS = {
    "default": [],
    "paper": ["--text-encoder", "bag-max", "--image-encoder", "scratch-cnn"],
    "e5": ["--text-encoder", "e5-small"],
    "ocr": ["--image-encoder", "efficientnet-lite0+ocr"],
    "minilm+bag": ["--text-encoder", "minilm+bag"],
}
ORDER = ["image", "text", "late", "early", "joint", "common", "probe", "ensemble"]


def run(home: Path, *args: str, quiet: bool = False) -> None:
    """`postatlas ARGS` in a fresh process with POSTATLAS_HOME=home (its output hidden when quiet)."""
    env = {**os.environ, "POSTATLAS_HOME": str(home), "PREFECT_LOGGING_LEVEL": "WARNING"}
    print("$ postatlas " + " ".join(args), flush=True)
    subprocess.run([*CLI, *args], check=True, env=env, cwd=ROOT, stdout=subprocess.DEVNULL if quiet else None)


def tweeteval_table(folder: Path, target: Path) -> Path:
    """The official train and validation files as one TSV with id, text, label and split columns."""
    names = (folder / "mapping.txt").read_text().split("\n")
    mapping = dict(line.split("\t") for line in names if line.strip())
    rows = []
    for part in ("train", "val"):
        texts = (folder / f"{part}_text.txt").read_text(encoding="utf-8").split("\n")
        labels = (folder / f"{part}_labels.txt").read_text().split()
        ids = [f"{part}-{i}" for i in range(len(labels))]
        inner = assign_splits(ids, (0.85, 0.15, 0.0)) if part == "train" else ["test"] * len(ids)
        rows += [(i, t.strip(), mapping[label], split) for i, t, label, split in zip(ids, texts, labels, inner, strict=False)]
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, delimiter="\t")
        writer.writerow(("id", "text", "label", "split"))
        writer.writerows(rows)
    return target


def text_flags(flags: list[str]) -> list[str]:
    """The setup's flags without `--image-encoder X` (for the text-only task)."""
    pairs = list(zip(flags[::2], flags[1::2], strict=True))
    return [part for flag, value in pairs if flag != "--image-encoder" for part in (flag, value)]


def scores(home: Path, task: str) -> list[tuple]:
    con = duckdb.connect(str(home / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(
            """SELECT m.variant, json_extract_string(c.config, '$.text_encoder') || ' / '
                      || coalesce(json_extract_string(c.config, '$.image_encoder'), 'scratch-cnn'),
                      coalesce(json_extract_string(c.config, '$.train.seed')::INT, 0), e.split, e.condition,
                      e.accuracy, e.macro_f1, e.micro_f1, e.posts
               FROM models m JOIN model_evaluations e USING (model_id)
               -- an ensemble has the encoders and the seed of its first member
               JOIN models c ON c.model_id = coalesce(json_extract_string(m.config, '$.members[0]'), m.model_id)
               WHERE m.task = ?""", [task]).fetchall()
    finally:
        con.close()


def table(rows: list[tuple], split: str, title: str) -> str:
    """Markdown: per variant and encoder, mean (sd) over seeds of accuracy, macro-F1, micro-F1, one-modality acc."""
    groups: dict[tuple[str, str], dict[str, list[float]]] = {}
    for variant, encoder, _seed, row_split, condition, acc, macro, micro, _n in rows:
        if row_split != split:
            continue
        group = groups.setdefault((encoder, variant), {})
        if condition == "both":
            for name, value in (("acc", acc), ("macro", macro), ("micro", micro)):
                group.setdefault(name, []).append(100 * value)
        else:
            group.setdefault(condition, []).append(100 * acc)

    def cell(values: list[float] | None) -> str:
        if not values:
            return ""
        return f"{statistics.mean(values):.1f}" + (f" ({statistics.stdev(values):.1f})" if len(values) > 1 else "")

    lines = [f"### {title}", "", "| text / image encoder | variant | seeds | accuracy | macro-F1 | micro-F1 | "
             "acc. image only | acc. text only |", "|---|---|---|---|---|---|---|---|"]
    for encoder, variant in sorted(groups, key=lambda k: (k[0], ORDER.index(k[1]))):
        g = groups[(encoder, variant)]
        lines.append(f"| {encoder} | {variant} | {len(g['acc'])} | {cell(g['acc'])} | {cell(g['macro'])} | "
                     f"{cell(g['micro'])} | {cell(g.get('image_only'))} | {cell(g.get('text_only'))} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", default="13,14,15")
    parser.add_argument("--setups", default="default,paper", help=f"comma-separated, from {', '.join(SETUPS)}")
    parser.add_argument("--only", choices=("mvsa", "emotion"))
    parser.add_argument("--work", help="scratch folder (default: a temporary one)")
    parser.add_argument("--extra", default="", help="more `train fusion` options, space separated")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="postatlas-results-"))
    seeds, setups = args.seeds.split(","), args.setups.split(",")
    extra = args.extra.split()
    if args.only in (None, "mvsa"):
        home = work / "mvsa"
        if not (home / "warehouse.duckdb").exists():
            mvsa = DATA / "mvsa-single"
            run(home, "ingest", "mvsa", str(mvsa / "data"), "--labels", str(mvsa / "label" / "labels.csv"),
                "--task", "sentiment")
        for setup in setups:
            for seed in seeds:
                run(home, "train", "fusion", "--task", "sentiment", "--all-posts", *SETUPS[setup], "--seed", seed,
                    *extra)
        rows = scores(home, "sentiment")
        print(table(rows, "test", "MVSA-Single, test split (15% of the labelled posts)"))
        print(table(rows, "val", "MVSA-Single, validation split (15%)"))
    if args.only in (None, "emotion"):
        home = work / "emotion"
        if not (home / "warehouse.duckdb").exists():
            source = tweeteval_table(DATA / "tweeteval" / "emotion", work / "emotion.tsv")
            run(home, "ingest", "table", str(source), "--platform", "tweeteval", "--map", "id=id", "--map",
                "text=text", "--label", "emotion=label", "--label", "split=split")
        for setup in setups:
            for seed in seeds:
                run(home, "train", "fusion", "--task", "emotion", "--split-task", "split", "--variant", "text",
                    *text_flags(SETUPS[setup]), "--seed", seed, *extra)
        print(table(scores(home, "emotion"), "test", "TweetEval emotion, official validation split"))


if __name__ == "__main__":
    main()
