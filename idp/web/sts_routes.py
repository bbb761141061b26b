"""``POST /aws/sts`` (and ``/aws/sts/``): the AWS Query protocol, API version 2011-06-15.

boto3 and the AWS CLI talk to it unchanged with ``endpoint_url``. Every answer is XML with an
``x-amzn-RequestId`` header; errors are ``ErrorResponse`` documents with 4xx statuses (never
5xx for bad input: botocore retries those). The Query plumbing is ``idp.web.aws_query``;
``AssumeRoleWithSAML`` and ``AssumeRoleWithWebIdentity`` are unsigned (as in AWS: botocore
sends them without ``Authorization``), every other operation is SigV4-signed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Final, TypeVar

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idp.aws import wire
from idp.aws.assume_role import AssumedRole
from idp.aws.errors import AwsError, InvalidAction
from idp.aws.params import assume_role_params
from idp.aws.web_identity import token_summary
from idp.exchanges import ExchangeKind, decode_message
from idp.web.aws_query import QueryApi, QueryRequest, run_query
from idp.web.state import services

__all__ = ["routes"]

log = logging.getLogger("idp.sts")

API_VERSION: Final = "2011-06-15"
#: A base64 SAMLAssertion is at most 100,000 characters; leave room for the other fields.
MAX_BODY_BYTES: Final = 256 * 1024


T = TypeVar("T")


def _decided(query: QueryRequest, kind: ExchangeKind, message: bytes | None,
             facts: dict[str, str], decide: Callable[[], T],
             accepted: Callable[[T], dict[str, str]]) -> T:
    """Run ``decide`` and record the decision in the exchange log: AWS's code and message
    with the rule that refused, or what was issued (``accepted``)."""
    log_ = services(query.request).exchanges
    try:
        result = decide()
    except AwsError as exc:
        log_.decision(kind, message=message, rule=exc.rule or exc.code,
                      found=exc.detail or exc.message,
                      facts={**facts, "code": exc.code, "message": exc.message})
        raise
    log_.decision(kind, message=message, facts={**facts, **accepted(result)})
    return result


def _assume_role_with_saml(query: QueryRequest) -> bytes:
    state, params = services(query.request), query.params
    result = _decided(
        query, ExchangeKind.STS, decode_message(params.get("SAMLAssertion")),
        {"role": params.get("RoleArn") or "", "provider": params.get("PrincipalArn") or ""},
        lambda: state.sts.assume_role_with_saml(params),
        lambda done: {"assumed_role": done.claims.assumed_role_arn,
                      "access_key_id": done.credentials.access_key_id,
                      "subject": done.subject})
    return wire.assume_role_with_saml_response(result, query.request_id)


def _assume_role_with_web_identity(query: QueryRequest) -> bytes:
    state, params = services(query.request), query.params
    result = _decided(
        query, ExchangeKind.WEB_IDENTITY, token_summary(params.get("WebIdentityToken")),
        {"role": params.get("RoleArn") or "", "session": params.get("RoleSessionName") or ""},
        lambda: state.web_identity.assume(params),
        lambda done: {"assumed_role": done.claims.assumed_role_arn,
                      "access_key_id": done.credentials.access_key_id,
                      "subject": done.subject, "provider": done.provider,
                      "audience": done.audience})
    return wire.assume_role_with_web_identity_response(result, query.request_id)


def _get_caller_identity(query: QueryRequest) -> bytes:
    caller = services(query.request).sts.get_caller_identity(query.signed())
    return wire.caller_identity_response(caller, query.request_id)


def _assume_role(query: QueryRequest) -> bytes:
    state, params = services(query.request), query.params
    facts = {"role": params.get("RoleArn") or "", "session": params.get("RoleSessionName") or "",
             "caller": ""}

    def decide() -> AssumedRole:
        caller = state.callers.authenticate(query.signed(), service="sts")
        facts["caller"] = caller.arn
        return state.roles.assume_role(caller, assume_role_params(params))

    assumed = _decided(query, ExchangeKind.ASSUME_ROLE, None, facts, decide,
                       lambda done: {"assumed_role": done.caller.arn,
                                     "access_key_id": done.credentials.access_key_id})
    return wire.assume_role_response(assumed.credentials, assumed.caller,
                                     assumed.packed_policy_size, query.request_id)


def _get_session_token(query: QueryRequest) -> bytes:
    issued = services(query.request).sts.get_session_token(query.signed(), query.params)
    return wire.get_session_token_response(issued.credentials, query.request_id)


def _get_access_key_info(query: QueryRequest) -> bytes:
    account = services(query.request).sts.get_access_key_info(query.signed(), query.params)
    return wire.get_access_key_info_response(account, query.request_id)


_ACTIONS: Final = {
    "AssumeRole": _assume_role,
    "AssumeRoleWithSAML": _assume_role_with_saml,
    "AssumeRoleWithWebIdentity": _assume_role_with_web_identity,
    "GetAccessKeyInfo": _get_access_key_info,
    "GetCallerIdentity": _get_caller_identity,
    "GetSessionToken": _get_session_token,
}


def _handle(query: QueryRequest) -> bytes:
    handler = _ACTIONS.get(query.action)
    if handler is None:
        raise InvalidAction(f"Could not find operation {query.action} for version "
                            f"{API_VERSION}")
    return handler(query)


_API: Final = QueryApi(name="STS", version=API_VERSION, max_body_bytes=MAX_BODY_BYTES,
                       handle=_handle, error_document=wire.error_response, log=log,
                       version_optional=True)


async def sts(request: Request) -> Response:
    return await run_query(request, _API)


def routes() -> list[Route]:
    return [
        Route("/aws/sts", sts, methods=["GET", "POST"], name="sts"),
        Route("/aws/sts/", sts, methods=["GET", "POST"], name="sts_slash"),
    ]
