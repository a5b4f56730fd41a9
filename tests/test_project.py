"""Rules about the project itself: layering, hook documentation and coverage, the example plugin."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

from revenge_hookspecs import specs

ROOT = Path(__file__).resolve().parent.parent
HOOKS = sorted(name for name, fn in vars(specs).items() if name.startswith("revenge_") and callable(fn))
HOOK_DOCS = ROOT / "docs" / "plugins" / "hooks.md"
TEST_DIRS = [ROOT / "tests", ROOT / "hookspecs" / "tests", *ROOT.glob("plugins/*/tests"),
             *ROOT.glob("examples/*/tests")]
PLUGIN_SOURCES = [*ROOT.glob("plugins/*/revenge_*"), *ROOT.glob("examples/*/revenge_*")]


def test_there_are_hooks_for_every_family() -> None:
    families = {"revenge_configure", "revenge_startup", "revenge_shutdown", "revenge_content_types",
                "revenge_metadata_providers", "revenge_arr_connectors", "revenge_scrobblers",
                "revenge_storage_backends", "revenge_routes", "revenge_jobs", "revenge_schedules",
                "revenge_event_handlers", "revenge_auth_providers", "revenge_notification_channels"}
    assert families <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_specified_with_types_and_a_version(hook: str) -> None:
    fn = getattr(specs, hook)
    doc = inspect.getdoc(fn) or ""
    assert doc.strip(), f"{hook} has no docstring"
    assert "versionadded" in doc, f"{hook} does not say when it was added"
    assert "return" in inspect.get_annotations(fn), f"{hook} has no return annotation"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_documented(hook: str) -> None:
    text = HOOK_DOCS.read_text()
    assert re.search(rf"^###\s+`?{hook}\b", text, re.MULTILINE), f"{hook} is missing from {HOOK_DOCS}"


@pytest.mark.parametrize("hook", HOOKS)
def test_hook_is_exercised_by_a_test(hook: str) -> None:
    """Some plugin used by the tests implements the hook, so the host really calls it."""
    pattern = re.compile(rf"def {hook}\(")
    sources = [p for d in [*TEST_DIRS, *PLUGIN_SOURCES] for p in d.rglob("*.py")]
    assert any(pattern.search(p.read_text()) for p in sources), f"no test plugin implements {hook}"


def test_plugins_and_the_sdk_never_import_the_server() -> None:
    result = subprocess.run([str(Path(sys.executable).parent / "lint-imports")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


@pytest.mark.slow
def test_example_plugin_passes_its_own_tests_as_installed() -> None:
    """The example is tested the way a stranger tests a plugin: from its folder, alone."""
    example = ROOT / "examples" / "webhook-notifier"
    # -P keeps the source folder off sys.path, so the installed distribution is what runs.
    result = subprocess.run(
        [sys.executable, "-P", "-m", "pytest", "-q", "--confcutdir=.", "-p", "no:cacheprovider"],
        cwd=example, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout)
    installed = subprocess.run([sys.executable, "-P", "-c",
                                "import revenge_webhook_notifier as m; print(m.__file__)"],
                               cwd=example, capture_output=True, text=True)
    assert "site-packages" in installed.stdout, "the example plugin must be installed, not imported from source"
