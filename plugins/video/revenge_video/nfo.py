"""Kodi NFO files: what Kodi, Jellyfin, Emby, Radarr and Sonarr write beside videos.

:func:`parse_nfo` reads the four video kinds Kodi documents — ``<movie>``, ``<tvshow>``,
``<season>`` and ``<episodedetails>`` (several roots in one file for a multi-episode file) —
and the URL-only NFO (a file holding just an IMDb, TMDb or TheTVDB address, as Radarr writes).

An NFO is untrusted input: files over :data:`MAX_NFO_BYTES` are refused, a DTD or entity
declaration is refused (no XXE, no "billion laughs"), and only ``http(s)`` image URLs are kept
(never local paths another server wrote). A file that is not a usable NFO gives ``None`` and a
logged warning, never an exception.
"""

from __future__ import annotations

import codecs
import datetime
import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from xml.etree.ElementTree import Element

import attrs

from revenge_hookspecs.media import ARTWORK_KINDS, ArtworkInfo, Credit

__all__ = ["MAX_NFO_BYTES", "NfoActor", "NfoArt", "NfoDocument", "NfoRating", "ids_from_text", "parse_nfo"]

log = logging.getLogger(__name__)

MAX_NFO_BYTES = 1024 * 1024
"""NFO files larger than this are refused (real ones are a few kilobytes)."""

NfoKind = Literal["movie", "tvshow", "season", "episodedetails"]
_KINDS = ("movie", "tvshow", "season", "episodedetails")

_ID_VALUE = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_ID_KIND = re.compile(r"^[a-z0-9_]{1,32}$")
_ID_ALIASES = {"themoviedb": "tmdb", "moviedb": "tmdb", "thetvdb": "tvdb", "imdb_id": "imdb", "tmdb_id": "tmdb",
               "tvdb_id": "tvdb", "tvmaze_id": "tvmaze", "tmdbcollection": "tmdb_collection",
               "tmdbcol": "tmdb_collection", "tmdbset": "tmdb_collection"}
_ID_ELEMENTS = {"imdbid": "imdb", "imdb_id": "imdb", "tmdbid": "tmdb", "tmdb_id": "tmdb", "tvdbid": "tvdb",
                "tvdb_id": "tvdb", "tvrageid": "tvrage", "tvmazeid": "tvmaze", "zap2itid": "zap2it"}
_URL_IDS = (
    ("imdb", None, re.compile(r"(?i)imdb\.com/(?:[a-z]{2}/)?title/(tt\d{5,10})")),
    ("tmdb", "movie", re.compile(r"(?i)themoviedb\.org/movie/(\d{1,10})")),
    ("tmdb", "tvshow", re.compile(r"(?i)themoviedb\.org/tv/(\d{1,10})")),
    ("tvdb", "tvshow", re.compile(r"(?i)thetvdb\.com/\S*[?&]id=(\d{1,10})")),
    ("tvdb", "tvshow", re.compile(r"(?i)thetvdb\.com/(?:dereferrer/)?series/(\d{1,10})\b")),
    ("tvdb", "movie", re.compile(r"(?i)thetvdb\.com/(?:dereferrer/)?movies?/(\d{1,10})\b")),
)
_BARE_IMDB = re.compile(r"(?<![A-Za-z0-9])(tt\d{7,10})(?![A-Za-z0-9])")
_XML_DECLARATION = re.compile(r"<\?xml[^>]*\?>", re.IGNORECASE)
_ENCODING = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]{1,40})["']""")
_DTD = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)
_LEADING_NUMBER = re.compile(r"^\s*(\d{1,6})")
_SEPARATED = re.compile(r"\s+/\s+")
# Kodi art types -> ARTWORK_KINDS; "set." prefixed art belongs to the collection.
_ASPECTS = {"poster": "poster", "keyart": "poster", "fanart": "backdrop", "banner": "banner", "clearlogo": "logo",
            "logo": "logo", "clearart": "clearart", "discart": "disc", "landscape": "thumb", "thumb": "thumb"}


@attrs.frozen
class NfoActor:
    """``<actor>``: ``order`` is ``<order>`` (Kodi) or ``<sortorder>`` (Jellyfin); ``type`` is
    Jellyfin's ``<type>`` (``Actor``, ``GuestStar``...) when present."""

    name: str
    role: str | None = None
    order: int | None = None
    thumb: str | None = None
    type: str | None = None


