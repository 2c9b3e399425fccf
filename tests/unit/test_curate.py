"""The curate rules on small hand-made tables, plus the language rule on real TweetLID tweets."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tasks.curate_run import load_detector
from tasks.filters import (
    POST_SCHEMA,
    CurateConfig,
    FastDetector,
    LangdetectDetector,
    LanguageDetector,
    RuleCount,
    RuleResult,
    detect_parallel,
    run_rules,
    summarize,
    survivors,
    top_languages,
)
from tasks.filters.near_duplicates import greedy_near_duplicates, parse_phash

TWEETLID = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "tweetlid" / "train_complete_clean.txt"
needs_tweetlid = pytest.mark.skipif(not TWEETLID.exists(), reason=f"real data not found at {TWEETLID}")
START = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
TEXT = "una frase normal de prueba"


def posts(*rows: dict) -> pa.Table:
    """A posts table: row i is post "t:i" (from 1), by user "u1", created i minutes after START."""
    defaults = {
        "author_id": "u1",
        "text": TEXT,
        "hashtags": [],
        "lat": None,
        "lon": None,
        "has_image": False,
        "image_phash": None,
        "lang": None,
        "lang_confidence": None,
        "lang_detector": None,
        "is_repost": False,
        "repost_of": None,
    }
    full = [
        {**defaults, "post_id": f"t:{i}", "created_at": START + dt.timedelta(minutes=i), **row}
        for i, row in enumerate(rows, 1)
    ]
    return pa.Table.from_pylist(full, schema=POST_SCHEMA)


def run(table: pa.Table, *rules: str, detect: LanguageDetector | None = None, **options) -> list[RuleResult]:
    """run_rules with only ``rules`` and ``options``."""
    return run_rules(table, CurateConfig(rules=rules, **options), detect)


def decisions(result: RuleResult) -> dict[str, str | None]:
    """post_id -> drop reason for one rule; a kept post must have no reason, a dropped one must have one."""
    rows = list(zip(result.post_ids.to_pylist(), result.kept.to_pylist(), result.detail.to_pylist(), strict=True))
    assert all(kept == (detail is None) for _, kept, detail in rows), rows
    return {pid: detail for pid, _, detail in rows}


def only(table: pa.Table, rule: str, **options) -> dict[str, str | None]:
    """Decisions of a single rule run alone."""
    return decisions(run(table, rule, **options)[0])


def only_with(table: pa.Table, detector: FakeDetector, **options) -> dict[str, str | None]:
    """Decisions of the language rule alone with a given detector."""
    return decisions(run(table, "language", detect=detector, **{"detector": "fast", **options})[0])


class FakeDetector:
    """A detector with fixed answers per text that records what it was asked."""

    name = "fast"

    def __init__(self, answers: dict[str, list[tuple[str, float]]]) -> None:
        """Answer each text in ``answers`` with its list."""
        self.answers = answers
        self.asked: list[str] = []

    def detect(self, texts: list[str]) -> list[list[tuple[str, float]]]:
        """The fixed answers, remembering the question."""
        self.asked.extend(texts)
        return [self.answers[text] for text in texts]


def test_empty_drops_missing_and_blank_text() -> None:
    table = posts({"text": None}, {"text": "   "}, {"text": "\n\t"}, {"text": "hola"})
    assert only(table, "empty") == {"t:1": "no text", "t:2": "no text", "t:3": "no text", "t:4": None}


def test_min_words_ignores_urls_and_mentions_and_counts_hashtags() -> None:
    table = posts(
        {"text": "hola @ana http://t.co/x www.example.com"},
        {"text": "dos palabras"},
        {"text": "#uno #dos #tres"},
        {"text": "RT @bob: hola"},
        {"text": "@ana http://t.co/x"},
    )
    assert only(table, "min_words") == {
        "t:1": "1 words < 3",
        "t:2": "2 words < 3",
        "t:3": None,
        "t:4": "2 words < 3",
        "t:5": "0 words < 3",
    }
    assert only(table, "min_words", min_words=2)["t:2"] is None


def test_rules_see_only_survivors_of_earlier_rules() -> None:
    table = posts({"text": None}, {}, {}, {"author_id": "u2"}, {"author_id": "u2"}, {"author_id": "u2"})
    empty, per_user = run(table, "empty", "per_user", per_user_max=2)
    assert empty.post_ids.to_pylist() == ["t:1", "t:2", "t:3", "t:4", "t:5", "t:6"]
    assert decisions(per_user) == {
        "t:2": None,
        "t:3": None,
        "t:4": "user has 3 posts > 2",
        "t:5": "user has 3 posts > 2",
        "t:6": "user has 3 posts > 2",
    }


def test_summarize_and_survivors() -> None:
    table = posts({"text": None}, {"text": "dos palabras"}, {}, {"text": TEXT.upper()})
    results = run(table, "empty", "min_words", "duplicate")
    assert summarize(results) == [
        RuleCount("empty", evaluated=4, kept=3, dropped=1),
        RuleCount("min_words", evaluated=3, kept=2, dropped=1),
        RuleCount("duplicate", evaluated=2, kept=1, dropped=1),
    ]
    assert survivors(table, results)["post_id"].to_pylist() == ["t:3"]


def test_per_user_drop_lets_posts_without_author_pass() -> None:
    table = posts({"author_id": None}, {"author_id": None}, {"author_id": None}, {"author_id": "u2"})
    assert only(table, "per_user", per_user_max=1) == {"t:1": None, "t:2": None, "t:3": None, "t:4": None}


def test_per_user_rules_pass_a_batch_where_no_post_has_an_author() -> None:
    """MVSA and bulk tables carry no authors: no author is heavy (this crashed on an empty count table)."""
    table = posts({"author_id": None}, {"author_id": None})
    for mode in ("drop", "cap"):
        assert only(table, "per_user", per_user_mode=mode, per_user_max=1, per_user_cap=1) == {"t:1": None,
                                                                                             "t:2": None}


def test_per_user_cap_keeps_earliest_by_created_at_then_post_id() -> None:
    early, late = START, START + dt.timedelta(days=1)
    rows = [
        {"post_id": "a:4", "created_at": late},
        {"post_id": "a:2", "created_at": early},
        {"post_id": "a:3", "created_at": None},
        {"post_id": "a:1", "created_at": early},
        {"post_id": "b:1", "author_id": "u2"},
        {"post_id": "c:1", "author_id": None},
        {"post_id": "c:2", "author_id": None},
        {"post_id": "c:3", "author_id": None},
    ]
    expected = {
        "a:1": None,
        "a:2": None,
        "a:3": "user has 4 posts, beyond the first 2",
        "a:4": "user has 4 posts, beyond the first 2",
        "b:1": None,
        "c:1": None,
        "c:2": None,
        "c:3": None,
    }
    for seed in range(5):
        random.Random(seed).shuffle(rows)
        assert only(posts(*rows), "per_user", per_user_mode="cap", per_user_cap=2) == expected


@pytest.mark.parametrize(
    ("text", "hashtags", "reason"),
    [
        ("Fui a Madrid ayer", [], "names city 'madrid'"),
        ("De Madrid a Sevilla", ["sevilla"], "names city 'madrid'"),
        ("Barcelona és preciosa", [], None),
        ("Barcelone, la ville de Gaudí", [], None),
        ("Volviendo de Málaga", [], "names city 'malaga'"),
        ("volviendo de MALAGA!", [], "names city 'malaga'"),
        ("Los madrileños son majos", [], None),
        ("Amsterdammers everywhere", [], None),
        ("Otra foto #NewYork", [], "names city 'newyork'"),
        ("Otra foto", ["newyork"], "names city 'newyork'"),
        ("De vuelta de New-York", [], "names city 'new york'"),
        ("Hoy en http://madrid.example.com con @madrid", [], None),
        ("Gran victoria del equipo", [], None),
    ],
)
def test_city_spam(text: str, hashtags: list[str], reason: str | None) -> None:
    assert only(posts({"text": text, "hashtags": hashtags}), "city_spam") == {"t:1": reason}


def test_city_spam_home_cities_and_population_threshold() -> None:
    table = posts({"text": "Fui a Madrid ayer"}, {"text": "Barcelona és preciosa"}, {"text": "Paseo por Girona"})
    assert only(table, "city_spam", home_cities=("madrid",)) == {
        "t:1": None,
        "t:2": "names city 'barcelona'",
        "t:3": None,
    }
    assert only(table, "city_spam", city_min_population=100_000)["t:3"] == "names city 'girona'"


def test_require_names_every_missing_component() -> None:
    table = posts(
        {"has_image": True, "lat": 41.4, "lon": 2.2, "hashtags": ["bcn"]},
        {"has_image": False, "lat": None, "lon": 2.2},
        {"has_image": True, "lat": 41.4, "lon": 2.2, "text": " "},
    )
    assert only(table, "require", require=("image", "coordinates", "text")) == {
        "t:1": None,
        "t:2": "missing image, coordinates",
        "t:3": "missing text",
    }
    assert only(table, "require", require=("hashtags",))["t:2"] == "missing hashtags"
    assert set(only(table, "require").values()) == {None}


def test_bbox() -> None:
    table = posts({"lat": 41.4, "lon": 2.2}, {"lat": 40.4, "lon": -3.7}, {"lat": None, "lon": None})
    barcelona = (2.0, 41.2, 2.3, 41.5)
    assert only(table, "bbox", bbox=barcelona) == {"t:1": None, "t:2": "outside bbox", "t:3": None}
    assert only(table, "bbox", bbox=barcelona, bbox_keep_missing=False)["t:3"] == "no coordinates"
    assert set(only(table, "bbox").values()) == {None}
    pacific = posts({"lat": 0.0, "lon": 179.5}, {"lat": 0.0, "lon": -179.5}, {"lat": 0.0, "lon": 0.0})
    assert only(pacific, "bbox", bbox=(179.0, -1.0, -179.0, 1.0)) == {"t:1": None, "t:2": None, "t:3": "outside bbox"}


def test_duplicate_keeps_the_earliest_and_drops_reposts() -> None:
    table = posts(
        {"text": "Hola   MUNDO bonito http://t.co/b", "created_at": START + dt.timedelta(days=1)},
        {"text": "hola mundo bonito http://t.co/a"},
        {"text": "otra cosa distinta", "is_repost": True, "repost_of": "t:9"},
        {"text": "una cosa nueva", "is_repost": True},
        {"text": "http://t.co/x"},
        {"text": "https://t.co/y"},
    )
    assert only(table, "duplicate") == {
        "t:1": "duplicate of t:2",
        "t:2": None,
        "t:3": "repost of t:9",
        "t:4": "repost",
        "t:5": None,
        "t:6": None,
    }


def test_near_duplicate_image_distance_threshold() -> None:
    table = posts(
        {"has_image": True, "image_phash": "0000000000000000"},
        {"has_image": True, "image_phash": "0000000000000007"},
        {"has_image": True, "image_phash": "000000000000003f"},
        {"has_image": False},
        {"has_image": True, "image_phash": None},
        {"has_image": True, "image_phash": "0000000000000000"},
    )
    assert only(table, "near_duplicate_image") == {
        "t:1": None,
        "t:2": "image within 3 bits of t:1",
        "t:3": None,
        "t:4": None,
        "t:5": None,
        "t:6": "image within 0 bits of t:1",
    }
    assert only(table, "near_duplicate_image", phash_distance=6)["t:3"] == "image within 6 bits of t:1"


def test_near_duplicate_image_compares_with_kept_posts_only() -> None:
    # t:2 is 4 bits from t:1 and dropped; t:3 is 4 bits from t:2 but 8 from t:1, so no kept image is near it.
    table = posts(
        {"has_image": True, "image_phash": "0000000000000000"},
        {"has_image": True, "image_phash": "000000000000000f"},
        {"has_image": True, "image_phash": "00000000000000ff"},
    )
    assert only(table, "near_duplicate_image") == {"t:1": None, "t:2": "image within 4 bits of t:1", "t:3": None}


def test_near_duplicate_image_keeps_the_earliest_post() -> None:
    table = posts(
        {"has_image": True, "image_phash": "0000000000000001"},
        {"has_image": True, "image_phash": "0000000000000000", "created_at": START},
    )
    assert only(table, "near_duplicate_image") == {"t:1": "image within 1 bits of t:2", "t:2": None}


def test_greedy_near_duplicates_matches_brute_force() -> None:
    rng = np.random.default_rng(7)
    hashes = rng.integers(0, 2**63, 3000, dtype=np.int64).astype(np.uint64) << np.uint64(1)
    copies = rng.integers(0, 3000, 1500)
    flips = [sum(1 << int(b) for b in rng.choice(64, rng.integers(0, 7), replace=False)) for _ in copies]
    hashes = np.concatenate([hashes, hashes[copies] ^ np.array(flips, dtype=np.uint64)])
    rng.shuffle(hashes)
    expected = np.full(len(hashes), -1)
    for i, value in enumerate(hashes):
        for j in range(i):
            if expected[j] < 0 and int(value ^ hashes[j]).bit_count() <= 4:
                expected[i] = j
                break
    got = greedy_near_duplicates(hashes, 4)
    assert (got >= 0).sum() > 500
    np.testing.assert_array_equal(got, expected)


def test_parse_phash_reads_imagehash_hex_and_rejects_other_lengths() -> None:
    np.testing.assert_array_equal(parse_phash(pa.array(["ffffffffffffffff", "00000000000000A1"])), [2**64 - 1, 161])
    with pytest.raises(ValueError, match="16 hex digits"):
        parse_phash(pa.array(["fff"]))
    with pytest.raises(ValueError, match="hexadecimal"):
        parse_phash(pa.array(["zzzzzzzzzzzzzzzz"]))


def test_language_rule_uses_the_cache_only_where_it_decides() -> None:
    table = posts(
        {"text": "texto uno en cache", "lang": "es", "lang_confidence": 0.9, "lang_detector": "fast"},
        {"text": "texto dos en cache", "lang": "pt", "lang_confidence": 0.95, "lang_detector": "fast"},
        {"text": "texto tres", "lang": "es", "lang_confidence": 0.05, "lang_detector": "fast"},
        {"text": "texto tres", "lang": "es", "lang_confidence": 0.99, "lang_detector": "langdetect"},
        {"text": "@ana http://t.co/x 123 #"},
        {"text": "texto cuatro", "lang": "und", "lang_confidence": 0.0, "lang_detector": "fast"},
    )
    detector = FakeDetector({"texto tres": [("pt", 0.8), ("gl", 0.12), ("es", 0.08)]})
    (result,) = run(table, "language", detect=detector, detector="fast")
    assert detector.asked == ["texto tres"]
    assert decisions(result) == {
        "t:1": None,
        "t:2": "lang=pt p(allowed)<=0.05",
        "t:3": "lang=pt p(allowed)=0.08",
        "t:4": "lang=pt p(allowed)=0.08",
        "t:5": "lang=und p(allowed)=0.00",
        "t:6": "lang=und p(allowed)<=0.00",
    }
    assert result.lang.to_pylist() == ["es", "pt", "pt", "pt", "und", "und"]
    assert result.lang_confidence.to_pylist() == [0.9, 0.95, 0.8, 0.8, 0.0, 0.0]


def test_language_rule_sums_allowed_languages() -> None:
    detector = FakeDetector({"mezcla": [("pt", 0.6), ("es", 0.25), ("ca", 0.1)]})
    table = posts({"text": "mezcla"})
    assert only_with(table, detector, min_confidence=0.3) == {"t:1": None}
    assert only_with(table, detector, min_confidence=0.4) == {"t:1": "lang=pt p(allowed)=0.35"}
    assert only_with(table, detector, min_confidence=0.4, languages=("pt",)) == {"t:1": None}


def test_top_languages_gives_what_the_language_rule_caches() -> None:
    answers = {"hola amigos de aqui": [("es", 0.97), ("ca", 0.02)], "boa tarde amigos": [("pt", 0.96), ("es", 0.03)]}
    table = posts({"text": "hola amigos de aqui"}, {"text": "boa tarde  @ana amigos"}, {"text": "http://t.co/x 123"})
    lang, confidence = top_languages(table["text"], FakeDetector(answers))
    assert lang.tolist() == ["es", "pt", "und"] and confidence.tolist() == [0.97, 0.96, 0.0]
    (result,) = run(table, "language", detect=FakeDetector(answers), detector="fast")
    assert result.lang.to_pylist() == lang.tolist() and result.lang_confidence.to_pylist() == confidence.tolist()
    cached = table
    cache = {"lang": lang.tolist(), "lang_confidence": confidence.tolist(), "lang_detector": ["fast"] * 3}
    for name, values in cache.items():
        cached = cached.set_column(cached.schema.get_field_index(name), name, pa.array(values))
    silent = FakeDetector({})
    (again,) = run(cached, "language", detect=silent, detector="fast")
    assert silent.asked == [] and again.kept.to_pylist() == result.kept.to_pylist() == [True, False, False]


def test_all_rules_give_the_same_decisions_on_chunked_input() -> None:
    rows = [
        {"text": None},
        {"text": "hola"},
        {"text": "Fui a Madrid ayer"},
        {"text": TEXT, "has_image": True, "image_phash": "0000000000000000", "lat": 41.4, "lon": 2.2},
        {"text": TEXT.upper(), "author_id": "u2"},
        {"text": "otra frase de prueba", "has_image": True, "image_phash": "0000000000000001", "lat": 41.4, "lon": 2},
        {"text": "una frase mas larga aqui", "lat": 50.0, "lon": 2.2, "hashtags": ["bcn"]},
    ]
    detector = FakeDetector({row["text"]: [("es", 0.9)] for row in rows if row["text"] not in (None, "hola")})
    options = {"per_user_max": 4, "bbox": (2.0, 41.0, 3.0, 42.0), "detector": "fast"}
    whole = run_rules(posts(*rows), CurateConfig(**options), detector)
    table = posts(*rows)
    chunked = pa.Table.from_batches(table.to_batches(max_chunksize=2))
    assert chunked["text"].num_chunks > 1
    split = run_rules(chunked, CurateConfig(**options), detector)
    assert [decisions(r) for r in split] == [decisions(r) for r in whole]
    assert [(s.rule, s.evaluated, s.dropped) for s in summarize(whole)] == [
        ("empty", 7, 1),
        ("min_words", 6, 1),
        ("language", 5, 0),
        ("per_user", 5, 0),
        ("city_spam", 5, 1),
        ("require", 4, 0),
        ("bbox", 4, 1),
        ("duplicate", 3, 1),
        ("near_duplicate_image", 2, 1),
    ]


def test_config_and_inputs_are_checked() -> None:
    with pytest.raises(ValueError, match="rules"):
        CurateConfig(rules=("empty", "spam"))
    with pytest.raises(ValueError, match="require"):
        CurateConfig(require=("video",))
    with pytest.raises(ValueError, match="detector"):
        run(posts({}), "language", detect=FakeDetector({}), detector="langdetect")
    with pytest.raises(ValueError, match="unique"):
        run(posts({"post_id": "x"}, {"post_id": "x"}), "empty")
    with pytest.raises(ValueError, match="lack columns"):
        run(posts({}).drop_columns(["hashtags"]), "empty")


def test_detect_parallel_matches_serial(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tasks.filters.language.PARALLEL_MIN_TEXTS", 10)
    texts = [f"el texto número {i} de hoy" if i % 2 else f"the text number {i} of today" for i in range(40)]
    detector = FastDetector()
    assert detect_parallel(detector, texts, processes=2) == detector.detect(texts)


def test_langdetect_detector_returns_nothing_without_features() -> None:
    assert LangdetectDetector().detect(["12345 !!!", ""]) == [[], []]


def test_fast_detector_handles_newlines() -> None:
    (found,) = FastDetector().detect(["Hoy hace un día\nmuy bonito en la playa"])
    assert found[0][0] == "es" and len(found) == 3


def tweetlid_rows() -> list[list[str]]:
    """The TweetLID file as [id, user, lang, text] rows."""
    return [line.split("\t", 3) for line in TWEETLID.read_text(encoding="utf-8").splitlines()]


SAMPLE_IDS = {
    "447091593154396160": "es",
    "439890502595645441": "es",
    "445611675702812672": "ca",
    "440839095825481728": "ca",
    "449190314126094336": "en",
    "443827411948666880": "en",
    "442390425991909376": "pt",
    "439426853338894336": "pt",
    "440453334487818241": "gl",
    "447322220625690624": "gl",
    "442334314957914112": "eu",
    "449980963389702144": "eu",
}


@needs_tweetlid
@pytest.mark.parametrize("detector", ["stack", "fast", "langdetect"])
def test_language_rule_on_real_tweets(detector: str) -> None:
    rows = [row for row in tweetlid_rows() if row[0] in SAMPLE_IDS]
    table = posts(*({"post_id": row[0], "author_id": row[1], "text": row[3]} for row in rows))
    (result,) = run(table, "language", detect=load_detector(detector), detector=detector)
    kept = {pid for pid, keep in zip(result.post_ids.to_pylist(), result.kept.to_pylist(), strict=True) if keep}
    assert kept == {pid for pid, lang in SAMPLE_IDS.items() if lang in ("es", "ca", "en")}
    found = dict(zip(result.post_ids.to_pylist(), result.lang.to_pylist(), strict=True))
    assert {pid: found[pid] for pid in kept} == {pid: SAMPLE_IDS[pid] for pid in kept}


@pytest.mark.shared_data
@needs_tweetlid
def test_fast_detector_is_at_least_as_accurate_as_langdetect_on_tweetlid() -> None:
    rows = [row for row in tweetlid_rows() if row[2] in ("es", "ca", "en", "pt", "gl", "eu")]
    table = posts(*({"post_id": row[0], "text": row[3]} for row in rows))
    truth = np.array([row[2] in ("es", "ca", "en") for row in rows])
    accuracy = {}
    for detector in ("fast", "langdetect"):
        (result,) = run(table, "language", detector=detector)
        accuracy[detector] = (result.kept.to_numpy(zero_copy_only=False) == truth).mean()
    assert accuracy["fast"] >= accuracy["langdetect"], accuracy
    assert accuracy["fast"] > 0.85, accuracy
