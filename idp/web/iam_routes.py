"""``POST /aws/iam`` (and ``/aws/iam/``): the IAM Query API, version 2010-05-08.

boto3's ``iam`` client with ``endpoint_url=BASE/aws/iam`` and ``aws iam … --endpoint-url``
work unchanged. Each request is SigV4-verified for the ``iam`` service
(``Callers.authenticate``: ``InvalidClientTokenId``, ``SignatureDoesNotMatch``…), then
``IamApi.call`` authorizes and runs the operation on the caller's account.
"""

from __future__ import annotations

import logging
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idp.aws.iam import wire
from idp.aws.iam.api import API_VERSION
from idp.aws.iam.metadata import MAX_METADATA_CHARS
from idp.aws.principals import Caller
from idp.aws.sigv4 import SignedRequest
from idp.web.aws_query import QueryApi, QueryRequest, run_query
from idp.web.state import services

__all__ = ["MAX_BODY_BYTES", "routes"]

log = logging.getLogger("idp.iam")

#: A ``SAMLMetadataDocument`` may be 10,000,000 characters (IAM API Reference); URL-encoded,
#: markup characters take three bytes each. This leaves room for a full-size document.
MAX_BODY_BYTES: Final = 4 * MAX_METADATA_CHARS


def _authenticate(request: Request, signed: SignedRequest) -> Caller:
    return services(request).callers.authenticate(signed, service="iam")


def _handle(query: QueryRequest) -> bytes:
    assert query.caller is not None  # every IAM operation is signed (QueryApi.authenticate)
    result = services(query.request).iam_api.call(query.action, query.params, query.caller)
    return wire.response(result, query.request_id)


_API: Final = QueryApi(name="IAM", version=API_VERSION, max_body_bytes=MAX_BODY_BYTES,
                       handle=_handle, error_document=wire.error_response, log=log,
                       authenticate=_authenticate)


async def iam(request: Request) -> Response:
    return await run_query(request, _API)


def routes() -> list[Route]:
    return [
        Route("/aws/iam", iam, methods=["GET", "POST"], name="iam"),
        Route("/aws/iam/", iam, methods=["GET", "POST"], name="iam_slash"),
    ]
