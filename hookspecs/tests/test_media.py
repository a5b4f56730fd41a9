"""The media contract: item keys, claiming files, match scores, provider chains, kit stand-ins."""

from __future__ import annotations

import asyncio
import struct
import zlib
from datetime import datetime

import pytest

from revenge_hookspecs import ContentType, MetadataMatch, MetadataProvider
from revenge_hookspecs.errors import NotFound
from revenge_hookspecs.media import (
    AUTO_MATCH_THRESHOLD,
    ArtworkRef,
    ItemMetadata,
    ItemRef,
    Library,
    MetadataChain,
    ProviderError,
    confident_match,
    item_key,
    match_score,
    normalize_title,
    parse_item_key,
)
from revenge_hookspecs.testing_media import MemoryArtwork, MemoryLibrary, MemoryMetadata, image_size

# --- item keys ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "ident"), [("movie", 42), ("episode", "7"), ("series", "abc-1.2")])
def test_item_keys_round_trip(kind, ident):
    key = item_key(kind, ident)
    assert key == f"{kind}:{ident}"
    assert parse_item_key(key) == (kind, str(ident))


@pytest.mark.parametrize("key", ["movie", "movie:", ":1", "Movie:1", "movie:1/2", "movie:../x", "movie:1 2",
                                 "m" * 40 + ":1", "movie:" + "1" * 70, None, 42])
def test_bad_item_keys_are_refused(key):
    with pytest.raises(ValueError, match="invalid item key"):
        parse_item_key(key)


def test_item_ref_checks_its_key():
    assert ItemRef(key="movie:1", library_id="1", title="x").item_type == "movie"
    with pytest.raises(ValueError):
        ItemRef(key="movie/1", library_id="1", title="x")


# --- content types claim files ------------------------------------------------------------------


def test_content_type_claims_by_extension_then_claim():
    movies = ContentType(name="movie", label="Movies", extensions={"mkv", "mp4"})
    assert movies.claims("/m/The Matrix (1999)/The Matrix.MKV")
    assert not movies.claims("/m/The Matrix (1999)/movie.nfo")
    assert not movies.claims("/m/folder.mkv/README")
    picky = ContentType(name="movie2", label="x", extensions={"mkv"}, claim=lambda p: "sample" not in p)
    assert picky.claims("/m/a.mkv") and not picky.claims("/m/a.sample.mkv")
    assert not ContentType(name="nothing", label="x").claims("/m/a.mkv")


def test_library_language_defaults_to_the_first_preference():
    assert Library(id="1", name="m", content_type="movie", paths="/m").paths == ("/m",)
    assert Library(id="1", name="m", content_type="movie", paths=["/m"], languages=["de-DE", "en"]).language == "de-DE"
    assert Library(id="1", name="m", content_type="movie", paths=["/m"], languages=[]).language == "en"


# --- matching ------------------------------------------------------------------------------------


def test_normalized_titles_ignore_case_accents_punctuation_and_articles():
    assert normalize_title("The Matrix") == normalize_title("matrix") == "matrix"
    assert normalize_title("Amélie") == "amelie"
    assert normalize_title("Fast & Furious") == "fast and furious"
    assert normalize_title("Spider-Man: No Way Home") == "spider man no way home"


def test_match_scores_rank_the_right_candidate_first():
    exact = match_score("The Matrix", 1999, "The Matrix", 1999)
    off_by_one = match_score("The Matrix", 1999, "The Matrix", 2000)
    no_year = match_score("The Matrix", None, "The Matrix", 1999)
    sequel = match_score("The Matrix", 1999, "The Matrix Reloaded", 2003)
    assert exact == 1.0
    assert exact > off_by_one > no_year > sequel
    assert off_by_one >= AUTO_MATCH_THRESHOLD > sequel
    assert no_year >= AUTO_MATCH_THRESHOLD  # an exact title alone may match, unless ambiguous
    assert match_score("Le Fabuleux Destin", 2001, "Amélie", 2001,
                       alternative_titles=["Le Fabuleux Destin d'Amélie Poulain"]) > match_score(
        "Le Fabuleux Destin", 2001, "Amélie", 2001)
    assert match_score("x", None, "y", None, same_external_id=True) == 1.0


