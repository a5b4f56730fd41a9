"""Shared setup of the progress, history and home tests: a server with two empty libraries,
users with bearer headers, and a small TV show registered straight into the item registry
(no media files: these tests are about users' state, not scanning)."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

import revenge_localfs.plugin as localfs_plugin
from revenge_core.http.app import create_app
from revenge_core.http.keys import SERVICES
from revenge_core.identity.authorizer import IDENTITY
from revenge_core.library.models import UserItemState, WatchHistory
from revenge_hookspecs.media import ItemRef
from tests.identity.conftest import bearer, login, make_user

PASSWORD = "correct horse battery staple"
BASE = datetime.datetime(2024, 1, 1, 12, 0)


class World:
    """The server, its services, two libraries (``shows``, ``movies``) and helpers."""

    def __init__(self, client):
        self.client = client
        self.app = client.app
        self.services = client.app[SERVICES]
        self.shows = ""
        self.movies = ""

    async def user(self, name: str, role: str = "user") -> tuple[int, dict[str, str]]:
        user_id = await make_user(self.app, name, PASSWORD, role=role)
        return user_id, bearer((await login(self.client, name, PASSWORD))["access_token"])

    async def grant(self, user_id: int, resource_type: str, resource_id: str) -> int:
        """Let the user view a library or an item; returns the grant's id."""
        return (await self.app[IDENTITY].grants.grant("user", user_id, resource_type, resource_id, "view"))["id"]

    async def revoke(self, grant_id: int) -> None:
        await self.app[IDENTITY].grants.revoke(grant_id)

    async def add(self, *refs: ItemRef) -> None:
        await self.services.library.items.upsert(refs)

    async def show(self, series_id: int, seasons: dict[int, int], *, library: str | None = None,
                   added: datetime.datetime = BASE, title: str = "") -> dict[tuple[int, int], str]:
        """Register ``series:N`` with ``{season number: episode count}``; returns (season, episode) -> key.

        Season ids are ``N*100 + number``, episode ids ``N*10000 + season*100 + number``.
        """
        library = library or self.shows
        refs = [ItemRef(f"series:{series_id}", library, title or f"Show {series_id}", added_at=added)]
        keys = {}
        for number, count in seasons.items():
            season = f"season:{series_id * 100 + number}"
            refs.append(ItemRef(season, library, "Specials" if number == 0 else f"Season {number}",
                                parent_key=f"series:{series_id}", sort_index=number, added_at=added))
            for episode in range(1, count + 1):
                key = f"episode:{series_id * 10000 + number * 100 + episode}"
                refs.append(ItemRef(key, library, f"S{number:02d}E{episode:02d}", parent_key=season,
                                    sort_index=episode, added_at=added))
                keys[(number, episode)] = key
        await self.add(*refs)
        return keys

    async def play(self, user_id: int, key: str, fraction: float, duration: float = 1000.0) -> int | None:
        """A whole playback: start at 0, stop at ``fraction`` of ``duration``; returns the history id."""
        progress = self.services.library.progress
        started = await progress.report(user_id, key, event="start", position_seconds=0,
                                        duration_seconds=duration, method="direct_play", client="test")
        stopped = await progress.report(user_id, key, event="stop", position_seconds=fraction * duration,
                                        duration_seconds=duration, history_id=started.history_id)
        return stopped.history_id

    async def state_row(self, user_id: int, key: str) -> UserItemState | None:
        return await self.services.library.run(
            lambda: UserItemState.get_or_none(UserItemState.user == user_id, UserItemState.item == key))

    async def history_rows(self, user_id: int | None = None) -> list[WatchHistory]:
        def read():
            query = WatchHistory.select().order_by(WatchHistory.id)
            return list(query if user_id is None else query.where(WatchHistory.user == user_id))

        return await self.services.library.run(read)

    async def played_at(self, user_id: int, key: str, when: datetime.datetime) -> None:
        """Move the last play of an item to ``when``, to order "continue watching" and "next up" exactly."""
        await self.services.library.run(lambda: UserItemState.update(last_played_at=when).where(
            UserItemState.user == user_id, UserItemState.item == key).execute())


@pytest.fixture
async def world(aiohttp_client, config, tmp_path: Path, clips) -> World:
    root = tmp_path / "media"
    for folder in ("shows", "movies", "other"):
        (root / folder).mkdir(parents=True)
    config.plugins["localfs"] = {"roots": [str(root)]}
    client = await aiohttp_client(create_app(config, plugins={"localfs": localfs_plugin, "clips": clips}))
    world = World(client)
    library = world.services.library
    world.shows = (await library.create({"name": "Shows", "content_type": "clip",
                                         "paths": [str(root / "shows")]})).id
    world.movies = (await library.create({"name": "Movies", "content_type": "clip",
                                          "paths": [str(root / "movies")]})).id
    return world
