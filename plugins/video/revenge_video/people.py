"""Person search documents, shared by the movies and TV plugins.

A person spans libraries, but the search index scopes each document to at most one library
(the reserved ``library_id``), and documents without one are visible to everyone who may
search. So a person is indexed once **per library** they are credited in: the document
``"<person_id>-<library_id>"`` carries that ``library_id`` and lists only what they appear in
there (``known_for``). The core's library restriction then hides exactly the documents of
libraries a caller may not see; someone credited only in such libraries is not found at all,
and titles of hidden libraries never show in a visible document.

Each plugin keeps its own people table and registers its own document type (two plugins
cannot share a type name); this module holds what is the same for both: the fields, the ids,
how credits become documents and the paging ``load_all`` of ``revenge search reindex``.
A plugin supplies ``credits_of(person_ids)``, a blocking function returning
:data:`CreditRow` tuples for those people, and runs the blocking functions here on its
database thread.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from revenge_hookspecs import SearchDocumentType, SearchField
from revenge_hookspecs.search import normalize

__all__ = ["BATCH", "FIELDS", "MAX_KNOWN_FOR", "CreditRow", "Pair", "build", "document_id", "document_type",
           "refreshed"]

FIELDS = (
    SearchField("known_for", "string[]", searchable=True),
    SearchField("roles", "string[]", facet=True),
    SearchField("person_id", "int"),
)
MAX_KNOWN_FOR = 50
"""Titles listed per document: the newest first."""
BATCH = 200
"""People read per page by ``load_all``."""

CreditRow = tuple[int, str, str, str, int | None, str]
"""One credit: ``(person_id, name, library_id, title, year, role)``."""
Pair = tuple[int, str]
"""A person in a library: ``(person_id, library_id)``, one document."""


def document_id(person_id: int, library_id: str) -> str:
    """``"<person_id>-<library_id>"``; the person id is a number, so the first ``-`` splits it."""
    return f"{person_id}-{library_id}"


def build(rows: Iterable[CreditRow]) -> list[dict[str, Any]]:
    """One document per person and library of the credits given (any order)."""
    grouped: dict[Pair, list[CreditRow]] = {}
    for row in rows:
        grouped.setdefault((int(row[0]), str(row[2])), []).append(row)
    docs = []
    for (person_id, library_id), credits in sorted(grouped.items()):
        credits.sort(key=lambda r: (r[4] is None, -(r[4] or 0), normalize(r[3]), r[3]))
        docs.append({
            "id": document_id(person_id, library_id), "title": credits[0][1], "library_id": library_id,
            "person_id": person_id, "known_for": list(dict.fromkeys(r[3] for r in credits))[:MAX_KNOWN_FOR],
            "roles": sorted({r[5] for r in credits if r[5]}),
        })
    return docs


def refreshed(pairs: Iterable[Pair], credits_of: Callable[[list[int]], Iterable[CreditRow]]
              ) -> tuple[list[dict[str, Any]], list[str]]:
    """Blocking: the current documents of these people and libraries, and the ids of those
    left without any credit there (to delete)."""
    wanted = {(int(p), str(lib)) for p, lib in pairs}
    if not wanted:
        return [], []
    docs = [d for d in build(credits_of(sorted({p for p, _ in wanted})))
            if (d["person_id"], d["library_id"]) in wanted]
    present = {(d["person_id"], d["library_id"]) for d in docs}
    return docs, [document_id(p, lib) for p, lib in sorted(wanted - present)]


def document_type(name: str, *, person_model: Any, credits_of: Callable[[list[int]], Iterable[CreditRow]],
                  run: Callable[..., Awaitable[Any]]) -> SearchDocumentType:
    """The person document type ``name``; ``load_all`` pages through ``person_model`` by id."""

    def page(after: int) -> tuple[list[dict[str, Any]], int] | None:
        ids = [row[0] for row in person_model.select(person_model.id).where(person_model.id > after)
               .order_by(person_model.id).limit(BATCH).tuples()]
        return (build(credits_of(ids)), ids[-1]) if ids else None

    async def load_all() -> AsyncIterator[dict[str, Any]]:
        after = 0
        while (loaded := await run(page, after)) is not None:
            docs, after = loaded
            for doc in docs:
                yield doc

    return SearchDocumentType(name, fields=FIELDS, load_all=load_all)
