"""Server settings and per-user preferences: declared, typed and validated.

A setting is declared once (:class:`SettingSpec`) with its type, default, rules and two
flags: ``secret`` values are never returned by the API (only whether they are set) and are
stored encrypted (``{"$encrypted": "v1:..."}``, see ``crypto``), and ``public`` ones are
readable without credentials (``GET /api/v1/settings/public``). Values live in
``shared.server_settings`` as JSON, so every instance sees the same ones; a key without a
row has its default.

``plugins.<name>`` rows hold the configuration admins give plugins over the API; they are
not declared settings and are read and written only through the plugin admin API.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
from aiohttp import web

from revenge_hookspecs.errors import ApiError

from ..config import MASK
from ..db.models import utcnow
from .activity import redact
from .models import ServerSetting, UserPreference

if TYPE_CHECKING:
    from .crypto import SecretBox
    from .service import Identity

TYPES = ("string", "integer", "number", "boolean", "string_list")
LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
PIN = re.compile(r"^[0-9]{4,12}$")
ARR_SERVICES = ("radarr", "sonarr", "lidarr", "whisparr", "prowlarr", "readarr")
PLUGIN_PREFIX = "plugins."
SEALED = "$encrypted"
SETTING_PURPOSE = "setting"


class SettingError(ApiError):
    """A value was refused; ``details.key`` names the setting or preference."""

    def __init__(self, key: str, reason: str, code: str = "invalid_setting"):
        super().__init__(400, code, f"{key}: {reason}", {"key": key, "reason": reason})
        self.key = key
        self.reason = reason


# --- rules ---------------------------------------------------------------------------------------


def no_control_characters(value: str) -> None:
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
        raise ValueError("must not contain control characters")


def language_tag(value: str) -> None:
    if value and not LANGUAGE.fullmatch(value):
        raise ValueError("must be a language tag such as 'en' or 'pt-BR' (or empty)")


def http_url(value: str) -> None:
    if not value:
        return
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL")
    if any(ch.isspace() for ch in value):
        raise ValueError("must not contain spaces")


def pin(value: str) -> None:
    if value and not PIN.fullmatch(value):
        raise ValueError("must be 4 to 12 digits")


def absolute_paths(value: list[str]) -> None:
    for index, path in enumerate(value):
        if "\x00" in path or not os.path.isabs(path):
            raise ValueError(f"entry {index} ({path!r}) must be an absolute path")


def api_key(value: str) -> None:
    if value and (len(value) > 256 or any(ch.isspace() for ch in value)):
        raise ValueError("must be at most 256 characters without spaces")


@attrs.frozen
class SettingSpec:
    """One declared setting or preference.

    :param name: dotted key, e.g. ``server.name``.
    :param type: ``string``, ``integer``, ``number``, ``boolean`` or ``string_list``.
    :param default: the value while none is stored.
    :param description: one sentence for admins.
    :param secret: never returned; reads say only whether it is set.
    :param public: readable without credentials.
    :param choices: the only accepted values, when given.
    :param minimum: lowest number (or shortest text) accepted.
    :param maximum: highest number (or longest text) accepted.
    :param validator: raises ``ValueError(reason)`` for a refused value.
    """

    name: str
    type: str = attrs.field(validator=attrs.validators.in_(TYPES))
    default: Any
    description: str = ""
    secret: bool = False
    public: bool = False
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    validator: Callable[[Any], None] | None = None

    def check(self, value: Any) -> Any:
        """The value as stored, or ``SettingError`` naming this key."""
        try:
            return self._check(value)
        except ValueError as exc:
            raise SettingError(self.name, str(exc)) from None

    def _check(self, value: Any) -> Any:
        if self.type == "boolean":
            if not isinstance(value, bool):
                raise ValueError("must be true or false")
        elif self.type == "integer":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("must be a whole number")
        elif self.type == "number":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError("must be a number")
            value = float(value)
        elif self.type == "string":
            if not isinstance(value, str):
                raise ValueError("must be text")
            value = value.strip()
            no_control_characters(value)
        elif self.type == "string_list":
            if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
                raise ValueError("must be a list of texts")
            value = [item.strip() for item in value]
            for item in value:
                no_control_characters(item)
        if self.choices and value not in self.choices:
            raise ValueError("must be one of " + ", ".join(str(c) for c in self.choices))
        measure = len(value) if isinstance(value, (str, list)) else value
        noun = "characters" if isinstance(value, str) else ("entries" if isinstance(value, list) else "")
        if self.minimum is not None and measure < self.minimum:
            raise ValueError(f"must be at least {self.minimum:g} {noun}".rstrip())
        if self.maximum is not None and measure > self.maximum:
            raise ValueError(f"must be at most {self.maximum:g} {noun}".rstrip())
        if self.validator is not None:
            self.validator(value)
        return value

    def describe(self) -> dict[str, Any]:
        facts: dict[str, Any] = {"key": self.name, "type": self.type, "description": self.description,
                                 "secret": self.secret, "public": self.public}
        if not self.secret:
            facts["default"] = self.default
        if self.choices:
            facts["choices"] = list(self.choices)
        if self.minimum is not None:
            facts["minimum"] = self.minimum
        if self.maximum is not None:
            facts["maximum"] = self.maximum
        return facts


def _arr_specs() -> list[SettingSpec]:
    specs = []
    for service in ARR_SERVICES:
        specs.append(SettingSpec(f"arr.{service}.url", "string", "", f"Base URL of the {service.title()} server.",
                                 maximum=1024, validator=http_url))
        specs.append(SettingSpec(f"arr.{service}.api_key", "string", "", f"API key of the {service.title()} server.",
                                 secret=True, validator=api_key))
    return specs


SERVER_SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec("server.name", "string", "Revenge", "The name clients show for this server.", public=True,
                minimum=1, maximum=64),
    SettingSpec("server.language", "string", "en", "Default language of the server and new users.", public=True,
                maximum=35, validator=language_tag),
    SettingSpec("library.scan_on_startup", "boolean", True, "Scan every library when the server starts."),
    SettingSpec("library.scan_interval_hours", "integer", 24,
                "Hours between two scheduled library scans; 0 turns them off.", minimum=0, maximum=720),
    SettingSpec("library.paths", "string_list", [], "Media folders given during setup, for the library service.",
                maximum=100, validator=absolute_paths),
    SettingSpec("playback.allow_transcoding", "boolean", True, "Transcode when a client cannot play a file."),
    SettingSpec("playback.max_transcodes", "integer", 2, "Most transcodes running at once; 0 means none.",
                minimum=0, maximum=64),
    SettingSpec("legacy.pin", "string", "", "PIN that unlocks the adult module (4 to 12 digits).", secret=True,
                validator=pin),
    *_arr_specs(),
)

PREFERENCES: tuple[SettingSpec, ...] = (
    SettingSpec("language", "string", "", "Interface and metadata language; empty follows the server.",
                maximum=35, validator=language_tag),
    SettingSpec("theme", "string", "system", "Colour theme.", choices=("light", "dark", "system")),
    SettingSpec("playback_quality", "string", "auto", "Preferred streaming quality.",
                choices=("auto", "1080p", "720p", "480p")),
    SettingSpec("subtitles_language", "string", "", "Subtitle language; empty turns subtitles off.",
                maximum=35, validator=language_tag),
    SettingSpec("audio_language", "string", "", "Preferred audio language; empty keeps the file's default.",
                maximum=35, validator=language_tag),
    SettingSpec("autoplay_next", "boolean", True, "Play the next episode or track automatically."),
    SettingSpec("show_adult_content", "boolean", False,
                "Show the adult module's content (only when the server enables it)."),
)


def _dump(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def _load(text: str) -> Any:
    return json.loads(text)


def is_sealed(stored: Any) -> bool:
    """Whether a decoded stored value is an encrypted secret."""
    return isinstance(stored, dict) and set(stored) == {SEALED}


def seal(box: SecretBox, key: str, value: Any) -> dict[str, str]:
    """The stored form of secret setting ``key``: its JSON encrypted, bound to the key's name."""
    return {SEALED: box.encrypt(SETTING_PURPOSE, _dump(value), context=key)}


