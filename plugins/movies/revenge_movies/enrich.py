"""Enrichment: find a movie at the metadata providers, merge what they know, store the artwork.

A movie that was matched before is looked up again by its provider id (unless ``replace``);
otherwise the providers are searched with its title, year and known external ids. The best
candidate is applied when it scores at least ``match_threshold`` or shares an external id;
below that the movie is ``needs_review`` and keeps the candidates for the identify API.
Merging follows the rules in :mod:`revenge_movies.store`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from revenge_hookspecs.errors import NotFound
from revenge_hookspecs.media import ItemMetadata

from . import store
from .documents import credited
from .facts import ARTWORK_FIELDS
from .models import Movie, MovieExternalId
from .service import MovieService, movie_key

CONTENT_TYPE = "movie"


class ProviderUnavailable(Exception):
    """A provider failed to answer a lookup the user asked for (network, 5xx, rate limit)."""


def _snapshot(movie_id: int) -> dict[str, Any] | None:
    movie = Movie.get_or_none(Movie.id == movie_id)
    if movie is None:
        return None
    ids = {row.kind: (row.value, row.source) for row in
           MovieExternalId.select().where(MovieExternalId.movie == movie_id)}
    return {"id": movie.id, "library_id": movie.library_id, "title": movie.title, "year": movie.year,
            "state": movie.match_state, "provider": movie.match_provider, "external_id": movie.match_external_id,
            "score": movie.match_score, "locked": set(movie.locked_fields), "ids": ids}


def candidate_dict(match: Any) -> dict[str, Any]:
    """A provider's :class:`~revenge_hookspecs.MetadataMatch` as JSON (scalar ``extra`` values only)."""
    extra = {str(k): v for k, v in dict(match.extra or {}).items()
             if isinstance(v, (str, int, float, bool)) or v is None}
    return {"provider": match.provider, "external_id": str(match.external_id), "title": match.title,
            "year": match.year, "score": round(float(match.score), 4), "extra": extra}


def _shares_id(match: Any, ids: Mapping[str, str]) -> bool:
    return ids.get(match.provider) == str(match.external_id)


async def enrich(service: MovieService, movie_id: int, *, replace: bool = False) -> str:
    """Enrich one movie; returns its match state afterwards (``gone`` when it no longer exists).

    :raises Exception: what a provider's lookup raised, so the job is retried.
    """
    movie = await service.run(_snapshot, movie_id)
    if movie is None:
        return "gone"
    try:
        library = await service.context.library.get(movie["library_id"])
    except NotFound:
        return "gone"  # the library was deleted; its movies go with its files
    pinned = "match" in movie["locked"] and movie["provider"]
    if movie["provider"] and movie["external_id"] and (pinned or (movie["state"] == "matched" and not replace)):
        meta = await service.context.metadata.lookup(CONTENT_TYPE, movie["provider"], movie["external_id"],
                                                     language=library.language)
        if meta is not None or pinned:
            if meta is not None:
                await apply(service, movie_id, meta, library=library, replace=replace,
                            score=movie["score"] if movie["score"] is not None else 1.0)
            return "matched"
    ids = {kind: value for kind, (value, source) in movie["ids"].items() if not replace or source == store.LOCAL}
    matches = await service.context.metadata.search(CONTENT_TYPE, movie["title"], year=movie["year"],
                                                    language=library.language, external_ids=ids,
                                                    order=library.providers)
    candidates = [candidate_dict(m) for m in matches]
    if not matches:
        await service.run(store.set_unmatched, movie_id, "unmatched", [], None)
        await service.publish([movie_id])
        return "unmatched"
    best = matches[0]
    score = 1.0 if _shares_id(best, ids) else float(best.score)
    if score >= service.config.match_threshold:
        meta = await service.context.metadata.lookup(CONTENT_TYPE, best.provider, str(best.external_id),
                                                     language=library.language)
        if meta is not None:
            await apply(service, movie_id, meta, library=library, replace=replace, score=score, candidates=candidates)
            return "matched"
    await service.run(store.set_unmatched, movie_id, "needs_review", candidates, score)
    await service.publish([movie_id])
    return "needs_review"


