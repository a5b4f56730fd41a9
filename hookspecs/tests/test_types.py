"""The registration types reject what the server could not use, at construction time."""

from __future__ import annotations

import inspect
from pathlib import Path

import attrs
import pytest

from revenge_hookspecs import specs
from revenge_hookspecs.types import (
    PUBLIC,
    REGISTRATION_KINDS,
    ContentType,
    EventHandler,
    FileInfo,
    Job,
    Migrations,
    Notification,
    NotificationChannel,
    Route,
    Schedule,
    SearchField,
    StorageBackend,
    flatten,
    registration_key,
)


async def handler(request):
    return None


@pytest.mark.parametrize("name", ["movie", "tv.episode", "a", "music-track", "x" * 63, "qar_scene2"])
def test_good_names_are_accepted(name):
    assert ContentType(name=name, label="Label").name == name


@pytest.mark.parametrize("name", ["", "Movie", "1movie", "with space", "x" * 64, "_private", "émission", None])
def test_bad_names_are_rejected(name):
    with pytest.raises(ValueError, match="must match"):
        ContentType(name=name, label="Label")


@pytest.mark.parametrize("cls", [Job, NotificationChannel, StorageBackend, EventHandler])
def test_every_named_registration_checks_its_name(cls):
    kwargs = {
        Job: {"func": print},
        NotificationChannel: {"send": handler},
        StorageBackend: {"storage": object()},
        EventHandler: {"event": "item.added", "handler": print},
    }[cls]
    with pytest.raises(ValueError):
        cls(name="Bad Name", **kwargs)


def test_content_type_schema_is_public_or_qar():
    assert ContentType(name="scene", label="Scenes", schema="qar").schema == "qar"
    with pytest.raises(ValueError):
        ContentType(name="user", label="Users", schema="shared")


def test_content_type_extensions_become_a_frozenset():
    content_type = ContentType(name="movie", label="Movies", extensions=["mkv", "mp4", "mkv"])
    assert content_type.extensions == frozenset({"mkv", "mp4"})


def test_route_requires_a_permission():
    with pytest.raises(TypeError):
        Route("GET", "/things", handler)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="permission is required"):
        Route("GET", "/things", handler, permission="")


def test_route_accepts_public_and_named_permissions():
    assert Route("GET", "/ping", handler, permission=PUBLIC).permission == "public"
    assert Route("get", "/things", handler, permission="things:read").method == "GET"


@pytest.mark.parametrize("path", ["things", "/a/../b", "//things", "/a//b", ""])
def test_route_path_must_be_normalised(path):
    with pytest.raises(ValueError, match="normalised"):
        Route("GET", path, handler, permission="things:read")


def test_route_method_must_be_http():
    with pytest.raises(ValueError):
        Route("FETCH", "/things", handler, permission="things:read")


def test_route_handler_must_be_callable():
    with pytest.raises(TypeError, match="callable"):
        Route("GET", "/things", "not a function", permission="things:read")


@pytest.mark.parametrize("crontab", ["", "* * *", "0 3 * * * *", "daily"])
def test_schedule_rejects_a_crontab_without_five_fields(crontab):
    with pytest.raises(ValueError, match="five fields"):
        Schedule(name="prune", job="prune", crontab=crontab)


def test_schedule_accepts_five_fields():
    assert Schedule(name="prune", job="prune", crontab="17 3 * * *").crontab == "17 3 * * *"


def test_job_rejects_negative_retries_and_delays():
    with pytest.raises(ValueError):
        Job(name="work", func=print, retries=-1)
    with pytest.raises(ValueError):
        Job(name="work", func=print, retry_delay=-0.5)
    with pytest.raises(TypeError, match="callable"):
        Job(name="work", func=None)


def test_notification_severity_and_search_field_type_are_checked():
    with pytest.raises(ValueError):
        Notification(title="x", severity="fatal")
    with pytest.raises(ValueError):
        SearchField(name="year", type="date")


def test_event_handler_needs_a_callable():
    with pytest.raises(TypeError, match="callable"):
        EventHandler(event="item.added", handler=42, name="on_item")


def test_registrations_are_frozen():
    job = Job(name="work", func=print)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        job.retries = 10  # type: ignore[misc]


def test_migrations_path_becomes_a_path():
    assert Migrations("/srv/plugin/migrations").path == Path("/srv/plugin/migrations")


def test_file_info_modified_is_a_datetime():
    info = FileInfo(path="/media/a.mkv", size=1, mtime=0.0)
    assert info.modified.year in (1969, 1970)  # local time zone of the machine


def test_flatten_accepts_none_one_many_and_generators():
    job = Job(name="work", func=print)
    assert list(flatten(None)) == []
    assert list(flatten(job)) == [job]
    assert list(flatten([job, job])) == [job, job]
    assert list(flatten(j for j in [job])) == [job]


def test_routes_are_unique_by_method_and_path():
    assert registration_key(Route("GET", "/x", handler, permission=PUBLIC)) == "GET /x"
    assert registration_key(Job(name="work", func=print)) == "work"


def test_every_registration_kind_has_a_documented_hook():
    for kind in REGISTRATION_KINDS:
        hook = getattr(specs, f"revenge_{kind}", None)
        assert hook is not None, f"no hook revenge_{kind}"
        assert "versionadded" in (inspect.getdoc(hook) or ""), f"revenge_{kind} is not documented"
