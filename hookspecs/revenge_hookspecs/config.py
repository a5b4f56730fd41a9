"""Configuration rules shared by the server and plugins.

Values arrive from YAML (typed) and from environment variables (text); both become typed
values here ("true" -> True, "5" -> 5, "a,b" -> ["a", "b"]). Every failure is a
:class:`ConfigError` naming the dotted key at fault. A plugin's config class may define
``validate()``; raise ``ConfigError("key", "reason")`` from it to name one of its keys.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import cattrs


class ConfigError(ValueError):
    """Invalid configuration; ``key`` is the dotted key at fault."""

    def __init__(self, key: str, reason: str):
        super().__init__(f"{key}: {reason}")
        self.key = key
        self.reason = reason


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _to_bool(value: Any, _type: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise ValueError(f"expected true or false, got {value!r}")


def _to_int(value: Any, _type: Any) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected an integer, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
        return int(value)
    raise ValueError(f"expected an integer, got {value!r}")


def _to_float(value: Any, _type: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"expected a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected a number, got {value!r}") from None


def _to_str(value: Any, _type: Any) -> str:
    if isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)
    raise ValueError(f"expected text, got {value!r}")


def _to_str_list(value: Any, _type: Any) -> list[str]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return [_to_str(v, str) for v in value]
    raise ValueError(f"expected a list or comma-separated text, got {value!r}")


def make_converter() -> cattrs.Converter:
    """A converter that accepts YAML values and environment strings alike."""
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(bool, _to_bool)
    converter.register_structure_hook(int, _to_int)
    converter.register_structure_hook(float, _to_float)
    converter.register_structure_hook(str, _to_str)
    converter.register_structure_hook_func(lambda t: t == list[str], _to_str_list)
    converter.register_structure_hook(Path, lambda v, _t: Path(os.path.expanduser(_to_str(v, str))))
    return converter


CONVERTER = make_converter()


def _deepest_cause(exc: BaseException) -> BaseException | None:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _deepest_cause(inner)
            if found is not None:
                return found
        return None
    return exc


def _join(*parts: str) -> str:
    return ".".join(p for p in parts if p)


def _first_error(exc: BaseException, prefix: str) -> ConfigError:
    """Turn a cattrs validation error into one ConfigError naming the deepest key."""
    messages = cattrs.transform_error(exc, path="$")
    message = messages[0] if messages else str(exc)
    reason, _, where = message.rpartition(" @ ")
    if not reason:
        reason, where = message, "$"
    key = where.removeprefix("$").lstrip(".")
    key = re.sub(r"\[['\"]?([^\]'\"]+)['\"]?\]", r".\1", key).strip(".")
    if reason.startswith("extra fields found"):
        extra = reason.split("(", 1)[-1].rstrip(")")
        return ConfigError(_join(prefix, key, extra), "unknown key")
    cause = _deepest_cause(exc)
    if isinstance(cause, KeyError) or reason == "required field missing":
        return ConfigError(_join(prefix, key) or prefix, "is required")
    if cause is not None and str(cause):
        reason = str(cause)
    return ConfigError(_join(prefix, key) or prefix, reason)


def structure(data: Mapping[str, Any], cls: type, *, prefix: str = "") -> Any:
    """Build ``cls`` from ``data`` or raise :class:`ConfigError` naming the bad key."""
    try:
        return CONVERTER.structure(dict(data), cls)
    except (cattrs.BaseValidationError, ValueError, TypeError) as exc:
        raise _first_error(exc, prefix) from None


def structure_plugin_config(name: str, schema: type | None, data: Mapping[str, Any] | None) -> Any:
    """Validate the ``plugins.<name>`` section against a plugin's schema, ``validate()`` included."""
    data = dict(data or {})
    prefix = f"plugins.{name}"
    if schema is None:
        if data:
            raise ConfigError(f"{prefix}.{next(iter(data))}", "unknown key: the plugin takes no configuration")
        return None
    if not attrs.has(schema):
        raise ConfigError(prefix, "the plugin's config schema is not an attrs class")
    instance = structure(data, schema, prefix=prefix)
    validate = getattr(instance, "validate", None)
    if callable(validate):
        try:
            validate()
        except ConfigError as exc:
            raise ConfigError(_join(prefix, exc.key), exc.reason) from None
        except ValueError as exc:
            raise ConfigError(prefix, str(exc)) from None
    return instance
