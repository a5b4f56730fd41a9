"""Server settings, per-user preferences and the plugin admin API (status, toggles, config)."""

from __future__ import annotations

import attrs
import pytest
from aiohttp import web

from revenge_core.http.app import create_app
from revenge_core.http.keys import HOST
from revenge_core.identity.authorizer import IDENTITY
from revenge_hookspecs import PUBLIC, Route, hookimpl
from tests import plugin_samples as samples
from tests.identity.conftest import login_headers, make_user

PIN = "864209"
ARR_KEY = "f00dfacecafebabe0123456789abcdef"
PLUGIN_SECRET = "plugin-secret-value-123"
MASK = "********"

pytestmark = pytest.mark.usefixtures("cheap_password_hashes")


async def as_admin(client) -> dict[str, str]:
    await make_user(client.app, "boss", "boss password", role="admin")
    return await login_headers(client, "boss", "boss password")


# --- server settings ---------------------------------------------------------------------------------


async def test_admin_reads_and_changes_typed_settings(identity_app) -> None:
    client = identity_app
    admin = await as_admin(client)
    items = {s["key"]: s for s in (await (await client.get("/api/v1/admin/settings", headers=admin)).json())["items"]}
    assert items["server.name"]["value"] == "Revenge" and items["server.name"]["public"] is True
    assert items["playback.max_transcodes"]["type"] == "integer" and items["playback.max_transcodes"]["value"] == 2
    assert items["library.scan_on_startup"]["value"] is True and items["legacy.pin"]["secret"] is True
    assert items["legacy.pin"]["is_set"] is False

    response = await client.patch("/api/v1/admin/settings", headers=admin, json={
        "server.name": "  Home Cinema ", "playback.max_transcodes": 4, "library.scan_on_startup": False,
        "server.language": "pt-BR"})
    assert response.status == 200, await response.text()
    changed = {s["key"]: s["value"] for s in (await response.json())["items"]}
    assert changed == {"server.name": "Home Cinema", "playback.max_transcodes": 4,
                       "library.scan_on_startup": False, "server.language": "pt-BR"}
    values = await client.app[IDENTITY].settings.values()
    assert values["server.name"] == "Home Cinema" and values["playback.max_transcodes"] == 4

    response = await client.patch("/api/v1/admin/settings", headers=admin, json={"playback.max_transcodes": None})
    assert (await response.json())["items"][0]["value"] == 2
    entries = (await client.app[IDENTITY].activity.query(action="setting.change"))["items"]
    assert len(entries) == 2
    assert entries[1]["before"]["server.name"] == "Revenge" and entries[1]["after"]["server.name"] == "Home Cinema"
    assert entries[0]["before"] == {"playback.max_transcodes": 4}


INVALID_SETTINGS = [
    ({"server.name": 5}, "server.name", "invalid_setting"),
    ({"server.name": "   "}, "server.name", "invalid_setting"),
    ({"server.name": "x" * 65}, "server.name", "invalid_setting"),
    ({"server.language": "English!"}, "server.language", "invalid_setting"),
    ({"playback.max_transcodes": "3"}, "playback.max_transcodes", "invalid_setting"),
    ({"playback.max_transcodes": -1}, "playback.max_transcodes", "invalid_setting"),
    ({"playback.max_transcodes": 2.5}, "playback.max_transcodes", "invalid_setting"),
    ({"playback.max_transcodes": True}, "playback.max_transcodes", "invalid_setting"),
    ({"playback.allow_transcoding": "yes"}, "playback.allow_transcoding", "invalid_setting"),
    ({"legacy.pin": "12ab"}, "legacy.pin", "invalid_setting"),
    ({"arr.radarr.url": "file:///etc/passwd"}, "arr.radarr.url", "invalid_setting"),
    ({"library.paths": ["relative"]}, "library.paths", "invalid_setting"),
    ({"no.such.key": 1}, "no.such.key", "unknown_setting"),
    ({"plugins.good": {"greeting": "x"}}, "plugins.good", "unknown_setting"),
]


