"""The signing keys of OpenID Connect issuers, as STS fetches them for
``AssumeRoleWithWebIdentity``.

AWS reads an issuer's keys through OpenID Connect Discovery: ``ISS/.well-known/openid-
configuration`` (OpenID Connect Discovery 1.0 §4; any final ``/`` of the issuer is removed
first), whose ``issuer`` must equal the token's ``iss`` exactly (§4.3), then the JWK Set at its
``jwks_uri`` (RFC 7517 §5). When it cannot, ``AssumeRoleWithWebIdentity`` answers
``InvalidIdentityToken`` "Couldn't retrieve verification key from your identity provider,
please reference AssumeRoleWithWebIdentity documentation for requirements" (two spaces after
the comma, as AWS writes it), or ``IDPCommunicationError`` when the issuer cannot be reached
(STS API Reference, AssumeRoleWithWebIdentity, Errors; botocore retries that one).

The simulator is offline:

* The simulator's own issuer (``BASE/oidc``) is answered in process, by the callable given for
  it (its current JWK Set, so a key rotation is seen at once): no network, whatever the
  public base URL.
* Any other issuer is fetched only from a loopback host (``127.0.0.0/8``, ``::1``,
  ``localhost``, which is never looked up in DNS: RFC 6761 §6.3). Every other host is
  refused before any connection is made (``InvalidIdentityToken``, with that as the detail),
  and so are a ``jwks_uri`` or a redirect leaving loopback. ``http://`` is taken (the
  simulator's own issuer is plain HTTP on loopback); ``https://`` is verified against the
  system's trust store (``SSL_CERT_FILE``), not against the provider's thumbprints.
* Each fetch is bounded: the connection, the headers and the body must all arrive within
  ``timeout`` seconds (default 2) or the connection is shut; a body is read at most
  ``max_bytes`` (default 64 KiB) and refused beyond, counted while it arrives; at most 3
  redirects are followed. The body must be strict JSON (UTF-8, no ``NaN``, no duplicate
  member names) holding an object. A connection refused, a timeout or a 5xx answer is
  ``IDPCommunicationError``; any other bad answer is ``InvalidIdentityToken``.
* A fetched key set is kept per issuer for ``ttl`` seconds (default 300) of the injected
  clock. A token naming a ``kid`` the kept set lacks makes one fetch again, at most once per
  ``refetch_after`` seconds (default 30), so a rotated key is found without letting tokens
  with made-up ``kid`` values turn into a request each. Fetches of one issuer are made one at
  a time: a request arriving meanwhile waits for that fetch (at most ``timeout`` seconds,
  then ``IDPCommunicationError``) and takes its result, a failure included: a failed fetch is
  remembered for ``FAILURE_SECONDS`` of real time, so a hung issuer costs one fetch, not one
  per request, and never holds more than a few of the server's threads. The ``timeout``
  bounds a whole fetch (discovery, redirects and JWK Set together), not each exchange.

AWS documents neither its caching nor a refetch on an unknown ``kid``; these are the
simulator's choices. Keys kept from a set: RSA and EC keys (``kty``) meant for signatures
(``use`` absent or ``sig``), at most 100; a set without any is refused.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.client
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import SplitResult, urljoin, urlsplit

from idp.aws.errors import IDPCommunicationError, InvalidIdentityToken
from idp.clock import Clock
from idp.errors import Rule

__all__ = [
    "KEYS_MESSAGE",
    "UNREACHABLE_MESSAGE",
    "IssuerKeys",
    "is_loopback_host",
]

#: AWS's message when it cannot get an issuer's verification keys (two spaces after the
#: comma: aws/aws-sdk-js-v3#3052, aws/aws-cli#7194).
KEYS_MESSAGE: Final = ("Couldn't retrieve verification key from your identity provider,  "
                       "please reference AssumeRoleWithWebIdentity documentation for "
                       "requirements")
#: ``IDPCommunicationError``'s text in the STS API Reference (the exception's description).
UNREACHABLE_MESSAGE: Final = ("The request could not be fulfilled because the identity provider "
                              "(IDP) that was asked to verify the incoming identity token could "
                              "not be reached.")
DEFAULT_TIMEOUT: Final = 2.0
DEFAULT_MAX_BYTES: Final = 64 * 1024
DEFAULT_TTL: Final = 300
DEFAULT_REFETCH_AFTER: Final = 30
MAX_REDIRECTS: Final = 3
MAX_KEYS: Final = 100
MAX_ISSUERS: Final = 64
_KEY_TYPES: Final = frozenset({"RSA", "EC"})
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
_LOCALHOST_ADDRESSES: Final = ("127.0.0.1", "::1")
_READ_CHUNK: Final = 8192
_OFFLINE_HINT: Final = ("run the issuer on 127.0.0.1 (or use this simulator's own issuer, "
                        "BASE/oidc: idp token)")

Jwk = Mapping[str, Any]


def is_loopback_host(host: str) -> bool:
    """``localhost`` (RFC 6761 §6.3) or a loopback address literal (``127.0.0.0/8``,
    ``::1``, an IPv4-mapped loopback)."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def _bad_keys(detail: str, hint: str | None = None) -> InvalidIdentityToken:
    return InvalidIdentityToken(KEYS_MESSAGE, rule=Rule.TOKEN_KEYS, detail=detail, hint=hint)


