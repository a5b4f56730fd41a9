"""Configuration: defaults < YAML file < ``REVENGE_*`` environment variables.

Every key ``a.b.c`` has the variable ``REVENGE_A_B_C``. Plugin sections live under
``plugins.<name>`` and are validated against each plugin's own schema when it loads
(``REVENGE_PLUGINS_<NAME>_<KEY>``). Invalid values fail with :class:`ConfigError`, which
names the key and the reason.
"""

from __future__ import annotations

import os
import re
import typing
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs
import yaml

from revenge_hookspecs.config import ConfigError, structure, structure_plugin_config

ENV_PREFIX = "REVENGE_"
SECRET = {"secret": True}
MASK = "********"

# Variables that name a key differently from the generated REVENGE_<PATH> form, kept for
# compatibility with the deployment examples in the seed inventory.
ENV_ALIASES = {
    "REVENGE_JWT_SECRET": "auth.jwt_secret",
}
# Variables read by the CLI or the process rather than mapped onto a key.
ENV_NOT_KEYS = {"REVENGE_CONFIG"}


def _default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "revenge"


@attrs.define
class ServerConfig:
    host: str = "0.0.0.0"
    port: int = 8080
    public_url: str = ""
    shutdown_timeout: float = 10.0


@attrs.define
class PoolConfig:
    max_conns: int = 4
    min_conns: int = 0
    max_conn_lifetime: float = 3600.0
    max_conn_idle_time: float = 1800.0
    health_check_period: float = 60.0
    timeout: float = 10.0


@attrs.define
class DatabaseConfig:
    driver: str = "sqlite"
    url: str = attrs.field(default="", metadata=SECRET)
    sqlite_path: str = ""
    pool: PoolConfig = attrs.Factory(PoolConfig)


@attrs.define
class CacheConfig:
    url: str = attrs.field(default="", metadata=SECRET)
    l1_ttl: float = 300.0
    l1_max_items: int = 10_000
    l2_ttl: float = 3600.0


@attrs.define
class SearchConfig:
    url: str = ""
    api_key: str = attrs.field(default="", metadata=SECRET)
    timeout: float = 2.0


@attrs.define
class JobsConfig:
    workers: int = 2
    embedded_consumer: bool = True
    shutdown_timeout: float = 10.0


@attrs.define
class PrivacyConfig:
    require_pin: bool = True
    audit_all_access: bool = True


@attrs.define
class LegacyConfig:
    enabled: bool = False
    encryption_key: str = attrs.field(default="", metadata=SECRET)
    privacy: PrivacyConfig = attrs.Factory(PrivacyConfig)


@attrs.define
class AuthConfig:
    jwt_secret: str = attrs.field(default="", metadata=SECRET)
    access_token_ttl: float = 900.0
    refresh_token_ttl: float = 30 * 86400.0
    refresh_grace_seconds: float = 10.0
    password_min_length: int = 10
    max_sessions_per_user: int = 10
    max_api_keys_per_user: int = 25
    lockout_threshold: int = 5
    lockout_window: float = 900.0
    cookie_secure: bool = True
    activity_retention_days: int = 365


@attrs.define
class EncryptionConfig:
    key: str = attrs.field(default="", metadata=SECRET)


@attrs.define
class LoggingConfig:
    level: str = "INFO"
    format: str = "text"
    access_log: bool = True
    file: str = ""


@attrs.define
class LibraryConfig:
    missing_grace_hours: float = 72.0
    scan_batch_size: int = 100
    watch_debounce_ms: int = 1000
    handler_timeout: float = 600.0
    scan_stale_seconds: float = 120.0


@attrs.define
class ArtworkConfig:
    max_download_bytes: int = 20 * 1024 * 1024
    download_timeout: float = 30.0
    cache_max_mb: int = 1024
    resize_workers: int = 2


@attrs.define
class MetadataConfig:
    provider_timeout: float = 60.0


@attrs.define
class PlaybackConfig:
    max_transcodes: int = 2
    idle_timeout_seconds: float = 300.0
    signed_url_ttl_seconds: int = 6 * 3600
    segment_seconds: float = 6.0
    segment_timeout: float = 120.0
    transcode_dir: str = ""


