"""Libraries, media files, items and metadata: what content types and providers exchange.

The server owns libraries, their files and a registry of items; a content-type plugin turns
files into items (movies, episodes, tracks...) through its :class:`ContentHandler`, and
metadata providers describe items as :class:`ItemMetadata`. All of it travels as the frozen
attrs classes below, so the server, plugins and the test kit agree on one shape.

Item keys name every item across plugins: ``"<item_type>:<id>"`` (``movie:42``,
``episode:7``), see :func:`item_key`.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime
from difflib import SequenceMatcher
from typing import Any, Protocol, runtime_checkable

import attrs

from .types import NAME_PATTERN

ITEM_KEY = re.compile(r"^(?P<type>[a-z][a-z0-9_]{0,31}):(?P<id>[A-Za-z0-9_.-]{1,64})$")
AUTO_MATCH_THRESHOLD = 0.85
"""A provider match scoring at least this is applied without asking the user."""

ARTWORK_KINDS = frozenset({"poster", "backdrop", "logo", "banner", "thumb", "still", "profile", "clearart", "disc"})


def item_key(item_type: str, item_id: Any) -> str:
    """The key of an item: ``item_key("movie", 42) == "movie:42"``. :raises ValueError: bad parts."""
    key = f"{item_type}:{item_id}"
    if not ITEM_KEY.match(key):
        raise ValueError(f"invalid item key {key!r}: expected <type>:<id> matching {ITEM_KEY.pattern}")
    return key


def parse_item_key(key: str) -> tuple[str, str]:
    """``"movie:42"`` -> ``("movie", "42")``. :raises ValueError: not an item key."""
    match = ITEM_KEY.match(key) if isinstance(key, str) else None
    if match is None:
        raise ValueError(f"invalid item key {key!r}: expected <type>:<id>")
    return match["type"], match["id"]


def _tuple_of_str(value: Iterable[str] | str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    return tuple(str(v) for v in value)


# --- libraries, files, items -------------------------------------------------------------------


@attrs.frozen
class Library:
    """A library as content types see it.

    :param id: the library's id (text).
    :param name: its display name.
    :param content_type: the :class:`~revenge_hookspecs.types.ContentType` that owns its files.
    :param paths: the folders (on the storage backend) it covers.
    :param storage: the name of the storage backend holding those folders.
    :param languages: preferred metadata languages, most preferred first (``en``, ``de-DE``).
    :param providers: metadata provider names in the order to ask them; empty means by priority.
    :param settings: content-type specific settings (free-form, validated by the content type).
    """

    id: str
    name: str
    content_type: str
    paths: tuple[str, ...] = attrs.field(converter=_tuple_of_str)
    storage: str = "localfs"
    enabled: bool = True
    scan_on_startup: bool = False
    realtime: bool = False
    languages: tuple[str, ...] = attrs.field(converter=_tuple_of_str, default=("en",))
    providers: tuple[str, ...] = attrs.field(converter=_tuple_of_str, default=())
    settings: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def language(self) -> str:
        """The most preferred metadata language."""
        return self.languages[0] if self.languages else "en"


@attrs.frozen
class MediaFile:
    """A file the server tracks in a library.

    :param file_id: stable id; it survives renames and moves inside the library.
    :param path: where the storage backend finds it now.
    :param root: the library folder it lies under.
    :param relative_path: ``path`` relative to ``root``, with ``/`` separators.
    :param local_path: a path on this machine when the storage is local (for PyAV, mutagen), else ``None``.
    :param item_key: the item the content type made of it, once ingested.
    :param missing_since: when a scan last found it gone (kept for a grace period), else ``None``.
    """

    file_id: str
    library_id: str
    path: str
    root: str
    relative_path: str
    size: int
    mtime: float
    local_path: str | None = None
    item_key: str | None = None
    missing_since: datetime | None = None

    @property
    def name(self) -> str:
        return self.relative_path.rsplit("/", 1)[-1]

    @property
    def folder(self) -> str:
        """The folder part of ``relative_path`` (``""`` at the library root)."""
        return self.relative_path.rsplit("/", 1)[0] if "/" in self.relative_path else ""


@attrs.frozen
class FileMove:
    """A tracked file found under a new path: same ``file_id``, same item, same user data."""

    file_id: str
    old_path: str
    new_path: str
    relative_path: str
    item_key: str | None = None


@attrs.frozen
class IngestResult:
    """What a content handler made of one file.

    :param file_id: the file.
    :param item_key: the item the file now belongs to; ``None`` when the content type does not
        want the file (an extra, a sample), which the server then leaves alone until it changes.
    :param error: why the file could not be ingested; the server keeps the message and retries
        on the next scan.
    :param also: other items the same file plays (the later episodes of a multi-episode file
        ``S01E02E03``), so that playing any of them finds the file.
    """

    file_id: str
    item_key: str | None = None
    error: str | None = None
    also: tuple[str, ...] = attrs.field(default=(), converter=tuple)


@attrs.frozen
class ItemRef:
    """An entry in the server's item registry: what grants, user data, artwork and home screens use.

    :param key: the item key (see :func:`item_key`).
    :param library_id: the library it belongs to.
    :param title: display title.
    :param parent_key: the containing item (an episode's season or series), if any.
    :param year: release year, if known.
    :param added_at: when the item first appeared; set by the server when ``None``.
    :param sort_index: place among its siblings: a season's number, an episode's number. Home
        screens walk a show in this order ("next up"); ``None`` when the item has no natural order.
    """

    key: str = attrs.field()
    library_id: str
    title: str
    parent_key: str | None = None
    year: int | None = None
    added_at: datetime | None = None
    sort_index: int | None = None

    @key.validator
    def _check_key(self, attribute: attrs.Attribute, value: str) -> None:
        parse_item_key(value)

    @property
    def item_type(self) -> str:
        return parse_item_key(self.key)[0]


def item_ownership_problem(plugin: str, verb: str, library: Library, item_types: Iterable[str],
                           content_type: Any, owner: str | None) -> str | None:
    """Why ``plugin`` may not ``verb`` items of ``item_types`` in ``library``, or ``None`` when it may.

    A plugin writes items only into libraries of a content type it registered itself
    (``owner`` is the plugin that registered ``content_type``, ``None`` when no enabled
    plugin did), and only of the item types that content type declares. The server and
    the test kit both apply this rule.
    """
    if owner != plugin or content_type is None:
        return (f"plugin {plugin!r} may not {verb} items in library {library.id} ({library.name!r}): its content "
                f"type {library.content_type!r} belongs to {owner or 'no enabled plugin'}")
    extra = set(item_types) - set(content_type.item_types)
    if extra:
        return (f"plugin {plugin!r} may not {verb} items of type {', '.join(sorted(extra))} in library "
                f"{library.id}: content type {library.content_type!r} declares item_types "
                f"{', '.join(sorted(content_type.item_types)) or 'none'}")
    return None


@runtime_checkable
class ContentHandler(Protocol):
    """What a content type does with a library's files; every method is a coroutine.

    The server scans, detects new, changed, moved and removed files, and calls these in
    batches. Handlers must be idempotent: a scan that died half way calls them again.
    """

    async def ingest(self, library: Library, files: Sequence[MediaFile]) -> Sequence[IngestResult]:
        """Create or update items for new or changed files; one result per file."""

    async def files_moved(self, library: Library, moves: Sequence[FileMove]) -> None:
        """Files kept their identity under a new path (rename, move): update what mentions the path."""

    async def files_removed(self, library: Library, files: Sequence[MediaFile]) -> None:
        """Files are gone for good (past the grace period): drop them, and items left without files."""

    async def refresh(self, library: Library, item_key: str, *, replace: bool = False) -> None:
        """Fetch metadata for one item again; ``replace`` ignores what was fetched before,
        never what the user locked."""


# --- metadata ------------------------------------------------------------------------------------


@attrs.frozen
class Credit:
    """A person's part in an item: ``role`` is ``actor``, ``director``, ``writer``, ``producer``,
    ``composer``, ``creator`` or ``guest``; ``character`` for actors."""

    name: str
    role: str
    character: str | None = None
    order: int | None = None
    external_ids: Mapping[str, str] = attrs.field(factory=dict)
    image_url: str | None = None


@attrs.frozen
class ArtworkInfo:
    """An image a provider offers. ``kind`` is one of :data:`ARTWORK_KINDS`."""

    kind: str = attrs.field(validator=attrs.validators.in_(ARTWORK_KINDS))
    url: str
    language: str | None = None
    width: int | None = None
    height: int | None = None
    score: float | None = None


@attrs.frozen
class EpisodeMetadata:
    season: int
    number: int
    title: str | None = None
    overview: str | None = None
    air_date: str | None = None
    runtime_minutes: int | None = None
    absolute_number: int | None = None
    external_ids: Mapping[str, str] = attrs.field(factory=dict)
    credits: tuple[Credit, ...] = attrs.field(converter=tuple, factory=tuple)
    artwork: tuple[ArtworkInfo, ...] = attrs.field(converter=tuple, factory=tuple)
    rating: float | None = None


@attrs.frozen
class SeasonMetadata:
    number: int
    title: str | None = None
    overview: str | None = None
    air_date: str | None = None
    external_ids: Mapping[str, str] = attrs.field(factory=dict)
    artwork: tuple[ArtworkInfo, ...] = attrs.field(converter=tuple, factory=tuple)
    episodes: tuple[EpisodeMetadata, ...] = attrs.field(converter=tuple, factory=tuple)


@attrs.frozen
class Translation:
    title: str | None = None
    overview: str | None = None
    tagline: str | None = None


@attrs.frozen
class ItemMetadata:
    """Everything a provider knows of one movie or series, in the provider's best language.

    ``external_ids`` maps id kinds (``tmdb``, ``imdb``, ``tvdb``) to ids; ``certifications``
    maps ISO 3166-1 countries to ratings (``US``: ``PG-13``); ``translations`` maps
    language tags to translated text; ``release_date`` and air dates are ISO ``YYYY-MM-DD``.
    """

    provider: str
    external_id: str
    content_type: str
    title: str
    original_title: str | None = None
    original_language: str | None = None
    year: int | None = None
    release_date: str | None = None
    overview: str | None = None
    tagline: str | None = None
    runtime_minutes: int | None = None
    status: str | None = None
    rating: float | None = None
    votes: int | None = None
    genres: tuple[str, ...] = attrs.field(converter=tuple, factory=tuple)
    studios: tuple[str, ...] = attrs.field(converter=tuple, factory=tuple)
    networks: tuple[str, ...] = attrs.field(converter=tuple, factory=tuple)
    countries: tuple[str, ...] = attrs.field(converter=tuple, factory=tuple)
    collection: str | None = None
    collection_id: str | None = None
    certifications: Mapping[str, str] = attrs.field(factory=dict)
    external_ids: Mapping[str, str] = attrs.field(factory=dict)
    credits: tuple[Credit, ...] = attrs.field(converter=tuple, factory=tuple)
    artwork: tuple[ArtworkInfo, ...] = attrs.field(converter=tuple, factory=tuple)
    translations: Mapping[str, Translation] = attrs.field(factory=dict)
    seasons: tuple[SeasonMetadata, ...] = attrs.field(converter=tuple, factory=tuple)


class ProviderError(Exception):
    """A provider could not answer (network, 5xx after retries, bad credentials, rate limit).

    Raising it (or any exception) makes the server skip to the next provider; return an
    empty list or ``None`` instead when the provider answered but knows nothing.
    """

    def __init__(self, provider: str, message: str, *, status: int | None = None,
                 retry_after: float | None = None):
        super().__init__(f"{provider}: {message}")
        self.provider = provider
        self.status = status
        self.retry_after = retry_after


# --- matching --------------------------------------------------------------------------------------

_ARTICLES = re.compile(r"^(the|a|an|der|die|das|le|la|les|el|los|las|il)\s+")
_NOT_WORD = re.compile(r"[^\w]+")


def normalize_title(title: str) -> str:
    """Lower case, accents and punctuation removed, ``&`` as ``and``, leading article dropped."""
    text = unicodedata.normalize("NFKD", title or "")
    text = "".join(c for c in text if not unicodedata.combining(c)).lower().replace("&", " and ")
    text = _NOT_WORD.sub(" ", text).strip()
    return _ARTICLES.sub("", text)


def match_score(title: str, year: int | None, candidate_title: str, candidate_year: int | None, *,
                alternative_titles: Iterable[str] = (), same_external_id: bool = False) -> float:
    """How sure a candidate is the wanted item, from 0 to 1.

    An external id both sides share decides alone (1.0). Otherwise the best title similarity
    (original and alternative titles count) weighs 80 %, the year 20 %: the same year gives
    all of it, one year off half (release dates differ by country), a missing year a quarter.
    """
    if same_external_id:
        return 1.0
    wanted = normalize_title(title)
    titles = [t for t in (candidate_title, *alternative_titles) if t]
    similarity = max((SequenceMatcher(None, wanted, normalize_title(t)).ratio() for t in titles), default=0.0)
    if year is None or candidate_year is None:
        year_part = 0.25
    elif year == candidate_year:
        year_part = 1.0
    elif abs(year - candidate_year) == 1:
        year_part = 0.5
    else:
        year_part = 0.0
    return round(0.8 * similarity + 0.2 * year_part, 4)


AMBIGUITY_MARGIN = 0.1
"""The best candidate must beat the next one by this much to be applied without asking."""


def confident_match(matches: Sequence[Any]) -> Any | None:
    """The candidate to apply without asking the user, or ``None`` when it should be left for review.

    The best-scoring :class:`~revenge_hookspecs.types.MetadataMatch` wins when it reaches
    :data:`AUTO_MATCH_THRESHOLD` and no other candidate comes within :data:`AMBIGUITY_MARGIN`
    of it (two films of the same title and no year to tell them apart); a score of 1.0 (a
    shared external id or an exact title and year) wins even against a close runner-up.
    """
    ranked = sorted(matches, key=lambda m: -m.score)
    if not ranked or ranked[0].score < AUTO_MATCH_THRESHOLD:
        return None
    best = ranked[0]
    if best.score >= 1.0 or len(ranked) == 1 or ranked[1].score <= best.score - AMBIGUITY_MARGIN:
        return best
    return None


# --- asking providers in order -------------------------------------------------------------------


@attrs.frozen
class ProviderAttempt:
    """One provider asked during a chained call: what happened, for logs and the identify API."""

    provider: str
    ok: bool
    error: str | None = None
    results: int = 0


class MetadataChain:
    """Asks metadata providers in order and falls back past failures.

    Used by the server for ``context.metadata`` and by the test kit, so both pick providers the
    same way: the library's provider order first (unknown names ignored), then the rest by
    priority; a provider that raises is skipped for the next; the first provider with a
    non-empty answer wins.

    :param providers: returns the enabled :class:`~revenge_hookspecs.types.MetadataProvider` s.
    :param timeout: seconds one provider call may take before it counts as failed.
    :param on_request: ``on_request(provider_name)`` before every provider call (search and
        lookup alike), for metrics.
    :param on_failure: ``on_failure(provider_name, exception)`` once for every provider call
        that raised or timed out (search and lookup alike; a lookup still re-raises), for
        logging. Cancellation is not a failure.
    """

    def __init__(self, providers: Callable[[], Iterable[Any]], *, timeout: float = 60.0,
                 on_request: Callable[[str], None] | None = None,
                 on_failure: Callable[[str, BaseException], None] | None = None):
        self._providers = providers
        self.timeout = timeout
        self._on_request = on_request
        self._on_failure = on_failure

    def ordered(self, content_type: str, order: Sequence[str] = ()) -> list[Any]:
        """The providers that describe ``content_type``, in the order they are asked."""
        candidates = [p for p in self._providers() if content_type in p.content_types]
        rank = {name: i for i, name in enumerate(order)}
        return sorted(candidates, key=lambda p: (rank.get(p.name, len(rank)), p.priority, p.name))

    def names(self, content_type: str, order: Sequence[str] = ()) -> list[str]:
        return [p.name for p in self.ordered(content_type, order)]

    async def _ask(self, provider: Any, call: Callable[[Any], Awaitable[Any]]) -> Any:
        """The one place providers are called: reports the request and any failure, then re-raises it."""
        if self._on_request is not None:
            self._on_request(provider.name)
        try:
            async with asyncio.timeout(self.timeout):
                return await call(provider.source)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if self._on_failure is not None:
                self._on_failure(provider.name, exc)
            raise

    async def first(self, content_type: str, call: Callable[[Any], Awaitable[Any]], *,
                    order: Sequence[str] = (), only: str | None = None) -> tuple[Any, list[ProviderAttempt]]:
        """Call ``call(source)`` on each provider until one answers with something non-empty.

        :param only: ask just this provider (by name). :returns: the answer (``None`` when no
            provider had one) and the attempts made.
        """
        attempts: list[ProviderAttempt] = []
        providers = self.ordered(content_type, order)
        if only is not None:
            providers = [p for p in providers if p.name == only]
        for provider in providers:
            try:
                answer = await self._ask(provider, call)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # Already reported to on_failure by _ask.
                attempts.append(ProviderAttempt(provider.name, False, f"{type(exc).__name__}: {exc}"))
                continue
            size = len(answer) if isinstance(answer, (list, tuple)) else int(answer is not None)
            attempts.append(ProviderAttempt(provider.name, True, results=size))
            if answer:
                return answer, attempts
        return None, attempts

    async def search(self, content_type: str, query: str, *, year: int | None = None,
                     language: str | None = None, external_ids: Mapping[str, str] | None = None,
                     order: Sequence[str] = (), only: str | None = None) -> tuple[list[Any], list[ProviderAttempt]]:
        """Candidates from the first provider that has any, best first.

        :raises ProviderError: every provider asked failed (none answered, not even "nothing").
        """

        async def call(source: Any) -> Any:
            return await source.search(content_type, query, year=year, language=language,
                                       external_ids=dict(external_ids or {}))

        answer, attempts = await self.first(content_type, call, order=order, only=only)
        if attempts and not any(a.ok for a in attempts):
            # Nobody answered: an outage must not look like "no match", or items stay unmatched.
            raise ProviderError("metadata", "every provider failed: "
                                + "; ".join(f"{a.provider}: {a.error}" for a in attempts))
        matches = sorted(answer or [], key=lambda m: -m.score)
        return matches, attempts

    async def lookup(self, content_type: str, provider: str, external_id: str, *,
                     language: str | None = None) -> ItemMetadata | None:
        """Full metadata from one named provider (``None`` when it is not enabled or knows nothing).

        :raises Exception: what the provider raised, so callers can tell a failure from "unknown".
        """
        for candidate in self.ordered(content_type):
            if candidate.name == provider:
                return await self._ask(candidate, lambda source: source.lookup(
                    content_type, external_id, language=language))
        return None


class ChainedMetadata:
    """``context.metadata`` over a :class:`MetadataChain` (``self.chain``): the server and the
    test kit both build theirs on it. Override :meth:`searched` to observe each search."""

    chain: MetadataChain

    def providers(self, content_type: str, order: Iterable[str] = ()) -> list[str]:
        return self.chain.names(content_type, tuple(order))

    async def search(self, content_type: str, query: str, *, year: int | None = None,
                     language: str | None = None, external_ids: Mapping[str, str] | None = None,
                     order: Iterable[str] = (), only: str | None = None) -> list[Any]:
        matches, attempts = await self.chain.search(content_type, query, year=year, language=language,
                                                    external_ids=external_ids, order=tuple(order), only=only)
        self.searched(content_type, query, attempts)
        return matches

    def searched(self, content_type: str, query: str, attempts: list[ProviderAttempt]) -> None:
        """Called after every search that did not raise, with the providers asked."""

    async def lookup(self, content_type: str, provider: str, external_id: str, *,
                     language: str | None = None) -> ItemMetadata | None:
        return await self.chain.lookup(content_type, provider, external_id, language=language)


def check_name(value: str, what: str) -> str:
    """``value`` if it is a valid registration-style name. :raises ValueError: otherwise."""
    if not isinstance(value, str) or not NAME_PATTERN.match(value):
        raise ValueError(f"invalid {what} {value!r}")
    return value


# --- artwork -----------------------------------------------------------------------------------

IMAGE_SIZES = ("w92", "w154", "w185", "w300", "w342", "w500", "w780", "w1280", "original")
"""The sizes images are served in: the width in pixels (never upscaled), or the original."""


@attrs.frozen
class ArtworkRef:
    """A stored image.

    :param id: the image id; it is served at ``/api/v1/images/{id}/{size}``.
    :param item_key: the item it belongs to (the image is visible to whoever sees the item).
    :param kind: one of :data:`ARTWORK_KINDS`.
    :param blurhash: a short placeholder string clients draw while the image loads.
    """

    id: str
    item_key: str
    kind: str
    width: int
    height: int
    blurhash: str
    source: str | None = None
    language: str | None = None

    def url(self, size: str = "original", api_prefix: str = "/api/v1") -> str:
        if size not in IMAGE_SIZES:
            raise ValueError(f"unknown image size {size!r}; expected one of {', '.join(IMAGE_SIZES)}")
        return f"{api_prefix}/images/{self.id}/{size}"
