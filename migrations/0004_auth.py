"""Authentication: the last TOTP time step each user has used, so no code works twice.

A frozen copy of the model as it was when this migration was written.
"""

import peewee

from revenge_hookspecs.db import Model, bind_models


class Shared(Model):
    class Meta:
        schema = "shared"


class User(Shared):
    class Meta:
        table_name = "users"


class TotpState(Shared):
    user = peewee.ForeignKeyField(User, primary_key=True, on_delete="CASCADE")
    last_step = peewee.BigIntegerField(default=0)

    class Meta:
        table_name = "totp_state"


def up(migrator, db):
    bind_models(db, [User, TotpState])
    db.create_tables([TotpState])


def down(migrator, db):
    bind_models(db, [User, TotpState])
    db.drop_tables([TotpState])
