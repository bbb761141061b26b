"""Pytest fixtures for the live STS suites (``tests/e2e/test_sts_*``, ``tests/attacks``).

A plugin registered from ``tests/conftest.py`` (``pytest_plugins``). ``server`` is one live
``idp serve`` per test module; ``factory`` signs Responses for it; ``no_aws_config`` keeps a
developer's real AWS configuration out of boto3 and the AWS CLI.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.server import LiveServer, running_server
from tests.support.sts import ResponseFactory, clean_aws_environment


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
           ) -> Iterator[LiveServer]:
    """A live ``idp serve`` (demo directory, fresh keys) for the whole module."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    with running_server(tmp_path_factory.mktemp(name)) as live:
        yield live


@pytest.fixture(scope="module")
def factory(server: LiveServer) -> ResponseFactory:
    """Signed Responses for ``server``, built with its own key at any instant."""
    return ResponseFactory(server.url, server.certs_dir)


@pytest.fixture
def no_aws_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No real AWS credentials, config or endpoint leak into the test."""
    clean_aws_environment(monkeypatch, tmp_path)
