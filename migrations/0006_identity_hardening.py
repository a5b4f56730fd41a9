"""Identity hardening: single-use tokens spent once across instances, and secrets encrypted at rest.

- ``shared.used_tokens`` holds the ``jti`` of every spent MFA token until it expires;
  inserting the row is the claim, so two instances cannot both accept one token.
- ``shared.users.totp_secret`` grows to 255 characters for the encrypted form (PostgreSQL;
  SQLite does not enforce lengths).
- TOTP secrets and secret settings stored in plain text are encrypted with the server's
  key (``encryption.key``, or the key generated in the data folder). That needs the
  configuration, which the server and ``revenge migrate`` pass in; without it the
  migration refuses rather than leave secrets readable. ``down`` decrypts them again.

A frozen copy of the models as they were when this migration was written. The encrypted
forms come from the identity code, which writes them versioned (``v1:``) so they stay
readable by later versions.
"""

import json

import peewee
from playhouse.migrations import MigrationError

from revenge_core.identity.crypto import SecretBox, is_encrypted
from revenge_core.identity.settings import is_sealed, seal, unseal
from revenge_core.identity.totp import seal_secret, unseal_secret
from revenge_hookspecs.db import Model, bind_models, is_sqlite, qualified_name

# The settings declared secret when this migration was written.
SECRET_SETTINGS = ("legacy.pin", *(f"arr.{service}.api_key" for service in
                                   ("radarr", "sonarr", "lidarr", "whisparr", "prowlarr", "readarr")))


class Shared(Model):
    class Meta:
        schema = "shared"


class User(Shared):
    totp_secret = peewee.CharField(max_length=255, null=True)

    class Meta:
        table_name = "users"


class ServerSetting(Shared):
    key = peewee.CharField(primary_key=True, max_length=128)
    value = peewee.TextField()  # JSON

    class Meta:
        table_name = "server_settings"


class UsedToken(Shared):
    jti = peewee.CharField(primary_key=True, max_length=64)
    purpose = peewee.CharField(max_length=32)
    expires_at = peewee.DateTimeField(index=True)

    class Meta:
        table_name = "used_tokens"


MODELS = [User, ServerSetting, UsedToken]


def _box(migrator):
    config = getattr(migrator, "config", None)
    if config is None:
        raise MigrationError("0006_identity_hardening encrypts stored secrets and needs the server's "
                             "configuration for the key: apply it with `revenge migrate up` or by starting "
                             "the server")
    return SecretBox.from_config(config)


def _totp_secret_width(db, length):
    if not is_sqlite(db):
        table = qualified_name(db, "shared", "users")
        db.execute_sql(f"ALTER TABLE {table} ALTER COLUMN totp_secret TYPE VARCHAR({length})")


def _totp_rows(encrypted):
    rows = User.select(User.id, User.totp_secret).where(User.totp_secret.is_null(False))
    return [row for row in rows if is_encrypted(row.totp_secret) == encrypted]


def _setting_rows(encrypted):
    rows = ServerSetting.select().where(ServerSetting.key.in_(SECRET_SETTINGS))
    decoded = [(row.key, json.loads(row.value)) for row in rows]
    return [(key, stored) for key, stored in decoded if is_sealed(stored) == encrypted]


def _rewrite(box, users, settings, secret_of, value_of):
    for user in users:
        User.update(totp_secret=secret_of(box, user.id, user.totp_secret)).where(User.id == user.id).execute()
    for key, stored in settings:
        text = json.dumps(value_of(box, key, stored), sort_keys=True)
        ServerSetting.update(value=text).where(ServerSetting.key == key).execute()


def up(migrator, db):
    bind_models(db, MODELS)
    db.create_tables([UsedToken])
    _totp_secret_width(db, 255)
    users, settings = _totp_rows(encrypted=False), _setting_rows(encrypted=False)
    if users or settings:
        _rewrite(_box(migrator), users, settings, seal_secret, seal)


def down(migrator, db):
    bind_models(db, MODELS)
    users, settings = _totp_rows(encrypted=True), _setting_rows(encrypted=True)
    if users or settings:
        _rewrite(_box(migrator), users, settings, unseal_secret, unseal)
    _totp_secret_width(db, 64)
    db.drop_tables([UsedToken])