def match(title, score, ident="1"):
    return MetadataMatch(provider="p", external_id=ident, title=title, score=score)


def test_confident_match_needs_a_high_score_and_a_clear_lead():
    assert confident_match([]) is None
    assert confident_match([match("A", 0.84)]) is None
    assert confident_match([match("B", 0.7), match("A", 0.9)]).title == "A"
    # Two films called the same and no year: left for the user.
    assert confident_match([match("A", 0.85, "1"), match("A", 0.85, "2")]) is None
    assert confident_match([match("A", 0.95, "1"), match("A", 0.9, "2")]) is None
    # A certain match wins even against a close runner-up.
    assert confident_match([match("A", 1.0, "1"), match("A", 0.95, "2")]).external_id == "1"


# --- provider chains -----------------------------------------------------------------------------


class FakeSource:
    def __init__(self, name, answers=None, error=None, delay=0.0):
        self.name, self.answers, self.error, self.delay = name, answers or [], error, delay
        self.calls = []

    async def search(self, content_type, query, *, year=None, language=None, external_ids=None):
        self.calls.append(("search", content_type, query, year, language, dict(external_ids or {})))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.error:
            raise self.error
        return [MetadataMatch(provider=self.name, external_id=str(i), title=t, score=s)
                for i, (t, s) in enumerate(self.answers)]

    async def lookup(self, content_type, external_id, *, language=None):
        self.calls.append(("lookup", content_type, external_id, language))
        if self.error:
            raise self.error
        return ItemMetadata(provider=self.name, external_id=external_id, content_type=content_type, title="T")


def provider(name, priority, source, types=("movie",)):
    return MetadataProvider(name=name, content_types=set(types), source=source, priority=priority)


async def test_chain_asks_by_priority_and_falls_back_past_failures():
    failing = FakeSource("a", error=ProviderError("a", "down", status=503))
    empty = FakeSource("b")
    good = FakeSource("c", answers=[("Low", 0.2), ("High", 0.9)])
    never = FakeSource("d", answers=[("Other", 1.0)])
    failures = []
    chain = MetadataChain(lambda: [provider("d", 40, never), provider("c", 30, good), provider("a", 10, failing),
                                   provider("b", 20, empty), provider("tv", 1, never, types=("tv",))],
                          on_failure=lambda name, exc: failures.append(name))
    matches, attempts = await chain.search("movie", "High", year=1999, language="en",
                                           external_ids={"imdb": "tt1"})
    assert [m.title for m in matches] == ["High", "Low"]  # best first
    assert [(a.provider, a.ok, a.results) for a in attempts] == [("a", False, 0), ("b", True, 0), ("c", True, 2)]
    assert "ProviderError" in attempts[0].error and failures == ["a"]
    assert never.calls == []
    assert good.calls[0] == ("search", "movie", "High", 1999, "en", {"imdb": "tt1"})


async def test_library_order_comes_before_priority_and_only_narrows():
    first, second = FakeSource("x", answers=[("A", 1.0)]), FakeSource("y", answers=[("B", 1.0)])
    chain = MetadataChain(lambda: [provider("x", 10, first), provider("y", 20, second)])
    assert chain.names("movie") == ["x", "y"]
    assert chain.names("movie", order=("y", "unknown")) == ["y", "x"]
    matches, _ = await chain.search("movie", "q", order=("y",))
    assert matches[0].provider == "y" and first.calls == []
    matches, attempts = await chain.search("movie", "q", only="x")
    assert matches[0].provider == "x" and [a.provider for a in attempts] == ["x"]


