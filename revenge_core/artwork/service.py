"""The artwork store: ``context.artwork`` for plugins, and what ``/api/v1/images`` serves.

An image arrives from a URL (downloaded once), a local file or bytes; it is checked with
libvips, described (size, alpha, blurhash) and kept once under
``<data_dir>/artwork/<sha256[:2]>/<sha256>.<ext>`` whatever number of items use it. The same
source stored again for the same item and kind finds its row without downloading; a URL
another item already stored is not downloaded again either. A local file is read again each
time, so a poster replaced on disk replaces the stored one (same id, new content, new ETag).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger

from revenge_hookspecs.media import ARTWORK_KINDS, IMAGE_SIZES, ArtworkRef, parse_item_key

from . import images
from .cache import VariantCache, write_atomically
from .fetch import check_url, download
from .images import ArtworkError, ImageFacts
from .models import IMAGE_ID, MODELS, Artwork

if TYPE_CHECKING:
    from ..services import Services

T = TypeVar("T")
LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8}){0,3}$")
RENDER_VERSION = "1"
"""Part of every ETag: bump it when resized images come out differently (quality, format)."""


def ref_of(row: Artwork) -> ArtworkRef:
    return ArtworkRef(id=row.id, item_key=row.item_key, kind=row.kind, width=row.width, height=row.height,
                      blurhash=row.blurhash, source=row.source, language=row.language)


def _facts_of(row: Artwork) -> ImageFacts:
    return ImageFacts(mime=row.mime, width=row.width, height=row.height, alpha=row.alpha, blurhash=row.blurhash)


def _find(item_key: str, kind: str, source: str) -> Artwork | None:
    return Artwork.get_or_none(Artwork.item_key == item_key, Artwork.kind == kind, Artwork.source == source)


def _check_language(language: object) -> str | None:
    if language is None or language == "":
        return None
    if not isinstance(language, str) or not LANGUAGE.match(language):
        raise ArtworkError(f"invalid image language {str(language)[:40]!r}: expected a tag such as 'en' or 'pt-BR'")
    return language


def _check_path(path: object) -> str:
    text = os.fspath(path) if isinstance(path, str | os.PathLike) else None
    if not isinstance(text, str) or not text or "\0" in text or not os.path.isabs(text):
        raise ArtworkError(f"an image path must be an absolute path, not {str(path)[:200]!r}")
    return text


def _read_local(path: str, limit: int) -> bytes:
    try:
        info = os.stat(path)
    except OSError as exc:
        raise ArtworkError(f"cannot read the image {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ArtworkError(f"{path} is not a regular file")
    if info.st_size > limit:
        raise ArtworkError(f"{path} is {info.st_size} bytes, more than the {limit} bytes allowed "
                           "(artwork.max_download_bytes)")
    with open(path, "rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise ArtworkError(f"{path} is more than the {limit} bytes allowed (artwork.max_download_bytes)")
    return data


class ArtworkService:
    """Stored images of items. One per server instance (``services.artwork``), shared by every plugin."""

    def __init__(self, services: Services):
        settings = services.config.artwork
        self.db = services.db
        self.root = services.config.data_dir / "artwork"
        self.max_bytes = settings.max_download_bytes
        self.download_timeout = settings.download_timeout
        self._executor = ThreadPoolExecutor(max_workers=settings.resize_workers, thread_name_prefix="revenge-artwork")
        self.cache = VariantCache(self.root / "cache", settings.cache_max_mb * 1024 * 1024, self._executor)
        # Held (on database threads) while files are written and rows inserted, and while rows
        # are deleted and files no row needs are removed, so neither undoes the other.
        self._files_lock = threading.Lock()

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        def call() -> T:
            self.db.bind(MODELS)
            return fn(*args)

        return await self.db.run(call)

    async def _in_thread(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    def original_path(self, sha256: str, mime: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.{images.EXTENSIONS[mime]}"

    # --- context.artwork ----------------------------------------------------------------------------

    async def store(self, item_key: str, kind: str, *, url: str | None = None, data: bytes | None = None,
                    path: str | None = None, language: str | None = None) -> ArtworkRef:
        """Store an image of an item; see :class:`~revenge_hookspecs.context.PluginArtwork`.

        :raises ValueError: (:class:`~.images.ArtworkError`) a bad argument, a failed download,
            or anything that is not a JPEG, PNG, WebP or GIF image.
        """
        parse_item_key(item_key)
        if kind not in ARTWORK_KINDS:
            raise ArtworkError(f"unknown artwork kind {kind!r}; expected one of {', '.join(sorted(ARTWORK_KINDS))}")
        if sum(value is not None for value in (url, data, path)) != 1:
            raise ArtworkError("give exactly one of url, data or path")
        language = _check_language(language)
        if url is not None:
            source = check_url(url)
        elif path is not None:
            source = _check_path(path)
        else:
            if not isinstance(data, bytes | bytearray | memoryview):
                raise ArtworkError(f"data must be bytes, not {type(data).__name__}")
            data = bytes(data)
            if len(data) > self.max_bytes:
                raise ArtworkError(f"the image is {len(data)} bytes, more than the {self.max_bytes} bytes allowed "
                                   "(artwork.max_download_bytes)")
            source = "sha256:" + hashlib.sha256(data).hexdigest()

        known = await self._run(_find, item_key, kind, source)
        if known is not None and path is None and self.original_path(known.sha256, known.mime).is_file():
            if language is not None and known.language != language:
                known = await self._run(self._save, item_key, kind, source, language, known.sha256,
                                        _facts_of(known), None)
            return ref_of(known)
        digest: str | None = None
        facts: ImageFacts | None = None
        if url is not None:
            donor = known or await self._run(lambda: Artwork.get_or_none(Artwork.source == source))
            if donor is not None and self.original_path(donor.sha256, donor.mime).is_file():
                digest, facts = donor.sha256, _facts_of(donor)
            else:
                data = await download(url, limit=self.max_bytes, timeout=self.download_timeout)
        elif path is not None:
            data = await self._in_thread(_read_local, source, self.max_bytes)
        if facts is None:
            assert data is not None
            digest = hashlib.sha256(data).hexdigest()
            if (known is not None and known.sha256 == digest and known.language == (language or known.language)
                    and self.original_path(digest, known.mime).is_file()):
                return ref_of(known)
            facts = await self._in_thread(images.inspect, data)
        assert digest is not None
        row = await self._run(self._save, item_key, kind, source, language, digest, facts, data)
        logger.debug("stored the {} of {} from {} ({}x{}, {})", kind, item_key, source[:200], facts.width,
                     facts.height, facts.mime)
        return ref_of(row)

    def _save(self, item_key: str, kind: str, source: str, language: str | None, digest: str, facts: ImageFacts,
              data: bytes | None) -> Artwork:
        """Write the file if it is new and insert or update the row (blocking, on a database thread)."""
        with self._files_lock:
            original = self.original_path(digest, facts.mime)
            if not original.is_file():
                if data is None:
                    raise ArtworkError(f"the stored copy of {source[:200]} disappeared meanwhile; store it again")
                write_atomically(original, data)
            values = {"sha256": digest, "width": facts.width, "height": facts.height, "alpha": facts.alpha,
                      "blurhash": facts.blurhash, "mime": facts.mime}
            replaced = None
            with self.db.database.atomic():
                row = _find(item_key, kind, source)
                if row is None:
                    Artwork.insert(id=secrets.token_hex(12), item_key=item_key, kind=kind, source=source,
                                   language=language, **values).on_conflict_ignore().execute()
                    row = _find(item_key, kind, source)
                else:
                    replaced = (row.sha256, row.mime) if row.sha256 != digest else None
                    changes = {**values, "language": language or row.language}
                    Artwork.update(**changes).where(Artwork.id == row.id).execute()
                    row = Artwork.get_by_id(row.id)
            if replaced is not None:
                self._delete_unreferenced([replaced])
            return row

    def _delete_unreferenced(self, files: list[tuple[str, str]]) -> None:
        """Delete the originals (and their variants) no row points at any more (under the files lock)."""
        for digest, mime in set(files):
            if not Artwork.select().where(Artwork.sha256 == digest).exists():
                self.original_path(digest, mime).unlink(missing_ok=True)
                self.cache.drop(digest)

    async def for_item(self, item_key: str) -> list[ArtworkRef]:
        parse_item_key(item_key)
        rows = await self._run(lambda: list(Artwork.select().where(Artwork.item_key == item_key)
                                            .order_by(Artwork.kind, Artwork.created, Artwork.id)))
        return [ref_of(row) for row in rows]

    async def remove_item(self, item_key: str) -> None:
        """Drop an item's images, and the files no other item uses."""
        parse_item_key(item_key)

        def remove() -> int:
            with self._files_lock:
                with self.db.database.atomic():
                    files = [(row.sha256, row.mime) for row in
                             Artwork.select(Artwork.sha256, Artwork.mime).where(Artwork.item_key == item_key)]
                    Artwork.delete().where(Artwork.item_key == item_key).execute()
                self._delete_unreferenced(files)
                return len(files)

        removed = await self._run(remove)
        if removed:
            logger.debug("removed {} image(s) of {}", removed, item_key)

    # --- serving --------------------------------------------------------------------------------------

    async def get(self, image_id: str) -> Artwork | None:
        """The row of an image id, or ``None`` (also for anything that is not an image id)."""
        if not isinstance(image_id, str) or not IMAGE_ID.match(image_id):
            return None
        return await self._run(lambda: Artwork.get_or_none(Artwork.id == image_id))

    @staticmethod
    def output(row: Artwork, size: str, webp: bool) -> tuple[str, str]:
        """(format, MIME type) an image is sent in: the original as stored; resized as WebP when
        the client takes it, else PNG when it has transparency, else JPEG."""
        if size == "original":
            return images.EXTENSIONS[row.mime], row.mime
        output = "webp" if webp else "png" if row.alpha else "jpeg"
        return output, images.OUTPUTS[output]

    @staticmethod
    def etag(row: Artwork, size: str, output: str) -> str:
        """The value of a strong ETag (unquoted): it changes exactly when the bytes sent would."""
        return hashlib.sha256(f"{RENDER_VERSION}:{row.sha256}:{size}:{output}".encode()).hexdigest()[:32]

    async def render(self, row: Artwork, size: str, output: str) -> bytes:
        """The resized image (from the cache, or made on a resize thread). :raises FileNotFoundError:
        the original is gone from disk."""
        if size not in IMAGE_SIZES or size == "original":
            raise ValueError(f"not a resized size: {size!r}")
        original = self.original_path(row.sha256, row.mime)
        if not original.is_file():
            raise FileNotFoundError(str(original))
        make = partial(images.render, str(original), int(size[1:]), output)
        return await self.cache.get(row.sha256, size, output, make)

    async def original(self, row: Artwork) -> bytes:
        """The stored file. :raises FileNotFoundError: it is gone from disk."""
        return await asyncio.to_thread(self.original_path(row.sha256, row.mime).read_bytes)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
