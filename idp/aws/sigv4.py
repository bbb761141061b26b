"""Verify an incoming Signature Version 4 request (header form) with botocore's own signer.

AWS General Reference, "Signature Version 4 signing process": the client sends::

    Authorization: AWS4-HMAC-SHA256 Credential=AKID/YYYYMMDD/REGION/SERVICE/aws4_request,
                   SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=<64 hex>
    X-Amz-Date: YYYYMMDDTHHMMSSZ          (or an RFC 7231 ``Date`` header)
    X-Amz-Security-Token: <session token> (temporary ``ASIA`` keys)

We never re-implement the HMAC chain: botocore's ``SigV4Auth`` recomputes the signature over the
same canonical request (method, path as sent, query, the headers named in ``SignedHeaders`` and
nothing else, SHA-256 of the body), with the secret recomputed from the access key ID. Checks
run in the order AWS reports them: missing header, malformed header, request time (±15 min),
the security token, its expiry, then the signature. Query-string (presigned) authentication is
refused with ``IncompleteSignature``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import functools
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import parse_qsl, urlsplit

from idp.aws.credentials import CredentialIssuer, SessionClaims
from idp.aws.errors import (
    IncompleteSignature,
    InvalidClientTokenId,
    MalformedQueryString,
    MissingAuthenticationToken,
    SignatureDoesNotMatch,
)
from idp.aws.regions import is_region
from idp.clock import Clock, wall_clock

__all__ = [
    "MAX_CLOCK_SKEW",
    "SigV4Authorization",
    "SignedRequest",
    "authenticate_request",
    "parse_authorization",
    "verify_request",
]

T = TypeVar("T")

#: AWS refuses a signed request whose time is more than 15 minutes from its own.
MAX_CLOCK_SKEW: Final = dt.timedelta(minutes=15)
ALGORITHM: Final = "AWS4-HMAC-SHA256"
SIGV4_TIMESTAMP: Final = "%Y%m%dT%H%M%SZ"

_HEX64: Final = re.compile(r"^[0-9a-f]{64}$")
_TIMESTAMP_RE: Final = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
_PRESIGN_PARAMS: Final = frozenset({"x-amz-algorithm", "x-amz-credential", "x-amz-signature"})


@dataclass(frozen=True)
class SignedRequest:
    """An HTTP request as received, for signature checking.

    ``url`` is ``scheme://host[:port]/path?query`` with the path still percent-encoded as
    sent (``/aws/sts`` and ``/aws/sts/`` sign differently); ``headers`` are all request headers
    in arrival order (repeats allowed).
    """

    method: str
    url: str
    headers: Sequence[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class SigV4Authorization:
    """The parts of an ``Authorization: AWS4-HMAC-SHA256 …`` header."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


@functools.cache
def _signer() -> tuple[Any, Any, Any]:
    """botocore's pieces (a signer restricted to the listed headers, ``AWSRequest``,
    ``Credentials``), imported on the first signed request: ``botocore.auth`` costs about
    70 ms of start-up that most uses of the simulator never need."""
    from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
    from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
    from botocore.compat import HTTPHeaders  # type: ignore[import-untyped]
    from botocore.credentials import Credentials  # type: ignore[import-untyped]

    class ListedHeadersSigV4(SigV4Auth):  # type: ignore[misc]
        """botocore's signer, restricted to exactly the headers the client listed as signed.

        Stock ``SigV4Auth`` picks the headers itself (all but a blacklist, plus ``host``); a
        verifier must use the client's ``SignedHeaders`` and no others.
        """

        def __init__(self, credentials: Any, service: str, region: str,
                     signed: tuple[str, ...]) -> None:
            super().__init__(credentials, service, region)
            self._signed = signed

        def headers_to_sign(self, request: Any) -> Any:
            header_map = HTTPHeaders()
            for name in self._signed:
                for value in request.headers.get_all(name, []):
                    header_map[name] = value
            return header_map

    return ListedHeadersSigV4, AWSRequest, Credentials


