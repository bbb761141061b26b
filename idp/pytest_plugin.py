"""The pytest plugin (registered through the ``pytest11`` entry point): a hermetic IdP + AWS
console + STS for a test suite.

Fixtures:

``saml_idp``
    A ``Simulator`` on the demo directory, started once per test session and ``reset()``
    after every test that used it, so tests stay independent and only the first pays the
    start-up. A test marked ``@pytest.mark.saml_idp(config=..., clock=..., base_url=...)``
    gets a simulator of its own with those arguments instead (closed after the test).
``saml_idp_factory``
    ``saml_idp_factory(config=None, *, clock=None, base_url=None)`` starts another simulator
    (a custom directory, another clock); each is closed after the test.
``aws_credentials``
    ``aws_credentials(user, role=None)``: ``Credentials`` from ``saml_idp``'s STS.
``boto3_session``
    ``boto3_session(user, role=None, region="us-east-1")``: a boto3 Session with those
    credentials whose STS clients use ``saml_idp``'s endpoint.

Nothing is imported from the simulator until a fixture is used, so the plugin costs nothing
in a test run that does not use it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from idp.simulator import Credentials, Simulator

__all__ = ["aws_credentials", "boto3_session", "saml_idp", "saml_idp_factory"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "saml_idp(config=None, *, clock=None, base_url=None, settings=None, compat=None, "
        "tls=False, connect_proxy=False): give this test's saml_idp fixture a simulator of "
        "its own, started with these arguments (idp.Simulator's)",
    )


@pytest.fixture(scope="session")
def _saml_idp_session() -> Iterator[Simulator]:
    from idp.simulator import Simulator

    with Simulator() as simulator:
        yield simulator


@pytest.fixture
def saml_idp(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """The session's simulator (reset after the test), or this test's own when marked."""
    marker = request.node.get_closest_marker("saml_idp")
    if marker is not None:
        from idp.simulator import Simulator

        with Simulator(*marker.args, **marker.kwargs) as own:
            yield own
        return
    shared: Simulator = request.getfixturevalue("_saml_idp_session")
    try:
        yield shared
    finally:
        if shared.running:
            shared.reset()
        else:  # the test closed it (``with saml_idp as sim:``): the next one gets a new one
            shared.start()


@pytest.fixture
def saml_idp_factory() -> Iterator[Callable[..., Simulator]]:
    """Start extra simulators (``saml_idp_factory(config, clock=..., base_url=...)``)."""
    from idp.simulator import Simulator

    started: list[Simulator] = []

    def start(config: Any = None, **options: Any) -> Simulator:
        simulator = Simulator(config, **options).start()
        started.append(simulator)
        return simulator

    try:
        yield start
    finally:
        for simulator in started:
            simulator.close()


@pytest.fixture
def aws_credentials(saml_idp: Simulator) -> Callable[..., Credentials]:
    """``aws_credentials(user, role=None, password=None)`` from ``saml_idp``'s STS."""

    def credentials(user: str, role: str | None = None, password: str | None = None
                    ) -> Credentials:
        return saml_idp.login(user, password, role=role).credentials

    return credentials


@pytest.fixture
def boto3_session(saml_idp: Simulator) -> Callable[..., Any]:
    """``boto3_session(user, role=None, region="us-east-1")`` for ``saml_idp``."""

    def session(user: str, role: str | None = None, region: str = "us-east-1",
                password: str | None = None) -> Any:
        return saml_idp.boto3_session(user, role=role, region=region, password=password)

    return session
