"""PAN author files -> posts, the account and its gold labels; damaged files quarantined."""

from __future__ import annotations

import orjson

from storage.records import RawRecord
from tasks.normalize.pan import normalize_pan_author

XML = """<author lang="en">
\t<documents>
\t\t<document><![CDATA[RT @someone: Big news #Breaking]]></document>
\t\t<document><![CDATA[Just a thought about @Alice's idea]]></document>
\t</documents>
</author>"""


def record(xml: str, truth: str | None, author: str = "abc123") -> RawRecord:
    payload = orjson.dumps({"author": author, "xml": xml, "truth": truth})
    return RawRecord("/data/en/abc123.xml", "abc123.xml", payload, "pan")


def test_an_author_file_gives_posts_the_account_and_its_labels() -> None:
    parsed = normalize_pan_author(record(XML, "human:::female"))
    assert [p["post_id"] for p in parsed.posts] == ["pan:abc123-000", "pan:abc123-001"]
    assert {p["author_id"] for p in parsed.posts} == {"pan:abc123"}
    assert parsed.posts[0]["is_repost"] and parsed.posts[0]["hashtags"] == ["breaking"]
    assert parsed.posts[1]["mentions"] == ["alice"] and parsed.posts[1]["platform_lang"] == "en"
    assert parsed.users == [{"user_id": "pan:abc123", "platform": "pan", "native_id": "abc123"}]
    assert parsed.user_labels == [
        {"user_id": "pan:abc123", "task": "bots", "label": "human", "source": "pan-truth"},
        {"user_id": "pan:abc123", "task": "gender", "label": "female", "source": "pan-truth"},
    ]
    assert parsed.quarantine == []


def test_without_truth_the_account_comes_in_unlabelled() -> None:
    parsed = normalize_pan_author(record(XML, None))
    assert len(parsed.posts) == 2 and parsed.user_labels == []
    bot = normalize_pan_author(record(XML, "bot:::bot"))
    assert [(lab["task"], lab["label"]) for lab in bot.user_labels] == [("bots", "bot")]


def test_damaged_files_are_quarantined_with_their_reason() -> None:
    broken = normalize_pan_author(record("<author><documents><document>cut", "bot:::bot"))
    assert broken.posts == [] and broken.quarantine[0]["reason"] == "malformed_xml"
    odd = normalize_pan_author(record(XML, "robot:::bot"))
    assert len(odd.posts) == 2 and odd.user_labels == [] and odd.quarantine[0]["reason"] == "bad_label"