@attrs.frozen
class NfoRating:
    """One ``<rating>``: ``source`` is its ``name`` (``imdb``, ``themoviedb``...), ``value`` on ``0..max``."""

    source: str | None
    value: float
    votes: int | None = None
    max: float = 10.0
    default: bool = False

    @property
    def out_of_ten(self) -> float:
        return round(self.value * 10.0 / self.max, 3) if self.max else self.value


@attrs.frozen
class NfoArt:
    """An image URL: ``aspect`` as written (``poster``, ``clearlogo``, ``set.poster``...), ``kind``
    mapped to :data:`~revenge_hookspecs.media.ARTWORK_KINDS` (``None`` when no kind fits);
    ``season`` for ``<thumb type="season" season="1">`` in a tvshow NFO; ``collection`` for
    ``set.*`` art."""

    url: str
    kind: str | None
    aspect: str | None = None
    preview: str | None = None
    season: int | None = None
    collection: bool = False


@attrs.frozen
class NfoDocument:
    """A parsed NFO.

    Dates (``premiered``, ``aired``) are ISO ``YYYY-MM-DD`` strings. ``ids`` maps id kinds
    (``imdb``, ``tmdb``, ``tvdb``...) to ids from ``<uniqueid type=...>``, ``<id>``,
    ``<imdbid>``/``<tmdbid>``/``<tvdbid>`` and URLs; ``default_id`` names the kind marked
    ``default="true"``. ``writers`` gathers ``<credits>`` and ``<writer>``. ``mpaa`` is the
    certification as written (``PG-13``, ``Australia:M``).

    For ``episodedetails``, ``episodes`` holds every ``<episodedetails>`` of the file in order
    (one for a plain episode NFO) and the document's own fields are those of the first.
    ``url_only`` is true for an NFO that was just addresses.
    """

    kind: NfoKind
    title: str | None = None
    original_title: str | None = None
    sort_title: str | None = None
    show_title: str | None = None
    year: int | None = None
    premiered: str | None = None
    aired: str | None = None
    plot: str | None = None
    outline: str | None = None
    tagline: str | None = None
    runtime_minutes: int | None = None
    mpaa: str | None = None
    status: str | None = None
    genres: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    studios: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    countries: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    tags: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    set_name: str | None = None
    set_overview: str | None = None
    ratings: tuple[NfoRating, ...] = attrs.field(default=(), converter=tuple)
    user_rating: float | None = None
    ids: Mapping[str, str] = attrs.field(factory=dict)
    default_id: str | None = None
    season: int | None = None
    episode: int | None = None
    display_season: int | None = None
    display_episode: int | None = None
    actors: tuple[NfoActor, ...] = attrs.field(default=(), converter=tuple)
    directors: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    writers: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    art: tuple[NfoArt, ...] = attrs.field(default=(), converter=tuple)
    episodes: tuple[NfoDocument, ...] = attrs.field(default=(), converter=tuple)
    url_only: bool = False

    @property
    def rating(self) -> NfoRating | None:
        """The default rating, else the first."""
        return next((r for r in self.ratings if r.default), self.ratings[0] if self.ratings else None)

    @property
    def thumbs(self) -> tuple[str, ...]:
        """URLs of the item's own images other than backdrops (posters, logos, episode stills...)."""
        return tuple(a.url for a in self.art if a.kind != "backdrop" and not a.collection and a.season is None)

    @property
    def fanart(self) -> tuple[str, ...]:
        """URLs of backdrops (``<fanart><thumb>``)."""
        return tuple(a.url for a in self.art if a.kind == "backdrop" and not a.collection and a.season is None)

    def credits(self) -> tuple[Credit, ...]:
        """Actors, directors and writers as :class:`~revenge_hookspecs.media.Credit` s."""
        people = [Credit(name=a.name, role="guest" if (a.type or "").lower() == "gueststar" else "actor",
                         character=a.role, order=a.order, image_url=a.thumb)
                  for a in self.actors if (a.type or "actor").lower() in ("actor", "gueststar")]
        people += [Credit(name=name, role="director") for name in self.directors]
        people += [Credit(name=name, role="writer") for name in self.writers]
        return tuple(people)

    def artwork(self) -> tuple[ArtworkInfo, ...]:
        """The item's own images as :class:`~revenge_hookspecs.media.ArtworkInfo` (no collection or season art)."""
        return tuple(ArtworkInfo(kind=a.kind, url=a.url) for a in self.art
                     if a.kind in ARTWORK_KINDS and not a.collection and a.season is None)