async def test_invalid_settings_are_refused_naming_the_key_and_nothing_is_stored(identity_app) -> None:
    client = identity_app
    admin = await as_admin(client)
    for body, key, code in INVALID_SETTINGS:
        # A valid change next to the bad one must not be stored either.
        response = await client.patch("/api/v1/admin/settings", headers=admin,
                                      json={"server.name": "Changed", **body})
        payload = await response.json()
        assert response.status == 400, body
        assert (payload["code"], payload["details"]["key"]) == (code, key), payload
        assert key in payload["message"]
    assert await client.app[IDENTITY].settings.get("server.name") == "Revenge"
    for body in ([], {}, "text"):
        assert (await client.patch("/api/v1/admin/settings", headers=admin, json=body)).status == 400
    assert (await client.app[IDENTITY].activity.query(action="setting.change"))["total"] == 0


async def test_secret_settings_are_never_returned(identity_app) -> None:
    client = identity_app
    admin = await as_admin(client)
    response = await client.patch("/api/v1/admin/settings", headers=admin,
                                  json={"legacy.pin": PIN, "arr.radarr.api_key": ARR_KEY, "server.name": "S"})
    assert response.status == 200
    texts = [await response.text()]
    shown = {s["key"]: s for s in (await response.json())["items"]}
    assert shown["legacy.pin"] == {**shown["legacy.pin"], "value": MASK, "is_set": True}
    for path in ("/api/v1/admin/settings", "/api/v1/settings/public", "/api/v1/admin/activity"):
        texts.append(await (await client.get(path, headers=admin)).text())
    for text in texts:
        assert PIN not in text and ARR_KEY not in text
    # Sending the mask back (a form saved as read) keeps the secret.
    response = await client.patch("/api/v1/admin/settings", headers=admin,
                                  json={"legacy.pin": MASK, "server.name": "T"})
    assert response.status == 200
    settings = client.app[IDENTITY].settings
    assert await settings.get("legacy.pin") == PIN and await settings.get("arr.radarr.api_key") == ARR_KEY
    first_change = (await client.app[IDENTITY].activity.query(action="setting.change"))["items"][-1]
    assert first_change["after"]["legacy.pin"] == MASK and first_change["before"]["legacy.pin"] == ""


async def test_public_settings_need_no_credentials_and_hold_only_public_keys(identity_app) -> None:
    client = identity_app
    await client.app[IDENTITY].settings.update({"server.name": "Den", "playback.max_transcodes": 7,
                                                "legacy.pin": PIN})
    response = await client.get("/api/v1/settings/public")
    assert response.status == 200
    public = (await response.json())["settings"]
    assert public == {"server.name": "Den", "server.language": "en"}
    assert (await client.get("/api/v1/admin/settings")).status == 401
    await make_user(client.app, "pleb", "pleb password")
    pleb = await login_headers(client, "pleb", "pleb password")
    assert (await client.get("/api/v1/admin/settings", headers=pleb)).status == 403
    assert (await client.patch("/api/v1/admin/settings", headers=pleb, json={"server.name": "x"})).status == 403


# --- preferences -------------------------------------------------------------------------------------------


async def test_preferences_are_per_user_typed_and_resettable(identity_app) -> None:
    client = identity_app
    await make_user(client.app, "ann", "ann password")
    await make_user(client.app, "ben", "ben password")
    ann = await login_headers(client, "ann", "ann password")
    ben = await login_headers(client, "ben", "ben password")
    assert (await client.get("/api/v1/me/preferences")).status == 401
    body = await (await client.get("/api/v1/me/preferences", headers=ann)).json()
    assert body["preferences"] == {"language": "", "theme": "system", "playback_quality": "auto",
                                   "subtitles_language": "", "audio_language": "", "autoplay_next": True,
                                   "show_adult_content": False}
    assert {p["key"] for p in body["available"]} == set(body["preferences"])

    response = await client.patch("/api/v1/me/preferences", headers=ann,
                                  json={"theme": "dark", "playback_quality": "720p", "subtitles_language": "de"})
    assert response.status == 200
    assert (await response.json())["preferences"]["theme"] == "dark"
    assert (await (await client.get("/api/v1/me/preferences", headers=ben)).json())["preferences"]["theme"] == "system"

    for bad, key, code in (({"theme": "neon"}, "theme", "invalid_setting"),
                           ({"playback_quality": "4k"}, "playback_quality", "invalid_setting"),
                           ({"autoplay_next": "no"}, "autoplay_next", "invalid_setting"),
                           ({"language": "english"}, "language", "invalid_setting"),
                           ({"favourite_colour": "red"}, "favourite_colour", "unknown_preference")):
        response = await client.patch("/api/v1/me/preferences", headers=ann, json=bad)
        payload = await response.json()
        assert (response.status, payload["code"], payload["details"]["key"]) == (400, code, key)
    response = await client.patch("/api/v1/me/preferences", headers=ann, json={"theme": None})
    assert (await response.json())["preferences"]["theme"] == "system"
    assert (await (await client.get("/api/v1/me/preferences", headers=ann)).json())["preferences"][
        "playback_quality"] == "720p"


