"""Post texts: sentences from the vocabularies, second sentences, emoji, mentions, hashtags, other-city spam."""

from __future__ import annotations

import random
import re

from tasks.demo.model import Post, User
from tasks.demo.places import CITY_BY_NAME, HOME_CITY, HOME_TAGS, SPAM_CITIES, City
from tasks.demo.vocabulary import (
    EMOJI,
    EXCLAIM,
    MAIN_VOCAB,
    OTHER_VOCAB,
    SHORT_CAPTIONS,
    SPAM_TAGS,
    SPAM_TEMPLATES,
    TOPIC_TAGS,
    WHEN,
    WHERE,
)


def _clean(text: str) -> str:
    """Collapse the gaps empty slots leave and capitalise the first letter."""
    text = re.sub(r"\s+", " ", text)
    text = re.sub(r"\s+([,.!?:])", r"\1", text)
    text = re.sub(r"([,:])(?=[.!?])", "", text).strip(" ,")
    for index, char in enumerate(text):
        if char.isalpha():
            return text[:index] + char.upper() + text[index + 1:]
    return text


def body(rng: random.Random, lang: str, topic: str, city: City) -> str:
    """One sentence about ``topic`` in ``lang``; main languages may name a spot of ``city``."""
    if lang not in MAIN_VOCAB:
        templates, phrases = OTHER_VOCAB[lang][topic]
        return _clean(rng.choice(templates).format(np=rng.choice(phrases)))
    templates, phrases, adjectives = MAIN_VOCAB[lang][topic]
    where = WHERE[lang].format(rng.choice(city.spots)) if rng.random() < 0.5 else ""
    return _clean(rng.choice(templates).format(
        np=rng.choice(phrases), adj=rng.choice(adjectives), where=where, when=rng.choice(WHEN[lang]),
        exclaim=rng.choice(EXCLAIM[lang])))


def _hashtags(rng: random.Random, post: Post) -> list[str]:
    """Hashtags for a tweet or caption (Barcelona posts may carry a home-city tag)."""
    if post.platform == "reddit":
        return []
    low, high = (0, 3) if post.platform == "twitter" else (2, 6)
    tags = rng.sample(TOPIC_TAGS[post.topic], rng.randint(low, high))
    if post.city.name == HOME_CITY and rng.random() < 0.5:
        tags.append(rng.choice(HOME_TAGS))
    return [tag.title() if rng.random() < 0.2 else tag for tag in tags]


def compose(rng: random.Random, post: Post, mentionable: list[User]) -> str | None:
    """The post's text for its kind (normal, short, empty, spam)."""
    if post.kind == "empty":
        return None
    if post.kind == "short":
        return rng.choice(SHORT_CAPTIONS[post.lang])
    if post.kind == "spam":
        return _spam_text(rng, post)
    text = body(rng, post.lang, post.topic, post.city)
    if rng.random() < (0.5 if post.platform == "reddit" else 0.3):
        text = with_second_sentence(rng, post, text)
    if rng.random() < 0.35 and post.platform != "reddit":
        text += " " + rng.choice(EMOJI[post.topic])
    if post.platform != "reddit" and rng.random() < 0.15:
        other = rng.choice([u for u in mentionable if u is not post.user] or mentionable)
        text = f"@{other.username} {text}" if rng.random() < 0.5 else f"{text} @{other.username}"
    tags = _hashtags(rng, post)
    if tags:
        text += ("\n\n" if post.platform == "instagram" else " ") + " ".join(f"#{tag}" for tag in tags)
    return text


def with_second_sentence(rng: random.Random, post: Post, first: str) -> str:
    """``first`` (closed with a full stop when it has no final punctuation), then another sentence on the topic."""
    second = first
    for _ in range(5):
        second = body(rng, post.lang, post.topic, post.city)
        if second != first:
            break
    return f"{first}{'' if first[-1:] in '.!?' else '.'} {second}"


def _spam_text(rng: random.Random, post: Post) -> str:
    """Other-city spam: a deal naming Madrid, Paris, London or New York in the text or the hashtags."""
    city, tag = rng.choice(SPAM_CITIES)
    post.spam_city = city
    _, phrases, _ = MAIN_VOCAB[post.lang][post.topic]
    if rng.random() < 0.6:
        text = _clean(rng.choice(SPAM_TEMPLATES[post.lang]).format(np=rng.choice(phrases), city=city))
        tags = [tag] + rng.sample(SPAM_TAGS, 2)
    else:  # the city only in a hashtag
        text = body(rng, post.lang, post.topic, CITY_BY_NAME[HOME_CITY])
        tags = [tag, tag + rng.choice(("food", "trip", "life"))] + rng.sample(SPAM_TAGS, 1)
    if post.platform == "reddit":
        return text if city in text else f"{text} ({city})"
    return text + " " + " ".join(f"#{t}" for t in tags)