def _unreachable(detail: str) -> IDPCommunicationError:
    return IDPCommunicationError(UNREACHABLE_MESSAGE, rule=Rule.TOKEN_KEYS, detail=detail,
                                 hint="start the issuer, or check its port")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in pairs:
        if name in found:
            raise ValueError(f"member {name!r} appears twice")
        found[name] = value
    return found


def _strict_json(body: bytes, what: str) -> dict[str, Any]:
    """``body`` as one JSON object (RFC 8259, UTF-8, no NaN, no repeated member)."""
    try:
        value = json.loads(body.decode("utf-8"), parse_constant=_reject_constant,
                           object_pairs_hook=_unique_members)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise _bad_keys(f"{what} is not valid JSON: {str(exc)[:200]}") from None
    if not isinstance(value, dict):
        raise _bad_keys(f"{what} is JSON but not an object")
    return value


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises here, not later
    except ValueError as exc:
        raise _bad_keys(f"{url[:200]!r} is not a URL: {exc}") from None
    return parts


def signing_keys(document: Any, issuer: str) -> tuple[Jwk, ...]:
    """The RSA and EC signature keys of a JWK Set (``InvalidIdentityToken`` if it has none)."""
    keys = document.get("keys") if isinstance(document, Mapping) else None
    if not isinstance(keys, list):
        raise _bad_keys(f"the JWK Set of {issuer} has no \"keys\" array")
    if len(keys) > MAX_KEYS:
        raise _bad_keys(f"the JWK Set of {issuer} has {len(keys)} keys; at most {MAX_KEYS} "
                        "are read")
    usable = tuple(
        dict(key) for key in keys
        if isinstance(key, Mapping) and key.get("kty") in _KEY_TYPES
        and key.get("use", "sig") == "sig" and isinstance(key.get("kid", ""), str))
    if not usable:
        raise _bad_keys(f"the JWK Set of {issuer} has no RSA or EC signature key",
                        hint="publish the public keys as JWKs with kty RSA or EC")
    return usable


def select(keys: tuple[Jwk, ...], kid: str | None) -> tuple[Jwk, ...]:
    """The keys a token may be verified with: the one its ``kid`` names, or every key when
    it names none."""
    if kid is None:
        return keys
    return tuple(key for key in keys if key.get("kid") == kid)


@dataclass(frozen=True)
class _Kept:
    keys: tuple[Jwk, ...]
    fetched: dt.datetime


#: How long (real seconds) a failed fetch is answered again without fetching.
FAILURE_SECONDS: Final = 5.0


@dataclass(frozen=True)
class _Failed:
    error: InvalidIdentityToken | IDPCommunicationError
    until: float
    """``time.monotonic()`` until which the failure stands."""


