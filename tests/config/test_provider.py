"""Provider configuration: TOML loading, built-in aliases, keys."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from seedance_async import (
    BUILTIN_PROVIDERS,
    ApiKey,
    ConfigurationError,
    ProviderConfig,
    load_provider_config,
)
from seedance_async.config import parse_provider_config, resolve_providers

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_provider_toml_loads_with_every_alias() -> None:
    """The providers.toml shown in the README is valid and names all seven providers."""
    text = README.read_text()
    block = re.search(r"```toml\n(\[providers\.ark\].*?)```", text, re.S)
    assert block is not None
    import tomllib

    configs = parse_provider_config(tomllib.loads(block.group(1)))
    assert set(configs) == {
        "ark",
        "byteplus",
        "chainhub",
        "gateway000",
        "aimlapi",
        "unified",
        "gptproto",
    }
    assert configs["chainhub"].options["tasks_path"] == "/volc/v1/contents/generations/tasks"
    assert configs["ark"].submit_rpm == 600
    assert configs["ark"].rate_headroom == 0.02
    assert configs["gptproto"].options == {"auth_scheme": "bearer"}


def test_alias_matching_a_builtin_inherits_its_values(tmp_path: Path) -> None:
    """A file entry named like a built-in alias only needs the keys it changes."""
    path = tmp_path / "p.toml"
    path.write_text("[providers.ark]\nmax_running = 3\n")
    (ark,) = load_provider_config(path).values()
    assert ark.base_url == BUILTIN_PROVIDERS["ark"].base_url
    assert ark.key_env == "ARK_API_KEY"
    assert ark.max_running == 3


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[providers.x]\nadapter = 'ark'\n", "required field missing @ $.providers.x.base_url"),
        (
            "[providers.x]\nadapter = 'ark'\nbase_url = 'ftp://h'\n",
            "base_url must be an http(s) URL",
        ),
        ("[providers.ark]\nsubmit_rpm = -1\n", "submit_rpm must be a positive number"),
        ("[providers.ark]\nsubmit_rpm = '3'\n", "expected float @ $.providers.ark.submit_rpm"),
        ("[providers.ark]\nmax_running = 1.5\n", "expected int @ $.providers.ark.max_running"),
        ("[providers.ark]\nmax_running = 0\n", "max_running must be a positive integer"),
        ("[providers.ark]\nkey_env = 3\n", "@ $.providers.ark.key_env"),
        ("[providers.ark]\nbogus = 1\n", "extra fields found (bogus) @ $.providers.ark"),
        ("[providers.ark]\napi_key = 'sk-1'\n", "extra fields found (api_key) @ $.providers.ark"),
        (
            "[providers.ark]\npaid_5xx_safe = 'yes'\n",
            "expected bool @ $.providers.ark.paid_5xx_safe",
        ),
        ("[providers.ark]\nrate_headroom = 0.6\n", "rate_headroom must be within"),
        ("[providers.ark]\nrate_headroom = true\n", "@ $.providers.ark.rate_headroom"),
        ("[providers.ark]\nmodels = 'seedance-1-0-pro'\n", "@ $.providers.ark.models"),
        ("[providers.ark]\nmodels = ['seedance-1-0-prox']\n", "no known model family"),
        ("[providers.ark]\noptions = 3\n", "expected a table @ $.providers.ark.options"),
        ("[providers.ark.timeouts]\nconnect = 'x'\n", "@ $.providers.ark.timeouts.connect"),
        ("[providers.ark.timeouts]\nconnect = -1\n", "Timeouts.connect must be > 0"),
        ("[providers]\nark = 3\n", "expected a table @ $.providers.ark"),
        ("x = 1\n", "at least one"),
        ("[providers\n", "not valid TOML"),
    ],
)
def test_bad_config_files_name_the_problem(tmp_path: Path, toml: str, message: str) -> None:
    """Each bad config is refused with a ConfigurationError naming the file and the key."""
    path = tmp_path / "p.toml"
    path.write_text(toml)
    with pytest.raises(ConfigurationError) as info:
        load_provider_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


async def test_budgets_send_at_the_limits_less_the_headroom(tmp_path: Path) -> None:
    """The client's buckets run at submit_rpm and poll_rps less ``rate_headroom``."""
    from seedance_async import Client

    path = tmp_path / "p.toml"
    path.write_text(
        "[providers.a]\nadapter = 'ark'\nbase_url = 'https://a.example'\nkey_env = 'K'\n"
        "submit_rpm = 600\npoll_rps = 20\nrate_headroom = 0.1\n"
        "[providers.b]\nadapter = 'ark'\nbase_url = 'https://b.example'\nkey_env = 'K'\n"
        "submit_rpm = 600\npoll_rps = 20\nrate_headroom = 0\n"
    )
    configs = load_provider_config(path)
    assert configs["a"].submit_rate() == pytest.approx(9.0)
    assert configs["a"].poll_rate() == pytest.approx(18.0)
    with pytest.MonkeyPatch.context() as env:
        env.setenv("K", "sk-test")
        async with Client(list(configs.values())) as client:
            budget_a = client.provider("a").budget
            budget_b = client.provider("b").budget
    assert budget_a.submit_bucket.rate == pytest.approx(9.0)  # type: ignore[attr-defined]
    assert budget_a.poll_bucket.rate == pytest.approx(18.0)  # type: ignore[attr-defined]
    assert budget_b.submit_bucket.rate == pytest.approx(10.0)  # type: ignore[attr-defined]
    with pytest.raises(ConfigurationError, match="rate_headroom"):
        ProviderConfig(alias="c", adapter="ark", base_url="https://c.example", rate_headroom=-0.1)


