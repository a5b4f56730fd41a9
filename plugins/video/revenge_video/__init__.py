"""revenge-video: the video support library of Revenge.

It is a library, not a plugin (no entry point): the movies and TV plugins import it.

- :mod:`revenge_video.names`: what a file's path says (guessit plus folder conventions);
- :mod:`revenge_video.nfo`: Kodi NFO files, parsed safely;
- :mod:`revenge_video.probe`: streams, duration and chapters with PyAV;
- :mod:`revenge_video.sidecars`: external subtitles, local artwork, NFO files; WebVTT conversion;
- :mod:`revenge_video.playback`: who plays what (direct play, remux, transcode) for a client;
- :mod:`revenge_video.hls`: HLS playlists and MPEG-TS segments made on demand;
- :mod:`revenge_video.subtitles`: embedded and sidecar subtitles as WebVTT;
- :mod:`revenge_video.testing`: real small media files for tests.

``probe`` is not re-exported here, so ``revenge_video.probe`` stays the module: import it
as ``from revenge_video.probe import probe``.
"""

from .names import ParsedName, clean_title, parse_name
from .nfo import NfoDocument, parse_nfo
from .probe import MediaInfo, ProbeError
from .sidecars import ArtworkFile, Sidecars, SubtitleFile, find_sidecars, subtitle_to_webvtt

__version__ = "0.1.0"

__all__ = ["ArtworkFile", "MediaInfo", "NfoDocument", "ParsedName", "ProbeError", "Sidecars", "SubtitleFile",
           "__version__", "clean_title", "find_sidecars", "parse_name", "parse_nfo", "subtitle_to_webvtt"]
