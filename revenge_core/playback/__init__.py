"""Playback: sessions, direct play, HLS remux and transcode, subtitles (see :mod:`.service`)."""

from .service import API_BASE, PlaybackService

__all__ = ["API_BASE", "PlaybackService"]
