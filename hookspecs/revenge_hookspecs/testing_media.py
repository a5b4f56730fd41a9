"""Test-kit stand-ins for ``context.library``, ``context.metadata`` and ``context.artwork``.

They keep everything in memory and follow the server's rules (item keys, provider order and
fallback through :class:`~revenge_hookspecs.media.MetadataChain`, one stored image per
source), so a content type or provider tested here behaves the same in the server.
"""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any

import attrs

from .errors import NotFound
from .media import (
    ARTWORK_KINDS,
    ArtworkRef,
    ChainedMetadata,
    ItemRef,
    Library,
    MediaFile,
    MetadataChain,
    item_ownership_problem,
    parse_item_key,
)


class MemoryLibrary:
    """``context.library`` in memory. Tests add libraries and files with :meth:`add_library`
    and :meth:`add_file`; storages are given per backend name in ``storages``.

    With ``plugin`` and ``content_types`` (the harness passes both) it refuses items the server
    would refuse: item types the plugin's content type does not declare, or libraries of a
    content type another plugin owns.
    """

    def __init__(self, storages: Mapping[str, Any] | None = None, *, plugin: str | None = None,
                 content_types: Callable[[], Iterable[Any]] | None = None):
        self.storages: dict[str, Any] = dict(storages or {})
        self.plugin = plugin
        self._content_types = content_types
        self._libraries: dict[str, Library] = {}
        self._files: dict[str, MediaFile] = {}
        self.items: dict[str, ItemRef] = {}
        self._ids = itertools.count(1)

    def add_library(self, library: Library) -> Library:
        self._libraries[library.id] = library
        return library

    def add_file(self, library: Library, path: str, *, local_path: str | None = None, size: int = 0,
                 mtime: float = 0.0) -> MediaFile:
        """Track a file of a library (the path must lie under one of its folders)."""
        root = next((r for r in library.paths if path == r or path.startswith(r.rstrip("/") + "/")), None)
        if root is None:
            raise ValueError(f"{path!r} is not inside library {library.id!r} ({', '.join(library.paths)})")
        media = MediaFile(file_id=str(next(self._ids)), library_id=library.id, path=path, root=root,
                          relative_path=path[len(root.rstrip("/")) + 1:], size=size, mtime=mtime,
                          local_path=local_path if local_path is not None else path)
        self._files[media.file_id] = media
        return media

    def set_file(self, media: MediaFile) -> None:
        """Replace a tracked file (to simulate a move or an ingest result)."""
        self._files[media.file_id] = media

    async def get(self, library_id: str) -> Library:
        try:
            return self._libraries[str(library_id)]
        except KeyError:
            raise NotFound(f"no library {library_id!r}") from None

    async def libraries(self, content_type: str | None = None) -> list[Library]:
        return [lib for lib in self._libraries.values() if content_type in (None, lib.content_type)]

    async def files(self, *, library_id: str | None = None, item_key: str | None = None,
                    file_ids: Iterable[str] | None = None, include_missing: bool = False) -> list[MediaFile]:
        wanted = None if file_ids is None else {str(f) for f in file_ids}
        return [
            f for f in self._files.values()
            if (library_id is None or f.library_id == library_id)
            and (item_key is None or f.item_key == item_key)
            and (wanted is None or f.file_id in wanted)
            and (include_missing or f.missing_since is None)
        ]

    def _check_owner(self, library: Library, item_types: Iterable[str], verb: str) -> None:
        if self.plugin is None or self._content_types is None:
            return
        content_type = next((c for c in self._content_types() if c.name == library.content_type), None)
        owner = self.plugin if content_type is not None else None
        problem = item_ownership_problem(self.plugin, verb, library, item_types, content_type, owner)
        if problem is not None:
            raise ValueError(problem)

    async def upsert_items(self, items: Iterable[ItemRef]) -> None:
        refs = list(items)
        for item in refs:
            if not isinstance(item, ItemRef):
                raise TypeError(f"upsert_items takes ItemRef, not {type(item).__name__}")
            if item.library_id not in self._libraries:
                raise NotFound(f"no library {item.library_id!r}")
        for library_id in {item.library_id for item in refs}:
            self._check_owner(self._libraries[library_id], {i.item_type for i in refs if i.library_id == library_id},
                              "register")
        for item in refs:
            known = self.items.get(item.key)
            added = (known.added_at if known else None) or item.added_at or datetime.now()
            self.items[item.key] = attrs.evolve(item, added_at=added)

    async def remove_items(self, keys: Iterable[str]) -> None:
        wanted = list(keys)
        for key in wanted:
            parse_item_key(key)
        for key in wanted:
            item = self.items.get(key)
            if item is not None:
                self._check_owner(self._libraries[item.library_id], {item.item_type}, "remove")
        for key in wanted:
            self.items.pop(key, None)

    async def item(self, key: str) -> ItemRef | None:
        return self.items.get(key)

    def storage(self, library: Library) -> Any:
        try:
            return self.storages[library.storage]
        except KeyError:
            raise LookupError(f"no storage backend {library.storage!r} in the test kit; "
                              "pass it in MemoryLibrary(storages=...)") from None


