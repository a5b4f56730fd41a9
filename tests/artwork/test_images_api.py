"""GET /api/v1/images/{id}/{size} over real HTTP: sizes, formats, caching headers and access."""

from __future__ import annotations

import pytest

from revenge_core.identity.authorizer import IDENTITY
from revenge_hookspecs.media import IMAGE_SIZES
from tests.artwork.conftest import account, decode, make_image

WEBP = "image/avif,image/webp,image/apng,*/*;q=0.8"


@pytest.fixture
async def poster(context, image_host, libraries):
    return await context.artwork.store("pic:1", "poster", url=image_host.url + "/poster.jpg")


async def test_sizes_are_widths_never_upscaled_and_the_original_is_sent_unchanged(client, admin, context,
                                                                                   image_host, poster):
    for size, width in (("w92", 92), ("w185", 185), ("w342", 342)):
        response = await client.get(poster.url(size), headers=admin)
        assert response.status == 200, await response.text()
        assert response.headers["Content-Type"] == "image/jpeg"
        body = await response.read()
        assert int(response.headers["Content-Length"]) == len(body)
        image = decode(body)
        assert (image.width, image.height) == (width, round(width * 600 / 400))
        assert image.get("vips-loader") == "jpegload_buffer"

    response = await client.get(poster.url("original"), headers=admin)
    assert response.status == 200
    assert response.headers["Content-Type"] == "image/jpeg"
    assert await response.read() == image_host.files["/poster.jpg"][0]
    assert "Vary" not in response.headers

    # 400 pixels wide: w500 and w1280 keep it at 400, never blown up.
    for size in ("w500", "w1280"):
        image = decode(await (await client.get(poster.url(size), headers=admin)).read())
        assert (image.width, image.height) == (400, 600)
    tiny = await context.artwork.store("pic:1", "thumb", url=image_host.url + "/tiny.jpg")
    image = decode(await (await client.get(tiny.url("w300"), headers=admin)).read())
    assert (image.width, image.height) == (80, 120)


async def test_webp_for_clients_that_take_it_png_for_transparency_else_jpeg(client, admin, context, image_host,
                                                                             poster):
    plain = await client.get(poster.url("w154"), headers=admin)
    webp = await client.get(poster.url("w154"), headers={**admin, "Accept": WEBP})
    refused = await client.get(poster.url("w154"), headers={**admin, "Accept": "image/webp;q=0, image/jpeg"})
    assert plain.headers["Content-Type"] == refused.headers["Content-Type"] == "image/jpeg"
    assert webp.headers["Content-Type"] == "image/webp"
    body = await webp.read()
    assert body[:4] == b"RIFF" and body[8:12] == b"WEBP"
    assert decode(body).width == 154
    for response in (plain, webp):
        assert response.headers["Vary"] == "Accept"
    assert plain.headers["ETag"] != webp.headers["ETag"]

    logo = await context.artwork.store("pic:1", "logo", url=image_host.url + "/logo.png")
    response = await client.get(logo.url("w92"), headers=admin)
    assert response.headers["Content-Type"] == "image/png"
    image = decode(await response.read())
    assert (image.width, image.height, image.hasalpha()) == (92, 31, True)
    response = await client.get(logo.url("w92"), headers={**admin, "Accept": WEBP})
    image = decode(await response.read())
    assert (image.get("vips-loader"), image.hasalpha()) == ("webpload_buffer", True)

    # A PNG without transparency is sent as JPEG.
    still = await context.artwork.store("pic:1", "still", url=image_host.url + "/still.png")
    assert (await client.get(still.url("w92"), headers=admin)).headers["Content-Type"] == "image/jpeg"
    original = await client.get(still.url("original"), headers={**admin, "Accept": WEBP})
    assert original.headers["Content-Type"] == "image/png"
    assert await original.read() == image_host.files["/still.png"][0]


