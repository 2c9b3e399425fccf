"""The curate filters: pure, vectorised functions over an Arrow table of posts (no file or database I/O)."""

from tasks.filters.config import ALL_RULES, CurateConfig
from tasks.filters.language import (
    DETECTORS,
    FastDetector,
    LangdetectDetector,
    LanguageDetector,
    StackDetector,
    detect_parallel,
    detection_text,
    make_detector,
    top_languages,
)
from tasks.filters.rules import POST_SCHEMA, RuleCount, RuleResult, language_rule, run_rules, summarize, survivors

__all__ = [
    "ALL_RULES",
    "DETECTORS",
    "POST_SCHEMA",
    "CurateConfig",
    "FastDetector",
    "LangdetectDetector",
    "LanguageDetector",
    "StackDetector",
    "RuleCount",
    "RuleResult",
    "detect_parallel",
    "detection_text",
    "language_rule",
    "make_detector",
    "run_rules",
    "summarize",
    "survivors",
    "top_languages",
]