async def test_chain_times_out_a_slow_provider():
    slow, fast = FakeSource("slow", answers=[("A", 1.0)], delay=5), FakeSource("fast", answers=[("B", 1.0)])
    chain = MetadataChain(lambda: [provider("slow", 1, slow), provider("fast", 2, fast)], timeout=0.05)
    matches, attempts = await chain.search("movie", "q")
    assert matches[0].provider == "fast" and attempts[0].error.startswith("TimeoutError")


async def test_lookup_goes_to_the_named_provider_and_raises_its_failure():
    ok, bad = FakeSource("ok"), FakeSource("bad", error=ProviderError("bad", "401", status=401))
    chain = MetadataChain(lambda: [provider("ok", 1, ok), provider("bad", 2, bad)])
    assert (await chain.lookup("movie", "ok", "603", language="de")).external_id == "603"
    assert ok.calls == [("lookup", "movie", "603", "de")]
    assert await chain.lookup("movie", "missing", "1") is None
    with pytest.raises(ProviderError) as info:
        await chain.lookup("movie", "bad", "1")
    assert info.value.status == 401 and info.value.provider == "bad"


async def test_chain_reports_every_request_and_each_failure_once_for_search_and_lookup():
    requests, failures = [], []
    down = FakeSource("a", error=ProviderError("a", "down", status=503))
    good = FakeSource("b", answers=[("B", 1.0)])
    chain = MetadataChain(lambda: [provider("a", 1, down), provider("b", 2, good)],
                          on_request=requests.append, on_failure=lambda name, exc: failures.append((name, exc)))
    matches, _ = await chain.search("movie", "q")
    assert matches[0].provider == "b"
    assert requests == ["a", "b"]
    assert failures == [("a", down.error)]  # once, not again by first()

    requests.clear()
    failures.clear()
    assert (await chain.lookup("movie", "b", "1")).provider == "b"
    assert requests == ["b"] and failures == []
    with pytest.raises(ProviderError) as info:
        await chain.lookup("movie", "a", "1")
    assert info.value is down.error  # still re-raised
    assert requests == ["b", "a"] and failures == [("a", down.error)]
    assert await chain.lookup("movie", "missing", "1") is None
    assert requests == ["b", "a"]  # no provider asked, nothing reported

    class SlowLookup(FakeSource):
        async def lookup(self, content_type, external_id, *, language=None):
            await asyncio.sleep(5)

    timed = MetadataChain(lambda: [provider("slow", 1, SlowLookup("slow"))], timeout=0.05,
                          on_request=requests.append, on_failure=lambda name, exc: failures.append((name, exc)))
    requests.clear()
    failures.clear()
    with pytest.raises(TimeoutError):
        await timed.lookup("movie", "slow", "1")
    assert requests == ["slow"] and [(n, type(e)) for n, e in failures] == [("slow", TimeoutError)]


# --- test-kit stand-ins ----------------------------------------------------------------------------


def png(width: int, height: int) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + b"\x80\x80\x80" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_image_size_reads_real_headers():
    assert image_size(png(7, 3)) == (7, 3)
    assert image_size(b"GIF89a" + struct.pack("<HH", 5, 9) + b"\0" * 10) == (5, 9)
    with pytest.raises(ValueError):
        image_size(b"<html>not an image</html>")


