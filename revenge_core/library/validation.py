"""What a library may look like: every field an admin sends is checked against an allowlist.

Folder paths get the strictest treatment: text without NUL bytes or control characters, no
``..`` component, normalised (``//`` and trailing ``/`` removed), inside one of the storage
backend's roots (the storage itself refuses anything else with ``PermissionError``), an
existing folder, and neither equal to, inside nor around a folder of another library on the
same storage.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping
from typing import Any

from revenge_hookspecs.errors import BadRequest
from revenge_hookspecs.types import NAME_PATTERN

LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
MAX_PATHS = 32
MAX_PATH_LENGTH = 1024
MAX_LANGUAGES = 10
MAX_PROVIDERS = 20
MAX_SETTINGS_BYTES = 16 * 1024
MODES = ("incremental", "full")
FIELDS = ("name", "content_type", "paths", "storage", "enabled", "scan_on_startup", "realtime", "languages",
          "providers", "settings")


def name(value: object) -> str:
    if (not isinstance(value, str) or not 1 <= len(value) <= 128 or value != value.strip()
            or any(ord(c) < 32 or ord(c) == 127 for c in value)):
        raise BadRequest("A library name has 1 to 128 characters, without control characters or surrounding "
                         "spaces.", {"key": "name"})
    return value


def registration_name(value: object, key: str) -> str:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise BadRequest(f"{key} is a registration name such as 'movie' or 'localfs'.",
                         {"key": key, "pattern": NAME_PATTERN.pattern})
    return value


def flag(value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise BadRequest(f"{key} is true or false.", {"key": key})
    return value


def _text_list(value: object, key: str, limit: int) -> list[Any]:
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Iterable):
        raise BadRequest(f"{key} is a list.", {"key": key})
    values = list(value)
    if len(values) > limit:
        raise BadRequest(f"{key} holds at most {limit} entries.", {"key": key})
    return values


def languages(value: object) -> list[str]:
    values = _text_list(value, "languages", MAX_LANGUAGES)
    bad = [v for v in values if not isinstance(v, str) or not LANGUAGE.fullmatch(v)]
    if bad or not values:
        raise BadRequest("languages is a non-empty list of language tags such as 'en' or 'de-DE', most preferred "
                         "first.", {"key": "languages"})
    return list(dict.fromkeys(values))


def providers(value: object) -> list[str]:
    values = _text_list(value, "providers", MAX_PROVIDERS)
    bad = [v for v in values if not isinstance(v, str) or not NAME_PATTERN.fullmatch(v)]
    if bad:
        raise BadRequest("providers is a list of metadata provider names such as 'tmdb', in the order to ask them.",
                         {"key": "providers"})
    return list(dict.fromkeys(values))


def settings(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise BadRequest("settings is a JSON object.", {"key": "settings"})
    try:
        text = json.dumps(dict(value), allow_nan=False)
    except (TypeError, ValueError):
        raise BadRequest("settings must be plain JSON.", {"key": "settings"}) from None
    if len(text.encode()) > MAX_SETTINGS_BYTES:
        raise BadRequest(f"settings may take at most {MAX_SETTINGS_BYTES} bytes of JSON.", {"key": "settings"})
    return json.loads(text)


def folder(value: object, key: str = "paths") -> str:
    """A folder path in normal form. :raises BadRequest: anything suspicious."""
    if (not isinstance(value, str) or not value or len(value) > MAX_PATH_LENGTH
            or any(ord(c) < 32 or ord(c) == 127 for c in value)):
        raise BadRequest(f"{key}: a folder is a path of at most {MAX_PATH_LENGTH} characters without control "
                         "characters.", {"key": key})
    if not value.startswith("/"):
        raise BadRequest(f"{key}: {value!r} is not an absolute path; give the full path, e.g. /srv/media/movies.",
                         {"key": key})
    if ".." in value.split("/"):
        raise BadRequest(f"{key}: {value!r} contains '..'; give the folder's own path.", {"key": key})
    return posixpath.normpath(value).replace("//", "/")


def folders(value: object) -> list[str]:
    values = [folder(v) for v in _text_list(value, "paths", MAX_PATHS)]
    if not values:
        raise BadRequest("paths lists at least one folder.", {"key": "paths"})
    for i, a in enumerate(values):
        for b in values[i + 1:]:
            if inside(a, b) or inside(b, a):
                raise BadRequest(f"paths: {a!r} and {b!r} overlap; list each folder once.", {"key": "paths"})
    return values


def inside(path: str, folder_path: str) -> bool:
    """Whether ``path`` is ``folder_path`` or below it, comparing whole components."""
    if folder_path == "/":
        return path.startswith("/")
    return path == folder_path or path.startswith(folder_path.rstrip("/") + "/")


def overlap(paths: Iterable[str], others: Iterable[str]) -> tuple[str, str] | None:
    """The first pair of folders that are equal or nested, one from each side."""
    others = list(others)
    for a in paths:
        for b in others:
            if inside(a, b) or inside(b, a):
                return a, b
    return None


def mode(value: object) -> str:
    if value not in MODES:
        raise BadRequest(f"mode is one of: {', '.join(MODES)}.", {"key": "mode", "allowed": list(MODES)})
    return str(value)


def library_fields(body: Mapping[str, Any], *, creating: bool) -> dict[str, Any]:
    """The checked fields of a create or update body (storage access is checked by the service)."""
    unknown = sorted(str(k)[:40] for k in body if k not in FIELDS)
    if unknown:
        raise BadRequest(f"Unknown field {unknown[0]!r}; allowed: {', '.join(FIELDS)}.",
                         {"key": unknown[0], "unknown": unknown})
    if creating:
        missing = [k for k in ("name", "content_type", "paths") if k not in body]
        if missing:
            raise BadRequest(f"The field {missing[0]!r} is required.", {"key": missing[0]})
    checks = {
        "name": name,
        "content_type": lambda v: registration_name(v, "content_type"),
        "storage": lambda v: registration_name(v, "storage"),
        "paths": folders,
        "enabled": lambda v: flag(v, "enabled"),
        "scan_on_startup": lambda v: flag(v, "scan_on_startup"),
        "realtime": lambda v: flag(v, "realtime"),
        "languages": languages,
        "providers": providers,
        "settings": settings,
    }
    return {key: checks[key](value) for key, value in body.items()}
