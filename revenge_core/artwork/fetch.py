"""Downloading an image: http(s) only, a few redirects, a time limit and a size limit."""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp

from ..httpclient import client_session
from .images import ArtworkError

MAX_URL_LENGTH = 2048
MAX_REDIRECTS = 5
CHUNK = 64 * 1024


def check_url(url: object) -> str:
    """``url`` if it is an absolute http(s) URL the store accepts. :raises ArtworkError: otherwise."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise ArtworkError(f"an image URL is text of 1 to {MAX_URL_LENGTH} characters")
    if not url.isprintable() or any(c.isspace() for c in url):
        raise ArtworkError("an image URL may not contain spaces or control characters")
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        raise ArtworkError(f"not a valid URL: {url[:200]!r}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ArtworkError(f"only http:// and https:// image URLs are fetched, not {url[:200]!r}")
    return url


async def download(url: str, *, limit: int, timeout: float) -> bytes:
    """The body of ``url`` when it answers 200 with an ``image/*`` type in at most ``limit`` bytes.

    Redirects are followed to http(s) URLs only (aiohttp refuses any other scheme), at most
    :data:`MAX_REDIRECTS` of them. :raises ArtworkError: for every way the download fails.
    """
    check_url(url)
    try:
        async with (client_session(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
                    session.get(url, allow_redirects=True, max_redirects=MAX_REDIRECTS) as response):
            if response.status != 200:
                raise ArtworkError(f"{url} answered HTTP {response.status}")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if not content_type.startswith("image/"):
                raise ArtworkError(f"{url} is not an image (Content-Type {content_type or 'missing'})")
            if response.content_length is not None and response.content_length > limit:
                raise ArtworkError(f"{url} is {response.content_length} bytes, more than the {limit} bytes allowed "
                                   "(artwork.max_download_bytes)")
            body = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK):
                body += chunk
                if len(body) > limit:
                    raise ArtworkError(f"{url} is more than the {limit} bytes allowed (artwork.max_download_bytes)")
            return bytes(body)
    except TimeoutError:
        raise ArtworkError(f"{url} took longer than {timeout:g} s (artwork.download_timeout)") from None
    except aiohttp.ClientError as exc:
        raise ArtworkError(f"could not download {url}: {type(exc).__name__}: {exc}") from None