async def test_memory_library_tracks_files_and_items(tmp_path):
    library = MemoryLibrary(storages={"localfs": object()})
    lib = library.add_library(Library(id="1", name="Movies", content_type="movie", paths=[str(tmp_path)]))
    media = library.add_file(lib, f"{tmp_path}/The Matrix (1999)/The Matrix.mkv", size=10, mtime=1.0)
    assert media.relative_path == "The Matrix (1999)/The Matrix.mkv"
    assert media.folder == "The Matrix (1999)" and media.name == "The Matrix.mkv"
    with pytest.raises(ValueError):
        library.add_file(lib, "/elsewhere/x.mkv")
    assert [f.file_id for f in await library.files(library_id="1")] == [media.file_id]
    await library.upsert_items([ItemRef(key="movie:1", library_id="1", title="The Matrix", year=1999)])
    first = (await library.item("movie:1")).added_at
    await library.upsert_items([ItemRef(key="movie:1", library_id="1", title="The Matrix (1999)")])
    again = await library.item("movie:1")
    assert again.title == "The Matrix (1999)" and again.added_at == first and isinstance(first, datetime)
    with pytest.raises(NotFound):
        await library.upsert_items([ItemRef(key="movie:2", library_id="9", title="x")])
    await library.remove_items(["movie:1"])
    assert await library.item("movie:1") is None
    assert library.storage(lib) is library.storages["localfs"]
    with pytest.raises(NotFound):
        await library.get("9")


async def test_memory_metadata_uses_the_chain():
    source = FakeSource("fake", answers=[("The Matrix", 0.95)])
    metadata = MemoryMetadata(lambda: [])
    metadata.extra.append(provider("fake", 5, source))
    assert metadata.providers("movie") == ["fake"]
    assert (await metadata.search("movie", "The Matrix"))[0].title == "The Matrix"
    assert metadata.attempts[-1].provider == "fake"


async def test_memory_artwork_stores_each_source_once(tmp_path):
    fetched = []

    async def fetch(url):
        fetched.append(url)
        return png(4, 6)

    artwork = MemoryArtwork(fetch=fetch)
    ref = await artwork.store("movie:1", "poster", url="http://images/poster.png")
    again = await artwork.store("movie:1", "poster", url="http://images/poster.png")
    assert ref == again and fetched == ["http://images/poster.png"]
    assert (ref.width, ref.height) == (4, 6)
    assert isinstance(ref, ArtworkRef) and ref.url("w342") == f"/api/v1/images/{ref.id}/w342"
    with pytest.raises(ValueError):
        ref.url("w9999")
    with pytest.raises(ValueError):
        await artwork.store("movie:1", "poster", data=b"not an image")
    with pytest.raises(ValueError):
        await artwork.store("movie:1", "wallpaper", data=png(1, 1))
    local = tmp_path / "fanart.png"
    local.write_bytes(png(8, 2))
    await artwork.store("movie:1", "backdrop", path=str(local))
    assert {r.kind for r in await artwork.for_item("movie:1")} == {"poster", "backdrop"}
    await artwork.remove_item("movie:1")
    assert await artwork.for_item("movie:1") == []


async def test_chain_raises_when_every_provider_failed():
    down = FakeSource("a", error=ProviderError("a", "down", status=503))
    chain = MetadataChain(lambda: [provider("a", 1, down), provider("b", 2, FakeSource("b", error=OSError("x")))])
    with pytest.raises(ProviderError, match=r"every provider failed: a: .*down; b: OSError"):
        await chain.search("movie", "q")
    # No provider at all for the type is not a failure: nothing to ask, nothing found.
    assert (await chain.search("music", "q")) == ([], [])


async def test_memory_library_refuses_items_the_server_would_refuse():
    movie = ContentType(name="movie", label="Movies", extensions={"mkv"}, item_types={"movie"})
    library = MemoryLibrary(plugin="movies", content_types=lambda: [movie])
    mine = library.add_library(Library(id="1", name="Movies", content_type="movie", paths=["/m"]))
    library.add_library(Library(id="2", name="Shows", content_type="tv", paths=["/t"]))
    await library.upsert_items([ItemRef(key="movie:1", library_id=mine.id, title="x")])
    with pytest.raises(ValueError, match="items of type episode"):
        await library.upsert_items([ItemRef(key="episode:1", library_id="1", title="x")])
    with pytest.raises(ValueError, match="belongs to no enabled plugin"):
        await library.upsert_items([ItemRef(key="movie:2", library_id="2", title="x")])
    assert list(library.items) == ["movie:1"]
