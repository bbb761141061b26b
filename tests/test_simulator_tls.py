"""``Simulator(tls=True, connect_proxy=True, compat=...)``: what a test suite needs to run a
real CLI tool against the harness (HTTPS with a test CA, AWS sign-in interception, vendor
login surfaces)."""

from __future__ import annotations

import http.client
import ssl
import stat
from collections.abc import Iterator

import pytest

from idp import Simulator
from idp.simulator import SimulatorError


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(tls=True, connect_proxy=True, compat=["adfs", "okta"]) as running:
        yield running


def _context(sim: Simulator) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(sim.ca_bundle))


def test_https_is_the_public_url_and_sts_stays_plain(sim: Simulator) -> None:
    assert sim.base_url.startswith("https://127.0.0.1:")
    assert sim.entity_id == f"{sim.base_url}/idp/metadata"
    assert sim.sts_endpoint.startswith("http://127.0.0.1:")
    assert sim.ca_bundle.name == "tls-ca.pem"
    assert stat.S_IMODE((sim.ca_bundle.parent / "tls-ca.key").stat().st_mode) == 0o600
    host, port = sim.base_url.removeprefix("https://").split(":")
    connection = http.client.HTTPSConnection(host, int(port), context=_context(sim), timeout=10)
    try:
        connection.request("GET", "/idp/metadata")
        answer = connection.getresponse()
        assert answer.status == 200 and sim.entity_id.encode() in answer.read()
    finally:
        connection.close()
    assert sim.login("bob").credentials.access_key_id.startswith("ASIA")


def test_the_proxy_reaches_the_console_twin_and_nothing_else(sim: Simulator) -> None:
    proxy_port = int(sim.proxy_url.rsplit(":", 1)[1])
    connection = http.client.HTTPSConnection("127.0.0.1", proxy_port, context=_context(sim),
                                             timeout=10)
    connection.set_tunnel("signin.aws.amazon.com", 443)
    saml = sim.mint("bob")
    body = f"SAMLResponse={saml.replace('+', '%2B').replace('=', '%3D').replace('/', '%2F')}"
    try:
        connection.request("POST", "/saml", body=body,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
        answer = connection.getresponse()
        answer.read()
    finally:
        connection.close()
    assert answer.status == 303 and answer.getheader("Location") == "/aws/console"
    refused = http.client.HTTPSConnection("127.0.0.1", proxy_port, context=_context(sim),
                                          timeout=10)
    refused.set_tunnel("example.com", 443)
    try:
        with pytest.raises(OSError, match="403"):
            refused.request("GET", "/")
    finally:
        refused.close()


def test_compat_surfaces_are_enabled(sim: Simulator) -> None:
    assert {v.value for v in sim.runtime.services.vendors} == {"adfs", "okta"}


def test_mistakes_are_simulator_errors() -> None:
    with pytest.raises(SimulatorError, match="leave base_url out"):
        Simulator(tls=True, base_url="https://127.0.0.1:9443")
    with pytest.raises(SimulatorError, match="unknown compat surface 'saml2aws'"):
        Simulator(compat="okta,saml2aws")
    with Simulator() as plain:
        with pytest.raises(SimulatorError, match="tls=True"):
            _ = plain.ca_bundle
        with pytest.raises(SimulatorError, match="connect_proxy=True"):
            _ = plain.proxy_url


def test_a_kept_alive_https_client_does_not_hold_up_close() -> None:
    """A pooled client never sends close_notify: closing still takes about a second, and
    leaves no server thread behind."""
    import threading
    import time

    before = set(threading.enumerate())
    sim = Simulator(tls=True).start()
    host, port = sim.base_url.removeprefix("https://").split(":")
    connection = http.client.HTTPSConnection(host, int(port), context=_context(sim), timeout=10)
    try:
        connection.request("GET", "/healthz")
        assert connection.getresponse().read() == b"ok"  # the connection stays open
        started = time.monotonic()
        sim.close()
        assert time.monotonic() - started < 5
        assert not [t for t in set(threading.enumerate()) - before
                    if t.name.startswith("idp-simulator-")]
    finally:
        connection.close()
        sim.close()


def test_settings_that_ask_for_tls_get_it() -> None:
    from idp.settings import Settings

    with Simulator(settings=Settings(tls=True)) as sim:
        assert sim.base_url.startswith("https://127.0.0.1:")
        host, port = sim.base_url.removeprefix("https://").split(":")
        connection = http.client.HTTPSConnection(host, int(port), context=_context(sim),
                                                 timeout=10)
        try:  # the HTTPS it advertises is served, with its own test CA
            connection.request("GET", "/healthz")
            assert connection.getresponse().read() == b"ok"
        finally:
            connection.close()
    with Simulator(settings=Settings(connect_proxy=9)) as sim:
        assert sim.proxy_url != "http://127.0.0.1:9"


def test_reset_ends_the_vendor_sessions_sealed_before_it() -> None:
    """A reset clears the store that remembered sign-outs and one-time uses, so tokens
    sealed before it must not open after it (the pytest plugin resets between tests)."""
    import json
    import urllib.request

    with Simulator(compat="okta") as sim:
        def authn() -> dict[str, str]:
            request = urllib.request.Request(
                f"{sim.sts_endpoint.removesuffix('/aws/sts')}/api/v1/authn",
                data=json.dumps({"username": "bob", "password": "bob-password"}).encode(),
                headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as answer:
                return dict(json.load(answer))
        token = authn()["sessionToken"]
        vendor = sim.runtime.services.vendor_sign_in
        assert vendor.sealer.open("okta-session-token", token) is not None
        sim.reset()
        assert sim.runtime.services.vendor_sign_in.sealer.open("okta-session-token",
                                                               token) is None


def test_compat_of_the_wrong_type_is_a_simulator_error() -> None:
    for wrong in (True, ["okta", 3]):
        with pytest.raises(SimulatorError, match="compat must be"):
            Simulator(compat=wrong)  # type: ignore[arg-type]