def test_missing_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A config path that does not exist gives a ConfigurationError, not an OSError."""
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_provider_config(tmp_path / "none.toml")


def test_key_from_environment_or_code_and_never_shown() -> None:
    """Keys come from api_key or key_env; the error names the variable, not a value."""
    cfg = ProviderConfig(alias="a", adapter="ark", base_url="https://h", key_env="MY_KEY")
    assert cfg.resolve_key({"MY_KEY": "sk-CANARY-1"}).reveal() == "sk-CANARY-1"
    with pytest.raises(ConfigurationError, match="MY_KEY"):
        cfg.resolve_key({})
    given = ProviderConfig(
        alias="a", adapter="ark", base_url="https://h", api_key=ApiKey("sk-CANARY-2")
    )
    assert "sk-CANARY-2" not in repr(given)
    assert "sk-CANARY-2" not in repr(given.api_key)
    assert given.resolve_key({}).reveal() == "sk-CANARY-2"


def test_resolve_providers_prefers_configured_and_lists_known_aliases() -> None:
    """resolve_providers takes configured aliases first and explains unknown ones."""
    mine = ProviderConfig(alias="ark", adapter="ark", base_url="https://other")
    (ark,) = resolve_providers(["ark"], {"ark": mine})
    assert ark.base_url == "https://other"
    with pytest.raises(ConfigurationError, match="known: "):
        resolve_providers(["nope"])


def test_api_key_cannot_be_pickled() -> None:
    """ApiKey refuses serialisation so it never lands in a queue or journal."""
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(ApiKey("sk-CANARY-3"))


def test_a_file_overrides_and_extends_builtin_aliases_key_by_key(tmp_path: Path) -> None:
    """Options and timeouts merge key by key; a new alias gets its adapter's catalog defaults."""
    path = tmp_path / "p.toml"
    path.write_text(
        "[providers.chainhub.options]\ncan_list = true\n"
        "[providers.chainhub.timeouts]\nread = 30\n"
        "[providers.gw]\nadapter = 'unified'\nbase_url = 'https://gw.example/'\nkey_env = 'GW'\n"
    )
    configs = load_provider_config(path)
    chainhub = configs["chainhub"]
    assert chainhub.options["can_list"] is True
    assert chainhub.options["tasks_path"] == BUILTIN_PROVIDERS["chainhub"].options["tasks_path"]
    assert chainhub.timeouts.read == 30.0
    assert chainhub.timeouts.connect == BUILTIN_PROVIDERS["chainhub"].timeouts.connect
    gateway = configs["gw"]
    assert gateway.base_url == "https://gw.example"
    assert gateway.models == ("seedance-1-0-pro", "seedance-1-0-lite-t2v", "seedance-1-0-lite-i2v")
    assert (gateway.submit_rpm, gateway.max_running) == (300.0, 5)


@pytest.mark.parametrize(
    ("model", "unified", "ark"),
    [
        ("doubao-seedance-1-0-pro-250528", True, True),
        ("seedance-1-0-pro-250528", True, True),  # BytePlus spelling
        ("bytedance/seedance-1-0-pro-i2v", True, True),  # AI/ML API spelling
        ("doubao-seedance-1-0-lite-i2v-250428", True, True),
        ("doubao-seedance-1-0-pro-fast-251015", False, True),
        ("doubao-seedance-1-5-pro-251215", False, True),
        ("ep-20250101-abcdef", True, True),  # unknown ids are never blocked
    ],
)
def test_serves_follows_the_catalog_list_in_any_spelling(
    model: str, unified: bool, ark: bool
) -> None:
    """A code-built alias gets its adapter's catalog list; known families outside it are refused."""
    gateway = ProviderConfig(alias="gw", adapter="unified", base_url="https://gw.example")
    assert gateway.serves(model) is unified
    assert BUILTIN_PROVIDERS["ark"].serves(model) is ark
    assert (gateway.model_violations(model) == []) is unified


def test_models_none_serves_everything_and_plugins_serve_everything() -> None:
    """`models=None` and adapters without a catalog file put no limit on models."""
    anything = ProviderConfig(alias="gw", adapter="unified", base_url="https://g", models=None)
    plugin = ProviderConfig(alias="p", adapter="my-plugin", base_url="https://p")
    for config in (anything, plugin):
        assert config.serves("doubao-seedance-1-5-pro-251215")
    assert plugin.models is None
    assert (plugin.submit_rpm, plugin.max_running) == (300.0, 5)


def test_values_out_of_range_are_refused_in_code_too() -> None:
    """The checks a file gets apply to configs built in code."""
    with pytest.raises(ConfigurationError, match="max_running"):
        ProviderConfig(alias="a", adapter="ark", base_url="https://a", max_running=0)
    with pytest.raises(ConfigurationError, match="base_url"):
        ProviderConfig(alias="a", adapter="ark", base_url="a.example")
    with pytest.raises(ConfigurationError, match="no known model family"):
        ProviderConfig(alias="a", adapter="ark", base_url="https://a", models=["seedance-9"])


def test_readme_override_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's override-and-extend providers.toml and its Python lines work as shown."""
    text = README.read_text()
    found = re.search(
        r"```toml\n(# providers.toml: override and extend.*?)```\n\n```python\n(.*?)```", text, re.S
    )
    assert found is not None
    (tmp_path / "providers.toml").write_text(found.group(1))
    monkeypatch.chdir(tmp_path)
    exec(compile(found.group(2), "README.md", "exec"), {})  # noqa: S102 (our own README)
