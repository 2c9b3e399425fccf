"""Human-readable summaries of runs for the terminal (rich tables)."""

from __future__ import annotations

import io
import sys
from collections.abc import Sequence
from dataclasses import asdict, astuple
from typing import TYPE_CHECKING

import orjson
import pyarrow as pa
import pyarrow.csv as pacsv
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tasks.collect.secrets import redact

if TYPE_CHECKING:  # the printers only read attributes; the reading commands must not import torch / detectors
    from storage.warehouse import WarehouseStatus
    from tasks.curate_run import CurateResult
    from tasks.demo.run import DemoSummary
    from tasks.featurize import Featurized
    from tasks.ingest import IngestTotals
    from tasks.language_fit import LanguageFit
    from tasks.learn.bots import BotPredictions, BotTraining
    from tasks.learn.fusion import FusionPredictions, FusionTraining
    from tasks.learn.joint import JointEmbedded, JointTraining
    from tasks.learn.joint_hashtags import ApplicationScores, HashtagPredictions
    from tasks.learn.joint_location import LocationPredictions
    from tasks.learn.joint_retrieval import RetrievalComparison

SKIPPED_SHOWN = 10  # skipped files named in the summary (all are counted, the first 100 kept in the ledger)


def _console() -> Console:
    """A console that does not squeeze tables to 80 columns when the output is a pipe or a file."""
    console = Console(soft_wrap=True)
    if not console.is_terminal:
        console = Console(soft_wrap=True, width=250)
    return console


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> Table:
    table = Table(title=title, title_justify="left", header_style="bold")
    for index, column in enumerate(columns):
        table.add_column(column, justify="right" if index else "left")
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    return table


def print_ingest_summary(totals: IngestTotals, warehouse: str, console: Console | None = None) -> None:
    """Posts per platform (read / new / duplicate), quarantine reasons, and where the data went."""
    console = console or _console()
    platforms = sorted(totals.by_platform)
    console.print(
        _table(
            "Ingested posts",
            ("platform", "read", "new"),
            [(p, totals.by_platform[p], totals.written_by_platform.get(p, 0)) for p in platforms],
        )
    )
    user_labels = f" + {totals.user_labels} of accounts" if totals.user_labels else ""
    console.print(
        f"read {totals.read} = new {totals.written} + duplicates {totals.duplicates} + quarantined "
        f"{totals.quarantined}; new users {totals.new_users}, labels {totals.labels}{user_labels}, "
        f"images stored {totals.media_stored}, deletions {totals.deletions}"
    )
    if totals.quarantine_reasons:
        console.print(
            _table("Quarantined (see the quarantine table)", ("reason", "rows"),
                   sorted(totals.quarantine_reasons.items(), key=lambda kv: -kv[1]))
        )
        console.print("[yellow]warning:[/] some input was quarantined; query: "
                      "postatlas sql \"select reason, location, detail from quarantine\"")
    if totals.skipped_files:
        shown = totals.skipped_files[:SKIPPED_SHOWN]
        more = len(totals.skipped_files) - len(shown)
        console.print(f"[yellow]warning:[/] skipped {len(totals.skipped_files)} file"
                      f"{'s' if len(totals.skipped_files) != 1 else ''} the format does not read: "
                      + escape("; ".join(shown)) + (f"; and {more} more" if more else ""))
    console.print(f"warehouse: {warehouse}")


def print_rule_summary(result: CurateResult, console: Console | None = None) -> None:
    """The per-rule discards table of a curate run (as in paper 001)."""
    console = console or _console()
    console.print(
        _table("Curate: posts evaluated, kept and dropped per rule (in order)", ("rule", "evaluated", "kept", "dropped"),
               [astuple(rule) for rule in result.rules])
    )
    console.print(f"in {result.read} = kept {result.kept} + filtered {result.filtered}")
    if result.full_reason is None:
        console.print(
            f"incremental: decided the posts new or changed since the last run and the {result.reopened} whose "
            f"decisions depend on them; {result.removed} deleted posts withdrawn; curated set: {result.curated} posts "
            "(`postatlas curate --full` decides every post again)"
        )
    else:
        console.print(f"full run ({result.full_reason}): decided every post; curated set: {result.curated} posts")


def print_rows(columns: Sequence[str], rows: Sequence[Sequence[object]], title: str = "") -> None:
    """Any query result as a table."""
    _console().print(_table(title, columns, rows))


