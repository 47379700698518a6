"""The config tree: defaults documented in configs/default.toml, file and env overrides, typos."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from api.config import Config, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[2]


def test_default_toml_documents_every_key_with_its_default() -> None:
    documented = tomllib.loads((ROOT / "configs" / "default.toml").read_text())
    assert documented == dataclasses.asdict(Config())


def test_file_then_env_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "argus.toml"
    path.write_text('[server]\nport = 6000\nhost = "0.0.0.0"\n[auth]\nopen_registration = true\n')
    config = load_config(
        path,
        environ={"ARGUS_SERVER__PORT": "7000", "ARGUS_ADMIN_LOGIN": "root@x.io"},
        overrides={"storage": {"data_dir": "/tmp/x"}},
    )
    assert config.server.port == 7000 and config.server.host == "0.0.0.0"
    assert config.auth.open_registration is True
    assert config.admin_login == "root@x.io"
    assert config.storage.data_dir == "/tmp/x"


def test_env_booleans_and_numbers() -> None:
    config = load_config(environ={"ARGUS_METRICS__ENABLED": "false", "ARGUS_SERVER__RESPONSE_TIMEOUT": "2.5"})
    assert config.metrics.enabled is False and config.server.response_timeout == 2.5


@pytest.mark.parametrize(
    ("text", "environ", "named"),
    [
        ("[server]\nprot = 1\n", {}, "server.prot"),
        ("[nosuch]\nx = 1\n", {}, "nosuch"),
        ("", {"ARGUS_SERVER__PROT": "1"}, "server.prot"),
        ('[server]\nport = "many"\n', {}, "server.port"),
        ("", {"ARGUS_METRICS__ENABLED": "maybe"}, "metrics.enabled"),
    ],
)
def test_unknown_or_bad_keys_are_named(tmp_path: Path, text: str, environ: dict, named: str) -> None:
    path = tmp_path / "argus.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        load_config(path, environ=environ)


def test_unrelated_argus_variables_are_ignored() -> None:
    assert load_config(environ={"ARGUS_TEST_PG_DSN": "x"}).server.port == 5000


def test_default_database_is_sqlite_in_data_dir() -> None:
    config = load_config(environ={}, overrides={"storage": {"data_dir": "/tmp/argus-data"}})
    assert config.database_url == "sqlite+aiosqlite:////tmp/argus-data/argus.db"


@pytest.mark.parametrize("name", ["postgres.toml", "agent.toml", "gpu-agent.toml"])
def test_example_configs_load(name: str) -> None:
    """The examples in configs/ stay valid as keys change (an unknown key is an error)."""
    config = load_config(ROOT / "configs" / name, environ={})
    assert config.agent.server_url.startswith("http")
