"""The AWS Query protocol's plumbing for a route: parameters in, XML out, errors as AWS sends.

``run_query`` is one Query endpoint (``POST``/``GET`` ``/aws/sts``, ``/aws/iam``): it gives
the request an ID, reads the body (bounded while it streams, ``idp.web.body.read_body``) and
the query string into parameters (the first value of a repeated name wins), checks
``Action`` and ``Version``, calls the API's handler, and answers ``text/xml`` with an
``x-amzn-RequestId`` header. Errors are ``ErrorResponse`` documents with 4xx statuses, never
an HTML page and never a 5xx for bad input (botocore retries 5xx); a bug still answers AWS's
``InternalFailure`` shape (Smithy "AWS query protocol", operation error serialization).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from idp.aws.errors import (
    AwsError,
    InternalFailure,
    InvalidAction,
    MalformedQueryString,
    MissingAction,
    RequestTimeout,
    RequestTooLarge,
    ServiceUnavailable,
)
from idp.aws.principals import Caller
from idp.aws.sigv4 import SignedRequest
from idp.errors import StoreError
from idp.web.body import BodyTimeout, BodyTooLarge, ClientGone, read_body

__all__ = ["QueryApi", "QueryRequest", "parse_query", "run_query", "signed_request",
           "xml_response"]


@dataclass(frozen=True)
class QueryRequest:
    """One Query request: its parameters, raw body (for SigV4), request ID and, for an API
    whose every operation is signed, the caller the signature proved."""

    request: Request
    params: dict[str, str]
    body: bytes
    request_id: str
    caller: Caller | None = None

    @property
    def action(self) -> str:
        return self.params["Action"]

    def signed(self) -> SignedRequest:
        """The request as SigV4 checks it (the URL and headers as received)."""
        return signed_request(self.request, self.body)


def signed_request(request: Request, body: bytes) -> SignedRequest:
    return SignedRequest(method=request.method, url=str(request.url),
                         headers=list(request.headers.items()), body=body)


@dataclass(frozen=True)
class QueryApi:
    """What differs between Query APIs: the name in the log, the version (``None`` default:
    required), the body limit, the operation handler (the XML body of a success), the
    ``ErrorResponse`` writer, and for an API whose every operation is signed, how to
    authenticate: then the signature is checked before the body is parsed, so an unsigned
    request costs a hash of its body, not a parse of it."""

    name: str
    version: str
    max_body_bytes: int
    handle: Callable[[QueryRequest], bytes]
    error_document: Callable[[AwsError, str], bytes]
    log: logging.Logger
    authenticate: Callable[[Request, SignedRequest], Caller] | None = None
    version_optional: bool = False


def xml_response(body: bytes, request_id: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="text/xml",
                    headers={"x-amzn-RequestId": request_id})


def parse_query(query: str, body: bytes) -> dict[str, str]:
    """The query string's and the form body's parameters (the first of a repeated name)."""
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=False)
        if body:
            pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                               strict_parsing=False)
    except UnicodeDecodeError:
        raise MalformedQueryString("The request body is not UTF-8 form data") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)
    return params


async def _read(request: Request, max_bytes: int) -> bytes:
    try:
        return await read_body(request, max_bytes=max_bytes)
    except BodyTooLarge:
        raise RequestTooLarge(f"Request body is larger than {max_bytes} bytes") from None
    except BodyTimeout as exc:
        raise RequestTimeout(detail=str(exc)) from None


def _answer(request: Request, api: QueryApi, body: bytes, request_id: str) -> bytes:
    """Authenticate (if the API says so), parse, dispatch: off the event loop."""
    caller = (api.authenticate(request, signed_request(request, body))
              if api.authenticate is not None else None)
    params = parse_query(request.url.query, body)
    action = params.get("Action")
    if not action:
        raise MissingAction("Could not find operation: request has no Action")
    version = params.get("Version", api.version if api.version_optional else None)
    if version != api.version:
        raise InvalidAction(f"Could not find operation {action} for version {version}",
                            detail=f"{api.name} answers Version={api.version}")
    return api.handle(QueryRequest(request=request, params=params, body=body,
                                   request_id=request_id, caller=caller))


async def run_query(request: Request, api: QueryApi) -> Response:
    """Answer one request to ``api``'s endpoint. Everything after reading the body runs in
    the thread pool: a large body, a signature over it or a state change never holds the
    event loop (other connections keep being served)."""
    request_id = str(uuid.uuid4())
    request.state.request_id = request_id
    try:
        body = await _read(request, api.max_body_bytes)
        return xml_response(await run_in_threadpool(_answer, request, api, body, request_id),
                            request_id)
    except AwsError as exc:
        api.log.info("%s %s refused: %s: %s%s", api.name, request_id, exc.code, exc.message,
                     f" ({exc.detail})" if exc.detail else "")
        return xml_response(api.error_document(exc, request_id), request_id, exc.http_status)
    except StoreError as exc:
        api.log.error("%s %s: %s", api.name, request_id, exc)
        unavailable = ServiceUnavailable(detail=str(exc))
        return xml_response(api.error_document(unavailable, request_id), request_id,
                            unavailable.http_status)
    except ClientGone:  # nobody to answer: the app's handler logs one line
        raise
    except Exception:  # a bug: still answer as AWS does, never with an HTML page
        api.log.exception("%s request %s failed", api.name, request_id)
        failure = InternalFailure()
        return xml_response(api.error_document(failure, request_id), request_id,
                            failure.http_status)
