"""Text handling shared by every backend: normalisation, trigrams and fuzzy scoring.

Titles and queries are compared in a normalised form (case-folded, accents removed,
punctuation turned into spaces) so that ``Amélie`` matches ``amelie`` on every backend;
the normalisation is the SDK's (:mod:`revenge_hookspecs.search`), shared with the test kit.
:func:`score` is the relevance the SQLite index ranks by; PostgreSQL computes its own
from ``pg_trgm`` and Typesense has its own, so scores only compare within one backend.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from difflib import SequenceMatcher

from revenge_hookspecs.search import MAX_QUERY_CHARS, normalize, normalize_query, searchable_text

MAX_QUERY_TRIGRAMS = 64
# An exact title beats every partial match.
EXACT_TITLE_SCORE = 2.0

__all__ = [
    "MAX_QUERY_CHARS",
    "allowed_typos",
    "coverage",
    "fts_match_expression",
    "normalize",
    "normalize_query",
    "query_trigrams",
    "score",
    "searchable_text",
    "typo_distance",
    "word_similarity",
]


def query_trigrams(text: str) -> list[str]:
    """The distinct trigrams of each word of a normalised query, in order.

    Words shorter than three characters have none; FTS5's trigram tokenizer cannot
    look them up, so they only count in :func:`score`.
    """
    seen: dict[str, None] = {}
    for word in text.split():
        for i in range(len(word) - 2):
            seen.setdefault(word[i : i + 3], None)
    return list(seen)[:MAX_QUERY_TRIGRAMS]


def fts_match_expression(text: str) -> str | None:
    """An FTS5 MATCH expression: any trigram of the query, each quoted as a string."""
    trigrams = query_trigrams(text)
    if not trigrams:
        return None
    return " OR ".join('"' + t.replace('"', '""') + '"' for t in trigrams)


def allowed_typos(word: str) -> int:
    """Typos tolerated in a query word, as Typesense does: none below 4 letters, 2 from 7."""
    return 0 if len(word) < 4 else 1 if len(word) < 7 else 2


def typo_distance(a: str, b: str, limit: int) -> int:
    """Edits (insert, delete, replace, swap neighbours) from ``a`` to ``b``; ``limit + 1`` if more."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > limit:
            return limit + 1
        previous2, previous = previous, current
    return min(previous[-1], limit + 1)


@functools.lru_cache(maxsize=200_000)
def word_similarity(query_word: str, word: str) -> float:
    """How well one query word matches one document word, 0 when they are different words."""
    if query_word == word:
        return 1.0
    if len(query_word) >= 3 and word.startswith(query_word):
        # Someone still typing: "matr" should find "matrix", just below an exact word.
        return 0.85 + 0.15 * len(query_word) / len(word)
    limit = allowed_typos(query_word)
    if not limit:
        return 0.0
    distance = typo_distance(query_word, word, limit)
    if distance > limit:
        return 0.0
    return 1.0 - distance / max(len(query_word), len(word))


def coverage(query_words: tuple[str, ...], words: Iterable[str]) -> float:
    """The share of the query (weighted by word length) that ``words`` match."""
    candidates = tuple(set(words))
    total = matched = 0.0
    for query_word in query_words:
        total += len(query_word)
        best = 0.0
        for word in candidates:
            best = max(best, word_similarity(query_word, word))
            if best == 1.0:
                break
        matched += len(query_word) * best
    return matched / total if total else 0.0


@functools.lru_cache(maxsize=256)
def _split(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def score(query: str, title: str, body: str, minimum: float = 0.0) -> float:
    """Relevance of a document to a normalised query; all three arguments are normalised.

    The title counts most: how much of the query its words match, plus how close the
    whole title is to the query (so "The Matrix" ranks above "The Matrix Reloaded"
    for "matrix"). Other searchable text can still carry a match, weighted lower.
    A caller that drops scores under ``minimum`` may pass it: a title that cannot reach it
    then skips the costly whole-title comparison (scores from ``minimum`` up are unchanged).
    """
    if not query:
        return 0.0
    if title == query:
        return EXACT_TITLE_SCORE
    query_words = _split(query)
    title_coverage = coverage(query_words, title.split())
    title_score = 0.0
    if title_coverage:
        matcher = SequenceMatcher(None, query, title, autojunk=False)
        # quick_ratio() and real_quick_ratio() are upper bounds of ratio(), cheapest last.
        if (0.7 * title_coverage + 0.3 * matcher.real_quick_ratio() >= minimum
                and 0.7 * title_coverage + 0.3 * matcher.quick_ratio() >= minimum):
            title_score = 0.7 * title_coverage + 0.3 * matcher.ratio()
    if title_coverage >= 1.0:
        return title_score
    body_score = 0.8 * coverage(query_words, body.split())
    return max(title_score, body_score)
