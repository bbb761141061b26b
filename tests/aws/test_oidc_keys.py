"""IssuerKeys against a real issuer on a loopback port: discovery, JWKS, the cache on the
injected clock, the refetch on an unknown kid, time and size limits, garbage documents, and
hosts that are never contacted."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

import pytest

from idp.aws.credentials import CredentialIssuer
from idp.aws.errors import AwsError
from idp.aws.iam import Iam
from idp.aws.oidc_keys import KEYS_MESSAGE, UNREACHABLE_MESSAGE, IssuerKeys, is_loopback_host
from idp.aws.web_identity import WebIdentity
from idp.directory.loader import parse_directory
from idp.errors import Rule
from tests.aws.oidc_keys_server import IssuerServer, Route, running_issuer
from tests.aws.web_identity_tokens import TokenSigner, claims
from tests.support.builders import CREDENTIAL_SECRET
from tests.support.demo import AWS_ACS


@pytest.fixture(scope="module")
def signer() -> TokenSigner:
    return TokenSigner()


@pytest.fixture
def server(signer):
    signer.published = ["rsa-1", "ec-1"]
    with running_issuer() as issuer:
        issuer.serve_keys(signer.jwks)
        yield issuer


@pytest.fixture
def keys(clock) -> IssuerKeys:
    return IssuerKeys(clock, {}, timeout=0.5)


def kids(found) -> list[str]:
    return [key["kid"] for key in found]


def failing(call, code: str, message: str, found: str) -> AwsError:
    with pytest.raises(AwsError) as info:
        call()
    assert info.value.code == code, (info.value.code, info.value.detail)
    assert info.value.message == message
    assert info.value.rule is Rule.TOKEN_KEYS
    assert found in (info.value.detail or ""), info.value.detail
    return info.value


# --------------------------------------------------------------------------- fetching


def test_discovery_then_jwks(server: IssuerServer, keys):
    assert kids(keys.keys(server.issuer)) == ["rsa-1", "ec-1"]
    assert kids(keys.keys(server.issuer, "ec-1")) == ["ec-1"]
    assert server.hits[server.discovery_path] == 1 and server.hits[server.jwks_path] == 1


def test_localhost_is_a_loopback_host(server: IssuerServer, signer, clock):
    issuer = f"http://localhost:{server.port}/issuer"
    server.serve_keys(signer.jwks, issuer=issuer)
    assert kids(IssuerKeys(clock, {}).keys(issuer, "rsa-1")) == ["rsa-1"]


def test_the_key_set_is_kept_for_five_minutes_of_the_injected_clock(server, keys, clock):
    keys.keys(server.issuer)
    clock.advance(299)
    keys.keys(server.issuer)
    assert server.hits[server.jwks_path] == 1
    clock.advance(1)
    keys.keys(server.issuer)
    assert server.hits[server.jwks_path] == 2


def test_an_unknown_kid_refetches_once_and_not_too_often(server, keys, clock, signer):
    assert keys.keys(server.issuer, "rsa-2") == ()  # just fetched: no second fetch yet
    assert server.hits[server.jwks_path] == 1
    signer.published = ["rsa-1", "rsa-2"]  # the issuer rotates
    clock.advance(30)
    assert kids(keys.keys(server.issuer, "rsa-2")) == ["rsa-2"]
    assert server.hits[server.jwks_path] == 2
    assert keys.keys(server.issuer, "made-up") == ()
    assert keys.keys(server.issuer, "made-up-too") == ()
    assert server.hits[server.jwks_path] == 2  # rate-limited


def test_one_fetch_for_many_threads_at_once(server, keys):
    server.routes[server.jwks_path].delay = 0.2
    results: list[Any] = []
    threads = [threading.Thread(target=lambda: results.append(keys.keys(server.issuer)))
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(results) == 8 and all(kids(r) == ["rsa-1", "ec-1"] for r in results)
    assert server.hits[server.discovery_path] == 1 and server.hits[server.jwks_path] == 1


def test_the_own_issuer_is_answered_in_process(clock, signer, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", _never)
    own = IssuerKeys(clock, {"https://idp.example/oidc": signer.jwks})
    assert kids(own.keys("https://idp.example/oidc", "rsa-1")) == ["rsa-1"]


def test_redirects_are_followed_on_loopback(server: IssuerServer, keys):
    server.routes["/moved"] = server.routes[server.jwks_path]
    server.routes[server.jwks_path] = Route(status=302, headers={"Location": "/moved"})
    assert kids(keys.keys(server.issuer)) == ["rsa-1", "ec-1"]


# --------------------------------------------------------------------------- refusals

def _never(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError(f"no connection or lookup may be made: {args}")


@pytest.mark.parametrize("issuer", [
    "https://token.actions.githubusercontent.com",
    "https://oidc.eks.us-east-1.amazonaws.com/id/ABC",
    "http://10.0.0.1/issuer",
    "http://127.0.0.1.nip.io/issuer",
    "http://[::2]/issuer",
    "http://0.0.0.0:8000/issuer",
])
def test_non_loopback_issuers_are_refused_without_connecting(keys, issuer, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", _never)
    monkeypatch.setattr(socket, "getaddrinfo", _never)
    failing(lambda: keys.keys(issuer, "k"), "InvalidIdentityToken", KEYS_MESSAGE,
            "refuses every other host without connecting")


def test_jwks_uri_and_redirects_must_stay_on_loopback(server: IssuerServer, keys, monkeypatch):
    server.routes[server.discovery_path] = Route(
        lambda: {"issuer": server.issuer, "jwks_uri": "https://keys.example.com/jwks"})
    failing(lambda: keys.keys(server.issuer), "InvalidIdentityToken", KEYS_MESSAGE,
            "https://keys.example.com/jwks is not on this machine")
    keys.forget(server.issuer)  # a failure is remembered for a few seconds
    server.routes[server.discovery_path] = Route(
        status=302, headers={"Location": "http://example.com/.well-known/openid-configuration"})
    failing(lambda: keys.keys(server.issuer), "InvalidIdentityToken", KEYS_MESSAGE,
            "http://example.com/.well-known/openid-configuration is not on this machine")


@pytest.mark.parametrize(("jwks_uri", "found"), [
    ("http://[::1/jwks", "is not a URL"),
    ("http://127.0.0.1:99999/jwks", "is not a URL"),
    ("http://127.0.0.1:1/a b", "is no URL to request"),
    ("file:///etc/passwd", "is not an http(s) URL"),
    (["http://127.0.0.1/jwks"], "has no jwks_uri"),
])
def test_jwks_uris_that_are_no_urls(server: IssuerServer, keys, jwks_uri, found):
    server.routes[server.discovery_path] = Route(
        lambda: {"issuer": server.issuer, "jwks_uri": jwks_uri})
    failing(lambda: keys.keys(server.issuer), "InvalidIdentityToken", KEYS_MESSAGE, found)


def test_redirect_loops_end(server: IssuerServer, keys):
    server.routes[server.discovery_path] = Route(
        status=307, headers={"Location": server.discovery_path})
    failing(lambda: keys.keys(server.issuer), "InvalidIdentityToken", KEYS_MESSAGE,
            "more than 3 redirects")
    assert server.hits[server.discovery_path] == 4


def test_the_discovery_document_must_name_the_same_issuer(server: IssuerServer, keys, signer):
    server.serve_keys(signer.jwks, issuer=server.issuer + "/")
    failing(lambda: keys.keys(server.issuer), "InvalidIdentityToken", KEYS_MESSAGE,
            "must be identical")


def test_an_unreachable_issuer_is_a_communication_error(keys):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    failing(lambda: keys.keys(f"http://127.0.0.1:{port}/issuer"), "IDPCommunicationError",
            UNREACHABLE_MESSAGE, "connection refused")


def test_a_slow_issuer_times_out(server: IssuerServer, keys):
    server.routes[server.discovery_path].delay = 3
    started = time.monotonic()
    failing(lambda: keys.keys(server.issuer), "IDPCommunicationError", UNREACHABLE_MESSAGE,
            "did not answer within 0.5 s")
    assert time.monotonic() - started < 2


def test_a_dripping_issuer_cannot_hold_the_thread(server: IssuerServer, keys):
    """One byte every 0.1 s keeps each read short; the whole exchange is still bounded."""
    server.routes[server.jwks_path].drip = 0.1
    started = time.monotonic()
    failing(lambda: keys.keys(server.issuer), "IDPCommunicationError", UNREACHABLE_MESSAGE,
            "did not answer within 0.5 s")
    assert time.monotonic() - started < 2


def test_server_errors_are_communication_errors_and_404_is_not(server: IssuerServer, keys):
    server.routes[server.jwks_path] = Route(b"busy", 503)
    failing(lambda: keys.keys(server.issuer), "IDPCommunicationError", UNREACHABLE_MESSAGE,
            "answered HTTP 503")
    keys.forget(server.issuer)
    del server.routes[server.jwks_path]
    failing(lambda: keys.keys(server.issuer), "InvalidIdentityToken", KEYS_MESSAGE,
            "answered HTTP 404, not 200")


@pytest.mark.parametrize("chunked", [False, True])
def test_oversized_documents_are_cut_off(server: IssuerServer, keys, chunked):
    big = json.dumps({"keys": [{"kty": "RSA", "n": "x" * 70_000, "e": "AQAB"}]}).encode()
    server.routes[server.jwks_path] = Route(big, chunked=chunked)
    failing(lambda: keys.keys(server.issuer), "InvalidIdentityToken", KEYS_MESSAGE,
            "65536 bytes")


@pytest.mark.parametrize(("body", "found"), [
    (b"<html>login</html>", "is not valid JSON"),
    (b'{"keys": NaN}', "is not valid JSON"),
    (b'{"keys": [], "keys": []}', "appears twice"),
    (b"\xef\xbb\xbf{}", "is not valid JSON"),
    (b'{"keys": [' * 3000 + b"]}" * 3000, "is not valid JSON"),
    (b"[]", "not an object"),
    (b'{"keys": {}}', 'no "keys" array'),
    (b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}', "no RSA or EC signature key"),
    (b'{"keys": [{"kty": "RSA", "use": "enc", "n": "AQAB", "e": "AQAB"}]}',
     "no RSA or EC signature key"),
])
def test_bad_key_sets_are_refused(server: IssuerServer, keys, body, found):
    server.routes[server.jwks_path] = Route(body)
    failing(lambda: keys.keys(server.issuer), "InvalidIdentityToken", KEYS_MESSAGE, found)


def test_bad_discovery_documents_are_refused(server: IssuerServer, keys):
    server.routes[server.discovery_path] = Route(b'{"issuer": "x"')
    failing(lambda: keys.keys(server.issuer), "InvalidIdentityToken", KEYS_MESSAGE,
            "is not valid JSON")
    keys.forget(server.issuer)
    server.routes[server.discovery_path] = Route(lambda: {"issuer": server.issuer})
    failing(lambda: keys.keys(server.issuer), "InvalidIdentityToken", KEYS_MESSAGE,
            "has no jwks_uri")


@pytest.mark.parametrize("issuer", ["http://127.0.0.1:9/issuer?tenant=a",
                                    "http://user:pw@127.0.0.1:9/issuer", "ftp://127.0.0.1/x"])
def test_issuers_that_are_no_plain_urls_are_refused(keys, issuer, monkeypatch):
    monkeypatch.setattr(socket, "create_connection", _never)
    with pytest.raises(AwsError) as info:
        keys.keys(issuer)
    assert info.value.code == "InvalidIdentityToken" and info.value.message == KEYS_MESSAGE


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.8.9.10", True), ("::1", True), ("[::1]", True),
    ("localhost", True), ("LOCALHOST.", True), ("api.localhost", True),
    ("::ffff:127.0.0.1", True), ("128.0.0.1", False), ("0.0.0.0", False),  # noqa: S104
    ("localhost.example.com", False), ("example.com", False), ("::", False),
])
def test_what_counts_as_loopback(host, loopback):
    assert is_loopback_host(host) is loopback


# --------------------------------------------------------------------------- with the operation


def test_assume_role_with_a_token_of_a_loopback_issuer(server: IssuerServer, signer, clock,
                                                       settings, keypair, store):
    """The whole operation with keys fetched over HTTP, and a key rotation seen through the
    refetch on an unknown kid."""
    host_path = server.issuer.split("://", 1)[1]
    directory = parse_directory(json.dumps({"accounts": {"123456789012": {
        "roles": {"Local": {"trust_policy": {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{host_path}"},
            "Condition": {"StringEquals": {f"{host_path}:sub": "svc"}}}]}}},
        "oidc_providers": [{"url": server.issuer, "client_ids": ["sts.amazonaws.com"]}],
    }}}), aws_acs=AWS_ACS)
    iam = Iam(directory, settings.entity_id, (keypair,), store=store, clock=clock)
    web = WebIdentity(iam, CredentialIssuer(CREDENTIAL_SECRET, clock), clock,
                      IssuerKeys(clock, {}, timeout=1))
    now = int(clock.now().timestamp())
    query = {"RoleArn": "arn:aws:iam::123456789012:role/Local", "RoleSessionName": "sess"}
    token = signer.sign(claims(server.issuer, now, sub="svc"), "rsa-1")
    assert web.assume(query | {"WebIdentityToken": token}).provider == server.issuer
    rotated = signer.sign(claims(server.issuer, now, sub="svc"), "rsa-2")
    with pytest.raises(AwsError) as info:
        web.assume(query | {"WebIdentityToken": rotated})
    assert info.value.message == KEYS_MESSAGE
    signer.published = ["rsa-2"]
    clock.advance(30)
    assert web.assume(query | {"WebIdentityToken": rotated}).subject == "svc"


def test_a_failed_fetch_is_answered_again_without_fetching(server: IssuerServer, keys):
    """A hung or broken issuer costs one fetch for a few seconds, not one per request."""
    server.routes[server.jwks_path] = Route(b"busy", 503)
    for _ in range(5):
        failing(lambda: keys.keys(server.issuer), "IDPCommunicationError",
                UNREACHABLE_MESSAGE, "answered HTTP 503")
    assert server.hits[server.jwks_path] == 1


def test_waiters_for_a_hung_issuer_give_up_within_the_timeout(server: IssuerServer, keys):
    """Many requests for an issuer that hangs: one fetch, every request answered
    IDPCommunicationError within about two timeouts (none waits for the others in turn)."""
    discovery = {"issuer": server.issuer, "jwks_uri": server.base + server.jwks_path}
    server.routes[server.discovery_path] = Route(lambda: discovery,
                                                 delay=5.0)
    started = time.monotonic()
    errors: list[str] = []

    def one() -> None:
        with pytest.raises(AwsError) as info:
            keys.keys(server.issuer)
        errors.append(info.value.code)

    threads = [threading.Thread(target=one) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert errors == ["IDPCommunicationError"] * 8
    assert time.monotonic() - started < 2.5  # timeout 0.5 s: the fetch, then the waiters
    assert server.hits[server.discovery_path] == 1


def test_the_timeout_bounds_the_whole_fetch_not_each_exchange(server: IssuerServer, keys):
    """Discovery and the JWK Set each just under the timeout: together over it."""
    discovery = {"issuer": server.issuer, "jwks_uri": server.base + server.jwks_path}
    server.routes[server.discovery_path] = Route(lambda: discovery,
                                                 delay=0.3)
    server.routes[server.jwks_path] = Route(lambda: {"keys": []}, delay=0.3)
    started = time.monotonic()
    failing(lambda: keys.keys(server.issuer), "IDPCommunicationError", UNREACHABLE_MESSAGE,
            "0.5 s")
    assert time.monotonic() - started < 0.9


def test_an_address_with_a_final_dot_is_connected_to_as_the_address(server: IssuerServer, keys,
                                                                   monkeypatch):
    """``127.0.0.1.`` is the loopback address, connected to as such: never handed to the
    resolver as a name (which a hosts file could point elsewhere)."""
    server.routes[server.discovery_path] = Route(
        lambda: {"issuer": server.issuer,
                 "jwks_uri": f"http://127.0.0.1.:{server.port}{server.jwks_path}"})
    looked_up: list[str] = []
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        looked_up.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    assert kids(keys.keys(server.issuer)) == ["rsa-1", "ec-1"]
    assert "127.0.0.1." not in looked_up
