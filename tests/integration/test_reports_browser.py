"""The demo's interactive reports in a real headless Chromium (Debian's package, driven by Playwright): they
render with no console error and no request leaving the page, the map draws Natural Earth land, and the filters,
the post panel and the tables show what the warehouse holds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser import browser, open_report
from tests.helpers import query

pytestmark = pytest.mark.integration
TABLE_LIMIT = 500  # rows report.js lists


@pytest.fixture(scope="module")
def chromium():
    with browser() as launched:
        yield launched


@pytest.fixture(scope="module")
def cluster_report(demo_home: Path, chromium):
    """The newest clustering run of the demo and its report opened in the browser."""
    run, relative = query(demo_home, "SELECT run, report_path FROM cluster_runs ORDER BY created_at DESC LIMIT 1")[0]
    opened = open_report(chromium, demo_home / relative)
    yield run, opened
    opened.page.close()


def _run_posts(home: Path, run: str, where: str = "true", params: list | None = None) -> int:
    return query(home, f"SELECT count(*) FROM cluster_assignments a JOIN posts p USING (post_id) "
                       f"WHERE a.run = ? AND NOT p.deleted AND {where}", [run, *(params or [])])[0][0]


def _matched(page) -> int:
    return int(page.locator("#post-count").get_attribute("data-matched"))


def test_cluster_report_renders_offline_and_its_map_draws_land(demo_home: Path, cluster_report) -> None:
    run, opened = cluster_report
    page = opened.page
    assert opened.errors == [] and opened.blocked == []
    land = page.evaluate("() => [...document.querySelectorAll('#cluster-map .geo .layer.land path')]"
                         ".map(p => (p.getAttribute('d') || '').length)")
    assert land and max(land) > 1000  # coastlines drawn from the inlined Natural Earth topology
    assert page.locator("#cluster-map .geo .layer.countries path").count() >= 1
    located = _run_posts(demo_home, run, "p.lat IS NOT NULL AND p.lon IS NOT NULL")
    assert located > 0
    assert page.locator("#cluster-map .scattergeo .point").count() == located
    assert page.locator("#cluster-space .scatterlayer .point").count() == _run_posts(demo_home, run)
    names = [row[0] for row in query(demo_home, "SELECT cluster_id || ' · ' || name FROM clusters WHERE run = ?",
                                     [run])]
    legend = page.locator("#cluster-space .legendtext").all_text_contents()
    assert sorted(legend) == sorted(names)


def test_cluster_report_filters_narrow_the_table_and_dim_the_plots(demo_home: Path, cluster_report) -> None:
    run, opened = cluster_report
    page = opened.page
    assert _matched(page) == _run_posts(demo_home, run)
    (cluster_id, size), = query(demo_home, "SELECT cluster_id, count(*) FROM cluster_assignments WHERE run = ? "
                                           "GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 1", [run])
    page.select_option("select[data-filter=cluster]", str(cluster_id))
    assert _matched(page) == size
    cells = page.locator("#post-table tbody tr td:first-child").all_text_contents()
    assert len(cells) == min(size, TABLE_LIMIT) and set(cells) == {str(cluster_id)}
    kept = page.evaluate("() => document.getElementById('cluster-space').data"
                         ".map(t => [t.name, (t.selectedpoints || []).length])")
    assert {name.split(" · ")[0]: count for name, count in kept if count} == {str(cluster_id): size}
    page.select_option("select[data-filter=cluster]", "")
    language = query(demo_home, "SELECT p.lang FROM cluster_assignments a JOIN posts p USING (post_id) WHERE a.run = ? "
                                "AND p.lang IS NOT NULL GROUP BY 1 ORDER BY count(*) DESC LIMIT 1", [run])[0][0]
    page.select_option("select[data-filter=lang]", language)
    assert _matched(page) == _run_posts(demo_home, run, "p.lang = ?", [language])
    page.fill("input[data-filter=text]", "zzzz-no-post-says-this")
    assert _matched(page) == 0 and page.locator("#post-table tbody tr").count() == 0
    page.fill("input[data-filter=text]", "")
    page.select_option("select[data-filter=lang]", "")
    assert _matched(page) == _run_posts(demo_home, run)
    day = query(demo_home, "SELECT strftime(quantile_disc(p.created_at, 0.5), '%Y-%m-%d') FROM cluster_assignments a "
                           "JOIN posts p USING (post_id) WHERE a.run = ?", [run])[0][0]
    page.fill("input[data-filter=time][data-bound=from]", day)
    assert _matched(page) == _run_posts(demo_home, run, "strftime(p.created_at, '%Y-%m-%d') >= ?", [day])
    page.fill("input[data-filter=time][data-bound=from]", "")
    page.fill("input[data-filter=time][data-bound=to]", day)
    assert _matched(page) == _run_posts(demo_home, run, "strftime(p.created_at, '%Y-%m-%d') <= ?", [day])
    page.fill("input[data-filter=time][data-bound=to]", "")
    assert opened.errors == []


def test_hovering_a_point_shows_its_post_and_a_row_shows_its_image(demo_home: Path, cluster_report) -> None:
    run, opened = cluster_report
    page = opened.page
    point = page.locator("#cluster-space .scatterlayer .point").first
    point.evaluate("point => point.scrollIntoView({block: 'center'})")
    box = point.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function("() => document.getElementById('post-panel').dataset.row !== undefined")
    payload = json.loads(page.locator("#report-posts").text_content())["posts"]
    row = int(page.locator("#post-panel").get_attribute("data-row"))
    post_id = payload["post_id"][row]
    assert f"post: {post_id}" in page.locator("#post-panel .meta").inner_text()
    assert query(demo_home, "SELECT cluster_id FROM cluster_assignments WHERE run = ? AND post_id = ?",
                 [run, post_id]) == [(payload["cluster"][row],)]
    text = query(demo_home, "SELECT text FROM posts WHERE post_id = ?", [post_id])[0][0]
    assert " ".join((text or "(no text)").split())[:40] in page.locator("#post-panel .text").inner_text()
    with_image = {row[0] for row in query(demo_home, "SELECT post_id FROM media WHERE status = 'stored'")}
    row = next(i for i, p in enumerate(payload["post_id"][:TABLE_LIMIT]) if p in with_image)
    page.locator(f"#post-table tbody tr[data-row='{row}']").click()
    assert page.locator("#post-panel img").evaluate("image => image.naturalWidth") > 0
    text_only = next(i for i, p in enumerate(payload["post_id"][:TABLE_LIMIT]) if p not in with_image)
    page.locator(f"#post-table tbody tr[data-row='{text_only}']").click()
    assert page.locator("#post-panel img").count() == 0
    assert opened.errors == [] and opened.blocked == []


def test_training_report_shows_every_variant_with_its_confusion_matrix(demo_home: Path, chromium) -> None:
    opened = open_report(chromium, demo_home / "reports" / "training" / "topic.html")
    page = opened.page
    assert opened.errors == [] and opened.blocked == []
    variants = [row[0] for row in query(
        demo_home, "SELECT variant FROM models WHERE kind = 'fusion' AND task = 'topic' GROUP BY variant")]
    assert sorted(page.locator("h2").all_text_contents()) == sorted(variants)
    with_confusion = query(demo_home, "SELECT count(DISTINCT model_id) FROM model_evaluations WHERE task = 'topic' "
                                      "AND split = 'test' AND condition = 'both' AND confusion IS NOT NULL")[0][0]
    assert with_confusion == len(variants)
    assert page.locator(".heatmaplayer").count() == len(variants)
    classes = query(demo_home, "SELECT count(DISTINCT label) FROM post_labels WHERE task = 'topic'")[0][0]
    first = page.locator(".cluster").first
    assert first.locator("tbody tr").count() == classes
    best = query(demo_home, "SELECT m.variant FROM models m JOIN model_evaluations e USING (model_id) "
                            "WHERE m.kind = 'fusion' AND m.task = 'topic' AND e.split = 'val' AND e.condition = 'both' "
                            "ORDER BY e.accuracy DESC, e.macro_f1 DESC, m.created_at DESC LIMIT 1")[0][0]
    starred = [row.locator("td").first.inner_text().replace("★", "").strip()
               for row in page.locator("table").first.locator("tbody tr").all() if "★" in row.inner_text()]
    assert starred == [best]
    opened.page.close()
