"""Plugin configs saved over the admin API are encrypted at rest and their secrets never go out."""

from __future__ import annotations

import json

import attrs
import pytest
from playhouse.migrations import MigrationError

from revenge_core.config import MASK, SECRET, EncryptionConfig
from revenge_core.db.database import Database
from revenge_core.db.migrate import core_set, downgrade, upgrade
from revenge_core.http.keys import HOST
from revenge_core.identity.authorizer import IDENTITY
from revenge_core.identity.crypto import DecryptionError, SecretBox
from revenge_core.identity.models import ServerSetting
from revenge_core.plugins.host import Status
from revenge_core.plugins.state import SEALED_CONFIG, seal_config, unseal_config
from revenge_hookspecs import hookimpl
from tests.identity.test_api_keys import everything_stored
from tests.identity.test_settings import Vault
from tests.test_plugin_config_sync import as_admin, eventually, instance

pytestmark = pytest.mark.usefixtures("cheap_password_hashes")

NAME = "safe"
KEY = f"plugins.{NAME}"
URL = f"/api/v1/admin/plugins/{NAME}/config"
API_KEY = "tmdb-key-0123456789abcdef"
PASSPHRASE = "correct-horse-passphrase-42"
KEY_A, KEY_B = "a" * 40, "b" * 40
MIGRATION = "0011_seal_plugin_configs"


@attrs.define
class SafeConfig:
    """A service behind a key.

    :param label: shown to users.
    :param api_key: secret by its name.
    :param passphrase: secret by its metadata.
    """

    label: str = "safe"
    api_key: str = ""
    passphrase: str = attrs.field(default="", metadata=SECRET)
    retries: int = 3


class Safe(Vault):
    """The vault plugin (it remembers every config it ran with), with secrets marked both ways."""

    @hookimpl
    def revenge_config_schema(self):
        return SafeConfig


async def server(aiohttp_client, config, plugin: Vault | None = None):
    return await instance(aiohttp_client, config, plugin or Safe(), name=NAME)


async def stored_row(client) -> str:
    """The row's text as the database holds it."""
    db = client.app[IDENTITY].db

    def read() -> str:
        db.bind([ServerSetting])
        return ServerSetting.get_by_id(KEY).value

    return await db.run(read)


def key_ids() -> tuple[str, str]:
    return SecretBox(KEY_A).key_id, SecretBox(KEY_B).key_id


def test_a_sealed_config_is_bound_to_its_row_and_purpose() -> None:
    box = SecretBox(KEY_A)
    text = json.dumps({"api_key": API_KEY})
    sealed = seal_config(box, KEY, text)
    assert set(sealed) == {SEALED_CONFIG} and API_KEY not in sealed[SEALED_CONFIG]
    assert unseal_config(box, KEY, sealed) == text
    with pytest.raises(DecryptionError, match="belongs to another record"):
        unseal_config(box, "plugins.other", sealed)  # copied onto another plugin's row
    with pytest.raises(DecryptionError, match="damaged"):
        box.decrypt("setting", sealed[SEALED_CONFIG], context=KEY)  # the purpose has its own key
    with pytest.raises(DecryptionError, match=f"key id {key_ids()[0]}; this server's is {key_ids()[1]}"):
        unseal_config(SecretBox(KEY_B), KEY, sealed)


async def test_a_saved_config_is_encrypted_and_runs_after_a_restart_and_on_another_instance(aiohttp_client,
                                                                                              config) -> None:
    a_plugin, b_plugin = Safe(), Safe()
    a = await server(aiohttp_client, config, a_plugin)
    b = await server(aiohttp_client, config, b_plugin)
    admin = await as_admin(a)
    saved = SafeConfig("Den", API_KEY, PASSPHRASE)
    response = await a.put(URL, headers=admin, json={"label": "Den", "api_key": API_KEY, "passphrase": PASSPHRASE})
    assert response.status == 200, await response.text()
    assert (await response.json())["status"] == "enabled" and a_plugin.seen[-1] == saved
    await eventually(lambda: b_plugin.seen[-1] == saved, "instance B runs with the saved secrets")

    stored = json.loads(await stored_row(a))
    assert set(stored) == {SEALED_CONFIG}
    assert stored[SEALED_CONFIG].startswith(f"v1:{a.app[IDENTITY].secret_box.key_id}:")
    everything = await everything_stored(a)  # the row, the activity log, every other table
    assert API_KEY not in everything and PASSPHRASE not in everything

    await a.close()
    await b.close()
    c_plugin = Safe()
    c = await server(aiohttp_client, config, c_plugin)
    assert c.app[HOST].get(NAME).status == Status.ENABLED and c_plugin.seen == [saved]


