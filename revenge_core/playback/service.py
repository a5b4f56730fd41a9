"""Playback sessions: what a client can play, how the server will serve it, and the bytes.

A client presses play by creating a session: it names the item and what it can play (a
:class:`~revenge_video.playback.ClientProfile`). The server probes the item's files, decides
per file between direct play, remux to HLS and transcode to HLS
(:func:`~revenge_video.playback.decide`, which says why), picks the best file and answers with
URLs signed for players that cannot send headers.

Sessions live in the database (``shared.playback_sessions``), so any instance behind a load
balancer can serve any request of a session. HLS segments are produced on demand by the
instance asked for them, each one on its own (seeking far ahead does not wait for what lies
before), into ``<transcode_dir>/<session>/``; the next one is prepared while the player plays
the current one. At most ``playback.max_transcodes`` sessions transcode video at once across
all instances, and one instance encodes at most that many segments at a time.

A session nobody asked anything of for ``playback.idle_timeout_seconds`` is stopped (its
progress recorded as a stop) and its files removed; every instance sweeps.

Safety: the client names an item key, a file id, stream indexes and subtitle track ids, and
each is checked against what the server itself found (the item's files, the probe's streams,
the sidecars the storage listed). Paths come from the database and go through the storage
backend, which confines them to its roots; PyAV opens files as Python file objects with a
demuxer allowlist (:mod:`revenge_video.probe`).
"""

from __future__ import annotations

import asyncio
import datetime
import json
import posixpath
import secrets
import shutil
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cattrs
from loguru import logger

from revenge_hookspecs.errors import ApiError, BadRequest, NotFound
from revenge_hookspecs.media import parse_item_key
from revenge_hookspecs.types import Events
from revenge_video.hls import (
    Segment,
    SegmentError,
    SubtitleRendition,
    master_playlist,
    media_playlist,
    plan_segments,
    subtitle_playlist,
    write_segment,
)
from revenge_video.playback import ClientProfile, Decision, ProfileError, decide
from revenge_video.probe import MediaInfo, ProbeError, probe_async
from revenge_video.sidecars import find_subtitles
from revenge_video.subtitles import TEXT_SUBTITLE_CODECS, SubtitleError, embedded_to_webvtt, sidecar_to_webvtt

from ..db.models import utcnow
from ..library.models import LibraryItem, LibraryRow, MediaFileItem, MediaFileRow, PlaybackSession, iso

if TYPE_CHECKING:
    from ..identity.principal import Principal
    from ..services import Services

API_BASE = "/api/v1/playback/sessions"
SESSION_ID_LENGTH = 32
MAX_CANDIDATES = 8
PROBE_CACHE_SIZE = 256
TOUCH_INTERVAL = 10.0
METHOD_RANK = {"direct_play": 0, "remux": 1, "transcode": 2}
SIDECAR_FORMATS = {"subrip": "srt", "ass": "ass", "ssa": "ssa", "webvtt": "vtt"}
PROGRESS_EVENTS = ("start", "progress", "stop")
MAX_SIDECAR_BYTES = 10 * 1024 * 1024
_converter = cattrs.Converter()


def is_session_id(value: str) -> bool:
    return len(value) == SESSION_ID_LENGTH and all(c in "0123456789abcdef" for c in value)


def _media_json(info: MediaInfo) -> dict[str, Any]:
    return _converter.unstructure(info)


def stored_media(session: PlaybackSession) -> dict[str, Any]:
    """What the session serves, as stored at its creation: ``info`` (the probe) and ``subtitles``."""
    return json.loads(session.media)


def stored_duration(session: PlaybackSession) -> float | None:
    return stored_media(session)["info"]["duration_seconds"] or None


def stored_decision(session: PlaybackSession) -> Decision:
    return Decision.from_json(json.loads(session.decision))


