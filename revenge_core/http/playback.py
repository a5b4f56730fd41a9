"""The playback API: /api/v1/playback/sessions and the bytes of each session.

Creating a session needs ``content:read``; every stream, playlist and subtitle of a session
answers only its owner, authenticated by header, cookie or the session's signed URLs
(``?sig=``), and only while the owner may still see the item. Anything else is the same 404
as a session that does not exist. Progress needs ``self:item_state``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from revenge_hookspecs.errors import ApiError, BadRequest

from ..identity.http.access import _body, _principal, _query
from ..playback.ranges import send_file
from .keys import SERVICES
from .routing import RouteDeclaration, declare

PREFIX = "/api/v1"
TAGS = ("playback",)
HLS_TYPE = "application/vnd.apple.mpegurl"
NO_STORE = {"Cache-Control": "private, no-store"}
CREATE_FIELDS = ("item_key", "media_file_id", "client", "audio_index", "max_bitrate", "profile")


def _playback(request: web.Request) -> Any:
    return request.app[SERVICES].playback


def _client_name(request: web.Request) -> str:
    name = request.headers.get("X-Client-Name") or request.headers.get("User-Agent", "")
    return "".join(c for c in name if c.isprintable())[:128]


async def create_session(request: web.Request) -> web.Response:
    body = await _body(request, CREATE_FIELDS, ("item_key",))
    session = await _playback(request).create(_principal(request), body, client_name=_client_name(request))
    return web.json_response(session, status=201, headers=NO_STORE)


async def list_sessions(request: web.Request) -> web.Response:
    query = _query(request, ("all",))
    everyone = query.get("all", "") in ("1", "true")
    principal = _principal(request)
    if everyone and not await request.app[SERVICES].identity.rbac.allowed(principal, "admin:activity"):
        raise ApiError(403, "forbidden", "all=true lists everyone's sessions and needs the admin:activity "
                       "permission.", {"permission": "admin:activity"})
    return web.json_response({"items": await _playback(request).active(principal, everyone=everyone)})


async def get_session(request: web.Request) -> web.Response:
    _query(request, ())
    playback, principal = _playback(request), _principal(request)
    session = await playback.get(principal, request.match_info["session_id"], live=False)
    return web.json_response(playback.describe(session, principal), headers=NO_STORE)


async def delete_session(request: web.Request) -> web.Response:
    await _playback(request).stop_session(_principal(request), request.match_info["session_id"])
    return web.Response(status=204)


async def report_progress(request: web.Request) -> web.Response:
    body = await _body(request, ("event", "position_seconds", "paused"), ("position_seconds",))
    result = await _playback(request).progress(_principal(request), request.match_info["session_id"], body)
    return web.json_response(result)


async def _streaming(request: web.Request) -> tuple[Any, Any, Any]:
    playback, principal = _playback(request), _principal(request)
    session = await playback.get_streaming(principal, request.match_info["session_id"])
    return playback, principal, session


async def direct(request: web.Request) -> web.StreamResponse:
    playback, _, session = await _streaming(request)
    storage, row = await playback.file_of(session)
    return await send_file(request, storage, row.path, size=row.size, mtime=row.mtime, file_id=str(row.id))


async def hls_master(request: web.Request) -> web.Response:
    playback, principal, session = await _streaming(request)
    return web.Response(text=await playback.master(session, principal), content_type=HLS_TYPE, headers=NO_STORE)


async def hls_media(request: web.Request) -> web.Response:
    playback, principal, session = await _streaming(request)
    return web.Response(text=await playback.media(session, principal), content_type=HLS_TYPE, headers=NO_STORE)


async def hls_segment(request: web.Request) -> web.StreamResponse:
    playback, _, session = await _streaming(request)
    text = request.match_info["index"]
    if not text.isascii() or not text.isdigit() or len(text) > 6:
        raise BadRequest("A segment is named by its number.", {"key": "index"})
    path = await playback.segment(session, int(text))
    return web.FileResponse(path, headers={"Content-Type": "video/mp2t", "Cache-Control": "private, max-age=3600"})


async def subtitle_vtt(request: web.Request) -> web.Response:
    playback, _, session = await _streaming(request)
    text = await playback.subtitle_vtt(session, request.match_info["track"])
    return web.Response(text=text, content_type="text/vtt", charset="utf-8",
                        headers={"Cache-Control": "private, max-age=3600"})


async def subtitle_playlist(request: web.Request) -> web.Response:
    playback, principal, session = await _streaming(request)
    text = await playback.subtitle_playlist(session, principal, request.match_info["track"])
    return web.Response(text=text, content_type=HLS_TYPE, headers=NO_STORE)


_CLIENT = {
    "type": "object", "additionalProperties": False,
    "properties": {
        "containers": {"type": "array", "items": {"type": "string"}},
        "video_codecs": {"type": "array", "items": {"type": "string"}},
        "audio_codecs": {"type": "array", "items": {"type": "string"}},
        "max_width": {"type": "integer"}, "max_height": {"type": "integer"},
        "max_bitrate": {"type": "integer"}, "max_audio_channels": {"type": "integer"},
        "subtitle_formats": {"type": "array", "items": {"type": "string"}},
        "hls": {"type": "boolean"},
    },
}
_CREATE_BODY = {
    "type": "object", "additionalProperties": False, "required": ["item_key"],
    "properties": {"item_key": {"type": "string"}, "media_file_id": {"type": "string"}, "client": _CLIENT,
                   "audio_index": {"type": "integer", "minimum": 0}, "max_bitrate": {"type": "integer"},
                   "profile": {"enum": ["1080p", "720p", "480p"]}},
}
_PROGRESS_BODY = {
    "type": "object", "additionalProperties": False, "required": ["position_seconds"],
    "properties": {"event": {"enum": ["start", "progress", "stop"], "default": "progress"},
                   "position_seconds": {"type": "number", "minimum": 0}, "paused": {"type": "boolean"}},
}

_route = declare(PREFIX, TAGS)
_SESSION = "/playback/sessions/{session_id}"

ROUTES: list[RouteDeclaration] = [
    _route("POST", "/playback/sessions", create_session, "content:read",
           "Press play: the server decides direct play, remux or transcode for this client, and says why",
           request_schema=_CREATE_BODY),
    _route("GET", "/playback/sessions", list_sessions, "content:read",
           "The caller's live playback sessions (all=true: everyone's, for admins)"),
    _route("GET", _SESSION, get_session, "content:read", "A playback session, with fresh signed URLs"),
    _route("DELETE", _SESSION, delete_session, "content:read",
           "Stop a playback session (records a stop at its last position) and free its files"),
    _route("POST", _SESSION + "/progress", report_progress, "self:item_state",
           "Report the player's position: start, progress (every ~10 s) or stop", request_schema=_PROGRESS_BODY),
    _route("GET", _SESSION + "/direct", direct, "content:read",
           "The file itself, with HTTP Range (206/416), for direct play"),
    _route("HEAD", _SESSION + "/direct", direct, "content:read", "The headers of the direct-play answer"),
    _route("GET", _SESSION + "/hls/master.m3u8", hls_master, "content:read",
           "HLS master playlist (video variant and subtitle renditions)"),
    _route("GET", _SESSION + "/hls/main.m3u8", hls_media, "content:read", "HLS media playlist (VOD)"),
    _route("GET", _SESSION + r"/hls/{index:\d+}.ts", hls_segment, "content:read",
           "One HLS segment (MPEG-TS), produced on demand"),
    _route("GET", _SESSION + "/subtitles/{track}.vtt", subtitle_vtt, "content:read",
           "A subtitle track (embedded or sidecar SRT/ASS) as WebVTT"),
    _route("GET", _SESSION + "/hls/subtitles/{track}.m3u8", subtitle_playlist, "content:read",
           "The HLS playlist of a subtitle track"),
]

__all__ = ["ROUTES"]
