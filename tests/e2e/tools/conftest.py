"""Fixtures for running real third-party SAML-to-AWS tools against a live simulator.

``tool_server``: a fresh ``idp serve`` per test (fresh keys, data and TLS CA; so fresh one-time
state too: carol's TOTP code works once per step), stopped with SIGINT, required to exit 0.
``tool_env``: an isolated ``$HOME`` and environment pointed at that server (see
``tests.support.tools``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tools import (
    ToolEnv,
    ToolServer,
    demo_config_with_provider_first,
    running_tool_server,
    tool_env_for,
)


@pytest.fixture
def role_value_order() -> str:
    """How the AWS SP writes its Role values. A test module overrides this fixture with
    ``"provider,role"`` for the tools that parse only that order."""
    return "role,provider"


@pytest.fixture
def tool_server(tmp_path: Path, role_value_order: str) -> Iterator[ToolServer]:
    config = None
    if role_value_order == "provider,role":
        config = demo_config_with_provider_first(tmp_path / "directory.yaml")
    with running_tool_server(tmp_path / "server", config) as server:
        yield server


@pytest.fixture
def tool_env(tmp_path: Path, tool_server: ToolServer) -> ToolEnv:
    return tool_env_for(tool_server, tmp_path / "home")
