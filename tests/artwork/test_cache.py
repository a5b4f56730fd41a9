"""The resized-image cache and the libvips helpers, without a server."""

from __future__ import annotations

import asyncio
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import pyvips

from revenge_core.artwork import images
from revenge_core.artwork.cache import VariantCache
from tests.artwork.conftest import decode, make_image


@pytest.fixture
def executor():
    pool = ThreadPoolExecutor(max_workers=2)
    yield pool
    pool.shutdown(wait=True)


def maker(calls: list[str], size: int = 1000, gate: threading.Event | None = None):
    def make() -> bytes:
        if gate is not None:
            gate.wait(5)
        calls.append("made")
        return b"x" * size

    return make


async def test_many_requests_for_one_variant_share_one_resize(tmp_path, executor):
    cache = VariantCache(tmp_path, 10_000_000, executor)
    calls: list[str] = []
    gate = threading.Event()
    waiting = [asyncio.ensure_future(cache.get("ab" * 32, "w92", "jpeg", maker(calls, gate=gate))) for _ in range(8)]
    await asyncio.sleep(0.05)
    gate.set()
    results = await asyncio.gather(*waiting)
    assert calls == ["made"] and all(r == b"x" * 1000 for r in results)
    # Next time it comes from disk.
    assert await cache.get("ab" * 32, "w92", "jpeg", maker(calls)) == b"x" * 1000
    assert calls == ["made"]
    assert cache.path("ab" * 32, "w92", "jpeg").read_bytes() == b"x" * 1000


async def test_a_client_that_hangs_up_does_not_cancel_the_resize_others_wait_for(tmp_path, executor):
    cache = VariantCache(tmp_path, 10_000_000, executor)
    calls: list[str] = []
    gate = threading.Event()
    first = asyncio.ensure_future(cache.get("cd" * 32, "w92", "webp", maker(calls, gate=gate)))
    second = asyncio.ensure_future(cache.get("cd" * 32, "w92", "webp", maker(calls)))
    await asyncio.sleep(0.05)
    first.cancel()
    gate.set()
    assert await second == b"x" * 1000
    assert calls == ["made"]


async def test_the_cache_stays_under_its_bound_dropping_the_least_recently_used(tmp_path, executor):
    cache = VariantCache(tmp_path, 10_000, executor)
    calls: list[str] = []
    shas = [f"{n:02x}" * 32 for n in range(12)]
    for n, sha in enumerate(shas[:9]):
        await cache.get(sha, "w92", "jpeg", maker(calls))
        path = cache.path(sha, "w92", "jpeg")
        os.utime(path, (time.time() - 10_000 + n, time.time() - 10_000 + n))
    # The oldest one is used again: it counts as recent from now on.
    await cache.get(shas[0], "w92", "jpeg", maker(calls))
    assert calls == ["made"] * 9
    for sha in shas[9:]:
        await cache.get(sha, "w92", "jpeg", maker(calls))
    files = list(tmp_path.glob("*/*"))
    assert sum(p.stat().st_size for p in files) <= 10_000
    kept = {p.name.split("-")[0] for p in files}
    assert shas[0] in kept and shas[11] in kept
    assert shas[1] not in kept and shas[2] not in kept

    cache.drop(shas[0])
    assert not cache.path(shas[0], "w92", "jpeg").exists()


async def test_a_cache_of_zero_keeps_nothing(tmp_path, executor):
    cache = VariantCache(tmp_path, 0, executor)
    calls: list[str] = []
    for _ in range(2):
        assert await cache.get("ef" * 32, "w92", "png", maker(calls)) == b"x" * 1000
    assert calls == ["made", "made"] and list(tmp_path.iterdir()) == []


def test_inspect_describes_formats_alpha_and_rotation() -> None:
    for fmt, mime in (("jpg", "image/jpeg"), ("png", "image/png"), ("webp", "image/webp"), ("gif", "image/gif")):
        facts = images.inspect(make_image(64, 32, fmt))
        assert (facts.mime, facts.width, facts.height, facts.alpha) == (mime, 64, 32, False)
    assert images.inspect(make_image(64, 32, "png", alpha=True)).alpha is True

    # A phone photo stored sideways with EXIF orientation 6 is 32 wide and 64 tall as shown.
    rotated = pyvips.Image.new_from_buffer(make_image(64, 32, "jpg"), "").copy()
    rotated.set_type(pyvips.GValue.gint_type, "orientation", 6)
    data = rotated.jpegsave_buffer(keep="exif")
    facts = images.inspect(data)
    assert (facts.width, facts.height) == (32, 64)


def test_render_resizes_by_width_and_flattens_transparency_for_jpeg(tmp_path) -> None:
    source = tmp_path / "logo.png"
    source.write_bytes(make_image(300, 100, "png", alpha=True))
    small = decode(images.render(str(source), 150, "jpeg"))
    assert (small.width, small.height, small.bands, small.hasalpha()) == (150, 50, 3, False)
    # Transparent pixels (the left edge) are flattened onto white.
    assert small(0, 25)[:3] == pytest.approx([255, 255, 255], abs=40)
    kept = decode(images.render(str(source), 1280, "png"))
    assert (kept.width, kept.height, kept.hasalpha()) == (300, 100, True)


def test_too_many_pixels_are_refused_before_decoding(monkeypatch) -> None:
    monkeypatch.setattr(images, "MAX_PIXELS", 64 * 63)
    with pytest.raises(images.ArtworkError, match="larger than 4032 pixels"):
        images.inspect(make_image(64, 64, "png"))
