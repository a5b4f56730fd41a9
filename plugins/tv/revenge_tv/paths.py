"""Where a series lives on disk: its show folder, and the key that identifies it in a library.

A library holds one folder per show (``Show (2020)/Season 01/Show - S01E02.mkv``); loose files
at the library root (``Show.S01E02.mkv``) belong to the series their parsed title names.
"""

from __future__ import annotations

import hashlib
import re

from revenge_hookspecs.media import normalize_title
from revenge_video.names import clean_title, season_from_folder

FOLDER_YEAR = re.compile(r"\s*[(\[](\d{4})[)\]]\s*$")
EXTRA_FOLDERS = frozenset({"extras", "extra", "featurettes", "trailers", "behind the scenes", "deleted scenes",
                           "interviews", "scenes", "shorts", "other", "sample", "samples"})


def is_season_folder(name: str) -> bool:
    return season_from_folder(name) is not None or name.strip().casefold() in EXTRA_FOLDERS


def show_folder(relative_path: str) -> str:
    """The show folder of a file, relative to the library root; ``""`` for a loose file.

    It is what lies above the first season folder, or else the top folder: release folders
    below a show (``Show/Show.S01E02-GRP/file.mkv``) do not count as shows of their own.
    """
    parts = [p for p in relative_path.split("/")[:-1] if p]
    for index, part in enumerate(parts):
        if is_season_folder(part):
            return "/".join(parts[:index])
    return parts[0] if parts else ""


def folder_title(folder: str) -> tuple[str, int | None]:
    """A title and year from a show folder's name: ``Show (2020)`` -> ``("Show", 2020)``."""
    name = folder.rsplit("/", 1)[-1]
    match = FOLDER_YEAR.search(name)
    year = int(match.group(1)) if match else None
    return clean_title(name) or name.strip(), year


def location_key(folder: str, title: str) -> str:
    """What identifies a series in its library: the folder, or for loose files the title."""
    name = "" if folder else normalize_title(title)
    return hashlib.sha256(f"{folder}\n{name}".encode()).hexdigest()[:40]


_ARTICLE = re.compile(r"^(the|a|an)\s+", re.IGNORECASE)


def sort_key(title: str) -> str:
    """A title as lists sort it: case-folded, without a leading English article."""
    return _ARTICLE.sub("", title.strip()).casefold()[:512]
