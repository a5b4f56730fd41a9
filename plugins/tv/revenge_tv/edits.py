"""Edits by users (``PATCH``): checked against allowlists, written as locked fields.

A field a user edits is locked: neither NFOs nor providers change it again until the user
unlocks it by sending ``locked_fields`` without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from revenge_hookspecs import params
from revenge_hookspecs.errors import BadRequest

from . import store
from .models import Episode, Series

TEXT_LIMITS = {"title": 512, "original_title": 512, "sort_title": 512, "overview": 20000, "status": 32}
SERIES_LOCKABLE = frozenset({*store.SERIES_FIELDS, *store.LIST_FIELDS, "certifications", "translations", "credits",
                             "match"})
"""What a series' ``locked_fields`` may hold; ``match`` pins the identification a user chose."""
EPISODE_LOCKABLE = frozenset({*store.EPISODE_FIELDS, "credits"})
SERIES_EDITABLE = frozenset({*store.SERIES_FIELDS, *store.LIST_FIELDS, "locked_fields"})
EPISODE_EDITABLE = frozenset({*store.EPISODE_FIELDS, "locked_fields"})


def _text(field: str, value: Any, *, nullable: bool = True) -> str | None:
    return params.text_field(field, value, limit=TEXT_LIMITS[field], nullable=nullable)


def _locks(value: Any, allowed: frozenset[str]) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequest("locked_fields must be a list of field names.", {"field": "locked_fields"})
    unknown = sorted(set(value) - allowed)
    if unknown:
        raise BadRequest(f"{unknown[0][:40]!r} cannot be locked; lockable: {', '.join(sorted(allowed))}.",
                         {"field": "locked_fields", "allowed": sorted(allowed)})
    return sorted(set(value))


def parse_series_edit(body: Mapping[str, Any]) -> dict[str, Any]:
    """A ``PATCH /tv/series/{id}`` body as checked values."""
    params.edit_fields(body, SERIES_EDITABLE)
    values: dict[str, Any] = {}
    for field, value in body.items():
        if field in TEXT_LIMITS:
            values[field] = _text(field, value, nullable=field != "title")
        elif field == "year":
            values[field] = params.number_field(field, value, *params.YEARS)
        elif field == "rating":
            values[field] = params.number_field(field, value, 0, 10, whole=False)
        elif field == "first_air_date":
            values[field] = params.date_field(field, value)
        elif field == "original_language":
            values[field] = params.language_field(field, value)
        elif field in store.LIST_FIELDS:
            values[field] = params.names_field(field, value)
        elif field == "locked_fields":
            values[field] = _locks(value, SERIES_LOCKABLE)
    return values


def parse_episode_edit(body: Mapping[str, Any]) -> dict[str, Any]:
    """A ``PATCH /tv/episodes/{id}`` body as checked values."""
    params.edit_fields(body, EPISODE_EDITABLE)
    values: dict[str, Any] = {}
    for field, value in body.items():
        if field in ("title", "overview"):
            values[field] = _text(field, value)
        elif field == "air_date":
            values[field] = params.date_field(field, value)
        elif field == "runtime":
            values[field] = params.number_field(field, value, 0, 2000)
        elif field == "absolute_number":
            values[field] = params.number_field(field, value, 0, 100000)
        elif field == "rating":
            values[field] = params.number_field(field, value, 0, 10, whole=False)
        elif field == "locked_fields":
            values[field] = _locks(value, EPISODE_LOCKABLE)
    return values


def _apply(row: Any, values: Mapping[str, Any]) -> list[str]:
    locks = values.get("locked_fields")
    fields = {k: v for k, v in values.items() if k != "locked_fields"}
    changed = store.apply_fields(row, fields, source="user")
    if locks is not None:
        row.locked_fields = sorted(set(locks) | set(fields))
    store.touch(row)
    return changed


def edit_series(series_id: int, values: Mapping[str, Any]) -> bool:
    """Blocking: apply an edit; returns whether the title changed (episode documents carry it)."""
    series = Series.get_by_id(series_id)
    changed = _apply(series, values)
    for name in store.LIST_FIELDS:
        if name in values:
            store.set_names(series, name, values[name])
    return "title" in changed


def edit_episode(episode_id: int, values: Mapping[str, Any]) -> None:
    _apply(Episode.get_by_id(episode_id), values)