class PlaybackService:
    """One per server instance (``services.playback``)."""

    def __init__(self, services: Services):
        self.services = services
        self.config = services.config.playback
        self.db = services.db
        folder = self.config.transcode_dir or str(Path(services.config.data_dir) / "transcode")
        self.folder = Path(folder)
        self._probes: OrderedDict[tuple[int, int, float], MediaInfo] = OrderedDict()
        self._plans: dict[str, tuple[Segment, ...]] = {}
        self._producing: dict[tuple[str, int], asyncio.Task[Path]] = {}
        self._encoders = asyncio.Semaphore(max(1, self.config.max_transcodes))
        self._copiers = asyncio.Semaphore(4)
        self._touched: dict[str, float] = {}
        self._slot_lock = asyncio.Lock()
        self._sweeper: asyncio.Task[None] | None = None

    async def run(self, fn: Any, *args: Any) -> Any:
        return await self.services.library.run(fn, *args)

    # --- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True)
        await self.sweep()
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep_loop())

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            try:
                await self._sweeper
            except asyncio.CancelledError:
                pass
            self._sweeper = None
        for task in list(self._producing.values()):
            task.cancel()

    async def _sweep_loop(self) -> None:
        interval = min(60.0, self.config.idle_timeout_seconds / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception as exc:  # the next round tries again
                logger.opt(exception=exc).warning("playback: the idle-session sweep failed")

    async def sweep(self) -> list[str]:
        """Stop idle sessions (recording their progress) and remove files of sessions that ended."""
        cutoff = utcnow() - datetime.timedelta(seconds=self.config.idle_timeout_seconds)
        idle = await self.run(lambda: [row.id for row in PlaybackSession.select(PlaybackSession.id).where(
            PlaybackSession.ended_at.is_null(), PlaybackSession.last_seen_at < cutoff)])
        stopped = []
        for session_id in idle:
            if await self._end(session_id, reason="idle"):
                stopped.append(session_id)
        await self._remove_stale_folders()
        return stopped

    async def _remove_stale_folders(self) -> None:
        names = await asyncio.to_thread(lambda: [p.name for p in self.folder.iterdir()] if self.folder.exists() else [])
        if not names:
            return
        live = await self.run(lambda: {row.id for row in PlaybackSession.select(PlaybackSession.id).where(
            PlaybackSession.id.in_(names), PlaybackSession.ended_at.is_null())})
        for name in names:
            if name not in live and not any(key[0] == name for key in self._producing):
                await self._remove_folder(name)

    async def _remove_folder(self, session_id: str) -> None:
        self._plans.pop(session_id, None)
        self._touched.pop(session_id, None)
        if is_session_id(session_id):
            await asyncio.to_thread(shutil.rmtree, self.folder / session_id, True)

    # --- creating a session --------------------------------------------------------------------------

    async def create(self, principal: Principal, body: dict[str, Any], *, client_name: str = "") -> dict[str, Any]:
        key = body.get("item_key")
        if not isinstance(key, str):
            raise BadRequest("item_key names the item to play, like 'movie:42'.", {"key": "item_key"})
        try:
            parse_item_key(key)
        except ValueError:
            raise BadRequest("An item key looks like 'movie:42': a type, ':' and an id.", {"key": "item_key"}) from None
        try:
            client = ClientProfile.from_json(body.get("client", {}))
        except ProfileError as exc:
            raise BadRequest(str(exc), {"key": f"client.{exc.key}" if exc.key else "client"}) from None
        audio_index = _optional_int(body, "audio_index", 0, 10_000)
        max_bitrate = _optional_int(body, "max_bitrate", 64_000, 1_000_000_000)
        profile = body.get("profile")
        if profile is not None and not isinstance(profile, str):
            raise BadRequest("profile is the name of a transcode profile (1080p, 720p, 480p).", {"key": "profile"})
        file_id = body.get("media_file_id")
        if file_id is not None and not (isinstance(file_id, str) and file_id.isascii() and file_id.isdigit()):
            raise BadRequest("media_file_id is the id of one of the item's files.", {"key": "media_file_id"})

        item = await self._visible_item(principal, key)
        rows = await self._files_of(key, file_id)
        library = await self.services.library.get(rows[0].library_id)
        storage = self.services.library.storage_for(library)
        candidates = []
        for row in rows[:MAX_CANDIDATES]:
            info = await self._probe(storage, row)
            if info is None:
                continue
            try:
                decision = decide(info, client, audio_index=audio_index if file_id or len(rows) == 1 else None,
                                  max_bitrate=max_bitrate, profile=profile)
            except ProfileError as exc:
                if file_id is not None or len(rows) == 1:
                    raise BadRequest(str(exc), {"key": exc.key or "client"}) from None
                continue
            height = info.main_video.height if info.main_video else 0
            candidates.append((METHOD_RANK[decision.method], -height, row.id, row, info, decision))
        if not candidates:
            raise ApiError(409, "not_playable", "None of this item's files can be read right now; ask an admin to "
                           "check the library's files.", {"item_key": key})
        candidates.sort(key=lambda c: c[:3])
        _, _, _, row, info, decision = candidates[0]
        local = getattr(storage, "local_path", None)
        if decision.method != "direct_play" and not callable(local):
            raise ApiError(409, "cannot_stream", f"The storage backend {library.storage!r} has no local files, so "
                           "this file can only be played directly, and this client cannot play it directly.",
                           {"reasons": list(decision.reasons)})
        subtitles = await self._subtitles(storage, row, info)
        session_id = secrets.token_hex(SESSION_ID_LENGTH // 2)
        now = utcnow()
        values = {"id": session_id, "user": principal.user_id, "item": key, "media_file": row.id,
                  "auth_session_id": principal.session_id, "client": client_name[:128], "method": decision.method,
                  "decision": json.dumps(decision.to_json()),
                  "media": json.dumps({"info": _media_json(info), "subtitles": subtitles}),
                  "audio_index": decision.audio_index, "created_at": now, "last_seen_at": now}
        # Counting the transcodes and adding this one happen under one lock, so two presses of
        # play on this instance cannot both take the last slot.
        async with self._slot_lock:
            if decision.method == "transcode":
                await self._check_transcode_slot()
            await self.run(lambda: PlaybackSession.insert(**values).execute())
        session = await self.get(principal, session_id)
        state = await self.services.library.items.state(principal.user_id, key)
        resume = state["position_seconds"] if not state["watched"] and state["position_seconds"] > 0 else 0.0
        logger.info("playback {} of {} for user {}: {} ({})", session_id, key, principal.user_id, decision.method,
                    ", ".join(decision.reasons) or "the client plays the file as it is")
        return self.describe(session, principal, item_title=item.title, resume_position=resume)

    async def _visible_item(self, principal: Principal, key: str) -> Any:
        item = await self.services.library.items.get(key)
        if item is None or not await self.services.identity.grants.can(principal, "view", "item", key,
                                                                       library_id=item.library_id):
            raise NotFound(f"There is no item {key}.")
        return item

    async def _files_of(self, key: str, file_id: str | None) -> list[MediaFileRow]:
        def read() -> list[MediaFileRow]:
            # The file of the item, or a file that plays it too (a multi-episode file's later episodes).
            plays_it = (MediaFileRow.item_key == key) | MediaFileRow.id.in_(
                MediaFileItem.select(MediaFileItem.file).where(MediaFileItem.item_key == key))
            query = (MediaFileRow.select().join(LibraryRow)
                     .where(plays_it, MediaFileRow.missing_since.is_null(),
                            MediaFileRow.error.is_null(), LibraryRow.enabled == True)  # noqa: E712
                     .order_by(MediaFileRow.id))
            if file_id is not None:
                query = query.where(MediaFileRow.id == int(file_id))
            return list(query)

        rows = await self.run(read)
        if not rows:
            if file_id is not None:
                raise NotFound(f"The item {key} has no file {file_id}.")
            raise ApiError(409, "not_playable", f"The item {key} has no file that can be played right now.",
                           {"item_key": key})
        return rows

    async def _probe(self, storage: Any, row: MediaFileRow) -> MediaInfo | None:
        cache_key = (row.id, row.size, row.mtime)
        if cache_key in self._probes:
            self._probes.move_to_end(cache_key)
            return self._probes[cache_key]
        local = getattr(storage, "local_path", None)
        if not callable(local):
            return None
        try:
            real = await asyncio.to_thread(local, row.path)
            info = await probe_async(real)
        except (OSError, PermissionError, ProbeError) as exc:
            logger.warning("playback: cannot probe file {} ({}): {}", row.id, row.relative_path, exc)
            return None
        self._probes[cache_key] = info
        while len(self._probes) > PROBE_CACHE_SIZE:
            self._probes.popitem(last=False)
        return info

    async def _subtitles(self, storage: Any, row: MediaFileRow, info: MediaInfo) -> list[dict[str, Any]]:
        tracks = [{"id": f"e{s.index}", "source": "embedded", "index": s.index, "codec": s.codec,
                   "language": s.language, "title": s.title, "forced": s.forced, "default": s.default}
                  for s in info.subtitles if s.codec in TEXT_SUBTITLE_CODECS]
        folder = posixpath.dirname(row.path)
        try:
            names = [posixpath.basename(entry.path) for entry in await storage.list(folder) if not entry.is_dir]
        except (OSError, PermissionError) as exc:
            logger.warning("playback: cannot list the folder of file {}: {}", row.id, exc)
            names = []
        found = find_subtitles(posixpath.basename(row.path), names)
        for number, sub in enumerate(s for s in found if s.format in SIDECAR_FORMATS):
            tracks.append({"id": f"s{number}", "source": "sidecar", "name": posixpath.basename(sub.path),
                           "codec": sub.format, "language": sub.language, "title": sub.title, "forced": sub.forced,
                           "default": sub.default})
        return tracks

    async def _check_transcode_slot(self) -> None:
        limit = self.config.max_transcodes
        if limit == 0:
            raise ApiError(503, "transcode_unavailable", "Transcoding is turned off on this server, and this client "
                           "cannot play this file as it is.", headers={"Retry-After": "3600"})
        cutoff = utcnow() - datetime.timedelta(seconds=self.config.idle_timeout_seconds)
        busy = await self.run(lambda: PlaybackSession.select().where(
            PlaybackSession.method == "transcode", PlaybackSession.ended_at.is_null(),
            PlaybackSession.last_seen_at >= cutoff).count())
        if busy >= limit:
            raise ApiError(503, "transcode_limit", f"The server is already transcoding {busy} stream(s), its limit; "
                           "try again in a moment, or ask for a file this client plays directly.",
                           {"limit": limit}, headers={"Retry-After": "30"})

    # --- reading a session ---------------------------------------------------------------------------

    async def get(self, principal: Principal, session_id: str, *, live: bool = True) -> PlaybackSession:
        """The caller's session; 404 for another user's, an unknown or (``live``) an ended one."""
        if not is_session_id(session_id):
            raise NotFound("There is no such playback session.")
        row = await self.run(lambda: PlaybackSession.get_or_none(PlaybackSession.id == session_id))
        if row is None or row.user_id != principal.user_id or (live and row.ended_at is not None):
            raise NotFound("There is no such playback session.")
        return row

    async def get_streaming(self, principal: Principal, session_id: str) -> PlaybackSession:
        """A live session of the caller whose item the caller may still see; notes the activity."""
        row = await self.get(principal, session_id)
        item_key = row.item_key
        library_id = (await self.services.library.items.library_of([item_key])).get(item_key)
        if library_id is None or not await self.services.identity.grants.can(principal, "view", "item", item_key,
                                                                             library_id=library_id):
            raise NotFound("There is no such playback session.")
        await self._touch(row)
        return row

    async def _touch(self, row: PlaybackSession) -> None:
        loop_now = asyncio.get_running_loop().time()
        if loop_now - self._touched.get(row.id, -TOUCH_INTERVAL) < TOUCH_INTERVAL:
            return
        self._touched[row.id] = loop_now
        await self.run(lambda: PlaybackSession.update(last_seen_at=utcnow()).where(
            PlaybackSession.id == row.id).execute())

    def signed(self, session: PlaybackSession, principal: Principal) -> tuple[str, int]:
        return self.services.identity.signed_urls.sign(f"{API_BASE}/{session.id}/", principal.user_id,
                                                       principal.session_id, self.config.signed_url_ttl_seconds)

    def describe(self, session: PlaybackSession, principal: Principal, *, item_title: str | None = None,
                 resume_position: float | None = None) -> dict[str, Any]:
        decision = stored_decision(session)
        media = stored_media(session)
        info = media["info"]
        token, expires = self.signed(session, principal)
        base = f"{API_BASE}/{session.id}"
        urls = {"direct": f"{base}/direct?sig={token}"}
        if decision.method != "direct_play":
            urls["hls"] = f"{base}/hls/master.m3u8?sig={token}"
        return {
            "id": session.id, "item_key": session.item_key, "title": item_title,
            "media_file_id": str(session.media_file_id),
            "method": decision.method, "reasons": list(decision.reasons), "decision": decision.to_json(),
            "state": session.state, "position_seconds": session.position_seconds,
            "resume_position_seconds": resume_position,
            "duration_seconds": info["duration_seconds"], "container": info["container"],
            "audio_tracks": [{"index": a["index"], "codec": a["codec"], "language": a["language"], "title": a["title"],
                              "channels": a["channels"], "default": a["default"],
                              "selected": a["index"] == decision.audio_index} for a in info["audio"]],
            "subtitles": [{"id": s["id"], "source": s["source"], "language": s["language"], "title": s["title"],
                           "forced": s["forced"], "default": s["default"], "format": "vtt",
                           "url": f"{base}/subtitles/{s['id']}.vtt?sig={token}"} for s in media["subtitles"]],
            "urls": urls, "urls_expire_at": datetime.datetime.fromtimestamp(expires, datetime.UTC).isoformat()
            .replace("+00:00", "Z"),
            "created_at": iso(session.created_at), "ended_at": iso(session.ended_at),
        }

    # --- direct play ----------------------------------------------------------------------------------

    async def file_of(self, session: PlaybackSession) -> tuple[Any, MediaFileRow]:
        row = await self.run(lambda: MediaFileRow.get_or_none(MediaFileRow.id == session.media_file_id))
        if row is None or row.missing_since is not None:
            raise ApiError(410, "file_gone", "The file of this playback session is gone; start playback again.")
        library = await self.services.library.get(row.library_id)
        return self.services.library.storage_for(library), row

    async def local_file(self, session: PlaybackSession) -> str:
        storage, row = await self.file_of(session)
        local = getattr(storage, "local_path", None)
        if not callable(local):
            raise ApiError(409, "cannot_stream", "This file's storage has no local files to stream from.")
        try:
            return await asyncio.to_thread(local, row.path)
        except (OSError, PermissionError) as exc:
            logger.warning("playback: session {} cannot reach its file: {}", session.id, exc)
            raise ApiError(410, "file_gone", "The file of this playback session cannot be read; start playback "
                           "again.") from None

    # --- HLS ------------------------------------------------------------------------------------------

    def _decision(self, session: PlaybackSession) -> Decision:
        decision = stored_decision(session)
        if decision.method == "direct_play":
            raise ApiError(409, "not_hls", "This session plays the file directly; use its direct URL.")
        return decision

    async def plan(self, session: PlaybackSession) -> tuple[Segment, ...]:
        plan = self._plans.get(session.id)
        if plan is None:
            decision = self._decision(session)
            path = await self.local_file(session)
            duration = stored_duration(session)
            try:
                plan = await asyncio.to_thread(plan_segments, path, decision, duration=duration,
                                               target=self.config.segment_seconds)
            except SegmentError as exc:
                logger.error("playback: cannot plan the segments of session {}: {}", session.id, exc)
                raise ApiError(500, "stream_failed", "The server could not read this file for streaming.") from None
            self._plans[session.id] = plan
        return plan

    async def master(self, session: PlaybackSession, principal: Principal) -> str:
        decision = self._decision(session)
        token, _ = self.signed(session, principal)
        media = stored_media(session)
        renditions = [SubtitleRendition(name=s["title"] or s["language"] or s["id"], language=s["language"],
                                        uri=f"subtitles/{s['id']}.m3u8?sig={token}", default=s["default"],
                                        forced=s["forced"]) for s in media["subtitles"]]
        return master_playlist(f"main.m3u8?sig={token}", decision, renditions)

    async def media(self, session: PlaybackSession, principal: Principal) -> str:
        plan = await self.plan(session)
        token, _ = self.signed(session, principal)
        return media_playlist(plan, lambda index: f"{index}.ts?sig={token}")

    async def segment(self, session: PlaybackSession, index: int) -> Path:
        """The segment's file, produced now unless this instance has it already."""
        plan = await self.plan(session)
        if not 0 <= index < len(plan):
            raise NotFound(f"This stream has segments 0 to {len(plan) - 1}.")
        path = await self._produce(session, plan, index)
        if index + 1 < len(plan):
            self._prefetch(session, plan, index + 1)
        return path

    def _segment_path(self, session_id: str, index: int) -> Path:
        return self.folder / session_id / f"{index:05d}.ts"

    async def _produce(self, session: PlaybackSession, plan: tuple[Segment, ...], index: int) -> Path:
        target = self._segment_path(session.id, index)
        if await asyncio.to_thread(target.exists):
            return target
        key = (session.id, index)
        task = self._producing.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._write(session, plan, index, target))
            self._producing[key] = task
            task.add_done_callback(lambda _t: self._producing.pop(key, None))
        return await asyncio.shield(task)

    def _prefetch(self, session: PlaybackSession, plan: tuple[Segment, ...], index: int) -> None:
        if (session.id, index) in self._producing:
            return

        async def ahead() -> None:
            try:
                await self._produce(session, plan, index)
            except Exception as exc:  # the player asks again and sees the error then
                logger.debug("playback: preparing segment {} of {} failed: {}", index, session.id, exc)

        asyncio.get_running_loop().create_task(ahead())

    async def _write(self, session: PlaybackSession, plan: tuple[Segment, ...], index: int, target: Path) -> Path:
        decision = self._decision(session)
        path = await self.local_file(session)
        gate = self._encoders if decision.video == "transcode" else self._copiers
        async with gate:
            await asyncio.to_thread(target.parent.mkdir, parents=True, exist_ok=True)
            try:
                await asyncio.to_thread(write_segment, path, decision, plan[index], str(target),
                                        timeout=self.config.segment_timeout)
            except SegmentError as exc:
                logger.error("playback: segment {} of session {} failed: {}", index, session.id, exc)
                raise ApiError(500, "stream_failed", "The server could not produce this part of the stream.") from None
        return target

    # --- subtitles ------------------------------------------------------------------------------------

    def _track(self, session: PlaybackSession, track_id: str) -> dict[str, Any]:
        for track in stored_media(session)["subtitles"]:
            if track["id"] == track_id:
                return track
        raise NotFound(f"This session has no subtitle track {track_id[:12]!r}.")

    async def subtitle_vtt(self, session: PlaybackSession, track_id: str) -> str:
        track = self._track(session, track_id)
        if track["source"] == "embedded":
            path = await self.local_file(session)
            try:
                return await asyncio.to_thread(embedded_to_webvtt, path, int(track["index"]))
            except SubtitleError as exc:
                raise ApiError(422, "subtitle_unreadable", f"This subtitle track cannot be converted: {exc}") from None
        storage, row = await self.file_of(session)
        sidecar = posixpath.join(posixpath.dirname(row.path), track["name"])
        try:
            info = await storage.stat(sidecar)
            if info.size > MAX_SIDECAR_BYTES:
                raise ApiError(422, "subtitle_too_large", "This subtitle file is too large to convert.")
            data = b"".join([chunk async for chunk in storage.open(sidecar)])
        except (OSError, PermissionError) as exc:
            logger.warning("playback: session {} cannot read its sidecar {}: {}", session.id, track["name"], exc)
            raise ApiError(410, "file_gone", "This subtitle file is gone.") from None
        try:
            return await asyncio.to_thread(sidecar_to_webvtt, data, SIDECAR_FORMATS[track["codec"]])
        except (SubtitleError, ValueError) as exc:
            raise ApiError(422, "subtitle_unreadable", f"This subtitle file cannot be converted: {exc}") from None

    async def subtitle_playlist(self, session: PlaybackSession, principal: Principal, track_id: str) -> str:
        self._track(session, track_id)
        token, _ = self.signed(session, principal)
        duration = stored_duration(session) or 0.0
        return subtitle_playlist(duration, f"../../subtitles/{track_id}.vtt?sig={token}")

    # --- progress -------------------------------------------------------------------------------------

    async def progress(self, principal: Principal, session_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Record what the player reports: ``start``, ``progress`` (every few seconds) or ``stop``."""
        event = body.get("event", "progress")
        if event not in PROGRESS_EVENTS:
            raise BadRequest(f"event is one of {', '.join(PROGRESS_EVENTS)}.", {"key": "event"})
        position = body.get("position_seconds")
        if isinstance(position, bool) or not isinstance(position, int | float):
            raise BadRequest("position_seconds is where the player is, in seconds.", {"key": "position_seconds"})
        paused = body.get("paused", False)
        if not isinstance(paused, bool):
            raise BadRequest("paused is true or false.", {"key": "paused"})
        session = await self.get(principal, session_id)
        await self._touch(session)
        result = await self._report(session, event, float(position))
        state = "stopped" if event == "stop" else ("paused" if paused else "playing")
        await self.run(lambda: PlaybackSession.update(state=state, position_seconds=float(position),
                                                      history_id=result.history_id, last_seen_at=utcnow())
                       .where(PlaybackSession.id == session.id).execute())
        if event == "stop":
            await self._end(session.id, reason="stopped")
        return {"session_id": session.id, "event": event, "completed": result.completed, "state": result.state}

    async def _report(self, session: PlaybackSession, event: str, position: float) -> Any:
        """One report against the session's history entry. The first report opens the entry
        (whatever its event: a player may never send ``start``); a later ``start`` (a player
        resuming) continues it rather than counting another playback."""
        first = session.history_id is None
        result = await self.services.library.progress.report(
            session.user_id, session.item_key, event="progress" if event == "start" and not first else event,
            position_seconds=position, duration_seconds=stored_duration(session), history_id=session.history_id,
            method=session.method, client=session.client)
        if first:
            await self.services.events.emit(Events.PLAYBACK_STARTED, self._event(session, position))
        return result

    async def stop_session(self, principal: Principal, session_id: str) -> None:
        session = await self.get(principal, session_id)
        await self._end(session.id, reason="stopped")

    async def _end(self, session_id: str, *, reason: str) -> bool:
        """End a session once across instances: record a stop at its last position, drop its files."""
        now = utcnow()
        claimed = await self.run(lambda: PlaybackSession.update(ended_at=now, state="stopped").where(
            PlaybackSession.id == session_id, PlaybackSession.ended_at.is_null()).execute())
        if claimed:
            session = await self.run(lambda: PlaybackSession.get_or_none(PlaybackSession.id == session_id))
            if session is not None and session.history_id is not None:
                try:
                    duration = stored_duration(session)
                    await self.services.library.progress.report(
                        session.user_id, session.item_key, event="stop", position_seconds=session.position_seconds,
                        duration_seconds=duration, history_id=session.history_id, method=session.method,
                        client=session.client)
                except (ApiError, ValueError) as exc:  # the item may be gone meanwhile
                    logger.info("playback: could not record the stop of session {}: {}", session_id, exc)
            if session is not None:
                payload = {**self._event(session, session.position_seconds), "reason": reason}
                await self.services.events.emit(Events.PLAYBACK_STOPPED, payload)
            logger.info("playback {} ended ({})", session_id, reason)
        for key in [k for k in self._producing if k[0] == session_id]:
            self._producing[key].cancel()
        await self._remove_folder(session_id)
        return bool(claimed)

    @staticmethod
    def _event(session: PlaybackSession, position: float) -> dict[str, Any]:
        return {"session_id": session.id, "user_id": session.user_id, "item_key": session.item_key,
                "method": session.method, "position_seconds": position, "client": session.client}

    async def active(self, principal: Principal, *, everyone: bool = False) -> list[dict[str, Any]]:
        """Live sessions: the caller's, or (``everyone``, for admins) all of them."""
        def read() -> list[dict[str, Any]]:
            query = (PlaybackSession.select(PlaybackSession, LibraryItem.title).join(LibraryItem)
                     .where(PlaybackSession.ended_at.is_null()).order_by(PlaybackSession.created_at.desc()))
            if not everyone:
                query = query.where(PlaybackSession.user == principal.user_id)
            return [{"id": row.id, "user_id": str(row.user_id), "item_key": row.item_key, "title": row.item.title,
                     "method": row.method, "state": row.state, "position_seconds": row.position_seconds,
                     "client": row.client, "created_at": iso(row.created_at), "last_seen_at": iso(row.last_seen_at)}
                    for row in query.limit(500)]

        return await self.run(read)


def _optional_int(body: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = body.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadRequest(f"{key} is a whole number from {low} to {high}.", {"key": key})
    return value


__all__ = ["API_BASE", "PlaybackService", "is_session_id"]
