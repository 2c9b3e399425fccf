"""Language filter benchmark on TweetLID: keep es/ca/en, drop pt/gl/eu; every detector, every step of the stack.

Run: ``.venv/bin/python tests/bench/bench_language.py [--posts N] [--folds 5] [--skip-accuracy]``.

Accuracy: the single-language tweets of the TweetLID train file (es, ca, en, pt, gl, eu); ``und``, ``other`` and
mixed labels are left out. Balanced accuracy = mean of keep-recall and drop-recall. Everything fitted is measured
out of fold, on folds grouped by author (``fit_language_model``'s own cross-validation), so a tweet is never
judged by a model that saw its author. The stack's threshold is chosen on the same folds (slightly optimistic;
the held-out figure is the one that counts). Prints the per-step table, the confusion matrix of the default and
a table of too-short posts (by letters) for docs/FILTERS.md.

Speed: the whole language rule (the default stack, 2 processes) on N posts made distinct from TweetLID texts, by
authors of 20 posts each, nothing cached; median of 3 runs, with CPU seconds and the load average.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from models.language_id import (
    CANDIDATES,
    DetectorSignals,
    balanced_accuracy,
    best_threshold,
    fit_language_model,
    normalise,
)
from tasks.curate_run import load_detector
from tasks.filters import POST_SCHEMA, CurateConfig, FastDetector, LangdetectDetector, detection_text
from tasks.filters.rules import language_rule

TWEETLID = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tweetlid" / "train_complete_clean.txt"
KEEP = ("es", "ca", "en")


def load() -> tuple[list[str], list[str], list[str]]:
    """Texts, labels and authors of the single-language TweetLID tweets in the six candidate languages."""
    rows = [line.split("\t", 3) for line in TWEETLID.read_text(encoding="utf-8").splitlines()]
    rows = [row for row in rows if len(row) == 4 and row[2] in CANDIDATES]
    return [row[3] for row in rows], [row[2] for row in rows], [row[1] for row in rows]


def p_keep_of(detector, texts: list[str]) -> tuple[np.ndarray, float]:
    """p(keep languages) per text from a whole-distribution detector, and its texts/s (one process)."""
    cleaned = detection_text(pa.array(texts)).to_pylist()
    start = time.perf_counter()
    found = detector.detect(cleaned)
    rate = len(texts) / (time.perf_counter() - start)
    return np.array([sum(p for code, p in ranked if code in KEEP) for ranked in found]), rate


def restricted(probabilities: np.ndarray) -> np.ndarray:
    """p(keep) when only the candidates count: their probabilities renormalised."""
    total = probabilities.sum(axis=1)
    return np.where(total > 0, probabilities[:, :3].sum(axis=1) / np.maximum(total, 1e-12), 0.0)


def lingua_p_keep(texts: list[str]) -> tuple[np.ndarray, float] | None:
    """lingua restricted to the candidates it knows (no Galician), high accuracy mode, and its texts/s (one
    thread); None if not installed."""
    try:
        from lingua import Language, LanguageDetectorBuilder
    except ImportError:
        return None
    known = [Language.SPANISH, Language.CATALAN, Language.ENGLISH, Language.PORTUGUESE, Language.BASQUE]
    detector = LanguageDetectorBuilder.from_languages(*known).build()
    keep = {Language.SPANISH, Language.CATALAN, Language.ENGLISH}
    start = time.perf_counter()
    found = [detector.compute_language_confidence_values(text) for text in texts]
    rate = len(texts) / (time.perf_counter() - start)
    return np.array([sum(v.value for v in values if v.language in keep) for values in found]), rate


def accuracy_table(folds: int) -> None:
    """Per-step balanced accuracy, out of fold, and the default's confusion matrix."""
    texts, labels, authors = load()
    should_keep = np.isin(labels, KEEP)
    print(f"TweetLID train: {len(texts)} single-language tweets in {len(set(authors))} accounts "
          f"({should_keep.sum()} to keep)\n")
    rows: list[tuple[str, float, float, str]] = []

    def add(step: str, p_keep: np.ndarray, threshold: float, rate: str = "") -> None:
        kept = p_keep >= threshold
        rows.append((step, balanced_accuracy(p_keep, should_keep, threshold), kept[should_keep].mean(),
                     (~kept[~should_keep]).mean(), rate))

    p, rate = p_keep_of(LangdetectDetector(), texts)
    add("langdetect (paper 001), p(keep) >= 0.10", p, 0.10, f"{rate:,.0f}")
    p, rate = p_keep_of(FastDetector(), texts)
    add("fastText lid.176 (`fast`), p(keep) >= 0.10", p, 0.10, f"{rate:,.0f}")
    signals = DetectorSignals(CANDIDATES)
    normalised = normalise(texts)
    start = time.perf_counter()
    features, foreign = signals.features(normalised)
    signal_rate = len(texts) / (time.perf_counter() - start)
    k = len(CANDIDATES)
    fasttext = np.exp(features[:, :k]) - 1e-4
    add("+ normalised text, restricted to the 6 candidates (argmax)", restricted(fasttext), 0.5,
        f"{signal_rate:,.0f} (fastText + CLD2)")
    cld = features[:, k + 1 : 2 * k + 1]
    add("CLD2 alone, restricted to the 6 candidates", restricted(cld), 0.5)
    lingua = lingua_p_keep(normalised)
    if lingua is not None:
        add("lingua alone, restricted to 5 candidates (it has no Galician)", lingua[0], 0.5, f"{lingua[1]:,.0f}")
    print(f"'other' (fastText >= 0.7 and CLD2 agree outside the candidates): {(foreign > 0).sum()} of "
          f"{len(texts)} candidate-language tweets")
    start = time.perf_counter()
    model, report = fit_language_model(texts, labels, authors, folds=folds, signals=signals)
    print(f"fit with {folds}-fold stacking: {time.perf_counter() - start:.0f} s")
    kept_class = np.isin(np.array(CANDIDATES), KEEP)
    add("character 1-4-gram logistic regression (fitted, out of fold)", report.char[:, kept_class].sum(1), 0.5)
    add("stage 1: fastText + CLD2 + character n-grams stacked", report.base[:, kept_class].sum(1), 0.5)
    p_final = report.context[:, kept_class].sum(1)
    add("stage 2: + the author's other posts (prior)", p_final, 0.5)
    threshold = float(model.threshold)
    add(f"+ threshold tuned on the folds (p(keep) >= {threshold:.2f}): the default `stack`", p_final, threshold)
    print("| step | balanced accuracy | keep-recall | drop-recall | texts/s (1 process) |")
    print("|---|---|---|---|---|")
    for step, balanced, keep_recall, drop_recall, speed in rows:
        print(f"| {step} | {balanced:.4f} | {keep_recall:.3f} | {drop_recall:.3f} | {speed} |")
    print(f"\n(the same on the fold's own best threshold: {balanced_accuracy(p_final, should_keep, best_threshold(p_final, should_keep)):.4f})")
    print("\nConfusion (rows: TweetLID label; columns: the stack's language, out of fold; kept = p(keep) >= threshold)")
    predicted = report.context.argmax(axis=1)
    print("| label | " + " | ".join(CANDIDATES) + " | kept | recall of keep/drop |")
    print("|---" * (k + 3) + "|")
    for i, code in enumerate(CANDIDATES):
        mine = report.labels == i
        counts = np.bincount(predicted[mine], minlength=k)
        kept_share = (p_final[mine] >= threshold).mean()
        right = kept_share if code in KEEP else 1 - kept_share
        print(f"| {code} | " + " | ".join(str(c) for c in counts) + f" | {kept_share:.3f} | {right:.3f} |")
    letters = pc.count_substring_regex(pa.array(normalised), r"\pL").to_numpy()
    print("\nShort posts (letters after normalisation), default stack out of fold")
    print("| letters | tweets | balanced accuracy |")
    print("|---|---|---|")
    for low, high in ((0, 10), (10, 20), (20, 40), (40, 10_000)):
        chosen = (letters >= low) & (letters < high)
        if chosen.sum() and should_keep[chosen].any() and (~should_keep[chosen]).any():
            score = balanced_accuracy(p_final[chosen], should_keep[chosen], threshold)
            print(f"| {low}-{high - 1 if high < 10_000 else ''} | {chosen.sum()} | {score:.4f} |")


