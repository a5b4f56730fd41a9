"""``context.artwork`` as plugins get it: checked, content-addressed, downloaded once, removed cleanly."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import blurhash
import pytest
import pyvips

from revenge_core.artwork.models import Artwork
from revenge_hookspecs import PluginArtwork, PluginContext
from revenge_hookspecs.media import ArtworkRef
from tests.artwork.conftest import make_image

BLURHASH_CHARS = re.compile(r"^[0-9A-Za-z#$%*+,\-.:;=?@\[\]^_{|}~]+$")


def stored_files(config) -> list[Path]:
    root = config.data_dir / "artwork"
    return sorted(p for p in root.glob("*/*") if p.parent.name != "cache" and p.is_file())


async def rows(services) -> list[Artwork]:
    return await services.artwork._run(lambda: list(Artwork.select().order_by(Artwork.item_key, Artwork.kind)))


async def test_a_downloaded_image_is_checked_described_and_kept_once(context, services, config, image_host,
                                                                     libraries):
    assert isinstance(context, PluginContext) and isinstance(context.artwork, PluginArtwork)
    poster = await context.artwork.store("pic:1", "poster", url=image_host.url + "/poster.jpg", language="en")

    assert isinstance(poster, ArtworkRef)
    assert re.fullmatch(r"[0-9a-f]{24}", poster.id)
    assert (poster.item_key, poster.kind, poster.width, poster.height) == ("pic:1", "poster", 400, 600)
    assert (poster.source, poster.language) == (image_host.url + "/poster.jpg", "en")
    # A portrait image gets 3x4 components: 1 + 1 + 4 + 2 * (12 - 1) characters.
    assert len(poster.blurhash) == 28 and BLURHASH_CHARS.match(poster.blurhash)
    assert blurhash.is_valid_blurhash(poster.blurhash)
    assert blurhash.decode(poster.blurhash, 4, 6).size == (4, 6)
    original = image_host.files["/poster.jpg"][0]
    digest = hashlib.sha256(original).hexdigest()
    assert stored_files(config) == [config.data_dir / "artwork" / digest[:2] / f"{digest}.jpg"]
    assert stored_files(config)[0].read_bytes() == original
    assert poster.url("w92") == f"/api/v1/images/{poster.id}/w92"

    # The same source again: the stored image, without a second download.
    again = await context.artwork.store("pic:1", "poster", url=image_host.url + "/poster.jpg")
    assert again == poster
    assert image_host.requests["/poster.jpg"] == 1

    # The same URL for another item: its own row, the same file, still one download.
    other = await context.artwork.store("pic:2", "poster", url=image_host.url + "/poster.jpg")
    assert other.id != poster.id and other.item_key == "pic:2"
    assert image_host.requests["/poster.jpg"] == 1
    assert len(stored_files(config)) == 1

    # A redirect to another http URL is followed.
    moved = await context.artwork.store("pic:1", "thumb", url=image_host.url + "/redirect")
    assert (moved.width, moved.height) == (400, 600)
    assert image_host.requests["/redirect"] == 1

    logo = await context.artwork.store("pic:1", "logo", url=image_host.url + "/logo.png")
    assert (logo.width, logo.height) == (300, 100)
    assert len(logo.blurhash) == 28 and logo.blurhash != poster.blurhash  # 4x3 for a landscape image
    assert [ref.kind for ref in await context.artwork.for_item("pic:1")] == ["logo", "poster", "thumb"]
    assert await context.artwork.for_item("pic:9") == []
    stored = {row.id: row for row in await rows(services)}
    assert stored[logo.id].alpha is True and stored[poster.id].alpha is False
    assert stored[logo.id].mime == "image/png" and stored[poster.id].mime == "image/jpeg"


@pytest.mark.parametrize(("path", "reason"), [
    ("/fake.jpg", "not an image"),
    ("/page.html", "not an image (Content-Type text/html)"),
    ("/vector.svg", "svg is not accepted"),
    ("/missing.jpg", "HTTP 404"),
    ("/stream.jpg", "more than the 1048576 bytes allowed"),
    ("/to-file", "could not download"),
])
async def test_what_is_not_a_servable_image_is_refused(context, config, image_host, libraries, path, reason):
    with pytest.raises(ValueError, match=re.escape(reason)):
        await context.artwork.store("pic:1", "poster", url=image_host.url + path)
    assert image_host.requests[path] == 1
    assert await context.artwork.for_item("pic:1") == []
    assert stored_files(config) == []


async def test_a_download_larger_than_the_limit_is_refused_before_reading(context, image_host, libraries):
    noise = pyvips.Image.gaussnoise(800, 800, sigma=80).bandjoin(  # noise does not compress
        [pyvips.Image.gaussnoise(800, 800, sigma=80), pyvips.Image.gaussnoise(800, 800, sigma=80)])
    huge = noise.cast("uchar").copy(interpretation="srgb").pngsave_buffer()
    assert len(huge) > 1024 * 1024
    url = image_host.add("/huge.png", huge, "image/png")
    with pytest.raises(ValueError, match=f"is {len(huge)} bytes, more than the 1048576 bytes allowed"):
        await context.artwork.store("pic:1", "backdrop", url=url)


async def test_damaged_and_unknown_bytes_are_refused(context, libraries):
    whole = make_image(200, 300, "jpg")
    with pytest.raises(ValueError, match="damaged image"):
        await context.artwork.store("pic:1", "poster", data=whole[: len(whole) // 2])
    with pytest.raises(ValueError, match="not an image"):
        await context.artwork.store("pic:1", "poster", data=b"GIF89a but not really")
    with pytest.raises(ValueError, match="svg is not accepted"):
        await context.artwork.store("pic:1", "poster", data=b'<svg xmlns="http://www.w3.org/2000/svg" '
                                                            b'width="8" height="8"><rect width="8" height="8"/></svg>')


async def test_arguments_are_checked(context, tmp_path, libraries):
    image = make_image(20, 20, "png")
    for call, message in [
        (dict(item_key="nope", kind="poster", data=image), "invalid item key"),
        (dict(item_key="pic:1", kind="wallpaper", data=image), "unknown artwork kind"),
        (dict(item_key="pic:1", kind="poster"), "exactly one of url, data or path"),
        (dict(item_key="pic:1", kind="poster", data=image, url="http://x/y.jpg"), "exactly one"),
        (dict(item_key="pic:1", kind="poster", url="ftp://example.org/a.jpg"), "only http:// and https://"),
        (dict(item_key="pic:1", kind="poster", url="file:///etc/passwd"), "only http:// and https://"),
        (dict(item_key="pic:1", kind="poster", url="http://x/" + "a" * 3000), "1 to 2048 characters"),
        (dict(item_key="pic:1", kind="poster", path="relative/poster.jpg"), "absolute path"),
        (dict(item_key="pic:1", kind="poster", path=str(tmp_path)), "not a regular file"),
        (dict(item_key="pic:1", kind="poster", path=str(tmp_path / "gone.jpg")), "cannot read"),
        (dict(item_key="pic:1", kind="poster", data=image, language="english!"), "invalid image language"),
        (dict(item_key="pic:1", kind="poster", data="text"), "data must be bytes"),
    ]:
        key, kind = call.pop("item_key"), call.pop("kind")
        with pytest.raises(ValueError, match=re.escape(message)):
            await context.artwork.store(key, kind, **call)
    assert await context.artwork.for_item("pic:1") == []


async def test_bytes_and_local_files_are_stored_once_and_a_changed_file_replaces_its_image(
        context, config, tmp_path, libraries):
    data = make_image(120, 180, "webp")
    first = await context.artwork.store("pic:1", "poster", data=data)
    assert first.source == "sha256:" + hashlib.sha256(data).hexdigest()
    assert await context.artwork.store("pic:1", "poster", data=bytearray(data)) == first
    assert (first.width, first.height) == (120, 180)

    local = tmp_path / "media" / "one" / "folder.jpg"
    local.write_bytes(make_image(150, 100, "jpg"))
    from_file = await context.artwork.store("pic:1", "thumb", path=str(local))
    assert (from_file.source, from_file.width, from_file.height) == (str(local), 150, 100)
    assert await context.artwork.store("pic:1", "thumb", path=str(local)) == from_file
    old_file = [p for p in stored_files(config) if p.suffix == ".jpg"]
    assert len(old_file) == 1

    # The user puts a new picture in its place: same image id, new content, old file gone.
    local.write_bytes(make_image(90, 60, "png"))
    replaced = await context.artwork.store("pic:1", "thumb", path=str(local))
    assert replaced.id == from_file.id
    assert (replaced.width, replaced.height) == (90, 60)
    assert not old_file[0].exists()
    assert sorted(p.suffix for p in stored_files(config)) == [".png", ".webp"]

    with pytest.raises(ValueError, match="more than the 1048576 bytes allowed"):
        await context.artwork.store("pic:1", "banner", data=b"\0" * (1024 * 1024 + 1))


async def test_remove_item_deletes_files_no_other_item_uses(context, services, config, image_host, libraries,
                                                            client, admin):
    shared = await context.artwork.store("pic:1", "poster", url=image_host.url + "/poster.jpg")
    await context.artwork.store("pic:2", "poster", url=image_host.url + "/poster.jpg")
    own = await context.artwork.store("pic:1", "backdrop", url=image_host.url + "/backdrop.jpg")
    assert len(stored_files(config)) == 2
    # A resized copy is cached on first use; it goes with its original.
    response = await client.get(f"/api/v1/images/{own.id}/w92", headers=admin)
    assert response.status == 200
    cached = list((config.data_dir / "artwork" / "cache").glob("*/*"))
    assert len(cached) == 1

    await context.artwork.remove_item("pic:1")
    assert await context.artwork.for_item("pic:1") == []
    assert [ref.item_key for ref in await context.artwork.for_item("pic:2")] == ["pic:2"]
    poster_digest = hashlib.sha256(image_host.files["/poster.jpg"][0]).hexdigest()
    assert [p.stem for p in stored_files(config)] == [poster_digest]  # still used by pic:2
    assert not cached[0].exists()
    assert (await client.get(f"/api/v1/images/{shared.id}/original",
                             headers=admin)).status == 404

    await context.artwork.remove_item("pic:2")
    assert stored_files(config) == []
    assert await rows(services) == []
    await context.artwork.remove_item("pic:2")  # nothing left: nothing happens


async def test_removing_an_item_from_the_registry_removes_its_images(context, config, image_host, libraries):
    await context.artwork.store("pic:1", "poster", url=image_host.url + "/poster.jpg")
    await context.library.remove_items(["pic:1"])
    assert await context.artwork.for_item("pic:1") == []
    assert stored_files(config) == []

