"""GET /api/v1/images/{image_id}/{size}: a stored image, resized, behind its item's access rules.

An image is visible to whoever may view its item (a grant on the item or on its library;
admins see all); any other caller gets the same 404 as for an id that does not exist.
Resized images are WebP for clients that accept it, else PNG when the image has transparency,
else JPEG; the original is sent as stored. Answers carry a strong ETag and may be cached by
the client only (``private``), since they are access-controlled.
"""

from __future__ import annotations

from aiohttp import web
from loguru import logger

from revenge_hookspecs.errors import BadRequest, NotFound
from revenge_hookspecs.media import IMAGE_SIZES

from ..identity.principal import PRINCIPAL
from .keys import SERVICES
from .routing import RouteDeclaration, declare

PREFIX = "/api/v1"
CACHE_CONTROL = "private, max-age=86400"
PERMISSION = "content:read"


def accepts_webp(request: web.Request) -> bool:
    """Whether the client's Accept header names ``image/webp`` (with a non-zero quality)."""
    for part in request.headers.get("Accept", "").split(","):
        media_type, *params = (piece.strip() for piece in part.split(";"))
        if media_type.lower() != "image/webp":
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def not_modified(request: web.Request, etag: str) -> bool:
    """Whether If-None-Match names this ETag (weak comparison, as RFC 9110 asks) or ``*``."""
    try:
        wanted = request.if_none_match
    except ValueError:
        return False
    return bool(wanted) and any(tag.value in (etag, "*") for tag in wanted)


async def _may_view(request: web.Request, item_key: str) -> bool:
    services = request.app[SERVICES]
    library_id = (await services.library.items.library_of([item_key])).get(item_key)
    if library_id is None:
        return False
    return await services.identity.grants.can(request.get(PRINCIPAL), "view", "item", item_key,
                                              library_id=library_id)


async def get_image(request: web.Request) -> web.Response:
    size = request.match_info["size"]
    if size not in IMAGE_SIZES:
        raise BadRequest(f"Unknown image size {size[:20]!r}; use one of {', '.join(IMAGE_SIZES)}.",
                         {"key": "size", "sizes": list(IMAGE_SIZES)})
    artwork = request.app[SERVICES].artwork
    row = await artwork.get(request.match_info["image_id"])
    if row is None or not await _may_view(request, row.item_key):
        raise NotFound("There is no such image.")
    output, mime = artwork.output(row, size, accepts_webp(request))
    etag = artwork.etag(row, size, output)
    headers = {"ETag": f'"{etag}"', "Cache-Control": CACHE_CONTROL}
    if size != "original":
        headers["Vary"] = "Accept"
    if not_modified(request, etag):
        return web.Response(status=304, headers=headers)
    try:
        body = await (artwork.original(row) if size == "original" else artwork.render(row, size, output))
    except FileNotFoundError:
        logger.warning("image {} of {} is in the database but its file is gone; store it again", row.id,
                       row.item_key)
        raise NotFound("There is no such image.") from None
    return web.Response(body=body, content_type=mime, headers=headers)


_route = declare(PREFIX, ("images",))

ROUTES: list[RouteDeclaration] = [
    _route("GET", "/images/{image_id}/{size}", get_image, PERMISSION,
           "An image of an item, resized (w92 ... w1280) or original",
           description=("Sizes: " + ", ".join(IMAGE_SIZES) + ". Resized images are WebP when Accept names "
                        "image/webp, else PNG for transparent images, else JPEG; never wider than the "
                        "original. Visible to whoever may view the image's item; otherwise 404.")),
]

__all__ = ["ROUTES"]