def time_rule(n_posts: int, repeats: int) -> None:
    """Posts/s of the whole language rule with the default stack on 2 processes (median of ``repeats``)."""
    texts, _, _ = load()
    column = [f"{texts[i % len(texts)]} {i // len(texts)}" for i in range(n_posts)]
    data = {field.name: pa.nulls(n_posts, field.type) for field in POST_SCHEMA}
    data.update(post_id=pa.array([str(i) for i in range(n_posts)]), text=pa.array(column),
                author_id=pa.array([f"u{i // 20}" for i in range(n_posts)]))
    posts = pa.table(data, schema=POST_SCHEMA)
    detector = load_detector("stack")
    walls, own, workers = [], [], []
    for _ in range(repeats):
        start, cpu_self, cpu_children = time.perf_counter(), _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
        language_rule(posts, CurateConfig(), detector)
        walls.append(time.perf_counter() - start)
        own.append(_cpu(resource.RUSAGE_SELF) - cpu_self)
        workers.append(_cpu(resource.RUSAGE_CHILDREN) - cpu_children)
    wall = statistics.median(walls)
    print(f"\nlanguage rule, default stack, 2 processes, {n_posts:,} distinct posts: median {wall:.1f} s wall "
          f"= {n_posts / wall:,.0f} posts/s (runs: {', '.join(f'{w:.1f}' for w in walls)} s); CPU "
          f"{statistics.median(own):.1f} s in this process + {statistics.median(workers):.1f} s in the workers "
          f"(load average {os.getloadavg()[0]:.1f}, {os.cpu_count()} CPUs)")


def _cpu(who: int) -> float:
    """User + system CPU seconds of this process or of its finished children."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    """The accuracy tables, then the rule's throughput."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=200_000, help="posts for the rule timing (0: skip)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--skip-accuracy", action="store_true")
    args = parser.parse_args()
    if not args.skip_accuracy:
        accuracy_table(args.folds)
    if args.posts:
        time_rule(args.posts, args.repeats)


if __name__ == "__main__":
    main()