def parse_nfo(text: str | bytes) -> NfoDocument | None:
    """Parse an NFO file's content.

    :returns: the document, or ``None`` (with a warning logged) when the content is too large,
        not XML nor addresses, declares a DTD or entities, or is some other kind of NFO
        (music, music videos).
    """
    try:
        return _parse(text)
    except Exception as exc:  # a bug here must not break a scan
        log.warning("NFO ignored: %s: %s", type(exc).__name__, exc)
        return None


def ids_from_text(text: str) -> tuple[dict[str, str], str | None]:
    """Ids in free text (URLs, bare ``tt`` ids) and the kind of item they point at, if they say.

    >>> ids_from_text("https://www.themoviedb.org/movie/603-the-matrix")
    ({'tmdb': '603'}, 'movie')
    """
    ids: dict[str, str] = {}
    kind: str | None = None
    for id_kind, item_kind, pattern in _URL_IDS:
        match = pattern.search(text)
        if match and id_kind not in ids:
            ids[id_kind] = match.group(1)
            kind = kind or item_kind
    if "imdb" not in ids:
        bare = _BARE_IMDB.search(text)
        if bare:
            ids["imdb"] = bare.group(1)
    return ids, kind


# --- parsing ----------------------------------------------------------------------------------------


def _parse(text: str | bytes) -> NfoDocument | None:
    if isinstance(text, bytes):
        if len(text) > MAX_NFO_BYTES:
            log.warning("NFO ignored: %d bytes is over the %d byte limit", len(text), MAX_NFO_BYTES)
            return None
        text = _decode(text)
    elif len(text) > MAX_NFO_BYTES:
        log.warning("NFO ignored: %d characters is over the %d byte limit", len(text), MAX_NFO_BYTES)
        return None
    body = text.lstrip("\ufeff").strip()
    if not body:
        log.warning("NFO ignored: empty")
        return None
    if "<" not in body:
        return _url_only(body)
    if _DTD.search(body):
        log.warning("NFO ignored: it declares a DTD or entities, which are refused")
        return None
    root = _xml(body)
    if root is None:
        return None
    documents = [child for child in root if isinstance(child.tag, str)]
    kinds = {_local(d.tag) for d in documents}
    if not documents or not kinds <= set(_KINDS):
        found = ", ".join(sorted(kinds)) or "nothing"
        log.warning("NFO ignored: expected one of <%s>, found <%s>", ">, <".join(_KINDS), found)
        return None
    trailing_ids, _kind = ids_from_text(" ".join(t for t in _texts_outside(root) if t))
    if kinds == {"episodedetails"}:
        episodes = [_document(d, "episodedetails", trailing_ids) for d in documents]
        return attrs.evolve(episodes[0], episodes=tuple(episodes))
    if len(documents) > 1:
        log.warning("NFO has %d <%s> roots; using the first", len(documents), _local(documents[0].tag))
    kind = _local(documents[0].tag)
    return _document(documents[0], kind, trailing_ids)  # type: ignore[arg-type]


def _decode(data: bytes) -> str:
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                          (codecs.BOM_UTF16_BE, "utf-16-be")):
        if data.startswith(bom):
            return data[len(bom):].decode(encoding, errors="replace")
    declared = _ENCODING.search(data[:200])
    encoding = "utf-8"
    if declared:
        try:
            encoding = codecs.lookup(declared.group(1).decode("ascii")).name
        except LookupError:
            encoding = "utf-8"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return data.decode("cp1252" if encoding == "utf-8" else encoding, errors="replace")


