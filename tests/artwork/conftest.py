"""A started server with localfs and a tiny ``pic`` content type, two libraries with one item
each, and a local fake image host that serves real images made with libvips."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import pyvips
from aiohttp import web

import revenge_localfs.plugin as localfs_plugin
from revenge_core.http.app import create_app
from revenge_core.http.keys import HOST, SERVICES
from revenge_hookspecs import ContentType, hookimpl
from revenge_hookspecs.media import IngestResult, ItemRef
from tests.identity.conftest import bearer, login, make_user

PASSWORD = "correct horse battery staple"


def make_image(width: int, height: int, fmt: str = "jpg", *, alpha: bool = False, shade: int = 0) -> bytes:
    """A real image: a diagonal colour gradient (so resizing and blurhash have something to see)."""
    xyz = pyvips.Image.xyz(width, height)
    red = (xyz[0] * (255 / max(width - 1, 1)) + shade) % 256
    green = xyz[1] * (255 / max(height - 1, 1))
    blue = (red + green) / 2
    image = red.bandjoin([green, blue])
    if alpha:
        image = image.bandjoin(xyz[0] * (255 / max(width - 1, 1)))
    image = image.cast("uchar").copy(interpretation="srgb")
    if fmt == "png":
        return image.pngsave_buffer()
    if fmt == "webp":
        return image.webpsave_buffer()
    if fmt == "gif":
        return image.gifsave_buffer()
    return image.jpegsave_buffer(Q=90)


def decode(data: bytes) -> pyvips.Image:
    return pyvips.Image.new_from_buffer(data, "")


class FakeImageHost:
    """Answers like an image CDN: images with their type, 404s, redirects; counts every request."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str]] = {
            "/poster.jpg": (make_image(400, 600, "jpg"), "image/jpeg"),
            "/backdrop.jpg": (make_image(640, 360, "jpg", shade=90), "image/jpeg"),
            "/logo.png": (make_image(300, 100, "png", alpha=True), "image/png"),
            "/still.png": (make_image(320, 180, "png", shade=40), "image/png"),
            "/tiny.jpg": (make_image(80, 120, "jpg", shade=20), "image/jpeg"),
            "/fake.jpg": (b"<html><body>Not found, but 200 anyway</body></html>", "image/jpeg"),
            "/page.html": (b"<html>a page</html>", "text/html; charset=utf-8"),
            "/vector.svg": (b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
                            b'<script>alert(1)</script></svg>', "image/svg+xml"),
        }
        self.requests: Counter[str] = Counter()
        self.url = ""

    def add(self, path: str, data: bytes, content_type: str) -> str:
        self.files[path] = (data, content_type)
        return self.url + path

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.requests[path] += 1
        if path == "/redirect":
            raise web.HTTPFound("/poster.jpg")
        if path == "/to-file":
            raise web.HTTPFound("file:///etc/passwd")
        if path == "/stream.jpg":  # no Content-Length: the size limit must hold while reading
            response = web.StreamResponse(headers={"Content-Type": "image/jpeg"})
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(64):
                await response.write(b"\xff" * 65536)
            await response.write_eof()
            return response
        if path not in self.files:
            return web.json_response({"status_code": 34, "status_message": "The resource could not be found."},
                                     status=404)
        body, content_type = self.files[path]
        return web.Response(body=body, headers={"Content-Type": content_type})


@pytest.fixture
async def image_host(aiohttp_server) -> FakeImageHost:
    host = FakeImageHost()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", host.handle)
    server = await aiohttp_server(app)
    host.url = str(server.make_url("")).rstrip("/")
    return host


class PicHandler:
    async def ingest(self, library, files):
        return [IngestResult(media.file_id) for media in files]

    async def files_moved(self, library, moves):
        return None

    async def files_removed(self, library, files):
        return None

    async def refresh(self, library, item_key, *, replace=False):
        return None


class Pics:
    """The content type whose items the images belong to: ``pic`` items in ``pic`` libraries."""

    context = None

    @hookimpl
    def revenge_content_types(self, context):
        self.context = context
        return ContentType("pic", "Pictures", extensions={"jpg"}, handler=PicHandler(), item_types={"pic"})


@pytest.fixture(autouse=True)
def _cheap_hashes(cheap_password_hashes: None) -> None:
    """Every test here creates accounts: hash them cheaply."""


@pytest.fixture
def pics() -> Pics:
    return Pics()


@pytest.fixture
async def client(aiohttp_client, config, tmp_path: Path, pics):
    (tmp_path / "media" / "one").mkdir(parents=True)
    (tmp_path / "media" / "two").mkdir(parents=True)
    config.plugins["localfs"] = {"roots": [str(tmp_path / "media")]}
    config.artwork.max_download_bytes = 1024 * 1024
    return await aiohttp_client(create_app(config, plugins={"localfs": localfs_plugin, "pics": pics}))


@pytest.fixture
def services(client):
    return client.app[SERVICES]


@pytest.fixture
def context(client):
    """The ``pics`` plugin's context: ``context.artwork`` as a plugin gets it."""
    return client.app[HOST].context_for("pics")


@pytest.fixture
async def libraries(services, context, tmp_path: Path):
    """Two libraries with one item each: ``pic:1`` in the first, ``pic:2`` in the second."""
    made = []
    for number, folder in ((1, "one"), (2, "two")):
        library = await services.library.create({"name": f"Pictures {number}", "content_type": "pic",
                                                 "paths": [str(tmp_path / "media" / folder)]})
        await context.library.upsert_items([ItemRef(f"pic:{number}", library.id, f"Picture {number}")])
        made.append(library)
    return made


async def account(client, username: str, role: str | None) -> tuple[int, dict[str, str]]:
    """Make an account with ``role`` and log it in; returns its id and Authorization header."""
    user_id = await make_user(client.app, username, PASSWORD, role=role)
    return user_id, bearer((await login(client, username, PASSWORD))["access_token"])


@pytest.fixture
async def admin(client) -> dict[str, str]:
    return (await account(client, "root", "admin"))[1]
