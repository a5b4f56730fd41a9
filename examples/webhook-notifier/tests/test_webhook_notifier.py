"""revenge-webhook-notifier, tested with the SDK's test kit against a local receiver."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json

import pytest

import revenge_webhook_notifier.plugin as plugin
from revenge_hookspecs import Notification
from revenge_hookspecs.testing import JobFailed, PluginConfigError
from revenge_webhook_notifier.delivery import DeliveryFailed
from revenge_webhook_notifier.models import Delivery

NAME = "webhook_notifier"


@pytest.fixture
def notifier(revenge_plugin, receiver):
    """Build the plugin with the receiver as its only URL unless told otherwise."""

    def make(**config):
        config.setdefault("urls", [receiver.url])
        return revenge_plugin(plugin, name=NAME, config=config)

    return make


async def rows(harness) -> list[Delivery]:
    """Every recorded attempt, oldest first."""
    harness.context.db.bind([Delivery])
    return await harness.context.db.run(lambda: list(Delivery.select().order_by(Delivery.id)))


# --- what it registers ---------------------------------------------------------------------------


def test_registers_channel_handlers_jobs_schedule_and_routes(notifier):
    harness = notifier()
    assert [c.name for c in harness.registrations("notification_channels")] == ["webhook"]
    assert [h.event for h in harness.registrations("event_handlers")] == [
        "item.added", "library.scanned", "playback.started", "playback.stopped",
    ]
    deliver = harness.registration("jobs", "webhook_notifier.deliver")
    assert deliver.retries == 5
    assert deliver.timeout > harness.config.timeout
    schedule = harness.registration("schedules", "webhook_notifier.prune")
    assert schedule.crontab == "17 3 * * *"
    assert harness.registration("jobs", schedule.job)
    assert {f"{r.method} {r.path}": r.permission for r in harness.registrations("routes")} == {
        "GET /webhooks/deliveries": "webhooks:read",
        "POST /webhooks/test": "webhooks:write",
    }


def test_its_migration_creates_the_deliveries_table(notifier):
    harness = notifier()
    assert harness.migrations_applied == ["0001_deliveries"]
    assert "shared_webhook_deliveries" in harness.db.tables()
    assert harness.db.run_sync(lambda: harness.migration_runner().down()) == ["0001_deliveries"]
    assert "shared_webhook_deliveries" not in harness.db.tables()


def test_the_installed_entry_point_is_this_plugin(revenge_plugin):
    assert revenge_plugin(NAME).plugin is plugin


async def test_self_check_wants_a_url(notifier):
    assert await notifier().self_check() is None
    assert await notifier(urls=[]).self_check() == "no webhook URLs configured; set plugins.webhook_notifier.urls"


# --- configuration ---------------------------------------------------------------------------------


def test_config_accepts_environment_strings(notifier):
    harness = notifier(urls="https://a.example/x, http://b.example:8080/y", events="item.added,custom.thing",
                       timeout="2.5", secret="s3cret")
    assert harness.config.urls == ["https://a.example/x", "http://b.example:8080/y"]
    assert harness.config.events == ["item.added", "custom.thing"]
    assert harness.config.timeout == 2.5
    assert "s3cret" not in repr(harness.config)


@pytest.mark.parametrize(
    ("config", "key", "reason"),
    [
        ({"urls": ["ftp://files.example/secret-token"]}, "plugins.webhook_notifier", "only http:// and https://"),
        ({"urls": ["hooks.example/secret-token"]}, "plugins.webhook_notifier", "only http:// and https://"),
        ({"urls": ["https:///secret-token"]}, "plugins.webhook_notifier", "has no host"),
        ({"timeout": 0}, "plugins.webhook_notifier", "between 0 and 300"),
        ({"timeout": "soon"}, "plugins.webhook_notifier.timeout", "expected a number"),
        ({"events": ["item.added", " "]}, "plugins.webhook_notifier", "cannot be empty"),
        ({"url": "https://hooks.example"}, "plugins.webhook_notifier.url", "unknown key"),
    ],
)
def test_config_errors_name_the_key_and_hide_the_url(revenge_plugin, config, key, reason):
    with pytest.raises(PluginConfigError) as caught:
        revenge_plugin(plugin, name=NAME, config=config)
    assert caught.value.key == key
    assert reason in caught.value.reason
    assert "secret-token" not in str(caught.value)


# --- events become jobs become webhooks ---------------------------------------------------------------


async def test_an_event_enqueues_a_delivery_instead_of_posting(notifier, receiver):
    harness = notifier()
    await harness.emit("item.added", {"id": 42, "title": "Alien"})
    assert receiver.requests == []
    [queued] = harness.jobs.pending
    assert queued.job == "webhook_notifier.deliver"
    assert queued.payload["url"] == receiver.url

    [run] = await harness.run_jobs()
    assert run.ok and run.attempts == 1
    [post] = receiver.posts
    assert post.path == "/hooks/secret-token-123"
    assert post.headers["Content-Type"] == "application/json"
    assert post.headers["X-Revenge-Event"] == "item.added"
    assert post.headers["X-Revenge-Delivery"] == queued.payload["delivery_id"]
    assert "X-Revenge-Signature" not in post.headers
    body = json.loads(post.body)
    assert body["event"] == "item.added"
    assert body["source"] == "core"
    assert body["payload"] == {"id": 42, "title": "Alien"}
    assert datetime.datetime.fromisoformat(body["occurred_at"]).tzinfo is not None


async def test_the_body_is_signed_with_the_secret(notifier, receiver):
    harness = notifier(secret="correct horse battery staple")
    await harness.emit("playback.started", {"user": 1})
    await harness.run_jobs()
    [post] = receiver.posts
    expected = hmac.new(b"correct horse battery staple", post.body, hashlib.sha256).hexdigest()
    assert post.headers["X-Revenge-Signature"] == f"sha256={expected}"


async def test_only_configured_events_are_sent(notifier):
    harness = notifier(events=["library.scanned"])
    await harness.emit("item.added", {"id": 1})
    assert harness.jobs.pending == []
    await harness.emit("library.scanned", {"library": 1})
    assert len(harness.jobs.pending) == 1


async def test_a_star_subscribes_to_every_event(notifier):
    harness = notifier(events=["*"])
    await harness.emit("item.removed", {"id": 1})
    await harness.emit("custom.plugin_event", {})
    assert [json.loads(q.payload["body"])["event"] for q in harness.jobs.pending] == [
        "item.removed", "custom.plugin_event",
    ]


async def test_each_url_gets_its_own_delivery(notifier, receiver):
    urls = [receiver.url_for("/a"), receiver.url_for("/b")]
    harness = notifier(urls=urls)
    await harness.emit("item.added", {"id": 1})
    await harness.run_jobs()
    assert sorted(p.path for p in receiver.posts) == ["/a", "/b"]
    assert len({p.headers["X-Revenge-Delivery"] for p in receiver.posts}) == 2


# --- failures and retries ----------------------------------------------------------------------------------


async def test_a_500_is_retried_with_the_same_body_and_id(notifier, receiver):
    receiver.statuses = [500, 503]
    harness = notifier(secret="s")
    await harness.emit("item.added", {"id": 7})
    [run] = await harness.run_jobs()
    assert run.ok and run.attempts == 3
    assert run.retry_delays == [30, 60]
    assert len({(p.body, p.headers["X-Revenge-Delivery"], p.headers["X-Revenge-Signature"])
                for p in receiver.posts}) == 1
    assert len(receiver.posts) == 3
    recorded = await rows(harness)
    assert [(r.attempt, r.status_code, r.ok) for r in recorded] == [(1, 500, False), (2, 503, False), (3, 200, True)]


async def test_a_receiver_that_keeps_failing_exhausts_the_retries(notifier, receiver):
    receiver.statuses = [500] * 10
    harness = notifier()
    await harness.emit("item.added", {"id": 7})
    with pytest.raises(JobFailed, match="HTTP 500"):
        await harness.run_jobs()
    assert len(receiver.posts) == 6
    assert [r.attempt for r in await rows(harness)] == [1, 2, 3, 4, 5, 6]


async def test_an_unreachable_receiver_is_recorded_as_an_error(notifier, closed_port_url):
    harness = notifier(urls=[closed_port_url])
    await harness.emit("item.added", {"id": 7})
    [run] = await harness.run_jobs(raise_errors=False)
    assert not run.ok and isinstance(run.error, DeliveryFailed)
    first = (await rows(harness))[0]
    assert first.status_code is None
    assert "ClientConnectorError" in first.error
    assert "secret-token" not in first.error


async def test_a_slow_receiver_times_out(notifier, receiver):
    receiver.delay = 2
    harness = notifier(timeout="0.2")
    [channel] = harness.registrations("notification_channels")
    with pytest.raises(DeliveryFailed, match=r"no answer within 0\.2 s"):
        await channel.send(Notification(title="hello"))


async def test_redirects_are_not_followed(notifier, receiver):
    receiver.statuses = [302]
    harness = notifier()
    [channel] = harness.registrations("notification_channels")
    with pytest.raises(DeliveryFailed, match="HTTP 302"):
        await channel.send(Notification(title="hello"))
    assert [r.method for r in receiver.requests] == ["POST"]


# --- notification channel --------------------------------------------------------------------------------


async def test_the_channel_posts_notifications_at_once(notifier, receiver):
    harness = notifier()
    [channel] = harness.registrations("notification_channels")
    await channel.send(Notification(title="Disk almost full", body="/srv is 95% full", severity="warning",
                                    data={"free_gb": 12}))
    [post] = receiver.posts
    assert post.headers["X-Revenge-Event"] == "notification"
    assert json.loads(post.body)["notification"] == {
        "title": "Disk almost full", "body": "/srv is 95% full", "severity": "warning", "data": {"free_gb": 12},
    }
    assert [r.ok for r in await rows(harness)] == [True]


# --- routes -------------------------------------------------------------------------------------------------


async def test_deliveries_route_lists_recent_attempts_without_url_paths(notifier, receiver):
    receiver.statuses = [500]
    harness = notifier()
    await harness.emit("item.added", {"id": 1})
    await harness.run_jobs()
    async with harness.client() as client:
        response = await client.get("/api/v1/webhooks/deliveries")
        assert response.status == 200
        text = await response.text()
        listed = json.loads(text)["deliveries"]
        assert [(d["attempt"], d["status_code"], d["ok"]) for d in listed] == [(2, 200, True), (1, 500, False)]
        host = receiver.url.split("/hooks/")[0]
        assert {d["target"] for d in listed} == {host + "/…"}
        assert "secret-token" not in text
        assert len((await (await client.get("/api/v1/webhooks/deliveries?limit=1")).json())["deliveries"]) == 1


@pytest.mark.parametrize("limit", ["0", "501", "ten", "-1"])
async def test_deliveries_route_rejects_a_bad_limit(notifier, limit):
    async with notifier().client() as client:
        response = await client.get("/api/v1/webhooks/deliveries", params={"limit": limit})
        assert response.status == 400
        assert (await response.json())["code"] == "bad_request"


async def test_test_route_sends_and_reports(notifier, receiver):
    urls = [receiver.url, receiver.url_for("/other")]
    receiver.statuses = [200, 500]
    harness = notifier(urls=urls)
    async with harness.client() as client:
        response = await client.post("/api/v1/webhooks/test")
        assert response.status == 200
        report = await response.json()
    assert report["ok"] is False
    assert sorted(r["status_code"] for r in report["results"]) == [200, 500]
    assert all(json.loads(p.body)["notification"]["title"] == "Test from Revenge" for p in receiver.posts)
    assert len(receiver.posts) == 2


async def test_test_route_without_urls_says_what_to_do(notifier):
    async with notifier(urls=[]).client() as client:
        response = await client.post("/api/v1/webhooks/test")
        assert response.status == 409
        assert "plugins.webhook_notifier.urls" in (await response.json())["message"]


# --- housekeeping -------------------------------------------------------------------------------------------


async def test_the_daily_schedule_prunes_attempts_older_than_30_days(notifier):
    harness = notifier()
    harness.context.db.bind([Delivery])
    now = datetime.datetime.now(datetime.UTC).replace(tzinfo=None)

    def seed():
        for days, event in ((31, "old"), (29, "recent"), (0, "new")):
            Delivery.create(delivery_id=event, event=event, target="https://x/", url_hash="h", attempt=1,
                            status_code=200, ok=True, duration_ms=1, attempted_at=now - datetime.timedelta(days=days))

    await harness.context.db.run(seed)
    [run] = await harness.run_schedule("webhook_notifier.prune")
    assert run.result == 1
    assert [r.event for r in await rows(harness)] == ["recent", "new"]