class MemoryMetadata(ChainedMetadata):
    """``context.metadata``: the plugin's own providers plus any in ``extra`` (e.g. a fake TMDb);
    every provider asked is recorded in :attr:`attempts`."""

    def __init__(self, providers: Callable[[], Iterable[Any]]):
        self.extra: list[Any] = []
        self.chain = MetadataChain(lambda: [*providers(), *self.extra])
        self.attempts: list[Any] = []

    def searched(self, content_type: str, query: str, attempts: list[Any]) -> None:
        self.attempts.extend(attempts)


def image_size(data: bytes) -> tuple[int, int]:
    """Width and height of a PNG, JPEG, GIF or WebP image. :raises ValueError: not one of them."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", data[6:10])
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        if data[12:16] == b"VP8X":
            return 1 + int.from_bytes(data[24:27], "little"), 1 + int.from_bytes(data[27:30], "little")
        if data[12:16] == b"VP8 ":
            w, h = struct.unpack("<HH", data[26:30])
            return w & 0x3FFF, h & 0x3FFF
    if data[:2] == b"\xff\xd8":
        i = 2
        while i + 9 < len(data):
            if data[i] != 0xFF:
                i += 1
                continue
            marker = data[i + 1]
            length = struct.unpack(">H", data[i + 2:i + 4])[0]
            if marker in (0xC0, 0xC1, 0xC2):
                h, w = struct.unpack(">HH", data[i + 5:i + 9])
                return w, h
            i += 2 + length
    raise ValueError("not an image (PNG, JPEG, GIF or WebP expected)")


class MemoryArtwork:
    """``context.artwork`` in memory: images are checked and kept, and :attr:`fetch` downloads URLs
    (set it to a coroutine ``fetch(url) -> bytes`` to serve them from a fake)."""

    def __init__(self, fetch: Callable[[str], Any] | None = None):
        self.fetch = fetch
        self.images: dict[str, tuple[ArtworkRef, bytes]] = {}
        self.downloads: list[str] = []

    async def store(self, item_key: str, kind: str, *, url: str | None = None, data: bytes | None = None,
                    path: str | None = None, language: str | None = None) -> ArtworkRef:
        parse_item_key(item_key)
        if kind not in ARTWORK_KINDS:
            raise ValueError(f"unknown artwork kind {kind!r}")
        if sum(x is not None for x in (url, data, path)) != 1:
            raise ValueError("give exactly one of url, data or path")
        source = url or path or None
        for ref, _ in self.images.values():
            if ref.item_key == item_key and ref.kind == kind and source is not None and ref.source == source:
                return ref
        if url is not None:
            if self.fetch is None:
                raise ValueError(f"the test kit cannot download {url}: set artwork.fetch")
            self.downloads.append(url)
            data = await self.fetch(url)
        elif path is not None:
            with open(path, "rb") as handle:
                data = handle.read()
        width, height = image_size(data)
        image_id = hashlib.sha256(item_key.encode() + b"\0" + kind.encode() + b"\0" + data).hexdigest()[:24]
        ref = ArtworkRef(id=image_id, item_key=item_key, kind=kind, width=width, height=height,
                         blurhash="L00000fQfQfQfQfQfQfQfQfQfQfQ", source=source, language=language)
        self.images[image_id] = (ref, data)
        return ref

    async def for_item(self, item_key: str) -> list[ArtworkRef]:
        return [ref for ref, _ in self.images.values() if ref.item_key == item_key]

    async def remove_item(self, item_key: str) -> None:
        for image_id in [i for i, (ref, _) in self.images.items() if ref.item_key == item_key]:
            del self.images[image_id]