@attrs.define
class Config:
    data_dir: Path = attrs.Factory(_default_data_dir)
    server: ServerConfig = attrs.Factory(ServerConfig)
    database: DatabaseConfig = attrs.Factory(DatabaseConfig)
    cache: CacheConfig = attrs.Factory(CacheConfig)
    search: SearchConfig = attrs.Factory(SearchConfig)
    jobs: JobsConfig = attrs.Factory(JobsConfig)
    legacy: LegacyConfig = attrs.Factory(LegacyConfig)
    auth: AuthConfig = attrs.Factory(AuthConfig)
    encryption: EncryptionConfig = attrs.Factory(EncryptionConfig)
    logging: LoggingConfig = attrs.Factory(LoggingConfig)
    library: LibraryConfig = attrs.Factory(LibraryConfig)
    artwork: ArtworkConfig = attrs.Factory(ArtworkConfig)
    metadata: MetadataConfig = attrs.Factory(MetadataConfig)
    playback: PlaybackConfig = attrs.Factory(PlaybackConfig)
    load_plugins: list[str] = attrs.Factory(list)
    disabled_plugins: list[str] = attrs.Factory(list)
    plugins: dict[str, dict[str, Any]] = attrs.Factory(dict)
    # Where the values came from, for `revenge config show`; not a key.
    source_file: Path | None = attrs.field(default=None, metadata={"internal": True})

    @property
    def sqlite_file(self) -> Path:
        return Path(self.database.sqlite_path) if self.database.sqlite_path else self.data_dir / "revenge.db"


# --- the key space ------------------------------------------------------------------------------


def leaf_keys(cls: type, prefix: str = "") -> dict[str, attrs.Attribute]:
    """Every leaf key of an attrs config class, dotted, with its attribute."""
    keys: dict[str, attrs.Attribute] = {}
    hints = typing.get_type_hints(cls)
    for field in attrs.fields(cls):
        if field.metadata.get("internal"):
            continue
        key = f"{prefix}{field.name}"
        field_type = hints.get(field.name, field.type)
        if attrs.has(field_type):
            keys.update(leaf_keys(field_type, key + "."))
        else:
            keys[key] = field
    return keys


def env_name(key: str) -> str:
    return ENV_PREFIX + key.replace(".", "_").replace("-", "_").upper()


def plugin_env_prefix(plugin: str) -> str:
    return env_name(f"plugins.{plugin}") + "_"