async def test_secrets_are_never_returned_and_the_placeholder_keeps_them(aiohttp_client, config) -> None:
    plugin = Safe()
    client = await server(aiohttp_client, config, plugin)
    host = client.app[HOST]
    admin = await as_admin(client)
    await client.put(URL, headers=admin, json={"label": "Den", "api_key": API_KEY, "passphrase": PASSPHRASE})

    body = await (await client.get(URL, headers=admin)).json()
    assert body["stored"] == {"label": "Den", "api_key": MASK, "passphrase": MASK}
    assert body["values"] == {"label": "Den", "api_key": MASK, "passphrase": MASK, "retries": 3}
    assert body["schema"]["properties"]["passphrase"]["secret"] is True

    # Saving the form as read keeps both secrets; a real change still applies.
    response = await client.put(URL, headers=admin, json={**body["stored"], "retries": 5})
    assert response.status == 200, await response.text()
    assert plugin.seen[-1] == SafeConfig("Den", API_KEY, PASSPHRASE, 5)
    assert await host.stored_config(NAME) == {"label": "Den", "api_key": API_KEY, "passphrase": PASSPHRASE,
                                              "retries": 5}
    texts = [await response.text()]
    for path in (URL, f"/api/v1/admin/plugins/{NAME}", "/api/v1/admin/plugins", "/api/v1/admin/activity"):
        texts.append(await (await client.get(path, headers=admin)).text())
    for text in texts:
        assert API_KEY not in text and PASSPHRASE not in text

    # A placeholder for a secret that is not stored is left out, never stored as the secret.
    await client.put(URL, headers=admin, json={"label": "bare"})
    response = await client.put(URL, headers=admin, json={"label": "bare", "api_key": MASK})
    assert response.status == 200
    assert await host.stored_config(NAME) == {"label": "bare"} and plugin.seen[-1] == SafeConfig("bare")


async def test_a_config_stored_under_another_key_is_a_config_error_naming_both_keys(aiohttp_client, config) -> None:
    a = await server(aiohttp_client, attrs.evolve(config, encryption=EncryptionConfig(key=KEY_A)))
    await a.app[HOST].set_config(NAME, {"api_key": API_KEY}, actor="test")
    # The same database, another server with another key.
    b_plugin = Safe()
    b = await server(aiohttp_client, attrs.evolve(config, encryption=EncryptionConfig(key=KEY_B)), b_plugin)
    record = b.app[HOST].get(NAME)
    key_a, key_b = key_ids()
    assert record.status == Status.CONFIG_ERROR and b_plugin.seen == []
    assert record.message.startswith(f"{KEY}: the stored configuration cannot be decrypted: ")
    assert f"key id {key_a}; this server's is {key_b}" in record.message

    admin = await as_admin(b)
    response = await b.get(URL, headers=admin)
    assert response.status == 200
    body = await response.json()
    assert (body["status"], body["stored"], body["error"]["key"]) == ("config_error", None, KEY)
    assert key_a in body["error"]["reason"] and key_b in body["error"]["reason"]

    # The sync loop goes on: B follows the next change (still unreadable there).
    await a.app[HOST].set_config(NAME, {"api_key": "another"}, actor="test")
    await eventually(lambda: record.config_revision == 2, "instance B sees the new revision")
    assert record.status == Status.CONFIG_ERROR and not b.app[HOST]._sync_task.done()

    # Entering the config again on B stores it under B's key; now A is the one that cannot read it.
    response = await b.put(URL, headers=admin, json={"api_key": API_KEY})
    assert response.status == 200 and (await response.json())["status"] == "enabled"
    assert b_plugin.seen[-1].api_key == API_KEY
    other = a.app[HOST].get(NAME)
    await eventually(lambda: other.status == Status.CONFIG_ERROR, "config_error on instance A")
    assert f"key id {key_b}; this server's is {key_a}" in other.message


async def test_the_migration_encrypts_plain_plugin_configs_and_down_restores_them(aiohttp_client, config) -> None:
    plain = {KEY: json.dumps({"api_key": API_KEY, "passphrase": PASSPHRASE}),
             "plugins.broken": "{not json " + API_KEY, "server.name": json.dumps("Den")}
    db = Database(config)
    try:
        upgrade(db.database, core_set(), "0010_artwork")

        def seed() -> None:
            db.bind([ServerSetting])
            for key, value in plain.items():
                ServerSetting.insert(key=key, value=value).execute()

        def stored() -> dict[str, str]:
            db.bind([ServerSetting])
            return {row.key: row.value for row in ServerSetting.select()}

        db.call(seed)
        # Without the configuration there is no key: it refuses, and changes nothing.
        with pytest.raises(MigrationError, match="needs the server's configuration"):
            upgrade(db.database, core_set(), MIGRATION)
        assert db.call(stored) == plain

        assert upgrade(db.database, core_set(), MIGRATION, config=config) == [MIGRATION]
        sealed = db.call(stored)
        box = SecretBox.from_config(config)
        for key in (KEY, "plugins.broken"):
            assert API_KEY not in sealed[key] and PASSPHRASE not in sealed[key]
            assert unseal_config(box, key, json.loads(sealed[key])) == plain[key]
        assert sealed["server.name"] == plain["server.name"]
        # Nothing left to do the second time; going down restores the exact text.
        assert upgrade(db.database, core_set(), MIGRATION, config=config) == []
        assert downgrade(db.database, core_set(), MIGRATION, config=config) == [MIGRATION]
        assert db.call(stored) == plain
        assert upgrade(db.database, core_set(), MIGRATION, config=config) == [MIGRATION]
    finally:
        db.close()

    # The server reads the migrated row.
    plugin = Safe()
    client = await server(aiohttp_client, config, plugin)
    assert client.app[HOST].get(NAME).status == Status.ENABLED
    assert plugin.seen == [SafeConfig(api_key=API_KEY, passphrase=PASSPHRASE)]
