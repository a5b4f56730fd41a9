"""Configuration: defaults, YAML, REVENGE_* variables, validation, display."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import attrs
import pytest

from revenge_core.config import MASK, ConfigError, effective, env_name, leaf_keys, load_config, load_plugin_config

SEED_TRANSLATIONS = {
    "server.port": "REVENGE_SERVER_PORT",
    "database.pool.max_conns": "REVENGE_DATABASE_POOL_MAX_CONNS",
    "legacy.privacy.require_pin": "REVENGE_LEGACY_PRIVACY_REQUIRE_PIN",
}


def test_embedded_defaults_need_no_other_service(tmp_path: Path) -> None:
    config = load_config(environ={"REVENGE_DATA_DIR": str(tmp_path)})
    assert (config.server.host, config.server.port) == ("0.0.0.0", 8080)
    assert config.database.driver == "sqlite"
    assert config.sqlite_file == tmp_path / "revenge.db"
    assert config.cache.url == "" and config.search.url == ""
    assert config.legacy.enabled is False
    assert config.legacy.privacy.require_pin is True and config.legacy.privacy.audit_all_access is True


@pytest.mark.parametrize(("key", "variable"), SEED_TRANSLATIONS.items())
def test_nested_keys_translate_like_the_seed(key: str, variable: str) -> None:
    assert env_name(key) == variable
    assert key in leaf_keys(type(load_config(environ={})))


def test_environment_wins_over_file_over_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("server:\n  port: 9000\n  host: 127.0.0.1\ndatabase:\n  pool:\n    max_conns: 8\n")
    config = load_config(path, environ={"REVENGE_SERVER_PORT": "9100",
                                        "REVENGE_DATABASE_POOL_MAX_CONNS": "12",
                                        "REVENGE_LEGACY_PRIVACY_REQUIRE_PIN": "false"})
    assert config.server.port == 9100
    assert config.server.host == "127.0.0.1"
    assert config.database.pool.max_conns == 12
    assert config.legacy.privacy.require_pin is False
    assert config.source_file == path


def test_seed_secret_alias_for_the_jwt_secret() -> None:
    config = load_config(environ={"REVENGE_JWT_SECRET": "s" * 40})
    assert config.auth.jwt_secret == "s" * 40


def test_list_values_from_the_environment_are_comma_separated() -> None:
    config = load_config(environ={"REVENGE_LOAD_PLUGINS": "localfs, tmdb", "REVENGE_DISABLED_PLUGINS": ""})
    assert config.load_plugins == ["localfs", "tmdb"]
    assert config.disabled_plugins == []


@pytest.mark.parametrize(
    ("environ", "key", "reason"),
    [
        ({"REVENGE_SERVER_PORT": "eighty"}, "server.port", "expected an integer, got 'eighty'"),
        ({"REVENGE_SERVER_PORT": "70000"}, "server.port", "must be between 1 and 65535, got 70000"),
        ({"REVENGE_DATABASE_DRIVER": "mysql"}, "database.driver", "must be 'sqlite' or 'postgres', got 'mysql'"),
        ({"REVENGE_DATABASE_DRIVER": "postgres"}, "database.url", "is required when database.driver is postgres"),
        ({"REVENGE_LEGACY_PRIVACY_REQUIRE_PIN": "maybe"}, "legacy.privacy.require_pin",
         "expected true or false, got 'maybe'"),
        ({"REVENGE_AUTH_JWT_SECRET": "short"}, "auth.jwt_secret", "must be at least 32 characters"),
        ({"REVENGE_SEARCH_URL": "http://localhost:8108"}, "search.api_key", "is required when search.url is set"),
        ({"REVENGE_CACHE_URL": "memcached://x"}, "cache.url", "must be a redis://, rediss:// or unix:// URL"),
        ({"REVENGE_DATABASE_POOL_MAX_CONNS": "0"}, "database.pool.max_conns", "must be at least 1"),
    ],
)
def test_invalid_values_name_the_key_and_the_reason(environ: dict, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(environ=environ)
    assert (caught.value.key, caught.value.reason) == (key, reason)


def test_unknown_and_malformed_file_content(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text("server:\n  prot: 1\n")
    with pytest.raises(ConfigError, match=r"^server\.prot: unknown key$"):
        load_config(path, environ={})
    path.write_text("server: [unclosed\n")
    with pytest.raises(ConfigError, match="is not valid YAML at line"):
        load_config(path, environ={})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", environ={})


def test_effective_config_masks_secrets() -> None:
    config = load_config(environ={
        "REVENGE_DATABASE_DRIVER": "postgres",
        "REVENGE_DATABASE_URL": "postgresql://revenge:hunter2@db:5432/revenge",
        "REVENGE_AUTH_JWT_SECRET": "j" * 40,
        "REVENGE_SEARCH_URL": "http://typesense:8108",
        "REVENGE_SEARCH_API_KEY": "typesense-key",
    })
    config.plugins["tmdb"] = {"api_key": "tmdb-key", "language": "en"}
    config.plugins["thetvdb"] = {"api_key": "tvdb-key", "pin": "4711", "language": "eng"}
    shown = repr(effective(config))
    for secret in ("hunter2", "j" * 40, "typesense-key", "tmdb-key", "tvdb-key", "4711"):
        assert secret not in shown
    tree = effective(config)
    assert tree["database"]["url"] == f"postgresql://revenge:{MASK}@db:5432/revenge"
    assert tree["auth"]["jwt_secret"] == MASK
    assert tree["plugins"]["tmdb"] == {"api_key": MASK, "language": "en"}
    assert tree["plugins"]["thetvdb"] == {"api_key": MASK, "pin": MASK, "language": "eng"}


@attrs.define
class NestedPluginConfig:
    @attrs.define
    class Limits:
        per_second: int = 5

    api_key: str = ""
    languages: list[str] = attrs.Factory(lambda: ["en"])
    limits: Limits = attrs.Factory(Limits)


def test_plugin_sections_from_file_and_environment() -> None:
    config = load_config(environ={})
    config.plugins["tmdb"] = {"api_key": "from-file", "limits": {"per_second": 3}}
    environ = {"REVENGE_PLUGINS_TMDB_LANGUAGES": "de,fr", "REVENGE_PLUGINS_TMDB_LIMITS_PER_SECOND": "40"}
    value = load_plugin_config(config, "tmdb", NestedPluginConfig, environ)
    assert value.api_key == "from-file"
    assert value.languages == ["de", "fr"]
    assert value.limits.per_second == 40
    with pytest.raises(ConfigError, match=r"^plugins\.tmdb\.limits\.per_second: expected an integer"):
        load_plugin_config(config, "tmdb", NestedPluginConfig, {"REVENGE_PLUGINS_TMDB_LIMITS_PER_SECOND": "x"})


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "revenge_core", *args], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": "/tmp", **env}, timeout=60)


def test_cli_rejects_invalid_config_with_one_line_and_exit_code_2(tmp_path: Path) -> None:
    result = _cli("config", "check", env={"REVENGE_SERVER_PORT": "http", "REVENGE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr == "revenge: invalid configuration: server.port: expected an integer, got 'http'\n"
    result = _cli("serve", env={"REVENGE_DATABASE_DRIVER": "oracle", "REVENGE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "revenge: invalid configuration: database.driver: must be 'sqlite' or 'postgres', got 'oracle'"
    ]


def test_cli_config_show_masks_secrets(tmp_path: Path) -> None:
    result = _cli("config", "show", env={"REVENGE_AUTH_JWT_SECRET": "x" * 48, "REVENGE_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "x" * 48 not in result.stdout
    assert f"jwt_secret: '{MASK}'" in result.stdout


def test_every_key_is_in_the_configuration_reference() -> None:
    from revenge_core.config import reference

    text = (Path(__file__).resolve().parent.parent / "docs" / "configuration.md").read_text()
    for key, variable, *_ in reference():
        if key == "plugins":
            continue
        assert f"| `{key}` | `{variable}`" in text, f"{key} is missing from docs/configuration.md"


def test_a_plugin_does_not_read_a_longer_named_plugins_variables() -> None:
    config = load_config(environ={})
    environ = {"REVENGE_PLUGINS_FOO_BAR_URL": "http://bar", "REVENGE_PLUGINS_FOO_URL": "http://foo"}

    @attrs.define
    class Foo:
        url: str = ""

    assert load_plugin_config(config, "foo", Foo, environ, other_plugins=["foo", "foo_bar"]).url == "http://foo"
    assert load_plugin_config(config, "foo_bar", Foo, environ, other_plugins=["foo", "foo_bar"]).url == "http://bar"


def test_a_required_plugin_key_is_named_when_missing() -> None:
    @attrs.define
    class NeedsUrl:
        url: str

    with pytest.raises(ConfigError) as caught:
        load_plugin_config(load_config(environ={}), "hooks", NeedsUrl, {})
    assert (caught.value.key, caught.value.reason) == ("plugins.hooks.url", "is required")


def test_nested_plugin_secrets_are_masked() -> None:
    config = load_config(environ={})
    config.plugins["feeds"] = {"feed": {"api_key": "nested-secret", "name": "x"}}
    assert effective(config)["plugins"]["feeds"] == {"feed": {"api_key": MASK, "name": "x"}}