class _LoopbackConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to one already-checked loopback address: the URL's host is what
    the ``Host`` header and TLS name, the address is where it connects (no name lookup)."""

    def __init__(self, host: str, port: int, address: str, timeout: float,
                 tls: ssl.SSLContext | None) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address
        self._tls = tls

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.raw = sock
        if self._tls is not None:
            sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        self.sock = sock

    raw: socket.socket | None = None
    """The connected socket, kept after ``getresponse`` hands it to the response."""

    def shut(self) -> None:
        """Stop the exchange now: a blocked read returns at once (from any thread)."""
        if self.raw is not None:
            with contextlib.suppress(OSError):
                self.raw.shutdown(socket.SHUT_RDWR)


class IssuerKeys:
    """The JWK Sets of OIDC issuers (see the module docstring). Safe across threads."""

    def __init__(self, clock: Clock, local: Mapping[str, Callable[[], Mapping[str, Any]]], *,
                 timeout: float = DEFAULT_TIMEOUT, max_bytes: int = DEFAULT_MAX_BYTES,
                 ttl: int = DEFAULT_TTL, refetch_after: int = DEFAULT_REFETCH_AFTER,
                 tls: ssl.SSLContext | None = None) -> None:
        self.clock = clock
        self.local = dict(local)
        """Issuers answered in process (``iss`` → its current JWK Set)."""
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.ttl = dt.timedelta(seconds=ttl)
        self.refetch_after = dt.timedelta(seconds=refetch_after)
        self._tls = tls
        self._lock = threading.Lock()
        self._issuer_locks: dict[str, threading.Lock] = {}
        self._kept: dict[str, _Kept] = {}
        self._failed: dict[str, _Failed] = {}

    # --- reading --------------------------------------------------------------------------

    def keys(self, issuer: str, kid: str | None = None) -> tuple[Jwk, ...]:
        """The keys of ``issuer`` a token with ``kid`` may be verified with (possibly none:
        the caller says the key is unknown). Raises ``InvalidIdentityToken`` or
        ``IDPCommunicationError`` when the key set cannot be had."""
        local = self.local.get(issuer)
        if local is not None:
            return select(signing_keys(local(), issuer), kid)
        lock = self._issuer_lock(issuer)
        # Real time: how long this thread may wait for another's fetch (operational, like the
        # sockets' timeouts; the simulated clock has nothing to say about it).
        if not lock.acquire(timeout=self.timeout):
            raise _unreachable(f"the keys of {issuer[:200]} are being fetched by another "
                               f"request, which has not finished within {self.timeout:g} s")
        try:
            failed = self._failed.get(issuer)
            if failed is not None and time.monotonic() < failed.until:
                raise failed.error
            now = self.clock.now()
            kept = self._kept.get(issuer)
            if kept is None or not kept.fetched <= now < kept.fetched + self.ttl:
                kept = self._refresh(issuer, now)
            found = select(kept.keys, kid)
            if not found and kid is not None and now - kept.fetched >= self.refetch_after:
                found = select(self._refresh(issuer, now).keys, kid)
            return found
        finally:
            lock.release()

    def forget(self, issuer: str | None = None) -> None:
        """Drop the kept key set of ``issuer`` (``None``: of every issuer)."""
        with self._lock:
            if issuer is None:
                self._kept.clear()
                self._failed.clear()
            else:
                self._kept.pop(issuer, None)
                self._failed.pop(issuer, None)

    def _issuer_lock(self, issuer: str) -> threading.Lock:
        with self._lock:
            lock = self._issuer_locks.get(issuer)
            if lock is None:
                if len(self._issuer_locks) >= MAX_ISSUERS:
                    # Forget an idle issuer (its lock free) rather than grow without bound.
                    for name, old in list(self._issuer_locks.items()):
                        if not old.locked():
                            del self._issuer_locks[name]
                            self._kept.pop(name, None)
                            self._failed.pop(name, None)
                            break
                lock = self._issuer_locks[issuer] = threading.Lock()
            return lock

    def _refresh(self, issuer: str, now: dt.datetime) -> _Kept:
        try:
            keys = self._fetch_keys(issuer, time.monotonic() + self.timeout)
        except (InvalidIdentityToken, IDPCommunicationError) as exc:
            with self._lock:
                self._failed[issuer] = _Failed(exc, time.monotonic() + FAILURE_SECONDS)
            raise
        kept = _Kept(keys=keys, fetched=now)
        with self._lock:
            self._kept[issuer] = kept
            self._failed.pop(issuer, None)
        return kept

    # --- fetching -------------------------------------------------------------------------

    def _fetch_keys(self, issuer: str, deadline: float) -> tuple[Jwk, ...]:
        """Discovery, then the JWK Set (OpenID Connect Discovery 1.0 §4), all before
        ``deadline`` (``time.monotonic()``)."""
        parts = _split(issuer)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise _bad_keys(f"the issuer {issuer} is not an https:// URL")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise _bad_keys(f"the issuer {issuer} has a query, fragment or user name "
                            "(OpenID Connect Discovery 1.0 §3: an issuer has none)")
        self._check_host(parts.hostname, issuer, "issuer")
        discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        discovery = _strict_json(self._get(discovery_url, deadline), f"the discovery document "
                                 f"{discovery_url}")
        named = discovery.get("issuer")
        if named != issuer:
            shown = named[:200] if isinstance(named, str) else f"a {type(named).__name__}"
            raise _bad_keys(f"the discovery document {discovery_url} names the issuer "
                            f"{shown!r}, not the token's "
                            f"{issuer!r} (OpenID Connect Discovery 1.0 §4.3: they must be "
                            "identical)")
        jwks_uri = discovery.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri:
            raise _bad_keys(f"the discovery document {discovery_url} has no jwks_uri")
        return signing_keys(_strict_json(self._get(jwks_uri, deadline),
                                         f"the JWK Set {jwks_uri[:200]}"), issuer)

    def _check_host(self, host: str, url: str, what: str) -> None:
        if not is_loopback_host(host):
            raise _bad_keys(
                f"the {what} {url[:200]} is not on this machine: this offline simulator "
                "fetches keys only from loopback hosts (127.0.0.0/8, ::1, localhost) and "
                "refuses every other host without connecting", hint=_OFFLINE_HINT)

    def _get(self, url: str, deadline: float) -> bytes:
        """GET ``url`` (loopback only, redirects too), the body bounded in time and size."""
        for _ in range(MAX_REDIRECTS + 1):
            parts = _split(url)
            if parts.scheme not in ("https", "http") or not parts.hostname:
                raise _bad_keys(f"{url[:200]} is not an http(s) URL")
            self._check_host(parts.hostname, url, "URL")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            status, location, body = self._exchange(parts.scheme, parts.hostname, port,
                                                    target, url, deadline)
            if status in _REDIRECTS and location:
                try:
                    url = urljoin(url, location)
                except ValueError:
                    raise _bad_keys(f"{url[:200]} redirects to {location[:200]!r}, no URL") \
                        from None
                continue
            if status >= 500:
                raise _unreachable(f"{url[:200]} answered HTTP {status}")
            if status != 200:
                raise _bad_keys(f"{url[:200]} answered HTTP {status}, not 200")
            return body
        raise _bad_keys(f"more than {MAX_REDIRECTS} redirects from {url[:200]}")

    def _exchange(self, scheme: str, host: str, port: int, target: str,
                  url: str, deadline: float) -> tuple[int, str | None, bytes]:
        """One request; the connection is shut at ``deadline``, whatever it is doing (a
        server that sends one byte a second cannot hold the thread)."""
        tls = None
        if scheme == "https":
            tls = self._tls if self._tls is not None else ssl.create_default_context()
        # An address literal is connected to as the address it is (``127.0.0.1.`` would
        # otherwise go to the resolver as a name).
        addresses = _LOCALHOST_ADDRESSES if host.lower().rstrip(".").endswith(
            "localhost") else (str(ipaddress.ip_address(host.strip("[]").rstrip("."))),)
        last: OSError | None = None
        for address in addresses:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise _unreachable(f"{url[:200]}: the keys were not fetched within "
                                   f"{self.timeout:g} s")
            connection = _LoopbackConnection(host, port, address, remaining, tls)
            expired = threading.Event()

            def shut(conn: _LoopbackConnection = connection,
                     flag: threading.Event = expired) -> None:
                flag.set()
                conn.shut()

            timer = threading.Timer(remaining, shut)
            timer.daemon = True
            timer.start()
            response: http.client.HTTPResponse | None = None
            try:
                connection.request("GET", target, headers={
                    "Accept": "application/json", "User-Agent": "idp-simulator-sts"})
                response = connection.getresponse()
                body = self._body(response, url)
                if expired.is_set():  # shut mid-body: what came looks complete to http.client
                    raise TimeoutError
                if response.length:  # the peer closed before Content-Length was reached
                    raise http.client.IncompleteRead(body, response.length)
                return response.status, response.getheader("Location"), body
            except ConnectionRefusedError as exc:
                last = exc
                continue
            except http.client.InvalidURL as exc:
                raise _bad_keys(f"{url[:200]!r} is no URL to request: {exc}") from None
            except ssl.SSLCertVerificationError as exc:
                raise _bad_keys(f"{url[:200]}: the TLS certificate is not trusted "
                                f"({exc.verify_message})") from None
            except (OSError, http.client.HTTPException) as exc:
                if expired.is_set() or isinstance(exc, TimeoutError):
                    raise _unreachable(f"{url[:200]} did not answer within "
                                       f"{self.timeout:g} s") from None
                raise _unreachable(f"{url[:200]}: {type(exc).__name__}: "
                                   f"{str(exc)[:200]}") from None
            finally:
                timer.cancel()
                if response is not None:
                    response.close()
                connection.close()
        raise _unreachable(f"{url[:200]}: connection refused ({last})")

    def _body(self, response: http.client.HTTPResponse, url: str) -> bytes:
        declared = response.getheader("Content-Length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            raise _bad_keys(f"{url[:200]} sends {declared} bytes, more than "
                            f"{self.max_bytes} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = response.read1(_READ_CHUNK)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self.max_bytes:
                raise _bad_keys(f"{url[:200]} sends more than {self.max_bytes} bytes")
            chunks.append(chunk)