async def test_strong_etags_answer_304_and_resized_images_are_cached_on_disk(client, admin, config, poster):
    first = await client.get(poster.url("w92"), headers=admin)
    etag = first.headers["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert first.headers["Cache-Control"] == "private, max-age=86400"
    cached = list((config.data_dir / "artwork" / "cache").glob("*/*"))
    assert [p.name.split("-", 1)[1] for p in cached] == ["w92.jpeg"]
    assert cached[0].read_bytes() == await first.read()

    again = await client.get(poster.url("w92"), headers={**admin, "If-None-Match": etag})
    assert again.status == 304
    assert await again.read() == b""
    assert (again.headers["ETag"], again.headers["Cache-Control"]) == (etag, "private, max-age=86400")
    for header in (f"W/{etag}", f'"other", {etag}', "*"):
        assert (await client.get(poster.url("w92"), headers={**admin, "If-None-Match": header})).status == 304
    stale = await client.get(poster.url("w92"), headers={**admin, "If-None-Match": '"something-else"'})
    assert stale.status == 200 and await stale.read() == cached[0].read_bytes()

    # ETags differ by size and format, and stay the same for the same bytes.
    etags = {(await client.get(poster.url(size), headers=admin)).headers["ETag"] for size in IMAGE_SIZES}
    assert len(etags) == len(IMAGE_SIZES)
    assert (await client.get(poster.url("w92"), headers=admin)).headers["ETag"] == etag


async def test_bad_sizes_and_ids(client, admin, poster):
    response = await client.get(f"/api/v1/images/{poster.id}/w93", headers=admin)
    assert response.status == 400
    body = await response.json()
    assert body["code"] == "bad_request" and "w92" in body["message"]
    for path in (f"/api/v1/images/{poster.id.upper()}/w92", "/api/v1/images/0123456789abcdef01234567/w92",
                 "/api/v1/images/..%2f..%2fetc/w92", f"/api/v1/images/{poster.id}x/original"):
        response = await client.get(path, headers=admin)
        assert response.status == 404, path
        assert (await response.json())["code"] == "not_found"


async def test_an_image_is_visible_exactly_to_those_who_see_its_item(client, context, poster, libraries):
    grants = client.app[IDENTITY].grants
    first, second = libraries
    unknown = "/api/v1/images/0123456789abcdef01234567/w92"

    response = await client.get(poster.url("w92"))
    assert response.status == 401
    assert (await response.json())["code"] == "unauthorized"

    # Without a grant the image looks exactly like one that does not exist.
    _, stranger = await account(client, "stranger", "user")
    hidden = await client.get(poster.url("w92"), headers=stranger)
    missing = await client.get(unknown, headers=stranger)
    assert hidden.status == missing.status == 404
    shown = [{k: v for k, v in (await r.json()).items() if k != "request_id"} for r in (hidden, missing)]
    assert shown[0] == shown[1] and shown[0]["code"] == "not_found"

    # A grant on the other library shows nothing here; one on this library does.
    viewer_id, viewer = await account(client, "viewer", "user")
    await grants.grant("user", viewer_id, "library", second.id, "view")
    assert (await client.get(poster.url("w92"), headers=viewer)).status == 404
    await grants.grant("user", viewer_id, "library", first.id, "view")
    assert (await client.get(poster.url("w92"), headers=viewer)).status == 200

    # A grant on the item alone is enough too, and shows no other item's images.
    sharer_id, sharer = await account(client, "sharer", "user")
    await grants.grant("user", sharer_id, "item", "pic:1", "view")
    assert (await client.get(poster.url("original"), headers=sharer)).status == 200
    other = await context.artwork.store("pic:2", "poster", data=make_image(50, 75, "png"))
    assert (await client.get(other.url("original"), headers=sharer)).status == 404

    # A guest may browse granted libraries but not read content: the route refuses first.
    guest_id, guest = await account(client, "guest", "guest")
    await grants.grant("user", guest_id, "library", first.id, "view")
    response = await client.get(poster.url("w92"), headers=guest)
    assert response.status == 403 and (await response.json())["code"] == "forbidden"


async def test_an_image_of_an_item_not_in_the_registry_is_hidden_even_from_admins(client, admin, context,
                                                                                  libraries):
    orphan = await context.artwork.store("pic:404", "poster", data=make_image(40, 60, "jpg"))
    assert (await client.get(orphan.url("w92"), headers=admin)).status == 404