def unseal(box: SecretBox, key: str, stored: Any) -> Any:
    """The value of a stored setting; encrypted ones are decrypted, others returned as they are
    (a setting declared secret later is encrypted the next time it is written)."""
    if not is_sealed(stored):
        return stored
    return _load(box.decrypt(SETTING_PURPOSE, stored[SEALED], context=key))


def _body_mapping(changes: Any) -> Mapping[str, Any]:
    if not isinstance(changes, Mapping) or not changes:
        raise ApiError(400, "bad_request", "Send a JSON object of keys and their new values.")
    return changes


# --- the service ---------------------------------------------------------------------------------


class Settings:
    def __init__(self, identity: Identity):
        self.identity = identity
        self.db = identity.db
        self.specs: dict[str, SettingSpec] = {spec.name: spec for spec in SERVER_SETTINGS}
        self.preference_specs: dict[str, SettingSpec] = {spec.name: spec for spec in PREFERENCES}

    def declare(self, spec: SettingSpec) -> None:
        """Add a setting (for services that come later); a name is declared once."""
        if spec.name in self.specs or spec.name.startswith(PLUGIN_PREFIX):
            raise ValueError(f"setting {spec.name!r} is already declared or reserved")
        self.specs[spec.name] = spec

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.identity.run(fn, *args)

    # --- raw rows ---

    def _decoded(self, rows: Iterable[ServerSetting]) -> dict[str, Any]:
        values = {row.key: _load(row.value) for row in rows}
        # The key is only touched when there is something to decrypt (it may be generated on first use).
        return {key: unseal(self.identity.secret_box, key, value) if is_sealed(value) else value
                for key, value in values.items()}

    def _read_rows(self, keys: Iterable[str] | None = None) -> dict[str, Any]:
        query = ServerSetting.select()
        if keys is not None:
            query = query.where(ServerSetting.key.in_(list(keys)))
        return self._decoded(query)

    def _stored_form(self, key: str, value: Any) -> str:
        spec = self.specs.get(key)
        return _dump(seal(self.identity.secret_box, key, value) if spec is not None and spec.secret else value)

    def _write_rows(self, values: Mapping[str, Any], updated_by: int | None) -> None:
        with self.db.database.atomic():
            for key, value in values.items():
                if value is None:
                    ServerSetting.delete().where(ServerSetting.key == key).execute()
                    continue
                now, text = utcnow(), self._stored_form(key, value)
                ServerSetting.insert(key=key, value=text, updated_at=now, updated_by=updated_by).on_conflict(
                    conflict_target=[ServerSetting.key],
                    update={ServerSetting.value: text, ServerSetting.updated_at: now,
                            ServerSetting.updated_by: updated_by},
                ).execute()

    async def read_raw(self, key: str) -> Any:
        """The stored value of any key (``None`` when unset); secrets included. Internal use."""
        rows = await self._run(self._read_rows, [key])
        return rows.get(key)

    async def write_raw(self, key: str, value: Any, updated_by: int | None = None) -> None:
        """Store (or with ``None`` delete) any key without declaration checks. Internal use."""
        await self._run(self._write_rows, {key: value}, updated_by)

    # --- declared settings ---

    def spec(self, name: str) -> SettingSpec:
        try:
            return self.specs[name]
        except KeyError:
            raise SettingError(name, "unknown setting", code="unknown_setting") from None

    async def get(self, name: str) -> Any:
        """The effective value of a declared setting, secrets included (never send it out)."""
        spec = self.spec(name)
        stored = await self.read_raw(name)
        return spec.default if stored is None else stored

    async def values(self) -> dict[str, Any]:
        """Every declared setting's effective value, secrets included (never send it out)."""
        stored = await self._run(self._read_rows, list(self.specs))
        return {name: stored.get(name, spec.default) for name, spec in self.specs.items()}

    def _shown(self, spec: SettingSpec, value: Any, is_set: bool) -> dict[str, Any]:
        facts = spec.describe()
        facts["is_set"] = is_set
        facts["value"] = (MASK if is_set and value not in ("", None) else "") if spec.secret else value
        return facts

    async def describe(self) -> list[dict[str, Any]]:
        """What admins see: every setting with its value, secrets masked."""
        stored = await self._run(self._read_rows, list(self.specs))
        return [self._shown(spec, stored.get(name, spec.default), name in stored)
                for name, spec in sorted(self.specs.items())]

    async def public(self) -> dict[str, Any]:
        values = await self.values()
        return {name: values[name] for name, spec in self.specs.items() if spec.public and not spec.secret}

    async def validate(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Checked values (``None`` resets to the default); ``SettingError`` names the first bad key.

        A secret sent back as ``********`` (as read) means "leave it as it is" and is dropped.
        """
        changes = _body_mapping(changes)

        def check_all() -> dict[str, Any]:
            checked: dict[str, Any] = {}
            for name, value in changes.items():
                spec = self.spec(name)
                if spec.secret and value == MASK:
                    continue
                checked[name] = None if value is None else spec.check(value)
            return checked

        # Rules may look at the file system; keep them off the event loop.
        return await asyncio.to_thread(check_all)

    async def update(self, changes: Mapping[str, Any], *, request: web.BaseRequest | None = None,
                     actor_id: int | None = None) -> list[dict[str, Any]]:
        """Validate every value, then store them together and log ``setting.change``.

        Nothing is stored when any value is refused. Returns the changed settings as
        :meth:`describe` shows them.
        """
        checked = await self.validate(changes)
        if request is not None and actor_id is None:
            from .principal import PRINCIPAL

            principal = request.get(PRINCIPAL)
            actor_id = principal.user_id if principal is not None else None

        def write() -> tuple[dict[str, Any], dict[str, Any]]:
            with self.db.database.atomic():
                before = self._read_rows(list(checked))
                self._write_rows(checked, actor_id)
                after = self._read_rows(list(checked))
            return before, after

        before, after = await self._run(write)
        changed = [name for name in checked if before.get(name) != after.get(name)]
        if changed:
            await self.identity.activity.record(
                "setting.change", request=request, actor_id=actor_id, target_type="setting",
                target_id=",".join(sorted(changed))[:64],
                before=self._loggable({n: before.get(n, self.specs[n].default) for n in changed}),
                after=self._loggable({n: after.get(n, self.specs[n].default) for n in changed}),
            )
        return [self._shown(self.specs[name], after.get(name, self.specs[name].default), name in after)
                for name in sorted(checked)]

    def _loggable(self, values: Mapping[str, Any]) -> dict[str, Any]:
        shown = {}
        for name, value in values.items():
            if self.specs[name].secret:
                shown[name] = MASK if value not in ("", None) else ""
            else:
                shown[name] = value
        return redact(shown)

    # --- per-user preferences ---

    def _legacy_enabled(self) -> bool:
        return bool(self.identity.config.legacy.enabled)

    async def preferences(self, user_id: int) -> dict[str, Any]:
        """Every declared preference of a user, defaults filled in."""
        def read() -> dict[str, Any]:
            rows = UserPreference.select().where(UserPreference.user == user_id)
            return {row.key: _load(row.value) for row in rows}

        stored = await self._run(read)
        values = {name: stored.get(name, spec.default) for name, spec in self.preference_specs.items()}
        if not self._legacy_enabled():
            values["show_adult_content"] = False
        return values

    async def update_preferences(self, user_id: int, changes: Mapping[str, Any]) -> dict[str, Any]:
        """Validate and store preferences (``None`` resets one); returns all of them."""
        changes = _body_mapping(changes)
        checked: dict[str, Any] = {}
        for name, value in changes.items():
            spec = self.preference_specs.get(name)
            if spec is None:
                raise SettingError(name, "unknown preference", code="unknown_preference")
            if value is None:
                checked[name] = None
                continue
            value = spec.check(value)
            if name == "show_adult_content" and value and not self._legacy_enabled():
                raise SettingError(name, "the adult module is not enabled on this server", code="legacy_disabled")
            checked[name] = value

        def write() -> None:
            with self.db.database.atomic():
                for name, value in checked.items():
                    if value is None:
                        UserPreference.delete().where((UserPreference.user == user_id)
                                                      & (UserPreference.key == name)).execute()
                        continue
                    UserPreference.insert(user=user_id, key=name, value=_dump(value)).on_conflict(
                        conflict_target=[UserPreference.user, UserPreference.key],
                        update={UserPreference.value: _dump(value)},
                    ).execute()

        await self._run(write)
        return await self.preferences(user_id)

    def describe_preferences(self) -> list[dict[str, Any]]:
        return [spec.describe() for spec in self.preference_specs.values()]