def _xml(body: str) -> Element | None:
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import ParseError, fromstring

    # Several roots (multi-episode NFO) and trailing URLs are legal in Kodi: wrap them in one root.
    wrapped = "<nfo>" + _XML_DECLARATION.sub("", body) + "</nfo>"
    try:
        return fromstring(wrapped, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        log.warning("NFO ignored: refused unsafe XML (%s)", type(exc).__name__)
    except ParseError as exc:
        log.warning("NFO ignored: invalid XML (%s)", exc)
    return None


def _texts_outside(root: Element) -> Iterable[str]:
    yield root.text or ""
    for child in root:
        yield child.tail or ""


def _document(node: Element, kind: NfoKind, extra_ids: Mapping[str, str]) -> NfoDocument:
    fields = _Fields(node)
    ids, default_id = _ids(node, kind)
    for key, value in extra_ids.items():
        ids.setdefault(key, value)
    premiered = fields.date("premiered") or fields.date("releasedate") or fields.date("release_date")
    aired = fields.date("aired")
    year = fields.int("year")
    if year is None and (premiered or aired):
        year = int((premiered or aired or "")[:4])
    # In a tvshow NFO <season> counts the seasons; only seasons and episodes have a number.
    season = None
    if kind == "season":
        season = fields.int("seasonnumber")
        season = fields.int("season") if season is None else season
    elif kind == "episodedetails":
        season = fields.int("season")
    set_node = node.find("set")
    set_name = set_overview = None
    if set_node is not None:
        set_name = _text(set_node.find("name")) or _text(set_node)
        set_overview = _text(set_node.find("overview"))
    return NfoDocument(
        kind=kind,
        title=fields.text("title"),
        original_title=fields.text("originaltitle"),
        sort_title=fields.text("sorttitle"),
        show_title=fields.text("showtitle"),
        year=year if year and 1800 <= year <= 2200 else None,
        premiered=premiered,
        aired=aired,
        plot=fields.text("plot"),
        outline=fields.text("outline"),
        tagline=fields.text("tagline"),
        runtime_minutes=fields.int("runtime"),
        mpaa=fields.text("mpaa") or fields.text("certification"),
        status=fields.text("status"),
        genres=fields.many("genre", split=True),
        studios=fields.many("studio", split=True),
        countries=fields.many("country", split=True),
        tags=fields.many("tag"),
        set_name=set_name,
        set_overview=set_overview,
        ratings=_ratings(node),
        user_rating=_float(fields.text("userrating")) or None,
        ids=ids,
        default_id=default_id,
        season=season,
        episode=fields.int("episode") if kind == "episodedetails" else None,
        display_season=_positive(fields.int("displayseason")),
        display_episode=_positive(fields.int("displayepisode")),
        actors=_actors(node),
        directors=tuple(n.strip(" ,") for n in fields.many("director", split=True) if n.strip(" ,")),
        writers=tuple(dict.fromkeys(n.strip(" ,") for n in (*fields.many("credits", split=True),
                                                           *fields.many("writer", split=True)) if n.strip(" ,"))),
        art=_art(node, kind),
    )


class _Fields:
    def __init__(self, node: Element):
        self.node = node

    def text(self, tag: str) -> str | None:
        return _text(self.node.find(tag))

    def int(self, tag: str) -> int | None:
        value = self.text(tag)
        match = _LEADING_NUMBER.match(value) if value else None
        return int(match.group(1)) if match else None

    def date(self, tag: str) -> str | None:
        value = self.text(tag)
        if not value:
            return None
        try:
            return datetime.date.fromisoformat(value[:10]).isoformat()
        except ValueError:
            return None

    def many(self, tag: str, *, split: bool = False) -> tuple[str, ...]:
        values: list[str] = []
        for child in self.node.findall(tag):
            text = _text(child)
            if not text:
                continue
            values.extend(_SEPARATED.split(text) if split else [text])
        return tuple(dict.fromkeys(v.strip() for v in values if v.strip()))


def _ids(node: Element, kind: NfoKind) -> tuple[dict[str, str], str | None]:
    ids: dict[str, str] = {}
    default_id = None
    for unique in node.findall("uniqueid"):
        id_kind = _id_kind(unique.get("type") or "unknown")
        value = _text(unique)
        if id_kind and value and _ID_VALUE.match(value):
            ids.setdefault(id_kind, value)
            if (unique.get("default") or "").lower() == "true" and default_id is None:
                default_id = id_kind
    for tag, id_kind in _ID_ELEMENTS.items():
        value = _text(node.find(tag))
        if value and _ID_VALUE.match(value):
            ids.setdefault(id_kind, value)
    id_node = node.find("id")
    if id_node is not None:
        for attribute, value in id_node.attrib.items():
            id_kind = _id_kind(attribute)
            if id_kind and value and _ID_VALUE.match(value.strip()):
                ids.setdefault(id_kind, value.strip())
        value = _text(id_node)
        if value and _ID_VALUE.match(value):
            if value.startswith("tt"):
                ids.setdefault("imdb", value)
            elif value.isdigit():
                # Kodi's scrapers wrote the TMDb id for movies and the TheTVDB id for shows.
                ids.setdefault("tmdb" if kind == "movie" else "tvdb", value)
    set_node = node.find("set")
    if set_node is not None and (set_node.get("tmdbcolid") or "").isdigit():
        ids.setdefault("tmdb_collection", set_node.get("tmdbcolid") or "")
    return ids, default_id


def _id_kind(name: str) -> str | None:
    kind = name.strip().lower()
    kind = _ID_ALIASES.get(kind, kind)
    return kind if _ID_KIND.match(kind) else None


def _ratings(node: Element) -> tuple[NfoRating, ...]:
    ratings = []
    holder = node.find("ratings")
    for rating in holder.findall("rating") if holder is not None else []:
        value = _float(_text(rating.find("value")))
        if value is None:
            continue
        maximum = _float(rating.get("max")) or 10.0
        if not 0 <= value <= maximum:
            continue
        ratings.append(NfoRating(source=(rating.get("name") or None), value=value,
                                 votes=_int(_text(rating.find("votes"))), max=maximum,
                                 default=(rating.get("default") or "").lower() == "true"))
    if not ratings:
        value = _float(_text(node.find("rating")))
        if value is None:
            value = _float(_text(node.find("communityrating")))  # Jellyfin's name for it
        if value is not None and 0 <= value <= 10:
            ratings.append(NfoRating(source=None, value=value, votes=_int(_text(node.find("votes"))), default=True))
    return tuple(ratings)


def _actors(node: Element) -> tuple[NfoActor, ...]:
    actors = []
    for actor in node.findall("actor"):
        name = _text(actor.find("name"))
        if not name:
            continue
        order = _int(_text(actor.find("order")))
        if order is None:
            order = _int(_text(actor.find("sortorder")))
        actors.append(NfoActor(name=name, role=_text(actor.find("role")), order=order,
                               thumb=_url(_text(actor.find("thumb"))), type=_text(actor.find("type"))))
    return tuple(actors)


def _art(node: Element, kind: NfoKind) -> tuple[NfoArt, ...]:
    art: list[NfoArt] = []
    plain = "thumb" if kind == "episodedetails" else "poster"
    for thumb in node.findall("thumb"):
        url = _url(_text(thumb))
        if not url:
            continue
        aspect = (thumb.get("aspect") or "").strip().lower() or None
        collection = bool(aspect and aspect.startswith("set."))
        base = aspect.removeprefix("set.") if aspect else None
        season = _int(thumb.get("season")) if (thumb.get("type") or "").lower() == "season" else None
        art.append(NfoArt(url=url, kind=_ASPECTS.get(base) if base else plain, aspect=aspect,
                          preview=_url(thumb.get("preview")), season=season, collection=collection))
    fanart = node.find("fanart")
    if fanart is not None:
        base_url = (fanart.get("url") or "").strip()
        for thumb in fanart.findall("thumb"):
            value = _text(thumb)
            url = _url(base_url + value if value and base_url and not value.startswith("http") else value)
            if url:
                art.append(NfoArt(url=url, kind="backdrop", aspect="fanart", preview=_url(thumb.get("preview"))))
    holder = node.find("art")
    for child in holder if holder is not None else []:
        url = _url(_text(child))
        aspect = _local(child.tag).lower()
        if url:
            art.append(NfoArt(url=url, kind=_ASPECTS.get(aspect), aspect=aspect))
    return tuple(dict.fromkeys(art))


def _url_only(body: str) -> NfoDocument | None:
    ids, kind = ids_from_text(body)
    if not ids:
        log.warning("NFO ignored: neither XML nor an IMDb, TMDb or TheTVDB address")
        return None
    return NfoDocument(kind=kind or "movie", ids=ids, url_only=True)  # type: ignore[arg-type]


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _text(node: Element | None) -> str | None:
    if node is None or node.text is None:
        return None
    text = node.text.strip()
    return text or None


def _url(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if re.match(r"(?i)^https?://[^\s/]+", value) and len(value) <= 2048 and not any(c.isspace() for c in value):
        return value
    return None


def _float(value: Any) -> float | None:
    if value is None:
        return None
    try:
        return float(str(value).strip().replace(",", "."))
    except ValueError:
        return None


def _int(value: Any) -> int | None:
    if value is None:
        return None
    match = _LEADING_NUMBER.match(str(value))
    return int(match.group(1)) if match else None


def _positive(value: int | None) -> int | None:
    return value if value is not None and value >= 0 else None