async def identify_candidates(service: MovieService, library: Any, query: str, year: int | None) -> list[dict]:
    """Candidates for a user's identify search, best first."""
    matches = await service.context.metadata.search(CONTENT_TYPE, query, year=year, language=library.language,
                                                    order=library.providers)
    return [candidate_dict(m) for m in matches]


async def apply_pick(service: MovieService, movie_id: int, library: Any, provider: str, external_id: str) -> bool:
    """Apply a user's pick: its metadata replaces everything not locked, and the match is pinned.

    :returns: ``False`` when the provider does not know the id.
    :raises ProviderUnavailable: the provider could not answer.
    """
    try:
        meta = await service.context.metadata.lookup(CONTENT_TYPE, provider, external_id,
                                                     language=library.language)
    except Exception as exc:
        raise ProviderUnavailable(f"{provider}: {type(exc).__name__}: {exc}") from exc
    if meta is None:
        return False
    await apply(service, movie_id, meta, library=library, replace=True, score=1.0, pin=True)
    return True


async def apply(service: MovieService, movie_id: int, meta: ItemMetadata, *, library: Any, replace: bool,
                score: float, candidates: Sequence[Mapping[str, Any]] = (), pin: bool = False) -> None:
    credited_before = await service.run(credited, [movie_id])
    wanting_image = await service.run(store.merge_metadata, movie_id, meta, replace=replace, score=score,
                                      candidates=candidates, pin=pin)
    await store_remote_artwork(service, movie_id, meta, library.language)
    await store_person_images(service, movie_id, wanting_image[:service.config.person_images])
    await service.publish([movie_id], people=credited_before)


def pick_artwork(artwork: Sequence[Any], kind: str, language: str) -> Any | None:
    """The image of ``kind`` to show: in the library's language first, then one without
    language (text-free), then any; the best scored within each."""
    wanted = (language or "").split("-")[0].lower()

    def rank(image: Any) -> tuple[int, float]:
        own = (image.language or "").split("-")[0].lower()
        place = 0 if own and own == wanted else 1 if not image.language else 2
        return place, -(image.score or 0.0)

    options = [a for a in artwork if a.kind == kind]
    return min(options, key=rank) if options else None


async def store_remote_artwork(service: MovieService, movie_id: int, meta: ItemMetadata, language: str) -> None:
    locked = await service.run(lambda: set(Movie.get_by_id(movie_id).locked_fields))
    key = movie_key(movie_id)
    for kind in ARTWORK_FIELDS:
        image = pick_artwork(meta.artwork, kind, language)
        if image is None or kind in locked:
            continue
        try:
            ref = await service.context.artwork.store(key, kind, url=image.url, language=image.language)
        except Exception as exc:
            service.logger.warning("could not store the {} of {} from {}: {}", kind, key, meta.provider, exc)
            continue
        await service.run(store.add_artwork, movie_id, ref, source=meta.provider)


async def store_person_images(service: MovieService, movie_id: int, people: Sequence[tuple[int, str]]) -> None:
    """Pictures of people, stored under the movie (so whoever sees the movie sees them)."""
    key = movie_key(movie_id)
    for person_id, url in people:
        try:
            ref = await service.context.artwork.store(key, "profile", url=url)
        except Exception as exc:
            service.logger.warning("could not store a picture of person {} for {}: {}", person_id, key, exc)
            continue
        await service.run(store.set_person_image, person_id, ref.id, key)


async def enrich_job(context: Any, movie_id: int, replace: bool = False) -> str:
    """The ``movies.enrich`` job."""
    if not isinstance(movie_id, int) or isinstance(movie_id, bool):
        raise ValueError(f"movies.enrich wants an integer movie_id, got {movie_id!r}")
    service = MovieService(context)
    # Running now: a file changed from here on needs another job (and every retry passes here).
    await service.run(store.release_enrich, [movie_id])
    return await enrich(service, movie_id, replace=bool(replace))
