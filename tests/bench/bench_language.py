"""Language filter benchmark on TweetLID: keep es/ca/en, drop pt/gl/eu, per detector and min_confidence.

Run: ``.venv/bin/python tests/bench/bench_language.py [--posts N]``. Labels: the single-language tweets
(es, pt, ca, en, gl, eu) give accuracy and recalls; tweets labelled with several languages ("es+ca" mixed,
"gl/pt" ambiguous) give the multi-language accuracy, where a tweet should be kept if any language is allowed;
``und`` and ``other`` are left out. Detection sees what the curate rule sees (``detection_text``).
Texts/s: one process, serial, each text once. The last line times the whole language rule (fast detector,
``detect_parallel`` with 2 processes) on N posts made distinct from TweetLID texts, with CPU seconds and
the load average, since wall time on a shared machine says little.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from pathlib import Path

import pyarrow as pa

from tasks.filters import (
    POST_SCHEMA,
    CurateConfig,
    FastDetector,
    LangdetectDetector,
    LanguageDetector,
    detection_text,
    language_rule,
)

TWEETLID = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tweetlid" / "train_complete_clean.txt"
ALLOWED = ("es", "ca", "en")
KNOWN = {"es", "pt", "ca", "en", "gl", "eu"}
THRESHOLDS = (0.01, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5)


def load(path: Path) -> list[tuple[str, str]]:
    """(label, text) pairs of the TweetLID file."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        _id, _user, label, text = line.split("\t", 3)
        rows.append((label, text))
    return rows


def split_labels(rows: list[tuple[str, str]]) -> tuple[list[tuple[bool, str]], list[tuple[bool, str]]]:
    """(should keep, text) for single-language and for multi-language tweets; und/other left out."""
    single, multi = [], []
    for label, text in rows:
        languages = set(label.replace("+", "/").split("/"))
        if not languages <= KNOWN:
            continue
        (single if len(languages) == 1 else multi).append((bool(languages & set(ALLOWED)), text))
    return single, multi


def allowed_probability(detector: LanguageDetector, texts: list[str]) -> tuple[list[float], float]:
    """p(allowed languages) per text, as the rule computes it, and the detector's texts/s."""
    cleaned = detection_text(pa.array(texts)).to_pylist()
    start = time.perf_counter()
    found = detector.detect(cleaned)
    rate = len(cleaned) / (time.perf_counter() - start)
    return [sum(p for code, p in f if code in ALLOWED) for f in found], rate


def scores(truth: list[bool], p_allowed: list[float], threshold: float) -> tuple[float, float, float]:
    """Accuracy, keep-recall and drop-recall of 'keep if p >= threshold'."""
    keep = [p >= threshold for p in p_allowed]
    right_keep = sum(k and t for k, t in zip(keep, truth, strict=True))
    right_drop = sum(not k and not t for k, t in zip(keep, truth, strict=True))
    return (right_keep + right_drop) / len(truth), right_keep / sum(truth), right_drop / (len(truth) - sum(truth))


def time_rule(texts: list[str], n_posts: int) -> tuple[float, float, float]:
    """Wall seconds, own CPU seconds and worker CPU seconds of language_rule (fast, 2 processes) on n_posts."""
    column = [f"{texts[i % len(texts)]} {i // len(texts)}" for i in range(n_posts)]
    data = {field.name: pa.nulls(n_posts, field.type) for field in POST_SCHEMA}
    data.update(post_id=pa.array([str(i) for i in range(n_posts)]), text=pa.array(column))
    posts = pa.table(data, schema=POST_SCHEMA)
    start, own, workers = time.perf_counter(), _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    language_rule(posts, CurateConfig(), FastDetector())
    return (
        time.perf_counter() - start,
        _cpu(resource.RUSAGE_SELF) - own,
        _cpu(resource.RUSAGE_CHILDREN) - workers,
    )


def _cpu(who: int) -> float:
    """User + system CPU seconds of this process or of its finished children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    """Print the accuracy table for both detectors and the rule's throughput."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=1_000_000, help="posts for the rule timing (0: skip)")
    args = parser.parse_args()
    single, multi = split_labels(load(TWEETLID))
    print(f"TweetLID: {len(single)} single-language tweets ({sum(t for t, _ in single)} to keep), "
          f"{len(multi)} multi-language ({sum(t for t, _ in multi)} to keep)")
    print("| detector | min_confidence | accuracy | keep-recall | drop-recall | multi-language accuracy | texts/s |")
    print("|---|---|---|---|---|---|---|")
    for detector in (FastDetector(), LangdetectDetector()):
        p_single, rate = allowed_probability(detector, [text for _, text in single])
        p_multi, _ = allowed_probability(detector, [text for _, text in multi])
        for threshold in THRESHOLDS:
            accuracy, keep_recall, drop_recall = scores([t for t, _ in single], p_single, threshold)
            multi_accuracy = scores([t for t, _ in multi], p_multi, threshold)[0]
            print(f"| {detector.name} | {threshold:.2f} | {accuracy:.3f} | {keep_recall:.3f} | {drop_recall:.3f} "
                  f"| {multi_accuracy:.3f} | {rate:,.0f} |")
    if args.posts:
        wall, own, workers = time_rule([text for _, text in single], args.posts)
        print(f"language rule, fast detector, 2 processes, {args.posts:,} distinct posts: {wall:.1f} s wall, "
              f"CPU {own:.1f} s in this process + {workers:.1f} s in the 2 workers (os.getloadavg: "
              f"{os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
