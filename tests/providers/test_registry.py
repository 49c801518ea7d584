"""Adapter registry: built-ins, run-time registration and entry-point plugins."""

from __future__ import annotations

from importlib.metadata import EntryPoint

import pytest

import seedance_async.providers as providers
from seedance_async.core._errors import ConfigurationError, InvalidTaskSpec
from seedance_async.core._wire import HttpResponse
from seedance_async.providers import (
    ENTRY_POINT_GROUP,
    ProviderAdapter,
    available_adapters,
    create_adapter,
    register_adapter,
)
from seedance_async.providers.ark import ArkAdapter
from seedance_async.spec._status import TaskState
from seedance_async.spec._task import VideoTask, validate
from tests.fake_adapter import FakeAdapter

PRO = "doubao-seedance-1-0-pro-250528"


def fake_entry_points(*points: tuple[str, str]) -> object:
    """A stand-in for ``importlib.metadata.entry_points`` that knows only ``points``."""
    eps = [EntryPoint(name=name, value=value, group=ENTRY_POINT_GROUP) for name, value in points]

    def entry_points(*, group: str) -> list[EntryPoint]:
        return [ep for ep in eps if ep.group == group]

    return entry_points


@pytest.fixture
def plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend a package declared ``fakeprov = tests.fake_adapter:FakeAdapter``."""
    monkeypatch.setattr(
        providers,
        "entry_points",
        fake_entry_points(
            ("fakeprov", "tests.fake_adapter:FakeAdapter"),
            ("broken", "tests.fake_adapter:not_an_adapter"),
            ("ark", "tests.fake_adapter:FakeAdapter"),
        ),
    )
    monkeypatch.setattr(providers, "_registered", {})


@pytest.mark.usefixtures("plugin")
def test_entry_point_adapter_is_listed() -> None:
    """A plugin's name appears among the available adapters, next to the built-ins."""
    names = available_adapters()
    assert names == sorted(names)
    assert {"ark", "aimlapi", "unified", "gptproto", "fakeprov"} <= set(names)


@pytest.mark.usefixtures("plugin")
def test_entry_point_adapter_works_like_a_builtin() -> None:
    """create_adapter builds the plugin with options; it drives a task like any adapter."""
    adapter = create_adapter("fakeprov", prefix="/v9/jobs")
    assert isinstance(adapter, FakeAdapter)
    assert isinstance(adapter, ProviderAdapter)
    task = VideoTask(model=PRO, prompt="a fox")
    request = adapter.build_submit(task)
    assert (request.method, request.path, request.json) == (
        "POST",
        "/v9/jobs",
        {"model": PRO, "prompt": "a fox"},
    )
    accepted = adapter.parse_submit(HttpResponse.from_json(200, {"job": "j-1"}))
    status = adapter.parse_status(
        HttpResponse.from_json(200, {"job": "j-1", "state": "done"}), "j-1"
    )
    assert (accepted.task_id, status.state) == ("j-1", TaskState.SUCCEEDED)


@pytest.mark.usefixtures("plugin")
def test_entry_point_adapter_rules_apply_in_validate() -> None:
    """The plugin's own capability rules are enforced by validate()."""
    adapter = create_adapter("fakeprov")
    with pytest.raises(InvalidTaskSpec) as info:
        validate(VideoTask(model=PRO, prompt="x", seed=100, frames=57), provider=adapter)
    assert info.value.fields == ("seed", "frames")


@pytest.mark.usefixtures("plugin")
def test_builtin_names_cannot_be_hijacked_by_plugins() -> None:
    """An entry point named like a built-in does not replace it."""
    assert type(create_adapter("ark")) is ArkAdapter


@pytest.mark.usefixtures("plugin")
def test_runtime_registration_is_used_and_listed() -> None:
    """register_adapter adds a name that create_adapter and available_adapters know."""
    register_adapter("inproc", FakeAdapter)
    assert "inproc" in available_adapters()
    adapter = create_adapter("inproc", name="inproc")
    assert isinstance(adapter, FakeAdapter)
    assert adapter.name == "inproc"


@pytest.mark.usefixtures("plugin")
def test_runtime_registration_wins_over_an_entry_point() -> None:
    """An in-process registration shadows an installed plugin of the same name."""
    register_adapter("fakeprov", lambda **options: ArkAdapter(name="shadow", **options))
    assert create_adapter("fakeprov").name == "shadow"


@pytest.mark.parametrize("name", ["ark", "aimlapi", "unified", "gptproto"])
def test_register_refuses_builtin_names(name: str) -> None:
    """Built-in names are reserved."""
    with pytest.raises(ConfigurationError, match="built-in"):
        register_adapter(name, FakeAdapter)


@pytest.mark.usefixtures("plugin")
def test_unknown_name_lists_known_names() -> None:
    """An unknown adapter name is a ConfigurationError that lists every known name."""
    with pytest.raises(ConfigurationError) as info:
        create_adapter("nonesuch")
    message = str(info.value)
    assert "'nonesuch'" in message
    for known in ("aimlapi", "ark", "fakeprov", "gptproto", "unified"):
        assert known in message


@pytest.mark.usefixtures("plugin")
@pytest.mark.parametrize("name", ["ark", "fakeprov"])
def test_unknown_option_is_a_configuration_error(name: str) -> None:
    """An option the adapter does not take is a ConfigurationError naming the adapter."""
    with pytest.raises(ConfigurationError, match=name):
        create_adapter(name, no_such_option=1)


def test_bad_option_value_is_a_configuration_error() -> None:
    """An option value outside its documented set is a ConfigurationError."""
    with pytest.raises(ConfigurationError):
        create_adapter("ark", status_map={"done": "finished"})


@pytest.mark.usefixtures("plugin")
def test_plugin_that_is_not_an_adapter_is_refused() -> None:
    """A factory returning something without the protocol is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="does not implement ProviderAdapter"):
        create_adapter("broken")


def test_name_option_reaches_the_adapter() -> None:
    """``name`` is an adapter option too (the client passes the alias), not a clash."""
    assert create_adapter("ark", name="chainhub").name == "chainhub"
