"""STS Query-protocol XML (API version 2011-06-15), built with lxml, never with templates.

Shapes from botocore's ``sts/2011-06-15/service-2.json``, the STS API Reference examples and the
Smithy "AWS query protocol" specification (the response and ``ErrorResponse`` envelopes)::

    <{Op}Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
      <{Op}Result>…</{Op}Result>
      <ResponseMetadata><RequestId>uuid</RequestId></ResponseMetadata>
    </{Op}Response>

    <ErrorResponse xmlns="…">
      <Error><Type>Sender</Type><Code>…</Code><Message>…</Message></Error>
      <RequestId>uuid</RequestId>            (a direct child, not in ResponseMetadata)
    </ErrorResponse>

Result children follow the order real STS responses use (AWS documents none; public captures
such as p0-security/p0cli's ``sts-response.ts`` fixture show it); SDK parsers do not depend on
it. Optional elements are omitted when they do not apply.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from typing import Final

from lxml import etree

from idp.aws.credentials import SessionClaims, TemporaryCredentials
from idp.aws.errors import AwsError
from idp.aws.principals import Caller

__all__ = [
    "STS_NAMESPACE",
    "AssumeRoleWithSamlResult",
    "AssumeRoleWithWebIdentityResult",
    "assume_role_response",
    "assume_role_with_saml_response",
    "assume_role_with_web_identity_response",
    "caller_identity_response",
    "error_response",
    "get_access_key_info_response",
    "get_caller_identity_response",
    "get_session_token_response",
    "new_request_id",
]

STS_NAMESPACE: Final = "https://sts.amazonaws.com/doc/2011-06-15/"


def _root(tag: str) -> etree._Element:
    return etree.Element(f"{{{STS_NAMESPACE}}}{tag}",
                         nsmap={None: STS_NAMESPACE})  # type: ignore[dict-item]


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    """Append a child in the STS namespace (inherits the default namespace, no prefix)."""
    child = etree.SubElement(parent, f"{{{STS_NAMESPACE}}}{tag}")
    if text is not None:
        child.text = text
    return child


@dataclass(frozen=True)
class AssumeRoleWithSamlResult:
    """Everything ``AssumeRoleWithSAMLResult`` carries (STS API Reference, AssumeRoleWithSAML)."""

    credentials: TemporaryCredentials
    claims: SessionClaims
    #: The ``Recipient`` of ``SubjectConfirmationData`` (the ACS URL).
    audience: str
    #: The assertion's ``Issuer``.
    issuer: str
    #: The ``NameID`` value.
    subject: str
    #: ``idp.aws.trust.subject_type(NameID Format)``.
    subject_type: str
    #: ``idp.aws.trust.name_qualifier(issuer, account, provider_name)``.
    name_qualifier: str
    source_identity: str | None = None
    #: Percentage of the packed-policy limit used; omitted when no session policy or tags.
    packed_policy_size: int | None = None


@dataclass(frozen=True)
class AssumeRoleWithWebIdentityResult:
    """Everything ``AssumeRoleWithWebIdentityResult`` carries (STS API Reference,
    AssumeRoleWithWebIdentity)."""

    credentials: TemporaryCredentials
    claims: SessionClaims
    #: ``SubjectFromWebIdentityToken``: the token's ``sub``.
    subject: str
    #: ``Provider``: the token's ``iss`` ("For OpenID Connect ID tokens, this contains the
    #: value of the iss field").
    provider: str
    #: ``Audience``: the token's ``aud`` value that is a client ID of the IAM OIDC provider.
    audience: str
    #: ``SourceIdentity``: the token's ``https://aws.amazon.com/source_identity`` claim.
    source_identity: str | None = None
    #: Percentage of the packed-policy limit used; omitted when no session policy or tags.
    packed_policy_size: int | None = None


def new_request_id() -> str:
    """A fresh request ID (UUID4), as STS returns in ``RequestId`` and ``x-amzn-RequestId``."""
    return str(uuid.uuid4())


def _timestamp(when: dt.datetime) -> str:
    """ISO-8601 UTC with ``Z`` and whole seconds, as STS writes ``Expiration``."""
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, encoding="utf-8", xml_declaration=False)


def _response(operation: str) -> tuple[etree._Element, etree._Element]:
    """``{Op}Response`` and its empty ``{Op}Result``."""
    root = _root(f"{operation}Response")
    return root, _sub(root, f"{operation}Result")


def _finish(root: etree._Element, request_id: str) -> bytes:
    metadata = _sub(root, "ResponseMetadata")
    _sub(metadata, "RequestId", request_id)
    return _serialize(root)


def _credentials(parent: etree._Element, creds: TemporaryCredentials) -> None:
    element = _sub(parent, "Credentials")
    _sub(element, "AccessKeyId", creds.access_key_id)
    _sub(element, "SecretAccessKey", creds.secret_access_key)
    _sub(element, "SessionToken", creds.session_token)
    _sub(element, "Expiration", _timestamp(creds.expiration))


def _assumed_role_user(parent: etree._Element, claims: SessionClaims) -> None:
    element = _sub(parent, "AssumedRoleUser")
    _sub(element, "AssumedRoleId", claims.assumed_role_id)
    _sub(element, "Arn", claims.assumed_role_arn)


def assume_role_with_saml_response(result: AssumeRoleWithSamlResult, request_id: str) -> bytes:
    """The ``AssumeRoleWithSAMLResponse`` document for a successful call."""
    root, body = _response("AssumeRoleWithSAML")
    _sub(body, "Audience", result.audience)
    _assumed_role_user(body, result.claims)
    _credentials(body, result.credentials)
    _sub(body, "Subject", result.subject)
    _sub(body, "NameQualifier", result.name_qualifier)
    if result.source_identity is not None:
        _sub(body, "SourceIdentity", result.source_identity)
    if result.packed_policy_size is not None:
        _sub(body, "PackedPolicySize", str(result.packed_policy_size))
    _sub(body, "SubjectType", result.subject_type)
    _sub(body, "Issuer", result.issuer)
    return _finish(root, request_id)


def assume_role_with_web_identity_response(result: AssumeRoleWithWebIdentityResult,
                                           request_id: str) -> bytes:
    """The ``AssumeRoleWithWebIdentityResponse`` document, in the order of the STS API
    Reference's example: ``SubjectFromWebIdentityToken``, ``Audience``, ``AssumedRoleUser``,
    ``Credentials``, ``SourceIdentity`` (when set), ``Provider``, then ``PackedPolicySize``
    (when a session policy or session tags were given)."""
    root, body = _response("AssumeRoleWithWebIdentity")
    _sub(body, "SubjectFromWebIdentityToken", result.subject)
    _sub(body, "Audience", result.audience)
    _assumed_role_user(body, result.claims)
    _credentials(body, result.credentials)
    if result.source_identity is not None:
        _sub(body, "SourceIdentity", result.source_identity)
    _sub(body, "Provider", result.provider)
    if result.packed_policy_size is not None:
        _sub(body, "PackedPolicySize", str(result.packed_policy_size))
    return _finish(root, request_id)


def get_caller_identity_response(claims: SessionClaims, request_id: str) -> bytes:
    """The ``GetCallerIdentityResponse`` for a role session (STS API Ref., GetCallerIdentity)."""
    root, body = _response("GetCallerIdentity")
    _sub(body, "Arn", claims.assumed_role_arn)
    _sub(body, "UserId", claims.assumed_role_id)
    _sub(body, "Account", claims.account)
    return _finish(root, request_id)


def caller_identity_response(caller: Caller, request_id: str) -> bytes:
    """``GetCallerIdentityResponse`` for any caller: an IAM user (``arn:aws:iam::ACCT:user/NAME``,
    ``AIDA…``), a user's session (the same) or a role session (STS API Reference,
    GetCallerIdentity)."""
    root, body = _response("GetCallerIdentity")
    _sub(body, "Arn", caller.arn)
    _sub(body, "UserId", caller.user_id)
    _sub(body, "Account", caller.account)
    return _finish(root, request_id)


def assume_role_response(credentials: TemporaryCredentials, caller: Caller,
                         packed_policy_size: int | None, request_id: str) -> bytes:
    """``AssumeRoleResponse`` (STS API Reference, AssumeRole; the IAM User Guide's sample in
    "Requesting temporary security credentials"): ``Credentials``, ``AssumedRoleUser`` and,
    when they apply, ``PackedPolicySize`` and ``SourceIdentity``."""
    root, body = _response("AssumeRole")
    if caller.source_identity is not None:
        _sub(body, "SourceIdentity", caller.source_identity)
    user = _sub(body, "AssumedRoleUser")
    _sub(user, "AssumedRoleId", caller.user_id)
    _sub(user, "Arn", caller.arn)
    _credentials(body, credentials)
    if packed_policy_size is not None:
        _sub(body, "PackedPolicySize", str(packed_policy_size))
    return _finish(root, request_id)


def get_session_token_response(credentials: TemporaryCredentials, request_id: str) -> bytes:
    """``GetSessionTokenResponse``: only ``Credentials`` (STS API Reference, GetSessionToken)."""
    root, body = _response("GetSessionToken")
    _credentials(body, credentials)
    return _finish(root, request_id)


def get_access_key_info_response(account: str, request_id: str) -> bytes:
    """``GetAccessKeyInfoResponse``: the ``Account`` the key belongs to."""
    root, body = _response("GetAccessKeyInfo")
    _sub(body, "Account", account)
    return _finish(root, request_id)


#: Characters XML 1.0 cannot carry (lxml refuses them); messages may echo request input.
_NOT_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def error_response(err: AwsError, request_id: str) -> bytes:
    """The ``ErrorResponse`` document (Smithy "AWS query protocol", operation error
    serialization); send it with ``err.http_status``."""
    root = _root("ErrorResponse")
    error = _sub(root, "Error")
    _sub(error, "Type", err.fault_type)
    _sub(error, "Code", err.code)
    _sub(error, "Message", _NOT_XML.sub("\ufffd", err.message))
    _sub(root, "RequestId", request_id)
    return _serialize(root)