async def test_adult_content_preference_needs_the_legacy_module(identity_app) -> None:
    client = identity_app
    await make_user(client.app, "ann", "ann password")
    ann = await login_headers(client, "ann", "ann password")
    response = await client.patch("/api/v1/me/preferences", headers=ann, json={"show_adult_content": True})
    assert response.status == 400 and (await response.json())["code"] == "legacy_disabled"
    client.app[IDENTITY].config.legacy.enabled = True
    response = await client.patch("/api/v1/me/preferences", headers=ann, json={"show_adult_content": True})
    assert response.status == 200 and (await response.json())["preferences"]["show_adult_content"] is True
    # Switching the module off hides the content again whatever was stored.
    client.app[IDENTITY].config.legacy.enabled = False
    prefs = (await (await client.get("/api/v1/me/preferences", headers=ann)).json())["preferences"]
    assert prefs["show_adult_content"] is False


# --- the plugin admin API ------------------------------------------------------------------------------------


@attrs.define
class VaultConfig:
    """Talks to a vault.

    :param url: where the vault lives.
    :param api_key: the vault's key.
    """

    url: str = "http://vault.local"
    api_key: str = ""
    retries: int = 3
    tags: list[str] = attrs.Factory(list)


class Vault:
    """A plugin with a secret in its config."""

    def __init__(self) -> None:
        self.seen: list[VaultConfig] = []

    @hookimpl
    def revenge_config_schema(self):
        return VaultConfig

    @hookimpl
    def revenge_self_check(self, context):
        self.seen.append(context.config)
        return True

    @hookimpl
    def revenge_routes(self, context):
        async def ping(request: web.Request) -> web.Response:
            return web.json_response({"retries": context.config.retries})

        return Route("GET", "/vault/ping", ping, permission=PUBLIC)


@pytest.fixture
async def plugin_app(aiohttp_client, config):
    config.plugins["vault"] = {"retries": "not a number"}
    vault = Vault()
    client = await aiohttp_client(create_app(config, plugins={"good": samples.Good(), "vault": vault}))
    client.vault = vault
    return client


async def test_plugins_are_listed_with_status_and_config_schema(plugin_app) -> None:
    client = plugin_app
    admin = await as_admin(client)
    assert (await client.get("/api/v1/admin/plugins")).status == 401
    response = await client.get("/api/v1/admin/plugins", headers=admin)
    assert response.status == 200
    plugins = {p["name"]: p for p in (await response.json())["items"]}
    assert plugins["good"]["status"] == "enabled" and plugins["vault"]["status"] == "config_error"
    assert "retries" in plugins["vault"]["message"]
    schema = plugins["good"]["config_schema"]
    assert schema["properties"] == {"greeting": {"type": "string", "default": "hello"},
                                    "repeat": {"type": "integer", "default": 1},
                                    "loud": {"type": "boolean", "default": False}}
    vault = plugins["vault"]["config_schema"]
    assert vault["properties"]["api_key"] == {"type": "string", "default": "", "secret": True,
                                              "description": "the vault's key."}
    assert vault["properties"]["tags"] == {"type": "array", "items": {"type": "string"}, "default": []}
    assert vault["description"] == "Talks to a vault."
    one = await (await client.get("/api/v1/admin/plugins/good", headers=admin)).json()
    assert one["name"] == "good" and one["config_schema"] == schema
    assert (await client.get("/api/v1/admin/plugins/nope", headers=admin)).status == 404