def _set_path(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[parts[-1]] = value


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    by_env = {env_name(key): key for key in leaf_keys(Config) if key != "plugins"}
    for name, key in ENV_ALIASES.items():
        if name in environ:
            _set_path(tree, key, environ[name])
    for name, key in by_env.items():
        if name in environ:
            _set_path(tree, key, environ[name])
    return tree


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def default_config_file(environ: Mapping[str, str]) -> Path | None:
    if environ.get("REVENGE_CONFIG"):
        return Path(environ["REVENGE_CONFIG"])
    base = environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    for candidate in (Path(base) / "revenge" / "config.yaml", Path("/etc/revenge/config.yaml")):
        if candidate.is_file():
            return candidate
    return None


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError("config file", f"cannot read {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ConfigError("config file", f"{path} is not valid YAML{where}") from None
    if not isinstance(data, dict):
        raise ConfigError("config file", f"{path} must hold a mapping of keys")
    return data


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Read the effective configuration and check it."""
    environ = os.environ if environ is None else environ
    path = path if path is not None else default_config_file(environ)
    data: dict[str, Any] = read_yaml(path) if path is not None else {}
    data = _merge(data, _env_overrides(environ))
    if overrides:
        data = _merge(data, overrides)
    config = structure(data, Config)
    config.source_file = path
    check(config)
    return config


def check(config: Config) -> None:
    """Rules that types alone do not express."""
    if not 1 <= config.server.port <= 65535:
        raise ConfigError("server.port", f"must be between 1 and 65535, got {config.server.port}")
    if config.database.driver not in ("sqlite", "postgres"):
        raise ConfigError("database.driver", f"must be 'sqlite' or 'postgres', got {config.database.driver!r}")
    if config.database.driver == "postgres":
        if not config.database.url:
            raise ConfigError("database.url", "is required when database.driver is postgres")
        if urlsplit(config.database.url).scheme not in ("postgres", "postgresql"):
            raise ConfigError("database.url", "must be a postgres:// or postgresql:// URL")
    pool = config.database.pool
    if pool.max_conns < 1:
        raise ConfigError("database.pool.max_conns", "must be at least 1")
    if not 0 <= pool.min_conns <= pool.max_conns:
        raise ConfigError("database.pool.min_conns", "must be between 0 and database.pool.max_conns")
    for key in ("l1_ttl", "l2_ttl"):
        if getattr(config.cache, key) <= 0:
            raise ConfigError(f"cache.{key}", "must be greater than 0 seconds")
    if config.cache.l1_max_items < 1:
        raise ConfigError("cache.l1_max_items", "must be at least 1")
    if config.cache.url and urlsplit(config.cache.url).scheme not in ("redis", "rediss", "unix"):
        raise ConfigError("cache.url", "must be a redis://, rediss:// or unix:// URL")
    if config.search.url:
        if urlsplit(config.search.url).scheme not in ("http", "https"):
            raise ConfigError("search.url", "must be an http:// or https:// URL")
        if not config.search.api_key:
            raise ConfigError("search.api_key", "is required when search.url is set")
    if config.auth.jwt_secret and len(config.auth.jwt_secret) < 32:
        raise ConfigError("auth.jwt_secret", "must be at least 32 characters")
    auth = config.auth
    for key in ("access_token_ttl", "refresh_token_ttl", "lockout_window"):
        if getattr(auth, key) <= 0:
            raise ConfigError(f"auth.{key}", "must be greater than 0 seconds")
    if not 0 <= auth.refresh_grace_seconds <= 300:
        raise ConfigError("auth.refresh_grace_seconds", "must be between 0 and 300 seconds")
    for key in ("password_min_length", "max_sessions_per_user", "max_api_keys_per_user", "lockout_threshold",
                "activity_retention_days"):
        if getattr(auth, key) < 1:
            raise ConfigError(f"auth.{key}", "must be at least 1")
    if config.encryption.key and len(config.encryption.key) < 32:
        raise ConfigError("encryption.key", "must be at least 32 characters")
    if config.legacy.encryption_key and len(config.legacy.encryption_key) < 32:
        raise ConfigError("legacy.encryption_key", "must be at least 32 characters")
    if config.logging.level.upper() not in ("TRACE", "DEBUG", "INFO", "SUCCESS", "WARNING", "ERROR", "CRITICAL"):
        raise ConfigError("logging.level", f"unknown level {config.logging.level!r}")
    if config.logging.format not in ("text", "json"):
        raise ConfigError("logging.format", "must be 'text' or 'json'")
    if config.jobs.workers < 1:
        raise ConfigError("jobs.workers", "must be at least 1")
    _check_library(config.library)
    _check_artwork(config.artwork, config.metadata)
    _check_playback(config.playback)
    for name in config.plugins:
        if not isinstance(config.plugins[name], Mapping):
            raise ConfigError(f"plugins.{name}", "must be a mapping of keys")


def _check_library(library: LibraryConfig) -> None:
    if library.missing_grace_hours < 0:
        raise ConfigError("library.missing_grace_hours", "must be 0 or more hours")
    if not 1 <= library.scan_batch_size <= 10_000:
        raise ConfigError("library.scan_batch_size", "must be between 1 and 10000 files")
    if not 0 <= library.watch_debounce_ms <= 600_000:
        raise ConfigError("library.watch_debounce_ms", "must be between 0 and 600000 milliseconds")
    for key in ("handler_timeout", "scan_stale_seconds"):
        if getattr(library, key) <= 0:
            raise ConfigError(f"library.{key}", "must be greater than 0 seconds")


def _check_playback(playback: PlaybackConfig) -> None:
    if not 0 <= playback.max_transcodes <= 256:
        raise ConfigError("playback.max_transcodes", "must be between 0 (no transcoding) and 256")
    if not 30 <= playback.idle_timeout_seconds <= 86_400:
        raise ConfigError("playback.idle_timeout_seconds", "must be between 30 and 86400 seconds")
    if not 60 <= playback.signed_url_ttl_seconds <= 7 * 86_400:
        raise ConfigError("playback.signed_url_ttl_seconds", "must be between 60 seconds and 7 days")
    if not 2 <= playback.segment_seconds <= 30:
        raise ConfigError("playback.segment_seconds", "must be between 2 and 30 seconds")
    if playback.segment_timeout <= 0:
        raise ConfigError("playback.segment_timeout", "must be greater than 0 seconds")
    if playback.transcode_dir and not os.path.isabs(playback.transcode_dir):
        raise ConfigError("playback.transcode_dir", "must be an absolute path (empty: <data_dir>/transcode)")


def _check_artwork(artwork: ArtworkConfig, metadata: MetadataConfig) -> None:
    if not 1024 <= artwork.max_download_bytes <= 1024**3:
        raise ConfigError("artwork.max_download_bytes", "must be between 1024 bytes and 1 GiB")
    if artwork.cache_max_mb < 0:
        raise ConfigError("artwork.cache_max_mb", "must be 0 (no cache) or more megabytes")
    if not 1 <= artwork.resize_workers <= 64:
        raise ConfigError("artwork.resize_workers", "must be between 1 and 64")
    for key, value in (("artwork.download_timeout", artwork.download_timeout),
                       ("metadata.provider_timeout", metadata.provider_timeout)):
        if value <= 0:
            raise ConfigError(key, "must be greater than 0 seconds")


# --- plugin sections ------------------------------------------------------------------------------


def plugin_section(config: Config, plugin: str, environ: Mapping[str, str] | None = None,
                   other_plugins: Iterable[str] = ()) -> dict[str, Any]:
    """The raw values for ``plugins.<plugin>``: file section with env variables on top.

    ``other_plugins`` are the names of the other installed plugins: a variable of plugin
    ``foo_bar`` (``REVENGE_PLUGINS_FOO_BAR_URL``) is not plugin ``foo``'s key ``bar_url``.
    """
    environ = os.environ if environ is None else environ
    section = dict(config.plugins.get(plugin) or {})
    prefix = plugin_env_prefix(plugin)
    longer = [plugin_env_prefix(other) for other in other_plugins
              if plugin_env_prefix(other).startswith(prefix) and other != plugin]
    for name, value in environ.items():
        if name.startswith(prefix) and not any(name.startswith(p) for p in longer):
            section[name[len(prefix):].lower()] = value
    return section


def load_plugin_config(config: Config, plugin: str, schema: type | None,
                       environ: Mapping[str, str] | None = None, other_plugins: Iterable[str] = ()) -> Any:
    """Validate a plugin's section against its schema; ConfigError names the key."""
    section = plugin_section(config, plugin, environ, other_plugins)
    if schema is None or not attrs.has(schema):
        return structure_plugin_config(plugin, schema, section)
    # Environment keys are flat; map REVENGE_PLUGINS_X_A_B onto nested attrs fields.
    leaves = leaf_keys(schema)
    nested: dict[str, Any] = {}
    for raw_key, value in section.items():
        if raw_key in leaves or isinstance(value, Mapping):
            nested = _merge(nested, {raw_key: value})
            continue
        dotted = next((k for k in leaves if k.replace(".", "_") == raw_key), raw_key)
        _set_path(nested, dotted, value)
    return structure_plugin_config(plugin, schema, nested)


# --- display -----------------------------------------------------------------------------------


def mask_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", f":{MASK}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def _mask(key: str, field: attrs.Attribute, value: Any) -> Any:
    if not field.metadata.get("secret") or value in ("", None):
        return value
    if key.endswith("url"):
        return mask_url(value)
    return MASK


def effective(config: Config) -> dict[str, Any]:
    """The configuration as a plain tree with secrets masked."""
    tree: dict[str, Any] = {}
    for key, field in leaf_keys(Config).items():
        value = attrs.asdict(config, recurse=True, value_serializer=_serialize)
        for part in key.split("."):
            value = value[part]
        _set_path(tree, key, _mask(key, field, value))
    tree["plugins"] = {name: _mask_tree(section or {}) for name, section in config.plugins.items()}
    return tree


def _mask_tree(section: Mapping[str, Any]) -> dict[str, Any]:
    return {
        key: _mask_tree(value) if isinstance(value, Mapping)
        else (MASK if _looks_secret(key) and value not in ("", None) else value)
        for key, value in section.items()
    }


def _looks_secret(key: str) -> bool:
    return bool(re.search(r"(secret|password|api_key|token|key|pin)$", key))


def _serialize(_inst: Any, _field: Any, value: Any) -> Any:
    return str(value) if isinstance(value, Path) else value


def reference() -> list[tuple[str, str, str, Any, bool]]:
    """(key, variable, type, default, secret) for every core key, for the docs."""
    defaults = Config()
    rows = []
    for key, field in leaf_keys(Config).items():
        value: Any = defaults
        for part in key.split("."):
            value = getattr(value, part)
        type_name = getattr(field.type, "__name__", str(field.type))
        rows.append((key, env_name(key), type_name, value, bool(field.metadata.get("secret"))))
    return rows
