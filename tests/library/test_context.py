"""``context.library`` as plugins get it from the server: reads for all, registry writes for the owner only."""

from __future__ import annotations

import pytest

import revenge_localfs.plugin as localfs_plugin
from revenge_core.http.app import create_app
from revenge_core.http.keys import HOST, SERVICES
from revenge_hookspecs import PluginLibrary, hookimpl
from revenge_hookspecs.errors import NotFound
from revenge_hookspecs.media import ItemRef, Library


class Bystander:
    """A plugin with no content type of its own."""

    @hookimpl
    def revenge_startup(self, context):
        self.context = context


@pytest.fixture
async def app(aiohttp_client, config, media, clips):
    config.plugins["localfs"] = {"roots": [str(media)]}
    plugins = {"localfs": localfs_plugin, "clips": clips, "bystander": Bystander()}
    return (await aiohttp_client(create_app(config, plugins=plugins))).app


async def test_every_plugin_reads_libraries_and_files(app, media):
    services = app[SERVICES]
    library = await services.library.create({"name": "Clips", "content_type": "clip", "paths": [str(media)]})
    await services.library.scan_now(library.id)
    context = app[HOST].context_for("bystander")
    assert isinstance(context.library, PluginLibrary)

    assert await context.library.get(library.id) == library
    assert isinstance(library, Library) and library.language == "en"
    assert await context.library.libraries("clip") == [library]
    assert await context.library.libraries("movie") == []
    with pytest.raises(NotFound):
        await context.library.get("999")
    files = await context.library.files(library_id=library.id)
    assert len(files) == 3
    [one] = await context.library.files(file_ids=[files[0].file_id, "nonsense"])
    assert one == files[0]
    assert await context.library.files(item_key=files[1].item_key) == [files[1]]
    assert (await context.library.item(files[1].item_key)).library_id == library.id
    assert await context.library.item("clip:404") is None
    assert context.library.storage(library) is app[SERVICES].registry.get("storage_backends", "localfs")[1].storage


async def test_only_the_content_type_owner_writes_items_of_its_types(app, media, clips):
    services = app[SERVICES]
    library = await services.library.create({"name": "Clips", "content_type": "clip", "paths": [str(media)]})
    owner = app[HOST].context_for("clips").library
    stranger = app[HOST].context_for("bystander").library

    await owner.upsert_items([ItemRef("clip:a", library.id, "A")])
    with pytest.raises(ValueError, match="belongs to clips"):
        await stranger.upsert_items([ItemRef("clip:b", library.id, "B")])
    with pytest.raises(ValueError, match="belongs to clips"):
        await stranger.remove_items(["clip:a"])
    with pytest.raises(ValueError, match="item_types clip"):
        await owner.upsert_items([ItemRef("movie:1", library.id, "Not a clip")])
    with pytest.raises(NotFound):
        await owner.upsert_items([ItemRef("clip:c", "999", "Nowhere")])
    with pytest.raises(TypeError):
        await owner.upsert_items([{"key": "clip:d"}])
    with pytest.raises(ValueError):
        await owner.remove_items(["not a key"])
    assert await stranger.item("clip:a") is not None and await stranger.item("clip:b") is None

    # added_at is kept when an item is upserted again; a change is announced as item.updated.
    first = await owner.item("clip:a")
    await owner.upsert_items([ItemRef("clip:a", library.id, "A, renamed", year=2001)])
    again = await owner.item("clip:a")
    assert (again.title, again.year, again.added_at) == ("A, renamed", 2001, first.added_at)
    await owner.upsert_items([ItemRef("clip:a", library.id, "A, renamed", year=2001)])  # no change: no event
    await owner.remove_items(["clip:a", "clip:never-there"])
    assert await owner.item("clip:a") is None
    events = [(e.name, e.payload["key"]) for e in clips.events if e.name.startswith("item.")]
    assert events == [("item.added", "clip:a"), ("item.updated", "clip:a"), ("item.removed", "clip:a")]


async def test_removing_an_item_drops_its_grants_and_artwork(app, media):
    import pyvips

    from revenge_core.identity.authorizer import IDENTITY
    from tests.identity.conftest import make_user

    services = app[SERVICES]
    library = await services.library.create({"name": "Clips", "content_type": "clip", "paths": [str(media)]})
    context = app[HOST].context_for("clips")
    await context.library.upsert_items([ItemRef("clip:art", library.id, "With a poster")])
    await context.artwork.store("clip:art", "poster", data=pyvips.Image.black(16, 24).pngsave_buffer())
    user_id = await make_user(app, "viewer", "a long enough password")
    grants = app[IDENTITY].grants
    await grants.grant("user", user_id, "item", "clip:art", "view")

    await context.library.remove_items(["clip:art"])

    assert await context.artwork.for_item("clip:art") == []
    assert await grants.list(resource_type="item", resource_id="clip:art") == []
