"""``POST /aws/sts`` (and ``/aws/sts/``): the AWS Query protocol, API version 2011-06-15.

boto3 and the AWS CLI talk to it unchanged with ``endpoint_url``. Every answer is XML with an
``x-amzn-RequestId`` header; errors are ``ErrorResponse`` documents with 4xx statuses (never
5xx for bad input: botocore retries those).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Final
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idp.aws import wire
from idp.aws.errors import (
    AwsError,
    InternalFailure,
    InvalidAction,
    MalformedQueryString,
    MissingAction,
    RequestTimeout,
    RequestTooLarge,
)
from idp.aws.params import assume_role_params
from idp.aws.sigv4 import SignedRequest
from idp.exchanges import ExchangeKind, decode_message
from idp.web.body import BodyTimeout, BodyTooLarge, ClientGone, read_body
from idp.web.state import services

__all__ = ["routes"]

log = logging.getLogger("idp.sts")

API_VERSION: Final = "2011-06-15"
#: A base64 SAMLAssertion is at most 100,000 characters; leave room for the other fields.
MAX_BODY_BYTES: Final = 256 * 1024


def _xml(body: bytes, request_id: str, status: int = 200) -> Response:
    return Response(body, status_code=status, media_type="text/xml",
                    headers={"x-amzn-RequestId": request_id})


async def _params(request: Request) -> tuple[dict[str, str], bytes]:
    try:
        body = await read_body(request, max_bytes=MAX_BODY_BYTES)
    except BodyTooLarge:
        raise RequestTooLarge(f"Request body is larger than {MAX_BODY_BYTES} bytes") from None
    except BodyTimeout as exc:
        raise RequestTimeout(detail=str(exc)) from None
    try:
        pairs = parse_qsl(request.url.query, keep_blank_values=True, strict_parsing=False)
        if body:
            pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                               strict_parsing=False)
    except UnicodeDecodeError:
        raise MalformedQueryString("The request body is not UTF-8 form data") from None
    params: dict[str, str] = {}
    for name, value in pairs:
        params.setdefault(name, value)
    return params, body


def _assume_role_with_saml(request: Request, params: Mapping[str, str], body: bytes) -> bytes:
    state = services(request)
    message = decode_message(params.get("SAMLAssertion"))
    facts = {"role": params.get("RoleArn") or "", "provider": params.get("PrincipalArn") or ""}
    try:
        result = state.sts.assume_role_with_saml(params)
    except AwsError as exc:
        state.exchanges.decision(
            ExchangeKind.STS, message=message, rule=exc.rule or exc.code,
            found=exc.detail or exc.message,
            facts={**facts, "code": exc.code, "message": exc.message})
        raise
    state.exchanges.decision(ExchangeKind.STS, message=message, facts={
        **facts, "assumed_role": result.claims.assumed_role_arn,
        "access_key_id": result.credentials.access_key_id,
        "subject": result.subject})
    return wire.assume_role_with_saml_response(result, request.state.request_id)


def _signed(request: Request, body: bytes) -> SignedRequest:
    return SignedRequest(method=request.method, url=str(request.url),
                         headers=list(request.headers.items()), body=body)


def _get_caller_identity(request: Request, params: Mapping[str, str], body: bytes) -> bytes:
    caller = services(request).sts.get_caller_identity(_signed(request, body))
    return wire.caller_identity_response(caller, request.state.request_id)


def _assume_role(request: Request, params: Mapping[str, str], body: bytes) -> bytes:
    state = services(request)
    facts = {"role": params.get("RoleArn") or "", "session": params.get("RoleSessionName") or "",
             "caller": ""}
    try:
        caller = state.callers.authenticate(_signed(request, body), service="sts")
        facts["caller"] = caller.arn
        assumed = state.roles.assume_role(caller, assume_role_params(params))
    except AwsError as exc:
        state.exchanges.decision(
            ExchangeKind.STS, message=None, rule=exc.rule or exc.code,
            found=exc.detail or exc.message,
            facts={**facts, "code": exc.code, "message": exc.message})
        raise
    state.exchanges.decision(ExchangeKind.STS, message=None, facts={
        **facts, "assumed_role": assumed.caller.arn,
        "access_key_id": assumed.credentials.access_key_id})
    return wire.assume_role_response(assumed.credentials, assumed.caller,
                                     assumed.packed_policy_size, request.state.request_id)


def _get_session_token(request: Request, params: Mapping[str, str], body: bytes) -> bytes:
    issued = services(request).sts.get_session_token(_signed(request, body), params)
    return wire.get_session_token_response(issued.credentials, request.state.request_id)


def _get_access_key_info(request: Request, params: Mapping[str, str], body: bytes) -> bytes:
    account = services(request).sts.get_access_key_info(_signed(request, body), params)
    return wire.get_access_key_info_response(account, request.state.request_id)


_ACTIONS = {
    "AssumeRole": _assume_role,
    "AssumeRoleWithSAML": _assume_role_with_saml,
    "GetAccessKeyInfo": _get_access_key_info,
    "GetCallerIdentity": _get_caller_identity,
    "GetSessionToken": _get_session_token,
}


async def sts(request: Request) -> Response:
    request_id = wire.new_request_id()
    request.state.request_id = request_id
    try:
        params, body = await _params(request)
        action = params.get("Action")
        if not action:
            raise MissingAction("Could not find operation: request has no Action")
        if params.get("Version", API_VERSION) != API_VERSION:
            raise InvalidAction(f"Could not find operation {action} for version "
                                f"{params.get('Version')}")
        handler = _ACTIONS.get(action)
        if handler is None:
            raise InvalidAction(f"Could not find operation {action} for version {API_VERSION}")
        return _xml(handler(request, params, body), request_id)
    except AwsError as exc:
        if exc.detail:
            log.info("STS %s refused: %s (%s)", exc.code, exc.message, exc.detail)
        return _xml(wire.error_response(exc, request_id), request_id, exc.http_status)
    except ClientGone:  # nobody to answer: the app's handler logs one line
        raise
    except Exception:  # a bug: still answer as AWS does, never with an HTML page
        log.exception("STS request %s failed", request_id)
        failure = InternalFailure()
        return _xml(wire.error_response(failure, request_id), request_id, failure.http_status)


def routes() -> list[Route]:
    return [
        Route("/aws/sts", sts, methods=["GET", "POST"], name="sts"),
        Route("/aws/sts/", sts, methods=["GET", "POST"], name="sts_slash"),
    ]