def print_table(table: pa.Table, fmt: str) -> None:
    """An Arrow table as a table, CSV (with a header row) or JSON (a list of objects) on stdout."""
    if fmt == "csv":
        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer)
        sys.stdout.write(buffer.getvalue().decode())
    elif fmt == "json":
        sys.stdout.write(orjson.dumps(table.to_pylist(), default=str, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        print_rows(table.column_names, [list(row.values()) for row in table.to_pylist()])


def print_demo_summary(summary: DemoSummary, console: Console | None = None) -> None:
    """What the demo did: posts per platform, kept and dropped per rule, quarantined per reason, where it is."""
    console = console or _console()
    console.print(_table("Posts per platform", ("platform", "posts", "curated"), summary.platforms))
    print_rule_summary(summary.curate, console)
    if summary.quarantine:
        console.print(_table("Quarantined input, per reason", ("reason", "scope", "rows"), summary.quarantine))
    if summary.fusion and summary.predictions:
        print_fusion_summary(summary.fusion, console)
        print_prediction_summary(summary.predictions, summary.warehouse, console)
    clusters = summary.clusters
    if clusters:
        console.print(
            f"clusters: {clusters.n_clusters} ({clusters.method} method) of {clusters.posts} posts "
            f"embedded by {clusters.model_id}; silhouette {_score(clusters.silhouette)}, "
            f"ARI {_score(clusters.ari)}, NMI {_score(clusters.nmi)} against the '{clusters.label_task}' labels")
    console.print(f"warehouse: {summary.warehouse}")
    console.print('try: postatlas sql "select rule, count(*) from filter_decisions where not kept group by 1"')
    console.print('     postatlas sql "select label, count(*) from predictions group by 1"')
    if clusters:
        console.print('     postatlas sql "select cluster_id, size, top_terms from clusters order by size desc"')
        console.print(f"cluster report (interactive map and 2-D view; open it in a browser): {clusters.report_path}")


def _score(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def print_collect_summary(platform: str, totals, warehouse: str, console: Console | None = None) -> None:
    """Pages and posts read, new, duplicate, quarantined, images fetched, and why the run stopped."""
    console = console or _console()
    console.print(
        _table(f"Collected from {platform}", ("pages", "read", "new", "duplicates", "quarantined", "images"),
               [(totals.pages, totals.read, totals.written, totals.duplicates, totals.quarantined, totals.images)])
    )
    detail = f" ({redact(totals.stop_detail)})" if totals.stop_detail else ""
    console.print(f"stopped: {totals.stop_reason}{detail}; the next run continues from the stored cursor")
    if totals.image_failures:
        console.print(f"[yellow]warning:[/] images not fetched: {dict(totals.image_failures)}")
    console.print(f"warehouse: {warehouse}")


# ----------------------------------------------------------------------------- Prefect artifacts (UI)


def _markdown_table(columns: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join("" if v is None else str(v) for v in row) + " |" for row in rows]
    return redact("\n".join(lines))


def publish_ingest_artifacts(totals: IngestTotals) -> None:
    """New posts per platform and quarantine reasons, as a markdown artifact of the flow run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    platforms = sorted(totals.by_platform)
    markdown = (
        f"## Ingest\n\nread {totals.read} = new {totals.written} + duplicates {totals.duplicates} + "
        f"quarantined {totals.quarantined}\n\n"
        + _markdown_table(("platform", "read", "new"),
                          [(p, totals.by_platform[p], totals.written_by_platform.get(p, 0)) for p in platforms])
        + "\n\n### Quarantine reasons\n\n"
        + _markdown_table(("reason", "rows"), sorted(totals.quarantine_reasons.items(), key=lambda kv: -kv[1]))
    )
    if totals.skipped_files:
        markdown += (f"\n\n### Skipped {len(totals.skipped_files)} files the format does not read\n\n"
                     + "\n".join(f"- {name}" for name in totals.skipped_files[:100]))
    create_markdown_artifact(markdown, key="ingest-summary", description="posts read, new, duplicate, quarantined")
    create_table_artifact(
        [{"platform": p, "read": totals.by_platform[p], "new": totals.written_by_platform.get(p, 0)}
         for p in platforms],
        key="ingest-new-posts-per-platform",
    )


def publish_curate_artifacts(result: CurateResult) -> None:
    """Kept and dropped per rule, as markdown and table artifacts of the flow run."""
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    create_markdown_artifact(
        f"## Curate\n\nin {result.read} = kept {result.kept} + filtered {result.filtered}\n\n"
        + _markdown_table(("rule", "evaluated", "kept", "dropped"), [astuple(rule) for rule in result.rules]),
        key="curate-summary", description="posts kept and dropped per rule",
    )
    create_table_artifact([asdict(rule) for rule in result.rules], key="curate-rules")


def publish_collect_artifacts(platform: str, totals) -> None:
    """Pages, posts, images and the stop reason of a collect run, as a markdown artifact."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        f"## Collect {platform}\n\n"
        + _markdown_table(("pages", "read", "new", "duplicates", "quarantined", "images", "stopped"),
                          [(totals.pages, totals.read, totals.written, totals.duplicates, totals.quarantined,
                            totals.images, totals.stop_reason)])
        + (f"\n\n{redact(totals.stop_detail)}" if totals.stop_detail else ""),
        key=f"collect-{platform}-summary", description="pages and posts read, why the run stopped",
    )


FUSION_COLUMNS = ("variant", "accuracy", "macro-F1", "micro-F1", "acc. image only", "acc. text only",
                  "val. accuracy", "test posts", "model_id")


def fusion_rows(result: FusionTraining) -> list[tuple]:
    """Paper 003's Tables 4 and 5 in one: test scores with both modalities, then with one missing."""
    by_model: dict[str, dict[tuple[str, str], dict]] = {}
    for row in result.evaluations:
        by_model.setdefault(row["model_id"], {})[(row["split"], row["condition"])] = row

    def percent(value: float | None) -> str:
        return "" if value is None or value != value else f"{100 * value:.1f}"

    rows = []
    for variant, model_id in result.models.items():
        scores = by_model.get(model_id, {})
        both, image, text = (scores.get(("test", c), {}) for c in ("both", "image_only", "text_only"))
        val = scores.get(("val", "both"), {})
        rows.append((variant, percent(both.get("accuracy")), percent(both.get("macro_f1")),
                     percent(both.get("micro_f1")), percent(image.get("accuracy")), percent(text.get("accuracy")),
                     percent(val.get("accuracy")), both.get("posts", ""), model_id))
    return rows


def print_fusion_summary(result: FusionTraining, console: Console | None = None) -> None:
    """The variants' test scores (paper 003's Tables 4 and 5) and how `predict fusion` picks one."""
    console = console or _console()
    console.print(_table(f"Fusion classifiers for task {result.task!r} (held-out test split, %)",
                         FUSION_COLUMNS, fusion_rows(result)))
    console.print("Single-modality columns: the same test posts with the other modality removed (paper 003, "
                  "Table 5). `postatlas predict fusion` uses the model with the best validation accuracy (the ensemble: "
                  "the mean of the three best variants' probabilities, when it is best); spreads of every score in "
                  "model_evaluations (accuracy_sd, macro_f1_sd).")
    if result.report_path:
        console.print(f"report (confusion matrices, per-class scores, learning curves): {result.report_path}")


def publish_fusion_artifacts(result: FusionTraining) -> None:
    """The variants' test scores as a markdown artifact of the flow run."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        f"## Fusion classifiers: task {result.task}\n\n" + _markdown_table(FUSION_COLUMNS, fusion_rows(result)),
        key="train-fusion-summary", description="test accuracy and F1 per variant, and with a modality missing",
    )


def print_prediction_summary(result: FusionPredictions, warehouse: str, console: Console | None = None) -> None:
    """Predicted posts per label and per modalities present, and where they are."""
    console = console or _console()
    console.print(_table(f"Predictions for task {result.task!r} with {result.model_id} ({result.variant})",
                         ("label", "posts"), sorted(result.labels.items(), key=lambda kv: -kv[1])))
    console.print(f"predicted {result.predicted} posts without a gold label "
                  f"({', '.join(f'{k}: {v}' for k, v in sorted(result.modalities.items()))}); "
                  f"table predictions in {warehouse}")


def publish_prediction_artifacts(result: FusionPredictions) -> None:
    """Predicted posts per label as a markdown artifact of the flow run."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        f"## Predictions: task {result.task}\n\nmodel {result.model_id} ({result.variant}), "
        f"{result.predicted} posts\n\n"
        + _markdown_table(("label", "posts"), sorted(result.labels.items(), key=lambda kv: -kv[1])),
        key="predict-fusion-summary", description="predicted labels per class",
    )


FEATURIZE_COLUMNS = ("encoder", "posts", "already stored", "encoded now", "unreadable", "without input", "per second",
                     "device")


def featurize_rows(result: Featurized) -> list[tuple]:
    """One row per encoder; the counts add up to the posts."""
    return [(r.encoder, r.posts, r.already, r.encoded, r.unreadable, r.without_input,
             "" if r.per_second is None else f"{r.per_second:.1f}", r.device) for r in result.runs]


def print_featurize_summary(result: Featurized, warehouse: str, console: Console | None = None) -> None:
    """What each encoder did and where the vectors are."""
    console = console or _console()
    console.print(_table("Feature store", FEATURIZE_COLUMNS, featurize_rows(result)))
    console.print(f"posts = already stored + encoded now + unreadable + without input; vectors in the view "
                  f"post_features of {warehouse}")


def publish_featurize_artifacts(result: Featurized) -> None:
    """The per-encoder counts as a markdown artifact of the flow run."""
    from prefect.artifacts import create_markdown_artifact

    create_markdown_artifact(
        "## Feature store\n\n" + _markdown_table(FEATURIZE_COLUMNS, featurize_rows(result)),
        key="featurize-summary", description="posts encoded per frozen encoder",
    )


def print_language_fit(result: LanguageFit, console: Console | None = None) -> None:
    """Out-of-fold balanced accuracy per stage, recall per language, and where the model went."""
    console = console or _console()
    console.print(_table(
        f"Language model: keep {','.join(result.keep)}; out of fold (folds grouped by author)",
        ("stage", "balanced accuracy"), [(stage, f"{score:.4f}") for stage, score in result.balanced_accuracy.items()],
    ))
    console.print(_table("Recall per language", ("language", "posts", "recall"),
                         [(code, result.examples[code], f"{result.recall[code]:.3f}") for code in result.candidates]))
    console.print(f"saved {result.path}: use it with `postatlas curate --language-model {result.path}`")


def print_bot_training(result: BotTraining, console: Console | None = None) -> None:
    """Each method's cross-validated scores, and the model `predict bots` will use."""
    console = console or _console()
    accounts = ", ".join(f"{count} {label}" for label, count in sorted(result.accounts.items()))
    console.print(_table(
        f"Bot detection: {accounts} accounts, stratified cross-validation",
        ("method", "model", "accuracy", "F1 (bot)", "AUC"),
        [(r.method, r.model_id, f"{r.accuracy:.4f}", f"{r.f1:.4f}", f"{r.auc:.4f}") for r in result.methods],
    ))
    if result.joint_model:
        console.print(f"joint-* methods read the post vectors of joint model {result.joint_model} "
                      f"({result.without_vectors} accounts without one)")
    elif not result.joint_available:
        console.print("the paper's joint-knn / joint-cnn need a joint model: `postatlas train joint --all-posts` "
                      "first (they join by default once one exists)")
    console.print(f"`postatlas predict bots` uses {result.best} (best cross-validated accuracy of every registered "
                  "bots model)")


def print_bot_predictions(result: BotPredictions, console: Console | None = None) -> None:
    """How many accounts got each label, and where."""
    console = console or _console()
    counts = ", ".join(f"{count} {label}" for label, count in result.labels.items())
    console.print(f"{result.accounts} accounts without a gold label predicted by {result.model_id}: {counts}; "
                  f"rows in user_predictions (task bots)")


def print_joint_training(result: JointTraining, console: Console | None = None) -> None:
    """Posts per part, and the held-out retrieval scores (R@K in %, median rank)."""
    console = console or _console()
    state = "reused (same data and settings)" if result.reused else "trained"
    console.print(_table(
        f"Joint model {result.model_id} {state}: {result.posts} posts",
        ("part", "posts with it", "share"),
        [(part, result.part_posts.get(part, 0),
          f"{result.part_posts.get(part, 0) / max(result.posts, 1):.0%}") for part in result.parts],
    ))
    if result.test:
        console.print(_table(
            "Held-out retrieval (test split, folds of up to 1,000 posts; `others` = mean of the post's other parts)",
            ("query", "target", "R@1", "R@5", "R@10", "median rank", "queries"),
            [(r["query_part"], r["target_part"], f"{r['r1']:.1f}", f"{r['r5']:.1f}", f"{r['r10']:.1f}",
              f"{r['median_rank']:g}", r["queries"]) for r in result.test],
        ))
    if result.validation_recall_sum is not None:
        console.print(f"validation sum of recalls {result.validation_recall_sum:.1f}; embed with "
                      f"`postatlas embed --model {result.model_id}`")


def print_joint_embedded(result: JointEmbedded, console: Console | None = None) -> None:
    """What `embed` wrote with a joint model."""
    console = console or _console()
    console.print(_table(
        f"Joint embeddings of {result.model_id} (views `embedding_parts` per part, `embeddings` the post's mean)",
        ("", "value"),
        [("embedded now", result.embedded), ("embedded before", result.already_embedded),
         ("posts", f"{result.posts} {'curated ' if result.curated_only else ''}posts with a text or an image"),
         ("read", f"{result.read} posts without a vector, {result.location_pool} for their locations' means"),
         ("without a part", f"{result.without_parts} posts with no part the model reads (not embedded)"),
         *[(f"{part} vectors", count) for part, count in result.part_vectors.items()],
         ("dimensions", result.dimensions)],
    ))


def print_retrieval_comparison(result: RetrievalComparison, console: Console | None = None) -> None:
    """Paper 002's Tables 2 and 3: image -> text and text -> image on the test split, model beside baselines."""
    console = console or _console()
    console.print(_table(
        "Image <-> text retrieval on the held-out test posts (R@K in %, folds of up to 1,000 posts)",
        ("direction", "model", "R@1", "R@5", "R@10", "median rank", "queries", "model id"),
        [(f"{r['query_part']} -> {r['target_part']}", r["model"], f"{r['r1']:.1f}", f"{r['r5']:.1f}",
          f"{r['r10']:.1f}", f"{r['median_rank']:g}", r["queries"], r["model_id"]) for r in result.rows],
    ))
    console.print("rows in retrieval_evaluations (split test); the baselines are registered models "
                  "(`postatlas models`)")


def print_hashtag_predictions(result: HashtagPredictions, console: Console | None = None) -> None:
    """How many posts got hashtags, and the most recommended first choices."""
    console = console or _console()
    top = ", ".join(f"#{tag} {count}" for tag, count in result.top_tags) or "none"
    console.print(f"{result.predicted} of {result.posts} posts without hashtags got {result.k} hashtags each from "
                  f"{result.candidates} candidates (model {result.model_id}); rows in predictions (task hashtags, "
                  f"rank 1..{result.k}). Most recommended first: {top}")


def print_application_scores(result: ApplicationScores, console: Console | None = None) -> None:
    """An application's metrics, one column per method (rows in application_evaluations)."""
    console = console or _console()
    methods = list(dict.fromkeys(row["method"] for row in result.rows))
    metrics = list(dict.fromkeys(row["metric"] for row in result.rows))
    value = {(row["method"], row["metric"]): row["value"] for row in result.rows}
    console.print(_table(
        f"{result.application}: {result.posts} held-out test posts (model {result.model_id})",
        ("metric", *methods),
        [(metric, *(f"{value[(method, metric)]:.3f}" for method in methods)) for metric in metrics],
    ))
    console.print("rows in application_evaluations")


def print_location_predictions(result: LocationPredictions, console: Console | None = None) -> None:
    """How many posts got a city, and the most predicted ones."""
    console = console or _console()
    top = ", ".join(f"{city} {count}" for city, count in result.top_cities) or "none"
    console.print(f"{result.predicted} of {result.posts} posts without coordinates got a city (fitted on "
                  f"{result.trained_on} posts with coordinates, {result.cities} cities; model {result.model_id}); "
                  f"rows in predictions (task location, lat, lon). Most predicted: {top}")


def _size(count: int | None) -> str:
    return "-" if count is None else f"{count / 2**20:,.1f} MiB"


def print_status(status: WarehouseStatus, console: Console | None = None) -> None:
    """The live warehouse and its writer, the analyst copy and its age, the runs the copy shows going."""
    from datetime import UTC, datetime

    console = console or _console()
    age = (f"{(datetime.now(UTC) - status.published_at).total_seconds():,.0f} s ago "
           f"({status.published_at:%Y-%m-%d %H:%M:%S %Z}, run {status.published_by or '-'})"
           if status.published_at else "never (the first run that writes publishes it)")
    lines = (("live file", f"{status.live} ({_size(status.live_bytes)})"),
             ("writing now", status.writer or "nobody"),
             ("analyst copy", f"{status.copy} ({_size(status.copy_bytes)})"),
             ("published", age),
             ("posts in the copy", "-" if status.posts is None else f"{status.posts:,}"))
    for name, value in lines:
        console.print(f"[bold]{name + ':':<18}[/bold] {escape(value)}", highlight=False)
    if status.running:
        console.print(_table("Runs going at the last publication", ("run", "flow", "started"),
                             [(run[:8], flow, f"{started:%Y-%m-%d %H:%M:%S}") for run, flow, started in status.running]))
    console.print("`postatlas sql` reads the analyst copy; `postatlas sql --live` the live file (waiting for a writer)")