async def test_plugins_are_toggled_at_runtime_and_the_toggle_is_logged(plugin_app) -> None:
    client = plugin_app
    admin = await as_admin(client)
    assert (await client.get("/api/v1/good/hello")).status == 200
    response = await client.post("/api/v1/admin/plugins/good/disable", headers=admin)
    assert response.status == 200 and (await response.json())["status"] == "disabled"
    assert (await client.get("/api/v1/good/hello")).status == 404
    assert client.app[HOST].get("good").wanted is False
    response = await client.post("/api/v1/admin/plugins/good/enable", headers=admin)
    assert response.status == 200 and (await response.json())["status"] == "enabled"
    assert (await client.get("/api/v1/good/hello")).status == 200
    assert (await client.post("/api/v1/admin/plugins/nope/enable", headers=admin)).status == 404
    entries = (await client.app[IDENTITY].activity.query(action="plugin.toggle"))["items"]
    assert [(e["target_id"], e["before"]["status"], e["after"]["status"]) for e in entries] == [
        ("good", "disabled", "enabled"), ("good", "enabled", "disabled")]
    assert entries[0]["actor"] == "boss"

    await make_user(client.app, "pleb", "pleb password")
    pleb = await login_headers(client, "pleb", "pleb password")
    for method, path in (("GET", "/api/v1/admin/plugins"), ("POST", "/api/v1/admin/plugins/good/disable"),
                         ("GET", "/api/v1/admin/plugins/good/config"), ("PUT", "/api/v1/admin/plugins/good/config")):
        assert (await client.request(method, path, headers=pleb, json={})).status == 403, path
    assert client.app[HOST].get("good").status == "enabled"


async def test_plugin_config_is_validated_stored_and_applied(plugin_app) -> None:
    client = plugin_app
    admin = await as_admin(client)
    for body, key in (({"repeat": "many"}, "plugins.good.repeat"), ({"volume": 11}, "plugins.good.volume"),
                      ({"loud": "perhaps"}, "plugins.good.loud")):
        response = await client.put("/api/v1/admin/plugins/good/config", headers=admin, json=body)
        payload = await response.json()
        assert (response.status, payload["code"], payload["details"]["key"]) == (400, "invalid_plugin_config", key)
    assert (await client.app[IDENTITY].settings.read_raw("plugins.good")) is None

    response = await client.put("/api/v1/admin/plugins/good/config", headers=admin,
                                json={"greeting": "hey", "repeat": 2})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["values"] == {"greeting": "hey", "repeat": 2, "loud": False} and body["status"] == "enabled"
    assert (await (await client.get("/api/v1/good/hello")).json())["message"] == "hey hey"
    assert await client.app[HOST].stored_config("good") == {"greeting": "hey", "repeat": 2}
    [entry] = (await client.app[IDENTITY].activity.query(action="plugin.config"))["items"]
    assert entry["after"] == {"greeting": "hey", "repeat": 2}

    response = await client.get("/api/v1/admin/plugins/good/config", headers=admin)
    assert (await response.json())["stored"] == {"greeting": "hey", "repeat": 2}


async def test_a_plugin_in_config_error_is_fixed_over_the_api_and_its_secrets_stay_hidden(plugin_app) -> None:
    client = plugin_app
    admin = await as_admin(client)
    config = await (await client.get("/api/v1/admin/plugins/vault/config", headers=admin)).json()
    assert config["status"] == "config_error" and config["error"]["key"] == "plugins.vault.retries"

    response = await client.put("/api/v1/admin/plugins/vault/config", headers=admin,
                                json={"retries": 5, "api_key": PLUGIN_SECRET, "url": "https://user:pw@vault.lan"})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert body["status"] == "enabled"
    assert body["values"]["api_key"] == MASK and body["values"]["url"] == f"https://user:{MASK}@vault.lan"
    assert (await (await client.get("/api/v1/vault/ping")).json()) == {"retries": 5}
    assert client.vault.seen[-1].api_key == PLUGIN_SECRET

    # Saving the form as read keeps the secret; a real change still applies.
    response = await client.put("/api/v1/admin/plugins/vault/config", headers=admin,
                                json={**body["stored"], "retries": 6})
    assert response.status == 200
    assert client.vault.seen[-1].api_key == PLUGIN_SECRET and client.vault.seen[-1].retries == 6
    assert client.vault.seen[-1].url == "https://user:pw@vault.lan"

    texts = [await response.text()]
    for path in ("/api/v1/admin/plugins", "/api/v1/admin/plugins/vault", "/api/v1/admin/plugins/vault/config",
                 "/api/v1/admin/activity?per_page=200", "/api/v1/admin/settings"):
        texts.append(await (await client.get(path, headers=admin)).text())
    for text in texts:
        assert PLUGIN_SECRET not in text and ":pw@" not in text
