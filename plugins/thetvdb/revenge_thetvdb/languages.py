"""Language and country codes: TheTVDB's three-letter codes against the tags the server uses.

Libraries name languages as BCP 47 tags (``en``, ``de-DE``, ``pt-BR``) and countries as
ISO 3166-1 alpha-2 codes (``US``); TheTVDB uses ISO 639-2/T language codes (``eng``, ``deu``,
``fra``) with two exceptions of its own, ``pt`` (Portuguese as spoken in Brazil, where ``por``
is Portugal's) and ``zhtw`` (Chinese as written in Taiwan), and lower-case ISO 3166-1 alpha-3
countries (``usa``, ``deu``).
"""

from __future__ import annotations

import functools
import re

import pycountry

TVDB_LANGUAGE = re.compile(r"^([a-z]{3}|pt|zhtw)$")
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")

# TheTVDB's own codes, both ways
_SPECIAL_TO_TVDB = {("pt", "br"): "pt", ("zh", "tw"): "zhtw", ("zh", "hk"): "zhtw", ("zh", "hant"): "zhtw"}
_SPECIAL_FROM_TVDB = {"pt": "pt-BR", "zhtw": "zh-TW"}


@functools.lru_cache(maxsize=512)
def to_tvdb(tag: str | None) -> str | None:
    """TheTVDB's code for a language tag (``de-DE`` → ``deu``, ``pt-BR`` → ``pt``), or ``None``
    for an empty or unknown one. TheTVDB's own codes are returned as they are."""
    if not tag or not isinstance(tag, str):
        return None
    if tag.lower() in _SPECIAL_FROM_TVDB:
        return tag.lower()
    if not LANGUAGE_TAG.match(tag):
        return None
    parts = tag.replace("_", "-").lower().split("-")
    primary = parts[0]
    for subtag in parts[1:]:
        special = _SPECIAL_TO_TVDB.get((primary, subtag))
        if special:
            return special
    if len(primary) == 2:
        language = pycountry.languages.get(alpha_2=primary)
        return language.alpha_3 if language is not None else None
    language = pycountry.languages.get(alpha_3=primary)
    if language is None:  # a bibliographic code (ger, fre): TheTVDB uses the terminological one
        language = pycountry.languages.get(bibliographic=primary)
    return language.alpha_3 if language is not None else None


@functools.lru_cache(maxsize=512)
def from_tvdb(code: str | None) -> str | None:
    """The BCP 47 tag of a TheTVDB language code (``eng`` → ``en``, ``pt`` → ``pt-BR``); a
    language without a two-letter code keeps its three letters (``yue``); ``None`` when unknown."""
    if not code or not isinstance(code, str):
        return None
    code = code.strip().lower()
    if code in _SPECIAL_FROM_TVDB:
        return _SPECIAL_FROM_TVDB[code]
    if not re.fullmatch(r"[a-z]{3}", code):
        return None
    language = pycountry.languages.get(alpha_3=code)
    if language is None:
        return None
    return getattr(language, "alpha_2", None) or code


@functools.lru_cache(maxsize=512)
def country_alpha2(code: str | None) -> str | None:
    """``usa`` → ``US``; ``None`` for an empty or unknown country."""
    if not code or not isinstance(code, str):
        return None
    code = code.strip().upper()
    if len(code) == 2 and pycountry.countries.get(alpha_2=code) is not None:
        return code
    if len(code) != 3 or not code.isalpha():
        return None
    country = pycountry.countries.get(alpha_3=code)
    return country.alpha_2 if country is not None else None