def parse_authorization(value: str) -> SigV4Authorization:
    """Split a SigV4 ``Authorization`` header; ``IncompleteSignature`` says what is missing."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise IncompleteSignature(
            f"Unsupported AWS 'algorithm': '{algorithm}'. Only {ALGORITHM} is supported "
            "(Signature Version 4)."
        )
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            parts[key.strip()] = val.strip()
    problems = [f"Authorization header requires '{name}' parameter."
                for name in ("Credential", "Signature", "SignedHeaders") if not parts.get(name)]
    if problems:
        raise IncompleteSignature(" ".join(problems) + f" Authorization={value}")
    scope = parts["Credential"].split("/")
    if len(scope) != 5 or scope[4] != "aws4_request" or not all(scope):
        raise IncompleteSignature(
            "Authorization header requires 'Credential' parameter in the form "
            f"AKID/YYYYMMDD/REGION/SERVICE/aws4_request. Authorization={value}"
        )
    signature = parts["Signature"]
    if not _HEX64.fullmatch(signature):
        raise IncompleteSignature(
            f"Signature must be 64 lower-case hex characters. Authorization={value}")
    signed = tuple(name.strip().lower() for name in parts["SignedHeaders"].split(";"))
    if any(not name for name in signed):
        raise IncompleteSignature(
            f"SignedHeaders has an empty header name. Authorization={value}")
    return SigV4Authorization(
        access_key_id=scope[0], date=scope[1], region=scope[2], service=scope[3],
        signed_headers=signed, signature=signature,
    )


def _request_time(headers: dict[str, list[str]], authorization: str) -> tuple[dt.datetime, str]:
    """The signing time from ``X-Amz-Date`` (preferred) or ``Date``, and its SigV4 form."""
    if "x-amz-date" in headers:
        text = headers["x-amz-date"][0].strip()
        if not _TIMESTAMP_RE.fullmatch(text):
            raise IncompleteSignature(
                f"X-Amz-Date must be in the ISO8601 basic format; got '{text}'.")
        try:
            when = dt.datetime.strptime(text, SIGV4_TIMESTAMP).replace(tzinfo=dt.UTC)
        except ValueError as exc:
            raise IncompleteSignature(f"X-Amz-Date is not a valid time: '{text}'.") from exc
        return when, text
    if "date" in headers:
        try:
            when = email.utils.parsedate_to_datetime(headers["date"][0])
            if when.tzinfo is None:
                when = when.replace(tzinfo=dt.UTC)
            when = when.astimezone(dt.UTC)  # OverflowError past year 9999 (found by fuzzing)
        except (TypeError, ValueError, OverflowError) as exc:
            raise IncompleteSignature(
                f"Date header is not a valid HTTP date: '{headers['date'][0]}'.") from exc
        return when, when.strftime(SIGV4_TIMESTAMP)
    raise IncompleteSignature(
        "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        f"Authorization={authorization}"
    )


def _check_skew(when: dt.datetime, now: dt.datetime) -> None:
    def fmt(t: dt.datetime) -> str:
        return t.astimezone(dt.UTC).strftime(SIGV4_TIMESTAMP)

    if when < now - MAX_CLOCK_SKEW:
        raise SignatureDoesNotMatch(f"Signature expired: {fmt(when)} is now earlier than "
                        f"{fmt(now - MAX_CLOCK_SKEW)} ({fmt(now)} - 15 min.)")
    if when > now + MAX_CLOCK_SKEW:
        raise SignatureDoesNotMatch(f"Signature not yet current: {fmt(when)} is still later than "
                        f"{fmt(now + MAX_CLOCK_SKEW)} ({fmt(now)} + 15 min.)")


def verify_request(
    request: SignedRequest,
    *,
    credentials: CredentialIssuer,
    clock: Clock,
    service: str = "sts",
) -> SessionClaims:
    """Check a SigV4 header-signed request made with temporary credentials and return the
    caller's session claims (``authenticate_request`` with only ``ASIA`` keys known).

    Raises ``MissingAuthenticationToken``, ``IncompleteSignature``, ``SignatureDoesNotMatch``
    (wrong signature, scope (service, or a Region that does not exist: ``idp.aws.regions``),
    or time more than 15 minutes off), ``InvalidClientTokenId`` or
    ``ExpiredToken``.
    """

    def temporary(access_key_id: str, token: str | None) -> tuple[str, SessionClaims]:
        if not access_key_id.startswith("ASIA") or token is None:
            # A temporary key is meaningless without its token.
            raise InvalidClientTokenId()
        claims = credentials.resolve(access_key_id, token)
        return credentials.secret_for(access_key_id), claims

    return authenticate_request(request, clock=clock, service=service, lookup=temporary)


def authenticate_request(
    request: SignedRequest,
    *,
    clock: Clock,
    service: str,
    lookup: Callable[[str, str | None], tuple[str, T]],
) -> T:
    """Check a SigV4 header-signed request; ``lookup(access_key_id, session_token)`` returns
    the key's secret and whatever the key stands for (or raises ``InvalidClientTokenId`` /
    ``ExpiredToken``), which is returned once the signature matches.

    Checks run in the order AWS reports them: missing or malformed header, time, scope
    (service, Region), skew, the key and token (``lookup``), the signature.
    """
    method, url, headers, body = request.method, request.url, request.headers, request.body
    by_name: dict[str, list[str]] = {}
    for name, value in headers:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # Only a direct caller can pass a lone surrogate (HTTP headers are bytes); botocore's
            # header map would turn it into an email Header object and fail on it.
            raise IncompleteSignature(f"the {name!r} header is not text") from None
        by_name.setdefault(name.lower(), []).append(value)
    try:
        parts = urlsplit(url)  # a Host header such as "[" makes the URL unparseable
    except ValueError:
        raise MalformedQueryString("The request URL cannot be parsed") from None

    if "authorization" not in by_name:
        query = {k.lower() for k, _ in parse_qsl(parts.query, keep_blank_values=True)}
        if query & _PRESIGN_PARAMS:
            raise IncompleteSignature(
                "Query-string (presigned) authentication is not supported here; "
                "sign the request with an Authorization header.")
        raise MissingAuthenticationToken()
    authorization_value = by_name["authorization"][0]
    auth = parse_authorization(authorization_value)
    when, timestamp = _request_time(by_name, authorization_value)

    if auth.date != timestamp[:8]:
        raise SignatureDoesNotMatch(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{auth.date}' != '{timestamp[:8]}', from '{timestamp}'."
        )
    if auth.service != service:
        raise SignatureDoesNotMatch(
            f"Credential should be scoped to correct service: '{service}'. ")
    if not is_region(auth.region):
        raise SignatureDoesNotMatch(
            f"Credential should be scoped to a valid region, not '{auth.region}'. ")
    if "host" not in auth.signed_headers:
        raise SignatureDoesNotMatch("'Host' must be a signed header.")
    # The request's time is the client's clock, which the simulated clock does not move
    # (boto3 signs with real time): compare it with real time. Credential expiry (resolve)
    # follows the simulated clock.
    _check_skew(when, wall_clock(clock).now())

    token = (by_name["x-amz-security-token"][0].strip()
             if "x-amz-security-token" in by_name else None)
    secret, identity = lookup(auth.access_key_id, token)

    if "x-amz-content-sha256" in auth.signed_headers:
        declared = by_name.get("x-amz-content-sha256", [""])[0].strip()
        # A signed but false body hash would let the body change under a valid signature.
        if declared != hashlib.sha256(body).hexdigest():
            raise SignatureDoesNotMatch()

    signer_class, aws_request, botocore_credentials = _signer()
    botocore_request = aws_request(method=method.upper(), url=url, data=body)
    for name in auth.signed_headers:
        for value in by_name.get(name, []):
            botocore_request.headers[name] = value
    botocore_request.context["timestamp"] = timestamp
    signer = signer_class(
        botocore_credentials(auth.access_key_id, secret, token),
        auth.service, auth.region, auth.signed_headers,
    )
    try:
        canonical = str(signer.canonical_request(botocore_request))
        expected = str(signer.signature(signer.string_to_sign(botocore_request, canonical),
                                        botocore_request))
    except ValueError:  # e.g. UnicodeEncodeError: a path botocore cannot percent-encode
        raise SignatureDoesNotMatch() from None
    if not hmac.compare_digest(expected.encode("ascii"), auth.signature.encode("ascii")):
        raise SignatureDoesNotMatch()
    return identity
